"""Hybrid retrieval on real SQLite stores: fusion, expansion, filters, evidence, diversity, errors.

Every test runs twice: on the SQLite store, and on the same store with its chunk search in Milvus
(a milvus-lite file, filled as `curbside index` fills it; skipped, saying why, without the milvus
extra), so that both engines give the retriever what it needs."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from _milvus import open_synced
from conftest import make_doc
from curbside import api
from curbside.config import Settings
from curbside.errors import ConfigError, QueryError
from curbside.retrieval.questions import Vocabulary, analyse
from curbside.retrieval.retrieve import RetrievalConfig, Retriever, diversify, matching_span
from curbside.store.base import Batch, ChunkHit, FileProgress, merge_scores
from curbside.store.sqlite import SQLiteStore
from curbside.testing import FakeEmbedder
from curbside.types import Chunk, Document, Hit, Section


@pytest.fixture(params=["sqlite", "milvus"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SQLiteStore]:
    location = str(tmp_path / "store.db")
    if request.param == "milvus":
        opened: Any = open_synced(location, Settings(db=location), tmp_path)
    else:
        opened = SQLiteStore(location)
    yield opened  # typed as the SQLite store the tests were written for; the Milvus one quacks alike
    opened.close()


@pytest.fixture(scope="module")
def vocab() -> Vocabulary:
    # The built-in concepts only: tests must not depend on whether the shared MeSH list is present.
    return Vocabulary.builtin()


def write(store: SQLiteStore, docs: list[Document]) -> None:
    fp = store.file_progress("k") or FileProgress(key="k", path="test", source_type="test")
    store.write_batch(Batch(fp, documents=docs, records=len(docs)))


def doc(n: int, title: str, *texts: str, **kw: object) -> Document:
    sections = tuple(Section(t, "") for t in texts) or (Section(f"Text of document {n}.", ""),)
    return make_doc(n, title=title, sections=sections, mesh=(), **kw)


def embed_all(store: SQLiteStore, embedder: FakeEmbedder) -> None:
    todo = store.chunks_to_embed(embedder.name, 10_000)
    store.put_vectors(embedder.name, [k for k, _ in todo], embedder.embed([t for _, t in todo]))


@pytest.fixture
def corpus(store: SQLiteStore) -> SQLiteStore:
    write(
        store,
        [
            doc(1, "Drug-induced leukopenia", "Clozapine and carbamazepine cause leukopenia in adults."),
            doc(2, "Leukopenia after chemotherapy", "Chemotherapy is the commonest cause of leukopenia."),
            doc(3, "Hip fracture surgery", "Early surgery after hip fracture lowers mortality."),
            doc(4, "Asthma in children", "Inhaled corticosteroids control asthma in children."),
            doc(5, "Neutropenic fever", "Febrile neutropenia needs antibiotics within one hour."),
        ],
    )
    return store


def ids(hits: list[Hit]) -> list[str]:
    return [h.document.id for h in hits]


def search(store: SQLiteStore, text: str, vocab: Vocabulary, k: int = 10, **cfg: object) -> list[Hit]:
    embedder = FakeEmbedder()
    embed_all(store, embedder)
    retriever = Retriever(store, embedder)
    return retriever.search(analyse(text, vocabulary=vocab), k, config=replace(retriever.config, **cfg))


# -- stages ---------------------------------------------------------------------------------------


def test_hybrid_hits_carry_every_score(corpus: SQLiteStore, vocab: Vocabulary) -> None:
    hits = search(corpus, "What causes leukopenia?", vocab)
    assert set(ids(hits)[:2]) == {"pmid:1", "pmid:2"}
    top = hits[0]
    assert top.lexical is not None and top.dense is not None
    assert top.rank_lexical is not None and top.rank_dense is not None
    assert top.fused > 0 and top.rerank is not None and top.evidence > 0
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_british_spelling_finds_american_articles(corpus: SQLiteStore, vocab: Vocabulary) -> None:
    hits = search(corpus, "causes of leucopenia", vocab, mode="bm25")
    assert set(ids(hits)[:2]) == {"pmid:1", "pmid:2"}
    assert all(h.dense is None for h in hits)


def test_narrower_terms_are_searched_but_weigh_less(corpus: SQLiteStore, vocab: Vocabulary) -> None:
    # Leukopenia's narrower term "febrile neutropenia" brings in document 5, below the direct matches.
    found = ids(search(corpus, "leucopenia", vocab, mode="bm25"))
    assert found[:2] in (["pmid:1", "pmid:2"], ["pmid:2", "pmid:1"])
    assert "pmid:5" in found
    without = ids(search(corpus, "leucopenia", vocab, mode="bm25", expansion_weight=0.0))
    assert "pmid:5" not in without


def test_dense_mode_needs_an_embedder(corpus: SQLiteStore, vocab: Vocabulary) -> None:
    retriever = Retriever(corpus, None)
    with pytest.raises(ConfigError, match="embedder"):
        retriever.search("leukopenia", 5, config=RetrievalConfig(mode="dense"))
    # Hybrid without an embedder degrades to lexical only.
    assert ids(retriever.search(analyse("leukopenia", vocabulary=vocab), 5))[:1] in (["pmid:1"], ["pmid:2"])


def test_dense_mode_finds_by_meaning_alone(corpus: SQLiteStore, vocab: Vocabulary) -> None:
    hits = search(corpus, "inhaled corticosteroids asthma", vocab, mode="dense")
    assert ids(hits)[0] == "pmid:4"
    assert hits[0].lexical is None and hits[0].dense is not None


def test_timings_name_every_stage(corpus: SQLiteStore, vocab: Vocabulary) -> None:
    embedder = FakeEmbedder()
    embed_all(corpus, embedder)
    retriever = Retriever(corpus, embedder)
    retriever.search("leukopenia", 3)
    assert set(retriever.last_timings.stages) >= {"analyse", "bm25", "embed", "knn", "fuse", "rerank"}


def test_parallel_and_sequential_retrieval_agree(corpus: SQLiteStore, vocab: Vocabulary) -> None:
    embedder = FakeEmbedder()
    embed_all(corpus, embedder)
    retriever = Retriever(corpus, embedder)
    q = analyse("What causes leukopenia?", vocabulary=vocab)
    together = retriever.search(q, 5)
    assert "wait" in retriever.last_timings.stages  # the dense list came from the worker thread
    alone = retriever.search(q, 5, config=RetrievalConfig(parallel=False))
    assert "wait" not in retriever.last_timings.stages
    assert [(h.chunk.id, h.score) for h in together] == [(h.chunk.id, h.score) for h in alone]


def test_an_error_in_the_dense_thread_reaches_the_caller(corpus: SQLiteStore) -> None:
    class Broken(FakeEmbedder):
        def embed(self, texts: list[str]) -> np.ndarray:  # type: ignore[override]
            raise ConfigError("embedding model went away")

    with pytest.raises(ConfigError, match="went away"):
        Retriever(corpus, Broken()).search("leukopenia", 3)


def test_document_fusion_gives_a_paper_both_votes(store: SQLiteStore, vocab: Vocabulary) -> None:
    """Words match one paragraph of a paper, meaning another: the paper still gets both RRF votes."""
    write(store, [doc(1, "A", "x"), doc(2, "B", "y"), doc(3, "C", "z")])
    retriever = Retriever(store, None)

    def ch(n: int, ordinal: int = 0) -> ChunkHit:
        return ChunkHit(Chunk(f"pmid:{n}", ordinal, "", 0, 1, "x"), 1.0, "")

    # Paper 1 ranks 2nd in both lists, through different chunks; papers 2 and 3 rank 1st in one each.
    lexical = [ch(2), ch(1, 0)]
    dense = [ch(3), ch(1, 1)]
    lists = [("lexical", lexical, 1.0), ("dense", dense, 1.0)]
    by_doc = retriever._fuse(lists, RetrievalConfig(), 10)
    assert ids(sorted(by_doc, key=lambda h: -h.score))[0] == "pmid:1"
    by_chunk = retriever._fuse(lists, RetrievalConfig(fuse_documents=False), 10)
    assert ids(sorted(by_chunk, key=lambda h: -h.score))[0] != "pmid:1"


def test_merge_scores_adds_the_expansion_at_its_weight() -> None:
    def ch(n: int, score: float) -> ChunkHit:
        return ChunkHit(Chunk(f"pmid:{n}", 0, "", 0, 1, "x"), score, "")

    merged = merge_scores([([ch(1, 5.0), ch(2, 4.0)], 1.0), ([ch(2, 4.0), ch(3, 9.0)], 0.5)], 10)
    assert [(h.chunk.document_id, h.score) for h in merged] == [
        ("pmid:2", 6.0),
        ("pmid:1", 5.0),
        ("pmid:3", 4.5),
    ]
    assert len(merge_scores([([ch(1, 5.0), ch(2, 4.0)], 1.0), ([ch(3, 1.0)], 0.5)], 2)) == 2


# -- filters and evidence -------------------------------------------------------------------------


def test_year_and_type_filters(store: SQLiteStore, vocab: Vocabulary) -> None:
    write(
        store,
        [
            doc(1, "Leukopenia review", "Leukopenia causes.", year=2001, publication_types=("Review",)),
            doc(2, "Leukopenia trial", "Leukopenia causes.", year=2015),
            doc(3, "Leukopenia cohort", "Leukopenia causes.", year=2022),
        ],
    )
    assert set(ids(search(store, "leukopenia", vocab, mode="bm25"))) == {"pmid:1", "pmid:2", "pmid:3"}
    q = analyse("leukopenia", vocabulary=vocab, year_from=2010)
    assert set(ids(Retriever(store, None).search(q, 10))) == {"pmid:2", "pmid:3"}
    q = analyse("leukopenia", vocabulary=vocab, publication_types=["review"])
    assert ids(Retriever(store, None).search(q, 10)) == ["pmid:1"]


def test_filters_still_return_k_hits_when_the_best_matches_are_filtered_out(
    store: SQLiteStore, vocab: Vocabulary
) -> None:
    # The 30 best BM25 matches (short, dense in the word) are all too old for the filter.
    old = [doc(n, f"Leukopenia {n}", "Leukopenia leukopenia.", year=1980) for n in range(1, 31)]
    new = [
        doc(
            n, f"Report {n}", "A long report that mentions leukopenia once among many other words.", year=2020
        )
        for n in range(31, 41)
    ]
    write(store, old + new)
    q = analyse("leukopenia", vocabulary=vocab, year_from=2000)
    hits = Retriever(store, None).search(q, 8, config=RetrievalConfig(mode="bm25", candidates=8))
    assert len(hits) == 8 and all(h.document.year == 2020 for h in hits)


def test_retracted_documents_are_left_out_unless_asked(store: SQLiteStore, vocab: Vocabulary) -> None:
    write(store, [doc(1, "Leukopenia", "Leukopenia."), doc(2, "Leukopenia again", "Leukopenia.")])
    store.mark_retracted(["pmid:2"])
    q = analyse("leukopenia", vocabulary=vocab)
    assert ids(Retriever(store, None).search(q, 5)) == ["pmid:1"]
    both = Retriever(store, None).search(replace(q, exclude_retracted=False), 5)
    assert set(ids(both)) == {"pmid:1", "pmid:2"}
    assert next(h for h in both if h.document.id == "pmid:2").evidence == 0.0


def test_evidence_breaks_ties_towards_stronger_designs(store: SQLiteStore, vocab: Vocabulary) -> None:
    text = "Leukopenia after clozapine."
    write(
        store,
        [
            doc(1, "Leukopenia and clozapine", text, publication_types=("Case Reports",)),
            doc(2, "Leukopenia and clozapine", text, publication_types=("Meta-Analysis",)),
        ],
    )
    q = analyse("clozapine leukopenia", vocabulary=vocab)
    hits = Retriever(store, None).search(q, 5, config=RetrievalConfig(mmr_lambda=1.0))
    assert ids(hits) == ["pmid:2", "pmid:1"]
    assert hits[0].evidence > hits[1].evidence


# -- diversity ------------------------------------------------------------------------------------


def _hit(n: int, ordinal: int, score: float, text: str) -> Hit:
    document = make_doc(n, title=f"Report {n}")
    return Hit(chunk=Chunk(document.id, ordinal, "", 0, len(text), text), document=document, score=score)


def test_one_document_at_most_twice_unless_asked(store: SQLiteStore, vocab: Vocabulary) -> None:
    long = " ".join(f"Leukopenia finding number {i} was seen after chemotherapy." for i in range(60))
    write(
        store,
        [doc(1, "Leukopenia", long), doc(2, "Leukopenia too", "Leukopenia."), doc(3, "X", "Leukopenia")],
    )
    assert len(store.chunks("pmid:1")) >= 3
    hits = search(store, "leukopenia chemotherapy", vocab, k=10)
    assert ids(hits).count("pmid:1") == 2
    uncapped = search(store, "leukopenia chemotherapy", vocab, k=10, max_per_document=0)
    assert ids(uncapped).count("pmid:1") == len(store.chunks("pmid:1"))


def test_diversify_caps_documents_and_keeps_k() -> None:
    hits = [_hit(1, i, 10 - i, f"passage {i} alpha") for i in range(5)] + [_hit(2, 0, 1.0, "beta")]
    out = diversify(hits, 3, max_per_document=2, mmr_lambda=1.0)
    assert [(h.document.id, h.chunk.ordinal) for h in out] == [("pmid:1", 0), ("pmid:1", 1), ("pmid:2", 0)]
    assert len(diversify(hits, 10, max_per_document=0)) == 6
    assert diversify([], 5) == [] and diversify(hits, 0) == []


def test_mmr_moves_a_near_duplicate_down() -> None:
    same = "clozapine causes agranulocytosis in a small share of patients"
    hits = [
        _hit(1, 0, 1.00, same),
        _hit(2, 0, 0.99, same + " treated"),
        _hit(3, 0, 0.95, "carbamazepine lowers white cell counts in epilepsy"),
    ]
    assert ids(diversify(hits, 3, mmr_lambda=1.0)) == ["pmid:1", "pmid:2", "pmid:3"]
    assert ids(diversify(hits, 3, mmr_lambda=0.7)) == ["pmid:1", "pmid:3", "pmid:2"]
    # Past mmr_depth the score order holds.
    assert ids(diversify(hits, 3, mmr_lambda=0.7, mmr_depth=1)) == ["pmid:1", "pmid:2", "pmid:3"]


def test_matching_span_points_at_the_best_sentence(corpus: SQLiteStore, vocab: Vocabulary) -> None:
    write(corpus, [doc(9, "Mixed", "Hip surgery was early. Clozapine caused leukopenia in three.")])
    q = analyse("clozapine leukopenia", vocabulary=vocab)
    hit = next(h for h in Retriever(corpus, None).search(q, 10) if h.document.id == "pmid:9")
    start, end = matching_span(hit, q)
    assert hit.document.body[start:end] == "Clozapine caused leukopenia in three."


# -- queries that cannot be searched --------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "what is the of and to", "?!"])
def test_unsearchable_queries_are_query_errors(corpus: SQLiteStore, text: str) -> None:
    with pytest.raises(QueryError):
        Retriever(corpus, None).search(text, 5)


def test_a_10000_character_query_is_a_query_error(corpus: SQLiteStore) -> None:
    with pytest.raises(QueryError, match="characters long"):
        Retriever(corpus, None).search("leukopenia " * 910, 5)


def test_api_search_falls_back_to_bm25_without_vectors(corpus: SQLiteStore, tmp_path: Path) -> None:
    found = api.search("causes of leucopenia", store=corpus)
    assert set(ids(found.hits)[:2]) == {"pmid:1", "pmid:2"}
    assert found.query.qtype == "causes" and "embed" not in found.timings
    assert (found.mode, found.warnings) == ("bm25", ())  # a BM25-only store is a choice, not a fault
    asked = api.search("causes of leucopenia", store=corpus, mode="hybrid")
    assert asked.mode == "bm25" and "no dense index yet" in asked.warnings[0]
    with pytest.raises(ConfigError, match="curbside index"):
        api.search("causes of leucopenia", store=corpus, mode="dense")


def test_a_partial_dense_index_is_bm25_until_complete_and_says_how_far(corpus: SQLiteStore) -> None:
    settings = Settings(embedder="fake")
    api.index(store=corpus, settings=settings, limit=2)
    coverage = corpus.vector_coverage(FakeEmbedder().name)
    assert (coverage.embedded, coverage.chunks) == (2, 5)
    found = api.search("causes of leucopenia", store=corpus, settings=settings)
    assert found.mode == "bm25" and "dense" not in found.timings
    assert found.warnings == (
        "dense index covers 40% of chunks (2 of 5); run `curbside index` to finish. "
        "Until then retrieval is BM25 only (--mode hybrid uses the partial index).",
    )
    hybrid = api.search("causes of leucopenia", store=corpus, settings=settings, mode="hybrid")
    assert hybrid.mode == "hybrid" and "found by BM25 only" in hybrid.warnings[0]
    article = api.ask("What are the causes of leukopenia?", store=corpus, settings=settings)
    assert [w.code for w in article.warnings if w.code == "partial-index"] == ["partial-index"]
    assert article.metadata["retrieval"]["mode"] == "bm25"
    api.index(store=corpus, settings=settings)
    complete = api.search("causes of leucopenia", store=corpus, settings=settings)
    assert (complete.mode, complete.warnings) == ("hybrid", ())
    assert not [
        w
        for w in api.ask("What causes leukopenia?", store=corpus, settings=settings).warnings
        if w.code == "partial-index"
    ]


# -- reranker -------------------------------------------------------------------------------------


def test_concept_reranker_rewards_passages_covering_every_concept(vocab: Vocabulary) -> None:
    from curbside.retrieval.rerank import ConceptCoverageReranker, NoReranker

    q = analyse("clozapine leucopenia", vocabulary=vocab)
    both = _hit(1, 0, 1.0, "Clozapine caused leukopenic episodes.")  # "leukopenic" meets "leukopenia"
    one = _hit(2, 0, 1.1, "Clozapine dosing in schizophrenia.")
    ranked = ConceptCoverageReranker().rerank(q, [one, both])
    assert [h.document.id for h in ranked] == ["pmid:1", "pmid:2"]
    assert ranked[0].rerank == 1.0 and ranked[1].rerank == pytest.approx(0.8)
    assert ranked[1].score == pytest.approx(1.1 * 0.8)
    assert [h.document.id for h in NoReranker().rerank(q, [both, one])] == ["pmid:2", "pmid:1"]


def test_reranker_falls_back_to_keywords_without_concepts() -> None:
    from curbside.retrieval.rerank import ConceptCoverageReranker

    q = analyse("zorblatt quexine", vocabulary=Vocabulary())
    assert q.concepts == ()
    ranked = ConceptCoverageReranker().rerank(
        q, [_hit(1, 0, 1.0, "zorblatt only"), _hit(2, 0, 0.9, "zorblatts and quexines")]
    )
    assert [(h.document.id, h.rerank) for h in ranked] == [("pmid:2", 1.0), ("pmid:1", pytest.approx(0.8))]


def test_dense_filters_return_k_hits_when_the_nearest_are_filtered_out(
    store: SQLiteStore, vocab: Vocabulary
) -> None:
    near = [doc(n, f"Leukopenia {n}", "Leukopenia after clozapine.", year=1980) for n in range(1, 41)]
    far = [doc(n, f"Other {n}", f"Unrelated topic number {n}.", year=2020) for n in range(41, 49)]
    write(store, near + far)
    q = analyse("leukopenia after clozapine", vocabulary=vocab, year_from=2000)
    hits = search(store, q.text, vocab, mode="dense", candidates=5)
    assert len({h.document.id for h in hits}) > 5  # unfiltered sanity: the 1980 papers are nearest
    embedder = FakeEmbedder()
    retriever = Retriever(store, embedder)
    filtered = retriever.search(q, 6, config=RetrievalConfig(mode="dense", candidates=6, mmr_lambda=1.0))
    assert len(filtered) == 6 and all(h.document.year == 2020 for h in filtered)
