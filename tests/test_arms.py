"""Which arm a comparative finding credits, and what that does to a yes/no signal."""

from __future__ import annotations

import pytest

from curbside.answer.arms import Arms, arms_of, favours
from curbside.answer.sentences import query_terms
from curbside.answer.yesno import signal
from curbside.retrieval.questions import Vocabulary, analyse

SURGERY = Arms(frozenset({"surgery"}), frozenset())


@pytest.mark.parametrize(
    ("sentence", "side"),
    [
        ("Survival was significantly better in the non-surgery group.", -1),
        ("Patients without surgery had better outcomes.", -1),
        ("The results favoured conservative treatment.", -1),
        ("Survival was better in the surgery group than in the control group.", 1),
        ("Surgery improved survival compared with conservative management.", 1),
        ("Compared with placebo, surgery improved survival.", 1),
        ("Mortality was higher in the control group.", 0),  # "higher" credits no one: it may be bad
        ("Surgery took two hours.", 0),
    ],
)
def test_the_first_evaluative_cue_is_credited_to_an_arm(sentence: str, side: int) -> None:
    assert favours(sentence, SURGERY) == side


def test_a_comparison_asked_as_one_question_has_two_named_arms() -> None:
    arms = arms_of("Is laparoscopic surgery better than open surgery for colon cancer?")
    assert arms == Arms(frozenset({"laparoscopic"}), frozenset({"open"}))
    assert favours("Open surgery was superior to laparoscopic surgery.", arms) == -1
    assert favours("Outcomes were better with the laparoscopic approach.", arms) == 1
    versus = arms_of("Is metformin versus insulin associated with lower mortality?")
    assert versus == Arms(frozenset({"metformin"}), frozenset({"insulin"}))
    assert arms_of("Is leukopenia common?") is None


def test_a_finding_for_the_other_arm_reads_against_the_question() -> None:
    query = analyse("Does surgery improve survival in hip fracture?", vocabulary=Vocabulary.builtin())
    terms = query_terms(query)
    assert terms.arms is not None and "surgery" in terms.arms.asked
    pos, neg, _ = signal("Survival was significantly better in the non-surgery group.", terms, False, False)
    assert neg > pos
    pos, neg, _ = signal("Survival was significantly better in the surgery group.", terms, False, False)
    assert pos > neg
