"""Details that identify a person, found in (and removed from) the questions people ask.

Questions are saved for the editorial team and shown to reviewers, so a question
that names a patient ("... in a patient named John Smith, born 03/04/1961?")
must not be stored as typed.  :func:`find_identifiers` recognises the obvious
cases from the patterns in ``data/identifiers.json`` (names after "patient
named" or a title, dates of birth, full dates, record numbers, phone numbers,
e-mail addresses); :func:`deidentify` replaces each with its label in brackets.
It is a safety net, not a guarantee: the ask box tells people not to type them.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from importlib import resources

from curbside.config import Settings
from curbside.errors import ConfigError
from curbside.types import ArticleWarning


@dataclass(frozen=True)
class Identifier:
    label: str  # "name", "date of birth", ...
    start: int
    end: int
    text: str


@functools.cache
def _patterns() -> tuple[tuple[str, re.Pattern[str]], ...]:
    where = "curbside/data/identifiers.json"
    try:
        data = json.loads(resources.files("curbside").joinpath("data/identifiers.json").read_text("utf-8"))
        return tuple((p["label"], re.compile(p["regex"])) for p in data["patterns"])
    except (OSError, ValueError, KeyError, TypeError, re.error) as exc:
        raise ConfigError(f"{where}: cannot read the identifier patterns: {exc}") from exc


def find_identifiers(text: str) -> list[Identifier]:
    """Identifying details in ``text``, in order, without overlaps (the earliest, then longest, wins)."""
    found: list[Identifier] = []
    for label, pattern in _patterns():
        for m in pattern.finditer(text):
            group = "value" if "value" in pattern.groupindex else 0
            start, end = m.span(group)
            if end > start:
                found.append(Identifier(label, start, end, m.group(group)))
    found.sort(key=lambda i: (i.start, -(i.end - i.start)))
    kept: list[Identifier] = []
    for item in found:
        if not kept or item.start >= kept[-1].end:
            kept.append(item)
    return kept


def deidentify(text: str) -> tuple[str, list[Identifier]]:
    """``text`` with each identifier replaced by ``[label]``, and what was replaced."""
    found = find_identifiers(text)
    out = []
    at = 0
    for item in found:
        out.append(text[at : item.start])
        out.append(f"[{item.label}]")
        at = item.end
    out.append(text[at:])
    return "".join(out), found


def describe(found: list[Identifier]) -> str:
    """``"a name and a date of birth"``: what was removed, for the reader's notice."""
    labels = list(dict.fromkeys(i.label for i in found))
    parts = [f"an {label}" if label[0] in "aeiou" else f"a {label}" for label in labels]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def question_for_saving(question: str, settings: Settings) -> tuple[str, ArticleWarning | None]:
    """The question to search and save, identifying details cut (``settings.question_identifiers``),
    and the ``identifiers-removed`` warning that tells the asker what went."""
    if settings.question_identifiers == "keep":
        return question, None
    clean, found = deidentify(question)
    if not found:
        return question, None
    what = describe(found)
    return clean, ArticleWarning(
        "identifiers-removed",
        f"{what[0].upper()}{what[1:]} {'was' if len(found) == 1 else 'were'} removed from the question "
        "before it was searched and saved: questions go to the editorial team.",
    )
