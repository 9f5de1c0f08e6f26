"""Bulk ingest and embedding in worker processes: same store as one process, resumable after a kill."""

from __future__ import annotations

import contextlib
import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from curbside import api
from curbside.config import Settings
from curbside.errors import InputError
from curbside.ingestion.run import ingest_paths
from curbside.store import open_store
from curbside.store.base import Store
from curbside.store.sqlite import SQLiteStore


def _article(pmid: int, version: str) -> str:
    return (
        f"<PubmedArticle><MedlineCitation><PMID>{pmid}</PMID><Article>"
        "<Journal><JournalIssue><PubDate><Year>2019</Year></PubDate></JournalIssue><Title>J</Title></Journal>"
        f"<ArticleTitle>Record {pmid} on leukopenia ({version})</ArticleTitle>"
        f"<Abstract><AbstractText Label='RESULTS'>Leukopenia occurred in {pmid % 89} patients "
        f"in the {version} cohort.</AbstractText></Abstract></Article>"
        '<MeshHeadingList><MeshHeading><DescriptorName UI="D007970" MajorTopicYN="Y">Leukopenia'
        "</DescriptorName></MeshHeading></MeshHeadingList></MedlineCitation></PubmedArticle>\n"
    )


def write_file(path: Path, pmids: range, version: str, deletions: tuple[int, ...] = ()) -> Path:
    body = "".join(_article(p, version) for p in pmids)
    if deletions:
        body += "<DeleteCitation>" + "".join(f"<PMID>{d}</PMID>" for d in deletions) + "</DeleteCitation>"
    path.write_bytes(gzip.compress(f"<PubmedArticleSet>{body}</PubmedArticleSet>".encode()))
    return path


def corpus(folder: Path) -> list[Path]:
    """Files whose order matters: later versions of PMIDs, deletions, and a truncated file."""
    files = [
        write_file(folder / "a.xml.gz", range(1, 401), "first", deletions=(3, 5)),
        write_file(folder / "b.xml.gz", range(300, 701), "second", deletions=(650,)),
        write_file(folder / "c.xml.gz", range(650, 900), "third"),
    ]
    truncated = folder / "d.xml.gz"
    whole = write_file(folder / "whole.xml.gz", range(2000, 2600), "fourth").read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    (folder / "whole.xml.gz").unlink()
    return [*files, truncated]


def contents(store: Store) -> dict[str, Any]:
    """Everything a reader of the store can see, except timestamps."""
    stats = store.stats()
    docs = {d.id: (d.content_hash(), tuple(store.chunks(d.id))) for d in store.iter_documents()}
    return {
        "docs": docs,
        "counts": (
            stats.documents,
            stats.with_abstract,
            stats.chunks,
            stats.files,
            stats.files_completed,
            stats.records_read,
            stats.deletions_applied,
            stats.malformed,
        ),
    }


@pytest.fixture(params=["sqlite", "postgresql"])
def locations(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, str]:
    """Two empty stores of one backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'one.db'}", f"sqlite:///{tmp_path / 'two.db'}"
    return request.getfixturevalue("pg_url"), request.getfixturevalue("pg_url_2")


@pytest.fixture
def pg_url_2(pg_server: Any) -> Any:
    name = pg_server.create_database()
    yield pg_server.url(name)
    pg_server.drop_database(name)


def test_two_workers_leave_the_same_store_as_one(tmp_path: Path, locations: tuple[str, str]) -> None:
    files = corpus(tmp_path)
    settings = Settings(db=locations[0], data_dir=tmp_path / "data", batch_size=37)
    reports = []
    seen = []
    for location, workers in zip(locations, (1, 2), strict=True):
        store = open_store(location, settings)
        try:
            report = ingest_paths(store, files, settings, workers=workers)
            reports.append(
                [(i.input, i.status, i.documents, i.deletions, i.malformed) for i in report.inputs]
            )
            assert report.failed[0].input.endswith("d.xml.gz")
            assert "d.xml.gz" in (report.failed[0].error or "")
            seen.append(contents(store))
        finally:
            store.close()
    assert reports[0] == reports[1]
    assert seen[0] == seen[1]
    docs = seen[0]["docs"]
    # Input order holds: deleted by a.xml.gz stays deleted; deleted by b.xml.gz, then back in c.xml.gz.
    assert "pmid:3" not in docs and "pmid:650" in docs
    assert "third cohort" in docs["pmid:650"][1][0].text
    assert "second cohort" in docs["pmid:400"][1][0].text  # b.xml.gz's version replaced a.xml.gz's
    assert seen[0]["counts"][6] == 3


def test_workers_skip_completed_files_and_resume_partial_ones(tmp_path: Path, settings: Settings) -> None:
    files = corpus(tmp_path)[:3]
    with SQLiteStore(tmp_path / "s.db") as store:
        ingest_paths(store, files[:1], settings, workers=2)
        again = ingest_paths(store, files, settings.model_copy(update={"batch_size": 50}), workers=2)
        assert [i.status for i in again.inputs] == ["unchanged", "ingested", "ingested"]
        assert again.records_per_s > 0


def test_workers_must_be_positive(tmp_path: Path, settings: Settings) -> None:
    with SQLiteStore(tmp_path / "s.db") as store, pytest.raises(InputError, match="workers"):
        ingest_paths(store, corpus(tmp_path)[:1], settings, workers=0)


def _cli(db: Path, *args: str, batch: int | None = None) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CURBSIDE_DB": str(db)}
    if batch:
        env["CURBSIDE_BATCH_SIZE"] = str(batch)
    return subprocess.Popen(
        [sys.executable, "-m", "curbside", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _children(pid: int) -> list[int]:
    """Child processes of ``pid`` (Linux ``/proc``; empty elsewhere, which skips that check)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


@pytest.mark.slow
def test_kill_a_bulk_ingest_then_resume_equals_one_clean_run(tmp_path: Path) -> None:
    files = [
        write_file(
            tmp_path / f"f{i}.xml.gz", range(i * 3000 + 1, i * 3000 + 3001), "v", deletions=(i * 3000 + 7,)
        )
        for i in range(3)
    ]
    clean_db, killed_db = tmp_path / "clean.db", tmp_path / "killed.db"
    assert _cli(clean_db, "ingest", *map(str, files)).wait(timeout=300) == 0

    proc = _cli(killed_db, "ingest", "--workers", "2", *map(str, files), batch=100)
    deadline = time.time() + 120
    while time.time() < deadline:  # wait for some committed batches, then SIGKILL (no cleanup runs)
        time.sleep(0.05)
        if killed_db.exists():
            try:
                with SQLiteStore(killed_db) as probe:
                    if probe.stats().records_read >= 300:
                        break
            except Exception:  # the store may be mid-migration at the very start
                continue
    children = _children(proc.pid)
    assert children or not Path("/proc").is_dir(), "no worker processes seen"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with SQLiteStore(killed_db) as store:
        partial = store.stats().records_read
    # Orphaned workers notice the dead parent and exit rather than wait on their queues forever.
    deadline = time.time() + 20
    while time.time() < deadline and any(Path(f"/proc/{pid}").exists() for pid in children):
        time.sleep(0.2)
    assert not [pid for pid in children if Path(f"/proc/{pid}").exists()], (
        "worker processes outlived the kill"
    )
    assert 0 < partial < 9000, "the kill did not land mid-ingest; the test proves nothing"

    assert _cli(killed_db, "ingest", "--workers", "2", *map(str, files)).wait(timeout=300) == 0
    with SQLiteStore(clean_db) as a, SQLiteStore(killed_db) as b:
        assert contents(a) == contents(b)
        assert contents(b)["counts"][5:7] == (9000, 3)


def test_index_with_workers_stores_the_same_vectors(tmp_path: Path) -> None:
    files = corpus(tmp_path)[:2]
    vectors = []
    for workers in (1, 2):
        settings = Settings(db=str(tmp_path / f"idx{workers}.db"), embedder="fake", embed_batch=16)
        api.ingest(files, settings=settings)
        report = api.index(settings=settings, workers=workers)
        assert report.remaining == 0 and report.embedded > 0
        with SQLiteStore(settings.db) as store:
            keys, matrix = store._matrix(report.embedder)
            vectors.append((keys.tolist(), matrix))
    assert vectors[0][0] == vectors[1][0]
    np.testing.assert_array_equal(vectors[0][1], vectors[1][1])


def test_index_workers_need_a_registered_embedder(tmp_path: Path) -> None:
    from curbside.testing import FakeEmbedder

    settings = Settings(db=str(tmp_path / "s.db"), embedder="fake")
    with pytest.raises(InputError, match="workers"):
        api.index(settings=settings, embedder=FakeEmbedder(), workers=2)
