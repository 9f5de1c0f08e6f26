"""Editorial review and accounts as library calls: what the CLI, the HTTP API and the web app call.

:mod:`curbside.api` re-exports every function here (``api.submit_article``, ``api.login`` ...), so
the public API stays in one place.  Each function takes an open ``db`` (a
:class:`~curbside.review.db.ReviewDB`, e.g. the web app's) or opens the one for ``settings`` and
closes it again.  ``user``/``viewer`` is a signed-in :class:`~curbside.review.workflow.User` or
``None`` (signed out); role checks happen in the stores.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from curbside.config import Settings
from curbside.store import using_store
from curbside.types import Article

if TYPE_CHECKING:
    from curbside.review.accounts import Session
    from curbside.review.db import ReviewDB
    from curbside.review.store import ArticleSummary, ArticleVersion, AuditEntry, Comment, Flag, SaveResult
    from curbside.review.workflow import User
    from curbside.store.base import Store

__all__ = [
    "add_user",
    "audit_log",
    "check_rereview",
    "comment_article",
    "get_article",
    "list_articles",
    "list_users",
    "login",
    "logout",
    "resolve_flag",
    "review_article",
    "review_db",
    "session_user",
    "set_role",
    "submit_article",
]


@contextmanager
def review_db(
    settings: Settings, db: ReviewDB | None, store_location: str | None = None
) -> Iterator[ReviewDB]:

    if db is not None:
        yield db
        return
    from curbside.review.db import open_review_db

    opened = open_review_db(settings, store_location=store_location)
    try:
        yield opened
    finally:
        opened.close()


def submit_article(
    article: Article,
    *,
    user: User | None = None,
    article_id: str | None = None,
    force_new: bool = False,
    settings: Settings | None = None,
    db: ReviewDB | None = None,
) -> SaveResult:
    """Save ``article`` (the clinician rendering) as a new version awaiting review; see ArticleStore.save_version."""
    with review_db(settings or Settings(), db) as d:
        return d.articles.save_version(article, user=user, article_id=article_id, force_new=force_new)


def review_article(
    ref: str,
    action: str,
    *,
    user: User,
    version: int | None = None,
    comment: str = "",
    section: str | None = None,
    settings: Settings | None = None,
    db: ReviewDB | None = None,
) -> ArticleVersion:
    """Take a review action (start_review, approve, request_changes, reject, resubmit) on a version."""
    from curbside.review.workflow import parse_action

    with review_db(settings or Settings(), db) as d:
        return d.articles.review(
            ref, parse_action(action), user=user, version=version, comment=comment, section=section
        )


def comment_article(
    ref: str,
    body: str,
    *,
    user: User,
    version: int | None = None,
    section: str | None = None,
    settings: Settings | None = None,
    db: ReviewDB | None = None,
) -> Comment:
    """A reviewer's comment on one section (a section key) or on the whole version."""
    with review_db(settings or Settings(), db) as d:
        return d.articles.comment(ref, body, user=user, version=version, section=section)


def get_article(
    ref: str,
    *,
    version: int | None = None,
    viewer: User | None = None,
    settings: Settings | None = None,
    db: ReviewDB | None = None,
) -> ArticleVersion:
    """An article version by id or slug; signed out only the latest approved one (else PermissionDenied)."""
    with review_db(settings or Settings(), db) as d:
        return d.articles.get(ref, version, viewer=viewer)


def list_articles(
    *,
    status: str | None = None,
    viewer: User | None = None,
    flagged: bool | None = None,
    limit: int = 100,
    offset: int = 0,
    settings: Settings | None = None,
    db: ReviewDB | None = None,
) -> list[ArticleSummary]:
    """Saved articles, most recently updated first (signed out: only those with an approved version)."""
    from curbside.review.workflow import parse_status

    wanted = parse_status(status) if status else None
    with review_db(settings or Settings(), db) as d:
        return d.articles.list(wanted, viewer=viewer, flagged=flagged, limit=limit, offset=offset)


def audit_log(
    ref: str | None = None,
    *,
    user: User | None,
    limit: int = 200,
    settings: Settings | None = None,
    db: ReviewDB | None = None,
) -> list[AuditEntry]:
    """The append-only audit log (all articles, or one), oldest first; needs reviewer or admin."""
    from curbside.review.accounts import require

    require(user, "view_audit")
    with review_db(settings or Settings(), db) as d:
        return d.articles.audit_entries(ref, limit=limit)


def resolve_flag(
    flag_id: int,
    *,
    user: User,
    comment: str = "",
    settings: Settings | None = None,
    db: ReviewDB | None = None,
) -> Flag:
    """Close a re-review flag after checking the article."""
    with review_db(settings or Settings(), db) as d:
        return d.articles.resolve_flag(flag_id, user=user, comment=comment)


def check_rereview(
    *, settings: Settings | None = None, store: Store | None = None, db: ReviewDB | None = None
) -> list[Flag]:
    """Flag approved articles whose cited sources were retracted or that a newer guideline supersedes."""
    from curbside.review.rereview import check_rereview as check

    settings = settings or Settings()
    with using_store(settings, store) as s, review_db(settings, db, s.location) as d:
        return check(d, s)


def add_user(
    username: str,
    password: str,
    role: str = "reader",
    *,
    actor: User | None = None,
    settings: Settings | None = None,
    db: ReviewDB | None = None,
) -> User:
    """Create a user (``actor=None``: the operator at the command line; else an admin)."""
    with review_db(settings or Settings(), db) as d:
        return d.accounts.add_user(username, password, role, actor=actor)


def list_users(*, settings: Settings | None = None, db: ReviewDB | None = None) -> list[User]:
    with review_db(settings or Settings(), db) as d:
        return d.accounts.list_users()


def set_role(
    username: str,
    role: str,
    *,
    actor: User | None = None,
    settings: Settings | None = None,
    db: ReviewDB | None = None,
) -> User:
    with review_db(settings or Settings(), db) as d:
        return d.accounts.set_role(username, role, actor=actor)


def login(
    username: str, password: str, *, settings: Settings | None = None, db: ReviewDB | None = None
) -> Session:
    """Check the password and open a session; AuthError / ThrottledError otherwise."""
    with review_db(settings or Settings(), db) as d:
        return d.accounts.login(username, password)


def logout(token: str, *, settings: Settings | None = None, db: ReviewDB | None = None) -> bool:
    with review_db(settings or Settings(), db) as d:
        return d.accounts.revoke_session(token)


def session_user(
    token: str | None, *, settings: Settings | None = None, db: ReviewDB | None = None
) -> User | None:
    """The user a session token belongs to, or None (unknown, expired, revoked)."""
    with review_db(settings or Settings(), db) as d:
        return d.accounts.session_user(token)
