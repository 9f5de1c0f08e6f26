"""Retrieval metrics, the questions/qrels formats, and `curbside eval retrieval` on a real store."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import make_doc
from curbside import api
from curbside.cli.main import cli
from curbside.errors import InputError
from curbside.retrieval.evaluation import (
    evaluate,
    load_qrels,
    load_questions,
    ndcg_at,
    percentile,
    ranked_documents,
    recall_at,
    reciprocal_rank,
)
from curbside.store.base import Batch, FileProgress
from curbside.store.sqlite import SQLiteStore
from curbside.types import Chunk, Hit, Section

EXAMPLES = Path(__file__).resolve().parent.parent / "docs" / "examples"
QUESTIONS = EXAMPLES / "retrieval-questions.jsonl"
QRELS = EXAMPLES / "retrieval-qrels.txt"


# -- metrics --------------------------------------------------------------------------------------


def test_ndcg_with_graded_relevance() -> None:
    rels = {"a": 2.0, "b": 1.0}
    assert ndcg_at(["a", "b", "x"], rels, 10) == pytest.approx(1.0)
    dcg = 1 / math.log2(3) * 2 + 1 / math.log2(4)  # a at rank 2, b at rank 3
    idcg = 2 + 1 / math.log2(3)
    assert ndcg_at(["x", "a", "b"], rels, 10) == pytest.approx(dcg / idcg)
    assert ndcg_at(["x"] * 10 + ["a"], rels, 10) == 0.0
    assert ndcg_at(["a"], {}, 10) == 0.0


def test_recall_and_reciprocal_rank() -> None:
    rels = {"a": 1.0, "b": 1.0, "c": 0.0}
    assert recall_at(["a", "c", "x"], rels, 10) == 0.5
    assert recall_at(["x", "a"], rels, 1) == 0.0
    assert reciprocal_rank(["c", "x", "b"], rels) == pytest.approx(1 / 3)  # "c" is judged not relevant
    assert reciprocal_rank([], rels) == 0.0


def test_percentile_is_nearest_rank() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 95) == 4.0
    assert percentile([], 50) == 0.0


def test_ranked_documents_keeps_the_best_chunk_of_each() -> None:
    def hit(n: int, ordinal: int) -> Hit:
        d = make_doc(n)
        return Hit(chunk=Chunk(d.id, ordinal, "", 0, 1, "x"), document=d, score=1.0)

    assert ranked_documents([hit(1, 0), hit(2, 0), hit(1, 1), hit(3, 0)]) == ["pmid:1", "pmid:2", "pmid:3"]


def test_evaluate_averages_over_judged_questions_only() -> None:
    runs = {"what about a": ["a", "x"], "what about b": ["x", "y"], "unjudged": ["a"]}
    questions = [("q1", "what about a"), ("q2", "what about b"), ("q3", "unjudged")]
    ticks: list[int] = []
    report = evaluate(
        "fake", runs.__getitem__, questions, {"q1": {"a": 1}, "q2": {"b": 1}}, progress=ticks.append
    )
    assert report.queries == 2 and ticks == [1, 2]
    assert report.ndcg10 == pytest.approx(0.5) and report.mrr == pytest.approx(0.5)
    assert report.recall10 == 0.5 and report.per_query == {"q1": 1.0, "q2": 0.0}
    assert set(report.row()) >= {"ndcg@10", "recall@10", "recall@100", "mrr", "p50_ms", "qps"}
    with pytest.raises(InputError, match="ids in the two files"):
        evaluate("fake", runs.__getitem__, questions, {"zz": {"a": 1}})


# -- file formats ---------------------------------------------------------------------------------


def test_the_documented_examples_load() -> None:
    assert load_questions(QUESTIONS) == [
        ("q1", "What are the causes of leucopenia?"),
        ("q2", "Does early surgery after hip fracture lower mortality?"),
        ("q3", "How is asthma in children treated?"),
    ]
    assert load_qrels(QRELS) == {
        "q1": {"pmid:1001": 2.0, "pmid:1002": 1.0},
        "q2": {"pmid:1003": 1.0},  # a bare number is a PMID
        "q3": {"pmid:1004": 1.0},
    }


def test_tsv_questions_and_three_column_qrels(tmp_path: Path) -> None:
    questions = tmp_path / "q.tsv"
    questions.write_text('a\tWhat causes gout?\n\n{"id": 7, "question": "Mixed in?"}\n', encoding="utf-8")
    assert load_questions(questions) == [("a", "What causes gout?"), ("7", "Mixed in?")]
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("a\tdoi:10.1/x\t1\na\t42\t0\n", encoding="utf-8")
    assert load_qrels(qrels) == {"a": {"doi:10.1/x": 1.0, "pmid:42": 0.0}}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("no tab here\n", r"line 1: expected 'id<TAB>question'"),
        ('ok\tfine\n{"id": "x"}\n', r"line 2: expected \{'id', 'question'\}"),
        ("\n\n", "no questions found"),
    ],
)
def test_bad_questions_files_name_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "q.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=message) as info:
        load_questions(path)
    assert str(path) in str(info.value)


def test_bad_qrels_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "qrels.txt"
    path.write_text("q1 0 pmid:1 1\nq1 pmid:2\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 2: expected"):
        load_qrels(path)
    path.write_text("q1 0 pmid:1 high\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"line 1: relevance 'high' is not a number"):
        load_qrels(path)
    with pytest.raises(InputError, match="cannot read qrels"):
        load_qrels(tmp_path / "missing.txt")


# -- the command ----------------------------------------------------------------------------------


@pytest.fixture
def judged_store(tmp_path: Path) -> str:
    """Documents the example qrels point at, plus distractors."""
    texts = {
        1001: ("Drug-induced leukopenia", "Clozapine and carbamazepine cause leukopenia."),
        1002: ("Leukopenia after chemotherapy", "Chemotherapy often lowers the white cell count."),
        1003: ("Timing of hip fracture surgery", "Early surgery after hip fracture lowered mortality."),
        1004: ("Asthma in children", "Inhaled corticosteroids treat asthma in children."),
        1005: ("Gout", "Urate crystals cause gout."),
        1006: ("Migraine", "Triptans relieve migraine."),
    }
    db = tmp_path / "judged.db"
    with SQLiteStore(db) as store:
        docs = [
            make_doc(n, title=title, sections=(Section(text, ""),), mesh=())
            for n, (title, text) in texts.items()
        ]
        store.write_batch(Batch(FileProgress("k", "test", "test"), documents=docs, records=len(docs)))
    return str(db)


def test_eval_retrieval_command_prints_a_table_and_json(judged_store: str) -> None:
    args = ["--db", judged_store, "eval", "retrieval", "--questions", str(QUESTIONS), "--qrels", str(QRELS)]
    table = CliRunner().invoke(cli, args)
    assert table.exit_code == 0, table.output
    assert "bm25" in table.output and "nDCG@10" in table.output
    out = CliRunner().invoke(cli, [*args, "--json"])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.output.splitlines()]
    assert [r["name"] for r in rows] == ["bm25"]  # nothing embedded: lexical only
    assert rows[0]["queries"] == 3
    assert rows[0]["recall@10"] == 1.0 and rows[0]["ndcg@10"] > 0.9


def test_eval_retrieval_compares_modes_once_embedded(judged_store: str, tmp_path: Path) -> None:
    from curbside.config import Settings

    settings = Settings(db=judged_store, embedder="fake", data_dir=tmp_path / "d", cache_dir=tmp_path / "c")
    api.index(settings=settings)
    reports = api.evaluate_retrieval(QUESTIONS, QRELS, settings=settings)
    assert [r.name for r in reports] == ["hybrid", "bm25", "dense"]
    assert all(r.queries == 3 for r in reports)
    assert reports[0].recall10 == 1.0


def test_eval_retrieval_refuses_dense_without_vectors(judged_store: str) -> None:
    args = ["--db", judged_store, "eval", "retrieval", "--questions", str(QUESTIONS), "--qrels", str(QRELS)]
    result = CliRunner().invoke(cli, [*args, "--mode", "dense"])
    assert isinstance(result.exception, InputError) and "curbside index" in str(result.exception)
