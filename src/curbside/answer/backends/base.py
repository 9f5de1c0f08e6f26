"""The ``ChatBackend`` contract shared by every language-model client.

A backend turns a conversation into the model's full reply text.  It knows
nothing about articles or citations: the synthesizer builds the messages,
passes a JSON schema when it wants structured output, and validates the reply
itself (a backend never repairs or post-processes what the model wrote).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from curbside.errors import ModelError

Role = Literal["system", "user", "assistant"]

#: Receives each piece of text as the model produces it (streaming).
TokenCallback = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One turn of a conversation, in the role vocabulary every chat API shares."""

    role: Role
    content: str

    def to_dict(self) -> dict[str, str]:
        return {"role": self.role, "content": self.content}


class ChatBackend(Protocol):
    """A language model behind one method; ``name`` is the registry name, ``model`` the model used."""

    name: str
    model: str

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        temperature: float = 0.0,
        max_tokens: int = 1500,
        on_token: TokenCallback | None = None,
    ) -> str:
        """Return the model's complete reply to ``messages``.

        With ``schema`` (a JSON Schema object) the backend asks the model for
        JSON matching it, using whatever constrained decoding the server
        offers; the caller still validates the reply.  With ``on_token`` the
        reply is streamed: every piece of text is passed to it as it arrives,
        and the pieces joined equal the returned string.
        """
        ...


def completion_text(result: Any, source: str) -> str:
    """The reply text of an OpenAI-shaped chat completion (``choices[0].message.content``); a
    ModelError naming ``source`` ("llama.cpp with qwen.gguf") when the completion has no such field."""
    try:
        content = result["choices"][0]["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ModelError(f"{source} returned an unexpected completion: {result!r:.300}") from None
    return content if isinstance(content, str) else ""


def delta_pieces(chunk: Any) -> list[str]:
    """The non-empty text pieces of one streamed chat-completion chunk (``choices[].delta.content``),
    in the shape every OpenAI-style stream shares; anything else in the chunk is ignored."""
    choices = chunk.get("choices") if isinstance(chunk, dict) else None
    pieces = []
    for choice in choices or ():
        delta = choice.get("delta") if isinstance(choice, dict) else None
        piece = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(piece, str) and piece:
            pieces.append(piece)
    return pieces
