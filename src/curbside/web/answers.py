"""Asking, following up and reading answers through the web: the glue between routes and the library.

A question (or a follow-up in a thread) goes through :func:`curbside.api.follow_up`,
which rewrites a follow-up into a standalone query, answers it, saves the
article as a new version awaiting review and records the turn.  The browser
that asked remembers the thread in its signed cookie.

Who may read an answer:

* signed-in users (any role) read every version (the review library decides);
* a signed-out reader reads an article's latest *approved* version only;
* the browser that asked a question reads its own thread's answers at once,
  with the "pending human review" banner: the thread is theirs (its id is
  random and listed in their signed cookie), and the answer is what they asked
  for.  Nobody else signed out can open that thread or see its unapproved
  versions.  ``Settings.web_show_own_answers = False`` turns this off: then a
  signed-out asker, like every signed-out reader, sees an answer only once it
  is approved.

A new question (not a follow-up) that an approved article already answers
(:func:`curbside.review.library.match_approved`: the same question, or a library
topic's) is answered with that article: the thread's first turn points at it,
and its page says so and offers to write a new answer instead (``fresh``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi import Request

from curbside import api
from curbside.errors import PermissionDenied
from curbside.render.json import article_to_dict
from curbside.types import Audience
from curbside.web.errors import RateLimited
from curbside.web.state import browser, client_address, client_key, current_user, state_of
from curbside.web.streaming import Emit
from curbside.web.views import for_audience

if TYPE_CHECKING:
    from curbside.review.accounts import Session
    from curbside.review.store import ArticleSummary, ArticleVersion
    from curbside.review.threads import Thread
    from curbside.review.workflow import Action, User

Job = Callable[[Emit], None]
#: Seconds between two purges of signed-out askers' old threads.
PURGE_EVERY_S = 3600.0


@dataclass(frozen=True)
class AnswerResult:
    thread: Thread
    version: ArticleVersion
    visible: bool = True  # False: saved for review, but this signed-out caller may not read it yet
    library: bool = False  # True: an approved article that already answered the question, not a new one

    @property
    def turn(self) -> int:
        return len(self.thread.turns)

    @property
    def url(self) -> str:
        return turn_url(self.thread.id, self.turn) + ("?library=1" if self.library else "")

    def to_json(self, request: Request, audience: Audience) -> dict[str, Any]:
        av = self.version
        out: dict[str, Any] = av.to_dict(include_article=False)
        shown = for_audience(av.article, audience) if audience != "clinician" else av.article
        out.update(
            {
                "thread_id": self.thread.id,
                "turn": self.turn,
                "question": self.thread.turns[-1].question,
                "standalone_question": self.thread.turns[-1].standalone,
                "url": self.url,
                "audience": audience,
                "article": article_to_dict(shown) if self.visible else None,
                "library": self.library,
            }
        )
        if not self.visible:
            out["message"] = "the answer was saved for review; it is published once a reviewer approves it"
        return out


def turn_url(thread_id: str, ordinal: int) -> str:
    return f"/threads/{thread_id}/{ordinal}"


def require_user(request: Request, action: Action) -> User:
    """The signed-in user if they may take ``action``; else :class:`PermissionDenied` (HTTP 403)."""
    from curbside.review.accounts import require

    user = current_user(request)
    require(user, action)
    assert user is not None  # require() refuses the signed-out
    return user


def sign_in(request: Request, username: str, password: str) -> Session:
    """A session for the form's or API's credentials, with the per-client and server-wide sign-in limits.

    The limits are taken before any password is hashed (argon2 costs 64 MiB and
    tens of milliseconds per check), so a flood of sign-ins is refused cheaply;
    the accounts library then backs off a client that keeps failing for one name.
    """
    from curbside.errors import ThrottledError

    state = state_of(request)
    address = client_address(request)
    for limiter, what in ((state.login_limiter, "from this address"), (state.login_global, "on this server")):
        ok, wait = limiter.allow(f"ip:{address}" if limiter is state.login_limiter else "all")
        if not ok:
            raise ThrottledError(f"too many sign-in attempts {what}; try again in {wait} s", retry_after=wait)
    return state.review.accounts.login(username, password, hours=state.settings.session_hours, client=address)


def check_search_rate(request: Request) -> None:
    """Take one search from the client's bucket, or refuse with :class:`RateLimited` (HTTP 429)."""
    ok, wait = state_of(request).search_limiter.allow(client_key(request))
    if not ok:
        rate = state_of(request).settings.web_search_rate
        raise RateLimited(f"too many searches from this client (limit {rate:g} per minute)", retry_after=wait)


def check_rate(request: Request) -> None:
    """Take one ask from the client's bucket, or refuse with :class:`RateLimited` (HTTP 429)."""
    ok, wait = state_of(request).limiter.allow(client_key(request))
    if not ok:
        rate = state_of(request).settings.web_ask_rate
        raise RateLimited(
            f"too many questions from this client (limit {rate:g} per minute)", retry_after=wait
        )


def get_thread(request: Request, thread_id: str) -> Thread:
    """A thread the caller may use: their browser's own, or one the review library lets them see.

    A signed-out asker's thread is open to the browser whose signed cookie lists it and to
    admins only; when that browser has since signed in, the thread becomes its account's.
    """
    from curbside.review.threads import ANONYMOUS

    user = current_user(request)
    threads = state_of(request).review.threads
    if threads.owner(thread_id) == ANONYMOUS:
        holds = browser(request).owns(thread_id)
        if holds and user is not None:
            return threads.adopt(thread_id, user)
        if not holds and (user is None or user.role != "admin"):
            raise PermissionDenied(
                "this conversation belongs to another browser", hint="ask your own question"
            )
    return threads.get(thread_id, viewer=user)


def answer(
    request: Request,
    thread_id: str | None,
    question: str,
    *,
    on_stage: Callable[[str, float], None] | None = None,
    on_token: Callable[[str], None] | None = None,
    library: bool | None = None,
) -> AnswerResult:
    """Ask ``question`` (a follow-up when ``thread_id`` is given) and save the answer for review.

    ``library`` (default: for a new question, ``thread_id`` None): answer with an approved
    article that already answers it, when there is one (:func:`from_library`).
    """
    state = state_of(request)
    user = current_user(request)
    if thread_id is None if library is None else library:
        started = time.perf_counter()
        served = from_library(request, question, thread_id)
        if served is not None:
            if on_stage is not None:
                on_stage("library", round((time.perf_counter() - started) * 1000, 2))
            return served
    if thread_id is None:
        thread_id = start_thread(request)
    thread, _ = api.follow_up(
        thread_id,
        question,
        user=user,
        synthesizer=state.synthesizer,
        settings=state.settings,
        store=state.store,
        db=state.review,
        embedder=state.embedder,
        on_stage=on_stage,
        on_token=on_token,
    )
    last = thread.turns[-1]
    assert last.article_id is not None and last.version is not None  # follow_up saves every answer
    if user is None and not state.settings.web_show_own_answers:
        # Saved and awaiting review; the caller learns where it is, not what it says.
        return AnswerResult(
            thread, state.review.articles.get_unchecked(last.article_id, last.version), visible=False
        )
    return AnswerResult(thread, load_version(request, last.article_id, last.version, owner=True))


def from_library(request: Request, question: str, thread_id: str | None = None) -> AnswerResult | None:
    """The approved article answering a new ``question``, as the first turn of ``thread_id`` (default:
    a new thread); None when no approved article answers it."""
    from curbside.ingestion.screening import visible_text
    from curbside.retrieval.privacy import question_for_saving
    from curbside.retrieval.questions import check_question_length
    from curbside.review.library import match_approved

    state = state_of(request)
    text = visible_text(question)
    check_question_length(text, state.settings.max_question_chars)
    text, _ = question_for_saving(text, state.settings)  # what the thread keeps, as for any question
    found = match_approved(state.review, text)
    if found is None:
        return None
    asked = " ".join(text.split())
    thread = state.review.threads.add_turn(
        thread_id or start_thread(request),
        asked,
        asked,
        article_id=found.article_id,
        version=found.version,
        viewer=current_user(request),
    )
    return AnswerResult(thread, load_version(request, found.article_id, found.version), library=True)


def start_thread(request: Request) -> str:
    """A new thread for the caller; a signed-out browser records it in its cookie."""
    user = current_user(request)
    state = state_of(request)
    if time.monotonic() - state.last_purge > PURGE_EVERY_S or not state.last_purge:
        # Retention of what signed-out askers typed: checked as new threads start, at most hourly.
        state.last_purge = time.monotonic()
        state.review.threads.purge_anonymous(state.settings.anonymous_retention_days)
    thread = state.review.threads.create(user=user)
    if user is None:
        browser(request).add_thread(thread.id)
    return thread.id


def streaming_job(
    request: Request, thread_id: str | None, question: str, audience: Audience, *, fresh: bool = False
) -> Job:
    """A job for :func:`~curbside.web.streaming.stream_job`: stage events, tokens, sections, the article."""
    # The thread exists before the stream starts: the browser cookie naming it goes out with the
    # response headers, and the job (in another thread) finds the user already resolved.
    library = thread_id is None and not fresh
    if thread_id is None:
        thread_id = start_thread(request)
    # A model's reply as it streams is unverified text: only signed-in readers (who may read every
    # version, verified or not) watch it; the signed-out get the verified article, or nothing.
    watch = current_user(request) is not None

    def job(emit: Emit) -> None:
        emit("stage", {"stage": "started", "ms": None})
        result = answer(
            request,
            thread_id,
            question,
            on_stage=lambda name, ms: emit("stage", {"stage": name, "ms": ms}),
            on_token=(lambda text: emit("token", {"text": text})) if watch else None,
            library=library,
        )
        if not result.library:
            emit("stage", {"stage": "saved", "ms": None})
        data = result.to_json(request, audience)
        if audience != "clinician":  # the page to open shows the reader's chosen wording
            data["url"] = f"{result.url}{'&' if '?' in result.url else '?'}audience={audience}"
        article = data.pop("article")
        if article is None:
            emit("article", {**data, "article": None})
            return
        emit("bottom_line", {"claims": article["bottom_line"], "verdict": article["verdict"]})
        for section in article["sections"]:
            emit("section", section)
        emit("references", {"references": article["references"]})
        emit("article", {**data, "article": article})

    return job


def load_version(request: Request, article_id: str, version: int, *, owner: bool = False) -> ArticleVersion:
    """A saved version as the caller may see it; ``owner``: the caller asked for it (see the module docstring)."""
    db = state_of(request).review
    user = current_user(request)
    if user is not None or not owner:
        return db.articles.get(article_id, version, viewer=user, asker=owner)
    if not state_of(request).settings.web_show_own_answers:
        return db.articles.get(article_id, version, viewer=None)  # approved versions only
    # The asking browser's own answer: visibility was decided by thread ownership above.
    return db.articles.get_unchecked(article_id, version)


def thread_version(request: Request, thread: Thread, ordinal: int) -> ArticleVersion:
    """The version that answered turn ``ordinal`` of a thread the caller may use (:func:`get_thread`)."""
    from curbside.errors import NotFoundError

    if not 1 <= ordinal <= len(thread.turns):
        raise NotFoundError(f"thread {thread.id} has no turn {ordinal}")
    turn = thread.turns[ordinal - 1]
    if turn.article_id is None or turn.version is None:
        raise NotFoundError(f"turn {ordinal} of thread {thread.id} has no saved article")
    return load_version(request, turn.article_id, turn.version, owner=True)


def review_queue(request: Request) -> list[ArticleSummary]:
    """Articles whose latest version awaits a decision, oldest request first."""
    db = state_of(request).review
    user = current_user(request)
    waiting = [
        a
        for a in db.articles.list(viewer=user, limit=1000)
        if a.latest_status in ("submitted", "under_review") or a.open_flags
    ]
    return sorted(waiting, key=lambda a: a.updated_at)
