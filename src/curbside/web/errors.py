"""How library errors become HTTP answers.

Every :class:`~curbside.errors.CurbsideError` is a deliberate refusal with a
message fit for a user; it maps to one status code here.  JSON callers (paths
under ``/api/``) get ``{"error": class, "message", "hint"}``; browsers get the
error page.  Anything else is a bug: FastAPI answers 500 and logs it.
"""

from __future__ import annotations

from typing import Final

from curbside.errors import (
    AuthError,
    ConfigError,
    CurbsideError,
    InputError,
    ModelError,
    NotFoundError,
    PermissionDenied,
    PluginError,
    RemoteError,
    ReviewError,
    SourceError,
    StoreError,
    ThrottledError,
)


class RateLimited(CurbsideError):
    """A client asked more questions than ``Settings.web_ask_rate`` allows (HTTP 429)."""

    def __init__(self, message: str, *, retry_after: int) -> None:
        super().__init__(message, hint=f"try again in {retry_after} s")
        self.retry_after = retry_after


#: Most specific class first: the first match wins.
STATUS: Final[tuple[tuple[type[CurbsideError], int], ...]] = (
    (RateLimited, 429),
    (ThrottledError, 429),
    (AuthError, 401),
    (PermissionDenied, 403),
    (NotFoundError, 404),
    (ReviewError, 409),
    (InputError, 400),
    (ModelError, 502),
    (RemoteError, 502),
    (SourceError, 400),
    (StoreError, 503),
    (PluginError, 500),
    (ConfigError, 500),
)

TITLES: Final = {
    400: "The request cannot be used",
    401: "Sign-in needed",
    403: "Not available to you",
    404: "Not found",
    409: "Not possible in the current review status",
    429: "Too many requests",
    500: "Server configuration problem",
    502: "The language model or a remote service failed",
    503: "The store is unavailable",
}


def status_for(exc: CurbsideError) -> int:
    for cls, code in STATUS:
        if isinstance(exc, cls):
            return code
    return 500


def retry_after(exc: CurbsideError) -> int | None:
    if isinstance(exc, RateLimited):
        return exc.retry_after
    if isinstance(exc, ThrottledError):
        return max(1, round(exc.retry_after))
    return None
