"""``curbside migrate``: SQLite -> PostgreSQL and back, everything copied, idempotent."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import make_doc
from curbside.config import Settings
from curbside.errors import InputError
from curbside.store import open_store
from curbside.store.base import Batch, BatchResult, FileProgress, SearchFilters, Store
from curbside.store.migrate import migrate_locations
from curbside.testing import FakeEmbedder
from curbside.types import Malformed


def _fill(store: Store) -> None:
    """Two files (one completed, one half read), a problem report, a run, a retraction, vectors."""
    done = FileProgress(key="sha256:a", path="a.xml", source_type="medline")
    store.write_batch(Batch(done, documents=[make_doc(i, year=2000 + i) for i in range(1, 8)], records=7))
    store.write_batch(Batch(done, malformed=[Malformed("a.xml", "record 8, line 80", "no PMID")], records=1))
    store.finish_file(done)
    half = FileProgress(key="sha256:b", path="b.xml", source_type="medline")
    store.write_batch(
        Batch(half, documents=[make_doc(20, text="Agranulocytosis after clozapine.")], records=1)
    )
    store.record_run(["a.xml", "b.xml"], BatchResult(inserted=8), 1.25)
    store.mark_retracted(["pmid:3"])
    embedder = FakeEmbedder(dim=16)
    todo = store.chunks_to_embed(embedder.name, 1000)
    store.put_vectors(embedder.name, [k for k, _ in todo], embedder.embed([t for _, t in todo]))


def _snapshot(store: Store) -> dict[str, object]:
    stats = asdict(store.stats())
    for volatile in ("location", "size_bytes"):
        stats.pop(volatile)
    embedder = FakeEmbedder(dim=16)
    query = embedder.embed(["leukopenia after chemotherapy"])[0]
    return {
        "stats": stats,
        "docs": sorted((d.id, d.content_hash()) for d in store.iter_documents()),
        "chunks": store.chunks("pmid:2"),
        "files": [store.file_progress("sha256:a"), store.file_progress("sha256:b")],
        "problems": store.problems(),
        "bm25": {h.chunk.id for h in store.search_text('"leukopenia" OR "clozapine"', 50, SearchFilters())},
        "knn": [h.chunk.id for h in store.search_vector(embedder.name, query, 5, SearchFilters())],
    }


def test_sqlite_to_postgres_and_back_copies_everything(
    tmp_path: Path, pg_url: str, settings: Settings
) -> None:
    source = f"sqlite:///{tmp_path / 'a.db'}"
    s = open_store(source, settings)
    _fill(s)
    expected = _snapshot(s)
    s.close()

    report = migrate_locations(source, pg_url, settings)
    assert (report.documents.inserted, report.files, report.problems, report.runs_added) == (8, 2, 1, 1)
    assert report.vectors == {"fake-hash-16": expected["stats"]["chunks"]}  # type: ignore[index]
    pg = open_store(pg_url, settings)
    try:
        assert _snapshot(pg) == expected
        assert pg.runs()[0][1] == BatchResult(inserted=8)  # type: ignore[attr-defined]
    finally:
        pg.close()

    # Again: nothing changes, nothing is duplicated.
    again = migrate_locations(source, pg_url, settings)
    assert (again.documents.inserted, again.documents.unchanged, again.runs_added) == (0, 8, 0)
    pg = open_store(pg_url, settings)
    try:
        assert _snapshot(pg) == expected
        assert len(pg.runs()) == 1  # type: ignore[attr-defined]
    finally:
        pg.close()

    back = f"sqlite:///{tmp_path / 'back.db'}"
    migrate_locations(pg_url, back, settings)
    s = open_store(back, settings)
    try:
        assert _snapshot(s) == expected
    finally:
        s.close()


def test_cli_migrate_prints_a_report(tmp_path: Path, pg_url: str, settings: Settings) -> None:
    source = str(tmp_path / "a.db")
    s = open_store(source, settings)
    _fill(s)
    s.close()
    from curbside.cli.main import cli

    result = CliRunner().invoke(cli, ["migrate", "--from", source, "--to", pg_url, "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["documents"]["inserted"] == 8
    assert report["files"] == 2


def test_missing_source_is_an_error_and_creates_nothing(tmp_path: Path, settings: Settings) -> None:
    with pytest.raises(InputError, match="no such store file"):
        migrate_locations(f"sqlite:///{tmp_path / 'typo.db'}", str(tmp_path / "b.db"), settings)
    assert not (tmp_path / "typo.db").exists()


def test_empty_source_and_same_store_are_errors(tmp_path: Path, settings: Settings) -> None:
    path = tmp_path / "a.db"
    open_store(str(path), settings).close()
    with pytest.raises(InputError, match="empty"):
        migrate_locations(str(path), str(tmp_path / "b.db"), settings)
    s = open_store(str(path), settings)
    s.write_batch(Batch(FileProgress("k", "x", "test"), documents=[make_doc(1)], records=1))
    s.close()
    with pytest.raises(InputError, match="same store"):
        migrate_locations(str(path), f"sqlite:///{path}", settings)


def test_vectors_are_copied_bit_for_bit(tmp_path: Path, pg_url: str, settings: Settings) -> None:
    source = str(tmp_path / "a.db")
    s = open_store(source, settings)
    s.write_batch(Batch(FileProgress("k", "x", "test"), documents=[make_doc(1), make_doc(2)], records=2))
    todo = s.chunks_to_embed("m", 10)
    vecs = np.random.default_rng(1).normal(size=(len(todo), 5)).astype(np.float32)
    s.put_vectors("m", [k for k, _ in todo], vecs)
    s.close()
    migrate_locations(source, pg_url, settings)
    pg = open_store(pg_url, settings)
    try:
        pages = list(pg.iter_vectors("m"))  # type: ignore[attr-defined]
        got = np.stack([v for page in pages for _, _, v in page])
        assert np.array_equal(got, vecs)
    finally:
        pg.close()
