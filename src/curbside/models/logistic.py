"""A logistic-regression model file: input scaling, weights, bias, threshold and provenance.

The yes/no verdict model (:mod:`curbside.models.verdicts`) and the answer-role model (:mod:`curbside.models.roles`)
are both this: they differ in the features they read, what they are called, and their file format's
version.  Saving, loading (one ``.npz`` with a JSON ``meta`` array) and the probability live here once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
from numpy.typing import NDArray

from curbside.errors import ModelError

__all__ = ["LogisticModel"]


@dataclass
class LogisticModel:
    """``sigmoid(((x - mean) / scale) . weights + bias)``; subclasses name the model and its format."""

    #: What error messages call the model ("verdict", "answer-role").
    kind: ClassVar[str] = "logistic"
    #: The file format version this class reads and writes.
    format: ClassVar[int] = 1

    mean: NDArray[np.float32]
    scale: NDArray[np.float32]
    weights: NDArray[np.float32]
    bias: float
    threshold: float = 0.5
    info: dict[str, Any] = field(default_factory=dict)
    path: str = ""

    @property
    def embedder(self) -> str:
        """Name of the embedder whose vectors the model was trained on."""
        return str(self.info.get("embedder", ""))

    def logistic(self, x: NDArray[np.float32]) -> NDArray[np.float32]:
        """The probability of each row of ``x`` (rows of the features this model was trained on)."""
        if x.shape[1] != self.mean.shape[0]:
            raise ModelError(f"the {self.kind} model expects {self.mean.shape[0]} features, got {x.shape[1]}")
        logits = ((x - self.mean) / self.scale) @ self.weights + self.bias
        p: NDArray[np.float32] = (1 / (1 + np.exp(-np.clip(logits, -30, 30)))).astype(np.float32)
        return p

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"format": self.format, "bias": self.bias, "threshold": self.threshold, **self.info}
        with path.open("wb") as fh:
            np.savez_compressed(
                fh,
                mean=self.mean,
                scale=self.scale,
                weights=self.weights,
                meta=np.frombuffer(json.dumps(meta, sort_keys=True).encode(), dtype=np.uint8),
            )

    @classmethod
    def load(cls, path: Path) -> Self:
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(bytes(data["meta"]).decode())
                if meta.pop("format", None) != cls.format:
                    raise ModelError(f"{path}: not a {cls.kind} model of format {cls.format}")
                return cls(
                    np.asarray(data["mean"], np.float32),
                    np.asarray(data["scale"], np.float32),
                    np.asarray(data["weights"], np.float32),
                    float(meta.pop("bias")),
                    float(meta.pop("threshold")),
                    meta,
                    str(path),
                )
        except (OSError, ValueError, KeyError) as exc:
            raise ModelError(f"{path}: cannot read the {cls.kind} model: {exc}") from exc
