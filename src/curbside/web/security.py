"""Web-edge security: signed browser cookies, CSRF tokens, response headers.

* **Browser cookie.**  Every browser gets one signed cookie (``curbside_browser``)
  holding a random browser id and the threads it started.  It is an HMAC-SHA256
  signed JSON value (key: ``settings.web_secret_key``, else random per process),
  so a client can read but not forge it.  Signed-in sessions are *not* kept
  here: the session token lives in its own cookie and is checked against the
  store by the accounts library.
* **CSRF.**  A form POST must carry ``csrf_token`` equal to
  :func:`csrf_token` of the browser id; the token is an HMAC of that id, so it
  is bound to the browser and cannot be minted by another site (which can
  neither read the cookie nor the key).  JSON API calls are exempt only when they
  authenticate with a bearer token, which a browser never attaches by itself.
* **Headers.**  A Content-Security-Policy that allows scripts and styles from
  this origin only (no inline script), no framing, no sniffing, no referrer
  leakage.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from curbside.config import Settings

#: Scripts, styles and images from this origin only; no inline script, no plugins, no framing.
CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: The interactive API reference (/docs) is FastAPI's Swagger UI page: an inline bootstrap script and
#: assets served from this origin (the ``fastapi-offline`` wheel ships them, so no CDN is needed on a
#: hospital network).  It shows no source or model text, so only it gets the inline-script allowance.
DOCS_CSP: Final = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
DOCS_PATHS: Final = frozenset({"/docs", "/docs/oauth2-redirect"})
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}
BROWSER_COOKIE: Final = "curbside_browser"
SESSION_COOKIE: Final = "curbside_session"
#: The most threads one browser cookie remembers (oldest are forgotten first; cookies have a size limit).
MAX_THREADS: Final = 40


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """Signs and checks short values with HMAC-SHA256 under one key."""

    def __init__(self, key: str | None) -> None:
        self._key = (key or secrets.token_hex(32)).encode("utf-8")

    def mac(self, purpose: str, value: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}\0{value}".encode(), hashlib.sha256).digest())

    def dumps(self, data: dict[str, Any]) -> str:
        payload = _b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode("utf-8"))
        return f"{payload}.{self.mac('cookie', payload)}"

    def loads(self, text: str | None) -> dict[str, Any] | None:
        """The signed data, or ``None`` for a missing, tampered or malformed value."""
        if not text or text.count(".") != 1:
            return None
        payload, mac = text.split(".")
        if not hmac.compare_digest(mac, self.mac("cookie", payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
        except ValueError:
            return None
        return data if isinstance(data, dict) else None


@dataclass
class BrowserState:
    """What the browser cookie carries: a random id and the threads this browser started."""

    id: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    threads: list[str] = field(default_factory=list)
    changed: bool = True

    @classmethod
    def load(cls, signer: Signer, cookie: str | None) -> BrowserState:
        data = signer.loads(cookie)
        if data is None or not isinstance(data.get("id"), str):
            return cls()
        threads = [t for t in data.get("threads", []) if isinstance(t, str)]
        return cls(id=data["id"], threads=threads, changed=False)

    def dump(self, signer: Signer) -> str:
        return signer.dumps({"id": self.id, "threads": self.threads[-MAX_THREADS:]})

    def add_thread(self, thread_id: str) -> None:
        if thread_id not in self.threads:
            self.threads = [*self.threads, thread_id][-MAX_THREADS:]
            self.changed = True

    def owns(self, thread_id: str) -> bool:
        return thread_id in self.threads


def csrf_token(signer: Signer, browser_id: str) -> str:
    return signer.mac("csrf", browser_id)


def csrf_ok(signer: Signer, browser_id: str, token: str | None) -> bool:
    return bool(token) and hmac.compare_digest(str(token), csrf_token(signer, browser_id))


def cookie_secure(mode: Literal["auto", "always", "never"], scheme: str) -> bool:
    """Whether cookies get the Secure flag: per setting, or (``auto``) when the request came over https."""
    if mode == "always":
        return True
    if mode == "never":
        return False
    return scheme == "https"


def set_session_cookie(response: Response, request: Request, settings: Settings, token: str) -> None:
    """The signed-in session's cookie, as both the sign-in page and ``POST /api/session`` set it."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(settings.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=cookie_secure(settings.web_cookie_secure, request.url.scheme),
        path="/",
    )
