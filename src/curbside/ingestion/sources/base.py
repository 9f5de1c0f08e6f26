"""The ``Source`` protocol and helpers every source shares.

A source streams :data:`~curbside.types.Record` values: documents, deletions,
and :class:`~curbside.types.Malformed` reports for records it had to skip.
A problem with the input as a whole (a truncated gzip, a file that is not
XML, an unreachable server) raises :class:`~curbside.errors.SourceError`
naming the file or URL instead.

File sources are registered as :class:`FileSourceType` under the ``source``
kind; ``curbside ingest PATH`` picks the first whose ``detect`` accepts the path.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, cast, runtime_checkable

from lxml import etree

from curbside.config import Settings
from curbside.errors import SourceFormatError
from curbside.types import DocumentKind, Record


@runtime_checkable
class Source(Protocol):
    """Anything that streams records.  ``name`` identifies the input (a path or a query) in reports."""

    name: str

    def records(self) -> Iterator[Record]:
        """Yield records in input order; resumable ingest relies on the order being stable."""
        ...


@dataclass(frozen=True)
class FileSourceType:
    """How to recognise and open one kind of input file."""

    name: str
    description: str
    detect: Callable[[Path], bool]
    open: Callable[[Path, Settings], Source]


class CountingReader:
    """Wraps a binary file and counts bytes read, so progress bars can follow a compressed file."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.bytes_read += len(data)
        return data

    def close(self) -> None:
        self._raw.close()


def open_maybe_gzip(path: Path) -> tuple[IO[bytes], CountingReader]:
    """Open ``path`` for reading, decompressing ``.gz``; returns (stream, raw byte counter).

    The counter tracks compressed bytes consumed, which is what a progress bar
    over the file size needs.
    """
    try:
        fh = path.open("rb")
    except OSError as exc:
        raise SourceFormatError(f"{path}: cannot open: {exc.strerror or exc}") from exc
    head = fh.read(2)
    fh.seek(0)
    raw = CountingReader(fh)
    if head == b"\x1f\x8b":
        return _ClosingGzipFile(fileobj=raw, mode="rb"), raw  # type: ignore[call-overload]
    return raw, raw  # type: ignore[return-value]


class _ClosingGzipFile(gzip.GzipFile):
    """A GzipFile that also closes the file it wraps (the stdlib one leaves it open)."""

    def close(self) -> None:
        inner = self.fileobj
        try:
            super().close()
        finally:
            closer = getattr(inner, "close", None)
            if closer is not None:
                closer()


# Errors a truncated or corrupt gzip stream raises while being read.
GZIP_ERRORS: tuple[type[BaseException], ...] = (EOFError, gzip.BadGzipFile, zlib.error)


_WS = re.compile(r"\s+")


def clean_text(text: str | None) -> str:
    """Collapse runs of whitespace; sources keep text otherwise verbatim."""
    if not text:
        return ""
    return _WS.sub(" ", text).strip()


# Publication types, most specific first, mapped to the document kind used for evidence weighting.
_KIND_BY_PUBTYPE: tuple[tuple[str, DocumentKind], ...] = (
    ("practice guideline", "guideline"),
    ("guideline", "guideline"),
    ("consensus development conference", "guideline"),
    ("meta-analysis", "meta-analysis"),
    ("systematic review", "systematic-review"),
    ("randomized controlled trial", "rct"),
    ("review", "review"),
    ("case reports", "case-report"),
    ("editorial", "editorial"),
    ("comment", "editorial"),
    ("letter", "editorial"),
)


def kind_from_publication_types(types: tuple[str, ...] | list[str]) -> DocumentKind:
    """The most evidence-relevant kind among a record's publication types; ``research`` otherwise."""
    lowered = {t.lower() for t in types}
    for needle, kind in _KIND_BY_PUBTYPE:
        if needle in lowered:
            return kind
    return "research"


def is_retraction_type(types: tuple[str, ...] | list[str]) -> bool:
    """True when a record is itself a retracted publication (not a retraction *notice*)."""
    return any(t.lower() == "retracted publication" for t in types)


class XmlElements:
    """The ``end`` events of ``tags`` in an XML byte stream, each complete element yielded as it closes.

    Every element that closed before a syntax error is yielded before the error is
    raised, so an ingest keeps the records that precede a break.  ``iterparse``
    cannot promise that: from lxml 6.2 it parses a read-ahead block before it hands
    out the block's events and raises a syntax error inside the block first.  A pull
    parser fed block by block keeps the events it parsed before a failing ``feed``,
    and :meth:`__iter__` drains them before re-raising.

    No DTD, no network, no entity expansion: the input may come from anywhere.
    After iteration, :attr:`root` is the document element (``None`` if there was none).
    """

    BLOCK = 64 * 1024

    def __init__(self, stream: IO[bytes], tags: str | tuple[str, ...]) -> None:
        self._stream = stream
        self._parser = etree.XMLPullParser(
            events=("end",),
            tag=tags,
            resolve_entities=False,
            load_dtd=False,
            no_network=True,
            remove_comments=True,
            remove_pis=True,
        )
        self.root: etree._Element | None = None

    def __iter__(self) -> Iterator[etree._Element]:
        parser = self._parser
        error: etree.XMLSyntaxError | None = None
        while error is None:
            block = self._stream.read(self.BLOCK)
            try:
                if block:
                    parser.feed(block)
                else:
                    self.root = parser.close()
            except etree.XMLSyntaxError as exc:
                error = exc
            for _, elem in parser.read_events():
                yield cast(etree._Element, elem)  # "end" events carry elements
            if not block:
                break
        if error is not None:
            raise error
