"""Running the web app under uvicorn with limits a public server needs (``curbside serve``).

uvicorn starts its idle timer only after a first response, so a client that opens a
connection and sends its request head slowly (or never) held it open for good: a
probe kept 300 half-open connections alive.  :class:`GuardedH11Protocol` closes a
connection whose request head is not complete within ``web_header_timeout``
seconds, the first request and every later one on a kept-alive connection alike.
The request head is also capped in size, idle keep-alive connections close after a
few seconds, and at most ``web_max_connections`` are served at once (503 beyond).
Request bodies are capped by :class:`curbside.web.app.BodyLimit`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from curbside.config import Settings

#: Bytes of request line and headers accepted (uvicorn's default is 16 KiB too; said here on purpose).
MAX_HEAD_BYTES = 16 * 1024
#: Seconds an idle kept-alive connection stays open.
KEEP_ALIVE_S = 5


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request head does not arrive in time."""

    header_timeout: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_head_timer()  # the next request on this connection gets the same time

    def _arm_head_timer(self) -> None:
        self.loop.call_later(self.header_timeout, self._head_timeout, self.conn.their_state)

    def _head_timeout(self, _state: Any) -> None:
        # Still waiting for (the rest of) a request head: their side has not left IDLE.
        if not self.transport.is_closing() and self.conn.their_state is h11.IDLE:
            self.transport.close()


def protocol_for(settings: Settings) -> type[GuardedH11Protocol]:
    """The protocol class with the configured head timeout (uvicorn builds one per connection)."""
    return type("CurbsideH11Protocol", (GuardedH11Protocol,), {"header_timeout": settings.web_header_timeout})


def serve(
    app: Any,
    settings: Settings,
    *,
    host: str,
    port: int,
    log_level: str = "info",
    forwarded_allow_ips: str | None = None,
) -> None:
    """Run ``app`` until interrupted.  ``forwarded_allow_ips``: trust X-Forwarded-* from these proxies."""
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        http=protocol_for(settings),
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        timeout_keep_alive=KEEP_ALIVE_S,
        limit_concurrency=settings.web_max_connections,
        proxy_headers=forwarded_allow_ips is not None,
        forwarded_allow_ips=forwarded_allow_ips,
        server_header=False,
    )
