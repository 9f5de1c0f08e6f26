"""Counts read as English: one claim, two claims."""

from __future__ import annotations

import pytest

from curbside.wording import count, plural_of, singular_of


@pytest.mark.parametrize(
    ("n", "noun", "text"),
    [
        (1, "claims", "1 claim"),
        (1, "claim", "1 claim"),
        (0, "claim", "0 claims"),
        (2, "claims", "2 claims"),
        (12_000, "chunk", "12,000 chunks"),
        (1, "studies", "1 study"),
        (3, "study", "3 studies"),
        (1, "bytes", "1 byte"),
        (1, "analysis", "1 analysis"),
    ],
)
def test_count_agrees_in_number(n: int, noun: str, text: str) -> None:
    assert count(n, noun) == text


def test_plural_and_singular_are_inverse() -> None:
    for noun in ("claim", "query", "passage", "record", "summary"):
        assert singular_of(plural_of(noun)) == noun
