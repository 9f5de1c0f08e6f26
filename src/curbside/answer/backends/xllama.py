"""Run a GGUF model in process with xllamacpp, a prebuilt llama.cpp wheel (the ``llm`` extra).

The default local backend: ``pip install`` takes a wheel of about 34 MB and compiles
nothing (llama-cpp-python, the ``llamacpp`` backend, compiles llama.cpp for about
8 minutes).  ``curbside models install`` puts the model in the data folder and the
first :meth:`XLlamaCppBackend.chat` loads it, once per process.

xllamacpp embeds llama.cpp's own server: requests go to it in process (no HTTP), but
it also opens an HTTP listener.  That listener is bound to the loopback interface
only, on a port the kernel picks, and it requires an API key that exists only in
this process's memory, so neither another machine nor another local user can
send it work.  Its web UI, slot and metrics endpoints are off.

Structured output uses llama.cpp's JSON-schema grammar (``response_format``
``json_schema``), so the model cannot write text outside the schema's shape; the
synthesizer still validates what it gets.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Final

from curbside.answer.backends.base import ChatMessage, TokenCallback, completion_text, delta_pieces
from curbside.answer.backends.local import LocalModel, import_runtime
from curbside.config import Settings
from curbside.errors import ModelError

__all__ = ["LOOPBACK", "XLlamaCppBackend", "import_xllamacpp"]

#: Context window in tokens: the prompt, a dozen passages and a 1500-token answer.
DEFAULT_N_CTX: Final = 4096
#: The only interface the embedded server's HTTP listener binds to.
LOOPBACK: Final = "127.0.0.1"


def import_xllamacpp() -> ModuleType:
    """The ``xllamacpp`` module, or a ModelError explaining how to install it."""
    return import_runtime(
        "xllamacpp", "xllamacpp", "xllamacpp", "`./scripts/install.sh llm` (a prebuilt wheel, no compile)"
    )


class XLlamaCppBackend(LocalModel):
    """Chat with a local GGUF model through xllamacpp's in-process server; chat backend ``xllamacpp``.

    The package and the model file are checked when the backend is created, so a
    misconfiguration fails before any retrieval work; the model is loaded on the
    first :meth:`chat` (seconds) and kept for the process (:class:`LocalModel`).
    """

    name = "xllamacpp"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        model_path: str | Path | None = None,
        n_ctx: int = DEFAULT_N_CTX,
        n_threads: int | None = None,
    ) -> None:
        self._module = import_xllamacpp()
        super().__init__(settings, model_path, n_ctx, n_threads)

    @property
    def listening_address(self) -> str:
        """The embedded server's HTTP address (loading the model if it is not loaded yet)."""
        server, _ = self._loaded()
        return str(server.listening_address)

    def _loaded(self) -> tuple[Any, threading.Lock]:
        return self.loaded("llama.cpp (xllamacpp)", lambda: self._module.Server(self._params()))

    def _params(self) -> Any:
        params = self._module.CommonParams()
        params.model.path = str(self.model_path)
        params.n_ctx = self.n_ctx
        params.cpuparams.n_threads = self.n_threads
        params.cpuparams_batch.n_threads = self.n_threads
        params.n_parallel = 1
        # The listener: loopback only, a port the kernel picks, a key no one outside this
        # process knows, and none of the extra endpoints.
        params.hostnames = [LOOPBACK]
        params.port = 0
        params.api_keys = [secrets.token_urlsafe(32)]
        params.ui = False
        params.endpoint_slots = False
        params.endpoint_props = False
        params.endpoint_metrics = False
        params.verbosity = -1  # llama.cpp logs each token's timing to stderr otherwise
        return params

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        temperature: float = 0.0,
        max_tokens: int = 1500,
        on_token: TokenCallback | None = None,
    ) -> str:
        request: dict[str, Any] = {
            "messages": [m.to_dict() for m in messages],
            "temperature": temperature,
            "max_tokens": max_tokens,
        }
        if schema is not None:
            request["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "answer", "schema": schema},
            }
        server, lock = self._loaded()
        with lock:
            started = time.perf_counter()
            try:
                if on_token is None:
                    result = server.handle_chat_completions(request)
                    _raise_for_error(result, self.model_path)
                    text = completion_text(result, f"llama.cpp (xllamacpp) with {self.model_path.name}")
                    usage = result.get("usage") or {}
                    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
                else:
                    text, prompt, completion = self._stream(server, request, on_token)
            except RuntimeError as exc:
                # e.g. "The model produced output that does not match the expected ... format": the
                # chat template's parser refused what the model wrote.
                raise ModelError(
                    f"llama.cpp (xllamacpp) failed while generating with {self.model_path.name}: {exc}"
                ) from exc
            self.last_usage = {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "seconds": round(time.perf_counter() - started, 3),
            }
            return text

    def _stream(self, server: Any, request: dict[str, Any], on_token: TokenCallback) -> tuple[str, int, int]:
        """The reply streamed through ``on_token``, with its prompt and completion token counts."""
        parts: list[str] = []
        usage: dict[str, int] = {}
        failure: list[Any] = []

        def receive(chunk: Any) -> None:
            if isinstance(chunk, dict) and "error" in chunk:
                failure.append(chunk)
                return
            for piece in delta_pieces(chunk):
                parts.append(piece)
                on_token(piece)
            if isinstance(chunk, dict) and chunk.get("usage"):
                usage.update(chunk["usage"])

        streamed = {**request, "stream": True, "stream_options": {"include_usage": True}}
        result = server.handle_chat_completions(streamed, receive)
        for error in (result, *failure):
            _raise_for_error(error, self.model_path)
        completion = usage.get("completion_tokens", len(parts))
        return "".join(parts), usage.get("prompt_tokens", 0), completion


def _raise_for_error(result: Any, path: Path) -> None:
    """A ModelError for llama.cpp's error reply ("the request exceeds the available context size")."""
    if not isinstance(result, dict) or "error" not in result:
        return
    error = result["error"]
    message = error.get("message", error) if isinstance(error, dict) else error
    raise ModelError(
        f"llama.cpp (xllamacpp) failed while generating with {path.name}: {message}",
        hint="fewer or shorter passages (a smaller max_passages) keep the prompt inside the model's context.",
    )
