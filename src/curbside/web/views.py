"""Turning library results into what templates and JSON responses show.

The article body is :func:`curbside.render.html.render_html` output (the same
markup the CLI writes with ``--format html``), embedded as markup: that
renderer escapes every piece of source and model text itself and builds links
only from validated parts, and the web tests feed it XSS payloads to keep it
honest.  Everything else on a page goes through Jinja's autoescaping.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from markupsafe import Markup

from curbside.answer.audience import adapt
from curbside.render.common import pubmed_url, safe_url, slug
from curbside.render.html import render_html
from curbside.render.json import article_to_dict
from curbside.retrieval.evidence import document_label
from curbside.types import Article, ArticleSection, Audience, Hit

if TYPE_CHECKING:
    from curbside.review.store import ArticleVersion
    from curbside.web.state import RenderCache

AUDIENCES: Final[tuple[tuple[Audience, str, str], ...]] = (
    ("clinician", "Clinician", "Physician, nurse practitioner, pharmacist"),
    ("student", "Student", "Medical or nursing student: abbreviations explained, with a glossary"),
    ("patient", "Patient or carer", "Plain language, with when to seek care"),
)
AUDIENCE_NAMES: Final = frozenset(a for a, _, _ in AUDIENCES)
# Bounds on the integers a URL or form may carry: a larger one is a 422, never a 500 from SQLite
# (which stores at most 2**63 - 1).
MIN_YEAR: Final = 1000
MAX_YEAR: Final = 3000
MAX_VERSION: Final = 1_000_000
MAX_OFFSET: Final = 1_000_000_000


def parse_audience(value: str | None) -> Audience:
    """A known audience, else ``clinician`` (an unknown value in a URL is not worth an error page)."""
    for name, _, _ in AUDIENCES:
        if value == name:
            return name
    return "clinician"


def for_audience(article: Article, audience: Audience) -> Article:
    """The stored clinician article worded for ``audience``, titled by its question (as the page shows it)."""
    return adapt(replace(article, title=article.question or article.title), audience)


def article_body(article: Article, audience: Audience) -> Markup:
    """The article's HTML for ``audience``; escaped by the renderer (see the module docstring)."""
    return body_html(for_audience(article, audience))


def body_html(shown: Article) -> Markup:
    """An article already worded for its reader, as HTML (escaped by the renderer)."""
    return Markup(render_html(shown, standalone=False))


def toc(article: Article) -> list[dict[str, str]]:
    """The contents list: anchors of the rendered sections (``sec-<key>``), in order."""
    return [{"href": f"#sec-{slug(s.key)}", "heading": s.heading} for s in article.sections]


def section_list(article: Article) -> list[ArticleSection]:
    """Top-level sections and their subsections, flattened (reviewers comment on each)."""
    out: list[ArticleSection] = []

    def walk(sections: tuple[ArticleSection, ...]) -> None:
        for s in sections:
            out.append(s)
            walk(s.subsections)

    walk(article.sections)
    return out


def hit_view(rank: int, hit: Hit) -> dict[str, Any]:
    doc = hit.document
    label = document_label(doc)
    return {
        "rank": rank,
        "id": doc.id,
        "title": doc.title,
        "journal": doc.journal,
        "year": doc.year,
        "kind": doc.kind,
        "label": label,
        "label_slug": slug(label),
        "retracted": doc.retracted,
        "link": pubmed_url(doc.pmid) or safe_url(doc.url),
        "text": hit.chunk.text[:400] + ("…" if len(hit.chunk.text) > 400 else ""),
        "section": hit.chunk.section,
        "span": {"start": hit.chunk.start, "end": hit.chunk.end},
        "scores": {
            "final": round(hit.score, 6),
            "bm25": None if hit.lexical is None else round(hit.lexical, 4),
            "dense": None if hit.dense is None else round(hit.dense, 4),
            "evidence": round(hit.evidence, 4),
        },
    }


def page_parts(
    cache: RenderCache, av: ArticleVersion, audience: Audience
) -> tuple[Markup, Markup, list[dict[str, str]]]:
    """``(title block, rest of the body, contents)`` of a version's page, cached: versions never change.

    The renderer's first ``</header>`` closes the title block (all text in it is
    escaped, so it cannot contain that tag): the page puts the review status
    line right under the title.
    """
    # The question is part of the key: reviewers read it as asked, everyone else under the title.
    key = ("page", av.article_id, str(av.version), av.content_hash, audience, av.article.question)
    found = cache.get(key)
    if found is not None:
        parts: tuple[Markup, Markup, list[dict[str, str]]] = found
        return parts
    shown = for_audience(av.article, audience)
    head, sep, rest = str(body_html(shown)).partition("</header>")
    parts = (Markup(head + sep), Markup(rest), toc(shown))
    cache.put(key, parts)
    return parts


def article_json(cache: RenderCache, av: ArticleVersion, audience: Audience) -> dict[str, Any]:
    """A version's article as JSON data worded for ``audience`` (cached like :func:`page_parts`)."""
    key = (
        "json",
        av.article_id,
        str(av.version),
        av.content_hash,
        audience,
        av.article.question,
        av.created_by,
    )
    found = cache.get(key)
    if found is not None:
        data: dict[str, Any] = found
        return data
    data = article_to_dict(av.article if audience == "clinician" else adapt(av.article, audience))
    cache.put(key, data)
    return data
