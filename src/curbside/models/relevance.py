"""A learned relevance model: how well a sentence or a passage answers a question.

Keyword overlap counted "mechanism" as much as the drug a question named, and
half the claims of an article did not help answer its question.  This model is
trained on expert judgements instead (BioASQ 7B and 8B: a sentence that overlaps
a gold snippet of the question is relevant; ``curbside train relevance``) and
selected on 9B.  Two heads share one design, a small multilayer perceptron over
features that need nothing but numpy and the offline MiniLM embedder:

* **sentence** (question, sentence): the element-wise product of their MiniLM
  vectors (a learned weighting of the cosine's dimensions) and the cosine itself,
  plus the features of :func:`lexical_features`;
* **passage** (question, retrieved chunk): the lexical features of the chunk and its
  retrieval scores (BM25 and dense ranks, fused score), no vectors: reranking the
  top hundred hits must cost milliseconds.

Lexical features: the share of the question's subject the text names (weighted by
rarity, :mod:`curbside.retrieval.subject`), whether it names the main subject, word overlap,
length, digits, negation, the abstract section and position, evidence level,
animal-only research, and the question type.  Known fault: the training corpus rebuilds its
gold documents from snippets, without section labels, year or publication types, so these record
features partly tell a rebuilt gold record from a real one; a model without them measured worse on
9B and in a clinician audit, and was not kept (docs/answers.md, "What did not work").

Each head's weight penalty is chosen on 9B (``training.L2_GRID``): with the light
default the vector products fit 7B-8B's wording and a one-sentence abstract could
swing from 0.98 to 0.02 on its section label alone.  The sentence threshold is
the one of best F1 on 9B.

The model file (``models/relevance.npz``, numpy arrays, no pickle) holds both
heads, their feature scaling, the thresholds chosen on 9B and what it was trained
on.  Without it (``CURBSIDE_RELEVANCE_MODEL=none`` or a missing file) curbside
keeps the keyword scoring, and says so in ``curbside doctor`` and each answer's
metadata.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, get_args

import numpy as np
from numpy.typing import NDArray

from curbside.datafiles import load_data, rules_of
from curbside.errors import ConfigError, ModelError
from curbside.retrieval.evidence import animal_only
from curbside.retrieval.subject import Subject, fold, frame_words, subject_of
from curbside.types import Hit, Query, QuestionType

if TYPE_CHECKING:
    from curbside.config import Settings
    from curbside.retrieval.embeddings import Embedder

_RULES: Final = load_data(
    "relevance_features.json", "relevance model features", rules_of("section_of", "negation", "stop")
)

MODEL_FILE: Final = "models/relevance.npz"
FORMAT: Final = 1
QUESTION_TYPES: Final[tuple[str, ...]] = get_args(QuestionType)
SECTIONS: Final = ("title", "background", "methods", "results", "conclusions", "other")
_SECTION_OF: Final[dict[str, str]] = dict(_RULES["section_of"])
_NEGATION = re.compile(_RULES["negation"], re.I)
_DIGIT = re.compile(r"\d")
_STOP = frozenset(_RULES["stop"])
LEXICAL_NAMES: Final = (
    "subject_coverage", "mentions_main", "word_overlap", "log_words", "digits", "negation",
    "position", "evidence", "animal_only", "is_title",
    *(f"section_{s}" for s in SECTIONS),
    *(f"qtype_{t}" for t in QUESTION_TYPES),
)  # fmt: skip
PASSAGE_NAMES: Final = (*LEXICAL_NAMES, "rank", "lexical_rank", "dense_rank", "dense", "fused", "rerank")


def section_kind(label: str, part: str = "body") -> str:
    """The abstract section a label names, one of :data:`SECTIONS`."""
    if part == "title":
        return "title"
    return _SECTION_OF.get(label.strip().lower().rstrip(":"), "other")


def _content_words(text: str) -> frozenset[str]:
    return frozenset(w for w in fold(text).split() if w not in _STOP and w not in frame_words())


def lexical_features(
    query: Query,
    subject: Subject,
    text: str,
    *,
    label: str = "",
    part: str = "body",
    position: float = 0.0,
    evidence: float = 0.0,
    animal: bool = False,
) -> list[float]:
    """The :data:`LEXICAL_NAMES` features of ``text`` for ``query`` (see the module docstring)."""
    question = _content_words(query.text)
    words = _content_words(text)
    section = section_kind(label, part)
    return [
        subject.coverage(text),
        float(subject.mentions_main(text)),
        len(question & words) / len(question) if question else 0.0,
        math.log1p(len(text.split())),
        float(bool(_DIGIT.search(text))),
        float(bool(_NEGATION.search(text))),
        position,
        evidence,
        float(animal),
        float(part == "title"),
        *(float(section == s) for s in SECTIONS),
        *(float(query.qtype == t) for t in QUESTION_TYPES),
    ]


def passage_features(query: Query, hits: Sequence[Hit]) -> NDArray[np.float32]:
    """One row of :data:`PASSAGE_NAMES` per hit (``hits`` in retrieval order)."""
    subject = subject_of(query)
    rows = []
    for rank, hit in enumerate(hits):
        doc = hit.document
        chunk = hit.chunk
        text = f"{doc.title} {chunk.text}" if chunk.ordinal == 0 else chunk.text
        lexical = lexical_features(
            query,
            subject,
            text,
            label=chunk.section.split("/")[0],
            part="title" if not chunk.text.strip() else "body",
            position=min(chunk.ordinal, 5) / 5,
            evidence=hit.evidence,
            animal=animal_only(doc),
        )
        rows.append(
            [
                *lexical,
                1.0 / (1 + rank),
                1.0 / (1 + hit.rank_lexical) if hit.rank_lexical is not None else 0.0,
                1.0 / (1 + hit.rank_dense) if hit.rank_dense is not None else 0.0,
                hit.dense if hit.dense is not None else 0.0,
                hit.fused * 60,  # RRF scores are ~1/60: bring them near 1
                hit.rerank if hit.rerank is not None else 0.0,
            ]
        )
    return np.asarray(rows, dtype=np.float32).reshape(len(hits), len(PASSAGE_NAMES))


def sentence_features(
    query_vector: NDArray[np.float32], vectors: NDArray[np.float32], lexical: NDArray[np.float32]
) -> NDArray[np.float32]:
    """Rows of [q∘s (dim), cos(q, s), lexical...] for sentence vectors ``vectors``."""
    products = vectors * query_vector[None, :]
    cosines = products.sum(axis=1, keepdims=True)
    return np.hstack([products, cosines, lexical]).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# the model


@dataclass
class Head:
    """A one-hidden-layer perceptron with its input scaling: ``sigmoid(relu(xW1+b1)W2+b2)``."""

    mean: NDArray[np.float32]
    scale: NDArray[np.float32]
    w1: NDArray[np.float32]
    b1: NDArray[np.float32]
    w2: NDArray[np.float32]
    b2: NDArray[np.float32]

    def predict(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        if x.shape[0] == 0:
            return np.zeros(0, dtype=np.float32)
        if x.shape[1] != self.mean.shape[0]:
            raise ModelError(f"the relevance model expects {self.mean.shape[0]} features, got {x.shape[1]}")
        z = (x - self.mean) / self.scale
        hidden = np.maximum(z @ self.w1 + self.b1, 0.0)
        logits = (hidden @ self.w2 + self.b2).ravel()
        probabilities: NDArray[np.float32] = (1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))).astype(
            np.float32
        )
        return probabilities

    def arrays(self, prefix: str) -> dict[str, NDArray[np.float32]]:
        return {f"{prefix}.{k}": v for k, v in vars(self).items()}

    @classmethod
    def from_arrays(cls, data: Any, prefix: str) -> Head:
        return cls(
            *(
                np.asarray(data[f"{prefix}.{k}"], dtype=np.float32)
                for k in ("mean", "scale", "w1", "b1", "w2", "b2")
            )
        )


@dataclass
class RelevanceModel:
    """Both heads, their thresholds and where they came from (see the module docstring)."""

    sentence: Head
    passage: Head
    sentence_threshold: float = 0.5  # below it a sentence is not quoted, a claim is not relevant
    info: dict[str, Any] = field(default_factory=dict)
    path: str = ""

    @property
    def name(self) -> str:
        return f"relevance-{self.info.get('version', '?')}"

    @property
    def embedder(self) -> str:
        """Name of the embedder whose vectors the sentence head was trained on."""
        return str(self.info.get("embedder", ""))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": FORMAT, "sentence_threshold": self.sentence_threshold, **self.info}
        arrays: dict[str, Any] = {
            **self.sentence.arrays("sentence"),
            **self.passage.arrays("passage"),
            "meta": np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8),
        }
        with path.open("wb") as fh:
            np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path: Path) -> RelevanceModel:
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode())
                if meta.pop("format", None) != FORMAT:
                    raise ModelError(
                        f"{path}: relevance model format {meta.get('format')}, expected {FORMAT}"
                    )
                model = cls(
                    Head.from_arrays(data, "sentence"),
                    Head.from_arrays(data, "passage"),
                    float(meta.pop("sentence_threshold")),
                    meta,
                    str(path),
                )
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"{path}: cannot read the relevance model: {exc}") from exc
        return model

    def score_passages(self, query: Query, hits: Sequence[Hit]) -> NDArray[np.float32]:
        return self.passage.predict(passage_features(query, hits))

    def score_sentences(
        self, query: Query, texts: Sequence[str], lexical: NDArray[np.float32], embedder: Embedder
    ) -> NDArray[np.float32]:
        """Relevance of each sentence (``lexical``: its :func:`lexical_features` rows)."""
        return self.score_sentences_any([query], texts, [lexical], embedder)

    def score_sentences_any(
        self,
        queries: Sequence[Query],
        texts: Sequence[str],
        lexicals: Sequence[NDArray[np.float32]],
        embedder: Embedder,
    ) -> NDArray[np.float32]:
        """Each sentence's best relevance to any of ``queries`` (``lexicals``: one block of
        :func:`lexical_features` rows per query), embedding the sentences once."""
        if not texts or not queries:
            return np.zeros(len(texts), dtype=np.float32)
        vectors = embedder.embed([*(q.text for q in queries), *texts])
        sentences = vectors[len(queries) :]
        scores = [
            self.sentence.predict(sentence_features(vectors[i], sentences, lexical))
            for i, lexical in enumerate(lexicals)
        ]
        best: NDArray[np.float32] = np.max(np.stack(scores), axis=0).astype(np.float32)
        return best


def packaged_model() -> Path:
    """Where the model shipped with curbside lies (it may be absent in a source checkout)."""
    return Path(str(resources.files("curbside").joinpath(MODEL_FILE)))


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime: float) -> RelevanceModel:
    return RelevanceModel.load(Path(path))


def model_file(choice: str, packaged: Path, setting: str, command: str) -> Path | None:
    """The model file a setting names: ``None`` for ``none`` or an absent packaged file (the rules
    stay in use), the path when it exists, else a :class:`ConfigError` naming the setting."""
    if choice == "none":
        return None
    path = packaged if choice == "default" else Path(choice).expanduser()
    if path.is_file():
        return path
    if choice == "default":
        return None
    raise ConfigError(f"{setting}: no model file at {path}", hint=f"train one: {command}")


def load_relevance(settings: Settings) -> RelevanceModel | None:
    """The configured model, or ``None`` for ``none`` or a missing packaged file (keyword scoring)."""
    path = model_file(
        settings.relevance_model, packaged_model(), "CURBSIDE_RELEVANCE_MODEL", "curbside train relevance"
    )
    return None if path is None else _load_cached(str(path), path.stat().st_mtime)
