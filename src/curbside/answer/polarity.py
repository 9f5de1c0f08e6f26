"""Which way a finding points: the positive, negative and hedging cues of a sentence.

:func:`sentence_polarity` counts them; the cue lists are data (``data/polarity.json``).  The
yes/no rules (:mod:`curbside.answer.yesno`) and the in-context checks
(:mod:`curbside.answer.context`) both read findings through it.
"""

from __future__ import annotations

import re
from typing import Any, Final

from curbside.datafiles import cues, load_data

__all__ = ["sentence_polarity"]


def _build(data: Any) -> dict[str, re.Pattern[str]]:
    built = {key: cues(*data[key]) for key in ("negative_strong", "negative_weak", "positive", "hedge")}
    built["p_value"] = re.compile(data["p_value"], re.IGNORECASE)
    built["ratio_ci"] = re.compile(data["ratio_ci"], re.IGNORECASE)
    return built


_CUES: Final = load_data("polarity.json", "polarity cues", _build)
_NEGATIVE_STRONG: Final = _CUES["negative_strong"]
_NEGATIVE_WEAK: Final = _CUES["negative_weak"]
_POSITIVE: Final = _CUES["positive"]
_HEDGE: Final = _CUES["hedge"]
_P_VALUE: Final = _CUES["p_value"]
_RATIO_CI: Final = _CUES["ratio_ci"]

#: A weak negation ("similar", "did not") is often, but not always, a null result.
_WEAK_WEIGHT: Final = 0.5
#: How many words after a negation it governs ("did not improve survival": "improve" is negated).
_NEGATION_SCOPE: Final = 3
_SCOPE_END: Final = re.compile(r"[,;:.()]|\b(?:but|whereas|while|although|and)\b", re.IGNORECASE)
_NEXT_WORD: Final = re.compile(r"\s*\S+")


def _number(text: str) -> float:
    """A decimal as printed: "0.35" or "0·35"."""
    return float(text.replace("·", "."))


def _blank(text: str, start: int, end: int) -> str:
    return text[:start] + " " * (end - start) + text[end:]


def _negations(text: str, pattern: re.Pattern[str]) -> tuple[int, str]:
    """Count ``pattern`` in ``text`` and blank each match plus the few words it governs."""
    count = 0
    masked = text
    for m in pattern.finditer(text):
        count += 1
        end = m.end()
        for _ in range(_NEGATION_SCOPE):
            w = _NEXT_WORD.match(text, end)
            if w is None or _SCOPE_END.search(w.group()):
                break
            end = w.end()
        masked = _blank(masked, m.start(), end)
    return count, masked


def sentence_polarity(text: str) -> tuple[float, float, float]:
    """(positive, negative, hedge) cue counts of a sentence or clause.

    Negations are found first and blanked with the words they govern, so "no
    significant difference" and "did not improve survival" count once as
    negative and not also as positive.  Numbers count too: p <= 0.05 is
    positive and p > 0.05 negative; a ratio whose 95% CI excludes 1 is
    positive and one that includes 1 negative -- results sentences often say
    nothing but the numbers.
    """
    strong, masked = _negations(text, _NEGATIVE_STRONG)
    weak, masked = _negations(masked, _NEGATIVE_WEAK)
    negative = strong + _WEAK_WEIGHT * weak
    positive = 0.0
    for m in _P_VALUE.finditer(masked):
        masked = _blank(masked, m.start(), m.end())
        op, value = m.group(1).lower(), _number(m.group(2))
        if op.startswith(("<", "≤", "less")) or (op == "=" and value <= 0.05):
            positive += value <= 0.05  # "p < 0.2" is no finding either way
        else:
            negative += 1
    positive += len(_POSITIVE.findall(masked))
    for m in _RATIO_CI.finditer(text):
        low, high = _number(m.group(1)), _number(m.group(2))
        if low <= high:
            negative += low <= 1.0 <= high
            positive += not low <= 1.0 <= high
    return positive, negative, float(len(_HEDGE.findall(text)))
