"""Already-normalised documents from JSON Lines (``.jsonl``, ``.jsonl.gz``, ``.ndjson``).

Each line is one JSON object in the shape of :meth:`curbside.types.Document.to_dict`
(only ``id`` and ``title`` are required), or a deletion ``{"delete": ["pmid:1", ...]}``.
docs/jsonl.md describes the format and carries the JSON Schema, which
:func:`json_schema` generates from the same definitions used for validation.

The input is untrusted, so every line is validated with pydantic before a
:class:`~curbside.types.Document` is built.  A line that is not JSON or fails
validation becomes a :class:`~curbside.types.Malformed` naming the line and the
first problems found, and the import goes on.  Unknown keys are rejected rather
than ignored: a misspelt field (``"abstract"`` for ``"sections"``) would
otherwise vanish without a word.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Annotated, Any, Required, cast

from pydantic import ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError, with_config

# pydantic needs typing_extensions.TypedDict before Python 3.12.
from typing_extensions import TypedDict

from curbside.config import Settings
from curbside.errors import InputError, SourceFormatError
from curbside.ingestion.sources.base import GZIP_ERRORS, FileSourceType, Source, open_maybe_gzip
from curbside.types import Deletion, Document, DocumentKind, Malformed, Record, document_from_dict

__all__ = [
    "SOURCE_TYPE",
    "DeletionLine",
    "DocumentLine",
    "JsonlSource",
    "detect",
    "json_schema",
    "parse_document",
]

#: Document ids: a lower-case scheme, a colon, then anything (``pmid:123``, ``guideline:nice-ng51``).
ID_PATTERN = r"^(pmid|pmcid|doi|guideline|[a-z]+):.+"
#: How many validation problems one Malformed message lists before summarising the rest.
MAX_REPORTED_ERRORS = 3
_READ_SIZE = 1 << 20

DocumentId = Annotated[str, StringConstraints(pattern=ID_PATTERN), Field(examples=["pmid:12345678"])]


@with_config(ConfigDict(extra="forbid"))
class SectionLine(TypedDict, total=False):
    """One labelled block of text; the document body is the section texts joined by a blank line."""

    text: Required[Annotated[str, Field(description="The section text, plain.")]]
    label: Annotated[
        str, Field(default="", description="e.g. BACKGROUND, RESULTS, 'Diagnosis > Thresholds'.")
    ]


@with_config(ConfigDict(extra="forbid"))
class MeshQualifierLine(TypedDict, total=False):
    """A MeSH qualifier (subheading) of a heading."""

    name: Required[Annotated[str, Field(description="Qualifier name, e.g. 'chemically induced'.")]]
    ui: Annotated[str, Field(default="", description="Qualifier unique id, e.g. Q000139.")]
    major: Annotated[bool, Field(default=False, description="Major topic of the article.")]


@with_config(ConfigDict(extra="forbid"))
class MeshHeadingLine(TypedDict, total=False):
    """A MeSH descriptor with its qualifiers."""

    descriptor: Required[Annotated[str, Field(description="Descriptor name, e.g. 'Leukopenia'.")]]
    ui: Annotated[str, Field(default="", description="Descriptor unique id, e.g. D007970.")]
    major: Annotated[bool, Field(default=False, description="Major topic of the article.")]
    qualifiers: Annotated[list[MeshQualifierLine], Field(default=[])]


@with_config(ConfigDict(extra="forbid", title="Document"))
class DocumentLine(TypedDict, total=False):
    """One document, as written by ``Document.to_dict()``; only ``id`` and ``title`` are required."""

    id: Required[Annotated[DocumentId, Field(description="Stable id: pmid:, pmcid:, doi:, guideline: ...")]]
    title: Required[Annotated[str, Field(description="Document title.")]]
    sections: Annotated[list[SectionLine], Field(default=[], description="Abstract parts or body sections.")]
    kind: Annotated[DocumentKind, Field(default="research", description="Kind used for evidence weighting.")]
    source: Annotated[str, Field(default="", description="Where the record came from, e.g. 'medline'.")]
    journal: Annotated[str | None, Field(default=None)]
    journal_abbrev: Annotated[str | None, Field(default=None)]
    year: Annotated[int | None, Field(default=None, ge=1000, le=2100, description="Publication year.")]
    pub_date: Annotated[str | None, Field(default=None, description="Publication date as given.")]
    authors: Annotated[list[str], Field(default=[], description="Display names, e.g. 'Smith J'.")]
    identifiers: Annotated[
        dict[str, str], Field(default={}, description="Every known identifier: pmid, pmcid, doi, ...")
    ]
    language: Annotated[str | None, Field(default=None, description="Language code, e.g. 'eng'.")]
    publication_types: Annotated[
        list[str], Field(default=[], description="e.g. 'Randomized Controlled Trial'.")
    ]
    mesh: Annotated[list[MeshHeadingLine], Field(default=[], description="MeSH headings.")]
    chemicals: Annotated[list[str], Field(default=[])]
    keywords: Annotated[list[str], Field(default=[])]
    retracted: Annotated[bool, Field(default=False, description="The document itself has been retracted.")]
    licence: Annotated[str | None, Field(default=None)]
    url: Annotated[str | None, Field(default=None)]
    issuer: Annotated[str | None, Field(default=None, description="Issuing body of a guideline.")]


@with_config(ConfigDict(extra="forbid", title="Deletion"))
class DeletionLine(TypedDict):
    """Documents to remove from the store, e.g. a MEDLINE DeleteCitation carried over."""

    delete: Annotated[list[DocumentId], Field(min_length=1, description="Ids of the documents to delete.")]


_DOCUMENT = TypeAdapter(DocumentLine)
_DELETION = TypeAdapter(DeletionLine)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of one line (a document or a deletion), as published in docs/jsonl.md."""
    header = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "curbside JSON Lines record",
    }
    return header | TypeAdapter(DocumentLine | DeletionLine).json_schema()


def format_validation_error(exc: ValidationError) -> str:
    """pydantic's errors in short: ``year: Input should be less than or equal to 2100; ...``."""
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    parts = []
    for err in errors[:MAX_REPORTED_ERRORS]:
        where = ""
        for loc in err["loc"]:
            where += f"[{loc}]" if isinstance(loc, int) else (f".{loc}" if where else str(loc))
        parts.append(f"{where}: {err['msg']}" if where else err["msg"])
    if len(errors) > MAX_REPORTED_ERRORS:
        parts.append(f"and {len(errors) - MAX_REPORTED_ERRORS} more problems")
    return "; ".join(parts)


def parse_document(data: dict[str, Any]) -> Document:
    """Validate one untrusted document dict and build the :class:`~curbside.types.Document`.

    Raises :class:`~curbside.errors.InputError` with the field and the problem when it is invalid.
    """
    try:
        return document_from_dict(cast(dict[str, Any], _DOCUMENT.validate_python(data)))
    except ValidationError as exc:
        raise InputError(f"invalid document: {format_validation_error(exc)}") from exc


def _record(data: Any) -> Document | Deletion:
    """A document or a deletion from one decoded line; raises ValidationError or _NotAnObject."""
    if not isinstance(data, dict):
        raise _NotAnObject(type(data).__name__)
    if "delete" in data:
        return Deletion(ids=tuple(_DELETION.validate_python(data)["delete"]))
    return document_from_dict(cast(dict[str, Any], _DOCUMENT.validate_python(data)))


class _NotAnObject(Exception):
    pass


_JSON_TYPE_NAMES = {
    "list": "an array",
    "str": "a string",
    "int": "a number",
    "float": "a number",
    "bool": "a boolean",
    "NoneType": "null",
}


def _iter_lines(stream: IO[bytes]) -> Iterator[bytes]:
    """Lines of a binary stream, read in large blocks (the gzip and counting readers have no readline)."""
    tail = b""
    while block := stream.read(_READ_SIZE):
        lines = (tail + block).split(b"\n")
        tail = lines.pop()
        yield from lines
    if tail:
        yield tail


class JsonlSource:
    """A JSON Lines file of documents and deletions, plain or gzip-compressed."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.name = str(self.path)

    def records(self) -> Iterator[Record]:
        stream, raw = open_maybe_gzip(self.path)
        lineno = 0
        try:
            for lineno, line in enumerate(_iter_lines(stream), 1):
                if not line.strip():
                    continue
                yield self._parse_line(line, lineno)
        except GZIP_ERRORS as exc:
            raise SourceFormatError(
                f"{self.path}: compressed data is truncated or corrupt after line {lineno}: {exc}"
            ) from exc
        finally:
            # Closing a GzipFile leaves the file object it wraps open, so close both.
            stream.close()
            raw.close()

    def _parse_line(self, line: bytes, lineno: int) -> Record:
        position = f"line {lineno}"
        try:
            data = json.loads(line)
        except UnicodeDecodeError as exc:
            return Malformed(self.name, position, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        except json.JSONDecodeError as exc:
            return Malformed(self.name, position, f"invalid JSON: {exc.msg} at column {exc.colno}")
        try:
            return _record(data)
        except ValidationError as exc:
            return Malformed(self.name, position, format_validation_error(exc))
        except _NotAnObject as exc:
            got = _JSON_TYPE_NAMES.get(str(exc), str(exc))
            return Malformed(self.name, position, f"expected a JSON object, got {got}")


def detect(path: Path) -> bool:
    """True for ``.jsonl``, ``.jsonl.gz``, ``.ndjson`` and ``.ndjson.gz`` files."""
    name = path.name.lower()
    return name.endswith((".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz"))


def _open(path: Path, settings: Settings) -> Source:
    return JsonlSource(path)


SOURCE_TYPE = FileSourceType(
    name="jsonl",
    description="Normalised documents as JSON Lines (.jsonl, .jsonl.gz, .ndjson): "
    "one Document.to_dict() object or {'delete': [ids]} per line; see docs/jsonl.md",
    detect=detect,
    open=_open,
)
