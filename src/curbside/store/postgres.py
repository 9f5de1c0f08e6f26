"""The server store: PostgreSQL with pgvector, behind the same Store protocol as SQLite.

* documents are rows with the full normalised record as JSON text (no pickle);
* chunks are rows with character offsets into the document body and a generated
  ``tsvector`` (title weight A, text weight B) under a GIN index; ``search_text``
  accepts the FTS5 expression retrieval builds (see :mod:`.pg_fts`) and ranks
  with ``ts_rank_cd`` (cover density, length-normalised), a title match weighing
  twice a text match as in the SQLite store's BM25;
* vectors live in ``chunk_vectors`` (pgvector) with one partial HNSW index per
  embedding model (inner product: embedders emit unit rows, so it is cosine and the
  score equals the SQLite store's dot product); filtered kNN uses pgvector's
  iterative index scan so that ``k`` hits survive the filters;
* schema changes are named, append-only migrations (:mod:`.pg_schema`);
* connections come from a ``psycopg_pool`` pool; one ingest batch is one
  transaction, so a killed ingest resumes exactly as with SQLite.

A process that forks (parallel ingest workers) must open its own store in the
child: pool threads and sockets do not survive a fork.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

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
from curbside.store.pg_fts import filter_sql, or_of_phrases, to_tsquery_sql
from curbside.store.pg_rank import RANK_NORMALISATION, RANK_WEIGHTS, TermRanker
from curbside.store.pg_schema import MIGRATION_LOCK, MIGRATIONS, statements
from curbside.store.pg_vectors import binary_copy, bulk_load, ensure_model, vector_literal
from curbside.types import Chunk, Document, Malformed, document_from_dict

_TABLES = ("documents", "chunks", "ingest_files", "ingest_runs", "problems", "vector_models", "chunk_vectors")
_CHUNK_COLUMNS = 'c.document_id, c.ordinal, c.section, c.start, c."end", c.text, c.title'


def redact(url: str) -> str:
    """``url`` without its password, fit for messages and ``stats().location``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = (parts.username or "") + ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{netloc[-1]}"))


def _clean(text: str | None) -> str | None:
    # PostgreSQL text cannot hold NUL; U+FFFD keeps the length, so chunk offsets stay valid.
    # The record itself is stored as JSON, where NUL is escaped, and round-trips unchanged.
    return None if text is None else text.replace("\x00", "\ufffd")


def _key(doc: Document) -> str:
    return doc.id.replace("\x00", "\ufffd")  # the id as stored (see _clean)


def _progress(row: Sequence[Any]) -> FileProgress:
    key, path, source_type, done, documents, deletions, malformed, completed = row[:8]
    return FileProgress(key, path, source_type, done, documents, deletions, malformed, bool(completed))


class PostgresStore:
    """A :class:`~curbside.store.base.Store` in a PostgreSQL database with pgvector."""

    def __init__(
        self,
        url: str,
        *,
        chunk_chars: int = 1500,
        pool_size: int = 4,
        ef_search: int = 200,
        connect_timeout: float = 10.0,
        build_memory: str = "1GB",
    ) -> None:
        self.url = url
        self.location = redact(url)
        self.chunk_chars = chunk_chars
        self.ef_search = ef_search
        self.build_memory = build_memory
        self._deferred: set[str] = set()  # models whose HNSW index waits for a bulk load's end
        self._ranker = TermRanker()
        try:
            # A direct first connection gives the server's own message (bad password, no
            # database, refused) where a pool would only time out; it also runs the migrations.
            with psycopg.connect(url, autocommit=True, connect_timeout=max(1, int(connect_timeout))) as conn:
                self._migrate(conn)
        except psycopg.Error as exc:
            raise StoreError(f"cannot open the PostgreSQL store at {self.location}: {exc}") from exc
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max(1, pool_size),
            kwargs={"autocommit": True},
            configure=self._configure,
            open=False,
            name="curbside",
        )
        try:
            self._pool.open(wait=True, timeout=connect_timeout)
        except Exception as exc:
            self._pool.close()
            raise StoreError(f"cannot open a connection pool to {self.location}: {exc}") from exc

    def _configure(self, conn: psycopg.Connection[Any]) -> None:
        """Session settings of every pooled connection, so that a search is one round trip.

        Iterative scan keeps reading the HNSW graph until ``k`` rows pass the filters
        (relaxed order may swap near-ties; hits are re-sorted).  Parallel workers are
        off: curbside's queries touch a few thousand rows, where starting workers costs
        more than it saves and takes cores from concurrent users.
        """
        conn.execute(
            "SELECT set_config('hnsw.ef_search', %s, false), "
            "set_config('hnsw.iterative_scan', 'relaxed_order', false), "
            "set_config('max_parallel_workers_per_gather', '0', false)",
            (str(self.ef_search),),
        )

    # --- lifecycle ---
    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _migrate(self, conn: psycopg.Connection[Any]) -> list[str]:
        applied: list[str] = []
        with conn.transaction():
            # Serialises concurrent openers; released at the end of this transaction.
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            conn.execute(
                "CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at DOUBLE PRECISION NOT NULL)"
            )
            done = {r[0] for r in conn.execute("SELECT name FROM migrations")}
            for name, script in MIGRATIONS:
                if name in done:
                    continue
                try:
                    with conn.transaction():
                        for statement in statements(script):
                            conn.execute(statement.encode())
                        conn.execute("INSERT INTO migrations VALUES (%s, %s)", (name, time.time()))
                except psycopg.Error as exc:
                    raise StoreError(f"migration {name} failed on {self.location}: {exc}") from exc
                applied.append(name)
        return applied

    def migrate(self) -> list[str]:
        """Apply pending migrations; returns the names applied."""
        with self._pool.connection() as conn:
            return self._migrate(conn)

    def analyze(self) -> None:
        """Refresh the planner's statistics (and the lexeme frequencies ranking uses) after a bulk load;
        autovacuum does the same on its own schedule."""
        with self._pool.connection() as conn:
            conn.execute("ANALYZE")
        self._ranker = TermRanker(min_chunks=self._ranker.min_chunks)

    def applied_migrations(self) -> list[str]:
        with self._pool.connection() as conn:
            return [r[0] for r in conn.execute("SELECT name FROM migrations ORDER BY applied_at, name")]

    # --- ingest bookkeeping ---
    def file_progress(self, key: str) -> FileProgress | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT key, path, source_type, records_done, documents, deletions, malformed, completed "
                "FROM ingest_files WHERE key = %s",
                (key,),
            ).fetchone()
        if row is None:
            return None
        return _progress(row)

    def write_batch(self, batch: Batch) -> BatchResult:
        result = BatchResult()
        fp = batch.file
        before = (fp.records_done, fp.documents, fp.deletions, fp.malformed)
        try:
            with self._pool.connection() as conn, conn.transaction():
                if batch.documents:
                    self._upsert(conn, batch.documents, result)
                if batch.deletions:
                    cur = conn.execute(
                        "DELETE FROM documents WHERE id = ANY(%s)", (list(dict.fromkeys(batch.deletions)),)
                    )
                    result.deleted += cur.rowcount
                if batch.malformed:
                    with conn.cursor() as cur:
                        cur.executemany(
                            "INSERT INTO problems (file_key, source, position, message) VALUES (%s, %s, %s, %s) "
                            "ON CONFLICT (file_key, position) DO UPDATE SET source = excluded.source, "
                            "message = excluded.message",
                            [
                                (fp.key, _clean(p.source), _clean(p.position), _clean(p.message))
                                for p in batch.malformed
                            ],
                        )
                fp.records_done += batch.records
                fp.documents += len(batch.documents)
                fp.deletions += len(batch.deletions)
                fp.malformed += len(batch.malformed)
                conn.execute(
                    "INSERT INTO ingest_files (key, path, source_type, records_done, documents, deletions, "
                    "malformed, completed, started_at) VALUES (%s, %s, %s, %s, %s, %s, %s, false, %s) "
                    "ON CONFLICT (key) DO UPDATE SET path = excluded.path, records_done = excluded.records_done, "
                    "documents = excluded.documents, deletions = excluded.deletions, "
                    "malformed = excluded.malformed",
                    (
                        fp.key,
                        _clean(fp.path),
                        fp.source_type,
                        fp.records_done,
                        fp.documents,
                        fp.deletions,
                        fp.malformed,
                        time.time(),
                    ),
                )
        except BaseException as exc:
            # KeyboardInterrupt included: the transaction rolled back, so the position does too.
            fp.records_done, fp.documents, fp.deletions, fp.malformed = before
            if isinstance(exc, psycopg.Error):
                raise StoreError(f"writing a batch of {fp.path} to {self.location} failed: {exc}") from exc
            raise
        return result

    def _upsert(self, conn: psycopg.Connection[Any], docs: Sequence[Document], result: BatchResult) -> None:
        ids = list(dict.fromkeys(_key(d) for d in docs))
        # Two writers of the same record (parallel ingest of a baseline and an update file) take
        # turns: a transaction lock per id, taken in one global order so that they cannot
        # deadlock; it also covers ids not stored yet, which FOR UPDATE could not lock.
        conn.execute(
            "SELECT pg_advisory_xact_lock(1, h) FROM "
            "(SELECT DISTINCT hashtext(x) AS h FROM unnest(%s::text[]) x ORDER BY 1) t",
            (ids,),
        )
        stored = dict(
            conn.execute("SELECT id, content_hash FROM documents WHERE id = ANY(%s)", (ids,)).fetchall()
        )
        state: dict[str, str] = dict(stored)
        final: dict[str, tuple[Document, str]] = {}
        # Counted in input order, as the SQLite store applies them one by one; only the
        # last version of a record repeated within the batch is written.
        for doc in docs:
            digest = doc.content_hash()
            previous = state.get(_key(doc))
            if previous == digest:
                result.unchanged += 1
                continue
            if previous is None:
                result.inserted += 1
            else:
                result.updated += 1
            state[_key(doc)] = digest
            final[_key(doc)] = (doc, digest)
        changed = [(d, h) for d, h in final.values() if stored.get(_key(d)) != h]
        if not changed:
            return
        replaced = [_key(d) for d, _ in changed if _key(d) in stored]
        if replaced:
            conn.execute("DELETE FROM chunks WHERE document_id = ANY(%s)", (replaced,))
        now = time.time()
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO documents (id, title, kind, source, year, journal, pmid, doi, retracted, "
                "has_abstract, publication_types, content_hash, data, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) "
                "ON CONFLICT (id) DO UPDATE SET title = excluded.title, kind = excluded.kind, "
                "source = excluded.source, year = excluded.year, journal = excluded.journal, "
                "pmid = excluded.pmid, doi = excluded.doi, retracted = excluded.retracted, "
                "has_abstract = excluded.has_abstract, publication_types = excluded.publication_types, "
                "content_hash = excluded.content_hash, data = excluded.data, updated_at = excluded.updated_at",
                [
                    (
                        _clean(doc.id),
                        _clean(doc.title),
                        _clean(doc.kind),
                        _clean(doc.source),
                        doc.year,
                        _clean(doc.journal),
                        _clean(doc.identifiers.get("pmid")),
                        _clean(doc.identifiers.get("doi")),
                        bool(doc.retracted),
                        bool(doc.has_abstract),
                        [_clean(t.lower()) for t in doc.publication_types],
                        digest,
                        json.dumps(doc.to_dict(), ensure_ascii=False),
                        now,
                        now,
                    )
                    for doc, digest in changed
                ],
            )
            with cur.copy(
                'COPY chunks (document_id, ordinal, section, start, "end", title, text) FROM STDIN'
            ) as copy:
                for doc, _ in changed:
                    title = _clean(doc.title)
                    for chunk in chunk_document(doc, target=self.chunk_chars):
                        copy.write_row(
                            (
                                _clean(doc.id),
                                chunk.ordinal,
                                _clean(chunk.section),
                                chunk.start,
                                chunk.end,
                                title,
                                _clean(chunk.text),
                            )
                        )

    def finish_file(self, progress: FileProgress) -> None:
        now = time.time()
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO ingest_files (key, path, source_type, records_done, documents, deletions, "
                "malformed, completed, started_at, finished_at) VALUES (%s, %s, %s, %s, %s, %s, %s, true, %s, %s) "
                "ON CONFLICT (key) DO UPDATE SET completed = true, finished_at = excluded.finished_at, "
                "path = excluded.path",
                (
                    progress.key,
                    _clean(progress.path),
                    progress.source_type,
                    progress.records_done,
                    progress.documents,
                    progress.deletions,
                    progress.malformed,
                    now,
                    now,
                ),
            )
        progress.completed = True

    def record_run(self, inputs: Sequence[str], result: BatchResult, seconds: float) -> None:
        self.add_run(json.dumps(list(inputs)), result, seconds, time.time())
        # Ranking reads lexeme frequencies from the statistics: after a run that changed a tenth
        # of the table (autovacuum's own threshold), refresh them now rather than when it gets there.
        changed = result.inserted + result.updated + result.deleted
        with self._pool.connection() as conn:
            row = conn.execute("SELECT reltuples FROM pg_class WHERE oid = 'chunks'::regclass").fetchone()
        if changed and changed >= 0.1 * max(0.0, float(row[0]) if row else 0.0):
            self.analyze()

    def add_run(self, inputs_json: str, result: BatchResult, seconds: float, finished_at: float) -> None:
        """Append one ingest run as it was recorded (``curbside migrate`` keeps the original time)."""
        with self._pool.connection() as conn:
            conn.execute(
                "INSERT INTO ingest_runs (inputs, inserted, updated, unchanged, deleted, seconds, finished_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                (
                    _clean(inputs_json),
                    result.inserted,
                    result.updated,
                    result.unchanged,
                    result.deleted,
                    seconds,
                    finished_at,
                ),
            )

    # --- documents ---
    def get_document(self, doc_id: str) -> Document | None:
        with self._pool.connection() as conn:
            row = conn.execute("SELECT data FROM documents WHERE id = %s", (_clean(doc_id),)).fetchone()
        return document_from_dict(json.loads(row[0])) if row else None

    def get_documents(self, doc_ids: Sequence[str]) -> dict[str, Document]:
        ids = [i for i in dict.fromkeys(_clean(d) for d in doc_ids) if i is not None]
        out: dict[str, Document] = {}
        with self._pool.connection() as conn:
            for i in range(0, len(ids), 1000):
                rows = conn.execute(
                    "SELECT data FROM documents WHERE id = ANY(%s)", (ids[i : i + 1000],)
                ).fetchall()
                for (data,) in rows:
                    doc = document_from_dict(json.loads(data))
                    out[doc.id] = doc
        return out

    def iter_documents(self) -> Iterator[Document]:
        # Keyset pages over the primary key: constant cost per page at any size, and no
        # connection held between pages.
        last = ""  # every id sorts after the empty string
        while True:
            with self._pool.connection() as conn:
                rows = conn.execute(
                    "SELECT id, data FROM documents WHERE id > %s ORDER BY id LIMIT 1000", (last,)
                ).fetchall()
            if not rows:
                return
            for doc_id, data in rows:
                yield document_from_dict(json.loads(data))
                last = doc_id

    def chunks(self, doc_id: str) -> list[Chunk]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                'SELECT document_id, ordinal, section, start, "end", text FROM chunks '
                "WHERE document_id = %s ORDER BY ordinal",
                (_clean(doc_id),),
            ).fetchall()
        return [Chunk(*r) for r in rows]

    def mark_retracted(self, doc_ids: Sequence[str]) -> int:
        changed = 0
        with self._pool.connection() as conn, conn.transaction():
            for doc_id in dict.fromkeys(doc_ids):
                row = conn.execute(
                    "SELECT data FROM documents WHERE id = %s AND NOT retracted FOR UPDATE", (_clean(doc_id),)
                ).fetchone()
                if row is None:
                    continue
                data = json.loads(row[0])
                data["retracted"] = True
                doc = document_from_dict(data)
                changed += conn.execute(
                    "UPDATE documents SET retracted = true, data = %s, content_hash = %s, updated_at = %s "
                    "WHERE id = %s",
                    (json.dumps(doc.to_dict(), ensure_ascii=False), doc.content_hash(), time.time(), doc.id),
                ).rowcount
        return changed

    def problems(self, limit: int = 50) -> list[Malformed]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT source, position, message FROM problems ORDER BY id LIMIT %s", (limit,)
            ).fetchall()
        return [Malformed(*r) for r in rows]

    # --- retrieval ---
    # Search queries carry their values as SQL literals quoted by psycopg rather than as
    # parameters: the tsquery then folds to a constant at plan time (so the GIN index
    # applies whatever plan cache state), each model's partial HNSW index is provably
    # usable, and no '%' inside a search phrase can be mistaken for a placeholder.
    def search_text(self, match: str, k: int, filters: SearchFilters | None = None) -> list[ChunkHit]:
        phrases = or_of_phrases(match)
        if phrases is not None:  # what retrieval builds: ranked by BM25 (see pg_rank)
            ranked = self._ranked([(p, 1.0) for p in phrases], k, filters, repr(match))
            if ranked is not None:
                return ranked
        tsquery = to_tsquery_sql(match)
        query = sql.SQL(
            "SELECT " + _CHUNK_COLUMNS + ", ts_rank_cd({weights}::float4[], c.tsv, q.q, {norm}) AS score "
            "FROM (SELECT {tsquery} AS q) q, chunks c JOIN documents d ON d.id = c.document_id "
            "WHERE c.tsv @@ {tsquery2}{where} ORDER BY score DESC, c.key LIMIT {k}"
        ).format(
            weights=sql.Literal(RANK_WEIGHTS),
            norm=sql.Literal(RANK_NORMALISATION),
            tsquery=tsquery,
            tsquery2=tsquery,
            where=filter_sql(filters),
            k=sql.Literal(int(k)),
        )
        try:
            with self._pool.connection() as conn:
                rows = conn.execute(query).fetchall()
        except psycopg.Error as exc:
            raise StoreError(f"full-text query {match!r} failed: {exc}") from exc
        return [ChunkHit(Chunk(*r[:6]), float(r[7]), r[6]) for r in rows]

    def search_text_weighted(
        self, parts: Sequence[tuple[str, float]], k: int, filters: SearchFilters | None = None
    ) -> list[ChunkHit]:
        # Every part an OR of phrases (what retrieval builds): one term-at-a-time query ranks
        # them all, each term's score times its part's weight (a phrase in two parts adds both).
        weighted: dict[str, float] = {}
        for match, weight in parts:
            phrases = or_of_phrases(match)
            if phrases is None:
                return search_parts(self, parts, k, filters)
            for phrase in phrases:
                weighted[phrase] = weighted.get(phrase, 0.0) + weight
        ranked = self._ranked(list(weighted.items()), k, filters, repr(parts))
        return ranked if ranked is not None else search_parts(self, parts, k, filters)

    def _ranked(
        self, weighted: list[tuple[str, float]], k: int, filters: SearchFilters | None, label: str
    ) -> list[ChunkHit] | None:
        """BM25 over ``(phrase, weight)`` terms, or ``None`` while the table has no statistics yet."""
        try:
            with self._pool.connection() as conn:
                rows = self._ranker.search(conn, weighted, k, sql.SQL(_CHUNK_COLUMNS), filter_sql(filters))
        except psycopg.Error as exc:
            raise StoreError(f"full-text query {label} failed: {exc}") from exc
        return None if rows is None else [ChunkHit(Chunk(*r[:6]), float(r[7]), r[6]) for r in rows]

    def chunks_to_embed(self, model: str, limit: int) -> list[tuple[int, str]]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT c.key, c.title, c.text FROM chunks c WHERE NOT EXISTS "
                "(SELECT 1 FROM chunk_vectors v WHERE v.model = %s AND v.chunk_key = c.key) "
                "ORDER BY c.key LIMIT %s",
                (model, limit),
            ).fetchall()
        return [(key, f"{title}\n{text}".strip()) for key, title, text in rows]

    def word_counts(self, words: Sequence[str]) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self._pool.connection() as conn:
            for word in words:
                if not word.strip():
                    continue
                row = conn.execute(
                    sql.SQL(
                        "SELECT count(*) FROM (SELECT 1 FROM chunks c WHERE c.tsv @@ {} LIMIT {}) AS hits"
                    ).format(to_tsquery_sql(f'"{word}"'), sql.Literal(WORD_COUNT_CAP))
                ).fetchone()
                counts[word] = int(row[0]) if row else 0
        return counts

    def check(self) -> list[str]:
        return []  # PostgreSQL verifies pages as it reads them (and data checksums, if enabled)

    def vector_coverage(self, model: str) -> VectorCoverage:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM chunks), (SELECT count(*) FROM chunk_vectors WHERE model = %s)",
                (model,),
            ).fetchone()
        return VectorCoverage(chunks=int(row[0]), embedded=int(row[1])) if row else VectorCoverage(0, 0)

    def chars_to_embed(self, model: str, limit: int | None = None) -> int:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT coalesce(sum(n), 0) FROM (SELECT length(c.title) + 1 + length(c.text) AS n "
                "FROM chunks c WHERE NOT EXISTS "
                "(SELECT 1 FROM chunk_vectors v WHERE v.model = %s AND v.chunk_key = c.key) "
                "ORDER BY c.key LIMIT %s) AS backlog",
                (model, limit),
            ).fetchone()
        return int(row[0]) if row else 0

    def vector_models(self) -> dict[str, int]:
        """Embedding model -> vector dimension, for every model with vectors here."""
        with self._pool.connection() as conn:
            return dict(conn.execute("SELECT model, dims FROM vector_models").fetchall())

    def put_vectors(self, model: str, keys: Sequence[int], vectors: npt.NDArray[np.float32]) -> None:
        if len(keys) != len(vectors):
            raise StoreError(f"{len(keys)} chunk keys but {len(vectors)} vectors")
        if not len(keys):
            return
        data = np.ascontiguousarray(vectors, dtype=np.float32).reshape(len(keys), -1)
        try:
            with self._pool.connection() as conn, conn.transaction():
                ensure_model(conn, model, data.shape[1], with_index=model not in self._deferred)
                key_list = [int(k) for k in keys]
                conn.execute(
                    "DELETE FROM chunk_vectors WHERE model = %s AND chunk_key = ANY(%s)", (model, key_list)
                )
                with (
                    conn.cursor() as cur,
                    cur.copy(
                        "COPY chunk_vectors (model, chunk_key, embedding) FROM STDIN (FORMAT BINARY)"
                    ) as copy,
                ):
                    copy.write(binary_copy(model, key_list, data))
        except psycopg.Error as exc:
            raise StoreError(
                f"storing {len(keys)} {model!r} vectors in {self.location} failed: {exc}"
            ) from exc

    def bulk_vectors(self, model: str, incoming: int) -> AbstractContextManager[None]:
        """Build ``model``'s HNSW index once, after the block, when ``incoming`` is large (see pg_vectors)."""
        return bulk_load(self._pool, model, incoming, self._deferred, build_memory=self.build_memory)

    def search_vector(
        self, model: str, vector: npt.NDArray[np.float32], k: int, filters: SearchFilters | None = None
    ) -> list[ChunkHit]:
        return self._search_vector(model, vector, k, filters, exact=False)

    def search_vector_exact(
        self, model: str, vector: npt.NDArray[np.float32], k: int, filters: SearchFilters | None = None
    ) -> list[ChunkHit]:
        """Exact kNN (no index): the reference that HNSW recall is measured against."""
        return self._search_vector(model, vector, k, filters, exact=True)

    def _search_vector(
        self,
        model: str,
        vector: npt.NDArray[np.float32],
        k: int,
        filters: SearchFilters | None,
        *,
        exact: bool,
    ) -> list[ChunkHit]:
        dims = self.vector_models().get(model)
        if dims is None or k <= 0:
            return []
        if vector.reshape(-1).shape[0] != dims:
            raise StoreError(
                f"query vector has {vector.reshape(-1).shape[0]} dimensions but {model!r} vectors have {dims}"
            )
        distance = sql.SQL("(v.embedding::vector({dims})) <#> {q}::vector({dims})").format(
            dims=sql.Literal(dims), q=sql.Literal(vector_literal(vector.astype(np.float32)))
        )
        query = sql.SQL(
            "SELECT " + _CHUNK_COLUMNS + ", -({distance}) AS score FROM chunk_vectors v "
            "JOIN chunks c ON c.key = v.chunk_key JOIN documents d ON d.id = c.document_id "
            "WHERE v.model = {model}{where} ORDER BY {distance} LIMIT {k}"
        ).format(
            distance=distance, model=sql.Literal(model), where=filter_sql(filters), k=sql.Literal(int(k))
        )
        with self._pool.connection() as conn:
            if exact or k > self.ef_search:
                with conn.transaction():
                    if exact:
                        conn.execute("SET LOCAL enable_indexscan = off")
                    else:
                        conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(k),))
                    rows = conn.execute(query).fetchall()
            else:  # the session settings (see _configure) apply: one round trip
                rows = conn.execute(query).fetchall()
        hits = [ChunkHit(Chunk(*r[:6]), float(r[7]), r[6]) for r in rows]
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits

    def chunk_keys(self, doc_ids: Sequence[str]) -> dict[tuple[str, int], int]:
        """``(document id, ordinal) -> chunk key`` for the chunks of ``doc_ids``."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT document_id, ordinal, key FROM chunks WHERE document_id = ANY(%s)", (list(doc_ids),)
            ).fetchall()
        return {(d, o): key for d, o, key in rows}

    def chunk_rows(self, model: str, after: int, limit: int) -> list[ChunkRow]:
        with self._pool.connection() as conn, conn.cursor(binary=True) as cur:
            rows = cur.execute(
                'SELECT c.key, c.document_id, c.ordinal, c.section, c.start, c."end", c.text, c.title, '
                "d.year, d.kind, d.publication_types, d.retracted, v.embedding FROM chunks c "
                "JOIN documents d ON d.id = c.document_id "
                "LEFT JOIN chunk_vectors v ON v.model = %s AND v.chunk_key = c.key "
                "WHERE c.key > %s ORDER BY c.key LIMIT %s",
                (model, after, limit),
            ).fetchall()
        # pgvector's binary form: int16 dimension, int16 unused, big-endian float4 values.
        return [
            ChunkRow(int(r[0]), Chunk(r[1], int(r[2]), r[3], int(r[4]), int(r[5]), r[6]), r[7], r[8], r[9],
                     tuple(r[10]), bool(r[11]),
                     None if r[12] is None else np.frombuffer(bytes(r[12])[4:], ">f4").astype(np.float32))
            for r in rows
        ]  # fmt: skip

    def iter_vectors(
        self, model: str, batch: int = 2000
    ) -> Iterator[list[tuple[str, int, npt.NDArray[np.float32]]]]:
        """Pages of ``(document id, ordinal, vector)`` for ``model``, in chunk-key order."""
        last = 0
        while True:
            with self._pool.connection() as conn, conn.cursor(binary=True) as cur:
                rows = cur.execute(
                    "SELECT v.chunk_key, c.document_id, c.ordinal, v.embedding FROM chunk_vectors v "
                    "JOIN chunks c ON c.key = v.chunk_key WHERE v.model = %s AND v.chunk_key > %s "
                    "ORDER BY v.chunk_key LIMIT %s",
                    (model, last, batch),
                ).fetchall()
            if not rows:
                return
            # pgvector's binary form: int16 dimension, int16 unused, big-endian float4 values.
            yield [
                (doc, int(ordinal), np.frombuffer(bytes(raw)[4:], ">f4").astype(np.float32))
                for _, doc, ordinal, raw in rows
            ]
            last = int(rows[-1][0])

    def files(self) -> list[tuple[FileProgress, float, float | None]]:
        """Every ingest file row: its progress, start and finish times."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT key, path, source_type, records_done, documents, deletions, malformed, completed, "
                "started_at, finished_at FROM ingest_files ORDER BY started_at, key"
            ).fetchall()
        return [(_progress(r), r[8], r[9]) for r in rows]

    def runs(self) -> list[tuple[str, BatchResult, float, float]]:
        """Every ingest run: inputs (JSON), counts, seconds, finish time."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT inputs, inserted, updated, unchanged, deleted, seconds, finished_at FROM ingest_runs "
                "ORDER BY id"
            ).fetchall()
        return [(r[0], BatchResult(*r[1:5]), r[5], r[6]) for r in rows]

    def file_problems(self) -> list[tuple[str, Malformed]]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT file_key, source, position, message FROM problems ORDER BY id"
            ).fetchall()
        return [(r[0], Malformed(*r[1:])) for r in rows]

    def stats(self) -> StoreStats:
        with self._pool.connection() as conn:
            q = conn.execute
            docs, with_abs, retracted, ymin, ymax = q(
                "SELECT count(*), count(*) FILTER (WHERE has_abstract), count(*) FILTER (WHERE retracted), "
                "min(year), max(year) FROM documents"
            ).fetchone() or (0, 0, 0, None, None)
            files, completed, read, deletions, malformed = q(
                "SELECT count(*), count(*) FILTER (WHERE completed), coalesce(sum(documents), 0), "
                "coalesce(sum(deletions), 0), coalesce(sum(malformed), 0) FROM ingest_files"
            ).fetchone() or (0, 0, 0, 0, 0)
            chunks = q("SELECT count(*) FROM chunks").fetchone()
            by_kind: dict[str, int] = dict(
                q("SELECT kind, count(*) FROM documents GROUP BY kind ORDER BY 2 DESC, 1").fetchall()
            )
            embedded: dict[str, int] = dict(
                q("SELECT model, count(*) FROM chunk_vectors GROUP BY model").fetchall()
            )
            size = q(
                "SELECT coalesce(sum(pg_total_relation_size(to_regclass(t))), 0) FROM unnest(%s::text[]) t",
                (list(_TABLES),),
            ).fetchone()
        return StoreStats(
            location=self.location,
            documents=int(docs),
            with_abstract=int(with_abs),
            retracted=int(retracted),
            chunks=int(chunks[0]) if chunks else 0,
            by_kind={k: int(v) for k, v in by_kind.items()},
            embedded={k: int(v) for k, v in embedded.items()},
            files=int(files),
            files_completed=int(completed),
            records_read=int(read),
            deletions_applied=int(deletions),
            malformed=int(malformed),
            year_min=ymin,
            year_max=ymax,
            size_bytes=int(size[0]) if size else 0,
        )

    def table_sizes(self) -> dict[str, dict[str, int]]:
        """Per table: rows (estimate), heap, index and TOAST bytes; the sizing in docs/deployment.md."""
        out: dict[str, dict[str, int]] = {}
        with self._pool.connection() as conn:
            for table in _TABLES:
                row = conn.execute(
                    sql.SQL(
                        "SELECT (SELECT count(*) FROM {t}), pg_table_size(%s::regclass), "
                        "pg_indexes_size(%s::regclass), pg_total_relation_size(%s::regclass)"
                    ).format(t=sql.Identifier(table)),
                    (table, table, table),
                ).fetchone()
                if row:
                    out[table] = {
                        "rows": int(row[0]),
                        "table": int(row[1]),
                        "indexes": int(row[2]),
                        "total": int(row[3]),
                    }
        return out


def open_postgres(location: str, settings: Settings) -> PostgresStore:
    """Registry factory for ``postgresql://`` (and ``postgres://``) URLs."""
    return PostgresStore(
        location,
        chunk_chars=settings.chunk_chars,
        pool_size=settings.pg_pool_size,
        ef_search=settings.pg_ef_search,
        build_memory=settings.pg_build_memory,
    )
