"""Hybrid retrieval: BM25 and dense kNN fused by reciprocal rank, then weighted and diversified.

Stages, each visible in the scores a :class:`~curbside.types.Hit` carries:

1. **lexical** — FTS5 BM25 over an OR-query of the question's keywords and its
   concepts' spellings, synonyms and narrower terms (:func:`curbside.questions.fts_query`);
2. **dense** — cosine kNN of the question embedding over chunk embeddings;
3. **fusion** — reciprocal-rank fusion (RRF): robust to the two scores living on
   different scales, and needs no tuning per corpus;
4. **evidence** — a mild multiplier from the evidence level and recency of the
   source (guideline > meta-analysis > RCT > cohort > case report), so that at
   equal relevance stronger evidence ranks first; retracted sources are
   filtered in the store unless asked for;
5. **rerank** — a :class:`~curbside.rerank.Reranker` (concept coverage by default);
6. **diversity** — maximal marginal relevance over passage words, and at most
   ``max_per_document`` chunks of one document, so the top k is not one paper
   repeated.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

from curbside.embeddings import Embedder
from curbside.errors import ConfigError
from curbside.evidence import evidence_weight
from curbside.questions import analyse, fts_query
from curbside.rerank import ConceptCoverageReranker, Reranker
from curbside.store.base import ChunkHit, SearchFilters, Store
from curbside.types import Hit, Query

Mode = Literal["hybrid", "bm25", "dense"]
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class RetrievalConfig:
    mode: Mode = "hybrid"
    candidates: int = 100  # fetched per method before fusion
    rrf_k: int = 60
    lexical_weight: float = 1.0
    dense_weight: float = 1.0
    evidence_strength: float = 0.2  # 0 disables evidence weighting
    max_per_document: int = 2
    mmr_lambda: float = 0.85  # 1.0 disables MMR
    rerank: bool = True


@dataclass
class Timings:
    stages: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, started: float) -> float:
        now = time.perf_counter()
        self.stages[name] = self.stages.get(name, 0.0) + (now - started) * 1000
        return now


def filters_for(query: Query) -> SearchFilters:
    return SearchFilters(
        year_from=query.year_from,
        year_to=query.year_to,
        kinds=query.kinds,
        publication_types=query.publication_types,
        exclude_retracted=query.exclude_retracted,
    )


class Retriever:
    """Runs the stages above over one store; cheap to construct, reusable across queries."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder | None = None,
        *,
        reranker: Reranker | None = None,
        config: RetrievalConfig | None = None,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.reranker = reranker or ConceptCoverageReranker()
        self.config = config or RetrievalConfig()
        self.last_timings = Timings()

    def search(self, query: Query | str, k: int = 10, *, config: RetrievalConfig | None = None) -> list[Hit]:
        cfg = config or self.config
        timings = Timings()
        t = time.perf_counter()
        q = analyse(query) if isinstance(query, str) else query
        t = timings.add("analyse", t)
        filters = filters_for(q)
        pool = max(cfg.candidates, k * 3)

        lexical: list[ChunkHit] = []
        dense: list[ChunkHit] = []
        if cfg.mode in ("hybrid", "bm25"):
            lexical = self.store.search_text(fts_query(q), pool, filters)
            t = timings.add("bm25", t)
        if cfg.mode in ("hybrid", "dense"):
            if self.embedder is None:
                if cfg.mode == "dense":
                    raise ConfigError("dense retrieval needs an embedder; run `curbside index` first")
            else:
                vector = self.embedder.embed([q.text])[0]
                t = timings.add("embed", t)
                dense = self.store.search_vector(self.embedder.name, vector, pool, filters)
                t = timings.add("knn", t)

        hits = self._fuse(lexical, dense, cfg)
        t = timings.add("fuse", t)
        if cfg.evidence_strength:
            hits = [self._weigh(h, cfg.evidence_strength) for h in hits]
        if cfg.rerank:
            hits = self.reranker.rerank(q, hits)
        else:
            hits.sort(key=lambda h: h.score, reverse=True)
        t = timings.add("rerank", t)
        result = diversify(hits, k, max_per_document=cfg.max_per_document, mmr_lambda=cfg.mmr_lambda)
        timings.add("diversify", t)
        self.last_timings = timings
        return result

    def _fuse(self, lexical: list[ChunkHit], dense: list[ChunkHit], cfg: RetrievalConfig) -> list[Hit]:
        table: dict[tuple[str, int], dict[str, object]] = {}
        for method, hits, weight in (
            ("lexical", lexical, cfg.lexical_weight),
            ("dense", dense, cfg.dense_weight),
        ):
            for rank, ch in enumerate(hits, start=1):
                key = (ch.chunk.document_id, ch.chunk.ordinal)
                row = table.setdefault(key, {"chunk": ch.chunk, "fused": 0.0})
                row[method] = ch.score
                row[f"rank_{method}"] = rank
                row["fused"] = float(row["fused"]) + weight / (cfg.rrf_k + rank)  # type: ignore[arg-type]
        docs = self.store.get_documents([key[0] for key in table])
        out: list[Hit] = []
        for key, row in table.items():
            doc = docs.get(key[0])
            if doc is None:  # deleted between the two queries
                continue
            fused = float(row["fused"])  # type: ignore[arg-type]
            out.append(
                Hit(
                    chunk=row["chunk"],  # type: ignore[arg-type]
                    document=doc,
                    score=fused,
                    lexical=row.get("lexical"),  # type: ignore[arg-type]
                    dense=row.get("dense"),  # type: ignore[arg-type]
                    fused=fused,
                    rank_lexical=row.get("rank_lexical"),  # type: ignore[arg-type]
                    rank_dense=row.get("rank_dense"),  # type: ignore[arg-type]
                )
            )
        return out

    @staticmethod
    def _weigh(hit: Hit, strength: float) -> Hit:
        doc = hit.document
        weight = evidence_weight(doc.kind, doc.publication_types, doc.year, doc.retracted)
        # Centred on a typical research paper (weight ~0.5) so evidence nudges, never dominates.
        factor = max(0.0, 1.0 + strength * (weight - 0.5))
        return replace(hit, evidence=weight, score=hit.score * factor)


def _words(hit: Hit) -> set[str]:
    return set(_WORD.findall(hit.chunk.text.lower())) or set(_WORD.findall(hit.document.title.lower()))


def diversify(
    hits: Sequence[Hit], k: int, *, max_per_document: int = 2, mmr_lambda: float = 0.85
) -> list[Hit]:
    """Greedy maximal marginal relevance with a per-document cap.

    Similarity is the Jaccard overlap of passage words: backend-independent and
    cheap, and near-duplicate passages (the same abstract in two sources, a
    chunk overlapping its neighbour) are exactly what it catches.
    """
    ranked = sorted(hits, key=lambda h: h.score, reverse=True)
    if not ranked:
        return []
    top = ranked[0].score or 1.0
    per_doc: dict[str, int] = {}
    chosen: list[Hit] = []
    chosen_words: list[set[str]] = []
    candidates = ranked[: max(k * 5, 50)]
    words = {id(h): _words(h) for h in candidates}
    while candidates and len(chosen) < k:
        best_i, best_val = -1, float("-inf")
        for i, hit in enumerate(candidates):
            if max_per_document and per_doc.get(hit.chunk.document_id, 0) >= max_per_document:
                continue
            w = words[id(hit)]
            sim = max((len(w & c) / (len(w | c) or 1) for c in chosen_words), default=0.0)
            value = mmr_lambda * (hit.score / top) - (1 - mmr_lambda) * sim
            if value > best_val:
                best_i, best_val = i, value
        if best_i < 0:
            break
        hit = candidates.pop(best_i)
        chosen.append(hit)
        chosen_words.append(words[id(hit)])
        per_doc[hit.chunk.document_id] = per_doc.get(hit.chunk.document_id, 0) + 1
    return chosen


def matching_span(hit: Hit, query: Query) -> tuple[int, int]:
    """Offsets (in the document body) of the chunk sentence that shares most words with the query.

    Shown under each search hit so a reader sees *why* it matched; falls back to
    the chunk's first sentence.
    """
    from curbside.chunking import split_sentences
    from curbside.questions import expand_terms

    wanted = {w for term in expand_terms(query) for w in _WORD.findall(term.lower())}
    text = hit.chunk.text
    best, best_score = (0, len(text)), -1.0
    for start, end in split_sentences(text):
        words = _WORD.findall(text[start:end].lower())
        score = sum(1 for w in words if w in wanted) / (1 + 0.02 * len(words))
        if score > best_score:
            best, best_score = (start, end), score
    return hit.chunk.start + best[0], hit.chunk.start + best[1]
