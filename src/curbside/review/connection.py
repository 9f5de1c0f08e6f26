"""The editorial database's connection: one SQLite file, its migrations and its transactions.

It is the bottom of review storage: the article, account and thread stores
(:mod:`~curbside.review.store`, :mod:`~curbside.review.accounts`, :mod:`~curbside.review.threads`)
take a :class:`ReviewConnection`, and :class:`curbside.review.db.ReviewDB` puts them together
above it, so storage imports run one way.

API::

    with ReviewConnection(path, clock=time.time) as conn: ...   # migrated, ready to use
    review_db_path(settings, store_location=None) -> Path   # where the tables live
    utc_iso(seconds) -> "2026-12-01T21:50:30Z"

The tables live in the document store's SQLite file by default (``Settings.db``),
or in ``Settings.review_db`` when set; a PostgreSQL document store keeps them in
``review.db`` in the data dir.  Their schema changes are named, append-only
migrations recorded in their own ``review_migrations`` table, so they never
collide with :mod:`curbside.store.sqlite`'s ``migrations``.

``clock`` (seconds since the epoch) is injectable so that session expiry and
login throttling are tested without sleeping.

Each thread gets its own connection (:attr:`ReviewConnection.conn`).  One connection
shared by a web server's threads failed under a concurrent ``curbside ingest``:
a thread's unfinished read held a snapshot, and another thread's
``BEGIN IMMEDIATE`` on the same connection then failed at once with "database
is locked" (SQLITE_BUSY_SNAPSHOT ignores ``busy_timeout``).  Writes still take
an in-process ``RLock``; :meth:`ReviewConnection.transaction` retries a busy start and
nests, so a caller can make several library writes one transaction (an answer's
version and its thread turn).
"""

from __future__ import annotations

import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from curbside.config import Settings
from curbside.errors import StoreError

Clock = Callable[[], float]
#: How long a statement waits for another writer (an ingest batch) before giving up.
BUSY_TIMEOUT_MS = 30_000

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
    (
        "accounts_0002_failures_by_client",
        """
        ALTER TABLE accounts_login_failures ADD COLUMN client TEXT NOT NULL DEFAULT '';
        CREATE INDEX accounts_login_failures_client ON accounts_login_failures(username, client, at);
        CREATE TABLE accounts_unknown_failures (
            hour INTEGER PRIMARY KEY,
            count INTEGER NOT NULL
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


class ReviewConnection:
    """The editorial tables in one SQLite file: connections, migrations and transactions.

    The stores built on it (articles, accounts, threads) take one; :class:`curbside.review.db.ReviewDB`
    adds them as attributes."""

    def __init__(
        self, path: str | Path, *, clock: Clock = time.time, settings: Settings | None = None
    ) -> None:
        self.path = Path(path)
        self.clock = clock
        self.settings = settings or Settings(db=str(self.path))
        self.lock = threading.RLock()
        # Password checks at once (argon2 takes 64 MiB each): shared by every caller of this database.
        self.login_slots = threading.BoundedSemaphore(self.settings.login_concurrency)
        self._local = threading.local()
        # Every connection opened, with its thread: a finished thread's connection is closed.
        self._opened: list[tuple[weakref.ref[threading.Thread], sqlite3.Connection]] = []
        self._opened_lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot open the review database at {self.path}: {exc}") from exc
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.migrate()

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def _connect(self) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the review database at {self.path}: {exc}") from exc
        with self._opened_lock:
            alive = []
            for ref, other in self._opened:
                thread = ref()
                if thread is None or not thread.is_alive():
                    other.close()
                else:
                    alive.append((ref, other))
            self._opened = [*alive, (weakref.ref(threading.current_thread()), conn)]
        return conn

    def close(self) -> None:
        with self._opened_lock:
            for _, conn in self._opened:
                conn.close()
            self._opened = []
        self._local = threading.local()

    def __enter__(self) -> Self:
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
        """A write transaction; rolled back on any exception (the caller's error is kept).

        Nested calls join the outer transaction, so library writes made inside one
        commit or roll back together.
        """
        with self.lock:
            conn = self.conn
            depth = getattr(self._local, "depth", 0)
            if depth:
                self._local.depth = depth + 1
                try:
                    yield conn
                finally:
                    self._local.depth = depth
                return
            self._begin(conn)
            self._local.depth = 1
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            finally:
                self._local.depth = 0
            conn.execute("COMMIT")

    def _begin(self, conn: sqlite3.Connection) -> None:
        """``BEGIN IMMEDIATE``, retried while another process holds the write lock (ingest commits)."""
        deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
        delay = 0.01
        while True:
            try:
                conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                busy = "locked" in str(exc) or "busy" in str(exc)
                if not busy or time.monotonic() > deadline:
                    raise StoreError(f"the review database at {self.path} is busy: {exc}") from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.5)


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
