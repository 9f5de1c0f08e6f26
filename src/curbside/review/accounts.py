"""Users, roles, argon2 password hashes, sign-in sessions and sign-in throttling.

Reached as ``db.accounts`` on a :class:`~curbside.review.db.ReviewDB`.

API::

    accounts.add_user(username, password, role="reader", *, actor=None) -> User
    accounts.get_user(username) -> User                        # NotFoundError
    accounts.list_users() -> list[User]
    accounts.set_role(username, role, *, actor=None) -> User
    accounts.set_password(username, password, *, actor=None) -> None
    accounts.set_disabled(username, disabled, *, actor=None) -> User   # also revokes the user's sessions
    accounts.authenticate(username, password, *, client="") -> User   # AuthError / ThrottledError
    accounts.login(username, password, *, hours=None, client="") -> Session   # authenticate + create_session
    accounts.unknown_failures(*, hours=24) -> int               # failed sign-ins for names nobody has
    accounts.create_session(user, *, hours=None) -> Session    # Session.token is shown once, stored hashed
    accounts.session_user(token) -> User | None                # None: unknown, expired, revoked or disabled
    accounts.revoke_session(token) -> bool
    accounts.revoke_all(username) -> int

    require(user, action)       # PermissionDenied unless user (None = signed out) may take action
    can(user, action) -> bool

``actor`` is the :class:`User` doing an admin action; ``None`` is the
server's operator at the command line (``curbside users add``), which the
audit log records as ``cli``.  Through the web, pass the signed-in admin: it
must have the ``manage_users`` permission.

Passwords are hashed with argon2id (``argon2-cffi``, in the ``web`` extra;
parameters are those of :class:`argon2.PasswordHasher` unless a hasher is
passed) and re-hashed on sign-in when the parameters change.  Session tokens
are 32 random bytes (URL-safe text); only their SHA-256 digest is stored, so a
copy of the database does not let anyone sign in.  Sessions last
``Settings.session_hours``.  A client that fails ``Settings.login_max_failures``
times for one username within ``Settings.login_window_minutes`` must wait
(:class:`~curbside.errors.ThrottledError`, ``retry_after``): 1 s after its last
failure, doubling with each further failure.  Other clients, the real user among
them, are not slowed; the web app also limits sign-in attempts per client and
overall before any password is hashed, and at most ``Settings.login_concurrency``
password checks run at once.  Names such as ``anonymous``, ``cli`` and
``system`` are reserved.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from curbside.errors import AuthError, ConfigError, InputError, NotFoundError, ThrottledError
from curbside.review.store import SYSTEM_ACTOR, record_audit
from curbside.review.workflow import Action, Role, User, parse_role, require_user

if TYPE_CHECKING:
    from argon2 import PasswordHasher

    from curbside.review.connection import ReviewConnection

USERNAME_RE: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_CHARS: Final = 8
MAX_PASSWORD_CHARS: Final = 1024
#: Actor name recorded for admin actions run at the command line.
CLI_ACTOR: Final = "cli"
#: Names no account may take: they stand for the signed-out, the command line and the pipeline.
RESERVED_USERNAMES: Final = frozenset({"anonymous", CLI_ACTOR, "system", "admin-cli", "root"})
#: Seconds a sign-in waits for a free password-check slot before it is refused (HTTP 429).
LOGIN_SLOT_WAIT_S: Final = 5.0


@dataclass(frozen=True)
class Session:
    """A new sign-in session; ``token`` goes into the cookie and is not stored anywhere in clear."""

    token: str
    user: User
    expires_at: str
    expires_at_epoch: float


def can(user: User | None, action: Action) -> bool:
    """Whether ``user`` (``None``: signed out) may take ``action``."""
    return user is not None and user.can(action)


def require(user: User | None, action: Action) -> None:
    """:class:`~curbside.errors.PermissionDenied` unless ``user`` may take ``action``."""
    require_user(user, action)


def default_hasher() -> PasswordHasher:
    try:
        from argon2 import PasswordHasher
    except ImportError as exc:  # the core install has no web extra
        raise ConfigError(
            "accounts need the argon2-cffi package",
            hint="install the web extra: ./scripts/install.sh embed,web",
        ) from exc
    return PasswordHasher()


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def normalise_username(username: str) -> str:
    name = username.strip().lower()
    if not USERNAME_RE.match(name):
        raise InputError(
            f"invalid username {username!r}: use 2 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if name in RESERVED_USERNAMES:
        raise InputError(
            f"the username {name!r} is reserved (it names the signed-out, the command line or the pipeline)"
        )
    return name


def check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_CHARS:
        raise InputError(f"the password is too short: use at least {MIN_PASSWORD_CHARS} characters")
    if len(password) > MAX_PASSWORD_CHARS:
        raise InputError(f"the password is too long: at most {MAX_PASSWORD_CHARS} characters")
    if not password.strip():
        raise InputError("the password is only spaces")


class Accounts:
    """Users and sessions in the editorial database (see the module docstring)."""

    def __init__(self, db: ReviewConnection, *, hasher: PasswordHasher | None = None) -> None:
        self.db = db
        self._hasher = hasher
        self._dummy: str | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        """The calling thread's connection to the editorial database."""
        return self.db.conn

    def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = self.hasher.hash(secrets.token_urlsafe(16))
        return self._dummy

    @property
    def hasher(self) -> PasswordHasher:
        if self._hasher is None:
            self._hasher = default_hasher()
        return self._hasher

    # --- users ------------------------------------------------------------------------------------

    def _user(self, row: tuple[Any, ...]) -> User:
        from curbside.review.connection import utc_iso

        return User(
            id=row[0],
            username=row[1],
            role=parse_role(row[2]),
            created_at=utc_iso(row[3]),
            disabled=bool(row[4]),
        )

    def _row(self, username: str) -> tuple[Any, ...] | None:
        row: tuple[Any, ...] | None = self.conn.execute(
            "SELECT id, username, role, created_at, disabled, password_hash FROM accounts_users WHERE username = ?",
            (username.strip().lower(),),
        ).fetchone()
        return row

    def _actor(self, actor: User | None) -> str:
        if actor is None:
            return CLI_ACTOR
        require(actor, "manage_users")
        return actor.username

    def get_user(self, username: str) -> User:
        row = self._row(username)
        if row is None:
            raise NotFoundError(f"no user named {username!r}", hint="add one with `curbside users add`")
        return self._user(row)

    def list_users(self) -> list[User]:
        rows = self.conn.execute(
            "SELECT id, username, role, created_at, disabled FROM accounts_users ORDER BY username"
        ).fetchall()
        return [self._user(r) for r in rows]

    def add_user(
        self, username: str, password: str, role: Role | str = "reader", *, actor: User | None = None
    ) -> User:
        who = self._actor(actor)
        name = normalise_username(username)
        checked_role = parse_role(role)
        check_password(password)
        if self._row(name) is not None:
            raise InputError(
                f"a user named {name!r} already exists", hint="use `curbside users set-role` to change it"
            )
        digest = self.hasher.hash(password)
        now = self.db.now()
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO accounts_users (username, role, password_hash, created_at) VALUES (?, ?, ?, ?)",
                (name, checked_role, digest, now),
            )
            record_audit(conn, now, who, "add_user", details={"username": name, "role": checked_role})
        return self.get_user(name)

    def set_role(self, username: str, role: Role | str, *, actor: User | None = None) -> User:
        who = self._actor(actor)
        user = self.get_user(username)
        checked_role = parse_role(role)
        now = self.db.now()
        with self.db.transaction() as conn:
            conn.execute("UPDATE accounts_users SET role = ? WHERE id = ?", (checked_role, user.id))
            record_audit(
                conn,
                now,
                who,
                "set_role",
                details={"username": user.username, "from": user.role, "to": checked_role},
            )
        return self.get_user(user.username)

    def set_password(self, username: str, password: str, *, actor: User | None = None) -> None:
        """Change a password (an admin, the CLI, or the user themself) and end the user's sessions."""
        user = self.get_user(username)
        who = actor.username if actor is not None and actor.id == user.id else self._actor(actor)
        check_password(password)
        digest = self.hasher.hash(password)
        now = self.db.now()
        with self.db.transaction() as conn:
            conn.execute("UPDATE accounts_users SET password_hash = ? WHERE id = ?", (digest, user.id))
            conn.execute(
                "UPDATE accounts_sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                (now, user.id),
            )
            record_audit(conn, now, who, "set_password", details={"username": user.username})

    def set_disabled(self, username: str, disabled: bool, *, actor: User | None = None) -> User:
        who = self._actor(actor)
        user = self.get_user(username)
        now = self.db.now()
        with self.db.transaction() as conn:
            conn.execute("UPDATE accounts_users SET disabled = ? WHERE id = ?", (int(disabled), user.id))
            if disabled:
                conn.execute(
                    "UPDATE accounts_sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                    (now, user.id),
                )
            record_audit(
                conn,
                now,
                who,
                "disable_user" if disabled else "enable_user",
                details={"username": user.username},
            )
        return self.get_user(user.username)

    # --- sign-in ----------------------------------------------------------------------------------

    def _throttle(self, name: str, client: str, now: float) -> None:
        """Back off a client that keeps failing for one username; nobody else is slowed.

        After ``login_max_failures`` failures within the window, the client waits 1 s
        after its last failure, doubling with each further one (capped at the window).
        A hard lockout would let anyone lock the real user out with five wrong
        passwords; a per-client back-off costs the guesser, not the owner.
        """
        window = self.db.settings.login_window_minutes * 60
        rows = self.conn.execute(
            "SELECT at FROM accounts_login_failures WHERE username = ? AND client = ? AND at > ? ORDER BY at",
            (name, client, now - window),
        ).fetchall()
        over = len(rows) - self.db.settings.login_max_failures
        if over < 0:
            return
        wait = min(window, 2.0**over) - (now - rows[-1][0])
        if wait > 0:
            raise ThrottledError(
                f"too many failed sign-ins for {name!r} from this client; try again in {int(wait + 0.999)} s",
                retry_after=wait,
            )

    def authenticate(self, username: str, password: str, *, client: str = "") -> User:
        """The user if the password is right; :class:`AuthError` (same message for an unknown user).

        ``client`` (an IP address from the web app) keys the back-off.  At most
        ``login_concurrency`` password checks run at once: more wait their turn
        (:class:`ThrottledError` after a few seconds).  A failure for an existing
        account is audited with the system as actor (the typed name is never an
        actor); failures for unknown names are only counted, per hour.
        """
        from argon2.exceptions import InvalidHashError, VerificationError

        name = username.strip().lower()[:64]  # what is recorded of an unknown name stays bounded
        client = client[:64]
        now = self.db.now()
        self._throttle(name, client, now)
        row = self._row(name)
        stored = row[5] if row is not None else None
        if not self.db.login_slots.acquire(timeout=LOGIN_SLOT_WAIT_S):
            raise ThrottledError(
                "the server is busy checking other sign-ins; try again shortly", retry_after=1
            )
        try:
            # An unknown user still costs one verification, so timing does not tell who exists.
            ok = self.hasher.verify(stored or self._dummy_hash(), password) and stored is not None
        except (VerificationError, InvalidHashError):
            ok = False
        finally:
            self.db.login_slots.release()
        if not ok or row is None or bool(row[4]):
            self._record_failure(name, client, now, known=row is not None)
            raise AuthError("wrong username or password")
        user = self._user(row)
        with self.db.transaction() as conn:
            conn.execute(
                "DELETE FROM accounts_login_failures WHERE username = ? AND client = ?", (name, client)
            )
            if self.hasher.check_needs_rehash(stored or ""):
                conn.execute(
                    "UPDATE accounts_users SET password_hash = ? WHERE id = ?",
                    (self.hasher.hash(password), user.id),
                )
        return user

    def _record_failure(self, name: str, client: str, now: float, *, known: bool) -> None:
        window = self.db.settings.login_window_minutes * 60
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO accounts_login_failures (username, client, at) VALUES (?, ?, ?)",
                (name, client, now),
            )
            conn.execute("DELETE FROM accounts_login_failures WHERE at <= ?", (now - window,))
            if known:
                record_audit(
                    conn, now, SYSTEM_ACTOR, "login_failed", details={"username": name, "client": client}
                )
            else:
                # Names nobody has: a count per hour, never an audit row (or an audit actor) per guess.
                conn.execute(
                    "INSERT INTO accounts_unknown_failures (hour, count) VALUES (?, 1) "
                    "ON CONFLICT(hour) DO UPDATE SET count = count + 1",
                    (int(now // 3600),),
                )

    def unknown_failures(self, *, hours: int = 24) -> int:
        """Failed sign-ins for usernames that do not exist, over the last ``hours`` hours."""
        since = int(self.db.now() // 3600) - hours + 1
        row = self.conn.execute(
            "SELECT coalesce(sum(count), 0) FROM accounts_unknown_failures WHERE hour >= ?", (since,)
        ).fetchone()
        return int(row[0])

    def login(self, username: str, password: str, *, hours: float | None = None, client: str = "") -> Session:
        return self.create_session(self.authenticate(username, password, client=client), hours=hours)

    def create_session(self, user: User, *, hours: float | None = None) -> Session:
        from curbside.review.connection import utc_iso

        lifetime = (hours if hours is not None else self.db.settings.session_hours) * 3600
        if lifetime <= 0:
            raise InputError(f"a session must last a positive time (got {lifetime / 3600} hours)")
        token = secrets.token_urlsafe(32)
        now = self.db.now()
        expires = now + lifetime
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO accounts_sessions (token_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)",
                (token_digest(token), user.id, now, expires),
            )
            record_audit(conn, now, user.username, "login", details={"expires_at": utc_iso(expires)})
        return Session(token=token, user=user, expires_at=utc_iso(expires), expires_at_epoch=expires)

    def session_user(self, token: str | None) -> User | None:
        """The signed-in user for a session token, or ``None`` (then treat the request as signed out)."""
        if not token:
            return None
        row = self.conn.execute(
            "SELECT u.id, u.username, u.role, u.created_at, u.disabled FROM accounts_sessions s "
            "JOIN accounts_users u ON u.id = s.user_id "
            "WHERE s.token_hash = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND u.disabled = 0",
            (token_digest(token), self.db.now()),
        ).fetchone()
        return self._user(row) if row is not None else None

    def revoke_session(self, token: str) -> bool:
        """Sign out: ``True`` if the token named a live session."""
        now = self.db.now()
        with self.db.transaction() as conn:
            row = conn.execute(
                "SELECT u.username FROM accounts_sessions s JOIN accounts_users u ON u.id = s.user_id "
                "WHERE s.token_hash = ? AND s.revoked_at IS NULL",
                (token_digest(token),),
            ).fetchone()
            if row is None:
                return False
            conn.execute(
                "UPDATE accounts_sessions SET revoked_at = ? WHERE token_hash = ?", (now, token_digest(token))
            )
            record_audit(conn, now, row[0], "logout")
        return True

    def revoke_all(self, username: str) -> int:
        user = self.get_user(username)
        with self.db.transaction() as conn:
            return conn.execute(
                "UPDATE accounts_sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                (self.db.now(), user.id),
            ).rowcount
