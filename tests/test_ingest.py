"""Ingest: idempotence, resume after a kill, malformed records, bad files, folders and globs."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from curbside.config import Settings
from curbside.errors import InputError
from curbside.ingestion.pipeline import resolve_inputs
from curbside.ingestion.run import ingest_paths
from curbside.store.sqlite import SQLiteStore


def article_xml(pmid: int, *, title: str | None = None, abstract: bool = True) -> str:
    abstract_xml = (
        f"<Abstract><AbstractText Label='RESULTS'>Leukopenia occurred in {pmid % 97} patients. "
        f"Neutropenia was graded by absolute neutrophil count.</AbstractText></Abstract>"
        if abstract
        else ""
    )
    return f"""<PubmedArticle><MedlineCitation Status="MEDLINE" Owner="NLM">
<PMID Version="1">{pmid}</PMID>
<Article PubModel="Print"><Journal><JournalIssue><PubDate><Year>2019</Year></PubDate></JournalIssue>
<Title>Journal of Tests</Title><ISOAbbreviation>J Tests</ISOAbbreviation></Journal>
<ArticleTitle>{title or f"Record {pmid} on leukopenia"}</ArticleTitle>{abstract_xml}
<Language>eng</Language><PublicationTypeList><PublicationType UI="D016428">Journal Article</PublicationType>
</PublicationTypeList></Article>
<MeshHeadingList><MeshHeading><DescriptorName UI="D007970" MajorTopicYN="Y">Leukopenia</DescriptorName>
<QualifierName UI="Q000139" MajorTopicYN="N">chemically induced</QualifierName></MeshHeading></MeshHeadingList>
</MedlineCitation><PubmedData><ArticleIdList><ArticleId IdType="pubmed">{pmid}</ArticleId></ArticleIdList>
</PubmedData></PubmedArticle>"""


def write_medline(path: Path, pmids: range, *, deletions: tuple[int, ...] = (), extra: str = "") -> Path:
    body = "".join(article_xml(p) for p in pmids) + extra
    if deletions:
        body += (
            "<DeleteCitation>"
            + "".join(f"<PMID Version='1'>{d}</PMID>" for d in deletions)
            + "</DeleteCitation>"
        )
    xml = f'<?xml version="1.0"?>\n<PubmedArticleSet>{body}</PubmedArticleSet>\n'
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(xml.encode()))
    else:
        path.write_text(xml)
    return path


def counts(store: SQLiteStore) -> tuple[int, int, int, int, int]:
    s = store.stats()
    return (s.documents, s.chunks, s.records_read, s.deletions_applied, s.malformed)


def test_reingest_changes_nothing(tmp_path: Path, settings: Settings) -> None:
    f = write_medline(tmp_path / "a.xml.gz", range(1, 51), deletions=(3, 4))
    with SQLiteStore(tmp_path / "s.db") as store:
        first = ingest_paths(store, [f], settings)
        before = counts(store)
        second = ingest_paths(store, [f], settings)
        assert counts(store) == before == (48, 48, 50, 2, 0)
    assert [i.status for i in first.inputs] == ["ingested"]
    assert [i.status for i in second.inputs] == ["unchanged"]
    assert second.result.inserted == second.result.updated == 0


def test_same_records_in_a_new_file_are_unchanged(tmp_path: Path, settings: Settings) -> None:
    a = write_medline(tmp_path / "a.xml", range(1, 11))
    b = write_medline(tmp_path / "b.xml.gz", range(1, 11))  # same records, other bytes
    with SQLiteStore(tmp_path / "s.db") as store:
        ingest_paths(store, [a], settings)
        report = ingest_paths(store, [b], settings)
        assert (report.result.inserted, report.result.unchanged) == (0, 10)


def test_later_version_replaces_and_deletion_order_is_kept(tmp_path: Path, settings: Settings) -> None:
    # Record 5 is deleted and then re-added in the same file: input order wins.
    extra = "<DeleteCitation><PMID Version='1'>5</PMID></DeleteCitation>" + article_xml(
        5, title="Revised record 5"
    )
    f = write_medline(tmp_path / "a.xml", range(1, 8), extra=extra)
    with SQLiteStore(tmp_path / "s.db") as store:
        ingest_paths(store, [f], settings)
        doc = store.get_document("pmid:5")
        assert doc is not None and doc.title == "Revised record 5"


def test_malformed_record_is_reported_and_skipped(tmp_path: Path, settings: Settings) -> None:
    bad = "<PubmedArticle><MedlineCitation><Article><ArticleTitle>No PMID</ArticleTitle></Article></MedlineCitation></PubmedArticle>"
    f = write_medline(tmp_path / "a.xml", range(1, 6), extra=bad)
    with SQLiteStore(tmp_path / "s.db") as store:
        report = ingest_paths(store, [f], settings)
        assert store.stats().documents == 5
        (problem,) = store.problems()
        assert problem.source.endswith("a.xml") and "record 6" in problem.position
    assert report.inputs[0].malformed == 1


@pytest.mark.parametrize(
    "content",
    [b"this is not xml at all", b"\x1f\x8b\x08\x00garbage", None],
    ids=["not-xml", "bad-gzip", "truncated-gzip"],
)
def test_bad_file_names_itself_and_keeps_the_store(
    tmp_path: Path, settings: Settings, content: bytes | None
) -> None:
    good = write_medline(tmp_path / "good.xml", range(1, 6))
    bad = tmp_path / "bad.xml.gz"
    if content is None:
        full = gzip.compress(
            ("<PubmedArticleSet>" + "".join(article_xml(p) for p in range(100, 400))).encode()
        )
        bad.write_bytes(full[: len(full) // 2])
    else:
        bad.write_bytes(content)
    with SQLiteStore(tmp_path / "s.db") as store:
        ingest_paths(store, [good], settings)
        before = counts(store)
        try:
            report = ingest_paths(store, [bad], settings)
        except InputError as exc:  # not recognisable as any source at all
            assert "bad.xml.gz" in str(exc)
            assert counts(store) == before
            return
        (failed,) = report.failed
        assert "bad.xml.gz" in (failed.error or "")
        assert store.stats().documents >= before[0]
        assert store.get_document("pmid:1") is not None
        # The failed file is not marked complete: fixing it and re-running ingests it.
        fixed = write_medline(bad, range(100, 110))
        again = ingest_paths(store, [fixed], settings)
        assert again.inputs[0].status == "ingested"


def test_folders_and_globs(tmp_path: Path) -> None:
    sub = tmp_path / "corpus" / "nested"
    sub.mkdir(parents=True)
    write_medline(sub / "x.xml.gz", range(1, 3))
    write_medline(tmp_path / "corpus" / "y.xml", range(3, 5))
    (tmp_path / "corpus" / "notes.txt").write_text("ignored in folders")
    assert [p.name for p, _ in resolve_inputs([tmp_path / "corpus"])] == ["x.xml.gz", "y.xml"]
    assert [p.name for p, _ in resolve_inputs([str(tmp_path / "corpus" / "**" / "*.xml*")])] == [
        "x.xml.gz",
        "y.xml",
    ]
    with pytest.raises(InputError, match="no such file"):
        resolve_inputs([tmp_path / "missing.xml"])
    with pytest.raises(InputError, match=r"notes\.txt: no source understands"):
        resolve_inputs([tmp_path / "corpus" / "notes.txt"])


def _cli(db: Path, *args: str, batch: int = 200) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CURBSIDE_DB": str(db), "CURBSIDE_BATCH_SIZE": str(batch)}
    return subprocess.Popen(
        [sys.executable, "-m", "curbside", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_kill_midway_then_rerun_equals_one_clean_run(tmp_path: Path) -> None:
    files = [
        write_medline(
            tmp_path / f"f{i}.xml.gz", range(i * 4000 + 1, i * 4000 + 4001), deletions=(i * 4000 + 7,)
        )
        for i in range(2)
    ]
    clean_db, killed_db = tmp_path / "clean.db", tmp_path / "killed.db"
    clean = _cli(clean_db, "ingest", *map(str, files))
    assert clean.wait(timeout=300) == 0

    proc = _cli(killed_db, "ingest", *map(str, files), batch=100)
    deadline = time.time() + 120
    # Wait until some batches are committed, then kill without warning (SIGKILL: no cleanup runs).
    while time.time() < deadline:
        time.sleep(0.05)
        if killed_db.exists():
            try:
                with SQLiteStore(killed_db) as probe:
                    if probe.stats().records_read >= 300:
                        break
            except Exception:  # the store may be mid-migration at the very start
                continue
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    with SQLiteStore(killed_db) as store:
        partial = counts(store)
    assert 0 < partial[2] < 8000, "the kill did not land mid-ingest; the test proves nothing"

    rerun = _cli(killed_db, "ingest", *map(str, files))
    assert rerun.wait(timeout=300) == 0
    with SQLiteStore(clean_db) as a, SQLiteStore(killed_db) as b:
        assert counts(a) == counts(b) == (7998, 7998, 8000, 2, 0)
        assert {d.id for d in a.iter_documents()} == {d.id for d in b.iter_documents()}


def test_store_writes_the_documents_own_hash_and_json(tmp_path: Path) -> None:
    """The store's one-pass serialisation must agree with Document.content_hash() and to_dict()."""
    import json

    from curbside.ingestion.sources.medline import MedlineSource
    from curbside.store.sqlite import serialise_document
    from curbside.types import Document, document_from_dict

    path = write_medline(tmp_path / "a.xml", range(1, 4))
    docs = [r for r in MedlineSource(path).records() if isinstance(r, Document)]
    assert len(docs) == 3 and docs[0].mesh[0].qualifiers
    for doc in docs:
        digest, data = serialise_document(doc)
        assert digest == doc.content_hash()
        assert json.loads(data) == json.loads(json.dumps(doc.to_dict()))
        assert document_from_dict(json.loads(data)) == doc
