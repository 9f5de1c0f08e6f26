"""Security findings S1-S8 and the hardening of issue 17, each pinned by a test through the ASGI app.

Every test here failed on the code before the fix (the note on the issue lists them); the Chromium
checks of S1 and S3 live in tests/test_browser.py.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from _web import PASSWORD, add_users, build_settings
from curbside import api
from curbside.config import Settings
from curbside.web import create_app
from curbside.web.security import BROWSER_COOKIE, SESSION_COOKIE
from curbside.web.streaming import parse_sse

QUESTION = "What are the causes of leukopenia?"
HTML = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = build_settings(tmp_path_factory.mktemp("security-corpus"))
    add_users(settings)
    return settings


@pytest.fixture
def web_settings(built: Settings, tmp_path: Path) -> Settings:
    db = tmp_path / "store.db"
    shutil.copy(built.db, db)
    return built.model_copy(update={"db": str(db), "data_dir": tmp_path / "data"})


@pytest.fixture
def app(web_settings: Settings) -> Iterator[FastAPI]:
    application = create_app(web_settings)
    with TestClient(application):
        yield application


def csrf_of(c: TestClient, path: str = "/") -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', c.get(path, headers=HTML).text)
    assert m is not None
    return m.group(1)


def api_ask(c: TestClient, question: str = QUESTION) -> dict[str, Any]:
    headers = {"X-CSRF-Token": csrf_of(c)} if c.cookies else {}
    r = c.post("/api/v1/ask", json={"question": question}, headers=headers)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def signed_in(app: FastAPI, username: str) -> TestClient:
    """A browser signed in through the sign-in form (cookie session)."""
    c = TestClient(app, headers=HTML, follow_redirects=False)
    r = c.post(
        "/signin",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(c, "/signin"), "next": "/"},
    )
    assert r.status_code == 303, r.text
    return c


def bearer(app: FastAPI, username: str) -> dict[str, str]:
    r = TestClient(app).post("/api/v1/session", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


# --- S1: anonymous threads belong to their browser (and admins) --------------------------------------


def test_s1_thread_ids_never_appear_in_article_data(app: FastAPI) -> None:
    asker = TestClient(app)
    thread_id = api_ask(asker)["thread_id"]
    slug = "causes-of-leukopenia"
    reader = bearer(app, "reader")
    seen = TestClient(app).get(f"/api/v1/articles/{slug}", headers=reader)
    assert seen.status_code == 200 and thread_id not in seen.text
    versions = TestClient(app).get(f"/api/v1/articles/{slug}/versions", headers=reader)
    assert thread_id not in versions.text
    listed = TestClient(app).get("/api/v1/articles", headers=reader)
    assert thread_id not in listed.text
    page = signed_in(app, "reader").get(f"/articles/{slug}")
    assert page.status_code == 200 and thread_id not in page.text
    # Once approved, everyone reads it: still no thread id.
    reviewer = bearer(app, "reviewer")
    r = TestClient(app).post(f"/api/v1/articles/{slug}/review", json={"action": "approve"}, headers=reviewer)
    assert r.status_code == 200, r.text
    assert thread_id not in TestClient(app).get(f"/api/v1/articles/{slug}").text


def test_s1_signed_in_accounts_cannot_read_or_write_an_anonymous_thread(app: FastAPI) -> None:
    asker = TestClient(app)
    thread_id = api_ask(asker)["thread_id"]
    for role in ("reader", "clinician", "reviewer"):
        headers = bearer(app, role)
        assert TestClient(app).get(f"/api/v1/threads/{thread_id}", headers=headers).status_code == 403
        follow = TestClient(app).post(
            f"/api/v1/threads/{thread_id}/follow-up", json={"question": "And in adults?"}, headers=headers
        )
        assert follow.status_code == 403
        page = signed_in(app, role).get(f"/threads/{thread_id}/1")
        assert page.status_code == 403
    # The victim's thread is untouched, and still theirs.
    thread = asker.get(f"/api/v1/threads/{thread_id}").json()
    assert len(thread["turns"]) == 1
    # Admins may read it (support and moderation).
    admin = bearer(app, "admin")
    assert TestClient(app).get(f"/api/v1/threads/{thread_id}", headers=admin).status_code == 200


def test_s1_the_asking_browser_keeps_its_thread_after_signing_in(app: FastAPI) -> None:
    browser = TestClient(app, headers=HTML, follow_redirects=False)
    thread_id = api_ask(browser)["thread_id"]
    r = browser.post(
        "/signin",
        data={"username": "clinician", "password": PASSWORD, "csrf_token": csrf_of(browser, "/signin")},
    )
    assert r.status_code == 303
    assert browser.get(f"/threads/{thread_id}/1").status_code == 200
    follow = browser.post(
        f"/api/v1/threads/{thread_id}/follow-up",
        json={"question": "And in children?"},
        headers={"X-CSRF-Token": csrf_of(browser)},
    )
    assert follow.status_code == 200, follow.text
    # The thread is now the account's: another signed-in account still cannot open it.
    other = bearer(app, "reader")
    assert TestClient(app).get(f"/api/v1/threads/{thread_id}", headers=other).status_code == 403


# --- S2: questions are the editorial team's ----------------------------------------------------------


def test_s2_question_text_and_asker_are_for_reviewers_and_admins_only(app: FastAPI) -> None:
    asker = TestClient(app)
    slug = api_ask(asker, "What are the causes of leukopenia in the elderly?")["slug"]
    for role in ("reader", "clinician"):
        headers = bearer(app, role)
        article = TestClient(app).get(f"/api/v1/articles/{slug}", headers=headers).json()
        assert article["article"]["question"] == article["article"]["title"]
        assert article["created_by"] == "" and "follow_up" not in article["article"]["metadata"]
        listed = TestClient(app).get("/api/v1/articles", headers=headers).json()["articles"]
        assert all(a["question"] == a["title"] for a in listed)
        versions = TestClient(app).get(f"/api/v1/articles/{slug}/versions", headers=headers).json()
        assert all(v["created_by"] == "" for v in versions["versions"])
        home = signed_in(app, role).get("/").text
        assert "in the elderly?" not in home  # the cards show titles, not questions
    reviewer = bearer(app, "reviewer")
    seen = TestClient(app).get(f"/api/v1/articles/{slug}", headers=reviewer).json()
    assert seen["article"]["question"] == "What are the causes of leukopenia in the elderly?"
    assert seen["created_by"] == "system"


def test_s2_identifying_details_are_removed_before_saving_and_the_asker_is_told(app: FastAPI) -> None:
    asker = TestClient(app)
    data = api_ask(asker, "What are the causes of leukopenia in a patient named John Smith, DOB 03/04/1961?")
    assert "John" not in json.dumps(data) and "1961" not in json.dumps(data)
    assert (
        data["question"]
        == "What are the causes of leukopenia in a patient named [name], DOB [date of birth]?"
    )
    codes = {w["code"]: w["message"] for w in data["article"]["warnings"]}
    assert "a name and a date of birth were removed" in codes["identifiers-removed"].lower()
    reviewer = bearer(app, "reviewer")
    for path in ("/api/v1/articles", "/api/v1/review/queue"):
        assert "Smith" not in TestClient(app).get(path, headers=reviewer).text
    # The ask box says where questions go before anything is typed.
    assert "editorial team" in asker.get("/", headers=HTML).text


def test_s2_keep_stores_questions_as_typed(web_settings: Settings) -> None:
    settings = web_settings.model_copy(update={"question_identifiers": "keep"})
    with TestClient(create_app(settings)) as c:
        data = api_ask(c, "Leukopenia in Mrs. Jones?")
        assert data["question"] == "Leukopenia in Mrs. Jones?"
        assert not [w for w in data["article"]["warnings"] if w["code"] == "identifiers-removed"]


# --- S3: cross-site sign-in and sign-out ---------------------------------------------------------------


def test_s3_sign_in_needs_the_pre_session_token(app: FastAPI) -> None:
    # What a cross-site form gets to send: SameSite=Lax keeps our cookies off a cross-site POST.
    bare = TestClient(app, headers=HTML, follow_redirects=False)
    r = bare.post("/signin", data={"username": "reader", "password": PASSWORD})
    assert r.status_code == 403
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    assert BROWSER_COOKIE not in r.headers.get("set-cookie", "")  # no cookie replaced either


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},  # another app on a sibling host or port is another origin
        {"Origin": "null"},
    ],
)
def test_s3_cross_origin_posts_are_refused_even_with_a_valid_token(
    app: FastAPI, headers: dict[str, str]
) -> None:
    c = TestClient(app, headers=HTML, follow_redirects=False)
    token = csrf_of(c, "/signin")
    r = c.post(
        "/signin", data={"username": "reader", "password": PASSWORD, "csrf_token": token}, headers=headers
    )
    assert r.status_code == 403 and SESSION_COOKIE not in r.headers.get("set-cookie", "")
    api = TestClient(app).post("/api/v1/ask", json={"question": QUESTION}, headers=headers)
    assert api.status_code == 403  # a cross-site fetch to the JSON API, cookies or not
    ok = c.post(
        "/signin",
        data={"username": "reader", "password": PASSWORD, "csrf_token": token},
        headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"},
    )
    assert ok.status_code == 303


def test_s3_sign_out_needs_the_token_and_revokes_the_session(app: FastAPI) -> None:
    victim = signed_in(app, "admin")
    session = victim.cookies[SESSION_COOKIE]
    # A cross-site form: no cookies travel with it, so nothing ties it to the victim's browser.
    forged = TestClient(app, headers=HTML, follow_redirects=False).post("/signout")
    assert forged.status_code == 403
    assert (
        TestClient(app).get("/api/v1/me", headers={"Authorization": f"Bearer {session}"}).status_code == 200
    )
    r = victim.post("/signout", data={"csrf_token": csrf_of(victim)})
    assert r.status_code == 303
    # Signed out means revoked on the server, not only a deleted cookie.
    assert (
        TestClient(app).get("/api/v1/me", headers={"Authorization": f"Bearer {session}"}).status_code == 401
    )


def test_s3_cookie_less_api_clients_still_work(app: FastAPI) -> None:
    # curl and scripts send no Origin and no cookies: no ambient authority to borrow, no token needed.
    assert TestClient(app).post("/api/v1/ask", json={"question": QUESTION}).status_code == 200


# --- S5: unverified model output never streams to the signed-out ----------------------------------------


@pytest.fixture
def llm_app(web_settings: Settings) -> Iterator[FastAPI]:
    from curbside.answer.llm import LLMSynthesizer
    from curbside.registry import get_registry
    from curbside.testing import FakeChatBackend

    def reply(messages: Any, schema: dict[str, Any] | None) -> str:
        assert schema is not None
        return json.dumps({k: [] for k, v in schema["properties"].items() if v.get("type") == "array"})

    get_registry().add(
        "synthesizer", "test-security-llm", lambda s: LLMSynthesizer(s, backend=FakeChatBackend(reply))
    )
    yield create_app(web_settings, synthesizer="test-security-llm")


@pytest.mark.parametrize("show_own", [True, False])
def test_s5_signed_out_streams_carry_no_model_tokens(llm_app: FastAPI, show_own: bool) -> None:
    llm_app.state.curbside.settings = llm_app.state.curbside.settings.model_copy(
        update={"web_show_own_answers": show_own}
    )
    with TestClient(llm_app) as c:
        events = parse_sse(c.post("/api/v1/ask/stream", json={"question": QUESTION}).text)
    assert events[-2][0] == "article"
    assert [e for e, _ in events if e == "token"] == []
    if not show_own:
        assert [e for e, _ in events if e in ("section", "bottom_line", "references")] == []


def test_s5_signed_in_readers_may_watch_the_model_write(llm_app: FastAPI) -> None:
    with TestClient(llm_app) as c:
        events = parse_sse(
            c.post(
                "/api/v1/ask/stream", json={"question": QUESTION}, headers=bearer(llm_app, "clinician")
            ).text
        )
    assert [e for e, _ in events if e == "token"]


# --- S4: injected instructions are not evidence -------------------------------------------------------


def test_s4_an_injected_source_is_not_cited_and_the_page_warns_and_flags_it(app: FastAPI) -> None:
    data = api_ask(TestClient(app))
    article = data["article"]
    assert "pmid:91000004" not in {r["document_id"] for r in article["references"]}
    warning = next(w for w in article["warnings"] if w["code"] == "suspect-source")
    assert "pmid:91000004" in warning["message"]
    reviewer = signed_in(app, "reviewer")
    page = reviewer.get(f"/review/{data['article_id']}").text
    assert "pmid:91000004" in page and "addressed to a language model" in page
    record = TestClient(app).get("/records/pmid:91000004", headers=HTML).text
    assert 'id="flagged"' in record


# --- S8: ingest and serve the same SQLite file ------------------------------------------------------------


def test_s8_web_requests_all_succeed_while_an_ingest_writes_the_same_file(
    web_settings: Settings, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys
    import threading

    from curbside.types import Document, Section

    records = tmp_path / "many.jsonl"
    with records.open("w", encoding="utf-8") as out:
        for n in range(40_000):
            doc = Document(
                id=f"pmid:{95_000_000 + n}",
                title=f"Neutrophil counts in cohort {n}",
                sections=(
                    Section(f"Leukopenia was seen in {n % 97} of 100 adults in cohort {n}.", "RESULTS"),
                ),
                identifiers={"pmid": str(95_000_000 + n)},
            )
            out.write(json.dumps(doc.to_dict()) + "\n")
    env = {**os.environ, "CURBSIDE_DB": web_settings.db, "CURBSIDE_DATA_DIR": str(web_settings.data_dir)}
    ingest = subprocess.Popen(
        [sys.executable, "-m", "curbside", "ingest", str(records)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    app = create_app(web_settings.model_copy(update={"web_ask_rate": 10_000.0, "web_ask_burst": 10_000}))
    failures: list[str] = []
    done = {"requests": 0}

    def visitor(n: int) -> None:
        c = TestClient(app, raise_server_exceptions=False)
        while ingest.poll() is None or done["requests"] < 40:
            r = c.post("/api/v1/ask", json={"question": f"What are the causes of leukopenia in cohort {n}?"})
            answers = [r, c.get("/api/v1/articles")]
            if r.status_code == 200:
                thread = r.json()["thread_id"]
                answers.append(c.get(f"/api/v1/threads/{thread}"))
                answers.append(
                    c.post(f"/api/v1/threads/{thread}/follow-up", json={"question": "And in children?"})
                )
            for answer in answers:
                done["requests"] += 1
                if answer.status_code >= 500:
                    failures.append(f"{answer.status_code} {answer.text[:200]}")
            if done["requests"] > 2000:
                break

    threads = [threading.Thread(target=visitor, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    _, err = ingest.communicate(timeout=300)
    assert ingest.returncode == 0, err.decode()
    assert done["requests"] >= 40 and failures == []
    # Every saved version has the thread turn that asked for it.
    from curbside.review.db import open_review_db

    with open_review_db(web_settings) as db:
        orphans = db.conn.execute(
            "SELECT count(*) FROM review_versions v WHERE NOT EXISTS "
            "(SELECT 1 FROM thread_turns t WHERE t.article_id = v.article_id AND t.version = v.version)"
        ).fetchone()[0]
    assert orphans == 0


def test_s8_an_answer_is_saved_with_its_turn_or_not_at_all(
    web_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from curbside.review.db import open_review_db
    from curbside.review.threads import ThreadStore

    def broken(*args: Any, **kw: Any) -> Any:
        raise RuntimeError("disk gone")

    monkeypatch.setattr(ThreadStore, "add_turn", broken)
    with pytest.raises(RuntimeError):
        api.follow_up(None, QUESTION, settings=web_settings)
    with open_review_db(web_settings) as db:
        assert db.conn.execute("SELECT count(*) FROM review_versions").fetchone()[0] == 0
        assert db.conn.execute("SELECT count(*) FROM threads").fetchone()[0] == 0


def test_s8_a_write_never_fails_on_another_threads_unfinished_read(tmp_path: Path) -> None:
    import sqlite3
    import threading

    from curbside.review.db import ReviewDB

    db = ReviewDB(tmp_path / "r.db")
    with db.transaction() as conn:
        for n in range(5):
            conn.execute(
                "INSERT INTO threads (id, created_at, created_by) VALUES (?, 0, 'anonymous')", (f"t{n}",)
            )
    reading = threading.Event()
    release = threading.Event()

    def reader() -> None:
        cursor = db.conn.execute("SELECT id FROM threads")
        cursor.fetchone()  # the statement stays open: this thread's connection holds a snapshot
        reading.set()
        release.wait(10)
        cursor.close()

    t = threading.Thread(target=reader)
    t.start()
    assert reading.wait(10)
    other = sqlite3.connect(tmp_path / "r.db", isolation_level=None)  # another process: an ingest batch
    other.execute("INSERT INTO threads (id, created_at, created_by) VALUES ('ingest', 0, 'x')")
    other.close()
    try:
        with db.transaction() as conn:  # shared connection: "database is locked" at once
            conn.execute("INSERT INTO threads (id, created_at, created_by) VALUES ('web', 0, 'anonymous')")
    finally:
        release.set()
        t.join()
    assert db.conn.execute("SELECT count(*) FROM threads").fetchone()[0] == 7
    db.close()


def test_s8_an_ingest_run_leaves_no_write_ahead_log_behind(web_settings: Settings, tmp_path: Path) -> None:
    from curbside.types import Document, Section

    records = tmp_path / "few.jsonl"
    docs = [
        Document(id=f"pmid:{96_000_000 + n}", title=f"Cohort {n}", sections=(Section(f"Result {n}.", ""),))
        for n in range(3000)
    ]
    records.write_text("".join(json.dumps(d.to_dict()) + "\n" for d in docs), encoding="utf-8")
    reader = TestClient(create_app(web_settings))  # a server attached to the same file
    assert reader.get("/api/v1/search", params={"q": "cohort"}).status_code == 200
    api.ingest([records], settings=web_settings)
    assert reader.get("/api/v1/articles").status_code == 200
    wal = Path(web_settings.db + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0


# --- S6 and S7: sign-in abuse ---------------------------------------------------------------------------


class _CountingHasher:
    """Wraps a real argon2 hasher; counts verifications and the most that ran at once."""

    def __init__(self, real: Any) -> None:
        import threading

        self.real = real
        self.calls = 0
        self.running = 0
        self.most = 0
        self._lock = threading.Lock()

    def verify(self, digest: str, password: str) -> bool:
        import time

        with self._lock:
            self.calls += 1
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            time.sleep(0.05)  # a real argon2 check takes tens of ms: let requests overlap
            return bool(self.real.verify(digest, password))
        finally:
            with self._lock:
                self.running -= 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


@pytest.fixture
def counted(app: FastAPI) -> _CountingHasher:
    accounts = app.state.curbside.review.accounts
    hasher = _CountingHasher(accounts.hasher)
    accounts._hasher = hasher
    return hasher


def test_s6_sign_ins_from_one_address_are_limited_before_any_hash(
    app: FastAPI, counted: _CountingHasher
) -> None:
    c = TestClient(app)
    statuses = [
        c.post("/api/v1/session", json={"username": f"nobody{n}", "password": "guess guess"}).status_code
        for n in range(15)
    ]
    assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}
    assert counted.calls == 10  # the refused ones cost no password hash
    r = c.post("/api/v1/session", json={"username": "reader", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1


def test_s6_concurrent_sign_ins_share_a_few_hash_slots(app: FastAPI, counted: _CountingHasher) -> None:
    import threading

    app.state.curbside.login_limiter.burst = 1000  # many addresses, as a botnet would be
    app.state.curbside.login_limiter.rate = 1000.0
    results: list[int] = []

    def attempt(n: int) -> None:
        r = TestClient(app).post("/api/v1/session", json={"username": f"user{n}", "password": "guess guess"})
        results.append(r.status_code)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counted.most <= app.state.curbside.settings.login_concurrency == 2
    assert sorted(set(results)) in ([401], [401, 429])


def test_s7_guesses_do_not_lock_out_the_user_and_unknown_names_leave_no_audit_rows(app: FastAPI) -> None:
    db = app.state.curbside.review
    audit_before = len(db.articles.audit_entries())
    attacker = TestClient(app, headers={"X-Forwarded-For": "ignored"})
    for n in range(5):
        attacker.post("/api/v1/session", json={"username": "reviewer", "password": f"guess {n} guess"})
    assert (
        attacker.post("/api/v1/session", json={"username": "reviewer", "password": "guess 9"}).status_code
        == 429
    )
    # The reviewer signs in from another address at once.
    db.accounts.authenticate("reviewer", PASSWORD, client="192.0.2.10")
    for n in range(3):
        TestClient(app).post("/api/v1/session", json={"username": f"ghost{n}", "password": "guess guess"})
    entries = db.articles.audit_entries()[audit_before:]
    assert all(e.actor == "system" for e in entries if e.action == "login_failed")
    assert not any("ghost" in json.dumps(e.details) or e.actor.startswith("ghost") for e in entries)
    assert db.accounts.unknown_failures() >= 3


@pytest.mark.parametrize("name", ["anonymous", "cli", "system"])
def test_s7_reserved_names_cannot_be_accounts(web_settings: Settings, name: str) -> None:
    from curbside.errors import InputError

    with pytest.raises(InputError, match="reserved"):
        api.add_user(name, "a long enough password", "reader", settings=web_settings)


# --- 8: input, limits and errors ---------------------------------------------------------------------------

HUGE = str(2**63)


@pytest.mark.parametrize(
    "path",
    [
        f"/api/v1/search?q=leukopenia&year_from={HUGE}",
        f"/api/v1/search?q=leukopenia&year_to={HUGE}",
        f"/api/v1/articles/causes-of-leukopenia?version={HUGE}",
        f"/api/v1/articles?offset={HUGE}",
        f"/articles/causes-of-leukopenia?v={HUGE}",
        f"/threads/thr_x/{HUGE}",
    ],
)
def test_8_integers_past_sqlite_are_a_422_not_a_500(app: FastAPI, path: str) -> None:
    r = TestClient(app, raise_server_exceptions=False).get(path)
    assert r.status_code == 422, (path, r.status_code, r.text[:200])


def test_8_years_and_versions_are_bounded_in_the_library_too(web_settings: Settings) -> None:
    from curbside.errors import NotFoundError, QueryError

    with pytest.raises(QueryError, match="not a publication year"):
        api.search("leukopenia", year_from=2**63, settings=web_settings)
    api_ask(TestClient(create_app(web_settings)))
    with pytest.raises(NotFoundError):
        api.get_article("causes-of-leukopenia", version=2**63, viewer=None, settings=web_settings)


def test_8_request_bodies_are_capped(app: FastAPI) -> None:
    c = TestClient(app)
    big = {"question": "x" * 200_000}
    assert c.post("/api/v1/ask", json=big).status_code == 413
    r = c.post("/api/v1/ask", content=b"{" + b" " * 100_000, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "larger than" in r.json()["message"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for _ in range(100):
            yield b" " * 1000

    assert (
        c.post("/api/v1/ask", content=chunks(), headers={"content-type": "application/json"}).status_code
        == 413
    )


def test_8_a_slow_request_head_is_cut_off(web_settings: Settings) -> None:
    import socket
    import threading
    import time

    import uvicorn

    from curbside.web.serving import protocol_for

    app = create_app(web_settings.model_copy(update={"web_header_timeout": 0.5}))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", lifespan="off", http=protocol_for(app.state.curbside.settings)
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)
    try:
        slow = socket.create_connection(("127.0.0.1", port))
        slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")  # and never the blank line
        slow.settimeout(5)
        started = time.monotonic()
        assert slow.recv(100) == b""  # closed by the server
        assert time.monotonic() - started < 4
        slow.close()
        ok = socket.create_connection(("127.0.0.1", port))
        ok.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        ok.settimeout(5)
        assert ok.recv(100).startswith(b"HTTP/1.1 200")
        ok.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_8_llm_replies_are_read_up_to_a_limit() -> None:
    import httpx

    from curbside.answer.backends.base import ChatMessage
    from curbside.answer.backends.openai_compat import OpenAICompatBackend
    from curbside.errors import RemoteError

    def huge(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=b'{"choices": [{"message": {"content": "' + b"a" * 50_000 + b'"}}]}'
        )

    settings = Settings(llm_max_reply_bytes=10_000)
    with OpenAICompatBackend(settings, transport=httpx.MockTransport(huge), retries=0) as backend:
        with pytest.raises(RemoteError, match="larger than 10,000 bytes"):
            backend.chat([ChatMessage("user", "hi")])
        with pytest.raises(RemoteError, match="10,000 bytes"):
            backend.chat([ChatMessage("user", "hi")], on_token=lambda t: None)


def _damage(path: Path) -> None:
    """Overwrite pages in the middle of a SQLite file, as a failing disk would."""
    data = bytearray(path.read_bytes())
    for page in range(len(data) // 4096 // 2, len(data) // 4096 // 2 + 4):
        data[page * 4096 + 100 : page * 4096 + 4000] = b"\xff" * 3900
    path.write_bytes(bytes(data))


def test_8_a_damaged_store_is_refused_by_ingest_reported_by_doctor_and_a_503(
    web_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from curbside.cli.doctor import run_checks
    from curbside.cli.main import main
    from curbside.errors import StoreError

    running = TestClient(create_app(web_settings), raise_server_exceptions=False)
    assert running.get("/api/v1/health").status_code == 200
    db = Path(web_settings.db)
    _damage(db)
    # A server already running answers 503 (or what it still can), never a bare 500.
    for path in ("/api/v1/search?q=leukopenia", "/api/v1/health", "/api/v1/articles", "/"):
        assert running.get(path).status_code in (200, 503), path
    doc = tmp_path / "one.jsonl"
    doc.write_text(json.dumps({"id": "pmid:97000001", "title": "T", "sections": [{"text": "x"}]}) + "\n")
    with pytest.raises(SystemExit) as info:
        main(["--db", str(db), "ingest", str(doc)])
    assert info.value.code == 4 and "damaged" in capsys.readouterr().err  # refused: nothing written
    store = next(c for c in run_checks(web_settings) if c.name == "store")
    assert store.status == "fail" and "damaged" in store.detail
    with pytest.raises(StoreError, match=r"malformed|damaged"):  # a new server says why it cannot start
        create_app(web_settings)


def test_8_a_full_disk_is_a_store_error_and_the_batch_is_rolled_back(tmp_path: Path) -> None:
    from curbside.errors import StoreError
    from curbside.store.sqlite import SQLiteStore
    from curbside.types import Document, Section

    store = SQLiteStore(tmp_path / "s.db")
    pages = store._conn.execute("PRAGMA page_count").fetchone()[0]
    store._conn.execute(f"PRAGMA max_page_count={pages + 2}")  # what SQLite reports on a full disk
    docs = [Document(id=f"pmid:{n}", title="T" * 200, sections=(Section("x" * 4000, ""),)) for n in range(50)]
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps(d.to_dict()) + "\n" for d in docs))
    with pytest.raises(StoreError, match="disk is full") as info:
        api.ingest([path], store=store, settings=Settings(db=str(tmp_path / "s.db"), ingest_check=False))
    assert info.value.exit_code == 4 and "rolled back" in (info.value.hint or "")
    assert store.get_document("pmid:0") is None  # nothing half-written


def test_8_ask_checks_the_output_path_before_answering(
    web_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from curbside.cli.main import main

    missing = tmp_path / "no-such-folder" / "answer.html"
    with pytest.raises(SystemExit) as info:
        main(["--db", web_settings.db, "ask", QUESTION, "--format", "html", "-o", str(missing)])
    assert info.value.code == 2
    out = capsys.readouterr()
    assert "does not exist" in out.err and "Causes" not in out.out  # refused before any answer


# --- 9: accounts and audit -----------------------------------------------------------------------------


def test_9_audit_output_escapes_control_characters(
    web_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    import time as clock

    from curbside.cli.main import main
    from curbside.review.db import open_review_db
    from curbside.review.store import record_audit

    with open_review_db(web_settings) as db, db.transaction() as conn:
        record_audit(conn, clock.time(), "mallory\n2026-01-01T00:00:00Z admin approve", "x\x1b[31mred\u202e")
    main(["--db", web_settings.db, "review", "audit"])
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\u202e" not in out
    forged = [line for line in out.splitlines() if line.startswith("2026-01-01T00:00:00Z admin approve")]
    assert forged == []  # the newline did not start a line of its own
    assert "mallory\\u000a2026" in out and "\\u001b[31m" in out


def test_9_four_eyes_no_one_approves_what_they_generated(web_settings: Settings) -> None:
    from curbside.errors import PermissionDenied
    from curbside.review.db import open_review_db

    settings = web_settings.model_copy(update={"review_four_eyes": True})
    with open_review_db(settings) as db:
        reviewer = db.accounts.get_user("reviewer")
        thread, _ = api.follow_up(None, QUESTION, user=reviewer, settings=settings, db=db)
        article_id = thread.turns[0].article_id or ""
        with pytest.raises(PermissionDenied, match="four-eyes"):
            db.articles.review(article_id, "approve", user=reviewer)
        admin = db.accounts.get_user("admin")
        assert db.articles.review(article_id, "approve", user=admin).status == "approved"
    # Off by default: the same reviewer may approve.
    with open_review_db(web_settings) as db:
        reviewer = db.accounts.get_user("reviewer")
        thread, _ = api.follow_up(
            None, "How is leukopenia treated?", user=reviewer, settings=web_settings, db=db
        )
        assert (
            db.articles.review(thread.turns[0].article_id or "", "approve", user=reviewer).status
            == "approved"
        )


# --- 10: hardening ----------------------------------------------------------------------------------------


def test_10_signed_in_pages_are_never_cached(app: FastAPI) -> None:
    reader = signed_in(app, "reader")
    assert reader.get("/").headers["cache-control"] == "no-store"
    assert "cache-control" not in TestClient(app).get("/", headers=HTML).headers  # public pages may be


def test_10_other_host_names_are_refused(app: FastAPI) -> None:
    rebound = TestClient(app, base_url="http://attacker.example")
    assert rebound.get("/api/v1/health").status_code == 400
    assert TestClient(app).get("/api/v1/health").status_code == 200


def test_10_search_is_rate_limited(app: FastAPI) -> None:
    c = TestClient(app)
    statuses = [c.get("/api/v1/search", params={"q": "leukopenia"}).status_code for _ in range(65)]
    assert statuses[:60] == [200] * 60 and statuses[-1] == 429


def test_10_anonymous_threads_are_deleted_after_the_retention_period(web_settings: Settings) -> None:
    from curbside.review.connection import review_db_path
    from curbside.review.db import ReviewDB

    now = [1_000_000.0]
    with ReviewDB(review_db_path(web_settings), clock=lambda: now[0], settings=web_settings) as db:
        old = db.threads.create()
        db.threads.add_turn(old.id, "What causes leukopenia in John?", "q")
        mine = db.threads.create(user=db.accounts.get_user("clinician"))
        now[0] += 91 * 86400
        fresh = db.threads.create()
        assert db.threads.purge_anonymous(90) == 1
        from curbside.errors import NotFoundError

        with pytest.raises(NotFoundError):
            db.threads.get(old.id)
        assert db.threads.get(fresh.id).id == fresh.id
        assert db.threads.owner(mine.id) == "clinician"  # signed-in users' threads are theirs to keep


def test_10_invisible_and_look_alike_characters_are_cleaned_from_questions_and_titles(
    app: FastAPI, tmp_path: Path
) -> None:
    from curbside.types import Document, Section

    data = api_ask(TestClient(app), "What are the causes of ｌｅｕｋｏｐｅｎｉａ?\u202e\u200b")
    assert data["question"] == "What are the causes of leukopenia?"
    path = tmp_path / "spoof.jsonl"
    doc = Document(id="pmid:98000001", title="Leuko\u200bpenia \u202etxt.exe", sections=(Section("x"),))
    path.write_text(json.dumps(doc.to_dict()) + "\n")
    settings = app.state.curbside.settings
    api.ingest([path], settings=settings)
    stored, _ = api.show("pmid:98000001", settings=settings)
    assert stored.title == "Leukopenia txt.exe"


def test_10_serve_trusts_a_proxy_only_when_told(
    web_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    from curbside.cli.main import main

    runs: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: runs.append(kw))
    env = {"CURBSIDE_DB": web_settings.db, "CURBSIDE_DATA_DIR": str(web_settings.data_dir)}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    main(["serve", "--port", "8123"])
    main(["serve", "--host", "curbside.example.org", "--forwarded-allow-ips", "10.0.0.1"])
    direct, proxied = runs
    assert direct["proxy_headers"] is False and direct["forwarded_allow_ips"] is None
    assert proxied["proxy_headers"] is True and proxied["forwarded_allow_ips"] == "10.0.0.1"
    assert direct["limit_concurrency"] == 200 and direct["h11_max_incomplete_event_size"] == 16 * 1024
