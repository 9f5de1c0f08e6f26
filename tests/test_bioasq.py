"""BioASQ questions as curbside data: documents rebuilt from snippets, gold spans, answer scores."""

from __future__ import annotations

from pathlib import Path

import pytest

from curbside.training.bioasq import (
    GAP,
    answer_scores,
    claim_is_relevant,
    load,
    merge_snippets,
    rouge,
    wilson,
)
from curbside.types import Article, ArticleSection, Citation, Claim

TINY = Path(__file__).parent / "fixtures" / "bioasq" / "tiny.json"


def test_documents_are_rebuilt_from_every_questions_snippets() -> None:
    data = load(TINY)
    doc = data.documents["pmid:1002"]
    assert doc.title == "Clozapine and blood dyscrasias"
    # The gold question marked two sentences, a decoy question the first: all three are back, in order.
    assert doc.body.startswith("Clozapine is an atypical antipsychotic")
    assert "Agranulocytosis occurred in 0.8%" in doc.body
    assert data.dropped_documents == 0


def test_gold_spans_are_found_by_their_text() -> None:
    data = load(TINY)
    q = next(q for q in data.questions if q.id == "q1002")
    doc = data.documents["pmid:1002"]
    body_spans = [s for s in q.spans if s.part == "body"]
    assert [doc.body[s.start : s.end] for s in body_spans] == [
        "Agranulocytosis occurred in 0.8% of patients treated with clozapine.",
        "Clozapine-induced agranulocytosis requires regular monitoring of the white blood cell count.",
    ]
    assert q.yes is True and q.split == "7B"
    assert [x.yes for x in data.questions if x.id == "q1003"] == [False]


def test_merge_joins_overlaps_and_marks_gaps() -> None:
    assert merge_snippets([(0, "Alpha beta gamma delta."), (11, "gamma delta. Epsilon zeta.")]) == (
        "Alpha beta gamma delta. Epsilon zeta."
    )
    assert merge_snippets([(0, "One two three."), (500, "Far away.")]) == f"One two three.{GAP}Far away."
    assert merge_snippets([(0, "Inside text here."), (7, "text")]) == "Inside text here."


def test_answer_scores_judge_claims_by_their_cited_spans() -> None:
    data = load(TINY)
    q = next(q for q in data.questions if q.id == "q1002")
    doc = data.documents["pmid:1002"]
    gold = "Agranulocytosis occurred in 0.8% of patients treated with clozapine."
    start = doc.body.index(gold)
    off_topic = "Clozapine is an atypical antipsychotic used in resistant schizophrenia."
    good = Claim(gold, (Citation(doc.id, start, start + len(gold), gold),))
    bad = Claim(off_topic, (Citation(doc.id, 0, len(off_topic), off_topic),))
    article = Article(q.body, "yesno", "t", (good,), (ArticleSection("x", "X", (bad,)),))
    assert claim_is_relevant(good.citations, q) and not claim_is_relevant(bad.citations, q)
    scores = answer_scores(article, q)
    assert scores["claim_relevance"] == 0.5 and scores["first_relevant"] == 1.0
    assert scores["gold_cited"] == 1.0 and scores["snippet_recall"] == pytest.approx(1 / 3)  # title + 2 spans


def test_rouge_and_wilson() -> None:
    assert rouge("the cat sat on the mat", "the cat sat on the mat") == 1.0
    assert rouge("a b", "c d") == 0.0
    assert 0 < rouge("the cat sat", "the cat sat on the mat") < 1
    low, high = wilson(80, 100)
    assert low < 0.8 < high and round(high - low, 2) == 0.16
