"""Chunk search in Milvus, for a corpus past one machine (``CURBSIDE_SEARCH``).

The store (SQLite or PostgreSQL) stays the source of truth: documents, chunks,
vectors, review data and ingest bookkeeping.  Milvus holds a *derived* copy of
every chunk (its text as FTS5 tokens, its document's filter fields, its vector)
and answers the store's three search calls; :class:`MilvusStore` wraps a store
and sends those calls to Milvus, everything else to the store.  Fusion, the
per-document cap, reranking and synthesis stay in the retriever, the same code
whichever engine found the chunks, which is what keeps the rankings comparable.

* **Filling it** (:func:`sync`, run by ``curbside index`` and ``curbside migrate``):
  chunks are read from the store in key order, a batch at a time, and each one's
  digest (text, filter fields, vector) is compared with the digest Milvus holds;
  only missing or changed rows are upserted and rows the store no longer has are
  deleted.  Upserts are idempotent, so a killed fill is repaired by the next run,
  and a fill of an unchanged store writes nothing.
* **Text search**: :mod:`curbside.store.fts` tokenises like FTS5's porter
  tokenizer before Milvus sees the text, Milvus ranks by BM25 over the
  expression's words (its scores come back negative: flipped here), and a chunk
  must satisfy the expression (phrases, AND) to count.
* **Dense search**: inner product over the stored vectors (normalised: cosine),
  only among chunks that have one (``has_vector``).
* **Filters** (year, kind, publication type, retracted) are Milvus expressions
  over scalar fields, applied inside the search so that ``k`` hits survive them.

A local path (``CURBSIDE_SEARCH=/data/search.db``) runs milvus-lite, a slow
stand-in for the server used by the tests and for trials; ``milvus://host:19530``
reaches a standalone server or a cluster's proxy.  ``docs/deployment.md`` sizes a
cluster for all of PubMed.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from curbside.errors import SearchEngineError, StoreError
from curbside.store.base import (
    Batch,
    BatchResult,
    ChunkHit,
    ChunkRow,
    FileProgress,
    SearchFilters,
    Store,
    StoreStats,
    SyncReport,
    VectorCoverage,
    search_parts,
)
from curbside.store.fts import Any_, Expression, Phrase, indexed_text, parse, positions_of, words
from curbside.types import Chunk, Document, Malformed

if TYPE_CHECKING:
    from curbside.config import Settings

#: Rows read from the store and compared per round trip when filling Milvus.
SYNC_BATCH: Final = 1000
#: Seconds a count of the vectors Milvus holds is reused (the retriever reads it before every search).
COVERAGE_TTL_S: Final = 30.0
#: Milvus refuses a search ``limit`` above this (its ``topk`` cap).
MAX_FETCH: Final = 16_384
_TEXT_BYTES: Final = 65_535  # Milvus's longest VARCHAR
_TITLE_BYTES: Final = 8_192
_MODEL_PROPERTY: Final = "curbside.embedder"  # the collection property naming its vectors' model
_OUTPUT: Final = ["document_id", "ordinal", "section", "start", "end", "text", "title"]


def _clip(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes (Milvus counts VARCHAR length in bytes)."""
    data = text.encode()
    return text if len(data) <= limit else data[:limit].decode(errors="ignore")


@contextlib.contextmanager
def _quiet_lite_server(lite: bool) -> Iterator[None]:
    """Silence milvus-lite's in-process gRPC server while an index is built: pymilvus asks it for a
    timestamp it does not implement, and the server logs a traceback for a call that still succeeds."""
    logger = logging.getLogger("grpc._server")
    level = logger.level
    if lite:
        logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


def client_target(search: str) -> tuple[str, bool]:
    """The ``MilvusClient`` URI for a ``CURBSIDE_SEARCH`` value, and whether it is a milvus-lite file."""
    for prefix, scheme in (
        ("milvus://", "http://"),
        ("milvus+https://", "https://"),
        ("milvus+http://", "http://"),
    ):
        if search.startswith(prefix):
            return scheme + search.removeprefix(prefix), False
    if "://" in search:
        raise SearchEngineError(
            f"CURBSIDE_SEARCH={search!r}: unknown scheme",
            hint="use milvus://host:19530, milvus+https://host:443, or a local file path for milvus-lite",
        )
    if not search.endswith(".db"):
        raise SearchEngineError(
            f"CURBSIDE_SEARCH={search!r}: a local milvus-lite file must end in .db",
            hint="e.g. CURBSIDE_SEARCH=./search.db, or milvus://host:19530 for a server",
        )
    return search, True


def filter_expression(filters: SearchFilters | None) -> str:
    """``filters`` as a Milvus boolean expression over the collection's scalar fields ('' for none)."""
    if filters is None:
        return ""
    conds = []
    if filters.year_from is not None:
        conds.append(f"year >= {int(filters.year_from)}")
    if filters.year_to is not None:
        conds.append(f"year <= {int(filters.year_to)}")
    if filters.kinds:
        conds.append(f"kind in {json.dumps(list(filters.kinds))}")
    if filters.publication_types:
        types = json.dumps([t.lower() for t in filters.publication_types])
        conds.append(f"ARRAY_CONTAINS_ANY(pub_types, {types})")
    if filters.exclude_retracted:
        conds.append("retracted == false")
    return " and ".join(conds)


def _any_word(expression: Expression) -> bool:
    """An expression every BM25 hit satisfies: one word, or words joined by OR."""
    if isinstance(expression, Phrase):
        return len(expression.words) == 1
    return isinstance(expression, Any_) and all(_any_word(p) for p in expression.parts)


def row_digest(row: ChunkRow) -> int:
    """A signed 64-bit digest of everything Milvus holds for ``row``: a changed one is re-sent."""
    h = hashlib.blake2b(digest_size=8)
    c = row.chunk
    fields = [
        c.document_id,
        c.ordinal,
        c.section,
        c.start,
        c.end,
        c.text,
        row.title,
        row.year,
        row.kind,
        sorted(t.lower() for t in row.publication_types),
        row.retracted,
    ]
    h.update(json.dumps(fields, ensure_ascii=False).encode())
    if row.vector is not None:
        h.update(np.ascontiguousarray(row.vector, dtype=np.float32).tobytes())
    return int.from_bytes(h.digest(), "big", signed=True)


class MilvusSearch:
    """One Milvus collection of a store's chunks, reached through ``pymilvus.MilvusClient``."""

    def __init__(
        self, search: str, collection: str, *, token: str | None = None, timeout: float = 10.0
    ) -> None:
        # gRPC's C core logs connection chatter (keep-alive GOAWAYs from milvus-lite) to stderr;
        # curbside reports a failed call itself. A user's own GRPC_VERBOSITY wins.
        os.environ.setdefault("GRPC_VERBOSITY", "NONE")
        try:
            from pymilvus import MilvusClient
        except ImportError as exc:
            raise SearchEngineError(
                "CURBSIDE_SEARCH names Milvus, but pymilvus is not installed",
                hint="./scripts/install.sh milvus (pymilvus and milvus-lite from the checked-in lock)",
            ) from exc
        # pymilvus logs every failed call with its traceback; curbside reports it once, as a
        # SearchEngineError that names the engine and what to do.
        logging.getLogger("pymilvus").setLevel(logging.CRITICAL)
        self.search_target = search
        self.collection = collection
        self._loaded = False
        self._model: tuple[str, int] | None = None  # the collection's (model, dim), once read
        self._coverage: tuple[float, str, int] | None = None  # (when, model, vectors held)
        uri, self.lite = client_target(search)
        try:
            self._client = MilvusClient(uri=uri, token=token or "", timeout=timeout)
        except Exception as exc:  # pymilvus raises its own and grpc's errors; all mean "cannot reach it"
            raise self._failure("cannot connect", exc) from exc

    def _failure(self, what: str, exc: BaseException) -> SearchEngineError:
        detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return SearchEngineError(
            f"search engine {self.search_target!r} (Milvus, collection {self.collection!r}): {what}: {detail}",
            hint="check that Milvus is running and reachable (curbside doctor), "
            "or unset CURBSIDE_SEARCH to search the store itself",
        )

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except SearchEngineError:
            raise
        except Exception as exc:
            raise self._failure(what, exc) from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a dead connection has nothing left to report
            self._client.close()

    # --- the collection ---
    def exists(self) -> bool:
        """Whether the collection exists; loaded for search the first time it is found (Milvus serves
        only loaded collections, and a new process finds them released)."""
        found = bool(self._call("list collections", lambda: self._client.has_collection(self.collection)))
        if found and not self._loaded:
            self._call("load collection", lambda: self._client.load_collection(self.collection))
            self._loaded = True
        return found

    def model(self) -> tuple[str, int] | None:
        """The embedding model and dimension the collection was made for (``None``: no collection)."""
        if self._model is not None:
            return self._model  # fixed when the collection is made; drop() forgets it
        if not self.exists():
            return None
        info = self._call("describe collection", lambda: self._client.describe_collection(self.collection))
        dim = next(int(f["params"]["dim"]) for f in info["fields"] if f["name"] == "dense")
        self._model = str((info.get("properties") or {}).get(_MODEL_PROPERTY, "")), dim
        return self._model

    def vectors_held(self, model: str) -> int:
        """Rows with a ``model`` vector; counted at most every :data:`COVERAGE_TTL_S` seconds (the
        retriever asks before every search, and a count over a large collection is not free)."""
        held = self.model()
        if held is None or held[0] != model:
            return 0
        now = time.monotonic()
        if self._coverage is None or self._coverage[1] != model or now - self._coverage[0] > COVERAGE_TTL_S:
            self._coverage = (now, model, self.count("has_vector == true"))
        return self._coverage[2]

    def ensure(self, model: str, dim: int) -> None:
        """Create the collection for ``model`` vectors of ``dim``; refuse one made for another model."""
        found = self.model()
        if found is not None:
            if found != (model, dim):
                raise SearchEngineError(
                    f"Milvus collection {self.collection!r} holds {found[0]!r} vectors ({found[1]} dimensions), "
                    f"not {model!r} ({dim})",
                    hint="set CURBSIDE_SEARCH_COLLECTION to a new name, or drop the collection and run "
                    "`curbside index` to fill it again",
                )
            return
        from pymilvus import DataType, Function, FunctionType

        client = self._client
        schema = client.create_schema(auto_id=False, description="curbside chunks (derived from the store)")
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("digest", DataType.INT64)
        schema.add_field("document_id", DataType.VARCHAR, max_length=256)
        schema.add_field("ordinal", DataType.INT32)
        schema.add_field("section", DataType.VARCHAR, max_length=1024)
        schema.add_field("start", DataType.INT64)
        schema.add_field("end", DataType.INT64)
        schema.add_field("title", DataType.VARCHAR, max_length=_TITLE_BYTES)
        schema.add_field("text", DataType.VARCHAR, max_length=_TEXT_BYTES)
        # Pre-tokenised (curbside.store.fts): the standard tokenizer only splits what FTS5 would index.
        schema.add_field(
            "tokens",
            DataType.VARCHAR,
            max_length=_TEXT_BYTES,
            enable_analyzer=True,
            analyzer_params={"tokenizer": "standard"},
        )
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("has_vector", DataType.BOOL)
        schema.add_field("year", DataType.INT32, nullable=True)
        schema.add_field("kind", DataType.VARCHAR, max_length=64)
        schema.add_field(
            "pub_types", DataType.ARRAY, element_type=DataType.VARCHAR, max_capacity=64, max_length=128
        )
        schema.add_field("retracted", DataType.BOOL)
        schema.add_function(
            Function(
                name="bm25",
                function_type=FunctionType.BM25,
                input_field_names=["tokens"],
                output_field_names=["sparse"],
            )
        )
        index = client.prepare_index_params()
        # FTS5's bm25() constants, so that both engines weigh term frequency and length alike.
        index.add_index(
            "sparse",
            index_type="SPARSE_INVERTED_INDEX",
            metric_type="BM25",
            params={"bm25_k1": 1.2, "bm25_b": 0.75},
        )
        # milvus-lite searches exactly; a server gets a graph index (docs/deployment.md: HNSW vs DiskANN).
        if self.lite:
            index.add_index("dense", index_type="FLAT", metric_type="IP")
        else:
            index.add_index(
                "dense", index_type="HNSW", metric_type="IP", params={"M": 16, "efConstruction": 200}
            )
        with _quiet_lite_server(self.lite):
            self._call(
                "create collection",
                lambda: client.create_collection(self.collection, schema=schema, index_params=index),
            )
        self._call(
            "label collection",
            lambda: client.alter_collection_properties(self.collection, properties={_MODEL_PROPERTY: model}),
        )

    def drop(self) -> None:
        if self.exists():
            self._call("drop collection", lambda: self._client.drop_collection(self.collection))
            self._loaded = False
            self._model = self._coverage = None

    def count(self, expression: str = "") -> int:
        if not self.exists():
            return 0
        rows = self._call(
            "count",
            lambda: self._client.query(self.collection, filter=expression, output_fields=["count(*)"]),
        )
        return int(rows[0]["count(*)"]) if rows else 0

    def _ids(self, expression: str, fields: list[str]) -> list[dict[str, Any]]:
        def query() -> Any:
            return self._client.query(
                self.collection, filter=expression, output_fields=fields, limit=MAX_FETCH
            )

        return list(self._call("read keys", query))

    def digests(self, after: int, upto: int) -> dict[int, int]:
        """``{chunk key: digest}`` held for keys in ``(after, upto]``."""
        rows = self._ids(f"id > {after} and id <= {upto}", ["id", "digest"])
        if len(rows) >= MAX_FETCH and upto - after > 1:
            # A full page may hide more (query results come in no set order): halve the range.
            middle = (after + upto) // 2
            return {**self.digests(after, middle), **self.digests(middle, upto)}
        return {int(r["id"]): int(r["digest"]) for r in rows}

    def delete_after(self, key: int) -> int:
        """Delete every row with a key above ``key``; how many there were."""
        deleted = 0
        while rows := self._ids(f"id > {key}", ["id"]):
            self.delete([int(r["id"]) for r in rows])
            deleted += len(rows)
        return deleted

    def upsert(self, rows: Sequence[tuple[ChunkRow, int]], dim: int) -> None:
        """Send ``(row, its row_digest)`` pairs, replacing rows with the same key."""
        zero = [0.0] * dim
        data = [
            {
                "id": r.key,
                "digest": digest,
                "document_id": r.chunk.document_id,
                "ordinal": r.chunk.ordinal,
                "section": _clip(r.chunk.section, 1024),
                "start": r.chunk.start,
                "end": r.chunk.end,
                "title": _clip(r.title, _TITLE_BYTES),
                "text": _clip(r.chunk.text, _TEXT_BYTES),
                "tokens": _clip(indexed_text(r.title, r.chunk.text), _TEXT_BYTES),
                "dense": zero if r.vector is None else [float(v) for v in r.vector],
                "has_vector": r.vector is not None,
                "year": r.year,
                "kind": r.kind,
                "pub_types": [t.lower()[:128] for t in r.publication_types][:64],
                "retracted": r.retracted,
            }
            for r, digest in rows
        ]
        if data:
            self._call("upsert", lambda: self._client.upsert(self.collection, data))
            self._coverage = None

    def delete(self, keys: Sequence[int]) -> None:
        if keys:
            self._call("delete", lambda: self._client.delete(self.collection, ids=list(keys)))
            self._coverage = None

    def flush(self) -> None:
        """Seal the growing segments after a fill: Milvus then searches them through their indexes
        (milvus-lite: 1.5 s per BM25 search over 10k unflushed rows, 15-30 ms flushed)."""
        self._call("flush", lambda: self._client.flush(self.collection))

    # --- search ---
    def _hits(self, results: Any) -> list[tuple[ChunkHit, str]]:
        out = []
        for hit in results[0] if results else []:
            e = hit["entity"]
            chunk = Chunk(
                e["document_id"], int(e["ordinal"]), e["section"], int(e["start"]), int(e["end"]), e["text"]
            )
            out.append((ChunkHit(chunk, float(hit["distance"]), e["title"]), e.get("tokens", "")))
        return out

    def search_text(self, match: str, k: int, filters: SearchFilters | None = None) -> list[ChunkHit]:
        expression = parse(match)
        query = " ".join(words(expression))
        if not query or self.model() is None:  # model(): read once, no round trip per search
            return []
        where = filter_expression(filters)

        def bm25(limit: int) -> Any:
            return self._client.search(
                self.collection,
                data=[query],
                anns_field="sparse",
                limit=limit,
                filter=where,
                output_fields=[*_OUTPUT, "tokens"],
                search_params={"metric_type": "BM25"},
            )

        # Every hit of an OR of single words matches it; phrases and AND need more to choose from.
        fetch = k if _any_word(expression) else min(MAX_FETCH, max(3 * k, k + 50))
        while True:
            found = self._hits(self._call("BM25 search", functools.partial(bm25, fetch)))
            kept = [
                # Milvus's BM25 distances come back negative, lower is better: flipped, as for FTS5.
                ChunkHit(h.chunk, abs(h.score), h.title)
                for h, tokens in found
                if expression.matches(positions_of(tokens.split()))
            ]
            if len(kept) >= k or len(found) < fetch or fetch >= MAX_FETCH:
                return kept[:k]
            fetch = min(MAX_FETCH, fetch * 4)

    def search_vector(
        self, model: str, vector: npt.NDArray[np.float32], k: int, filters: SearchFilters | None = None
    ) -> list[ChunkHit]:
        held = self.model()
        if held is None or held[0] != model:
            return []
        if held[1] != vector.shape[-1]:
            raise StoreError(
                f"query vector has {vector.shape[-1]} dimensions but {model!r} vectors have {held[1]}"
            )
        where = " and ".join(c for c in ("has_vector == true", filter_expression(filters)) if c)
        data = [float(v) for v in np.asarray(vector, dtype=np.float32).reshape(-1)]
        results = self._call(
            "vector search",
            lambda: self._client.search(
                self.collection,
                data=[data],
                anns_field="dense",
                limit=min(k, MAX_FETCH),
                filter=where,
                output_fields=_OUTPUT,
                search_params={"metric_type": "IP"},
            ),
        )
        return [h for h, _ in self._hits(results)]


def sync(
    store: Store,
    search: MilvusSearch,
    model: str,
    dim: int,
    *,
    batch: int = SYNC_BATCH,
    progress: Callable[[SyncReport], None] | None = None,
) -> SyncReport:
    """Make the collection hold exactly the store's chunks (see the module docstring); resumable."""
    started = time.perf_counter()
    search.ensure(model, dim)
    report = SyncReport()
    after = 0
    while rows := store.chunk_rows(model, after, batch):
        upto = rows[-1].key
        held = search.digests(after, upto)
        wanted = {r.key: row_digest(r) for r in rows}
        stale = [key for key in held if key not in wanted]
        search.delete(stale)
        report.deleted += len(stale)
        changed = [(r, wanted[r.key]) for r in rows if held.get(r.key) != wanted[r.key]]
        search.upsert(changed, dim)
        report.upserted += len(changed)
        report.rows += len(rows)
        after = upto
        if progress is not None:
            progress(report)
    report.deleted += search.delete_after(after)  # rows past the store's last chunk: documents gone
    search.flush()
    report.seconds = time.perf_counter() - started
    return report


class MilvusStore:
    """A store whose chunk search runs in Milvus; everything else is the wrapped store's."""

    def __init__(self, inner: Store, search: MilvusSearch) -> None:
        self.inner = inner
        self.search = search
        self.location = inner.location

    def close(self) -> None:
        self.search.close()
        self.inner.close()

    # --- searched in Milvus ---
    def search_text(self, match: str, k: int, filters: SearchFilters | None = None) -> list[ChunkHit]:
        return self.search.search_text(match, k, filters)

    def search_text_weighted(
        self, parts: Sequence[tuple[str, float]], k: int, filters: SearchFilters | None = None
    ) -> list[ChunkHit]:
        # One BM25 search per part, summed with their weights: what the SQLite store does.
        return search_parts(self, parts, k, filters)

    def search_vector(
        self, model: str, vector: npt.NDArray[np.float32], k: int, filters: SearchFilters | None = None
    ) -> list[ChunkHit]:
        return self.search.search_vector(model, vector, k, filters)

    def vector_coverage(self, model: str) -> VectorCoverage:
        """Chunks in the store, and chunks whose vector Milvus holds (what dense search can find)."""
        chunks = self.inner.vector_coverage(model).chunks
        return VectorCoverage(chunks=chunks, embedded=min(self.search.vectors_held(model), chunks))

    # --- the store's own ---
    def file_progress(self, key: str) -> FileProgress | None:
        return self.inner.file_progress(key)

    def write_batch(self, batch: Batch) -> BatchResult:
        return self.inner.write_batch(batch)

    def finish_file(self, progress: FileProgress) -> None:
        self.inner.finish_file(progress)

    def record_run(self, inputs: Sequence[str], result: BatchResult, seconds: float) -> None:
        self.inner.record_run(inputs, result, seconds)

    def get_document(self, doc_id: str) -> Document | None:
        return self.inner.get_document(doc_id)

    def get_documents(self, doc_ids: Sequence[str]) -> dict[str, Document]:
        return self.inner.get_documents(doc_ids)

    def iter_documents(self) -> Iterator[Document]:
        return self.inner.iter_documents()

    def chunks(self, doc_id: str) -> list[Chunk]:
        return self.inner.chunks(doc_id)

    def mark_retracted(self, doc_ids: Sequence[str]) -> int:
        return self.inner.mark_retracted(doc_ids)

    def problems(self, limit: int = 50) -> list[Malformed]:
        return self.inner.problems(limit)

    def chunks_to_embed(self, model: str, limit: int) -> list[tuple[int, str]]:
        return self.inner.chunks_to_embed(model, limit)

    def chars_to_embed(self, model: str, limit: int | None = None) -> int:
        return self.inner.chars_to_embed(model, limit)

    def put_vectors(self, model: str, keys: Sequence[int], vectors: npt.NDArray[np.float32]) -> None:
        self.inner.put_vectors(model, keys, vectors)

    def bulk_vectors(self, model: str, incoming: int) -> AbstractContextManager[None]:
        return self.inner.bulk_vectors(model, incoming)

    def chunk_rows(self, model: str, after: int, limit: int) -> list[ChunkRow]:
        return self.inner.chunk_rows(model, after, limit)

    def stats(self) -> StoreStats:
        return self.inner.stats()

    def word_counts(self, words: Sequence[str]) -> dict[str, int]:
        return self.inner.word_counts(words)

    def check(self) -> list[str]:
        return self.inner.check()


def connect(settings: Settings) -> MilvusSearch:
    """The Milvus collection that ``settings.search`` and ``settings.search_collection`` name."""
    return MilvusSearch(
        settings.search,
        settings.search_collection,
        token=settings.search_token,
        timeout=settings.search_timeout,
    )


def with_milvus(store: Store, settings: Settings) -> MilvusStore:
    """``store`` with its chunk search in the Milvus that ``settings.search`` names (the ``search`` plugin)."""
    return MilvusStore(store, connect(settings))
