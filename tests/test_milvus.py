"""Chunk search in Milvus (milvus-lite files): the FTS5 subset, filling, repair, errors, CLI paths.

The store contract itself runs against Milvus in tests/test_store.py (``milvus`` backend); this
module covers what only the Milvus engine has.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from _milvus import milvus_available
from conftest import make_doc
from curbside import api
from curbside.config import Settings
from curbside.errors import ConfigError, SearchEngineError, StoreError
from curbside.store import open_store, search_engine_of
from curbside.store.base import Batch, FileProgress, SearchFilters, Store
from curbside.store.fts import indexed_text, parse, positions_of, tokens, words
from curbside.store.milvus import MilvusStore, client_target, filter_expression, sync
from curbside.testing import FakeEmbedder
from curbside.types import Document, Section

# --- the FTS5 subset (no Milvus needed) ----------------------------------------------------------


def _matches(match: str, text: str) -> bool:
    return parse(match).matches(positions_of(tokens(text)))


def test_tokens_fold_case_accents_and_stem_as_fts5_porter_does() -> None:
    import sqlite3

    text = "Leukopenias, NEUTROPENIC fever; Sjögren's 2nd s as is was ties caring hopping agreed"
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(x, tokenize='porter unicode61 remove_diacritics 2')")
    db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'row')")
    db.execute("INSERT INTO t VALUES (?)", (text,))
    assert sorted(set(tokens(text))) == [term for (term,) in db.execute("SELECT term FROM v ORDER BY term")]
    assert tokens("Leukopenias, NEUTROPENIC fever; Sjögren's 2nd") == [
        "leukopenia",
        "neutropen",
        "fever",
        "sjogren",
        "s",
        "2nd",
    ]
    assert indexed_text("Hip", "Fractures") == "hip hip fractur"


def test_expressions_keep_their_fts5_meaning() -> None:
    text = "Agranulocytosis after clozapine therapy."
    assert _matches('"clozapine" OR "radiotherapy"', text)
    assert not _matches('"clozapine" AND "radiotherapy"', text)
    assert not _matches("clozapine radiotherapy", text)  # implicit AND
    assert _matches('"after clozapine"', text) and not _matches('"clozapine after"', text)
    assert _matches('"clozapine" NOT "radiotherapy"', text)
    assert not _matches('"clozapine" NOT "therapy"', text)  # stemmed alike: therapies, therapy
    # AND binds tighter than OR, as in FTS5.
    assert _matches('"radiotherapy" AND "breast" OR "clozapine"', text)
    assert not _matches('"radiotherapy" AND ("breast" OR "clozapine")', text)
    assert words(parse('("a b" OR "c") AND "d" NOT "e"')) == ["a", "b", "c", "d"]


@pytest.mark.parametrize(
    ("match", "why"),
    [
        ('"unclosed', "cannot read"),
        ("lympho*", "prefix"),
        ('"a" NEAR "b"', "NEAR"),
        ('("a" OR "b"', "unclosed parenthesis"),
        ('"a" OR', "nothing to join"),
        ('NOT "a"', "on its left"),
        ('"a" )', "unexpected"),
    ],
)
def test_what_the_engine_cannot_honour_is_a_store_error(match: str, why: str) -> None:
    with pytest.raises(StoreError, match=why):
        parse(match)


def test_settings_name_the_engine_and_its_filters() -> None:
    assert client_target("milvus://db.example:19530") == ("http://db.example:19530", False)
    assert client_target("milvus+https://db.example:443") == ("https://db.example:443", False)
    assert client_target("/data/search.db") == ("/data/search.db", True)
    with pytest.raises(SearchEngineError, match=r"must end in \.db"):
        client_target("/data/search")
    with pytest.raises(SearchEngineError, match="unknown scheme"):
        client_target("elastic://x")
    assert search_engine_of("milvus+https://x") == search_engine_of("/a/b.db") == "milvus"
    assert filter_expression(None) == ""
    where = filter_expression(
        SearchFilters(year_from=2000, year_to=2010, kinds=("rct",), publication_types=("Review",))
    )
    assert where == (
        'year >= 2000 and year <= 2010 and kind in ["rct"] and ARRAY_CONTAINS_ANY(pub_types, ["review"]) '
        "and retracted == false"
    )


def test_an_unknown_engine_is_a_config_error_and_the_store_stays_closed(tmp_path: Path) -> None:
    settings = Settings(db=str(tmp_path / "s.db"), search="elastic://x:9200")
    with pytest.raises(ConfigError, match="no search engine for CURBSIDE_SEARCH='elastic://x:9200'"):
        open_store(settings.db, settings)


# --- milvus-lite --------------------------------------------------------------------------------


def _write(store: Store, docs: list[Document], deletions: list[str] | None = None) -> None:
    fp = store.file_progress("k") or FileProgress(key="k", path="test", source_type="test")
    store.write_batch(
        Batch(fp, documents=docs, deletions=deletions or [], records=len(docs) + len(deletions or []))
    )


def _milvus(tmp_path: Path, **kw: object) -> tuple[MilvusStore, Settings]:
    milvus_available()
    settings = Settings(
        db=str(tmp_path / "s.db"),
        search=str(tmp_path / "milvus.db"),
        embedder="fake",
        cache_dir=tmp_path,
        **kw,
    )
    store = open_store(settings.db, settings)
    assert isinstance(store, MilvusStore)
    return store, settings


def _embed(store: MilvusStore) -> FakeEmbedder:
    embedder = FakeEmbedder()
    todo = store.chunks_to_embed(embedder.name, 1000)
    if todo:
        store.put_vectors(embedder.name, [k for k, _ in todo], embedder.embed([t for _, t in todo]))
    return embedder


def test_fill_is_idempotent_repairs_a_half_filled_collection_and_follows_the_store(tmp_path: Path) -> None:
    store, _ = _milvus(tmp_path)
    try:
        _write(store, [make_doc(i) for i in range(1, 8)])
        embedder = _embed(store)
        chunks = store.stats().chunks
        first = sync(store.inner, store.search, embedder.name, embedder.dim, batch=4)
        assert (first.rows, first.upserted, first.deleted) == (chunks, chunks, 0)
        again = sync(store.inner, store.search, embedder.name, embedder.dim, batch=4)
        assert (again.upserted, again.deleted) == (0, 0)  # nothing changed: nothing sent
        # A fill killed halfway leaves rows missing: the next one sends exactly those.
        held = sorted(store.search.digests(0, 10**9))
        store.search.delete(held[:5])
        repaired = sync(store.inner, store.search, embedder.name, embedder.dim, batch=4)
        assert (repaired.upserted, repaired.deleted) == (5, 0)
        assert store.search.count() == chunks
        # Deleted, changed and retracted documents reach Milvus on the next fill.
        _write(store, [make_doc(2, text="Changed: lymphopenia after radiotherapy.")], deletions=["pmid:1"])
        store.mark_retracted(["pmid:3"])
        _embed(store)
        changed = sync(store.inner, store.search, embedder.name, embedder.dim, batch=4)
        assert changed.deleted >= 1 and changed.upserted >= 2
        assert store.search.count() == store.stats().chunks
        found = {
            h.chunk.document_id
            for h in store.search_text('"leukopenia" OR "lymphopenia"', 20, SearchFilters())
        }
        assert "pmid:1" not in found and "pmid:3" not in found  # deleted; retracted (filtered by default)
        assert "pmid:3" in {
            h.chunk.document_id
            for h in store.search_text('"leukopenia"', 20, SearchFilters(exclude_retracted=False))
        }
        assert [h.chunk.document_id for h in store.search_text('"radiotherapy"', 5)] == ["pmid:2"]
        # Rows past the store's last chunk (a store emptied behind Milvus's back) are removed.
        _write(store, [], deletions=[f"pmid:{i}" for i in range(2, 8)])
        emptied = sync(store.inner, store.search, embedder.name, embedder.dim)
        assert emptied.rows == 0 and store.search.count() == 0
    finally:
        store.close()


def test_milvus_ranks_as_the_store_does(tmp_path: Path) -> None:
    store, _ = _milvus(tmp_path)
    try:
        texts = [
            ("Drug-induced leukopenia", "Clozapine and carbamazepine cause leukopenia in adults."),
            ("Leukopenia after chemotherapy", "Chemotherapy is the commonest cause of leukopenia."),
            ("Hip fracture surgery", "Early surgery after hip fracture lowers mortality."),
            ("Neutropenic fever", "Febrile neutropenia needs antibiotics within one hour; leukopenia too."),
        ]
        _write(
            store,
            [make_doc(i, title=t, sections=(Section(x, ""),), mesh=()) for i, (t, x) in enumerate(texts, 1)],
        )
        embedder = _embed(store)
        sync(store.inner, store.search, embedder.name, embedder.dim)
        for match in (
            '"leukopenia"',
            '"leukopenia" OR "hip fracture"',
            '("leukopenia") AND ("clozapine" OR "fever")',
        ):
            ours = [h.chunk.id for h in store.search_text(match, 10)]
            sqlite = [h.chunk.id for h in store.inner.search_text(match, 10)]
            assert ours == sqlite, match
        query = embedder.embed(["leukopenia caused by drugs"])[0]
        dense = store.search_vector(embedder.name, query, 4)
        exact = store.inner.search_vector(embedder.name, query, 4)
        assert [h.chunk.id for h in dense] == [h.chunk.id for h in exact]
        assert [h.score for h in dense] == pytest.approx([h.score for h in exact], abs=1e-5)
        assert store.vector_coverage(embedder.name).complete
        assert store.search_vector("another-model", query, 4) == []
    finally:
        store.close()


def test_index_and_search_through_the_api_and_a_second_process(tmp_path: Path) -> None:
    store, settings = _milvus(tmp_path)
    try:
        _write(store, [make_doc(1, title="Drug-induced leukopenia"), make_doc(2, title="Hip fracture")])
    finally:
        store.close()
    seen = []
    report = api.index(settings=settings, on_sync=seen.append)
    assert report.search is not None and report.search.upserted == report.search.rows > 0
    assert seen and seen[-1].rows == report.search.rows
    # A new client (as a new process would open it) finds the collection released and loads it.
    found = api.search("What causes leukopenia?", settings=settings, k=3)
    hits = found.hits
    assert found.mode == "hybrid" and hits and hits[0].document.id == "pmid:1"
    assert hits[0].dense is not None  # dense search ran in Milvus: every chunk has its vector there
    again = api.index(settings=settings)
    assert again.search is not None and again.search.upserted == 0


def test_migrate_fills_the_target_s_search_engine(tmp_path: Path) -> None:
    milvus_available()
    from curbside.store.migrate import migrate_locations

    source = open_store(str(tmp_path / "from.db"), Settings(db=str(tmp_path / "from.db")))
    try:
        _write(source, [make_doc(i) for i in range(1, 4)])
    finally:
        source.close()
    settings = Settings(db=str(tmp_path / "to.db"), search=str(tmp_path / "milvus.db"), embedder="fake")
    report = migrate_locations(str(tmp_path / "from.db"), str(tmp_path / "to.db"), settings)
    assert report.search is not None and report.search.upserted == report.search.rows == 3


def test_an_unreachable_engine_is_named_with_what_to_do(tmp_path: Path) -> None:
    milvus_available()
    settings = Settings(db=str(tmp_path / "s.db"), search="milvus://127.0.0.1:9", search_timeout=1)
    with pytest.raises(SearchEngineError) as caught:
        open_store(settings.db, settings)
    assert "milvus://127.0.0.1:9" in str(caught.value) and "curbside doctor" in str(caught.value)
    from curbside.cli.doctor import run_checks

    checks = {c.name: c for c in run_checks(settings, connect=lambda *_: None)}
    assert checks["search engine"].status == "fail"
    assert "milvus://127.0.0.1:9" in checks["search engine"].detail
    assert checks["store"].status != "fail"  # the store itself is fine without the engine


def test_doctor_counts_what_the_engine_holds(tmp_path: Path) -> None:
    store, settings = _milvus(tmp_path)
    try:
        _write(store, [make_doc(1), make_doc(2)])
    finally:
        store.close()
    from curbside.cli.doctor import run_checks

    before = {c.name: c for c in run_checks(settings, connect=lambda *_: None)}["search engine"]
    assert before.status == "warn" and "curbside index" in before.fix
    api.index(settings=settings)
    after = {c.name: c for c in run_checks(settings, connect=lambda *_: None)}["search engine"]
    assert after.status == "ok" and "2 of 2 chunks, 2 with a vector" in after.detail


def test_a_collection_for_another_model_is_refused(tmp_path: Path) -> None:
    store, _ = _milvus(tmp_path)
    try:
        _write(store, [make_doc(1)])
        store.search.ensure("model-a", 4)
        with pytest.raises(SearchEngineError, match="holds 'model-a' vectors"):
            sync(store.inner, store.search, "model-b", 8)
        assert store.search_vector("model-b", np.ones(8, dtype=np.float32), 3) == []
    finally:
        store.close()
