"""The app factory: :func:`create_app` builds the FastAPI application.

It opens the document store and the editorial database once (or uses the ones
passed in, which the caller then closes), and wires in:

* security headers (:data:`curbside.web.security.SECURITY_HEADERS`) on every answer,
  and the signed browser cookie when it changed;
* error mapping (:mod:`curbside.web.errors`): JSON under ``/api/``, pages elsewhere;
* the JSON API (:mod:`curbside.web.api_routes`, OpenAPI at ``/openapi.json``, docs at ``/docs``),
  the pages (:mod:`curbside.web.pages`) and ``/static``.

``curbside serve`` runs it under uvicorn; tests drive it with ``fastapi.testclient``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import quote

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from curbside.config import Settings
from curbside.errors import CurbsideError, PermissionDenied
from curbside.retrieval.embeddings import Embedder, get_embedder
from curbside.store import open_store
from curbside.store.base import Store
from curbside.version import __version__
from curbside.web.errors import TITLES, retry_after, status_for
from curbside.web.ratelimit import RateLimiter
from curbside.web.security import (
    BROWSER_COOKIE,
    DOCS_CSP,
    DOCS_PATHS,
    SECURITY_HEADERS,
    Signer,
    cookie_secure,
)
from curbside.web.state import WebState, cross_site, session_token, state_of
from curbside.web.templating import package_dir, render, templates

if TYPE_CHECKING:
    from curbside.review.db import ReviewDB

log = logging.getLogger(__name__)

#: Browser cookie lifetime (it only holds a random id and the threads this browser started).
BROWSER_COOKIE_DAYS = 30


def create_app(
    settings: Settings | None = None,
    *,
    store: Store | None = None,
    review: ReviewDB | None = None,
    embedder: Embedder | None = None,
    synthesizer: str | None = None,
    limiter: RateLimiter | None = None,
) -> FastAPI:
    """The curbside web application over ``settings.db`` (or the given store and review database)."""
    from curbside.review.db import open_review_db

    settings = settings or Settings()
    owned: list[Any] = []
    if store is None:
        store = open_store(settings.db, settings)
        owned.append(store)
    if review is None:
        review = open_review_db(settings, store_location=store.location)
        owned.append(review)
    if embedder is None:
        # Loaded once for the process (the library would build one per search), and used only when
        # the store holds vectors under its name (api.choose_mode then checks they cover every chunk).
        candidate = get_embedder(settings.embedder, settings)
        if store.vector_coverage(candidate.name).embedded:
            embedder = candidate
    state = WebState(
        settings=settings,
        store=store,
        review=review,
        signer=Signer(settings.web_secret_key),
        limiter=limiter or RateLimiter(settings.web_ask_rate, settings.web_ask_burst),
        login_limiter=RateLimiter(settings.login_client_rate, max(1, int(settings.login_client_rate))),
        login_global=RateLimiter(settings.login_global_rate, max(1, int(settings.login_global_rate))),
        search_limiter=RateLimiter(settings.web_search_rate, max(1, int(settings.web_search_rate))),
        synthesizer=synthesizer or settings.web_synthesizer,
        embedder=embedder,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        for part in owned:
            part.close()

    app = FastAPI(
        title="curbside",
        version=__version__,
        description="Cited, claim-verified answers to clinical questions, with editorial review. "
        "See docs/http-api.md.",
        lifespan=lifespan,
        docs_url=None,  # served below from local assets
        redoc_url=None,
    )
    app.state.curbside = state
    app.state.templates = templates()
    app.mount("/static", StaticFiles(directory=str(package_dir("static"))), name="static")
    _mount_api_docs(app)

    @app.middleware("http")
    async def refuse_cross_site(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # Before any route runs, so a refused request changes nothing and sets no cookie.  A bearer
        # token is a script's credential (a browser never attaches one by itself): no origin to check.
        token, from_cookie = session_token(request)
        if request.method not in SAFE_METHODS and (token is None or from_cookie):
            why = cross_site(request)
            if why is not None:
                exc = PermissionDenied(
                    f"cross-site request refused ({why})", hint="use this site's own pages"
                )
                return error_response(request, 403, exc.message, exc.hint, "PermissionDenied", exc)
        return await call_next(request)

    @app.middleware("http")
    async def headers_and_cookie(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        if request.url.path in DOCS_PATHS:
            response.headers.setdefault("Content-Security-Policy", DOCS_CSP)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.url.path.startswith("/api/") or session_token(request)[0]:
            # API answers, and every page a signed-in user sees (unapproved versions, questions),
            # must not be kept by a shared browser or a proxy.
            response.headers.setdefault("Cache-Control", "no-store")
        b = getattr(request.state, "browser", None)
        # Not on a refusal: a forged request that reached us without our cookies must not replace
        # the browser's own cookie (and with it its threads and CSRF token).
        if b is not None and b.changed and response.status_code < 400:
            response.set_cookie(
                BROWSER_COOKIE,
                b.dump(state_of(request).signer),
                max_age=BROWSER_COOKIE_DAYS * 86400,
                httponly=True,
                samesite="lax",
                secure=cookie_secure(settings.web_cookie_secure, request.url.scheme),
                path="/",
            )
        return response

    @app.exception_handler(CurbsideError)
    async def curbside_error(request: Request, exc: CurbsideError) -> Response:
        if isinstance(exc, PermissionDenied) and exc.sign_in and wants_page(request):
            # A signed-out reader who opened a reviewer's page: sign in, then come back to it.
            back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/signin?next={quote(back, safe='')}", status_code=303)
        return error_response(request, status_for(exc), exc.message, exc.hint, type(exc).__name__, exc)

    @app.exception_handler(sqlite3.Error)
    async def database_error(request: Request, exc: sqlite3.Error) -> Response:
        # The document store raises StoreError itself; this is the editorial tables' failure.
        logging.getLogger("curbside.web").error("database failure: %s", exc)
        return error_response(
            request, 503, f"the database is unavailable ({exc})", "try again shortly", "StoreError", None
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = exc.detail if isinstance(exc.detail, str) else "error"
        return error_response(request, exc.status_code, message, None, "HTTPError", None)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}" for e in exc.errors()
        )
        return error_response(request, 422, f"invalid request: {problems}", None, "ValidationError", None)

    from curbside.web import api_routes, pages

    app.include_router(api_routes.router)
    app.include_router(pages.router)
    app.add_middleware(BodyLimit, limit=settings.web_max_body_bytes)
    app.add_middleware(HeadAsGet)
    # Outermost: a request for another host name (DNS rebinding to a server on this machine) stops here.
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=settings.web_trusted_hosts)
    return app


#: Methods that change nothing (the routes keep it so); every other one is checked for its origin.
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})


def wants_page(request: Request) -> bool:
    """A browser's page request (GET or HEAD, asking for HTML), not an API call or a form post."""
    return (
        request.method in ("GET", "HEAD")
        and not request.url.path.startswith("/api/")
        and "text/html" in request.headers.get("accept", "")
    )


class BodyLimit:
    """Reads a request body only up to ``limit`` bytes; a larger one is refused with 413.

    Every body this app takes is small (a question, a comment, a sign-in), so the body
    is read here first, counted whether or not Content-Length announced it, and
    replayed to the app: a 50 MB upload is never held in memory.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            if size > self.limit:
                await self._refuse(send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, send: Send) -> None:
        message = f"the request body is larger than {self.limit:,} bytes"
        payload = json.dumps({"error": "PayloadTooLarge", "message": message, "hint": None}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})


class HeadAsGet:
    """Answers ``HEAD`` on every page and endpoint as ``GET`` would, without the body.

    Uptime monitors and ``curl -I`` send HEAD; FastAPI registers a GET route for
    GET only, so they got 405.  The request runs as a GET (same status, headers and
    Content-Length) and the body is dropped on the way out.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


def _mount_api_docs(app: FastAPI) -> None:
    """Swagger UI at /docs with its script and styles from this server, not a CDN."""
    import fastapi_offline
    from fastapi.openapi.docs import get_swagger_ui_html

    assets = Path(fastapi_offline.__file__).parent / "static"
    app.mount("/docs-static", StaticFiles(directory=str(assets)), name="docs-static")

    @app.get("/docs", include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="curbside API",
            swagger_js_url="/docs-static/swagger-ui-bundle.js",
            swagger_css_url="/docs-static/swagger-ui.css",
            swagger_favicon_url="/docs-static/favicon.png",
        )


def error_response(
    request: Request,
    status: int,
    message: str,
    hint: str | None,
    name: str,
    exc: CurbsideError | None,
) -> Response:
    headers = {}
    wait = retry_after(exc) if exc is not None else None
    if wait is not None:
        headers["Retry-After"] = str(wait)
    if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse(
            {"error": name, "message": message, "hint": hint}, status_code=status, headers=headers
        )
    return render(
        request,
        "error.html",
        {"status_code": status, "heading": TITLES.get(status, "Error"), "message": message, "hint": hint},
        status_code=status,
        headers=headers,
    )
