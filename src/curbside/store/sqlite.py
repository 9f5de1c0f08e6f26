"""The embedded store: one SQLite file in WAL mode.

* documents are rows with the full normalised record as JSON (no pickle);
* chunks are rows with character offsets into the document body;
* ``chunks_fts`` is an FTS5 index over (title, text) with external content, so
  the text is stored once;
* vectors are float32 BLOBs in ``chunk_vectors``; exact kNN runs in NumPy over
  a matrix loaded once per process and refreshed when the table changes
  (stdlib ``sqlite3`` here cannot load extensions such as sqlite-vec, and a
  matrix product over 100k x 384 floats takes a few milliseconds);
* schema changes are named, append-only migrations recorded in ``migrations``.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from curbside.config import Settings
from curbside.errors import StoreError
from curbside.ingestion.chunking import chunk_document
from curbside.store.base import (
    WORD_COUNT_CAP,
    Batch,
    BatchResult,
    ChunkHit,
    ChunkRow,
    FileProgress,
    SearchFilters,
    StoreStats,
    VectorCoverage,
    search_parts,
)
from curbside.store.sqlite_schema import MIGRATIONS
from curbside.types import Chunk, Document, Malformed, document_from_dict

#: Bytes the write-ahead log is cut back to after a checkpoint resets it (``journal_size_limit``).
WAL_SIZE_LIMIT = 64 * 1024 * 1024


def _filter_clause(filters: SearchFilters | None) -> tuple[str, list[Any]]:
    """SQL conditions on the ``documents d`` alias for ``filters``."""
    if filters is None:
        return "", []
    conds: list[str] = []
    params: list[Any] = []
    if filters.year_from is not None:
        conds.append("d.year >= ?")
        params.append(filters.year_from)
    if filters.year_to is not None:
        conds.append("d.year <= ?")
        params.append(filters.year_to)
    if filters.kinds:
        conds.append(f"d.kind IN ({','.join('?' * len(filters.kinds))})")
        params.extend(filters.kinds)
    if filters.publication_types:
        conds.append(
            "EXISTS (SELECT 1 FROM json_each(d.publication_types) p WHERE lower(p.value) IN "
            f"({','.join('?' * len(filters.publication_types))}))"
        )
        params.extend(t.lower() for t in filters.publication_types)
    if filters.exclude_retracted:
        conds.append("d.retracted = 0")
    return (" AND " + " AND ".join(conds)) if conds else "", params


def sqlite_failure(location: str | Path, exc: sqlite3.Error) -> StoreError:
    """A SQLite failure as a :class:`StoreError` that names the file and what to do."""
    text = str(exc)
    if "full" in text:
        return StoreError(
            f"{location}: the disk is full ({text})",
            hint="free disk space and run the command again; the batch being written was rolled back",
        )
    if "malformed" in text or "not a database" in text or "corrupt" in text:
        return StoreError(
            f"{location} is damaged ({text})",
            hint="restore it from a backup, or rebuild it: ingest the sources again into a new file "
            "(`curbside doctor` runs PRAGMA quick_check)",
        )
    if "locked" in text or "busy" in text:
        return StoreError(f"{location} is busy ({text})", hint="another process holds a long write; retry")
    return StoreError(f"{location}: SQLite failed: {text}")


def _guard(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` with SQLite failures (full disk, a damaged page, an I/O error) raised as StoreError."""
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def generator(self: SQLiteStore, *args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from method(self, *args, **kwargs)
            except sqlite3.Error as exc:
                raise sqlite_failure(self.path, exc) from exc

        return generator

    @functools.wraps(method)
    def call(self: SQLiteStore, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise sqlite_failure(self.path, exc) from exc

    return call


def _store_errors(cls: type[SQLiteStore]) -> type[SQLiteStore]:
    """Guard every public method of the store (see :func:`_guard`): callers see only StoreError."""
    for name, value in list(vars(cls).items()):
        if not name.startswith("_") and inspect.isfunction(value):
            setattr(cls, name, _guard(value))
    return cls


@_store_errors
class SQLiteStore:
    """A :class:`~curbside.store.base.Store` in one SQLite file."""

    def __init__(self, path: str | Path, *, chunk_chars: int = 1500) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.chunk_chars = chunk_chars
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._conn.execute("PRAGMA busy_timeout=30000")
            # Once a checkpoint resets the write-ahead log, cut it back to this size: a long ingest with
            # readers attached must not leave a WAL of hundreds of MB behind.
            self._conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the store at {self.path}: {exc}") from exc
        self._lock = threading.RLock()
        self._matrix_cache: dict[str, tuple[str, npt.NDArray[np.int64], npt.NDArray[np.float32]]] = {}
        self.migrate()

    # --- lifecycle ---
    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def applied_migrations(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT name FROM migrations ORDER BY rowid")]

    def migrate(self) -> list[str]:
        """Apply pending migrations, each in its own transaction; returns the names applied."""
        with self._lock:
            try:
                self._conn.execute(
                    "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
                )
                done = set(self.applied_migrations())
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path} is not a curbside store (or is corrupt): {exc}") from exc
            applied = []
            for name, sql in MIGRATIONS:
                if name in done:
                    continue
                try:
                    self._conn.execute("BEGIN")
                    for statement in _split_sql(sql):
                        self._conn.execute(statement)
                    self._conn.execute("INSERT INTO migrations VALUES (?, ?)", (name, time.time()))
                    self._conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    self._conn.execute("ROLLBACK")
                    raise StoreError(f"migration {name} failed on {self.path}: {exc}") from exc
                applied.append(name)
            return applied

    # --- ingest bookkeeping ---
    def file_progress(self, key: str) -> FileProgress | None:
        row = self._conn.execute(
            "SELECT key, path, source_type, records_done, documents, deletions, malformed, completed "
            "FROM ingest_files WHERE key = ?",
            (key,),
        ).fetchone()
        if row is None:
            return None
        key, path, source_type, done, documents, deletions, malformed, completed = row
        return FileProgress(key, path, source_type, done, documents, deletions, malformed, bool(completed))

    def write_batch(self, batch: Batch) -> BatchResult:
        result = BatchResult()
        fp = batch.file
        before = (fp.records_done, fp.documents, fp.deletions, fp.malformed)
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                for doc in batch.documents:
                    outcome = self._upsert(doc)
                    if outcome == "inserted":
                        result.inserted += 1
                    elif outcome == "updated":
                        result.updated += 1
                    else:
                        result.unchanged += 1
                if batch.deletions:
                    result.deleted += self._delete(batch.deletions)
                for problem in batch.malformed:
                    self._conn.execute(
                        "INSERT OR REPLACE INTO problems (file_key, source, position, message) "
                        "VALUES (?, ?, ?, ?)",
                        (fp.key, problem.source, problem.position, problem.message),
                    )
                fp.records_done += batch.records
                fp.documents += len(batch.documents)
                fp.deletions += len(batch.deletions)
                fp.malformed += len(batch.malformed)
                self._conn.execute(
                    "INSERT INTO ingest_files (key, path, source_type, records_done, documents, deletions, "
                    "malformed, completed, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?) "
                    "ON CONFLICT(key) DO UPDATE SET path=excluded.path, records_done=excluded.records_done, "
                    "documents=excluded.documents, deletions=excluded.deletions, malformed=excluded.malformed",
                    (
                        fp.key,
                        fp.path,
                        fp.source_type,
                        fp.records_done,
                        fp.documents,
                        fp.deletions,
                        fp.malformed,
                        time.time(),
                    ),
                )
                if result.inserted or result.updated or result.deleted:
                    self._bump_vector_generation()
                self._conn.execute("COMMIT")
            except BaseException:
                # KeyboardInterrupt included: the batch and its progress vanish together.  An
                # interrupt that lands just after COMMIT finds no transaction: the batch is stored.
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                    fp.records_done, fp.documents, fp.deletions, fp.malformed = before
                raise
        return result

    def finish_file(self, progress: FileProgress) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO ingest_files (key, path, source_type, records_done, documents, deletions, "
                "malformed, completed, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?) "
                "ON CONFLICT(key) DO UPDATE SET completed=1, finished_at=excluded.finished_at, "
                "path=excluded.path",
                (
                    progress.key,
                    progress.path,
                    progress.source_type,
                    progress.records_done,
                    progress.documents,
                    progress.deletions,
                    progress.malformed,
                    time.time(),
                    time.time(),
                ),
            )
            progress.completed = True

    def word_counts(self, words: Sequence[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        for word in words:
            clean = word.replace('"', "")
            if not clean.strip():
                continue
            row = self._conn.execute(
                "SELECT count(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT ?)",
                (f'"{clean}"', WORD_COUNT_CAP),
            ).fetchone()
            counts[word] = int(row[0])
        return counts

    def check(self) -> list[str]:
        rows = self._conn.execute("PRAGMA quick_check(20)").fetchall()
        return [str(r[0]) for r in rows if r[0] != "ok"]

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database and empty it (each ingest run ends with it).

        Waits at most a few seconds for readers still on an older snapshot (a web request);
        if they outlast that, the next run's checkpoint does it.
        """
        with self._lock:
            try:
                self._conn.execute("PRAGMA busy_timeout=3000")
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.OperationalError:
                pass  # busy: readers on an old snapshot; nothing is lost, the WAL stays a while longer
            finally:
                self._conn.execute("PRAGMA busy_timeout=30000")

    def record_run(self, inputs: Sequence[str], result: BatchResult, seconds: float) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT INTO ingest_runs (inputs, inserted, updated, unchanged, deleted, seconds, finished_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    json.dumps(list(inputs)),
                    result.inserted,
                    result.updated,
                    result.unchanged,
                    result.deleted,
                    seconds,
                    time.time(),
                ),
            )
        self.checkpoint()  # the run is over: leave no large write-ahead log behind

    def _upsert(self, doc: Document) -> str:
        digest, data = serialise_document(doc)
        row = self._conn.execute("SELECT content_hash FROM documents WHERE id = ?", (doc.id,)).fetchone()
        if row is not None and row[0] == digest:
            return "unchanged"
        now = time.time()
        if row is not None:
            self._delete_chunks(doc.id)
        self._conn.execute(
            "INSERT INTO documents (id, title, kind, source, year, journal, pmid, doi, retracted, has_abstract, "
            "publication_types, content_hash, data, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET title=excluded.title, kind=excluded.kind, source=excluded.source, "
            "year=excluded.year, journal=excluded.journal, pmid=excluded.pmid, doi=excluded.doi, "
            "retracted=excluded.retracted, has_abstract=excluded.has_abstract, "
            "publication_types=excluded.publication_types, content_hash=excluded.content_hash, "
            "data=excluded.data, updated_at=excluded.updated_at",
            (
                doc.id,
                doc.title,
                doc.kind,
                doc.source,
                doc.year,
                doc.journal,
                doc.identifiers.get("pmid"),
                doc.identifiers.get("doi"),
                int(doc.retracted),
                int(doc.has_abstract),
                json.dumps(list(doc.publication_types)),
                digest,
                data,
                now,
                now,
            ),
        )
        for chunk in chunk_document(doc, target=self.chunk_chars):
            cur = self._conn.execute(
                'INSERT INTO chunks (document_id, ordinal, section, start, "end", title, text) '
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (doc.id, chunk.ordinal, chunk.section, chunk.start, chunk.end, doc.title, chunk.text),
            )
            self._conn.execute(
                "INSERT INTO chunks_fts (rowid, title, text) VALUES (?, ?, ?)",
                (cur.lastrowid, doc.title, chunk.text),
            )
        return "inserted" if row is None else "updated"

    def _delete_chunks(self, doc_id: str) -> None:
        rows = self._conn.execute(
            "SELECT rowid, title, text FROM chunks WHERE document_id = ?", (doc_id,)
        ).fetchall()
        for rowid, title, text in rows:
            # External-content FTS5 needs the old values to remove their postings.
            self._conn.execute(
                "INSERT INTO chunks_fts (chunks_fts, rowid, title, text) VALUES ('delete', ?, ?, ?)",
                (rowid, title, text),
            )
        self._conn.execute("DELETE FROM chunks WHERE document_id = ?", (doc_id,))

    def _delete(self, doc_ids: Sequence[str]) -> int:
        deleted = 0
        for doc_id in doc_ids:
            self._delete_chunks(doc_id)
            deleted += self._conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,)).rowcount
        return deleted

    def _bump_vector_generation(self) -> None:
        self._conn.execute(
            "UPDATE store_meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'vector_generation'"
        )

    # --- documents ---
    def get_document(self, doc_id: str) -> Document | None:
        row = self._conn.execute("SELECT data FROM documents WHERE id = ?", (doc_id,)).fetchone()
        return document_from_dict(json.loads(row[0])) if row else None

    def get_documents(self, doc_ids: Sequence[str]) -> dict[str, Document]:
        out: dict[str, Document] = {}
        ids = list(dict.fromkeys(doc_ids))
        for i in range(0, len(ids), 500):
            part = ids[i : i + 500]
            rows = self._conn.execute(
                f"SELECT id, data FROM documents WHERE id IN ({','.join('?' * len(part))})", part
            )
            for doc_id, data in rows:
                out[doc_id] = document_from_dict(json.loads(data))
        return out

    def iter_documents(self) -> Iterator[Document]:
        last = ""
        while True:
            rows = self._conn.execute(
                "SELECT id, data FROM documents WHERE id > ? ORDER BY id LIMIT 1000", (last,)
            ).fetchall()
            if not rows:
                return
            for doc_id, data in rows:
                yield document_from_dict(json.loads(data))
                last = doc_id

    def chunks(self, doc_id: str) -> list[Chunk]:
        rows = self._conn.execute(
            'SELECT document_id, ordinal, section, start, "end", text FROM chunks '
            "WHERE document_id = ? ORDER BY ordinal",
            (doc_id,),
        )
        return [Chunk(*r) for r in rows]

    def mark_retracted(self, doc_ids: Sequence[str]) -> int:
        changed = 0
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            for doc_id in doc_ids:
                row = self._conn.execute("SELECT data FROM documents WHERE id = ?", (doc_id,)).fetchone()
                if row is None:
                    continue
                data = json.loads(row[0])
                data["retracted"] = True
                doc = document_from_dict(data)
                changed += self._conn.execute(
                    "UPDATE documents SET retracted = 1, data = ?, content_hash = ?, updated_at = ? "
                    "WHERE id = ? AND retracted = 0",
                    (json.dumps(doc.to_dict(), ensure_ascii=False), doc.content_hash(), time.time(), doc_id),
                ).rowcount
            self._conn.execute("COMMIT")
        return changed

    def problems(self, limit: int = 50) -> list[Malformed]:
        rows = self._conn.execute(
            "SELECT source, position, message FROM problems ORDER BY id LIMIT ?", (limit,)
        )
        return [Malformed(*r) for r in rows]

    # --- retrieval ---
    def search_text(self, match: str, k: int, filters: SearchFilters | None = None) -> list[ChunkHit]:
        where, params = _filter_clause(filters)
        # FTS5 ranks its own rows fastest (joining every match to its document first made
        # queries 4x slower at 50k documents), so take the best ``fetch`` matches, then join
        # and filter those; if filtering leaves fewer than k, fetch more until all are seen.
        sql = (
            'SELECT c.document_id, c.ordinal, c.section, c.start, c."end", c.text, c.title, f.score '
            "FROM (SELECT rowid, bm25(chunks_fts, 2.0, 1.0) AS score FROM chunks_fts "
            "WHERE chunks_fts MATCH ? ORDER BY score LIMIT ?) f "
            "JOIN chunks c ON c.rowid = f.rowid JOIN documents d ON d.id = c.document_id "
            f"WHERE 1=1{where} ORDER BY f.score"
        )
        fetch = k + k // 4 + 10 if where else k
        try:
            while True:
                rows = self._conn.execute(sql, [match, fetch, *params]).fetchall()
                if len(rows) >= k or not where:
                    break
                matched = self._conn.execute(
                    "SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (match,)
                ).fetchone()[0]
                if fetch >= matched:
                    break
                fetch *= 4
        except sqlite3.OperationalError as exc:
            raise StoreError(f"full-text query {match!r} failed: {exc}") from exc
        # FTS5's bm25() is negative (lower is better); flip it so every score is higher-is-better.
        return [ChunkHit(Chunk(*r[:6]), -float(r[7]), r[6]) for r in rows[:k]]

    def search_text_weighted(
        self, parts: Sequence[tuple[str, float]], k: int, filters: SearchFilters | None = None
    ) -> list[ChunkHit]:
        # FTS5's bm25() weights columns, not query terms: one query per part, merged.
        return search_parts(self, parts, k, filters)

    def chunks_to_embed(self, model: str, limit: int) -> list[tuple[int, str]]:
        rows = self._conn.execute(
            "SELECT c.rowid, c.title, c.text FROM chunks c "
            "WHERE NOT EXISTS (SELECT 1 FROM chunk_vectors v WHERE v.model = ? AND v.chunk_rowid = c.rowid) "
            "ORDER BY c.rowid LIMIT ?",
            (model, limit),
        ).fetchall()
        return [(rowid, f"{title}\n{text}".strip()) for rowid, title, text in rows]

    def vector_coverage(self, model: str) -> VectorCoverage:
        chunks, embedded = self._conn.execute(
            "SELECT (SELECT count(*) FROM chunks), (SELECT count(*) FROM chunk_vectors WHERE model = ?)",
            (model,),
        ).fetchone()
        return VectorCoverage(chunks=int(chunks), embedded=int(embedded))

    def chars_to_embed(self, model: str, limit: int | None = None) -> int:
        # length(title) + 1 + length(text): the text chunks_to_embed builds, give or take its strip().
        row = self._conn.execute(
            "SELECT coalesce(sum(n), 0) FROM (SELECT length(c.title) + 1 + length(c.text) AS n FROM chunks c "
            "WHERE NOT EXISTS (SELECT 1 FROM chunk_vectors v WHERE v.model = ? AND v.chunk_rowid = c.rowid) "
            "ORDER BY c.rowid LIMIT ?)",
            (model, -1 if limit is None else limit),
        ).fetchone()
        return int(row[0])

    def put_vectors(self, model: str, keys: Sequence[int], vectors: npt.NDArray[np.float32]) -> None:
        if len(keys) != len(vectors):
            raise StoreError(f"{len(keys)} chunk keys but {len(vectors)} vectors")
        data = np.ascontiguousarray(vectors, dtype=np.float32)
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO chunk_vectors (model, chunk_rowid, vector) VALUES (?, ?, ?)",
                    [(model, int(key), data[i].tobytes()) for i, key in enumerate(keys)],
                )
                self._bump_vector_generation()
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:  # not when an interrupt lands just after COMMIT
                    self._conn.execute("ROLLBACK")
                raise

    def bulk_vectors(self, model: str, incoming: int) -> AbstractContextManager[None]:
        return nullcontext()  # vectors are scanned exactly: there is no index to keep up

    def chunk_rows(self, model: str, after: int, limit: int) -> list[ChunkRow]:
        rows = self._conn.execute(
            'SELECT c.rowid, c.document_id, c.ordinal, c.section, c.start, c."end", c.text, c.title, d.year, '
            "d.kind, d.publication_types, d.retracted, v.vector FROM chunks c "
            "JOIN documents d ON d.id = c.document_id "
            "LEFT JOIN chunk_vectors v ON v.model = ? AND v.chunk_rowid = c.rowid "
            "WHERE c.rowid > ? ORDER BY c.rowid LIMIT ?",
            (model, after, limit),
        ).fetchall()
        return [
            ChunkRow(r[0], Chunk(*r[1:7]), r[7], r[8], r[9], tuple(json.loads(r[10])), bool(r[11]),
                     None if r[12] is None else np.frombuffer(r[12], dtype=np.float32))
            for r in rows
        ]  # fmt: skip

    def _matrix(self, model: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        generation = self._conn.execute(
            "SELECT value FROM store_meta WHERE key = 'vector_generation'"
        ).fetchone()[0]
        cached = self._matrix_cache.get(model)
        if cached and cached[0] == generation:
            return cached[1], cached[2]
        rows = self._conn.execute(
            "SELECT chunk_rowid, vector FROM chunk_vectors WHERE model = ? ORDER BY chunk_rowid", (model,)
        ).fetchall()
        keys = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        if rows:
            matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
        else:
            matrix = np.zeros((0, 0), dtype=np.float32)
        self._matrix_cache[model] = (generation, keys, matrix)
        return keys, matrix

    def search_vector(
        self, model: str, vector: npt.NDArray[np.float32], k: int, filters: SearchFilters | None = None
    ) -> list[ChunkHit]:
        keys, matrix = self._matrix(model)
        if len(keys) == 0:
            return []
        if matrix.shape[1] != vector.shape[-1]:
            raise StoreError(
                f"query vector has {vector.shape[-1]} dimensions but {model!r} vectors have {matrix.shape[1]}"
            )
        scores = matrix @ vector.astype(np.float32).reshape(-1)
        where, params = _filter_clause(filters)
        if not where:
            return self._hits_by_rowid(_top(keys, scores, k))
        # Filter the best matches, not the whole table (a join over every chunk cost more than
        # the kNN itself); fetch more while the filter leaves fewer than k.
        fetch = k + k // 4 + 10
        while fetch <= _MAX_FILTERED_FETCH:
            best = _top(keys, scores, fetch)
            rowids = [r for r, _ in best]
            allowed = {
                r[0]
                for r in self._conn.execute(
                    "SELECT c.rowid FROM chunks c JOIN documents d ON d.id = c.document_id "
                    f"WHERE c.rowid IN ({','.join('?' * len(rowids))}){where}",
                    [*rowids, *params],
                )
            }
            kept = [(r, sc) for r, sc in best if r in allowed]
            if len(kept) >= k or len(best) < fetch:
                return self._hits_by_rowid(kept[:k])
            fetch *= 4
        allowed_all = np.fromiter(
            (
                r[0]
                for r in self._conn.execute(
                    f"SELECT c.rowid FROM chunks c JOIN documents d ON d.id = c.document_id WHERE 1=1{where}",
                    params,
                )
            ),
            dtype=np.int64,
        )
        scores = np.where(np.isin(keys, allowed_all), scores, -np.inf)
        return self._hits_by_rowid(_top(keys, scores, k))

    def _hits_by_rowid(self, scored: list[tuple[int, float]]) -> list[ChunkHit]:
        if not scored:
            return []
        rowids = [r for r, _ in scored]
        rows = {
            r[0]: r[1:]
            for r in self._conn.execute(
                'SELECT rowid, document_id, ordinal, section, start, "end", text, title FROM chunks '
                f"WHERE rowid IN ({','.join('?' * len(rowids))})",
                rowids,
            )
        }
        return [ChunkHit(Chunk(*rows[r][:6]), s, rows[r][6]) for r, s in scored if r in rows]

    def stats(self) -> StoreStats:
        q = self._conn.execute
        docs, with_abs, retracted, ymin, ymax = q(
            "SELECT count(*), coalesce(sum(has_abstract), 0), coalesce(sum(retracted), 0), min(year), max(year) "
            "FROM documents"
        ).fetchone()
        files, completed, read, deletions, malformed = q(
            "SELECT count(*), coalesce(sum(completed), 0), coalesce(sum(documents), 0), "
            "coalesce(sum(deletions), 0), coalesce(sum(malformed), 0) FROM ingest_files"
        ).fetchone()
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        return StoreStats(
            location=self.location,
            documents=docs,
            with_abstract=with_abs,
            retracted=retracted,
            chunks=q("SELECT count(*) FROM chunks").fetchone()[0],
            by_kind=dict(q("SELECT kind, count(*) FROM documents GROUP BY kind ORDER BY 2 DESC").fetchall()),
            embedded=dict(q("SELECT model, count(*) FROM chunk_vectors GROUP BY model").fetchall()),
            files=files,
            files_completed=completed,
            records_read=read,
            deletions_applied=deletions,
            malformed=malformed,
            year_min=ymin,
            year_max=ymax,
            size_bytes=size,
        )


def _plain(value: Any) -> Any:
    """What ``dataclasses.asdict`` makes of the frozen value types, without its deep copies.

    ``asdict`` copies every leaf and was half the cost of writing a MEDLINE
    record; the values here are immutable, so nothing needs copying.  Tuples
    become lists, which JSON writes the same way.
    """
    cls = value.__class__
    if cls is str or cls is int or cls is bool or cls is float or value is None:
        return value
    if cls is tuple or cls is list:
        return [_plain(v) for v in value]
    if cls is dict:
        return {k: _plain(v) for k, v in value.items()}
    names = getattr(cls, "__dataclass_fields__", None)
    if names is not None:
        return {name: _plain(getattr(value, name)) for name in names}
    return value


def serialise_document(doc: Document) -> tuple[str, str]:
    """``(doc.content_hash(), JSON of doc.to_dict())`` in one pass: the same hash, keys sorted."""
    payload = json.dumps(_plain(doc), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32], payload


#: Largest candidate list filtered by rowid in search_vector; past it the filter runs over the table.
_MAX_FILTERED_FETCH = 8000


def _top(keys: npt.NDArray[np.int64], scores: npt.NDArray[np.float32], k: int) -> list[tuple[int, float]]:
    """The ``k`` best ``(key, score)`` pairs, best first, leaving out filtered (-inf) scores."""
    top = min(k, len(keys))
    if top <= 0:
        return []
    idx = np.argpartition(-scores, top - 1)[:top]
    idx = idx[np.argsort(-scores[idx])]
    idx = idx[np.isfinite(scores[idx])]
    return [(int(keys[i]), float(scores[i])) for i in idx]


def _split_sql(sql: str) -> list[str]:
    """Split a migration script on ';' at line ends (our migrations hold no such string literals)."""
    return [s.strip() for s in sql.split(";\n") if s.strip()]


def open_sqlite(location: str, settings: Settings) -> SQLiteStore:
    """Registry factory: ``location`` is a path or a ``sqlite:///path`` URL."""
    path = location[len("sqlite:///") :] if location.startswith("sqlite:///") else location
    return SQLiteStore(Path(path).expanduser(), chunk_chars=settings.chunk_chars)
