"""The answer-role model: whether a sentence states what a list question asks for.

"What are the causes of leukopenia?" is answered by a sentence in which something *causes*
leukopenia; a sentence in which leukopenia causes an infection, a herbal decoction improves it, or a
vaccine trial finds "no safety concern" matches the same cue words and is not an answer.  The model
is a logistic regression over the sentence's embedding (the embedder of the relevance model), the
question's intent (causes, risk factors, adverse effects, complications), the cue patterns of
``data/role_cues.json`` read as features, and how much of the question's subject the sentence names.  It was trained on 598 sentences retrieved for 29 such questions and labelled
by role (``bench/data/sentence_roles.json``: answer, consequence, treatment, negative, definition,
other), with its threshold chosen by cross-validation grouped by question (``curbside train roles``).

The synthesizer files a sentence under a causes or harms section only when the cue rules place it
there *and* this model calls it an answer (see :mod:`curbside.answer.extractive`).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from curbside.config import Settings
from curbside.datafiles import load_data
from curbside.models.logistic import LogisticModel
from curbside.models.relevance import model_file
from curbside.retrieval.embeddings import Embedder
from curbside.retrieval.intent import Intent
from curbside.retrieval.subject import subject_of
from curbside.types import Query

__all__ = [
    "LIST_INTENTS",
    "MODEL_FILE",
    "ROLES",
    "ROLE_CUES",
    "RoleModel",
    "load_roles",
    "role_features",
    "rule_answer",
]

#: Intents whose core section is a list of things standing in one relation to the subject.
LIST_INTENTS: Final[tuple[Intent, ...]] = ("causes", "risk_factors", "adverse_effects", "complications")
ROLES: Final = ("answer", "consequence", "treatment", "negative", "definition", "other")
MODEL_FILE: Final = "models/roles.npz"
FORMAT: Final = 1


def _build_cues(data: Any) -> dict[str, re.Pattern[str]]:
    return {name: re.compile(pattern, re.IGNORECASE) for name, pattern in data["cues"].items()}


ROLE_CUES: Final = load_data("role_cues.json", "answer-role cue patterns", _build_cues)


def role_features(
    query: Query,
    intent: str,
    texts: Sequence[str],
    vectors: NDArray[np.float32],
    titles: Sequence[bool],
) -> NDArray[np.float32]:
    """One row per sentence: its embedding, the intent, the cue flags and how much subject it names."""
    subject = subject_of(query)
    main = subject.main
    rows = []
    for text, vector, title in zip(texts, vectors, titles, strict=True):
        low = text.lower()
        at = low.find(main.text) if main is not None else -1
        effect = ROLE_CUES["effect_verb"].search(text)
        flags = [bool(p.search(text)) for name, p in ROLE_CUES.items() if name != "effect_verb"]
        # "Leukopenia leads to infection": the subject before an effect verb is the cause, not the effect.
        subject_acts = bool(effect) and 0 <= at < (effect.start() if effect else 0)
        extra = [
            bool(effect),
            subject_acts,
            subject.mentions_main(text),
            subject.coverage(text),
            title,
        ]
        intent_row = [float(intent == i) for i in LIST_INTENTS]
        rows.append(np.concatenate([vector, intent_row, np.asarray(flags + extra, dtype=np.float32)]))
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), -1)


class RoleModel(LogisticModel):
    """Logistic regression for P(answer) over :func:`role_features`; a sentence at or below
    ``threshold`` is no answer."""

    kind = "answer-role"
    format = FORMAT

    @property
    def name(self) -> str:
        return f"roles-{self.info.get('version', '?')}"

    def predict(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        """P(answer) per row of :func:`role_features`."""
        return np.zeros(0, dtype=np.float32) if x.shape[0] == 0 else self.logistic(x)

    def answers(
        self,
        query: Query,
        intent: str,
        texts: Sequence[str],
        titles: Sequence[bool],
        embedder: Embedder,
    ) -> NDArray[np.float32]:
        """P(answer) of each sentence for ``query`` (one embedding call for all of them)."""
        if not texts:
            return np.zeros(0, dtype=np.float32)
        vectors = np.asarray(embedder.embed(list(texts)), dtype=np.float32)
        return self.predict(role_features(query, intent, texts, vectors, titles))


def packaged_model() -> Path:
    return Path(str(resources.files("curbside").joinpath(MODEL_FILE)))


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime: float) -> RoleModel:
    return RoleModel.load(Path(path))


def rule_answer(intent: str, text: str) -> bool:
    """What the cue rules alone call an answer: a causal (or, for harms, a harm) cue and no denial."""
    if intent in ("adverse_effects", "complications"):
        cued = bool(ROLE_CUES["harm"].search(text))
    else:
        cued = bool(ROLE_CUES["causal"].search(text) or ROLE_CUES["presentation"].search(text))
    return cued and not ROLE_CUES["denial"].search(text)


def load_roles(settings: Settings) -> RoleModel | None:
    """The answer-role model ``settings.roles_model`` names (``default``: the packaged one; ``none``:
    cue rules alone), or ``None``."""
    path = model_file(settings.roles_model, packaged_model(), "CURBSIDE_ROLES_MODEL", "curbside train roles")
    if path is None:
        return None
    return _load_cached(str(path), path.stat().st_mtime)
