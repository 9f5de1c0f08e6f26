"""What one running web app holds, and the request-level helpers every route uses.

:class:`WebState` is built once by :func:`curbside.web.app.create_app`: the
settings, the open document store, the editorial database
(:mod:`curbside.review.db`), the cookie signer, the ask rate limiter and a
cache of rendered article versions (versions are immutable, so a rendering is
valid for as long as the process lives; only the *status* is read per request).

Per request, :func:`browser` reads the signed browser cookie and
:func:`current_user` resolves the signed-in user from the session cookie or
an ``Authorization: Bearer`` token.  :func:`check_csrf` enforces the CSRF rule
of :mod:`curbside.web.security` for every state-changing request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from fastapi import Request

from curbside.config import Settings
from curbside.errors import PermissionDenied
from curbside.retrieval.embeddings import Embedder
from curbside.store.base import Store
from curbside.web.ratelimit import RateLimiter
from curbside.web.security import (
    BROWSER_COOKIE,
    SESSION_COOKIE,
    BrowserState,
    Signer,
    csrf_ok,
    csrf_token,
)

if TYPE_CHECKING:
    from curbside.review.db import ReviewDB
    from curbside.review.workflow import User

#: Rendered article versions kept in memory (id, version, audience, format) -> text.
RENDER_CACHE_SIZE = 512


class RenderCache:
    """A small thread-safe LRU of rendered article versions."""

    def __init__(self, size: int = RENDER_CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple[str, ...], Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, ...]) -> Any | None:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                self.hits += 1
                return self._items[key]
            self.misses += 1
            return None

    def put(self, key: tuple[str, ...], value: Any) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


@dataclass
class WebState:
    settings: Settings
    store: Store
    review: ReviewDB
    signer: Signer
    limiter: RateLimiter
    synthesizer: str
    # Sign-in attempts per client address and for the whole server, taken before any password is hashed.
    login_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(10, 10))
    login_global: RateLimiter = field(default_factory=lambda: RateLimiter(120, 120))
    search_limiter: RateLimiter = field(default_factory=lambda: RateLimiter(60, 60))
    last_purge: float = 0.0  # when signed-out askers' old threads were last deleted (time.monotonic)
    embedder: Embedder | None = None
    cache: RenderCache = field(default_factory=RenderCache)


def state_of_app(app: Any) -> WebState:
    state: WebState = app.state.curbside
    return state


def state_of(request: Request) -> WebState:
    return state_of_app(request.app)


def browser(request: Request) -> BrowserState:
    """The browser's signed state, loaded once per request (a new one if missing or forged)."""
    cached = getattr(request.state, "browser", None)
    if isinstance(cached, BrowserState):
        return cached
    loaded = BrowserState.load(state_of(request).signer, request.cookies.get(BROWSER_COOKIE))
    request.state.browser = loaded
    return loaded


def session_token(request: Request) -> tuple[str | None, bool]:
    """``(token, from_cookie)``: a bearer token wins over the session cookie."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip() or None, False
    return request.cookies.get(SESSION_COOKIE) or None, True


def current_user(request: Request) -> User | None:
    """The signed-in user, or ``None``; an unknown or expired token counts as signed out."""
    if hasattr(request.state, "user"):
        user: User | None = request.state.user
        return user
    token, _ = session_token(request)
    found = state_of(request).review.accounts.session_user(token)
    request.state.user = found
    return found


def page_csrf(request: Request) -> str:
    return csrf_token(state_of(request).signer, browser(request).id)


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse a JSON API call that rides on this site's cookies without the browser's CSRF token.

    A request with a bearer token, or with no cookies of ours at all, carries
    no ambient authority a forged request could borrow, so it needs no token
    (a cross-site browser request is refused before this, by its origin:
    :func:`cross_site`).  Forms use :func:`check_form`.
    """
    token, from_cookie = session_token(request)
    if token and not from_cookie:
        return
    if BROWSER_COOKIE not in request.cookies and SESSION_COOKIE not in request.cookies:
        return
    _check_token(request, submitted or request.headers.get("x-csrf-token"))


def check_form(request: Request, submitted: str | None) -> None:
    """Refuse a form post without this browser's CSRF token, cookies or not.

    A cross-site form carries no cookies of ours (SameSite=Lax keeps them off a
    cross-site POST), so exempting cookie-less posts let another site sign a
    victim in to an attacker's account or sign them out.  Every page that holds
    a form first sets the browser cookie, whose id the token is bound to: the
    token is a pre-session token for the sign-in form too.
    """
    _check_token(request, submitted)


def _check_token(request: Request, submitted: str | None) -> None:
    if not csrf_ok(state_of(request).signer, browser(request).id, submitted):
        raise PermissionDenied(
            "the form's CSRF token is missing or does not match this browser",
            hint="reload the page and submit the form again",
        )


def client_address(request: Request) -> str:
    """The client's IP address (behind a trusted proxy: the one it forwarded, see ``serve``)."""
    return request.client.host if request.client else "unknown"


def client_key(request: Request) -> str:
    """Who a rate limit applies to: the signed-in user, else the client's address."""
    user = current_user(request)
    if user is not None:
        return f"user:{user.username}"
    host = request.client.host if request.client else "unknown"
    return f"ip:{host}"


#: Fetch metadata values of a request from this origin: same-origin, or typed/bookmarked by the user.
_OWN_SITE = frozenset({"same-origin", "none"})


def cross_site(request: Request) -> str | None:
    """Why a state-changing browser request comes from another origin, or ``None`` when it does not.

    Browsers send ``Sec-Fetch-Site`` with every request, and ``Origin`` with every
    POST; either naming another origin (a sibling host or port included) is
    refused, whatever cookies or tokens came with it.  Scripts and ``curl`` send
    neither, and are judged by their credentials alone.
    """
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.lower() not in _OWN_SITE:
        return f"Sec-Fetch-Site: {site}"
    origin = request.headers.get("origin")
    if origin is None:
        return None
    host = request.headers.get("host", request.url.netloc)
    if origin.lower() == "null" or urlsplit(origin).netloc.lower() != host.lower():
        return f"Origin: {origin}"
    return None
