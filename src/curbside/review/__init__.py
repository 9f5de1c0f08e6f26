"""Editorial review: immutable article versions, the review workflow, accounts and the audit log.

* :mod:`curbside.review.workflow` -- statuses, actions, roles and the transition rules (pure);
* :mod:`curbside.review.db` -- :class:`ReviewDB`, the SQLite file and its migrations;
* :mod:`curbside.review.store` -- versions, status, comments, re-review flags, audit log;
* :mod:`curbside.review.records` -- the records it returns (ArticleVersion, Flag ...);
* :mod:`curbside.review.accounts` -- users, argon2 password hashes, sessions, throttling;
* :mod:`curbside.review.rereview` -- flags approved articles after an ingest.

Library entry points the CLI and the web app share are in :mod:`curbside.api`
(``submit_article``, ``review_article``, ``get_article`` ...); the editorial
policy readers see is :data:`EDITORIAL_POLICY` (copied to docs/editorial-policy.md by
``python -m curbside.cli.docgen``), the API/CLI guide docs/review.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from curbside.review.db import ReviewDB, open_review_db

#: The editorial policy as shipped in the package: the web app's /policy page shows it.
EDITORIAL_POLICY: Final = Path(__file__).resolve().parents[1] / "data" / "editorial-policy.md"

__all__ = ["EDITORIAL_POLICY", "ReviewDB", "open_review_db"]
