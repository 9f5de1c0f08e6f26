"""Composed bottom lines, coverage after verification, and the parts of a lead (curbside.answer.bottomline)."""

from __future__ import annotations

from dataclasses import replace

from curbside.answer.bottomline import (
    compose_harms,
    compose_list,
    compose_members,
    coverage_warning,
    names_no_harm,
    refresh_coverage,
)
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


def small_vocabulary() -> Vocabulary:
    v = Vocabulary()
    for name in (
        "Shock",
        "Arthritis",
        "Skin",
        "Necrosis",
        "Neutropenia",
        "Meningococcal Infections",
        "Clozapine",
    ):
        v.add(name)
    v.add("Seizures", synonyms=["convulsions", "convulsion"])
    v.add("Meningococcal Vaccines", synonyms=["meningococcal vaccine"])
    return v


def harms_of_one(intent: str, subject: str, asked: str, text: str) -> Claim | None:
    """The composed harms of a section holding one claim, ``text``, from one record."""
    record = Document("pmid:1", f"Harms of {subject}", (Section(text),))
    key = "adverse-effects" if intent == "adverse_effects" else "complications"
    section = ArticleSection(key, key.capitalize(), (claim(record.id, text),))
    return compose_harms(
        intent, subject, [section], {record.id: record}, small_vocabulary(), frozenset({asked})
    )


def test_the_items_of_a_counted_list_are_named_as_harms() -> None:
    text = (
        "Shock (18.85%) and intravascular coagulation (12%) were the complications more frequently found, "
        "followed by convulsions (4.81%), arthritis (4.81%) and skin necrosis (4.81%)."
    )
    composed = harms_of_one("complications", "meningococcal infection", "meningococcal infections", text)
    assert composed is not None
    assert composed.text == (
        "Reported complications of meningococcal infection in the retrieved sources include shock, "
        "intravascular coagulation, seizures and arthritis."
    )
    # Counted in patients, with an aside in parentheses between the harm and its count.
    text = (
        "Out of a total of 12 patients, neutropenia (800 and 1120) occurred in two patients, convulsion in one "
        "patient, marked withdrawal effects in three patients and shock with arthritis in one patient."
    )
    composed = harms_of_one("adverse_effects", "clozapine", "clozapine", text)
    assert composed is not None
    assert composed.text.endswith(
        "include neutropenia, seizures, marked withdrawal effects and shock with arthritis."
    )


def test_a_sentence_naming_only_the_subject_and_a_vaccine_names_no_harm() -> None:
    v, asked = small_vocabulary(), frozenset({"meningococcal infections"})
    assert names_no_harm(
        "Only one possible case of meningococcal infection occurred among 520 contacts vaccinated with "
        "meningococcal vaccine.",
        v,
        asked,
    )
    assert not names_no_harm("Shock was the most frequent complication of meningococcal infection.", v, asked)
    # A sentence naming nothing the vocabulary knows is not judged.
    assert not names_no_harm("Purpura fulminans led to amputation in two children.", v, asked)


def test_a_list_of_a_class_names_the_members_its_claims_list() -> None:
    v = Vocabulary()
    for name in ("Amino Acids, Essential", "Leucine", "Isoleucine", "Valine", "Lysine", "Methionine", "Rats"):
        v.add(name)
    forms = frozenset({"essential amino acids", "essential amino acid"})
    claims = (
        claim("pmid:1", "In rats, leucine, isoleucine and valine are essential aminoacids."),
        claim("pmid:2", "Essential aminoacids methionine and lysine can be found in lower amounts."),
        claim("pmid:3", "Lysine supplements were given to rats."),  # names a member, but lists none
    )
    sections = [ArticleSection("key-findings", "Key findings", claims)]
    composed = compose_members(
        "essential aminoacids", sections, forms, v, frozenset({"amino acids, essential"})
    )
    assert composed is not None and composed.category == SUMMARY_CATEGORY
    assert composed.text == (
        "The retrieved sources name leucine, isoleucine, valine, methionine and lysine as essential aminoacids."
    )
    assert {c.document_id for c in composed.citations} == {"pmid:1", "pmid:2"}
    one = [ArticleSection("key-findings", "Key findings", (claims[1],))]
    assert compose_members("essential aminoacids", one, forms, v, frozenset()) is not None  # two members
    assert compose_members("essential aminoacids", [], forms, v, frozenset()) is None
    warning = coverage_warning("members", "essential aminoacids", sections)
    assert warning is not None and "may not be complete" in warning.message
    empty = coverage_warning("members", "essential aminoacids", [])
    assert empty is not None and "no retrieved source names essential aminoacids" in empty.message
