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
from typing import Final, Protocol

from curbside.config import Settings
from curbside.datafiles import load_data, rules_of
from curbside.types import Hit, Query

_RULES: Final = load_data("rerank.json", "reranker word lists", rules_of("frame_words"))
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


#: "Does X affect Y?", "Is X associated with Y?": the verbs and nouns of the question's frame.
_FRAME_WORDS = frozenset(_RULES["frame_words"])

_ENDINGS = ("", "s", "ic", "ia", "al", "ics", "ias", "als", "ical", "icals", "ial", "ials")


@functools.lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    """A light suffix strip, repeated, so "leukopenias", "leukopenia" and "leukopenic" meet.

    Plurals lose ``s`` (not ``ss``/``us``/``is``) or turn ``ies`` into ``y`` ("therapies"
    -> "therapy"), never ``es``, which would make "medicines" and "medicine" differ.
    """
    while True:
        if len(word) > 5 and word.endswith("ies"):
            word = word[:-3] + "y"
        elif len(word) > 4 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
            word = word[:-1]
        elif len(word) > 5 and word.endswith(("ic", "ia", "al")):
            word = word[:-2]
        else:
            return word


@functools.lru_cache(maxsize=1 << 14)
def _forms(stem: str) -> frozenset[str]:
    """The words that :func:`_stem` reduces to ``stem``, among the endings it strips."""
    candidates = {stem + ending for ending in _ENDINGS}
    if stem.endswith("y"):
        candidates.add(stem[:-1] + "ies")
    return frozenset(w for w in candidates if _stem(w) == stem)


def _terms(text: str) -> set[str]:
    # Stem each distinct word once: a phrase repeats few words, but a term list many.
    return {_stem(w) for w in set(_WORD.findall(text.lower()))}


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _covers(expression: tuple[frozenset[str], ...], words: set[str]) -> bool:
    return all(not forms.isdisjoint(words) for forms in expression)


class ConceptCoverageReranker:
    """Score = fused score x (floor + (1 - floor) x share of question concepts the passage covers).

    A concept counts as covered when all words of any of its expressions occur
    in the title or passage.  Keywords of the question that are not part of a
    recognised concept each count as a concept of their own.
    """

    name = "concept"

    def __init__(self, settings: Settings | None = None, *, floor: float = 0.6) -> None:
        self.floor = floor

    def _expressions(self, query: Query) -> list[list[tuple[frozenset[str], ...]]]:
        """Per concept, its expressions; per expression, per word, the word forms that match it.

        Matching the passage's own words against a few precomputed forms costs one set
        lookup per form, where stemming every passage word cost most of a query's time.
        """
        groups: list[list[set[str]]] = []
        written: set[str] = set()
        for concept in query.concepts:
            variants = {concept.text, concept.preferred, *concept.synonyms, *concept.narrower}
            groups.append([t for t in (_terms(v) for v in variants) if t])
            written |= _terms(concept.text)
        # Keywords that are not part of a recognised concept count on their own, except the
        # words that frame a research question rather than name its subject.
        groups += [
            [t]
            for t in (_terms(k) for k in query.keywords if k not in _FRAME_WORDS)
            if t and not t <= written
        ]
        return [[tuple(_forms(stem) for stem in sorted(expr)) for expr in g] for g in groups if g]

    def rerank(self, query: Query, hits: Sequence[Hit]) -> list[Hit]:
        groups = self._expressions(query)
        if not groups:
            return sorted(hits, key=lambda h: h.score, reverse=True)
        out = []
        titles: dict[str, set[str]] = {}
        for hit in hits:
            doc_id = hit.document.id
            if doc_id not in titles:
                titles[doc_id] = _words(hit.document.title)
            words = titles[doc_id] | _words(hit.chunk.text)
            covered = sum(1 for group in groups if any(_covers(expr, words) for expr in group))
            factor = self.floor + (1 - self.floor) * covered / len(groups)
            out.append(replace(hit, rerank=factor, score=hit.score * factor))
        return sorted(out, key=lambda h: h.score, reverse=True)


class LearnedReranker:
    """The concept reranker, then the learned relevance model's passage head (:mod:`curbside.models.relevance`).

    The model scores each candidate from its words, its subject coverage and its
    retrieval ranks (it was trained on what the concept reranker hands it), and the
    candidates are ordered by that score.  Without a model (``CURBSIDE_RELEVANCE_MODEL=none``
    or none installed) it is the concept reranker alone.
    """

    name = "relevance"

    def __init__(self, settings: Settings | None = None) -> None:
        from curbside.models.relevance import load_relevance

        self.concept = ConceptCoverageReranker(settings)
        self.model = load_relevance(settings) if settings is not None else None

    def rerank(self, query: Query, hits: Sequence[Hit]) -> list[Hit]:
        ranked = self.concept.rerank(query, hits)
        if self.model is None or not ranked:
            return ranked
        scores = self.model.score_passages(query, ranked)
        out = [replace(h, rerank=float(p), score=float(p)) for h, p in zip(ranked, scores, strict=True)]
        return sorted(out, key=lambda h: h.score, reverse=True)
