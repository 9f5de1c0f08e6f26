"""Benchmark: PubMedQA verdicts, citation precision and answer latency of each synthesizer.

Over the 500 expert-labelled PubMedQA dev questions, asked of the shared
benchmark store (both MEDLINE files plus the 500 PubMedQA abstracts, ~51k
documents, embedded; built once and cached under ``bench/out/`` by the corpus
builder of ``bench/retrieval.py``, so both benchmarks answer over the same
store), every question goes through
the whole pipeline (:func:`curbside.api.ask`: analyse, retrieve, synthesize,
verify) and is scored on

* **verdict accuracy**: the article's yes / no / uncertain verdict against the
  expert label yes / no / maybe (an article without a verdict, because the
  question was not read as a yes/no question, counts as wrong), with its 95%
  Wilson interval, next to the always-"yes" baseline; the extractive synthesizer
  runs twice, as the keyword rules before the learned models (``rules``, the
  previous version) and with them (``learned``).  The shipped verdict model was
  trained on these questions too (cross-validated figures are in ``curbside train
  verdict``'s report): ``--verdict-model`` swaps in one trained with
  ``--no-pubmedqa`` for an out-of-sample figure;
* **citation precision**: the share of the draft's claims whose cited span
  supports them according to the verifier (``supported``; ``partial`` is
  reported separately), removed claims included;
* **gold cited**: the share of answers citing the question's own abstract;
* **latency** p50 / p95 of one answer, end to end in-process (the embedder is
  loaded once, before timing, as a server would).

Nothing of the answer is used at answer time: the store holds no
``LONG_ANSWER`` and no label.  The LLM synthesizer runs only where a backend
is reachable (``--llm-url`` for an OpenAI-compatible server, or an in-process
backend, xllamacpp by default, with an installed model); otherwise its row says
why it was skipped.

    flock /tmp/curbside-bench.lock .venv/bin/python bench/answer.py [--limit N] \
        [--synthesizer extractive --synthesizer llm] [--k 12] [--llm-backend xllamacpp|openai|llamacpp]

Prints a table, then one JSON line with every number.  Measured numbers (extractive vs the
local 0.5B model on the llamacpp backend) are in ``docs/answers.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from curbside import api
from curbside.config import Settings, shared_data_dir
from curbside.errors import CurbsideError
from curbside.retrieval.embeddings import MiniLMEmbedder, get_embedder
from curbside.store import open_store
from curbside.training.bioasq import wilson
from curbside.types import Article

#: Answer-layer variants of the extractive synthesizer: the keyword rules before the learned
#: models (the previous version), and the learned relevance and verdict models.
VARIANTS: dict[str, dict[str, Any]] = {
    "rules": {"relevance_model": "none", "verdict_model": "none", "verify_in_context": False},
    "learned": {},
}

#: PubMedQA's "maybe" is curbside's "uncertain".
_GOLD = {"yes": "yes", "no": "no", "maybe": "uncertain"}
LABELS = ("yes", "no", "uncertain")


def corpus_db(data_dir: Path, log: Any) -> Path:
    """The shared benchmark store (built and embedded on first use, then reused)."""
    # bench/retrieval.py owns the corpus builder, so both benchmarks answer over one cached store.
    from retrieval import OUT, build_corpus, corpus_key, embed_corpus

    pubmedqa = data_dir / "pubmedqa" / "pubmedqa_dev.json"
    medline = sorted((data_dir / "medline").glob("*.xml.gz"))
    settings = Settings(db=":memory:", shared_data=data_dir)
    folder = OUT / f"retrieval-{corpus_key(pubmedqa, medline, None, settings.chunk_chars)}"
    folder.mkdir(parents=True, exist_ok=True)
    log(f"corpus: {folder}")
    store, info = build_corpus(data_dir, None, settings, folder)
    try:
        embed_corpus(store, MiniLMEmbedder(), info, folder)
    finally:
        store.close()
    return folder / "store.db"


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (no interpolation: a reported p95 is a latency that happened)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def claim_verdicts(article: Article) -> Counter[str]:
    """Verifier verdicts of every draft claim: the kept ones and the removed ones."""
    return Counter(c.verdict for c in (*article.all_claims(), *article.removed_claims))


def run_synthesizer(
    name: str,
    items: list[tuple[str, dict[str, Any]]],
    settings: Settings,
    k: int,
    log: Any,
    label: str | None = None,
) -> dict[str, Any]:
    """Ask every question with synthesizer ``name``; return its row of numbers (named ``label``)."""
    label = label or name
    store = open_store(settings.db, settings)
    try:
        embedder = None
        if store.stats().embedded.get(get_embedder(settings.embedder, settings).name, 0):
            embedder = get_embedder(settings.embedder, settings)
        try:
            # Warm-up (model load, SQLite page cache) is not part of any answer's latency.
            api.ask(
                "Is aspirin effective?",
                k=k,
                synthesizer=name,
                settings=settings,
                store=store,
                embedder=embedder,
            )
        except CurbsideError as exc:
            return {"synthesizer": label, "skipped": f"{type(exc).__name__}: {exc.message}"}
        relevance_name = verdict_name = None
        latencies: list[float] = []
        verify_s: list[float] = []
        verdicts: Counter[str] = Counter()
        confusion: Counter[tuple[str, str]] = Counter()
        claims: Counter[str] = Counter()
        modes: Counter[str] = Counter()
        correct = gold_cited = typed_yesno = insufficient = failures = removed = 0
        # llm only: answers needing a retry, rejected replies, generated tokens and their seconds.
        retried = rejected = tokens = 0
        generation_s = 0.0
        started = time.perf_counter()
        for n, (pmid, item) in enumerate(items, 1):
            t = time.perf_counter()
            try:
                article = api.ask(
                    item["QUESTION"], k=k, synthesizer=name, settings=settings, store=store, embedder=embedder
                )
            except CurbsideError as exc:
                failures += 1
                log(f"  {name} failed on pmid:{pmid}: {exc.message}")
                continue
            latencies.append(time.perf_counter() - t)
            relevance_name = article.metadata.get("relevance_model", relevance_name)
            verdict_name = (article.metadata.get("verdict_basis") or {}).get("model", verdict_name)
            verify_s.append(float(article.metadata.get("verification", {}).get("seconds") or 0.0))
            gold = _GOLD[item["final_decision"]]
            got = article.verdict or "none"
            verdicts[got] += 1
            confusion[(gold, got)] += 1
            correct += got == gold
            typed_yesno += article.qtype == "yesno"
            insufficient += article.insufficient
            gold_cited += any(r.pmid == pmid for r in article.references)
            claims.update(claim_verdicts(article))
            removed += len(article.removed_claims)
            attempts = int(article.metadata.get("attempts") or 1)
            retried += attempts > 1
            rejected += max(0, attempts - 1)
            tokens += int(article.metadata.get("completion_tokens") or 0)
            generation_s += float(article.metadata.get("generation_s") or 0.0)
            modes[str(article.metadata.get("retrieval", {}).get("mode"))] += 1
            if n % 50 == 0:
                log(f"  {label}: {n}/{len(items)} ({time.perf_counter() - started:.0f} s)")
        answered = len(latencies)
        total_claims = sum(claims.values())
        return {
            "synthesizer": label,
            "questions": len(items),
            "answered": answered,
            "retrieval_modes": dict(modes),
            "failures": failures,
            "accuracy": round(correct / len(items), 4) if items else None,
            "accuracy_ci95": list(wilson(correct, len(items))),
            "relevance_model": relevance_name,
            "verdict_model": verdict_name,
            "typed_yesno": typed_yesno,
            "insufficient": insufficient,
            "verdicts": dict(verdicts),
            "confusion": {f"{g}->{p}": v for (g, p), v in sorted(confusion.items())},
            "claims": total_claims,
            "claims_per_answer": round(total_claims / answered, 2) if answered else None,
            "citation_precision": round(claims["supported"] / total_claims, 4) if total_claims else None,
            "citation_partial": round(claims["partial"] / total_claims, 4) if total_claims else None,
            "citation_unsupported": round(claims["unsupported"] / total_claims, 4) if total_claims else None,
            "gold_cited": round(gold_cited / answered, 4) if answered else None,
            "removed_claims": removed,
            "retried_answers": retried,
            "rejected_replies": rejected,
            "completion_tokens": tokens,
            "tokens_per_s": round(tokens / generation_s, 2) if generation_s else None,
            "p50_s": round(percentile(latencies, 50), 3),
            "p95_s": round(percentile(latencies, 95), 3),
            "mean_s": round(statistics.fmean(latencies), 3) if latencies else None,
            # The verifier's share of an answer (it was once a 50 ms assertion in tests/test_verify.py).
            "verify_p50_ms": round(percentile(verify_s, 50) * 1000, 1) if verify_s else None,
        }
    finally:
        store.close()


def print_table(rows: list[dict[str, Any]], always_yes: float) -> None:
    header = (
        f"{'synthesizer':<20} {'n':>4} {'accuracy':>8} {'95% CI':>13} {'always-yes':>10} {'cite prec':>9} "
    )
    header += f"{'partial':>7} {'gold cited':>10} {'p50 s':>7} {'p95 s':>7}"
    print(header)
    print("-" * len(header))
    for r in rows:
        if "skipped" in r:
            print(f"{r['synthesizer']:<20} skipped: {r['skipped']}")
            continue
        low, high = r["accuracy_ci95"]
        print(
            f"{r['synthesizer']:<20} {r['answered']:>4} {r['accuracy']:>8.3f} {f'{low:.3f}-{high:.3f}':>13} "
            f"{always_yes:>10.3f} "
            f"{(r['citation_precision'] or 0):>9.3f} {(r['citation_partial'] or 0):>7.3f} "
            f"{(r['gold_cited'] or 0):>10.3f} {r['p50_s']:>7.3f} {r['p95_s']:>7.3f}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="only the first N questions (default: all 500)"
    )
    parser.add_argument(
        "--synthesizer",
        action="append",
        choices=["extractive", "llm"],
        help="synthesizers to run (repeatable; default: extractive and llm)",
    )
    parser.add_argument("--k", type=int, default=12, help="evidence passages retrieved per question")
    parser.add_argument("--db", type=Path, default=None, help="an existing store (default: build bench/out)")
    parser.add_argument("--llm-backend", choices=["xllamacpp", "openai", "llamacpp"], default=None)
    parser.add_argument("--llm-url", default=None, help="OpenAI-compatible base URL for the llm synthesizer")
    parser.add_argument("--llm-model", default=None, help="model name sent to the backend")
    parser.add_argument(
        "--llm-model-path", type=Path, default=None, help="GGUF file for the xllamacpp and llamacpp backends"
    )
    parser.add_argument("--llm-limit", type=int, default=None, help="cap questions for the llm synthesizer")
    parser.add_argument(
        "--variant",
        action="append",
        choices=sorted(VARIANTS),
        help="extractive answer layers to run (repeatable; default: rules and learned)",
    )
    parser.add_argument(
        "--verdict-model",
        default=None,
        help="verdict model file for the learned variant; a model trained with "
        "`curbside train verdict --no-pubmedqa` never saw these questions (the shipped one did)",
    )
    args = parser.parse_args(argv)

    data_dir = shared_data_dir()
    if data_dir is None or not (data_dir / "pubmedqa" / "pubmedqa_dev.json").is_file():
        print("shared data (pubmedqa/pubmedqa_dev.json) not found; set CURBSIDE_SHARED_DATA", file=sys.stderr)
        print(json.dumps({"bench": "answer", "skipped": "no shared data"}))
        return 0

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    db = args.db or corpus_db(data_dir, log)
    items = sorted(
        json.loads((data_dir / "pubmedqa" / "pubmedqa_dev.json").read_text(encoding="utf-8")).items()
    )
    if args.limit is not None:
        items = items[: args.limit]
    gold = Counter(_GOLD[item["final_decision"]] for _, item in items)
    majority_label, majority_n = gold.most_common(1)[0]
    majority = majority_n / len(items)

    overrides: dict[str, Any] = {"db": str(db)}
    if args.llm_backend:
        overrides["llm_backend"] = args.llm_backend
    if args.llm_url:
        overrides["llm_url"] = args.llm_url
    if args.llm_model:
        overrides["llm_model"] = args.llm_model
    if args.llm_model_path:
        overrides["llm_model_path"] = args.llm_model_path
    settings = Settings(**overrides)
    rows = []
    for name in args.synthesizer or ["extractive", "llm"]:
        subset = items[: args.llm_limit] if name == "llm" and args.llm_limit else items
        if name != "extractive":
            log(f"{name}: {len(subset)} questions against {db}")
            rows.append(run_synthesizer(name, subset, settings, args.k, log))
            continue
        for variant in args.variant or ["rules", "learned"]:
            update = dict(VARIANTS[variant])
            if variant == "learned" and args.verdict_model:
                update["verdict_model"] = args.verdict_model
            log(f"{name} ({variant}): {len(subset)} questions against {db}")
            configured = settings.model_copy(update=update)
            rows.append(run_synthesizer(name, subset, configured, args.k, log, f"{name}-{variant}"))
    yes = gold["yes"] / len(items)
    print_table(rows, yes)
    print(
        f"always-yes baseline: {yes:.3f} (95% CI {'-'.join(f'{v:.3f}' for v in wilson(gold['yes'], len(items)))}); "
        f"majority baseline: always '{majority_label}' = {majority:.3f}; "
        f"{os.cpu_count()} CPUs shared with other work, so latencies are upper bounds"
    )
    result = {
        "bench": "answer",
        "questions": len(items),
        "k": args.k,
        "majority_label": majority_label,
        "majority_baseline": round(majority, 4),
        "always_yes": round(yes, 4),
        "verdict_model_override": args.verdict_model,
        "store": str(db),
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "synthesizers": rows,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
