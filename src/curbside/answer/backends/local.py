"""What the in-process backends share: a GGUF file checked when the backend is made, and one loaded
model per process.

``curbside.api.ask`` makes a backend per question; without the shared cache each question would
load the model again (seconds, and a second copy in memory while the first is collected).  One
entry: a process serves one local model, and loading another drops the first.  A lock per model
serialises calls: neither runtime's model object is safe to share between threads, and one
request at a time keeps every core on it.
"""

from __future__ import annotations

import importlib
import os
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from curbside.config import DEFAULT_GGUF, Settings
from curbside.errors import ModelError

__all__ = ["LocalModel", "import_runtime"]

_LOADED: dict[tuple[Any, ...], tuple[Any, threading.Lock]] = {}
_LOADED_LOCK = threading.Lock()


def import_runtime(module: str, backend: str, package: str, install: str) -> ModuleType:
    """The runtime's ``module``, or a ModelError saying how to install it (``install``: the command)."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ModelError(
            f"the {backend} chat backend needs the {package} package, which is not installed ({exc})",
            hint=f"install it with {install} and fetch a model with `curbside models install`; or use an "
            "OpenAI-compatible server (CURBSIDE_LLM_BACKEND=openai), or answer without a language model "
            "with `--synthesizer extractive`.",
        ) from exc


class LocalModel:
    """A GGUF model file for an in-process runtime; :meth:`loaded` gives the runtime's model object."""

    def __init__(
        self, settings: Settings | None, model_path: str | Path | None, n_ctx: int, n_threads: int | None
    ) -> None:
        settings = settings if settings is not None else Settings()
        self.model_path = Path(model_path) if model_path is not None else settings.llm_model_path
        if not self.model_path.is_file():
            default = Path(settings.data_dir) / "models" / DEFAULT_GGUF
            chosen = model_path is not None or self.model_path != default
            raise ModelError(
                f"model file {self.model_path} does not exist",
                # Installing the model cannot help while the setting points elsewhere.
                hint="correct or unset CURBSIDE_LLM_MODEL_PATH (the installed model is used without it)"
                if chosen
                else "run `curbside models install`, or set CURBSIDE_LLM_MODEL_PATH to a GGUF file.",
            )
        self.model = self.model_path.name.removesuffix(".gguf")
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        #: Tokens and seconds of the latest chat: ``prompt_tokens``, ``completion_tokens``, ``seconds``
        #: (read by the llm synthesizer into the article's metadata, and by ``curbside doctor``).
        self.last_usage: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(model_path={str(self.model_path)!r}, n_ctx={self.n_ctx})"

    def loaded(self, runtime: str, load: Callable[[], Any], *options: Any) -> tuple[Any, threading.Lock]:
        """The model object ``load()`` makes, made once per process for this file and ``options``;
        ``runtime`` names it in the error when the file cannot be loaded."""
        stat = self.model_path.stat()
        key = (
            runtime,
            str(self.model_path),
            stat.st_size,
            stat.st_mtime_ns,
            self.n_ctx,
            self.n_threads,
            *options,
        )
        with _LOADED_LOCK:
            if key not in _LOADED:
                _LOADED.clear()  # the previous model goes before the next one loads
                try:
                    model = load()
                except (RuntimeError, ValueError, OSError) as exc:
                    raise ModelError(
                        f"{runtime} could not load {self.model_path}: {exc}",
                        hint="the file may be truncated or not a GGUF model; delete it and run "
                        "`curbside models install` again.",
                    ) from exc
                _LOADED[key] = (model, threading.Lock())
            return _LOADED[key]
