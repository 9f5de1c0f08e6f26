"""Run a GGUF model in process with llama-cpp-python (the ``llamacpp`` extra).

For a laptop or a server with no model service: ``curbside models install``
puts a small instruction-tuned model in the data folder and this backend loads
it on first use.  llama-cpp-python is optional (it compiles llama.cpp when
installed), so it is imported only when a backend is created, and its absence
is a :class:`~curbside.errors.ModelError` that says how to get it.

Structured output uses llama.cpp's JSON-schema grammar
(``response_format={"type": "json_object", "schema": ...}``), so the model
cannot produce text outside the schema's shape; the synthesizer still
validates what it gets.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from curbside.answer.backends.base import ChatMessage, TokenCallback, completion_text, delta_pieces
from curbside.answer.backends.local import LocalModel, import_runtime
from curbside.config import Settings
from curbside.errors import ModelError

__all__ = ["LlamaCppBackend", "import_llama_cpp"]

#: Context window in tokens: enough for the prompt, a dozen passages and a 1500-token answer.
DEFAULT_N_CTX = 4096


def import_llama_cpp() -> ModuleType:
    """The ``llama_cpp`` module, or a ModelError explaining how to install it."""
    return import_runtime(
        "llama_cpp",
        "llamacpp",
        "llama-cpp-python",
        "`./scripts/install.sh llamacpp` (it compiles llama.cpp: several minutes)",
    )


class LlamaCppBackend(LocalModel):
    """Chat with a local GGUF model through ``llama_cpp.Llama``; registered as chat backend ``llamacpp``.

    The package and the model file are checked when the backend is created
    (so a misconfiguration fails before any retrieval work); the model itself
    is loaded on the first :meth:`chat`, which takes a few seconds, and kept
    for the process (:class:`LocalModel`; a ``Llama`` instance is not thread-safe).
    """

    name = "llamacpp"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        model_path: str | Path | None = None,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
        repack: bool = False,
    ) -> None:
        self._module = import_llama_cpp()
        super().__init__(settings, model_path, n_ctx, n_threads)
        #: llama.cpp's weight repacking; off by default (see :func:`_new_llama`).
        self.repack = repack

    def _loaded(self) -> tuple[Any, threading.Lock]:
        def load() -> Any:
            return _new_llama(
                self._module,
                self.repack,
                model_path=str(self.model_path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                verbose=False,
            )

        return self.loaded("llama.cpp", load, self._module.Llama, self.repack)

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        temperature: float = 0.0,
        max_tokens: int = 1500,
        on_token: TokenCallback | None = None,
    ) -> str:
        kwargs: dict[str, Any] = {
            "messages": [m.to_dict() for m in messages],
            "temperature": temperature,
            "max_tokens": max_tokens,
            "stream": on_token is not None,
        }
        if schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        llm, lock = self._loaded()
        with lock:
            started = time.perf_counter()
            try:
                result = llm.create_chat_completion(**kwargs)
                if on_token is None:
                    text = completion_text(result, f"llama.cpp with {self.model_path.name}")
                    usage = result.get("usage") or {}
                    completion = usage.get("completion_tokens", 0)
                    prompt = usage.get("prompt_tokens", 0)
                else:
                    text, completion = _collect_stream(result, on_token)
                    prompt = 0  # a stream does not report it
                self.last_usage = {
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "seconds": round(time.perf_counter() - started, 3),
                }
                return text
            except (ValueError, RuntimeError) as exc:
                # e.g. "Requested tokens (5200) exceed context window of 4096".
                raise ModelError(
                    f"llama.cpp failed while generating with {self.model_path.name}: {exc}",
                    hint="fewer or shorter passages (a smaller max_passages) keep the prompt inside "
                    f"the {self.n_ctx}-token context.",
                ) from exc


def _new_llama(module: ModuleType, repack: bool, **kwargs: Any) -> Any:
    """``module.Llama(**kwargs)``, with llama.cpp's weight repacking off unless ``repack``.

    Repacking ("extra buffer types": AMX, CPU_REPACK) rearranges weights for
    faster CPU kernels, but with llama-cpp-python 0.3.36 built with default
    CMAKE_ARGS on a Xeon with AMX, the AMX repack made the first decode
    segfault, killing the process with no Python error.  ``Llama()`` has no
    argument for it, so the model parameters' ``use_extra_bufts`` is cleared
    by wrapping the native ``llama_model_default_params`` while the model is
    constructed (callers hold the lock of :meth:`LocalModel.loaded`, so no other load sees it).
    """
    native = getattr(module, "llama_cpp", None)
    defaults = getattr(native, "llama_model_default_params", None)
    if repack or native is None or defaults is None:
        return module.Llama(**kwargs)

    def without_repack() -> Any:
        params = defaults()
        if hasattr(params, "use_extra_bufts"):
            params.use_extra_bufts = False
        return params

    native.llama_model_default_params = without_repack
    try:
        return module.Llama(**kwargs)
    finally:
        native.llama_model_default_params = defaults


def _collect_stream(chunks: Iterable[Any], on_token: TokenCallback) -> tuple[str, int]:
    """The streamed reply and its token count (llama-cpp-python streams one token per chunk)."""
    parts: list[str] = []
    for chunk in chunks:
        for piece in delta_pieces(chunk):
            parts.append(piece)
            on_token(piece)
    return "".join(parts), len(parts)
