"""Clinical practice guidelines from Markdown, HTML and PDF files.

Each file is one guideline and yields exactly one record: a
:class:`~curbside.types.Document` of kind ``guideline``, or a
:class:`~curbside.types.Malformed` saying why it could not be one (no title,
no text, unusable metadata).  A file that cannot be read at all (missing,
a corrupt or encrypted PDF) raises :class:`~curbside.errors.SourceFormatError`.

Metadata (title, issuing body, year, URL, publication types, id/slug,
licence) comes from, in rising order of precedence:

1. the document itself: the first H1 (Markdown, HTML) or the PDF info title,
   used only as a title fallback;
2. inline metadata: YAML front matter in Markdown, ``<title>`` and
   ``<meta name="citation_*|dc.*">`` tags in HTML;
3. a sidecar file next to the guideline: ``<name>.meta.yaml``, ``<name>.yaml``
   or ``<name>.json`` (also ``.meta.yml``, ``.meta.json``, ``.yml``), where
   ``<name>`` is the file name with or without its extension
   (``neutropenia.md.meta.yaml`` or ``neutropenia.meta.yaml``).

The sidecar wins key by key, so it can correct one field of a page that is
otherwise described well by its own tags.

Metadata keys (case-insensitive; spaces and hyphens count as underscores):
``title``, ``issuer`` (or ``issuing_body``, ``publisher``, ``organisation``),
``year``, ``date``, ``url``, ``publication_types``, ``id`` or ``slug``,
``licence`` (or ``license``), ``authors``, ``keywords``, ``language``, ``doi``.
Other keys are ignored, because front matter often carries keys meant for a
static site generator.

Sections follow the headings (label: the heading path, ``"Diagnosis > Thresholds"``);
a lone H1 opening the document is its title and stays out of the paths.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import json
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lxml.html
import yaml
from lxml import etree

from curbside.config import Settings
from curbside.errors import SourceFormatError
from curbside.ingestion.sources.base import FileSourceType, Source, clean_text
from curbside.types import Document, Malformed, Record, Section

__all__ = ["SOURCE_TYPE", "GuidelineSource", "detect", "slugify"]

SUFFIXES = frozenset({".md", ".html", ".htm", ".pdf"})
SIDECAR_SUFFIXES = (".meta.yaml", ".meta.yml", ".meta.json", ".yaml", ".yml", ".json")
DEFAULT_PUBLICATION_TYPES = ("Practice Guideline",)
#: Slugs longer than this are cut at a word boundary; ids must stay usable in URLs and logs.
MAX_SLUG = 100


def detect(path: Path) -> bool:
    """True for ``.md``, ``.html``, ``.htm`` and ``.pdf`` files."""
    return path.suffix.lower() in SUFFIXES


def slugify(text: str, max_length: int = MAX_SLUG) -> str:
    """Lower-case ASCII words joined by hyphens: ``"NICE: Sepsis (2024)"`` -> ``"nice-sepsis-2024"``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > max_length:
        cut = slug[:max_length]
        slug = cut.rsplit("-", 1)[0] if "-" in cut else cut
    return slug


class GuidelineSource:
    """One guideline file (Markdown, HTML or PDF) as a one-record :class:`~curbside.ingestion.sources.base.Source`."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.name = str(self.path)

    def records(self) -> Iterator[Record]:
        yield self._parse()

    def _parse(self) -> Record:
        suffix = self.path.suffix.lower()
        if suffix not in SUFFIXES:
            raise SourceFormatError(
                f"{self.path}: not a guideline file (expected one of {', '.join(sorted(SUFFIXES))})"
            )
        data = _read_bytes(self.path)
        try:
            if suffix == ".md":
                parsed = _parse_markdown(data.decode("utf-8-sig"))
            elif suffix == ".pdf":
                parsed = _parse_pdf(data, self.path)
            else:
                parsed = _parse_html(data)
            sidecar = _read_sidecar(self.path)
            return _build(self.path, parsed, sidecar)
        except UnicodeDecodeError as exc:
            return self._malformed("file", f"not UTF-8 text ({exc.reason} at byte {exc.start})")
        except _MetadataError as exc:
            return self._malformed(exc.where, exc.message)

    def _malformed(self, where: str, message: str) -> Malformed:
        return Malformed(source=self.name, position=where, message=f"{self.path.name}: {message}")


def _open(path: Path, settings: Settings) -> Source:
    return GuidelineSource(path)


SOURCE_TYPE = FileSourceType(
    name="guideline",
    description="Clinical guideline documents: Markdown (front matter), HTML (citation meta tags) or PDF, "
    "with optional <name>.meta.yaml / .yaml / .json sidecar metadata",
    detect=detect,
    open=_open,
)


# --------------------------------------------------------------------------- shared machinery


class _MetadataError(Exception):
    """Metadata that cannot be used; becomes a Malformed record rather than an exception."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where
        self.message = message


@dataclass(frozen=True)
class _Heading:
    level: int
    text: str


@dataclass
class _Parsed:
    """What a format parser hands to :func:`_build`: events in document order plus inline metadata."""

    events: list[_Heading | str]  # headings and text blocks
    meta: dict[str, Any]  # canonical keys, see _canonical
    fallback_title: str | None
    where: str  # where inline metadata came from, for error messages
    page_sections: list[Section] | None = None  # PDF without headings: one section per page


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SourceFormatError(f"{path}: cannot open: {exc.strerror or exc}") from exc


def _read_sidecar(path: Path) -> tuple[str, dict[str, Any]] | None:
    """The first sidecar metadata file next to ``path``, parsed; ``None`` when there is none."""
    for base in (path.name, path.stem):
        for suffix in SIDECAR_SUFFIXES:
            candidate = path.with_name(base + suffix)
            if candidate == path or not candidate.is_file():
                continue
            where = f"sidecar {candidate.name}"
            text = _read_bytes(candidate).decode("utf-8-sig", errors="replace")
            is_json = suffix.endswith(".json")
            try:
                raw = json.loads(text) if is_json else yaml.safe_load(text)
            except (ValueError, yaml.YAMLError) as exc:
                fmt = "JSON" if is_json else "YAML"
                raise _MetadataError(where, f"{candidate.name} is not valid {fmt}: {exc}") from exc
            return where, _mapping(raw, where)
    return None


def _mapping(raw: Any, where: str) -> dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _MetadataError(where, f"{where}: metadata must be a mapping of keys to values")
    return _canonical(raw)


# Accepted spellings of each metadata key, after lower-casing and turning spaces/hyphens into "_".
_ALIASES = {
    "issuing_body": "issuer",
    "publisher": "issuer",
    "organisation": "issuer",
    "organization": "issuer",
    "license": "licence",
    "id": "slug",
    "date": "pub_date",
    "published": "pub_date",
    "publication_date": "pub_date",
    "publication_type": "publication_types",
    "author": "authors",
    "lang": "language",
}


def _canonical(raw: Mapping[Any, Any]) -> dict[str, Any]:
    """Normalise keys so that ``Issuing body`` in front matter and ``issuer`` in a sidecar are one key."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        k = re.sub(r"[\s-]+", "_", str(key).strip().lower())
        out[_ALIASES.get(k, k)] = value
    return out


def _merge(inline: dict[str, Any], sidecar: dict[str, Any]) -> dict[str, Any]:
    merged = dict(inline)
    if "year" in sidecar or "pub_date" in sidecar:
        # Year and date describe one fact; a sidecar correcting either must not leave the other stale.
        merged.pop("year", None)
        merged.pop("pub_date", None)
    merged.update(sidecar)
    return merged


def _str_field(meta: Mapping[str, Any], key: str, where: str) -> str | None:
    value = meta.get(key)
    if value is None:
        return None
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return clean_text(str(value)) or None
    raise _MetadataError(where, f"{where}: {key!r} must be text, got {type(value).__name__}")


def _str_list(meta: Mapping[str, Any], key: str, where: str) -> tuple[str, ...] | None:
    value = meta.get(key)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(t for t in (clean_text(v) for v in value) if t)
    raise _MetadataError(where, f"{where}: {key!r} must be text or a list of text")


_YEAR_IN_TEXT = re.compile(r"\b(1\d{3}|2[01]\d{2})\b")
_SLASHED_DATE = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})$")


def _year_and_date(meta: Mapping[str, Any], where: str) -> tuple[int | None, str | None]:
    """Year and publication date from ``year`` and/or ``date`` (YAML may hand either over as a date)."""
    raw_date = meta.get("pub_date")
    pub_date: str | None = None
    year: int | None = None
    if isinstance(raw_date, dt.date):
        pub_date, year = raw_date.isoformat(), raw_date.year
    elif isinstance(raw_date, str | int) and not isinstance(raw_date, bool):
        pub_date = clean_text(str(raw_date)) or None
        if pub_date and (ymd := _SLASHED_DATE.match(pub_date)):  # citation_date is often 2022/03/15
            pub_date = f"{ymd.group(1)}-{int(ymd.group(2)):02d}-{int(ymd.group(3)):02d}"
        found = _YEAR_IN_TEXT.search(pub_date or "")
        year = int(found.group(1)) if found else None
    elif raw_date is not None:
        raise _MetadataError(where, f"{where}: 'date' must be a date or text, got {type(raw_date).__name__}")
    raw_year = meta.get("year")
    if raw_year is not None:
        if isinstance(raw_year, dt.date):
            raw_year = raw_year.year
        try:
            year = int(str(raw_year).strip())
        except ValueError:
            raise _MetadataError(where, f"{where}: 'year' must be a year, got {raw_year!r}") from None
    if year is not None and not 1000 <= year <= 2100:
        raise _MetadataError(where, f"{where}: year {year} is not a plausible publication year")
    return year, pub_date


def _build(path: Path, parsed: _Parsed, sidecar: tuple[str, dict[str, Any]] | None) -> Record:
    where = parsed.where
    meta = parsed.meta
    if sidecar is not None:
        where = f"{where} and {sidecar[0]}" if meta else sidecar[0]
        meta = _merge(meta, sidecar[1])

    title = _str_field(meta, "title", where) or parsed.fallback_title
    if not title:
        return Malformed(
            source=str(path),
            position="file",
            message=f"{path.name}: no title (give one in the metadata or a sidecar file, or start with an H1)",
        )
    issuer = _str_field(meta, "issuer", where)
    year, pub_date = _year_and_date(meta, where)
    # An id may be written out in full ("guideline:nice-ng51") or as the bare slug.
    slug = slugify((_str_field(meta, "slug", where) or "").removeprefix("guideline:"))
    if not slug:
        slug = slugify(" ".join(p for p in (issuer, title, str(year) if year else None) if p))
    if not slug:
        return Malformed(source=str(path), position="file", message=f"{path.name}: title gives no usable id")

    sections = parsed.page_sections if parsed.page_sections is not None else _sections(parsed.events)
    if not any(s.text for s in sections):
        hint = " (a scanned PDF needs OCR first)" if path.suffix.lower() == ".pdf" else ""
        return Malformed(source=str(path), position="file", message=f"{path.name}: no text{hint}")

    identifiers = {"guideline": slug}
    doi = _str_field(meta, "doi", where)
    if doi:
        identifiers["doi"] = doi
    return Document(
        id=f"guideline:{slug}",
        title=title,
        sections=tuple(sections),
        kind="guideline",
        source="guideline",
        year=year,
        pub_date=pub_date,
        authors=_str_list(meta, "authors", where) or (),
        identifiers=identifiers,
        language=_str_field(meta, "language", where),
        publication_types=_str_list(meta, "publication_types", where) or DEFAULT_PUBLICATION_TYPES,
        keywords=_str_list(meta, "keywords", where) or (),
        licence=_str_field(meta, "licence", where),
        url=_str_field(meta, "url", where),
        issuer=issuer,
    )


def _is_h1(event: _Heading | str) -> bool:
    return isinstance(event, _Heading) and event.level == 1


def _sections(events: list[_Heading | str]) -> list[Section]:
    """Group text blocks under heading paths; headings without text of their own produce no section."""
    # A document that opens with its only H1 is titled by it: leave that heading out of every path.
    first = events[0] if events else None
    title_heading = None
    if isinstance(first, _Heading) and first.level == 1 and sum(_is_h1(e) for e in events) == 1:
        title_heading = first

    sections: list[Section] = []
    path: list[_Heading] = []
    blocks: list[str] = []

    def close() -> None:
        if blocks:
            label = " > ".join(h.text for h in path if h is not title_heading)
            sections.append(Section(text=" ".join(blocks), label=label))
            blocks.clear()

    for event in events:
        if isinstance(event, _Heading):
            close()
            while path and path[-1].level >= event.level:
                path.pop()
            path.append(event)
        elif event:
            blocks.append(event)
    close()
    return sections


_SENTENCE_END = (".", "!", "?", ":", ";", "…")


def _as_sentence(text: str) -> str:
    """List items and table rows read as sentences, so sentence splitting keeps them apart."""
    return text if not text or text.endswith(_SENTENCE_END) else text + "."


# --------------------------------------------------------------------------- Markdown

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(?:(.*?)\r?\n)?(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.DOTALL)
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_HR = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?(.*)$")
_QUOTE = re.compile(r"^(?: {0,3}>[ \t]?)+")
_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
_LINK_DEF = re.compile(r"^ {0,3}\[[^\]]+\]:\s*\S+")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)

# Inline syntax, applied in this order by strip_inline.
_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!>|~<])")
_PROTECT_BASE = 0xF0000  # escaped characters hide in a private-use plane while emphasis is removed
_PROTECTED = re.compile("[\U000f0000-\U000f007f]")
_INLINE_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"`+([^`]*?)`+"), r"\1"),
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[\^[^\]]+\]"), ""),  # footnote references
    (re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^()]*\))*\)"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),
    (re.compile(r"<((?:https?|mailto):[^>\s]+)>"), r"\1"),
    (re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>"), ""),
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~"), r"\1"),
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])"), r"\1"),
    (re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])"), r"\1"),
)


def strip_inline(text: str) -> str:
    """Markdown inline syntax to plain text: ``**x**`` -> x, ``[t](u)`` -> t, entities decoded."""
    text = _ESCAPED.sub(lambda m: chr(_PROTECT_BASE + ord(m.group(1))), text)
    for pattern, repl in _INLINE_RULES:
        text = pattern.sub(repl, text)
    text = _PROTECTED.sub(lambda m: chr(ord(m.group(0)) - _PROTECT_BASE), text)
    return clean_text(html.unescape(text))


def _parse_markdown(text: str) -> _Parsed:
    meta: dict[str, Any] = {}
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            raw = yaml.safe_load(match.group(1) or "")
        except yaml.YAMLError as exc:
            raise _MetadataError("front matter", f"front matter is not valid YAML: {exc}") from exc
        meta = _mapping(raw, "front matter")
        text = text[match.end() :]
    events = _markdown_events(_HTML_COMMENT.sub("", text))
    first_h1 = next((e.text for e in events if isinstance(e, _Heading) and e.level == 1), None)
    return _Parsed(events=events, meta=meta, fallback_title=first_h1, where="front matter")


def _markdown_events(text: str) -> list[_Heading | str]:
    """Headings and plain-text blocks (paragraphs, list items, table rows, code blocks) in order."""
    events: list[_Heading | str] = []
    lines: list[str] = []  # the block being read
    kind = ""  # "para", "item", "row", "code" or "" when no block is open
    fence = ""

    def flush() -> None:
        nonlocal kind
        if lines:
            if kind == "code":
                block = clean_text(" ".join(lines))
            else:
                block = strip_inline(" ".join(lines))
                if kind in ("item", "row"):
                    block = _as_sentence(block)
            if block:
                events.append(block)
            lines.clear()
        kind = ""

    for raw_line in text.splitlines():
        if fence:
            if raw_line.strip().startswith(fence):
                flush()
                fence = ""
            else:
                lines.append(raw_line)
            continue
        line = _QUOTE.sub("", raw_line)
        if not line.strip():
            flush()
            continue
        if m := _FENCE.match(line):
            flush()
            fence, kind = m.group(1), "code"
            continue
        if m := _ATX.match(line):
            flush()
            heading = strip_inline(m.group(2) or "")
            if heading:
                events.append(_Heading(len(m.group(1)), heading))
            continue
        if kind == "para" and (m := _SETEXT.match(line)):
            heading = strip_inline(" ".join(lines))
            lines.clear()
            flush()
            if heading:
                events.append(_Heading(1 if m.group(1)[0] == "=" else 2, heading))
            continue
        if _HR.match(line) or _LINK_DEF.match(line) or _TABLE_RULE.match(line):
            flush()
            continue
        if m := _LIST_ITEM.match(line):
            flush()
            kind = "item"
            lines.append(m.group(1))
            continue
        if line.lstrip().startswith("|"):
            flush()
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            kind = "row"
            lines.append("; ".join(c for c in cells if c))
            continue
        if kind in ("", "row"):
            flush()
            kind = "para"
        lines.append(line.strip())  # continues the paragraph or list item
    flush()
    return events


# --------------------------------------------------------------------------- HTML

_DROP_TAGS = ("script", "style", "nav", "noscript", "template")
_HEADING_TAGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4}
_BLOCK_TAGS = frozenset(
    {
        *("p", "div", "section", "article", "main", "aside", "header", "footer", "blockquote", "pre"),
        *("ul", "ol", "li", "dl", "dt", "dd", "table", "thead", "tbody", "tfoot", "tr", "caption"),
        *("figure", "figcaption", "h5", "h6", "address", "details", "summary", "form", "fieldset", "hr"),
    }
)
_SENTENCE_TAGS = frozenset({"li", "tr", "dt", "dd", "h5", "h6", "caption", "figcaption", "summary"})
_CELL_TAGS = frozenset({"td", "th"})

# <meta name=...> -> canonical metadata key; earlier names win over later ones for the same key.
_META_NAMES: tuple[tuple[str, str], ...] = (
    ("citation_title", "title"),
    ("dc.title", "title"),
    ("citation_publisher", "issuer"),
    ("dc.publisher", "issuer"),
    ("citation_publication_date", "pub_date"),
    ("citation_date", "pub_date"),
    ("dc.date", "pub_date"),
    ("citation_public_url", "url"),
    ("citation_abstract_html_url", "url"),
    ("citation_language", "language"),
    ("dc.language", "language"),
    ("citation_doi", "doi"),
    ("dc.rights", "licence"),
    ("citation_keywords", "keywords"),
)


def _parse_html(data: bytes) -> _Parsed:
    if not data.strip():
        return _Parsed(events=[], meta={}, fallback_title=None, where="HTML meta tags")
    # libxml2 assumes Latin-1 when a page declares no charset; most pages without one are UTF-8.
    try:
        data.decode("utf-8")
        parser = lxml.html.HTMLParser(encoding="utf-8")
    except UnicodeDecodeError:
        parser = lxml.html.HTMLParser()
    try:
        doc = lxml.html.document_fromstring(data, parser=parser)
    except (etree.ParserError, ValueError):
        return _Parsed(events=[], meta={}, fallback_title=None, where="HTML meta tags")

    meta = _html_meta(doc)
    for el in list(doc.iter(*_DROP_TAGS)):
        if isinstance(el, lxml.html.HtmlElement):
            el.drop_tree()  # keeps the element's tail text, which belongs to the surrounding content
    # Site chrome (banners, footers) sits outside <main>/<article> on most publishers' pages.
    root = _first(doc, "main")
    if root is None:
        root = _first(doc, "article")
    if root is None:
        root = _first(doc, "body")
    events = _html_events(doc if root is None else root)
    first_h1 = next((e.text for e in events if _is_h1(e) and isinstance(e, _Heading)), None)
    if first_h1 is None:
        h1 = _first(doc, "h1")
        if h1 is not None:
            first_h1 = clean_text(h1.text_content()) or None
    return _Parsed(events=events, meta=meta, fallback_title=first_h1, where="HTML meta tags")


def _first(doc: lxml.html.HtmlElement, tag: str) -> lxml.html.HtmlElement | None:
    """The first ``tag`` element; explicit because lxml elements without children are falsy."""
    for el in doc.iter(tag):
        if isinstance(el, lxml.html.HtmlElement):
            return el
    return None


def _html_meta(doc: lxml.html.HtmlElement) -> dict[str, Any]:
    by_name: dict[str, list[str]] = {}
    for el in doc.iter("meta"):
        name, value = el.get("name"), clean_text(el.get("content"))
        if name and value:
            by_name.setdefault(name.strip().lower(), []).append(value)
    meta: dict[str, Any] = {}
    for name, key in _META_NAMES:
        if key not in meta and by_name.get(name):
            meta[key] = by_name[name][0]
    authors = by_name.get("citation_author") or by_name.get("dc.creator")
    if authors:
        meta["authors"] = authors
    if isinstance(meta.get("keywords"), str):
        meta["keywords"] = [k.strip() for k in re.split(r"[;,]", meta["keywords"]) if k.strip()]
    if "title" not in meta:
        title_el = _first(doc, "title")
        title = clean_text(title_el.text_content()) if title_el is not None else ""
        if title:
            meta["title"] = title
    if "url" not in meta:
        for link in doc.iter("link"):
            if (link.get("rel") or "").strip().lower() == "canonical" and link.get("href"):
                meta["url"] = str(link.get("href")).strip()
                break
    if "language" not in meta and doc.get("lang"):
        meta["language"] = doc.get("lang")
    return meta


def _html_events(root: lxml.html.HtmlElement) -> list[_Heading | str]:
    """Walk the tree in document order; h1-h4 start sections, block elements separate text blocks."""
    events: list[_Heading | str] = []
    buffer: list[str] = []
    open_blocks: list[str] = []

    def flush() -> None:
        if buffer:
            text = clean_text("".join(buffer)).strip(" ;")
            buffer.clear()
            if text:
                sentence = bool(open_blocks) and open_blocks[-1] in _SENTENCE_TAGS
                events.append(_as_sentence(text) if sentence else text)

    def walk(el: Any) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""  # comments and PIs have no string tag
        if not tag:
            if el.tail:
                buffer.append(el.tail)
            return
        tag = tag.lower()
        if tag == "head":
            pass  # metadata only; read separately by _html_meta
        elif tag == "br":
            buffer.append(" ")
        elif tag in _HEADING_TAGS:
            flush()
            heading = clean_text(el.text_content())
            if heading:
                events.append(_Heading(_HEADING_TAGS[tag], heading))
        elif tag in _BLOCK_TAGS:
            flush()
            open_blocks.append(tag)
            if el.text:
                buffer.append(el.text)
            for child in el:
                walk(child)
            flush()
            open_blocks.pop()
        else:
            if tag == "sup" and buffer and buffer[-1][-1:].isdigit():
                buffer.append("^")  # 10<sup>9</sup>/L is 10^9/L, not 109/L
            if el.text:
                buffer.append(el.text)
            for child in el:
                walk(child)
            if tag in _CELL_TAGS:
                buffer.append("; ")
        if el.tail:
            buffer.append(el.tail)

    walk(root)
    flush()
    return events


# --------------------------------------------------------------------------- PDF

_NUMBERED_HEADING = re.compile(r"^(?:(\d{1,2})\.|(\d{1,2}(?:\.\d{1,2}){1,3})\.?)\s+(\S.*)$")
_PAGE_NUMBER = re.compile(r"^(?:page\s+\d{1,4}|\d{1,3})(?:\s*(?:of|/)\s*\d{1,4})?$", re.IGNORECASE)
_MAX_HEADING_CHARS = 80
_MAX_HEADING_WORDS = 12


def _pdf_heading(line: str) -> _Heading | None:
    """A line that looks like a heading: ``1. Introduction``, ``2.3 Diagnosis`` or ``DIAGNOSIS``."""
    if len(line) > _MAX_HEADING_CHARS or line.endswith((".", ",", ";")):
        return None
    if len(line.split()) > _MAX_HEADING_WORDS:
        return None
    if m := _NUMBERED_HEADING.match(line):
        number = m.group(1) or m.group(2)
        rest = m.group(3)
        if rest[0].isupper() and sum(c.isalpha() for c in rest) >= 3:
            return _Heading(number.count(".") + 1, line)
        return None
    letters = [c for c in line if c.isalpha()]
    if len(letters) >= 4 and all(c.isupper() for c in letters):
        return _Heading(1, line)
    return None


def _join_lines(lines: list[str]) -> str:
    """Join extracted lines; a line ending in a hyphen continues the word on the next line."""
    out = ""
    for line in lines:
        if out.endswith("-") and out[-2:-1].isalpha():
            out += line
        else:
            out = f"{out} {line}" if out else line
    return out


def _parse_pdf(data: bytes, path: Path) -> _Parsed:
    # pypdf is imported here: only PDF ingest pays for it.
    from pypdf import PdfReader

    # pypdf raises a variety of exception types (PdfReadError, ValueError, KeyError, ...) on damaged
    # input; any of them means the file is unusable, which the user must hear about with its name.
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise SourceFormatError(f"{path}: PDF is encrypted; decrypt it before ingesting")
        pages = [page.extract_text() or "" for page in reader.pages]
        info = reader.metadata
        pdf_title = clean_text(info.title) if info is not None and info.title else None
    except SourceFormatError:
        raise
    except Exception as exc:
        raise SourceFormatError(f"{path}: not a readable PDF: {exc or type(exc).__name__}") from exc

    events: list[_Heading | str] = []
    page_sections: list[Section] = []
    found_heading = False
    for number, page_text in enumerate(pages, 1):
        lines = [clean_text(line) for line in page_text.splitlines()]
        lines = [line for line in lines if line and not _PAGE_NUMBER.match(line)]
        page_sections.append(Section(text=_join_lines(lines), label=f"Page {number}"))
        block: list[str] = []
        for line in lines:
            heading = _pdf_heading(line)
            if heading is None:
                block.append(line)
                continue
            found_heading = True
            if block:
                events.append(_join_lines(block))
                block = []
            events.append(heading)
        if block:
            events.append(_join_lines(block))
    return _Parsed(
        events=events,
        meta={},
        fallback_title=pdf_title,
        where="PDF",
        page_sections=None if found_heading else [s for s in page_sections if s.text],
    )
