"""Benchmark: retrieval and answers on BioASQ Task B expert questions (select and report on 9B).

Corpus (built once, cached under ``bench/out/bioasq-<key>/``, embedded resumably):

* every gold document of the 1,497 questions, rebuilt from its snippets
  (:mod:`curbside.training.bioasq`: the title snippet, the abstract snippets in order);
* with ``--distractors`` (the default), both shared MEDLINE files: about 51k more
  records, so the store is the ~58k-document size the latency target names.

Retrieval, on the questions of ``--split`` (gold: their gold documents), in one run:
``bm25s`` (stop words + Snowball stemmer), and curbside BM25, hybrid, and hybrid with
the learned reranker when the relevance model is installed.  nDCG@10, R@10, R@100, MRR.
With ``--milvus`` the three curbside rows run again with their chunk search in Milvus
(a milvus-lite file beside the corpus, filled from it by :func:`curbside.store.milvus.sync`):
the ranking parity of the two engines on the same corpus.

Answers: every question of the split asked through :func:`curbside.api.ask` with each
``--variant`` (default: ``rules``, the scoring before the learned models, and
``learned``), side by side, per question type:

* yes/no accuracy with its 95% Wilson interval, beside always answering "yes";
* claim relevance (share of claims whose cited span overlaps a gold snippet of the question),
  gold-snippet recall, the share of answers citing a gold document, whether the first
  bottom-line claim is relevant, ROUGE-2 F1 of the bottom line (and of all claims)
  against the ideal answer; supported-in-context share; latency p50 / p95.

Prints tables, then one JSON line.

    .venv/bin/python bench/bioasq.py [--split 9B] [--limit N] [--variant rules --variant learned]
                                     [--no-distractors] [--skip-retrieval] [--skip-answers]
                                     [--details rows.jsonl] [--audience patient]

``--variant composed`` has the local language model write the learned article as prose (the
llm synthesizer's compose mode; ``curbside models install`` first): claim relevance, the share of
composed sentences that pass their checks, ROUGE-2, Flesch-Kincaid grade, tokens/s and seconds
per article, beside ``learned``.  Minutes per article on 2 cores: use ``--limit``, and
``--details`` to resume after a kill.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import itertools
import json
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from curbside import api
from curbside.answer.audience import article_text, readability
from curbside.config import Settings, shared_data_dir
from curbside.retrieval.evaluation import evaluate, percentile, ranked_documents
from curbside.retrieval.retrieve import RetrievalConfig
from curbside.store.sqlite import SQLiteStore
from curbside.training.bioasq import (
    RELATIVE_PATH,
    Dataset,
    Question,
    answer_scores,
    build_store,
    load,
    wilson,
)

OUT = Path(__file__).resolve().parent / "out"
CORPUS_VERSION = 1
K = 100
#: Settings each answer variant changes (the rest are the defaults).
VARIANTS: dict[str, dict[str, Any]] = {
    "rules": {"relevance_model": "none", "verdict_model": "none", "verify_in_context": False},
    "learned": {},
    # The learned extractive article written as prose by the local model (curbside.answer.compose):
    # minutes per article on 2 cores, so use it with --limit.
    "composed": {"llm_mode": "compose"},
}
#: The synthesizer each variant asks with (default: extractive).
SYNTHESIZERS: dict[str, str] = {"composed": "llm"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def corpus(data: Path, dataset: Dataset, distractors: bool) -> tuple[SQLiteStore, Settings]:
    """The cached store of rebuilt gold documents (+ MEDLINE distractors), ingested and embedded."""
    medline = sorted((data / "medline").glob("*.xml.gz")) if distractors else []
    key = hashlib.sha256(
        json.dumps([CORPUS_VERSION, len(dataset.documents), [p.name for p in medline]]).encode()
    ).hexdigest()[:10]
    store, settings = build_store(dataset, OUT / f"bioasq-{key}", medline, log=log)
    return store, settings


class BM25s:
    """bm25s over title + text of every document, English stop words and the Snowball stemmer."""

    def __init__(self, store: SQLiteStore) -> None:
        import bm25s
        import Stemmer

        self.bm25s = bm25s
        self.stemmer = Stemmer.Stemmer("english")
        docs = list(store.iter_documents())
        self.ids = [d.id for d in docs]
        tokens = bm25s.tokenize(
            [f"{d.title} {d.body}" for d in docs], stopwords="en", stemmer=self.stemmer, show_progress=False
        )
        self.index = bm25s.BM25()
        self.index.index(tokens, show_progress=False)

    def __call__(self, question: str, k: int = K) -> list[str]:
        tokens = self.bm25s.tokenize(
            [question], stopwords="en", stemmer=self.stemmer, show_progress=False, return_ids=False
        )
        if not tokens or not tokens[0]:
            return []
        docs, _ = self.index.retrieve(tokens, k=min(k, len(self.ids)), show_progress=False, n_threads=1)
        return [self.ids[int(i)] for i in docs[0]]


def milvus_copy(store: SQLiteStore, settings: Settings, path: Path) -> Any:
    """``store`` with its chunk search in the milvus-lite file ``path``, filled (or topped up: only
    missing or changed rows are sent) with the chunks and MiniLM vectors the SQLite store holds."""
    from curbside.retrieval.embeddings import get_embedder
    from curbside.store.milvus import MilvusSearch, MilvusStore, sync

    embedder = get_embedder(settings.embedder, settings)
    search = MilvusSearch(str(path), settings.search_collection)
    total = store.stats().chunks
    last = [0.0]

    def progress(r: Any) -> None:
        if time.perf_counter() - last[0] > 10 or r.rows == total:
            last[0] = time.perf_counter()
            log(f"  filling Milvus: {r.rows:,}/{total:,} chunks checked, {r.upserted:,} sent")

    report = sync(store, search, embedder.name, embedder.dim, progress=progress)
    log(f"  Milvus holds {search.count():,} chunks ({report.upserted:,} sent in {report.seconds:.0f} s)")
    return MilvusStore(store, search)


def retrieval(
    store: SQLiteStore, settings: Settings, questions: list[Question], milvus: Any = None
) -> list[dict[str, Any]]:
    pairs = [(q.id, q.body) for q in questions if q.documents]
    qrels = {q.id: {d: 1.0 for d in q.documents} for q in questions if q.documents}
    runs: dict[str, Callable[..., list[str]]] = {"bm25s": BM25s(store)}
    engines: list[tuple[str, Any]] = [("curbside", store)] + (
        [("milvus", milvus)] if milvus is not None else []
    )
    for (engine, searched), (name, mode, rerank) in itertools.product(
        engines,
        (("bm25", "bm25", False), ("hybrid", "hybrid", False), ("hybrid+relevance", "hybrid", True)),
    ):
        name = f"{engine}-{name}"
        configured = settings if rerank else settings.model_copy(update={"relevance_model": "none"})
        retriever = api.make_retriever(configured, searched)
        if rerank and getattr(retriever.reranker, "model", None) is None:
            continue  # no relevance model installed: the row would repeat curbside-hybrid
        config = replace(retriever.config, mode=mode, max_per_document=1)

        def run(text: str, k: int = K, r: Any = retriever, c: RetrievalConfig = config) -> list[str]:
            return ranked_documents(r.search(text, k, config=c))

        runs[name] = run
    rows = []
    for name, run in runs.items():
        started = time.perf_counter()
        report = evaluate(name, run, pairs, qrels)
        row = report.row()
        row["seconds"] = round(time.perf_counter() - started, 1)
        rows.append(row)
        log(f"  {name}: nDCG@10 {row['ndcg@10']:.3f}")
    return rows


def answers(
    store: SQLiteStore,
    settings: Settings,
    questions: list[Question],
    variant: str,
    *,
    audience: str = "clinician",
    done: dict[str, dict[str, Any]] | None = None,
    sink: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Each question answered with ``variant``; rows already in ``done`` (by question id) are reused,
    and each new row goes to ``sink`` as it is made (so a killed run resumes where it stopped)."""
    configured = settings.model_copy(update=VARIANTS[variant])
    synthesizer = SYNTHESIZERS.get(variant, "extractive")
    if synthesizer == "llm":
        # The model `curbside models install` put in the user's data folder (or CURBSIDE_LLM_MODEL_PATH),
        # not one in the bench store's folder.
        configured = configured.model_copy(update={"llm_model_path": Settings().llm_model_path})
    per_question: list[dict[str, Any]] = []
    done = done or {}
    ask = functools.partial(
        api.ask, settings=configured, store=store, synthesizer=synthesizer, audience=audience
    )
    ask("What causes leukopenia?")  # warm-up: models, caches
    started = last = time.perf_counter()
    for n, q in enumerate(questions, 1):
        if q.id in done:
            per_question.append(done[q.id])
            continue
        t = time.perf_counter()
        article = ask(q.body)
        seconds = time.perf_counter() - t
        scores = answer_scores(article, q)
        claims = list(article.all_claims())
        composition = article.metadata.get("composition") or {}
        row = {
            "id": q.id,
            "type": q.type,
            "seconds": seconds,
            "verdict": article.verdict,
            "gold_yes": q.yes,
            "supported": sum(c.verdict == "supported" for c in claims) / len(claims) if claims else None,
            "removed": len(article.removed_claims),
            "fk_grade": readability(article_text(article))["flesch_kincaid_grade"],
            "composed": composition.get("composed_sentences"),
            "failed_checks": len(composition.get("failed_checks") or ()) if composition else None,
            "completion_tokens": composition.get("completion_tokens"),
            **scores,
        }
        per_question.append(row)
        if sink is not None:
            sink(row)
        now = time.perf_counter()
        if n % 50 == 0 or now - last > 60:
            last = now
            log(f"  {variant}: {n}/{len(questions)} ({now - started:.0f} s)")
    return summarise(per_question), per_question


def _mean(rows: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in rows if r.get(key) is not None]
    return round(statistics.fmean(values), 4) if values else None


def _composition(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Composed sentences that passed their checks, and the model's speed (composed variants only)."""
    composed = [r for r in rows if r.get("composed") is not None]
    if not composed:
        return {}
    passed = sum(r["composed"] for r in composed)
    failed = sum(r["failed_checks"] or 0 for r in composed)
    tokens = sum(r["completion_tokens"] or 0 for r in composed)
    seconds = sum(r["seconds"] for r in composed)
    return {
        "composed_sentences": passed,
        "composed_pass_rate": round(passed / (passed + failed), 4) if passed + failed else None,
        "tokens_per_s": round(tokens / seconds, 2) if seconds else None,
        "seconds_per_article": round(seconds / len(composed), 1),
    }


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_type: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by_type[r["type"]].append(r)
        by_type["all"].append(r)
    out: dict[str, Any] = {}
    for kind, group in sorted(by_type.items()):
        times = sorted(r["seconds"] for r in group)
        summary: dict[str, Any] = {
            "n": len(group),
            **{k: _mean(group, k) for k in ("claim_relevance", "snippet_recall", "gold_cited")},
            **{k: _mean(group, k) for k in ("first_relevant", "rouge2", "rouge2_all", "supported")},
            "claims_per_answer": _mean(group, "claims"),
            "fk_grade": _mean(group, "fk_grade"),
            **_composition(group),
            "p50_s": round(percentile(times, 50), 3),
            "p95_s": round(percentile(times, 95), 3),
        }
        yesno = [r for r in group if r["gold_yes"] is not None]
        if yesno:
            correct = sum(
                (r["verdict"] == "yes") == r["gold_yes"] and r["verdict"] in ("yes", "no") for r in yesno
            )
            always = sum(r["gold_yes"] for r in yesno)
            summary.update(
                yesno=len(yesno),
                accuracy=round(correct / len(yesno), 4),
                accuracy_ci95=wilson(correct, len(yesno)),
                always_yes=round(always / len(yesno), 4),
                always_yes_ci95=wilson(always, len(yesno)),
                verdicts={v: sum(r["verdict"] == v for r in yesno) for v in ("yes", "no", "uncertain", None)},
            )
        out[kind] = summary
    return out


def print_answers(results: dict[str, dict[str, Any]]) -> None:
    head = (
        f"{'variant':<10} {'type':<8} {'n':>4} {'relevant':>8} {'recall':>7} {'gold':>6} {'first':>6} "
        f"{'rouge2':>7} {'suppd':>6} {'yes/no acc (95% CI)':>22} {'always-yes':>10} {'p50 s':>6} {'p95 s':>6}"
    )
    print(head)
    print("-" * len(head))
    for variant, summary in results.items():
        for kind, s in summary.items():
            acc = (
                f"{s['accuracy']:.3f} ({s['accuracy_ci95'][0]:.2f}-{s['accuracy_ci95'][1]:.2f})"
                if "accuracy" in s
                else ""
            )
            always = f"{s['always_yes']:.3f}" if "always_yes" in s else ""

            def f(key: str, s: dict[str, Any] = s) -> str:
                value = s.get(key)
                return f"{value:.3f}" if isinstance(value, float) else "-"

            print(
                f"{variant:<10} {kind:<8} {s['n']:>4} {f('claim_relevance'):>8} {f('snippet_recall'):>7} "
                f"{f('gold_cited'):>6} {f('first_relevant'):>6} {f('rouge2'):>7} {f('supported'):>6} "
                f"{acc:>22} {always:>10} {s['p50_s']:>6.2f} {s['p95_s']:>6.2f}"
            )


def _read_details(path: Path | None, audience: str) -> list[dict[str, Any]]:
    """The rows an earlier run of the same audience wrote to ``path`` (none without it)."""
    if path is None or not path.is_file():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if r.get("audience", "clinician") == audience]


def print_prose(results: dict[str, dict[str, Any]]) -> None:
    """Readability of every variant, and what composition did where a variant composed."""
    print(f"\n{'variant':<10} {'FK grade':>8} {'composed':>8} {'passed':>7} {'tokens/s':>8} {'s/article':>9}")
    for variant, summary in results.items():
        s = summary.get("all", {})

        def f(key: str, fmt: str, s: dict[str, Any] = s) -> str:
            value = s.get(key)
            return format(value, fmt) if isinstance(value, (int, float)) else "-"

        print(
            f"{variant:<10} {f('fk_grade', '.1f'):>8} {f('composed_sentences', 'd'):>8} "
            f"{f('composed_pass_rate', '.3f'):>7} {f('tokens_per_s', '.1f'):>8} {f('seconds_per_article', '.1f'):>9}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--split", default="9B", help="batches to judge: 7B, 8B or 9B (default 9B)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions of the split")
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS), help="repeatable")
    parser.add_argument("--no-distractors", dest="distractors", action="store_false")
    parser.add_argument("--skip-retrieval", action="store_true")
    parser.add_argument("--skip-answers", action="store_true")
    parser.add_argument(
        "--details",
        type=Path,
        default=None,
        help="per-question rows, JSON Lines, written as they are made; a rerun reuses the rows there (resume)",
    )
    parser.add_argument("--audience", default="clinician", choices=["clinician", "student", "patient"])
    parser.add_argument(
        "--milvus",
        action="store_true",
        help="also the curbside retrieval rows with chunk search in Milvus (a milvus-lite file beside the "
        "corpus, filled from it; needs the milvus extra)",
    )
    args = parser.parse_args(argv)
    data = shared_data_dir()
    if data is None or not (data / RELATIVE_PATH).is_file():
        print(json.dumps({"bench": "bioasq", "skipped": "shared data not found (CURBSIDE_SHARED_DATA)"}))
        return 0
    dataset = load(data / RELATIVE_PATH)
    questions = [q for q in dataset.questions if q.split == args.split][: args.limit]
    store, settings = corpus(data, dataset, args.distractors)
    stats = store.stats()
    result: dict[str, Any] = {
        "bench": "bioasq",
        "split": args.split,
        "questions": len(questions),
        "documents": stats.documents,
        "chunks": stats.chunks,
        "gold_documents_without_text": dataset.dropped_documents,
    }
    log(f"{len(questions)} {args.split} questions over {stats.documents:,} documents")
    if not args.skip_retrieval:
        milvus = milvus_copy(store, settings, store.path.parent / "milvus.db") if args.milvus else None
        rows = retrieval(store, settings, questions, milvus)
        result["retrieval"] = rows
        print(f"{'run':<28} {'nDCG@10':>8} {'R@10':>6} {'R@100':>6} {'MRR':>6}")
        for r in rows:
            print(
                f"{r['name']:<28} {r['ndcg@10']:>8.3f} {r['recall@10']:>6.3f} {r['recall@100']:>6.3f} {r['mrr']:>6.3f}"
            )
    if not args.skip_answers:
        results: dict[str, dict[str, Any]] = {}
        earlier = _read_details(args.details, args.audience)
        for variant in args.variant or ["rules", "learned"]:
            done = {r["id"]: r for r in earlier if r["variant"] == variant}
            log(f"answering with {variant}" + (f" ({len(done)} answered before, reused)" if done else ""))

            def sink(row: dict[str, Any], variant: str = variant) -> None:
                if args.details:
                    with args.details.open("a", encoding="utf-8") as fh:
                        fh.write(json.dumps({"variant": variant, "audience": args.audience, **row}) + "\n")

            results[variant], _ = answers(
                store, settings, questions, variant, audience=args.audience, done=done, sink=sink
            )
        result["answers"] = results
        result["audience"] = args.audience
        print_answers(results)
        print_prose(results)
    store.close()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
