"""The JSON API through the ASGI test client, over a real SQLite store built from fixtures.

Answers come from the extractive synthesizer (and, for the prompt-injection
tests, the llm synthesizer on a scripted fake model); embeddings from the fake
embedder.  The editorial rules (who sees what, who may approve) are the review
library's; these tests check that the HTTP edge applies them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from _web import INJECTION, PASSWORD, XSS_TITLE, add_users, build_settings
from curbside.answer.backends.base import ChatMessage
from curbside.answer.llm import LLMSynthesizer, answer_schema, constrain_cites, system_prompt
from curbside.config import Settings
from curbside.registry import get_registry
from curbside.render.json import schema
from curbside.testing import FakeChatBackend
from curbside.web import create_app
from curbside.web.ratelimit import RateLimiter
from curbside.web.security import BROWSER_COOKIE, CSP, DOCS_CSP, SESSION_COOKIE
from curbside.web.streaming import parse_sse

QUESTION = "What are the causes of leukopenia?"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """One corpus for the module (ingest + index is the slow part); each test copies the files."""
    settings = build_settings(tmp_path_factory.mktemp("web-corpus"))
    add_users(settings)
    return settings


@pytest.fixture
def web_settings(built: Settings, tmp_path: Path) -> Settings:
    import shutil

    db = tmp_path / "store.db"
    shutil.copy(built.db, db)
    return built.model_copy(update={"db": str(db)})


@pytest.fixture
def app(web_settings: Settings) -> Iterator[FastAPI]:
    application = create_app(web_settings)
    with TestClient(application):  # runs the lifespan, so the app closes what it opened
        yield application


def client(app: FastAPI, **kw: Any) -> TestClient:
    return TestClient(app, **kw)


def with_csrf(c: TestClient) -> dict[str, str]:
    """The CSRF header a client holding our cookies must send (none needed before it has any)."""
    return {"X-CSRF-Token": csrf_of(c)} if c.cookies else {}


def sign_in(c: TestClient, username: str) -> str:
    r = c.post("/api/v1/session", json={"username": username, "password": PASSWORD}, headers=with_csrf(c))
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ask(c: TestClient, question: str = QUESTION, **body: Any) -> dict[str, Any]:
    r = c.post("/api/v1/ask", json={"question": question, **body}, headers=with_csrf(c))
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


# --- health, OpenAPI, search -------------------------------------------------------------------------


def test_health_and_openapi(app: FastAPI) -> None:
    c = client(app)
    health = c.get("/api/v1/health").json()
    assert (
        health["status"] == "ok"
        and health["documents"] > 5
        and health["embedded"] == {"fake-hash-64": health["chunks"]}
    )
    spec = c.get("/openapi.json").json()
    for path in (
        "/api/v1/ask",
        "/api/v1/ask/stream",
        "/api/v1/search",
        "/api/v1/articles/{ref}",
        "/api/v1/articles/{ref}/review",
        "/api/v1/threads/{thread_id}/follow-up",
        "/api/v1/health",
    ):
        assert path in spec["paths"], path
    assert "/review" not in spec["paths"]  # pages stay out of the API schema
    docs = c.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    assert docs.headers["content-security-policy"] == DOCS_CSP  # Swagger UI's own script, nowhere else
    # Offline by design: the page's assets come from this server, not a CDN.
    assert "https://" not in docs.text and "http://" not in docs.text
    for asset in ("/docs-static/swagger-ui-bundle.js", "/docs-static/swagger-ui.css"):
        assert asset in docs.text
        got = c.get(asset)
        assert got.status_code == 200 and len(got.content) > 1000


def test_search_returns_ranked_hits_with_spans(app: FastAPI) -> None:
    r = client(app).get("/api/v1/search", params={"q": "causes of leukopenia in children", "k": 5})
    assert r.status_code == 200
    data = r.json()
    assert data["query"]["qtype"] == "causes" and "Leukopenia" in data["query"]["concepts"]
    assert 1 <= len(data["hits"]) <= 5
    assert [h["rank"] for h in data["hits"]] == list(range(1, len(data["hits"]) + 1))
    assert any(h["id"] == "pmid:91000002" for h in data["hits"])
    assert {"start", "end"} <= data["hits"][0]["span"].keys()


def test_search_rejects_bad_parameters_with_json_errors(app: FastAPI) -> None:
    c = client(app)
    r = c.get("/api/v1/search", params={"q": "leukopenia", "k": 0})
    assert r.status_code == 422 and r.json()["error"] == "ValidationError" and "k" in r.json()["message"]
    assert c.get("/api/v1/search").status_code == 422


# --- ask ---------------------------------------------------------------------------------------------


def test_ask_saves_a_version_awaiting_review(app: FastAPI) -> None:
    data = ask(client(app))
    assert data["status"] == "submitted" and data["pending_review"] is True and data["version"] == 1
    assert data["thread_id"].startswith("thr_") and data["turn"] == 1
    assert data["url"] == f"/threads/{data['thread_id']}/1"
    article = data["article"]
    jsonschema.validate(article, schema())  # the documented article JSON (docs/article-json.md)
    assert article["question"] == QUESTION and article["audience"] == "clinician"
    assert article["references"] and article["bottom_line"]


def test_ask_for_a_patient_rewords_the_same_claims(app: FastAPI) -> None:
    c = client(app)
    clinician = ask(c)["article"]
    patient = ask(c, audience="patient")
    assert patient["version"] == 1  # same question, same content: no new version to review
    article = patient["article"]
    assert article["audience"] == "patient"
    assert [s["key"] for s in article["sections"]][-1] == "seek-care"
    assert [r["document_id"] for r in article["references"]] == [
        r["document_id"] for r in clinician["references"]
    ]


def test_ask_stream_sends_stages_then_sections_then_the_article(app: FastAPI) -> None:
    r = client(app).post("/api/v1/ask/stream", json={"question": QUESTION})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(r.text)
    names = [e for e, _ in events]
    assert names[0] == "stage" and events[0][1]["stage"] == "started"
    stages = [d["stage"] for e, d in events if e == "stage"]
    assert stages == ["started", "retrieve", "synthesize", "verify", "render-prep", "saved"]
    assert (
        names.index("section")
        > names.index("bottom_line")
        > max(i for i, n in enumerate(names) if n == "stage")
    )
    assert names[-2:] == ["article", "done"]
    final = events[-2][1]
    assert final["status"] == "submitted" and final["url"].startswith("/threads/")
    headings = [d["heading"] for e, d in events if e == "section"]
    assert headings == [s["heading"] for s in final["article"]["sections"]]


def test_ask_stream_reports_library_errors_as_an_error_event(app: FastAPI) -> None:
    r = client(app).post("/api/v1/ask/stream", json={"question": "?!"})
    events = parse_sse(r.text)
    assert events[-1][0] == "error" and events[-1][1]["error"] == "QueryError"
    assert events[-1][1]["message"]


def test_ask_validates_its_body(app: FastAPI) -> None:
    c = client(app)
    assert c.post("/api/v1/ask", json={"question": ""}).status_code == 422
    assert c.post("/api/v1/ask", json={"question": "x", "audience": "robot"}).status_code == 422
    r = c.post("/api/v1/ask", json={"question": "the and of"})
    assert r.status_code == 400 and r.json()["error"] == "QueryError"


def test_ask_is_rate_limited_per_client(web_settings: Settings) -> None:
    now = [0.0]
    limiter = RateLimiter(2.0, 2, clock=lambda: now[0])  # 2 at once, then one every 30 s
    with TestClient(create_app(web_settings, limiter=limiter)) as c:
        ask(c)
        ask(c)
        r = c.post("/api/v1/ask", json={"question": QUESTION}, headers=with_csrf(c))
        assert r.status_code == 429 and r.json()["error"] == "RateLimited"
        assert r.headers["Retry-After"] == "30"
        stream = c.post("/api/v1/ask/stream", json={"question": QUESTION}, headers=with_csrf(c))
        assert stream.status_code == 429  # refused before the stream starts
        assert c.get("/api/v1/search", params={"q": "leukopenia"}).status_code == 200  # only ask is limited
        now[0] += 30
        ask(c)


# --- follow-up threads ---------------------------------------------------------------------------------


def test_follow_up_is_rewritten_with_the_thread_context(app: FastAPI) -> None:
    c = client(app)
    first = ask(c)
    r = c.post(
        f"/api/v1/threads/{first['thread_id']}/follow-up",
        json={"question": "What about in children?"},
        headers={"X-CSRF-Token": csrf_of(c)},
    )
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["turn"] == 2 and data["question"] == "What about in children?"
    assert "children" in data["standalone_question"] and "leukopenia" in data["standalone_question"].lower()
    assert data["article"]["question"] == data["standalone_question"]
    thread = c.get(f"/api/v1/threads/{first['thread_id']}").json()
    assert [t["question"] for t in thread["turns"]] == [QUESTION, "What about in children?"]


def test_another_browser_cannot_use_a_thread(app: FastAPI) -> None:
    mine = client(app)
    thread_id = ask(mine)["thread_id"]
    stranger = client(app)
    assert stranger.get(f"/api/v1/threads/{thread_id}").status_code == 403
    r = stranger.post(f"/api/v1/threads/{thread_id}/follow-up", json={"question": "And in adults?"})
    assert r.status_code == 403
    assert client(app).get("/api/v1/threads/thr_nope").status_code == 404


def test_follow_up_stream(app: FastAPI) -> None:
    c = client(app)
    thread_id = ask(c)["thread_id"]
    r = c.post(
        f"/api/v1/threads/{thread_id}/follow-up/stream",
        json={"question": "And in children?"},
        headers={"X-CSRF-Token": csrf_of(c)},
    )
    events = parse_sse(r.text)
    assert events[-2][0] == "article" and events[-2][1]["turn"] == 2


# --- reading articles: only approved versions for the signed-out ----------------------------------


def test_signed_out_readers_see_only_approved_versions(app: FastAPI) -> None:
    c = client(app)
    article_id = ask(c)["article_id"]
    anon = client(app)
    r = anon.get(f"/api/v1/articles/{article_id}")
    assert r.status_code == 403 and r.json()["error"] == "PermissionDenied"
    assert anon.get("/api/v1/articles").json()["articles"] == []
    assert anon.get("/api/v1/articles/no-such-article").status_code == 404

    reader = client(app)
    token = sign_in(reader, "reader")
    seen = reader.get(f"/api/v1/articles/{article_id}", headers=bearer(token))
    assert seen.status_code == 200 and seen.json()["status"] == "submitted"

    reviewer = client(app)
    rtoken = sign_in(reviewer, "reviewer")
    approved = reviewer.post(
        f"/api/v1/articles/{article_id}/review", json={"action": "approve"}, headers=bearer(rtoken)
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"

    public = anon.get("/api/v1/articles/causes-of-leukopenia", params={"audience": "student"})
    assert public.status_code == 200
    data = public.json()
    assert data["status"] == "approved" and data["pending_review"] is False
    assert data["article"]["audience"] == "student" and data["article_id"] == article_id
    assert [a["id"] for a in anon.get("/api/v1/articles").json()["articles"]] == [article_id]


def test_versions_by_number(app: FastAPI) -> None:
    c = client(app)
    article_id = ask(c)["article_id"]
    token = sign_in(c, "reader")
    assert (
        c.get(f"/api/v1/articles/{article_id}", params={"version": 1}, headers=bearer(token)).json()[
            "version"
        ]
        == 1
    )
    assert (
        c.get(f"/api/v1/articles/{article_id}", params={"version": 9}, headers=bearer(token)).status_code
        == 404
    )
    versions = c.get(f"/api/v1/articles/{article_id}/versions", headers=bearer(token)).json()["versions"]
    assert [v["version"] for v in versions] == [1]


# --- review endpoints: roles ---------------------------------------------------------------------------


def test_review_endpoints_refuse_the_signed_out_and_readers(app: FastAPI) -> None:
    article_id = ask(client(app))["article_id"]
    anon = client(app)
    for method, path, body in (
        ("post", f"/api/v1/articles/{article_id}/review", {"action": "approve"}),
        ("post", f"/api/v1/articles/{article_id}/comments", {"body": "fine"}),
        ("get", f"/api/v1/articles/{article_id}/audit", None),
        ("get", f"/api/v1/articles/{article_id}/comments", None),
        ("get", "/api/v1/review/queue", None),
    ):
        r = anon.request(method, path, json=body)
        assert r.status_code == 403, (path, r.text)
        assert r.json()["error"] == "PermissionDenied"
    reader = client(app)
    token = sign_in(reader, "reader")
    r = reader.post(
        f"/api/v1/articles/{article_id}/review", json={"action": "approve"}, headers=bearer(token)
    )
    assert r.status_code == 403 and "reviewer" in r.json()["message"]
    assert reader.get("/api/v1/review/queue", headers=bearer(token)).status_code == 403
    clinician = client(app)
    ctoken = sign_in(clinician, "clinician")
    assert (
        clinician.post(
            f"/api/v1/articles/{article_id}/comments", json={"body": "x"}, headers=bearer(ctoken)
        ).status_code
        == 403
    )


def test_reviewer_comments_per_section_requests_changes_and_sees_the_audit(app: FastAPI) -> None:
    article_id = ask(client(app))["article_id"]
    c = client(app)
    h = bearer(sign_in(c, "reviewer"))
    queue = c.get("/api/v1/review/queue", headers=h).json()["articles"]
    assert [a["id"] for a in queue] == [article_id]
    r = c.post(
        f"/api/v1/articles/{article_id}/comments",
        json={"body": "Cite a guideline", "section": "causes"},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["section_key"] == "causes"
    bad = c.post(f"/api/v1/articles/{article_id}/comments", json={"body": "x", "section": "nope"}, headers=h)
    assert bad.status_code == 400
    r = c.post(
        f"/api/v1/articles/{article_id}/review",
        json={"action": "request_changes", "comment": "Needs a guideline"},
        headers=h,
    )
    assert r.status_code == 200 and r.json()["status"] == "changes_requested"
    again = c.post(f"/api/v1/articles/{article_id}/review", json={"action": "approve"}, headers=h)
    assert again.status_code == 409 and again.json()["error"] == "TransitionError"
    assert (
        c.post(f"/api/v1/articles/{article_id}/review", json={"action": "comment"}, headers=h).status_code
        == 400
    )
    audit = [e["action"] for e in c.get(f"/api/v1/articles/{article_id}/audit", headers=h).json()["audit"]]
    assert audit[-3:] == ["comment", "start_review", "request_changes"]
    comments = c.get(f"/api/v1/articles/{article_id}/comments", headers=h).json()["comments"]
    assert [x["body"] for x in comments] == ["Cite a guideline", "Needs a guideline"]
    assert c.get("/api/v1/review/queue", headers=h).json()["articles"] == []


# --- sessions, CSRF, cookies, headers -----------------------------------------------------------------


def csrf_of(c: TestClient) -> str:
    """The CSRF token pages embed for this client's browser cookie."""
    import re

    page = c.get("/", headers={"Accept": "text/html"}).text
    m = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert m is not None
    return m.group(1)


def test_sign_in_sets_a_secure_session_cookie_and_bad_passwords_get_401(app: FastAPI) -> None:
    c = client(app)
    bad = c.post("/api/v1/session", json={"username": "reviewer", "password": "wrong password"})
    assert bad.status_code == 401 and bad.json()["error"] == "AuthError"
    r = c.post("/api/v1/session", json={"username": "reviewer", "password": PASSWORD})
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie and "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain http on loopback; see the next test
    assert c.get("/api/v1/me").json()["role"] == "reviewer"  # the cookie signs the client in
    assert client(app).get("/api/v1/me").status_code == 401
    out = c.request("DELETE", "/api/v1/session", headers={"X-CSRF-Token": csrf_of(c)})
    assert out.json() == {"revoked": True}
    assert c.get("/api/v1/me", headers=bearer(r.json()["token"])).status_code == 401


def test_cookies_are_secure_over_https_or_when_configured(web_settings: Settings) -> None:
    with TestClient(create_app(web_settings), base_url="https://testserver") as c:
        r = c.post("/api/v1/session", json={"username": "reader", "password": PASSWORD})
        assert "Secure" in r.headers["set-cookie"]
    always = web_settings.model_copy(update={"web_cookie_secure": "always"})
    with TestClient(create_app(always)) as c:
        first = c.get("/", headers={"Accept": "text/html"})  # a new browser gets its cookie
        assert (
            first.headers["set-cookie"].startswith(f"{BROWSER_COOKIE}=")
            and "Secure" in first.headers["set-cookie"]
        )


def test_cookie_riding_posts_need_the_csrf_token(app: FastAPI) -> None:
    c = client(app)
    token = sign_in(c, "reviewer")  # c now holds the session cookie
    article_id = ask(client(app))["article_id"]
    url = f"/api/v1/articles/{article_id}/review"
    forged = c.post(url, json={"action": "approve"})
    assert forged.status_code == 403 and "CSRF" in forged.json()["message"]
    assert c.post(url, json={"action": "start_review"}, headers={"X-CSRF-Token": "guess"}).status_code == 403
    ok = c.post(url, json={"action": "start_review"}, headers={"X-CSRF-Token": csrf_of(c)})
    assert ok.status_code == 200 and ok.json()["status"] == "under_review"
    # A bearer token is never sent by a browser on its own: no CSRF token needed.
    bare = client(app)
    assert bare.post(url, json={"action": "approve"}, headers=bearer(token)).json()["status"] == "approved"


def test_a_forged_browser_cookie_is_replaced(app: FastAPI) -> None:
    c = client(app)
    thread_id = ask(c)["thread_id"]
    value = c.cookies[BROWSER_COOKIE]
    payload, mac = value.split(".")
    c.cookies.clear()
    c.cookies.set(BROWSER_COOKIE, payload + "." + mac[:-2] + "xx")
    assert c.get(f"/api/v1/threads/{thread_id}").status_code == 403


def test_every_answer_carries_the_security_headers(app: FastAPI) -> None:
    c = client(app)
    for path in ("/", "/api/v1/health", "/static/site.css", "/nope"):
        r = c.get(path)
        assert r.headers["content-security-policy"] == CSP, path
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["x-frame-options"] == "DENY"
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP.split("script-src")[1].split(";")[0]
    assert c.get("/api/v1/health").headers["cache-control"] == "no-store"


# --- safety of model and source text ------------------------------------------------------------------


def test_xss_payloads_are_plain_data_in_json(app: FastAPI) -> None:
    data = ask(client(app))
    titles = [r["title"] for r in data["article"]["references"]]
    assert XSS_TITLE in titles  # kept exactly as the source has it: JSON readers escape on display
    ref = next(r for r in data["article"]["references"] if r["title"] == XSS_TITLE)
    assert ref["url"] == "javascript:alert('url')" and ref["pmid"] == "91000003"


class _InjectionModel:
    """A fake model that obeys any instruction it sees in the evidence (the worst case)."""

    def __init__(self, *, valid: bool) -> None:
        self.valid = valid
        self.backend = FakeChatBackend(self.reply)

    def reply(self, messages: Sequence[ChatMessage], schema_: dict[str, Any] | None) -> str:
        if not self.valid:
            return "PWNED"  # what the injected text asks for: not JSON, so it is refused
        assert schema_ is not None
        return json.dumps({k: [] for k, v in schema_["properties"].items() if v.get("type") == "array"})


@pytest.fixture
def injection_app(web_settings: Settings) -> Iterator[tuple[FastAPI, _InjectionModel, _InjectionModel]]:
    bad, good = _InjectionModel(valid=False), _InjectionModel(valid=True)
    registry = get_registry()
    registry.add(
        "synthesizer", "test-web-injected", lambda s: LLMSynthesizer(s, backend=bad.backend, retries=1)
    )
    registry.add("synthesizer", "test-web-obedient", lambda s: LLMSynthesizer(s, backend=good.backend))
    application = create_app(web_settings, synthesizer="test-web-injected")
    yield application, bad, good


def test_prompt_injection_in_a_source_never_reaches_the_system_prompt(
    injection_app: tuple[FastAPI, _InjectionModel, _InjectionModel],
) -> None:
    application, bad, _ = injection_app
    r = client(application).post("/api/v1/ask", json={"question": QUESTION})
    # The obedient model's "PWNED" fails schema validation twice (one retry), so nothing is published.
    assert r.status_code == 502 and r.json()["error"] == "ModelError"
    reviewer = client(application)
    listed = reviewer.get("/api/v1/articles", headers=bearer(sign_in(reviewer, "reviewer")))
    assert listed.json()["articles"] == []  # nothing was saved for review either
    calls = bad.backend.calls
    assert len(calls) == 2
    for call in calls:
        system = [m for m in call.messages if m.role == "system"]
        assert [m.content for m in system] == [system_prompt()]  # fixed text, the same for every question
        assert INJECTION.split(".")[0] not in system[0].content
        evidence = "\n".join(m.content for m in call.messages if m.role != "system")
        # The injected record is screened out before any model sees it (issue 17, S4).
        assert "Ignore previous instructions" not in evidence and "<passages>" in evidence
        ids = re.findall(r"^\[(\d+\.\d+)\]", evidence, flags=re.M)
        assert call.schema == constrain_cites(
            answer_schema("causes"), ids
        )  # constrained to the answer schema
    assert client(application).get("/api/v1/health").json()["status"] == "ok"


def test_injected_source_cannot_change_a_valid_answer(
    injection_app: tuple[FastAPI, _InjectionModel, _InjectionModel], web_settings: Settings
) -> None:
    _, _, good = injection_app
    with TestClient(create_app(web_settings, synthesizer="test-web-obedient")) as c:
        token = sign_in(c, "clinician")
        r = c.post("/api/v1/ask/stream", json={"question": QUESTION}, headers=bearer(token))
    events = parse_sse(r.text)
    tokens = "".join(d["text"] for e, d in events if e == "token")
    assert json.loads(tokens) == {k: [] for k in json.loads(tokens)}  # the model's reply streamed as it came
    article = events[-2][1]["article"]
    assert article["metadata"]["synthesizer"] == "llm"
    assert "PWNED" not in json.dumps(article)
    assert good.backend.calls[0].messages[0].content == system_prompt()


def test_strict_mode_shows_signed_out_askers_nothing_unapproved(web_settings: Settings) -> None:
    strict = web_settings.model_copy(update={"web_show_own_answers": False})
    with TestClient(create_app(strict)) as c:
        data = ask(c)
        assert data["article"] is None and data["status"] == "submitted" and "review" in data["message"]
        assert c.get(f"/threads/{data['thread_id']}/1", headers={"Accept": "text/html"}).status_code == 403
        events = parse_sse(
            c.post("/api/v1/ask/stream", json={"question": QUESTION}, headers=with_csrf(c)).text
        )
        assert [e for e, _ in events if e in ("section", "bottom_line")] == []
        assert events[-2][0] == "article" and events[-2][1]["article"] is None
        token = sign_in(c, "reviewer")
        c.post(
            f"/api/v1/articles/{data['article_id']}/review",
            json={"action": "approve"},
            headers={**bearer(token), "X-CSRF-Token": csrf_of(c)},
        )
        anon = TestClient(c.app)
        assert anon.get(f"/api/v1/articles/{data['slug']}").json()["status"] == "approved"


def test_stream_job_turns_a_bug_into_an_opaque_error_event(caplog: pytest.LogCaptureFixture) -> None:
    from curbside.web.streaming import stream_job

    def job(emit: Any) -> None:
        emit("stage", {"stage": "started"})
        raise RuntimeError("secret internals")

    with caplog.at_level("ERROR"):
        events = parse_sse("".join(stream_job(job)))
    assert events == [
        ("stage", {"stage": "started"}),
        ("error", {"error": "InternalError", "message": "internal error", "hint": None}),
    ]
    assert "secret internals" in caplog.text  # logged for the operator, not sent to the client
