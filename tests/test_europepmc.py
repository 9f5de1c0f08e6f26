"""Europe PMC search: cursor paging, result mapping, retries and failures, on recorded answers."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import httpx
import pytest

from curbside.config import Settings
from curbside.errors import InputError, QueryError, RemoteError, UnreachableError
from curbside.ingestion.sources.base import Source
from curbside.ingestion.sources.europepmc import EuropePmcClient, EuropePmcSource, document_from_result
from curbside.testing import RecordedTransport
from curbside.types import Document, Malformed, MeshHeading, MeshQualifier, Record, Section

CASSETTES = Path(__file__).parent / "cassettes" / "europepmc"
QUERY = "leukopenia filgrastim"


class Sleeps(list[float]):
    """A ``sleep`` that records the delays instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def transport() -> RecordedTransport:
    return RecordedTransport.from_dir(CASSETTES)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def client(settings: Settings, transport: RecordedTransport, sleeps: Sleeps) -> EuropePmcClient:
    return EuropePmcClient(settings, transport=transport, sleep=sleeps)


def run(client: EuropePmcClient, query: str = QUERY, **kw: object) -> list[Record]:
    return list(EuropePmcSource(query, client=client, **kw).records())  # type: ignore[arg-type]


def docs(records: list[Record]) -> list[Document]:
    return [r for r in records if isinstance(r, Document)]


# --------------------------------------------------------------------------- paging and mapping


def test_cursor_paging(client: EuropePmcClient, transport: RecordedTransport) -> None:
    records = run(client, max_records=50, page_size=2)
    assert [type(r).__name__ for r in records] == ["Document", "Document", "Document", "Malformed"]
    assert [r.id for r in docs(records)] == ["pmid:30000101", "doi:10.5555/preprint.2023.7", "pmid:30000103"]
    sent = [r.params for r in transport.requests]
    assert [p["cursorMark"] for p in sent] == ["*", "AoIIPage2"]  # page 2 repeats its cursor: the walk ends
    assert all(p["format"] == "json" and p["resultType"] == "core" and p["pageSize"] == "2" for p in sent)
    assert all(p["query"] == QUERY for p in sent)


def test_max_records_stops_early(client: EuropePmcClient, transport: RecordedTransport) -> None:
    records = run(client, max_records=1)
    assert [r.id for r in docs(records)] == ["pmid:30000101"]
    assert len(transport.requests) == 1
    assert transport.requests[0].params["pageSize"] == "1"  # no page bigger than what is wanted


def test_no_results(client: EuropePmcClient, transport: RecordedTransport) -> None:
    assert run(client, "zzqqxx leukopenia") == []
    assert len(transport.requests) == 1


def test_core_result_mapping(client: EuropePmcClient) -> None:
    doc = docs(run(client, max_records=1))[0]
    assert doc.id == "pmid:30000101"
    assert doc.identifiers == {"pmid": "30000101", "pmcid": "PMC9000101", "doi": "10.5555/ctj.2022.101"}
    assert doc.source == "europepmc"
    assert doc.title == "Early filgrastim for chemotherapy-induced leukopenia: a randomised trial."
    assert doc.sections == (
        Section("Leukopenia after chemotherapy delays treatment.", "BACKGROUND"),
        Section("We randomised 120 adults; CD34+ counts were measured in all of them.", "METHODS"),
        Section("Early filgrastim shortened neutropenia by 2.1 days (p < 0.001).", "RESULTS"),
    )
    assert doc.journal == "Curbside test journal" and doc.journal_abbrev == "Curbside Test J"
    assert (doc.year, doc.pub_date) == (2022, "2022 Mar")
    assert doc.authors == ("García-López MJ", "Okafor CN", "CURB Trial Group")
    assert doc.language == "eng"
    # The JATS type "research-article" folds into "Journal Article" rather than repeating it.
    assert doc.publication_types == ("Randomized Controlled Trial", "Journal Article")
    assert doc.kind == "rct"
    assert doc.keywords == ("Leukopenia", "G-CSF")
    assert doc.chemicals == ("Filgrastim",)
    assert doc.licence == "cc by"
    assert doc.url == "https://europepmc.org/article/MED/30000101"
    assert doc.retracted is False


def test_mesh_qualifiers_and_major_flags(client: EuropePmcClient) -> None:
    doc = docs(run(client, max_records=1))[0]
    assert doc.mesh == (
        MeshHeading("Humans"),
        MeshHeading(
            "Leukopenia",
            major=True,
            qualifiers=(MeshQualifier("chemically induced"), MeshQualifier("drug therapy", major=True)),
        ),
        MeshHeading("Granulocyte Colony-Stimulating Factor", qualifiers=(MeshQualifier("therapeutic use"),)),
    )
    assert str(doc.mesh[1]) == "Leukopenia* / chemically induced, drug therapy*"


def test_preprint_retraction_and_malformed(client: EuropePmcClient) -> None:
    records = run(client, max_records=50, page_size=2)
    preprint, retracted = docs(records)[1:]
    assert preprint.id == "doi:10.5555/preprint.2023.7"
    assert preprint.sections == (
        Section("An unstructured abstract about leukopenia & lymphopenia.", "ABSTRACT"),
    )
    assert preprint.authors == ("Tanaka H", "Rossi L")  # from authorString when there is no authorList
    assert preprint.publication_types == ("Preprint",)
    assert preprint.url == "https://europepmc.org/article/PPR/PPR100200"
    assert retracted.retracted is True
    bad = records[-1]
    assert isinstance(bad, Malformed)
    assert bad.source == f"europepmc:{QUERY}"
    assert bad.position == "result 4"
    assert "ETH/ETH0001" in bad.message


def test_source_protocol(client: EuropePmcClient) -> None:
    source = EuropePmcSource(f"  {QUERY} ", client=client)
    assert isinstance(source, Source)
    assert source.name == f"europepmc:{QUERY}"


def test_escaped_markup_and_lite_types() -> None:
    doc = document_from_result(
        {
            "pmid": "1",
            "title": "Neopterin extends &lt;i&gt;C. elegans&lt;/i&gt; lifespan when p &lt;0.05",
            "pubType": "review; meta-analysis",
            "journalTitle": "MicroPubl Biol",
            "abstractText": "&lt;h4&gt;Aims&lt;/h4&gt;Escaped headings still split.",
        }
    )
    assert doc.title == "Neopterin extends C. elegans lifespan when p <0.05"
    assert doc.publication_types == ("Review", "Meta-Analysis")
    assert doc.kind == "meta-analysis"
    assert doc.journal == "MicroPubl Biol"
    assert doc.sections == (Section("Escaped headings still split.", "AIMS"),)


# --------------------------------------------------------------------------- retries and failures


def test_retries_on_503_with_backoff(
    client: EuropePmcClient, transport: RecordedTransport, sleeps: Sleeps
) -> None:
    transport.fail(2, status=503)
    records = run(client, max_records=1)
    assert [r.id for r in docs(records)] == ["pmid:30000101"]
    assert len(transport.requests) == 3
    assert sleeps == [0.5, 1.0]


def test_retry_after_is_honoured(
    client: EuropePmcClient, transport: RecordedTransport, sleeps: Sleeps
) -> None:
    transport.fail(1, status=429, headers={"Retry-After": "3"})
    assert len(docs(run(client, max_records=1))) == 1
    assert sleeps == [3.0]


def test_retries_exhausted(settings: Settings, transport: RecordedTransport, sleeps: Sleeps) -> None:
    client = EuropePmcClient(
        settings.model_copy(update={"http_retries": 1}), transport=transport, sleep=sleeps
    )
    transport.fail(5, status=503, body=b"Service Unavailable")
    with pytest.raises(RemoteError) as err:
        run(client)
    assert err.value.status == 503
    assert "HTTP 503" in str(err.value) and "after 2 attempts" in str(err.value)
    assert "https://www.ebi.ac.uk/europepmc/webservices/rest/search?query=leukopenia+filgrastim" in str(
        err.value
    )
    assert len(transport.requests) == 2


def test_long_retry_after_is_not_waited(
    client: EuropePmcClient, transport: RecordedTransport, sleeps: Sleeps
) -> None:
    transport.fail(1, status=429, headers={"Retry-After": "3600"})
    with pytest.raises(RemoteError, match="retry after 3600 s"):
        run(client)
    assert sleeps == []


def test_client_error_is_not_retried(client: EuropePmcClient, transport: RecordedTransport) -> None:
    with pytest.raises(RemoteError, match=r"HTTP 400.*Query syntax error") as err:
        run(client, "bad syntax (((")
    assert err.value.status == 400
    assert len(transport.requests) == 1


def test_connection_refused_is_unreachable_at_once(
    client: EuropePmcClient, transport: RecordedTransport
) -> None:
    transport.fail(1, error=httpx.ConnectError)
    with pytest.raises(UnreachableError) as err:
        run(client)
    assert err.value.url is not None and err.value.url.startswith(
        "https://www.ebi.ac.uk/europepmc/webservices/rest/search?query=leukopenia+filgrastim"
    )
    assert err.value.url in str(err.value)
    assert len(transport.requests) == 1


def test_timeouts_are_retried_then_unreachable(
    client: EuropePmcClient, transport: RecordedTransport, sleeps: Sleeps
) -> None:
    transport.fail(10, error=httpx.ReadTimeout)
    with pytest.raises(UnreachableError, match="ReadTimeout after 5 attempts"):
        run(client)
    assert len(transport.requests) == 5  # settings.http_retries (4) + 1
    assert sleeps == [0.5, 1.0, 2.0, 4.0]


def test_real_socket_unreachable(settings: Settings) -> None:
    # A port that was free a moment ago: nothing listens there, so the connection is refused.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dead = settings.model_copy(update={"europepmc_url": f"http://127.0.0.1:{port}/rest"})
    with pytest.raises(UnreachableError, match=rf"http://127\.0\.0\.1:{port}/rest/search\?query=x"):
        list(EuropePmcSource("x", settings=dead).records())


def test_invalid_json_is_a_remote_error(client: EuropePmcClient, transport: RecordedTransport) -> None:
    transport.add("/search", "<html>maintenance</html>", params={"query": "html please"})
    with pytest.raises(RemoteError, match="invalid JSON"):
        run(client, "html please")


def test_error_payload_is_a_remote_error(client: EuropePmcClient, transport: RecordedTransport) -> None:
    transport.add("/search", json.dumps({"errCode": 500, "errMsg": "Index offline"}), params={"query": "err"})
    with pytest.raises(RemoteError, match="Index offline"):
        run(client, "err")


def test_long_query_goes_by_post(client: EuropePmcClient, transport: RecordedTransport) -> None:
    long_query = " OR ".join(f"leukopenia{i}" for i in range(200))
    transport.add("/searchPOST", CASSETTES / "no_results.json", method="POST")
    assert run(client, long_query) == []
    (request,) = transport.requests
    assert request.method == "POST" and request.path.endswith("/searchPOST")
    assert request.params["query"] == long_query and request.params["format"] == "json"


def test_bad_arguments(client: EuropePmcClient) -> None:
    with pytest.raises(QueryError):
        EuropePmcSource("   ", client=client)
    with pytest.raises(InputError, match="max_records"):
        EuropePmcSource("x", client=client, max_records=0)
    with pytest.raises(InputError, match="result type"):
        client.search("x", result_type="full")
    with pytest.raises(InputError, match="page size"):
        client.search("x", page_size=5000)


# --------------------------------------------------------------------------- real recorded answers


@pytest.fixture
def real(shared_data: Path) -> Path:
    folder = shared_data / "fixtures" / "europepmc"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found in the shared data")
    return folder


def real_client(settings: Settings, transport: RecordedTransport) -> EuropePmcClient:
    return EuropePmcClient(settings, transport=transport, sleep=Sleeps())


@pytest.mark.shared_data
def test_real_core_page(real: Path, settings: Settings) -> None:
    transport = RecordedTransport()
    transport.add("/search", real / "search_cancer_core.json", params={"resultType": "core"})
    records = run(real_client(settings, transport), "cancer", max_records=25, page_size=25)
    found = docs(records)
    assert len(found) == 25 and len(records) == 25
    assert all(d.id.startswith("pmid:") and d.title for d in found)
    by_id = {d.id: d for d in found}
    flex = by_id["pmid:40468710"]
    neoplasms = next(m for m in flex.mesh if m.descriptor == "Neoplasms")
    assert neoplasms.major is True
    assert [q.name for q in neoplasms.qualifiers] == ["psychology", "therapy"]
    assert [s.label for s in flex.sections] == ["OBJECTIVE", "DESIGN", "METHODS", "RESULTS", "CONCLUSIONS"]
    assert not any(re.search(r"</?(h4|i|b|sup|sub)>", s.text) for d in found for s in d.sections)
    assert "p < .001" in flex.body  # a real "less than" survives tag stripping
    assert by_id["pmid:39212676"].kind == "systematic-review"
    assert sum(1 for d in found if d.mesh) == 13


@pytest.mark.shared_data
def test_real_lite_and_idlist_pages(real: Path, settings: Settings) -> None:
    transport = RecordedTransport()
    transport.add("/search", real / "search_cancer.json", params={"resultType": "lite"})
    transport.add("/search", real / "search_cancer_idlist.json", params={"resultType": "idlist"})
    client = real_client(settings, transport)
    lite = docs(run(client, "cancer", max_records=25, result_type="lite"))
    assert len(lite) == 25
    assert lite[0].title == (
        "Abscopal response in a patient with fibrolamellar hepatocellular carcinoma following radiotherapy."
    )
    assert lite[0].journal == "Lancet" and lite[0].authors == ("Schoenfeld JD", "Haas-Kogan DA", "O'Neill AF")
    idlist = docs(run(client, "cancer", max_records=25, result_type="idlist"))
    assert [d.id for d in idlist] == [d.id for d in lite]


@pytest.mark.shared_data
def test_real_page_size_five_and_no_results(real: Path, settings: Settings) -> None:
    transport = RecordedTransport()
    transport.add("/search", real / "search_cancer_page2.json", params={"query": "cancer"})
    transport.add("/search", real / "search_no_results.json", params={"query": "asdkfjhasdkfjh"})
    client = real_client(settings, transport)
    assert len(docs(run(client, "cancer", max_records=5, result_type="lite"))) == 5
    assert len(transport.requests) == 1  # max_records reached: the nextCursorMark is not followed
    assert run(client, "asdkfjhasdkfjh") == []


@pytest.mark.shared_data
def test_real_post_answer(real: Path, settings: Settings) -> None:
    transport = RecordedTransport()
    transport.add("/searchPOST", real / "search_post_cancer.json", method="POST")
    query = "cancer AND (" + " OR ".join(f"gene{i}" for i in range(300)) + ")"
    found = docs(run(real_client(settings, transport), query, max_records=25, result_type="lite"))
    assert len(found) == 25
    assert found[0].identifiers["pmcid"] == "PMC12062895"
