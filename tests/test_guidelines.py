"""Guideline documents from Markdown, HTML and PDF files."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from curbside.errors import SourceFormatError
from curbside.ingestion.sources.base import FileSourceType, Source
from curbside.ingestion.sources.guidelines import SOURCE_TYPE, GuidelineSource, detect, slugify, strip_inline
from curbside.types import Document, Malformed, Record

FIXTURES = Path(__file__).parent / "fixtures" / "guidelines"


def only_record(path: Path) -> Record:
    records = list(GuidelineSource(path).records())
    assert len(records) == 1, records
    return records[0]


def only_document(path: Path) -> Document:
    record = only_record(path)
    assert isinstance(record, Document), record
    return record


def by_label(doc: Document) -> dict[str, str]:
    return {s.label: s.text for s in doc.sections}


# --------------------------------------------------------------------------- a minimal PDF writer


def _pdf_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def make_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """A valid PDF with one Helvetica text line per entry; pypdf reads it but cannot write text itself."""
    objects: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    }
    page_ids = [4 + 2 * i for i in range(len(pages))]
    kids = " ".join(f"{p} 0 R" for p in page_ids)
    objects[2] = f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode()
    for page_id, lines in zip(page_ids, pages, strict=True):
        ops = ["BT", "/F1 11 Tf", "14 TL", "72 760 Td", *(f"({_pdf_string(t)}) Tj T*" for t in lines), "ET"]
        stream = "\n".join(ops).encode("latin-1")
        objects[page_id] = (
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {page_id + 1} 0 R >>"
        ).encode()
        objects[page_id + 1] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)
    trailer = "/Root 1 0 R"
    if title is not None:
        info = max(objects) + 1
        objects[info] = f"<< /Title ({_pdf_string(title)}) >>".encode("latin-1")
        trailer += f" /Info {info} 0 R"
    out = bytearray(b"%PDF-1.4\n")
    offsets: dict[int, int] = {}
    for number in sorted(objects):
        offsets[number] = len(out)
        out += f"{number} 0 obj\n".encode() + objects[number] + b"\nendobj\n"
    xref = len(out)
    size = max(objects) + 1
    out += f"xref\n0 {size}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offsets[n]:010d} 00000 n \n".encode() for n in range(1, size))
    out += f"trailer\n<< /Size {size} {trailer} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


LEUKOPENIA_PAGES = [
    [
        "FIXTURE GUIDANCE ON LEUKOPENIA",
        "1. Introduction",
        "Leukopenia is a low white cell",
        "count (test fixture text).",
        "2. Diagnosis",
        "2.1 Thresholds",
        "A count below 4.0 x 10^9/L is low.",
        "1. Repeat the count in two weeks.",
        "3",
    ],
    ["2.2 Causes", "Drugs and infection-", "related causes.", "Page 2 of 2"],
]


# --------------------------------------------------------------------------- detection and registration


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a.md", True),
        ("a.html", True),
        ("A.HTM", True),
        ("a.pdf", True),
        ("a.jsonl", False),
        ("a.xml.gz", False),
        ("a.meta.yaml", False),
        ("a.txt", False),
    ],
)
def test_detect(name: str, expected: bool) -> None:
    assert detect(Path(name)) is expected


def test_source_type_opens_a_source(tmp_path: Path) -> None:
    from curbside.config import Settings

    assert isinstance(SOURCE_TYPE, FileSourceType)
    assert SOURCE_TYPE.name == "guideline"
    source = SOURCE_TYPE.open(FIXTURES / "neutropenia.md", Settings(data_dir=tmp_path))
    assert isinstance(source, Source)
    assert source.name == str(FIXTURES / "neutropenia.md")


def test_registered_as_builtin() -> None:
    from curbside.registry import Registry

    registry = Registry()
    registry.load("curbside.builtins")
    assert registry.get("source", "guideline") is SOURCE_TYPE


# --------------------------------------------------------------------------- Markdown


def test_markdown_front_matter_metadata() -> None:
    doc = only_document(FIXTURES / "neutropenia.md")
    assert doc.title == "Evaluation of neutropenia in adults"
    assert doc.issuer == "Curbside Test Fixture Society"
    assert doc.year == 2023
    assert doc.url == "https://example.org/fixtures/neutropenia"
    assert doc.licence == "CC-BY-4.0"
    assert doc.kind == "guideline"
    assert doc.source == "guideline"
    assert doc.publication_types == ("Practice Guideline",)
    assert doc.keywords == ("neutropenia", "absolute neutrophil count")
    slug = "curbside-test-fixture-society-evaluation-of-neutropenia-in-adults-2023"
    assert doc.id == f"guideline:{slug}"
    assert doc.identifiers == {"guideline": slug}


def test_markdown_sections_follow_heading_paths() -> None:
    doc = only_document(FIXTURES / "neutropenia.md")
    # The opening H1 is the title, so it is not part of any path; "Diagnosis" has text of its own.
    assert [s.label for s in doc.sections] == [
        "",
        "Diagnosis",
        "Diagnosis > Thresholds",
        "Diagnosis > Repeat testing",
        "Causes",
    ]
    sections = by_label(doc)
    assert sections[""] == (
        "This fixture guidance covers adults with a low absolute neutrophil count (ANC) "
        "found on a routine full blood count."
    )
    # Bullets become sentences; table rows become "cell; cell." sentences.
    assert sections["Diagnosis > Thresholds"].startswith(
        "Mild neutropenia: ANC 1.0 to 1.5 × 10⁹/L. Moderate neutropenia: ANC 0.5 to 1.0 × 10⁹/L. "
    )
    assert sections["Diagnosis > Thresholds"].endswith("Mild; 1.0–1.5.")
    assert sections["Diagnosis > Repeat testing"] == (
        "Repeat the count within 2 weeks if the patient is well. "
        "Review the blood film for dysplasia & blasts."
    )
    assert "drugs (see drug-list)" in sections["Causes"]
    assert "Duffy-null associated neutrophil count." in sections["Causes"]
    for section in doc.sections:
        for syntax in ("**", "](", "`", "|", "#", "&amp;"):
            assert syntax not in section.text, (syntax, section)


def test_sidecar_wins_over_front_matter() -> None:
    doc = only_document(FIXTURES / "sidecar" / "anaemia.md")
    assert doc.title == "Investigation of microcytic anaemia"  # sidecar
    assert doc.year == 2024  # sidecar
    assert doc.issuer == "Curbside Test Fixture Society"  # front matter, not in the sidecar
    assert doc.id == "guideline:fixture-anaemia"  # sidecar "id"
    assert doc.publication_types == ("Practice Guideline", "Consensus Development Conference")
    assert [s.label for s in doc.sections] == ["Investigation"]


def test_sidecar_named_after_full_file_name_and_json(tmp_path: Path) -> None:
    page = tmp_path / "g.md"
    page.write_text("---\ntitle: Inline\nissuer: Inline body\n---\n\nSome text.\n", encoding="utf-8")
    (tmp_path / "g.md.meta.yaml").write_text("title: From full-name sidecar\n", encoding="utf-8")
    (tmp_path / "g.json").write_text(json.dumps({"title": "From stem sidecar"}), encoding="utf-8")
    # <name>.md.meta.yaml is the more specific name, so it is chosen over g.json.
    assert only_document(page).title == "From full-name sidecar"
    (tmp_path / "g.md.meta.yaml").unlink()
    doc = only_document(page)
    assert doc.title == "From stem sidecar"
    assert doc.issuer == "Inline body"


def test_id_slug_given_in_full_is_not_doubled(tmp_path: Path) -> None:
    page = tmp_path / "g.md"
    page.write_text("---\ntitle: T\nid: 'guideline:Fixture NG51'\n---\n\nText.\n", encoding="utf-8")
    assert only_document(page).id == "guideline:fixture-ng51"


def test_yaml_date_gives_year_and_iso_date(tmp_path: Path) -> None:
    page = tmp_path / "g.md"
    page.write_text("---\ntitle: T\nDate: 2023-05-01\nLicense: CC0\n---\n\nText.\n", encoding="utf-8")
    doc = only_document(page)
    assert (doc.year, doc.pub_date, doc.licence) == (2023, "2023-05-01", "CC0")


def test_no_title_is_malformed() -> None:
    record = only_record(FIXTURES / "untitled.md")
    assert isinstance(record, Malformed)
    assert record.source == str(FIXTURES / "untitled.md")
    assert "untitled.md" in record.message
    assert "no title" in record.message


def test_title_falls_back_to_first_h1(tmp_path: Path) -> None:
    page = tmp_path / "g.md"
    page.write_text("Setext title\n============\n\nIntro.\n\nPart two\n--------\n\nMore.\n", encoding="utf-8")
    doc = only_document(page)
    assert doc.title == "Setext title"
    assert doc.year is None
    assert doc.id == "guideline:setext-title"
    assert by_label(doc) == {"": "Intro.", "Part two": "More."}


def test_headings_inside_code_fences_do_not_split(tmp_path: Path) -> None:
    page = tmp_path / "g.md"
    page.write_text("# T\n\n## A\n\n```\n# not a heading\n```\n\n> quoted *text*\n", encoding="utf-8")
    doc = only_document(page)
    assert by_label(doc) == {"A": "# not a heading quoted text"}


@pytest.mark.parametrize(
    ("front_matter", "problem"),
    [
        ("title: [unclosed", "not valid YAML"),
        ("- a list", "must be a mapping"),
        ("title: T\nyear: soon", "'year' must be a year"),
        ("title: T\nyear: 3023", "not a plausible publication year"),
        ("title: T\ndate: 3023-01-01", "year 3023 is not a plausible publication year"),
        ("title: {a: 1}", "'title' must be text"),
    ],
)
def test_bad_front_matter_is_malformed(tmp_path: Path, front_matter: str, problem: str) -> None:
    page = tmp_path / "bad.md"
    page.write_text(f"---\n{front_matter}\n---\n\n# Heading\n\nText.\n", encoding="utf-8")
    record = only_record(page)
    assert isinstance(record, Malformed)
    assert problem in record.message
    assert "bad.md" in record.message
    assert record.position == "front matter"


def test_bad_sidecar_is_malformed_and_named(tmp_path: Path) -> None:
    page = tmp_path / "g.md"
    page.write_text("# Title\n\nText.\n", encoding="utf-8")
    (tmp_path / "g.json").write_text("{not json", encoding="utf-8")
    record = only_record(page)
    assert isinstance(record, Malformed)
    assert "g.json" in record.message
    assert record.position == "sidecar g.json"


def test_not_utf8_markdown_is_malformed(tmp_path: Path) -> None:
    page = tmp_path / "latin.md"
    page.write_bytes("# Anémie\n\nTexte.\n".encode("latin-1"))
    record = only_record(page)
    assert isinstance(record, Malformed)
    assert "not UTF-8" in record.message


def test_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(SourceFormatError, match=re.escape("nothing.md")):
        list(GuidelineSource(tmp_path / "nothing.md").records())


@pytest.mark.parametrize(
    ("markdown", "plain"),
    [
        ("**bold** and __strong__", "bold and strong"),
        ("*em* and _em_ but snake_case_name and 2*3*4", "em and em but snake_case_name and 2*3*4"),
        ("[NICE](https://example.org/a_(b)) and ![chart](c.png)", "NICE and chart"),
        ("see [the table][t1] and note[^1]", "see the table and note"),
        ("`code` and <https://example.org>", "code and https://example.org"),
        (r"\*not emphasis\* and ~~gone~~", "*not emphasis* and gone"),
        ("a <b>tag</b> &lt; 5 &amp; ANC <1.5", "a tag < 5 & ANC <1.5"),
    ],
)
def test_strip_inline(markdown: str, plain: str) -> None:
    assert strip_inline(markdown) == plain


def test_slugify() -> None:
    assert slugify("NICE: Sepsis (2024)") == "nice-sepsis-2024"
    assert slugify("Anémie — évaluation") == "anemie-evaluation"
    long = slugify("word " * 60)
    assert len(long) <= 100
    assert not long.endswith("-")
    assert long.endswith("word")


# --------------------------------------------------------------------------- HTML


def test_html_meta_tags_and_sections() -> None:
    doc = only_document(FIXTURES / "thrombocytopenia.html")
    assert doc.title == "Management of thrombocytopenia in primary care"  # citation_title over <title>
    assert doc.issuer == "Curbside Fixture Haematology Group"  # DC.publisher, name case-insensitive
    assert doc.year == 2022
    assert doc.pub_date == "2022-03-15"
    assert doc.url == "https://example.org/fixtures/thrombocytopenia"
    assert doc.language == "en"
    assert [s.label for s in doc.sections] == ["", "Assessment", "Assessment > Urgent referral", "Follow-up"]
    sections = by_label(doc)
    assert sections[""] == "This page is a test fixture. A platelet count < 150 × 10^9/L is thrombocytopenia."
    assert sections["Assessment > Urgent referral"] == "Platelets below 20 × 10^9/L. Active bleeding."
    assert sections["Follow-up"] == "Count; Interval. 100–150; 3 months."


def test_html_script_style_nav_and_chrome_removed() -> None:
    doc = only_document(FIXTURES / "thrombocytopenia.html")
    body = doc.body
    for marker in ("SCRIPT_MARKER", "NAV_MARKER", "FOOTER_MARKER", "color: red", "Home"):
        assert marker not in body


def test_html_sidecar_json_wins_over_meta_tags(tmp_path: Path) -> None:
    page = tmp_path / "thrombocytopenia.html"
    shutil.copy(FIXTURES / "thrombocytopenia.html", page)
    (tmp_path / "thrombocytopenia.json").write_text(
        json.dumps({"publisher": "Corrected Fixture Body", "date": "2021-01-02", "licence": "OGL-3.0"}),
        encoding="utf-8",
    )
    doc = only_document(page)
    assert doc.issuer == "Corrected Fixture Body"
    assert (doc.year, doc.pub_date) == (2021, "2021-01-02")
    assert doc.licence == "OGL-3.0"
    assert doc.title == "Management of thrombocytopenia in primary care"  # still from the meta tag


def test_html_title_fallbacks(tmp_path: Path) -> None:
    page = tmp_path / "p.htm"
    page.write_text("<html><head><title>Head title</title></head><body><p>Text</p></body></html>")
    assert only_document(page).title == "Head title"
    page.write_text("<html><body><h1>Heading <em>title</em></h1><h2>A</h2><p>Text</p></body></html>")
    doc = only_document(page)
    assert doc.title == "Heading title"
    assert by_label(doc) == {"A": "Text"}
    page.write_text("<html><body><p>No title anywhere</p></body></html>")
    record = only_record(page)
    assert isinstance(record, Malformed)
    assert "no title" in record.message


def test_html_without_charset_is_read_as_utf8(tmp_path: Path) -> None:
    page = tmp_path / "p.html"
    page.write_bytes("<h1>Anémie</h1><h2>Causes</h2><p>Carence en fer – 10 µg</p>".encode())
    doc = only_document(page)
    assert doc.title == "Anémie"
    assert by_label(doc) == {"Causes": "Carence en fer – 10 µg"}


def test_empty_html_is_malformed(tmp_path: Path) -> None:
    page = tmp_path / "empty.html"
    page.write_bytes(b"")
    record = only_record(page)
    assert isinstance(record, Malformed)
    assert "empty.html" in record.message


# --------------------------------------------------------------------------- PDF


def test_pdf_numbered_headings_become_sections(tmp_path: Path) -> None:
    pdf = tmp_path / "leukopenia.pdf"
    pdf.write_bytes(make_pdf(LEUKOPENIA_PAGES, title="Leukopenia (fixture)"))
    doc = only_document(pdf)
    assert doc.title == "Leukopenia (fixture)"  # PDF info title, no other metadata
    assert doc.id == "guideline:leukopenia-fixture"
    assert by_label(doc) == {
        "1. Introduction": "Leukopenia is a low white cell count (test fixture text).",
        # "1. Repeat ..." ends with a full stop, so it is a list item, not a heading.
        "2. Diagnosis > 2.1 Thresholds": "A count below 4.0 x 10^9/L is low. 1. Repeat the count in two weeks.",
        # Sections run across pages; page numbers are dropped and hyphenated words joined.
        "2. Diagnosis > 2.2 Causes": "Drugs and infection-related causes.",
    }


def test_pdf_without_headings_gets_one_section_per_page(tmp_path: Path) -> None:
    pdf = tmp_path / "plain.pdf"
    pdf.write_bytes(make_pdf([["plain text on page one."], ["more text on", "page two."]]))
    (tmp_path / "plain.meta.yaml").write_text(
        "title: Plain fixture\nissuer: Fixture Body\nyear: 2020\n", encoding="utf-8"
    )
    doc = only_document(pdf)
    assert doc.title == "Plain fixture"
    assert doc.id == "guideline:fixture-body-plain-fixture-2020"
    assert by_label(doc) == {"Page 1": "plain text on page one.", "Page 2": "more text on page two."}


def test_pdf_without_text_is_malformed(tmp_path: Path) -> None:
    pdf = tmp_path / "scan.pdf"
    pdf.write_bytes(make_pdf([[]], title="Scanned"))
    record = only_record(pdf)
    assert isinstance(record, Malformed)
    assert "no text" in record.message
    assert "OCR" in record.message


@pytest.mark.parametrize(
    "content",
    [
        b"%PDF-1.4\nthis is not really a pdf\n",
        b"",
        b"<html>a web page saved as .pdf</html>",
    ],
)
def test_corrupt_pdf_raises_naming_the_file(tmp_path: Path, content: bytes) -> None:
    pdf = tmp_path / "broken-guideline.pdf"
    pdf.write_bytes(content)
    with pytest.raises(SourceFormatError, match=re.escape("broken-guideline.pdf")):
        list(GuidelineSource(pdf).records())


def test_truncated_pdf_raises_naming_the_file(tmp_path: Path) -> None:
    data = make_pdf(LEUKOPENIA_PAGES, title="Leukopenia (fixture)")
    pdf = tmp_path / "truncated.pdf"
    pdf.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceFormatError, match=r"truncated\.pdf: not a readable PDF"):
        list(GuidelineSource(pdf).records())
