"""The article library: articles written ahead of time, reviewed, then served to readers.

API (topics come from :mod:`curbside.review.topics`: a file, or the store's MeSH headings)::

    build(topics, settings=..., rebuild=False, progress=None) -> BuildReport
    library_topics(db) -> list[TopicRecord]                # every topic built or tried, with its state
    approved_by_topic(db) -> list[TopicGroup]              # what the web app's library page lists
    match_approved(db, question) -> ArticleVersion | None  # an approved article answering ``question``
    signature(question) -> str                             # the question's topic identity

:func:`build` writes each topic's article with :func:`curbside.api.ask` (what
``curbside ask`` prints) and submits it to the editorial review queue as the
generating pipeline (:meth:`~curbside.review.store.ArticleStore.save_version`
with no user).  Each topic's outcome is a checkpoint row in ``library_topics``
(in the editorial database, beside the review tables), written in the same
transaction as its version: a run that is killed and started again skips the
topics already built and retries the failed ones.  ``rebuild=True`` writes
every topic again; an article whose content hash is unchanged keeps its
version (no new review).  A topic that fails is recorded with its reason and
the run goes on.

A reader's question matches an approved article when their normalised question
texts are equal (:func:`~curbside.review.store.question_key`), or when it has
the :func:`signature` of a library topic: the same question type and the same
content words ("What causes leukopenia?" and "What are the causes of
leucopenia?").  Signatures are stored when a topic is built and refreshed by
every later run.
"""

from __future__ import annotations

import time
import weakref
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Final, Literal

from curbside.config import Settings
from curbside.errors import CurbsideError
from curbside.review.connection import utc_iso
from curbside.review.store import question_key
from curbside.review.topics import Topic

if TYPE_CHECKING:
    from curbside.retrieval.embeddings import Embedder
    from curbside.review.db import ReviewDB
    from curbside.review.store import ArticleVersion
    from curbside.store.base import Store

Outcome = Literal["built", "unchanged", "skipped", "failed"]
#: Question types whose plan does not already say what the question asks ("definition" also
#: holds "adverse effects of X" today): their frame words stay in the signature.
_OPEN_TYPES: Final = frozenset({"definition", "general", "yesno", "comparison"})

# Append only: never edit or reorder an applied migration; add a new one at the end.
MIGRATIONS: Final[list[tuple[str, str]]] = [
    (
        "0001_library_topics",
        """
        CREATE TABLE library_topics (
            key TEXT PRIMARY KEY,
            question TEXT NOT NULL,
            topic TEXT NOT NULL,
            signature TEXT NOT NULL DEFAULT '',
            state TEXT NOT NULL CHECK (state IN ('done', 'failed')),
            article_id TEXT,
            version INTEGER,
            content_hash TEXT,
            error TEXT,
            seconds REAL,
            built_at REAL NOT NULL
        );
        CREATE INDEX library_topics_signature ON library_topics(signature);
        CREATE INDEX library_topics_article ON library_topics(article_id);
        """,
    ),
]


@dataclass(frozen=True)
class TopicResult:
    topic: Topic
    outcome: Outcome
    article_id: str | None = None
    version: int | None = None
    seconds: float = 0.0
    error: str | None = None  # why it failed


@dataclass
class BuildProgress:
    """Sent before a topic is written (``result`` None) and after it (its result)."""

    done: int
    total: int
    topic: Topic
    result: TopicResult | None = None


@dataclass
class BuildReport:
    results: list[TopicResult] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def failed(self) -> list[TopicResult]:
        return [r for r in self.results if r.outcome == "failed"]

    @property
    def seconds_per_article(self) -> float | None:
        """Mean time to write one article (topics written this run, failures left out)."""
        written = [r.seconds for r in self.results if r.outcome in ("built", "unchanged")]
        return sum(written) / len(written) if written else None

    def to_dict(self) -> dict[str, Any]:
        per = self.seconds_per_article
        return {
            "topics": len(self.results),
            **{o: self.count(o) for o in ("built", "unchanged", "skipped", "failed")},
            "seconds": round(self.seconds, 2),
            "seconds_per_article": round(per, 2) if per is not None else None,
            "results": [
                {**asdict(r), "topic": r.topic.label, "question": r.topic.question} for r in self.results
            ],
        }


@dataclass(frozen=True)
class TopicRecord:
    """One row of the library: a topic's last outcome and the review status of its article."""

    question: str
    topic: str
    state: str
    article_id: str | None
    version: int | None
    status: str | None
    approved_version: int | None
    error: str | None
    built_at: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class LibraryEntry:
    article_id: str
    slug: str
    title: str
    version: int
    approved_at: str  # ISO 8601 UTC, when the version was approved


@dataclass(frozen=True)
class TopicGroup:
    topic: str  # "" for approved articles that no library topic wrote (questions readers asked)
    articles: tuple[LibraryEntry, ...]


# --- the library tables ------------------------------------------------------------------------------

_migrated: weakref.WeakSet[ReviewDB] = weakref.WeakSet()


def ensure_tables(db: ReviewDB) -> None:
    """Create or migrate the library's tables in the editorial database (once per open database)."""
    if db in _migrated:
        return
    with db.transaction() as conn:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS library_migrations (name TEXT PRIMARY KEY, applied_at REAL NOT NULL)"
        )
        done = {r[0] for r in conn.execute("SELECT name FROM library_migrations")}
        for name, sql in MIGRATIONS:
            if name not in done:
                for statement in filter(str.strip, sql.split(";")):  # no triggers: ';' ends statements
                    conn.execute(statement)
                conn.execute("INSERT INTO library_migrations VALUES (?, ?)", (name, time.time()))
    _migrated.add(db)


def signature(question: str) -> str:
    """A question's topic identity: its type and its content words, folded ("causes|leukopenia").

    Frame words ("causes", "treated") are left out where the question type
    already says what is asked; :class:`~curbside.errors.QueryError` for a
    question with no searchable words.
    """
    from curbside.retrieval.questions import analyse
    from curbside.retrieval.subject import fold, frame_words

    query = analyse(question)
    frame = frame_words() if query.qtype not in _OPEN_TYPES else frozenset()
    words = {_singular(w) for k in query.keywords for w in fold(k).split() if w not in frame}
    return "|".join([query.qtype, *sorted(words)])


def _singular(word: str) -> str:
    return (
        word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "is", "us")) else word
    )


def _checkpoint(db: ReviewDB, result: TopicResult, sig: str, digest: str | None = None) -> None:
    """Record a topic's outcome (its row replaces any earlier one; columns in table order)."""
    t = result.topic
    state = "failed" if result.outcome == "failed" else "done"
    row = (question_key(t.question), t.question, t.label, sig, state, result.article_id, result.version)
    with db.transaction() as conn:
        conn.execute(
            "INSERT OR REPLACE INTO library_topics VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (*row, digest, result.error, round(result.seconds, 3), db.now()),
        )


# --- building ----------------------------------------------------------------------------------------


def build(
    topics: Sequence[Topic],
    *,
    settings: Settings | None = None,
    store: Store | None = None,
    db: ReviewDB | None = None,
    embedder: Embedder | None = None,
    rebuild: bool = False,
    k: int = 12,
    synthesizer: str = "extractive",
    progress: Callable[[BuildProgress], None] | None = None,
) -> BuildReport:
    """Write each topic's article and submit it for review (see the module docstring)."""
    from curbside.review.db import open_review_db
    from curbside.store import open_store

    settings = settings or Settings()
    started = time.perf_counter()
    report = BuildReport()
    own_store = store is None
    s = store if store is not None else open_store(settings.db, settings)
    own_db = db is None
    try:
        d = db if db is not None else open_review_db(settings, store_location=s.location)
        try:
            ensure_tables(d)
            emb = embedder if embedder is not None else _embedder_for(settings, s)
            done = {
                r[0]: (r[1], r[2])
                for r in d.conn.execute(
                    "SELECT key, article_id, version FROM library_topics WHERE state = 'done'"
                )
            }
            for i, topic in enumerate(topics):
                if progress is not None:
                    progress(BuildProgress(i, len(topics), topic))
                previous = done.get(question_key(topic.question))
                if previous is not None and not rebuild:
                    result = TopicResult(topic, "skipped", previous[0], previous[1])
                    _refresh(d, topic)
                else:
                    result = _build_one(topic, settings, s, d, emb, k=k, synthesizer=synthesizer)
                report.results.append(result)
                if progress is not None:
                    progress(BuildProgress(i + 1, len(topics), topic, result))
        finally:
            if own_db:
                d.close()
    finally:
        if own_store:
            s.close()
    report.seconds = time.perf_counter() - started
    return report


def _embedder_for(settings: Settings, store: Store) -> Embedder | None:
    """The configured embedder when the store has its vectors (as :func:`curbside.api.make_retriever`
    decides), built once for the run so that its model loads once."""
    from curbside.retrieval.embeddings import get_embedder

    configured = get_embedder(settings.embedder, settings)
    return configured if store.vector_coverage(configured.name).embedded else None


def _build_one(
    topic: Topic,
    settings: Settings,
    store: Store,
    db: ReviewDB,
    embedder: Embedder | None,
    *,
    k: int,
    synthesizer: str,
) -> TopicResult:
    from curbside import api

    started = time.perf_counter()
    sig = ""
    try:
        sig = signature(topic.question)
        article = api.ask(
            topic.question, k=k, synthesizer=synthesizer, settings=settings, store=store, embedder=embedder
        )
        article = replace(article, metadata={**article.metadata, "library": {"topic": topic.label}})
        seconds = time.perf_counter() - started
        with db.transaction():  # the version and its checkpoint commit together
            saved = db.articles.save_version(article)
            av = saved.version
            result = TopicResult(
                topic, "built" if saved.created else "unchanged", av.article_id, av.version, seconds
            )
            _checkpoint(db, result, sig, av.content_hash)
        return result
    except Exception as exc:  # one topic's failure is recorded and the run goes on
        reason = exc.message if isinstance(exc, CurbsideError) else f"{type(exc).__name__}: {exc}"
        failed = TopicResult(topic, "failed", seconds=time.perf_counter() - started, error=reason)
        _record_failure(db, failed, sig)
        return failed


def _record_failure(db: ReviewDB, result: TopicResult, sig: str) -> None:
    """A failed topic is retried by the next run; one built earlier keeps its article (a rebuild failed)."""
    with db.transaction() as conn:
        key = question_key(result.topic.question)
        state = conn.execute("SELECT state FROM library_topics WHERE key = ?", (key,)).fetchone()
        if state is None or state[0] == "failed":
            _checkpoint(db, result, sig)


def _refresh(db: ReviewDB, topic: Topic) -> None:
    """A topic built earlier: its label as the topics file now gives it, its signature as analysed now."""
    try:
        sig = signature(topic.question)
    except CurbsideError:
        return
    with db.transaction() as conn:
        conn.execute(
            "UPDATE library_topics SET topic = ?, signature = ? WHERE key = ?",
            (topic.label, sig, question_key(topic.question)),
        )


# --- reading -----------------------------------------------------------------------------------------

_APPROVED: Final = (
    "(SELECT MAX(version) FROM review_versions v WHERE v.article_id = {id} AND v.status = 'approved')"
)


def library_topics(db: ReviewDB) -> list[TopicRecord]:
    """Every topic built or tried, in the order first written, with its article's review status."""
    ensure_tables(db)
    rows = db.conn.execute(
        "SELECT t.question, t.topic, t.state, t.article_id, t.version, v.status, "
        f"{_APPROVED.format(id='t.article_id')}, t.error, t.built_at FROM library_topics t "
        "LEFT JOIN review_versions v ON v.article_id = t.article_id AND v.version = t.version "
        "ORDER BY t.rowid"
    ).fetchall()
    return [TopicRecord(*r) for r in rows]


def approved_by_topic(db: ReviewDB) -> list[TopicGroup]:
    """Approved articles (their latest approved version) grouped by library topic, topics A-Z.

    Articles no library topic wrote (questions readers asked) come last, under the topic "".
    """
    ensure_tables(db)
    rows = db.conn.execute(
        "SELECT a.id, a.slug, json_extract(v.data, '$.title'), v.version, v.status_changed_at, "
        "(SELECT MIN(t.topic) FROM library_topics t WHERE t.article_id = a.id) "
        f"FROM review_articles a JOIN review_versions v ON v.article_id = a.id AND v.version = "
        f"{_APPROVED.format(id='a.id')}"
    ).fetchall()
    groups: defaultdict[str, list[LibraryEntry]] = defaultdict(list)
    for article_id, slug, title, version, approved_at, topic in rows:
        groups[topic or ""].append(
            LibraryEntry(article_id, slug, title or slug, int(version), utc_iso(approved_at))
        )
    ordered = sorted(groups, key=lambda t: (t == "", t.lower()))
    return [TopicGroup(t, tuple(sorted(groups[t], key=lambda e: e.title.lower()))) for t in ordered]


def match_approved(db: ReviewDB, question: str) -> ArticleVersion | None:
    """The latest approved version of an article answering ``question``, or None.

    First by the normalised question text, then by a library topic's
    :func:`signature`; the most recently approved wins a tie.  The version is
    returned as a signed-out reader sees it.
    """
    ensure_tables(db)
    approved = _APPROVED.format(id="a.id")
    row = db.conn.execute(
        f"SELECT a.id FROM review_articles a WHERE a.question_key = ? AND {approved} IS NOT NULL",
        (question_key(question),),
    ).fetchone()
    if row is None:
        try:
            sig = signature(question)
        except CurbsideError:
            return None
        row = db.conn.execute(
            "SELECT a.id FROM library_topics t JOIN review_articles a ON a.id = t.article_id "
            f"JOIN review_versions v ON v.article_id = a.id AND v.version = {approved} "
            "WHERE t.signature = ? AND t.state = 'done' ORDER BY v.status_changed_at DESC LIMIT 1",
            (sig,),
        ).fetchone()
    if row is None:
        return None
    return db.articles.get(str(row[0]), viewer=None)
