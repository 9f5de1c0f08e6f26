"""Evidence gathered per facet: the sub-queries an article's sections need beyond the main search.

One search for "What are the causes of leukopenia?" ranks passages by how much they resemble the
question, and the papers that answer it rarely do: "Leucopenia in association with mianserin
treatment" shares one word with it.  For an intent listed in ``data/facets.json`` (causes, adverse
effects, complications, risk factors, treatment, diagnosis, prevention) each facet adds one boolean
sub-query, *the subject's terms* AND *the facet's words*: the subject in every spelling, its MeSH
synonyms and narrower descriptors ("agranulocytosis", "neutropenia"), and words such as "induced" or
"caused by".  Among a facet's results, documents that MEDLINE's indexers filed under the subject with
one of the facet's MeSH qualifiers (Leukopenia/chemically induced, Clozapine/adverse effects) come
first: that is a person's reading of the paper, not a word match.

The hits are merged after the main search's; the synthesizer and the verifier decide what is quoted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from curbside.datafiles import load_data
from curbside.ingestion.chunking import is_title_chunk
from curbside.retrieval.intent import Intent, intent_of
from curbside.retrieval.questions import analyse, fts_expression
from curbside.retrieval.retrieve import Retriever, filters_for
from curbside.retrieval.subject import subject_of
from curbside.retrieval.vocabulary import americanise, britishise, natural_order
from curbside.types import Concept, Document, Hit, Query

__all__ = [
    "FACETS",
    "Facet",
    "build_facets",
    "facet_hits",
    "facet_queries",
    "facets_for",
    "narrower_questions",
    "subject_terms",
]

#: Most spellings, synonyms and narrower terms one sub-query ORs together.
_MAX_TERMS: Final = 10


@dataclass(frozen=True, slots=True)
class Facet:
    """One facet of an intent: the words its passages use and the MeSH qualifiers it matches."""

    key: str
    subject: str  # "condition" or "exposure": which side of the link the question's subject is
    words: tuple[str, ...]
    qualifiers: frozenset[str]


def build_facets(data: Any) -> dict[str, tuple[Facet, ...]]:
    out: dict[str, tuple[Facet, ...]] = {}
    for intent, facets in data["intents"].items():
        built = []
        for f in facets:
            words = tuple(str(w).lower() for w in f["words"])
            if not words:
                raise ValueError(f"facet {f['key']!r} of {intent!r} has no words")
            if f["subject"] not in ("condition", "exposure"):
                raise ValueError(f"facet {f['key']!r} of {intent!r}: subject must be condition or exposure")
            built.append(
                Facet(str(f["key"]), f["subject"], words, frozenset(str(q).lower() for q in f["qualifiers"]))
            )
        out[intent] = tuple(built)
    return out


FACETS: Final = load_data("facets.json", "facet plans", build_facets)


def facets_for(intent: Intent) -> tuple[Facet, ...]:
    """The facets an article of ``intent`` gathers evidence for (none for most intents)."""
    return FACETS.get(intent, ())


def _subject_concept(query: Query) -> Concept | None:
    main = subject_of(query).main
    if main is None:
        return None
    for concept in query.concepts:
        names = {t.lower() for t in (concept.text, concept.preferred, *concept.synonyms)}
        if main.text in names or main.forms & names:
            return concept
    return None


def subject_terms(query: Query) -> list[str]:
    """The main subject as the facet sub-queries search it: every spelling, its synonyms and its
    narrower MeSH descriptors in natural order ("Purpura, Thrombocytopenic" -> "thrombocytopenic purpura")."""
    main = subject_of(query).main
    if main is None:
        return []
    # The index stems words (porter), so plurals add nothing; spellings, narrower descriptors and
    # synonyms do, in that order of how much of the literature each finds.
    names = [main.text]
    concept = _subject_concept(query)
    if concept is not None:
        names += [natural_order(n) for n in concept.narrower] + list(concept.synonyms)
    terms: dict[str, None] = {}
    for name in names:
        for form in (name.lower(), americanise(name.lower()), britishise(name.lower())):
            if form.rstrip("s") not in {t.rstrip("s") for t in terms}:
                terms[form] = None
    return list(terms)[:_MAX_TERMS]


def narrower_questions(query: Query, limit: int = 3) -> list[Query]:
    """The question asked of each of the subject's narrower MeSH descriptors, at most ``limit``:
    "What are the causes of agranulocytosis?" for "What are the causes of leukopenia?".  Empty when
    the subject has none, or the question does not spell the subject as its vocabulary matched it."""
    concept = _subject_concept(query)
    if concept is None or not concept.narrower:
        return []
    spelled = re.compile(rf"(?<!\w){re.escape(concept.text)}(?!\w)", re.IGNORECASE)
    if not spelled.search(query.text):
        return []
    out = []
    for name in concept.narrower[:limit]:
        text = spelled.sub(natural_order(name).lower(), query.text, count=1)
        out.append(analyse(text))
    return out


def _descriptors(query: Query) -> frozenset[str]:
    """MeSH descriptor names (lower case) that stand for the subject: its concept and narrower ones."""
    concept = _subject_concept(query)
    if concept is not None:
        return frozenset(n.lower() for n in (concept.preferred, *concept.narrower))
    main = subject_of(query).main
    return frozenset(main.forms) if main is not None else frozenset()


def facet_queries(query: Query, intent: Intent | None = None) -> list[tuple[Facet, str]]:
    """Each facet of the question's intent with its full-text expression; empty when none applies."""
    facets = facets_for(intent or intent_of(query.text))
    subject = fts_expression(subject_terms(query))
    if not facets or subject is None:
        return []
    out = []
    for facet in facets:
        words = fts_expression(facet.words)
        assert words is not None  # build_facets refuses a facet without words
        out.append((facet, f"({subject}) AND ({words})"))
    return out


def _indexed_under(doc: Document, descriptors: frozenset[str], qualifiers: frozenset[str]) -> bool:
    return any(
        h.descriptor.lower() in descriptors and any(q.name.lower() in qualifiers for q in h.qualifiers)
        for h in doc.mesh
    )


def facet_hits(
    retriever: Retriever,
    query: Query,
    *,
    per_facet: int = 8,
    exclude: Sequence[Hit] = (),
    intent: Intent | None = None,
) -> tuple[list[Hit], dict[str, int]]:
    """Hits of every facet sub-query not already in ``exclude`` (documents), with how many each facet added.

    Within a facet, documents indexed under the subject with one of its qualifiers come first.
    """
    seen = {h.document.id for h in exclude}
    descriptors = _descriptors(query)
    filters = filters_for(query)
    out: list[Hit] = []
    counts: dict[str, int] = {}
    for facet, match in facet_queries(query, intent):
        found = retriever.search_match(match, 3 * per_facet, filters)
        # A title-only record is citable by its title (curbside.ingestion.chunking): "Leucopenia in association
        # with mianserin treatment" is the whole record, and the answer.
        found = [
            h
            for h in found
            if h.document.id not in seen and (h.chunk.text.strip() or is_title_chunk(h.chunk))
        ]
        # Stable: the full-text order stands within each group.
        found.sort(key=lambda h: not _indexed_under(h.document, descriptors, facet.qualifiers))
        taken = found[:per_facet]
        seen.update(h.document.id for h in taken)
        out += taken
        counts[facet.key] = len(taken)
    return out, counts
