"""The composed bottom line of a list article, what its evidence leaves out, and no repeats.

A causes or harms article's bottom line is one sentence written from its sections: "Reported causes
of leukopenia in the retrieved sources include medications and toxins (levamisole, mianserin) and
infections." It cites the section claims it rests on and is marked :data:`SUMMARY_CATEGORY`, so the
verifier holds it to them.  Where the sections cover only part of what was asked, a
``partial-evidence`` warning says which part (:func:`coverage_warning`), by coverage and not by a count
of sources.  Whatever the bottom line quotes is not quoted again in a section (:func:`without_repeats`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Final

from curbside.answer.base import in_sentence
from curbside.answer.causes import CAUSE_CATEGORIES, names_category
from curbside.answer.context import opening, reads_as_animal
from curbside.answer.sentences import SUMMARY_CATEGORY
from curbside.datafiles import load_data, rules_of
from curbside.retrieval.intent import answer_span
from curbside.retrieval.vocabulary import Vocabulary, natural_order
from curbside.types import Article, ArticleSection, ArticleWarning, Claim, Concept, Document

__all__ = [
    "cause_categories_found",
    "compose_harms",
    "compose_list",
    "compose_members",
    "coverage_warning",
    "harm_concepts",
    "names_no_harm",
    "refresh_coverage",
    "spare_sections",
    "without_repeats",
]

_RULES: Final = load_data("bottom_line.json", "bottom-line word lists", rules_of("harm_qualifiers", "nouns"))

#: MeSH qualifiers with which MEDLINE's indexers mark a condition as a harm of what the paper studies.
_HARM_QUALIFIERS: Final = frozenset(_RULES["harm_qualifiers"])
#: Most named items in one composed sentence: a bottom line, not the section retold.
_ITEMS: Final = 4
#: A harms article naming fewer distinct harms (in human evidence) than this is not a complete list.
_FEW_HARMS: Final = 3
_NOUNS: Final = dict(_RULES["nouns"])
#: Most members one composed sentence names ("List the essential amino acids" wants them all).
_MEMBERS: Final = 12
#: Most concepts a claim may name for all of them to be taken as harms when MeSH indexes none.
_NAMED: Final = 2


def _join(items: Sequence[str]) -> str:
    if len(items) == 1:
        return items[0]
    # "medications and toxins; malignancy; and inherited and congenital disorders": items that hold an "and"
    # themselves are told apart by semicolons.
    sep = "; " if any(" and " in i for i in items) else ", "
    last = "; and " if sep == "; " else " and "
    return f"{sep.join(items[:-1])}{last}{items[-1]}"


def compose_list(
    intent: str, subject: str, groups: Sequence[tuple[str, Sequence[Claim]]], *, most: int = _ITEMS
) -> Claim | None:
    """One sentence naming each group ("medications and toxins (levamisole)") with the claims behind it.

    ``groups`` come best supported first; only groups with claims count, ``most`` of them.  ``None``
    when none has any.
    """
    kept = [(label, claims) for label, claims in groups if claims][:most]
    if not kept or not subject:
        return None
    noun = _NOUNS.get(intent, "findings")
    subject = in_sentence(subject)
    labels = [label[:1].lower() + label[1:] if not label[:2].isupper() else label for label, _ in kept]
    text = f"Reported {noun} of {subject} in the retrieved sources include {_join(labels)}."
    citations = tuple(dict.fromkeys(cit for _, claims in kept for claim in claims for cit in claim.citations))
    return Claim(text, citations, category=SUMMARY_CATEGORY)


_DRUGS: Final = next(c for c in CAUSE_CATEGORIES if c.key == "medications")
#: An item of a counted list: "shock (18.85%)", "seizures (n = 3)".
_COUNTED_ITEM: Final = re.compile(r"([^(),;:]{2,60}?)\s*\(\s*(?:n\s*=\s*)?\d+(?:[.,·]\d+)?\s*%?\s*\)")
#: An item counted in patients: "neutropenia occurred in two patients, convulsion in one".
_ITEM_IN_PATIENTS: Final = re.compile(
    r"([^(),;:]{2,60}?)\s+(?:occurred\s+|was seen\s+|developed\s+)?in\s+"
    r"(?:one|two|three|four|five|six|seven|eight|nine|ten|\d+)\s+(?:patients?|cases?|subjects?|children)\b"
)
#: A parenthesis inside a counted list ("neutropenia (800 and 1120) occurred in two patients").
_ASIDE: Final = re.compile(r"\s*\([^()]*\)")
_LEADING_LINK: Final = re.compile(r"^\s*(?:and|or|followed by|as well as|with)\s+", re.IGNORECASE)


def _is_drug(concept: Concept) -> bool:
    return any(names_category(n, _DRUGS) for n in (concept.text, concept.preferred))


def _besides(text: str, vocabulary: Vocabulary, exclude: frozenset[str]) -> list[Concept]:
    """The concepts ``text`` names besides the subject asked about (``exclude``, lowercase preferred names)."""
    return [c for c in vocabulary.find(text) if c.preferred.lower() not in exclude]


def harm_concepts(text: str, vocabulary: Vocabulary, exclude: frozenset[str]) -> list[Concept]:
    """The concepts ``text`` names that could be a harm: not the subject asked about (``exclude``,
    lowercase preferred names), and not a drug or vaccine."""
    return [c for c in _besides(text, vocabulary, exclude) if not _is_drug(c)]


def names_no_harm(text: str, vocabulary: Vocabulary, exclude: frozenset[str]) -> bool:
    """The answer detector of a harms article: whether ``text`` names, besides the subject
    (``exclude``), only drugs or vaccines ("one case among 520 contacts vaccinated with meningococcal
    vaccine"; "clozapine is the most effective antipsychotic"). A sentence naming no concept the
    vocabulary knows is not judged (a vocabulary without MeSH knows few)."""
    found = _besides(text, vocabulary, exclude)
    return bool(found) and all(_is_drug(c) for c in found)


def _counted_items(text: str, found: Sequence[Concept]) -> list[str]:
    """The harms of a counted list ("shock (18.85%) and intravascular coagulation (12%) were the
    complications more frequently found, followed by convulsions (4.81%)"; "neutropenia occurred in two
    patients, convulsion in one patient"): each item from the first concept named in it ("skin
    necrosis"; a concept alone by its heading: "convulsion" -> seizures), or a short item whole."""
    items = [m.group(1) for m in _COUNTED_ITEM.finditer(text)]
    items += [m.group(1) for m in _ITEM_IN_PATIENTS.finditer(_ASIDE.sub("", text))]
    out: list[str] = []
    for item in items:
        inside = sorted(((i, c) for c in found if (i := item.find(c.text)) >= 0), key=lambda ic: ic[0])
        if inside:
            start, first = inside[0]
            rest = item[start:].strip()
            alone = rest.lower() == first.text.lower()
            out.append(natural_order(first.preferred).lower() if alone else rest.lower())
            continue
        words = _LEADING_LINK.sub("", item).split()
        if 0 < len(words) <= _NAMED + 1:
            out.append(" ".join(words).lower())
    return list(dict.fromkeys(out))


def _harm_names(claim: Claim, doc: Document, vocabulary: Vocabulary, exclude: frozenset[str]) -> list[str]:
    """The harms ``claim`` names, in its own words' concepts: those its document's MeSH files as
    induced or a complication; else the one or two concepts it names besides the subject ("grand mal
    seizures" -> seizures, where MeSH indexed Epilepsy, Tonic-Clonic: a bottom line says what its
    claims say, not what an indexer chose); else the items of a counted list; else none (a sentence
    naming three or more things, an organ among them, does not say which are harms)."""
    indexed = {
        h.descriptor.lower()
        for h in doc.mesh
        if any(q.name.lower() in _HARM_QUALIFIERS for q in h.qualifiers)
    }
    found = harm_concepts(claim.text, vocabulary, exclude)
    named = [natural_order(c.preferred).lower() for c in found if c.preferred.lower() in indexed]
    if named:
        return named
    if len(found) <= _NAMED:
        return [natural_order(c.preferred).lower() for c in found]  # the few things the claim names
    # Many things and none indexed as a harm: only a counted list says which are the harms.
    return _counted_items(claim.text, found)


def compose_harms(
    intent: str,
    subject: str,
    sections: Sequence[ArticleSection],
    documents: Mapping[str, Document],
    vocabulary: Vocabulary,
    exclude: frozenset[str],
) -> Claim | None:
    """The harms a harms section's human evidence names, each with the claims naming it; ``None``
    when most of its human claims name none that can be told (then a quoted claim leads)."""
    key = "adverse-effects" if intent == "adverse_effects" else "complications"
    section = next((s for s in sections if s.key == key), None)
    if section is None:
        return None
    by_name: dict[str, list[Claim]] = {}
    human = unnamed = 0
    for claim in section.claims:
        doc = documents.get(claim.citations[0].document_id) if claim.citations else None
        if doc is None or reads_as_animal(doc, claim.text) or opening(claim.text)[1] is not None:
            continue
        human += 1
        names = _harm_names(claim, doc, vocabulary, exclude)
        unnamed += not names
        for name in names:
            by_name.setdefault(name, []).append(claim)
    if 2 * unnamed > human:
        return None  # most harms could not be named: a quoted one leads rather than a list of few
    ranked = sorted(by_name.items(), key=lambda kv: -len({c.citations[0].document_id for c in kv[1]}))
    return compose_list(intent, subject, ranked)


def compose_members(
    subject: str,
    sections: Sequence[ArticleSection],
    forms: frozenset[str],
    vocabulary: Vocabulary,
    exclude: frozenset[str],
) -> Claim | None:
    """The members of the class a list question asks for ("List the essential amino acids") that its
    key findings name where they state the list (:func:`~curbside.retrieval.intent.answer_span`:
    "Leucine, isoleucine and valine are essential amino acids"), each cited by the claims naming it;
    ``None`` when they name fewer than two."""
    section = next((s for s in sections if s.key == "key-findings"), None)
    by_name: dict[str, list[Claim]] = {}
    for claim in section.claims if section is not None else ():
        span = answer_span("members", forms, claim.text)
        for concept in _besides(span, vocabulary, exclude) if span is not None else ():
            by_name.setdefault(natural_order(concept.preferred).lower(), []).append(claim)
    if len(by_name) < 2 or not subject:
        return None
    names = list(by_name)[:_MEMBERS]
    text = f"The retrieved sources name {_join(names)} as {in_sentence(subject)}."
    citations = tuple(dict.fromkeys(cit for n in names for claim in by_name[n] for cit in claim.citations))
    return Claim(text, citations, category=SUMMARY_CATEGORY)


def cause_categories_found(sections: Sequence[ArticleSection]) -> list[ArticleSection]:
    """The cause-category subsections (not "Other") of an article's causes section that hold claims."""
    causes = next((s for s in sections if s.key == "causes"), None)
    if causes is None:
        return []
    return [sub for sub in causes.subsections if sub.claims and not sub.key.endswith("-other")]


def coverage_warning(intent: str, subject: str, sections: Sequence[ArticleSection]) -> ArticleWarning | None:
    """What part of a list question the sections leave unanswered, or ``None``."""
    if intent == "causes":
        if not any(s.key == "causes" for s in sections):
            return None
        found = [sub.heading.lower() for sub in cause_categories_found(sections)]
        name = in_sentence(subject)
        if not found:
            what = f"no retrieved source states a cause of {name} that falls in a cause category"
        else:
            what = (
                f"the retrieved sources report causes of {name} in {len(found)} "
                f"categor{'y' if len(found) == 1 else 'ies'} only ({'; '.join(found)}); other causes in a "
                "full differential were not found in them"
            )
        return ArticleWarning("partial-evidence", f"Evidence covers part of the question: {what}.")
    if intent == "members":
        section = next((s for s in sections if s.key == "key-findings"), None)
        name = in_sentence(subject)
        what = (
            f"the list holds only what the retrieved sources name as {name}; it may not be complete"
            if section is not None and section.claims
            else f"no retrieved source names {name}"
        )
        return ArticleWarning("partial-evidence", f"Evidence covers part of the question: {what}.")
    if intent in ("adverse_effects", "complications"):
        key = "adverse-effects" if intent == "adverse_effects" else "complications"
        section = next((s for s in sections if s.key == key), None)
        n = len(section.claims) if section is not None else 0
        if n < _FEW_HARMS:
            noun = _NOUNS[intent]
            listed = "none" if n == 0 else f"only {n} statement{'s' if n > 1 else ''}"
            tail = " (check the product label for a complete list)" if intent == "adverse_effects" else ""
            return ArticleWarning(
                "partial-evidence",
                f"Evidence covers part of the question: the retrieved sources give {listed} on {noun} "
                f"of {in_sentence(subject)}; this is not a complete list{tail}.",
            )
    return None


def refresh_coverage(article: Article) -> Article:
    """``article`` with its coverage warning said again from the sections its verifier kept: a
    category whose only claim was removed is not covered.  Unchanged for an article the extractive
    synthesizer did not mark for it (``metadata["coverage"]``)."""
    marked = article.metadata.get("coverage")
    if not isinstance(marked, dict):
        return article
    kept = tuple(w for w in article.warnings if w.code != "partial-evidence")
    warning = coverage_warning(
        str(marked.get("intent", "")), str(marked.get("subject", "")), article.sections
    )
    return replace(article, warnings=(warning, *kept) if warning is not None else kept)


def _quoted_span(claim: Claim) -> tuple[str, int, str] | None:
    """The record, offset and part a quoted claim cites; ``None`` for a composed or uncited claim."""
    if claim.category == SUMMARY_CATEGORY or not claim.citations:
        return None
    cit = claim.citations[0]
    return (cit.document_id, cit.start, cit.part)


def spare_sections(bottom_line: tuple[Claim, ...], sections: Sequence[ArticleSection]) -> tuple[Claim, ...]:
    """The lead, then each further bottom-line claim only where its section keeps another claim:
    quoting a section's only sentence at the top would empty the section (the dosing of a treatment
    article) to repeat what the lead already says.  (Allowing further sentences only from the sections
    was tried on BioASQ 9B: claim relevance 0.716 -> 0.715, snippet recall 0.484 -> 0.480.)"""
    left: dict[str, int] = {}
    home: dict[tuple[str, int, str], str] = {}
    for section in sections:
        for sub in (section, *section.subsections):
            left[sub.key] = len(sub.claims)
            for claim in sub.claims:
                span = _quoted_span(claim)
                if span is not None:
                    home[span] = sub.key
    kept: list[Claim] = []
    for n, claim in enumerate(bottom_line):
        span = _quoted_span(claim)
        where = home.get(span) if span is not None else None
        if n == 0 or where is None or left[where] > 1:
            kept.append(claim)
            if where is not None:
                left[where] -= 1
    return tuple(kept)


def without_repeats(bottom_line: Sequence[Claim], sections: Sequence[ArticleSection]) -> list[ArticleSection]:
    """``sections`` without the quotes the bottom line already makes (same record, same span)."""
    quoted = {span for c in bottom_line if (span := _quoted_span(c)) is not None}
    if not quoted:
        return list(sections)

    def keep(claims: Sequence[Claim]) -> tuple[Claim, ...]:
        return tuple(c for c in claims if not c.citations or _quoted_span(c) not in quoted)

    return [
        replace(
            s,
            claims=keep(s.claims),
            subsections=tuple(replace(sub, claims=keep(sub.claims)) for sub in s.subsections),
        )
        for s in sections
    ]
