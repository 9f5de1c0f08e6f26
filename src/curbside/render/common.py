"""Helpers every renderer shares: audience preparation, citation labels, safe links, footers."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from typing import Final

from curbside.answer.base import reference_numbers
from curbside.types import Article, Audience, Claim

#: Shown once, after the sections, when any claim is only partially supported.
PARTIAL_NOTE: Final = "Partially supported: the cited passage supports only part of this statement."
PARTIAL_MARK: Final = "†"
#: Shown in the reference list next to a record cited only by its title (it has no abstract).
TITLE_ONLY_NOTE: Final = "Title only: no abstract; cited by its title"
PUBMED_URL: Final = "https://pubmed.ncbi.nlm.nih.gov/{}/"
DOI_URL: Final = "https://doi.org/{}"
_SLUG: Final = re.compile(r"[^a-z0-9]+")


def prepare(article: Article, audience: Audience | None) -> Article:
    """The article worded for ``audience`` (``None``: as it is)."""
    if audience is None or audience == article.audience:
        return article
    from curbside.answer.audience import adapt  # deferred: only audience rendering needs the data files

    return adapt(article, audience)


def citation_labels(claim: Claim, numbers: Mapping[str, int]) -> list[str]:
    """Reference numbers a claim cites, in ascending order, as strings.

    A document with no reference number (a draft that :func:`~curbside.answer.base.finalize`
    has not numbered yet) is shown by its id rather than dropped, so nothing is cited invisibly.
    """
    nums = sorted({numbers[d] for d in claim.document_ids if d in numbers})
    return [str(n) for n in nums] + [d for d in claim.document_ids if d not in numbers]


def split_final_stop(text: str) -> tuple[str, str]:
    """``("Text", ".")`` for ``"Text."``: citation markers go before the full stop, as in print references."""
    if text.endswith((".", "!", "?")) and not text.endswith(("..", "...")):
        return text[:-1], text[-1]
    if text[-1:].isalnum() or text.endswith(")"):
        # A quote whose source sentence ends without a stop (a chunk's last words, a heading) still
        # ends its sentence in the article: "... essential aminoacids [2]. In oedematous cases ...".
        return text, "."
    return text, ""


def title_only_documents(article: Article) -> frozenset[str]:
    """Ids of documents the article cites only by their title (``Citation.part == "title"``)."""
    parts: dict[str, set[str]] = {}
    for claim in article.all_claims():
        for cit in claim.citations:
            parts.setdefault(cit.document_id, set()).add(cit.part)
    return frozenset(doc_id for doc_id, found in parts.items() if found == {"title"})


def numbers_for(article: Article) -> dict[str, int]:
    return reference_numbers(article)


def has_partial(article: Article) -> bool:
    return any(c.verdict == "partial" for c in article.all_claims())


def pubmed_url(pmid: str | None) -> str | None:
    """The PubMed page of ``pmid``; ``None`` unless it is all digits (never build a link from junk)."""
    if pmid and pmid.isdigit():
        return PUBMED_URL.format(pmid)
    return None


def doi_url(doi: str | None) -> str | None:
    if not doi or not doi.startswith("10."):
        return None
    # Brackets are encoded too, so the link can stand bare inside "(...)" in Markdown.
    return DOI_URL.format(urllib.parse.quote(doi, safe="/:;._-"))


def safe_url(url: str | None) -> str | None:
    """``url`` if it is an http(s) URL, else ``None`` (a ``javascript:`` URL must never become a link)."""
    if not url:
        return None
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme.lower() in ("http", "https") and parsed.netloc:
        return url.strip()
    return None


def slug(text: str) -> str:
    """A CSS/HTML-id-safe name: lowercase letters, digits and hyphens."""
    return _SLUG.sub("-", text.lower()).strip("-") or "x"


def readability_line(article: Article) -> str | None:
    """ "Readability: ..." for patient and student articles that carry a readability score."""
    if article.audience not in ("patient", "student"):
        return None
    info = article.metadata.get("readability")
    if not isinstance(info, Mapping):
        return None
    ease, grade = info.get("flesch_reading_ease"), info.get("flesch_kincaid_grade")
    if not isinstance(ease, int | float) or not isinstance(grade, int | float):
        return None
    line = f"Readability: Flesch reading ease {ease:.0f}, Flesch-Kincaid grade {grade:.1f}"
    target = article.metadata.get("readability_target_grade")
    if isinstance(target, int | float) and grade > target:
        # Never claim plain language the text does not have: say why, and what the reader can do.
        return (
            f"{line}: harder than the grade {target:g} advised for patient information, because the cited "
            "sources are technical and their words are kept so each statement can be checked. "
            "Ask a doctor, nurse or pharmacist to explain anything unclear."
        )
    return f"{line} (written for {article.audience}s)."


def short_answer(article: Article) -> str | None:
    """``Short answer: yes (moderate confidence).`` for an article with a verdict."""
    if article.verdict is None:
        return None
    confidence = article.metadata.get("verdict_confidence")
    label = confidence.get("label") if isinstance(confidence, Mapping) else None
    return f"Short answer: {article.verdict}" + (f" ({label} confidence)." if label else ".")


def verification_line(article: Article) -> str | None:
    """How the claims fared, as two figures that never stand for each other, and what was removed."""
    info = article.metadata.get("verification")
    if not isinstance(info, Mapping) or not info.get("checked"):
        return None
    checked = int(info["checked"])
    parts = [f"Checked {checked} claim{'s' if checked != 1 else ''} against the passages they cite"]
    if isinstance(info.get("supported_in_context"), int) and isinstance(info.get("relevant"), int):
        parts.append(
            f"{info['supported_in_context']} supported in context, {info['relevant']} relevant to the question"
        )
    removed = len(article.removed_claims)
    if removed:
        parts.append(f"{removed} removed, each with its reason")
    return "; ".join(parts) + "."
