"""Section-aware chunking and sentence splitting.

Chunks are spans of :attr:`Document.body` (``body[start:end] == text``) so that
a citation can point at the exact passage it relies on.  A chunk merges
neighbouring short sections (a structured abstract's METHODS and RESULTS)
while it stays under the target size, and splits a long section on sentence
boundaries; it never cuts a sentence unless one sentence alone exceeds the
hard limit.

Title-only records (no abstract; about a third of 1970s MEDLINE) get one
chunk labelled :data:`TITLE_SECTION` with no text and offsets ``0..0``: the
title is already indexed on every chunk (its own FTS column, and the embedding
input), so repeating it as chunk text would count it twice in ranking.  Such a
chunk is still citable: the synthesizer quotes the record's *title*, with a
:class:`~curbside.types.Citation` whose ``part`` is ``"title"`` and whose
offsets index :attr:`Document.title` (see :func:`title_span`).  Because the
stored chunk is unchanged, existing stores need no re-chunking.
"""

from __future__ import annotations

import re
from typing import Final

from curbside.datafiles import load_data, rules_of
from curbside.types import SECTION_SEPARATOR, Chunk, Document

_RULES: Final = load_data("abbreviations.json", "sentence-splitting abbreviations", rules_of("abbreviations"))
# Tokens that end with a full stop without ending a sentence.
_ABBREVIATIONS = frozenset(_RULES["abbreviations"])
#: Section label of the one chunk of a record without any section text.
TITLE_SECTION = "TITLE"
_TRANSLATED = re.compile(r"\s*\(author's transl\)", re.IGNORECASE)
# A sentence ends at terminal punctuation before a capital, or where a structured abstract's next
# label follows with no space at all ("...of variable intensity.AIM: To estimate ...").
_BOUNDARY = re.compile(r"[.!?][\"')\]]*(?:\s+(?=[\"'(\[]?[A-Z0-9])|(?=[A-Z][A-Z ]{2,}:))")


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


def is_title_chunk(chunk: Chunk) -> bool:
    """Whether ``chunk`` is the placeholder chunk of a title-only record."""
    return chunk.section == TITLE_SECTION and chunk.start == chunk.end == 0 and not chunk.text


def title_span(title: str) -> tuple[int, int]:
    """The citable span ``(start, end)`` of a title: without surrounding whitespace, the final full
    stop, or the brackets MEDLINE puts around a translated title ("[Agranulocytosis ... (author's
    transl)].").  ``(0, 0)`` for a title with no words."""
    start, end = 0, len(title)
    while start < end and title[start].isspace():
        start += 1
    while end > start and (title[end - 1].isspace() or title[end - 1] == "."):
        end -= 1
    if end - start >= 2 and title[start] == "[" and title[end - 1] == "]":
        start, end = start + 1, end - 1
        m = _TRANSLATED.search(title, start, end)
        if m is not None and m.end() == end:
            end = m.start()
        while end > start and title[end - 1] in " .":
            end -= 1
    if not any(ch.isalnum() for ch in title[start:end]):
        return (0, 0)
    return (start, end)


def chunk_document(doc: Document, *, target: int = 1500, hard_limit: int | None = None) -> list[Chunk]:
    """Split ``doc`` into chunks of about ``target`` characters.

    A document without any section text (a title-only record) gets one empty
    chunk labelled :data:`TITLE_SECTION` so that it is still findable by its title.
    """
    limit = hard_limit or target * 2
    pieces: list[tuple[int, int, str]] = []  # (start, end, section label) in body coordinates
    offset = 0
    for section in doc.sections:
        for s, e in split_sentences(section.text):
            pieces.extend(_cut(offset + s, offset + e, limit, section.label))
        offset += len(section.text) + len(SECTION_SEPARATOR)
    if not pieces:
        return [Chunk(doc.id, 0, TITLE_SECTION, 0, 0, "")]

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
