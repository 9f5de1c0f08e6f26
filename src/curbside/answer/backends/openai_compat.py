"""A client for any OpenAI-compatible ``/chat/completions`` server.

One protocol covers the local servers people actually run (llama.cpp's
``llama-server``, vLLM, Ollama, LM Studio) and the hosted APIs, so curbside
needs no per-vendor SDK.  Structured output is requested with
``response_format: {"type": "json_schema", ...}``; a server that answers 400 to
that (older llama.cpp builds, some proxies) is asked again with
``{"type": "json_object"}`` and remembered, so later calls go straight there.
Streaming uses server-sent events (``data: {...}`` lines ending with
``data: [DONE]``).

Failures map onto :mod:`curbside.errors`: nothing listening -> UnreachableError
(with the way out: start a server, point ``CURBSIDE_LLM_URL`` elsewhere, or use
the extractive synthesizer), an HTTP error -> RemoteError carrying the server's
own message.  Timeouts, 429 and 502/503/504 are retried with backoff, except
once a streamed reply has started: its tokens have already been shown.
"""

from __future__ import annotations

import codecs
import json
import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import httpx

from curbside.answer.backends.base import ChatMessage, TokenCallback, delta_pieces
from curbside.config import Settings
from curbside.errors import ModelError, RemoteError, UnreachableError

__all__ = ["OpenAICompatBackend"]

#: Statuses worth another try: rate limiting and a gateway or server that is (re)starting.
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Longest wait honoured from a Retry-After header, in seconds.
_MAX_RETRY_AFTER = 30.0
_SCHEMA_NAME = re.compile(r"[^A-Za-z0-9_-]+")

_FALLBACK_HINT = (
    "start an OpenAI-compatible server there (e.g. `llama-server -m model.gguf --port 8080`, vLLM or "
    "Ollama), point CURBSIDE_LLM_URL at a running one, or answer without a language model with "
    "`--synthesizer extractive`."
)


class _SchemaRejected(Exception):
    """The server answered 400 to a ``json_schema`` response format (internal signal)."""

    def __init__(self, error: RemoteError) -> None:
        super().__init__(str(error))
        self.error = error


class OpenAICompatBackend:
    """Chat with a model behind ``{llm_url}/chat/completions``; registered as chat backend ``openai``.

    Keyword arguments override the matching settings (``url`` -> ``llm_url``
    and so on).  ``transport`` replaces the network (tests), ``sleep`` the
    backoff wait.  ``last_usage`` holds the token counts of the last reply
    when the server reported them.
    """

    name = "openai"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float | None = None,
        retries: int | None = None,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        settings = settings if settings is not None else Settings()
        self.base_url = (url or settings.llm_url).rstrip("/")
        self.url = f"{self.base_url}/chat/completions"
        self.model = model or settings.llm_model
        self.timeout = timeout if timeout is not None else settings.llm_timeout
        self.retries = max(0, retries if retries is not None else settings.llm_retries)
        self.max_reply_bytes = settings.llm_max_reply_bytes
        key = api_key if api_key is not None else settings.llm_api_key
        headers = {"Accept": "application/json, text/event-stream"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(
            headers=headers,
            # Connecting should be quick even when generating is slow; fail fast on a dead host.
            timeout=httpx.Timeout(self.timeout, connect=min(self.timeout, 10.0)),
            transport=transport,
        )
        self._sleep = sleep
        #: None until a server has answered a json_schema request; False once it refused one.
        self.json_schema_supported: bool | None = None
        self.last_usage: dict[str, int] | None = None

    def __repr__(self) -> str:
        return f"OpenAICompatBackend(url={self.base_url!r}, model={self.model!r})"

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> OpenAICompatBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the one method -----------------------------------------------------------------------

    def chat(
        self,
        messages: Sequence[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        temperature: float = 0.0,
        max_tokens: int = 1500,
        on_token: TokenCallback | None = None,
    ) -> str:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": [m.to_dict() for m in messages],
            "temperature": temperature,
            "max_tokens": max_tokens,
            "stream": on_token is not None,
        }
        if schema is None:
            return self._post(payload, on_token)
        if self.json_schema_supported is not False:
            payload["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": _schema_name(schema), "schema": schema, "strict": True},
            }
            try:
                text = self._post(payload, on_token, schema_request=True)
            except _SchemaRejected as rejected:
                first_error = rejected.error
            else:
                self.json_schema_supported = True
                return text
        else:
            first_error = None
        # JSON mode: the server only promises *some* JSON object; the caller validates the shape.
        payload["response_format"] = {"type": "json_object"}
        try:
            text = self._post(payload, on_token)
        except RemoteError as exc:
            if first_error is not None and exc.status == 400:
                raise RemoteError(
                    f"{self.url} refused both json_schema and json_object output: {first_error.message}",
                    url=self.url,
                    status=400,
                    hint=first_error.hint,
                ) from exc
            raise
        if first_error is not None:
            self.json_schema_supported = False
        return text

    # --- transport ----------------------------------------------------------------------------

    def _post(
        self, payload: dict[str, Any], on_token: TokenCallback | None, schema_request: bool = False
    ) -> str:
        """POST ``payload``, retrying timeouts and retryable statuses; return the reply text."""
        streamed: list[str] = []
        for attempt in range(self.retries + 1):
            last_try = attempt == self.retries
            try:
                if on_token is None:
                    with self._client.stream("POST", self.url, json=payload) as streaming:
                        response = self._read_capped(streaming)
                    if not self._should_retry(response, last_try, attempt):
                        self._raise_for_status(response, schema_request)
                        return self._parse_completion(response)
                else:
                    with self._client.stream("POST", self.url, json=payload) as response:
                        if response.status_code >= 400:
                            failed = self._read_capped(response)
                            if self._should_retry(failed, last_try, attempt):
                                continue
                            self._raise_for_status(failed, schema_request)
                        return self._read_stream(response, on_token, streamed)
            except httpx.ConnectError as exc:
                raise UnreachableError(
                    f"cannot reach the language-model server at {self.url}: {exc}",
                    url=self.url,
                    hint=_FALLBACK_HINT,
                ) from exc
            except httpx.TimeoutException as exc:
                if streamed:
                    raise RemoteError(
                        f"{self.url} stopped sending after {len(''.join(streamed))} characters "
                        f"(no data for {self.timeout:g} s)",
                        url=self.url,
                    ) from exc
                if last_try:
                    raise UnreachableError(
                        f"the language-model server at {self.url} did not answer within "
                        f"{self.timeout:g} s ({self.retries + 1} attempts)",
                        url=self.url,
                        hint="a large model on a CPU can be slow: raise CURBSIDE_LLM_TIMEOUT, use a "
                        "smaller model, or `--synthesizer extractive`.",
                    ) from exc
                self._sleep(_backoff(attempt))
            except (httpx.NetworkError, httpx.RemoteProtocolError) as exc:
                raise RemoteError(f"connection to {self.url} failed: {exc}", url=self.url) from exc
        raise AssertionError("unreachable: the last attempt always returns or raises")

    def _read_capped(self, response: httpx.Response) -> httpx.Response:
        """The response with its body read, refused once it passes ``max_reply_bytes`` (never buffered whole)."""
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_reply_bytes:
                raise RemoteError(
                    f"{self.url} sent a reply larger than {self.max_reply_bytes:,} bytes; refused",
                    url=self.url,
                    hint="raise CURBSIDE_LLM_MAX_REPLY_BYTES if this server is trusted to send that much",
                )
            chunks.append(chunk)
        return httpx.Response(
            response.status_code, headers=response.headers, content=b"".join(chunks), request=response.request
        )

    def _lines_capped(self, response: httpx.Response) -> Iterator[str]:
        """The text lines of a streamed reply, refused once it passes ``max_reply_bytes``."""
        size = 0
        pending = ""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > self.max_reply_bytes:
                raise RemoteError(
                    f"{self.url} streamed more than {self.max_reply_bytes:,} bytes; refused", url=self.url
                )
            pending += decoder.decode(chunk)
            *lines, pending = pending.split("\n")
            yield from (line.rstrip("\r") for line in lines)
        pending += decoder.decode(b"", final=True)
        if pending:
            yield pending.rstrip("\r")

    def _should_retry(self, response: httpx.Response, last_try: bool, attempt: int) -> bool:
        if response.status_code not in _RETRY_STATUSES or last_try:
            return False
        self._sleep(_retry_after(response) or _backoff(attempt))
        return True

    def _raise_for_status(self, response: httpx.Response, schema_request: bool) -> None:
        status = response.status_code
        if status < 400:
            return
        message = _server_message(response)
        hint = None
        if status in (401, 403):
            hint = "set CURBSIDE_LLM_API_KEY (or OPENAI_API_KEY) to a key this server accepts."
        elif status == 404:
            hint = (
                f"check CURBSIDE_LLM_URL (usually ending in /v1; now {self.base_url}) and "
                f"CURBSIDE_LLM_MODEL (now {self.model!r})."
            )
        error = RemoteError(
            f"{self.url} answered HTTP {status}: {message}", url=self.url, status=status, hint=hint
        )
        if status == 400 and schema_request:
            raise _SchemaRejected(error)
        raise error

    def _parse_completion(self, response: httpx.Response) -> str:
        data = _json_body(response, self.url)
        try:
            message = data["choices"][0]["message"]
        except (KeyError, IndexError, TypeError):
            raise RemoteError(
                f"{self.url} answered without choices[0].message: {_clip(response.text)}", url=self.url
            ) from None
        self.last_usage = _usage(data)
        if message.get("refusal"):
            raise ModelError(f"the model {self.model!r} refused to answer: {message['refusal']}")
        content = message.get("content")
        if not isinstance(content, str):
            raise RemoteError(
                f"{self.url} answered with no text content: {_clip(response.text)}", url=self.url
            )
        return content

    def _read_stream(self, response: httpx.Response, on_token: TokenCallback, streamed: list[str]) -> str:
        """Collect a server-sent-event stream, passing each content delta to ``on_token``."""
        if "text/event-stream" not in response.headers.get("content-type", ""):
            # A server that ignores "stream": true answers one JSON body; deliver it as one token.
            text = self._parse_completion(self._read_capped(response))
            streamed.append(text)
            on_token(text)
            return text
        self.last_usage = None
        for line in self._lines_capped(response):
            if not line.startswith("data:"):
                continue  # blank separators, ": keep-alive" comments, event:/id: fields
            data = line[5:].strip()
            if data == "[DONE]":
                break
            try:
                event = json.loads(data)
            except ValueError:
                raise RemoteError(
                    f"{self.url} sent a malformed stream event: {_clip(data)}", url=self.url
                ) from None
            if not isinstance(event, dict):
                raise RemoteError(f"{self.url} sent a malformed stream event: {_clip(data)}", url=self.url)
            if "error" in event:
                raise RemoteError(
                    f"{self.url} failed mid-stream: {_error_text(event['error'])}", url=self.url
                )
            self.last_usage = _usage(event) or self.last_usage
            for piece in delta_pieces(event):
                streamed.append(piece)
                on_token(piece)
        return "".join(streamed)


# --- helpers --------------------------------------------------------------------------------------


def _schema_name(schema: dict[str, Any]) -> str:
    """OpenAI requires ``^[A-Za-z0-9_-]{1,64}$``; derive it from the schema's title."""
    name = _SCHEMA_NAME.sub("_", str(schema.get("title") or "answer")).strip("_")
    return (name or "answer")[:64]


def _backoff(attempt: int) -> float:
    return float(min(2**attempt, 8))


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return min(max(float(value), 0.0), _MAX_RETRY_AFTER) if value else None
    except ValueError:
        return None  # an HTTP-date; the exponential backoff is good enough


def _json_body(response: httpx.Response, url: str) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise RemoteError(
            f"{url} answered with something other than JSON: {_clip(response.text)}", url=url
        ) from None
    if not isinstance(data, dict):
        raise RemoteError(f"{url} answered with unexpected JSON: {_clip(response.text)}", url=url)
    return data


def _server_message(response: httpx.Response) -> str:
    """The server's own explanation: OpenAI ``{"error": {"message"}}``, FastAPI ``detail``, or the text."""
    try:
        data = response.json()
    except ValueError:
        return _clip(response.text.strip()) or response.reason_phrase
    if isinstance(data, dict):
        for key in ("error", "detail", "message"):
            if key in data:
                return _error_text(data[key])
    return _clip(json.dumps(data))


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return str(error.get("message") or _clip(json.dumps(error)))
    return _clip(str(error))


def _usage(data: dict[str, Any]) -> dict[str, int] | None:
    usage = data.get("usage")
    if not isinstance(usage, dict):
        return None
    return {k: v for k, v in usage.items() if isinstance(v, int)}


def _clip(text: str, limit: int = 500) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
