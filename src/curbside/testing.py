"""Test doubles shipped as public API, so plugin authors can test against them too.

Each is a working implementation of a curbside protocol that needs no network
and no model files: a recorded E-utilities transport, a fake embedder, a fake
language model.
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import urllib.parse
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from curbside.answer.backends.base import ChatMessage
    from curbside.config import Settings

# --------------------------------------------------------------------------------------------------
# FakeEmbedder
# --------------------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+")
#: Character 3-grams count half as much as whole words: enough to pull spelling variants
#: (leucopenia / leukopenia) together without letting shared fragments swamp shared words.
_TRIGRAM_WEIGHT = 0.5


@lru_cache(maxsize=65_536)
def _hashed_features(word: str, dim: int) -> tuple[tuple[int, float], ...]:
    """(bucket, signed weight) for a word and its boundary-marked character 3-grams.

    crc32 rather than ``hash()``: Python salts string hashes per process, and the
    fake must give the same vectors in every run.  The sign bit (signed feature
    hashing) keeps unrelated texts near cosine 0 instead of all slightly positive.
    """
    feats: list[tuple[int, float]] = []
    pieces = [("w:" + word, 1.0)]
    marked = f"<{word}>"
    pieces += [("c:" + marked[i : i + 3], _TRIGRAM_WEIGHT) for i in range(len(marked) - 2)]
    for piece, weight in pieces:
        h = zlib.crc32(piece.encode("utf-8"))
        feats.append((h % dim, weight if h & 0x80000000 else -weight))
    return tuple(feats)


class FakeEmbedder:
    """A deterministic embedder with no model: hashed bag of lowercase words and character 3-grams.

    Texts that share words get a higher cosine, which is all retrieval tests
    need.  Rows are L2-normalised; a text with no word characters maps to the
    first basis vector so every row still has unit length.  Registered as the
    ``fake`` embedder; constructor convention as for every embedder:
    ``FakeEmbedder(settings=None, *, dim=64)``.
    """

    def __init__(self, settings: Settings | None = None, *, dim: int = 64) -> None:
        from curbside.errors import InputError

        if dim < 2:
            raise InputError(f"FakeEmbedder dim must be at least 2, got {dim}")
        self.settings = settings
        self.dim = dim
        self.name = f"fake-hash-{dim}"
        self.calls = 0  # number of embed() calls, for tests that check caching

    def __repr__(self) -> str:
        return f"FakeEmbedder(dim={self.dim})"

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        from curbside.retrieval.embeddings import check_texts

        check_texts(texts)
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                for bucket, weight in _hashed_features(word, self.dim):
                    rows.append(row)
                    cols.append(bucket)
                    vals.append(weight)
        # One unbuffered scatter-add instead of a numpy scalar update per feature.
        np.add.at(out, (np.asarray(rows, dtype=np.intp), np.asarray(cols, dtype=np.intp)), vals)
        norms = np.linalg.norm(out, axis=1)
        empty = norms == 0
        out[empty, 0] = 1.0
        norms[empty] = 1.0
        out /= norms[:, None]
        return out


# --------------------------------------------------------------------------------------------------
# RecordedTransport: recorded HTTP answers for E-utilities (and any other REST source)
# --------------------------------------------------------------------------------------------------

#: Name of the index file in a cassette folder.
CASSETTE_INDEX = "cassettes.json"

_CONTENT_TYPES = {".xml": "text/xml; charset=UTF-8", ".json": "application/json", ".txt": "text/plain"}


@dataclass(frozen=True)
class Route:
    """One recorded answer and the requests it answers.

    A request matches when its method equals ``method`` (``None`` matches any),
    its URL path ends with ``path`` and every pair in ``params`` appears among
    its parameters (query string and form body together; other parameters are
    ignored).
    """

    path: str
    body: bytes
    params: Mapping[str, str] = field(default_factory=dict)
    method: str | None = None
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)

    def matches(self, method: str, path: str, params: Mapping[str, str]) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if not path.endswith(self.path):
            return False
        return all(params.get(k) == v for k, v in self.params.items())


@dataclass(frozen=True)
class RecordedRequest:
    """A request a :class:`RecordedTransport` received, with its parameters decoded."""

    method: str
    url: httpx.URL
    params: dict[str, str]
    request: httpx.Request

    @property
    def path(self) -> str:
        return self.url.path


@dataclass
class _Failure:
    remaining: int
    status: int
    headers: Mapping[str, str]
    body: bytes
    error: type[httpx.TransportError] | None
    path: str | None


def _request_params(request: httpx.Request) -> dict[str, str]:
    """Query-string and form-body parameters of ``request`` (last value wins)."""
    params = dict(request.url.params.multi_items())
    if request.method.upper() == "POST" and "form-urlencoded" in request.headers.get("content-type", ""):
        params.update(urllib.parse.parse_qsl(request.read().decode("utf-8"), keep_blank_values=True))
    return params


class RecordedTransport(httpx.BaseTransport):
    """An ``httpx`` transport that answers from recorded responses instead of the network.

    Routes come from :meth:`add` or from a cassette folder (:meth:`from_dir`).
    For each request the most specific matching route answers (the one with
    the most ``params``; among equals, the first added).  Every request is
    kept in :attr:`requests`, in order, so tests can assert on what was sent.

    :meth:`fail` scripts failures served *before* any route: ``fail(2,
    status=429, headers={"Retry-After": "3"})`` makes the next two requests get
    a 429, ``fail(1, error=httpx.ReadTimeout)`` makes the next one time out.

    An unmatched request raises :class:`httpx.ConnectError` when ``strict``
    (the default, so a test never silently depends on the network), or gets a
    404 otherwise.

    **Cassette folder format.**  A folder holds response bodies stored verbatim
    as files (exactly the bytes the service sent) and an index,
    ``cassettes.json``::

        {
          "routes": [
            {"path": "esearch.fcgi", "params": {"usehistory": "y"}, "file": "esearch_history.xml"},
            {"path": "efetch.fcgi", "params": {"retstart": "2"}, "file": "efetch_page2.xml"},
            {"method": "GET", "path": "esearch.fcgi", "params": {"term": "x"},
             "status": 400, "body": "{\\"error\\": \\"API key invalid\\"}",
             "headers": {"Content-Type": "application/json"}}
          ]
        }

    Keys of a route: ``path`` (required; matched as a suffix of the URL path),
    ``file`` (relative to the folder) or ``body`` (inline text), and optional
    ``method``, ``params`` (string values), ``status`` (default 200) and
    ``headers``.  ``Content-Type`` defaults from the file suffix (``.xml``,
    ``.json``, ``.txt``).
    """

    def __init__(self, routes: Iterable[Route] = (), *, strict: bool = True) -> None:
        self.routes: list[Route] = list(routes)
        self.strict = strict
        self.requests: list[RecordedRequest] = []
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()

    @classmethod
    def from_dir(cls, path: str | Path, *, strict: bool = True) -> RecordedTransport:
        """Load the routes listed in ``path/cassettes.json``; errors name the file and the entry."""
        from curbside.errors import InputError

        folder = Path(path)
        index = folder / CASSETTE_INDEX
        try:
            spec = json.loads(index.read_text(encoding="utf-8"))
        except OSError as exc:
            raise InputError(f"{index}: cannot read cassette index: {exc.strerror or exc}") from exc
        except ValueError as exc:
            raise InputError(f"{index}: not valid JSON: {exc}") from exc
        entries = spec.get("routes") if isinstance(spec, dict) else None
        if not isinstance(entries, list):
            raise InputError(f"{index}: expected an object with a 'routes' list")
        transport = cls(strict=strict)
        for number, entry in enumerate(entries, 1):
            where = f"{index}: route {number}"
            if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
                raise InputError(f"{where}: each route needs a 'path' string")
            if ("file" in entry) == ("body" in entry):
                raise InputError(f"{where}: give exactly one of 'file' or 'body'")
            headers = {str(k): str(v) for k, v in (entry.get("headers") or {}).items()}
            if "file" in entry:
                body_path = folder / str(entry["file"])
                try:
                    body = body_path.read_bytes()
                except OSError as exc:
                    raise InputError(f"{where}: cannot read {body_path}: {exc.strerror or exc}") from exc
                guessed = _CONTENT_TYPES.get(body_path.suffix.lower())
                if guessed and not any(k.lower() == "content-type" for k in headers):
                    headers["Content-Type"] = guessed
            else:
                body = str(entry["body"]).encode("utf-8")
            transport.routes.append(
                Route(
                    path=entry["path"],
                    body=body,
                    params={str(k): str(v) for k, v in (entry.get("params") or {}).items()},
                    method=entry.get("method"),
                    status=int(entry.get("status", 200)),
                    headers=headers,
                )
            )
        return transport

    def add(
        self,
        path: str,
        body: bytes | str | Path = b"",
        *,
        method: str | None = None,
        params: Mapping[str, str] | None = None,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> Route:
        """Add a route; a :class:`~pathlib.Path` body is read from that file (Content-Type from its suffix)."""
        hdrs = dict(headers or {})
        if isinstance(body, Path):
            guessed = _CONTENT_TYPES.get(body.suffix.lower())
            if guessed and not any(k.lower() == "content-type" for k in hdrs):
                hdrs["Content-Type"] = guessed
            data = body.read_bytes()
        else:
            data = body.encode("utf-8") if isinstance(body, str) else body
        route = Route(
            path=path, body=data, params=dict(params or {}), method=method, status=status, headers=hdrs
        )
        self.routes.append(route)
        return route

    def fail(
        self,
        times: int = 1,
        *,
        status: int = 500,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
        error: type[httpx.TransportError] | None = None,
        path: str | None = None,
    ) -> None:
        """Answer the next ``times`` requests (to ``path``, if given) with ``status``, or raise ``error``."""
        with self._lock:
            self._failures.append(_Failure(times, status, dict(headers or {}), body, error, path))

    def requests_to(self, path: str) -> list[RecordedRequest]:
        """The recorded requests whose URL path ends with ``path``."""
        return [r for r in self.requests if r.path.endswith(path)]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        params = _request_params(request)
        path = request.url.path
        with self._lock:
            self.requests.append(RecordedRequest(request.method, request.url, params, request))
            failure = next(
                (f for f in self._failures if f.remaining > 0 and (f.path is None or path.endswith(f.path))),
                None,
            )
            if failure is not None:
                failure.remaining -= 1
        if failure is not None:
            if failure.error is not None:
                raise failure.error(f"scripted {failure.error.__name__} for {request.url}", request=request)
            return httpx.Response(
                failure.status, headers=failure.headers, content=failure.body, request=request
            )
        best: Route | None = None
        for route in self.routes:
            if route.matches(request.method, path, params) and (
                best is None or len(route.params) > len(best.params)
            ):
                best = route
        if best is None:
            message = f"RecordedTransport: no recorded response for {request.method} {request.url}"
            if self.strict:
                raise httpx.ConnectError(message, request=request)
            return httpx.Response(404, text=message, request=request)
        return httpx.Response(best.status, headers=best.headers, content=best.body, request=request)


def eutils_transport_from_dir(path: str | Path) -> RecordedTransport:
    """A strict :class:`RecordedTransport` serving the E-utilities cassettes in ``path`` (see its format)."""
    return RecordedTransport.from_dir(path, strict=True)


@contextmanager
def serve_transport(transport: httpx.BaseTransport, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``transport`` over real HTTP on ``host`` (a free port) in a thread; yields the base URL.

    For tests that must exercise the real network path of a client (sockets,
    HTTP parsing, timeouts) while answering from cassettes.  A request the
    transport cannot answer gets a 502 with the transport's message.
    """

    class Handler(http.server.BaseHTTPRequestHandler):
        def _relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            url = f"http://{self.headers.get('Host') or host}{self.path}"
            request = httpx.Request(self.command, url, headers=dict(self.headers.items()), content=body)
            try:
                response = transport.handle_request(request)
                content = response.read()
            except httpx.TransportError as exc:
                self.send_error(502, str(exc)[:200])
                return
            self.send_response(response.status_code)
            for key, value in response.headers.items():
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = _relay
        do_POST = _relay

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean; the transport records every request anyway

    server = http.server.ThreadingHTTPServer((host, 0), Handler)
    # A short poll interval: shutdown() waits for the serving loop's next poll, and tests should not.
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": 0.02},
        name="curbside-serve-transport",
        daemon=True,
    )
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


# --------------------------------------------------------------------------------------------------
# FakeChatBackend: a scripted language model
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatCall:
    """One call a :class:`FakeChatBackend` received, as it was made."""

    messages: tuple[ChatMessage, ...]
    schema: dict[str, Any] | None
    temperature: float
    max_tokens: int
    streamed: bool


class FakeChatBackend:
    """A :class:`~curbside.answer.backends.ChatBackend` that replies from a script.

    ``replies`` is a sequence of strings served in order (a call past the end
    raises :class:`~curbside.errors.ModelError`, so a test notices an
    unexpected extra call), or a callable ``(messages, schema) -> str``.
    Every call is kept in :attr:`calls`.  With ``on_token`` the reply is
    streamed in pieces split after each space, which join back to the reply.
    """

    name = "fake"

    def __init__(
        self,
        replies: Sequence[str] | Callable[[Sequence[ChatMessage], dict[str, Any] | None], str],
        *,
        model: str = "fake-chat",
    ) -> None:
        self.model = model
        self._replies = replies
        self.calls: list[ChatCall] = []

    def __repr__(self) -> str:
        return f"FakeChatBackend(model={self.model!r}, calls={len(self.calls)})"

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        temperature: float = 0.0,
        max_tokens: int = 1500,
        on_token: Callable[[str], None] | None = None,
    ) -> str:
        from curbside.errors import ModelError

        self.calls.append(ChatCall(tuple(messages), schema, temperature, max_tokens, on_token is not None))
        if callable(self._replies):
            reply = self._replies(messages, schema)
        elif len(self.calls) <= len(self._replies):
            reply = self._replies[len(self.calls) - 1]
        else:
            raise ModelError(
                f"FakeChatBackend: no scripted reply left for call {len(self.calls)} "
                f"({len(self._replies)} scripted)"
            )
        if on_token is not None:
            for piece in re.split(r"(?<= )", reply):
                if piece:
                    on_token(piece)
        return reply


#: The name the design notes use for the fake language model.
FakeLLM = FakeChatBackend


# -- a tiny GGUF model -------------------------------------------------------------------------------

_GGUF_UINT32, _GGUF_INT32, _GGUF_FLOAT32, _GGUF_STRING, _GGUF_ARRAY = 4, 5, 6, 8, 9
_GGUF_ALIGNMENT = 32


def _byte_level_tokens() -> list[str]:
    """GPT-2's byte-to-character table: every byte is one printable token, so any text (and any
    JSON a grammar asks for) can be written."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars = dict(zip(printable, printable, strict=True))
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = 256 + extra
            extra += 1
    return [chr(chars[b]) for b in range(256)]


def write_tiny_gguf(path: str | Path, *, seed: int = 0) -> Path:
    """Write a real, tiny GGUF language model (a one-layer llama with random weights, 258
    byte-level tokens, about 120 kB) to ``path``.

    llama.cpp loads and runs it in milliseconds, so a local backend's plumbing (loading, chat,
    streaming, JSON-schema grammars, the listener it opens) is tested for real without the
    gigabyte model; what it writes is noise (printable ASCII at temperature 0), except where a
    grammar constrains it.
    """
    import struct

    import numpy as np

    out = Path(path)
    rng = np.random.default_rng(seed)
    tokens = [*_byte_level_tokens(), "\u0120t", "<|endoftext|>"]
    dim, ffn, heads, vocab = 32, 64, 2, len(tokens)
    end = vocab - 1
    template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}"
    )
    meta: list[tuple[str, int, Any]] = [
        ("general.architecture", _GGUF_STRING, "llama"),
        ("general.name", _GGUF_STRING, "curbside-tiny-test"),
        ("llama.context_length", _GGUF_UINT32, 8192),
        ("llama.embedding_length", _GGUF_UINT32, dim),
        ("llama.block_count", _GGUF_UINT32, 1),
        ("llama.feed_forward_length", _GGUF_UINT32, ffn),
        ("llama.attention.head_count", _GGUF_UINT32, heads),
        ("llama.attention.head_count_kv", _GGUF_UINT32, heads),
        ("llama.rope.dimension_count", _GGUF_UINT32, dim // heads),
        ("llama.attention.layer_norm_rms_epsilon", _GGUF_FLOAT32, 1e-5),
        ("tokenizer.ggml.model", _GGUF_STRING, "gpt2"),
        ("tokenizer.ggml.pre", _GGUF_STRING, "default"),
        ("tokenizer.ggml.tokens", _GGUF_ARRAY, (_GGUF_STRING, tokens)),
        ("tokenizer.ggml.token_type", _GGUF_ARRAY, (_GGUF_INT32, [1] * (vocab - 1) + [3])),
        ("tokenizer.ggml.merges", _GGUF_ARRAY, (_GGUF_STRING, ["\u0120 t"])),
        ("tokenizer.ggml.bos_token_id", _GGUF_UINT32, end),
        ("tokenizer.ggml.eos_token_id", _GGUF_UINT32, end),
        ("tokenizer.chat_template", _GGUF_STRING, template),
    ]
    shapes = {"token_embd.weight": (vocab, dim), "output_norm.weight": (dim,), "output.weight": (vocab, dim)}
    for name, shape in (
        ("attn_norm", (dim,)), ("attn_q", (dim, dim)), ("attn_k", (dim, dim)), ("attn_v", (dim, dim)),
        ("attn_output", (dim, dim)), ("ffn_norm", (dim,)), ("ffn_gate", (ffn, dim)),
        ("ffn_up", (ffn, dim)), ("ffn_down", (dim, ffn)),
    ):  # fmt: skip
        shapes[f"blk.0.{name}.weight"] = shape
    tensors = {
        name: (np.ones(shape) if len(shape) == 1 else rng.standard_normal(shape) * 0.02).astype("<f4")
        for name, shape in shapes.items()
    }
    # Steer the greedy choice (temperature 0) so that a JSON grammar's output ends soon and parses:
    # dimension 0 of every embedding is 1, so the normed hidden state is large and positive there;
    # a token's weight on it raises or lowers its logit whatever the input.  Closing quotes and
    # brackets come first wherever the grammar allows them, whitespace never; only printable
    # ASCII wins otherwise (the other bytes' logits are 0), so what it writes is valid UTF-8.
    tensors["token_embd.weight"][:, 0] = 1.0
    logits = tensors["output.weight"]
    logits[[b for b in range(vocab) if not 0x20 <= b < 0x7F]] = 0.0
    for byte, weight in (
        (ord('"'), 2.0),
        (ord("}"), 1.5),
        (ord("]"), 1.5),
        (0x20, -2.0),
        (0x0A, -2.0),
        (0x09, -2.0),
    ):
        logits[byte, 0] = weight

    def text(s: str) -> bytes:
        raw = s.encode()
        return struct.pack("<Q", len(raw)) + raw

    def value(kind: int, v: Any) -> bytes:
        if kind == _GGUF_STRING:
            return text(v)
        if kind == _GGUF_UINT32:
            return struct.pack("<I", v)
        if kind == _GGUF_INT32:
            return struct.pack("<i", v)
        if kind == _GGUF_FLOAT32:
            return struct.pack("<f", v)
        item, items = v
        return struct.pack("<IQ", item, len(items)) + b"".join(value(item, x) for x in items)

    def padded(n: int) -> int:
        return -(-n // _GGUF_ALIGNMENT) * _GGUF_ALIGNMENT

    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta))
    head += b"".join(text(k) + struct.pack("<I", kind) + value(kind, v) for k, kind, v in meta)
    offset = 0
    for name, array in tensors.items():
        dims = array.shape[::-1]  # GGUF lists the fastest-varying dimension first
        head += text(name) + struct.pack(f"<I{len(dims)}QIQ", len(dims), *dims, 0, offset)  # 0: F32
        offset = padded(offset + array.nbytes)
    data = b"".join(a.tobytes() + b"\0" * (padded(a.nbytes) - a.nbytes) for a in tensors.values())
    out.write_bytes(head + b"\0" * (padded(len(head)) - len(head)) + data)
    return out
