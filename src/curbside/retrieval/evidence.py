"""Evidence weighting: how much a document's design and age should count when ranking and citing.

The weight multiplies retrieval scores and orders references, so it must be a
small, explainable function of facts every source provides: the document kind,
its publication types, its year and its retraction flag.

Levels (:data:`EVIDENCE_LEVELS`) follow the usual evidence pyramid with two
deliberate choices for a clinical-answer engine:

* Guidelines sit at the top (1.0), above meta-analyses (0.9): a guideline has
  already weighed the trials *and* turned them into a recommendation, which is
  what a clinician asking a question at the bedside needs.
* Narrative reviews (0.65) sit above single primary studies (0.55).  By design
  alone a cohort study outranks a narrative review, but a review summarises many
  studies and states the generalisable answer; a single cohort answers one
  narrow question.  RCTs (0.8) and non-randomised trials (0.6) still outrank reviews
  on the questions they address, because their abstracts state effect sizes.
* ``other`` (0.3) is a little above editorials (0.25): an unknown type is more
  often a primary report that lost its metadata than an opinion piece, while
  editorials, comments and letters are opinion by definition.

Recency is a half-life decay (:func:`recency_factor`) that can cost at most
:data:`RECENCY_SHARE` of the weight, so a ten-year-old meta-analysis is not
buried under this year's case report.  Retracted documents weigh 0.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final

from curbside.datafiles import load_data, rules_of
from curbside.errors import InputError
from curbside.types import Document

_RULES: Final = load_data("evidence_levels.json", "evidence levels", rules_of("labels", "pubtype_category"))
#: Weight of each evidence category, from the document kind (``DocumentKind``) plus ``trial``.
EVIDENCE_LEVELS: Final[Mapping[str, float]] = MappingProxyType(
    {
        "guideline": 1.0,
        "meta-analysis": 0.9,
        "systematic-review": 0.9,
        "rct": 0.8,
        "review": 0.65,
        "trial": 0.6,  # a clinical trial that is not (known to be) randomised
        "research": 0.55,  # cohort, case-control, cross-sectional, other observational or lab work
        "case-report": 0.35,
        "other": 0.3,
        "editorial": 0.25,
    }
)

#: Display label of each category, used in reference lists.
_LABELS: Final[Mapping[str, str]] = MappingProxyType(dict(_RULES["labels"]))

# PubMed publication types (lowercased) -> category.  Exact names, because substring
# matching would turn "Review of Reported Cases" or "Retraction of Publication" into
# something they are not.
_PUBTYPE_CATEGORY: Final[Mapping[str, str]] = MappingProxyType(dict(_RULES["pubtype_category"]))

#: Kinds that say nothing specific about design: publication types may move them down as well as up.
_UNSPECIFIC_KINDS: Final = frozenset({"research", "other"})

#: Weight of a document whose year is unknown (about four years old at the default half-life).
MISSING_YEAR_FACTOR: Final = 0.8

#: Largest share of the weight that age can take away (see :func:`evidence_weight`).
RECENCY_SHARE: Final = 0.4


def _pubtype_category(pubtype: str) -> str | None:
    name = pubtype.strip().lower()
    category = _PUBTYPE_CATEGORY.get(name)
    if category is None and name.startswith("clinical trial, phase"):
        category = "trial"
    return category


def evidence_category(kind: str, publication_types: Sequence[str]) -> str:
    """The evidence category (a key of :data:`EVIDENCE_LEVELS`) of a document.

    A specific ``kind`` (``guideline``, ``rct``, ``review``...) can only be
    upgraded by publication types: a review also typed "Systematic Review" is a
    systematic review.  The unspecific kinds ``research`` and ``other`` take the
    best category their publication types name, up *or* down: a ``research``
    record typed "Case Reports" is a case report.
    """
    base = kind if kind in EVIDENCE_LEVELS else "other"
    found = [c for c in (_pubtype_category(p) for p in publication_types) if c is not None]
    if not found:
        return base
    best = max(found, key=EVIDENCE_LEVELS.__getitem__)
    if base in _UNSPECIFIC_KINDS:
        return best
    return best if EVIDENCE_LEVELS[best] > EVIDENCE_LEVELS[base] else base


def evidence_level(kind: str, publication_types: Sequence[str]) -> float:
    """The design weight in (0, 1] of a document (see :func:`evidence_category`)."""
    return EVIDENCE_LEVELS[evidence_category(kind, publication_types)]


def evidence_label(kind: str, publication_types: Sequence[str]) -> str:
    """The design as shown in reference lists: ``Guideline``, ``Meta-analysis``, ``RCT``, ``Research``..."""
    return _LABELS[evidence_category(kind, publication_types)]


def animal_only(doc: Document) -> bool:
    """A study of animals only: MeSH "Animals" without "Humans" (NLM's check tags)."""
    descriptors = {h.descriptor for h in doc.mesh}
    return "Animals" in descriptors and "Humans" not in descriptors


def document_label(doc: Document) -> str:
    """:func:`evidence_label` of ``doc``, with primary research on animals only shown as ``Animal study``.

    A clinician weighs a sheep or mouse finding differently from a human one, so the reference
    list says which it is rather than calling both "Research".
    """
    label = evidence_label(doc.kind, doc.publication_types)
    return "Animal study" if label == "Research" and animal_only(doc) else label


def recency_factor(year: int | None, *, now_year: int | None = None, half_life: float = 12.0) -> float:
    """A factor in (0, 1] that halves every ``half_life`` years of age.

    Documents from this year or later (pre-prints dated ahead) get 1.0; a
    missing year gets :data:`MISSING_YEAR_FACTOR` rather than a penalty, since
    guidelines and web sources often carry no year.
    """
    if half_life <= 0:
        raise InputError(f"recency half-life must be a positive number of years, got {half_life}")
    if year is None:
        return MISSING_YEAR_FACTOR
    now = now_year if now_year is not None else _dt.date.today().year
    age = max(0, now - year)
    # 0.5 ** (age / half_life) underflows to 0.0 only for absurd ages; keep the result in (0, 1].
    factor: float = 0.5 ** (age / half_life)
    return max(factor, 1e-9)


def evidence_weight(
    doc_kind: str,
    pubtypes: Sequence[str],
    year: int | None,
    retracted: bool,
    *,
    now_year: int | None = None,
    half_life: float = 12.0,
) -> float:
    """Design level times a recency term; 0.0 for a retracted document.

    ``level * (1 - RECENCY_SHARE + RECENCY_SHARE * recency)``: age can lower the
    weight by at most 40 %, so the design still dominates (a 20-year-old
    guideline at 0.72 beats a new cohort study at 0.55).
    """
    if retracted:
        return 0.0
    recency = recency_factor(year, now_year=now_year, half_life=half_life)
    return evidence_level(doc_kind, pubtypes) * (1.0 - RECENCY_SHARE + RECENCY_SHARE * recency)


def document_weight(doc: Document, *, now_year: int | None = None) -> float:
    """:func:`evidence_weight` of a :class:`~curbside.types.Document`."""
    return evidence_weight(doc.kind, doc.publication_types, doc.year, doc.retracted, now_year=now_year)
