"""Run a GGUF model in process with llama-cpp-python (the ``llm`` extra).

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

import importlib
import os
import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from curbside.config import Settings
from curbside.errors import ModelError
from curbside.synthesis.backends.base import ChatMessage, TokenCallback

__all__ = ["LlamaCppBackend", "import_llama_cpp"]

#: Context window in tokens: enough for the prompt, a dozen passages and a 1500-token answer.
DEFAULT_N_CTX = 4096

#: The loaded model of this process and the lock serialising its use, by what was loaded.
#: ``curbside.api.ask`` builds a synthesizer (and so a backend) per question; without this every
#: question would load the GGUF again (seconds, and a second copy in memory while the old one is
#: collected).  One entry: a process serves one local model, and a new one replaces the old.
_LOADED: dict[tuple[Any, ...], tuple[Any, threading.Lock]] = {}
_LOADED_LOCK = threading.Lock()

_INSTALL_HINT = (
    "install it with `pip install 'curbside[llm]'` (it compiles llama.cpp: several minutes) and fetch a "
    "model with `curbside models install`; or use an OpenAI-compatible server (CURBSIDE_LLM_BACKEND=openai), "
    "or answer without a language model with `--synthesizer extractive`."
)


def import_llama_cpp() -> ModuleType:
    """The ``llama_cpp`` module, or a ModelError explaining how to install it."""
    try:
        return importlib.import_module("llama_cpp")
    except ImportError as exc:
        raise ModelError(
            f"the llamacpp chat backend needs the llama-cpp-python package, which is not installed ({exc})",
            hint=_INSTALL_HINT,
        ) from exc


class LlamaCppBackend:
    """Chat with a local GGUF model through ``llama_cpp.Llama``; registered as chat backend ``llamacpp``.

    The package and the model file are checked when the backend is created
    (so a misconfiguration fails before any retrieval work); the model itself
    is loaded on the first :meth:`chat`, which takes a few seconds, and kept
    for the process (later backends for the same file reuse it).  A lock
    serialises calls because a ``Llama`` instance is not thread-safe.
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
        settings = settings if settings is not None else Settings()
        self._module = import_llama_cpp()
        self.model_path = Path(model_path) if model_path is not None else settings.llm_model_path
        if not self.model_path.is_file():
            raise ModelError(
                f"model file {self.model_path} does not exist",
                hint="run `curbside models install`, or set CURBSIDE_LLM_MODEL_PATH to a GGUF file.",
            )
        self.model = self.model_path.name.removesuffix(".gguf")
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 1
        #: llama.cpp's weight repacking; off by default (see :func:`_new_llama`).
        self.repack = repack
        #: Tokens and seconds of the latest :meth:`chat`: ``prompt_tokens``, ``completion_tokens``,
        #: ``seconds`` (read by the llm synthesizer into the article's metadata).
        self.last_usage: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"LlamaCppBackend(model_path={str(self.model_path)!r}, n_ctx={self.n_ctx})"

    def _loaded(self) -> tuple[Any, threading.Lock]:
        stat = self.model_path.stat()
        key = (
            self._module.Llama,
            str(self.model_path),
            stat.st_size,
            stat.st_mtime_ns,
            self.n_ctx,
            self.n_threads,
            self.repack,
        )
        with _LOADED_LOCK:
            if key not in _LOADED:
                _LOADED.clear()  # drop the previous model before loading the next
                try:
                    llm = _new_llama(
                        self._module,
                        self.repack,
                        model_path=str(self.model_path),
                        n_ctx=self.n_ctx,
                        n_threads=self.n_threads,
                        verbose=False,
                    )
                except (ValueError, RuntimeError, OSError) as exc:
                    raise ModelError(
                        f"llama.cpp could not load {self.model_path}: {exc}",
                        hint="the file may be truncated or not a GGUF model; delete it and run "
                        "`curbside models install` again.",
                    ) from exc
                _LOADED[key] = (llm, threading.Lock())
            return _LOADED[key]

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
                    text = _message_text(result, self.model_path)
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
    constructed (callers hold ``_LOADED_LOCK``, so no other load sees it).
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


def _message_text(result: Any, path: Path) -> str:
    try:
        content = result["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ModelError(
            f"llama.cpp returned an unexpected completion for {path.name}: {result!r:.300}"
        ) from None
    return content if isinstance(content, str) else ""


def _collect_stream(chunks: Iterable[Any], on_token: TokenCallback) -> tuple[str, int]:
    """The streamed reply and its token count (llama-cpp-python streams one token per chunk)."""
    parts: list[str] = []
    for chunk in chunks:
        for choice in chunk.get("choices") or ():
            piece = (choice.get("delta") or {}).get("content")
            if isinstance(piece, str) and piece:
                parts.append(piece)
                on_token(piece)
    return "".join(parts), len(parts)
