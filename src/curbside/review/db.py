"""The editorial database: one SQLite connection shared by articles, accounts and threads.

API::

    db = open_review_db(settings)            # migrate, ready to use; close() when done
    db = open_review_db(settings, store_location=store.location)   # follow the document store's file
    with ReviewDB(path, clock=time.time) as db:
        db.articles   # curbside.review.store.ArticleStore: versions, status, comments, flags, audit log
        db.accounts   # curbside.review.accounts.Accounts: users, roles, passwords, sessions
        db.threads    # curbside.threads.ThreadStore: follow-up conversations

    review_db_path(settings, store_location=None) -> Path   # where the tables live
    utc_iso(seconds) -> "2026-12-01T21:50:30Z"

The tables live in the document store's SQLite file by default (``Settings.db``),
or in ``Settings.review_db`` when set; a PostgreSQL document store keeps them in
``review.db`` in the data dir.  Their schema changes are named, append-only
migrations recorded in their own ``review_migrations`` table, so they never
collide with :mod:`curbside.store.sqlite`'s ``migrations``.

``clock`` (seconds since the epoch) is injectable so that session expiry and
login throttling are tested without sleeping.  One connection serves every
thread of a web server: writes take an ``RLock`` and ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from curbside.config import Settings
from curbside.errors import StoreError

if TYPE_CHECKING:
    from curbside.review.accounts import Accounts
    from curbside.review.store import ArticleStore
    from curbside.threads import ThreadStore

Clock = Callable[[], float]

# Append only: never edit or reorder an applied migration; add a new one at the end.
MIGRATIONS: list[tuple[str, str]] = [
    (
        "review_0001_articles",
        """
        CREATE TABLE review_articles (
            id TEXT PRIMARY KEY,
            slug TEXT NOT NULL UNIQUE,
            question_key TEXT NOT NULL UNIQUE,
            question TEXT NOT NULL,
            title TEXT NOT NULL,
            created_at REAL NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE review_versions (
            article_id TEXT NOT NULL REFERENCES review_articles(id),
            version INTEGER NOT NULL,
            data TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            cited_ids TEXT NOT NULL,
            created_at REAL NOT NULL,
            created_by TEXT NOT NULL,
            status TEXT NOT NULL,
            status_changed_at REAL NOT NULL,
            status_changed_by TEXT NOT NULL,
            PRIMARY KEY (article_id, version)
        );
        CREATE INDEX review_versions_status ON review_versions(status);
        CREATE TRIGGER review_versions_immutable
        BEFORE UPDATE OF article_id, version, data, content_hash, cited_ids, created_at, created_by
        ON review_versions
        BEGIN
            SELECT RAISE(ABORT, 'article versions are immutable: save a new version instead');
        END;
        CREATE TRIGGER review_versions_no_delete BEFORE DELETE ON review_versions
        BEGIN
            SELECT RAISE(ABORT, 'article versions cannot be deleted');
        END;
        CREATE TABLE review_comments (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            article_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            section_key TEXT,
            author TEXT NOT NULL,
            action TEXT,
            body TEXT NOT NULL,
            created_at REAL NOT NULL
        );
        CREATE INDEX review_comments_article ON review_comments(article_id, version);
        CREATE TRIGGER review_comments_no_update BEFORE UPDATE ON review_comments
        BEGIN
            SELECT RAISE(ABORT, 'review comments are append-only');
        END;
        CREATE TRIGGER review_comments_no_delete BEFORE DELETE ON review_comments
        BEGIN
            SELECT RAISE(ABORT, 'review comments are append-only');
        END;
        CREATE TABLE review_audit (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            article_id TEXT,
            version INTEGER,
            details TEXT NOT NULL
        );
        CREATE INDEX review_audit_article ON review_audit(article_id);
        CREATE TRIGGER review_audit_no_update BEFORE UPDATE ON review_audit
        BEGIN
            SELECT RAISE(ABORT, 'the audit log is append-only');
        END;
        CREATE TRIGGER review_audit_no_delete BEFORE DELETE ON review_audit
        BEGIN
            SELECT RAISE(ABORT, 'the audit log is append-only');
        END;
        CREATE TABLE review_flags (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            article_id TEXT NOT NULL,
            version INTEGER NOT NULL,
            reason TEXT NOT NULL,
            document_id TEXT NOT NULL,
            message TEXT NOT NULL,
            raised_at REAL NOT NULL,
            resolved_at REAL,
            resolved_by TEXT,
            UNIQUE (article_id, version, reason, document_id)
        );
        """,
    ),
    (
        "accounts_0001_users_sessions",
        """
        CREATE TABLE accounts_users (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            username TEXT NOT NULL UNIQUE,
            role TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            created_at REAL NOT NULL,
            disabled INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE accounts_sessions (
            token_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES accounts_users(id),
            created_at REAL NOT NULL,
            expires_at REAL NOT NULL,
            revoked_at REAL
        );
        CREATE INDEX accounts_sessions_user ON accounts_sessions(user_id);
        CREATE TABLE accounts_login_failures (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            username TEXT NOT NULL,
            at REAL NOT NULL
        );
        CREATE INDEX accounts_login_failures_user ON accounts_login_failures(username, at);
        """,
    ),
    (
        "threads_0001_threads",
        """
        CREATE TABLE threads (
            id TEXT PRIMARY KEY,
            created_at REAL NOT NULL,
            created_by TEXT NOT NULL
        );
        CREATE TABLE thread_turns (
            thread_id TEXT NOT NULL REFERENCES threads(id),
            ordinal INTEGER NOT NULL,
            question TEXT NOT NULL,
            standalone TEXT NOT NULL,
            article_id TEXT,
            version INTEGER,
            created_at REAL NOT NULL,
            PRIMARY KEY (thread_id, ordinal)
        );
        """,
    ),
]


def utc_iso(seconds: float) -> str:
    """``seconds`` since the epoch as an ISO 8601 UTC timestamp with a ``Z`` (what JSON readers expect)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


def review_db_path(settings: Settings, store_location: str | None = None) -> Path:
    """Where the editorial tables live: ``review_db``, else the SQLite store file, else the data dir."""
    if settings.review_db:
        return Path(settings.review_db).expanduser()
    location = store_location or settings.db
    if location.startswith("sqlite:///"):
        return Path(location[len("sqlite:///") :]).expanduser()
    if "://" not in location:
        return Path(location).expanduser()
    return settings.data_dir / "review.db"


def _split_sql(sql: str) -> list[str]:
    """Split on ';' at line ends, keeping trigger bodies (their inner ';' ends a line too) whole."""
    out: list[str] = []
    current: list[str] = []
    depth = 0
    for line in sql.strip().splitlines():
        current.append(line)
        stripped = line.strip().upper()
        if stripped == "BEGIN":
            depth += 1
        elif stripped.startswith("END;"):
            depth -= 1
        if depth == 0 and line.rstrip().endswith(";"):
            out.append("\n".join(current).strip())
            current = []
    if "".join(current).strip():
        out.append("\n".join(current).strip())
    return out


class ReviewDB:
    """The editorial tables in one SQLite file (see the module docstring)."""

    def __init__(
        self, path: str | Path, *, clock: Clock = time.time, settings: Settings | None = None
    ) -> None:
        self.path = Path(path)
        self.clock = clock
        self.settings = settings or Settings(db=str(self.path))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute("PRAGMA busy_timeout=30000")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the review database at {self.path}: {exc}") from exc
        self.lock = threading.RLock()
        self.migrate()

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ReviewDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def now(self) -> float:
        return self.clock()

    def applied_migrations(self) -> list[str]:
        return [r[0] for r in self.conn.execute("SELECT name FROM review_migrations ORDER BY rowid")]

    def migrate(self) -> list[str]:
        """Apply pending migrations, each in its own transaction; returns the names applied."""
        with self.lock:
            try:
                self.conn.execute(
                    "CREATE TABLE IF NOT EXISTS review_migrations "
                    "(name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
                )
                done = set(self.applied_migrations())
            except sqlite3.DatabaseError as exc:
                raise StoreError(f"{self.path} is not a curbside database (or is corrupt): {exc}") from exc
            applied = []
            for name, sql in MIGRATIONS:
                if name in done:
                    continue
                try:
                    self.conn.execute("BEGIN IMMEDIATE")
                    for statement in _split_sql(sql):
                        self.conn.execute(statement)
                    self.conn.execute("INSERT INTO review_migrations VALUES (?, ?)", (name, time.time()))
                    self.conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    self.conn.execute("ROLLBACK")
                    raise StoreError(f"migration {name} failed on {self.path}: {exc}") from exc
                applied.append(name)
            return applied

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction; rolled back on any exception (the caller's error is kept)."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    @cached_property
    def articles(self) -> ArticleStore:
        from curbside.review.store import ArticleStore

        return ArticleStore(self)

    @cached_property
    def accounts(self) -> Accounts:
        from curbside.review.accounts import Accounts

        return Accounts(self)

    @cached_property
    def threads(self) -> ThreadStore:
        from curbside.threads import ThreadStore

        return ThreadStore(self)


def open_review_db(
    settings: Settings | None = None, *, store_location: str | None = None, clock: Clock = time.time
) -> ReviewDB:
    """Open (creating and migrating) the editorial database for ``settings``; see :func:`review_db_path`."""
    settings = settings or Settings()
    return ReviewDB(review_db_path(settings, store_location), clock=clock, settings=settings)


def has_review_tables(path: str | Path) -> bool:
    """Whether ``path`` already holds the editorial tables (without creating anything)."""
    p = Path(path)
    if not p.is_file():
        return False
    try:
        conn = sqlite3.connect(f"file:{p}?mode=ro", uri=True)
        try:
            row = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'review_migrations'"
            ).fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    return row is not None
