"""PMC open-access full text in JATS XML (``.nxml``, ``.xml``, optionally gzipped).

A PMC OA package holds one ``<article>`` per file; an efetch ``db=pmc`` answer
wraps several in ``<pmc-articleset>``.  Both are streamed with
``lxml.etree.iterparse`` filtered to ``article`` and each article is freed once
converted, so an articleset of thousands of papers does not sit in memory.

An article becomes a :class:`~curbside.types.Document` whose sections are the
abstract parts first (labelled like MEDLINE's: ``ABSTRACT`` or the upper-cased
part title, ``BACKGROUND``) and then the body sections, each labelled with its
title path (``Methods > Study design``) and holding only its own paragraphs;
nested sections follow as their own sections, so chunk offsets stay local.

What is left out, and why:

* figure and table captions, tables, display formulas and supplementary
  material: they are not prose, read badly out of context and would be cited
  as if they were statements;
* back matter (references, acknowledgements) and administrative body sections
  (competing interests, author contributions, funding, supplementary material),
  which match clinical questions by accident;
* numeric citation markers (``[12]``, ``[3-5]``, superscript ``12``): they would
  leak into quoted claims as stray numbers; the brackets left behind are removed
  with them.  Author-year citations (``Smith et al., 2005``) are prose and kept.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from lxml import etree

from curbside.config import Settings
from curbside.errors import SourceFormatError
from curbside.ingestion.sources.base import (
    GZIP_ERRORS,
    CountingReader,
    FileSourceType,
    Source,
    XmlElements,
    clean_text,
    is_retraction_type,
    kind_from_publication_types,
    open_maybe_gzip,
)
from curbside.types import Document, Malformed, Record, Section
from curbside.wording import count

__all__ = [
    "SOURCE_TYPE",
    "JatsSource",
    "detect",
    "parse_article",
    "parse_jats",
    "publication_type_for_article_type",
]

_XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
_ALI_LICENSE_REF = "{http://www.niso.org/schemas/ali/1.0/}license_ref"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_ROOTS = frozenset({"article", "pmc-articleset"})

# JATS @article-type -> the PubMed publication type name, so evidence weighting
# (kind_from_publication_types) reads JATS and MEDLINE records alike.  Values
# follow the JATS tag library's suggested list plus the non-standard ones PMC
# publishers use; anything else is kept verbatim.
_ARTICLE_TYPES: dict[str, str] = {
    "research-article": "Journal Article",
    "brief-report": "Journal Article",
    "rapid-communication": "Journal Article",
    "methods-article": "Journal Article",
    "data-paper": "Journal Article",
    "review-article": "Review",
    "systematic-review": "Systematic Review",
    "meta-analysis": "Meta-Analysis",
    "case-report": "Case Reports",
    "editorial": "Editorial",
    "letter": "Letter",
    "reply": "Letter",
    "commentary": "Comment",
    "article-commentary": "Comment",
    "correction": "Published Erratum",
    "retraction": "Retraction of Publication",
    "expression-of-concern": "Expression of Concern",
    "news": "News",
    "obituary": "Biography",
    "practice-guideline": "Practice Guideline",
    "guideline": "Guideline",
    "clinical-trial": "Clinical Trial",
}

# Heading subjects (article-categories) that name a study design more precisely
# than @article-type does; a "research-article" headed "Systematic Review" is one.
_DESIGN_SUBJECTS: dict[str, str] = {
    "systematic review": "Systematic Review",
    "meta-analysis": "Meta-Analysis",
    "randomized controlled trial": "Randomized Controlled Trial",
    "randomised controlled trial": "Randomized Controlled Trial",
    "practice guideline": "Practice Guideline",
    "guideline": "Guideline",
    "guidelines": "Guideline",
    "case report": "Case Reports",
    "case reports": "Case Reports",
    "review": "Review",
    "review article": "Review",
}

# ISO 639-1 (JATS xml:lang) -> the ISO 639-2/B codes MEDLINE and Europe PMC use,
# so a language filter works across sources.  Unlisted codes pass through.
_LANGUAGES = {
    "en": "eng",
    "de": "ger",
    "fr": "fre",
    "es": "spa",
    "it": "ita",
    "pt": "por",
    "nl": "dut",
    "ru": "rus",
    "ja": "jpn",
    "zh": "chi",
    "ko": "kor",
    "pl": "pol",
    "tr": "tur",
}

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# Elements whose text is never part of the prose: floats, formulas as TeX, footnotes.
_SKIP = frozenset(
    {
        "table-wrap",
        "table-wrap-group",
        "fig",
        "fig-group",
        "disp-formula",
        "disp-formula-group",
        "tex-math",
        "supplementary-material",
        "fn",
        "table-wrap-foot",
        "graphic",
        "media",
    }
)
# Body sections that are administrative rather than content.
_SKIP_SEC_TYPES = frozenset(
    {
        "supplementary-material",
        "display-objects",
        "coi-statement",
        "author-contributions",
        "funding-information",
    }
)
_SKIP_SEC_TITLES = re.compile(
    r"(?:(?:competing|conflicts?\s+of)\s+interests?|declaration of interests?|authors?'?\s*contributions?"
    r"|pre-?publication history|supplementary (?:material|data|information)|supporting information"
    r"|acknowledge?ments?|funding|financial (?:support|disclosure)|disclosures?|abbreviations)"
    r"(?:\s+statements?)?",
    re.IGNORECASE,
)
# A bibliographic xref whose text is only a numeric marker: "12", "3-5", "[16]", "7a".
_MARKER = re.compile(r"[\[(]?\s*\d+[a-z]?(?:\s*[,;\-\u2010-\u2015\u2212]\s*\d+[a-z]?)*\s*[\])]?")
# What dropping markers leaves behind: "[, ]", "[-]", "()" and the space before them.  Both patterns
# run after clean_text, so whitespace is single spaces, and a literal " " scans far faster than \s*.
_EMPTY_BRACKETS = re.compile(r" ?(?:\[[ ,;\-\u2010-\u2015\u2212]*\]|\([ ,;\-\u2010-\u2015\u2212]*\))")
# Text between two markers that goes with them.
_SEPARATOR = re.compile(r"\s*[,;\-\u2010-\u2015\u2212]?\s*")
# ... and the space left before punctuation when the marker carried its own brackets ("[16]").
_SPACE_BEFORE_PUNCT = re.compile(r" (?=[.,;:)\]])")
_PMCID = re.compile(r"(?:PMC)?(\d+)", re.IGNORECASE)
_JATS_HINT = re.compile(rb"jats|-//NLM//DTD|dtd-version=|article-type=|<front>", re.IGNORECASE)
_ARTICLE_TAG = re.compile(rb"<article[\s>]")
# What reading a file's head may raise; detect() answers False rather than fail.
_DETECT_ERRORS: tuple[type[BaseException], ...] = (SourceFormatError, OSError, *GZIP_ERRORS)


# --------------------------------------------------------------------------- text


def _plain(elem: etree._Element) -> str:
    """All text inside ``elem``, markup ignored (lxml's stubs type itertext() as str | bytes)."""
    return "".join(t for t in elem.itertext() if isinstance(t, str))


def _is_marker(elem: etree._Element) -> bool:
    return (
        elem.tag == "xref" and elem.get("ref-type") == "bibr" and _MARKER.fullmatch(_plain(elem)) is not None
    )


def _collect(elem: etree._Element, out: list[str]) -> bool:
    """Append ``elem``'s prose to ``out``, skipping floats and citation markers; True if a marker was dropped."""
    dropped = False
    if elem.text:
        out.append(elem.text)
    for child in elem:
        tail = child.tail
        if child.tag in _SKIP:
            out.append(" ")  # a skipped formula or float must not glue the words around it together
        elif _is_marker(child):
            dropped = True
            if tail and _SEPARATOR.fullmatch(tail):
                # The "," or "-" between two markers ("[1]-[3]") goes with them.
                following = child.getnext()
                if following is not None and _is_marker(following):
                    tail = None
        elif isinstance(child.tag, str) and _collect(child, out):
            dropped = True
        if tail:
            out.append(tail)
    return dropped


def _text(elem: etree._Element) -> str:
    """The readable text of a paragraph, title or caption-free block, whitespace normalised."""
    out: list[str] = []
    dropped = _collect(elem, out)
    # Same result as clean_text (str.split and re's \s agree on what whitespace is), but paragraphs are
    # long and mostly single-spaced, and re.sub rewriting every space was the parser's largest cost.
    text = " ".join("".join(out).split())
    if dropped:
        text = _SPACE_BEFORE_PUNCT.sub("", _EMPTY_BRACKETS.sub("", text))
    return text


def _block_text(container: etree._Element) -> str:
    """Paragraphs directly inside ``container`` (not in nested ``sec``), one per line."""
    paragraphs: list[str] = []
    for child in container:
        tag = child.tag
        if tag == "p" or tag == "disp-quote" or tag == "statement":
            text = _text(child)
            if text:
                paragraphs.append(text)
        elif tag == "list":
            for item in child.iter("list-item"):
                for p in item.iterchildren("p"):
                    text = _text(p)
                    if text:
                        paragraphs.append(text)
    return "\n".join(paragraphs)


def _title(elem: etree._Element) -> str:
    title = elem.find("title")
    if title is None:
        return ""
    return _text(title).rstrip(":").strip()


# --------------------------------------------------------------------------- sections


def _abstract_sections(abstract: etree._Element, default_label: str, out: list[Section]) -> None:
    """Abstract parts: loose paragraphs under ``default_label``, each ``sec`` under its upper-cased title."""
    text = _block_text(abstract)
    if text:
        out.append(Section(text=text, label=default_label))
    for sec in abstract.iterchildren("sec"):
        parts = [_block_text(s) for s in sec.iter("sec")]  # abstract parts rarely nest; flatten if they do
        text = "\n".join(p for p in parts if p)
        if text:
            out.append(Section(text=text, label=_title(sec).upper() or default_label))


def _body_sections(container: etree._Element, path: tuple[str, ...], out: list[Section]) -> None:
    for sec in container.iterchildren("sec"):
        title = _title(sec)
        if (sec.get("sec-type") or "").lower() in _SKIP_SEC_TYPES or (
            title and _SKIP_SEC_TITLES.fullmatch(title)
        ):
            continue
        sec_path = (*path, title) if title else path
        text = _block_text(sec)
        if text:
            out.append(Section(text=text, label=" > ".join(sec_path)))
        _body_sections(sec, sec_path, out)


def _sections(article: etree._Element, meta: etree._Element) -> list[Section]:
    out: list[Section] = []
    secondary: list[etree._Element] = []
    for abstract in meta.iterchildren("abstract"):
        kind = abstract.get("abstract-type")
        if kind is None or kind == "structured":
            _abstract_sections(abstract, "ABSTRACT", out)
        elif kind not in ("graphical", "teaser", "toc"):
            secondary.append(abstract)  # author summaries and the like come after the abstract proper
    for abstract in secondary:
        label = _title(abstract).upper() or (abstract.get("abstract-type") or "").replace("-", " ").upper()
        _abstract_sections(abstract, label, out)
    body = article.find("body")
    if body is not None:
        text = _block_text(body)  # short items (corrections) have paragraphs but no sections
        if text:
            out.append(Section(text=text, label=""))
        _body_sections(body, (), out)
    return out


# --------------------------------------------------------------------------- front matter


def _initials(given: str) -> str:
    """``"John J"`` -> ``"JJ"``, ``"Ing-Nang"`` -> ``"IN"``, ``"G. A."`` -> ``"GA"`` (MEDLINE style)."""
    return "".join(w[0].upper() for w in re.split(r"[\s.\-\u2010]+", given) if w and w[0].isalpha())


def _authors(meta: etree._Element) -> list[str]:
    out: list[str] = []
    for group in meta.iterchildren("contrib-group"):
        for contrib in group.iterchildren("contrib"):
            if contrib.get("contrib-type", "author") != "author":
                continue
            name = contrib.find("name")
            if name is not None:
                surname = clean_text(name.findtext("surname"))
                initials = _initials(clean_text(name.findtext("given-names")))
                if surname:
                    out.append(f"{surname} {initials}" if initials else surname)
                    continue
            collab = contrib.find("collab")
            if collab is not None:
                text = _text(collab)
                if text:
                    out.append(text)
    return out


def _date(pub: etree._Element) -> tuple[int | None, str | None]:
    """(year, ``"2011 Aug 2"``) from a ``pub-date``, in the MEDLINE source's date style."""
    year = (pub.findtext("year") or "").strip()
    if not year.isdigit():
        return None, None
    parts = [year]
    month = (pub.findtext("month") or "").strip()
    if month.isdigit() and 1 <= int(month) <= 12:
        parts.append(_MONTHS[int(month) - 1])
        day = (pub.findtext("day") or "").strip()
        if day.isdigit():
            parts.append(str(int(day)))
    elif month:
        parts.append(month)
    else:
        season = clean_text(pub.findtext("season"))
        if season:
            parts.append(season)
    return int(year), " ".join(parts)


def _pub_type(pub: etree._Element) -> str:
    """``epub``/``ppub``/``collection`` from JATS 1.0 @pub-type or the JATS 1.1+ attribute pair."""
    old = pub.get("pub-type")
    if old:
        return old
    if pub.get("date-type") == "collection":
        return "collection"
    fmt = pub.get("publication-format")
    return "epub" if fmt == "electronic" else "ppub" if fmt == "print" else pub.get("date-type") or ""


def _publication_date(meta: etree._Element) -> tuple[int | None, str | None]:
    dates: dict[str, etree._Element] = {}
    for pub in meta.iterchildren("pub-date"):
        dates.setdefault(_pub_type(pub), pub)
    for preferred in ("epub", "ppub", "collection", "pub", ""):
        candidate = dates.get(preferred)
        if candidate is not None:
            found = _date(candidate)
            if found[0] is not None:
                return found
    return None, None


def _licence(meta: etree._Element) -> str | None:
    """The licence URL when there is one, else the first sentence of the licence text."""
    for licence in meta.iterfind("permissions/license"):
        href = licence.get(_XLINK_HREF)
        if href and href.strip():
            return href.strip()
        ref = licence.find(_ALI_LICENSE_REF)
        if ref is not None and ref.text and ref.text.strip():
            return ref.text.strip()
        text = " ".join(t for t in (_text(p) for p in licence if p.tag in ("license-p", "p")) if t)
        if text:
            # "This is an open-access article distributed under the terms of the Creative Commons
            # Attribution License, which permits ...": the first clause names the licence.
            short = re.split(r"(?<=\.)\s", text, maxsplit=1)[0]
            if len(short) > 120:
                short = short.split(", ", 1)[0]
            return short if len(short) <= 200 else short[:199].rstrip() + "\u2026"
    return None


def publication_type_for_article_type(article_type: str) -> str:
    """The PubMed publication type for a JATS ``article-type`` (unknown types are returned as given)."""
    return _ARTICLE_TYPES.get(article_type.strip().lower(), article_type.strip())


def _publication_types(article: etree._Element, meta: etree._Element) -> list[str]:
    types: list[str] = []
    article_type = article.get("article-type")
    if article_type:
        types.append(publication_type_for_article_type(article_type))
    for group in meta.iterfind("article-categories/subj-group"):
        if group.get("subj-group-type") not in ("heading", "article-type", None):
            continue
        for subject in group.iterchildren("subject"):
            design = _DESIGN_SUBJECTS.get(clean_text(_plain(subject)).lower())
            if design and design not in types:
                types.append(design)
    return types


def _identifiers(meta: etree._Element) -> dict[str, str]:
    identifiers: dict[str, str] = {}
    for aid in meta.iterchildren("article-id"):
        kind = aid.get("pub-id-type")
        value = (aid.text or "").strip()
        if not value:
            continue
        if kind in ("pmc", "pmcid"):
            match = _PMCID.fullmatch(value)
            if match:
                identifiers.setdefault("pmcid", f"PMC{match.group(1)}")
        elif kind == "pmid" and value.isdigit():
            identifiers.setdefault("pmid", value)
        elif kind == "doi":
            identifiers.setdefault("doi", value)
    return identifiers


def parse_article(article: etree._Element) -> Document:
    """Convert one JATS ``<article>`` element into a :class:`Document`.

    Raises :class:`ValueError` when the article has no ``front/article-meta`` or
    no PMCID, PMID or DOI to be known by; :class:`JatsSource` reports those as
    :class:`~curbside.types.Malformed`.
    """
    meta = article.find("front/article-meta")
    if meta is None:
        raise ValueError("article has no front/article-meta")
    identifiers = _identifiers(meta)
    if "pmcid" in identifiers:
        doc_id = f"pmcid:{identifiers['pmcid']}"
        url: str | None = f"https://www.ncbi.nlm.nih.gov/pmc/articles/{identifiers['pmcid']}/"
    elif "pmid" in identifiers:
        doc_id = f"pmid:{identifiers['pmid']}"
        url = f"https://pubmed.ncbi.nlm.nih.gov/{identifiers['pmid']}/"
    elif "doi" in identifiers:
        doc_id = f"doi:{identifiers['doi']}"
        url = f"https://doi.org/{identifiers['doi']}"
    else:
        raise ValueError("article has no PMCID, PMID or DOI article-id")

    title_elem = meta.find("title-group/article-title")
    journal_meta = article.find("front/journal-meta")
    journal = journal_abbrev = None
    if journal_meta is not None:
        journal = clean_text(journal_meta.findtext("journal-title-group/journal-title")) or clean_text(
            journal_meta.findtext("journal-title")  # NLM 2.x puts it straight under journal-meta
        )
        journal_abbrev = clean_text(journal_meta.findtext(".//abbrev-journal-title"))
        if not journal_abbrev:
            ids = {
                j.get("journal-id-type"): clean_text(j.text) for j in journal_meta.iterchildren("journal-id")
            }
            journal_abbrev = ids.get("nlm-ta") or ids.get("iso-abbrev") or ""
    year, pub_date = _publication_date(meta)
    pub_types = tuple(_publication_types(article, meta))
    keywords: list[str] = []
    for kwd in meta.iterfind("kwd-group/kwd"):
        text = _text(kwd)
        if text and text not in keywords:
            keywords.append(text)
    retracted = is_retraction_type(pub_types) or any(
        r.get("related-article-type") == "retraction-forward" for r in meta.iterchildren("related-article")
    )
    language = (article.get(_XML_LANG) or "").strip().lower()
    return Document(
        id=doc_id,
        title=_text(title_elem) if title_elem is not None else "",
        sections=tuple(_sections(article, meta)),
        kind=kind_from_publication_types(pub_types),
        source="jats",
        journal=journal or None,
        journal_abbrev=journal_abbrev or None,
        year=year,
        pub_date=pub_date,
        authors=tuple(_authors(meta)),
        identifiers=identifiers,
        language=_LANGUAGES.get(language, language) or None,
        publication_types=pub_types,
        keywords=tuple(keywords),
        retracted=retracted,
        licence=_licence(meta),
        url=url,
    )


# --------------------------------------------------------------------------- streaming


def _iter_records(stream: IO[bytes], name: str) -> Iterator[Record]:
    """Stream documents from one article or a ``pmc-articleset``; whole-file errors name ``name``."""
    context = XmlElements(stream, "article")
    number = 0
    try:
        for elem in context:
            number += 1
            try:
                yield parse_article(elem)
            except ValueError as exc:
                yield Malformed(
                    source=name, position=f"record {number}, line {elem.sourceline}", message=str(exc)
                )
            elem.clear()  # keep_tail=False: the whitespace after it goes too
            parent = elem.getparent()
            if parent is not None:
                while elem.getprevious() is not None:
                    del parent[0]
    except etree.XMLSyntaxError as exc:
        if number == 0 and exc.lineno is not None and exc.lineno <= 1 and (exc.offset or 0) <= 1:
            raise SourceFormatError(f"{name}: not an XML file ({exc})") from exc
        raise SourceFormatError(
            f"{name}: XML syntax error after {count(number, 'articles')} (truncated?): {exc}"
        ) from exc
    except GZIP_ERRORS as exc:
        raise SourceFormatError(
            f"{name}: compressed data is truncated or corrupt after {count(number, 'articles')} ({exc})"
        ) from exc
    root = context.root
    if root is None or root.tag not in _ROOTS:
        found = f"<{root.tag}>" if root is not None else "nothing"
        raise SourceFormatError(
            f"{name}: not JATS XML: the root element is {found}, expected <article> or <pmc-articleset>"
        )


def parse_jats(data: bytes, name: str) -> Iterator[Record]:
    """Records from an in-memory JATS article or efetch ``db=pmc`` answer; ``name`` labels errors."""
    return _iter_records(io.BytesIO(data), name)


class JatsSource:
    """A JATS XML file (``.nxml``, ``.xml``, either gzipped) as a stream of records."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.name = str(path)
        self._counter: CountingReader | None = None

    @property
    def size(self) -> int:
        """Bytes on disk, the total for a progress bar over :attr:`position`."""
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
        return f"JatsSource({self.name!r})"


def detect(path: Path) -> bool:
    """True for ``.nxml`` (PMC's own extension), or ``.xml`` whose head is a JATS article or articleset."""
    lowered = path.name.lower()
    if lowered.endswith(".gz"):
        lowered = lowered[:-3]
    if lowered.endswith(".nxml"):
        return True
    if not lowered.endswith(".xml"):
        return False
    try:
        stream, counter = open_maybe_gzip(path)
        try:
            head = stream.read(8192)
        finally:
            stream.close()
            counter.close()
    except _DETECT_ERRORS:
        return False
    if b"<pmc-articleset" in head:
        return True
    # <article> alone is not enough (DocBook has one too): require a JATS/NLM DTD or JATS-only markup.
    return _ARTICLE_TAG.search(head) is not None and _JATS_HINT.search(head) is not None


def _open(path: Path, settings: Settings) -> Source:
    return JatsSource(path)


SOURCE_TYPE = FileSourceType(
    name="jats",
    description="PMC open-access full text, JATS XML (.nxml or .xml, one article or a pmc-articleset; .gz too)",
    detect=detect,
    open=_open,
)
