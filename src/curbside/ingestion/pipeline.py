"""Ingest: stream records from sources into a store, idempotently and resumably.

Each input is keyed by the SHA-256 of its bytes (or, for a remote query, by
the query), so that

* re-ingesting a file that was completed does nothing at all;
* an ingest killed half way resumes where its last committed batch ended
  (records are counted in input order; batches commit atomically with the
  position reached);
* a malformed record is stored as a problem report and skipped;
* a file that cannot be read (truncated, not XML) is reported by name, the
  batches before the failure stay, and the other inputs still run.
"""

from __future__ import annotations

import glob
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from curbside.config import Settings
from curbside.errors import InputError, SourceError
from curbside.ingestion.screening import flag_documents, visible_text
from curbside.ingestion.sources.base import FileSourceType, Source
from curbside.registry import get_registry
from curbside.store.base import Batch, BatchResult, FileProgress, Store
from curbside.types import Deletion, Document, Malformed, Record


@dataclass
class Progress:
    """What a progress bar needs; sent to the ``progress`` callback after every batch."""

    input: str
    records: int
    bytes_done: int | None = None
    bytes_total: int | None = None
    event: Literal["start", "batch", "done", "skipped", "failed"] = "batch"
    message: str = ""


ProgressCallback = Callable[[Progress], None]


@dataclass
class InputReport:
    input: str
    source_type: str
    status: Literal["ingested", "resumed", "unchanged", "failed"]
    documents: int = 0
    deletions: int = 0
    malformed: int = 0
    error: str | None = None
    # (document id, why): records holding text addressed to a language model; stored, never cited.
    flagged: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class IngestReport:
    inputs: list[InputReport] = field(default_factory=list)
    result: BatchResult = field(default_factory=BatchResult)
    seconds: float = 0.0
    problems: list[Malformed] = field(default_factory=list)

    @property
    def failed(self) -> list[InputReport]:
        return [i for i in self.inputs if i.status == "failed"]

    @property
    def documents(self) -> int:
        return sum(i.documents for i in self.inputs)

    @property
    def records_per_s(self) -> float:
        """Throughput of this run: documents written (inserted, updated or unchanged) per second."""
        written = self.result.inserted + self.result.updated + self.result.unchanged
        return written / self.seconds if self.seconds > 0 else 0.0


def file_source_types() -> list[FileSourceType]:
    return [factory for _, factory in get_registry().items("source") if isinstance(factory, FileSourceType)]


def detect_source_type(path: Path, types: Sequence[FileSourceType] | None = None) -> FileSourceType | None:
    for source_type in types if types is not None else file_source_types():
        if source_type.detect(path):
            return source_type
    return None


def resolve_inputs(patterns: Sequence[str | Path]) -> list[tuple[Path, FileSourceType]]:
    """Expand files, globs and folders into ``(path, source type)`` pairs, in a stable order.

    A folder contributes every file under it that some source recognises; a
    named file no source recognises is an error (silently skipping it would hide
    a typo), as is a pattern that matches nothing.
    """
    types = file_source_types()
    out: list[tuple[Path, FileSourceType]] = []
    seen: set[Path] = set()
    for pattern in patterns:
        text = str(pattern)
        matches = (
            sorted(Path(p) for p in glob.glob(text, recursive=True)) if glob.has_magic(text) else [Path(text)]
        )
        if not matches or not matches[0].exists():
            raise InputError(f"{text}: no such file or folder")
        for match in matches:
            if match.is_dir():
                for child in sorted(p for p in match.rglob("*") if p.is_file()):
                    st = detect_source_type(child, types)
                    if st and child.resolve() not in seen and not _is_sidecar(child):
                        seen.add(child.resolve())
                        out.append((child, st))
                continue
            st = detect_source_type(match, types)
            if st is None:
                known = ", ".join(f"{t.name} ({t.description})" for t in types)
                raise InputError(f"{match}: no source understands this file; known sources: {known}")
            if match.resolve() not in seen:
                seen.add(match.resolve())
                out.append((match, st))
    return out


def _is_sidecar(path: Path) -> bool:
    return path.name.endswith((".meta.yaml", ".meta.json"))


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ingest_source(
    store: Store,
    source: Source,
    *,
    key: str,
    source_type: str,
    settings: Settings | None = None,
    progress: ProgressCallback | None = None,
    result: BatchResult | None = None,
) -> InputReport:
    """Stream one source into ``store``; resumes from the stored position of ``key``."""
    settings = settings or Settings()
    result = result if result is not None else BatchResult()
    notify: ProgressCallback = progress or (lambda _p: None)
    fp = store.file_progress(key)
    if fp is not None and fp.completed:
        notify(Progress(source.name, fp.records_done, event="skipped", message="unchanged since last ingest"))
        return InputReport(source.name, source_type, "unchanged", fp.documents, fp.deletions, fp.malformed)
    resumed = fp is not None and fp.records_done > 0
    fp = fp or FileProgress(key=key, path=source.name, source_type=source_type)
    fp.path = source.name
    skip = fp.records_done
    size = getattr(source, "size", None)
    notify(
        Progress(
            source.name,
            skip,
            0,
            size,
            event="start",
            message=f"resuming after record {skip}" if resumed else "",
        )
    )

    flagged: list[tuple[str, str]] = []
    try:
        for documents, deletions, malformed, records in batched(source.records(), skip, settings.batch_size):
            result.add(store.write_batch(Batch(fp, documents, deletions, malformed, records)))
            flagged += flag_documents(documents)
            notify(Progress(source.name, fp.records_done, getattr(source, "position", None), size))
    except SourceError as exc:
        # The good records read before the failure were delivered (and written) first.
        notify(Progress(source.name, fp.records_done, event="failed", message=str(exc)))
        return InputReport(
            source.name,
            source_type,
            "failed",
            fp.documents,
            fp.deletions,
            fp.malformed,
            error=str(exc),
            flagged=flagged,
        )
    store.finish_file(fp)
    notify(Progress(source.name, fp.records_done, size, size, event="done"))
    return InputReport(
        source.name,
        source_type,
        "resumed" if resumed else "ingested",
        fp.documents,
        fp.deletions,
        fp.malformed,
        flagged=flagged,
    )


#: One batch as :func:`batched` yields it: documents, deleted ids, problem reports, records consumed.
BatchParts = tuple[list[Document], list[str], list[Malformed], int]


def batched(records: Iterable[Record], skip: int, size: int) -> Iterator[BatchParts]:
    """Group ``records`` after the first ``skip`` into batches of ``size`` records, in input order.

    A deletion and a document never share a batch (the store applies a batch's
    documents before its deletions, which would reorder them).  On a
    :class:`SourceError` the records read before it come out as a last batch,
    then the error is raised.  The serial ingest and the bulk workers
    (:mod:`curbside.ingestion.bulk`) both batch with this, so both write the same batches.
    """
    documents: list[Document] = []
    deletions: list[str] = []
    malformed: list[Malformed] = []
    count = seen = 0
    try:
        for record in records:
            seen += 1
            if seen <= skip:
                continue
            if count and (
                (isinstance(record, Deletion) and documents) or (isinstance(record, Document) and deletions)
            ):
                yield documents, deletions, malformed, count
                documents, deletions, malformed, count = [], [], [], 0
            count += 1
            if isinstance(record, Document):
                # What readers are shown as the title must not hide or reorder part of itself.
                title = visible_text(record.title)
                documents.append(record if title == record.title else replace(record, title=title))
            elif isinstance(record, Deletion):
                deletions.extend(record.ids)
            else:
                malformed.append(record)
            if count >= size:
                yield documents, deletions, malformed, count
                documents, deletions, malformed, count = [], [], [], 0
    except SourceError:
        if count:
            yield documents, deletions, malformed, count
        raise
    if count:
        yield documents, deletions, malformed, count
