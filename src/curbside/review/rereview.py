"""Re-review flags: approved articles whose evidence changed after they were approved.

API::

    check_rereview(db, store, *, guideline_candidates=20) -> list[Flag]   # the flags raised now
    topic_terms(article) -> list[str]                                    # lowercased topic terms
    matches_topic(document, terms) -> bool

:func:`curbside.api.ingest` calls :func:`check_rereview` after every ingest
(when the store's file has editorial tables).  For the version readers see of
each approved article (the latest approved one) it raises:

* ``retracted-source`` when a cited document is now marked retracted but was
  not when the version was generated;
* ``newer-guideline`` when the store holds a document of kind ``guideline`` on
  the article's topic that the version does not cite and that was published
  later than every source the version cites (a guideline with no year counts
  as newer only if the version cites no dated source).

"On the topic": the guideline's title, MeSH headings or keywords contain one
of the article's main concepts (their preferred names and synonyms, from
:func:`curbside.retrieval.questions.analyse` of its question), or, when the question
has no vocabulary concept, all of its keywords.  Candidates come from the
store's lexical index restricted to guidelines.

A flag is raised once per (version, reason, document) and stays until a
reviewer resolves it or a new version is approved; the article stays visible
meanwhile, with ``needs_rereview`` set on its data.
"""

from __future__ import annotations

from typing import Final

from curbside.errors import QueryError
from curbside.retrieval.questions import analyse, fts_query, natural_order
from curbside.review.db import ReviewDB
from curbside.review.store import ArticleVersion, Flag
from curbside.store.base import SearchFilters, Store
from curbside.types import Article, Document

_TOPIC_STOP: Final = frozenset({"adults", "adult", "children", "child", "patients", "patient", "people"})


def topic_terms(article: Article) -> list[str]:
    """The lowercased terms that define an article's topic (concept names and synonyms, or keywords)."""
    try:
        query = analyse(article.question)
    except QueryError:
        return []
    terms: dict[str, None] = {}
    for concept in query.concepts:
        for term in (concept.preferred, concept.text, *concept.synonyms):
            text = " ".join(natural_order(term).lower().split())
            if text and text not in _TOPIC_STOP:
                terms.setdefault(text, None)
    return list(terms)


def _keywords(article: Article) -> list[str]:
    try:
        return [k for k in analyse(article.question).keywords if k not in _TOPIC_STOP]
    except QueryError:
        return []


def matches_topic(document: Document, terms: list[str], keywords: list[str] | None = None) -> bool:
    """Whether ``document``'s title, MeSH headings or keywords name the topic."""
    haystack = " ".join(
        [
            document.title,
            *(natural_order(m.descriptor) for m in document.mesh),
            *document.keywords,
        ]
    ).lower()
    if terms:
        return any(term in haystack for term in terms)
    return bool(keywords) and all(k in haystack for k in keywords or ())


def _newest_cited_year(version: ArticleVersion) -> int | None:
    years = [r.year for r in version.article.references if r.year is not None]
    return max(years) if years else None


def _guideline_candidates(store: Store, article: Article, k: int) -> list[str]:
    try:
        match = fts_query(analyse(article.question))
    except QueryError:
        return []
    hits = store.search_text(match, k, SearchFilters(kinds=("guideline",), exclude_retracted=True))
    return list(dict.fromkeys(h.chunk.document_id for h in hits))


def check_rereview(db: ReviewDB, store: Store, *, guideline_candidates: int = 20) -> list[Flag]:
    """Raise the flags that the store's current documents call for; returns only the new ones."""
    raised: list[Flag] = []
    for version in db.articles.approved_latest():
        at_generation = db.articles.cited_at_generation(version.article_id, version.version)
        documents = store.get_documents(list(at_generation))
        for doc_id, was_retracted in at_generation.items():
            doc = documents.get(doc_id)
            if doc is not None and doc.retracted and not was_retracted:
                flag = db.articles.raise_flag(
                    version.article_id,
                    version.version,
                    "retracted-source",
                    doc_id,
                    f"cited source {doc_id} ({doc.title}) has been retracted since this version was approved",
                )
                if flag is not None:
                    raised.append(flag)
        terms = topic_terms(version.article)
        keywords = _keywords(version.article)
        newest = _newest_cited_year(version)
        candidates = _guideline_candidates(store, version.article, guideline_candidates)
        for doc_id, doc in store.get_documents(candidates).items():
            if doc_id in at_generation or doc.kind != "guideline" or doc.retracted:
                continue
            if not matches_topic(doc, terms, keywords):
                continue
            newer = (doc.year is not None and (newest is None or doc.year > newest)) or (
                doc.year is None and newest is None
            )
            if not newer:
                continue
            when = f"published {doc.year}" if doc.year else "undated"
            flag = db.articles.raise_flag(
                version.article_id,
                version.version,
                "newer-guideline",
                doc_id,
                f"a newer guideline on the topic is available: {doc.title} ({when}); "
                f"the newest source this version cites is from {newest or 'an unknown year'}",
            )
            if flag is not None:
                raised.append(flag)
    return raised
