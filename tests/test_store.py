"""The store contract, run against every backend (SQLite here; PostgreSQL joins via the ``store`` fixture)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from conftest import make_doc
from curbside.errors import StoreError
from curbside.store import open_store, scheme_of
from curbside.store.base import Batch, FileProgress, SearchFilters
from curbside.store.sqlite import MIGRATIONS, SQLiteStore
from curbside.types import Malformed, Section


def _write(store: SQLiteStore, docs: list, deletions: list[str] | None = None, key: str = "k") -> object:
    fp = store.file_progress(key) or FileProgress(key=key, path="test", source_type="test")
    batch = Batch(fp, documents=docs, deletions=deletions or [], records=len(docs) + len(deletions or []))
    return store.write_batch(batch)


def test_insert_then_reinsert_is_unchanged(store: SQLiteStore) -> None:
    docs = [make_doc(i) for i in range(1, 6)]
    r1 = _write(store, docs)
    r2 = _write(store, docs)
    assert (r1.inserted, r1.unchanged) == (5, 0)  # type: ignore[attr-defined]
    assert (r2.inserted, r2.updated, r2.unchanged) == (0, 0, 5)  # type: ignore[attr-defined]
    assert store.stats().documents == 5


def test_round_trip_keeps_every_field(store: SQLiteStore) -> None:
    doc = make_doc(7, retracted=True, keywords=("k1",), chemicals=("Ethanol",), authors=("Doe J",))
    _write(store, [doc])
    assert store.get_document("pmid:7") == doc
    assert store.get_documents(["pmid:7", "pmid:404"]) == {"pmid:7": doc}


def test_later_version_replaces_earlier_and_reindexes(store: SQLiteStore) -> None:
    _write(store, [make_doc(1, text="Agranulocytosis after clozapine.")])
    _write(store, [make_doc(1, text="Lymphopenia after radiotherapy.")])
    assert store.search_text('"clozapine"', 5) == []
    hits = store.search_text('"radiotherapy"', 5)
    assert [h.chunk.document_id for h in hits] == ["pmid:1"]
    assert store.stats().documents == 1


def test_deletion_removes_document_chunks_and_postings(store: SQLiteStore) -> None:
    _write(store, [make_doc(1), make_doc(2)])
    result = _write(store, [], deletions=["pmid:1", "pmid:999"])
    assert result.deleted == 1  # type: ignore[attr-defined]
    assert store.get_document("pmid:1") is None
    assert store.chunks("pmid:1") == []
    assert {h.chunk.document_id for h in store.search_text('"leukopenia"', 10)} == {"pmid:2"}


def test_chunks_carry_offsets_into_the_body(store: SQLiteStore) -> None:
    doc = make_doc(3)
    _write(store, [doc])
    for chunk in store.chunks("pmid:3"):
        assert doc.body[chunk.start : chunk.end] == chunk.text


def test_bm25_ranks_title_and_text_matches(store: SQLiteStore) -> None:
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


def test_filters(store: SQLiteStore) -> None:
    _write(
        store,
        [
            make_doc(1, year=1990),
            make_doc(2, year=2015, kind="rct", publication_types=("Randomized Controlled Trial",)),
            make_doc(3, year=2021, retracted=True),
        ],
    )
    ids = lambda f: {h.chunk.document_id for h in store.search_text('"leukopenia"', 10, f)}  # noqa: E731
    assert ids(SearchFilters(exclude_retracted=False)) == {"pmid:1", "pmid:2", "pmid:3"}
    assert ids(SearchFilters()) == {"pmid:1", "pmid:2"}
    assert ids(SearchFilters(year_from=2000, exclude_retracted=False)) == {"pmid:2", "pmid:3"}
    assert ids(SearchFilters(year_to=2000)) == {"pmid:1"}
    assert ids(SearchFilters(kinds=("rct",))) == {"pmid:2"}
    assert ids(SearchFilters(publication_types=("randomized controlled trial",))) == {"pmid:2"}


def test_bad_fts_expression_is_a_store_error(store: SQLiteStore) -> None:
    _write(store, [make_doc(1)])
    with pytest.raises(StoreError, match="full-text query"):
        store.search_text('"unclosed', 5)


def test_vectors_knn_filters_and_cache_invalidation(store: SQLiteStore) -> None:
    _write(store, [make_doc(i, year=2000 + i) for i in range(1, 4)])
    todo = store.chunks_to_embed("m", 100)
    assert len(todo) == store.stats().chunks
    assert all(text.startswith("Study") for _, text in todo)  # title is embedded with the text
    keys = [k for k, _ in todo]
    vecs = np.eye(len(keys), 4, dtype=np.float32)
    store.put_vectors("m", keys, vecs)
    assert store.chunks_to_embed("m", 100) == []
    hits = store.search_vector("m", vecs[1], 2)
    assert hits[0].score == pytest.approx(1.0)
    assert hits[0].chunk.text == todo[1][1].split("\n", 1)[1]
    filtered = store.search_vector("m", vecs[1], 5, SearchFilters(year_to=2001))
    assert {h.chunk.document_id for h in filtered} == {"pmid:1"}
    # Re-ingesting a changed document drops its vectors, and the cached matrix follows.
    _write(store, [make_doc(1, text="Changed text.", year=2001)])
    assert len(store.chunks_to_embed("m", 100)) == len(store.chunks("pmid:1"))
    assert all(h.chunk.document_id != "pmid:1" for h in store.search_vector("m", vecs[0], 5))
    with pytest.raises(StoreError, match="dimensions"):
        store.search_vector("m", np.ones(3, dtype=np.float32), 2)
    assert store.stats().embedded == {"m": len(keys) - 1}


def test_problems_are_recorded_once(store: SQLiteStore) -> None:
    fp = FileProgress(key="f", path="a.xml", source_type="medline")
    bad = Malformed("a.xml", "record 3, line 40", "no PMID")
    store.write_batch(Batch(fp, malformed=[bad], records=1))
    store.write_batch(Batch(fp, malformed=[bad], records=1))
    assert store.problems() == [bad]
    assert store.file_progress("f").records_done == 2  # type: ignore[union-attr]


def test_failed_batch_rolls_back_documents_and_position(store: SQLiteStore) -> None:
    fp = FileProgress(key="f", path="a.xml", source_type="medline")
    store.write_batch(Batch(fp, documents=[make_doc(1)], records=1))

    class Boom(Exception):
        pass

    class Exploding:
        id = "pmid:2"

        def content_hash(self) -> str:
            raise Boom

    with pytest.raises(Boom):
        store.write_batch(Batch(fp, documents=[make_doc(3), Exploding()], records=2))  # type: ignore[list-item]
    assert store.get_document("pmid:3") is None
    assert store.file_progress("f").records_done == 1  # type: ignore[union-attr]
    assert fp.records_done == 1


def test_mark_retracted(store: SQLiteStore) -> None:
    _write(store, [make_doc(1)])
    assert store.mark_retracted(["pmid:1", "pmid:9"]) == 1
    assert store.get_document("pmid:1").retracted  # type: ignore[union-attr]
    assert store.search_text('"leukopenia"', 5, SearchFilters()) == []


def test_migrations_are_recorded_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    with SQLiteStore(path) as s:
        assert s.applied_migrations() == [name for name, _ in MIGRATIONS]
        _write(s, [make_doc(1)])
    with SQLiteStore(path) as s:  # reopening applies nothing and keeps the data
        assert s.migrate() == []
        assert s.stats().documents == 1


def test_not_a_store_is_a_clear_error(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StoreError, match="bogus.db"):
        SQLiteStore(bogus)


def test_open_store_by_location(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    assert scheme_of("postgresql://u@h/db") == "postgresql"
    assert scheme_of("/a/b.db") == "sqlite"
    s = open_store(f"sqlite:///{tmp_path}/x.db", settings)
    try:
        assert Path(s.location) == tmp_path / "x.db"
    finally:
        s.close()


def test_wal_mode(store: SQLiteStore) -> None:
    conn = sqlite3.connect(store.path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_title_only_document_is_searchable_by_title(store: SQLiteStore) -> None:
    from curbside.types import Document

    _write(store, [Document(id="pmid:5", title="Cyclic neutropenia in dogs")])
    hits = store.search_text('"cyclic"', 5)
    assert [h.chunk.section for h in hits] == ["TITLE"]
    stats = store.stats()
    assert (stats.documents, stats.with_abstract) == (1, 0)


def test_section_label_survives(store: SQLiteStore) -> None:
    _write(store, [make_doc(1, sections=(Section("Alpha beta.", "METHODS"),))])
    assert store.chunks("pmid:1")[0].section == "METHODS"
