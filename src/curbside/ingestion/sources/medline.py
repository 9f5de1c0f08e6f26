"""MEDLINE/PubMed XML: baseline and update files, and efetch ``db=pubmed retmode=xml`` responses.

All three use the ``PubmedArticleSet`` format: a stream of ``PubmedArticle``
(and, from efetch, ``PubmedBookArticle``) elements; update files end with a
``DeleteCitation`` list of PMIDs that NLM withdrew.  Each article becomes a
:class:`~curbside.types.Document` with id ``pmid:<PMID>``; each
``DeleteCitation`` becomes one :class:`~curbside.types.Deletion`.

A baseline file holds 30,000 articles in ~170 MB of XML, so parsing streams
with ``lxml.etree.iterparse`` filtered to the record tags; each record is
cleared (and its emptied predecessors detached) once converted, which keeps
memory flat however large the file.

Speed: libxml2 needs ~63 us per baseline article to build its tree; the
Python side here adds ~40 us (the target was 30).  About half of that is
lxml's per-element cost of a proxy object plus ``.tag``/``.text`` (~0.2 us),
which no API avoids for the ~70 elements a record's fields live in (a third of
them MeSH parts); most of the rest is building the frozen result objects.
So the converters walk each level once, dispatching on the
tag (each ``find`` costs ~1.5 us), index into elements whose child order the
DTD fixes (authors, MeSH headings, chemicals), read attributes with one
``values()`` where they only key a cache, and intern the values that repeat
across records (MeSH descriptors, qualifiers and their combinations;
publication-type lists).  XPath, XSLT, ``iter(tag=...)`` and ``tostring``
were each measured and were slower.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from lxml import etree

from curbside.errors import SourceFormatError
from curbside.ingestion.sources.base import (
    GZIP_ERRORS,
    CountingReader,
    FileSourceType,
    XmlElements,
    is_retraction_type,
    kind_from_publication_types,
    open_maybe_gzip,
)
from curbside.types import (
    Deletion,
    Document,
    DocumentKind,
    Malformed,
    MeshHeading,
    MeshQualifier,
    Record,
    Section,
)
from curbside.wording import count

__all__ = [
    "SOURCE_TYPE",
    "MedlineSource",
    "detect",
    "parse_article",
    "parse_book_article",
    "parse_pubmed_xml",
]

_ARTICLE = "PubmedArticle"
_BOOK = "PubmedBookArticle"
_DELETE = "DeleteCitation"
_RECORD_TAGS = (_ARTICLE, _BOOK, _DELETE)
# Root elements a PubMed XML document may have; anything else is some other XML format.
_ROOTS = frozenset({"PubmedArticleSet", "PubmedBookArticleSet"})

# ArticleId/@IdType and ELocationID/@EIdType values -> keys of Document.identifiers.
_ID_KEYS = {"pubmed": "pmid", "doi": "doi", "pmc": "pmcid", "pii": "pii"}

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_YEAR = re.compile(r"\d{4}")

# Intern caches.  A baseline file repeats the same few thousand MeSH headings
# ("Humans", "Rats / metabolism*") and publication-type lists hundreds of
# thousands of times.  The values are frozen and hashable, so one shared
# instance per distinct raw key saves construction time and the memory of
# duplicates.  Distinct values in all of MEDLINE are bounded, but the caches
# are capped anyway so that a pathological input cannot grow them without limit.
_CACHE_LIMIT = 200_000
_RawKey = tuple[str | bytes | None, ...]  # an element's text and attribute values, as lxml returns them
_DESCRIPTORS: dict[_RawKey, MeshHeading] = {}
_QUALIFIERS: dict[_RawKey, MeshQualifier] = {}
_COMBINATIONS: dict[tuple[int, ...], MeshHeading] = {}  # ids of interned parts -> heading
_INTERNED: set[int] = set()  # ids of the interned descriptors and qualifiers, alive for good
_PUB_TYPES: dict[_RawKey, tuple[tuple[str, ...], DocumentKind, bool]] = {}


def _clean(text: str | None) -> str:
    """Collapse whitespace runs and strip, as :func:`~curbside.ingestion.sources.base.clean_text` does.

    ``str.split()`` splits on exactly the characters the regex ``\\s`` matches,
    and is several times faster on the short strings that dominate here.
    """
    return " ".join(text.split()) if text else ""


def _norm(text: str) -> str:
    """:func:`_clean` for long text (titles, abstracts): skips the split when nothing needs collapsing.

    The only ASCII whitespace XML 1.0 allows is space, tab, newline and carriage
    return, so for ASCII text these checks are exact; other text takes the slow path.
    """
    if text.isascii() and "  " not in text and "\n" not in text and "\t" not in text and "\r" not in text:
        return text.strip()
    return " ".join(text.split())


def _text(elem: etree._Element) -> str:
    """An element's text with inline markup (``<i>``, ``<sub>``, MathML) flattened away."""
    if len(elem):  # itertext only when there are children; most elements are plain text
        return _norm("".join(elem.itertext()))  # type: ignore[arg-type]  # str for a parsed tree
    text = elem.text
    return _norm(text) if text else ""


# --------------------------------------------------------------------------- dates


def _month_name(month: str) -> str:
    """``"05"`` -> ``"May"``; names (``"Feb"``) pass through, so dates read the same either way."""
    if month.isdigit() and 1 <= int(month) <= 12:
        return _MONTHS[int(month) - 1]
    return month


def _date_parts(date: etree._Element) -> tuple[int | None, str | None]:
    """(year, readable date such as ``"2000 Feb 24"``) from a ``PubDate``-like element."""
    year = month = day = season = medline = ""
    for child in date:
        text = child.text
        if not text:
            continue
        tag = child.tag
        if tag == "Year":
            year = text.strip()
        elif tag == "Month":
            month = text.strip()
        elif tag == "Day":
            day = text.strip()
        elif tag == "Season":
            season = text.strip()
        elif tag == "MedlineDate":
            medline = _clean(text)
    if medline and not year:
        # e.g. "1979 Jan-Feb", "1998 Dec-1999 Jan", "Spring 2001": the first 4-digit year is the start.
        match = _YEAR.search(medline)
        return (int(match.group()) if match else None), medline
    if not year:
        return None, None
    parts = [year]
    if month:
        parts.append(_month_name(month))
        if day:
            parts.append(day.lstrip("0") or day)
    elif season:
        parts.append(season)
    return (int(year) if year.isdigit() else None), " ".join(parts)


# --------------------------------------------------------------------------- fragments


def _authors(author_list: etree._Element) -> list[str]:
    """``"LastName Initials"`` or the CollectiveName of each valid author, in order."""
    out: list[str] = []
    for author in author_list:
        if author.get("ValidYN") == "N":  # NLM keeps erroneous names, flagged, rather than removing them
            continue
        # The DTD fixes the order: (LastName, ForeName?, Initials?, Suffix?) | CollectiveName,
        # then Identifier* and AffiliationInfo*, so the first three children hold the name.
        last = initials = fore = None
        for part in author[:3]:  # type: ignore[index]  # lxml-stubs lack slicing
            tag = part.tag
            if tag == "LastName":
                last = part.text
            elif tag == "Initials":
                initials = part.text
            elif tag == "ForeName":
                fore = part.text
            elif tag == "CollectiveName":
                name = _text(part)
                if name:
                    out.append(name)
                break
        if last and not last.isspace():
            last = " ".join(last.split())
            initials = " ".join(initials.split()) if initials else ""
            if not initials and fore:  # some records carry a ForeName but no Initials
                initials = "".join(w[0] for w in fore.replace("-", " ").split())
            out.append(f"{last} {initials}" if initials else last)
    return out


def _abstract(abstract: etree._Element) -> list[Section]:
    sections: list[Section] = []
    for part in abstract:
        if part.tag == "AbstractText":  # skips CopyrightInformation
            text = _text(part)
            if text:
                label = part.get("Label")
                sections.append(Section(text=text, label=_clean(label)))
    return sections


def _article_ids(id_list: etree._Element, identifiers: dict[str, str]) -> None:
    for aid in id_list:
        key = _ID_KEYS.get(aid.get("IdType", ""))
        if key is not None and aid.text:
            value = aid.text.strip()
            if value:
                identifiers[key] = value


def _keywords(keyword_list: etree._Element, keywords: list[str]) -> None:
    for kw in keyword_list:
        text = _text(kw)
        if text and text not in keywords:  # the same keyword may come from several owners
            keywords.append(text)


def _mesh_part(part: etree._Element) -> tuple[str, str, bool]:
    return _clean(part.text), part.get("UI") or "", part.get("MajorTopicYN") == "Y"


def _mesh(heading_list: etree._Element) -> list[MeshHeading]:
    """MeSH headings, built from interned descriptors, qualifiers and combinations.

    The DTD puts DescriptorName first in each MeshHeading, then QualifierName*,
    so the parts are reached by index rather than through a child iterator, and
    each part's raw text and attribute values (one ``values()`` call rather
    than a ``get`` per attribute) key the intern caches.  A heading with
    qualifiers is looked up by the identities of its interned parts, which are
    far cheaper to hash than their strings.
    """
    out: list[MeshHeading] = []
    descriptors = _DESCRIPTORS
    qualifiers = _QUALIFIERS
    for heading in heading_list:
        size = len(heading)
        if not size:
            continue
        part = heading[0]
        key: _RawKey = (part.text, *part.values())
        found = descriptors.get(key)
        if found is None:
            found = _new_descriptor(part, key)
            if found is None:
                continue
        if size > 1:
            parts: list[MeshQualifier] = []
            for part in heading[1:]:  # type: ignore[index]  # lxml-stubs lack slicing
                key = (part.text, *part.values())
                qualifier = qualifiers.get(key)
                if qualifier is None:
                    qualifier = _new_qualifier(part, key)
                    if qualifier is None:
                        continue
                parts.append(qualifier)
            if parts:
                combo = (id(found), *map(id, parts))
                combined = _COMBINATIONS.get(combo)
                found = combined if combined is not None else _new_combination(combo, found, parts)
        out.append(found)
    return out


def _new_descriptor(part: etree._Element, key: _RawKey) -> MeshHeading | None:
    if part.tag != "DescriptorName":
        return None
    name, ui, major = _mesh_part(part)
    if not name:
        return None
    heading = MeshHeading(descriptor=name, ui=ui, major=major)
    if len(_DESCRIPTORS) < _CACHE_LIMIT:
        _DESCRIPTORS[key] = heading
        _INTERNED.add(id(heading))
    return heading


def _new_qualifier(part: etree._Element, key: _RawKey) -> MeshQualifier | None:
    if part.tag != "QualifierName":
        return None
    name, ui, major = _mesh_part(part)
    if not name:
        return None
    qualifier = MeshQualifier(name=name, ui=ui, major=major)
    if len(_QUALIFIERS) < _CACHE_LIMIT:
        _QUALIFIERS[key] = qualifier
        _INTERNED.add(id(qualifier))
    return qualifier


def _new_combination(combo: tuple[int, ...], base: MeshHeading, parts: list[MeshQualifier]) -> MeshHeading:
    heading = MeshHeading(descriptor=base.descriptor, ui=base.ui, major=base.major, qualifiers=tuple(parts))
    # An id is only a sound key while its object lives.  Interned parts live as
    # long as the caches (which never evict), so the combination is cached only
    # when every part is interned: always, unless the part caches are full.
    if len(_COMBINATIONS) < _CACHE_LIMIT and all(i in _INTERNED for i in combo):
        _COMBINATIONS[combo] = heading
    return heading


def _pub_types(type_list: etree._Element) -> tuple[tuple[str, ...], DocumentKind, bool]:
    """(publication types, kind, is a retracted publication), interned by the raw type list."""
    raw = tuple([p.text for p in type_list])
    found = _PUB_TYPES.get(raw)
    if found is None:
        types = tuple(t for t in map(_clean, raw) if t)
        found = (types, kind_from_publication_types(types), is_retraction_type(types))
        if len(_PUB_TYPES) < _CACHE_LIMIT:
            _PUB_TYPES[raw] = found
    return found


_NO_TYPES: tuple[tuple[str, ...], DocumentKind, bool] = ((), "research", False)


def _pmid(elem: etree._Element | None, where: str) -> str:
    if elem is None:
        raise ValueError(f"{where} has no PMID")
    pmid = (elem.text or "").strip()
    if not pmid:
        raise ValueError(f"{where} has an empty PMID")
    if not pmid.isdigit():
        raise ValueError(f"{where} has a non-numeric PMID {pmid!r}")
    return pmid


# --------------------------------------------------------------------------- records


def parse_article(elem: etree._Element) -> Document:
    """Convert one ``PubmedArticle`` element into a :class:`Document`.

    Raises :class:`ValueError` when the record cannot identify itself (no
    ``MedlineCitation``, no or a non-numeric ``PMID``, no ``Article``);
    :class:`MedlineSource` reports those as :class:`~curbside.types.Malformed`.
    """
    citation = pubmed_data = None
    for child in elem:
        tag = child.tag
        if tag == "MedlineCitation":
            citation = child
        elif tag == "PubmedData":
            pubmed_data = child
    if citation is None:
        raise ValueError("PubmedArticle has no MedlineCitation")

    pmid_elem = article = journal_info = None
    mesh: list[MeshHeading] = []
    chemicals: list[str] = []
    keywords: list[str] = []
    retraction_in = False
    for child in citation:
        tag = child.tag
        if tag == "PMID":
            pmid_elem = child
        elif tag == "Article":
            article = child
        elif tag == "MeshHeadingList":
            mesh = _mesh(child)
        elif tag == "ChemicalList":
            for chemical in child:
                for part in chemical[-1:]:  # type: ignore[index]  # (RegistryNumber, NameOfSubstance)
                    if part.tag == "NameOfSubstance" and part.text:
                        name = " ".join(part.text.split())
                        if name:
                            chemicals.append(name)
        elif tag == "MedlineJournalInfo":
            journal_info = child
        elif tag == "KeywordList":  # one list per owner (NLM, NOTNLM, ...)
            _keywords(child, keywords)
        elif tag == "CommentsCorrectionsList":
            retraction_in = any(c.get("RefType") == "RetractionIn" for c in child)
    pmid = _pmid(pmid_elem, "MedlineCitation")
    if article is None:
        raise ValueError(f"PMID {pmid}: MedlineCitation has no Article")

    title = vernacular = ""
    journal = journal_abbrev = language = None
    year: int | None = None
    pub_date: str | None = None
    article_date: etree._Element | None = None
    sections: list[Section] = []
    authors: list[str] = []
    pub_types = _NO_TYPES
    identifiers: dict[str, str] = {"pmid": pmid}
    for child in article:
        tag = child.tag
        if tag == "Journal":
            for part in child:
                ptag = part.tag
                if ptag == "Title":
                    journal = _clean(part.text) or None
                elif ptag == "ISOAbbreviation":
                    journal_abbrev = _clean(part.text) or None
                elif ptag == "JournalIssue":
                    for issue_part in part[-1:]:  # type: ignore[index]  # (Volume?, Issue?, PubDate)
                        if issue_part.tag == "PubDate":
                            year, pub_date = _date_parts(issue_part)
        elif tag == "ArticleTitle":
            title = _text(child)
        elif tag == "Abstract":
            sections = _abstract(child)
        elif tag == "AuthorList":
            authors = _authors(child)
        elif tag == "Language":
            if language is None and child.text:
                language = child.text.strip() or None
        elif tag == "PublicationTypeList":
            pub_types = _pub_types(child)
        elif tag == "ELocationID":
            key = _ID_KEYS.get(child.get("EIdType", ""))
            if key is not None and child.get("ValidYN") != "N" and child.text and child.text.strip():
                identifiers[key] = child.text.strip()
        elif tag == "ArticleDate":
            article_date = child
        elif tag == "VernacularTitle":
            vernacular = _text(child)
    if (year is None or pub_date is None) and article_date is not None:
        fallback_year, fallback_date = _date_parts(article_date)
        year = year if year is not None else fallback_year
        pub_date = pub_date or fallback_date
    if journal_abbrev is None and journal_info is not None:
        for part in journal_info:
            if part.tag == "MedlineTA":
                journal_abbrev = _clean(part.text) or None

    # PubmedData/ArticleIdList is PubMed's canonical id list, so it wins over ELocationID.
    # (ReferenceList entries carry their own ArticleIdList, hence only the direct child.)
    if pubmed_data is not None:
        for child in pubmed_data:
            if child.tag == "ArticleIdList":
                _article_ids(child, identifiers)
                break  # what follows is the ReferenceList
    identifiers["pmid"] = pmid  # the citation's own PMID is authoritative

    types, kind, retracted_type = pub_types
    return Document(
        id=f"pmid:{pmid}",
        title=title or vernacular,
        sections=tuple(sections),
        kind=kind,
        source="medline",
        journal=journal,
        journal_abbrev=journal_abbrev,
        year=year,
        pub_date=pub_date,
        authors=tuple(authors),
        identifiers=identifiers,
        language=language,
        publication_types=types,
        mesh=tuple(mesh),
        chemicals=tuple(chemicals),
        keywords=tuple(keywords),
        # "Retraction of Publication" is the notice, not a retracted paper, so only these two count.
        retracted=retraction_in or retracted_type,
        url=f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/",
    )


def parse_book_article(elem: etree._Element) -> Document:
    """Convert one ``PubmedBookArticle`` (a book chapter such as a GeneReviews entry), minimally.

    Books carry no MeSH or journal; the title is the chapter title when there
    is one, else the book title.  Rare enough that plain ``find`` calls do.
    """
    doc = elem.find("BookDocument")
    if doc is None:
        raise ValueError("PubmedBookArticle has no BookDocument")
    pmid = _pmid(doc.find("PMID"), "BookDocument")
    title_elem = doc.find("ArticleTitle")
    book = doc.find("Book")
    book_title = ""
    year: int | None = None
    pub_date: str | None = None
    if book is not None:
        book_title_elem = book.find("BookTitle")
        book_title = _text(book_title_elem) if book_title_elem is not None else ""
        pub = book.find("PubDate")
        if pub is not None:
            year, pub_date = _date_parts(pub)
    abstract = doc.find("Abstract")
    author_list = doc.find("AuthorList")
    if author_list is None and book is not None:
        author_list = book.find("AuthorList")
    type_list = doc.find("PublicationTypeList")
    types, kind, retracted = _pub_types(type_list) if type_list is not None else _NO_TYPES
    if not types:  # older book records list PublicationType directly under BookDocument
        types = tuple(t for t in (_clean(p.text) for p in doc.iterchildren("PublicationType")) if t)
        kind, retracted = kind_from_publication_types(types), is_retraction_type(types)
    keywords: list[str] = []
    for keyword_list in doc.iterchildren("KeywordList"):
        _keywords(keyword_list, keywords)
    identifiers = {"pmid": pmid}
    for id_list in (doc.find("ArticleIdList"), elem.find("PubmedBookData/ArticleIdList")):
        if id_list is not None:
            _article_ids(id_list, identifiers)
    identifiers["pmid"] = pmid
    language = _clean(doc.findtext("Language")) or None
    return Document(
        id=f"pmid:{pmid}",
        title=(_text(title_elem) if title_elem is not None else "") or book_title,
        sections=tuple(_abstract(abstract)) if abstract is not None else (),
        kind=kind,
        source="medline",
        year=year,
        pub_date=pub_date,
        authors=tuple(_authors(author_list)) if author_list is not None else (),
        identifiers=identifiers,
        language=language,
        publication_types=types,
        keywords=tuple(keywords),
        retracted=retracted,
        url=f"https://pubmed.ncbi.nlm.nih.gov/{pmid}/",
    )


def _deletion(elem: etree._Element) -> Deletion:
    pmids = (" ".join(p.text.split()) for p in elem.iterchildren("PMID") if p.text)
    return Deletion(ids=tuple(f"pmid:{pmid}" for pmid in pmids if pmid))


def _iter_records(stream: IO[bytes], name: str) -> Iterator[Record]:
    """Stream records from an open PubmedArticleSet document; whole-document errors name ``name``.

    Records before a fatal error are yielded before the error is raised, so an
    ingest can commit them; a record that cannot be converted is reported as
    :class:`Malformed` and skipped.
    """
    context = XmlElements(stream, _RECORD_TAGS)
    number = 0
    try:
        for elem in context:
            number += 1
            tag = elem.tag
            try:
                if tag == _ARTICLE:
                    yield parse_article(elem)
                elif tag == _DELETE:
                    deletion = _deletion(elem)
                    if deletion.ids:
                        yield deletion
                else:
                    yield parse_book_article(elem)
            except ValueError as exc:
                yield Malformed(
                    source=name, position=f"record {number}, line {elem.sourceline}", message=str(exc)
                )
            # Free this record and the emptied records before it, so memory stays flat.
            elem.clear()  # keep_tail=False: the whitespace after it goes too
            parent = elem.getparent()
            if parent is not None:
                while elem.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        if number == 0 and _at_start(exc):
            raise SourceFormatError(f"{name}: not an XML file ({exc.msg})") from exc
        raise SourceFormatError(
            f"{name}: XML syntax error after {count(number, 'records')}: {exc.msg}"
        ) from exc
    except GZIP_ERRORS as exc:
        raise SourceFormatError(
            f"{name}: compressed data is truncated or corrupt after {count(number, 'records')} ({exc})",
            hint="download the file again; NLM publishes an .md5 next to each one",
        ) from exc
    root = context.root
    if root is None or root.tag not in _ROOTS:
        found = f"<{root.tag}>" if root is not None else "no root element"
        raise SourceFormatError(f"{name}: not PubMed XML: found {found}, expected <PubmedArticleSet>")


def _at_start(exc: etree.XMLSyntaxError) -> bool:
    """Whether a syntax error sits on the first line, meaning 'not XML at all' rather than 'broken XML'."""
    line = exc.position[0] if exc.position else None
    return line is None or line <= 1


def parse_pubmed_xml(data: bytes, name: str) -> Iterator[Record]:
    """Records from an in-memory efetch ``db=pubmed retmode=xml`` response; ``name`` labels errors."""
    return _iter_records(io.BytesIO(data), name)


class MedlineSource:
    """A MEDLINE/PubMed XML file (``.xml`` or ``.xml.gz``) as a stream of records."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.name = str(path)
        self._counter: CountingReader | None = None

    @property
    def size(self) -> int:
        """Bytes on disk: the total for a progress bar over :attr:`position`."""
        return self.path.stat().st_size

    @property
    def position(self) -> int:
        """Bytes of the file (compressed, for ``.gz``) consumed so far by :meth:`records`."""
        return self._counter.bytes_read if self._counter is not None else 0

    def records(self) -> Iterator[Record]:
        stream, counter = open_maybe_gzip(self.path)
        self._counter = counter
        try:
            yield from _iter_records(stream, self.name)
        finally:
            stream.close()
            counter.close()

    def __repr__(self) -> str:
        return f"MedlineSource({self.name!r})"


def detect(path: Path) -> bool:
    """True for a ``.xml``/``.xml.gz`` file whose first ~2 KB (decompressed) mention ``PubmedArticleSet``."""
    lowered = path.name.lower()
    if not (lowered.endswith(".xml") or lowered.endswith(".xml.gz")):
        return False
    try:
        stream, counter = open_maybe_gzip(path)
        try:
            head = stream.read(2048)
        finally:
            stream.close()
            counter.close()
    except (SourceFormatError, OSError):
        return False
    except GZIP_ERRORS:
        return False
    return b"PubmedArticleSet" in head or b"PubmedBookArticleSet" in head


SOURCE_TYPE = FileSourceType(
    name="medline",
    description="MEDLINE/PubMed XML: baseline and update files, efetch responses (.xml, .xml.gz)",
    detect=detect,
    open=lambda path, settings: MedlineSource(path),
)
