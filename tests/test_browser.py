"""End to end in real headless Chromium: ask, switch audience, follow up, sign in, review, approve.

The server is uvicorn on a free loopback port (in a thread over the fixture
corpus; as a ``curbside serve`` subprocess over a store built from the shared
MEDLINE data in the optional test).  Screenshots of the main pages go to
tests/artifacts/ (git-ignored).  Every page is watched for JavaScript dialogs
and errors: the XSS payloads in the fixture sources call ``alert()``, so a
dialog would mean one of them ran.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from _browser import chromium, chromium_path, live_server, screenshot
from _web import PASSWORD, XSS_TITLE, add_users, build_settings
from curbside import api
from curbside.config import Settings

QUESTION = "What are the causes of leukopenia?"

pytestmark = pytest.mark.skipif(
    chromium_path() is None,
    reason="Chromium is not installed (apt-get install chromium chromium-driver; scripts/test.sh does it as root)",
)


class Watch:
    """Collects what must never happen on a page: dialogs (alert from an XSS payload) and script errors."""

    def __init__(self) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []

    def attach(self, page: Any) -> Any:
        def on_dialog(dialog: Any) -> None:
            self.dialogs.append(dialog.message)
            dialog.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        return page


def reviewer_flow(browser: Any, base: str, question: str, *, follow_up: str, prefix: str) -> None:
    """The whole journey; ``prefix`` names the screenshots."""
    watch = Watch()
    asker = browser.new_context(viewport={"width": 1280, "height": 900})
    page = watch.attach(asker.new_page())

    # 1. Ask from the home page: the form streams its progress, then opens the article.
    page.goto(base + "/")
    screenshot(page, f"{prefix}home")
    page.fill("#question", question)
    with page.expect_response("**/api/v1/ask/stream", timeout=120_000) as streamed:
        page.click("form.ask button[type=submit]")
    assert streamed.value.status == 200  # site.js streamed the answer's progress (no plain form post)
    assert streamed.value.headers["content-type"].startswith("text/event-stream")
    page.wait_for_url("**/threads/*/1", timeout=120_000)
    article_url = page.url
    assert page.inner_text("h1") == question
    assert page.is_visible("#pending-banner")
    assert page.inner_text("#review-status") == "Submitted"
    assert page.locator("section.references li").count() >= 1
    first_cite = page.locator("sup.cite a").first
    target = first_cite.get_attribute("href")
    assert target is not None and page.locator(target).count() == 1
    first_cite.click()
    assert page.evaluate("location.hash") == target
    screenshot(page, f"{prefix}article")

    # 2. "Which best describes you?": choosing Patient re-renders the page from the same claims.
    refs_before = page.locator("section.references li").count()
    page.check("input[type=radio][value=patient]")
    page.wait_for_url("**audience=patient**")
    assert page.get_attribute("article.curbside-article", "data-audience") == "patient"
    assert page.locator("#sec-seek-care").count() == 1
    assert page.locator("section.references li").count() == refs_before
    screenshot(page, f"{prefix}article-patient")

    # 3. A follow-up continues the thread with its context.
    page.fill("#followup-question", follow_up)
    with page.expect_response("**/follow-up/stream", timeout=120_000) as followed:
        page.click("#followup button[type=submit]")
    assert followed.value.status == 200
    page.wait_for_url("**/threads/*/2?audience=patient", timeout=120_000)
    title = page.inner_text("h1").lower()
    assert "children" in title
    assert page.get_attribute("article.curbside-article", "data-audience") == "patient"  # choice kept
    assert page.locator(".turns li").count() == 2
    screenshot(page, f"{prefix}follow-up")

    # 4. A reviewer signs in, comments on a section and approves the first answer.
    reviewer = browser.new_context(viewport={"width": 1280, "height": 900})
    rpage = watch.attach(reviewer.new_page())
    rpage.goto(base + "/signin?next=/review")
    rpage.fill("#username", "reviewer")
    rpage.fill("#password", PASSWORD)
    rpage.click("#signin-form button[type=submit]")
    rpage.wait_for_url("**/review")
    row = rpage.locator("#review-queue tbody tr", has_text=question)
    assert row.count() == 1
    screenshot(rpage, f"{prefix}review-dashboard")
    row.locator("a").click()
    rpage.wait_for_url("**/review/art_*")
    section_box = rpage.locator(".section-review").first
    section_box.locator("textarea").fill("Checked against the cited passages.")
    section_box.locator("button").click()
    rpage.wait_for_url("**/review/art_*")
    assert rpage.locator(".section-review .comment").count() >= 1
    rpage.fill("#review-comment", "Accurate and well cited.")
    screenshot(rpage, f"{prefix}review-article")
    rpage.click("#action-approve")
    rpage.wait_for_url("**/review/art_*")
    assert rpage.inner_text("#review-status") == "Approved"

    # 5. The banner is gone for signed-out readers: the asker, and a fresh visitor of the public page.
    page.goto(article_url)
    assert page.inner_text("#review-status") == "Approved"
    assert page.locator("#pending-banner").count() == 0
    visitor = browser.new_context(viewport={"width": 1280, "height": 900})
    vpage = watch.attach(visitor.new_page())
    slug = rpage.locator("a", has_text="Reader view").get_attribute("href")
    assert slug is not None
    response = vpage.goto(base + slug.split("?")[0])
    assert response is not None and response.status == 200
    assert vpage.locator("#pending-banner").count() == 0
    screenshot(vpage, f"{prefix}approved")
    # The follow-up's answer is not approved: the visitor cannot open the asker's thread.
    response = vpage.goto(article_url.rsplit("/", 1)[0] + "/2")
    assert response is not None and response.status == 403

    assert watch.dialogs == [], f"a script from page content ran: {watch.dialogs}"
    assert watch.errors == [], watch.errors
    for context in (asker, reviewer, visitor):
        context.close()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = build_settings(tmp_path_factory.mktemp("browser-corpus"))
    add_users(settings)
    return settings


def test_ask_personalise_follow_up_and_approve_in_chromium(corpus: Settings) -> None:
    from curbside.web import create_app

    with live_server(create_app(corpus)) as base, chromium() as browser:
        reviewer_flow(browser, base, QUESTION, follow_up="What about in children?", prefix="")


def copied_app(corpus: Settings, tmp_path: Path) -> Any:
    """The web app over a copy of the module's corpus (each test changes its own store)."""
    from curbside.web import create_app

    db = tmp_path / "store.db"
    shutil.copy(corpus.db, db)
    return create_app(corpus.model_copy(update={"db": str(db)}))


def test_xss_payload_in_a_source_title_stays_text_in_chromium(corpus: Settings, tmp_path: Path) -> None:
    with live_server(copied_app(corpus, tmp_path)) as base, chromium() as browser:
        watch = Watch()
        page = watch.attach(browser.new_page())
        page.goto(base + "/search?q=leukopenia+in+adults")
        assert page.get_by_text(XSS_TITLE).count() >= 1  # the markup shows as text
        page.goto(base + "/")
        page.fill("#question", QUESTION)
        page.click("form.ask button[type=submit]")
        page.wait_for_url("**/threads/*/1", timeout=120_000)
        titles = page.locator("span.ref-title").all_inner_texts()
        assert any(t.startswith(XSS_TITLE) for t in titles)
        assert page.locator("img[src=x]").count() == 0
        # Only the site's own script element exists.
        assert page.evaluate("[...document.scripts].map(s => s.getAttribute('src'))") == ["/static/site.js"]
        assert watch.dialogs == [] and watch.errors == []


def test_example_question_link_asks_and_a_reviewer_checks_each_claims_evidence(
    corpus: Settings, tmp_path: Path
) -> None:
    with live_server(copied_app(corpus, tmp_path)) as base, chromium() as browser:
        watch = Watch()
        # An example question on the home page is a link that asks it (the page streams the answer).
        page = watch.attach(browser.new_page())
        page.goto(base + "/")
        with page.expect_response("**/api/v1/ask/stream", timeout=120_000):
            page.click("p.examples a >> nth=0")
        page.wait_for_url("**/threads/*/1", timeout=120_000)
        assert page.inner_text("h1") == QUESTION
        # A signed-out visit to /review goes to sign-in and comes back.
        reviewer = watch.attach(browser.new_page(viewport={"width": 1280, "height": 900}))
        reviewer.goto(base + "/review")
        assert "/signin?next=%2Freview" in reviewer.url
        reviewer.fill("#username", "reviewer")
        reviewer.fill("#password", PASSWORD)
        reviewer.click("#signin-form button[type=submit]")
        reviewer.wait_for_url("**/review")
        reviewer.locator("#review-queue tbody tr", has_text=QUESTION).first.locator("a").click()
        reviewer.wait_for_url("**/review/art_*")
        # Every claim shows its cited passage, the quoted words highlighted inside their sentence.
        claims = reviewer.locator("#evidence li.claim-evidence")
        assert claims.count() >= 1
        for i in range(claims.count()):
            item = claims.nth(i)
            assert item.locator("blockquote.cited-passage mark").count() >= 1
        first = claims.first
        quote = first.locator("blockquote.cited-passage mark").first.inner_text()
        first.locator("blockquote.cited-passage mark").first.scroll_into_view_if_needed()
        screenshot(reviewer, "review-evidence")
        # The record page: whole abstract, the same words highlighted, MeSH, a PubMed link.
        first.locator(".cited-source a").first.click()
        reviewer.wait_for_url("**/records/**")
        assert quote in reviewer.locator("mark").all_inner_texts()
        assert reviewer.locator("section.abstract p").count() >= 1
        screenshot(reviewer, "record")
        assert watch.dialogs == [] and watch.errors == []


def test_library_articles_go_to_review_then_the_site_and_answer_their_question_in_chromium(
    corpus: Settings, tmp_path: Path
) -> None:
    """`curbside articles build` on the test store, one article approved through the library API: the
    library page lists it, the reviewer's queue holds the others, and asking its question serves it."""
    from curbside.review.library import build
    from curbside.review.topics import Topic
    from curbside.web import create_app

    db = tmp_path / "store.db"
    shutil.copy(corpus.db, db)
    settings = corpus.model_copy(update={"db": str(db)})
    others = ["What are the adverse effects of clozapine?", "How is iron deficiency anaemia treated?"]
    report = build([Topic(QUESTION, "Leukopenia"), *(Topic(q, "Other") for q in others)], settings=settings)
    assert [r.outcome for r in report.results] == ["built"] * 3
    reviewer = api.login("reviewer", PASSWORD, settings=settings).user
    approved = api.review_article(
        report.results[0].article_id or "", "approve", user=reviewer, settings=settings
    )
    title = approved.article.title
    with live_server(create_app(settings)) as base, chromium() as browser:
        watch = Watch()
        page = watch.attach(browser.new_page(viewport={"width": 1280, "height": 900}))
        page.goto(base + "/")
        page.click("header nav a[href='/library']")
        page.wait_for_url("**/library")
        topics = page.locator("#library section.library-topic")
        assert topics.count() == 1 and topics.first.locator("h2").text_content() == "Leukopenia"
        assert page.locator("#library .card a").all_inner_texts() == [title]  # the others await review
        screenshot(page, "library")
        page.click(f"#library .card a >> text={title}")
        page.wait_for_url("**/articles/" + approved.slug)
        assert page.inner_text("#review-status") == "Approved"
        # A reader asks the same question in other words: the approved article answers it, and says so.
        page.goto(base + "/")
        page.fill("#question", "What causes leukopenia?")
        with page.expect_response("**/api/v1/ask/stream", timeout=120_000):
            page.click("form.ask button[type=submit]")
        page.wait_for_url("**/threads/*/1?library=1", timeout=120_000)
        assert page.is_visible("#library-note")
        assert "What causes leukopenia?" in page.inner_text("#library-note")
        assert page.get_attribute("#article-page", "data-article") == approved.article_id
        assert (
            page.inner_text("#review-status") == "Approved" and page.locator("#pending-banner").count() == 0
        )
        screenshot(page, "library-answer")
        # The reviewer's queue holds the library articles not yet approved.
        queue = watch.attach(browser.new_page())
        _sign_in(queue, base, "reviewer")
        queue.goto(base + "/review")
        rows = queue.locator("#review-queue tbody tr").all_inner_texts()
        assert len(rows) == 2 and all(any(q in row for row in rows) for q in others)
        assert watch.dialogs == [] and watch.errors == []


@contextmanager
def attacker_site(html: str) -> Iterator[str]:
    """Another site: one static page on ``localhost`` (curbside is on 127.0.0.1, a different site)."""
    import http.server
    import socketserver
    import threading

    page = html.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    with socketserver.TCPServer(("127.0.0.1", 0), Handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://localhost:{server.server_address[1]}/"
        finally:
            server.shutdown()


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(base + "/signin")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("#signin-form button[type=submit]")
    page.wait_for_url(base + "/")


def test_cross_site_sign_in_and_sign_out_are_refused_in_chromium(corpus: Settings, tmp_path: Path) -> None:
    with live_server(copied_app(corpus, tmp_path)) as base, chromium() as browser:
        victim = browser.new_context().new_page()
        _sign_in(victim, base, "admin")
        session = next(c for c in victim.context.cookies() if c["name"] == "curbside_session")["value"]
        forged_sign_in = f"""<form id=f method=post action="{base}/signin">
          <input name=username value=reader><input name=password value="{PASSWORD}"></form>
          <script>document.getElementById('f').submit()</script>"""
        with attacker_site(forged_sign_in) as evil:
            with victim.expect_navigation():
                victim.goto(evil)
            assert "/signin" in victim.url
            assert victim.locator("body").inner_text().count("cross-site request refused") == 1
        after = next(c for c in victim.context.cookies() if c["name"] == "curbside_session")["value"]
        assert after == session  # still the admin's own session, not the attacker's account
        victim.goto(base + "/review")
        assert victim.url.endswith("/review")  # and still signed in as admin
        forged_sign_out = f"""<form id=f method=post action="{base}/signout"></form>
          <script>document.getElementById('f').submit()</script>"""
        with attacker_site(forged_sign_out) as evil, victim.expect_navigation():
            victim.goto(evil)
        victim.goto(base + "/review")
        assert victim.url.endswith("/review")  # not signed out by another site


def test_a_signed_in_account_cannot_open_a_signed_out_askers_thread_in_chromium(
    corpus: Settings, tmp_path: Path
) -> None:
    with live_server(copied_app(corpus, tmp_path)) as base, chromium() as browser:
        asker = browser.new_context().new_page()
        asker.goto(base + "/")
        asker.fill("#question", QUESTION)
        asker.click("form.ask button[type=submit]")
        asker.wait_for_url("**/threads/*/1", timeout=120_000)
        thread_url = asker.url
        other = browser.new_context().new_page()
        _sign_in(other, base, "reviewer")
        response = other.goto(thread_url)
        assert response is not None and response.status == 403
        assert QUESTION not in other.content()
        # The asker's thread id appears nowhere the reviewer reads the saved article.
        thread_id = thread_url.split("/threads/")[1].split("/")[0]
        other.goto(base + "/review")
        other.locator("#review-queue tbody tr a").first.click()
        other.wait_for_url("**/review/art_*")
        assert thread_id not in other.content()


# --- the acceptance run: `curbside serve` over a store built from the shared MEDLINE data ---------


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from curbside.cli.demo import slice_pubmed_file
    from curbside.config import shared_data_dir

    data = shared_data_dir()
    if data is None:
        pytest.skip("shared data folder not found (set CURBSIDE_SHARED_DATA or place it at ../shared/data)")
    tmp = tmp_path_factory.mktemp("shared-store")
    sliced = slice_pubmed_file(data / "medline" / "pubmed20n0014.xml.gz", tmp / "slice.xml.gz", 3000)
    settings = Settings(
        db=str(tmp / "store.db"), data_dir=tmp / "data", cache_dir=tmp / "cache", embedder="fake"
    )
    api.ingest([sliced], settings=settings)
    api.index(settings=settings)
    api.add_user("reviewer", PASSWORD, "reviewer", settings=settings)
    return settings


@pytest.fixture
def served(shared_store: Settings) -> Iterator[str]:
    """``curbside serve`` as a subprocess on a free loopback port."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "CURBSIDE_DB": shared_store.db,
        "CURBSIDE_DATA_DIR": str(shared_store.data_dir),
        "CURBSIDE_CACHE_DIR": str(shared_store.cache_dir),
        "CURBSIDE_EMBEDDER": "fake",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "curbside",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/api/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise RuntimeError(f"curbside serve did not start:\n{out}")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout:
            proc.stdout.close()


@pytest.mark.shared_data
@pytest.mark.slow
def test_curbside_serve_on_shared_medline_data(served: str) -> None:
    anon = httpx.get(served + "/api/v1/articles/causes-of-leukopenia")
    assert anon.status_code == 404  # nothing asked yet
    with chromium() as browser:
        reviewer_flow(browser, served, QUESTION, follow_up="What about in children?", prefix="shared-")
    # Signed out, the unapproved follow-up answer and the review endpoints stay closed.
    with httpx.Client(base_url=served) as c:
        listed = c.get("/api/v1/articles").json()["articles"]
        assert len(listed) == 1 and listed[0]["approved_version"] == 1  # the follow-up's is not listed
        r = c.post(f"/api/v1/articles/{listed[0]['id']}/review", json={"action": "reject"})
        assert r.status_code == 403
