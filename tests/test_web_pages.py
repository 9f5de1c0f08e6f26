"""The server-rendered pages: article layout, audience selector, follow-up, sign-in, reviewer dashboard.

Forms are posted the way a browser without JavaScript posts them (form fields,
CSRF token, 303 redirect).  The HTML is parsed with lxml to check structure,
and every page is checked for live markup from source or model text.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import lxml.html
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from _web import PASSWORD, XSS_TITLE, add_users, build_settings
from curbside.config import Settings
from curbside.web import create_app
from curbside.web.pages import human_date, policy_path

QUESTION = "What are the causes of leukopenia?"
HTML = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = build_settings(tmp_path_factory.mktemp("pages-corpus"))
    add_users(settings)
    return settings


@pytest.fixture
def app(built: Settings, tmp_path: Path) -> Iterator[FastAPI]:
    db = tmp_path / "store.db"
    shutil.copy(built.db, db)
    with TestClient(create_app(built.model_copy(update={"db": str(db)}))) as c:
        yield c.app  # type: ignore[misc]


def browser(app: FastAPI) -> TestClient:
    return TestClient(app, headers=HTML, follow_redirects=False)


def csrf(c: TestClient, path: str = "/") -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', c.get(path).text)
    assert m is not None
    return m.group(1)


def ask(c: TestClient, question: str = QUESTION) -> str:
    """Post the home page's ask form; returns the article page URL it redirects to."""
    r = c.post("/ask", data={"question": question, "csrf_token": csrf(c)})
    assert r.status_code == 303, r.text
    return r.headers["location"]


def doc(html: str) -> lxml.html.HtmlElement:
    return lxml.html.fromstring(html)


def sign_in(c: TestClient, username: str, next_url: str = "/") -> None:
    r = c.post(
        "/signin",
        data={"username": username, "password": PASSWORD, "csrf_token": csrf(c, "/signin"), "next": next_url},
    )
    assert r.status_code == 303 and r.headers["location"] == next_url


def assert_inert(html: str) -> None:
    """No script element but the site's own, no event-handler attributes, no javascript: links."""
    tree = doc(html)
    scripts = tree.xpath("//script")
    assert [s.get("src") for s in scripts] == ["/static/site.js"] and all(
        not (s.text or "").strip() for s in scripts
    )
    for el in tree.iter():
        if not isinstance(el.tag, str):
            continue
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), (el.tag, name)
            assert not value.strip().lower().startswith("javascript:"), (el.tag, name, value)
    assert not tree.xpath("//img[@src='x']")


# --- home and search ---------------------------------------------------------------------------------


def test_home_has_the_ask_box_and_search(app: FastAPI) -> None:
    c = browser(app)
    tree = doc(c.get("/").text)
    form = tree.xpath("//form[@action='/ask']")[0]
    assert form.get("method") == "post" and form.xpath(".//input[@name='csrf_token']")[0].get("value")
    assert tree.xpath("//form[@action='/search']//input[@name='q']")
    assert tree.xpath("//a[@href='/policy']") and tree.xpath("//a[starts-with(@href, '/signin')]")


def test_search_page_lists_escaped_hits(app: FastAPI) -> None:
    c = browser(app)
    r = c.get("/search", params={"q": "leukopenia"})
    assert r.status_code == 200
    tree = doc(r.text)
    titles = [t.text_content() for t in tree.xpath("//ol[@class='results']//div[@class='title']")]
    assert any("Drug-induced leukopenia" in t for t in titles)
    assert any(XSS_TITLE in t for t in titles)  # shown as text
    assert_inert(r.text)
    assert c.get("/search", params={"q": ""}).status_code == 303


# --- the article page --------------------------------------------------------------------------------


def test_ask_form_leads_to_a_clinical_reference_page(app: FastAPI) -> None:
    c = browser(app)
    url = ask(c)
    assert re.fullmatch(r"/threads/thr_[\w-]+/1", url)
    r = c.get(url)
    assert r.status_code == 200
    tree = doc(r.text)
    assert tree.xpath("string(//h1)") == QUESTION  # the question is the title
    assert tree.xpath("//section[@class='bottom-line']//strong")  # bold bottom line
    headings = [h.text_content() for h in tree.xpath("//section[contains(@class,'section')]/h2")]
    assert "Causes" in headings
    # Inline citations link to reference anchors that exist.
    anchors = {a.get("href") for a in tree.xpath("//sup[@class='cite']/a")}
    assert anchors and all(tree.xpath(f"//li[@id='{h[1:]}']") for h in anchors)
    badges = {
        b.text_content() for b in tree.xpath("//section[@class='references']//span[contains(@class,'badge')]")
    }
    assert {"Systematic review", "Guideline", "Research"} <= badges
    meta = tree.xpath("string(//div[@class='meta'])")
    assert "Last updated" in meta and human_date(r.text[r.text.index('datetime="') + 10 :][:20]) in meta
    assert tree.xpath("string(//span[@id='review-status'])") == "Submitted"
    assert "Pending human review" in tree.xpath("string(//div[@id='pending-banner'])")
    assert tree.xpath("//div[@id='pending-banner']//a[@href='/policy']")
    assert tree.xpath("//fieldset/legend")[0].text_content() == "Which best describes you?"
    assert [i.get("value") for i in tree.xpath("//input[@name='audience'][@type='radio']")] == [
        "clinician",
        "student",
        "patient",
    ]
    assert "not a substitute for clinical judgement" in tree.xpath("string(//p[@class='disclaimer'])")
    follow = tree.xpath("//section[@id='followup']")[0]
    assert follow.xpath("string(h2)") == "Have a follow-up question?"
    assert follow.xpath(".//form")[0].get("action").endswith("/follow-up")
    assert_inert(r.text)


def test_audience_selector_rerenders_the_same_claims(app: FastAPI) -> None:
    c = browser(app)
    url = ask(c)
    clinician = doc(c.get(url).text)
    patient = doc(c.get(url, params={"audience": "patient"}).text)
    student = doc(c.get(url, params={"audience": "student"}).text)
    assert clinician.xpath("string(//article/@data-audience)") == "clinician"
    assert patient.xpath("string(//article/@data-audience)") == "patient"
    assert patient.xpath("//section[@id='sec-seek-care']") and not clinician.xpath(
        "//section[@id='sec-seek-care']"
    )
    assert student.xpath("//section[@id='sec-glossary']")
    refs = [li.get("id") for li in clinician.xpath("//section[@class='references']//li")]
    assert refs == [li.get("id") for li in patient.xpath("//section[@class='references']//li")]
    assert patient.xpath("//input[@type='radio'][@value='patient']")[0].get("checked") is not None
    # An unknown audience in the URL falls back to the clinician article.
    assert (
        doc(c.get(url, params={"audience": "robot"}).text).xpath("string(//article/@data-audience)")
        == "clinician"
    )


def test_follow_up_form_continues_the_thread(app: FastAPI) -> None:
    c = browser(app)
    url = ask(c)
    thread_id = url.split("/")[2]
    r = c.post(
        f"/threads/{thread_id}/follow-up",
        data={"question": "What about in children?", "csrf_token": csrf(c, url), "audience": "patient"},
    )
    assert r.status_code == 303 and r.headers["location"] == f"/threads/{thread_id}/2?audience=patient"
    tree = doc(c.get(r.headers["location"]).text)
    title = tree.xpath("string(//h1)")
    assert "children" in title.lower() and "leukopenia" in title.lower()
    turns = [li.text_content() for li in tree.xpath("//div[contains(@class,'turns')]//li")]
    assert turns == [QUESTION, "What about in children?"]
    assert tree.xpath("string(//article/@data-audience)") == "patient"
    assert c.get(f"/threads/{thread_id}").headers["location"] == f"/threads/{thread_id}/2"


def test_a_stranger_cannot_open_someone_elses_thread(app: FastAPI) -> None:
    url = ask(browser(app))
    r = browser(app).get(url)
    assert r.status_code == 403 and "Not available to you" in r.text
    assert "text/html" in r.headers["content-type"]


def test_forms_without_the_csrf_token_are_refused(app: FastAPI) -> None:
    c = browser(app)
    c.get("/")  # the browser cookie exists now
    r = c.post("/ask", data={"question": QUESTION})
    assert r.status_code == 403 and "CSRF" in r.text
    r = c.post("/ask", data={"question": QUESTION, "csrf_token": "forged"})
    assert r.status_code == 403


# --- review workflow through the pages ---------------------------------------------------------------


def test_anonymous_and_readers_cannot_reach_review_pages(app: FastAPI) -> None:
    url = ask(browser(app))
    anon = browser(app)
    assert anon.get("/review").status_code == 403
    assert "Sign in" in anon.get("/review").text
    assert anon.get("/articles/causes-of-leukopenia").status_code == 403  # not approved yet
    reader = browser(app)
    sign_in(reader, "reader")
    assert reader.get("/review").status_code == 403
    assert reader.get("/articles/causes-of-leukopenia").status_code == 200  # signed in: every version
    token = csrf(reader)
    r = reader.post(
        "/review/causes-of-leukopenia/action", data={"action": "approve", "version": "1", "csrf_token": token}
    )
    assert r.status_code == 403
    assert url  # the asker's thread page stays readable to the asker (checked elsewhere)


def test_reviewer_comments_on_a_section_and_approves(app: FastAPI) -> None:
    asker = browser(app)
    url = ask(asker)
    reviewer = browser(app)
    sign_in(reviewer, "reviewer", "/review")
    dashboard = doc(reviewer.get("/review").text)
    rows = dashboard.xpath("//table[@id='review-queue']/tbody/tr")
    assert len(rows) == 1 and "Submitted" in rows[0].text_content()
    review_url = rows[0].xpath(".//a/@href")[0]
    page = reviewer.get(review_url)
    tree = doc(page.text)
    assert tree.xpath("//div[@id='review-causes']")  # one comment box per section
    token = csrf(reviewer, review_url)
    article_id = review_url.split("/")[2].split("?")[0]
    r = reviewer.post(
        f"/review/{article_id}/comment",
        data={
            "body": "Add the guideline's threshold <b>here</b>",
            "section": "causes",
            "version": "1",
            "csrf_token": token,
        },
    )
    assert r.status_code == 303
    tree = doc(reviewer.get(review_url).text)
    comment = tree.xpath("//div[@id='review-causes']//div[@class='comment']")[0]
    assert "Add the guideline's threshold <b>here</b>" in comment.text_content()  # escaped, shown as typed
    assert [b.get("value") for b in tree.xpath("//form[@id='review-form']//button")] == [
        "start_review",
        "approve",
        "request_changes",
        "reject",
    ]
    r = reviewer.post(
        f"/review/{article_id}/action", data={"action": "approve", "version": "1", "csrf_token": token}
    )
    assert r.status_code == 303
    tree = doc(reviewer.get(review_url).text)
    assert tree.xpath("string(//span[@id='review-status'])") == "Approved"
    audit = tree.xpath("string(//div[@class='panel'][h2='Audit log'])")
    assert "start_review" in audit and "approve" in audit
    # Approved: anonymous readers now get the article, without the pending banner.
    public = browser(app).get("/articles/causes-of-leukopenia")
    assert public.status_code == 200
    ptree = doc(public.text)
    assert not ptree.xpath("//div[@id='pending-banner']")
    assert ptree.xpath("string(//span[@id='review-status'])") == "Approved"
    assert "by the Medical Advisory Board" in ptree.xpath("string(//span[@id='reviewed-on'])")
    # The asker's own page too.
    assert not doc(asker.get(url).text).xpath("//div[@id='pending-banner']")
    # The home page lists it for everyone.
    assert "Causes of Leukopenia" in browser(app).get("/").text


def test_sign_in_failures_and_sign_out(app: FastAPI) -> None:
    c = browser(app)
    r = c.post(
        "/signin", data={"username": "reviewer", "password": "nope nope", "csrf_token": csrf(c, "/signin")}
    )
    assert r.status_code == 401 and "flash-error" in r.text
    sign_in(c, "reviewer")
    assert "reviewer (reviewer)" in c.get("/").text
    r = c.post("/signout", data={"csrf_token": csrf(c)})
    assert r.status_code == 303 and "curbside_session=" in r.headers["set-cookie"]
    assert "Sign in" in c.get("/").text


def test_sign_in_never_redirects_off_site(app: FastAPI) -> None:
    c = browser(app)
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        r = c.post(
            "/signin",
            data={"username": "reader", "password": PASSWORD, "csrf_token": csrf(c, "/signin"), "next": evil},
        )
        assert r.status_code == 303 and r.headers["location"] == "/"


# --- safety of source and model text ------------------------------------------------------------------


def test_xss_in_a_source_title_and_abstract_renders_inert(app: FastAPI) -> None:
    c = browser(app)
    html = c.get(ask(c)).text
    assert "&lt;script&gt;alert(&#x27;title&#x27;)&lt;/script&gt;" in html
    tree = doc(html)
    titles = [t.text_content() for t in tree.xpath("//span[@class='ref-title']")]
    assert any(t.startswith(XSS_TITLE) for t in titles)
    claims = " ".join(li.text_content() for li in tree.xpath("//li[contains(@class,'claim')]"))
    assert "<script>alert('abstract')</script>" in claims  # the model/source text, shown as text
    # The source's javascript: URL never becomes a link.
    assert not tree.xpath("//a[contains(@href, 'javascript')]")
    assert_inert(html)
    for audience in ("student", "patient"):
        assert_inert(c.get(ask(c), params={"audience": audience}).text)


def test_policy_page_renders_the_editorial_policy(app: FastAPI) -> None:
    assert policy_path().is_file()  # package data: present in a wheel install too
    r = browser(app).get("/policy")
    assert r.status_code == 200
    tree = doc(r.text)
    assert tree.xpath("//h1") and "review" in r.text.lower()
    assert_inert(r.text)


def test_rendered_versions_are_cached_but_status_is_read_fresh(app: FastAPI) -> None:
    from curbside.web.state import RenderCache, state_of_app

    c = browser(app)
    url = ask(c)
    cache: RenderCache = state_of_app(app).cache
    c.get(url)
    hits = cache.hits
    again = doc(c.get(url).text)
    assert cache.hits == hits + 1
    assert again.xpath("string(//span[@id='review-status'])") == "Submitted"
    reviewer = browser(app)
    sign_in(reviewer, "reviewer")
    token = csrf(reviewer)
    r = reviewer.post(
        "/review/causes-of-leukopenia/action", data={"action": "approve", "version": "1", "csrf_token": token}
    )
    assert r.status_code == 303
    assert doc(c.get(url).text).xpath("string(//span[@id='review-status'])") == "Approved"  # not cached
    small = RenderCache(size=2)
    for key in ("a", "b", "c"):
        small.put((key,), key)
    assert small.get(("a",)) is None and small.get(("c",)) == "c"


def test_follow_up_from_a_published_article_starts_a_thread_from_it(app: FastAPI) -> None:
    asker = browser(app)
    ask(asker)
    reviewer = browser(app)
    sign_in(reviewer, "reviewer")
    token = csrf(reviewer)
    reviewer.post(
        "/review/causes-of-leukopenia/action", data={"action": "approve", "version": "1", "csrf_token": token}
    )
    visitor = browser(app)
    page = doc(visitor.get("/articles/causes-of-leukopenia").text)
    form = page.xpath("//section[@id='followup']//form")[0]
    assert (
        form.get("action") == "/articles/causes-of-leukopenia/follow-up" and form.get("data-stream") is None
    )
    r = visitor.post(
        form.get("action"),
        data={
            "question": "What about in children?",
            "csrf_token": csrf(visitor, "/articles/causes-of-leukopenia"),
        },
    )
    assert r.status_code == 303 and re.fullmatch(
        r"/threads/thr_[\w-]+/2\?audience=clinician", r.headers["location"]
    )
    tree = doc(visitor.get(r.headers["location"]).text)
    assert [li.text_content() for li in tree.xpath("//div[contains(@class,'turns')]//li")] == [
        QUESTION,
        "What about in children?",
    ]
    assert "children" in tree.xpath("string(//h1)").lower()
