"""Europe PMC REST search: a small client and a search-driven source.

:class:`EuropePmcClient` calls ``search`` (``format=json``) and walks the
results with ``cursorMark`` paging, the only deep-paging method Europe PMC
supports.  ``429`` and ``5xx`` answers and stalled exchanges are retried with
exponential backoff (honouring ``Retry-After``); a refused connection or a
failed DNS lookup is not, because it will not heal within the backoff window.
Queries too long for a URL go to ``searchPOST``.

:class:`EuropePmcSource` turns a query into :class:`~curbside.types.Document`
records.  ``resultType=core`` (the default) carries the abstract, MeSH
headings with qualifiers, keywords, chemicals and publication types;
``lite`` and ``idlist`` answers map too, with less.  Europe PMC marks up
abstracts with a little HTML (``<h4>Background</h4>``, ``<i>``, ``<sub>``):
headed parts become labelled sections (``BACKGROUND``, as MEDLINE labels
them) and the other tags are stripped.

Failures become :mod:`curbside.errors`: :class:`~curbside.errors.UnreachableError`
when the service cannot be reached, :class:`~curbside.errors.RemoteError` for
an HTTP error or a payload that is not a search answer; both name the URL.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlencode

import httpx

from curbside.config import Settings
from curbside.errors import InputError, QueryError, RemoteError, UnreachableError
from curbside.ingestion.sources.base import clean_text, is_retraction_type, kind_from_publication_types
from curbside.ingestion.sources.jats import publication_type_for_article_type
from curbside.types import Document, Malformed, MeshHeading, MeshQualifier, Record, Section
from curbside.version import __version__

__all__ = ["EuropePmcClient", "EuropePmcSource", "document_from_result"]

#: Exponential backoff: BASE * 2**attempt seconds, capped.
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 30.0
#: A Retry-After longer than this is not waited out: the caller gets an error instead of a hang.
MAX_RETRY_AFTER_S = 120.0
#: Europe PMC's largest page.
MAX_PAGE_SIZE = 1000
#: Queries longer than this go by POST (``searchPOST``); URLs over ~2 kB get truncated on the way.
POST_THRESHOLD_CHARS = 1500
RESULT_TYPES = ("core", "lite", "idlist")

# Transport failures worth retrying: the server was reached but the exchange broke or stalled.
_RETRYABLE_TRANSPORT: tuple[type[httpx.TransportError], ...] = (
    httpx.TimeoutException,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)
_UNREACHABLE_HINT = "check the network connection (and any proxy settings), or ingest local files instead"

_H4 = re.compile(r"<h4[^>]*>(.*?)</h4>", re.IGNORECASE | re.DOTALL)
# Only the tags Europe PMC is known to send: a bare "<" in "p <0.05 and >" must survive.
_TAG = re.compile(
    r"</?(?:i|b|u|em|strong|sup|sub|sc|span|a|font|small|inf|h\d|p|br|div|li|ul|ol)\b[^<>]*>", re.IGNORECASE
)
# Block-level tags become a space so "end.</p><p>Next" does not read "end.Next".
_BLOCK_TAG = re.compile(r"</?(?:p|br|div|li|ul|ol|h\d)\b[^<>]*>", re.IGNORECASE)


# --------------------------------------------------------------------------- mapping


def _strip_html(text: str) -> str:
    """Europe PMC's inline HTML removed and entities decoded: ``H<sub>2</sub>S`` -> ``H2S``."""
    if "&" in text:
        # Entities first: some records carry their markup escaped ("&lt;i&gt;C. elegans&lt;/i&gt;").
        text = html.unescape(text)
    if "<" in text:
        text = _TAG.sub("", _BLOCK_TAG.sub(" ", text))
    return clean_text(text)


def _abstract_sections(abstract: str) -> list[Section]:
    """``<h4>Background</h4>text<h4>Methods</h4>text`` -> sections BACKGROUND, METHODS."""
    if "&lt;" in abstract:
        abstract = html.unescape(abstract)  # escaped markup, as in some titles; headings must still split
    parts = _H4.split(abstract)
    # split() alternates: text before the first heading, then (heading, text) pairs.
    out: list[Section] = []
    lead = _strip_html(parts[0])
    if lead:
        out.append(Section(text=lead, label="ABSTRACT"))
    for i in range(1, len(parts) - 1, 2):
        text = _strip_html(parts[i + 1])
        if text:
            label = _strip_html(parts[i]).rstrip(":").strip().upper()
            out.append(Section(text=text, label=label or "ABSTRACT"))
    return out


def _as_list(value: Any) -> list[Any]:
    """Europe PMC wraps lists as ``{"thing": [...]}`` and sometimes gives one item bare."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [value]


def _inner(container: Any, key: str) -> list[Any]:
    return _as_list(container.get(key)) if isinstance(container, Mapping) else []


def _normalise_type(pub_type: str) -> str:
    """Lite answers give ``"journal article"``, core ``"Journal Article"`` and JATS ``"review-article"``."""
    name = clean_text(pub_type)
    mapped = publication_type_for_article_type(name)
    if mapped != name:
        return mapped  # a JATS article-type, named as PubMed names it
    if re.fullmatch(r"[a-z -]+", name):
        return name.title()  # "journal article" -> "Journal Article", "case reports" -> "Case Reports"
    return name


def _publication_types(result: Mapping[str, Any]) -> tuple[str, ...]:
    raw = _inner(result.get("pubTypeList"), "pubType")
    if not raw and isinstance(result.get("pubType"), str):  # lite: "brief-report; journal article"
        raw = result["pubType"].split(";")
    out: list[str] = []
    seen: set[str] = set()
    for item in raw:
        if not isinstance(item, str) or not item.strip():
            continue
        name = _normalise_type(item)
        if name.lower() not in seen:
            seen.add(name.lower())
            out.append(name)
    return tuple(out)


def _mesh(result: Mapping[str, Any]) -> tuple[MeshHeading, ...]:
    out: list[MeshHeading] = []
    for heading in _inner(result.get("meshHeadingList"), "meshHeading"):
        if not isinstance(heading, Mapping):
            continue
        descriptor = clean_text(heading.get("descriptorName"))
        if not descriptor:
            continue
        qualifiers = tuple(
            MeshQualifier(name=clean_text(q.get("qualifierName")), major=q.get("majorTopic_YN") == "Y")
            for q in _inner(heading.get("meshQualifierList"), "meshQualifier")
            if isinstance(q, Mapping) and clean_text(q.get("qualifierName"))
        )
        out.append(
            MeshHeading(
                descriptor=descriptor, major=heading.get("majorTopic_YN") == "Y", qualifiers=qualifiers
            )
        )
    return tuple(out)


def _authors(result: Mapping[str, Any]) -> tuple[str, ...]:
    authors: list[str] = []
    for author in _inner(result.get("authorList"), "author"):
        if isinstance(author, Mapping):
            name = clean_text(author.get("fullName") or author.get("collectiveName"))
            if name:
                authors.append(name)
    if authors:
        return tuple(authors)
    author_string = clean_text(result.get("authorString")).rstrip(".")
    return tuple(a.strip() for a in author_string.split(",") if a.strip())


def _strings(container: Any, key: str, field: str | None = None) -> tuple[str, ...]:
    out: list[str] = []
    for item in _inner(container, key):
        value = item.get(field) if field and isinstance(item, Mapping) else item
        text = clean_text(value) if isinstance(value, str) else ""
        if text and text not in out:
            out.append(text)
    return tuple(out)


def document_from_result(result: Mapping[str, Any]) -> Document:
    """Map one Europe PMC search result (``core``, ``lite`` or ``idlist``) to a :class:`Document`.

    The id is ``pmid:<n>`` when there is a PMID (so the same paper from MEDLINE
    and Europe PMC is one document), else ``pmcid:PMC<n>``, else ``doi:<doi>``.
    Raises :class:`ValueError` when the result has none of the three;
    :class:`EuropePmcSource` reports those as :class:`~curbside.types.Malformed`.
    """
    identifiers: dict[str, str] = {}
    pmid = str(result.get("pmid") or "").strip()
    if pmid.isdigit():
        identifiers["pmid"] = pmid
    pmcid = str(result.get("pmcid") or "").strip().upper()
    if re.fullmatch(r"PMC\d+", pmcid):
        identifiers["pmcid"] = pmcid
    doi = str(result.get("doi") or "").strip()
    if doi:
        identifiers["doi"] = doi
    if "pmid" in identifiers:
        doc_id = f"pmid:{pmid}"
    elif "pmcid" in identifiers:
        doc_id = f"pmcid:{pmcid}"
    elif "doi" in identifiers:
        doc_id = f"doi:{doi}"
    else:
        ident = f"{result.get('source', '?')}/{result.get('id', '?')}"
        raise ValueError(f"result {ident} has no PMID, PMCID or DOI")

    journal_info = result.get("journalInfo")
    journal_info = journal_info if isinstance(journal_info, Mapping) else {}
    journal = journal_info.get("journal")
    journal = journal if isinstance(journal, Mapping) else {}
    year_text = str(result.get("pubYear") or journal_info.get("yearOfPublication") or "").strip()
    abstract = result.get("abstractText")
    pub_types = _publication_types(result)
    retracted = is_retraction_type(pub_types) or any(
        isinstance(c, Mapping) and str(c.get("type", "")).lower() == "retraction in"
        for c in _inner(result.get("commentCorrectionList"), "commentCorrection")
    )
    source, ext_id = result.get("source"), result.get("id")
    url = f"https://europepmc.org/article/{source}/{ext_id}" if source and ext_id else None
    language = result.get("language")
    licence = result.get("license")
    return Document(
        id=doc_id,
        title=_strip_html(str(result.get("title") or "")),
        sections=tuple(_abstract_sections(abstract)) if isinstance(abstract, str) else (),
        kind=kind_from_publication_types(pub_types),
        source="europepmc",
        journal=clean_text(journal.get("title") or result.get("journalTitle")) or None,
        journal_abbrev=clean_text(journal.get("medlineAbbreviation") or journal.get("isoabbreviation"))
        or None,
        year=int(year_text) if year_text.isdigit() else None,
        pub_date=clean_text(journal_info.get("dateOfPublication")) or None,
        authors=_authors(result),
        identifiers=identifiers,
        language=language.strip() or None if isinstance(language, str) else None,
        publication_types=pub_types,
        mesh=_mesh(result),
        chemicals=_strings(result.get("chemicalList"), "chemical", "name"),
        keywords=_strings(result.get("keywordList"), "keyword"),
        retracted=retracted,
        licence=licence.strip() or None if isinstance(licence, str) else None,
        url=url,
    )


# --------------------------------------------------------------------------- client


def _backoff(attempt: int) -> float:
    return float(min(BACKOFF_BASE_S * 2**attempt, BACKOFF_MAX_S))


def _retry_after(value: str | None) -> float | None:
    """Delta-seconds from a Retry-After header; None when absent or not a number."""
    if not value:
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        return None


class EuropePmcClient:
    """A synchronous Europe PMC REST client for ``search``; share one instance across threads.

    ``transport`` replaces the network (see :class:`curbside.testing.RecordedTransport`);
    ``sleep`` drives the retry backoff, so tests can check it without waiting.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.base_url = settings.europepmc_url.rstrip("/") + "/"
        self._sleep = sleep
        self._http = httpx.Client(
            transport=transport,
            timeout=settings.http_timeout,
            headers={"User-Agent": f"curbside/{__version__}", "Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EuropePmcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def search(
        self, query: str, *, result_type: str = "core", page_size: int = 100, cursor_mark: str = "*"
    ) -> dict[str, Any]:
        """One page of search results, as Europe PMC's JSON (``hitCount``, ``nextCursorMark``, ``resultList``)."""
        query = query.strip()
        if not query:
            raise QueryError("Europe PMC query is empty")
        if result_type not in RESULT_TYPES:
            raise InputError(
                f"Europe PMC result type {result_type!r} is not one of {', '.join(RESULT_TYPES)}"
            )
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InputError(f"Europe PMC page size must be between 1 and {MAX_PAGE_SIZE}, got {page_size}")
        params = {
            "query": query,
            "format": "json",
            "resultType": result_type,
            "pageSize": str(page_size),
            "cursorMark": cursor_mark,
        }
        endpoint = "searchPOST" if len(query) > POST_THRESHOLD_CHARS else "search"
        url = self._display_url(endpoint, params)
        payload = self._request(endpoint, params, url)
        if not isinstance(payload, dict):
            raise RemoteError(f"Europe PMC answered {url} with JSON that is not an object", url=url)
        if "errMsg" in payload or "errCode" in payload:
            raise RemoteError(
                f"Europe PMC reported an error for {url}: {payload.get('errMsg', payload)}", url=url
            )
        if not isinstance(payload.get("resultList", {}), dict):
            raise RemoteError(f"Europe PMC answered {url} without a resultList", url=url)
        return payload

    def iter_results(
        self, query: str, *, result_type: str = "core", page_size: int = 100, max_records: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every result for ``query`` (up to ``max_records``), following ``nextCursorMark`` page by page."""
        cursor = "*"
        seen = 0
        while True:
            page = self.search(query, result_type=result_type, page_size=page_size, cursor_mark=cursor)
            results = _as_list(page.get("resultList", {}).get("result"))
            for result in results:
                if max_records is not None and seen >= max_records:
                    return
                if isinstance(result, dict):
                    seen += 1
                    yield result
            next_cursor = page.get("nextCursorMark")
            # The last page repeats its own cursor (or has none); an empty page also ends the walk.
            if not results or not isinstance(next_cursor, str) or not next_cursor or next_cursor == cursor:
                return
            if max_records is not None and seen >= max_records:
                return
            cursor = next_cursor

    # --- plumbing ----------------------------------------------------------------------------------

    def _display_url(self, endpoint: str, params: Mapping[str, str]) -> str:
        url = f"{self.base_url}{endpoint}?{urlencode(params)}"
        return url if len(url) <= 300 else url[:297] + "..."

    def _request(self, endpoint: str, params: Mapping[str, str], url: str) -> Any:
        target = self.base_url + endpoint
        post = endpoint == "searchPOST"
        attempts = max(1, self.settings.http_retries + 1)
        for attempt in range(attempts):
            last = attempt + 1 == attempts
            try:
                response = (
                    self._http.post(target, data=params) if post else self._http.get(target, params=params)
                )
            except _RETRYABLE_TRANSPORT as exc:
                if last:
                    raise UnreachableError(
                        f"Europe PMC could not be reached at {url}: {type(exc).__name__} "
                        f"after {attempts} attempts ({exc})",
                        url=url,
                        hint=_UNREACHABLE_HINT,
                    ) from exc
                self._sleep(_backoff(attempt))
                continue
            except httpx.TransportError as exc:
                raise UnreachableError(
                    f"Europe PMC could not be reached at {url}: {type(exc).__name__} ({exc})",
                    url=url,
                    hint=_UNREACHABLE_HINT,
                ) from exc
            status = response.status_code
            if 200 <= status < 300:
                try:
                    return response.json()
                except ValueError as exc:
                    raise RemoteError(f"Europe PMC answered {url} with invalid JSON: {exc}", url=url) from exc
            detail = clean_text(response.text[:200])
            said = f": {detail}" if detail else ""
            if status == 429 or status >= 500:
                if not last:
                    delay = _retry_after(response.headers.get("Retry-After"))
                    if delay is not None and delay > MAX_RETRY_AFTER_S:
                        raise RemoteError(
                            f"Europe PMC answered HTTP {status} for {url} and asked to retry after {delay:.0f} s",
                            url=url,
                            status=status,
                            hint="try again later",
                        )
                    self._sleep(_backoff(attempt) if delay is None else delay)
                    continue
                raise RemoteError(
                    f"Europe PMC answered HTTP {status} {response.reason_phrase} for {url} "
                    f"after {attempts} attempts{said}",
                    url=url,
                    status=status,
                    hint="Europe PMC may be busy or rate limiting; try again later",
                )
            raise RemoteError(
                f"Europe PMC answered HTTP {status} {response.reason_phrase} for {url}{said}",
                url=url,
                status=status,
            )
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover


# --------------------------------------------------------------------------- source


class EuropePmcSource:
    """The results of one Europe PMC query as a stream of records (``name`` is ``europepmc:<query>``).

    ``client`` is used as given and left open; without one, a client is built
    from ``settings`` for each :meth:`records` walk and closed after it.
    """

    def __init__(
        self,
        query: str,
        *,
        max_records: int = 1000,
        settings: Settings | None = None,
        client: EuropePmcClient | None = None,
        result_type: str = "core",
        page_size: int = 100,
    ) -> None:
        if not query.strip():
            raise QueryError("Europe PMC query is empty")
        if max_records < 1:
            raise InputError(f"max_records must be at least 1, got {max_records}")
        if client is None and settings is None:
            raise InputError("EuropePmcSource needs settings or a client")
        self.query = query.strip()
        self.name = f"europepmc:{self.query}"
        self.max_records = max_records
        self.settings = settings
        self.client = client
        self.result_type = result_type
        # No page larger than the records wanted: a 5-record source should not download 100.
        self.page_size = max(1, min(page_size, max_records, MAX_PAGE_SIZE))

    def records(self) -> Iterator[Record]:
        client = self.client
        owned = client is None
        if client is None:
            assert self.settings is not None  # checked in __init__
            client = EuropePmcClient(self.settings)
        try:
            results = client.iter_results(
                self.query,
                result_type=self.result_type,
                page_size=self.page_size,
                max_records=self.max_records,
            )
            for number, result in enumerate(results, 1):
                try:
                    yield document_from_result(result)
                except ValueError as exc:
                    yield Malformed(source=self.name, position=f"result {number}", message=str(exc))
        finally:
            if owned:
                client.close()

    def __repr__(self) -> str:
        return f"EuropePmcSource({self.query!r}, max_records={self.max_records})"
