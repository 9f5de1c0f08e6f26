"""The JSON API under ``/api/v1`` (documented in docs/http-api.md; schema at ``/openapi.json``).

Every route is a thin shell over the library: :mod:`curbside.api` for search,
ask and follow-up, the editorial database (:mod:`curbside.review`) for
articles, review actions and accounts.  Article JSON is
:func:`curbside.render.json.article_to_dict` output (docs/article-json.md).

Authentication: ``POST /api/v1/session`` returns a session token to send as
``Authorization: Bearer <token>``; browsers use the session cookie instead,
and then every POST must carry the CSRF token (``X-CSRF-Token``).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from curbside import api
from curbside.errors import AuthError
from curbside.review.workflow import TRANSITION_ACTIONS, allowed_actions, parse_action
from curbside.version import __version__
from curbside.web import answers
from curbside.web.security import SESSION_COOKIE, set_session_cookie
from curbside.web.state import check_csrf, current_user, session_token, state_of
from curbside.web.streaming import stream_job
from curbside.web.views import MAX_OFFSET, MAX_VERSION, MAX_YEAR, MIN_YEAR, article_json, hit_view

router = APIRouter(prefix="/api/v1", tags=["api"])

AudienceName = Literal["clinician", "student", "patient"]


class AskBody(BaseModel):
    question: str = Field(
        min_length=1,
        max_length=2000,
        description="The clinical question (at most CURBSIDE_MAX_QUESTION_CHARS).",
    )
    audience: AudienceName = Field(default="clinician", description="Who the returned article is worded for.")
    fresh: bool = Field(
        default=False,
        description="Write a new answer even when an approved article already answers the question "
        "(otherwise that article is returned, with library: true).",
    )


class FollowUpBody(BaseModel):
    question: str = Field(
        min_length=1, max_length=2000, description="The follow-up, in the reader's own words."
    )
    audience: AudienceName = Field(default="clinician")


class ReviewBody(BaseModel):
    action: str = Field(description="start_review, approve, request_changes, reject or resubmit.")
    comment: str = Field(default="", max_length=10_000)
    section: str | None = Field(default=None, description="Section key the comment is about.")
    version: int | None = Field(
        default=None, ge=1, le=MAX_VERSION, description="Default: the latest version."
    )


class CommentBody(BaseModel):
    body: str = Field(min_length=1, max_length=10_000)
    section: str | None = None
    version: int | None = Field(default=None, ge=1, le=MAX_VERSION)


class SignInBody(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


def _version_json(request: Request, av: Any, audience: AudienceName) -> dict[str, Any]:
    """A stored version as JSON with its article worded for ``audience``."""
    out: dict[str, Any] = av.to_dict(include_article=False)
    out["article"] = article_json(state_of(request).cache, av, audience)
    out["audience"] = audience
    out["url"] = f"/articles/{av.slug}?v={av.version}"
    out["allowed_actions"] = allowed_actions(av.status, u.role) if (u := current_user(request)) else []
    return out


@router.get("/health", summary="Liveness and store summary")
def health(request: Request) -> dict[str, Any]:
    state = state_of(request)
    stats = state.store.stats()
    return {
        "status": "ok",
        "version": __version__,
        "synthesizer": state.synthesizer,
        "documents": stats.documents,
        "chunks": stats.chunks,
        "embedded": stats.embedded,
    }


@router.get("/search", summary="Hybrid search of the evidence")
def search(
    request: Request,
    q: Annotated[str, Query(min_length=1, max_length=2000, description="Question or keywords.")],
    k: Annotated[int, Query(ge=1, le=100)] = 10,
    year_from: Annotated[int | None, Query(ge=MIN_YEAR, le=MAX_YEAR)] = None,
    year_to: Annotated[int | None, Query(ge=MIN_YEAR, le=MAX_YEAR)] = None,
    type: Annotated[list[str] | None, Query(description="Publication type filter (repeatable).")] = None,
) -> dict[str, Any]:
    answers.check_search_rate(request)
    state = state_of(request)
    found = api.search(
        q,
        k=k,
        year_from=year_from,
        year_to=year_to,
        publication_types=type or (),
        settings=state.settings,
        store=state.store,
        embedder=state.embedder,
    )
    query = found.query
    return {
        "query": {
            "text": query.text,
            "qtype": query.qtype,
            "concepts": [c.preferred for c in query.concepts],
            "keywords": list(query.keywords),
        },
        "hits": [hit_view(i, h) for i, h in enumerate(found.hits, 1)],
        "mode": found.mode,
        "warnings": list(found.warnings),
        "timings_ms": found.timings,
    }


def _sse(job: answers.Job) -> StreamingResponse:
    return StreamingResponse(
        stream_job(job),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.post("/ask", summary="Answer a question (saved as a version awaiting review)")
def ask(request: Request, body: AskBody) -> dict[str, Any]:
    check_csrf(request, None)
    answers.check_rate(request)
    result = answers.answer(request, None, body.question, library=not body.fresh)
    return result.to_json(request, body.audience)


@router.post(
    "/ask/stream",
    summary="Answer a question, streaming server-sent events",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "stage, token, section, article, done"}
    },
)
def ask_stream(request: Request, body: AskBody) -> StreamingResponse:
    check_csrf(request, None)
    answers.check_rate(request)
    return _sse(answers.streaming_job(request, None, body.question, body.audience, fresh=body.fresh))


@router.get("/threads/{thread_id}", summary="A conversation thread and its turns")
def thread(request: Request, thread_id: str) -> dict[str, Any]:
    t = answers.get_thread(request, thread_id)
    return t.to_dict()


@router.post("/threads/{thread_id}/follow-up", summary="Ask a follow-up in a thread")
def follow_up(request: Request, thread_id: str, body: FollowUpBody) -> dict[str, Any]:
    check_csrf(request, None)
    answers.check_rate(request)
    answers.get_thread(request, thread_id)
    result = answers.answer(request, thread_id, body.question)
    return result.to_json(request, body.audience)


@router.post(
    "/threads/{thread_id}/follow-up/stream",
    summary="Ask a follow-up in a thread, streaming server-sent events",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
def follow_up_stream(request: Request, thread_id: str, body: FollowUpBody) -> StreamingResponse:
    check_csrf(request, None)
    answers.check_rate(request)
    answers.get_thread(request, thread_id)
    return _sse(answers.streaming_job(request, thread_id, body.question, body.audience))


@router.get("/articles", summary="Articles the caller may see, most recently updated first")
def articles(
    request: Request,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    items = api.list_articles(
        status=status, viewer=current_user(request), limit=limit, offset=offset, db=state_of(request).review
    )
    return {"articles": [a.to_dict() for a in items]}


@router.get("/library", summary="Approved articles grouped by library topic")
def library(request: Request) -> dict[str, Any]:
    from curbside.review.library import approved_by_topic

    return {
        "topics": [
            {"topic": g.topic, "articles": [{**asdict(e), "url": f"/articles/{e.slug}"} for e in g.articles]}
            for g in approved_by_topic(state_of(request).review)
        ]
    }


@router.get("/articles/{ref}", summary="An article by id or slug: the approved version, or ?version=N")
def article(
    request: Request,
    ref: str,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
    audience: AudienceName = "clinician",
) -> dict[str, Any]:
    av = api.get_article(ref, version=version, viewer=current_user(request), db=state_of(request).review)
    return _version_json(request, av, audience)


@router.get("/articles/{ref}/versions", summary="The versions of an article the caller may see")
def versions(request: Request, ref: str) -> dict[str, Any]:
    db = state_of(request).review
    return {"versions": [v.to_dict() for v in db.articles.versions(ref, viewer=current_user(request))]}


@router.get("/articles/{ref}/comments", summary="Review comments (signed in)")
def comments(
    request: Request, ref: str, version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None
) -> dict[str, Any]:
    db = state_of(request).review
    return {
        "comments": [c.to_dict() for c in db.articles.comments(ref, version, viewer=current_user(request))]
    }


@router.post("/articles/{ref}/comments", summary="Comment on a version or one of its sections (reviewers)")
def add_comment(request: Request, ref: str, body: CommentBody) -> dict[str, Any]:
    check_csrf(request, None)
    user = answers.require_user(request, "comment")
    c = api.comment_article(
        ref, body.body, user=user, version=body.version, section=body.section, db=state_of(request).review
    )
    return c.to_dict()


@router.post(
    "/articles/{ref}/review", summary="Take a review action (reviewers): approve, request changes ..."
)
def review(request: Request, ref: str, body: ReviewBody) -> dict[str, Any]:
    check_csrf(request, None)
    action = parse_action(body.action)
    if action not in TRANSITION_ACTIONS:
        from curbside.errors import InputError

        raise InputError(
            f"{body.action!r} is not a review action; use one of: {', '.join(TRANSITION_ACTIONS)}"
        )
    user = answers.require_user(request, action)
    av = api.review_article(
        ref,
        action,
        user=user,
        version=body.version,
        comment=body.comment,
        section=body.section,
        db=state_of(request).review,
    )
    return _version_json(request, av, "clinician")


@router.get("/articles/{ref}/audit", summary="The audit log of an article (reviewers)")
def audit(request: Request, ref: str) -> dict[str, Any]:
    user = answers.require_user(request, "view_audit")
    return {"audit": [e.to_dict() for e in api.audit_log(ref, user=user, db=state_of(request).review)]}


@router.get("/review/queue", summary="Versions awaiting review (reviewers)")
def queue(request: Request) -> dict[str, Any]:
    answers.require_user(request, "approve")
    return {"articles": [a.to_dict() for a in answers.review_queue(request)]}


@router.post("/session", summary="Sign in: returns a bearer token (and sets the session cookie)")
def sign_in(request: Request, response: Response, body: SignInBody) -> dict[str, Any]:
    check_csrf(request, None)
    state = state_of(request)
    session = answers.sign_in(request, body.username, body.password)
    set_session_cookie(response, request, state.settings, session.token)
    return {"token": session.token, "expires_at": session.expires_at, "user": session.user.to_dict()}


@router.delete("/session", summary="Sign out (revokes the session)")
def sign_out(request: Request, response: Response) -> dict[str, Any]:
    check_csrf(request, None)
    token, _ = session_token(request)
    revoked = bool(token) and api.logout(token or "", db=state_of(request).review)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"revoked": revoked}


@router.get("/me", summary="The signed-in user (401 when signed out)")
def me(request: Request) -> dict[str, Any]:
    user = current_user(request)
    if user is None:
        raise AuthError("not signed in", hint="POST /api/v1/session with a user name and password")
    return user.to_dict()
