"""Copy one store into another (``curbside migrate --from URL --to URL``): SQLite <-> PostgreSQL.

What is copied: every document (the target chunks and indexes it itself, so the
chunks are the same when both stores use the same ``chunk_chars``), every vector of
every embedding model (matched to the target's chunks by document id and ordinal,
so no re-embedding), and the ingest bookkeeping: file progress (a completed file
stays skipped on the target, a half-read one resumes there), malformed-record
reports and the run log.

Idempotent: documents are written through ``write_batch``, so an unchanged record
is a no-op; vectors and file rows are upserts; a run already in the target (same
inputs, same finish time) is not appended again.  An interrupted copy is finished
by running it again.

The protocol has no methods to list bookkeeping rows or raw vectors (ingest and
retrieval never need them), so this module reads and writes them through one small
adapter per backend.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from curbside.errors import InputError
from curbside.store.base import Batch, BatchResult, FileProgress, Store, SyncReport
from curbside.store.sqlite import SQLiteStore
from curbside.types import Document, Malformed

#: (stage, done, total) after every batch; stage is "documents", "vectors:<model>" or "bookkeeping".
MigrateProgress = Callable[[str, int, int | None], None]

VectorRow = tuple[str, int, npt.NDArray[np.float32]]
FileRow = tuple[FileProgress, float, float | None]
RunRow = tuple[str, BatchResult, float, float]


@dataclass
class MigrateReport:
    source: str
    target: str
    documents: BatchResult = field(default_factory=BatchResult)
    vectors: dict[str, int] = field(default_factory=dict)
    vectors_skipped: int = 0  # vectors whose chunk the target does not have (different chunk_chars)
    files: int = 0
    problems: int = 0
    runs_added: int = 0
    seconds: float = 0.0
    search: SyncReport | None = None  # the target's search engine, filled when CURBSIDE_SEARCH names one


class _Side(Protocol):
    def vector_models(self) -> dict[str, int]: ...
    def iter_vectors(self, model: str) -> Iterator[list[VectorRow]]: ...
    def chunk_keys(self, doc_ids: Sequence[str]) -> dict[tuple[str, int], int]: ...
    def files(self) -> list[FileRow]: ...
    def put_file(self, row: FileRow) -> None: ...
    def file_problems(self) -> list[tuple[str, Malformed]]: ...
    def put_problems(self, rows: Sequence[tuple[str, Malformed]]) -> None: ...
    def runs(self) -> list[RunRow]: ...
    def add_run(self, row: RunRow) -> None: ...


class _SQLiteSide:
    def __init__(self, store: SQLiteStore) -> None:
        self.conn = store._conn  # the store's own connection: same file, same locking

    def vector_models(self) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT model, length(vector) / 4 FROM chunk_vectors GROUP BY model ORDER BY model"
        ).fetchall()
        return {m: int(d) for m, d in rows}

    def iter_vectors(self, model: str) -> Iterator[list[VectorRow]]:
        last = 0
        while True:
            rows = self.conn.execute(
                "SELECT c.rowid, c.document_id, c.ordinal, v.vector FROM chunk_vectors v "
                "JOIN chunks c ON c.rowid = v.chunk_rowid WHERE v.model = ? AND v.chunk_rowid > ? "
                "ORDER BY v.chunk_rowid LIMIT 2000",
                (model, last),
            ).fetchall()
            if not rows:
                return
            yield [(d, int(o), np.frombuffer(blob, dtype=np.float32)) for _, d, o, blob in rows]
            last = int(rows[-1][0])

    def chunk_keys(self, doc_ids: Sequence[str]) -> dict[tuple[str, int], int]:
        out: dict[tuple[str, int], int] = {}
        ids = list(doc_ids)
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            rows = self.conn.execute(
                f"SELECT document_id, ordinal, rowid FROM chunks WHERE document_id IN ({','.join('?' * len(part))})",
                part,
            )
            out.update({(d, int(o)): int(k) for d, o, k in rows})
        return out

    def files(self) -> list[FileRow]:
        rows = self.conn.execute(
            "SELECT key, path, source_type, records_done, documents, deletions, malformed, completed, "
            "started_at, finished_at FROM ingest_files ORDER BY started_at, key"
        ).fetchall()
        return [
            (FileProgress(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7])), r[8], r[9]) for r in rows
        ]

    def put_file(self, row: FileRow) -> None:
        fp, started, finished = row
        self.conn.execute(
            "INSERT OR REPLACE INTO ingest_files (key, path, source_type, records_done, documents, deletions, "
            "malformed, completed, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*_file_values(fp), started, finished),
        )

    def file_problems(self) -> list[tuple[str, Malformed]]:
        rows = self.conn.execute("SELECT file_key, source, position, message FROM problems ORDER BY id")
        return [(r[0], Malformed(r[1], r[2], r[3])) for r in rows]

    def put_problems(self, rows: Sequence[tuple[str, Malformed]]) -> None:
        self.conn.executemany(
            "INSERT OR REPLACE INTO problems (file_key, source, position, message) VALUES (?, ?, ?, ?)",
            [(key, p.source, p.position, p.message) for key, p in rows],
        )

    def runs(self) -> list[RunRow]:
        rows = self.conn.execute(
            "SELECT inputs, inserted, updated, unchanged, deleted, seconds, finished_at FROM ingest_runs ORDER BY id"
        )
        return [(r[0], BatchResult(r[1], r[2], r[3], r[4]), r[5], r[6]) for r in rows]

    def add_run(self, row: RunRow) -> None:
        inputs, r, seconds, finished = row
        self.conn.execute(
            "INSERT INTO ingest_runs (inputs, inserted, updated, unchanged, deleted, seconds, finished_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (inputs, r.inserted, r.updated, r.unchanged, r.deleted, seconds, finished),
        )


class _PostgresSide:
    def __init__(self, store: Any) -> None:
        self.store = store  # a PostgresStore; typed loosely so that psycopg stays optional here

    def vector_models(self) -> dict[str, int]:
        models: dict[str, int] = self.store.vector_models()
        return models

    def iter_vectors(self, model: str) -> Iterator[list[VectorRow]]:
        pages: Iterator[list[VectorRow]] = self.store.iter_vectors(model)
        return pages

    def chunk_keys(self, doc_ids: Sequence[str]) -> dict[tuple[str, int], int]:
        keys: dict[tuple[str, int], int] = self.store.chunk_keys(doc_ids)
        return keys

    def files(self) -> list[FileRow]:
        rows: list[FileRow] = self.store.files()
        return rows

    def put_file(self, row: FileRow) -> None:
        fp, started, finished = row
        with self.store._pool.connection() as conn:
            conn.execute(
                "INSERT INTO ingest_files (key, path, source_type, records_done, documents, deletions, malformed, "
                "completed, started_at, finished_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET path = excluded.path, source_type = excluded.source_type, "
                "records_done = excluded.records_done, documents = excluded.documents, "
                "deletions = excluded.deletions, malformed = excluded.malformed, completed = excluded.completed, "
                "started_at = excluded.started_at, finished_at = excluded.finished_at",
                (*_file_values(fp), started, finished),
            )

    def file_problems(self) -> list[tuple[str, Malformed]]:
        rows: list[tuple[str, Malformed]] = self.store.file_problems()
        return rows

    def put_problems(self, rows: Sequence[tuple[str, Malformed]]) -> None:
        with self.store._pool.connection() as conn, conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO problems (file_key, source, position, message) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (file_key, position) DO UPDATE SET source = excluded.source, message = excluded.message",
                [(key, p.source, p.position, p.message) for key, p in rows],
            )

    def runs(self) -> list[RunRow]:
        rows: list[RunRow] = self.store.runs()
        return rows

    def add_run(self, row: RunRow) -> None:
        self.store.add_run(*row)


def _file_values(fp: FileProgress) -> tuple[object, ...]:
    return (
        fp.key,
        fp.path,
        fp.source_type,
        fp.records_done,
        fp.documents,
        fp.deletions,
        fp.malformed,
        fp.completed,
    )


def _side(store: Store) -> _Side:
    if isinstance(store, SQLiteStore):
        return _SQLiteSide(store)
    if type(store).__name__ == "PostgresStore":
        return _PostgresSide(store)
    raise InputError(
        f"curbside migrate supports the SQLite and PostgreSQL stores, not {type(store).__name__}"
    )


def migrate_store(
    source: Store, target: Store, *, progress: MigrateProgress | None = None, batch_size: int = 500
) -> MigrateReport:
    """Copy everything in ``source`` into ``target`` (see the module docstring)."""
    if source.location == target.location:
        raise InputError(f"--from and --to are the same store: {source.location}")
    notify: MigrateProgress = progress or (lambda _s, _d, _t: None)
    started = time.perf_counter()
    report = MigrateReport(source.location, target.location)
    src, dst = _side(source), _side(target)

    # Documents through the protocol: the target chunks and indexes them itself. The
    # batches need a file row to advance; it is removed again by the bookkeeping copy.
    total = source.stats().documents
    fp = FileProgress(key=f"migrate:{source.location}", path=source.location, source_type="migrate")
    docs: list[Document] = []
    done = 0
    notify("documents", 0, total)

    def flush() -> None:
        nonlocal done
        if docs:
            report.documents.add(target.write_batch(Batch(fp, documents=list(docs), records=len(docs))))
            done += len(docs)
            docs.clear()
            notify("documents", done, total)

    for doc in source.iter_documents():
        docs.append(doc)
        if len(docs) >= batch_size:
            flush()
    flush()

    for model, dims in src.vector_models().items():
        stage = f"vectors:{model}"
        wanted = source.stats().embedded.get(model, 0)
        copied = 0
        notify(stage, 0, wanted)
        with target.bulk_vectors(model, wanted):
            for page in src.iter_vectors(model):
                keys = dst.chunk_keys(list(dict.fromkeys(d for d, _, _ in page)))
                pairs = [(keys[(d, o)], v) for d, o, v in page if (d, o) in keys]
                report.vectors_skipped += len(page) - len(pairs)
                if pairs:
                    matrix = np.stack([v for _, v in pairs]).astype(np.float32).reshape(len(pairs), dims)
                    target.put_vectors(model, [k for k, _ in pairs], matrix)
                copied += len(page)
                report.vectors[model] = report.vectors.get(model, 0) + len(pairs)
                notify(stage, copied, wanted)

    notify("bookkeeping", 0, None)
    files = src.files()
    for row in files:
        dst.put_file(row)
    report.files = len(files)
    problems = src.file_problems()
    if problems:
        dst.put_problems(problems)
    report.problems = len(problems)
    have = {(inputs, round(finished, 3)) for inputs, _, _, finished in dst.runs()}
    for run in src.runs():
        if (run[0], round(run[3], 3)) not in have:
            dst.add_run(run)
            report.runs_added += 1
    _forget_file(target, fp.key)
    notify("bookkeeping", 1, 1)
    report.seconds = time.perf_counter() - started
    return report


def _forget_file(store: Store, key: str) -> None:
    """Remove the file row the document batches advanced (it is not an input anyone ingested)."""
    if isinstance(store, SQLiteStore):
        store._conn.execute("DELETE FROM ingest_files WHERE key = ?", (key,))
        return
    with store._pool.connection() as conn:  # type: ignore[attr-defined]
        conn.execute("DELETE FROM ingest_files WHERE key = %s", (key,))


def migrate_locations(
    source: str, target: str, settings: Any = None, *, progress: MigrateProgress | None = None
) -> MigrateReport:
    """Open both stores by location (``sqlite:///path``, a path, ``postgresql://...``) and copy."""
    from curbside.config import Settings
    from curbside.store import open_store, scheme_of

    settings = settings or Settings()
    # Both stores are copied as stores; the search engine (CURBSIDE_SEARCH) is filled from the
    # target afterwards, as `curbside index` fills it.
    plain = settings.model_copy(update={"search": ""})
    if scheme_of(source) == "sqlite":
        # Opening a SQLite path creates the file: check first, so a typo is an error, not an empty copy.
        path = Path(source.removeprefix("sqlite:///")).expanduser()
        if not path.is_file():
            raise InputError(f"--from {source}: no such store file")
    src = open_store(source, plain)
    try:
        stats = src.stats()
        if stats.documents == 0 and stats.files == 0:
            raise InputError(f"--from {src.location}: the source store is empty")
        dst = open_store(target, plain)
        try:
            report = migrate_store(src, dst, progress=progress, batch_size=settings.batch_size)
            if settings.search:
                report.search = _fill_search(dst, settings, progress)
            return report
        finally:
            dst.close()
    finally:
        src.close()


def _fill_search(target: Store, settings: Any, progress: MigrateProgress | None) -> SyncReport:
    """Fill the search engine ``settings.search`` names from ``target``, with the configured embedder's
    vectors (:func:`curbside.store.milvus.sync`)."""
    from curbside.retrieval.embeddings import get_embedder
    from curbside.store.milvus import connect, sync

    embedder = get_embedder(settings.embedder, settings)  # its name and size only: no model is loaded
    search = connect(settings)
    total = target.stats().chunks
    try:
        return sync(
            target,
            search,
            embedder.name,
            embedder.dim,
            progress=None if progress is None else lambda r: progress("search engine", r.rows, total),
        )
    finally:
        search.close()


def report_dict(report: MigrateReport) -> dict[str, Any]:
    return {
        "source": report.source,
        "target": report.target,
        "documents": vars(report.documents),
        "vectors": report.vectors,
        "vectors_skipped": report.vectors_skipped,
        "files": report.files,
        "problems": report.problems,
        "runs_added": report.runs_added,
        "seconds": round(report.seconds, 3),
        "search": None if report.search is None else vars(report.search),
    }
