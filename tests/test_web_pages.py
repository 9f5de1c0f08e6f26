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
    # Quote fidelity and relevance are reported apart, so neither can be read as the other.
    checked = tree.xpath("string(//p[@class='verification'])")
    assert re.search(r"\d+ supported in context, \d+ relevant to the question", checked), checked
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
    # Signed out: sign in first, then back to the page asked for.
    r = anon.get("/review")
    assert r.status_code == 303 and r.headers["location"] == "/signin?next=%2Freview"
    r = anon.get("/review/causes-of-leukopenia", params={"v": 1})
    assert r.headers["location"] == "/signin?next=%2Freview%2Fcauses-of-leukopenia%3Fv%3D1"
    signin = doc(anon.get(r.headers["location"]).text)
    assert signin.xpath("//input[@name='next']/@value") == ["/review/causes-of-leukopenia?v=1"]
    assert anon.get("/api/v1/review/queue").status_code in (401, 403)  # the API answers, never redirects
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
    # The thread starts from the article as its visitor reads it: under its title, since the
    # question as first asked is the editorial team's (issue 17, S2).
    assert [li.text_content() for li in tree.xpath("//div[contains(@class,'turns')]//li")] == [
        "Causes of Leukopenia",
        "What about in children?",
    ]
    assert "children" in tree.xpath("string(//h1)").lower()


# --- papercuts: HEAD, example questions, plurals, question length -----------------------------------


def test_head_answers_every_page_like_get_without_a_body(app: FastAPI) -> None:
    c = browser(app)
    url = ask(c)  # the asker's own thread page
    for path in (
        "/",
        "/policy",
        "/search?q=leukopenia",
        url,
        "/signin",
        "/api/v1/health",
        "/static/site.css",
    ):
        got = c.get(path)
        head = c.head(path)
        assert head.status_code == got.status_code == 200, path
        assert head.content == b"" and head.headers["content-type"] == got.headers["content-type"], path
        assert head.headers["content-length"] == got.headers["content-length"], path
    assert c.head("/no-such-page").status_code == 404


def test_example_questions_are_links_that_ask_them(app: FastAPI) -> None:
    reviewer = browser(app)
    sign_in(reviewer, "reviewer")

    def queued() -> int:
        return len(doc(reviewer.get("/review").text).xpath("//table[@id='review-queue']/tbody/tr"))

    before = queued()
    c = browser(app)
    links = doc(c.get("/").text).xpath("//p[@class='examples']/a")
    assert len(links) == 3 and links[0].text_content() == QUESTION
    href = links[0].get("href")
    assert href == "/ask?q=What%20are%20the%20causes%20of%20leukopenia%3F"
    page = doc(c.get(href).text)
    form = page.xpath("//form[@action='/ask']")[0]
    assert form.get("data-autostart") is not None  # site.js asks at once
    assert form.xpath(".//input[@name='question']/@value") == [QUESTION]
    assert c.get("/ask").status_code == 303  # nothing to ask: home
    assert queued() == before  # the GET saved nothing: only the form's POST asks


def test_counts_agree_in_number(app: FastAPI) -> None:
    url = ask(browser(app))
    reviewer = browser(app)
    sign_in(reviewer, "reviewer")
    article_id = doc(reviewer.get("/review").text).xpath("//table[@id='review-queue']//a/@href")[0]
    text = reviewer.get(article_id).text
    counts = re.findall(r"\((\d+) (claims?)\)", text)
    assert counts and all((n == "1") == (word == "claim") for n, word in counts)
    assert url
    search = browser(app).get("/search", params={"q": "xyzzy leukopenia"}).text
    assert not re.search(r"\b1 passages\b", search)


def test_the_ask_box_and_the_library_share_one_question_limit(built: Settings, tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    shutil.copy(built.db, db)
    settings = built.model_copy(update={"db": str(db), "max_question_chars": 60})
    with TestClient(create_app(settings), headers=HTML, follow_redirects=False) as c:
        box = doc(c.get("/").text).xpath("//form[@action='/ask']//input[@name='question']")[0]
        assert box.get("maxlength") == "60"
        long = "What are the causes of leukopenia in adults who take several drugs at once?"
        r = c.post("/ask", data={"question": long, "csrf_token": csrf(c)})
        assert r.status_code == 400 and "the limit is 60" in r.text
        api_answer = c.post("/api/v1/ask", json={"question": long}, headers={"X-CSRF-Token": csrf(c)})
        assert api_answer.status_code == 400 and "the limit is 60" in api_answer.json()["message"]


# --- reviewers see the evidence ----------------------------------------------------------------------


def test_review_page_shows_each_claims_cited_passage_and_links_the_record(app: FastAPI) -> None:
    ask(browser(app))
    reviewer = browser(app)
    sign_in(reviewer, "reviewer")
    review_url = doc(reviewer.get("/review").text).xpath("//table[@id='review-queue']//a/@href")[0]
    tree = doc(reviewer.get(review_url).text)
    items = tree.xpath("//section[@id='evidence']//li[contains(@class,'claim-evidence')]")
    assert items
    for item in items:
        quotes = item.xpath(".//blockquote[@class='cited-passage']")
        assert quotes and item.xpath(".//blockquote[@class='cited-passage']//mark"), item.text_content()
        for quote in quotes:  # a composed bottom line cites several passages, each with its marks
            passage = quote.xpath("string(./p)")
            assert all(m.text_content() in passage for m in quote.xpath(".//mark"))  # inside its context
        links = item.xpath(".//div[@class='cited-source']/a/@href")
        assert links and all(re.fullmatch(r"/records/[\w:./-]+\?hl=(body|title):\d+-\d+", h) for h in links)
    # The record page shows the whole abstract with that span highlighted, its MeSH and a PubMed link.
    link = items[0].xpath(".//div[@class='cited-source']/a/@href")[0]
    quote = items[0].xpath("string(.//blockquote[@class='cited-passage']//mark)")
    record = browser(app).get(link)  # the literature is public: no sign-in needed
    assert record.status_code == 200
    rtree = doc(record.text)
    assert quote in [m.text_content() for m in rtree.xpath("//mark")]
    assert rtree.xpath("//section[@class='abstract']//p")
    assert rtree.xpath("//a[starts-with(@href, 'https://pubmed.ncbi.nlm.nih.gov/')]")
    assert_inert(record.text)


def test_record_page_shows_mesh_and_refuses_unknown_ids(app: FastAPI) -> None:
    c = browser(app)
    r = c.get("/records/pmid:90000001", params={"hl": ["body:0-20", "title:0-5", "junk", "body:9-3"]})
    assert r.status_code == 200
    tree = doc(r.text)
    assert len(tree.xpath("//mark")) == 2  # malformed and empty spans are ignored
    assert tree.xpath("//section[@class='mesh']//li")
    assert c.get("/records/pmid:1").status_code == 404
    assert c.head("/records/pmid:90000001").status_code == 200


def test_evidence_passage_keeps_to_its_section() -> None:
    from curbside.types import Citation, Document, Section
    from curbside.web.evidence import highlight, passage

    d = Document(
        id="pmid:1",
        title="T",
        sections=(
            Section("Aim one. Aim two.", "BACKGROUND"),
            Section("First result. Clozapine caused agranulocytosis. Third result. Fourth.", "RESULTS"),
        ),
    )
    body = d.body
    start = body.index("Clozapine")
    end = body.index(" Third") - 1
    got = passage(d, Citation("pmid:1", start, end, body[start:end]))
    text = "".join(s.text for s in got["segments"])
    assert got["label"] == "RESULTS" and "Aim" not in text and "Fourth" not in text
    assert text == "First result. Clozapine caused agranulocytosis. Third result."
    assert [s.text for s in got["segments"] if s.marked] == ["Clozapine caused agranulocytosis"]
    assert highlight("abcdef", [(4, 5), (1, 3)]) == [
        type(got["segments"][0])("a"),
        type(got["segments"][0])("bc", True),
        type(got["segments"][0])("d"),
        type(got["segments"][0])("e", True),
        type(got["segments"][0])("f"),
    ]
