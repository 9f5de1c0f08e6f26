"""Rerankers: reorder fused candidates with a closer look at each one.

No cross-encoder with bundled weights exists on the package registries this
project can reach, so the default reranker is a transparent one: it rewards
candidates that mention every key concept of the question (in any of its
spellings, synonyms or narrower terms) over candidates that match one concept
many times.  An LLM-scored reranker can register under the same protocol.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

from curbside.config import Settings
from curbside.types import Hit, Query

_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


class Reranker(Protocol):
    name: str

    def rerank(self, query: Query, hits: Sequence[Hit]) -> list[Hit]:
        """Return ``hits`` with ``rerank`` and ``score`` set, best first."""
        ...


class NoReranker:
    """Keeps the fused order (``--rerank none``)."""

    name = "none"

    def __init__(self, settings: Settings | None = None) -> None:
        pass

    def rerank(self, query: Query, hits: Sequence[Hit]) -> list[Hit]:
        return sorted(hits, key=lambda h: h.score, reverse=True)


@functools.lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    # A light suffix strip so "leukopenic"/"leukopenia" and "infections"/"infection" meet.
    for suffix in ("ies", "es", "s", "ic", "ia", "al"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _terms(text: str) -> set[str]:
    # Stem each distinct word once: a passage repeats most of its words.
    return {_stem(w) for w in set(_WORD.findall(text.lower()))}


class ConceptCoverageReranker:
    """Score = fused score x (floor + (1 - floor) x share of question concepts the passage covers).

    A concept counts as covered when all words of any of its expressions occur
    in the title or passage.  Questions without recognised concepts fall back to
    their keywords, each keyword acting as a concept.
    """

    name = "concept"

    def __init__(self, settings: Settings | None = None, *, floor: float = 0.6) -> None:
        self.floor = floor

    def _expressions(self, query: Query) -> list[list[set[str]]]:
        groups: list[list[set[str]]] = []
        for concept in query.concepts:
            variants = {concept.text, concept.preferred, *concept.synonyms, *concept.narrower}
            groups.append([t for t in (_terms(v) for v in variants) if t])
        if not groups:
            groups = [[_terms(k)] for k in query.keywords if _terms(k)]
        return [g for g in groups if g]

    def rerank(self, query: Query, hits: Sequence[Hit]) -> list[Hit]:
        groups = self._expressions(query)
        if not groups:
            return sorted(hits, key=lambda h: h.score, reverse=True)
        out = []
        for hit in hits:
            words = _terms(f"{hit.document.title} {hit.chunk.text}")
            covered = sum(1 for group in groups if any(expr <= words for expr in group))
            factor = self.floor + (1 - self.floor) * covered / len(groups)
            out.append(replace(hit, rerank=factor, score=hit.score * factor))
        return sorted(out, key=lambda h: h.score, reverse=True)
