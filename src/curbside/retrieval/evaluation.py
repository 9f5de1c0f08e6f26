"""Retrieval evaluation: nDCG@10, Recall@10/100 and MRR against relevance judgements.

Input formats (both plain text, so judgements can come from anywhere):

* questions: JSON Lines ``{"id": "q1", "question": "..."}`` or TSV ``id<TAB>question``;
* qrels: TREC format ``qid 0 docid relevance`` (whitespace separated) or TSV
  ``qid<TAB>docid<TAB>relevance``; a bare PMID as docid means ``pmid:<PMID>``.

Retrieval is judged per document: a document's rank is the rank of its best chunk.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from curbside.errors import InputError
from curbside.types import Hit


@dataclass
class EvalReport:
    name: str
    queries: int
    ndcg10: float
    recall10: float
    recall100: float
    mrr: float
    p50_ms: float
    p95_ms: float
    qps: float
    per_query: dict[str, float] = field(default_factory=dict)  # qid -> nDCG@10

    def row(self) -> dict[str, float | str | int]:
        return {
            "name": self.name,
            "queries": self.queries,
            "ndcg@10": round(self.ndcg10, 4),
            "recall@10": round(self.recall10, 4),
            "recall@100": round(self.recall100, 4),
            "mrr": round(self.mrr, 4),
            "p50_ms": round(self.p50_ms, 2),
            "p95_ms": round(self.p95_ms, 2),
            "qps": round(self.qps, 2),
        }


def _doc_id(text: str) -> str:
    return f"pmid:{text}" if text.isdigit() else text


def load_questions(path: Path) -> list[tuple[str, str]]:
    """``[(qid, question)]`` from JSON Lines or TSV; errors name the file and line."""
    out: list[tuple[str, str]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read questions: {exc.strerror or exc}") from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line.lstrip().startswith("{"):
            try:
                obj = json.loads(line)
                out.append((str(obj["id"]), str(obj["question"])))
            except (ValueError, KeyError, TypeError) as exc:
                raise InputError(f"{path}, line {n}: expected {{'id', 'question'}} JSON ({exc})") from exc
        else:
            parts = line.split("\t", 1)
            if len(parts) != 2:
                raise InputError(f"{path}, line {n}: expected 'id<TAB>question'")
            out.append((parts[0].strip(), parts[1].strip()))
    if not out:
        raise InputError(f"{path}: no questions found")
    return out


def load_qrels(path: Path) -> dict[str, dict[str, float]]:
    """``{qid: {doc_id: relevance}}`` from TREC or TSV qrels."""
    qrels: dict[str, dict[str, float]] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InputError(f"{path}: cannot read qrels: {exc.strerror or exc}") from exc
    for n, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) == 4:
            qid, _, doc, rel = parts
        elif len(parts) == 3:
            qid, doc, rel = parts
        else:
            raise InputError(f"{path}, line {n}: expected 'qid 0 docid rel' or 'qid docid rel'")
        try:
            qrels.setdefault(qid, {})[_doc_id(doc)] = float(rel)
        except ValueError as exc:
            raise InputError(f"{path}, line {n}: relevance {rel!r} is not a number") from exc
    return qrels


def ranked_documents(hits: Sequence[Hit]) -> list[str]:
    seen: dict[str, None] = {}
    for hit in hits:
        seen.setdefault(hit.document.id, None)
    return list(seen)


def ndcg_at(ranked: Sequence[str], rels: dict[str, float], k: int) -> float:
    dcg = sum(rels.get(d, 0.0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(rels.values(), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: Sequence[str], rels: dict[str, float], k: int) -> float:
    relevant = {d for d, r in rels.items() if r > 0}
    return len(relevant & set(ranked[:k])) / len(relevant) if relevant else 0.0


def reciprocal_rank(ranked: Sequence[str], rels: dict[str, float]) -> float:
    for i, d in enumerate(ranked):
        if rels.get(d, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def evaluate(
    name: str,
    run: Callable[[str], Sequence[str]],
    questions: Sequence[tuple[str, str]],
    qrels: dict[str, dict[str, float]],
    *,
    progress: Callable[[int], None] | None = None,
) -> EvalReport:
    """Run ``run(question) -> ranked doc ids`` over every judged question and average the metrics."""
    judged = [(qid, q) for qid, q in questions if qid in qrels]
    if not judged:
        raise InputError("no question has relevance judgements (do the ids in the two files match?)")
    ndcg, r10, r100, mrr, latencies = [], [], [], [], []
    per_query: dict[str, float] = {}
    started = time.perf_counter()
    for i, (qid, question) in enumerate(judged, start=1):
        t = time.perf_counter()
        ranked = list(run(question))
        latencies.append((time.perf_counter() - t) * 1000)
        rels = qrels[qid]
        per_query[qid] = ndcg_at(ranked, rels, 10)
        ndcg.append(per_query[qid])
        r10.append(recall_at(ranked, rels, 10))
        r100.append(recall_at(ranked, rels, 100))
        mrr.append(reciprocal_rank(ranked, rels))
        if progress:
            progress(i)
    elapsed = time.perf_counter() - started
    latencies.sort()
    n = len(judged)
    return EvalReport(
        name=name,
        queries=n,
        ndcg10=sum(ndcg) / n,
        recall10=sum(r10) / n,
        recall100=sum(r100) / n,
        mrr=sum(mrr) / n,
        p50_ms=percentile(latencies, 50),
        p95_ms=percentile(latencies, 95),
        qps=n / elapsed if elapsed else 0.0,
        per_query=per_query,
    )


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    idx = min(len(sorted_values) - 1, max(0, math.ceil(pct / 100 * len(sorted_values)) - 1))
    return float(sorted_values[idx])
