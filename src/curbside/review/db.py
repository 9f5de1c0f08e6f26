"""The editorial database: one SQLite connection shared by articles, accounts and threads.

API::

    db = open_review_db(settings)            # migrate, ready to use; close() when done
    db = open_review_db(settings, store_location=store.location)   # follow the document store's file
    with ReviewDB(path, clock=time.time) as db:
        db.articles   # curbside.review.store.ArticleStore: versions, status, comments, flags, audit log
        db.accounts   # curbside.review.accounts.Accounts: users, roles, passwords, sessions
        db.threads    # curbside.review.threads.ThreadStore: follow-up conversations

The connection, the migrations and :func:`~curbside.review.connection.review_db_path` are in
:mod:`curbside.review.connection`, below the stores; this module sits above them.
"""

from __future__ import annotations

import time
from functools import cached_property

from curbside.config import Settings
from curbside.review.accounts import Accounts
from curbside.review.connection import Clock, ReviewConnection, review_db_path
from curbside.review.store import ArticleStore
from curbside.review.threads import ThreadStore

__all__ = ["ReviewDB", "open_review_db"]


class ReviewDB(ReviewConnection):
    """The editorial tables with their stores (see the module docstring)."""

    @cached_property
    def articles(self) -> ArticleStore:
        return ArticleStore(self)

    @cached_property
    def accounts(self) -> Accounts:
        return Accounts(self)

    @cached_property
    def threads(self) -> ThreadStore:
        return ThreadStore(self)


def open_review_db(
    settings: Settings | None = None, *, store_location: str | None = None, clock: Clock = time.time
) -> ReviewDB:
    """Open (creating and migrating) the editorial database for ``settings``; see :func:`review_db_path`."""
    settings = settings or Settings()
    return ReviewDB(review_db_path(settings, store_location), clock=clock, settings=settings)
