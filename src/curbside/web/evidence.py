"""What a reviewer needs to check a claim without a shell: its cited passage in context, and the record.

For each claim of a version the review page shows every citation as the quoted
span highlighted inside its sentence (with a sentence either side, never across
an abstract section), and links to ``/records/{id}?hl=...``: the record's page
with the cited spans highlighted in its title or abstract.  Spans travel in the
URL (``hl=body:120-250``), so a record page needs no access to the article and
shows only what the store already publishes on search pages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from curbside.ingestion.chunking import split_sentences
from curbside.ingestion.screening import describe, screen_document
from curbside.render.common import pubmed_url, safe_url
from curbside.retrieval.evidence import document_label
from curbside.types import SECTION_SEPARATOR, Article, Citation, Claim, Document

#: Sentences shown on each side of a quoted span.
CONTEXT_SENTENCES: Final = 1
_SPAN = re.compile(r"^(body|title):(\d{1,7})-(\d{1,7})$")


@dataclass(frozen=True)
class Segment:
    """A run of text, highlighted or not (templates escape it; ``<mark>`` wraps the highlighted)."""

    text: str
    marked: bool = False


@dataclass(frozen=True)
class Span:
    part: str  # "body" or "title"
    start: int
    end: int

    @property
    def param(self) -> str:
        return f"{self.part}:{self.start}-{self.end}"


def parse_spans(values: Iterable[str]) -> list[Span]:
    """``hl`` query values (``body:120-250``, ``title:0-40``); malformed or empty ones are ignored."""
    spans = []
    for value in values:
        match = _SPAN.match(value)
        if match and int(match.group(2)) < int(match.group(3)):
            spans.append(Span(match.group(1), int(match.group(2)), int(match.group(3))))
    return spans


def highlight(text: str, spans: Sequence[tuple[int, int]], offset: int = 0) -> list[Segment]:
    """``text`` (which starts at ``offset`` of the indexed string) cut into plain and marked segments."""
    cuts = sorted((max(0, s - offset), min(len(text), e - offset)) for s, e in spans)
    out: list[Segment] = []
    at = 0
    for start, end in cuts:
        if end <= at or start >= len(text):
            continue
        start = max(start, at)
        if start > at:
            out.append(Segment(text[at:start]))
        out.append(Segment(text[start:end], marked=True))
        at = end
    if at < len(text):
        out.append(Segment(text[at:]))
    return out


def _section_bounds(doc: Document, position: int) -> tuple[int, int, str]:
    """``(start, end, label)`` in :attr:`Document.body` of the section holding ``position``."""
    start = 0
    for section in doc.sections:
        end = start + len(section.text)
        if position <= end:
            return start, end, section.label
        start = end + len(SECTION_SEPARATOR)
    return 0, len(doc.body), ""


def passage(doc: Document, citation: Citation) -> dict[str, Any]:
    """The cited span inside its sentence and one either side, as segments, with its section label."""
    if citation.part == "title":
        return {
            "label": "Title",
            "segments": highlight(doc.title, [(citation.start, citation.end)]),
            "cut": False,
        }
    body = doc.body
    first, last, label = _section_bounds(doc, citation.start)
    text = body[first:last]
    sentences = split_sentences(text)
    inside = [
        i for i, (s, e) in enumerate(sentences) if s + first < citation.end and e + first > citation.start
    ]
    if not inside:  # the quote no longer lies in this text: show it alone rather than nothing
        return {"label": label, "segments": [Segment(citation.quote, marked=True)], "cut": True}
    lo = max(0, inside[0] - CONTEXT_SENTENCES)
    hi = min(len(sentences) - 1, inside[-1] + CONTEXT_SENTENCES)
    start, end = sentences[lo][0], sentences[hi][1]
    segments = highlight(text[start:end], [(citation.start, citation.end)], offset=first + start)
    return {"label": label, "segments": segments, "cut": lo > 0 or hi < len(sentences) - 1}


def claim_evidence(article: Article, documents: Mapping[str, Document]) -> list[dict[str, Any]]:
    """Every claim of ``article`` (bottom line, sections, removed) with each citation's passage and record link."""
    rows: list[tuple[str, Claim]] = [("Bottom line", c) for c in article.bottom_line]

    def walk(sections: Sequence[Any]) -> None:
        for section in sections:
            rows.extend((section.heading, c) for c in section.claims)
            walk(section.subsections)

    walk(article.sections)
    rows.extend(("Removed", c) for c in article.removed_claims)
    numbers = {r.document_id: r.number for r in article.references}
    out = []
    for where, claim in rows:
        cites = []
        for cit in claim.citations:
            doc = documents.get(cit.document_id)
            span = Span(cit.part, cit.start, cit.end)
            cites.append(
                {
                    "number": numbers.get(cit.document_id),
                    "document_id": cit.document_id,
                    "title": doc.title if doc else cit.document_id,
                    "label": document_label(doc) if doc else "",
                    "year": doc.year if doc else None,
                    "record_url": f"/records/{cit.document_id}?hl={span.param}",
                    "passage": passage(doc, cit)
                    if doc
                    else {"label": "", "segments": [Segment(cit.quote, marked=True)], "cut": True},
                    "missing": doc is None,
                }
            )
        out.append(
            {
                "where": where,
                "text": claim.text,
                "verdict": claim.verdict,
                "support": round(claim.support, 2),
                "note": claim.note,
                "citations": cites,
            }
        )
    return out


def cited_documents(article: Article) -> list[str]:
    """Ids of every document the article's claims cite, removed claims included, in first-cited order."""
    seen: dict[str, None] = {}
    for claim in (*article.all_claims(), *article.removed_claims):
        for cit in claim.citations:
            seen.setdefault(cit.document_id)
    return list(seen)


def record_view(doc: Document, spans: Sequence[Span]) -> dict[str, Any]:
    """A record's page: metadata, MeSH, and its title and abstract with ``spans`` highlighted."""
    body_spans = [(s.start, s.end) for s in spans if s.part == "body"]
    sections = []
    at = 0
    for section in doc.sections:
        sections.append({"label": section.label, "segments": highlight(section.text, body_spans, offset=at)})
        at += len(section.text) + len(SECTION_SEPARATOR)
    return {
        "id": doc.id,
        "title_segments": highlight(doc.title, [(s.start, s.end) for s in spans if s.part == "title"]),
        "title": doc.title,
        "journal": doc.journal,
        "year": doc.year,
        "label": document_label(doc),
        "publication_types": list(doc.publication_types),
        "mesh": [str(m) for m in doc.mesh],
        "sections": sections,
        "retracted": doc.retracted,
        "link": pubmed_url(doc.pmid) or safe_url(doc.url),
        "pmid": doc.pmid,
        "highlighted": len(spans),
        "flagged": describe(screen_document(doc)),
    }
