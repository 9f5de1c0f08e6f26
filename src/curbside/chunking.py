"""Section-aware chunking and sentence splitting.

Chunks are spans of :attr:`Document.body` (``body[start:end] == text``) so that
a citation can point at the exact passage it relies on.  A chunk merges
neighbouring short sections (a structured abstract's METHODS and RESULTS)
while it stays under the target size, and splits a long section on sentence
boundaries; it never cuts a sentence unless one sentence alone exceeds the
hard limit.
"""

from __future__ import annotations

import re

from curbside.types import SECTION_SEPARATOR, Chunk, Document

# Tokens that end with a full stop without ending a sentence.
_ABBREVIATIONS = frozenset(
    [
        "e.g",
        "i.e",
        "et",
        "al",
        "vs",
        "fig",
        "figs",
        "ref",
        "refs",
        "no",
        "nos",
        "approx",
        "ca",
        "cf",
        "dr",
        "mr",
        "mrs",
        "ms",
        "prof",
        "st",
        "vol",
        "resp",
        "min",
        "max",
        "incl",
        "dept",
        "univ",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
    ]
)
_BOUNDARY = re.compile(r"[.!?][\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9])")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` of ``text``, trimmed of surrounding whitespace.

    Rule-based on purpose: abstracts are well punctuated, and a model-based
    splitter would cost more than everything else in ingest put together.
    """
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        end = m.start() + 1
        word = text[max(start, end - 12) : end - 1].rsplit(None, 1)[-1:] or [""]
        token = word[0].lower().lstrip("(")
        # "et al." / "e.g." / a single initial ("J. Smith") / a decimal never end a sentence.
        if token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
            continue
        _append_span(text, start, end, spans)
        start = m.end()
    _append_span(text, start, len(text), spans)
    return spans


def _append_span(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> None:
    # Include closing quotes/brackets that follow the terminal punctuation.
    while end < len(text) and text[end] in "\"')]":
        end += 1
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if end > start:
        spans.append((start, end))


def chunk_document(doc: Document, *, target: int = 1500, hard_limit: int | None = None) -> list[Chunk]:
    """Split ``doc`` into chunks of about ``target`` characters.

    A document without any section text (a title-only record) gets one empty
    chunk labelled ``TITLE`` so that it is still findable by its title.
    """
    limit = hard_limit or target * 2
    pieces: list[tuple[int, int, str]] = []  # (start, end, section label) in body coordinates
    offset = 0
    for section in doc.sections:
        for s, e in split_sentences(section.text):
            pieces.extend(_cut(offset + s, offset + e, limit, section.label))
        offset += len(section.text) + len(SECTION_SEPARATOR)
    if not pieces:
        return [Chunk(doc.id, 0, "TITLE", 0, 0, "")]

    body = doc.body
    chunks: list[Chunk] = []
    cur_start, cur_end, labels = pieces[0][0], pieces[0][1], [pieces[0][2]]
    for start, end, label in pieces[1:]:
        if end - cur_start <= target:
            cur_end = end
            if label not in labels:
                labels.append(label)
            continue
        chunks.append(_make(doc.id, len(chunks), labels, cur_start, cur_end, body))
        cur_start, cur_end, labels = start, end, [label]
    chunks.append(_make(doc.id, len(chunks), labels, cur_start, cur_end, body))
    return chunks


def _cut(start: int, end: int, limit: int, label: str) -> list[tuple[int, int, str]]:
    """A sentence longer than the hard limit (a run-on table dump) is cut into pieces."""
    out = []
    while end - start > limit:
        out.append((start, start + limit, label))
        start += limit
    out.append((start, end, label))
    return out


def _make(doc_id: str, ordinal: int, labels: list[str], start: int, end: int, body: str) -> Chunk:
    section = "/".join(label for label in labels if label)
    return Chunk(doc_id, ordinal, section, start, end, body[start:end])
