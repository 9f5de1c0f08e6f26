"""Live evidence: when the store cannot answer a question, fetch PubMed records for it and keep them.

:func:`pubmed_query_for` turns an analysed question into a PubMed search:

* each concept becomes ``("Preferred"[mh] OR "preferred"[tiab] OR "synonym"[tiab] ...)``
  - the MeSH heading (which PubMed explodes to narrower headings) plus the
  words an abstract would use; concepts are joined with ``AND``;
* a question without concepts falls back to its content words as ``[tiab]`` terms
  (words that only state the question type, such as "causes", are left out:
  the type filter says that better);
* the question type adds a filter: causes -> ``etiology[sh] OR risk factors[mh]``,
  treatment -> ``therapy[sh] OR therapeutics[mh]``, and so on (see
  :data:`TYPE_FILTERS`); year and publication-type filters map to ``[dp]`` and
  ``[pt]``;
* only records with an abstract (curbside answers from abstracts) and no
  retraction notices are asked for.

:func:`fetch_evidence_live` runs that search through
:class:`~curbside.ingestion.sources.eutils.EutilsSource` and
:func:`~curbside.ingestion.pipeline.ingest_source` under the key ``pubmed:live:<query>``,
so the records are stored for reuse and asking the same question again costs
no request.  If the typed search finds nothing, the search without the type
filter is tried once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Final

from curbside.config import Settings
from curbside.datafiles import load_data, rules_of
from curbside.errors import QueryError, SourceError
from curbside.ingestion.pipeline import IngestReport, ProgressCallback, ingest_source
from curbside.ingestion.sources.eutils import EutilsClient, EutilsSource
from curbside.retrieval.questions import analyse, fts_query, natural_order
from curbside.retrieval.retrieve import filters_for
from curbside.store.base import Store
from curbside.types import Concept, Query, QuestionType, Record

__all__ = [
    "TYPE_FILTERS",
    "fetch_evidence_live",
    "has_evidence",
    "live_key",
    "pubmed_queries_for",
    "pubmed_query_for",
]

_RULES: Final = load_data("live_search.json", "live search filters", rules_of("type_filters", "cue_word"))

#: PubMed filters that narrow a search to what each question type asks about.
#: Subheadings (``[sh]``) are exploded by PubMed: ``etiology`` includes ``chemically induced``.
TYPE_FILTERS: Final[dict[QuestionType, str]] = dict(_RULES["type_filters"])
#: Text-word terms per concept: the preferred name and the first synonyms (more only dilute precision).
MAX_TIAB_TERMS = 6
#: Content words used when a question has no recognised concept.
MAX_KEYWORDS = 6

# Words that state the question type rather than its subject; the type filter covers them.
_CUE_WORD: Final = re.compile(_RULES["cue_word"])
# An abbreviation ("HTN", "ASA", "CVA") means many things in titles and abstracts; the MeSH
# heading and the spelled-out synonyms already find the articles that use it.
_ABBREVIATION: Final = re.compile(r"^[A-Z0-9-]{2,6}$")
# Characters with a meaning in PubMed's query syntax; a term never needs them.
_SYNTAX: Final = re.compile(r'["\[\]()*:]')


def _term(text: str) -> str:
    return " ".join(_SYNTAX.sub(" ", text).split())


def _concept_clause(concept: Concept) -> str:
    parts: list[str] = []
    seen: set[str] = set()
    if concept.mesh_ui and (heading := _term(concept.preferred)):
        parts.append(f'"{heading}"[mh]')
    for candidate in (natural_order(concept.preferred), concept.text, *concept.synonyms):
        term = _term(candidate)
        if not term or _ABBREVIATION.match(term) or term.lower() in seen:
            continue
        seen.add(term.lower())
        parts.append(f'"{term}"[tiab]')
        if len(seen) >= MAX_TIAB_TERMS:
            break
    return "(" + " OR ".join(parts) + ")" if len(parts) > 1 else parts[0] if parts else ""


def _subject_clauses(query: Query) -> list[str]:
    clauses = [c for c in (_concept_clause(concept) for concept in query.concepts) if c]
    if clauses:
        return clauses
    words = [w for w in query.keywords if not _CUE_WORD.match(w)] or list(query.keywords)
    return [f'"{t}"[tiab]' for t in (_term(w) for w in words[:MAX_KEYWORDS]) if t]


def pubmed_query_for(query: Query, *, with_type: bool = True) -> str:
    """The PubMed search for ``query`` (see the module docstring); ``with_type=False`` drops the type filter."""
    clauses = _subject_clauses(query)
    if not clauses:
        raise QueryError(f"the question has nothing to search PubMed for: {query.text!r}")
    if with_type and query.qtype in TYPE_FILTERS:
        clauses.append(TYPE_FILTERS[query.qtype])
    if query.year_from is not None or query.year_to is not None:
        start = query.year_from if query.year_from is not None else 1800
        end = query.year_to if query.year_to is not None else 3000
        clauses.append(f'("{start}"[dp] : "{end}"[dp])')
    if query.publication_types:
        types = [f'"{t}"[pt]' for t in (_term(p) for p in query.publication_types) if t]
        if types:
            clauses.append("(" + " OR ".join(types) + ")" if len(types) > 1 else types[0])
    clauses.append("hasabstract")
    text = " AND ".join(clauses)
    if query.exclude_retracted:
        text += ' NOT "retracted publication"[pt]'
    return text


def pubmed_queries_for(query: Query) -> list[str]:
    """The searches :func:`fetch_evidence_live` tries in order: typed first, then without the type filter."""
    out = [pubmed_query_for(query)]
    loose = pubmed_query_for(query, with_type=False)
    if loose != out[0]:
        out.append(loose)
    return out


def live_key(pubmed_query: str) -> str:
    """The ingest key under which the results of ``pubmed_query`` are stored."""
    return f"pubmed:live:{pubmed_query}"


def has_evidence(store: Store, query: Query, min_hits: int = 1) -> bool:
    """Whether the store's lexical index has at least ``min_hits`` chunks for ``query`` (filters applied)."""
    return len(store.search_text(fts_query(query), min_hits, filters_for(query))) >= min_hits


class _Capturing:
    """Wraps a source to keep the error that ended it: ingest_source reports it as text, we re-raise it."""

    def __init__(self, source: EutilsSource) -> None:
        self.source = source
        self.name = source.name
        self.error: SourceError | None = None

    def records(self) -> Iterator[Record]:
        try:
            yield from self.source.records()
        except SourceError as exc:
            self.error = exc
            raise


def fetch_evidence_live(
    question: str,
    *,
    settings: Settings,
    store: Store,
    max_records: int = 40,
    client: EutilsClient | None = None,
    force: bool = False,
    min_hits: int = 1,
    progress: ProgressCallback | None = None,
) -> IngestReport:
    """Fetch up to ``max_records`` PubMed records for ``question`` into ``store`` when it has no evidence.

    Does nothing (an :class:`IngestReport` with no inputs) when the store
    already has ``min_hits`` lexical hits for the question, unless ``force``.
    A search already run (same PubMed query) is not repeated: its stored
    results are reused.  ``client`` defaults to a new
    :class:`~curbside.ingestion.sources.eutils.EutilsClient` on ``settings`` (closed
    afterwards).

    Raises :class:`~curbside.errors.QueryError` for an unusable question and
    :class:`~curbside.errors.UnreachableError` (or another
    :class:`~curbside.errors.RemoteError`) when NCBI cannot be reached or
    fails; records stored before a failure stay.
    """
    query = analyse(question)
    report = IngestReport()
    if not force and has_evidence(store, query, min_hits):
        return report
    started = time.perf_counter()
    own = client is None
    eutils = client or EutilsClient(settings)
    try:
        for term in pubmed_queries_for(query):
            source = _Capturing(EutilsSource(term, max_records=max_records, settings=settings, client=eutils))
            done = ingest_source(
                store,
                source,
                key=live_key(term),
                source_type="eutils",
                settings=settings,
                progress=progress,
                result=report.result,
            )
            report.inputs.append(done)
            if source.error is not None:
                raise source.error
            if done.documents > 0:
                break
    finally:
        if own:
            eutils.close()
    report.seconds = time.perf_counter() - started
    store.record_run([i.input for i in report.inputs], report.result, report.seconds)
    return report
