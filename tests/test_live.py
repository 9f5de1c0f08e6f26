"""Live PubMed evidence: the query built from a question, and fetching into a store from cassettes.

The E-utilities answers are the project's recorded cassettes (tests/cassettes/eutils),
routed to the exact query :func:`pubmed_query_for` builds, so a change in the query
shows up as an unmatched request rather than passing silently.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import make_doc
from curbside.config import Settings
from curbside.errors import QueryError, UnreachableError
from curbside.ingestion.live import (
    TYPE_FILTERS,
    fetch_evidence_live,
    has_evidence,
    live_key,
    pubmed_queries_for,
    pubmed_query_for,
)
from curbside.ingestion.pipeline import Progress
from curbside.ingestion.sources.eutils import EutilsClient
from curbside.retrieval.questions import analyse
from curbside.store.base import Batch, FileProgress
from curbside.store.sqlite import SQLiteStore
from curbside.testing import RecordedTransport, eutils_transport_from_dir, serve_transport
from curbside.types import Concept, Query

CASSETTES = Path(__file__).parent / "cassettes" / "eutils"
QUESTION = "What are the causes of leukopenia?"
NOT_RETRACTED = ' NOT "retracted publication"[pt]'
LEUKOPENIA = (
    '("Leukopenia"[mh] OR "Leukopenia"[tiab] OR "leucopenia"[tiab] OR "leukocytopenia"[tiab] '
    'OR "leucocytopenia"[tiab] OR "low white blood cell count"[tiab] OR "low white cell count"[tiab])'
)


# --------------------------------------------------------------------------------------------------
# pubmed_query_for
# --------------------------------------------------------------------------------------------------


def test_causes_question_becomes_mesh_and_text_words_with_the_etiology_filter() -> None:
    query = analyse(QUESTION)
    assert pubmed_query_for(query) == (
        LEUKOPENIA + ' AND ("etiology"[sh] OR "risk factors"[mh]) AND hasabstract' + NOT_RETRACTED
    )
    assert pubmed_query_for(query, with_type=False) == LEUKOPENIA + " AND hasabstract" + NOT_RETRACTED


def test_concepts_are_joined_with_and_and_abbreviations_left_out() -> None:
    query = analyse("How is hypertension in pregnancy treated?")
    text = pubmed_query_for(query)
    assert text.startswith('("Hypertension"[mh] OR "Hypertension"[tiab] OR "high blood pressure"[tiab]')
    assert ') AND ("Pregnancy"[mh] OR "Pregnancy"[tiab]) AND ' + TYPE_FILTERS["treatment"] in text
    assert '"HTN"' not in text  # an abbreviation finds too much in free text
    assert '"treated"' not in text


@pytest.mark.parametrize(
    ("question", "qtype"),
    [
        ("How is leukopenia diagnosed?", "diagnosis"),
        ("What is the prognosis of sepsis?", "prognosis"),
        ("What dose of aspirin is used for stroke?", "dosing"),
    ],
)
def test_each_question_type_gets_its_filter(question: str, qtype: str) -> None:
    query = analyse(question)
    assert query.qtype == qtype
    assert " AND " + TYPE_FILTERS[query.qtype] + " AND hasabstract" in pubmed_query_for(query)


def test_types_without_a_filter_and_the_fallback_list() -> None:
    query = analyse("Does aspirin prevent stroke?")
    assert query.qtype == "yesno"
    text = pubmed_query_for(query)
    assert not any(f in text for f in TYPE_FILTERS.values())
    assert pubmed_queries_for(query) == [text]  # nothing to relax
    causes = analyse(QUESTION)
    assert pubmed_queries_for(causes) == [pubmed_query_for(causes), pubmed_query_for(causes, with_type=False)]


def test_keywords_when_no_concept_is_recognised() -> None:
    query = analyse("What causes zorblax flimmering?")
    assert query.concepts == ()
    assert pubmed_query_for(query) == (
        '"zorblax"[tiab] AND "flimmering"[tiab] AND '
        + TYPE_FILTERS["causes"]
        + " AND hasabstract"
        + NOT_RETRACTED
    )
    only_cues = Query(text="causes?", qtype="causes", concepts=(), keywords=("causes",))
    assert pubmed_query_for(only_cues).startswith('"causes"[tiab] AND ')


def test_years_publication_types_and_retracted() -> None:
    query = analyse("treatment of gout", year_from=2015, publication_types=["Meta-Analysis"])
    text = pubmed_query_for(query)
    assert ' AND ("2015"[dp] : "3000"[dp]) AND "Meta-Analysis"[pt] AND hasabstract' in text
    upto = analyse("gout", year_to=1999, publication_types=["Randomized Controlled Trial", "Review"])
    assert '("1800"[dp] : "1999"[dp]) AND ("Randomized Controlled Trial"[pt] OR "Review"[pt])' in (
        pubmed_query_for(upto)
    )
    from dataclasses import replace

    assert not pubmed_query_for(replace(upto, exclude_retracted=False)).endswith(NOT_RETRACTED)


def test_query_syntax_in_terms_is_neutralised() -> None:
    concept = Concept(
        text='odd "term" [x]', preferred="Odd (Thing)", synonyms=("a*b", "OK: fine"), mesh_ui=""
    )
    query = Query(text="q", qtype="general", concepts=(concept,), keywords=())
    text = pubmed_query_for(query)
    assert text.startswith('("Odd Thing"[tiab] OR "odd term x"[tiab] OR "a b"[tiab] OR "OK fine"[tiab]) AND')
    assert "[mh]" not in text  # not a MeSH concept
    empty = Query(text="q", qtype="general", concepts=(Concept(text='"', preferred="[]"),), keywords=())
    with pytest.raises(QueryError, match="nothing to search PubMed for"):
        pubmed_query_for(empty)


# --------------------------------------------------------------------------------------------------
# fetch_evidence_live
# --------------------------------------------------------------------------------------------------


class NoSleep:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        db=str(tmp_path / "store.db"),
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        eutils_url="https://eutils.test/entrez/eutils/",
        ncbi_tool="curbside-tests",
        ncbi_email=None,
        ncbi_api_key=None,
        http_retries=1,
    )


@pytest.fixture
def transport() -> RecordedTransport:
    """The cassettes, plus the answers to the exact searches built for QUESTION."""
    t = eutils_transport_from_dir(CASSETTES)
    strict, loose = pubmed_queries_for(analyse(QUESTION))
    t.add("esearch.fcgi", CASSETTES / "esearch_ids.xml", params={"term": strict})
    t.add("esearch.fcgi", CASSETTES / "esearch_phrase_not_found.xml", params={"term": loose})
    return t


@pytest.fixture
def client(settings: Settings, transport: RecordedTransport) -> Iterator[EutilsClient]:
    clock = NoSleep()
    with EutilsClient(settings, transport=transport, clock=clock, sleep=clock.sleep, cache=False) as c:
        yield c


def test_empty_store_fetches_and_keeps_the_records(
    settings: Settings, store: SQLiteStore, client: EutilsClient, transport: RecordedTransport
) -> None:
    assert not has_evidence(store, analyse(QUESTION))
    events: list[Progress] = []
    report = fetch_evidence_live(
        QUESTION, settings=settings, store=store, max_records=2, client=client, progress=events.append
    )
    (done,) = report.inputs
    strict = pubmed_query_for(analyse(QUESTION))
    assert done.input == f"pubmed:{strict}"
    assert (done.status, done.source_type, done.documents) == ("ingested", "eutils", 2)
    assert report.result.inserted == 2
    assert [r.path for r in transport.requests] == [
        "/entrez/eutils/esearch.fcgi",
        "/entrez/eutils/efetch.fcgi",
    ]
    assert transport.requests[0].params["term"] == strict
    assert transport.requests[0].params["retmax"] == "2"
    doc = store.get_document("pmid:90000001")
    assert doc is not None and "Leukopenia" in doc.title
    progress = store.file_progress(live_key(strict))
    assert progress is not None and progress.completed and progress.documents == 2
    assert events[0].event == "start" and events[-1].event == "done"
    assert has_evidence(store, analyse(QUESTION))

    # The store can answer now: nothing is fetched, not even a search.
    again = fetch_evidence_live(QUESTION, settings=settings, store=store, max_records=2, client=client)
    assert again.inputs == [] and len(transport.requests) == 2
    # Forced, the same search is reused from the store rather than repeated.
    forced = fetch_evidence_live(
        QUESTION, settings=settings, store=store, max_records=2, client=client, force=True
    )
    assert [i.status for i in forced.inputs] == ["unchanged"] and len(transport.requests) == 2


def test_store_with_evidence_makes_no_request(
    settings: Settings, store: SQLiteStore, client: EutilsClient, transport: RecordedTransport
) -> None:
    fp = FileProgress(key="local", path="local", source_type="test")
    store.write_batch(Batch(fp, documents=[make_doc(1)], records=1))
    report = fetch_evidence_live(QUESTION, settings=settings, store=store, client=client)
    assert report.inputs == [] and transport.requests == []
    assert not has_evidence(store, analyse(QUESTION), min_hits=5)


def test_typed_search_without_results_falls_back_to_the_loose_one(
    settings: Settings, store: SQLiteStore, client: EutilsClient, transport: RecordedTransport
) -> None:
    strict, loose = pubmed_queries_for(analyse(QUESTION))
    # Swap the answers: the typed search finds nothing, the loose one finds the records.
    transport.routes = [r for r in transport.routes if r.params.get("term") not in (strict, loose)]
    transport.add("esearch.fcgi", CASSETTES / "esearch_phrase_not_found.xml", params={"term": strict})
    transport.add("esearch.fcgi", CASSETTES / "esearch_ids.xml", params={"term": loose})
    report = fetch_evidence_live(QUESTION, settings=settings, store=store, max_records=2, client=client)
    assert [(i.input, i.documents) for i in report.inputs] == [
        (f"pubmed:{strict}", 0),
        (f"pubmed:{loose}", 2),
    ]
    assert [r.params.get("term") for r in transport.requests_to("esearch.fcgi")] == [strict, loose]
    assert store.get_document("pmid:90000002") is not None


def test_offline_raises_unreachable_and_stores_nothing(
    settings: Settings, store: SQLiteStore, client: EutilsClient, transport: RecordedTransport
) -> None:
    transport.fail(5, error=httpx.ConnectError)
    with pytest.raises(UnreachableError, match="NCBI E-utilities could not be reached"):
        fetch_evidence_live(QUESTION, settings=settings, store=store, client=client)
    assert store.stats().documents == 0
    assert store.file_progress(live_key(pubmed_query_for(analyse(QUESTION)))) is None


def test_unusable_question_is_a_query_error(
    settings: Settings, store: SQLiteStore, client: EutilsClient
) -> None:
    with pytest.raises(QueryError):
        fetch_evidence_live("   ", settings=settings, store=store, client=client)


def test_own_client_over_real_http(
    settings: Settings, store: SQLiteStore, transport: RecordedTransport
) -> None:
    """Without a client, one is built from the settings (and closed); here it talks to a local server."""
    with serve_transport(transport) as url:
        local = settings.model_copy(update={"eutils_url": url + "entrez/eutils/"})
        report = fetch_evidence_live(QUESTION, settings=local, store=store, max_records=2)
    assert [i.documents for i in report.inputs] == [2]
    assert store.stats().documents == 2


def test_ask_on_an_empty_store_offline_says_in_one_line_how_to_get_a_corpus(settings: Settings) -> None:
    """What a new user without network sees first: one line of problem, one line of fix."""
    import socket

    from curbside import api
    from curbside.errors import StoreError

    with socket.socket() as sock:  # a port nothing listens on: connection refused, at once
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    offline = settings.model_copy(
        update={"eutils_url": f"http://127.0.0.1:{port}/eutils/", "http_retries": 0}
    )
    with pytest.raises(StoreError) as info:
        api.ask(QUESTION, settings=offline)
    err = info.value
    assert "is empty" in err.message and f"127.0.0.1:{port}" in err.message
    assert "\n" not in err.message and len(err.message) < 200
    assert err.hint is not None and "\n" not in err.hint
    assert "curbside demo-corpus" in err.hint and "curbside ingest PATH" in err.hint
