"""curbside's versioned data files (``curbside/data/*.json``): the word lists and patterns that are
knowledge, not code, read one way, with one error for a file that is missing or malformed."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from importlib import resources
from typing import Any, TypeVar

from curbside.errors import ConfigError

T = TypeVar("T")


def load_data(name: str, what: str, build: Callable[[Any], T]) -> T:
    """``build`` applied to the parsed JSON of ``data/<name>``; any failure to read, parse or build
    (a missing key, a bad regular expression) is a :class:`ConfigError` naming the file and ``what``."""
    try:
        return build(json.loads(resources.files("curbside").joinpath(f"data/{name}").read_text("utf-8")))
    except (OSError, ValueError, KeyError, TypeError, re.error) as exc:
        raise ConfigError(f"curbside/data/{name}: cannot read the {what}: {exc}") from exc


def alternation(words: Iterable[str]) -> str:
    """A regular-expression alternation of literal ``words``, longest first (so "in this study"
    wins over "in")."""
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


def cues(*alternatives: str) -> re.Pattern[str]:
    """A case-insensitive pattern matching any ``|``-separated alternative at a word start: how the
    cue lists of the data files are read."""
    return re.compile(r"\b(?:" + "|".join(alternatives) + ")", re.IGNORECASE)


def any_of(patterns: Iterable[str]) -> str:
    """One regular expression matching any of ``patterns``."""
    return "|".join(f"(?:{p})" for p in patterns)


def rules_of(*keys: str) -> Callable[[Any], dict[str, Any]]:
    """A ``build`` for :func:`load_data` that checks the file holds every one of ``keys`` (a missing
    one is the file's error, named at start-up, not a ``KeyError`` deep in a run)."""

    def build(data: Any) -> dict[str, Any]:
        missing = [k for k in keys if k not in data]
        if missing:
            raise KeyError(", ".join(missing))
        return {k: data[k] for k in keys}

    return build
