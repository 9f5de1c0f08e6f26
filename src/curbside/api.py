"""Library entry points: what the CLI, the HTTP API and the web app call.

Each function takes plain arguments plus optional ``settings`` and ``store``
and returns data; none of them prints.  The store is opened from
``settings.db`` when not given and closed again afterwards.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from curbside.config import Settings
from curbside.errors import InputError, NotFoundError
from curbside.ingest import IngestReport, ProgressCallback, ingest_paths, ingest_source
from curbside.store import open_store
from curbside.store.base import Store, StoreStats
from curbside.types import Chunk, Document


@contextmanager
def _store(settings: Settings, store: Store | None) -> Iterator[Store]:
    if store is not None:
        yield store
        return
    opened = open_store(settings.db, settings)
    try:
        yield opened
    finally:
        opened.close()


def ingest(
    paths: Sequence[str | Path],
    *,
    settings: Settings | None = None,
    store: Store | None = None,
    progress: ProgressCallback | None = None,
) -> IngestReport:
    """Ingest files, globs and folders; see :mod:`curbside.ingest`."""
    settings = settings or Settings()
    with _store(settings, store) as s:
        return ingest_paths(s, paths, settings, progress=progress)


def ingest_pubmed(
    query: str,
    *,
    max_records: int = 100,
    settings: Settings | None = None,
    store: Store | None = None,
    progress: ProgressCallback | None = None,
) -> IngestReport:
    """Search PubMed through E-utilities and ingest up to ``max_records`` results."""
    from curbside.sources.eutils import EutilsSource

    if not query.strip():
        raise InputError("the PubMed query is empty")
    if max_records < 1:
        raise InputError(f"--max must be at least 1 (got {max_records})")
    settings = settings or Settings()
    report = IngestReport()
    source = EutilsSource(query, max_records=max_records, settings=settings)
    with _store(settings, store) as s:
        # A live query's answer changes over time, so each run is its own input (a repeat
        # re-reads; unchanged records cost nothing because their content hash matches).
        key = f"pubmed:{query}|max={max_records}|at={int(time.time())}"
        report.inputs.append(
            ingest_source(
                s,
                source,
                key=key,
                source_type="eutils",
                settings=settings,
                progress=progress,
                result=report.result,
            )
        )
        s.record_run([source.name], report.result, 0.0)
    return report


def stats(*, settings: Settings | None = None, store: Store | None = None) -> StoreStats:
    settings = settings or Settings()
    with _store(settings, store) as s:
        return s.stats()


def normalise_id(doc_id: str) -> str:
    """Accept ``pmid:123``, a bare ``123`` (a PMID), ``PMC123`` or ``doi:...``."""
    text = doc_id.strip()
    if text.isdigit():
        return f"pmid:{text}"
    if text.upper().startswith("PMC") and text[3:].isdigit():
        return f"pmcid:{text.upper()}"
    if text.startswith("10.") and "/" in text:
        return f"doi:{text}"
    return text


def show(
    doc_id: str, *, settings: Settings | None = None, store: Store | None = None
) -> tuple[Document, list[Chunk]]:
    """A stored document and its chunks; :class:`NotFoundError` when absent."""
    settings = settings or Settings()
    wanted = normalise_id(doc_id)
    with _store(settings, store) as s:
        doc = s.get_document(wanted)
        if doc is None:
            raise NotFoundError(
                f"{wanted} is not in the store at {s.location}",
                hint="check the id, or ingest it first (curbside ingest --pubmed ...)",
            )
        return doc, s.chunks(wanted)
