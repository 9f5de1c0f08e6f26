"""Cause categories: sentence words first, then the document's MeSH descriptors and qualifiers."""

from __future__ import annotations

import pytest

from curbside.answer.causes import (
    CAUSE_CATEGORIES,
    OTHER_CATEGORY,
    category_counts,
    category_noun,
    cause_category,
    document_categories,
    names_category,
)
from curbside.types import Document, MeshHeading, MeshQualifier


def doc(*mesh: MeshHeading) -> Document:
    return Document(id="pmid:1", title="", mesh=mesh)


def test_other_is_last_and_matches_nothing_itself() -> None:
    assert CAUSE_CATEGORIES[-1] is OTHER_CATEGORY
    assert OTHER_CATEGORY.words is None
    assert cause_category("Leukopenia was seen in 12 patients.") is OTHER_CATEGORY


def test_sentence_words_are_counted_per_category() -> None:
    counts = category_counts("Clozapine and methotrexate caused leukopenia; HIV infection did too.")
    assert counts["medications"] == 2
    assert counts["infections"] == 2  # "hiv", "infecti"
    assert counts["malignancy"] == 0


def test_drug_name_stems_are_medications() -> None:
    assert cause_category("Palbociclib is commonly associated with neutropenia.").key == "medications"
    assert cause_category("Rituximab-treated patients developed late-onset neutropenia.").key == "medications"


def test_mesh_qualifiers_weigh_in_when_the_sentence_names_no_cause() -> None:
    drugs = doc(MeshHeading("Leukopenia", major=True, qualifiers=(MeshQualifier("chemically induced"),)))
    assert document_categories(drugs)["medications"] == 4.0  # weight 2, doubled by the major topic
    assert cause_category("Counts recovered within two weeks.", drugs).key == "medications"
    virus = doc(MeshHeading("Leukopenia", qualifiers=(MeshQualifier("virology"),)))
    assert cause_category("Counts recovered within two weeks.", virus).key == "infections"


def test_a_named_cause_is_more_than_its_category() -> None:
    drugs = next(c for c in CAUSE_CATEGORIES if c.key == "medications")
    cancer = next(c for c in CAUSE_CATEGORIES if c.key == "malignancy")
    assert names_category("adalimumab", drugs)
    assert names_category("viral vector COVID-19 vaccines", drugs)  # a vaccine is a medical product
    assert names_category("hairy cell leukemia", cancer)
    assert not names_category("hairy cell leukemia", drugs)
    assert category_noun("Vaccination") and category_noun("viruses") and category_noun("Neoplasms")
    assert not category_noun("adalimumab")


def test_a_vaccine_is_the_cause_and_the_immune_words_its_mechanism() -> None:
    text = (
        "Adenoviral-vectored DNA vaccines may rarely exhibit autoimmunity with autoantibodies to platelet "
        "factor-4 that is termed vaccine-induced thrombotic thrombocytopenia."
    )
    assert cause_category(text).key == "medications"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        # Renal failure is a feature of these syndromes, not their cause: a microangiopathy, and a form
        # of idiopathic multicentric Castleman disease (iMCD), an inflammatory disorder.
        (
            "Hemolytic uremic syndrome (HUS) is characterized by hemolytic anemia, thrombocytopenia, and acute "
            "renal failure, usually in children under 10 years of age.",
            "microangiopathy",
        ),
        (
            "Thrombocytopenia, anasarca, fever, reticulin fibrosis/renal failure, and organomegaly comprise "
            "TAFRO syndrome, which was proposed as a distinct clinical entity from iMCD without TAFRO syndrome.",
            "autoimmune",
        ),
        ("Uremic patients on dialysis often have thrombocytopenia.", "kidney"),
        ("Chronic renal failure lowers the platelet count.", "kidney"),
    ],
)
def test_a_syndrome_naming_renal_failure_is_not_kidney_disease(text: str, key: str) -> None:
    assert cause_category(text).key == key
