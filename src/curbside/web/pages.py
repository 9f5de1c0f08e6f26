"""Server-rendered pages: home, search, article, library, sign-in, editorial policy, reviewer dashboard.

Forms post back here (never to the JSON API) with the browser's CSRF token and
are answered with a redirect (303), so reloading a result page never repeats
a question or a review action.  Pages are Jinja2 templates with autoescaping;
the article body is :func:`curbside.render.html.render_html` output (see
:mod:`curbside.web.views`).
"""

from __future__ import annotations

import time
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from curbside import api
from curbside.errors import AuthError, InputError, NotFoundError, ThrottledError
from curbside.review import EDITORIAL_POLICY
from curbside.review.store import EXTRA_SECTION_KEYS
from curbside.review.threads import MAX_TURNS
from curbside.review.workflow import ACTION_LABELS, STATUS_LABELS, allowed_actions, parse_action
from curbside.web import answers
from curbside.web.evidence import cited_documents, claim_evidence, parse_spans, record_view
from curbside.web.security import SESSION_COOKIE, set_session_cookie
from curbside.web.state import check_form, current_user, session_token, state_of
from curbside.web.templating import render
from curbside.web.views import (
    AUDIENCES,
    MAX_VERSION,
    article_body,
    hit_view,
    page_parts,
    parse_audience,
    section_list,
)

if TYPE_CHECKING:
    from curbside.review.store import ArticleVersion
    from curbside.review.threads import Thread

router = APIRouter(include_in_schema=False)

# A bound on what is read at all; the question limit itself is settings.max_question_chars, checked
# by the library (its largest allowed value is 2,000).
Text = Annotated[str, Form(max_length=2000)]
Token = Annotated[str, Form(alias="csrf_token")]


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _local(url: str | None, default: str = "/") -> str:
    """``url`` if it is a path on this site (an open redirect must not leave it), else ``default``."""
    if not url or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return default
    parts = urlsplit(url)
    return url if not parts.scheme and not parts.netloc else default


def human_date(iso: str) -> str:
    """``"2026-12-01T21:50:30Z"`` -> ``"1 December 2026"``."""
    try:
        t = time.strptime(iso, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return iso
    return f"{t.tm_mday} {time.strftime('%B %Y', t)}"


# --- home, search, policy ---------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    user = current_user(request)
    items = api.list_articles(viewer=user, limit=24, db=state_of(request).review)
    cards = [
        {
            "title": a.title,
            "question": a.question,
            "url": f"/articles/{a.slug}",
            "status": a.latest_status if user else "approved",
            "status_label": a.latest_status_label if user else STATUS_LABELS["approved"],
            "version": a.latest_version if user else a.approved_version,
            "updated": human_date(a.updated_at),
        }
        for a in items
    ]
    return render(request, "home.html", {"articles": cards})


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, q: Annotated[str, Query(max_length=2000)] = "") -> Response:
    if not q.strip():
        return _see_other("/")
    answers.check_search_rate(request)
    state = state_of(request)
    found = api.search(q, k=20, settings=state.settings, store=state.store, embedder=state.embedder)
    return render(
        request,
        "search.html",
        {
            "search_query": q,
            "qtype": found.query.qtype,
            "concepts": [c.preferred for c in found.query.concepts],
            "hits": [hit_view(i, h) for i, h in enumerate(found.hits, 1)],
            "warnings": found.warnings,
        },
    )


def policy_path() -> Path:
    """The editorial policy shipped with the package (docs/editorial-policy.md is generated from it)."""
    return EDITORIAL_POLICY


@cache
def _policy_html(path: Path, mtime: float) -> Markup:
    from markdown_it import MarkdownIt

    # html=False: raw HTML in the Markdown is shown as text, never passed through.
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    return Markup(md.render(path.read_text(encoding="utf-8")))


@router.get("/policy", response_class=HTMLResponse)
def policy(request: Request) -> Response:
    path = policy_path()
    return render(request, "policy.html", {"policy_html": _policy_html(path, path.stat().st_mtime)})


# --- asking ------------------------------------------------------------------------------------------


@router.get("/ask", response_class=HTMLResponse)
def ask_page(request: Request, q: Annotated[str, Query(max_length=2000)] = "") -> Response:
    """The ask box holding ``q``, asked at once by the page's script: where example questions link.

    A GET never asks by itself (a link from anywhere must not spend the server's time or
    save an article); the page's own form posts the question with its CSRF token.
    """
    if not q.strip():
        return _see_other("/")
    return render(request, "ask.html", {"prefill": " ".join(q.split()), "autostart": True})


@router.post("/ask")
def ask_form(
    request: Request, question: Text, csrf: Token = "", fresh: Annotated[bool, Form()] = False
) -> Response:
    """Ask; ``fresh``: write a new answer even when an approved library article answers the question."""
    check_form(request, csrf)
    answers.check_rate(request)
    result = answers.answer(request, None, question, library=not fresh)
    return _see_other(result.url)


@router.get("/threads/{thread_id}")
def thread_latest(request: Request, thread_id: str) -> Response:
    thread = answers.get_thread(request, thread_id)
    if not thread.turns:
        raise NotFoundError(f"thread {thread_id} has no answers yet")
    return _see_other(answers.turn_url(thread.id, len(thread.turns)))


@router.get("/threads/{thread_id}/{ordinal}", response_class=HTMLResponse)
def thread_turn(
    request: Request,
    thread_id: str,
    ordinal: Annotated[int, PathParam(ge=1, le=MAX_TURNS)],
    audience: str | None = None,
    library: bool = False,
) -> Response:
    thread = answers.get_thread(request, thread_id)
    av = answers.thread_version(request, thread, ordinal)
    # ``library``: this approved article answered the question instead of a new one (answers.from_library).
    asked = thread.turns[ordinal - 1].question if library and av.status == "approved" else None
    return article_page(
        request,
        av,
        audience=audience,
        base_url=answers.turn_url(thread.id, ordinal),
        followup_action=f"/threads/{thread.id}/follow-up",
        followup_stream=f"/api/v1/threads/{thread.id}/follow-up/stream",
        thread=thread,
        current=ordinal,
        library_question=asked,
    )


@router.post("/threads/{thread_id}/follow-up")
def follow_up_form(
    request: Request, thread_id: str, question: Text, csrf: Token = "", audience: Text = "clinician"
) -> Response:
    check_form(request, csrf)
    answers.check_rate(request)
    answers.get_thread(request, thread_id)
    result = answers.answer(request, thread_id, question)
    return _see_other(f"{result.url}?audience={parse_audience(audience)}")


@router.post("/articles/{ref}/follow-up")
def article_follow_up(
    request: Request, ref: str, question: Text, csrf: Token = "", audience: Text = "clinician"
) -> Response:
    """A follow-up from a published article page: a new thread whose first turn is that article."""
    check_form(request, csrf)
    answers.check_rate(request)
    av = api.get_article(ref, viewer=current_user(request), db=state_of(request).review)
    thread_id = answers.start_thread(request)
    state_of(request).review.threads.add_turn(
        thread_id,
        av.article.question,
        av.article.question,
        article_id=av.article_id,
        version=av.version,
        viewer=current_user(request),
    )
    result = answers.answer(request, thread_id, question)
    return _see_other(f"{result.url}?audience={parse_audience(audience)}")


# --- reading -----------------------------------------------------------------------------------------


@router.get("/articles/{ref}", response_class=HTMLResponse)
def article(
    request: Request,
    ref: str,
    v: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
    audience: str | None = None,
) -> Response:
    av = api.get_article(ref, version=v, viewer=current_user(request), db=state_of(request).review)
    return article_page(
        request,
        av,
        audience=audience,
        base_url=f"/articles/{av.slug}",
        followup_action=f"/articles/{av.slug}/follow-up",
        followup_stream="",
        version_param=v,
    )


def article_page(
    request: Request,
    av: ArticleVersion,
    *,
    audience: str | None,
    base_url: str,
    followup_action: str,
    followup_stream: str,
    thread: Thread | None = None,
    current: int | None = None,
    version_param: int | None = None,
    library_question: str | None = None,
) -> Response:
    chosen = parse_audience(audience)
    head, rest, contents = page_parts(state_of(request).cache, av, chosen)
    turns = []
    if thread is not None:
        turns = [
            {
                "question": t.question,
                "url": answers.turn_url(thread.id, t.ordinal) + f"?audience={chosen}",
                "current": t.ordinal == current,
            }
            for t in thread.turns
        ]
    return render(
        request,
        "article.html",
        {
            "av": av,
            "question": av.article.question,
            "body_head": head,
            "body_rest": rest,
            "audience": chosen,
            "audiences": AUDIENCES,
            "contents": contents,
            "turns": turns,
            "last_updated": human_date(av.last_updated),
            "reviewed": human_date(av.status_changed_at),
            "open_flags": [f for f in av.flags if f.open],
            "base_url": base_url,
            "followup_action": followup_action,
            "followup_stream": followup_stream,
            "version_param": version_param,
            "library_question": library_question,
        },
    )


@router.get("/library", response_class=HTMLResponse)
def library_page(request: Request) -> Response:
    """Approved articles by topic: the library written ahead of time (``curbside articles build``)."""
    from curbside.review.library import approved_by_topic
    from curbside.review.store import slugify

    groups = [
        {
            "topic": g.topic or "Questions readers asked",
            "anchor": "topic-" + slugify(g.topic or "other"),
            "articles": [
                {
                    "title": e.title,
                    "url": f"/articles/{e.slug}",
                    "version": e.version,
                    "approved": human_date(e.approved_at),
                }
                for e in g.articles
            ],
        }
        for g in approved_by_topic(state_of(request).review)
    ]
    return render(request, "library.html", {"groups": groups})


# --- signing in --------------------------------------------------------------------------------------


@router.get("/signin", response_class=HTMLResponse)
def signin_form(request: Request, next: str = "/") -> Response:
    return render(request, "signin.html", {"next": _local(next)})


@router.post("/signin")
def signin(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    csrf: Token = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    check_form(request, csrf)
    state = state_of(request)
    try:
        session = answers.sign_in(request, username, password)
    except AuthError as exc:
        status = 429 if isinstance(exc, ThrottledError) else 401
        return render(
            request,
            "signin.html",
            {"next": _local(next), "error": exc.message, "username": username},
            status_code=status,
        )
    response = _see_other(_local(next))
    set_session_cookie(response, request, state.settings, session.token)
    return response


@router.post("/signout")
def signout(request: Request, csrf: Token = "") -> Response:
    check_form(request, csrf)
    token, _ = session_token(request)
    if token:
        api.logout(token, db=state_of(request).review)
    response = _see_other("/")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


# --- reviewing ---------------------------------------------------------------------------------------


@router.get("/review", response_class=HTMLResponse)
def dashboard(request: Request) -> Response:
    answers.require_user(request, "approve")
    queue = answers.review_queue(request)
    rows = [
        {
            "id": a.id,
            "title": a.title,
            "question": a.question,
            "version": a.latest_version,
            "status": a.latest_status,
            "status_label": a.latest_status_label,
            "approved_version": a.approved_version,
            "flags": a.open_flags,
            "updated": human_date(a.updated_at),
        }
        for a in queue
    ]
    return render(request, "review_dashboard.html", {"rows": rows})


@router.get("/review/{ref}", response_class=HTMLResponse)
def review_page(
    request: Request, ref: str, v: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None
) -> Response:
    user = answers.require_user(request, "approve")
    db = state_of(request).review
    av = api.get_article(ref, version=v, viewer=user, db=db)
    by_section: dict[str | None, list[Any]] = {}
    for c in av.comments:
        by_section.setdefault(c.section_key, []).append(c)
    sections = [
        {
            "key": s.key,
            "heading": s.heading,
            "claims": len(s.all_claims()),
            "comments": by_section.get(s.key, []),
        }
        for s in section_list(av.article)
    ]
    actions = [(a, ACTION_LABELS[a]) for a in allowed_actions(av.status, user.role)]
    documents = state_of(request).store.get_documents(cited_documents(av.article))
    return render(
        request,
        "review_article.html",
        {
            "av": av,
            "body": article_body(av.article, "clinician"),
            "evidence": claim_evidence(av.article, documents),
            "sections": sections,
            "general_comments": by_section.get(None, []),
            "other_comments": [c for k in EXTRA_SECTION_KEYS for c in by_section.get(k, [])],
            "actions": actions,
            "versions": db.articles.versions(av.article_id, viewer=user),
            "audit": api.audit_log(av.article_id, user=user, limit=50, db=db)
            if user.can("view_audit")
            else [],
            "last_updated": human_date(av.last_updated),
        },
    )


# --- records -----------------------------------------------------------------------------------------


@router.get("/records/{doc_id:path}", response_class=HTMLResponse)
def record_page(request: Request, doc_id: str, hl: Annotated[list[str] | None, Query()] = None) -> Response:
    """A stored record (as search pages show it), with the spans in ``hl`` highlighted."""
    document, _ = api.show(doc_id, settings=state_of(request).settings, store=state_of(request).store)
    return render(request, "record.html", {"r": record_view(document, parse_spans((hl or [])[:50]))})


@router.post("/review/{ref}/action")
def review_action(
    request: Request,
    ref: str,
    action: Annotated[str, Form(max_length=40)],
    version: Annotated[int, Form(ge=1, le=MAX_VERSION)],
    csrf: Token = "",
    comment: Annotated[str, Form(max_length=10_000)] = "",
    section: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_form(request, csrf)
    name = parse_action(action)
    user = answers.require_user(request, name)
    av = api.review_article(
        ref,
        name,
        user=user,
        version=version,
        comment=comment,
        section=section or None,
        db=state_of(request).review,
    )
    return _see_other(f"/review/{quote(av.article_id)}?v={av.version}")


@router.post("/review/{ref}/comment")
def review_comment(
    request: Request,
    ref: str,
    body: Annotated[str, Form(max_length=10_000)],
    version: Annotated[int, Form(ge=1, le=MAX_VERSION)],
    csrf: Token = "",
    section: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    check_form(request, csrf)
    user = answers.require_user(request, "comment")
    db = state_of(request).review
    if not body.strip():
        raise InputError("the comment is empty")
    api.comment_article(ref, body, user=user, version=version, section=section or None, db=db)
    article_id = db.articles.resolve(ref)
    return _see_other(f"/review/{quote(article_id)}?v={version}#sec-{quote(section)}")
