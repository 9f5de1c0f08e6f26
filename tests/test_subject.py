"""A question's subject: its content terms by rarity, frame words aside, numbered names in any spelling."""

from __future__ import annotations

from dataclasses import replace

import pytest

from curbside.retrieval.questions import Vocabulary, analyse
from curbside.retrieval.subject import Subject, mentions, spellings, subject_of


def _query(text: str, counts: dict[str, int], chunks: int = 100_000):  # type: ignore[no-untyped-def]
    query = analyse(text, vocabulary=Vocabulary.builtin())
    return replace(query, word_counts=tuple(sorted(counts.items())), corpus_chunks=chunks)


def test_an_unknown_name_is_the_subject_not_the_frame_words() -> None:
    q = _query("What is the mechanism of action of givosiran?", {"givosiran": 0})
    subject = subject_of(q)
    assert [t.text for t in subject.terms] == ["givosiran"]
    assert subject.mentions_main("Givosiran silences ALAS1.")
    assert not subject.mentions_main("The mechanism of action of statins is known.")


def test_rarer_terms_weigh_more() -> None:
    q = _query(
        "Which gene controls the consistency of cerumen?",
        {"controls": 9000, "consistency": 1200, "cerumen": 3},
    )
    subject = subject_of(q)
    assert subject.main is not None and subject.main.text == "cerumen"
    weights = {t.text: t.weight for t in subject.terms}
    assert weights["cerumen"] > weights["consistency"] > weights["controls"]
    assert sum(weights.values()) == pytest.approx(1.0)
    assert subject.coverage("Cerumen consistency varies.") > 0.5


@pytest.mark.parametrize(
    ("term", "text"),
    [
        ("topoisomeraseII", "Etoposide poisons topoisomerase II."),
        ("topoisomerase II", "an inhibitor of topoisomeraseII"),
        ("topoisomerase-II", "topoisomerase II activity"),
        ("IL-6", "raised IL6 levels"),
        ("IL6", "interleukin (IL-6) levels"),
    ],
)
def test_numbered_names_match_in_any_spelling(term: str, text: str) -> None:
    assert mentions(term, text)


def test_spellings_do_not_overreach() -> None:
    assert not mentions("IL6", "until6 weeks")
    assert "topoisomerase ii" in spellings("topoisomeraseII")


def test_without_counts_every_content_term_weighs_the_same() -> None:
    subject = subject_of(
        analyse("What are the adverse effects of clozapine?", vocabulary=Vocabulary.builtin())
    )
    assert [t.text.lower() for t in subject.terms] == ["clozapine"]


def test_a_text_addresses_the_subject_when_it_names_the_main_term_and_half_the_weight() -> None:
    q = _query("Does givosiran lower porphyria attacks?", {"givosiran": 0, "porphyria": 40, "attacks": 900})
    subject = subject_of(q)
    assert subject.addressed_by("Givosiran reduced porphyria attacks by 74%.")
    assert not subject.addressed_by("Porphyria attacks were frequent.")  # not the main term


def test_the_main_forms_are_the_main_terms_spellings_or_none() -> None:
    subject = subject_of(analyse("List the statins"))
    assert subject.main is not None and subject.main_forms == subject.main.forms
    assert "statin" in subject.main_forms
    assert Subject(()).main_forms == frozenset()
