"""A learned yes/no verdict: does the evidence say yes or no to the question, and how surely?

The cue-word rules it replaces fitted trial abstracts, read the first chunk of an
abstract (its aims and methods), and said "yes" by default: on 618 BioASQ yes/no
questions they did worse than always answering "yes".  This model reads the
*results and conclusions* of the best evidence, from the whole abstract of each
top document, and is trained on expert answers (BioASQ 7B and 8B yes/no questions
and PubMedQA; ``curbside train verdict``), selected on 9B.

Features of one question (:func:`verdict_features`): over the :data:`EVIDENCE`
most relevant results/conclusion sentences (relevance from :mod:`curbside.models.relevance`
when installed), the relevance-weighted mean of their MiniLM vectors and of their
element-wise product with the question's vector, and the weighted mean and maximum
of their polarity cues (positive findings, null or negative findings, hedges;
:func:`curbside.answer.yesno.signal`, which also reads sameness and safety
questions the right way round), and how much of the question's subject the
evidence names (:func:`coverage_cues`: a "no" is often evidence about the main
subject that never mentions the second term).  A logistic regression gives P(yes).
Training chooses on 9B between the cue features alone and cues with the vectors
(``info["feature_set"]``): 768 vector features on about 1,500 questions can fit
noise, and the choice is made on held-out questions, not assumed.

"uncertain" is said only when the evidence does not address the question (no
evidence sentence names any of the question's subject terms); otherwise the answer is yes or no,
with its confidence (:func:`confidence_label`).  Without the model file curbside
keeps the cue-word rules and says so in the article's metadata.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Final

import numpy as np
from numpy.typing import NDArray

from curbside.models.logistic import LogisticModel
from curbside.models.relevance import model_file, section_kind
from curbside.retrieval.subject import Subject

if TYPE_CHECKING:
    from curbside.config import Settings
    from curbside.retrieval.embeddings import Embedder
    from curbside.types import Query

MODEL_FILE: Final = "models/verdict.npz"
FORMAT: Final = 2
#: Evidence sentences a verdict reads.
EVIDENCE: Final = 6
CUE_NAMES: Final = ("positive", "negative", "hedge", "signed", "max_positive", "max_negative", "relevance",
                    "equivalence", "safety", "agree_share", "coverage_union", "coverage_best",
                    "main_found", "evidence_count")  # fmt: skip
FEATURE_SETS: Final = ("cues", "all")


@dataclass(frozen=True)
class Evidence:
    """One sentence a verdict may rest on, with its relevance to the question and its cue counts."""

    text: str
    relevance: float
    label: str  # abstract section label
    positive: float
    negative: float
    hedge: float

    @property
    def signed(self) -> float:
        return self.positive - self.negative


def choose_evidence(candidates: Sequence[Evidence]) -> list[Evidence]:
    """The most relevant results and conclusions sentences (others only when there are none)."""
    findings = [e for e in candidates if section_kind(e.label) in ("results", "conclusions", "other")]
    pool = findings or list(candidates)
    return sorted(pool, key=lambda e: -e.relevance)[:EVIDENCE]


def coverage_cues(subject: Subject, evidence: Sequence[Evidence]) -> tuple[float, float, float]:
    """(subject weight named anywhere in ``evidence``, in its best sentence, whether the main term is named)."""
    if not evidence or not subject.terms:
        return (0.0, 0.0, 0.0)
    union = subject.coverage(" ".join(e.text for e in evidence))
    best = max(subject.coverage(e.text) for e in evidence)
    main = float(any(subject.mentions_main(e.text) for e in evidence))
    return (union, best, main)


def verdict_features(
    question_vector: NDArray[np.float32],
    evidence: Sequence[Evidence],
    vectors: NDArray[np.float32],
    flags: tuple[bool, bool],
    coverage: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> NDArray[np.float32]:
    """The feature vector of a question with its chosen ``evidence`` (``vectors``: their embeddings;
    ``coverage``: :func:`coverage_cues`).  The cue features come last, so that a cues-only model
    reads the tail."""
    dim = question_vector.shape[0]
    if not evidence:
        return np.zeros(2 * dim + len(CUE_NAMES), dtype=np.float32)
    weights = np.asarray([max(e.relevance, 1e-3) for e in evidence], dtype=np.float32)
    weights /= weights.sum()
    mean_vector = weights @ vectors
    mean_product = weights @ (vectors * question_vector[None, :])
    pos = np.asarray([e.positive for e in evidence], np.float32)
    neg = np.asarray([e.negative for e in evidence], np.float32)
    hedge = np.asarray([e.hedge for e in evidence], np.float32)
    signed = pos - neg
    cues = [
        float(weights @ pos),
        float(weights @ neg),
        float(weights @ hedge),
        float(weights @ signed),
        float(pos.max()),
        float(neg.max()),
        float(max(e.relevance for e in evidence)),
        float(flags[0]),
        float(flags[1]),
        float(weights @ np.sign(signed)),
        *coverage,
        float(len(evidence)),
    ]
    return np.concatenate([mean_vector, mean_product, np.asarray(cues, np.float32)]).astype(np.float32)


class VerdictModel(LogisticModel):
    """Logistic regression over :func:`verdict_features`, with its scaling and what it was trained on;
    ``threshold`` is the P(yes) at or above which it answers yes."""

    kind = "verdict"
    format = FORMAT

    @property
    def name(self) -> str:
        return f"verdict-{self.info.get('version', '?')}"

    @property
    def feature_set(self) -> str:
        return str(self.info.get("feature_set", "all"))

    def probability(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        x = np.atleast_2d(x)
        if self.feature_set == "cues":
            x = x[:, -len(CUE_NAMES) :]
        return self.logistic(x)

    def judge(
        self,
        query: Query,
        evidence: Sequence[Evidence],
        embedder: Embedder,
        flags: tuple[bool, bool],
        coverage: tuple[float, float, float] = (0.0, 0.0, 0.0),
    ) -> float:
        """P(yes) for ``query`` from its chosen ``evidence``."""
        return float(self.probability(question_features(query, evidence, embedder, flags, coverage))[0])


def question_features(
    query: Query,
    evidence: Sequence[Evidence],
    embedder: Embedder,
    flags: tuple[bool, bool],
    coverage: tuple[float, float, float],
) -> NDArray[np.float32]:
    """:func:`verdict_features` of ``query``, embedding the question and its evidence."""
    vectors = embedder.embed([query.text, *(e.text for e in evidence)])
    return verdict_features(vectors[0], evidence, vectors[1:], flags, coverage)


def confidence_label(p_yes: float) -> str:
    """How sure a verdict is, from P(yes): high beyond 0.85 either way, moderate beyond 0.7, else low."""
    sure = max(p_yes, 1 - p_yes)
    return "high" if sure >= 0.85 else "moderate" if sure >= 0.7 else "low"


def packaged_model() -> Path:
    return Path(str(resources.files("curbside").joinpath(MODEL_FILE)))


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime: float) -> VerdictModel:
    return VerdictModel.load(Path(path))


def load_verdict(settings: Settings) -> VerdictModel | None:
    """The configured model, or ``None`` for ``none`` or a missing packaged file (cue-word rules)."""
    path = model_file(
        settings.verdict_model, packaged_model(), "CURBSIDE_VERDICT_MODEL", "curbside train verdict"
    )
    return None if path is None else _load_cached(str(path), path.stat().st_mtime)
