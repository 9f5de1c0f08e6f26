"""The records the editorial store returns: versions, summaries, comments, flags, audit entries.

Plain frozen dataclasses, each with ``to_dict()`` giving JSON-ready data
(timestamps are ISO 8601 UTC strings such as ``"2026-12-01T21:50:30Z"``), and
the small pure helpers that name and fingerprint articles::

    ArticleVersion   one version with its Article, status, comments and open flags
                     (.status_label, .pending_review, .needs_rereview, .is_latest, .last_updated)
    ArticleSummary   one article in a list          VersionInfo   one version without content
    Comment          a reviewer's comment           Flag          a re-review flag (.open)
    AuditEntry       one audit log entry            SaveResult    (version, created)

    question_key(question) -> str      the identity of an article: its normalised question
    slugify(text, max_len=80) -> str   "Causes of Leukopenia?" -> "causes-of-leukopenia"
    content_hash(article) -> str       digest of the content, metadata left out
    section_keys(article) -> list[str] keys a comment may name (sections, then EXTRA_SECTION_KEYS)

They are re-exported by :mod:`curbside.review.store`, which is where most
callers import them from.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from dataclasses import asdict, dataclass, replace
from typing import Any, Final, Literal

from curbside.render.json import article_to_dict
from curbside.review.workflow import STATUS_LABELS, Status
from curbside.types import Article, ArticleSection

FlagReason = Literal["retracted-source", "newer-guideline"]
#: Section keys a comment may name besides the article's own section keys.
EXTRA_SECTION_KEYS: Final = ("title", "bottom-line", "references", "warnings")
#: The actor recorded when the generating pipeline (no signed-in user) saves a version.
SYSTEM_ACTOR: Final = "system"


def _iso(seconds: float | None) -> str | None:
    from curbside.review.connection import utc_iso

    return utc_iso(seconds) if seconds is not None else None


def _iso_req(seconds: float) -> str:
    from curbside.review.connection import utc_iso

    return utc_iso(seconds)


@dataclass(frozen=True)
class Comment:
    id: int
    article_id: str
    version: int
    section_key: str | None  # None: about the whole version
    author: str
    body: str
    action: str | None  # the review action it came with (approve, request_changes...), if any
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Flag:
    """A reason to review an approved version again (its article stays visible meanwhile)."""

    id: int
    article_id: str
    version: int
    reason: FlagReason
    document_id: str  # the retracted source, or the newer guideline
    message: str
    raised_at: str
    resolved_at: str | None = None
    resolved_by: str | None = None

    @property
    def open(self) -> bool:
        return self.resolved_at is None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "open": self.open}


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: str
    actor: str
    action: str
    article_id: str | None
    version: int | None
    details: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VersionInfo:
    """One version without its content (for version lists)."""

    article_id: str
    version: int
    status: Status
    content_hash: str
    created_at: str
    created_by: str
    status_changed_at: str
    status_changed_by: str

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "status_label": self.status_label}


@dataclass(frozen=True)
class ArticleVersion:
    """One stored version with its content, review status, comments and open flags."""

    article_id: str
    slug: str
    version: int
    status: Status
    article: Article
    content_hash: str
    created_at: str  # "Last updated" on the page: when this content was generated and saved
    created_by: str
    status_changed_at: str
    status_changed_by: str
    latest_version: int
    approved_version: int | None  # the latest approved version of the article, if any
    comments: tuple[Comment, ...] = ()
    flags: tuple[Flag, ...] = ()  # open re-review flags on this version

    @property
    def status_label(self) -> str:
        return STATUS_LABELS[self.status]

    @property
    def is_latest(self) -> bool:
        return self.version == self.latest_version

    @property
    def pending_review(self) -> bool:
        """True until a reviewer approves this version (the page shows a banner)."""
        return self.status != "approved"

    @property
    def needs_rereview(self) -> bool:
        return any(f.open for f in self.flags)

    @property
    def last_updated(self) -> str:
        return self.created_at

    def to_dict(self, *, include_article: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "article_id": self.article_id,
            "slug": self.slug,
            "version": self.version,
            "status": self.status,
            "status_label": self.status_label,
            "pending_review": self.pending_review,
            "needs_rereview": self.needs_rereview,
            "content_hash": self.content_hash,
            "created_at": self.created_at,
            "last_updated": self.last_updated,
            "created_by": self.created_by,
            "status_changed_at": self.status_changed_at,
            "status_changed_by": self.status_changed_by,
            "latest_version": self.latest_version,
            "approved_version": self.approved_version,
            "is_latest": self.is_latest,
            "comments": [c.to_dict() for c in self.comments],
            "flags": [f.to_dict() for f in self.flags],
        }
        if include_article:
            out["article"] = article_to_dict(self.article)
        return out


@dataclass(frozen=True)
class ArticleSummary:
    """One article in a list: the version the viewer would see first, and the overall state."""

    id: str
    slug: str
    question: str
    title: str
    created_at: str
    updated_at: str
    latest_version: int
    latest_status: Status
    approved_version: int | None
    open_flags: int

    @property
    def latest_status_label(self) -> str:
        return STATUS_LABELS[self.latest_status]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "latest_status_label": self.latest_status_label}


def redacted_version(av: ArticleVersion) -> ArticleVersion:
    """``av`` as a viewer who may not see askers' questions gets it.

    The question as typed may identify a patient ("... a patient named ...") and who asked
    it is the asker's business: both are for reviewers and admins (``view_questions``).
    Everyone else reads the article under its title; ``metadata["follow_up"]`` (the
    question as asked and as searched) goes too.
    """
    article = av.article
    metadata = {k: v for k, v in article.metadata.items() if k != "follow_up"}
    return replace(av, article=replace(article, question=article.title, metadata=metadata), created_by="")


def redacted_summary(summary: ArticleSummary) -> ArticleSummary:
    """An article list entry without the asker's question (see :func:`redacted_version`)."""
    return replace(summary, question=summary.title)


def redacted_info(info: VersionInfo) -> VersionInfo:
    return replace(info, created_by="")


@dataclass(frozen=True)
class SaveResult:
    version: ArticleVersion
    created: bool  # False: identical content was already the latest version


def question_key(question: str) -> str:
    """The identity of an article: its question, case- and spacing-insensitive, end punctuation dropped."""
    return " ".join(question.lower().split()).rstrip("?.! ")


def slugify(text: str, max_len: int = 80) -> str:
    """``"Causes of Leukopenia?"`` -> ``"causes-of-leukopenia"`` (ASCII, hyphens, at most ``max_len``)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    slug = re.sub(r"[^a-z0-9]+", "-", folded).strip("-")
    if len(slug) > max_len:
        slug = slug[:max_len].rsplit("-", 1)[0] or slug[:max_len]
    return slug or "article"


def content_hash(article: Article) -> str:
    """Digest of an article's content; ``metadata`` (timings, generated_at) is left out on purpose."""
    data = article_to_dict(article)
    data.pop("metadata", None)
    payload = json.dumps(data, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def section_keys(article: Article) -> list[str]:
    """Every section key of ``article`` (subsections included), then the extra keys comments may use."""
    out: list[str] = []

    def walk(sections: tuple[ArticleSection, ...]) -> None:
        for s in sections:
            out.append(s.key)
            walk(s.subsections)

    walk(article.sections)
    return [*out, *EXTRA_SECTION_KEYS]
