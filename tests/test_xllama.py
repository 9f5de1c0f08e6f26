"""The xllamacpp backend, run for real: llama.cpp loads a tiny GGUF model written by the test."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import jsonschema
import pytest

from curbside.answer.backends import ChatMessage
from curbside.answer.backends.xllama import LOOPBACK, XLlamaCppBackend
from curbside.config import Settings
from curbside.errors import ModelError
from curbside.registry import get_registry
from curbside.testing import write_tiny_gguf

pytest.importorskip("xllamacpp", reason="xllamacpp is in the llm and dev extras")

HI = [ChatMessage("user", "hi")]
SCHEMA = {
    "type": "object",
    "properties": {"bottom_line": {"type": "integer"}},
    "required": ["bottom_line"],
    "additionalProperties": False,
}


@pytest.fixture(scope="module")
def backend(tmp_path_factory: pytest.TempPathFactory) -> XLlamaCppBackend:
    model = write_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")
    return XLlamaCppBackend(model_path=model, n_ctx=512, n_threads=1)


def test_it_is_the_default_chat_backend(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).llm_backend == "xllamacpp"
    assert get_registry().get("chat", "xllamacpp") is XLlamaCppBackend


def test_chat_reports_usage(backend: XLlamaCppBackend) -> None:
    reply = backend.chat(HI, max_tokens=6)
    assert isinstance(reply, str) and reply
    assert backend.last_usage["completion_tokens"] == 6
    assert backend.last_usage["prompt_tokens"] > 0 and backend.last_usage["seconds"] > 0


def test_a_schema_constrains_the_reply_to_valid_json(backend: XLlamaCppBackend) -> None:
    # Random weights write noise; llama.cpp's JSON-schema grammar leaves them only valid JSON.
    reply = backend.chat(HI, schema=SCHEMA, max_tokens=60)
    jsonschema.validate(json.loads(reply), SCHEMA)


def test_streamed_pieces_join_to_the_reply(backend: XLlamaCppBackend) -> None:
    pieces: list[str] = []
    reply = backend.chat(HI, max_tokens=6, on_token=pieces.append)
    assert pieces and "".join(pieces) == reply
    assert backend.last_usage["completion_tokens"] == 6


def test_the_model_is_loaded_once_per_process(backend: XLlamaCppBackend) -> None:
    again = XLlamaCppBackend(model_path=backend.model_path, n_ctx=512, n_threads=1)
    assert again._loaded()[0] is backend._loaded()[0]


def test_a_prompt_past_the_context_is_a_clear_error(backend: XLlamaCppBackend) -> None:
    long = [ChatMessage("user", "word " * 2000)]
    with pytest.raises(ModelError, match=r"xllamacpp.*tiny\.gguf"):
        backend.chat(long, max_tokens=4)
    assert backend.chat(HI, max_tokens=2)  # the server still answers afterwards


def _listening_hosts(port: int) -> set[str]:
    """The local addresses listening on ``port`` (IPv4 and IPv6), read from /proc/net."""
    hosts = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hexport = local.rsplit(":", 1)
            if state == "0A" and int(hexport, 16) == port:  # 0A: LISTEN
                hosts.add(address)
    return hosts


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the socket table in /proc/net")
def test_the_embedded_server_listens_on_loopback_only_and_needs_a_key(backend: XLlamaCppBackend) -> None:
    url = httpx.URL(backend.listening_address)
    assert url.host == LOOPBACK
    # 0100007F is 127.0.0.1 as /proc/net/tcp prints it; 00000000 would be every interface.
    assert _listening_hosts(url.port or 0) == {"0100007F"}
    refused = httpx.get(str(url.join("/v1/models")), timeout=10)
    assert refused.status_code == 401  # the key lives only in this process's memory


def test_missing_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "xllamacpp", None)
    with pytest.raises(ModelError) as err:
        XLlamaCppBackend(model_path=write_tiny_gguf(tmp_path / "m.gguf"))
    assert "xllamacpp package" in str(err.value) and "install.sh llm" in (err.value.hint or "")


def test_missing_model_file_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as err:
        XLlamaCppBackend(Settings(data_dir=tmp_path))  # the default file, not installed
    assert "does not exist" in str(err.value) and "curbside models install" in (err.value.hint or "")
    # A path someone chose: installing the model would not help while the setting points elsewhere.
    with pytest.raises(ModelError) as err:
        XLlamaCppBackend(Settings(data_dir=tmp_path, llm_model_path=tmp_path / "typo.gguf"))
    assert (
        err.value.hint == "correct or unset CURBSIDE_LLM_MODEL_PATH (the installed model is used without it)"
    )


def test_a_file_that_is_no_model_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(ModelError, match="could not load"):
        XLlamaCppBackend(model_path=bad).chat(HI, max_tokens=1)
