"""`curbside ingest --ray` and `index --ray` on a local Ray instance: the same store as the single
process, resumable, and nothing lost or doubled when a Ray worker dies mid-ingest.

Ray starts once for the module (two CPUs); the tests skip, saying why, without the ray extra.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from curbside import api
from curbside.config import Settings
from curbside.errors import InputError
from curbside.ingestion.pipeline import Progress

FIXTURE = Path(__file__).parent / "fixtures" / "medline" / "sample.xml"


@pytest.fixture(scope="module")
def ray_local() -> Iterator[Any]:
    ray = pytest.importorskip("ray", reason="ray is not installed: ./scripts/install.sh ray")
    import logging

    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.WARNING,
    )
    yield ray
    ray.shutdown()


def medline_file(path: Path, records: int, first_pmid: int = 1) -> Path:
    """A MEDLINE file of ``records`` copies of the fixture's first article, each with its own PMID."""
    text = FIXTURE.read_text(encoding="utf-8")
    article = re.search(r"<PubmedArticle>.*?</PubmedArticle>", text, re.S)
    assert article is not None
    body = "\n".join(
        article.group(0).replace(
            '<PMID Version="1">90000001</PMID>', f'<PMID Version="1">{first_pmid + i}</PMID>', 1
        )
        for i in range(records)
    )
    path.write_text(
        text[: text.index("<PubmedArticleSet>")] + f"<PubmedArticleSet>\n{body}\n</PubmedArticleSet>\n"
    )
    return path


def _settings(tmp_path: Path, name: str, **kw: Any) -> Settings:
    return Settings(
        db=str(tmp_path / f"{name}.db"), embedder="fake", data_dir=tmp_path, cache_dir=tmp_path, **kw
    )


def _same_stats(a: Settings, b: Settings) -> None:
    left, right = api.stats(settings=a), api.stats(settings=b)
    for field in ("documents", "with_abstract", "retracted", "chunks", "by_kind", "embedded", "records_read",
                  "deletions_applied", "malformed", "files", "files_completed", "year_min", "year_max"):  # fmt: skip
        assert getattr(left, field) == getattr(right, field), field


def test_ray_ingest_and_index_leave_the_store_the_single_process_path_leaves(
    ray_local: Any, tmp_path: Path
) -> None:
    inputs = [str(FIXTURE), str(medline_file(tmp_path / "more.xml", 300, first_pmid=1000))]
    serial, distributed = _settings(tmp_path, "serial"), _settings(tmp_path, "ray", batch_size=40)
    api.ingest(inputs, settings=serial)
    seen: list[Progress] = []
    report = api.ingest(inputs, settings=distributed, ray="local", progress=seen.append)
    assert [r.status for r in report.inputs] == ["ingested", "ingested"]
    assert report.inputs[0].malformed == 1 and report.inputs[1].documents == 300
    assert any(p.event == "done" for p in seen) and any(p.event == "batch" for p in seen)
    api.index(settings=serial)
    indexed = api.index(settings=distributed, ray="local")
    assert indexed.embedded == api.stats(settings=distributed).chunks and indexed.remaining == 0
    _same_stats(serial, distributed)
    # Run again: completed files are skipped by digest, every chunk already has its vector.
    again = api.ingest(inputs, settings=distributed, ray="local")
    assert [r.status for r in again.inputs] == ["unchanged", "unchanged"]
    assert api.index(settings=distributed, ray="local").embedded == 0
    _same_stats(serial, distributed)


def test_a_ray_worker_killed_mid_ingest_loses_and_doubles_nothing(ray_local: Any, tmp_path: Path) -> None:
    import psutil

    # Large enough that parsing outlasts the first writes by seconds, even on a busy machine: the
    # worker must still be parsing when the first batch has been written and it is killed.
    records = 24_000
    big = medline_file(tmp_path / "big.xml", records)
    serial, distributed = _settings(tmp_path, "serial"), _settings(tmp_path, "ray", batch_size=50)
    api.ingest([str(big)], settings=serial)
    first_batch = threading.Event()
    killed: list[int] = []

    def progress(p: Progress) -> None:
        if p.event == "batch":
            first_batch.set()

    def kill_the_parser() -> None:
        first_batch.wait(120)
        for _ in range(200):  # the task's worker names itself after the function it runs
            for proc in psutil.process_iter(["pid", "cmdline"]):
                if "_parse_file" in " ".join(proc.info["cmdline"] or ()):
                    proc.kill()
                    killed.append(proc.info["pid"])
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_the_parser, daemon=True)
    killer.start()
    report = api.ingest([str(big)], settings=distributed, ray="local", progress=progress)
    killer.join(5)
    assert killed, "no parse worker was found to kill"
    [file] = report.inputs
    assert file.status == "ingested" and file.documents == records
    assert report.result.inserted == records  # each record written once, though a task ran again
    _same_stats(serial, distributed)


def test_a_killed_ray_ingest_resumes_where_it_stopped(ray_local: Any, tmp_path: Path) -> None:
    big = medline_file(tmp_path / "big.xml", 400)
    serial, distributed = _settings(tmp_path, "serial"), _settings(tmp_path, "ray", batch_size=50)
    api.ingest([str(big)], settings=serial)

    class Stop(Exception):
        pass

    def stop_after_two(p: Progress) -> None:
        if p.event == "batch" and p.records >= 100:
            raise Stop  # as a kill would, between two committed batches

    with pytest.raises(Stop):
        api.ingest([str(big)], settings=distributed, ray="local", progress=stop_after_two)
    assert api.stats(settings=distributed).documents == 100
    report = api.ingest([str(big)], settings=distributed, ray="local")
    assert [r.status for r in report.inputs] == ["resumed"] and report.result.inserted == 300
    _same_stats(serial, distributed)


def test_ray_choices_that_cannot_work_are_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path, "s")
    with pytest.raises(InputError, match="give one"):
        api.ingest([str(FIXTURE)], settings=settings, ray="local", workers=2)
    with pytest.raises(InputError, match="pass neither"):
        api.index(settings=settings, ray="local", workers=2)
    from click.testing import CliRunner

    from curbside.cli.main import cli

    env = {"CURBSIDE_DB": settings.db}
    result = CliRunner().invoke(cli, ["index", "--ray", "not an address"], env=env)
    assert result.exit_code == 2 and "is not a Ray address" in result.output
    result = CliRunner().invoke(cli, ["ingest", "--ray", str(tmp_path / "missing.xml")], env=env)
    assert result.exit_code == 2 and "neither a Ray address nor an input" in result.output
