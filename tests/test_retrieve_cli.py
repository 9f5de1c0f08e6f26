"""`curbside search`: ranked hits, JSON, filters, and one-line errors for unsearchable queries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import make_doc
from curbside.cli.main import cli, main
from curbside.errors import QueryError
from curbside.store.base import Batch, FileProgress
from curbside.store.sqlite import SQLiteStore
from curbside.types import Section


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = tmp_path / "search.db"
    long = " ".join(f"Leukopenia was seen in cohort {i} after chemotherapy." for i in range(80))
    docs = [
        make_doc(1, title="Drug-induced leukopenia", sections=(Section(long, ""),), year=1999),
        make_doc(
            2,
            title="Leukopenia: a review",
            sections=(Section("Chemotherapy and clozapine cause leukopenia.", ""),),
            year=2018,
            publication_types=("Journal Article", "Review"),
        ),
        make_doc(3, title="Leukopenia in sepsis", sections=(Section("Sepsis lowers leukocytes.", ""),)),
        make_doc(4, title="Gout", sections=(Section("Urate crystals cause gout.", ""),), mesh=()),
    ]
    with SQLiteStore(path) as store:
        store.write_batch(Batch(FileProgress("k", "t", "t"), documents=docs, records=len(docs)))
    return str(path)


def search(db: str, *args: str) -> list[dict[str, object]]:
    result = CliRunner().invoke(cli, ["--db", db, "search", *args, "--json"])
    assert result.exit_code == 0, (result.output, result.exception)
    hits: list[dict[str, object]] = json.loads(result.output)["hits"]
    return hits


def test_british_spelling_finds_leukopenia_articles(db: str) -> None:
    result = CliRunner().invoke(cli, ["--db", db, "search", "causes of leucopenia"])
    assert result.exit_code == 0, result.output
    assert "Drug-induced leukopenia" in result.output and "pmid:2" in result.output
    assert "question type: causes" in result.output and "Gout" not in result.output


def test_json_has_scores_spans_and_the_query(db: str) -> None:
    result = CliRunner().invoke(cli, ["--db", db, "search", "causes of leucopenia", "-k", "3", "--json"])
    data = json.loads(result.output)
    assert data["query"]["type"] == "causes" and data["query"]["keywords"] == ["leucopenia"]
    assert len(data["hits"]) == 3 and [h["rank"] for h in data["hits"]] == [1, 2, 3]
    top = data["hits"][0]
    assert set(top["scores"]) == {"final", "bm25", "dense", "fused", "rerank", "evidence"}
    assert top["scores"]["dense"] is None  # nothing embedded: BM25 only
    assert "leukopenia" in top["span"]["text"].lower()
    assert set(data["timings_ms"]) >= {"analyse", "bm25"}


def test_year_from_and_type_filter(db: str) -> None:
    assert {h["id"] for h in search(db, "leukopenia", "--year-from", "2010")} == {"pmid:2", "pmid:3"}
    assert [h["id"] for h in search(db, "leukopenia", "--type", "Review")] == ["pmid:2"]
    assert search(db, "leukopenia", "--year-from", "2030") == []


def test_a_document_appears_at_most_twice(db: str) -> None:
    ids = [h["id"] for h in search(db, "leukopenia chemotherapy", "-k", "10")]
    assert ids.count("pmid:1") == 2 and len(ids) == 4


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("what is the of and to why", "Error: the query has no searchable words"),
        ("leukopenia " * 910, "Error: the question is 10,009 characters long; the limit is 1,000"),
        ("   ", "Error: the query is empty"),
    ],
)
def test_unsearchable_queries_get_a_one_line_error(
    db: str, query: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--db", db, "search", query])
    assert exit_info.value.code == QueryError.exit_code != 0
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0].startswith(message), err
    assert len(lines) <= 2 and (len(lines) == 1 or lines[1].startswith("Hint: "))  # never a traceback
