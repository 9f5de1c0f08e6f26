"""Cause categories for causes articles: what puts a sentence or a document under "Medications".

Rules are data (``data/cause_categories.json``), so a reviewer can read why a cause is listed
where it is: each :class:`CauseCategory` has MeSH descriptor fragments, MeSH qualifier
weights ("chemically induced", "virology") and words matched in the sentence
itself.  :func:`cause_category` tries the sentence's words first and the
document's MeSH second.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Final

from curbside.answer.sentences import cues
from curbside.datafiles import load_data
from curbside.types import Document

__all__ = [
    "AGENT_QUALIFIERS",
    "CAUSE_CATEGORIES",
    "OTHER_CATEGORY",
    "OVERVIEW_CATEGORIES",
    "CauseCategory",
    "category_counts",
    "category_noun",
    "cause_category",
    "document_categories",
    "names_category",
]


@dataclass(frozen=True, slots=True)
class CauseCategory:
    """A group of causes and what puts a sentence or a document in it.

    ``mesh`` holds lowercase fragments of MeSH descriptor names; ``qualifiers``
    gives the weight a MeSH qualifier adds; ``words`` is matched against the
    sentence itself.
    """

    key: str
    label: str
    mesh: tuple[str, ...]
    qualifiers: tuple[tuple[str, float], ...]
    words: re.Pattern[str] | None


def _build(
    data: Any,
) -> tuple[tuple[CauseCategory, ...], re.Pattern[str], int, frozenset[str], frozenset[str]]:
    categories = tuple(
        CauseCategory(
            c["key"],
            c["label"],
            tuple(c["mesh"]),
            tuple((name, float(weight)) for name, weight in c["qualifiers"].items()),
            cues(*c["words"]) if c["words"] else None,
        )
        for c in data["categories"]
    )
    if not categories or categories[-1].words is not None:
        raise ValueError("the last category must be the fallback, with no words")
    nouns = frozenset(n.lower() for n in data["category_nouns"])
    agents = frozenset(q.lower() for q in data["agent_qualifiers"])
    return categories, cues(*data["vaccine"]), int(data["overview"]), nouns, agents


_CATEGORIES, _VACCINE, _OVERVIEW, _CATEGORY_NOUNS, _AGENTS = load_data(
    "cause_categories.json", "cause categories", _build
)
#: Cause categories in display order; "other" is the fallback and matches nothing itself.
CAUSE_CATEGORIES: Final = _CATEGORIES
OTHER_CATEGORY: Final = CAUSE_CATEGORIES[-1]
#: A sentence naming this many categories is an overview ("infections, drugs and malignancy...").
OVERVIEW_CATEGORIES: Final = _OVERVIEW
#: MeSH qualifiers that make a heading the agent of a harm ("Vidarabine/adverse effects").
AGENT_QUALIFIERS: Final = _AGENTS


def document_categories(doc: Document) -> dict[str, float]:
    """Category -> weight from MeSH descriptors and qualifiers; a major topic counts double."""
    scores: dict[str, float] = {}
    for heading in doc.mesh:
        name = heading.descriptor.lower()
        major = 2.0 if heading.major else 1.0
        for cat in CAUSE_CATEGORIES:
            if any(fragment in name for fragment in cat.mesh):
                scores[cat.key] = scores.get(cat.key, 0.0) + major
            for qualifier in heading.qualifiers:
                for wanted, weight in cat.qualifiers:
                    if qualifier.name.lower() == wanted:
                        boost = 2.0 if qualifier.major or heading.major else 1.0
                        scores[cat.key] = scores.get(cat.key, 0.0) + weight * boost
    return scores


def category_counts(text: str) -> dict[str, int]:
    """Distinct category words in ``text``, per category (a vaccine makes it a medication, never the
    infection it is named after, nor the immune mechanism it triggers)."""
    counts = {
        c.key: len({m.group().lower() for m in c.words.finditer(text)}) for c in CAUSE_CATEGORIES if c.words
    }
    if _VACCINE.search(text):
        # The vaccine is the cause; immune words name its mechanism ("adenoviral-vectored vaccines
        # ... exhibit autoimmunity with autoantibodies to platelet factor-4").
        counts["infections"] = 0
        counts["medications"] = max(counts.values(), default=0) + 1
    return counts


def names_category(name: str, category: CauseCategory) -> bool:
    """Whether ``name`` (a concept as a sentence writes it, or its MeSH name) is a cause of
    ``category`` in its own words ("adalimumab", "hairy cell leukemia")."""
    if category.key == "medications" and _VACCINE.search(name):
        return True
    return category.words is not None and category.words.search(name) is not None


def category_noun(name: str) -> bool:
    """Whether ``name`` says no more than a cause category does ("viruses", "vaccination")."""
    return name.lower() in _CATEGORY_NOUNS


def cause_category(
    text: str, doc: Document | None = None, *, doc_scores: dict[str, float] | None = None
) -> CauseCategory:
    """The category of a cause sentence: its own words first, then its document's MeSH.

    A sentence naming one category's terms more often than any other's goes
    there; a tie goes to the category its document's MeSH favours, then to
    table order.  A sentence naming none takes its document's strongest MeSH
    category, else "Other".  ``doc_scores`` lets a caller reuse the MeSH scores.
    """
    counts = category_counts(text)
    scores = doc_scores if doc_scores is not None else (document_categories(doc) if doc is not None else {})
    best = max(counts.values(), default=0)
    if best > 0:
        tied = [c for c in CAUSE_CATEGORIES if counts.get(c.key, 0) == best]
        return max(tied, key=lambda c: scores.get(c.key, 0.0))  # max keeps the first of equals
    if scores:
        top = max(scores.values())
        return next(c for c in CAUSE_CATEGORIES if scores.get(c.key, 0.0) == top)
    return OTHER_CATEGORY
