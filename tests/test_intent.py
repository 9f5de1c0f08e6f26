"""Question intents and the titles they give (curbside.retrieval.intent, synthesis.base.title_for).

The labelled set (tests/fixtures/question_intents.json) holds 60 clinician-style
questions and 240 BioASQ expert questions by id; the BioASQ part reads their text
from the shared data and skips without it.  Measured when written: 59/60 clinical,
199/240 BioASQ (0.829); most BioASQ misses are questions a person could label
either way ("Which molecule is targeted by olaratumab?": mechanism or factoid).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curbside.answer.base import title_for
from curbside.retrieval.intent import INTENTS, intent_of, states_answer, title_pattern
from curbside.retrieval.questions import analyse

LABELS = json.loads((Path(__file__).parent / "fixtures" / "question_intents.json").read_text("utf-8"))


def _accuracy(items: list[tuple[str, str]]) -> float:
    return sum(intent_of(text) == gold for text, gold in items) / len(items)


def test_the_labels_use_the_taxonomy_and_cover_every_intent() -> None:
    assert tuple(LABELS["taxonomy"]) == INTENTS
    labelled = {c["type"] for c in LABELS["clinical"]}
    assert labelled == set(INTENTS)  # each intent has clinical questions to be measured on
    assert set(LABELS["bioasq"].values()) <= set(INTENTS)


def test_clinical_questions_are_typed() -> None:
    items = [(c["question"], c["type"]) for c in LABELS["clinical"]]
    assert len(items) == 60
    assert _accuracy(items) >= 0.95


def test_bioasq_expert_questions_are_typed(shared_data: Path) -> None:
    raw = json.loads((shared_data / "bioasq" / "bioasq_taskb_7b-9b_dev.json").read_text("utf-8"))
    questions = raw["questions"] if isinstance(raw, dict) else raw
    body = {q["id"]: q["body"] for q in questions}
    items = [(body[i], gold) for i, gold in LABELS["bioasq"].items() if i in body]
    assert len(items) == 240
    assert _accuracy(items) >= 0.80


@pytest.mark.parametrize(
    ("question", "intent"),
    [
        ("What are the side effects of clozapine?", "adverse_effects"),
        ("How is hypertension treated?", "treatment"),
        ("What are the causes of leukopenia?", "causes"),
        ("Which disease is caused by de novo VPS4A mutations?", "factoid_list"),  # a disease, not causes
        ("Does clozapine cause agranulocytosis?", "yesno"),  # yes/no whatever the topic
        ("Is surgery better than casting for scaphoid fractures?", "yesno"),
        ("Surgery versus casting for scaphoid fractures", "comparison"),
        ("How should vancomycin be dosed in renal impairment?", "dosing"),
    ],
)
def test_intent_of(question: str, intent: str) -> None:
    assert intent_of(question) == intent


@pytest.mark.parametrize(
    ("question", "title"),
    [
        ("What are the side effects of clozapine?", "Adverse Effects of Clozapine"),
        ("What are the causes of leucopenia?", "Causes of Leukopenia"),  # the heading, not the spelling
        ("What is hereditary angioedema?", "Hereditary Angioedema: Definition and Classification"),
        ("What is the mechanism of action of givosiran?", "Mechanism of Action of Givosiran"),
        (
            "Which disease is caused by de novo VPS4A mutations?",
            "Which disease is caused by de novo VPS4A mutations",
        ),
        ("What does tsDMARD stand for?", "tsDMARD: Definition and Classification"),  # its capitals kept
    ],
)
def test_titles_name_the_subject_in_reading_order(question: str, title: str) -> None:
    assert title_for(analyse(question)) == title


def test_every_titled_intent_names_its_subject() -> None:
    for intent in INTENTS:
        pattern = title_pattern(intent)
        assert pattern is None or "{subject}" in pattern


@pytest.mark.parametrize(
    ("text", "answers"),
    [
        ("Holoprosencephaly (HPE) is a congenital defect of the brain and face.", True),
        ("BACKGROUND: Holoprosencephaly is a rare developmental brain abnormality.", True),  # label first
        ("Treatment was transformed by targeted synthetic DMARD (tsDMARD) therapies.", True),  # spelled out
        ("Holoprosencephaly is addressed under the following headings: alobar, semilobar.", False),
        ("The alobar, semilobar and lobar types of holoprosencephaly are each represented.", False),
        ("For the first-line bDMARD/tsDMARD, either TNF inhibitors may be considered.", False),
    ],
)
def test_a_definition_answer_says_what_the_subject_is(text: str, answers: bool) -> None:
    forms = ["holoprosencephaly", "hpe", "tsdmard", "tsdmards"]
    assert states_answer("definition", forms, text) is answers


def test_intents_without_answer_patterns_or_subjects_detect_nothing() -> None:
    assert not states_answer("treatment", ["clozapine"], "Clozapine is an antipsychotic.")
    assert not states_answer("definition", [], "Clozapine is an antipsychotic.")
