"""Training the answer-role model (:mod:`curbside.models.roles`) on labelled sentences.

The labels (``bench/data/sentence_roles.json``) point at spans of records in named stores rather
than copying abstracts; :func:`load_labelled` reads each span back and checks it against the
label's hash, so a store rebuilt from other files cannot silently train on other text.  The threshold
is chosen by cross-validation grouped by question (no question's sentences on both sides), for the
F1 of what the synthesizer does with it: file a sentence as an answer when the cue rules place it
and the model agrees.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from curbside.errors import InputError
from curbside.models.roles import RoleModel, role_features, rule_answer
from curbside.retrieval.embeddings import Embedder
from curbside.retrieval.intent import intent_of
from curbside.retrieval.questions import analyse
from curbside.store.base import Store
from curbside.training.scorers import auc, fit_logistic

__all__ = ["Labelled", "RoleReport", "load_labelled", "train_roles"]

_FOLDS: Final = 5
_THRESHOLDS: Final = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)


@dataclass(frozen=True, slots=True)
class Labelled:
    question: str
    text: str
    title: bool
    role: str
    species: str


@dataclass(frozen=True, slots=True)
class RoleReport:
    """Cross-validated figures of the cue rules alone and of rules + model at the chosen threshold."""

    sentences: int
    questions: int
    answers: int
    auc: float
    threshold: float
    rules: tuple[float, float, float]  # precision, recall, F1 of "answer"
    gated: tuple[float, float, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "sentences": self.sentences,
            "questions": self.questions,
            "answers": self.answers,
            "auc": round(self.auc, 3),
            "threshold": self.threshold,
            "rules": dict(zip(("precision", "recall", "f1"), (round(v, 3) for v in self.rules), strict=True)),
            "rules_and_model": dict(
                zip(("precision", "recall", "f1"), (round(v, 3) for v in self.gated), strict=True)
            ),
        }


def load_labelled(path: Path, stores: Mapping[str, Store]) -> list[Labelled]:
    """The labelled sentences of ``path`` whose store is given, their text read from that store."""
    try:
        data = json.loads(path.read_text("utf-8"))
        rows = data["sentences"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: cannot read the sentence labels: {exc}") from exc
    out: list[Labelled] = []
    for n, row in enumerate(rows, 1):
        store = stores.get(row["store"])
        if store is None:
            continue
        doc = store.get_document(row["doc"])
        if doc is None:
            raise InputError(f"{path}: sentence {n} cites {row['doc']}, which the {row['store']} store lacks")
        source = doc.title if row["part"] == "title" else doc.body
        text = source[row["start"] : row["end"]]
        if hashlib.sha1(text.encode()).hexdigest()[:12] != row["sha1"]:
            raise InputError(
                f"{path}: sentence {n} ({row['doc']} {row['start']}-{row['end']}) differs in the "
                f"{row['store']} store from the text that was labelled; is it the same corpus?"
            )
        out.append(Labelled(row["question"], text, row["part"] == "title", row["role"], row["species"]))
    if not out:
        raise InputError(
            f"{path}: none of its sentences is in the stores given ({', '.join(stores) or 'none'})"
        )
    return out


def _prf(pred: NDArray[np.bool_], gold: NDArray[np.bool_]) -> tuple[float, float, float]:
    tp = float((pred & gold).sum())
    precision = tp / max(1.0, float(pred.sum()))
    recall = tp / max(1.0, float(gold.sum()))
    return precision, recall, 2 * precision * recall / max(1e-9, precision + recall)


def train_roles(
    labelled: Sequence[Labelled], embedder: Embedder, *, l2: float = 300.0, seed: int = 0
) -> tuple[RoleModel, RoleReport]:
    """Fit P(answer) on ``labelled``; choose the threshold by grouped cross-validation."""
    questions = sorted({s.question for s in labelled})
    if len(questions) < _FOLDS:
        raise InputError(f"training the answer-role model needs sentences of at least {_FOLDS} questions")
    parts = []
    for q in questions:
        rows = [s for s in labelled if s.question == q]
        query, intent = analyse(q), intent_of(q)
        vectors = np.asarray(embedder.embed([s.text for s in rows]), dtype=np.float32)
        parts.append(role_features(query, intent, [s.text for s in rows], vectors, [s.title for s in rows]))
    x = np.concatenate(parts)
    ordered = [s for q in questions for s in labelled if s.question == q]
    gold = np.asarray([s.role == "answer" for s in ordered])
    rules = np.asarray([rule_answer(intent_of(s.question), s.text) for s in ordered])
    group = np.asarray([questions.index(s.question) for s in ordered])
    fold_of = np.random.default_rng(seed).permutation(len(questions)) % _FOLDS
    cv = np.zeros(len(ordered))
    y = gold.astype(np.float32)
    for f in range(_FOLDS):
        test = fold_of[group] == f
        cv[test] = RoleModel(*fit_logistic(x[~test], y[~test], l2=l2, steps=1500)).predict(x[test])
    best = max(_THRESHOLDS, key=lambda t: (_prf(rules & (cv > t), gold)[2], t))
    mean, scale, weights, bias = fit_logistic(x, y, l2=l2, steps=1500)
    report = RoleReport(
        sentences=len(ordered),
        questions=len(questions),
        answers=int(gold.sum()),
        auc=auc(cv.astype(np.float32), y),
        threshold=best,
        rules=_prf(rules, gold),
        gated=_prf(rules & (cv > best), gold),
    )
    model = RoleModel(
        mean,
        scale,
        weights,
        float(bias),
        best,
        {"version": 1, "embedder": embedder.name, "l2": l2, "cv": report.as_dict()},
    )
    return model, report
