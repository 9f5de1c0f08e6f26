"""The servers people run, one recipe each: vLLM, Ollama, the llama.cpp server and a hosted API.

Each speaks the OpenAI chat-completions protocol through curbside's ``openai`` backend; the
replies here are in each server's own format (``tests/cassettes/servers``: the llama.cpp ones
recorded from a real llama-server, the others written from each server's documentation), and
the llama.cpp server also runs for real, from the xllamacpp wheel. docs/llm.md has the recipes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from curbside.answer.backends import ChatMessage
from curbside.answer.backends.openai_compat import OpenAICompatBackend
from curbside.answer.compose import compose_article
from curbside.config import Settings
from curbside.errors import RemoteError
from curbside.testing import serve_transport
from curbside.types import Article, ArticleSection, Citation, Claim

CASSETTES = Path(__file__).parent / "cassettes" / "servers"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"sentences": {"type": "array", "items": {"type": "object"}}},
    "required": ["sentences"],
}
EXPECTED = "Two patients receiving clozapine developed grand mal seizures."
#: (recipe, CURBSIDE_LLM_MODEL, CURBSIDE_LLM_API_KEY) as docs/llm.md gives them.
RECIPES = [
    ("vllm", "qwen2.5-1.5b-instruct", None),
    ("ollama", "qwen2.5:1.5b", None),
    ("llamacpp", "qwen2.5-1.5b-instruct", None),
    ("hosted", "gpt-4o-mini", "sk-hosted-test"),
]


class Server:
    """Answers /v1/chat/completions from one recipe's cassettes and records every request."""

    def __init__(self, recipe: str, replies: list[str] | None = None) -> None:
        self.recipe = recipe
        self.replies = replies  # plain-text replies instead of the cassette (a server ignoring schemas)
        self.requests: list[tuple[httpx.Request, dict[str, Any]]] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append((request, body))
        if self.replies is not None:
            text = self.replies[min(len(self.requests), len(self.replies)) - 1]
            return httpx.Response(
                200, json={"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
            )
        if body.get("stream"):
            data = (CASSETTES / f"{self.recipe}-stream.txt").read_bytes()
            return httpx.Response(200, content=data, headers={"Content-Type": "text/event-stream"})
        data = (CASSETTES / f"{self.recipe}-completion.json").read_bytes()
        return httpx.Response(200, content=data, headers={"Content-Type": "application/json"})


def _serve(server: Server) -> Iterator[str]:
    with serve_transport(httpx.MockTransport(server.handle)) as base:
        yield base + "v1"


def _backend(url: str, model: str, key: str | None) -> OpenAICompatBackend:
    settings = Settings(llm_backend="openai", llm_url=url, llm_model=model, llm_api_key=key)
    return OpenAICompatBackend(settings, sleep=lambda s: None)


@pytest.mark.parametrize(("recipe", "model", "key"), RECIPES)
def test_each_server_answers_a_schema_request(recipe: str, model: str, key: str | None) -> None:
    server = Server(recipe)
    for url in _serve(server):
        with _backend(url, model, key) as chat:
            reply = chat.chat([ChatMessage("user", "Rewrite [c1].")], schema=SCHEMA, max_tokens=80)
            usage = chat.last_usage
    assert json.loads(reply)["sentences"][0]["text"] == EXPECTED
    assert usage is not None and usage["completion_tokens"] > 0
    request, body = server.requests[0]
    assert request.url.path == "/v1/chat/completions"
    assert body["model"] == model  # vLLM: its --served-model-name; Ollama: the pulled tag
    # Constrained decoding: vLLM's structured outputs, Ollama's `format`, llama.cpp's grammar, and
    # OpenAI's strict structured outputs all read this one field.
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"] == SCHEMA
    assert ("authorization" in request.headers) == (key is not None)


@pytest.mark.parametrize(("recipe", "model", "key"), RECIPES)
def test_each_server_streams(recipe: str, model: str, key: str | None) -> None:
    server = Server(recipe)
    pieces: list[str] = []
    for url in _serve(server):
        with _backend(url, model, key) as chat:
            reply = chat.chat([ChatMessage("user", "Rewrite [c1].")], schema=SCHEMA, on_token=pieces.append)
    assert "".join(pieces) == reply
    assert json.loads(reply)["sentences"][0]["text"] == EXPECTED
    assert server.requests[0][1]["stream"] is True


def _article() -> Article:
    text = "Two patients receiving clozapine developed grand mal seizures."
    claim = Claim(text, (Citation("pmid:412427", 0, len(text), text),), verdict="supported", support=0.9)
    return Article(
        question="What are the adverse effects of clozapine?",
        qtype="general",
        title="Adverse Effects of Clozapine",
        bottom_line=(claim,),
        sections=(ArticleSection("adverse-effects", "Adverse effects", (claim,)),),
    )


def test_a_server_that_ignores_the_schema_gets_one_retry_then_the_quotes_with_a_warning() -> None:
    server = Server("vllm", replies=["Sure! Clozapine can cause seizures.", "Clozapine causes seizures."])
    for url in _serve(server):
        with _backend(url, "qwen2.5-1.5b-instruct", None) as chat:
            article = compose_article(_article(), chat)
    assert len(server.requests) == 4  # two parts, each asked twice: bounded
    retry = server.requests[1][1]["messages"][-1]["content"]
    assert retry.startswith("That reply cannot be used: it is not JSON")
    assert article.bottom_line == _article().bottom_line  # the verified quote, unchanged
    (warning,) = [w for w in article.warnings if w.code == "composition"]
    assert "reply was unusable for Bottom line" in warning.message


def test_the_real_llama_cpp_server_answers_the_openai_backend(tmp_path: Path) -> None:
    """llama.cpp's own HTTP server (embedded in the xllamacpp wheel) with a tiny real model."""
    xllamacpp = pytest.importorskip("xllamacpp", reason="xllamacpp is in the llm and dev extras")
    from curbside.testing import write_tiny_gguf

    params = xllamacpp.CommonParams()
    params.model.path = str(write_tiny_gguf(tmp_path / "tiny.gguf"))
    params.n_ctx = 2048
    params.cpuparams.n_threads = 1
    params.hostnames = ["127.0.0.1"]
    params.port = 0
    params.api_keys = ["sk-local-test"]
    params.verbosity = -1
    server = xllamacpp.Server(params)
    url = f"{server.listening_address}/v1"
    with _backend(url, "tiny", "sk-local-test") as chat:
        reply = chat.chat([ChatMessage("user", "hi")], schema=SCHEMA, max_tokens=60)
        assert isinstance(json.loads(reply)["sentences"], list)  # the grammar held
        pieces: list[str] = []
        streamed = chat.chat([ChatMessage("user", "hi")], max_tokens=5, on_token=pieces.append)
        assert "".join(pieces) == streamed
    with _backend(url, "tiny", None) as anonymous, pytest.raises(RemoteError, match=r"401"):
        anonymous.chat([ChatMessage("user", "hi")], max_tokens=2)
    del server
