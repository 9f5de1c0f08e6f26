"""JSON Lines import of normalised documents."""

from __future__ import annotations

import dataclasses
import gzip
import json
import re
from pathlib import Path
from typing import Any

import pytest

from curbside.errors import InputError, SourceFormatError
from curbside.ingestion.sources.base import Source
from curbside.ingestion.sources.jsonl import (
    SOURCE_TYPE,
    DocumentLine,
    JsonlSource,
    detect,
    json_schema,
    parse_document,
)
from curbside.types import (
    Deletion,
    Document,
    Malformed,
    MeshHeading,
    MeshQualifier,
    Record,
    Section,
)

FIXTURES = Path(__file__).parent / "fixtures" / "jsonl"
DOCS = Path(__file__).parent.parent / "docs" / "jsonl.md"


def read(path: Path) -> list[Record]:
    return list(JsonlSource(path).records())


def rich_document() -> Document:
    """A document using every field, with non-default values wherever a field has a default."""
    return Document(
        id="pmid:90000001",
        title="Test fixture: neutropenia — “quoted” and ünïcode",
        sections=(
            Section(text="Background text.", label="BACKGROUND"),
            Section(text="Results text with a newline\nand a tab\t.", label="RESULTS"),
            Section(text="Unlabelled."),
        ),
        kind="systematic-review",
        source="medline",
        journal="Fixture Journal",
        journal_abbrev="Fixture J",
        year=2021,
        pub_date="2021 Mar 4",
        authors=("Doe J", "Roe R"),
        identifiers={"pmid": "90000001", "doi": "10.9999/fixture", "pmcid": "PMC900"},
        language="eng",
        publication_types=("Journal Article", "Systematic Review"),
        mesh=(
            MeshHeading(
                descriptor="Neutropenia",
                ui="D009503",
                major=False,
                qualifiers=(
                    MeshQualifier(name="chemically induced", ui="Q000139", major=True),
                    MeshQualifier(name="diagnosis", ui="Q000175"),
                ),
            ),
            MeshHeading(descriptor="Humans", ui="D006801"),
        ),
        chemicals=("Clozapine",),
        keywords=("agranulocytosis",),
        retracted=True,
        licence="CC BY 4.0",
        url="https://example.org/fixture",
        issuer="Fixture Issuer",
    )


# --------------------------------------------------------------------------- round trip


def test_round_trip_every_field(tmp_path: Path) -> None:
    original = rich_document()
    path = tmp_path / "docs.jsonl"
    path.write_text(json.dumps(original.to_dict(), ensure_ascii=False) + "\n", encoding="utf-8")
    assert read(path) == [original]
    assert parse_document(json.loads(json.dumps(original.to_dict()))) == original


def test_round_trip_minimal_document() -> None:
    original = Document(id="guideline:fixture", title="Minimal")
    assert parse_document(original.to_dict()) == original
    assert parse_document({"id": "guideline:fixture", "title": "Minimal"}) == original


def test_schema_mirrors_every_document_field() -> None:
    # A field added to Document must be added to the validated shape, or imports would reject it.
    assert set(DocumentLine.__annotations__) == {f.name for f in dataclasses.fields(Document)}


# --------------------------------------------------------------------------- records


def test_fixture_documents_and_deletion() -> None:
    records = read(FIXTURES / "sample.jsonl")
    assert [type(r) for r in records] == [Document, Document, Deletion, Document]
    first, guideline, deletion, minimal = records
    assert isinstance(first, Document)
    assert first.kind == "case-report"
    assert first.mesh[0].qualifiers[0].name == "chemically induced"
    assert first.sections[1] == Section(text="Counts recovered after withdrawal.", label="RESULTS")
    assert isinstance(guideline, Document)
    assert guideline.issuer == "Curbside Test Fixture Society"
    assert deletion == Deletion(ids=("pmid:90000002", "pmid:90000003"))
    assert minimal == Document(id="doi:10.9999/fixture.1", title="Test fixture with only the required fields")


def test_bad_lines_reported_with_line_numbers_and_good_lines_kept() -> None:
    path = FIXTURES / "mixed.jsonl"
    records = read(path)
    good = [r for r in records if isinstance(r, Document)]
    assert [d.id for d in good] == ["pmid:90000010", "pmid:90000016"]
    assert good[1].year == 2019  # "2019" as a string is accepted as a number
    bad = {r.position: r.message for r in records if isinstance(r, Malformed)}
    assert all(r.source == str(path) for r in records if isinstance(r, Malformed))
    assert set(bad) == {f"line {n}" for n in (2, 3, 4, 5, 6, 7, 8)}  # line 9 is blank
    assert bad["line 2"].startswith("invalid JSON: Expecting ',' delimiter at column")
    assert bad["line 3"] == "year: Input should be less than or equal to 2100"
    assert bad["line 4"].startswith("id: String should match pattern")
    assert bad["line 5"].startswith("kind: Input should be 'research'")
    assert bad["line 6"] == "title: Field required; sections[0].text: Field required"
    assert bad["line 7"] == "expected a JSON object, got an array"
    assert bad["line 8"].startswith("delete: List should have at least 1 item")


def test_unknown_keys_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "typo.jsonl"
    path.write_text(json.dumps({"id": "pmid:1", "title": "T", "abstract": "lost?"}) + "\n")
    (record,) = read(path)
    assert isinstance(record, Malformed)
    assert record.message == "abstract: Extra inputs are not permitted"


def test_long_error_lists_are_summarised(tmp_path: Path) -> None:
    path = tmp_path / "many.jsonl"
    line = {"id": "x", "title": 1, "year": "soon", "kind": "?", "retracted": "perhaps"}
    path.write_text(json.dumps(line) + "\n")
    (record,) = read(path)
    assert isinstance(record, Malformed)
    assert record.message.count(";") == 3
    assert record.message.endswith("and 2 more problems")


def test_invalid_utf8_line_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "latin.jsonl"
    path.write_bytes(
        '{"id": "pmid:1", "title": "Anémie"}\n'.encode("latin-1") + b'{"id": "pmid:2", "title": "ok"}'
    )
    records = read(path)
    assert isinstance(records[0], Malformed)
    assert "not UTF-8" in records[0].message
    assert records[1] == Document(id="pmid:2", title="ok")  # no trailing newline needed


def test_crlf_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "windows.ndjson"
    path.write_bytes(b'\r\n{"id": "pmid:1", "title": "a"}\r\n   \r\n{"delete": ["pmid:2"]}\r\n')
    assert read(path) == [Document(id="pmid:1", title="a"), Deletion(ids=("pmid:2",))]


def test_parse_document_raises_input_error() -> None:
    with pytest.raises(
        InputError, match=re.escape("invalid document: year: Input should be a valid integer")
    ):
        parse_document({"id": "pmid:1", "title": "T", "year": "soon"})
    with pytest.raises(InputError, match=re.escape("mesh[0].qualifiers[0].name: Field required")):
        parse_document({"id": "pmid:1", "title": "T", "mesh": [{"descriptor": "D", "qualifiers": [{}]}]})


def test_many_lines_across_read_blocks(tmp_path: Path) -> None:
    # Lines longer than nothing in particular, enough of them to cross the 1 MiB read-block boundary.
    docs = [Document(id=f"pmid:{n}", title=f"T{n}", sections=(Section("x" * 500),)) for n in range(3000)]
    path = tmp_path / "big.jsonl"
    path.write_text("".join(json.dumps(d.to_dict()) + "\n" for d in docs))
    assert read(path) == docs


# --------------------------------------------------------------------------- gzip


def test_gzip(tmp_path: Path) -> None:
    path = tmp_path / "sample.jsonl.gz"
    path.write_bytes(gzip.compress((FIXTURES / "sample.jsonl").read_bytes()))
    assert read(path) == read(FIXTURES / "sample.jsonl")


def test_truncated_gzip_raises_naming_the_file(tmp_path: Path) -> None:
    body = "".join(json.dumps({"id": f"pmid:{n}", "title": "x" * 50}) + "\n" for n in range(2000))
    data = gzip.compress(body.encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceFormatError, match=re.escape("cut.jsonl.gz: compressed data is truncated")):
        read(path)


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(SourceFormatError, match=re.escape("absent.jsonl: cannot open")):
        read(tmp_path / "absent.jsonl")


# --------------------------------------------------------------------------- detection, registration


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.jsonl", True),
        ("a.JSONL.GZ", True),
        ("a.ndjson", True),
        ("a.ndjson.gz", True),
        ("a.json", False),
        ("a.xml.gz", False),
        ("jsonl", False),
    ],
)
def test_detect(name: str, expected: bool) -> None:
    assert detect(Path(name)) is expected


def test_source_type(tmp_path: Path) -> None:
    from curbside.config import Settings
    from curbside.registry import Registry

    source = SOURCE_TYPE.open(FIXTURES / "sample.jsonl", Settings(data_dir=tmp_path))
    assert isinstance(source, Source)
    registry = Registry()
    registry.load("curbside.builtins")
    assert registry.get("source", "jsonl") is SOURCE_TYPE


# --------------------------------------------------------------------------- docs/jsonl.md


def _fenced_json_blocks(markdown: str) -> list[str]:
    return re.findall(r"^```json\n(.*?)^```", markdown, flags=re.MULTILINE | re.DOTALL)


def test_docs_schema_matches_code() -> None:
    text = DOCS.read_text(encoding="utf-8")
    schema_part = text.split("\n## JSON Schema\n", 1)[1]
    documented: dict[str, Any] = json.loads(_fenced_json_blocks(schema_part)[0])
    assert documented == json_schema(), (
        "docs/jsonl.md is out of date; regenerate its JSON Schema block with: python -c "
        "'import json; from curbside.ingestion.sources.jsonl import json_schema; print(json.dumps(json_schema(), indent=2))'"
    )


def test_docs_examples_are_valid(tmp_path: Path) -> None:
    text = DOCS.read_text(encoding="utf-8")
    examples = _fenced_json_blocks(text.split("\n## JSON Schema\n", 1)[0])
    assert len(examples) == 3
    path = tmp_path / "examples.jsonl"
    path.write_text("".join(examples), encoding="utf-8")
    records = read(path)
    assert [type(r) for r in records] == [Document, Document, Deletion]
    full = records[0]
    assert isinstance(full, Document)
    # The full example uses every field, so it documents them all.
    assert set(json.loads(examples[0])) == {f.name for f in dataclasses.fields(Document)}
