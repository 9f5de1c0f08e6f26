"""Yes/no verdicts from polarity cues in the evidence, without a language model.

:func:`assess_yesno` reads the result and conclusion sentences of the top three
hits and weighs cues of a positive finding ("significantly", "associated
with", "reduced", p <= 0.05, a ratio whose 95% CI excludes 1) against cues of a
null or negative one ("no significant difference", "did not", "failed to",
p > 0.05, a CI that includes 1), weighting each sentence by its hit's rank,
its section, its overlap with the question and how much of the whole question
its document covers relative to the best-matching hit.  Hedges ("may", "unclear",
"further studies") can make a near-balanced answer "uncertain", and no cue at
all always does: the sources do not say.

The rules were tuned on PubMedQA (500 expert-labelled questions, see
``tests/test_extractive.py``), whose contexts *exclude* the abstract's
conclusion, so they work on results sentences rather than the authors'
summary.  Accuracy there is 0.61 against a 0.55 majority baseline with only
the question's own abstract as evidence, and 0.568 when the abstract must
first be retrieved from a 51k-document store (``bench/answer.py``, hybrid): a
verdict is a pointer to the evidence sections, not a substitute for them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from curbside.answer.arms import favours
from curbside.answer.polarity import sentence_polarity
from curbside.answer.sentences import (
    Candidate,
    QueryTerms,
    candidate_sentences,
    cues,
    document_text,
    query_terms,
    section_weight,
    stems,
)
from curbside.answer.valence import valence
from curbside.datafiles import load_data, rules_of
from curbside.ingestion.chunking import is_title_chunk
from curbside.types import Hit, Query, YesNo

__all__ = [
    "NEGATIVE_WEIGHT",
    "YesNoAssessment",
    "assess_yesno",
    "question_flags",
    "signal",
]

_RULES: Final = load_data(
    "yesno.json",
    "yes/no cues",
    rules_of("clause_split", "equivalence_question", "safety_question", "no_harm"),
)

_CLAUSE_SPLIT: Final = re.compile(_RULES["clause_split"], re.IGNORECASE)
#: Questions asking whether two things are alike: a significant difference answers them "no".
_EQUIVALENCE_QUESTION: Final = cues(*_RULES["equivalence_question"])
#: Questions asking whether something is safe: "no complications" answers them "yes".
_SAFETY_QUESTION: Final = cues(*_RULES["safety_question"])
_NO_HARM: Final = cues(*_RULES["no_harm"])
#: One negative cue outweighs one positive: null results are stated once, effects several ways.
NEGATIVE_WEIGHT: Final = 1.5
_RANK_WEIGHTS: Final = (1.0, 0.6, 0.4)
#: How steeply a document that covers less of the question than the best one is weighed down.
_COVERAGE_POWER: Final = 8


def signal(text: str, terms: QueryTerms, equivalence: bool, safety: bool) -> tuple[float, float, float]:
    """Polarity of a sentence, clause by clause, each clause weighted by its overlap with the question.

    "X was not associated with A but was associated with B": the clause that
    shares more words with the question counts more.  For a question about
    sameness polarity flips; for one about safety "no complications" is positive.  A clause
    whose evaluative cue credits the other arm of the question ("better in the
    non-surgery group"; :mod:`curbside.answer.arms`) counts against it.
    """
    clauses = [c for c in _CLAUSE_SPLIT.split(text) if c.strip()] or [text]
    pos = neg = hedge = 0.0
    for clause in clauses:
        weight = 1.0 if len(clauses) == 1 else 0.4 + terms.overlap(stems(clause))
        p, n, h = sentence_polarity(clause)
        if safety:
            harmless = len(_NO_HARM.findall(clause))
            n, p = max(0.0, n - harmless), p + harmless
        # Sameness flips every finding; a comparison, only one that credits the other arm; a question
        # about a good outcome, a finding of a bad one ("more aggressive" for "better prognosis?").
        flip = equivalence or (terms.arms is not None and favours(clause, terms.arms) < 0)
        if terms.direction and terms.direction * valence(clause) < 0:
            flip = not flip
        if flip:
            p, n = n, p
        pos, neg, hedge = pos + weight * p, neg + weight * n, hedge + weight * h
    return pos, neg, hedge


def question_flags(query: Query) -> tuple[bool, bool]:
    """(asks about sameness, asks about safety): how :func:`signal` should read the evidence."""
    return bool(_EQUIVALENCE_QUESTION.search(query.text)), bool(_SAFETY_QUESTION.search(query.text))


@dataclass(frozen=True, slots=True)
class YesNoAssessment:
    """A yes/no verdict with its basis: the weighted cue mass and the sentence that carries it."""

    verdict: YesNo
    balance: float  # (positive - negative) / mass, in [-1, 1]
    positive: float
    negative: float
    hedge: float
    lead: Candidate | None  # the sentence that best states the verdict
    conflict: bool  # one top document reads clearly positive, another clearly negative
    polarity: dict[tuple[str, int], float] = field(default_factory=dict)  # candidate key -> signed polarity
    probability: float | None = None  # P(yes) from the learned verdict model; None from the rules


def _verdict_weight(c: Candidate) -> float:
    """How much a sentence counts: results and conclusions of the best hits that match the question."""
    label = section_weight(c.label)
    if label < 0.9:
        label *= 0.3  # background and methods state the question, not the answer
    return _RANK_WEIGHTS[c.rank] * label * (0.25 + c.own) * min(1.0, c.quality * 1.5)


def _coverage(terms: QueryTerms, hits: Sequence[Hit]) -> dict[str, float]:
    """Document id -> (its share of the question / the best document's share) ** power.

    A verdict should rest on the sources that match the *whole* question: a hit
    that shares only some of its terms (another drug, another outcome) is
    weighed down steeply rather than left to tip the balance.
    """
    shares: dict[str, float] = {}
    for hit in hits:
        doc = hit.document
        if doc.id not in shares:
            shares[doc.id] = terms.overlap(stems(document_text(doc)))
    best = max(shares.values(), default=0.0)
    if best <= 0:
        return dict.fromkeys(shares, 1.0)
    return {doc_id: (share / best) ** _COVERAGE_POWER for doc_id, share in shares.items()}


def assess_yesno(
    query: Query,
    hits: Sequence[Hit],
    *,
    candidates: Sequence[Candidate] | None = None,
    no_threshold: float = -0.1,
) -> YesNoAssessment:
    """Decide yes / no / uncertain from the sentences of the top three hits.

    Each sentence's polarity (positive cues minus :data:`NEGATIVE_WEIGHT` times
    negative ones) is weighted by its hit's rank, its section and its overlap
    with the question; the balance is their sum over the larger of the cue mass
    and the total weight, so a few cues among many neutral sentences count
    little.  No cue at all is "uncertain" (the sources do not say); a balance
    below ``no_threshold`` is "no"; hedges ("may", "unclear", "further
    studies") that outweigh all cues with a balance near zero are "uncertain";
    anything else is "yes".
    """
    # A title-only record's title announces a topic; it is no finding for or against a verdict,
    # and its hit must not take one of the top places either.
    hits = [h for h in hits if not is_title_chunk(h.chunk)]
    cands = list(candidates) if candidates is not None else candidate_sentences(query, hits)
    cands = [c for c in cands if c.part == "body"]
    terms = query_terms(query)
    equivalence, safety = question_flags(query)
    pos = neg = hedge = total = 0.0
    per_doc: dict[str, float] = {}
    polarity: dict[tuple[str, int], float] = {}
    best: dict[int, tuple[float, Candidate]] = {}  # direction -> strongest sentence
    coverage = _coverage(terms, hits)
    for c in cands:
        if c.rank >= len(_RANK_WEIGHTS):
            continue
        base = _verdict_weight(c)
        weight = base * coverage.get(c.document.id, 0.0)
        p, n, h = signal(c.text, terms, equivalence, safety)
        signed = p - NEGATIVE_WEIGHT * n
        polarity[c.key] = signed
        pos, neg, hedge, total = (
            pos + weight * p,
            neg + weight * NEGATIVE_WEIGHT * n,
            hedge + weight * h,
            total + weight,
        )
        # Conflicts are judged without the coverage weight: a dissenting source must not be hidden.
        per_doc[c.document.id] = per_doc.get(c.document.id, 0.0) + base * signed
        direction = (signed > 0) - (signed < 0)
        # The lead must state the answer about *this* question: relevance counts twice, cue count is capped.
        strength = weight * (0.25 + c.own) * (min(abs(signed), 2.0) if direction else 0.1)
        if direction not in best or strength > best[direction][0]:
            best[direction] = (strength, c)
    balance = (pos - neg) / max(pos + neg, total) if total else 0.0
    verdict: YesNo
    if pos + neg == 0:
        verdict = "uncertain"
    elif balance < no_threshold:
        verdict = "no"
    elif hedge > pos + neg and abs(balance) < 0.2:
        verdict = "uncertain"
    else:
        verdict = "yes"
    want = {"yes": 1, "no": -1, "uncertain": 0}[verdict]
    chosen = best.get(want) or best.get(0)
    conflict = any(v >= 1.0 for v in per_doc.values()) and any(v <= -1.0 for v in per_doc.values())
    return YesNoAssessment(
        verdict, balance, pos, neg, hedge, chosen[1] if chosen else None, conflict, polarity
    )
