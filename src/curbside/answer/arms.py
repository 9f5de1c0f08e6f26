"""Which arm a comparative finding favours: "better in the non-surgery group" is no "yes" for surgery.

Polarity cues say *that* a sentence reports a finding, not *for whom*.  For a
yes/no question about one treatment or exposure (or a comparison asked as one,
"Is X better than Y?"), a sentence that credits the other arm must count
against the question, not for it.  :func:`arms_of` reads the arms from the
question: the two sides of an explicit comparison, or else the question's content
words against the usual comparators (placebo, control, usual care) and their own
negations ("non-surgery", "without surgery").  :func:`favours` attributes the
first evaluative cue of a clause ("better", "superior", "favoured", "benefit";
never "higher" or "lower", which are good for one outcome and bad for another) to
an arm: the one a "favouring" names, else the one it is found in or among ("in
the non-surgery group"), else the last arm named before it ("X was superior to
Y").  The word lists live in ``data/comparison.json``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any, Final

from curbside.datafiles import alternation, load_data
from curbside.retrieval.subject import fold, frame_words

#: How many words after an evaluative cue an "in the ... group" may name its arm.
_AFTER: Final = 8


@dataclass(frozen=True, slots=True)
class Arms:
    """The words naming the arm a question asks about, and those naming the other arm."""

    asked: frozenset[str]
    other: frozenset[str]


@dataclass(frozen=True)
class _Lists:
    evaluative: re.Pattern[str]
    controls: tuple[str, ...]
    negations: str
    questions: tuple[re.Pattern[str], ...]
    function_words: frozenset[str]
    comparing: re.Pattern[str]


@functools.cache
def _lists() -> _Lists:
    return load_data("comparison.json", "comparison lists", _build_lists)


def _build_lists(data: Any) -> _Lists:
    return _Lists(
        evaluative=re.compile(rf"\b(?:{alternation(data['evaluative'])})\b"),
        controls=tuple(data["controls"]),
        negations=alternation(data["negated_arm"]),
        questions=tuple(re.compile(p) for p in data["comparative_question"]),
        function_words=frozenset(data["function_words"]),
        comparing=re.compile(rf"\b(?:{alternation(data['comparing'])})\b"),
    )


def _content(text: str) -> frozenset[str]:
    """The words of ``text`` that can name an arm: not frame words, not evaluative cues, not short."""
    lists = _lists()
    skip = frame_words() | lists.function_words
    return frozenset(
        w for w in fold(text).split() if len(w) > 2 and w not in skip and not lists.evaluative.fullmatch(w)
    )


@functools.lru_cache(maxsize=1024)
def arms_of(question: str, subject_words: frozenset[str] = frozenset()) -> Arms | None:
    """The arms of ``question``: the two sides of a comparison, else ``subject_words`` against controls."""
    text = " ".join(question.lower().split())
    for pattern in _lists().questions:
        m = pattern.search(text)
        if m:
            asked, other = _content(m.group(1)), _content(m.group(2))
            shared = asked & other
            if asked - shared and other - shared:
                return Arms(frozenset(asked - shared), frozenset(other - shared))
    asked = frozenset(w for s in subject_words for w in _content(s))
    return Arms(asked, frozenset()) if asked else None


def _mentions(text: str, arms: Arms) -> list[tuple[int, int]]:
    """``(position, side)`` of every arm named in ``text`` (side +1 the asked-about arm, -1 the other)."""
    lists = _lists()
    found: list[tuple[int, int]] = []
    taken: list[tuple[int, int]] = []

    def add(pattern: str, side: int) -> None:
        for m in re.finditer(pattern, text):
            if not any(s < m.end() and m.start() < e for s, e in taken):
                taken.append((m.start(), m.end()))
                found.append((m.start(), side))

    asked = alternation(tuple(arms.asked)) if arms.asked else ""
    if asked:  # "non-surgery", "without surgery": the asked-about word, negated, is the other arm
        add(rf"(?<!\w)(?:{lists.negations})\s*-?\s*(?:the\s+)?(?:{asked})s?\b", -1)
    other = [*arms.other, *lists.controls]
    add(rf"\b(?:{alternation(other)})s?\b", -1)
    if asked:
        add(rf"\b(?:{asked})s?\b", 1)
    return sorted(found)


def favours(clause: str, arms: Arms) -> int:
    """+1 when the clause's first evaluative cue credits the asked-about arm, -1 the other, 0 unknown."""
    text = " ".join(clause.lower().split())
    cue = _lists().evaluative.search(text)
    if cue is None:
        return 0
    mentions = _mentions(text, arms)
    if not mentions:
        return 0
    for position, side in (m for m in mentions if m[0] >= cue.end()):
        gap = text[cue.end() : position]
        if len(gap.split()) > _AFTER or _lists().comparing.search(gap):
            break  # too far, or past "than" / "compared with": the comparator, not the credited arm
        if cue.group(0).startswith("favo") and len(gap.split()) <= 2:
            return side  # "favoured the control arm"
        if re.search(r"\b(?:in|among|for|with|from|by|of)\s+(?:\S+\s+){0,2}$", gap):
            return side  # "better outcomes in the non-surgery group"
    before = [side for p, side in mentions if p < cue.start()]
    return before[-1] if before else 0
