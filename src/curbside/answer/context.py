"""What a quoted sentence needs before a reader can take it at its word, in context.

A quote can be faithful and still mislead:

* "They were more frequent in the treated group." -- who were?  A claim that opens
  with a pronoun whose referent is in another sentence is dropped
  (:func:`opening`); one that opens with a connective ("Therefore,", "However,")
  is shown without it, its quote unchanged.
* "These findings, if confirmed, suggest ..." or "X was not associated with Y" is
  no positive finding: it never stands in the bottom line, a list of causes or the
  evidence for a verdict (:func:`qualified`).
* "Leukopenia developed within a week" from a study of mice is shown as "In mice:
  leukopenia developed within a week" (:func:`setting`), and "patients" who were
  a lupus cohort as "In patients with systemic lupus erythematosus: ...": what the
  reader sees gains a prefix from the record, the quote stays exact.

The word lists live in ``data/claim_context.json``.
"""

from __future__ import annotations

import datetime
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Final

from curbside.answer.polarity import sentence_polarity
from curbside.answer.valence import direction, valence
from curbside.datafiles import alternation, load_data
from curbside.retrieval.subject import fold
from curbside.retrieval.vocabulary import Vocabulary
from curbside.types import Claim, Document, Query

if TYPE_CHECKING:
    from curbside.retrieval.subject import Subject


@dataclass(frozen=True)
class _Lists:
    pronouns: re.Pattern[str]
    expletive: re.Pattern[str]
    self_reference: re.Pattern[str]
    self_names: dict[str, str]
    connective: re.Pattern[str]
    conditional: re.Pattern[str]
    species: tuple[tuple[frozenset[str], re.Pattern[str], str], ...]
    generic: re.Pattern[str]
    human: re.Pattern[str]
    status: re.Pattern[str]
    status_years: int
    label: re.Pattern[str]
    reference: re.Pattern[str]
    persons: re.Pattern[str]
    population: re.Pattern[str]
    title_setting: re.Pattern[str]
    condition_reference: re.Pattern[str]
    condition_words: re.Pattern[str]


# Where a quote's first sentence ends: a joined quote ("Hairy cell leukemia is ... . It is
# characterized by ...") carries its referent in the first sentence, so only that one is read.  An
# ellipsis after a full stop marks a gap between quoted snippets (BioASQ's rebuilt abstracts).
_SENTENCE_END: Final = re.compile(r"(?<=[.!?])\s+(?=[A-Z(\"'…])")
# The tail of a structured-abstract label cut off by a passage boundary ("SION: Taken together"):
# upper-case letters and a colon, no known label.
_LABEL_FRAGMENT: Final = re.compile(r"^[A-Z]{2,}(?:\s[A-Z]{2,})*:\s+(?=[A-Z])")
# "Clozapine is a new antipsychotic": a sentence that says what its subject is.
_DEFINITION: Final = re.compile(r"^[^,;:]{1,60}?\b(?:is|are) (?:an?|the)\b", re.IGNORECASE)
# "The PLCOs shortened hospital stay": a plural abbreviation the sentence does not spell out (case-sensitive;
# a singular one is as often a gene, "The BRCA2 gene", or an agency, "The WHO").
_ACRONYM_OPENING: Final = re.compile(r"(?:^|(?<=[.!?] ))\W*The\s+([A-Z]{2,}[0-9]*s)\b")
# Case-sensitive: "HER2" and "HER-2" are a receptor, not a woman.
_PERSONAL: Final = re.compile(r"\b(?:[Ss]he|[Hh]e|[Hh]er|[Hh]is|[Hh]im)\b(?![-\d])")


@functools.cache
def _lists() -> _Lists:
    return load_data("claim_context.json", "claim context lists", _build_lists)


def _build_lists(data: Any) -> _Lists:
    return _Lists(
        pronouns=re.compile(rf"^\W*(?:{alternation(data['pronouns'])})\b", re.I),
        # "It is unknown whether ...": "it" announces the clause that follows (then "that",
        # "whether", "to", ... within a few words), so the sentence stands on its own.
        expletive=re.compile(
            rf"^\W*(?:{alternation(data['expletive'])})\b(?:\s+[\w-]+){{0,3}}?\s+"
            r"(?:that|whether|how|why|what|which|if|to)\b",
            re.I,
        ),
        self_reference=re.compile(rf"^\W*({alternation(list(data['self_reference']))})\b", re.I),
        self_names={k.lower(): v for k, v in data["self_reference"].items()},
        connective=re.compile(rf"^\W*(?:{alternation(data['connectives'])})\b\s*,?\s*", re.I),
        conditional=re.compile(rf"\b(?:{alternation(data['conditional'])})", re.I),
        species=tuple(
            (frozenset(s["mesh"]), re.compile(rf"\b(?:{alternation(s['words'])})\b", re.I), s["label"])
            for s in data["species"]
        ),
        generic=re.compile(rf"\b(?:{alternation(data['generic_population'])})\b", re.I),
        human=re.compile(rf"\b(?:{alternation(data['human_study'])})\b", re.I),
        status=re.compile(rf"\b(?:{alternation(data['status_words'])})\b", re.I),
        status_years=int(data["status_years"]),
        # Upper case as structured abstracts print them: "Results: ..." may be a sentence's subject.
        label=re.compile(rf"^\W*(?:{alternation(data['abstract_labels'])})\s*[:.]\s+"),
        reference=re.compile("|".join(f"(?:{r})" for r in data["references"]), re.I),
        persons=re.compile(rf"\b(?:{alternation(data['persons'])})\b", re.I),
        population=re.compile(data["population"], re.I),
        title_setting=re.compile(data["title_setting"], re.I),
        condition_reference=re.compile(data["condition_reference"], re.I),
        # Case-sensitive: an acronym ("VITT") names a condition, a capitalised word need not.
        condition_words=re.compile(data["condition_words"]),
    )


def opening(text: str) -> tuple[str, str | None]:
    """``(text to show, why drop it)``: a connective is left out; the paper's own voice ("We",
    "This study") is shown as what it stands for ("The authors", "The study"); any other pronoun
    drops the claim, its referent being in another sentence."""
    lists = _lists()
    unlabelled = _LABEL_FRAGMENT.sub("", lists.label.sub("", text, count=1), count=1)
    if unlabelled != text and unlabelled:
        text = unlabelled[0].upper() + unlabelled[1:]
    # A fragment cut after a comma (", it is unknown how ...") reads as a sentence without it.
    bare = text.lstrip(" ,;:")
    if bare != text and bare:
        text = bare[0].upper() + bare[1:]
    stripped = lists.connective.sub("", text, count=1)
    if stripped != text and stripped:
        text = stripped[0].upper() + stripped[1:]
    own = lists.self_reference.match(text)
    if own:
        return lists.self_names[own.group(1).lower()] + text[own.end() :], None
    m = lists.pronouns.match(text)
    if m and not lists.expletive.match(text):
        word = m.group(0).strip(" \t\"'(")
        return text, f"opens with '{word}', whose referent is in another sentence"
    return text, _refers_back(text, lists)


def _refers_back(text: str, lists: _Lists) -> str | None:
    """Why the first sentence of ``text`` needs another sentence to be understood ("manifestations
    of this type of immune thrombocytopenia", "in her clinical course, she developed"), or ``None``."""
    first = _SENTENCE_END.split(text, maxsplit=1)[0]
    m = lists.reference.search(first)
    if m:
        return f"refers back ('{m.group(0).strip()}') to another sentence"
    m = _PERSONAL.search(first)
    if m and not lists.persons.search(first, 0, m.start()):
        return f"says '{m.group(0)}' of a person another sentence introduces"
    # Any sentence of a joined quote: the sentence before may not spell it out either.
    for m in _ACRONYM_OPENING.finditer(text):
        if not _spelt_out(m.group(1), text):
            return f"says '{m.group(0).strip()}', an abbreviation spelt out in another sentence"
    return None


def _spelt_out(acronym: str, text: str) -> bool:
    """Whether ``text`` defines ``acronym`` ("pharmacist-led clinical pathway/order sets (PLCOs)"), or
    the vocabulary knows it ("The NSAIDs", "The WHO")."""
    single = acronym[:-1] if acronym.endswith("s") else acronym
    if f"({acronym})" in text or f"({single})" in text:
        return True
    return bool(Vocabulary.default().find(acronym) or Vocabulary.default().find(single))


def antecedent_fits(text: str, before: str) -> bool:
    """Whether ``before`` can be what ``text`` points back to: a sentence opening "This disorder ..."
    needs one that names a condition ("As of March 16 of 2021, vaccination programs ... had been
    suspended" names none)."""
    lists = _lists()
    return lists.condition_reference.match(text) is None or lists.condition_words.search(before) is not None


def needs_antecedent(text: str) -> bool:
    """Whether ``text`` opens with a pronoun whose referent is in the sentence before it."""
    return opening(text)[1] is not None


def provisional(text: str) -> bool:
    """Whether ``text`` states a finding only provisionally ("If these adverse effects are
    confirmed ...", "remains to be shown")."""
    return _lists().conditional.search(text) is not None


def qualified(text: str) -> str | None:
    """Why ``text`` is no positive finding (conditional, or a null result), or ``None``."""
    m = _lists().conditional.search(text)
    if m:
        return f"is provisional ('{m.group(0)}')"
    positive, negative, _ = sentence_polarity(text)
    if negative > 0 and negative >= positive:
        return "states a null or negative finding"
    return None


def setting(doc: Document | None, sentence: str, *, now_year: int | None = None) -> str:
    """The prefix a reader needs for ``sentence`` of ``doc``: its species or laboratory setting, its
    population when the sentence only says "patients"; "" when the sentence says enough itself.
    A sentence calling something "new" or "recently approved" from a source more than a few years
    old, or undated, also gets its date ("As of 1978"): what was new then may be standard or
    withdrawn now."""
    if doc is None:
        return ""
    base = _setting(doc, sentence)
    lists = _lists()
    if not lists.status.search(sentence):
        return base
    now = now_year if now_year is not None else datetime.date.today().year
    # Only the year is known: a source from five calendar years back is, most of the year, more
    # than five years old ("Due to recent reports" in 2021, read in 2026).
    if doc.year is not None and now - doc.year < lists.status_years:
        return base
    when = f"as of {doc.year}" if doc.year is not None else "undated source"
    return f"{base}, {when}" if base else when[:1].upper() + when[1:]


def study_species(doc: Document) -> str | None:
    """What the reader must know of a record's subjects when they are not people ("In mice", "In
    vitro"), or ``None``: MeSH headings decide; a record without them (recent, or from a source
    that has none) is judged by its own title and abstract, when they never mention people."""
    lists = _lists()
    mesh = {h.descriptor for h in doc.mesh}
    if mesh:
        if "Humans" in mesh:
            return None
        return next((label for headings, _, label in lists.species if mesh & headings), None)
    # Without MeSH, count: an animal study names its animals more often than the patients its
    # background sentence mentions ("... the majority of patients treated with clozapine develop
    # weight gain ... we used an established animal model ... rats were treated").
    whole = f"{doc.title} {doc.body}"
    people = len(lists.human.findall(whole))
    counted = [(len(words.findall(whole)), label) for _, words, label in lists.species]
    most = max((n for n, _ in counted), default=0)
    if most == 0 or most <= people:
        return None
    return next(label for n, label in counted if n == most)


def reads_as_animal(doc: Document, sentence: str) -> bool:
    """Whether ``sentence`` reports animal or laboratory evidence as a reader meets it: it names a
    species itself, or its record studies animals and the sentence does not speak of people (the
    background sentence of a rat study, "the majority of patients treated with clozapine develop
    metabolic dysregulation", is about patients)."""
    lists = _lists()
    if any(words.search(sentence) for _, words, _ in lists.species):
        return True
    return study_species(doc) is not None and not lists.human.search(sentence)


def _setting(doc: Document, sentence: str) -> str:
    lists = _lists()
    if any(words.search(sentence) for _, words, _ in lists.species):
        return ""  # the sentence says it itself
    species = study_species(doc)
    if species is not None and not lists.human.search(sentence):
        return species  # (a background sentence of an animal study may speak of patients)
    population = _population(doc.title)
    if population and lists.generic.search(sentence) and population.lower() not in sentence.lower():
        return f"In {population}"
    # A finding of a study set in a group or condition its title names and the sentence does not
    # ("Leukopenia did not predispose to infection" in "... infection in systemic lupus
    # erythematosus") reads as a general rule without it.
    m = lists.title_setting.search(doc.title)
    if m is None or _DEFINITION.match(sentence):
        return ""  # (a sentence saying what something is holds wherever it was written)
    where = " ".join(m.group(1).split())
    if any(words.search(where) for _, words, _ in lists.species):
        return ""  # "in mice and men": the species, if any, is said above
    said = set(re.findall(r"[a-z]{4,}", sentence.lower()))
    if any(w in said or w[:-1] in said or f"{w}s" in said for w in re.findall(r"[a-z]{4,}", where.lower())):
        return ""  # the sentence names its setting itself
    # Only a group or condition the vocabulary knows ("alcoholics", "chronic kidney failure"), not
    # the tail of a title's other phrase ("Recent Advances in Pathogenesis and Treatments").
    return f"In {where}" if Vocabulary.default().find(where) else ""


def _population(title: str) -> str:
    """ "patients with systemic lupus erythematosus" from a title that names its study population."""
    m = _lists().population.search(title)
    return " ".join(m.group(1).split()) if m else ""


#: Notes of claims that fail a check here: out of context (faithful quote, misleading where it stands),
#: and not relevant (faithful, but not about the question).
CONTEXT_NOTE: Final = "in context:"
IRRELEVANT_NOTE: Final = "not relevant:"
#: Question types and intents whose bottom line states a finding (see :func:`judge_claims`).
_FINDING_TYPES: Final = frozenset({"yesno", "causes", "treatment", "comparison", "prognosis"})
_FINDING_INTENTS: Final = frozenset(
    {"causes", "risk_factors", "adverse_effects", "complications", "treatment", "prognosis", "prevention"}
)
#: Where a claim stands as a positive finding: no provisional or null result may stand there.
POSITIVE_PLACES: Final = frozenset(
    {"bottom", "causes", "evidence-for", "first-line", "adverse-effects", "complications", "risk-factors"}
)


@dataclass(frozen=True, slots=True)
class Judgement:
    """A claim after the checks in context, with both findings kept apart: a claim can be
    faithful in context and off the question, or on the question and misleading where it stands."""

    claim: Claim
    in_context: bool
    relevant: bool


def judge_claims(
    claims: Sequence[Claim],
    places: Sequence[str],
    query: Query,
    *,
    verdict: str | None = None,
    relevance_threshold: float | None = None,
) -> list[Judgement]:
    """Each claim judged in context; one that fails is returned ``unsupported`` with the reason.

    ``places``: where each claim stands ("bottom", or its section's key).  The checks
    in context: its opening (:func:`opening`); a provisional or null finding where a
    positive one stands (:data:`POSITIVE_PLACES`, and the bottom line unless the
    verdict is "no"); for a verdict, that evidence listed for or against it agrees with
    that side.  The checks of relevance: the question's subject, named in the claim;
    its learned score (``claim.relevance`` against ``relevance_threshold``).  Both
    kinds run on every claim; the note gives the first failure (context first).  Only a
    claim already judged supported or partial by its quote is checked.
    """
    from curbside.retrieval.intent import intent_of
    from curbside.retrieval.subject import subject_of

    subject = subject_of(query)
    asked = direction(query.text)
    heavy = _heavy_terms(subject)
    # A bottom line stands as a positive finding where the question asks for one (a verdict, a cause,
    # a harm, a first-line option); "What is X?" is answered as well by "X shows similar efficacy".
    finding_asked = (
        verdict is not None or query.qtype in _FINDING_TYPES or intent_of(query.text) in _FINDING_INTENTS
    )
    out = []
    for claim, place in zip(claims, places, strict=True):
        if claim.verdict not in ("supported", "partial") or claim.citations[0].part == "title":
            kept = claim.verdict in ("supported", "partial")
            out.append(Judgement(claim, kept, kept))
            continue
        shown, why = opening(claim.text)
        claim = replace(claim, text=shown)
        why = why or _misplaced(
            claim.text, place if place != "bottom" or finding_asked else "", verdict, asked
        )
        # A finding listed for or against a verdict, naming what the yes/no question asks, addresses
        # it whatever its learned score (see ExtractiveSynthesizer: the model under-scores abstracts
        # without title and conclusions).
        verdict_place = verdict is not None and (
            place in ("evidence-for", "evidence-against", "key-findings")
            or (place == "bottom" and verdict in ("yes", "no"))
        )
        floor = None if verdict_place and subject.addressed_by(claim.text) else relevance_threshold
        off = _off_question(claim, heavy, subject, floor)
        if why:
            claim = replace(claim, verdict="unsupported", note=f"{CONTEXT_NOTE} {why}")
        elif off:
            claim = replace(claim, verdict="unsupported", note=f"{IRRELEVANT_NOTE} {off}")
        out.append(Judgement(claim, why is None, off is None))
    return out


def _misplaced(text: str, place: str, verdict: str | None, asked: int = 0) -> str | None:
    """Why ``text`` misleads where it stands (``place``), or ``None``.  ``asked``: which way the
    question's outcome points (:func:`curbside.answer.valence.direction`): a finding of the
    opposite outcome reads against it, however positively worded."""
    positive_place = place in POSITIVE_PLACES or place.startswith("causes")
    if positive_place and not (place == "bottom" and verdict == "no"):
        why = qualified(text)
        if why:
            return (
                why + f", where a positive finding stands ({'bottom line' if place == 'bottom' else place})"
            )
    if place in ("evidence-for", "evidence-against"):
        positive, negative, _ = sentence_polarity(text)
        sign = positive - negative
        if asked and asked * valence(text) < 0:
            sign = -sign
        if (place == "evidence-for" and sign < 0) or (place == "evidence-against" and sign > 0):
            return f"reads {'against' if sign < 0 else 'for'} the verdict, listed as evidence {place[9:]} it"
    return None


def _heavy_terms(subject: Subject) -> set[str]:
    """The subject's terms a claim must name one of: the main term and those nearly as rare."""
    main = subject.main
    return {t.text for t in subject.terms if main is not None and t.idf >= 0.75 * main.idf}


def subject_namer(query: Query) -> Callable[[str], bool]:
    """A test of whether a text, as the reader sees it, names the question's subject as the verifier
    requires (:func:`judge_claims`): a synthesizer drafts no claim the verifier would remove for it."""
    from curbside.retrieval.subject import subject_of

    subject = subject_of(query)
    heavy = _heavy_terms(subject)

    def names(text: str) -> bool:
        return not heavy or any(mentions_term(t, text, subject) for t in heavy)

    return names


def _off_question(claim: Claim, heavy: set[str], subject: Subject, floor: float | None) -> str | None:
    """Why ``claim`` is not about the question, or ``None``."""
    # As the reader sees it: a finding its context places ("In a 1978 research article on clozapine")
    # names the subject there.
    if heavy and not any(mentions_term(t, claim.shown, subject) for t in heavy):
        return f"does not name the question's subject ({', '.join(sorted(heavy))})"
    score = claim.relevance
    if score is not None and floor is not None and score < floor:
        return f"scores {score:.2f} for relevance to the question, below {floor:.2f}"
    return None


def mentions_term(term: str, text: str, subject: Subject) -> bool:
    """Whether ``text`` names the subject term ``term`` in any of its forms."""
    forms = next((t.forms for t in subject.terms if t.text == term), frozenset())
    padded = f" {fold(text)} "
    return any(f" {form} " in padded for form in forms)
