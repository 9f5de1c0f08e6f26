"""Chat backends: one-method clients of a language model (see :class:`ChatBackend`).

``xllamacpp`` (the default) runs a GGUF model in process with a prebuilt llama.cpp
wheel; ``openai`` talks to any OpenAI-compatible HTTP server (llama.cpp ``llama-server``,
vLLM, Ollama, hosted APIs); ``llamacpp`` runs a GGUF model in process with
llama-cpp-python, which compiles on install.  All are registered under the registry
kind ``"chat"``.
"""

from curbside.answer.backends.base import ChatBackend, ChatMessage, TokenCallback

__all__ = ["ChatBackend", "ChatMessage", "TokenCallback"]
