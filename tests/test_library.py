"""The pre-built article library: topics files, `curbside articles build` (resume, idempotence,
failures), MeSH-derived topics, and serving approved articles to readers' questions.

Everything runs on real SQLite stores: the web tests' small corpus (``_web.build_settings``), copied
per test, and documents written here for the MeSH topics.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from _web import PASSWORD, add_users, build_settings
from conftest import make_doc
from curbside import api
from curbside.cli.main import cli
from curbside.config import Settings
from curbside.errors import CurbsideError, InputError
from curbside.review.db import open_review_db
from curbside.review.library import (
    BuildProgress,
    approved_by_topic,
    build,
    library_topics,
    match_approved,
    signature,
)
from curbside.review.topics import Topic, load_topics, mesh_topics
from curbside.review.workflow import User
from curbside.store.sqlite import SQLiteStore
from curbside.types import MeshHeading, MeshQualifier

TOPICS = [
    Topic("What are the causes of leukopenia?", "Leukopenia"),
    Topic("What are the adverse effects of clozapine?", "Clozapine"),
    Topic("Does clozapine cause neutropenia?", "Clozapine"),
    Topic("How is iron deficiency anaemia treated?", "Iron-Deficiency Anemia"),
]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    settings = build_settings(tmp_path_factory.mktemp("library-corpus"))
    add_users(settings)
    return settings


@pytest.fixture
def settings(corpus: Settings, tmp_path: Path) -> Settings:
    """A copy of the corpus for one test (builds write versions and checkpoints into it)."""
    db = tmp_path / "store.db"
    shutil.copy(corpus.db, db)
    return corpus.model_copy(update={"db": str(db)})


def reviewer(settings: Settings) -> User:
    return api.login("reviewer", PASSWORD, settings=settings).user


def versions(settings: Settings) -> dict[str, int]:
    """Article id -> its number of versions, and the submit entries in the audit log (key "submits")."""
    with open_review_db(settings) as db:
        rows = db.conn.execute(
            "SELECT article_id, COUNT(*) FROM review_versions GROUP BY article_id"
        ).fetchall()
        submits = db.conn.execute("SELECT COUNT(*) FROM review_audit WHERE action = 'submit'").fetchone()[0]
    return {**{r[0]: r[1] for r in rows}, "submits": submits}


# --- topics files ----------------------------------------------------------------------------------


def test_topics_from_a_text_file_and_from_json(tmp_path: Path) -> None:
    text = tmp_path / "topics.txt"
    text.write_text(
        "\ufeff# the seed questions\nWhat are the causes of leukopenia?\n\n"
        "Clozapine\tWhat are the adverse effects of clozapine?\n",
        encoding="utf-8",
    )
    assert load_topics(text) == [
        Topic("What are the causes of leukopenia?", "Leukopenia"),  # the question's concept
        Topic("What are the adverse effects of clozapine?", "Clozapine"),
    ]
    data = tmp_path / "topics.json"
    data.write_text(
        json.dumps(["How is hypertension treated?", {"question": "What causes gout?", "topic": "Gout"}]),
        encoding="utf-8",
    )
    assert [(t.question, t.label) for t in load_topics(data)] == [
        ("How is hypertension treated?", "Hypertension"),
        ("What causes gout?", "Gout"),
    ]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("missing.txt", None, "no such topics file"),
        ("empty.txt", "", "no topics in the file"),
        ("comments.txt", "# only a comment\n\n", "no topics in the file"),
        ("bad.json", '["What causes gout?",', "not valid JSON"),
        ("object.json", '{"question": "What causes gout?"}', "must be a list"),
        ("number.json", '["What causes gout?", 7]', "item 1: expected a question"),
        (
            "field.json",
            '[{"question": "What causes gout?", "topc": "Gout"}]',
            "item 0: unknown field(s) topc",
        ),
        ("label.json", '[{"question": "What causes gout?", "topic": 3}]', 'item 0: "topic" must be text'),
        ("blank.json", '["What causes gout?", "  "]', "item 1: the question is empty"),
        ("tab.txt", "Gout\t\n", "line 1: the question is empty"),
        ("long.txt", "What causes gout?\n" + "x" * 1001 + "\n", "line 2: the question is 1,001 characters"),
        ("twice.txt", "What causes gout?\n\nwhat causes  GOUT\n", "line 3 repeats the question of line 1"),
        ("binary.txt", b"What causes gout?\x00\x01", "a binary file"),
        ("latin1.txt", "Qu'est-ce qui cause la goutte ? \xe9".encode("latin-1"), "not UTF-8 text"),
    ],
)
def test_bad_topics_files_name_the_file_and_the_problem(
    tmp_path: Path, name: str, content: str | bytes | None, problem: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_topics(path)
    assert caught.value.message.startswith(f"{path}: ")
    assert problem in caught.value.message


def test_cli_refuses_a_bad_topics_file_before_writing_anything(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "topics.json"
    path.write_text('["What causes gout?", 7]', encoding="utf-8")
    result = CliRunner().invoke(cli, ["--db", settings.db, "articles", "build", "--topics", str(path)])
    assert isinstance(result.exception, InputError) and result.exception.exit_code == 2
    assert f"{path}: item 1" in result.exception.message
    result = CliRunner().invoke(cli, ["--db", settings.db, "articles", "build"])
    assert (
        isinstance(result.exception, InputError)
        and "--topics FILE or --from-mesh" in result.exception.message
    )
    assert versions(settings) == {"submits": 0}


# --- building ---------------------------------------------------------------------------------------


def test_build_submits_each_article_for_review_with_its_topic(settings: Settings) -> None:
    seen: list[tuple[int, int, str | None]] = []
    report = build(
        TOPICS,
        settings=settings,
        progress=lambda p: seen.append((p.done, p.total, p.result and p.result.outcome)),
    )
    assert [r.outcome for r in report.results] == ["built"] * 4
    assert seen[:2] == [(0, 4, None), (1, 4, "built")] and seen[-1] == (4, 4, "built")
    assert report.seconds_per_article is not None and report.seconds_per_article > 0
    queue = api.list_articles(status="submitted", viewer=reviewer(settings), settings=settings)
    assert sorted(a.question for a in queue) == sorted(t.question for t in TOPICS)
    with open_review_db(settings) as db:
        records = library_topics(db)
        assert [(r.question, r.topic, r.state, r.status, r.version) for r in records] == [
            (t.question, t.label, "done", "submitted", 1) for t in TOPICS
        ]
        saved = db.articles.get(records[0].article_id or "", 1, viewer=reviewer(settings))
    assert saved.created_by == "system"  # submitted by the generating pipeline
    assert saved.article.metadata["library"] == {"topic": "Leukopenia"}


def test_an_interrupted_build_resumes_and_writes_each_topic_once(settings: Settings) -> None:
    def stop_after_two(p: BuildProgress) -> None:
        if p.result is not None and p.done == 2:
            raise KeyboardInterrupt  # what Ctrl-C raises between two topics

    with pytest.raises(KeyboardInterrupt):
        build(TOPICS, settings=settings, progress=stop_after_two)
    assert len(versions(settings)) == 2 + 1  # two articles (and the submits count)
    report = build(TOPICS, settings=settings)
    assert [r.outcome for r in report.results] == ["skipped", "skipped", "built", "built"]
    counted = versions(settings)
    assert counted.pop("submits") == 4
    assert sorted(counted.values()) == [1, 1, 1, 1]  # each topic exactly once


def test_rebuilding_unchanged_articles_creates_no_new_versions(settings: Settings) -> None:
    build(TOPICS[:2], settings=settings)
    before = versions(settings)
    report = build(TOPICS[:2], settings=settings, rebuild=True)
    assert [r.outcome for r in report.results] == ["unchanged", "unchanged"]
    assert [r.version for r in report.results] == [1, 1]
    assert versions(settings) == before
    # Without --rebuild, built topics are not even written again.
    assert [r.outcome for r in build(TOPICS[:2], settings=settings).results] == ["skipped", "skipped"]


def test_a_failing_topic_is_reported_and_the_others_are_built(settings: Settings) -> None:
    topics = [TOPICS[0], Topic("What is the?", "Nothing"), TOPICS[1]]
    report = build(topics, settings=settings)
    assert [r.outcome for r in report.results] == ["built", "failed", "built"]
    assert report.failed[0].error is not None and "no searchable words" in report.failed[0].error
    again = build(topics, settings=settings)  # only the failed one is tried again
    assert [r.outcome for r in again.results] == ["skipped", "failed", "skipped"]
    with open_review_db(settings) as db:
        states = {r.question: (r.state, r.error) for r in library_topics(db)}
    assert states["What is the?"][0] == "failed" and "no searchable words" in (
        states["What is the?"][1] or ""
    )


def test_cli_build_prints_progress_without_a_terminal_and_a_summary(
    settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "topics.txt"
    path.write_text(f"{TOPICS[0].question}\nWhat is the?\n", encoding="utf-8")
    env = {"CURBSIDE_PROGRESS_INTERVAL": "0"}
    result = CliRunner(env=env).invoke(cli, ["--db", settings.db, "articles", "build", "--topics", str(path)])
    assert isinstance(result.exception, CurbsideError) and "1 topic failed" in result.exception.message
    out = result.output
    assert "2 topics for the library of" in out
    assert "articles: 1/2 articles (50%)" in out  # a progress line, though no terminal is attached
    assert "built 1, unchanged 0, skipped 0 (built by an earlier run), failed 1" in out
    assert "failed: What is the?: the query has no searchable words" in out
    listed = CliRunner().invoke(cli, ["--db", settings.db, "articles", "list", "--json"])
    rows = json.loads(listed.output)
    assert [(r["topic"], r["state"], r["status"]) for r in rows] == [
        ("Leukopenia", "done", "submitted"),
        ("What is the", "failed", None),
    ]


KILL_TOPICS = [t.question for t in TOPICS] + [
    "What are the causes of neutropenia?",
    "How is leukopenia diagnosed?",
    "What are the complications of chemotherapy?",
    "What causes transient leukopenia in children?",
    "What is the prognosis of bone marrow failure?",
    "How is drug-induced leukopenia treated?",
    "What are the adverse effects of carbamazepine?",
    "What are the adverse effects of methotrexate?",
]


def test_a_killed_build_process_resumes(settings: Settings, tmp_path: Path) -> None:
    """SIGKILL mid-run (no clean-up runs), then the same command: every topic ends with one version."""
    path = tmp_path / "topics.txt"
    path.write_text("".join(f"{q}\n" for q in KILL_TOPICS), encoding="utf-8")
    env = {
        **os.environ,
        "CURBSIDE_DB": settings.db,
        "CURBSIDE_DATA_DIR": str(settings.data_dir),
        "CURBSIDE_CACHE_DIR": str(settings.cache_dir),
        "CURBSIDE_EMBEDDER": settings.embedder,
        "CURBSIDE_PROGRESS_INTERVAL": "0",
    }
    total = len(KILL_TOPICS)
    command = [sys.executable, "-m", "curbside", "articles", "build", "--topics", str(path)]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # "articles: 1/12 articles (8%), ..., built: What are ..."
        if re.search(rf"articles: [12]/{total} .*built:", line):
            proc.send_signal(signal.SIGSTOP)  # frozen at once: the kill lands midway, however fast it writes
            break
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    first = versions(settings)
    written = len(first) - 1
    assert 1 <= written < total  # killed midway: some topics written, not all
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"skipped {written} (built by an earlier run)" in done.stdout
    counted = versions(settings)
    assert counted.pop("submits") == total and sorted(counted.values()) == [1] * total


# --- topics from MeSH --------------------------------------------------------------------------------


def heading(name: str, *qualifiers: str, major: bool = True) -> MeshHeading:
    return MeshHeading(name, "", major, tuple(MeshQualifier(q, "", False) for q in qualifiers))


def test_mesh_topics_ask_about_frequent_drugs_and_conditions(tmp_path: Path) -> None:
    from curbside.store.base import Batch, FileProgress

    docs = [
        make_doc(1, mesh=(heading("Leukopenia", "chemically induced"), heading("Humans", major=False))),
        make_doc(2, mesh=(heading("Leukopenia", "etiology"), heading("Clozapine", "adverse effects"))),
        make_doc(3, mesh=(heading("Leukopenia", "chemically induced", "diagnosis"),)),
        make_doc(4, mesh=(heading("Clozapine", "therapeutic use"), heading("DNA", "metabolism"))),
        make_doc(5, mesh=(heading("Anemia, Iron-Deficiency", "drug therapy"), heading("DNA", "analysis"))),
        make_doc(6, mesh=(heading("Infant, Newborn, Diseases", "etiology"),)),
    ]
    with SQLiteStore(tmp_path / "mesh.db") as store:
        store.write_batch(Batch(FileProgress("k", "mesh", "test"), documents=docs, records=len(docs)))
        topics = mesh_topics(store, limit=10)
        assert [(t.label, t.question) for t in topics] == [
            ("Leukopenia", "What are the causes of leukopenia?"),  # chemically induced + etiology: 3
            ("Leukopenia", "What tests diagnose leukopenia?"),
            ("Clozapine", "What are the adverse effects of clozapine?"),
            ("Clozapine", "What is clozapine used to treat?"),
            ("Iron-Deficiency Anemia", "What is the treatment of iron-deficiency anemia?"),
        ]  # DNA and Humans are neither drugs nor conditions; a three-part name has no reading order
        assert len(mesh_topics(store, limit=3)) == 3
        assert [t.question for t in mesh_topics(store, limit=10, per_descriptor=1)][:2] == [
            "What are the causes of leukopenia?",
            "What are the adverse effects of clozapine?",
        ]


def test_cli_build_from_mesh_on_a_store_without_headings_says_what_to_do(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", str(tmp_path / "empty.db"), "articles", "build", "--from-mesh"])
    assert isinstance(result.exception, InputError) and "no MeSH headings" in result.exception.message


# --- serving approved articles -----------------------------------------------------------------------


def test_signatures_tell_the_same_topic_from_another() -> None:
    assert signature("What causes leukopenia?") == signature("What are the causes of leucopenia?")
    assert signature("How is hypertension treated?") == signature("What is the treatment of hypertension?")
    assert signature("What are the adverse effects of clozapine?") != signature("What is clozapine?")
    assert signature("What are the causes of leukopenia?") != signature("How is leukopenia treated?")


def test_questions_match_approved_articles_only(settings: Settings) -> None:
    build(TOPICS[:2], settings=settings)
    with open_review_db(settings) as db:
        assert match_approved(db, "What are the causes of leukopenia?") is None  # submitted, not approved
        assert approved_by_topic(db) == []
    approved = api.review_article(
        "causes-of-leukopenia", "approve", user=reviewer(settings), settings=settings
    )
    with open_review_db(settings) as db:
        for asked in ("what are the causes of leukopenia", "What causes leucopenia?"):
            found = match_approved(db, asked)
            assert found is not None and (found.article_id, found.version) == (approved.article_id, 1)
        assert match_approved(db, "How is leukopenia treated?") is None
        assert match_approved(db, "What are the adverse effects of clozapine?") is None
        groups = approved_by_topic(db)
    assert [(g.topic, [e.title for e in g.articles]) for g in groups] == [
        ("Leukopenia", ["Causes of Leukopenia"])
    ]


def test_the_web_app_lists_the_library_and_serves_an_approved_article(settings: Settings) -> None:
    from curbside.web import create_app

    build(TOPICS[:2], settings=settings)
    api.review_article("causes-of-leukopenia", "approve", user=reviewer(settings), settings=settings)
    with TestClient(create_app(settings), headers={"Accept": "text/html"}, follow_redirects=False) as c:
        page = c.get("/library").text
        assert 'href="/library"' in page  # in the site navigation
        assert "Leukopenia" in page and 'href="/articles/causes-of-leukopenia"' in page
        assert "Adverse Effects of Clozapine" not in page  # still awaiting review
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        r = c.post("/ask", data={"question": "What causes leukopenia?", "csrf_token": token.group(1)})
        assert r.status_code == 303 and r.headers["location"].endswith("/1?library=1")
        served = c.get(r.headers["location"]).text
        assert 'id="library-note"' in served and "What causes leukopenia?" in served
        assert 'id="pending-banner"' not in served
        before = versions(settings)
        # The JSON API says so too; fresh=true writes a new answer instead.
        api_json = {"X-CSRF-Token": token.group(1), "Accept": "application/json"}
        body = c.post("/api/v1/ask", json={"question": "What causes leukopenia?"}, headers=api_json).json()
        assert (
            body["library"] is True
            and body["slug"] == "causes-of-leukopenia"
            and body["status"] == "approved"
        )
        assert versions(settings) == before
        fresh = {"question": "What causes leukopenia?", "fresh": True}
        body = c.post("/api/v1/ask", json=fresh, headers=api_json).json()
        assert body["library"] is False and body["status"] == "submitted"
        listed = c.get("/api/v1/library", headers={"Accept": "application/json"}).json()
        assert [t["topic"] for t in listed["topics"]] == ["Leukopenia"]


def test_the_llm_path_builds_the_library_within_a_time_budget_and_resumes(
    settings: Settings, tmp_path: Path
) -> None:
    """Articles composed by a real local runtime (the tiny test model): each within its budget, each
    saved for review, a second run skips them; the web app serves the approved one like any other."""
    pytest.importorskip("xllamacpp", reason="xllamacpp is in the llm and dev extras")
    from curbside.testing import write_tiny_gguf

    llm = settings.model_copy(
        update={"llm_model_path": write_tiny_gguf(tmp_path / "tiny.gguf"), "compose_budget_s": 30.0}
    )
    report = build(TOPICS[:2], settings=llm, synthesizer="llm")
    assert [r.outcome for r in report.results] == ["built", "built"]
    with open_review_db(llm) as db:
        records = library_topics(db)
        saved = db.articles.get(records[0].article_id or "", 1, viewer=reviewer(llm))
    composition = saved.article.metadata["composition"]
    assert composition["backend"] == "xllamacpp/tiny" and composition["seconds"] < 30.0
    assert saved.article.metadata["synthesizer"] == "llm (compose)"
    again = build(TOPICS[:2], settings=llm, synthesizer="llm")
    assert [r.outcome for r in again.results] == ["skipped", "skipped"]
