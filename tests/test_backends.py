"""Chat backends: the OpenAI-compatible client over real HTTP, and the llama.cpp backend."""

from __future__ import annotations

import importlib
import json
import os
import socket
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from curbside.answer.backends import ChatMessage
from curbside.answer.backends.install import MODELS, installed_path
from curbside.answer.backends.llamacpp import LlamaCppBackend
from curbside.answer.backends.openai_compat import OpenAICompatBackend
from curbside.config import Settings
from curbside.errors import ModelError, RemoteError, UnreachableError
from curbside.registry import get_registry
from curbside.testing import FakeChatBackend, FakeLLM, serve_transport

CASSETTES = Path(__file__).parent / "cassettes" / "openai"
MESSAGES = [ChatMessage("system", "Answer in JSON."), ChatMessage("user", "What causes leukopenia?")]
SCHEMA: dict[str, Any] = {
    "title": "Causes Answer",
    "type": "object",
    "properties": {"bottom_line": {"type": "array", "items": {"type": "string"}}},
    "required": ["bottom_line"],
    "additionalProperties": False,
}

Responder = Callable[[dict[str, Any]], httpx.Response]


def cassette(name: str) -> bytes:
    return (CASSETTES / name).read_bytes()


def completion() -> httpx.Response:
    return httpx.Response(
        200, content=cassette("completion.json"), headers={"Content-Type": "application/json"}
    )


def event_stream(body: bytes | None = None) -> httpx.Response:
    return httpx.Response(
        200, content=body or cassette("stream.txt"), headers={"Content-Type": "text/event-stream"}
    )


class StandIn:
    """An OpenAI-compatible server stand-in: answers from the cassettes, records every request."""

    def __init__(self) -> None:
        self.requests: list[tuple[httpx.Request, dict[str, Any]]] = []
        self.script: list[Responder] = []  # answers for the next requests, in order
        self.reject_json_schema = False

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [body for _, body in self.requests]

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.requests.append((request, body))
        if request.url.path != "/v1/chat/completions":
            return httpx.Response(404, json={"error": {"message": f"File Not Found: {request.url.path}"}})
        if self.script:
            return self.script.pop(0)(body)
        if self.reject_json_schema and body.get("response_format", {}).get("type") == "json_schema":
            return httpx.Response(400, content=cassette("json_schema_unsupported.json"))
        return event_stream() if body["stream"] else completion()


@pytest.fixture
def server() -> Iterator[tuple[StandIn, str]]:
    stand_in = StandIn()
    with serve_transport(httpx.MockTransport(stand_in.handle)) as base:
        yield stand_in, base + "v1"


def backend(url: str, **kw: Any) -> OpenAICompatBackend:
    kw.setdefault("sleep", lambda seconds: None)
    return OpenAICompatBackend(
        Settings(llm_url=url, llm_model="qwen2.5-1.5b-instruct", llm_api_key=None), **kw
    )


# --- OpenAI-compatible: happy paths ---------------------------------------------------------------


def test_plain_completion(server: tuple[StandIn, str]) -> None:
    stand_in, url = server
    with backend(url + "/", api_key="sk-test") as chat:
        text = chat.chat(MESSAGES, temperature=0.2, max_tokens=300)
    assert text == '{"bottom_line": []}'
    request, body = stand_in.requests[0]
    assert request.method == "POST"
    assert request.headers["authorization"] == "Bearer sk-test"
    assert body == {
        "model": "qwen2.5-1.5b-instruct",
        "messages": [
            {"role": "system", "content": "Answer in JSON."},
            {"role": "user", "content": "What causes leukopenia?"},
        ],
        "temperature": 0.2,
        "max_tokens": 300,
        "stream": False,
    }
    assert chat.last_usage == {"prompt_tokens": 412, "completion_tokens": 7, "total_tokens": 419}


def test_schema_requests_strict_json_schema(server: tuple[StandIn, str]) -> None:
    stand_in, url = server
    with backend(url) as chat:
        chat.chat(MESSAGES, schema=SCHEMA)
    assert stand_in.bodies[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Causes_Answer", "schema": SCHEMA, "strict": True},
    }
    assert chat.json_schema_supported is True
    assert "authorization" not in stand_in.requests[0][0].headers


def test_streaming_parses_server_sent_events(server: tuple[StandIn, str]) -> None:
    stand_in, url = server
    tokens: list[str] = []
    with backend(url) as chat:
        text = chat.chat(MESSAGES, schema=SCHEMA, on_token=tokens.append)
    assert tokens == ['{"bottom', '_line": ', "[]}"]  # the empty role delta and the keep-alive are skipped
    assert text == '{"bottom_line": []}'
    assert stand_in.bodies[0]["stream"] is True
    assert chat.last_usage == {"prompt_tokens": 412, "completion_tokens": 7, "total_tokens": 419}


def test_stream_requested_but_server_answers_json(server: tuple[StandIn, str]) -> None:
    stand_in, url = server
    stand_in.script.append(lambda body: completion())
    tokens: list[str] = []
    with backend(url) as chat:
        assert chat.chat(MESSAGES, on_token=tokens.append) == '{"bottom_line": []}'
    assert tokens == ['{"bottom_line": []}']


def test_json_schema_400_falls_back_to_json_object_and_remembers(server: tuple[StandIn, str]) -> None:
    stand_in, url = server
    stand_in.reject_json_schema = True
    with backend(url) as chat:
        assert chat.chat(MESSAGES, schema=SCHEMA) == '{"bottom_line": []}'
        assert [b["response_format"]["type"] for b in stand_in.bodies] == ["json_schema", "json_object"]
        assert chat.json_schema_supported is False
        chat.chat(MESSAGES, schema=SCHEMA, on_token=lambda t: None)
    assert [b["response_format"]["type"] for b in stand_in.bodies] == [
        "json_schema",
        "json_object",
        "json_object",
    ]


def test_both_structured_formats_refused(server: tuple[StandIn, str]) -> None:
    stand_in, url = server
    bad = httpx.Response(400, json={"error": {"message": "response_format is not supported"}})
    stand_in.script += [lambda body: bad, lambda body: bad]
    with backend(url) as chat, pytest.raises(RemoteError) as info:
        chat.chat(MESSAGES, schema=SCHEMA)
    assert "refused both json_schema and json_object" in str(info.value)
    assert "response_format is not supported" in str(info.value)
    assert chat.json_schema_supported is None


# --- OpenAI-compatible: failures ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def test_unreachable_names_url_and_fallback() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with backend(url) as chat, pytest.raises(UnreachableError) as info:
        chat.chat(MESSAGES)
    message = str(info.value)
    assert f"{url}/chat/completions" in message
    assert "--synthesizer extractive" in message
    assert "CURBSIDE_LLM_URL" in message
    assert info.value.url == f"{url}/chat/completions"


def test_unreachable_while_streaming() -> None:
    with backend(f"http://127.0.0.1:{free_port()}/v1") as chat, pytest.raises(UnreachableError):
        chat.chat(MESSAGES, on_token=lambda t: None)


def test_http_error_carries_server_message(server: tuple[StandIn, str]) -> None:
    stand_in, url = server
    stand_in.script.append(lambda body: httpx.Response(404, content=cassette("server_error.json")))
    with backend(url) as chat, pytest.raises(RemoteError) as info:
        chat.chat(MESSAGES)
    assert info.value.status == 404
    assert "HTTP 404: The model `nosuch` does not exist." in str(info.value)
    assert "CURBSIDE_LLM_MODEL" in str(info.value)
    assert len(stand_in.requests) == 1  # a 404 is not retried


def test_wrong_path_gives_url_hint(server: tuple[StandIn, str]) -> None:
    _, url = server
    with backend(url.removesuffix("/v1")) as chat, pytest.raises(RemoteError) as info:
        chat.chat(MESSAGES)
    assert "File Not Found: /chat/completions" in str(info.value)
    assert "usually ending in /v1" in str(info.value)


def test_auth_error_hints_at_api_key(server: tuple[StandIn, str]) -> None:
    stand_in, url = server
    stand_in.script.append(lambda body: httpx.Response(401, text="Invalid API Key"))
    with backend(url) as chat, pytest.raises(RemoteError, match="CURBSIDE_LLM_API_KEY"):
        chat.chat(MESSAGES)


def test_busy_server_is_retried_with_retry_after(server: tuple[StandIn, str]) -> None:
    stand_in, url = server
    busy = httpx.Response(503, headers={"Retry-After": "2"}, json={"error": "Loading model"})
    stand_in.script += [lambda body: busy, lambda body: httpx.Response(429, text="slow down")]
    waits: list[float] = []
    with backend(url, sleep=waits.append) as chat:
        assert chat.chat(MESSAGES) == '{"bottom_line": []}'
    assert waits == [2.0, 2.0]  # Retry-After, then exponential backoff (2**1)
    assert len(stand_in.requests) == 3


def test_busy_server_gives_up_after_retries(server: tuple[StandIn, str]) -> None:
    stand_in, url = server
    stand_in.script += [lambda body: httpx.Response(503, json={"error": {"message": "Loading model"}})] * 3
    with backend(url, retries=2) as chat, pytest.raises(RemoteError, match="HTTP 503: Loading model"):
        chat.chat(MESSAGES, on_token=lambda t: None)
    assert len(stand_in.requests) == 3


def test_timeout_is_retried(server: tuple[StandIn, str]) -> None:
    stand_in, url = server

    def slow(body: dict[str, Any]) -> httpx.Response:
        time.sleep(0.6)
        return completion()

    stand_in.script += [slow]
    waits: list[float] = []
    with backend(url, timeout=0.2, sleep=waits.append) as chat:
        assert chat.chat(MESSAGES) == '{"bottom_line": []}'
    assert waits == [1.0]
    assert len(stand_in.requests) == 2


def test_timeouts_exhausted_is_unreachable(server: tuple[StandIn, str]) -> None:
    stand_in, url = server

    def slow(body: dict[str, Any]) -> httpx.Response:
        time.sleep(0.4)
        return completion()

    stand_in.script += [slow, slow]
    with backend(url, timeout=0.15, retries=1) as chat, pytest.raises(UnreachableError) as info:
        chat.chat(MESSAGES)
    assert "did not answer within 0.15 s (2 attempts)" in str(info.value)
    assert "CURBSIDE_LLM_TIMEOUT" in str(info.value)


def test_error_event_mid_stream(server: tuple[StandIn, str]) -> None:
    stand_in, url = server
    body = (
        b'data: {"choices":[{"index":0,"delta":{"content":"{"}}]}\n\n'
        b'data: {"error":{"message":"context window exceeded"}}\n\n'
    )
    stand_in.script.append(lambda b: event_stream(body))
    tokens: list[str] = []
    with backend(url) as chat, pytest.raises(RemoteError, match="failed mid-stream: context window exceeded"):
        chat.chat(MESSAGES, on_token=tokens.append)
    assert tokens == ["{"]


def test_malformed_answers_are_remote_errors(server: tuple[StandIn, str]) -> None:
    stand_in, url = server
    stand_in.script += [
        lambda b: httpx.Response(200, text="<html>proxy login</html>"),
        lambda b: httpx.Response(200, json={"choices": []}),
        lambda b: event_stream(b"data: {not json\n\n"),
    ]
    with backend(url) as chat:
        with pytest.raises(RemoteError, match="something other than JSON"):
            chat.chat(MESSAGES)
        with pytest.raises(RemoteError, match=r"without choices\[0\]\.message"):
            chat.chat(MESSAGES)
        with pytest.raises(RemoteError, match="malformed stream event"):
            chat.chat(MESSAGES, on_token=lambda t: None)


def test_refusal_is_a_model_error(server: tuple[StandIn, str]) -> None:
    stand_in, url = server
    refusal = {"choices": [{"message": {"role": "assistant", "content": None, "refusal": "I can't help."}}]}
    stand_in.script.append(lambda b: httpx.Response(200, json=refusal))
    with backend(url) as chat, pytest.raises(ModelError, match=r"refused to answer: I can't help\."):
        chat.chat(MESSAGES)


def test_api_key_falls_back_to_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CURBSIDE_LLM_API_KEY", raising=False)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    assert Settings().llm_api_key == "sk-openai"
    monkeypatch.setenv("CURBSIDE_LLM_API_KEY", "sk-curbside")
    assert Settings().llm_api_key == "sk-curbside"
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.delenv("CURBSIDE_LLM_API_KEY")
    assert Settings().llm_api_key is None


def test_registered_chat_backends() -> None:
    registry = get_registry()
    assert registry.get("chat", "openai") is OpenAICompatBackend
    assert registry.get("chat", "llamacpp") is LlamaCppBackend


# --- the fake -------------------------------------------------------------------------------------


def test_fake_backend_scripts_records_and_streams() -> None:
    fake = FakeChatBackend(["one two  three", "second"])
    assert FakeLLM is FakeChatBackend
    tokens: list[str] = []
    assert fake.chat(MESSAGES, schema=SCHEMA, on_token=tokens.append, max_tokens=9) == "one two  three"
    assert tokens == ["one ", "two ", " ", "three"]
    assert fake.chat(MESSAGES) == "second"
    assert [(c.schema, c.max_tokens, c.streamed) for c in fake.calls] == [
        (SCHEMA, 9, True),
        (None, 1500, False),
    ]
    assert fake.calls[0].messages == tuple(MESSAGES)
    with pytest.raises(ModelError, match="no scripted reply left for call 3"):
        fake.chat(MESSAGES)


# --- llama.cpp ------------------------------------------------------------------------------------


def test_llamacpp_missing_package_says_how_to_install(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # makes `import llama_cpp` fail even if installed
    with pytest.raises(ModelError) as info:
        LlamaCppBackend(settings)
    message = str(info.value)
    assert "llama-cpp-python" in message
    assert "./scripts/install.sh llamacpp" in message
    assert "curbside models install" in message


class FakeLlama:
    """Stands in for ``llama_cpp.Llama`` to exercise the backend's calls without the native library."""

    instances: ClassVar[list[FakeLlama]] = []

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.calls: list[dict[str, Any]] = []
        FakeLlama.instances.append(self)

    def create_chat_completion(self, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if kwargs["max_tokens"] == 0:
            raise ValueError("Requested tokens (5000) exceed context window of 4096")
        if kwargs["stream"]:
            return iter(
                [
                    {"choices": [{"index": 0, "delta": {"role": "assistant"}}]},
                    {"choices": [{"index": 0, "delta": {"content": '{"a":'}}]},
                    {"choices": [{"index": 0, "delta": {"content": " 1}"}}]},
                    {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
                ]
            )
        return {
            "choices": [{"index": 0, "message": {"role": "assistant", "content": '{"a": 1}'}}],
            "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
        }


@pytest.fixture
def fake_llama_cpp(monkeypatch: pytest.MonkeyPatch) -> type[FakeLlama]:
    module = types.ModuleType("llama_cpp")
    module.Llama = FakeLlama  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "llama_cpp", module)
    FakeLlama.instances = []
    return FakeLlama


def test_llamacpp_missing_model_file(fake_llama_cpp: type[FakeLlama], settings: Settings) -> None:
    with pytest.raises(ModelError) as info:
        LlamaCppBackend(settings)
    assert str(settings.llm_model_path) in str(info.value)
    assert "curbside models install" in str(info.value)


def test_llamacpp_backend_calls(fake_llama_cpp: type[FakeLlama], tmp_path: Path) -> None:
    gguf = tmp_path / "qwen.gguf"
    gguf.write_bytes(b"GGUF")
    chat = LlamaCppBackend(Settings(llm_model_path=gguf))
    assert chat.model == "qwen"
    assert fake_llama_cpp.instances == []  # loaded lazily, on the first chat
    assert chat.chat(MESSAGES, schema=SCHEMA, temperature=0.1, max_tokens=50) == '{"a": 1}'
    tokens: list[str] = []
    assert chat.chat(MESSAGES, on_token=tokens.append) == '{"a": 1}'
    assert tokens == ['{"a":', " 1}"]
    (llama,) = fake_llama_cpp.instances
    assert llama.kwargs == {
        "model_path": str(gguf),
        "n_ctx": 4096,
        "n_threads": os.cpu_count(),
        "verbose": False,
    }
    first, second = llama.calls
    assert first == {
        "messages": [m.to_dict() for m in MESSAGES],
        "temperature": 0.1,
        "max_tokens": 50,
        "stream": False,
        "response_format": {"type": "json_object", "schema": SCHEMA},
    }
    assert second["stream"] is True and "response_format" not in second
    with pytest.raises(ModelError, match="exceed context window"):
        chat.chat(MESSAGES, max_tokens=0)


def test_llamacpp_backend_reports_usage(fake_llama_cpp: type[FakeLlama], tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    chat = LlamaCppBackend(model_path=gguf, settings=Settings())
    assert chat.last_usage == {}
    chat.chat(MESSAGES)
    assert chat.last_usage["prompt_tokens"] == 20 and chat.last_usage["completion_tokens"] == 5
    chat.chat(MESSAGES, on_token=lambda _: None)
    assert chat.last_usage["completion_tokens"] == 2  # one streamed chunk per token: '{"a":' and ' 1}'
    assert chat.last_usage["seconds"] >= 0


def test_llamacpp_model_is_loaded_once_per_process(fake_llama_cpp: type[FakeLlama], tmp_path: Path) -> None:
    # api.ask builds a backend per question: the second must reuse the loaded model, not reload it.
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    LlamaCppBackend(model_path=gguf, settings=Settings()).chat(MESSAGES)
    LlamaCppBackend(model_path=gguf, settings=Settings()).chat(MESSAGES)
    assert len(fake_llama_cpp.instances) == 1 and len(fake_llama_cpp.instances[0].calls) == 2
    # Another file (or context size) replaces it.
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF")
    LlamaCppBackend(model_path=other, settings=Settings()).chat(MESSAGES)
    LlamaCppBackend(model_path=gguf, n_ctx=2048, settings=Settings()).chat(MESSAGES)
    assert [i.kwargs["model_path"] for i in fake_llama_cpp.instances] == [str(gguf), str(other), str(gguf)]


def test_llamacpp_backend_serialises_threads(fake_llama_cpp: type[FakeLlama], tmp_path: Path) -> None:
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    chat = LlamaCppBackend(model_path=gguf, n_threads=2, settings=Settings())
    threads = [threading.Thread(target=chat.chat, args=(MESSAGES,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(fake_llama_cpp.instances) == 1  # one model, loaded once under the lock
    assert len(fake_llama_cpp.instances[0].calls) == 4


def test_llamacpp_turns_weight_repacking_off(fake_llama_cpp: type[FakeLlama], tmp_path: Path) -> None:
    # llama-cpp-python's Llama() reads llama_model_default_params() from its native module; the
    # AMX repack segfaulted on the first decode, so the backend clears use_extra_bufts by default.
    native = types.SimpleNamespace(
        llama_model_default_params=lambda: types.SimpleNamespace(use_extra_bufts=True)
    )
    sys.modules["llama_cpp"].llama_cpp = native  # type: ignore[attr-defined]
    seen: list[bool] = []

    class ParamsLlama(FakeLlama):
        def __init__(self, **kwargs: Any) -> None:
            seen.append(native.llama_model_default_params().use_extra_bufts)
            super().__init__(**kwargs)

    sys.modules["llama_cpp"].Llama = ParamsLlama  # type: ignore[attr-defined]
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    LlamaCppBackend(model_path=gguf, settings=Settings()).chat(MESSAGES)
    LlamaCppBackend(model_path=gguf, settings=Settings(), repack=True).chat(MESSAGES)
    assert seen == [False, True]
    assert native.llama_model_default_params().use_extra_bufts is True  # the wrapper was removed


def _real_model() -> Path:
    try:
        importlib.import_module("llama_cpp")
    except ImportError:
        pytest.skip("llama-cpp-python is not installed (./scripts/install.sh llamacpp)")
    settings = Settings()
    if settings.llm_model_path.is_file():
        return settings.llm_model_path
    # Any installed model will do (the 0.5B is the one that fits a small machine).
    folder = settings.llm_model_path.parent
    for name in MODELS:
        installed = installed_path(folder, name)
        if installed is not None:
            return installed
    pytest.skip(f"no model at {settings.llm_model_path} nor any model in {folder} (curbside models install)")


@pytest.mark.slow
def test_llamacpp_real_model_answers_json() -> None:
    chat = LlamaCppBackend(model_path=_real_model())
    text = chat.chat(
        [ChatMessage("user", 'Reply with a JSON object {"bottom_line": [...]} listing two colours.')],
        schema=SCHEMA,
        max_tokens=60,
    )
    assert isinstance(json.loads(text)["bottom_line"], list)
