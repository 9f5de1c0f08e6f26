"""What a question is about: its subject terms, weighted by how rare they are in the corpus.

"What is the mechanism of action of givosiran?" is about givosiran; "mechanism"
and "action" only say which kind of answer is wanted (the question's *frame*,
listed in ``data/question_frame.json``).  Counting every word alike let a
sentence about "the mechanism of action" of anything look relevant, and the
on-topic filter then dropped the documents that named the drug.

:func:`subject_of` keeps the question's content terms (its vocabulary concepts
and the keywords no concept covers, frame words left out) and weighs each by its
inverse document frequency in the store.  A term the corpus has never seen
weighs as much as the rarest one: an unknown name is the subject, never noise.
:func:`mentions` finds a term in a text whatever its spelling of a numbered name
("topoisomeraseII", "topoisomerase II", "topoisomerase-II", "IL6", "IL-6").
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from curbside.datafiles import load_data
from curbside.retrieval.vocabulary import americanise, natural_order
from curbside.store.base import Store
from curbside.types import Query

_WORD = re.compile(r"[a-z0-9]+")
# A numbered name: letters, then (after a space or hyphen, or none) digits or a roman numeral.
_NUMBERED = re.compile(r"^([a-z]{2,}?)[\s-]?(\d+[a-z]?|i{1,3}|iv|vi{0,3}|ix|x)$")


@functools.cache
def _frame() -> tuple[frozenset[str], frozenset[str]]:
    return load_data(
        "question_frame.json",
        "question frame words",
        lambda data: (frozenset(data["frame"]), frozenset(data["answer_types"])),
    )


def frame_words() -> frozenset[str]:
    """Words that say what kind of answer is wanted ("mechanism", "adverse", "treatment")."""
    return _frame()[0]


def fold(text: str) -> str:
    """Lower case, American spelling, words separated by single spaces (the form matching is done on)."""
    return " ".join(_WORD.findall(americanise(text.lower())))


def spellings(term: str) -> frozenset[str]:
    """The folded forms of ``term`` a text may use: "topoisomerase ii", "topoisomeraseii", "il 6", "il6",
    and its last word's plural or singular."""
    folded = fold(term)
    if not folded:
        return frozenset()
    forms = {folded}
    words = folded.split(" ")
    for i, word in enumerate(words):
        match = _NUMBERED.match(word)
        if match and len(match.group(1)) >= 2:  # "topoisomeraseii" -> "topoisomerase ii"
            forms.add(" ".join([*words[:i], match.group(1), match.group(2), *words[i + 1 :]]))
        if i + 1 < len(words) and _NUMBERED.match(f"{word} {words[i + 1]}"):  # "il 6" -> "il6"
            forms.add(" ".join([*words[:i], word + words[i + 1], *words[i + 2 :]]))
    # The plural or singular of the last word: "tsDMARD" names "tsDMARDs", "statins" names "statin".
    last = words[-1]
    if len(last) > 3 and last.isalpha() and not last.endswith(("ss", "is", "us")):
        other = last[:-1] if last.endswith("s") else last + "s"
        forms |= {f[: len(f) - len(last)] + other for f in forms if f.endswith(last)}
    return frozenset(forms)


@dataclass(frozen=True, slots=True)
class SubjectTerm:
    """One thing the question is about, with the spellings a text may use and its weight."""

    text: str
    forms: frozenset[str]
    weight: float  # the term's share of the subject (weights sum to 1)
    idf: float


@dataclass(frozen=True, slots=True)
class Subject:
    """The question's content terms, heaviest (rarest) first."""

    terms: tuple[SubjectTerm, ...]

    @property
    def main(self) -> SubjectTerm | None:
        return self.terms[0] if self.terms else None

    @property
    def main_forms(self) -> frozenset[str]:
        """The spellings of the main subject (none when the question has none)."""
        return self.terms[0].forms if self.terms else frozenset()

    def coverage(self, text: str) -> float:
        """Weight of the subject terms ``text`` mentions, in [0, 1]."""
        folded = f" {fold(text)} "
        return sum(t.weight for t in self.terms if _found(t.forms, folded))

    def addressed_by(self, text: str) -> bool:
        """Whether ``text`` names the main subject and at least half the subject's weight: a finding
        about what a yes/no question asks, whatever a relevance model scores it."""
        return self.mentions_main(text) and self.coverage(text) >= 0.5

    def mentions_main(self, text: str) -> bool:
        """Whether ``text`` names the main subject (every text does when the question has none)."""
        main = self.main
        return main is None or _found(main.forms, f" {fold(text)} ")


def _found(forms: Iterable[str], padded: str) -> bool:
    return any(f" {form} " in padded for form in forms)


def mentions(term: str, text: str) -> bool:
    """Whether ``text`` uses ``term`` in any of its spellings, as whole words."""
    return _found(spellings(term), f" {fold(text)} ")


def with_word_counts(query: Query, store: Store) -> Query:
    """``query`` with how many of the store's chunks hold each of its words (see :func:`subject_of`)."""
    words = sorted(
        {w for k in query.keywords for w in fold(k).split()}
        | {w for c in query.concepts for w in fold(c.text).split()} - frame_words()
    )
    if not words:
        return query
    counts = store.word_counts(words)
    chunks = store.vector_coverage("").chunks  # the chunk count; no model has the empty name
    return replace(query, word_counts=tuple(sorted(counts.items())), corpus_chunks=chunks)


@functools.lru_cache(maxsize=512)
def subject_of(query: Query) -> Subject:
    """The subject of ``query``, weighed by its ``word_counts`` (all content terms alike without them)."""
    return _subject(query, dict(query.word_counts), query.corpus_chunks)


def _subject(query: Query, document_frequency: Mapping[str, int], documents: int) -> Subject:
    frame = frame_words()
    candidates: list[tuple[str, frozenset[str]]] = []
    covered: set[str] = set()
    for concept in query.concepts:
        # A narrower heading names the subject too: a claim about neutropenia is about leukopenia.
        names = (concept.text, natural_order(concept.preferred), *concept.synonyms, *concept.narrower)
        forms = frozenset(f for name in names for f in spellings(name))
        words = set(fold(concept.text).split())
        if words and words <= frame:
            continue  # a concept named only by frame words ("Drug Therapy"): the question's kind
        covered |= {w for f in forms for w in f.split()}
        candidates.append((concept.text, forms))
    for word in query.keywords:
        folded = fold(word)
        if not folded or folded in frame or set(folded.split()) <= covered:
            continue
        candidates.append((word, spellings(word)))
    if not candidates:
        return Subject(())
    idfs = [_idf(text, document_frequency, documents) for text, _ in candidates]
    total = sum(idfs)
    terms = [
        SubjectTerm(text, forms, idf / total if total else 1 / len(candidates), idf)
        for (text, forms), idf in zip(candidates, idfs, strict=True)
    ]
    return Subject(tuple(sorted(terms, key=lambda t: -t.idf)))


def _idf(text: str, document_frequency: Mapping[str, int], documents: int) -> float:
    if not document_frequency or documents <= 0:
        return 1.0
    # An unknown term (df 0) is as rare as a term can be: the subject, not noise.
    df = min((document_frequency.get(w, 0) for w in fold(text).split()), default=0)
    return math.log((documents + 1) / (df + 1)) + 1.0
