"""Small helpers for the words curbside shows people: counts with the right plural."""

from __future__ import annotations

import unicodedata

# Nouns whose plural is not the singular plus "s".
_IRREGULAR = {"query": "queries", "study": "studies", "summary": "summaries", "analysis": "analyses"}


def plural_of(noun: str) -> str:
    """``claim`` -> ``claims``, ``study`` -> ``studies``; a noun already plural (``chunks``) stays."""
    return _IRREGULAR.get(noun, noun if noun.endswith("s") else noun + "s")


def singular_of(noun: str) -> str:
    """``chunks`` -> ``chunk``, ``studies`` -> ``study``: the inverse of :func:`plural_of`."""
    if noun in _IRREGULAR:
        return noun
    for one, many in _IRREGULAR.items():
        if noun == many:
            return one
    return noun[:-1] if noun.endswith("s") and not noun.endswith("ss") else noun


def count(n: int, noun: str) -> str:
    """``1 claim``, ``2 claims``, ``12,000 chunks``: ``noun`` in either number, thousands separated."""
    word = singular_of(noun) if n == 1 else plural_of(singular_of(noun))
    return f"{n:,} {word}"


def printable(text: str) -> str:
    """``text`` safe for a terminal or a log line: control and format characters shown escaped.

    A newline in a stored value would forge a line of its own, an ANSI escape would
    drive the terminal, and a bidi override would reorder what is shown: each
    becomes ``\\uXXXX`` text instead.
    """
    return "".join(
        f"\\u{ord(c):04x}" if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text
    )
