"""Reviewed articles: immutable versions, review status, per-section comments, flags, audit log.

Reached as ``db.articles`` on a :class:`~curbside.review.db.ReviewDB`.  Every
method that changes something checks the user's role (``user=None`` on
:meth:`ArticleStore.save_version` means the generating pipeline itself, e.g.
an anonymous web ask) and writes an audit entry in the same transaction.

API (``ref`` is an article id such as ``art_1f3c...`` or its slug)::

    save_version(article, *, user=None, article_id=None, force_new=False) -> SaveResult
    get(ref, version=None, *, viewer=None) -> ArticleVersion      # visibility rule below
    versions(ref, *, viewer=None) -> list[VersionInfo]            # newest first
    list(status=None, *, viewer=None, flagged=None, limit=100, offset=0) -> list[ArticleSummary]
    review(ref, action, *, user, version=None, comment="", section=None) -> ArticleVersion
    comment(ref, body, *, user, version=None, section=None) -> Comment
    comments(ref, version=None, *, viewer=None) -> list[Comment]
    flags(ref=None, *, open_only=True) -> list[Flag]
    raise_flag(article_id, version, reason, document_id, message) -> Flag | None   # None: already raised
    resolve_flag(flag_id, *, user, comment="") -> Flag
    audit(ref=None, *, user, limit=200) -> list[AuditEntry]       # needs the view_audit permission
    approved_latest() -> list[ArticleVersion]                     # the version readers see, per article
    get_unchecked(article_id, version) -> ArticleVersion          # no visibility rule: see its docstring

Visibility: a signed-out reader (``viewer=None``) sees only the latest
*approved* version of an article; asking for any other version, or for an
article with no approved version, raises
:class:`~curbside.errors.PermissionDenied` (HTTP 403).  A signed-in user of
any role sees every version.  Unknown ids raise
:class:`~curbside.errors.NotFoundError`.

Versions are stored as the JSON of :func:`curbside.render.json.article_to_dict`
and read back with :func:`~curbside.render.json.article_from_dict`.  Store the
*clinician* article (the wording the verifier checked): audiences are rendered
from it with :func:`curbside.answer.audience.adapt`, so an adapted article is refused.
Saving an article whose content (everything but ``metadata``) equals the
latest version's returns that version (``created=False``) instead of asking
for another review.  SQLite triggers make versions' content, comments and the
audit log impossible to UPDATE or DELETE.

The records (defined in :mod:`curbside.review.records`, re-exported here) each
have ``to_dict()`` giving JSON-ready data (timestamps are ISO
8601 UTC strings, ``"2026-12-01T21:50:30Z"``).
"""

from __future__ import annotations

import builtins
import hashlib
import json
import sqlite3
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from curbside.errors import InputError, NotFoundError, PermissionDenied
from curbside.render.json import article_from_dict, article_to_dict
from curbside.review.connection import utc_iso
from curbside.review.records import (
    EXTRA_SECTION_KEYS,
    SYSTEM_ACTOR,
    ArticleSummary,
    ArticleVersion,
    AuditEntry,
    Comment,
    Flag,
    FlagReason,
    SaveResult,
    VersionInfo,
    content_hash,
    question_key,
    redacted_info,
    redacted_summary,
    redacted_version,
    section_keys,
    slugify,
)
from curbside.review.workflow import Action, Status, can, next_status, parse_status, path_to, require_user
from curbside.types import Article

if TYPE_CHECKING:
    from curbside.review.connection import ReviewConnection
    from curbside.review.workflow import User


__all__ = [
    "EXTRA_SECTION_KEYS",
    "SYSTEM_ACTOR",
    "ArticleStore",
    "ArticleSummary",
    "ArticleVersion",
    "AuditEntry",
    "Comment",
    "Flag",
    "FlagReason",
    "SaveResult",
    "VersionInfo",
    "actor_name",
    "content_hash",
    "question_key",
    "record_audit",
    "section_keys",
    "slugify",
]


def _iso(seconds: float | None) -> str | None:
    return utc_iso(seconds) if seconds is not None else None


def _iso_req(seconds: float) -> str:
    return utc_iso(seconds)


def actor_name(user: User | None) -> str:
    return user.username if user is not None else SYSTEM_ACTOR


def sees_questions(viewer: User | None) -> bool:
    """Whether ``viewer`` reads askers' questions as typed, and who asked (reviewers and admins)."""
    return viewer is not None and not viewer.disabled and can(viewer.role, "view_questions")


def record_audit(
    conn: sqlite3.Connection,
    at: float,
    actor: str,
    action: str,
    article_id: str | None = None,
    version: int | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one audit entry (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO review_audit (at, actor, action, article_id, version, details) VALUES (?, ?, ?, ?, ?, ?)",
        (
            at,
            actor,
            action,
            article_id,
            version,
            json.dumps(details or {}, ensure_ascii=False, sort_keys=True),
        ),
    )


_VERSION_COLS: Final = (
    "article_id, version, status, content_hash, created_at, created_by, status_changed_at, status_changed_by"
)


class ArticleStore:
    """Articles and their versions in the editorial database (see the module docstring)."""

    def __init__(self, db: ReviewConnection) -> None:
        self.db = db

    # --- lookup -----------------------------------------------------------------------------------

    @property
    def conn(self) -> sqlite3.Connection:
        """The calling thread's connection to the editorial database."""
        return self.db.conn

    def resolve(self, ref: str) -> str:
        """The article id for an id or slug; :class:`NotFoundError` when neither is known."""
        text = ref.strip()
        row = self.conn.execute(
            "SELECT id FROM review_articles WHERE id = ? OR slug = ?", (text, text.lower())
        ).fetchone()
        if row is None:
            raise NotFoundError(
                f"no article with id or slug {ref!r}", hint="list them with `curbside review list`"
            )
        return str(row[0])

    def _article_row(self, article_id: str) -> tuple[str, str, str, float, float]:
        row = self.conn.execute(
            "SELECT slug, question, title, created_at, updated_at FROM review_articles WHERE id = ?",
            (article_id,),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no article with id {article_id!r}")
        return row[0], row[1], row[2], row[3], row[4]

    def _latest(self, article_id: str) -> int:
        row = self.conn.execute(
            "SELECT MAX(version) FROM review_versions WHERE article_id = ?", (article_id,)
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    def _approved(self, article_id: str) -> int | None:
        row = self.conn.execute(
            "SELECT MAX(version) FROM review_versions WHERE article_id = ? AND status = 'approved'",
            (article_id,),
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def _info(self, row: tuple[Any, ...]) -> VersionInfo:
        return VersionInfo(
            article_id=row[0],
            version=row[1],
            status=parse_status(row[2]),
            content_hash=row[3],
            created_at=_iso_req(row[4]),
            created_by=row[5],
            status_changed_at=_iso_req(row[6]),
            status_changed_by=row[7],
        )

    def _version_info(self, article_id: str, version: int) -> VersionInfo:
        row = self.conn.execute(
            f"SELECT {_VERSION_COLS} FROM review_versions WHERE article_id = ? AND version = ?",
            (article_id, version),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"article {article_id} has no version {version}")
        return self._info(row)

    def _load(self, article_id: str, version: int) -> ArticleVersion:
        info = self._version_info(article_id, version)
        data = self.conn.execute(
            "SELECT data FROM review_versions WHERE article_id = ? AND version = ?", (article_id, version)
        ).fetchone()[0]
        slug = self._article_row(article_id)[0]
        article = article_from_dict(json.loads(data))
        follow_up = article.metadata.get("follow_up")
        if isinstance(follow_up, dict) and "thread_id" in follow_up:
            # Versions saved before the fix carried the asker's thread id; it never leaves the store.
            clean = {k: v for k, v in follow_up.items() if k != "thread_id"}
            article = replace(article, metadata={**article.metadata, "follow_up": clean})
        return ArticleVersion(
            article_id=article_id,
            slug=slug,
            version=version,
            status=info.status,
            article=article,
            content_hash=info.content_hash,
            created_at=info.created_at,
            created_by=info.created_by,
            status_changed_at=info.status_changed_at,
            status_changed_by=info.status_changed_by,
            latest_version=self._latest(article_id),
            approved_version=self._approved(article_id),
            comments=tuple(self._comments(article_id, version)),
            flags=tuple(f for f in self.flags(article_id) if f.version == version),
        )

    def get(
        self, ref: str, version: int | None = None, *, viewer: User | None = None, asker: bool = False
    ) -> ArticleVersion:
        """A version: by default the newest one the viewer may see (signed out: the latest approved).

        The asker's question and the version's author are shown to reviewers and admins
        only (:func:`sees_questions`); ``asker=True``: the caller established that the
        viewer asked it (their own thread), so they read their own words.
        """
        found = self._get(ref, version, viewer)
        return found if asker or sees_questions(viewer) else redacted_version(found)

    def _get(self, ref: str, version: int | None, viewer: User | None) -> ArticleVersion:
        if version is not None and not 1 <= version < 2**31:
            raise NotFoundError(f"article {ref!r} has no version {version}")
        article_id = self.resolve(ref)
        if viewer is None:
            approved = self._approved(article_id)
            if approved is None:
                raise PermissionDenied(
                    f"article {ref!r} has not been approved by a reviewer yet; sign in to read it"
                )
            if version is not None and version != approved:
                self._version_info(article_id, version)  # NotFoundError for a version that does not exist
                raise PermissionDenied(
                    f"version {version} of article {ref!r} is not the approved version; sign in to read it"
                )
            return self._load(article_id, approved)
        return self._load(article_id, version if version is not None else self._latest(article_id))

    def get_unchecked(self, ref: str, version: int) -> ArticleVersion:
        """A version without the visibility rule, for callers that decided visibility themselves.

        The web app uses it to show a signed-out asker the answer to their own
        question (reached through their thread), pending review.  Anything else
        should use :meth:`get`.
        """
        return self._load(self.resolve(ref), version)

    def versions(self, ref: str, *, viewer: User | None = None) -> builtins.list[VersionInfo]:
        """Every version, newest first; signed out, only the approved version readers see."""
        article_id = self.resolve(ref)
        rows = self.conn.execute(
            f"SELECT {_VERSION_COLS} FROM review_versions WHERE article_id = ? ORDER BY version DESC",
            (article_id,),
        ).fetchall()
        infos = [self._info(r) for r in rows]
        if viewer is None:
            approved = self._approved(article_id)
            infos = [i for i in infos if i.version == approved]
        return infos if sees_questions(viewer) else [redacted_info(i) for i in infos]

    def list(
        self,
        status: Status | None = None,
        *,
        viewer: User | None = None,
        flagged: bool | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[ArticleSummary]:
        """Articles, most recently updated first.

        ``status`` filters on the latest version's status; ``flagged=True`` keeps
        articles with open re-review flags.  Signed out, only articles with an
        approved version are listed, described by that version (its title; its
        number as ``latest_version``), so a pending version does not show.
        """
        if limit < 1 or limit > 1000:
            raise InputError(f"limit must be between 1 and 1000 (got {limit})")
        if offset < 0:
            raise InputError(f"offset must not be negative (got {offset})")
        # "shown" is the version the viewer gets first: the latest one, or signed out the latest approved one.
        shown = (
            "(SELECT MAX(version) FROM review_versions v WHERE v.article_id = a.id AND v.status = 'approved')"
            if viewer is None
            else "(SELECT MAX(version) FROM review_versions v WHERE v.article_id = a.id)"
        )
        sql = (
            "SELECT a.id, a.slug, a.question, json_extract(sv.data, '$.title'), a.created_at, a.updated_at, "
            "sv.version, sv.status, "
            "(SELECT MAX(version) FROM review_versions v WHERE v.article_id = a.id AND v.status = 'approved'), "
            "(SELECT COUNT(*) FROM review_flags f WHERE f.article_id = a.id AND f.resolved_at IS NULL) AS open_flags "
            f"FROM review_articles a JOIN review_versions sv ON sv.article_id = a.id AND sv.version = {shown} "
            "WHERE 1 = 1"
        )
        params: builtins.list[Any] = []
        if status is not None:
            sql += " AND sv.status = ?"
            params.append(status)
        if flagged is not None:
            sql += " AND open_flags > 0" if flagged else " AND open_flags = 0"
        sql += " ORDER BY a.updated_at DESC, a.id LIMIT ? OFFSET ?"
        params += [limit, offset]
        rows = self.conn.execute(sql, params).fetchall()
        redact = (lambda s: s) if sees_questions(viewer) else redacted_summary
        return [
            redact(
                ArticleSummary(
                    id=r[0],
                    slug=r[1],
                    question=r[2],
                    title=r[3],
                    created_at=_iso_req(r[4]),
                    updated_at=_iso_req(r[5]),
                    latest_version=int(r[6]),
                    latest_status=parse_status(r[7]),
                    approved_version=r[8],
                    open_flags=int(r[9]),
                )
            )
            for r in rows
        ]

    # --- writing ----------------------------------------------------------------------------------

    def save_version(
        self,
        article: Article,
        *,
        user: User | None = None,
        article_id: str | None = None,
        force_new: bool = False,
    ) -> SaveResult:
        """Store ``article`` as the next version (status ``submitted``) of its article.

        The article is found by ``article_id`` or else by its question; a new
        one gets an id and a slug from its title.  ``user=None`` is the
        generating pipeline (recorded as ``system``); a user needs the
        ``submit`` permission.
        """
        if user is not None:
            require_user(user, "submit")
        if article.audience != "clinician" or article.metadata.get("audience_adapted"):
            raise InputError(
                f"save the clinician article, not the {article.audience} rendering",
                hint="reviewers check the wording the verifier checked; audiences are rendered from it",
            )
        data = json.dumps(article_to_dict(article), ensure_ascii=False, allow_nan=False, sort_keys=True)
        digest = content_hash(article)
        cited = sorted({r.document_id: r.retracted for r in article.references}.items())
        actor = actor_name(user)
        now = self.db.now()
        with self.db.transaction() as conn:
            key = question_key(article.question)
            if article_id is not None:
                article_id = self.resolve(article_id)
            else:
                row = conn.execute("SELECT id FROM review_articles WHERE question_key = ?", (key,)).fetchone()
                article_id = row[0] if row else None
            if article_id is None:
                article_id = "art_" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
                slug = self._free_slug(slugify(article.title or article.question))
                conn.execute(
                    "INSERT INTO review_articles (id, slug, question_key, question, title, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (article_id, slug, key, article.question, article.title, now, now),
                )
                record_audit(conn, now, actor, "create_article", article_id, None, {"slug": slug})
            latest = self._latest(article_id)
            if latest and not force_new:
                same = conn.execute(
                    "SELECT content_hash FROM review_versions WHERE article_id = ? AND version = ?",
                    (article_id, latest),
                ).fetchone()[0]
                if same == digest:
                    created = False
                    version = latest
                else:
                    created = True
            else:
                created = True
            if created:
                version = latest + 1
                conn.execute(
                    "INSERT INTO review_versions (article_id, version, data, content_hash, cited_ids, created_at, "
                    "created_by, status, status_changed_at, status_changed_by) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 'submitted', ?, ?)",
                    (article_id, version, data, digest, json.dumps(cited), now, actor, now, actor),
                )
                conn.execute(
                    "UPDATE review_articles SET title = ?, updated_at = ? WHERE id = ?",
                    (article.title, now, article_id),
                )
                record_audit(
                    conn,
                    now,
                    actor,
                    "submit",
                    article_id,
                    version,
                    {"content_hash": digest, "synthesizer": article.metadata.get("synthesizer")},
                )
        return SaveResult(self._load(article_id, version), created)

    def _free_slug(self, base: str) -> str:
        slug, n = base, 1
        while self.conn.execute("SELECT 1 FROM review_articles WHERE slug = ?", (slug,)).fetchone():
            n += 1
            slug = f"{base}-{n}"
        return slug

    def _check_section(self, article: Article, section: str | None) -> str | None:
        if section is None or not section.strip():
            return None
        keys = section_keys(article)
        if section not in keys:
            raise InputError(f"the article has no section {section!r}; sections: {', '.join(keys)}")
        return section

    def review(
        self,
        ref: str,
        action: Action,
        *,
        user: User,
        version: int | None = None,
        comment: str = "",
        section: str | None = None,
    ) -> ArticleVersion:
        """Take a review action on a version (default: the latest), with an optional comment.

        Approving, rejecting or requesting changes on a ``submitted`` version
        first records ``start_review`` (see :func:`~curbside.review.workflow.path_to`).
        Raises :class:`PermissionDenied` for the wrong role (and, with
        ``Settings.review_four_eyes``, for approving a version one generated) and
        :class:`~curbside.errors.TransitionError` for the wrong status.
        """
        require_user(user, action)
        article_id = self.resolve(ref)
        with self.db.transaction() as conn:
            number = version if version is not None else self._latest(article_id)
            current = self._load(article_id, number)
            key = self._check_section(current.article, section)
            steps = path_to(current.status, action)
            for step in steps:
                require_user(user, step)
            if (
                action == "approve"
                and self.db.settings.review_four_eyes
                and current.created_by == user.username
            ):
                raise PermissionDenied(
                    f"{user.username} generated version {number} and may not approve it as well "
                    "(the four-eyes rule, CURBSIDE_REVIEW_FOUR_EYES)",
                    hint="ask another reviewer to approve it",
                )
            status = current.status
            now = self.db.now()
            for step in steps:
                after = next_status(status, step)
                conn.execute(
                    "UPDATE review_versions SET status = ?, status_changed_at = ?, status_changed_by = ? "
                    "WHERE article_id = ? AND version = ?",
                    (after, now, user.username, article_id, number),
                )
                details: dict[str, Any] = {"from": status, "to": after}
                if step == action and comment.strip():
                    details["comment"] = comment.strip()
                    if key:
                        details["section"] = key
                record_audit(conn, now, user.username, step, article_id, number, details)
                status = after
            if comment.strip():
                self._insert_comment(
                    conn, article_id, number, key, user.username, comment.strip(), action, now
                )
            if status == "approved":
                self._supersede_flags(conn, article_id, number, user.username, now)
            conn.execute("UPDATE review_articles SET updated_at = ? WHERE id = ?", (now, article_id))
        return self._load(article_id, number)

    def _supersede_flags(
        self, conn: sqlite3.Connection, article_id: str, approved: int, actor: str, now: float
    ) -> None:
        """Close the open flags of older versions: readers no longer see those versions."""
        rows = conn.execute(
            "SELECT id, version, reason, document_id FROM review_flags "
            "WHERE article_id = ? AND version < ? AND resolved_at IS NULL",
            (article_id, approved),
        ).fetchall()
        for flag_id, version, reason, document_id in rows:
            conn.execute(
                "UPDATE review_flags SET resolved_at = ?, resolved_by = ? WHERE id = ?", (now, actor, flag_id)
            )
            record_audit(
                conn,
                now,
                actor,
                "resolve_flag",
                article_id,
                version,
                {"flag_id": flag_id, "reason": reason, "document_id": document_id, "superseded_by": approved},
            )

    def _insert_comment(
        self,
        conn: sqlite3.Connection,
        article_id: str,
        version: int,
        section: str | None,
        author: str,
        body: str,
        action: str | None,
        now: float,
    ) -> int:
        cur = conn.execute(
            "INSERT INTO review_comments (article_id, version, section_key, author, action, body, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (article_id, version, section, author, action, body, now),
        )
        return int(cur.lastrowid or 0)

    def comment(
        self, ref: str, body: str, *, user: User, version: int | None = None, section: str | None = None
    ) -> Comment:
        """A reviewer's comment on a version (default: the latest), about one section or the whole."""
        require_user(user, "comment")
        text = body.strip()
        if not text:
            raise InputError("the comment is empty")
        if len(text) > 10_000:
            raise InputError(f"the comment is {len(text):,} characters long; the limit is 10,000")
        article_id = self.resolve(ref)
        number = version if version is not None else self._latest(article_id)
        current = self._load(article_id, number)
        key = self._check_section(current.article, section)
        now = self.db.now()
        with self.db.transaction() as conn:
            cid = self._insert_comment(conn, article_id, number, key, user.username, text, None, now)
            record_audit(
                conn, now, user.username, "comment", article_id, number, {"section": key, "comment_id": cid}
            )
        return next(c for c in self._comments(article_id, number) if c.id == cid)

    def _comments(self, article_id: str, version: int | None) -> builtins.list[Comment]:
        sql = (
            "SELECT id, article_id, version, section_key, author, body, action, created_at FROM review_comments "
            "WHERE article_id = ?"
        )
        params: builtins.list[Any] = [article_id]
        if version is not None:
            sql += " AND version = ?"
            params.append(version)
        rows = self.conn.execute(sql + " ORDER BY id", params).fetchall()
        return [Comment(r[0], r[1], r[2], r[3], r[4], r[5], r[6], _iso_req(r[7])) for r in rows]

    def comments(
        self, ref: str, version: int | None = None, *, viewer: User | None = None
    ) -> builtins.list[Comment]:
        """Review comments (all versions unless ``version``); signed out there are none to see."""
        article_id = self.resolve(ref)
        if viewer is None:
            raise PermissionDenied("sign in to read review comments")
        return self._comments(article_id, version)

    # --- re-review flags --------------------------------------------------------------------------

    def _flag(self, row: tuple[Any, ...]) -> Flag:
        return Flag(
            id=row[0],
            article_id=row[1],
            version=row[2],
            reason=row[3],
            document_id=row[4],
            message=row[5],
            raised_at=_iso_req(row[6]),
            resolved_at=_iso(row[7]),
            resolved_by=row[8],
        )

    def flags(self, ref: str | None = None, *, open_only: bool = True) -> builtins.list[Flag]:
        sql = (
            "SELECT id, article_id, version, reason, document_id, message, raised_at, resolved_at, resolved_by "
            "FROM review_flags WHERE 1 = 1"
        )
        params: builtins.list[Any] = []
        if ref is not None:
            sql += " AND article_id = ?"
            params.append(self.resolve(ref))
        if open_only:
            sql += " AND resolved_at IS NULL"
        return [self._flag(r) for r in self.conn.execute(sql + " ORDER BY id", params)]

    def raise_flag(
        self, article_id: str, version: int, reason: FlagReason, document_id: str, message: str
    ) -> Flag | None:
        """Record a re-review flag once per (version, reason, document); ``None`` if it already exists."""
        now = self.db.now()
        with self.db.transaction() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO review_flags (article_id, version, reason, document_id, message, raised_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (article_id, version, reason, document_id, message, now),
            )
            if cur.rowcount == 0:
                return None
            flag_id = int(cur.lastrowid or 0)
            record_audit(
                conn,
                now,
                SYSTEM_ACTOR,
                "raise_flag",
                article_id,
                version,
                {"reason": reason, "document_id": document_id, "message": message, "flag_id": flag_id},
            )
            conn.execute("UPDATE review_articles SET updated_at = ? WHERE id = ?", (now, article_id))
        return next(f for f in self.flags(article_id) if f.id == flag_id)

    def resolve_flag(self, flag_id: int, *, user: User, comment: str = "") -> Flag:
        """Close a flag after checking the article (a regenerated version is the other way out)."""
        require_user(user, "resolve_flag")
        row = self.conn.execute(
            "SELECT id, article_id, version, reason, document_id, message, raised_at, resolved_at, resolved_by "
            "FROM review_flags WHERE id = ?",
            (flag_id,),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"no re-review flag with id {flag_id}")
        flag = self._flag(row)
        if not flag.open:
            raise InputError(f"re-review flag {flag_id} was already resolved by {flag.resolved_by}")
        now = self.db.now()
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE review_flags SET resolved_at = ?, resolved_by = ? WHERE id = ?",
                (now, user.username, flag_id),
            )
            details: dict[str, Any] = {
                "flag_id": flag_id,
                "reason": flag.reason,
                "document_id": flag.document_id,
            }
            if comment.strip():
                details["comment"] = comment.strip()
                self._insert_comment(
                    conn,
                    flag.article_id,
                    flag.version,
                    None,
                    user.username,
                    comment.strip(),
                    "resolve_flag",
                    now,
                )
            record_audit(conn, now, user.username, "resolve_flag", flag.article_id, flag.version, details)
        return self._flag(
            self.conn.execute(
                "SELECT id, article_id, version, reason, document_id, message, raised_at, resolved_at, resolved_by "
                "FROM review_flags WHERE id = ?",
                (flag_id,),
            ).fetchone()
        )

    def approved_latest(self) -> builtins.list[ArticleVersion]:
        """For each article with an approved version, the latest approved one (what readers see)."""
        rows = self.conn.execute(
            "SELECT article_id, MAX(version) FROM review_versions WHERE status = 'approved' GROUP BY article_id "
            "ORDER BY article_id"
        ).fetchall()
        return [self._load(r[0], int(r[1])) for r in rows]

    def cited_at_generation(self, article_id: str, version: int) -> dict[str, bool]:
        """The version's cited document ids -> whether each was already retracted when it was generated."""
        row = self.conn.execute(
            "SELECT cited_ids FROM review_versions WHERE article_id = ? AND version = ?",
            (article_id, version),
        ).fetchone()
        if row is None:
            raise NotFoundError(f"article {article_id} has no version {version}")
        return {str(doc_id): bool(retracted) for doc_id, retracted in json.loads(row[0])}

    # --- audit ------------------------------------------------------------------------------------

    def audit(self, ref: str | None = None, *, user: User, limit: int = 200) -> builtins.list[AuditEntry]:
        """The audit log, oldest first (the last ``limit`` entries); all articles or one."""
        require_user(user, "view_audit")
        return self.audit_entries(ref, limit=limit)

    def audit_entries(self, ref: str | None = None, *, limit: int = 200) -> builtins.list[AuditEntry]:
        """The audit log without a permission check (for the CLI run by the server's operator and tests)."""
        if limit < 1:
            raise InputError(f"limit must be at least 1 (got {limit})")
        sql = "SELECT id, at, actor, action, article_id, version, details FROM review_audit"
        params: builtins.list[Any] = []
        if ref is not None:
            sql += " WHERE article_id = ?"
            params.append(self.resolve(ref))
        sql += " ORDER BY id DESC LIMIT ?"
        params.append(limit)
        rows = self.conn.execute(sql, params).fetchall()
        return [
            AuditEntry(r[0], _iso_req(r[1]), r[2], r[3], r[4], r[5], json.loads(r[6])) for r in reversed(rows)
        ]
