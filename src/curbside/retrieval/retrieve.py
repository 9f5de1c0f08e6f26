"""Hybrid retrieval: BM25 and dense kNN fused by reciprocal rank, then weighted and diversified.

Stages, each visible in the scores a :class:`~curbside.types.Hit` carries:

1. **lexical** — FTS5 BM25 for the question's own keywords (with their British and
   American spellings), plus, added at ``expansion_weight``, BM25 for its concepts'
   MeSH names, synonyms and narrower terms (:func:`curbside.retrieval.questions.split_terms`,
   :meth:`Store.search_text_weighted <curbside.store.base.Store.search_text_weighted>`):
   a paper that says "neutropenia" is found for "leucopenia", below the papers that
   say leukopenia;
2. **dense** — cosine kNN of the question embedding over chunk embeddings, run in a
   worker thread while the lexical query runs (``parallel``): the store's query and
   the embedding model both release the GIL, so the two lists cost the slower of them;
3. **fusion** — reciprocal-rank fusion (RRF) of the two lists over *document* ranks
   (a document ranks where its best chunk ranks), so a paper whose words match one
   paragraph and whose meaning matches another gets both votes; RRF is robust to
   the two scores living on different scales and needs no tuning per corpus;
4. **evidence** — a small multiplier from the evidence level and recency of the
   source (guideline > meta-analysis > RCT > cohort > case report), so that at
   about equal relevance stronger evidence ranks first; retracted sources are
   filtered in the store unless asked for;
5. **rerank** — a :class:`~curbside.retrieval.rerank.Reranker` (concept coverage by default);
6. **diversity** — maximal marginal relevance against near-duplicate passages in the
   first slots, and at most ``max_per_document`` chunks of one document in the
   top k (2 by default; 0 for no cap), so the top k is not one paper repeated.

``bench/retrieval.py`` measures each stage's contribution on PubMedQA (``--ablations``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Literal

from curbside.errors import ConfigError, QueryError
from curbside.retrieval.embeddings import Embedder
from curbside.retrieval.evidence import evidence_weight
from curbside.retrieval.questions import analyse, fts_expression, split_terms
from curbside.retrieval.rerank import ConceptCoverageReranker, Reranker
from curbside.retrieval.subject import with_word_counts
from curbside.store.base import ChunkHit, SearchFilters, Store
from curbside.types import Chunk, Hit, Query

Mode = Literal["hybrid", "bm25", "dense"]
#: Word overlap (Jaccard) below which MMR sees two passages as different.  Passages on the
#: same topic share a third of their words; fused scores of neighbouring ranks differ by
#: about 1 %, so penalising ordinary overlap would reorder by dissimilarity, not relevance.
MMR_OVERLAP_FLOOR = 0.5
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class RetrievalConfig:
    mode: Mode = "hybrid"
    candidates: int = 100  # fetched per method before fusion
    rrf_k: int = 60
    lexical_weight: float = 1.0
    dense_weight: float = 1.0
    evidence_strength: float = 0.05  # 0 disables evidence weighting (see Retriever._weigh)
    max_per_document: int = 2
    mmr_lambda: float = 0.85  # 1.0 disables MMR
    rerank: bool = True
    expansion_weight: float = 0.3  # BM25 of concept expansions, added at this weight
    fuse_documents: bool = True  # RRF over document ranks (see Retriever._fuse)
    parallel: bool = True  # embed + kNN in a worker thread while BM25 runs (stage 2 above)


@dataclass
class _Row:
    """One chunk's scores while fusing."""

    chunk: Chunk
    chunk_fused: float = 0.0
    fused: float = 0.0
    lexical: float | None = None
    dense: float | None = None
    rank_lexical: int | None = None
    rank_dense: int | None = None


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
        if not q.word_counts:
            # How rare each word is here weighs the question's subject (curbside.retrieval.subject): the
            # learned reranker was trained on queries carrying these counts, and must see them too.
            q = with_word_counts(q, self.store)
        t = timings.add("analyse", t)
        filters = filters_for(q)
        pool = max(cfg.candidates, k * 3)

        lexical: list[ChunkHit] = []
        dense: list[ChunkHit] = []
        if cfg.mode == "dense" and self.embedder is None:
            raise ConfigError("dense retrieval needs an embedder; run `curbside index` first")
        want_dense = cfg.mode != "bm25" and self.embedder is not None  # hybrid degrades to lexical
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="curbside-dense") as worker:
            pending: Future[tuple[list[ChunkHit], dict[str, float]]] | None = None
            if want_dense and cfg.parallel and cfg.mode == "hybrid":
                pending = worker.submit(self._dense, q.text, pool, filters)
            if cfg.mode in ("hybrid", "bm25"):
                lexical = self._lexical(q, pool, filters, cfg)
                t = timings.add("bm25", t)
            if pending is not None:
                dense, stages = pending.result()
                timings.stages.update(stages)
                t = timings.add("wait", t)  # what the dense thread took beyond the lexical query
            elif want_dense:
                dense, stages = self._dense(q.text, pool, filters)
                timings.stages.update(stages)
                t = time.perf_counter()

        lists = [
            ("lexical", lexical, cfg.lexical_weight),
            ("dense", dense, cfg.dense_weight),
        ]
        # Later stages scale a score by 0.6 to 1.03 (rerank floor, evidence), so a chunk
        # past the best max(5k, 50) fused would need nearly every chunk above it to lose 40 %
        # to reach the top k; not loading those documents saves most of the fusion time.
        hits = self._fuse(lists, cfg, min(pool, max(5 * k, 50)))
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

    def search_match(self, match: str, k: int, filters: SearchFilters | None = None) -> list[Hit]:
        """Hits for one full-text ``match`` expression, best first, one chunk per document.

        The sub-queries of :mod:`curbside.retrieval.facets` run here: a boolean expression ("the condition AND
        a cause word") says what it wants exactly, so neither the dense index nor the reranker,
        which read the whole question, has a say; evidence strength still nudges as in :meth:`search`.
        """
        cfg = self.config
        found = self.store.search_text(match, max(3 * k, 30), filters)
        hits = self._fuse([("lexical", found, 1.0)], cfg, max(3 * k, 30))
        if cfg.evidence_strength:
            hits = [self._weigh(h, cfg.evidence_strength) for h in hits]
        hits.sort(key=lambda h: h.score, reverse=True)
        seen: set[str] = set()
        out: list[Hit] = []
        for h in hits:
            if h.document.id not in seen:
                seen.add(h.document.id)
                out.append(h)
        return out[:k]

    def _lexical(self, q: Query, pool: int, filters: SearchFilters, cfg: RetrievalConfig) -> list[ChunkHit]:
        own, added = split_terms(q)
        primary, secondary = fts_expression(own), fts_expression(added)
        if primary is None:  # only concepts (an abbreviation such as "ALL"): they are the question
            primary, secondary = secondary, None
        if primary is None:
            raise QueryError(f"the query has no searchable words: {q.text!r}")
        if secondary is None or cfg.expansion_weight <= 0:
            return self.store.search_text(primary, pool, filters)
        return self.store.search_text_weighted(
            [(primary, 1.0), (secondary, cfg.expansion_weight)], pool, filters
        )

    def _dense(self, text: str, pool: int, filters: SearchFilters) -> tuple[list[ChunkHit], dict[str, float]]:
        """kNN of the question's embedding, with the stage timings (it may run in a worker thread)."""
        assert self.embedder is not None
        started = time.perf_counter()
        vector = self.embedder.embed([text])[0]
        embedded = time.perf_counter()
        hits = self.store.search_vector(self.embedder.name, vector, pool, filters)
        done = time.perf_counter()
        return hits, {"embed": (embedded - started) * 1000, "knn": (done - embedded) * 1000}

    def _fuse(
        self, lists: Sequence[tuple[str, list[ChunkHit], float]], cfg: RetrievalConfig, keep: int
    ) -> list[Hit]:
        """Reciprocal-rank fusion of the two lists; the best ``keep`` fused chunks become hits.

        With ``cfg.fuse_documents`` (the default) the ranks fused are *document*
        ranks (a document ranks where its best chunk ranks in that list), so a
        paper whose methods paragraph matches the words and whose results
        paragraph matches the meaning still gets both votes; each chunk then
        scores its document's fused score scaled by how its own chunk-level
        fusion compares with the document's best chunk.
        """
        rows: dict[tuple[str, int], _Row] = {}
        doc_fused: dict[str, float] = {}
        for method, hits, weight in lists:
            doc_rank: dict[str, int] = {}
            for rank, ch in enumerate(hits, start=1):
                key = (ch.chunk.document_id, ch.chunk.ordinal)
                row = rows.get(key)
                if row is None:
                    row = rows[key] = _Row(ch.chunk)
                row.chunk_fused += weight / (cfg.rrf_k + rank)
                if method == "dense":
                    row.dense, row.rank_dense = ch.score, rank
                else:
                    row.lexical, row.rank_lexical = ch.score, rank
                doc_rank.setdefault(ch.chunk.document_id, len(doc_rank) + 1)
            for doc_id, rank in doc_rank.items():
                doc_fused[doc_id] = doc_fused.get(doc_id, 0.0) + weight / (cfg.rrf_k + rank)
        if cfg.fuse_documents:
            best: dict[str, float] = {}
            for (doc_id, _), row in rows.items():
                best[doc_id] = max(best.get(doc_id, 0.0), row.chunk_fused)
            for (doc_id, _), row in rows.items():
                row.fused = doc_fused[doc_id] * row.chunk_fused / best[doc_id]
        else:
            for row in rows.values():
                row.fused = row.chunk_fused
        kept = sorted(rows.values(), key=lambda r: r.fused, reverse=True)[:keep]
        docs = self.store.get_documents([r.chunk.document_id for r in kept])
        out: list[Hit] = []
        for row in kept:
            doc = docs.get(row.chunk.document_id)
            if doc is None:  # deleted between the two queries
                continue
            out.append(
                Hit(
                    chunk=row.chunk,
                    document=doc,
                    score=row.fused,
                    lexical=row.lexical,
                    dense=row.dense,
                    fused=row.fused,
                    rank_lexical=row.rank_lexical,
                    rank_dense=row.rank_dense,
                )
            )
        return out

    @staticmethod
    def _weigh(hit: Hit, strength: float) -> Hit:
        doc = hit.document
        weight = evidence_weight(doc.kind, doc.publication_types, doc.year, doc.retracted)
        # Centred on a typical research paper (weight ~0.5) so evidence nudges, never dominates:
        # neighbouring fused (RRF) scores differ by 1-2 %, so the default strength of 0.05
        # (at most +-2.5 %) moves a source a rank or two, and 0.2 would move it ten.
        factor = max(0.0, 1.0 + strength * (weight - 0.5))
        return replace(hit, evidence=weight, score=hit.score * factor)


def _words(hit: Hit) -> frozenset[str]:
    return frozenset(_WORD.findall(hit.chunk.text.lower())) or frozenset(
        _WORD.findall(hit.document.title.lower())
    )


def _jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter or 1)


def diversify(
    hits: Sequence[Hit],
    k: int,
    *,
    max_per_document: int = 2,
    mmr_lambda: float = 0.85,
    mmr_depth: int = 20,
) -> list[Hit]:
    """The top ``k`` of ``hits``: maximal marginal relevance for the first slots, a per-document cap on all.

    Similarity is the Jaccard overlap of passage words: backend-independent and
    cheap, and near-duplicate passages (the same abstract in two sources, a
    chunk overlapping its neighbour) are exactly what it catches.  Only overlap
    above :data:`MMR_OVERLAP_FLOOR` counts, rescaled to 0..1.

    MMR picks the first ``mmr_depth`` slots (the ones a reader sees) from the
    best ``3 x mmr_depth`` (at least 50) candidates, keeping for each candidate
    its largest similarity to what is already chosen, so one pick costs one
    comparison per candidate; the remaining slots follow the score order.
    ``max_per_document`` (0: no cap) holds everywhere: no document fills more
    than that many of the ``k`` slots.
    """
    ranked = sorted(hits, key=lambda h: h.score, reverse=True)
    if not ranked or k < 1:
        return []
    per_doc: dict[str, int] = {}

    def capped(hit: Hit) -> bool:
        return bool(max_per_document) and per_doc.get(hit.chunk.document_id, 0) >= max_per_document

    chosen: list[Hit] = []
    taken: set[int] = set()

    def take(i: int) -> None:
        taken.add(i)
        chosen.append(ranked[i])
        doc_id = ranked[i].chunk.document_id
        per_doc[doc_id] = per_doc.get(doc_id, 0) + 1

    picks = min(k, mmr_depth) if mmr_lambda < 1.0 else 0
    if picks:
        top = ranked[0].score or 1.0
        pool = list(range(min(len(ranked), max(3 * mmr_depth, 50))))
        words = {i: _words(ranked[i]) for i in pool}
        max_sim = dict.fromkeys(pool, 0.0)
        while pool and len(chosen) < picks:
            best_i, best_val = -1, float("-inf")
            for i in pool:
                if capped(ranked[i]):
                    continue
                overlap = max(0.0, (max_sim[i] - MMR_OVERLAP_FLOOR) / (1 - MMR_OVERLAP_FLOOR))
                value = mmr_lambda * (ranked[i].score / top) - (1 - mmr_lambda) * overlap
                if value > best_val:
                    best_i, best_val = i, value
            if best_i < 0:
                break
            pool.remove(best_i)
            take(best_i)
            new = words[best_i]
            for i in pool:
                max_sim[i] = max(max_sim[i], _jaccard(words[i], new))
    for i, hit in enumerate(ranked):
        if len(chosen) >= k:
            break
        if i not in taken and not capped(hit):
            take(i)
    return chosen


def matching_span(hit: Hit, query: Query) -> tuple[int, int]:
    """Offsets (in the document body) of the chunk sentence that shares most words with the query.

    Shown under each search hit so a reader sees *why* it matched; falls back to
    the chunk's first sentence.
    """
    from curbside.ingestion.chunking import split_sentences
    from curbside.retrieval.questions import expand_terms

    wanted = {w for term in expand_terms(query) for w in _WORD.findall(term.lower())}
    text = hit.chunk.text
    best, best_score = (0, len(text)), -1.0
    for start, end in split_sentences(text):
        words = _WORD.findall(text[start:end].lower())
        score = sum(1 for w in words if w in wanted) / (1 + 0.02 * len(words))
        if score > best_score:
            best, best_score = (start, end), score
    return hit.chunk.start + best[0], hit.chunk.start + best[1]
