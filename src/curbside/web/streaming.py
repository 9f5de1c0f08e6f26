"""Server-sent events: run a job in a worker thread and stream what it emits.

The ask pipeline is synchronous (SQLite, ONNX, a blocking model call), so it
runs in its own thread and pushes events into a queue; the response body is a
generator that drains the queue as ``event: NAME`` / ``data: JSON`` frames.  A
job that raises a :class:`~curbside.errors.CurbsideError` ends the stream with
an ``error`` event carrying its message; any other exception is a bug, logged
with its traceback, and reported to the client without internals.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from curbside.errors import CurbsideError

log = logging.getLogger(__name__)

Emit = Callable[[str, dict[str, Any]], None]

#: Seconds between keep-alive comments while the job is silent (proxies drop idle streams).
KEEPALIVE_SECONDS = 15.0


def sse_frame(event: str, data: dict[str, Any]) -> str:
    """One SSE frame; JSON never contains a raw newline, so ``data`` is a single line."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False, allow_nan=False)}\n\n"


def error_payload(exc: CurbsideError) -> dict[str, Any]:
    return {"error": type(exc).__name__, "message": exc.message, "hint": exc.hint}


def stream_job(job: Callable[[Emit], None]) -> Iterator[str]:
    """Start ``job(emit)`` in a thread; yield its events as SSE frames, then ``done`` (or ``error``)."""
    events: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()

    def emit(event: str, data: dict[str, Any]) -> None:
        events.put((event, data))

    def run() -> None:
        try:
            job(emit)
            events.put(("done", {}))
        except CurbsideError as exc:
            events.put(("error", error_payload(exc)))
        except Exception:
            log.exception("streamed job failed")
            events.put(("error", {"error": "InternalError", "message": "internal error", "hint": None}))
        finally:
            events.put(None)

    threading.Thread(target=run, name="curbside-sse", daemon=True).start()
    while True:
        try:
            item = events.get(timeout=KEEPALIVE_SECONDS)
        except queue.Empty:
            yield ": keep-alive\n\n"
            continue
        if item is None:
            return
        yield sse_frame(*item)


def parse_sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse an SSE body (as :func:`stream_job` writes it) into ``(event, data)`` pairs; for clients and tests."""
    out: list[tuple[str, dict[str, Any]]] = []
    for block in text.split("\n\n"):
        event, data = "message", ""
        for line in block.splitlines():
            if line.startswith("event: "):
                event = line[len("event: ") :]
            elif line.startswith("data: "):
                data += line[len("data: ") :]
        if data:
            out.append((event, json.loads(data)))
    return out
