"""PostgreSQL-only behaviour: FTS5 -> tsquery translation, the term-at-a-time ranking of large
stores, connection errors, migrations under concurrency.  The shared contract is in test_store.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from conftest import make_doc
from curbside import api
from curbside.config import Settings
from curbside.errors import StoreError
from curbside.store import pg_vectors
from curbside.store.base import Batch, FileProgress, SearchFilters
from curbside.store.pg_fts import or_of_phrases, to_tsquery_sql
from curbside.store.pg_rank import TermRanker
from curbside.store.pg_schema import MIGRATIONS
from curbside.store.pg_vectors import has_index
from curbside.store.postgres import PostgresStore, redact
from curbside.testing import FakeEmbedder
from curbside.types import Section


@pytest.fixture
def pg(pg_url: str) -> Iterator[PostgresStore]:
    s = PostgresStore(pg_url)
    yield s
    s.close()


def test_or_of_phrases_recognises_what_retrieval_builds() -> None:
    assert or_of_phrases('"a b" OR "c" OR d') == ["a b", "c", "d"]
    assert or_of_phrases('"say ""hi"""') == ['say "hi"']
    for other in ('"a" AND "b"', '"a" "b"', '("a" OR "b")', '"a" OR', "pre*", 'NOT "a"'):
        assert or_of_phrases(other) is None, other


@pytest.mark.parametrize(
    "bad", ['"unclosed', "a OR", "(a OR b", "a)", "title:a", "-a", "NEAR(a b, x)", "", "a* OR *"]
)
def test_bad_expressions_are_store_errors(bad: str) -> None:
    with pytest.raises(StoreError, match="full-text query"):
        to_tsquery_sql(bad)


def test_translation_runs_on_the_server(pg: PostgresStore) -> None:
    with pg._pool.connection() as conn:
        got = conn.execute(
            b"SELECT ("
            + to_tsquery_sql('"Neutropenias in" OR (leukopenia NOT "fever") OR NEAR(a b, 3)').as_bytes(conn)
            + b")::text"
        ).fetchone()
    assert got is not None
    assert "'neutropenia' <-> 'in'" in got[0]
    assert "!'fever'" in got[0]


def test_term_at_a_time_ranking_agrees_with_the_plain_query(pg: PostgresStore) -> None:
    docs = [make_doc(i, title=f"Report {i}", text="Patients were treated. " * (1 + i % 3)) for i in range(40)]
    docs += [
        make_doc(100, title="Agranulocytosis after clozapine", text="Patients on clozapine."),
        make_doc(101, title="Clozapine levels", text="Patients were treated."),
        make_doc(102, title="Old report", text="Agranulocytosis in patients.", year=1980),
    ]
    pg.write_batch(Batch(FileProgress("k", "x", "t"), documents=docs, records=len(docs)))
    match = '"agranulocytosis" OR "clozapine" OR "patients"'
    pg._ranker = TermRanker(min_chunks=10**9)  # no statistics-based ranking: the plain query
    plain = {h.chunk.document_id for h in pg.search_text(match, 100)}
    pg._ranker = TermRanker()
    ranked = pg.search_text(match, 100)
    with pg._pool.connection() as conn:
        freqs = pg._ranker.frequencies(conn)
    assert freqs is not None and freqs.by_lexeme["patient"] > 0.9  # the path under test was taken
    assert {h.chunk.document_id for h in ranked} == plain  # k exceeds the matches: every term is walked
    # The two rare terms outweigh the word every document has.
    assert [h.chunk.document_id for h in ranked[:2]] == ["pmid:100", "pmid:101"]
    few = pg.search_text(match, 2)
    assert [h.chunk.document_id for h in few] == ["pmid:100", "pmid:101"]
    assert [h.score for h in ranked] == sorted((h.score for h in ranked), reverse=True)
    filtered = pg.search_text(match, 5, SearchFilters(year_to=1990))
    assert [h.chunk.document_id for h in filtered] == ["pmid:102"]
    assert pg.search_text('"zzzz" OR "qqqq"', 5) == []


def test_weighted_search_is_one_ranked_query_on_a_large_store(pg: PostgresStore) -> None:
    docs = [
        make_doc(
            i, title=f"Report {i}", sections=(Section("Patients were treated. " * (1 + i % 3), ""),), mesh=()
        )
        for i in range(40)
    ]
    docs += [
        make_doc(
            100,
            title="Leukopenia after clozapine",
            sections=(Section("Patients on clozapine.", ""),),
            mesh=(),
        ),
        make_doc(
            101,
            title="Neutropenia after clozapine",
            sections=(Section("Patients on clozapine.", ""),),
            mesh=(),
        ),
        make_doc(
            102,
            title="Neutropenia and leukopenia",
            sections=(Section("Both in patients.", ""),),
            mesh=(),
            year=1980,
        ),
    ]
    pg.write_batch(Batch(FileProgress("k", "x", "t"), documents=docs, records=len(docs)))
    parts = [('"leukopenia" OR "patients"', 1.0), ('"neutropenia"', 0.3)]
    with pg._pool.connection() as conn:
        pg._ranker.frequencies(conn)  # read the statistics before counting queries
    seen: list[str] = []
    real_search = pg._ranker.search

    def counted(*args: object, **kw: object) -> object:
        seen.append("ranked")
        return real_search(*args, **kw)  # type: ignore[arg-type]

    pg._ranker.search = counted  # type: ignore[method-assign]
    hits = pg.search_text_weighted(parts, 10)
    assert seen == ["ranked"]  # both parts in one query
    ranked = [h.chunk.document_id for h in hits]
    assert ranked[:3] == ["pmid:102", "pmid:100", "pmid:101"]  # both terms > own term > synonym only
    # A synonym counts at its weight: the same query with the synonym at full weight
    # puts the synonym-only paper level with the own-word one.
    full = {h.chunk.document_id: h.score for h in pg.search_text_weighted([parts[0], (parts[1][0], 1.0)], 10)}
    part = {h.chunk.document_id: h.score for h in hits}
    assert part["pmid:101"] < full["pmid:101"] and part["pmid:100"] == pytest.approx(full["pmid:100"])
    filtered = pg.search_text_weighted(parts, 5, SearchFilters(year_to=1990))
    assert [h.chunk.document_id for h in filtered] == ["pmid:102"]
    # A part that is not an OR of phrases is searched on its own (plain query) and merged.
    seen.clear()
    mixed = pg.search_text_weighted([('"leukopenia" AND "patients"', 1.0), ('"neutropenia"', 0.3)], 10)
    assert seen == ["ranked"] and {h.chunk.document_id for h in mixed} == {"pmid:100", "pmid:101", "pmid:102"}


def test_unreachable_server_is_a_clear_error(tmp_path: object) -> None:
    url = "postgresql://curbside:secret@127.0.0.1:1/nowhere?connect_timeout=1"
    with pytest.raises(
        StoreError, match=r"cannot open the PostgreSQL store at postgresql://curbside:\*\*\*@"
    ):
        PostgresStore(url, connect_timeout=1)


def test_redact_hides_only_the_password() -> None:
    assert redact("postgresql://u:pw@h:5/db?x=1") == "postgresql://u:***@h:5/db?x=1"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"


def test_concurrent_openers_migrate_once(pg_url: str, settings: Settings) -> None:
    stores: list[PostgresStore] = []
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            stores.append(PostgresStore(pg_url, pool_size=1))
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert stores[0].applied_migrations() == [name for name, _ in MIGRATIONS]
    finally:
        for s in stores:
            s.close()


def test_vector_model_dimension_is_fixed(pg: PostgresStore) -> None:
    import numpy as np

    pg.write_batch(Batch(FileProgress("k", "x", "t"), documents=[make_doc(1), make_doc(2)], records=2))
    keys = [k for k, _ in pg.chunks_to_embed("m", 10)]
    pg.put_vectors("m", keys[:1], np.ones((1, 4), dtype=np.float32) / 2)
    with pytest.raises(StoreError, match="4 dimensions, not 3"):
        pg.put_vectors("m", keys[1:], np.ones((len(keys) - 1, 3), dtype=np.float32))
    assert pg.vector_models() == {"m": 4}


def test_concurrent_writers_of_the_same_new_records_take_turns(pg_url: str) -> None:
    # Parallel ingest of a baseline and an update file can carry the same PMIDs at once.
    stores = [PostgresStore(pg_url, pool_size=1) for _ in range(3)]
    errors: list[BaseException] = []
    results = []

    def write(store: PostgresStore, n: int) -> None:
        docs = [make_doc(i, text=f"Version {n} of record {i}.") for i in range(1, 60)]
        try:
            results.append(
                store.write_batch(Batch(FileProgress(f"f{n}", "x", "t"), documents=docs, records=59))
            )
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(s, n)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert sum(r.inserted for r in results) == 59 and sum(r.updated for r in results) == 2 * 59
        assert stores[0].stats().documents == 59
        assert all(len(stores[0].chunks(f"pmid:{i}")) == 1 for i in range(1, 60))
    finally:
        for s in stores:
            s.close()


# -- bulk vector loads --------------------------------------------------------------------------


def _vector_store(pg: PostgresStore, n: int = 30) -> FakeEmbedder:
    docs = [
        make_doc(i, title=f"Leukopenia report {i}", text=f"Case {i} of drug-induced leukopenia.")
        for i in range(n)
    ]
    pg.write_batch(Batch(FileProgress("k", "x", "t"), documents=docs, records=len(docs)))
    return FakeEmbedder()


def _has_index(pg: PostgresStore, model: str) -> bool:
    with pg._pool.connection() as conn:
        return has_index(conn, model)


def test_a_bulk_load_builds_the_index_once_at_the_end(
    pg: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_vectors, "BULK_MIN", 10)
    emb = _vector_store(pg)
    seen: list[bool] = []
    real_put = pg.put_vectors

    def put(model: str, keys: Sequence[int], vectors: np.ndarray) -> None:
        real_put(model, keys, vectors)
        seen.append(_has_index(pg, model))

    monkeypatch.setattr(pg, "put_vectors", put)
    report = api.index(store=pg, embedder=emb, settings=Settings(embed_batch=8))
    assert report.embedded == pg.stats().chunks == 30 and report.remaining == 0
    assert seen and not any(seen)  # no index while the vectors went in
    assert _has_index(pg, emb.name)  # ... and one at the end
    query = emb.embed(["drug-induced leukopenia case 7"])[0]
    approx = [h.chunk.id for h in pg.search_vector(emb.name, query, 5)]
    assert approx == [h.chunk.id for h in pg.search_vector_exact(emb.name, query, 5)]


def test_a_small_load_keeps_the_live_index(pg: PostgresStore, monkeypatch: pytest.MonkeyPatch) -> None:
    emb = _vector_store(pg)  # 30 chunks, far below BULK_MIN
    todo = pg.chunks_to_embed(emb.name, 100)
    with pg.bulk_vectors(emb.name, len(todo)):
        pg.put_vectors(emb.name, [k for k, _ in todo[:10]], emb.embed([t for _, t in todo[:10]]))
        assert _has_index(pg, emb.name)


def test_an_interrupted_bulk_load_leaves_the_index_to_the_next_run(
    pg: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_vectors, "BULK_MIN", 10)
    emb = _vector_store(pg)
    todo = pg.chunks_to_embed(emb.name, 100)
    with pytest.raises(KeyboardInterrupt), pg.bulk_vectors(emb.name, len(todo)):
        pg.put_vectors(emb.name, [k for k, _ in todo[:20]], emb.embed([t for _, t in todo[:20]]))
        raise KeyboardInterrupt
    assert not _has_index(pg, emb.name)  # Ctrl-C does not sit through an index build
    query = emb.embed(["leukopenia"])[0]
    assert len(pg.search_vector(emb.name, query, 5)) == 5  # an exact scan meanwhile: still correct
    api.index(store=pg, embedder=emb)  # the rerun embeds the rest and builds the index
    assert _has_index(pg, emb.name) and pg.vector_coverage(emb.name).complete
    # An error (not an interrupt) builds the index before it propagates: the store stays fast.
    with pytest.raises(RuntimeError), pg.bulk_vectors(emb.name, 10**6):
        assert not _has_index(pg, emb.name)
        raise RuntimeError("embedder failed")
    assert _has_index(pg, emb.name)


def test_only_one_bulk_load_defers_at_a_time(
    pg_url: str, pg: PostgresStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pg_vectors, "BULK_MIN", 10)
    emb = _vector_store(pg)
    todo = pg.chunks_to_embed(emb.name, 100)
    pg.put_vectors(emb.name, [k for k, _ in todo[:1]], emb.embed([todo[0][1]]))
    other = PostgresStore(pg_url)
    try:
        with pg.bulk_vectors(emb.name, 10**6):
            assert not _has_index(pg, emb.name)
            with other.bulk_vectors(emb.name, 10**6):  # the lock is taken: this one changes nothing
                pass
            assert not _has_index(pg, emb.name)
        assert _has_index(pg, emb.name)
    finally:
        other.close()


def test_an_ingest_run_that_grows_the_table_refreshes_the_ranking_statistics(pg: PostgresStore) -> None:
    first = [make_doc(i, title=f"Clozapine report {i}", text="Clozapine and neutropenia.") for i in range(5)]
    pg.write_batch(Batch(FileProgress("k", "x", "t"), documents=first, records=len(first)))
    pg.search_text('"clozapine" OR "neutropenia"', 5)  # statistics read and cached: 5 chunks
    with pg._pool.connection() as conn:
        before = pg._ranker.frequencies(conn)
    assert before is not None and before.by_lexeme["clozapin"] == 1.0
    more = [make_doc(i, title=f"Report {i}", text="Hip fractures in the elderly.") for i in range(100, 200)]
    result = pg.write_batch(Batch(FileProgress("k2", "y", "t"), documents=more, records=len(more)))
    pg.record_run(["y"], result, 1.0)  # what ingest does at the end of a run
    with pg._pool.connection() as conn:
        after = pg._ranker.frequencies(conn)
    assert after is not None and after.chunks > 100
    assert after.by_lexeme.get("clozapin", after.floor) < 0.1  # now a rare word, as it should score
