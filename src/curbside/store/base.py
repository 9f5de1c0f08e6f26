"""The ``Store`` protocol: what every storage backend (SQLite, PostgreSQL) provides.

The store owns documents, their chunks, the lexical index, vectors, and the
bookkeeping that makes ingest idempotent and resumable (files, runs,
malformed-record reports).  One ingest batch is one transaction, so a killed
ingest never leaves a half-written document behind.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
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

    def chunks_to_embed(self, model: str, limit: int) -> list[tuple[int, str]]:
        """``(chunk key, text to embed)`` for chunks that have no vector from ``model`` yet."""
        ...

    def count_to_embed(self, model: str) -> int: ...

    def put_vectors(self, model: str, keys: Sequence[int], vectors: npt.NDArray[np.float32]) -> None: ...

    def search_vector(
        self, model: str, vector: npt.NDArray[np.float32], k: int, filters: SearchFilters | None = None
    ) -> list[ChunkHit]: ...

    def stats(self) -> StoreStats: ...
