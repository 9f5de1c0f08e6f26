from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from _articles import DOCS, sample_article
from curbside import api
from curbside.answer.audience import adapt
from curbside.config import Settings
from curbside.errors import InputError, NotFoundError, PermissionDenied, TransitionError
from curbside.render.json import article_to_dict
from curbside.review.connection import MIGRATIONS, has_review_tables, review_db_path
from curbside.review.db import ReviewDB, open_review_db
from curbside.review.rereview import check_rereview, matches_topic, topic_terms
from curbside.review.store import content_hash, question_key, section_keys, slugify
from curbside.review.workflow import User
from curbside.store.base import Batch, FileProgress
from curbside.store.sqlite import SQLiteStore
from curbside.types import Article, Claim, Document, MeshHeading, Section

REVIEWER = User(1, "rita", "reviewer", "2026-01-01T00:00:00Z")
CLINICIAN = User(2, "carl", "clinician", "2026-01-01T00:00:00Z")
READER = User(3, "rose", "reader", "2026-01-01T00:00:00Z")
ADMIN = User(4, "ada", "admin", "2026-01-01T00:00:00Z")
#: Built once: its metadata holds verification timings, which differ per build.
ART = sample_article()


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


@pytest.fixture
def db(tmp_path: Path) -> Iterator[ReviewDB]:
    d = ReviewDB(tmp_path / "store.db", clock=Clock())
    yield d
    d.close()


def regenerated() -> Article:
    article = ART
    first = replace(article.bottom_line[0], text=article.bottom_line[0].text + " (updated)")
    return replace(article, bottom_line=(first, *article.bottom_line[1:]))


def _write(store: SQLiteStore, docs: list[Document], key: str = "k") -> None:
    fp = store.file_progress(key) or FileProgress(key=key, path="test", source_type="test")
    store.write_batch(Batch(fp, documents=docs, records=len(docs)))


# --- saving and versions ----------------------------------------------------------------------------


def test_save_creates_article_with_stable_id_slug_and_submitted_version(db: ReviewDB) -> None:
    result = db.articles.save_version(ART)
    v = result.version
    assert result.created
    assert v.version == 1 and v.status == "submitted" and v.status_label == "Submitted"
    assert v.slug == "causes-of-leukopenia"
    assert v.article_id.startswith("art_")
    assert v.created_by == "system" and v.pending_review and v.is_latest
    assert v.article == ART
    assert [e.action for e in db.articles.audit_entries()] == ["create_article", "submit"]
    # The id does not depend on the database: the same question gets the same id elsewhere.
    assert db.articles.resolve("causes-of-leukopenia") == v.article_id


def test_identical_content_is_not_a_new_version_unless_forced(db: ReviewDB) -> None:
    first = db.articles.save_version(ART).version
    again_article = replace(ART, metadata={"timings_ms": {"total": 5.0}})
    again = db.articles.save_version(again_article)
    assert not again.created and again.version.version == 1
    forced = db.articles.save_version(ART, force_new=True)
    assert forced.created and forced.version.version == 2
    assert first.content_hash == forced.version.content_hash


def test_regeneration_is_a_new_version_that_needs_review_again(db: ReviewDB) -> None:
    v1 = db.articles.save_version(ART).version
    db.articles.review(v1.article_id, "approve", user=REVIEWER)
    v2 = db.articles.save_version(regenerated()).version
    assert v2.version == 2 and v2.status == "submitted"
    assert v2.approved_version == 1 and v2.latest_version == 2
    # Readers keep seeing the approved version; signed-in users see the new one.
    assert db.articles.get(v1.slug).version == 1
    assert db.articles.get(v1.slug, viewer=READER).version == 2
    assert db.articles.get(v1.slug, 1, viewer=READER).status == "approved"
    infos = db.articles.versions(v1.slug, viewer=READER)
    assert [(i.version, i.status) for i in infos] == [(2, "submitted"), (1, "approved")]
    assert [i.version for i in db.articles.versions(v1.slug)] == [1]


def test_a_question_asked_differently_is_the_same_article(db: ReviewDB) -> None:
    v1 = db.articles.save_version(ART).version
    other = replace(regenerated(), question="  what causes   LEUKOPENIA ")
    v2 = db.articles.save_version(other).version
    assert v2.article_id == v1.article_id and v2.version == 2
    assert question_key("What causes leukopenia?") == question_key("what causes leukopenia")


def test_slugs_stay_unique(db: ReviewDB) -> None:
    a = db.articles.save_version(ART).version
    b = db.articles.save_version(replace(ART, question="Why does leukopenia happen?")).version
    assert (a.slug, b.slug) == ("causes-of-leukopenia", "causes-of-leukopenia-2")
    assert slugify("Leucopénie: causes & risks?") == "leucopenie-causes-risks"
    assert slugify("???") == "article"
    assert len(slugify("word " * 40)) <= 80


def test_save_to_an_explicit_article_id(db: ReviewDB) -> None:
    v1 = db.articles.save_version(ART).version
    other = replace(ART, question="A different question entirely?", title="Other")
    v2 = db.articles.save_version(other, article_id=v1.slug).version
    assert v2.article_id == v1.article_id and v2.version == 2
    with pytest.raises(NotFoundError, match="no article"):
        db.articles.save_version(other, article_id="art_missing")


def test_adapted_articles_are_refused(db: ReviewDB) -> None:
    with pytest.raises(InputError, match="clinician article, not the patient"):
        db.articles.save_version(adapt(ART, "patient"))


def test_submit_needs_a_role_that_may_submit(db: ReviewDB) -> None:
    with pytest.raises(PermissionDenied, match="reader"):
        db.articles.save_version(ART, user=READER)
    v = db.articles.save_version(ART, user=CLINICIAN).version
    assert v.created_by == "carl"


def test_versions_are_immutable_in_sqlite_itself(db: ReviewDB, tmp_path: Path) -> None:
    v = db.articles.save_version(ART).version
    for sql in (
        "UPDATE review_versions SET data = '{}'",
        "UPDATE review_versions SET content_hash = 'x'",
        "UPDATE review_versions SET created_by = 'mallory'",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="immutable"):
            db.conn.execute(sql)
    with pytest.raises(sqlite3.IntegrityError, match="cannot be deleted"):
        db.conn.execute("DELETE FROM review_versions")
    # The same holds for any other connection to the file.
    other = sqlite3.connect(tmp_path / "store.db")
    with pytest.raises(sqlite3.IntegrityError):
        other.execute("UPDATE review_versions SET data = '{}'")
    other.close()
    assert db.articles.get_unchecked(v.article_id, v.version).article == ART


def test_stored_json_is_the_article_json_format(db: ReviewDB) -> None:
    v = db.articles.save_version(ART).version
    data = db.conn.execute("SELECT data FROM review_versions").fetchone()[0]
    assert json.loads(data) == json.loads(json.dumps(article_to_dict(ART)))
    assert v.content_hash == content_hash(ART)


# --- review actions ---------------------------------------------------------------------------------


def test_review_path_with_audit_entries(db: ReviewDB) -> None:
    v = db.articles.save_version(ART).version
    started = db.articles.review(v.slug, "start_review", user=REVIEWER)
    assert started.status == "under_review" and started.status_changed_by == "rita"
    changes = db.articles.review(
        v.slug, "request_changes", user=REVIEWER, comment="Cite the guideline", section="causes"
    )
    assert changes.status == "changes_requested"
    assert changes.comments[-1].section_key == "causes" and changes.comments[-1].action == "request_changes"
    back = db.articles.review(v.slug, "resubmit", user=CLINICIAN)
    assert back.status == "submitted"
    approved = db.articles.review(v.slug, "approve", user=REVIEWER, comment="Checked against sources")
    assert approved.status == "approved" and not approved.pending_review
    entries = db.articles.audit_entries(v.slug)
    assert [e.action for e in entries] == [
        "create_article",
        "submit",
        "start_review",
        "request_changes",
        "resubmit",
        "start_review",
        "approve",
    ]
    assert entries[3].details == {
        "from": "under_review",
        "to": "changes_requested",
        "comment": "Cite the guideline",
        "section": "causes",
    }
    assert entries[-1].actor == "rita" and entries[-1].version == 1
    assert entries[0].at <= entries[-1].at


def test_reject_is_final_for_that_version(db: ReviewDB) -> None:
    v = db.articles.save_version(ART).version
    db.articles.review(v.slug, "reject", user=REVIEWER, comment="Evidence too thin")
    with pytest.raises(TransitionError, match="Rejected"):
        db.articles.review(v.slug, "approve", user=REVIEWER)
    with pytest.raises(TransitionError):
        db.articles.review(v.slug, "resubmit", user=CLINICIAN)
    assert db.articles.get(v.slug, viewer=READER).status == "rejected"


def test_failed_action_changes_nothing(db: ReviewDB) -> None:
    v = db.articles.save_version(ART).version
    before = len(db.articles.audit_entries())
    with pytest.raises(InputError, match="no section 'nope'"):
        db.articles.review(v.slug, "approve", user=REVIEWER, comment="x", section="nope")
    assert db.articles.get(v.slug, viewer=READER).status == "submitted"
    assert len(db.articles.audit_entries()) == before


@pytest.mark.parametrize("user", [READER, CLINICIAN])
@pytest.mark.parametrize("action", ["start_review", "approve", "request_changes", "reject"])
def test_only_reviewers_review(db: ReviewDB, user: User, action: str) -> None:
    v = db.articles.save_version(ART).version
    with pytest.raises(PermissionDenied, match=user.role):
        db.articles.review(v.slug, action, user=user)  # type: ignore[arg-type]
    assert db.articles.get(v.slug, viewer=READER).status == "submitted"


def test_disabled_reviewer_may_not_review(db: ReviewDB) -> None:
    v = db.articles.save_version(ART).version
    with pytest.raises(PermissionDenied):
        api.review_article(v.slug, "approve", user=replace(REVIEWER, disabled=True), db=db)


def test_review_a_specific_older_version(db: ReviewDB) -> None:
    v1 = db.articles.save_version(ART).version
    db.articles.save_version(regenerated())
    done = db.articles.review(v1.slug, "approve", user=ADMIN, version=1)
    assert done.version == 1 and done.status == "approved" and not done.is_latest
    with pytest.raises(NotFoundError, match="no version 7"):
        db.articles.review(v1.slug, "approve", user=ADMIN, version=7)


# --- comments ---------------------------------------------------------------------------------------


def test_comments_per_section_and_append_only(db: ReviewDB) -> None:
    v = db.articles.save_version(ART).version
    keys = section_keys(v.article)
    assert keys[:3] == ["causes", "idiopathic", "pitfalls"] and "bottom-line" in keys
    c1 = db.articles.comment(v.slug, "Mention the ANC thresholds", user=REVIEWER, section="bottom-line")
    c2 = db.articles.comment(v.slug, "Overall fine", user=REVIEWER)
    assert (c1.section_key, c2.section_key) == ("bottom-line", None)
    assert [c.body for c in db.articles.get(v.slug, viewer=READER).comments] == [c1.body, c2.body]
    assert db.articles.comments(v.slug, viewer=READER) == [c1, c2]
    with pytest.raises(PermissionDenied):
        db.articles.comments(v.slug)
    with pytest.raises(PermissionDenied):
        db.articles.comment(v.slug, "hi", user=CLINICIAN)
    with pytest.raises(InputError, match="empty"):
        db.articles.comment(v.slug, "   ", user=REVIEWER)
    with pytest.raises(InputError, match="sections: causes"):
        db.articles.comment(v.slug, "x", user=REVIEWER, section="treatment")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.conn.execute("UPDATE review_comments SET body = 'edited'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.conn.execute("DELETE FROM review_comments")


# --- audit log --------------------------------------------------------------------------------------


def test_audit_log_cannot_be_updated_or_deleted(db: ReviewDB, tmp_path: Path) -> None:
    v = db.articles.save_version(ART).version
    db.articles.review(v.slug, "approve", user=REVIEWER)
    before = db.articles.audit_entries()
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.conn.execute("UPDATE review_audit SET actor = 'nobody'")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.conn.execute("DELETE FROM review_audit WHERE id = 1")
    db.close()
    reopened = ReviewDB(tmp_path / "store.db")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        reopened.conn.execute("DELETE FROM review_audit")
    assert reopened.articles.audit_entries() == before
    reopened.close()


def test_audit_needs_reviewer_or_admin(db: ReviewDB) -> None:
    v = db.articles.save_version(ART).version
    assert [e.action for e in db.articles.audit(v.slug, user=ADMIN)] == ["create_article", "submit"]
    assert db.articles.audit(user=REVIEWER, limit=1)[0].action == "submit"
    with pytest.raises(PermissionDenied):
        db.articles.audit(user=CLINICIAN)
    with pytest.raises(PermissionDenied):
        api.audit_log(user=None, db=db)
    with pytest.raises(InputError):
        db.articles.audit_entries(limit=0)


# --- visibility -------------------------------------------------------------------------------------


def test_signed_out_readers_see_only_the_latest_approved_version(db: ReviewDB) -> None:
    v = db.articles.save_version(ART).version
    with pytest.raises(PermissionDenied, match="not been approved"):
        db.articles.get(v.slug)
    assert db.articles.list() == []
    assert [s.slug for s in db.articles.list(viewer=READER)] == [v.slug]
    db.articles.review(v.slug, "approve", user=REVIEWER)
    db.articles.save_version(replace(regenerated(), title="A pending new title"))
    shown = db.articles.get(v.slug)
    assert shown.version == 1 and shown.status == "approved"
    with pytest.raises(PermissionDenied, match="version 2"):
        db.articles.get(v.slug, 2)
    with pytest.raises(NotFoundError):
        db.articles.get(v.slug, 9)
    with pytest.raises(NotFoundError):
        db.articles.get("no-such-article")
    # Signed out, the list describes the approved version: a pending one does not show, not even its title.
    summary = db.articles.list()[0]
    assert (summary.latest_version, summary.latest_status, summary.approved_version) == (1, "approved", 1)
    assert summary.title == "Causes of Leukopenia"
    inside = db.articles.list(viewer=READER)[0]
    assert (inside.latest_version, inside.latest_status, inside.title) == (
        2,
        "submitted",
        "A pending new title",
    )
    assert [s.slug for s in db.articles.list("approved")] == [v.slug]
    assert db.articles.list("submitted") == []
    assert [s.slug for s in db.articles.list("submitted", viewer=READER)] == [v.slug]
    assert db.articles.list(viewer=READER, offset=1) == []
    with pytest.raises(InputError):
        db.articles.list(limit=0)


def test_api_functions_share_the_rules(tmp_path: Path, settings: Settings) -> None:
    saved = api.submit_article(ART, settings=settings).version
    assert review_db_path(settings) == Path(settings.db)
    with pytest.raises(PermissionDenied):
        api.get_article(saved.slug, settings=settings)
    api.review_article(saved.slug, "approve", user=REVIEWER, comment="ok", settings=settings)
    assert api.get_article(saved.slug, settings=settings).status == "approved"
    assert [s.slug for s in api.list_articles(status="Approved", settings=settings)] == [saved.slug]
    assert api.audit_log(saved.slug, user=REVIEWER, settings=settings)[-1].action == "approve"
    data = api.get_article(saved.slug, settings=settings).to_dict()
    assert data["status_label"] == "Approved" and data["article"]["title"] == "Causes of Leukopenia"
    assert data["pending_review"] is False and data["needs_rereview"] is False
    json.dumps(data)


def test_review_db_path_rules(tmp_path: Path) -> None:
    base = {"data_dir": tmp_path / "d", "cache_dir": tmp_path / "c"}
    assert review_db_path(Settings(db=str(tmp_path / "a.db"), **base)) == tmp_path / "a.db"  # type: ignore[arg-type]
    assert review_db_path(Settings(db=f"sqlite:///{tmp_path}/b.db", **base)) == tmp_path / "b.db"  # type: ignore[arg-type]
    pg = Settings(db="postgresql://localhost/x", **base)  # type: ignore[arg-type]
    assert review_db_path(pg) == tmp_path / "d" / "review.db"
    own = Settings(db=str(tmp_path / "a.db"), review_db=str(tmp_path / "r.db"), **base)  # type: ignore[arg-type]
    assert review_db_path(own) == tmp_path / "r.db"


def test_migrations_live_in_their_own_table_next_to_the_store(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.db")
    assert not has_review_tables(tmp_path / "store.db")
    db = ReviewDB(tmp_path / "store.db")
    assert db.applied_migrations() == [name for name, _ in MIGRATIONS]
    assert db.migrate() == []
    assert "review_0001_articles" not in store.applied_migrations()
    assert has_review_tables(tmp_path / "store.db")
    assert not has_review_tables(tmp_path / "missing.db")
    db.close()
    store.close()


# --- re-review flags --------------------------------------------------------------------------------


def _approved(db: ReviewDB, store: SQLiteStore) -> str:
    _write(store, list(DOCS.values()))
    v = db.articles.save_version(ART).version
    db.articles.review(v.slug, "approve", user=REVIEWER)
    return v.slug


def guideline(n: int, title: str, year: int | None, **kw: object) -> Document:
    fields: dict[str, object] = {
        "id": f"guideline:g{n}",
        "title": title,
        "sections": (
            Section(f"{title}. Recommendations for the evaluation of patients.", "RECOMMENDATIONS"),
        ),
        "kind": "guideline",
        "year": year,
        "issuer": "Test Society",
    }
    fields.update(kw)
    return Document(**fields)  # type: ignore[arg-type]


def test_retraction_after_approval_raises_one_flag(db: ReviewDB, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.db")
    slug = _approved(db, store)
    assert check_rereview(db, store) == []  # pmid:103 was retracted already when the article was written
    store.mark_retracted(["pmid:101"])
    flags = check_rereview(db, store)
    assert [(f.reason, f.document_id) for f in flags] == [("retracted-source", "pmid:101")]
    assert check_rereview(db, store) == []  # raised once
    shown = db.articles.get(slug)
    assert shown.needs_rereview and shown.flags[0].open
    assert db.articles.get(slug).to_dict()["flags"][0]["reason"] == "retracted-source"
    assert [s.open_flags for s in db.articles.list(flagged=True)] == [1]
    assert db.articles.audit_entries()[-1].action == "raise_flag"
    with pytest.raises(PermissionDenied):
        db.articles.resolve_flag(flags[0].id, user=CLINICIAN)
    closed = db.articles.resolve_flag(flags[0].id, user=REVIEWER, comment="Claim still supported by pmid:102")
    assert not closed.open and closed.resolved_by == "rita"
    assert not db.articles.get(slug).needs_rereview
    assert db.articles.list(flagged=True) == []
    with pytest.raises(InputError, match="already resolved"):
        db.articles.resolve_flag(flags[0].id, user=REVIEWER)
    with pytest.raises(NotFoundError):
        db.articles.resolve_flag(999, user=REVIEWER)
    store.close()


def test_unapproved_articles_are_not_flagged(db: ReviewDB, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.db")
    _write(store, list(DOCS.values()))
    db.articles.save_version(ART)
    store.mark_retracted(["pmid:101"])
    _write(store, [guideline(1, "Guideline on leukopenia", 2025)], key="g")
    assert check_rereview(db, store) == []
    store.close()


def test_newer_guideline_on_the_topic_raises_a_flag(db: ReviewDB, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.db")
    slug = _approved(db, store)
    _write(
        store,
        [
            guideline(1, "Guideline on the evaluation of leukopenia in adults", 2024),
            guideline(2, "Leukopenia guideline from long ago", 2018),  # older than the 2021 source it cites
            guideline(3, "Hypertension guideline", 2025),  # another topic
            guideline(
                4, "Evaluation of low white cell counts", 2025, mesh=(MeshHeading("Leukopenia", "D007970"),)
            ),
        ],
        key="g",
    )
    flags = check_rereview(db, store)
    assert sorted(f.document_id for f in flags) == ["guideline:g1", "guideline:g4"]
    assert all(f.reason == "newer-guideline" for f in flags)
    assert "2024" in next(f.message for f in flags if f.document_id == "guideline:g1")
    assert db.articles.get(slug).needs_rereview
    assert check_rereview(db, store) == []
    store.close()


def test_topic_terms_and_matching() -> None:
    terms = topic_terms(ART)
    assert "leukopenia" in terms and "leucopenia" in terms
    g = guideline(9, "Management of leucopenia", 2025)
    assert matches_topic(g, terms)
    assert not matches_topic(guideline(8, "Asthma", 2025), terms)
    assert matches_topic(guideline(7, "Sore throat care", 2025), [], ["sore", "throat"])
    assert not matches_topic(guideline(7, "Sore feet", 2025), [], ["sore", "throat"])


def test_ingest_runs_the_rereview_check(settings: Settings, tmp_path: Path) -> None:
    store = SQLiteStore(settings.db)
    _write(store, list(DOCS.values()))
    store.close()
    with open_review_db(settings) as db:
        v = db.articles.save_version(ART).version
        db.articles.review(v.slug, "approve", user=REVIEWER)
    path = tmp_path / "guidelines.jsonl"
    line = guideline(1, "Guideline on leukopenia work-up", 2025).to_dict()
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    api.ingest([path], settings=settings)
    shown = api.get_article(v.slug, settings=settings)
    assert [f.document_id for f in shown.flags] == ["guideline:g1"]
    assert [f.reason for f in api.check_rereview(settings=settings)] == []
    # A source re-ingested as retracted (e.g. a MEDLINE update) raises the other flag.
    retracted = replace(DOCS["pmid:101"], retracted=True, publication_types=("Retracted Publication",))
    path.write_text(json.dumps(retracted.to_dict()) + "\n", encoding="utf-8")
    api.ingest([path], settings=settings)
    reasons = [(f.reason, f.document_id) for f in api.get_article(v.slug, settings=settings).flags]
    assert reasons == [("newer-guideline", "guideline:g1"), ("retracted-source", "pmid:101")]


def test_ingest_into_a_plain_store_creates_no_review_tables(settings: Settings, tmp_path: Path) -> None:
    path = tmp_path / "docs.jsonl"
    path.write_text(
        json.dumps(guideline(1, "Guideline on leukopenia", 2025).to_dict()) + "\n", encoding="utf-8"
    )
    api.ingest([path], settings=settings)
    assert not has_review_tables(settings.db)


def test_claims_keep_their_citations_through_storage(db: ReviewDB) -> None:
    v = db.articles.save_version(ART).version
    loaded = db.articles.get(v.slug, viewer=READER).article
    claims: tuple[Claim, ...] = loaded.all_claims()
    assert claims == ART.all_claims()
    assert [r.document_id for r in loaded.references] == ["pmid:101", "pmid:102", "pmid:103"]


def test_approving_a_new_version_closes_the_old_versions_flags(db: ReviewDB, tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "store.db")
    slug = _approved(db, store)
    store.mark_retracted(["pmid:101"])
    assert len(check_rereview(db, store)) == 1
    db.articles.save_version(regenerated())
    assert db.articles.list(flagged=True)  # still flagged while the new version waits
    db.articles.review(slug, "approve", user=REVIEWER)
    assert db.articles.list(flagged=True) == []
    closed = db.articles.flags(slug, open_only=False)[0]
    assert closed.resolved_by == "rita"
    assert db.articles.audit_entries()[-1].details["superseded_by"] == 2
    store.close()


def test_get_unchecked_skips_only_the_visibility_rule(db: ReviewDB) -> None:
    v = db.articles.save_version(ART).version
    with pytest.raises(PermissionDenied):
        db.articles.get(v.slug, 1)
    assert db.articles.get_unchecked(v.slug, 1).status == "submitted"
    with pytest.raises(NotFoundError):
        db.articles.get_unchecked(v.slug, 2)
