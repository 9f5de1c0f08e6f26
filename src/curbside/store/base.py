"""The ``Store`` protocol: what every storage backend (SQLite, PostgreSQL) provides.

The store owns documents, their chunks, the lexical index, vectors, and the
bookkeeping that makes ingest idempotent and resumable (files, runs,
malformed-record reports).  One ingest batch is one transaction, so a killed
ingest never leaves a half-written document behind.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
import numpy.typing as npt

from curbside.types import Chunk, Document, Malformed


@dataclass(frozen=True)
class SearchFilters:
    """Restrictions applied inside the store so that ``k`` hits survive filtering."""

    year_from: int | None = None
    year_to: int | None = None
    kinds: tuple[str, ...] = ()
    publication_types: tuple[str, ...] = ()
    exclude_retracted: bool = True

    @property
    def active(self) -> bool:
        return bool(
            self.year_from or self.year_to or self.kinds or self.publication_types or self.exclude_retracted
        )


@dataclass(frozen=True)
class ChunkHit:
    """A chunk found by one retrieval method with that method's raw score (higher is better)."""

    chunk: Chunk
    score: float
    title: str


@dataclass
class FileProgress:
    """How far the ingest of one input (keyed by content digest) has come."""

    key: str
    path: str
    source_type: str
    records_done: int = 0
    documents: int = 0
    deletions: int = 0
    malformed: int = 0
    completed: bool = False


@dataclass
class Batch:
    """Records to write in one transaction, and the input position reached after them."""

    file: FileProgress
    documents: list[Document] = field(default_factory=list)
    deletions: list[str] = field(default_factory=list)
    malformed: list[Malformed] = field(default_factory=list)
    records: int = 0  # records consumed from the input in this batch

    def __len__(self) -> int:
        return self.records


@dataclass
class BatchResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0

    def add(self, other: BatchResult) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.deleted += other.deleted


@dataclass(frozen=True)
class ChunkRow:
    """A chunk with what a separate search engine needs to index and filter it (:meth:`Store.chunk_rows`)."""

    key: int
    chunk: Chunk
    title: str
    year: int | None
    kind: str
    publication_types: tuple[str, ...]
    retracted: bool
    vector: npt.NDArray[np.float32] | None  # of the model asked for; None until `curbside index` embeds it


@dataclass
class SyncReport:
    """What one fill of a separate search engine from the store did (:func:`curbside.store.milvus.sync`)."""

    rows: int = 0  # chunks read from the store
    upserted: int = 0
    deleted: int = 0
    seconds: float = 0.0


#: :meth:`Store.word_counts` stops counting here (a common word costs no more than a rare one).
WORD_COUNT_CAP = 20_000


@dataclass(frozen=True)
class VectorCoverage:
    """How many of a store's chunks have a vector from one embedding model."""

    chunks: int
    embedded: int

    @property
    def remaining(self) -> int:
        return max(0, self.chunks - self.embedded)

    @property
    def fraction(self) -> float:
        """Share of chunks embedded (1.0 for an empty store: nothing is missing)."""
        return min(1.0, self.embedded / self.chunks) if self.chunks else 1.0

    @property
    def complete(self) -> bool:
        return self.remaining == 0


@dataclass
class StoreStats:
    location: str
    documents: int
    with_abstract: int
    retracted: int
    chunks: int
    by_kind: dict[str, int]
    embedded: dict[str, int]  # embedder name -> chunks embedded
    files: int
    files_completed: int
    records_read: int  # documents read from files (all runs, each file counted once)
    deletions_applied: int
    malformed: int
    year_min: int | None
    year_max: int | None
    size_bytes: int


class Store(Protocol):
    """Storage backend contract; ``tests/test_store.py`` runs one suite against every backend."""

    location: str

    def close(self) -> None: ...

    # --- ingest bookkeeping ---
    def file_progress(self, key: str) -> FileProgress | None: ...

    def write_batch(self, batch: Batch) -> BatchResult:
        """Apply documents, deletions and problem reports and advance ``batch.file`` atomically."""
        ...

    def finish_file(self, progress: FileProgress) -> None: ...

    def record_run(self, inputs: Sequence[str], result: BatchResult, seconds: float) -> None: ...

    # --- documents ---
    def get_document(self, doc_id: str) -> Document | None: ...

    def get_documents(self, doc_ids: Sequence[str]) -> dict[str, Document]: ...

    def iter_documents(self) -> Iterator[Document]: ...

    def chunks(self, doc_id: str) -> list[Chunk]: ...

    def mark_retracted(self, doc_ids: Sequence[str]) -> int: ...

    def problems(self, limit: int = 50) -> list[Malformed]: ...

    # --- retrieval ---
    def search_text(self, match: str, k: int, filters: SearchFilters | None = None) -> list[ChunkHit]:
        """BM25 over chunk text and document title; ``match`` is an FTS5-syntax expression."""
        ...

    def search_text_weighted(
        self, parts: Sequence[tuple[str, float]], k: int, filters: SearchFilters | None = None
    ) -> list[ChunkHit]:
        """A weighted OR of FTS5 expressions: a chunk scores the sum of weight x its BM25 for each.

        Retrieval uses it for a question's own words (weight 1) plus its concepts'
        synonyms (a lower weight).  :func:`merge_scores` over one :meth:`search_text`
        per part is a correct implementation; a backend that can rank all parts in
        one query (PostgreSQL) does so to save a round trip and a ranking pass.
        """
        ...

    def chunks_to_embed(self, model: str, limit: int) -> list[tuple[int, str]]:
        """``(chunk key, text to embed)`` for chunks that have no vector from ``model`` yet."""
        ...

    def vector_coverage(self, model: str) -> VectorCoverage:
        """Chunks, and chunks with a ``model`` vector: cheap counts, read before every search."""
        ...

    def chars_to_embed(self, model: str, limit: int | None = None) -> int:
        """Characters of embedding text (as :meth:`chunks_to_embed` gives it) still without a vector.

        ``limit``: only of the first ``limit`` such chunks, in :meth:`chunks_to_embed` order.

        ``curbside index`` estimates its time from it: embedding cost follows text
        length, and chunks range from a 60-character title to a 1,600-character passage.
        """
        ...

    def put_vectors(self, model: str, keys: Sequence[int], vectors: npt.NDArray[np.float32]) -> None: ...

    def chunk_rows(self, model: str, after: int, limit: int) -> list[ChunkRow]:
        """Up to ``limit`` chunks with keys above ``after``, in key order, each with its document's
        filter fields and its ``model`` vector: what a search engine (Milvus) is filled from."""
        ...

    def bulk_vectors(self, model: str, incoming: int) -> AbstractContextManager[None]:
        """Wraps storing about ``incoming`` vectors of ``model`` (``curbside index``, ``migrate``).

        A backend whose vector index is cheaper to build once than to keep up row by
        row (PostgreSQL's HNSW) builds it at the end of the block; others return
        :func:`contextlib.nullcontext`.
        """
        ...

    def search_vector(
        self, model: str, vector: npt.NDArray[np.float32], k: int, filters: SearchFilters | None = None
    ) -> list[ChunkHit]: ...

    def stats(self) -> StoreStats: ...

    def word_counts(self, words: Sequence[str]) -> dict[str, int]:
        """How many chunks hold each word (full-text matching, stemmed as the index stems), capped at
        :data:`WORD_COUNT_CAP`: enough to tell a rare subject from a common word."""
        ...

    def check(self) -> list[str]:
        """Damage the backend's own consistency check finds (empty: none).

        SQLite runs ``PRAGMA quick_check`` (about 1 s per 250 MB); PostgreSQL checks
        its pages as it reads them, so its check is empty.
        """
        ...


def merge_scores(lists: Sequence[tuple[Sequence[ChunkHit], float]], k: int) -> list[ChunkHit]:
    """One list from several: a chunk scores the sum of ``weight x score`` over the lists it is in.

    Used for BM25 lists from the same index (they share a scale); rank fusion would
    not do there, since a synonym-only list would put its own best passages on top.
    """
    scores: dict[tuple[str, int], float] = {}
    found: dict[tuple[str, int], ChunkHit] = {}
    for hits, weight in lists:
        for ch in hits:
            key = (ch.chunk.document_id, ch.chunk.ordinal)
            scores[key] = scores.get(key, 0.0) + weight * ch.score
            found.setdefault(key, ch)
    ranked = sorted(scores, key=lambda key: scores[key], reverse=True)[:k]
    return [replace(found[key], score=scores[key]) for key in ranked]


def search_parts(
    store: Store, parts: Sequence[tuple[str, float]], k: int, filters: SearchFilters | None
) -> list[ChunkHit]:
    """:meth:`Store.search_text_weighted` as one :meth:`Store.search_text` per part, merged."""
    if len(parts) == 1 and parts[0][1] == 1.0:
        return store.search_text(parts[0][0], k, filters)
    return merge_scores([(store.search_text(match, k, filters), weight) for match, weight in parts], k)
