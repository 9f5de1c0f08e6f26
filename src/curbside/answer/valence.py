"""Which way an outcome points: good ("better prognosis", "reduced risk") or bad ("more aggressive").

A yes/no question about a good outcome ("Is co-loss of BRCA2-RB1 associated with better prognosis?")
is answered *no* by a finding of a bad one ("co-loss ... is associated with a more aggressive disease
phenotype"), though that finding is worded positively ("associated with").  :func:`direction` reads
the question; :func:`valence` each clause of the evidence; :func:`curbside.answer.yesno.signal`
turns a finding pointing the other way into evidence against.  The word lists are data
(``data/outcome_valence.json``).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from curbside.datafiles import any_of, load_data

__all__ = ["direction", "valence"]


@dataclass(frozen=True)
class _Lists:
    favourable: re.Pattern[str]
    unfavourable: re.Pattern[str]


def _build(data: Any) -> _Lists:
    return _Lists(re.compile(any_of(data["favourable"])), re.compile(any_of(data["unfavourable"])))


@functools.cache
def _lists() -> _Lists:
    return load_data("outcome_valence.json", "outcome valence", _build)


def valence(text: str) -> int:
    """Good outcomes named minus bad ones in ``text`` (lower-cased for matching)."""
    low = text.lower()
    lists = _lists()
    return len(lists.favourable.findall(low)) - len(lists.unfavourable.findall(low))


def direction(question: str) -> int:
    """+1 when ``question`` asks about a good outcome only, -1 a bad one only, else 0."""
    low = question.lower()
    lists = _lists()
    good, bad = bool(lists.favourable.search(low)), bool(lists.unfavourable.search(low))
    return 0 if good == bad else (1 if good else -1)
