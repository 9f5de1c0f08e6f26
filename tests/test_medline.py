"""MEDLINE/PubMed XML source: fixture file (plain and gzipped), error handling, real shared data."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from lxml import etree

from curbside.config import Settings
from curbside.errors import SourceFormatError
from curbside.ingestion.sources.base import Source, XmlElements
from curbside.ingestion.sources.medline import (
    SOURCE_TYPE,
    MedlineSource,
    detect,
    parse_article,
    parse_book_article,
    parse_pubmed_xml,
)
from curbside.registry import get_registry
from curbside.types import Deletion, Document, Malformed, MeshHeading, MeshQualifier, Record

FIXTURE = Path(__file__).parent / "fixtures" / "medline" / "sample.xml"
HEAD = b'<?xml version="1.0" encoding="utf-8"?>\n<PubmedArticleSet>\n'
TAIL = b"</PubmedArticleSet>\n"


@pytest.fixture(params=["plain", "gzip"])
def sample(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The fixture file as written, or gzipped the way NLM ships baseline files."""
    if request.param == "plain":
        return FIXTURE
    path = tmp_path / "sample.xml.gz"
    path.write_bytes(gzip.compress(FIXTURE.read_bytes()))
    return path


def read_all(path: Path) -> list[Record]:
    return list(MedlineSource(path).records())


def documents(records: list[Record]) -> dict[str, Document]:
    return {r.id: r for r in records if isinstance(r, Document)}


def article_xml(pmid: str, inner: str = "", *, title: str = "A title.") -> bytes:
    """A minimal PubmedArticle; ``inner`` goes inside Article after the title."""
    return (
        f"<PubmedArticle><MedlineCitation><PMID>{pmid}</PMID><Article>"
        f"<Journal><JournalIssue><PubDate><Year>2001</Year></PubDate></JournalIssue><Title>J</Title></Journal>"
        f"<ArticleTitle>{title}</ArticleTitle>{inner}</Article></MedlineCitation></PubmedArticle>\n"
    ).encode()


def one(xml: bytes) -> Document:
    (record,) = parse_pubmed_xml(HEAD + xml + TAIL, "test")
    assert isinstance(record, Document), record
    return record


# --------------------------------------------------------------------------- the fixture file


def test_record_stream_in_order(sample: Path) -> None:
    records = read_all(sample)
    assert [type(r).__name__ for r in records] == [
        "Document",
        "Document",
        "Document",
        "Document",
        "Malformed",
        "Deletion",
    ]
    assert [r.id for r in records if isinstance(r, Document)] == [
        "pmid:90000001",
        "pmid:90000002",
        "pmid:90000003",
        "pmid:90000004",
    ]


def test_structured_abstract_and_inline_markup(sample: Path) -> None:
    doc = documents(read_all(sample))["pmid:90000001"]
    # <i> inside the title is kept as text; the newline and the run of spaces collapse.
    assert doc.title == "As-needed budesonide-formoterol versus terbutaline in mild asthma."
    assert [s.label for s in doc.sections] == ["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert doc.sections[0].text == (
        "In mild asthma, an inhaled glucocorticoid plus a fast-acting β2-agonist may replace regular treatment."
    )
    assert all("Copyright" not in s.text for s in doc.sections)
    assert doc.body.startswith("In mild asthma")


def test_bibliographic_fields(sample: Path) -> None:
    doc = documents(read_all(sample))["pmid:90000001"]
    assert doc.source == "medline"
    assert doc.journal == "The New England journal of medicine"
    assert doc.journal_abbrev == "N Engl J Med"
    assert (doc.year, doc.pub_date) == (2018, "2018 May 7")
    assert doc.language == "eng"
    assert doc.publication_types == ("Journal Article", "Randomized Controlled Trial")
    assert doc.kind == "rct"
    assert doc.url == "https://pubmed.ncbi.nlm.nih.gov/90000001/"
    assert doc.chemicals == ("Anti-Asthmatic Agents", "Budesonide")
    assert doc.keywords == ("asthma", "as-needed therapy")  # the NLM list repeats "asthma"
    assert not doc.retracted  # a CommentIn link is not a retraction


def test_authors_skip_invalid_and_derive_missing_initials(sample: Path) -> None:
    doc = documents(read_all(sample))["pmid:90000001"]
    assert doc.authors == ("O'Byrne PM", "FitzGerald JM", "SYGMA 1 Investigators")


def test_identifiers_prefer_article_id_list_and_ignore_references(sample: Path) -> None:
    doc = documents(read_all(sample))["pmid:90000001"]
    assert doc.identifiers == {
        "pmid": "90000001",
        "doi": "10.9999/example.1",
        "pmcid": "PMC9000001",
        "pii": "S0000-0000(18)00001-1",
    }
    assert doc.pmid == "90000001"


def test_mesh_headings_with_qualifiers_and_major_flags(sample: Path) -> None:
    doc = documents(read_all(sample))["pmid:90000001"]
    assert doc.mesh == (
        MeshHeading("Adult", "D000328", False),
        MeshHeading(
            "Asthma",
            "D001249",
            False,
            (
                MeshQualifier("drug therapy", "Q000188", True),
                MeshQualifier("physiopathology", "Q000503", False),
            ),
        ),
        MeshHeading(
            "Budesonide", "D019819", True, (MeshQualifier("administration & dosage", "Q000008", False),)
        ),
        MeshHeading("Humans", "D006801", False),
    )
    assert str(doc.mesh[1]) == "Asthma / drug therapy*, physiopathology"


def test_mesh_interning_keeps_headings_distinct() -> None:
    """The intern caches must never hand one heading's value to a different heading."""

    def heading(major: str, qualifier: str) -> str:
        return (
            f'<MeshHeading><DescriptorName UI="D007970" MajorTopicYN="{major}">Leukopenia</DescriptorName>'
            f"{qualifier}</MeshHeading>"
        )

    quals = '<QualifierName UI="Q000139" MajorTopicYN="Y">chemically induced</QualifierName>'
    variants = [heading("N", ""), heading("Y", ""), heading("N", quals), heading("Y", quals)] * 2
    xml = b"".join(
        f"<PubmedArticle><MedlineCitation><PMID>{i}</PMID><Article><ArticleTitle>T</ArticleTitle></Article>"
        f"<MeshHeadingList>{h}</MeshHeadingList></MedlineCitation></PubmedArticle>".encode()
        for i, h in enumerate(variants, start=1)
    )
    docs = [r for r in parse_pubmed_xml(HEAD + xml + TAIL, "test") if isinstance(r, Document)]
    assert [str(d.mesh[0]) for d in docs] == [
        "Leukopenia",
        "Leukopenia*",
        "Leukopenia / chemically induced*",
        "Leukopenia* / chemically induced*",
    ] * 2


def test_mesh_nameless_parts_are_skipped_without_moving_qualifiers() -> None:
    """A descriptor without a name drops its heading; its qualifiers never join the previous one."""
    xml = (
        b"<PubmedArticle><MedlineCitation><PMID>7</PMID><Article><ArticleTitle>T</ArticleTitle></Article>"
        b'<MeshHeadingList><MeshHeading><DescriptorName UI="D1" MajorTopicYN="N">Anemia</DescriptorName>'
        b'<QualifierName UI="Q2" MajorTopicYN="N"> </QualifierName></MeshHeading>'
        b'<MeshHeading><DescriptorName UI="D3" MajorTopicYN="N"></DescriptorName>'
        b'<QualifierName UI="Q4" MajorTopicYN="Y">blood</QualifierName></MeshHeading>'
        b'<MeshHeading><DescriptorName UI="D5" MajorTopicYN="Y">Humans</DescriptorName></MeshHeading>'
        b"</MeshHeadingList></MedlineCitation></PubmedArticle>"
    )
    assert one(xml).mesh == (MeshHeading("Anemia", "D1", False), MeshHeading("Humans", "D5", True))


def test_medline_date_and_medline_ta_fallback(sample: Path) -> None:
    doc = documents(read_all(sample))["pmid:90000002"]
    assert (doc.year, doc.pub_date) == (1979, "1979 Jan-Feb")
    assert doc.journal_abbrev == "Br J Anaesth"  # no ISOAbbreviation in this record
    assert [(s.label, s.text[:10]) for s in doc.sections] == [("", "Leucopenia")]
    assert doc.identifiers == {"pmid": "90000002"}
    assert doc.kind == "research"


def test_retracted_publication_and_retraction_notice(sample: Path) -> None:
    docs = documents(read_all(sample))
    assert docs["pmid:90000003"].retracted
    notice = docs["pmid:90000004"]
    assert not notice.retracted  # "Retraction of Publication" is the notice, not a retracted paper
    assert notice.publication_types == ("Retraction of Publication",)


def test_vernacular_title_fallback_and_season(sample: Path) -> None:
    doc = documents(read_all(sample))["pmid:90000004"]
    assert doc.title == "Cancer buccal chez les fumeurs : retrait."
    assert (doc.year, doc.pub_date) == (2006, "2006 Winter")
    assert doc.language == "fre"
    assert doc.sections == ()
    assert not doc.has_abstract


def test_record_without_pmid_is_reported_not_raised(sample: Path) -> None:
    (bad,) = [r for r in read_all(sample) if isinstance(r, Malformed)]
    assert bad.source == str(sample)
    assert bad.position == "record 5, line 268"  # the line where that <PubmedArticle> starts
    assert "PMID" in bad.message


def test_delete_citation_becomes_one_deletion(sample: Path) -> None:
    (deletion,) = [r for r in read_all(sample) if isinstance(r, Deletion)]
    assert deletion.ids == ("pmid:80000001", "pmid:80000002")


def test_size_and_position_track_the_bytes_on_disk(sample: Path) -> None:
    source = MedlineSource(sample)
    assert isinstance(source, Source)
    assert source.name == str(sample)
    assert source.size == sample.stat().st_size
    assert source.position == 0
    seen = [source.position for _ in source.records()]
    assert seen == sorted(seen)
    assert 0 < seen[0] <= source.size
    assert source.position == source.size


# --------------------------------------------------------------------------- whole-file errors


def test_truncated_gzip_yields_what_it_can_then_names_the_file(tmp_path: Path) -> None:
    body = b"".join(
        article_xml(str(1000 + i), f"<Abstract><AbstractText>Result number {i}.</AbstractText></Abstract>")
        for i in range(3000)
    )
    packed = gzip.compress(HEAD + body + TAIL)
    path = tmp_path / "pubmed99n0001.xml.gz"
    path.write_bytes(packed[: len(packed) // 2])
    got: list[Record] = []
    with pytest.raises(SourceFormatError, match="truncated") as info:
        got.extend(MedlineSource(path).records())
    assert str(path) in str(info.value)
    assert len(got) > 100  # records before the damage were delivered before the error
    assert [r.id for r in got if isinstance(r, Document)] == [f"pmid:{1000 + i}" for i in range(len(got))]


def test_syntax_error_midway_keeps_earlier_records_and_gives_the_line(tmp_path: Path) -> None:
    text = FIXTURE.read_bytes()
    cut = text.index(b"  <PubmedArticle>", text.index(b"90000002"))
    path = tmp_path / "broken.xml"
    path.write_bytes(text[:cut] + b"  <PubmedArticle><Oops></PubmedArticle>\n" + text[cut:])
    got: list[Record] = []
    with pytest.raises(SourceFormatError) as info:
        got.extend(MedlineSource(path).records())
    message = str(info.value)
    assert str(path) in message
    line = text[:cut].count(b"\n") + 1
    assert f"line {line}" in message
    assert [r.id for r in got if isinstance(r, Document)] == ["pmid:90000001", "pmid:90000002"]


@pytest.mark.parametrize("block", [97, 4096, XmlElements.BLOCK])
def test_syntax_error_after_many_blocks_keeps_every_complete_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int
) -> None:
    # The break sits past several read blocks and right after a record, whatever the block size:
    # every record that closed before it is delivered (lxml >= 6.2's iterparse dropped the last block's).
    monkeypatch.setattr(XmlElements, "BLOCK", block)
    body = b"".join(
        article_xml(str(2000 + i), f"<Abstract><AbstractText>Finding {i}.</AbstractText></Abstract>")
        for i in range(400)
    )
    path = tmp_path / "broken.xml"
    path.write_bytes(HEAD + body + b"<PubmedArticle><Oops></PubmedArticle>" + TAIL)
    got: list[Record] = []
    with pytest.raises(SourceFormatError, match="after 400 records"):
        got.extend(MedlineSource(path).records())
    assert [r.id for r in got if isinstance(r, Document)] == [f"pmid:{2000 + i}" for i in range(400)]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"PMID- 12345\nTI  - MEDLINE text format, not XML\n", "not an XML file"),
        (b"", "not an XML file"),
        (b"<html><body>Service unavailable</body></html>", "not PubMed XML"),
    ],
)
def test_files_that_are_not_pubmed_xml(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "oops.xml"
    path.write_bytes(content)
    with pytest.raises(SourceFormatError, match=expected) as info:
        read_all(path)
    assert str(path) in str(info.value)


def test_corrupt_gzip_header(tmp_path: Path) -> None:
    path = tmp_path / "oops.xml.gz"
    path.write_bytes(b"\x1f\x8b" + b"not really gzip data")
    with pytest.raises(SourceFormatError, match="corrupt") as info:
        read_all(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.xml.gz"
    with pytest.raises(SourceFormatError) as info:
        read_all(path)
    assert str(path) in str(info.value)


# --------------------------------------------------------------------------- detection and registration


def test_detect(tmp_path: Path, sample: Path) -> None:
    assert detect(sample)
    other = tmp_path / "other.xml"
    other.write_text('<?xml version="1.0"?>\n<article><front/></article>\n')
    assert not detect(other)
    renamed = tmp_path / "sample.txt"
    renamed.write_bytes(FIXTURE.read_bytes())
    assert not detect(renamed)  # the extension decides first
    assert not detect(tmp_path / "absent.xml")
    broken = tmp_path / "broken.xml.gz"
    broken.write_bytes(b"\x1f\x8b\x08\x00garbage")
    assert not detect(broken)


def test_source_type_opens_a_medline_source(tmp_path: Path) -> None:
    assert SOURCE_TYPE.name == "medline"
    assert SOURCE_TYPE.detect(FIXTURE)
    source = SOURCE_TYPE.open(FIXTURE, Settings(db=str(tmp_path / "x.db")))
    assert isinstance(source, MedlineSource)
    assert source.name == str(FIXTURE)


def test_registered_as_a_builtin_source() -> None:
    assert get_registry().get("source", "medline") is SOURCE_TYPE


# --------------------------------------------------------------------------- single elements


def test_parse_article_rejects_records_it_cannot_identify() -> None:
    with pytest.raises(ValueError, match="no MedlineCitation"):
        parse_article(etree.fromstring("<PubmedArticle><PubmedData/></PubmedArticle>"))
    with pytest.raises(ValueError, match="no Article"):
        parse_article(
            etree.fromstring(
                "<PubmedArticle><MedlineCitation><PMID>7</PMID></MedlineCitation></PubmedArticle>"
            )
        )
    with pytest.raises(ValueError, match="non-numeric"):
        parse_article(etree.fromstring(article_xml("12a")))


def test_article_date_fallback_numeric_month_and_day() -> None:
    xml = (
        b"<PubmedArticle><MedlineCitation><PMID>5</PMID><Article><Journal><JournalIssue><PubDate/>"
        b"</JournalIssue></Journal><ArticleTitle>T</ArticleTitle><ArticleDate DateType='Electronic'>"
        b"<Year>2021</Year><Month>03</Month><Day>09</Day></ArticleDate></Article></MedlineCitation></PubmedArticle>"
    )
    doc = one(xml)
    assert (doc.year, doc.pub_date) == (2021, "2021 Mar 9")
    assert doc.journal is None and doc.journal_abbrev is None


def test_elocation_doi_used_when_the_id_list_has_none() -> None:
    doc = one(article_xml("6", '<ELocationID EIdType="doi" ValidYN="Y">10.1/abc</ELocationID>'))
    assert doc.identifiers == {"pmid": "6", "doi": "10.1/abc"}
    invalid = one(article_xml("7", '<ELocationID EIdType="doi" ValidYN="N">10.1/wrong</ELocationID>'))
    assert invalid.identifiers == {"pmid": "7"}


def test_other_abstract_is_ignored_and_whitespace_normalised() -> None:
    xml = article_xml(
        "8",
        "<Abstract><AbstractText>  First\n\tline  of <b>bold</b>\u00a0text. </AbstractText></Abstract>",
        title="  Spaced \n title  ",
    ).replace(
        b"</Article>",
        b"</Article><OtherAbstract Type='Publisher' Language='fre'><AbstractText>Resume.</AbstractText>"
        b"</OtherAbstract>",
    )
    doc = one(xml)
    assert doc.title == "Spaced title"
    assert doc.sections == (doc.sections[0],)
    assert doc.sections[0].text == "First line of bold text."


def test_book_article_is_parsed_minimally() -> None:
    xml = b"""<PubmedBookArticle><BookDocument><PMID Version="1">20301295</PMID>
      <ArticleIdList><ArticleId IdType="bookaccession">NBK1116</ArticleId></ArticleIdList>
      <Book><Publisher><PublisherName>University of Washington, Seattle</PublisherName></Publisher>
        <BookTitle book="gene">GeneReviews<sup>&#174;</sup></BookTitle>
        <PubDate><Year>1993</Year></PubDate></Book>
      <ArticleTitle book="gene" part="fmf">Familial Mediterranean Fever</ArticleTitle>
      <Language>eng</Language>
      <AuthorList Type="authors"><Author><LastName>Shohat</LastName><ForeName>Mordechai</ForeName>
        <Initials>M</Initials></Author></AuthorList>
      <PublicationType UI="D016454">Review</PublicationType>
      <Abstract><AbstractText Label="CLINICAL CHARACTERISTICS">FMF is a periodic fever syndrome.</AbstractText>
      </Abstract></BookDocument>
      <PubmedBookData><ArticleIdList><ArticleId IdType="pubmed">20301295</ArticleId></ArticleIdList>
      </PubmedBookData></PubmedBookArticle>"""
    doc = parse_book_article(etree.fromstring(xml))
    assert doc.id == "pmid:20301295"
    assert doc.title == "Familial Mediterranean Fever"
    assert (doc.year, doc.authors, doc.kind, doc.language) == (1993, ("Shohat M",), "review", "eng")
    assert [s.label for s in doc.sections] == ["CLINICAL CHARACTERISTICS"]
    # The same record arrives through parse_pubmed_xml as part of an efetch answer.
    assert one(xml) == doc


def test_parse_pubmed_xml_names_the_response_in_errors() -> None:
    with pytest.raises(SourceFormatError, match="efetch page 1"):
        list(parse_pubmed_xml(b"<eFetchResult><ERROR>Empty id list</ERROR></eFetchResult>", "efetch page 1"))
    records = list(parse_pubmed_xml(HEAD + article_xml("42") + TAIL, "efetch page 1"))
    assert [r.id for r in records if isinstance(r, Document)] == ["pmid:42"]


# --------------------------------------------------------------------------- real data (optional)


@pytest.mark.shared_data
def test_real_efetch_response_with_structured_abstract(shared_data: Path) -> None:
    path = shared_data / "fixtures" / "pubmed_efetch" / "pubmed-29768149.xml"
    if not path.exists():
        pytest.skip(f"{path} not present in the shared data folder")
    (doc,) = read_all(path)
    assert isinstance(doc, Document)
    assert doc.id == "pmid:29768149"
    assert doc.title == "Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma."
    assert [s.label for s in doc.sections] == ["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert doc.sections[0].text.startswith("In patients with mild asthma, as-needed use")
    assert doc.identifiers["doi"] == "10.1056/NEJMoa1715274"
    assert (doc.year, doc.journal_abbrev, doc.kind) == (2018, "N Engl J Med", "rct")
    assert any(q.major for h in doc.mesh for q in h.qualifiers)  # e.g. Budesonide / administration & dosage*


@pytest.mark.shared_data
def test_real_biopython_efetch_files(shared_data: Path) -> None:
    files = sorted((shared_data / "fixtures" / "biopython").glob("pubmed*.xml"))
    if not files:
        pytest.skip("no biopython pubmed*.xml fixtures in the shared data folder")
    for path in files:
        assert detect(path), path
        records = parse_pubmed_xml(path.read_bytes(), path.name)
        docs = [r for r in records if isinstance(r, Document)]
        assert docs, path
        for doc in docs:
            assert doc.id == f"pmid:{doc.identifiers['pmid']}"
            assert doc.title, doc.id


@pytest.mark.shared_data
@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "n_articles", "n_with_abstract", "n_deleted"),
    [("pubmed21n1298.xml.gz", 20_788, 18_445, 20), ("pubmed20n0014.xml.gz", 30_000, 14_832, 0)],
)
def test_real_baseline_and_update_files(
    shared_data: Path, name: str, n_articles: int, n_with_abstract: int, n_deleted: int
) -> None:
    path = shared_data / "medline" / name
    if not path.exists():
        pytest.skip(f"{path} not present in the shared data folder")
    assert detect(path)
    source = MedlineSource(path)
    docs = abstracts = 0
    deleted: list[str] = []
    malformed: list[Malformed] = []
    for record in source.records():
        if isinstance(record, Document):
            docs += 1
            abstracts += record.has_abstract
        elif isinstance(record, Deletion):
            deleted.extend(record.ids)
        else:
            malformed.append(record)
    assert (docs, abstracts, len(deleted)) == (n_articles, n_with_abstract, n_deleted)
    assert all(d.startswith("pmid:") for d in deleted)
    assert malformed == []
    assert source.position == source.size
