"""Whether a sentence a language model composed says anything its cited claims do not.

The composer (:mod:`curbside.answer.compose`) asks a model to rewrite verified,
quoted claims as prose.  A small model paraphrases well and invents quietly: a
dose, a drug, a dropped "not".  Each composed sentence must pass every check
below against the claims it cites, or the claims are shown as the quotes they are.

* **numbers**: every number in the sentence is a number of the cited claims;
* **names**: every MeSH concept the sentence names (a drug, a condition) is named by
  the cited claims (matched by descriptor, so "leucopenia" may stand for
  "leukopenia"), and so is every technical token ("ChAdOx1", "IL-6", "G-CSF") and
  every capitalised word inside the sentence;
* **negation**: the sentence denies something ("no", "not", "without") exactly when
  a cited claim does;
* **setting**: a claim shown with a setting ("In mice", "In patients with lupus")
  keeps it: the sentence names the species or the population;
* **the question's subject**: the sentence may name the question's own concepts, and
  must, where a cited claim does ("hairy cell leukaemia ... with leukopenia" is no
  cause of leukopenia once the leukopenia is left out);
* **every claim said**: each cited claim shares a distinctive word with the sentence
  (a sentence citing five case reports must name what they report, not just
  "medications");
* **similarity**: the sentence means what its claims say: the cosine of its vector
  with theirs is at least :data:`MIN_SIMILARITY` (with an embedder).

The word lists live in ``data/compose_checks.json``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from curbside.datafiles import alternation, load_data
from curbside.retrieval.subject import fold
from curbside.types import Claim

if TYPE_CHECKING:
    from curbside.retrieval.embeddings import Embedder
    from curbside.retrieval.vocabulary import Vocabulary

__all__ = ["MAX_NOVELTY", "MIN_SIMILARITY", "unfaithful"]

#: Least cosine (all-MiniLM-L6-v2) between a composed sentence and the claims it cites.  A
#: faithful paraphrase of a clinical sentence scores about 0.7-0.9; a sentence about something
#: else, under 0.4.
MIN_SIMILARITY: Final = 0.55
#: Most of a composed sentence's content words that its claims, the question and its heading do not use.
MAX_NOVELTY: Final = 0.25
_NUMBER: Final = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?")
_TECHNICAL: Final = re.compile(r"\b(?:[A-Za-z]+\d[\w-]*|\d+[A-Za-z][\w-]*|[A-Z][A-Z0-9]+(?:-[\w]+)*)\b")
_CAPITALISED: Final = re.compile(r"(?<=[a-z,;:)] )[A-Z][a-z]{2,}\b")


@dataclass(frozen=True)
class _Lists:
    negation: re.Pattern[str]
    allowed: frozenset[str]
    function: frozenset[str]
    qualifiers: re.Pattern[str]


@functools.cache
def _lists() -> _Lists:
    return load_data("compose_checks.json", "composed-sentence checks", _build)


def _build(data: Any) -> _Lists:
    return _Lists(
        negation=re.compile(rf"\b(?:{alternation(data['negations'])})\b", re.I),
        allowed=frozenset(w.lower() for w in data["allowed_words"]),
        function=frozenset(fold(w) for w in data["function_words"]),
        qualifiers=re.compile(rf"\b(?:{alternation(data['qualifiers'])})\b", re.I),
    )


def _numbers(text: str) -> set[str]:
    return {n.replace(",", ".") for n in _NUMBER.findall(text)}


def unfaithful(
    text: str,
    sources: Sequence[Claim],
    *,
    vocabulary: Vocabulary | None = None,
    embedder: Embedder | None = None,
    asked: Sequence[str] = (),
    framing: str = "",
) -> str | None:
    """Why ``text`` says something the ``sources`` do not, or ``None`` when it passes every check.
    ``framing``: the question and the part's heading ("Causes: Infections"), whose words and concepts
    the sentence may use.
    ``asked``: the question's concepts and their narrower terms (preferred names), which the sentence
    may always name, and must name one of where a cited claim does."""
    lists = _lists()
    said = " ".join(f"{c.context} {c.text}" for c in sources)
    folded = fold(said)
    question = {a.lower() for a in asked}
    extra = sorted(_numbers(text) - _numbers(said))
    if extra:
        return f"the number {extra[0]} is not in the cited claims"
    framed = f"{folded} {fold(framing)}"
    for token in (*_TECHNICAL.findall(text), *_CAPITALISED.findall(text)):
        if token.lower() not in lists.allowed and fold(token) not in framed:
            return f"'{token}' is not in the cited claims"
    if vocabulary is not None:
        named = {c.preferred for c in vocabulary.find(said)}
        framed_concepts = {c.preferred for c in vocabulary.find(framing)} if framing else set()
        written = {c.preferred for c in vocabulary.find(text)}
        for concept in sorted(written - named - framed_concepts):
            if concept.lower() not in question:
                return f"'{concept}' is not in the cited claims"
        kept = sorted(n for n in named if n.lower() in question)
        if kept and not any(w.lower() in question for w in written):
            return f"it leaves out what the cited claims say of {kept[0]}"
    words = _distinctive(text)
    for claim in sources:
        if not _distinctive(claim.text) & words:
            return f"it says nothing particular to a claim it cites ('{claim.text[:60]}...')"
    stems = _stems(said)
    for m in lists.qualifiers.finditer(text):
        if fold(m.group())[:5] not in stems:
            return f"it says '{m.group()}', which the cited claims do not"
    content = [
        w for w in fold(text).split() if len(w) >= 4 and w not in lists.allowed and w not in lists.function
    ]
    known = _stems(f"{said} {framing} {' '.join(asked)}")
    novel = [w for w in content if w[:5] not in known]
    if content and len(novel) / len(content) > MAX_NOVELTY:
        return f"it uses words the cited claims do not ({', '.join(novel[:4])})"
    denies = bool(lists.negation.search(text))
    if denies != any(lists.negation.search(c.text) for c in sources):
        return (
            "it denies what the cited claims state" if denies else "it drops a negation of the cited claims"
        )
    for claim in sources:
        if claim.context and not _keeps_setting(claim.context, text):
            return f"it leaves out the setting of a cited claim ('{claim.context}')"
    if embedder is not None:
        vectors = np.asarray(embedder.embed([text, *(c.text for c in sources)]), dtype=np.float32)
        norms = np.linalg.norm(vectors, axis=1) + 1e-9
        cosine = float(np.max((vectors[1:] @ vectors[0]) / (norms[1:] * norms[0])))
        if cosine < MIN_SIMILARITY:
            return (
                f"it means something else than the cited claims (similarity {cosine:.2f} < {MIN_SIMILARITY})"
            )
    return None


def _stems(text: str) -> set[str]:
    return {w[:5] for w in fold(text).split()}


def _distinctive(text: str) -> set[str]:
    """Words of five letters or more, cut to five (a crude stem: "treated", "treatment")."""
    return {w[:5] for w in fold(text).split() if len(w) >= 5 and w not in _lists().allowed}


def _keeps_setting(context: str, text: str) -> bool:
    """Whether ``text`` names the species or population of ``context`` ("In mice" -> "mice")."""
    words = [w for w in fold(context).split() if w not in {"in", "a", "an", "the", "of", "with", "as"}]
    folded = fold(text)
    return not words or any(w in folded for w in words)
