"""Every error curbside raises on purpose.

The CLI, the HTTP API and the web app catch :class:`CurbsideError` at the edge
and turn it into a message (and an exit code or HTTP status); anything else is
a bug and keeps its traceback.

::

    CurbsideError
    ├── ConfigError            a setting is missing or invalid
    ├── InputError             user input is unusable (a path, a query, a flag)
    │   └── QueryError         a search query has nothing searchable or is too long
    ├── SourceError            a source cannot be read at all (names the file or URL)
    │   ├── SourceFormatError  the file is not in the format its source expects (truncated, not XML)
    │   └── RemoteError        a remote service failed (HTTP status, rate limit, bad payload)
    │       └── UnreachableError   the service could not be reached at all (DNS, refused, timeout)
    ├── StoreError             the store cannot be opened, migrated or written
    │   └── NotFoundError      a document / article id is not in the store
    ├── PluginError            a registry name is unknown or a plugin failed to load
    ├── ModelError             an embedder or language model is missing or produced invalid output
    ├── ReviewError            an editorial action is not allowed in the current state / role
    │   └── TransitionError    the action does not apply to the version's review status
    ├── AuthError              sign-in failed, or a session is unknown, expired or revoked (HTTP 401)
    │   └── ThrottledError     too many failed sign-ins for a user; retry later (HTTP 429)
    └── PermissionDenied       the user's role (or anonymity) does not allow the action (HTTP 403)
"""

from __future__ import annotations


class CurbsideError(Exception):
    """Base class; ``str(err)`` is a complete message fit to show a user."""

    #: Process exit code used by the CLI for this class of error.
    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\nHint: {self.hint}"
        return self.message


class ConfigError(CurbsideError):
    exit_code = 2


class InputError(CurbsideError):
    exit_code = 2


class QueryError(InputError):
    pass


class SourceError(CurbsideError):
    exit_code = 3


class SourceFormatError(SourceError):
    pass


class RemoteError(SourceError):
    def __init__(
        self, message: str, *, url: str | None = None, status: int | None = None, hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.url = url
        self.status = status


class UnreachableError(RemoteError):
    pass


class StoreError(CurbsideError):
    exit_code = 4


class NotFoundError(StoreError):
    exit_code = 5


class SearchEngineError(StoreError):
    """The chunk search engine (``CURBSIDE_SEARCH``: Milvus) is unreachable, misconfigured or refused a call."""


class PluginError(CurbsideError):
    exit_code = 2


class ModelError(CurbsideError):
    exit_code = 6


class ReviewError(CurbsideError):
    exit_code = 7


class TransitionError(ReviewError):
    """An editorial action that the version's current status does not allow (approve a rejected one)."""


class AuthError(CurbsideError):
    """Sign-in failed, or a session token is unknown, expired or revoked."""

    exit_code = 8


class ThrottledError(AuthError):
    """Too many failed sign-ins; ``retry_after`` is the number of seconds to wait."""

    def __init__(self, message: str, *, retry_after: float, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class PermissionDenied(CurbsideError):
    """The user's role, or being signed out, does not allow the action; names the action and the roles.

    ``sign_in`` is true when signing in with a suitable role would allow it (the web
    app then sends a signed-out browser to the sign-in page instead of a 403).
    """

    exit_code = 9

    def __init__(self, message: str, *, hint: str | None = None, sign_in: bool = False) -> None:
        super().__init__(message, hint=hint)
        self.sign_in = sign_in
