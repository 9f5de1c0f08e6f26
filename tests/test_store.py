"""The store contract, one suite run against every backend: SQLite, PostgreSQL (pgvector), and a
SQLite store whose search runs in Milvus.

``backend_location`` is parametrised: ``sqlite`` is a file in a temporary folder,
``postgresql`` a fresh database on the throwaway server of ``tests/pg_server.py``
(skipped, with the reason, only where no server can be started), ``milvus`` the
SQLite file with its chunk search in a milvus-lite file (``tests/_milvus.py``;
skipped, with the reason, only where the milvus extra is not installed).  Backend-specific
checks (WAL mode, a corrupt file, an unreachable server) follow at the end.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from _milvus import milvus_available, open_synced
from conftest import make_doc
from curbside.config import Settings
from curbside.errors import StoreError
from curbside.store import open_store, scheme_of
from curbside.store.base import Batch, BatchResult, FileProgress, SearchFilters, Store, VectorCoverage
from curbside.store.milvus import MilvusStore
from curbside.store.sqlite import SQLiteStore
from curbside.store.sqlite_schema import MIGRATIONS
from curbside.types import Document, Malformed, Section


@pytest.fixture(params=["sqlite", "postgresql", "milvus"])
def backend_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param in ("sqlite", "milvus"):
        if request.param == "milvus":
            milvus_available()
        return f"sqlite:///{tmp_path / 'store.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def store(
    backend_location: str, settings: Settings, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[Store]:
    milvus = "milvus" in request.node.callspec.params.get("backend_location", "")
    s: Store = (
        open_synced(backend_location, settings, tmp_path)
        if milvus
        else open_store(backend_location, settings)
    )
    yield s
    s.close()


def _write(
    store: Store, docs: list[Document], deletions: list[str] | None = None, key: str = "k"
) -> BatchResult:
    fp = store.file_progress(key) or FileProgress(key=key, path="test", source_type="test")
    batch = Batch(fp, documents=docs, deletions=deletions or [], records=len(docs) + len(deletions or []))
    return store.write_batch(batch)


def _ids(store: Store, match: str, filters: SearchFilters | None = None, k: int = 20) -> set[str]:
    return {h.chunk.document_id for h in store.search_text(match, k, filters)}


def test_insert_then_reinsert_is_unchanged(store: Store) -> None:
    docs = [make_doc(i) for i in range(1, 6)]
    r1 = _write(store, docs)
    r2 = _write(store, docs)
    assert (r1.inserted, r1.unchanged) == (5, 0)
    assert (r2.inserted, r2.updated, r2.unchanged) == (0, 0, 5)
    assert store.stats().documents == 5


def test_repeated_record_in_one_batch_counts_in_input_order(store: Store) -> None:
    result = _write(
        store, [make_doc(1), make_doc(1, text="Second version."), make_doc(1, text="Second version.")]
    )
    assert (result.inserted, result.updated, result.unchanged) == (1, 1, 1)
    assert _ids(store, '"second version"') == {"pmid:1"}
    assert store.stats().documents == 1


def test_round_trip_keeps_every_field(store: Store) -> None:
    doc = make_doc(7, retracted=True, keywords=("k1",), chemicals=("Ethanol",), authors=("Doe J",))
    _write(store, [doc])
    assert store.get_document("pmid:7") == doc
    assert store.get_documents(["pmid:7", "pmid:404"]) == {"pmid:7": doc}


def test_unusual_text_round_trips(store: Store) -> None:
    # NUL, quotes, backslashes, percent signs and non-BMP characters: stored and found intact.
    doc = make_doc(8, title="50% of 'cases' \\ \"quoted\" 🧪", text="Dose of 5\x00mg; naïve 10% reduction.")
    _write(store, [doc])
    assert store.get_document("pmid:8") == doc
    assert _ids(store, '"10% reduction"') == {"pmid:8"}
    assert _ids(store, '"naïve"') == {"pmid:8"}


def test_later_version_replaces_earlier_and_reindexes(store: Store) -> None:
    _write(store, [make_doc(1, text="Agranulocytosis after clozapine.")])
    _write(store, [make_doc(1, text="Lymphopenia after radiotherapy.")])
    assert store.search_text('"clozapine"', 5) == []
    hits = store.search_text('"radiotherapy"', 5)
    assert [h.chunk.document_id for h in hits] == ["pmid:1"]
    assert store.stats().documents == 1


def test_deletion_removes_document_chunks_and_postings(store: Store) -> None:
    _write(store, [make_doc(1), make_doc(2)])
    result = _write(store, [], deletions=["pmid:1", "pmid:999"])
    assert result.deleted == 1
    assert store.get_document("pmid:1") is None
    assert store.chunks("pmid:1") == []
    assert _ids(store, '"leukopenia"') == {"pmid:2"}


def test_chunks_carry_offsets_into_the_body(store: Store) -> None:
    doc = make_doc(3, text="Leukopenia was common. " * 150)  # several chunks
    _write(store, [doc])
    chunks = store.chunks("pmid:3")
    assert len(chunks) > 1
    assert [c.ordinal for c in chunks] == sorted(c.ordinal for c in chunks)
    for chunk in chunks:
        assert doc.body[chunk.start : chunk.end] == chunk.text


def test_bm25_ranks_title_and_text_matches(store: Store) -> None:
    _write(
        store,
        [
            make_doc(1, title="Neutropenia in children", text="Febrile neutropenia is an emergency."),
            make_doc(2, title="Fractures of the femur", text="Hip fractures in the elderly."),
            make_doc(3, title="Anaemia", text="Neutropenia was rare."),
        ],
    )
    hits = store.search_text('"neutropenia"', 10)
    assert [h.chunk.document_id for h in hits][:2] == ["pmid:1", "pmid:3"]
    assert hits[0].score > hits[1].score > 0
    assert hits[0].title == "Neutropenia in children"


def test_weighted_search_adds_each_part_at_its_weight(store: Store) -> None:
    _write(
        store,
        [
            make_doc(
                1, title="Leukopenia in adults", sections=(Section("Leukopenia was common.", ""),), mesh=()
            ),
            make_doc(
                2, title="Neutropenia in adults", sections=(Section("Neutropenia was common.", ""),), mesh=()
            ),
            make_doc(
                3, title="Leukopenia and neutropenia", sections=(Section("Both were seen.", ""),), mesh=()
            ),
            make_doc(4, title="Fractures", sections=(Section("Hip fractures.", ""),), mesh=()),
        ],
    )
    own, synonyms = '"leukopenia"', '"neutropenia" OR "agranulocytosis"'
    hits = store.search_text_weighted([(own, 1.0), (synonyms, 0.3)], 10)
    # The synonym-only paper comes last: it scores 0.3 x its own BM25.
    assert [h.chunk.document_id for h in hits][2:] == ["pmid:2"]
    assert {h.chunk.document_id for h in hits} == {"pmid:1", "pmid:2", "pmid:3"}
    alone = {h.chunk.id: h.score for h in store.search_text(own, 10)}
    added = {h.chunk.id: h.score for h in store.search_text(synonyms, 10)}
    for h in hits:  # the sum of weight x score over the parts that match
        assert h.score == pytest.approx(alone.get(h.chunk.id, 0.0) + 0.3 * added.get(h.chunk.id, 0.0))
    assert store.search_text_weighted([(own, 1.0)], 10) == store.search_text(own, 10)
    assert store.search_text_weighted([('"zzzz"', 1.0), ('"qqqq"', 0.3)], 10) == []


def test_title_match_outranks_the_same_word_in_text(store: Store) -> None:
    _write(
        store,
        [
            make_doc(1, title="Outcomes in adults", text="Agranulocytosis occurred in one patient."),
            make_doc(2, title="Agranulocytosis in adults", text="One patient was affected."),
        ],
    )
    assert [h.chunk.document_id for h in store.search_text('"agranulocytosis"', 5)] == ["pmid:2", "pmid:1"]


def test_fts5_expressions_mean_the_same_on_every_backend(store: Store) -> None:
    _write(
        store,
        [
            make_doc(1, title="Clozapine", text="Agranulocytosis after clozapine therapy."),
            make_doc(2, title="Radiotherapy", text="Lymphopenia after radiotherapy of the breast."),
            make_doc(3, title="Both", text="Clozapine and radiotherapy were combined."),
        ],
    )
    assert _ids(store, '"clozapine" OR "radiotherapy"') == {"pmid:1", "pmid:2", "pmid:3"}
    assert _ids(store, '"clozapine" AND "radiotherapy"') == {"pmid:3"}
    assert _ids(store, "clozapine radiotherapy") == {"pmid:3"}  # implicit AND
    assert _ids(store, '"clozapine" NOT "radiotherapy"') == {"pmid:1"}
    assert _ids(store, '("lymphopenia" OR "agranulocytosis") AND "after"') == {"pmid:1", "pmid:2"}
    assert _ids(store, '"after clozapine"') == {"pmid:1"}  # a phrase, not two words
    assert _ids(store, '"clozapine after"') == set()
    if isinstance(store, MilvusStore):
        # Milvus ranks a bag of stemmed words: a prefix cannot be expanded there, so it is refused.
        with pytest.raises(StoreError, match="prefix"):
            _ids(store, "lympho*")
    else:
        assert _ids(store, "lympho*") == {"pmid:2"}
    assert _ids(store, '"a ""quoted"" word" OR "breast"') == {"pmid:2"}


def test_filters(store: Store) -> None:
    _write(
        store,
        [
            make_doc(1, year=1990),
            make_doc(2, year=2015, kind="rct", publication_types=("Randomized Controlled Trial",)),
            make_doc(3, year=2021, retracted=True),
        ],
    )
    ids = lambda f: _ids(store, '"leukopenia"', f)  # noqa: E731
    assert ids(SearchFilters(exclude_retracted=False)) == {"pmid:1", "pmid:2", "pmid:3"}
    assert ids(SearchFilters()) == {"pmid:1", "pmid:2"}
    assert ids(SearchFilters(year_from=2000, exclude_retracted=False)) == {"pmid:2", "pmid:3"}
    assert ids(SearchFilters(year_to=2000)) == {"pmid:1"}
    assert ids(SearchFilters(kinds=("rct",))) == {"pmid:2"}
    assert ids(SearchFilters(publication_types=("randomized controlled trial",))) == {"pmid:2"}
    assert ids(None) == {"pmid:1", "pmid:2", "pmid:3"}


def test_bad_fts_expression_is_a_store_error(store: Store) -> None:
    _write(store, [make_doc(1)])
    with pytest.raises(StoreError, match="full-text query"):
        store.search_text('"unclosed', 5)


def test_vectors_knn_filters_and_stale_vectors(store: Store) -> None:
    _write(store, [make_doc(i, year=2000 + i) for i in range(1, 4)])
    todo = store.chunks_to_embed("m", 100)
    assert len(todo) == store.stats().chunks == store.vector_coverage("m").remaining
    assert store.chars_to_embed("m") == sum(len(text) for _, text in todo)
    assert all(text.startswith("Study") for _, text in todo)  # title is embedded with the text
    keys = [k for k, _ in todo]
    vecs = np.eye(len(keys), 4, dtype=np.float32)
    store.put_vectors("m", keys, vecs)
    assert store.chunks_to_embed("m", 100) == []
    assert store.vector_coverage("m") == VectorCoverage(chunks=len(todo), embedded=len(todo))
    assert store.chars_to_embed("m") == 0
    hits = store.search_vector("m", vecs[1], 2)
    assert hits[0].score == pytest.approx(1.0)
    assert hits[0].chunk.text == todo[1][1].split("\n", 1)[1]
    filtered = store.search_vector("m", vecs[1], 5, SearchFilters(year_to=2001))
    assert {h.chunk.document_id for h in filtered} == {"pmid:1"}
    # Re-ingesting a changed document drops its vectors.
    _write(store, [make_doc(1, text="Changed text.", year=2001)])
    assert len(store.chunks_to_embed("m", 100)) == len(store.chunks("pmid:1"))
    assert all(h.chunk.document_id != "pmid:1" for h in store.search_vector("m", vecs[0], 5))
    with pytest.raises(StoreError, match="dimensions"):
        store.search_vector("m", np.ones(3, dtype=np.float32), 2)
    assert store.stats().embedded == {"m": len(keys) - 1}
    assert store.search_vector("other-model", vecs[0], 3) == []


def test_put_vectors_replaces_and_checks_lengths(store: Store) -> None:
    _write(store, [make_doc(1), make_doc(2)])
    keys = [k for k, _ in store.chunks_to_embed("m", 10)]
    store.put_vectors("m", keys, np.eye(len(keys), 3, dtype=np.float32))
    flipped = np.eye(len(keys), 3, dtype=np.float32)[::-1].copy()
    store.put_vectors("m", keys, flipped)  # again, different values: replaced, not duplicated
    assert store.stats().embedded == {"m": len(keys)}
    top = store.search_vector("m", flipped[0], 1)[0]
    assert top.score == pytest.approx(1.0)
    with pytest.raises(StoreError, match="keys"):
        store.put_vectors("m", keys, np.eye(len(keys) + 1, 3, dtype=np.float32))


def test_knn_returns_k_hits_through_a_selective_filter(store: Store) -> None:
    # 60 documents, 4 of them recent: the 4 must all come back although 56 nearer ones are filtered out.
    _write(store, [make_doc(i, year=2020 if i % 15 == 0 else 1990) for i in range(1, 61)])
    todo = store.chunks_to_embed("m", 1000)
    keys = [k for k, _ in todo]
    rng = np.random.default_rng(7)
    vecs = rng.normal(size=(len(keys), 8)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    store.put_vectors("m", keys, vecs)
    hits = store.search_vector("m", vecs[0], 50, SearchFilters(year_from=2010))
    recent = {f"pmid:{i}" for i in (15, 30, 45, 60)}
    assert {h.chunk.document_id for h in hits} == recent
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_knn_scores_are_dot_products_in_order(store: Store) -> None:
    _write(store, [make_doc(i) for i in range(1, 21)])
    keys = [k for k, _ in store.chunks_to_embed("m", 1000)]
    rng = np.random.default_rng(3)
    vecs = rng.normal(size=(len(keys), 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    store.put_vectors("m", keys, vecs)
    q = vecs[5]
    hits = store.search_vector("m", q, 5)
    expected = np.sort(vecs @ q)[::-1][:5]
    assert [h.score for h in hits] == pytest.approx(expected.tolist(), abs=1e-5)


def test_problems_are_recorded_once(store: Store) -> None:
    fp = FileProgress(key="f", path="a.xml", source_type="medline")
    bad = Malformed("a.xml", "record 3, line 40", "no PMID")
    store.write_batch(Batch(fp, malformed=[bad], records=1))
    store.write_batch(Batch(fp, malformed=[bad], records=1))
    assert store.problems() == [bad]
    assert store.file_progress("f").records_done == 2  # type: ignore[union-attr]


def test_failed_batch_rolls_back_documents_and_position(store: Store) -> None:
    fp = FileProgress(key="f", path="a.xml", source_type="medline")
    store.write_batch(Batch(fp, documents=[make_doc(1)], records=1))

    class Boom(Exception):
        pass

    class Exploding:
        id = "pmid:2"
        # A store may hash the document itself or serialise its fields (SQLite's one-pass
        # serialisation reads them like dataclasses.asdict): both explode.
        __dataclass_fields__ = {"id": None, "title": None}  # noqa: RUF012

        @property
        def title(self) -> str:
            raise Boom

        def content_hash(self) -> str:
            raise Boom

    with pytest.raises(Boom):
        store.write_batch(Batch(fp, documents=[make_doc(3), Exploding()], records=2))  # type: ignore[list-item]
    assert store.get_document("pmid:3") is None
    assert store.file_progress("f").records_done == 1  # type: ignore[union-attr]
    assert fp.records_done == 1


def test_file_bookkeeping_and_runs(store: Store) -> None:
    fp = FileProgress(key="sha256:x", path="a.xml", source_type="medline")
    assert store.file_progress("sha256:x") is None
    store.write_batch(Batch(fp, documents=[make_doc(1), make_doc(2)], records=3))
    store.write_batch(Batch(fp, deletions=["pmid:1"], records=1))
    store.finish_file(fp)
    store.record_run(["a.xml"], BatchResult(inserted=2, deleted=1), 0.5)
    got = store.file_progress("sha256:x")
    assert got == FileProgress("sha256:x", "a.xml", "medline", 4, 2, 1, 0, True)
    stats = store.stats()
    assert (stats.files, stats.files_completed, stats.records_read, stats.deletions_applied) == (1, 1, 2, 1)
    assert (stats.documents, stats.year_min, stats.year_max) == (1, 2020, 2020)
    assert stats.by_kind == {"research": 1}
    assert stats.size_bytes > 0


def test_iter_documents_yields_every_document_once(store: Store) -> None:
    docs = [make_doc(i) for i in range(1, 1203)]  # more than one page of 1000
    _write(store, docs)
    assert sorted(d.id for d in store.iter_documents()) == sorted(d.id for d in docs)


def test_mark_retracted(store: Store) -> None:
    _write(store, [make_doc(1)])
    assert store.mark_retracted(["pmid:1", "pmid:9"]) == 1
    assert store.mark_retracted(["pmid:1"]) == 0
    assert store.get_document("pmid:1").retracted  # type: ignore[union-attr]
    assert store.search_text('"leukopenia"', 5, SearchFilters()) == []
    assert store.stats().retracted == 1


def test_reopening_applies_no_migration_and_keeps_data(backend_location: str, settings: Settings) -> None:
    s = open_store(backend_location, settings)
    try:
        applied = s.applied_migrations()  # type: ignore[attr-defined]
        assert applied and applied == sorted(applied)
        _write(s, [make_doc(1)])
    finally:
        s.close()
    s = open_store(backend_location, settings)
    try:
        assert s.migrate() == []  # type: ignore[attr-defined]
        assert s.applied_migrations() == applied  # type: ignore[attr-defined]
        assert s.stats().documents == 1
    finally:
        s.close()


def test_title_only_document_is_searchable_by_title(store: Store) -> None:
    _write(store, [Document(id="pmid:5", title="Cyclic neutropenia in dogs")])
    hits = store.search_text('"cyclic"', 5)
    assert [h.chunk.section for h in hits] == ["TITLE"]
    stats = store.stats()
    assert (stats.documents, stats.with_abstract) == (1, 0)


def test_section_label_survives(store: Store) -> None:
    _write(store, [make_doc(1, sections=(Section("Alpha beta.", "METHODS"),))])
    assert store.chunks("pmid:1")[0].section == "METHODS"


def test_location_names_the_store(store: Store, backend_location: str) -> None:
    assert scheme_of(store.location) == scheme_of(backend_location)
    assert store.stats().location == store.location


# --- SQLite only ---


def test_sqlite_migration_names(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "m.db") as s:
        assert s.applied_migrations() == [name for name, _ in MIGRATIONS]


def test_not_a_store_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match=r"bogus\.db"):
        SQLiteStore(bogus)


def test_open_store_by_location(tmp_path: Path, settings: Settings) -> None:
    assert scheme_of("postgresql://u@h/db") == "postgresql"
    assert scheme_of("postgres://u@h/db") == "postgresql"
    assert scheme_of("/a/b.db") == "sqlite"
    s = open_store(f"sqlite:///{tmp_path}/x.db", settings)
    try:
        assert Path(s.location) == tmp_path / "x.db"
    finally:
        s.close()


def test_wal_mode(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "w.db") as store:
        conn = sqlite3.connect(store.path)
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        conn.close()


def test_chars_to_embed_counts_the_first_chunks_of_a_limited_run(store: Store) -> None:
    _write(store, [make_doc(i, year=2000 + i) for i in range(1, 6)])
    todo = store.chunks_to_embed("m", 100)
    assert store.chars_to_embed("m", 2) == sum(len(text) for _, text in todo[:2])
    assert store.chars_to_embed("m", 0) == 0
    assert store.chars_to_embed("m", None) == store.chars_to_embed("m")
