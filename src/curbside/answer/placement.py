"""Placement and lead rules of the extractive synthesizer.

Which section a candidate sentence belongs in (:func:`place`, :func:`title_cause`), whether it
states a cause, a consequence or a denial, how strongly it can lead the bottom line (a general
statement about the condition rather than one patient's story or a sentence about the paper),
and the composed "summary of cited claims" bottom line for causes questions
(:func:`cause_summary`).  :mod:`curbside.answer.extractive` applies them; they live apart to
keep each module small.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from curbside.answer.base import in_sentence
from curbside.answer.bottomline import compose_list
from curbside.answer.causes import (
    AGENT_QUALIFIERS,
    CAUSE_CATEGORIES,
    OTHER_CATEGORY,
    CauseCategory,
    category_counts,
    category_noun,
    names_category,
)
from curbside.answer.context import opening, qualified, reads_as_animal
from curbside.answer.plans import SectionSpec
from curbside.answer.sentences import (
    Candidate,
    QueryTerms,
    cues,
    query_terms,
    stems,
)
from curbside.answer.yesno import NEGATIVE_WEIGHT, YesNoAssessment, question_flags, signal
from curbside.datafiles import load_data, rules_of
from curbside.models.roles import ROLE_CUES
from curbside.retrieval.vocabulary import Vocabulary, natural_order
from curbside.types import ArticleSection, Claim, Query

__all__ = [
    "CAUSAL_CUES",
    "about_the_paper",
    "about_treatment",
    "anecdote",
    "animal_sentence",
    "breadth",
    "cause_summary",
    "cause_tier",
    "contents_list",
    "denies_link",
    "filed_sections",
    "general_statement",
    "place",
    "placed_keys",
    "polarities",
    "states_consequence",
    "subject_as_background",
    "subject_is_condition",
    "title_cause",
]


_CUES: Final = load_data(
    "placement.json",
    "placement cues",
    rules_of(
        "title_causal",
        "cause_follows",
        "effect_verb_extra",
        "animals",
        "anecdote",
        "about_the_paper",
        "contents_list",
        "copula",
        "background",
        "treatment_topic",
        "caused_form",
    ),
)
#: Causal wording ("caused by", "induced", "due to"), from data/role_cues.json.
CAUSAL_CUES: Final = ROLE_CUES["causal"]
#: What files a sentence under Causes: causal wording, or a condition presenting with the subject
#: ("SFTS presents with fever, thrombocytopenia and leukopenia"); both from data/role_cues.json, where
#: their precision and recall on the labelled sentences are noted.  The answer-role model must agree.


#: How a title (a noun phrase, no verb) links a condition to its cause: "Agranulocytosis after
#: treatment with aprindine", "Leucopenia in association with mianserin treatment".
_TITLE_CAUSAL_CUES: Final = cues(*_CUES["title_causal"])


#: "X causes Y" read backwards: when the question's condition is the subject, Y is a consequence.
#: A link whose cause comes after it: "infections due to neutropenia".
_CAUSE_FOLLOWS: Final = cues(*_CUES["cause_follows"])
_EFFECT_VERB: Final = re.compile(
    f"(?:{ROLE_CUES['effect_verb'].pattern})|{_CUES['effect_verb_extra']}", re.IGNORECASE
)


_DENIAL: Final = ROLE_CUES["denial"]


_ANIMALS: Final = cues(*_CUES["animals"])


_PASSIVE_BY: Final = re.compile(r"\s+by\b", re.IGNORECASE)


#: A sentence about one patient or one case states no general cause: "In one patient, ...".
_ANECDOTE: Final = cues(*_CUES["anecdote"])


_ABOUT_THE_PAPER: Final = cues(*_CUES["about_the_paper"])
_CONTENTS_LIST: Final = cues(*_CUES["contents_list"])


#: "X is a ...", "X are the ...": a sentence that says what its subject is.
_COPULA: Final = re.compile(_CUES["copula"], re.IGNORECASE)


#: How many opening words of a sentence must name the question's subject for it to be the subject.
_OPENING_WORDS: Final = 4


#: Most causes a summary names per category, and one fewer past this many categories.
_SUMMARY_ITEMS: Final = 3
_FEW_CATEGORIES: Final = 4


#: How many words of a sentence's head may hold its subject.
_SUBJECT_WORDS: Final = 8


def title_cause(c: Candidate, plan: Sequence[SectionSpec]) -> SectionSpec | None:
    """The causes section for a title that links the condition to something ("... after treatment
    with aprindine"); its category must then come from its words or its MeSH, never "Other"."""
    if c.own <= 0 or not (_TITLE_CAUSAL_CUES.search(c.text) or CAUSAL_CUES.search(c.text)):
        return None
    return next((s for s in plan if s.key == "causes"), None)


_BACKGROUND: Final = cues(*_CUES["background"])
_TREATMENT_TOPIC: Final = re.compile(_CUES["treatment_topic"], re.IGNORECASE)


def about_treatment(c: Candidate) -> bool:
    """Whether ``c`` is about treating a condition ("Current management of fetal and neonatal alloimmune
    thrombocytopenia ... involves ...") or about what a test tells apart ("the serotonin release test
    allows to distinguish 4 groups of patients"): in a causes article neither a cause nor a
    consequence."""
    return _TREATMENT_TOPIC.search(c.text) is not None


def subject_as_background(c: Candidate, terms: QueryTerms) -> bool:
    """Whether ``c`` names the question's condition only as what a patient has or had ("a 57-year-old
    woman with a history of idiopathic thrombocytopenia presented with chest pain"; "in a patient
    with corticosteroid-dependent neutropenia, osteomyelitis developed caused by Rhizopus"): then
    the sentence is about something else, and the condition is neither an effect nor a consequence."""
    if _BACKGROUND.search(c.text) is None:
        return False
    return terms.overlap(stems(_BACKGROUND.sub(" ", c.text))) == 0


_CAUSED_FORM: Final = re.compile(_CUES["caused_form"], re.IGNORECASE)


def states_consequence(c: Candidate, terms: QueryTerms) -> bool:
    """Whether ``c`` says what the question's condition causes rather than what causes it; a
    sentence naming the condition with its cause ("concerns over iatrogenic hyponatremia causing
    morbidity") states a cause as well, and is filed as one."""
    if any(terms.overlap(stems(m.group(1))) > 0 for m in _CAUSED_FORM.finditer(c.text)):
        return False
    due = _CAUSE_FOLLOWS.search(c.text)
    if due is not None:
        # "severe infections due to neutropenia": what follows "due to", up to the end of its
        # clause, is the cause ("Due to recent reports, vaccination ..." names none).
        clause = re.split(r"[,;:.]", c.text[due.end() :], maxsplit=1)[0]
        effect, cause = stems(c.text[: due.start()]), stems(clause)
        if terms.overlap(cause) > 0 and terms.overlap(effect) == 0:
            return True
    m = _EFFECT_VERB.search(c.text)
    if m is None:
        return False
    before, after = stems(c.text[: m.start()]), stems(c.text[m.end() :])
    if _PASSIVE_BY.match(c.text, m.end()):
        # "infection caused by neutropenia": the cause follows "by".
        before, after = after, before
    return terms.overlap(before) > 0 and terms.overlap(after) == 0


def placed_keys(sections: Sequence[ArticleSection], keys: Sequence[str]) -> set[tuple[str, int, str]]:
    """(document, start, part) of every claim the article files under the sections ``keys``."""
    return {
        (cit.document_id, cit.start, cit.part)
        for section in sections
        if section.key in keys
        for claim in section.all_claims()
        for cit in claim.citations
    }


def filed_sections(sections: Sequence[ArticleSection]) -> dict[tuple[str, int, str], str]:
    """(document, start, part) of every claim -> key of the top-level section that holds it."""
    return {
        (cit.document_id, cit.start, cit.part): section.key
        for section in sections
        for claim in section.all_claims()
        for cit in claim.citations
    }


def subject_is_condition(c: Candidate, terms: QueryTerms) -> int:
    """2: the sentence states what the question's subject is ("Agranulocytosis is an ..."); 1: it opens
    with the subject ("ITP responds to ..."); 0: neither, or it tells of one case."""
    if c.part != "body" or anecdote(c):
        return 0
    opening = c.text.split()[:_OPENING_WORDS]
    if terms.overlap(stems(" ".join(opening))) == 0:
        return 0
    m = _COPULA.search(c.text)
    return 2 if m is not None and terms.overlap(stems(m.group("subject"))) > 0 else 1


def breadth(c: Candidate) -> int:
    """1 for a sentence naming causes of two or more categories: an overview leads a causes article."""
    return int(sum(1 for n in category_counts(c.text).values() if n) >= 2)


def about_the_paper(c: Candidate) -> bool:
    """What the paper covers ("... are briefly reviewed", "... was studied"), not a finding."""
    return bool(_ABOUT_THE_PAPER.search(c.text))


def contents_list(c: Candidate) -> bool:
    """What a paper covers or a case series includes, as a list ("X is addressed under the following
    headings: ..."): an answer to a list question at most, no finding for any other."""
    return bool(_CONTENTS_LIST.search(c.text))


def anecdote(c: Candidate) -> bool:
    """About one patient or one case ("In one patient, ..."), or about the paper ("... are briefly
    reviewed"): no general statement of causes."""
    return bool(_ANECDOTE.match(c.text)) or about_the_paper(c)


def general_statement(c: Candidate, placed: set[tuple[str, int, str]], terms: QueryTerms) -> bool:
    """A statement about the condition itself that names its causes: the condition is its subject (it
    comes within the first words before the causal cue), it is not about one patient or animals, it
    names a cause, and the article files it under "Causes" or "Definition"."""
    if c.part != "body" or animal_sentence(c) or anecdote(c) or cause_tier(c) < 2:
        return False
    if (c.document.id, c.start, c.part) not in placed:
        return False
    cue = CAUSAL_CUES.search(c.text)
    if cue is None:
        return False
    # "Leukopenia is caused by ..." or "Pseudomonas septicaemia caused profound leukopenia": the
    # condition is what the causal verb is about, not an item in a list of events.
    head = " ".join(c.text[: cue.start()].split()[:_SUBJECT_WORDS])
    tail = " ".join(c.text[cue.end() :].split()[:_SUBJECT_WORDS])
    return terms.overlap(stems(head)) > 0 or terms.overlap(stems(tail)) > 0


def _as_written(name: str, text: str) -> str:
    """``name`` as ``text`` writes it mid-sentence: with the hyphenated words it is part of
    ("adenoviral-vectored-DNA vaccines", not "DNA vaccines"), and without the capital that only
    opening the sentence gave it ("Hemolytic uremic syndrome (HUS) is ...")."""
    at = text.find(name)
    if at < 0:
        return in_sentence(name)
    start = at
    while start > 0 and text[start - 1] == "-":
        m = re.search(r"[\w-]*\w-$", text[:start])
        if m is None:
            break
        start = m.start()
    written = text[start : at + len(name)]
    first = written.split(" ", 1)[0]
    if start == 0 and first[1:].islower():
        return written[:1].lower() + written[1:]
    return in_sentence(written)


def _named_causes(c: Candidate, category: CauseCategory, terms: QueryTerms) -> list[str]:
    """Causes of ``category`` that ``c`` names, as the sentence writes them, and not the condition
    asked about ("Agranulocytosis/chemically induced"): first the concepts its document's MeSH files
    in the category (by a qualifier such as "adverse effects", or by name: "adenine arabinoside" for
    Vidarabine/adverse effects), else, for a record without MeSH (in-process, or not MEDLINE), the
    concepts named in the category's own words ("adalimumab", "hairy cell leukemia")."""
    wanted = {name for name, weight in category.qualifiers if weight >= 1.0}
    indexed = {
        h.descriptor.lower()
        for h in c.document.mesh
        if any(q.name.lower() in wanted for q in h.qualifiers)
        or any(f in h.descriptor.lower() for f in category.mesh)
    }
    by_mesh: list[str] = []
    by_words: list[str] = []
    for concept in Vocabulary.default().find(c.text):
        if terms.overlap(stems(concept.preferred)) > 0 or terms.overlap(stems(concept.text)) > 0:
            continue  # the condition asked about, or a form of it
        if category_noun(concept.preferred) or category_noun(concept.text):
            continue  # "viruses", "vaccination": no more than the heading says
        name = concept.preferred.lower()
        # "folic acid" in a record indexed under Folic Acid Deficiency names the deficiency.
        wider = next((d for d in sorted(indexed) if d.startswith(f"{name} ")), None)
        if name in indexed:
            by_mesh.append(_as_written(concept.text, c.text))
        elif wider is not None:
            by_mesh.append(natural_order(wider))
        elif any(names_category(n, category) for n in (concept.text, concept.preferred, *concept.synonyms)):
            by_words.append(_as_written(concept.text, c.text))
    if not by_mesh and not by_words:
        # The sentence names its agent in words the vocabulary does not know ("adenine arabinoside"):
        # the heading the indexers filed as the agent of a harm names it ("Vidarabine/adverse effects").
        by_mesh = [
            in_sentence(natural_order(h.descriptor))
            for h in c.document.mesh
            if h.descriptor.lower() in indexed
            and any(q.name.lower() in AGENT_QUALIFIERS for q in h.qualifiers)
            and terms.overlap(stems(h.descriptor)) == 0
        ]
    return list(dict.fromkeys(by_mesh or by_words))


def cause_summary(
    sections: Sequence[ArticleSection], usable: Sequence[Candidate], subject: str, terms: QueryTerms
) -> tuple[Claim, ...]:
    """One composed claim naming the cause categories, best supported first, citing the claims filed
    under them (:func:`curbside.answer.bottomline.compose_list`): it says only what the sections
    say, and the verifier holds it to the claims it summarises.  Animal-only evidence and "Other" are
    not summarised."""
    causes = next((s for s in sections if s.key == "causes"), None)
    if causes is None:
        return ()
    by_key = {(c.document.id, c.start, c.part): c for c in usable}
    rows: list[tuple[int, int, str, list[str], tuple[Claim, ...]]] = []
    for order, sub in enumerate(causes.subsections):
        if sub.key == f"causes-{OTHER_CATEGORY.key}":
            continue
        category = next(cat for cat in CAUSE_CATEGORIES if f"causes-{cat.key}" == sub.key)
        human = []
        items: dict[str, None] = {}
        for claim in sub.claims:
            cit = claim.citations[0]
            cand = by_key.get((cit.document_id, cit.start, cit.part))
            # A claim the verifier will drop (a dangling 'It ...', a null or provisional finding)
            # must not carry the summary.
            if (
                cand is None
                or animal_sentence(cand)
                or opening(cand.text)[1] is not None
                or qualified(cand.text)
            ):
                continue
            human.append(claim)
            for item in _named_causes(cand, category, terms):
                items.setdefault(item, None)
        documents = {d for claim in human for d in claim.document_ids}
        if human:
            rows.append((-len(documents), order, sub.heading, list(items), tuple(human)))
    # Every category found is named (a summary that drops two of six misleads); with many, fewer
    # causes each, so the sentence stays a summary.
    each = _SUMMARY_ITEMS if len(rows) <= _FEW_CATEGORIES else _SUMMARY_ITEMS - 1
    composed = compose_list(
        "causes",
        subject,
        [
            (heading + (f" ({', '.join(items[:each])})" if items else ""), claims)
            for _, _, heading, items, claims in sorted(rows, key=lambda r: r[:2])
        ],
        most=len(CAUSE_CATEGORIES),
    )
    return (composed,) if composed is not None else ()


def animal_sentence(c: Candidate) -> bool:
    """An animal study: MeSH "Animals" without "Humans", or the sentence itself is about animals."""
    return reads_as_animal(c.document, c.text) or bool(_ANIMALS.search(c.text))


def denies_link(text: str) -> bool:
    """A null finding: "neither titer was significantly associated with leukopenia" lists no cause."""
    return bool(_DENIAL.search(text))


def cause_tier(c: Candidate) -> int:
    """2: links the condition to a named cause; 1: a causal statement or a named cause; 0: neither."""
    causal = bool(CAUSAL_CUES.search(c.text))
    named = any(category_counts(c.text).values())
    return int(causal) + int(named)


def polarities(
    query: Query, usable: Sequence[Candidate], assessment: YesNoAssessment
) -> dict[tuple[str, int], float]:
    """Signed polarity of every usable sentence; those beyond the verdict's top hits are read the same way."""
    terms = query_terms(query)
    equivalence, safety = question_flags(query)
    out = {}
    for c in usable:
        signed = assessment.polarity.get(c.key)
        if signed is None:
            p, n, _ = signal(c.text, terms, equivalence, safety)
            signed = p - NEGATIVE_WEIGHT * n
        out[c.key] = signed
    return out


def _names_a_form(text: str, terms: QueryTerms) -> bool:
    """Whether ``text`` names a named form of the condition asked about ("Primary immune
    thrombocytopenia (ITP) is ..." asked about thrombocytopenia): a sentence defining it defines one
    of the condition's causes, not the condition."""
    for concept in Vocabulary.default().find(text):
        words = concept.text.split()
        if len(words) > 1 and terms.overlap(stems(concept.text)) > 0:
            return sum(1 for w in words if terms.overlap(stems(w)) == 0) > 0
    return False


def _population_first(text: str, plan: Sequence[SectionSpec]) -> bool:
    """Whether a population is what ``text`` is about: the plan's population cue within its
    opening words ("Leukopenia in children is ...")."""
    spec = next((s for s in plan if s.key == "special-populations"), None)
    if spec is None or spec.cue is None:
        return False
    m = spec.cue.search(text)
    return m is not None and len(text[: m.start()].split()) < _OPENING_WORDS


def place(c: Candidate, plan: Sequence[SectionSpec], terms: QueryTerms | None = None) -> SectionSpec | None:
    """The section whose cue ``c`` matches most often (ties: lower priority), else the plan's catch-all.

    With ``terms``, a definition must define the question's subject: "It is
    characterized by hairy cells ... leukopenia" defines hairy-cell leukaemia, and in a causes
    article "Primary immune thrombocytopenia is ..." defines one of its causes.
    """
    best: SectionSpec | None = None
    best_rank = (0, 0)
    causes_plan = any(spec.key == "causes" for spec in plan)
    for spec in plan:
        if spec.cue is None:
            continue
        found = list(spec.cue.finditer(c.text))
        if (
            spec.key == "definition"
            and terms is not None
            and found
            and (
                terms.overlap(stems(c.text[: found[0].start()])) == 0
                or (causes_plan and _names_a_form(c.text[: found[0].start()], terms))
            )
        ):
            found = []
        hits = len({m.group().lower() for m in found})
        if (
            hits
            and spec.requires is not None
            and not spec.requires.search(c.text)
            and not any(category_counts(c.text).values())
        ):
            continue
        if spec.key == "causes" and c.own > 0 and any(category_counts(c.text).values()):
            # Naming a drug or an infection next to the condition is itself a cue; without the
            # condition ("Clozapine is the most effective antipsychotic") it is not.  With a causal
            # or presentation cue as well, it outweighs a population cue that only qualifies it
            # ("Hemolytic uremic syndrome is characterized by ... thrombocytopenia ..., usually in
            # children"), not one the sentence is about ("Leukopenia in children is most often
            # caused by transient viral infections").
            hits += 2 if hits and not _population_first(c.text, plan) else 1
        if hits:
            hits += spec.boost
        rank = (min(hits, 3), -spec.priority)
        if hits and (best is None or rank > best_rank):
            best, best_rank = spec, rank
    if best is not None:
        return best
    return next(
        (
            s
            for s in plan
            if s.cue is None and c.own >= s.min_own and (s.requires is None or s.requires.search(c.text))
        ),
        None,
    )
