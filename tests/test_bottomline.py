"""Composed bottom lines, coverage after verification, and the parts of a lead (curbside.answer.bottomline)."""

from __future__ import annotations

from dataclasses import replace

from curbside.answer.bottomline import compose_harms, compose_list, refresh_coverage
from curbside.answer.sentences import SUMMARY_CATEGORY
from curbside.retrieval.vocabulary import Vocabulary
from curbside.types import (
    Article,
    ArticleSection,
    ArticleWarning,
    Citation,
    Claim,
    Document,
    MeshHeading,
    MeshQualifier,
    Section,
)


def claim(doc_id: str, text: str, category: str = "") -> Claim:
    return Claim(text, (Citation(doc_id, 0, len(text), text),), category=category)


def test_a_composed_list_keeps_labels_that_hold_an_and_apart() -> None:
    two = [
        ("Medications and toxins (levamisole)", [claim("pmid:1", "a")]),
        ("Infections", [claim("pmid:2", "b")]),
    ]
    composed = compose_list("causes", "Leukopenia", two)
    assert composed is not None and composed.category == SUMMARY_CATEGORY
    assert composed.text == (
        "Reported causes of leukopenia in the retrieved sources include medications and toxins (levamisole); "
        "and infections."
    )
    plain = compose_list(
        "causes", "Leukopenia", [("Infections", [claim("pmid:1", "a")]), ("Sepsis", [claim("pmid:2", "b")])]
    )
    assert plain is not None and plain.text.endswith("include infections and sepsis.")
    assert compose_list("causes", "Leukopenia", [("Infections", [])]) is None


def test_a_harm_worded_otherwise_than_mesh_is_named_in_the_claims_words() -> None:
    text = "Two patients receiving clozapine developed grand mal seizures."
    record = Document(
        "pmid:412427",
        "Clozapine plasma levels and convulsions",
        (Section(text),),
        mesh=(
            MeshHeading("Humans", "", False, ()),
            MeshHeading("Clozapine", "", False, (MeshQualifier("adverse effects", "", False),)),
            MeshHeading(
                "Epilepsy, Tonic-Clonic", "", False, (MeshQualifier("chemically induced", "", False),)
            ),
        ),
    )
    harms = ArticleSection("adverse-effects", "Adverse effects", (claim(record.id, text),))
    composed = compose_harms(
        "adverse_effects",
        "Clozapine",
        [harms],
        {record.id: record},
        Vocabulary.builtin(),
        frozenset({"clozapine"}),
    )
    assert composed is not None
    assert composed.text == "Reported adverse effects of clozapine in the retrieved sources include seizures."
    assert [c.document_id for c in composed.citations] == [record.id]


def test_coverage_is_said_again_from_what_the_verifier_kept() -> None:
    meds = ArticleSection(
        "causes-medications", "Medications and toxins", (claim("pmid:1", "x", "Medications and toxins"),)
    )
    tumours = ArticleSection(
        "causes-malignancy", "Malignancy and marrow infiltration", ()
    )  # its claim was removed
    causes = ArticleSection("causes", "Causes", (), subsections=(meds, tumours))
    stale = ArticleWarning(
        "partial-evidence",
        "Evidence covers part of the question: ... (medications and toxins; malignancy ...).",
    )
    article = Article(
        question="What are the causes of leukopenia?",
        qtype="causes",
        title="Causes of Leukopenia",
        bottom_line=(),
        sections=(causes,),
        warnings=(stale, ArticleWarning("claims-removed", "1 draft claim was removed.")),
        metadata={"coverage": {"intent": "causes", "subject": "Leukopenia"}},
    )
    fresh = refresh_coverage(article)
    codes = [w.code for w in fresh.warnings]
    assert codes == ["partial-evidence", "claims-removed"]
    assert "1 category only (medications and toxins)" in fresh.warnings[0].message
    assert "malignancy" not in fresh.warnings[0].message
    # Not marked by the synthesizer (a language model's article): left as it is.
    unmarked = replace(article, metadata={})
    assert refresh_coverage(unmarked) is unmarked
