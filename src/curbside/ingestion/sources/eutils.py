"""NCBI E-utilities: a polite PubMed client and a search-driven source.

:class:`EutilsClient` speaks to ``esearch``, ``efetch``, ``esummary`` and
``espell`` the way NCBI's usage policy asks:

* every request carries ``tool``, ``email`` (when configured) and ``api_key``
  (when configured);
* requests are spaced to at most 3 per second, or 10 with an API key, across
  all threads sharing the client (NCBI blocks clients that go faster);
* ``429`` and ``5xx`` answers and transport timeouts are retried with
  exponential backoff, honouring ``Retry-After``;
* long parameter lists (hundreds of PMIDs) go by POST, as NCBI recommends.

Responses are cached on disk under ``settings.cache_dir / "eutils"``, keyed by
the URL and the parameters that shape the answer (not ``api_key``, ``tool`` or
``email``, which only identify the caller).  History-server requests
(``usehistory=y`` searches, ``WebEnv`` fetches) are never cached: a WebEnv
expires after a few hours, so replaying one would only produce errors later.

:class:`EutilsSource` turns a PubMed query into a stream of records: one
``esearch``, then ``efetch`` in batches (through the history server when more
than one batch is needed), each batch parsed by
:func:`curbside.ingestion.sources.medline.parse_pubmed_xml`.

Failures become :mod:`curbside.errors`: :class:`~curbside.errors.UnreachableError`
when NCBI cannot be reached at all, :class:`~curbside.errors.RemoteError` for an
HTTP error or an error payload (``<ERROR>`` or ``{"error": ...}``), with NCBI's
own text in the message.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import httpx
from lxml import etree

from curbside.config import Settings
from curbside.errors import InputError, RemoteError, UnreachableError
from curbside.ingestion.sources.medline import parse_pubmed_xml
from curbside.types import Record
from curbside.version import __version__

__all__ = ["EutilsClient", "EutilsSource", "RateLimiter", "SearchNotice", "SearchResult"]

T = TypeVar("T")

#: Requests per second NCBI allows without / with an API key.
RATE_WITHOUT_KEY = 3.0
RATE_WITH_KEY = 10.0
#: Exponential backoff: BASE * 2**attempt seconds, capped.
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 30.0
#: A Retry-After longer than this is not waited out: the caller gets an error instead of a hang.
MAX_RETRY_AFTER_S = 120.0
#: Above this many characters of parameters a request goes by POST (URLs over ~2 kB get truncated).
POST_THRESHOLD_CHARS = 1800
#: Cache lifetimes: search results change daily, records rarely.
SEARCH_TTL_S = 24 * 3600.0
RECORD_TTL_S = 30 * 24 * 3600.0
#: Records per efetch call (NCBI suggests batches of a few hundred).
DEFAULT_BATCH = 200

# Parameters that identify the caller but do not change the answer; left out of cache keys and messages.
_IDENTITY_PARAMS = frozenset({"api_key", "tool", "email"})
# Transport failures worth retrying: the server was reached but the exchange broke or stalled.
# A refused connection or a failed DNS lookup is not retried: it will not heal within the backoff
# window, and an offline user should get the error at once rather than after a minute of waiting.
_RETRYABLE_TRANSPORT: tuple[type[httpx.TransportError], ...] = (
    httpx.TimeoutException,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)
_UNREACHABLE_HINT = (
    "check the network connection (and any proxy settings), or ingest local files with `curbside ingest PATH`"
)


@dataclass(frozen=True, slots=True)
class SearchNotice:
    """One entry of an esearch ``ErrorList`` or ``WarningList``, e.g. ``PhraseNotFound: abcXYZ``."""

    kind: str
    text: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.text}"


@dataclass(frozen=True, slots=True)
class SearchResult:
    """What esearch answered.

    ``errors`` and ``warnings`` carry NCBI's ErrorList / WarningList (a term
    that matched nothing, an ignored phrase): the search still ran, so they are
    reported rather than raised, and a caller should show them to the user.
    """

    count: int
    ids: tuple[str, ...]
    retstart: int = 0
    webenv: str | None = None
    query_key: str | None = None
    query_translation: str | None = None
    errors: tuple[SearchNotice, ...] = ()
    warnings: tuple[SearchNotice, ...] = ()


class RateLimiter:
    """At most ``rate`` calls per second, evenly spaced (a minimum interval between calls).

    Even spacing never bursts past NCBI's per-second limit, which a token
    bucket with room for several tokens could.  Thread-safe: a caller reserves
    the next free slot under the lock and sleeps outside it, so concurrent
    callers queue in slot order without blocking each other's bookkeeping.
    """

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0:
            raise InputError(f"rate limit must be positive, got {rate}")
        self.interval = 1.0 / rate
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next = -math.inf

    def wait(self) -> float:
        """Block until the caller may send a request; returns the seconds slept."""
        with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval
        delay = slot - now
        if delay > 0:
            self._sleep(delay)
        return delay


def _xml_parser() -> etree.XMLParser:
    # A fresh parser per document: lxml parsers must not be shared between threads, and building one
    # costs microseconds next to a network round trip.  No DTD loading, no entity expansion, no network.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=True)


def _parse_xml(data: bytes, url: str) -> etree._Element:
    try:
        return etree.fromstring(data, _xml_parser())
    except etree.XMLSyntaxError as exc:
        snippet = data[:120].decode("utf-8", "replace").strip()
        raise RemoteError(
            f"NCBI E-utilities returned a response that is not valid XML for {url}: {exc} "
            f"(it starts with {snippet!r})",
            url=url,
        ) from exc


def _error_text(data: bytes) -> str | None:
    """NCBI's error message inside a response body (JSON ``error`` or XML ``<ERROR>``), if any."""
    head = data.lstrip()[:1]
    if head == b"{":
        try:
            payload = json.loads(data)
        except ValueError:
            return None
        if isinstance(payload, dict) and payload.get("error"):
            return str(payload["error"])
        return None
    if head == b"<":
        try:
            root = etree.fromstring(data, _xml_parser())
        except etree.XMLSyntaxError:
            return None
        return _xml_error(root)
    return None


def _xml_error(root: etree._Element) -> str | None:
    """The text of a top-level ``<ERROR>`` element; espell sends an empty ``<ERROR/>`` on success."""
    text = root.findtext("ERROR")
    if text is not None and text.strip():
        return text.strip()
    return None


def _parse_esearch(data: bytes, url: str) -> SearchResult:
    root = _parse_xml(data, url)
    error = _xml_error(root)
    if error:
        raise RemoteError(f"NCBI esearch reported an error for {url}: {error}", url=url)
    if root.tag != "eSearchResult":
        raise RemoteError(f"NCBI esearch answered <{root.tag}>, not <eSearchResult>, for {url}", url=url)
    try:
        count = int(root.findtext("Count") or "0")
        retstart = int(root.findtext("RetStart") or "0")
    except ValueError as exc:
        raise RemoteError(
            f"NCBI esearch returned a non-numeric Count/RetStart for {url}: {exc}", url=url
        ) from exc
    return SearchResult(
        count=count,
        ids=tuple(e.text.strip() for e in root.iterfind("IdList/Id") if e.text and e.text.strip()),
        retstart=retstart,
        webenv=root.findtext("WebEnv") or None,
        query_key=root.findtext("QueryKey") or None,
        query_translation=root.findtext("QueryTranslation") or None,
        errors=tuple(SearchNotice(str(e.tag), (e.text or "").strip()) for e in root.iterfind("ErrorList/*")),
        warnings=tuple(
            SearchNotice(str(e.tag), (e.text or "").strip()) for e in root.iterfind("WarningList/*")
        ),
    )


def _check_efetch(data: bytes, url: str) -> bytes:
    """Raise on an efetch error payload without parsing a (possibly large) article set."""
    head = data[:4096].lstrip()
    if not head:
        raise RemoteError(f"NCBI efetch returned an empty response for {url}", url=url)
    if head.startswith(b"{"):
        raise RemoteError(
            f"NCBI efetch reported an error for {url}: {_error_text(data) or head[:200].decode('utf-8', 'replace')}",
            url=url,
        )
    if not head.startswith(b"<"):
        raise RemoteError(
            f"NCBI efetch returned a response that is not XML for {url} "
            f"(it starts with {head[:80].decode('utf-8', 'replace')!r})",
            url=url,
        )
    # Errors come wrapped in <eFetchResult>; a PubmedArticleSet is never checked further here.
    if b"<eFetchResult" in head or (b"<ERROR>" in head and b"<PubmedArticleSet" not in head):
        root = _parse_xml(data, url)
        error = _xml_error(root)
        if error:
            raise RemoteError(f"NCBI efetch reported an error for {url}: {error}", url=url)
    return data


# esummary v1 lists that are really name -> value maps (ArticleIds: pubmed, doi, pmc...; History: dates).
# Lists named ...List (AuthorList, LangList, PubTypeList) stay lists.
def _item_value(item: etree._Element) -> Any:
    kind = item.get("Type")
    if kind in ("List", "Structure"):
        children = item.findall("Item")
        name = item.get("Name") or ""
        if kind == "List" and name.endswith("List"):
            return [_item_value(c) for c in children]
        mapping: dict[str, Any] = {}
        for c in children:
            # First occurrence wins: History may repeat a name (several "revised" dates).
            mapping.setdefault(c.get("Name") or "", _item_value(c))
        return mapping
    text = (item.text or "").strip()
    if kind == "Integer":
        try:
            return int(text)
        except ValueError:
            return text
    return text


def _parse_esummary(data: bytes, url: str) -> list[dict[str, Any]]:
    root = _parse_xml(data, url)
    docsums = root.findall("DocSum")
    error = _xml_error(root)
    if error and not docsums:
        raise RemoteError(f"NCBI esummary reported an error for {url}: {error}", url=url)
    if root.tag != "eSummaryResult":
        raise RemoteError(f"NCBI esummary answered <{root.tag}>, not <eSummaryResult>, for {url}", url=url)
    out: list[dict[str, Any]] = []
    for docsum in docsums:
        entry: dict[str, Any] = {"Id": (docsum.findtext("Id") or "").strip()}
        for item in docsum.iterfind("Item"):
            entry[item.get("Name") or ""] = _item_value(item)
        out.append(entry)
    return out


def _parse_espell(term: str) -> Callable[[bytes, str], str | None]:
    def parse(data: bytes, url: str) -> str | None:
        root = _parse_xml(data, url)
        error = _xml_error(root)
        if error:
            raise RemoteError(f"NCBI espell reported an error for {url}: {error}", url=url)
        if root.tag != "eSpellResult":
            raise RemoteError(f"NCBI espell answered <{root.tag}>, not <eSpellResult>, for {url}", url=url)
        corrected = (root.findtext("CorrectedQuery") or "").strip()
        if not corrected or corrected == term.strip():
            return None
        return corrected

    return parse


def _pmids(ids: Sequence[str | int]) -> str:
    cleaned = [str(i).strip() for i in ids]
    bad = [i for i in cleaned if not i.isdigit()]
    if bad:
        raise InputError(f"not PubMed ids (PMIDs are digits): {', '.join(repr(b) for b in bad[:5])}")
    if not cleaned:
        raise InputError("no PubMed ids given")
    return ",".join(cleaned)


class EutilsClient:
    """A synchronous E-utilities client (PubMed); share one instance across threads.

    ``transport`` replaces the network (see :class:`curbside.testing.RecordedTransport`);
    ``clock`` and ``sleep`` drive the rate limiter and the retry backoff, so tests
    can check both without waiting.  ``cache=False`` bypasses the on-disk cache.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        cache: bool = True,
    ) -> None:
        self.settings = settings
        self.base_url = settings.eutils_url.rstrip("/") + "/"
        self.cache = cache
        self.cache_dir = Path(settings.cache_dir) / "eutils"
        self.rate = RATE_WITH_KEY if settings.ncbi_api_key else RATE_WITHOUT_KEY
        self.limiter = RateLimiter(self.rate, clock=clock, sleep=sleep)
        self._sleep = sleep
        self._http = httpx.Client(
            transport=transport,
            timeout=settings.http_timeout,
            headers={"User-Agent": f"curbside/{__version__}"},
        )

    # --- lifecycle ---------------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EutilsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- E-utilities -------------------------------------------------------------------------------

    def esearch(
        self,
        term: str,
        *,
        retmax: int,
        retstart: int = 0,
        use_history: bool = False,
        sort: str = "relevance",
        mindate: str | int | None = None,
        maxdate: str | int | None = None,
    ) -> SearchResult:
        """Search PubMed.  Dates (``YYYY``, ``YYYY/MM`` or ``YYYY/MM/DD``) filter on publication date.

        With ``use_history`` the result carries a ``webenv`` / ``query_key`` for
        :meth:`efetch_pubmed` paging.  NCBI's ErrorList/WarningList come back in
        the result; an ``<ERROR>`` payload (an unusable query) raises RemoteError.
        """
        if retmax < 0 or retstart < 0:
            raise InputError(f"esearch retmax and retstart must be >= 0 (got {retmax}, {retstart})")
        params = {
            "db": "pubmed",
            "term": term,
            "retmax": str(retmax),
            "retstart": str(retstart),
            "sort": sort,
        }
        if use_history:
            params["usehistory"] = "y"
        if mindate is not None or maxdate is not None:
            # NCBI ignores one date without the other, so an open end gets a far-away bound.
            params["datetype"] = "pdat"
            params["mindate"] = str(mindate) if mindate is not None else "1800"
            params["maxdate"] = str(maxdate) if maxdate is not None else "3000"
        ttl = 0.0 if use_history else SEARCH_TTL_S
        return self._call("esearch.fcgi", params, ttl=ttl, check=_parse_esearch)

    def efetch_pubmed(
        self,
        ids: Sequence[str | int] | None = None,
        *,
        webenv: str | None = None,
        query_key: str | int | None = None,
        retstart: int = 0,
        retmax: int = DEFAULT_BATCH,
    ) -> bytes:
        """PubmedArticleSet XML for ``ids``, or for a page of a history-server result set.

        Returns the raw bytes: the MEDLINE parser streams them, so nothing is parsed twice.
        """
        params: dict[str, str]
        if ids is not None:
            if webenv is not None:
                raise InputError("efetch_pubmed takes either ids or webenv/query_key, not both")
            params = {"db": "pubmed", "id": _pmids(ids), "retmode": "xml"}
            ttl = RECORD_TTL_S
        elif webenv and query_key is not None:
            if retstart < 0 or retmax < 1:
                raise InputError(f"efetch retstart must be >= 0 and retmax >= 1 (got {retstart}, {retmax})")
            params = {
                "db": "pubmed",
                "WebEnv": webenv,
                "query_key": str(query_key),
                "retstart": str(retstart),
                "retmax": str(retmax),
                "retmode": "xml",
            }
            ttl = 0.0
        else:
            raise InputError(
                "efetch_pubmed needs ids, or webenv and query_key from esearch(use_history=True)"
            )
        return self._call("efetch.fcgi", params, ttl=ttl, check=_check_efetch)

    def esummary(self, ids: Sequence[str | int]) -> list[dict[str, Any]]:
        """Document summaries: one dict per id with ``Id`` and each ``Item`` by name.

        Integers become ``int``; ``...List`` items (AuthorList, PubTypeList) become
        lists; other lists (ArticleIds, History) become name -> value dicts.
        """
        return self._call(
            "esummary.fcgi", {"db": "pubmed", "id": _pmids(ids)}, ttl=RECORD_TTL_S, check=_parse_esummary
        )

    def espell(self, term: str) -> str | None:
        """NCBI's spelling suggestion for ``term``, or None when it has none."""
        return self._call(
            "espell.fcgi", {"db": "pubmed", "term": term}, ttl=SEARCH_TTL_S, check=_parse_espell(term)
        )

    # --- plumbing ----------------------------------------------------------------------------------

    def _identity(self) -> dict[str, str]:
        params = {"tool": self.settings.ncbi_tool}
        if self.settings.ncbi_email:
            params["email"] = self.settings.ncbi_email
        if self.settings.ncbi_api_key:
            params["api_key"] = self.settings.ncbi_api_key
        return params

    def _display_url(self, endpoint: str, params: Mapping[str, str]) -> str:
        """The URL for messages: no api_key (a secret), and long id lists shortened."""
        query = urlencode({k: v for k, v in params.items() if k not in _IDENTITY_PARAMS})
        url = f"{self.base_url}{endpoint}?{query}" if query else f"{self.base_url}{endpoint}"
        return url if len(url) <= 300 else url[:297] + "..."

    def _cache_path(self, endpoint: str, params: Mapping[str, str]) -> Path:
        key = json.dumps([self.base_url + endpoint, sorted(params.items())], ensure_ascii=False)
        digest = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return self.cache_dir / digest[:2] / f"{digest}.bin"

    def _call(
        self, endpoint: str, params: dict[str, str], *, ttl: float, check: Callable[[bytes, str], T]
    ) -> T:
        """Cache lookup, then network; ``check`` parses and raises on error payloads before caching."""
        url = self._display_url(endpoint, params)
        path = self._cache_path(endpoint, params) if self.cache and ttl > 0 else None
        if path is not None:
            cached = _read_cache(path, ttl)
            if cached is not None:
                try:
                    return check(cached, url)
                except RemoteError:
                    # A damaged entry (e.g. a crash mid-write on a filesystem without atomic rename):
                    # drop it and ask NCBI again rather than fail on our own cache.
                    path.unlink(missing_ok=True)
        data = self._request(endpoint, params, url)
        result = check(data, url)
        if path is not None:
            _write_cache(path, data)
        return result

    def _request(self, endpoint: str, params: Mapping[str, str], url: str) -> bytes:
        full = {**params, **self._identity()}
        post = sum(len(k) + len(v) + 2 for k, v in full.items()) > POST_THRESHOLD_CHARS
        target = self.base_url + endpoint
        attempts = max(1, self.settings.http_retries + 1)
        for attempt in range(attempts):
            last = attempt + 1 == attempts
            self.limiter.wait()
            try:
                response = self._http.post(target, data=full) if post else self._http.get(target, params=full)
            except _RETRYABLE_TRANSPORT as exc:
                if last:
                    raise UnreachableError(
                        f"NCBI E-utilities could not be reached at {url}: {type(exc).__name__} "
                        f"after {attempts} attempts ({exc})",
                        url=url,
                        hint=_UNREACHABLE_HINT,
                    ) from exc
                self._sleep(_backoff(attempt))
                continue
            except httpx.TransportError as exc:
                raise UnreachableError(
                    f"NCBI E-utilities could not be reached at {url}: {type(exc).__name__} ({exc})",
                    url=url,
                    hint=_UNREACHABLE_HINT,
                ) from exc
            status = response.status_code
            if 200 <= status < 300:
                return response.content
            detail = _error_text(response.content)
            said = f": {detail}" if detail else ""
            if status == 429 or status >= 500:
                if not last:
                    self._sleep(self._retry_delay(response, attempt, url))
                    continue
                raise RemoteError(
                    f"NCBI E-utilities answered HTTP {status} {response.reason_phrase} for {url} "
                    f"after {attempts} attempts{said}",
                    url=url,
                    status=status,
                    hint="NCBI may be busy or rate limiting; try again later"
                    + ("" if self.settings.ncbi_api_key else " or set CURBSIDE_NCBI_API_KEY"),
                )
            raise RemoteError(
                f"NCBI E-utilities answered HTTP {status} {response.reason_phrase} for {url}{said}",
                url=url,
                status=status,
            )
        raise AssertionError("unreachable: the loop returns or raises")  # pragma: no cover

    def _retry_delay(self, response: httpx.Response, attempt: int, url: str) -> float:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        if retry_after is None:
            return _backoff(attempt)
        if retry_after > MAX_RETRY_AFTER_S:
            raise RemoteError(
                f"NCBI E-utilities answered HTTP {response.status_code} for {url} and asked to retry "
                f"after {retry_after:.0f} s",
                url=url,
                status=response.status_code,
                hint="try again later",
            )
        return retry_after


def _backoff(attempt: int) -> float:
    return float(min(BACKOFF_BASE_S * 2**attempt, BACKOFF_MAX_S))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _read_cache(path: Path, ttl: float) -> bytes | None:
    try:
        if time.time() - path.stat().st_mtime > ttl:
            return None
        return path.read_bytes()
    except OSError:
        return None


def _write_cache(path: Path, data: bytes) -> None:
    """Write atomically (temp file + rename) so a reader never sees half an entry.

    A cache that cannot be written (read-only or full disk) only costs a repeat
    request later, so that failure is swallowed rather than failing the search.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError:
        pass


class EutilsSource:
    """Records for a PubMed query, fetched live from E-utilities.

    ``max_records`` caps how many are fetched (best match first, unless the
    client is asked otherwise).  When more than one ``batch`` is needed the
    search is stored on NCBI's history server and fetched page by page through
    its WebEnv; otherwise the PMIDs are fetched directly.  After :meth:`records`
    has started, ``count`` is the total number of hits and ``search`` the full
    :class:`SearchResult` (with any ErrorList / WarningList to show the user).
    """

    def __init__(
        self,
        query: str,
        *,
        max_records: int,
        settings: Settings,
        client: EutilsClient | None = None,
        batch: int = DEFAULT_BATCH,
    ) -> None:
        if max_records < 0:
            raise InputError(f"max_records must be >= 0, got {max_records}")
        if batch < 1:
            raise InputError(f"batch must be >= 1, got {batch}")
        self.query = query
        self.name = f"pubmed:{query}"
        self.max_records = max_records
        self.batch = batch
        self.settings = settings
        self._client = client
        self.count: int | None = None
        self.search: SearchResult | None = None

    def records(self) -> Iterator[Record]:
        own = self._client is None
        client = self._client or EutilsClient(self.settings)
        try:
            yield from self._records(client)
        finally:
            if own:
                client.close()

    def _records(self, client: EutilsClient) -> Iterator[Record]:
        if self.max_records <= self.batch:
            result = client.esearch(self.query, retmax=self.max_records)
            self._found(result)
            if result.ids:
                yield from parse_pubmed_xml(client.efetch_pubmed(result.ids), self.name)
            return
        # retmax=0: the ids are not needed here, the history server hands them to efetch page by page.
        result = client.esearch(self.query, retmax=0, use_history=True)
        self._found(result)
        total = min(result.count, self.max_records)
        if total == 0:
            return
        if not result.webenv or not result.query_key:
            raise RemoteError(
                f"NCBI esearch returned no WebEnv/QueryKey for {self.name!r} although usehistory=y was sent",
                url=client.base_url + "esearch.fcgi",
            )
        for start in range(0, total, self.batch):
            size = min(self.batch, total - start)
            data = client.efetch_pubmed(
                webenv=result.webenv, query_key=result.query_key, retstart=start, retmax=size
            )
            # The page range in the name makes a Malformed report's "record N" findable again.
            yield from parse_pubmed_xml(data, f"{self.name} [efetch {start + 1}-{start + size}]")

    def _found(self, result: SearchResult) -> None:
        self.search = result
        self.count = result.count
