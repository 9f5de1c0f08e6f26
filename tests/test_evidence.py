"""Evidence levels, labels, recency and the combined weight."""

from __future__ import annotations

import datetime as dt

import pytest

from curbside.errors import InputError
from curbside.ingestion.sources.base import kind_from_publication_types
from curbside.retrieval.evidence import (
    EVIDENCE_LEVELS,
    MISSING_YEAR_FACTOR,
    document_label,
    document_weight,
    evidence_category,
    evidence_label,
    evidence_level,
    evidence_weight,
    recency_factor,
)
from curbside.types import Document, MeshHeading

NOW = 2025


def test_levels_follow_the_documented_order() -> None:
    order = [
        "guideline",
        "meta-analysis",
        "rct",
        "review",
        "trial",
        "research",
        "case-report",
        "other",
        "editorial",
    ]
    levels = [EVIDENCE_LEVELS[k] for k in order]
    assert levels == sorted(levels, reverse=True)
    assert len(set(levels)) == len(levels)
    assert EVIDENCE_LEVELS["meta-analysis"] == EVIDENCE_LEVELS["systematic-review"]
    assert all(0 < v <= 1 for v in EVIDENCE_LEVELS.values())


@pytest.mark.parametrize(
    ("kind", "pubtypes", "category"),
    [
        ("research", ["Journal Article", "Randomized Controlled Trial"], "rct"),
        ("research", ["Observational Study"], "research"),
        ("research", ["Clinical Trial, Phase III"], "trial"),
        ("research", ["Case Reports"], "case-report"),  # an unspecific kind follows its types down too
        ("other", ["Letter"], "editorial"),
        ("review", ["Review", "Systematic Review"], "systematic-review"),  # upgraded
        ("review", ["Review", "Meta-Analysis", "Systematic Review"], "meta-analysis"),
        ("rct", ["Clinical Trial"], "rct"),  # a specific kind is never downgraded
        ("guideline", ["Letter"], "guideline"),
        ("case-report", [], "case-report"),
        ("research", ["journal article", "COMPARATIVE STUDY"], "research"),
        ("blog-post", [], "other"),  # unknown kinds count as other
        ("research", ["Review of Reported Cases"], "research"),  # exact names only
    ],
)
def test_evidence_category(kind: str, pubtypes: list[str], category: str) -> None:
    assert evidence_category(kind, pubtypes) == category
    assert evidence_level(kind, pubtypes) == EVIDENCE_LEVELS[category]


@pytest.mark.parametrize(
    "pubtype",
    [
        "Practice Guideline",
        "Guideline",
        "Consensus Development Conference",
        "Meta-Analysis",
        "Systematic Review",
        "Randomized Controlled Trial",
        "Review",
        "Case Reports",
        "Editorial",
        "Comment",
        "Letter",
    ],
)
def test_agrees_with_the_kind_sources_assign(pubtype: str) -> None:
    """A MEDLINE record's kind and the evidence category of its types must not disagree."""
    kind = kind_from_publication_types([pubtype])
    assert evidence_category(kind, [pubtype]) == evidence_category("research", [pubtype]) == kind


@pytest.mark.parametrize(
    ("kind", "pubtypes", "label"),
    [
        ("guideline", [], "Guideline"),
        ("meta-analysis", [], "Meta-analysis"),
        ("systematic-review", [], "Systematic review"),
        ("rct", [], "RCT"),
        ("research", ["Randomized Controlled Trial"], "RCT"),
        ("review", [], "Review"),
        ("case-report", [], "Case report"),
        ("editorial", [], "Editorial"),
        ("research", [], "Research"),
        ("research", ["Clinical Trial"], "Research"),
        ("other", [], "Research"),
    ],
)
def test_evidence_label(kind: str, pubtypes: list[str], label: str) -> None:
    assert evidence_label(kind, pubtypes) == label


def test_recency_factor() -> None:
    assert recency_factor(NOW, now_year=NOW) == 1.0
    assert recency_factor(NOW + 1, now_year=NOW) == 1.0
    assert recency_factor(NOW - 12, now_year=NOW) == pytest.approx(0.5)
    assert recency_factor(NOW - 6, now_year=NOW, half_life=6) == pytest.approx(0.5)
    assert recency_factor(None, now_year=NOW) == MISSING_YEAR_FACTOR == 0.8
    years = [NOW - a for a in (0, 1, 5, 10, 30, 100)]
    factors = [recency_factor(y, now_year=NOW) for y in years]
    assert factors == sorted(factors, reverse=True)
    assert 0 < recency_factor(1, now_year=NOW) <= 1
    assert recency_factor(dt.date.today().year) == 1.0  # now_year defaults to this year
    with pytest.raises(InputError, match="half-life"):
        recency_factor(2000, half_life=0)


def test_evidence_weight() -> None:
    assert evidence_weight("guideline", [], NOW, True, now_year=NOW) == 0.0
    assert evidence_weight("guideline", [], NOW, False, now_year=NOW) == 1.0
    # Age costs at most 40 %: an old guideline still outranks a new cohort study...
    old_guideline = evidence_weight("guideline", [], NOW - 20, False, now_year=NOW)
    new_cohort = evidence_weight("research", ["Observational Study"], NOW, False, now_year=NOW)
    assert old_guideline > new_cohort
    assert evidence_weight("guideline", [], 1, False, now_year=NOW) == pytest.approx(0.6, abs=1e-6)
    # ...while between equals the newer wins.
    assert evidence_weight("rct", [], NOW - 1, False, now_year=NOW) > evidence_weight(
        "rct", [], NOW - 15, False, now_year=NOW
    )
    ranked = sorted(
        [
            ("case report", evidence_weight("case-report", [], NOW, False, now_year=NOW)),
            ("meta-analysis", evidence_weight("research", ["Meta-Analysis"], NOW - 3, False, now_year=NOW)),
            ("editorial", evidence_weight("editorial", [], NOW, False, now_year=NOW)),
            (
                "rct",
                evidence_weight("research", ["Randomized Controlled Trial"], NOW - 2, False, now_year=NOW),
            ),
            ("review", evidence_weight("review", [], None, False, now_year=NOW)),
            ("retracted rct", evidence_weight("rct", [], NOW, True, now_year=NOW)),
        ],
        key=lambda pair: -pair[1],
    )
    assert [name for name, _ in ranked] == [
        "meta-analysis",
        "rct",
        "review",
        "case report",
        "editorial",
        "retracted rct",
    ]


def test_document_weight() -> None:
    doc = Document(
        id="pmid:1", title="t", kind="research", year=NOW, publication_types=("Randomized Controlled Trial",)
    )
    assert document_weight(doc, now_year=NOW) == pytest.approx(EVIDENCE_LEVELS["rct"])
    retracted = Document(id="pmid:2", title="t", kind="rct", year=NOW, retracted=True)
    assert document_weight(retracted, now_year=NOW) == 0.0


def test_document_label_marks_research_on_animals_only() -> None:
    def doc(*descriptors: str, pubtype: str = "Journal Article") -> Document:
        return Document(
            id="pmid:1",
            title="T",
            publication_types=(pubtype,),
            mesh=tuple(MeshHeading(d) for d in descriptors),
        )

    assert document_label(doc("Animals", "Leukopenia")) == "Animal study"
    assert document_label(doc("Animals", "Humans", "Leukopenia")) == "Research"
    assert document_label(doc("Leukopenia")) == "Research"
    # Only primary research is relabelled: a review of animal work stays a review.
    assert document_label(doc("Animals", pubtype="Review")) == "Review"
