"""The extractive synthesizer: quotes only, exact spans, sections by question type, yes/no verdicts."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from curbside.answer.base import finalize
from curbside.answer.extractive import (
    CAUSE_CATEGORIES,
    SECTION_PLANS,
    ExtractiveSynthesizer,
    cause_category,
)
from curbside.answer.plans import INTENT_PLANS
from curbside.answer.polarity import sentence_polarity
from curbside.answer.sentences import SUMMARY_CATEGORY, candidate_sentences
from curbside.answer.verify import verify_article
from curbside.answer.yesno import assess_yesno
from curbside.errors import InputError
from curbside.ingestion.chunking import chunk_document
from curbside.registry import get_registry
from curbside.retrieval.evidence import document_weight
from curbside.retrieval.questions import Vocabulary, analyse
from curbside.types import (
    Article,
    ArticleSection,
    Chunk,
    Claim,
    Document,
    Hit,
    MeshHeading,
    MeshQualifier,
    Section,
)

VOCAB = (
    Vocabulary.builtin()
)  # not the default: results must not depend on whether shared MeSH data is present


def mesh(descriptor: str, *qualifiers: str, major: bool = False) -> MeshHeading:
    return MeshHeading(descriptor, "", major, tuple(MeshQualifier(q, "", major) for q in qualifiers))


def doc(n: int, title: str, sections: list[tuple[str, str]], **kw: object) -> Document:
    fields: dict[str, object] = {
        "id": f"pmid:{n}",
        "title": title,
        "sections": tuple(Section(text, label) for label, text in sections),
        "year": 2018,
        "journal": "J Test",
        "identifiers": {"pmid": str(n)},
        "publication_types": ("Journal Article",),
    }
    fields.update(kw)
    return Document(**fields)  # type: ignore[arg-type]


def hits_for(*docs: Document) -> list[Hit]:
    """Every chunk of every document, scored by position so the first document ranks first."""
    out = []
    for i, d in enumerate(docs):
        for chunk in chunk_document(d):
            out.append(Hit(chunk, d, score=1.0 / (1 + i + chunk.ordinal / 10), evidence=document_weight(d)))
    return out


def ask(question: str, *docs: Document, **kw: object) -> Article:
    synth = ExtractiveSynthesizer(**kw)  # type: ignore[arg-type]
    return synth.synthesize(analyse(question, vocabulary=VOCAB), hits_for(*docs))


# --- realistic abstracts ---------------------------------------------------------------------------

CLOZAPINE = doc(
    101,
    "Clozapine-induced agranulocytosis: incidence and risk factors in a national cohort",
    [
        (
            "BACKGROUND",
            "Clozapine is the most effective antipsychotic for treatment-resistant schizophrenia.",
        ),
        ("METHODS", "We analysed haematological monitoring data of 12,760 patients who started clozapine."),
        (
            "RESULTS",
            "Agranulocytosis occurred in 0.8% of patients, most often within the first 18 weeks of "
            "treatment. Older age and Asian ethnicity were associated with a higher risk of "
            "clozapine-induced neutropenia.",
        ),
        (
            "CONCLUSIONS",
            "In conclusion, Clozapine causes agranulocytosis and leukopenia in a small but important "
            "minority of patients, so white cell counts must be monitored.",
        ),
    ],
    mesh=(
        mesh("Clozapine", "adverse effects", major=True),
        mesh("Agranulocytosis", "chemically induced", major=True),
        mesh("Antipsychotic Agents", "adverse effects"),
        mesh("Schizophrenia", "drug therapy"),
    ),
)
HIV = doc(
    102,
    "Haematological abnormalities in untreated HIV infection",
    [
        (
            "RESULTS",
            "Leukopenia was present in 38% of patients with untreated HIV infection and correlated with low "
            "CD4 counts. Lymphopenia was the dominant pattern in patients with advanced HIV disease.",
        ),
        ("CONCLUSIONS", "HIV infection is a frequent cause of leukopenia and should be tested for."),
    ],
    mesh=(mesh("HIV Infections", "complications", major=True), mesh("Leukopenia", "virology")),
)
SPLEEN = doc(
    103,
    "Hypersplenism in cirrhosis",
    [
        (
            "RESULTS",
            "Leukopenia due to splenic sequestration was found in 41% of patients with cirrhosis and "
            "portal hypertension, and it correlated with spleen size.",
        )
    ],
    mesh=(mesh("Hypersplenism", "complications"), mesh("Leukopenia", "etiology")),
)
REVIEW = doc(
    104,
    "Leukopenia in adults: a practical review",
    [
        (
            "",
            "Leukopenia is defined as a total white blood cell count below 4,000 cells/µL (4.0 × 10^9/L). "
            "Benign ethnic neutropenia is common in people of African descent and should not be mistaken "
            "for a pathological leukopenia. Leukopenia in children is most often caused by transient viral "
            "infections. Severe neutropenia carries a high risk of life-threatening infection, and febrile "
            "neutropenia is a medical emergency.",
        )
    ],
    kind="review",
    publication_types=("Review",),
    mesh=(mesh("Leukopenia", "diagnosis", "etiology", major=True),),
)
RETRACTED = doc(
    105,
    "Leukopenia from mobile phones",
    [("RESULTS", "Leukopenia is caused by mobile phone radiation in most adults with leukopenia.")],
    retracted=True,
)
UNRELATED = doc(
    106,
    "Hip fracture surgery timing",
    [("RESULTS", "Early surgery within 48 hours reduced mortality after hip fracture in elderly patients.")],
)
CAUSE_DOCS = (REVIEW, CLOZAPINE, HIV, SPLEEN, RETRACTED)


def all_claims(article: Article) -> list[Claim]:
    return list(article.all_claims())


def assert_quotes(article: Article, docs: tuple[Document, ...]) -> None:
    """Every claim cites exactly one span, quotes it, and its text is that quote."""
    bodies = {d.id: d.body for d in docs}
    claims = all_claims(article)
    assert claims
    summaries = [c for c in claims if c.category == SUMMARY_CATEGORY]
    claims = [c for c in claims if c.category != SUMMARY_CATEGORY]
    cited = {cit for c in claims for cit in c.citations}
    for summary in summaries:  # a summary cites exactly the spans of claims it summarises
        assert summary in article.bottom_line
        assert summary.citations and set(summary.citations) <= cited
    for claim in claims:
        assert len(claim.citations) == 1
        citation = claim.citations[0]
        body = bodies[citation.document_id]
        assert 0 <= citation.start < citation.end <= len(body)
        assert citation.quote == body[citation.start : citation.end]
        assert claim.text in citation.quote
        assert claim.verdict == "unchecked"


def section(article: Article, key: str) -> ArticleSection:
    found = [s for s in article.sections if s.key == key]
    assert found, f"no section {key!r} in {[s.key for s in article.sections]}"
    return found[0]


# --- causes ----------------------------------------------------------------------------------------


def test_causes_article_quotes_exact_spans_and_never_cites_retracted() -> None:
    article = ask("What causes leukopenia?", *CAUSE_DOCS)
    assert article.title == "Causes of Leukopenia"
    assert article.qtype == "causes"
    assert article.metadata["synthesizer"] == "extractive"
    assert article.references == ()
    assert article.verdict is None
    assert not article.insufficient
    assert_quotes(article, CAUSE_DOCS)
    cited = {c.citations[0].document_id for c in all_claims(article)}
    assert RETRACTED.id not in cited
    assert {CLOZAPINE.id, HIV.id, SPLEEN.id, REVIEW.id} <= cited
    assert 1 <= len(article.bottom_line) <= 3
    keys = [s.key for s in article.sections]
    planned = [s.key for s in SECTION_PLANS["causes"]]
    assert keys == [k for k in planned if k in keys]  # display order follows the plan


def test_causes_are_grouped_by_category() -> None:
    article = ask("What causes leukopenia?", *CAUSE_DOCS)
    causes = section(article, "causes")
    assert causes.intro  # curbside's own framing, not a claim
    subs = {s.key: s for s in causes.subsections}
    medications = subs["causes-medications"]
    assert medications.heading == "Medications and toxins"
    assert any(c.citations[0].document_id == CLOZAPINE.id for c in medications.claims)
    assert all(c.category == "Medications and toxins" for c in medications.claims)
    assert any(c.citations[0].document_id == HIV.id for c in subs["causes-infections"].claims)
    assert any(c.citations[0].document_id == SPLEEN.id for c in subs["causes-sequestration"].claims)
    # A background sentence about the drug that does not mention the condition is no cause claim.
    assert not any("most effective antipsychotic" in c.text for c in all_claims(article))
    order = [s.key for s in causes.subsections]
    table = [f"causes-{c.key}" for c in CAUSE_CATEGORIES]
    assert order == [k for k in table if k in order]


def test_definition_pitfall_population_and_significance_sections() -> None:
    article = ask("What causes leukopenia?", *CAUSE_DOCS)
    assert any("is defined as" in c.text for c in section(article, "definition").claims)
    assert any("Benign ethnic neutropenia" in c.text for c in section(article, "pitfalls").claims)
    assert any("children" in c.text for c in section(article, "special-populations").claims)
    assert any("febrile" in c.text for c in section(article, "significance").claims)


FN_CHILDREN = doc(
    107,
    "Febrile neutropenia in children with cancer",
    [
        (
            "BACKGROUND",
            "Febrile neutropenia causes treatment disruption and unplanned hospitalisation in children with "
            "cancer. A national project is implementing a paediatric low-risk febrile neutropenia programme "
            "across eight paediatric hospitals.",
        ),
        (
            "RESULTS",
            "Leukopenia was recorded in 19 patients (n=19), neutropenia (n=54), anaemia (n=21), "
            "thrombocytopenia (n=35) and lymphopenia (n=126) among the children studied.",
        ),
    ],
)


def test_a_consequence_of_the_condition_is_not_listed_as_a_cause() -> None:
    article = ask("What causes leukopenia?", REVIEW, CLOZAPINE, FN_CHILDREN)
    significance = " ".join(c.text for c in section(article, "significance").claims)
    assert "causes treatment disruption" in significance
    causes_side = [
        c.text for s in article.sections if s.key in {"causes", "special-populations"} for c in s.all_claims()
    ]
    assert not any("treatment disruption" in t for t in causes_side)
    # "caused by" is read the other way round: the cause follows it.
    populations = " ".join(c.text for c in section(article, "special-populations").claims)
    assert "caused by transient viral infections" in populations


def test_population_sentences_must_say_something_clinical() -> None:
    article = ask("What causes leukopenia?", REVIEW, FN_CHILDREN)
    texts = [c.text for c in all_claims(article)]
    assert not any("programme across eight" in t for t in texts)  # mentions children, says nothing
    assert not any("(n=126)" in t for t in texts)  # a table row in prose


def test_a_null_finding_is_not_listed_as_a_cause() -> None:
    null = doc(
        109,
        "Antitoxin titres in bacteraemia",
        [
            (
                "RESULTS",
                "Neither antibody titre was significantly associated with leukopenia or steroid therapy. "
                "Steroid therapy caused leukopenia in a minority of the patients with bacteraemia.",
            )
        ],
    )
    article = ask("What causes leukopenia?", null)
    texts = [c.text for c in (*article.bottom_line, *(c for s in article.sections for c in s.all_claims()))]
    assert any(t.startswith("Steroid therapy caused") for t in texts)
    assert not any(t.startswith("Neither") for t in texts)


def test_documents_matching_one_word_of_the_question_are_no_evidence() -> None:
    quantum = doc(
        110,
        "Graphene quantum dots",
        [("RESULTS", "Graphene quantum dots were constructed for antioxidative therapy with high efficacy.")],
    )
    article = ask("What is the best treatment for quantum chromodynamics in zebras?", quantum)
    assert article.insufficient and not all_claims(article)
    assert all_claims(
        ask("What is the best treatment for quantum chromodynamics in zebras?", quantum, min_coverage=0.0)
    )


def test_documents_covering_much_less_than_the_best_one_are_not_quoted() -> None:
    question = "Is leukopenia common in HIV infection?"
    cited = {c.citations[0].document_id for c in all_claims(ask(question, HIV, SPLEEN))}
    assert cited == {HIV.id}  # SPLEEN is about leukopenia, not HIV: half the question
    assert all_claims(ask(question, SPLEEN))  # alone, the best there is, it is quoted


def test_one_document_fills_at_most_two_places_of_a_section() -> None:
    many = doc(
        108,
        "Clozapine and neutropenia",
        [
            (
                "RESULTS",
                " ".join(
                    f"Clozapine caused leukopenia in {n} patients of the {name} cohort during the first year."
                    for n, name in ((12, "northern"), (7, "southern"), (5, "eastern"), (9, "western"))
                ),
            )
        ],
    )
    article = ask("What causes leukopenia?", many, duplicate_jaccard=1.0)
    for s in article.sections:
        for part in (s, *s.subsections):
            assert sum(1 for c in part.claims if c.citations[0].document_id == many.id) <= 2


def test_leading_discourse_marker_is_trimmed_but_the_claim_still_quotes() -> None:
    article = ask("What causes leukopenia?", *CAUSE_DOCS)
    texts = [c.text for c in all_claims(article)]
    assert any(t.startswith("Clozapine causes agranulocytosis") for t in texts)
    assert not any(t.startswith("In conclusion") for t in texts)


def test_pseudomonas_is_not_a_pitfall_and_truncation_notes_are_trimmed() -> None:
    infection = doc(
        107,
        "Leukopenia in Pseudomonas septicaemia",
        [
            (
                "RESULTS",
                "Pseudomonas aeruginosa septicaemia caused profound leukopenia in 12 of 30 patients. "
                "Leukopenia was an early sign of fatal infection.(ABSTRACT TRUNCATED AT 400 WORDS)",
            )
        ],
    )
    article = ask("What causes leukopenia?", infection)
    assert_quotes(article, (infection,))
    assert "pitfalls" not in {s.key for s in article.sections}
    texts = [c.text for c in all_claims(article)]
    assert "Leukopenia was an early sign of fatal infection." in texts
    assert not any("TRUNCATED" in t for t in texts)


def test_animal_only_studies_rank_below_human_ones() -> None:
    text = [("RESULTS", "Methotrexate caused leukopenia in most treated subjects within two weeks.")]
    human = doc(108, "Methotrexate toxicity", text, mesh=(mesh("Humans"),))
    mice = doc(109, "Methotrexate toxicity", text, mesh=(mesh("Animals"), mesh("Mice")))
    query = analyse("What causes leukopenia?", vocabulary=VOCAB)
    hits = [Hit(chunk_document(d)[0], d, score=1.0) for d in (mice, human)]
    ranked = candidate_sentences(query, hits)
    assert [c.document.id for c in ranked] == [human.id, mice.id]
    assert ranked[1].score == pytest.approx(ranked[0].score / 2)


def test_no_near_duplicates_across_sections() -> None:
    copy = replace(HIV, id="pmid:202", identifiers={"pmid": "202"})  # the same abstract under another id
    article = ask("What causes leukopenia?", HIV, copy)
    texts = [c.text for s in article.sections for c in s.all_claims()]
    assert len(texts) == len(set(texts))


def test_cause_category_uses_sentence_words_then_mesh() -> None:
    assert cause_category("Methotrexate toxicity caused leukopenia.").key == "medications"
    assert cause_category("Leukopenia was common in tuberculosis.").key == "infections"
    # No category words: the document's MeSH decides.
    assert cause_category("Counts fell within two weeks.", CLOZAPINE).key == "medications"
    assert cause_category("Counts fell within two weeks.", HIV).key == "infections"
    assert cause_category("Counts fell within two weeks.").key == "other"
    # A tie between categories in the sentence goes to the one the MeSH favours.
    assert cause_category("Both HIV and zidovudine lower counts.", HIV).key == "infections"
    assert cause_category("Both HIV and zidovudine lower counts.", CLOZAPINE).key == "medications"


def test_clozapine_abstract_alone_goes_to_medications() -> None:
    article = ask("What causes agranulocytosis?", CLOZAPINE)
    subs = {s.key: s for s in section(article, "causes").subsections}
    assert set(subs) == {"causes-medications"}


# --- other question types ---------------------------------------------------------------------------

FN_GUIDELINE = doc(
    301,
    "Management of febrile neutropenia: clinical practice guideline",
    [
        (
            "RECOMMENDATIONS",
            "Empirical broad-spectrum antibiotics are the recommended first-line treatment of febrile "
            "neutropenia and should be started within one hour. Piperacillin-tazobactam 4.5 g every 6 hours "
            "is a suitable empirical regimen for febrile neutropenia in adults with normal renal function. "
            "Vancomycin is an alternative added for febrile neutropenia when catheter infection or MRSA "
            "colonisation is suspected. Blood counts and renal function should be monitored daily during "
            "treatment of febrile neutropenia.",
        )
    ],
    kind="guideline",
    publication_types=("Practice Guideline",),
)


def test_treatment_sections() -> None:
    article = ask("How is febrile neutropenia treated?", FN_GUIDELINE, UNRELATED)
    assert article.title == "Treatment of Febrile Neutropenia"
    assert_quotes(article, (FN_GUIDELINE, UNRELATED))
    keys = {s.key for s in article.sections}
    assert keys <= {s.key for s in SECTION_PLANS["treatment"]}
    # The bottom line leads with the first-line option in one to three sentences on treatment, and
    # the sections do not quote them again.
    assert "first-line" in article.bottom_line[0].text and 1 <= len(article.bottom_line) <= 3
    leads = {(c.citations[0].document_id, c.citations[0].start) for c in article.bottom_line}
    assert all(
        (c.citations[0].document_id, c.citations[0].start) not in leads
        for s in article.sections
        for c in s.claims
    )
    assert any("4.5 g" in c.text for c in section(article, "dosing").claims)
    assert any("alternative" in c.text for c in section(article, "alternatives").claims)
    assert any("monitored" in c.text for c in section(article, "monitoring").claims)
    assert UNRELATED.id not in {c.citations[0].document_id for c in all_claims(article)}
    assert article.bottom_line[0].citations[0].document_id == FN_GUIDELINE.id


# --- yes/no -----------------------------------------------------------------------------------------

VITC_NEGATIVE = doc(
    401,
    "Vitamin C for the common cold: a randomised controlled trial",
    [
        ("METHODS", "Adults were randomised to vitamin C 1 g daily or placebo for 12 weeks."),
        (
            "RESULTS",
            "There was no significant difference in the duration of common cold episodes between the "
            "vitamin C and placebo groups (5.1 vs 5.3 days, p = 0.42). Vitamin C did not reduce the "
            "incidence of colds.",
        ),
    ],
    kind="rct",
    publication_types=("Randomized Controlled Trial",),
)
VITC_POSITIVE = doc(
    402,
    "Vitamin C shortens common colds in athletes",
    [
        (
            "RESULTS",
            "Vitamin C significantly reduced the duration of common cold episodes compared with placebo "
            "(p < 0.001). The risk of a common cold was significantly lower with vitamin C (RR 0.48, 95% CI "
            "0.35-0.64).",
        )
    ],
)
QUESTION = "Does vitamin C reduce the duration of the common cold?"


def test_yesno_negative_results_give_no() -> None:
    article = ask(QUESTION, VITC_NEGATIVE)
    assert article.qtype == "yesno"
    assert article.verdict == "no"
    assert_quotes(article, (VITC_NEGATIVE,))
    assert "no significant difference" in article.bottom_line[0].text
    assert article.sections[0].key == "evidence-against"
    assert "randomised to" not in " ".join(c.text for c in all_claims(article))  # methods are not claims
    assert "verdict_basis" in article.metadata


def test_yesno_positive_results_give_yes() -> None:
    article = ask(QUESTION, VITC_POSITIVE)
    assert article.verdict == "yes"
    assert "significantly reduced" in article.bottom_line[0].text
    assert article.sections[0].key == "evidence-for"
    assert not any(w.code == "conflicting-evidence" for w in article.warnings)


def test_yesno_conflict_is_flagged() -> None:
    article = ask(QUESTION, VITC_POSITIVE, VITC_NEGATIVE)
    assert any(w.code == "conflicting-evidence" for w in article.warnings)
    keys = {s.key for s in article.sections}
    assert {"evidence-for", "evidence-against"} <= keys


def test_yesno_without_any_cue_is_uncertain() -> None:
    descriptive = doc(
        403,
        "Colds in students",
        [("RESULTS", "Students reported a common cold while taking vitamin C tablets.")],
    )
    query = analyse(QUESTION, vocabulary=VOCAB)
    assert assess_yesno(query, hits_for(descriptive)).verdict == "uncertain"


def test_yesno_verdict_rests_on_the_sources_that_match_the_whole_question() -> None:
    # Ranked first but about vitamin C and fever, not the common cold: it must not outvote the trial.
    partial = doc(
        404,
        "Vitamin C and fever",
        [
            (
                "RESULTS",
                "Vitamin C significantly reduced the duration of fever and significantly improved recovery "
                "(p < 0.001).",
            )
        ],
    )
    assert ask(QUESTION, partial, VITC_NEGATIVE).verdict == "no"
    assert ask(QUESTION, partial).verdict == "yes"  # alone, it is the best match there is


def test_comparison_asked_as_yes_no_keeps_its_sections_and_gets_a_verdict() -> None:
    article = ask("Is vitamin C better than placebo for the duration of the common cold?", VITC_POSITIVE)
    assert article.qtype == "comparison"
    assert article.verdict == "yes"
    assert {s.key for s in article.sections} <= {s.key for s in SECTION_PLANS["comparison"]}
    plain = ask("Vitamin C versus placebo for the duration of the common cold", VITC_POSITIVE)
    assert plain.qtype == "comparison" and plain.verdict is None


def test_sentence_polarity_cues() -> None:
    pos, neg, _ = sentence_polarity("There was no significant difference in mortality.")
    assert (pos, neg) == (0, 1)
    pos, neg, _ = sentence_polarity("Treatment did not improve survival or reduce relapse.")
    assert pos < neg
    pos, neg, _ = sentence_polarity("Mortality was significantly lower with treatment (p < 0.01).")
    assert pos >= 2 and neg == 0
    pos, neg, _ = sentence_polarity("Mortality was 12% vs 14% (p = 0.48).")
    assert neg >= 1 and pos == 0
    pos, neg, _ = sentence_polarity("Risk of stroke (HR 0.94; 95% CI 0.41-2.13).")
    assert neg == 1
    pos, neg, _ = sentence_polarity("Onset was delayed (P less than 0.02) in treated animals.")
    assert (pos, neg) == (1, 0)
    pos, neg, _ = sentence_polarity(
        "Death or stroke occurred in 5% (95% CI 3-8)."
    )  # "or" is not an odds ratio
    assert (pos, neg) == (0, 0)
    _, _, hedge = sentence_polarity("These results may suggest a benefit; further studies are needed.")
    assert hedge >= 2
    # The Lancet prints decimals with a middle dot: a null result all the same.
    pos, neg, _ = sentence_polarity(
        "Good outcome in 61·4% and 59·2% (adjusted risk ratio 1·04, 95% CI 0·96-1·14; p=0·35)."
    )
    assert pos == 0 and neg == 2


# --- guarantees ------------------------------------------------------------------------------------


def test_same_input_gives_identical_output() -> None:
    query = analyse("What causes leukopenia?", vocabulary=VOCAB)
    hits = hits_for(*CAUSE_DOCS)
    first = ExtractiveSynthesizer().synthesize(query, hits)
    second = ExtractiveSynthesizer().synthesize(query, list(hits))
    assert first == second


def test_no_hits_is_insufficient_evidence() -> None:
    article = ExtractiveSynthesizer().synthesize(analyse("What causes leukopenia?", vocabulary=VOCAB), [])
    assert article.insufficient
    assert article.all_claims() == ()
    assert article.warnings[0].message.startswith("Insufficient evidence:")


def test_irrelevant_hits_are_insufficient_evidence() -> None:
    article = ask("What causes leukopenia?", UNRELATED)
    assert article.insufficient
    assert article.all_claims() == ()
    article = ask(QUESTION, UNRELATED)
    assert article.insufficient and article.verdict == "uncertain"


def test_only_retracted_hits_are_insufficient_evidence() -> None:
    assert ask("What causes leukopenia?", RETRACTED).insufficient


def test_chunk_that_is_not_in_the_body_is_never_cited() -> None:
    fake = Chunk(HIV.id, 0, "RESULTS", 0, 40, "Leukopenia is caused by witchcraft in most cases.")
    query = analyse("What causes leukopenia?", vocabulary=VOCAB)
    article = ExtractiveSynthesizer().synthesize(query, [Hit(fake, HIV, score=1.0)])
    assert article.insufficient


def test_chunk_with_shifted_offsets_is_relocated() -> None:
    (chunk,) = chunk_document(SPLEEN)
    moved = replace(chunk, start=chunk.start + 5, end=chunk.end + 5)
    query = analyse("What causes leukopenia?", vocabulary=VOCAB)
    article = ExtractiveSynthesizer().synthesize(query, [Hit(moved, SPLEEN, score=1.0)])
    assert_quotes(article, (SPLEEN,))


def test_finalize_numbers_the_draft_references() -> None:
    article = ask("What causes leukopenia?", *CAUSE_DOCS)
    final = finalize(article, {d.id: d for d in CAUSE_DOCS})
    assert [r.number for r in final.references] == list(range(1, len(final.references) + 1))
    assert all(not r.retracted for r in final.references)


def test_section_caps() -> None:
    article = ask("What causes leukopenia?", *CAUSE_DOCS, max_claims_per_section=1, bottom_line_claims=1)
    assert len(article.bottom_line) == 1
    for s in article.sections:
        assert len(s.claims) <= 1
        assert all(len(sub.claims) <= 1 for sub in s.subsections)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_claims_per_section": 0},
        {"bottom_line_claims": 4},
        {"min_relevance": 0.0},
        {"duplicate_jaccard": 1.5},
    ],
)
def test_bad_settings_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(InputError):
        ExtractiveSynthesizer(**kwargs)  # type: ignore[arg-type]


def test_registered_as_the_extractive_synthesizer() -> None:
    factory = get_registry().get("synthesizer", "extractive")
    synth = factory(None)
    assert synth.name == "extractive"
    assert isinstance(synth, ExtractiveSynthesizer)


def test_every_question_type_gets_planned_sections() -> None:
    questions = {
        "definition": "What is leukopenia?",
        "diagnosis": "How is leukopenia diagnosed?",
        "prognosis": "What is the prognosis of leukopenia?",
        "general": "Leukopenia",
    }
    for qtype, text in questions.items():
        query = analyse(text, vocabulary=VOCAB)
        assert query.qtype == qtype
        article = ExtractiveSynthesizer().synthesize(query, hits_for(*CAUSE_DOCS))
        assert article.sections, qtype
        assert {s.key for s in article.sections} <= {s.key for s in SECTION_PLANS[qtype]}
        assert_quotes(article, CAUSE_DOCS)


def test_twenty_hits_give_an_article_quoting_only_them() -> None:
    # Speed is measured by bench/answer.py; here, twenty hits of repeated records make a sane article.
    docs = [replace(d, id=f"pmid:{900 + i}") for i, d in enumerate([CLOZAPINE, HIV, SPLEEN, REVIEW] * 5)]
    hits = hits_for(*docs)[:20]
    assert len(hits) == 20
    query = analyse("What causes leukopenia?", vocabulary=VOCAB)
    article = ExtractiveSynthesizer().synthesize(query, hits)
    assert article.sections
    assert_quotes(article, docs)
    assert {r.document_id for r in article.references} <= {d.id for d in docs}


def test_candidates_rank_results_over_methods() -> None:
    query = analyse(QUESTION, vocabulary=VOCAB)
    ranked = candidate_sentences(query, hits_for(VITC_NEGATIVE))
    assert ranked[0].label == "RESULTS"
    assert ranked[-1].label == "METHODS"


# --- PubMedQA benchmark (shared data) ----------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.shared_data
def test_pubmedqa_verdict_beats_the_majority_baseline(shared_data: Path) -> None:
    path = shared_data / "pubmedqa" / "pubmedqa_dev.json"
    if not path.exists():
        pytest.skip(f"{path} not found")
    data = json.loads(path.read_text(encoding="utf-8"))
    correct = 0
    for pmid, item in data.items():
        d = Document(
            id=f"pmid:{pmid}",
            title="",
            sections=tuple(
                Section(t, label) for t, label in zip(item["CONTEXTS"], item["LABELS"], strict=True)
            ),
        )
        body = d.body
        hit = Hit(Chunk(d.id, 0, "", 0, len(body), body), d, score=1.0)
        verdict = assess_yesno(analyse(item["QUESTION"], vocabulary=VOCAB), [hit]).verdict
        gold = {"maybe": "uncertain"}.get(item["final_decision"], item["final_decision"])
        correct += verdict == gold
    accuracy = correct / len(data)
    majority = max(
        sum(1 for item in data.values() if item["final_decision"] == label)
        for label in ("yes", "no", "maybe")
    ) / len(data)
    assert accuracy > majority, f"accuracy {accuracy:.3f} does not beat the majority baseline {majority:.3f}"
    assert accuracy > 0.55


def test_a_definition_must_define_the_question_subject() -> None:
    hairy = doc(
        113,
        "Hairy cell leukaemia",
        [
            (
                "",
                "Hairy cell leukemia is characterized by hairy cells in blood and marrow, by anemia, "
                "leukopenia and splenomegaly. Leukopenia is defined as a white cell count below 4,000 "
                "cells/µL in this cohort of adults.",
            )
        ],
    )
    definition = section(ask("What causes leukopenia?", hairy), "definition").claims
    assert [c.text[:20] for c in definition] == ["Leukopenia is define"]


def test_fragments_and_pronoun_openings_do_not_lead_the_bottom_line() -> None:
    ranked = candidate_sentences(
        analyse("What causes leukopenia?", vocabulary=VOCAB),
        hits_for(
            doc(
                114,
                "Leukopenia",
                [
                    (
                        "RESULTS",
                        "It is characterized by leukopenia caused by clozapine in many of the patients. "
                        "(FAERS) showed leukopenia caused by clozapine in many of the patients. "
                        "Clozapine caused leukopenia in many of the patients treated in the clinic.",
                    )
                ],
            )
        ),
    )
    quality = {c.text[:6]: c.quality for c in ranked}
    assert quality["Clozap"] == 1.0
    assert quality["It is "] < 0.9 and quality["(FAERS"] < 0.5


# --- title-only records ----------------------------------------------------------------------------

MIANSERIN = doc(
    201,
    "Agranulocytosis during mianserin treatment.",
    [],
    publication_types=("Case Reports", "Journal Article"),
    mesh=(mesh("Agranulocytosis", "chemically induced", major=True), mesh("Mianserin", "adverse effects")),
)
APRINDINE = doc(
    202,
    "[Agranulocytosis after treatment with aprindine (author's transl)].",
    [],
    publication_types=("Case Reports", "English Abstract"),
    mesh=(mesh("Agranulocytosis", "chemically induced"), mesh("Aprindine", "adverse effects")),
)
VAGUE_TITLE = doc(203, "Leukopenia in the elderly.", [], publication_types=("Journal Article",))
QUESTION_TITLE = doc(204, "Does mianserin cause agranulocytosis?", [], publication_types=("Letter",))


def subsection(article: Article, key: str) -> ArticleSection:
    found = [sub for s in article.sections for sub in s.subsections if sub.key == key]
    assert found, f"no subsection {key!r}"
    return found[0]


def title_claims(article: Article) -> list[Claim]:
    return [c for c in all_claims(article) if c.citations[0].part == "title"]


def test_title_only_case_reports_are_cited_by_title_under_their_cause_category() -> None:
    article = ask("What are the causes of leukopenia?", *CAUSE_DOCS, MIANSERIN, APRINDINE)
    medications = subsection(article, "causes-medications")
    texts = [c.text for c in medications.claims]
    assert 'Reported in a case report titled "Agranulocytosis during mianserin treatment".' in texts
    assert (
        'Reported in a case report titled "Agranulocytosis after treatment with aprindine"'
        " (English translation of the title)." in texts
    )
    for claim in title_claims(article):
        (cit,) = claim.citations
        title = MIANSERIN.title if cit.document_id == MIANSERIN.id else APRINDINE.title
        assert cit.quote == title[cit.start : cit.end]
        assert f'"{cit.quote}"' in claim.text
    # An abstract sentence still leads: titles never make the bottom line while abstracts answer.
    assert all(c.citations[0].part == "body" for c in article.bottom_line)
    assert article.metadata["usable_titles"] == 2


def test_titles_naming_no_cause_or_asking_a_question_are_not_quoted() -> None:
    article = ask("What are the causes of leukopenia?", *CAUSE_DOCS, VAGUE_TITLE, QUESTION_TITLE)
    assert title_claims(article) == []


def test_yes_no_verdicts_never_rest_on_titles() -> None:
    causes = doc(207, "Mianserin causes agranulocytosis in elderly patients.", [], mesh=MIANSERIN.mesh)
    article = ask("Does mianserin cause agranulocytosis?", causes, MIANSERIN, QUESTION_TITLE)
    assert title_claims(article) == []
    assert article.verdict == "uncertain"


def test_assess_yesno_ignores_titles_even_when_it_scores_the_hits_itself() -> None:
    query = analyse("Does mianserin cause agranulocytosis?", vocabulary=VOCAB)
    causes = doc(205, "Mianserin causes agranulocytosis in elderly patients.", [], mesh=MIANSERIN.mesh)
    assessment = assess_yesno(query, hits_for(causes, MIANSERIN))
    assert assessment.verdict == "uncertain" and assessment.lead is None
    # The same words in an abstract are a finding.
    stated = doc(206, "Mianserin", [("RESULTS", causes.title)], mesh=MIANSERIN.mesh)
    assert assess_yesno(query, hits_for(stated)).verdict == "yes"


def test_titles_lead_the_bottom_line_only_when_no_abstract_answers() -> None:
    with_abstracts = ask("What are the causes of leukopenia?", HIV, MIANSERIN)
    assert {c.citations[0].part for c in with_abstracts.bottom_line} == {"body"}
    alone = ask("What are the causes of leukopenia?", MIANSERIN)
    assert not alone.insufficient
    assert [c.citations[0].part for c in alone.bottom_line] == ["title"]


def test_title_only_hits_do_not_take_the_verdicts_top_places() -> None:
    titles = [doc(210 + i, f"Vitamin C and the common cold, report {i}.", []) for i in range(3)]
    # Three title-only hits rank above the positive and the negative trial: the verdict reads the
    # top three *abstracts*, so it is the same as without the titles.
    plain = ask(QUESTION, VITC_POSITIVE, VITC_NEGATIVE)
    crowded = ask(QUESTION, *titles, VITC_POSITIVE, VITC_NEGATIVE)
    assert crowded.verdict == plain.verdict
    assert crowded.metadata["verdict_basis"] == plain.metadata["verdict_basis"]


# --- the bottom line reads as a summary -------------------------------------------------------------

EVENTS_LIST = doc(
    301,
    "Safety of ocrelizumab in multiple sclerosis",
    [
        (
            "RESULTS",
            "There were novel cases of severe babesiosis, re-activation of lichen planus, leukopenia, "
            "and ectopic pregnancy.",
        )
    ],
    mesh=(
        mesh("Leukopenia", "chemically induced"),
        mesh("Antibodies, Monoclonal, Humanized", "adverse effects"),
    ),
)
ONE_PATIENT = doc(
    302,
    "Azathioprine in lupus nephritis",
    [
        (
            "RESULTS",
            "In one patient, treatment was interrupted because of recurrent leukopenia caused by azathioprine.",
        )
    ],
)
GENERAL_CAUSES = doc(
    303,
    "Leukopenia: a review",
    [("CONCLUSIONS", "Leukopenia is most often caused by drugs such as clozapine and by viral infections.")],
    publication_types=("Review",),
)


def test_causes_bottom_line_leads_with_a_general_statement_about_the_condition() -> None:
    article = ask("What are the causes of leukopenia?", EVENTS_LIST, ONE_PATIENT, GENERAL_CAUSES)
    lead = article.bottom_line[0]
    assert lead.citations[0].document_id == GENERAL_CAUSES.id
    assert lead.text == lead.citations[0].quote  # still a quote, not a summary
    assert all(c.category != SUMMARY_CATEGORY for c in article.bottom_line)


def test_without_a_general_statement_the_bottom_line_summarises_the_cause_categories() -> None:
    article = ask("What are the causes of leukopenia?", EVENTS_LIST, MIANSERIN, APRINDINE)
    summary = article.bottom_line[0]
    assert summary.category == SUMMARY_CATEGORY
    assert summary.text == (
        "Reported causes of leukopenia in the retrieved sources include medications and toxins "
        "(mianserin, aprindine)."
    )
    medications = subsection(article, "causes-medications")
    assert set(summary.citations) == {cit for c in medications.claims for cit in c.citations}
    # The verifier holds the summary to the claims it summarises.
    verified = verify_article(article)
    assert verified.bottom_line[0].verdict == "supported"
    assert verified.bottom_line[0].note.startswith("summary of 2 verified claims")


def test_a_summary_names_only_causes_its_sources_name_and_skips_animal_studies() -> None:
    mice = doc(
        304,
        "Pseudomonas slime in mice",
        [("RESULTS", "Pseudomonas aeruginosa slime induced leukopenia and death of mice.")],
        mesh=(mesh("Animals"), mesh("Pseudomonas Infections", "microbiology")),
    )
    renamed = replace(MIANSERIN, mesh=(*MIANSERIN.mesh, mesh("Aprindine", "adverse effects")))
    article = ask("What are the causes of leukopenia?", mice, renamed)
    (summary,) = article.bottom_line
    assert "aprindine" not in summary.text  # in the MeSH, not in the cited title
    assert "Infections" not in summary.text  # only animal evidence
    assert summary.text == (
        "Reported causes of leukopenia in the retrieved sources include medications and toxins (mianserin)."
    )


def test_definition_bottom_line_leads_with_what_the_condition_is() -> None:
    case = doc(
        305,
        "Levamisole agranulocytosis",
        [
            (
                "RESULTS",
                "A case of agranulocytosis in a man treated with levamisole for polyarthritis is described.",
            )
        ],
    )
    defining = doc(
        306,
        "Agranulocytosis",
        [
            (
                "BACKGROUND",
                "Agranulocytosis is an acute condition with a severe reduction of circulating granulocytes.",
            )
        ],
    )
    article = ask("What is agranulocytosis?", case, defining)
    assert article.bottom_line[0].citations[0].document_id == defining.id


def test_treatment_bottom_line_leads_with_treatment_not_with_what_the_condition_is() -> None:
    what = doc(
        307,
        "Immune thrombocytopenia",
        [("BACKGROUND", "Immune thrombocytopenia is an autoimmune disease with destruction of platelets.")],
    )
    how = doc(
        308,
        "Immune thrombocytopenia: guideline",
        [
            (
                "RECOMMENDATIONS",
                "Corticosteroids are recommended as first-line treatment of immune thrombocytopenia.",
            )
        ],
    )
    article = ask("What is the treatment of immune thrombocytopenia?", what, how)
    assert article.bottom_line[0].citations[0].document_id == how.id


def test_a_sentence_about_the_paper_does_not_lead() -> None:
    about = doc(
        309,
        "Levamisole",
        [
            (
                "RESULTS",
                "Levamisole induced leukopenia and its significance in arthritis are briefly reviewed.",
            )
        ],
    )
    article = ask("What are the causes of leukopenia?", about, GENERAL_CAUSES)
    assert article.bottom_line[0].citations[0].document_id == GENERAL_CAUSES.id


def test_a_much_weaker_sentence_does_not_pad_the_bottom_line() -> None:
    weak = doc(
        310,
        "Leukopenia in a cohort",
        [("RESULTS", "Leukopenia was observed in several patients of the cohort.")],
    )
    article = ask("What are the causes of leukopenia?", GENERAL_CAUSES, weak)
    assert [c.citations[0].document_id for c in article.bottom_line] == [GENERAL_CAUSES.id]


def test_an_adverse_effects_question_gets_the_adverse_effects_plan_and_title() -> None:
    clozapine = doc(
        301,
        "Clozapine safety in schizophrenia",
        [
            (
                "BACKGROUND",
                "Clozapine is an atypical antipsychotic used in treatment-resistant schizophrenia.",
            ),
            ("RESULTS", "Clozapine-induced agranulocytosis occurred in 0.8% of patients in the first year."),
            ("CONCLUSIONS", "Seizures and weight gain were the most frequent adverse effects of clozapine."),
        ],
    )
    article = ask("What are the side effects of clozapine?", clozapine)
    assert article.title == "Adverse Effects of Clozapine"
    assert article.metadata["intent"] == "adverse_effects"
    keys = [s.key for s in article.sections]
    assert keys[0] == "adverse-effects" and "definition" not in keys
    harms = " ".join(c.text for c in article.sections[0].claims)
    assert "Seizures" in harms and "atypical antipsychotic" not in harms
    # The bottom line is composed from the list: it names each harm in the claims' own words.
    lead = article.bottom_line[0]
    assert lead.text == (
        "Reported adverse effects of clozapine in the retrieved sources include seizures, weight gain "
        "and agranulocytosis."
    )
    assert lead.category == SUMMARY_CATEGORY and "agranulocytosis" in harms


def test_a_sentence_opening_with_a_pronoun_is_quoted_with_the_sentence_it_refers_to() -> None:
    hairy = doc(
        801,
        "Hairy cell leukemia",
        [
            (
                "",
                "Hairy cell leukemia is a rare neoplasm of the reticuloendothelial system. It is characterized "
                "by hairy cells in blood and marrow, by anemia, leukopenia and thrombocytopenia, and by "
                "massive splenomegaly.",
            )
        ],
    )
    article = ask("What are the causes of leukopenia?", hairy)
    assert_quotes(article, (hairy,))
    quoted = [c.text for c in all_claims(article) if c.category != SUMMARY_CATEGORY]
    assert any(
        t.startswith("Hairy cell leukemia is a rare neoplasm") and "It is characterized" in t for t in quoted
    )
    assert not any(t.startswith("It is") for t in quoted)  # never alone, its referent elsewhere


def test_a_treatment_article_without_a_sentence_on_treatment_says_so_instead_of_leading_off_topic() -> None:
    course = doc(
        802,
        "Febrile neutropenia in children with cancer",
        [
            (
                "",
                "Febrile neutropenia causes treatment disruption and unplanned hospitalisation in children.",
            ),
            ("", "The patient finally died in a context of bicytopenia with febrile neutropenia."),
        ],
    )
    article = ask("How is febrile neutropenia treated?", course)
    assert article.bottom_line == ()
    warning = next(w for w in article.warnings if w.code == "insufficient-evidence")
    assert "treatment of febrile neutropenia" in warning.message.lower()


def test_animal_consequences_are_not_a_conditions_clinical_significance() -> None:
    mice = doc(
        803,
        "Shenqi extract in cyclophosphamide-treated mice",
        [("", "Severe leukopenia led to fatal bacterial infections in the treated mice within ten days.")],
        mesh=(mesh("Animals"), mesh("Mice"), mesh("Leukopenia", "chemically induced")),
    )
    human = doc(
        804,
        "Outcomes of leukopenia in adults",
        [("", "Severe leukopenia led to fatal bacterial infections in 12% of the adults followed.")],
        mesh=(mesh("Humans"), mesh("Leukopenia", "complications")),
    )
    article = ask("What are the causes of leukopenia?", mice, human)
    significance = next(s for s in article.sections if s.key == "significance")
    assert [c.citations[0].document_id for c in significance.all_claims()] == [human.id]


def test_a_mechanism_question_gets_its_own_plan_and_leads_with_what_the_drug_does() -> None:
    givosiran = doc(
        805,
        "Givosiran for acute hepatic porphyria",
        [
            ("BACKGROUND", "Acute hepatic porphyria causes disabling attacks of abdominal pain."),
            (
                "RESULTS",
                "Givosiran reduced the annualised attack rate of acute hepatic porphyria by 74% compared "
                "with placebo.",
            ),
            (
                "CONCLUSIONS",
                "Givosiran is a small interfering RNA that targets hepatic ALAS1 mRNA and so lowers the "
                "production of porphyrin precursors.",
            ),
        ],
    )
    article = ask("What is the mechanism of action of givosiran?", givosiran)
    assert article.title == "Mechanism of Action of Givosiran"
    assert article.metadata["intent"] == "mechanism"
    assert "targets hepatic ALAS1" in article.bottom_line[0].text
    assert {s.key for s in article.sections} <= {s.key for s in INTENT_PLANS["mechanism"]}


def test_a_finding_of_a_bad_outcome_answers_a_question_about_a_good_one_no() -> None:
    from curbside.answer.sentences import query_terms
    from curbside.answer.valence import direction
    from curbside.answer.yesno import signal

    better = "Is co-loss of BRCA2-RB1 associated with better prognosis for prostate cancer patients?"
    assert direction(better) == 1
    assert direction("Does radiotherapy for cervical cancer increase risk of colon cancer?") == -1
    assert direction("Is BRCA2 expressed in prostate cancer?") == 0
    finding = (
        "Co-loss of BRCA2-RB1 in prostate cancer cells is associated with invasiveness and a more "
        "aggressive disease phenotype."
    )
    terms = query_terms(analyse(better, vocabulary=VOCAB))
    positive, negative, _ = signal(finding, terms, False, False)
    assert negative > positive  # worded as an association, but it points the other way
    plain = query_terms(
        analyse("Is co-loss of BRCA2-RB1 associated with prostate cancer phenotype?", vocabulary=VOCAB)
    )
    positive, negative, _ = signal(finding, plain, False, False)
    assert positive > negative  # without a direction in the question, an association is a yes


# --- issue 13: findings under their title, human before animal, composed leads ---------------------


def test_a_provisional_sentence_leaves_the_sentence_before_it_quotable() -> None:
    from curbside.answer.sentences import with_antecedents
    from curbside.ingestion.chunking import split_sentences

    text = (
        "Clozapine was evaluated in 12 chronic schizophrenic patients with tardive dyskinesia. "
        "However, out of a total of 12 patients, neutropenia occurred in two patients. "
        "If these adverse effects are confirmed in a larger sample size, its routine use seems unlikely. "
        "Hairy cell leukemia is a rare disorder. It is characterized by pancytopenia. "
        "These findings were confirmed."
    )
    quotes = [text[s:e] for s, e in with_antecedents(text, split_sentences(text))]
    assert quotes == [
        "Clozapine was evaluated in 12 chronic schizophrenic patients with tardive dyskinesia.",
        "However, out of a total of 12 patients, neutropenia occurred in two patients.",
        "If these adverse effects are confirmed in a larger sample size, its routine use seems unlikely.",
        "Hairy cell leukemia is a rare disorder. It is characterized by pancytopenia.",
        "These findings were confirmed.",  # two sentences at most: it does not join the pair
    ]


def test_title_context_names_the_design_year_and_subject() -> None:
    from curbside.answer.sentences import title_context

    report = doc(902, "Clozapine and seizures", [("", "x")], year=2008, kind="case-report")
    assert title_context(report, "clozapine").startswith("In a 2008 ")
    undated = doc(903, "Clozapine and seizures", [("", "x")], year=None, publication_types=("Editorial",))
    assert title_context(undated, "clozapine") == "In an editorial on clozapine"


def test_animal_evidence_does_not_pad_a_list_with_enough_human_evidence() -> None:
    human = doc(
        904,
        "Clozapine adverse effects in a national cohort",
        [
            (
                "RESULTS",
                "Clozapine-induced agranulocytosis occurred in 0.8% of patients in the first year. "
                "Seizures and weight gain were the most frequent adverse effects of clozapine.",
            )
        ],
        mesh=(mesh("Humans"),),
    )
    rats = doc(
        905,
        "Clozapine-induced insulin resistance in rats",
        [("RESULTS", "Clozapine caused a large increase in peripheral epinephrine in treated rats.")],
        mesh=(mesh("Animals"), mesh("Rats")),
    )
    article = ask("What are the adverse effects of clozapine?", human, rats)
    harms = next(s for s in article.sections if s.key == "adverse-effects")
    assert [c.citations[0].document_id for c in harms.claims] == [human.id, human.id]
    alone = ask("What are the adverse effects of clozapine?", rats)
    cited = [
        c.citations[0].document_id
        for c in (*alone.bottom_line, *(c for s in alone.sections for c in s.all_claims()))
    ]
    assert rats.id in cited  # without human evidence the animal finding is shown (labelled by the verifier)


def test_a_causes_article_with_two_categories_leads_with_its_composed_summary() -> None:
    article = ask("What are the causes of leukopenia?", CLOZAPINE, GENERAL_CAUSES, HIV)
    lead = article.bottom_line[0]
    assert lead.category == SUMMARY_CATEGORY
    assert lead.text.startswith("Reported causes of leukopenia in the retrieved sources include")
    quoted = {(c.citations[0].document_id, c.citations[0].start) for c in article.bottom_line[1:]}
    listed = {
        (c.citations[0].document_id, c.citations[0].start) for s in article.sections for c in s.all_claims()
    }
    assert not quoted & listed  # no verbatim repeat


def test_what_a_paper_covers_is_not_listed_as_a_finding() -> None:
    review = doc(
        906,
        "Levamisole agranulocytosis",
        [
            (
                "",
                "Levamisole induced agranulocytosis in a patient treated for arthritis. "
                "Levamisole induced agranulocytosis and serum vitamin B12 binding proteins are briefly reviewed.",
            )
        ],
    )
    texts = [c.text for s in ask("What causes leukopenia?", review).sections for c in s.all_claims()]
    assert not any("briefly reviewed" in t for t in texts)


def test_a_causes_question_with_nothing_filed_still_leads_with_its_best_sentence() -> None:
    scube = doc(
        907,
        "Disruption of Scube2 impairs endochondral bone formation",
        [
            (
                "RESULTS",
                "Gain and loss-of-function studies demonstrated that SCUBE2 exerted an osteogenic function "
                "by enhancing osteoblast differentiation.",
            )
        ],
    )
    article = ask("What is caused by SCUBE2 loss-of-function?", scube)
    assert article.bottom_line and article.bottom_line[0].citations[0].document_id == scube.id


def test_a_sentence_cut_inside_its_parenthesis_or_stating_an_aim_is_no_claim() -> None:
    cut = doc(
        908,
        "Holoprosencephaly in Chile",
        [
            (
                "",
                "Holoprosencephaly is a midline brain malformation of the forebrain. All cases of "
                "holoprosencephaly registered in the 15 Chilean Hospitals of the Latin American Study (ECLAM. "
                "To estimate holoprosencephaly prevalence at birth in the region.",
            )
        ],
    )
    texts = [c.text for c in all_claims(ask("What is holoprosencephaly?", cut))]
    assert any(t.startswith("Holoprosencephaly is a midline") for t in texts)
    assert not any("ECLAM" in t or t.startswith("To estimate") for t in texts)


def test_a_list_of_complications_with_percentages_is_a_statement_not_a_table_row() -> None:
    report = doc(
        909,
        "Incidence and complications of meningococcal infections",
        [
            (
                "",
                "Shock (18.85%) and intravascular coagulation (12%) were the complications of meningococcal "
                "infection more frequently found, followed by convulsions (4.81%), arthritis (4.81%) and "
                "skin necrosis (4.81%).",
            )
        ],
    )
    texts = [
        c.text for c in all_claims(ask("What are the complications of meningococcal infection?", report))
    ]
    assert any(t.startswith("Shock (18.85%)") for t in texts)


def test_a_title_linking_the_condition_to_nothing_is_no_cause() -> None:
    vague = doc(
        911,
        "[Prospective diagnostic status of immunologic leukopenia].",
        [],
        publication_types=("Review",),
        mesh=(mesh("Leukopenia", "immunology"), mesh("Autoimmune Diseases", "diagnosis")),
    )
    article = ask("What are the causes of leukopenia?", *CAUSE_DOCS, vague, MIANSERIN)
    quoted = [c.citations[0].document_id for c in title_claims(article)]
    assert MIANSERIN.id in quoted and vague.id not in quoted


def test_the_condition_as_a_patients_history_is_no_cause_or_consequence() -> None:
    case = doc(
        912,
        "Crop circles in optical coherence tomography",
        [
            (
                "",
                "A 57-year-old woman with a history of idiopathic leukopenia presented with chest pain and "
                "myocardial infarction after coronary intervention.",
            )
        ],
    )
    article = ask("What are the causes of leukopenia?", *CAUSE_DOCS, case)
    assert not any("history of" in c.text for c in all_claims(article))


def test_a_cause_summary_names_causes_of_a_record_without_mesh() -> None:
    record = doc(
        913,
        "Thrombocytopenia in leukemia",
        [("", "Leukemia causes thrombocytopenia by marrow infiltration.")],
    )
    drug = doc(
        914,
        "Thrombocytopenia after heparin",
        [("", "Heparin-induced thrombocytopenia is an immune drug reaction caused by heparin.")],
    )
    article = ask("What causes thrombocytopenia?", record, drug)
    lead = article.bottom_line[0].text
    assert "malignancy (leukemia)" in lead, lead


def test_a_reference_to_the_study_groups_needs_its_antecedent() -> None:
    record = doc(
        915,
        "Meningococcal disease in children",
        [
            (
                "",
                "A brief course of the disease, shock and leucopenia were more frequent with hyperacute sepsis, "
                "whereas fever was present with equal frequency in the three groups.",
            )
        ],
    )
    article = ask("What are the causes of leukopenia?", *CAUSE_DOCS, record)
    assert not any("three groups" in c.text for c in all_claims(article))


def test_a_bottom_line_names_the_subject_as_the_question_writes_it() -> None:
    report = doc(
        916,
        "Incidence and complications of meningococcal infections",
        [
            (
                "",
                "Shock (18.85%) and intravascular coagulation (12%) were the complications of meningococcal "
                "infection more frequently found, followed by convulsions (4.81%) and arthritis (4.81%).",
            )
        ],
    )
    article = ask("What are the complications of meningococcal infection?", report)
    (lead,) = article.bottom_line
    # The title capitalises the subject ("Complications of Meningococcal ..."); mid-sentence it reads
    # as the question wrote it.
    assert lead.text.startswith("Reported complications of meningococcal"), lead.text
    assert lead.text.endswith("include shock, intravascular coagulation, seizures and arthritis."), lead.text


def test_a_condition_a_patient_has_is_no_cause_and_treating_it_is_no_consequence() -> None:
    fungus = doc(
        917,
        "Rhizopus osteomyelitis",
        [
            (
                "",
                "In a patient with corticosteroid-dependent leukopenia and anemia osteomyelitis of the femur "
                "developed caused by the Mucoraceae Rhizopus.",
            )
        ],
    )
    care = doc(
        918,
        "New developments in neonatal leukopenia",
        [
            (
                "",
                "Current management of neonatal alloimmune leukopenia involves antenatal administration of "
                "intravenous immune globulin to the pregnant woman to prevent severe fetal leukopenia.",
            )
        ],
    )
    test = doc(
        920,
        "Neutrophil antibodies in chronic leukopenia",
        [
            (
                "",
                "In particular the agglutination test allows to distinguish 3 groups of patients: idiopathic "
                "leukopenia, autoimmune leukopenia, and leukopenia in lupus with circulating immune complexes.",
            )
        ],
    )
    texts = [
        c.text for c in all_claims(ask("What are the causes of leukopenia?", *CAUSE_DOCS, fungus, care, test))
    ]
    assert not any("Rhizopus" in t or "Current management" in t or "agglutination test" in t for t in texts)
    # Named as what induced it, the condition is still the effect.
    induced = doc(
        919,
        "Clozapine and leukopenia",
        [("", "Patients with clozapine-induced leukopenia had more infections than patients with HIV.")],
    )
    article = ask("What are the causes of leukopenia?", induced)
    assert any("clozapine-induced" in c.text for c in all_claims(article))


def test_a_cause_summary_names_every_category_its_sections_hold() -> None:
    causes = [
        "HIV infection is a frequent cause of leukopenia in untreated adults.",
        "Clozapine causes leukopenia in a minority of treated adults.",
        "Hairy cell leukemia causes leukopenia through marrow infiltration.",
        "Systemic lupus erythematosus causes leukopenia through antineutrophil autoantibodies.",
        "Vitamin B12 deficiency causes leukopenia with megaloblastic anemia.",
    ]
    docs = [doc(930 + i, f"Leukopenia: report {i}", [("", text)]) for i, text in enumerate(causes)]
    article = ask("What are the causes of leukopenia?", *docs)
    section = next(s for s in article.sections if s.key == "causes")
    found = [
        sub.heading.lower() for sub in section.subsections if sub.claims and not sub.key.endswith("-other")
    ]
    assert len(found) == 5, found
    lead = article.bottom_line[0].text
    assert all(heading in lead for heading in found), (found, lead)


def test_in_a_causes_article_a_named_form_of_the_condition_is_a_cause_not_its_definition() -> None:
    itp = doc(
        921,
        "Immune thrombocytopenia: pathogenesis",
        [("", "Primary immune thrombocytopenia (ITP) is an acquired autoimmune bleeding disorder.")],
    )
    plain = doc(
        922, "Thrombocytopenia", [("", "Thrombocytopenia is defined as a platelet count below 150,000/uL.")]
    )
    article = ask("What causes thrombocytopenia?", itp, plain)
    definition = next(s for s in article.sections if s.key == "definition")
    assert [c.citations[0].document_id for c in definition.claims] == [plain.id]
    assert itp.id in [c.citations[0].document_id for c in subsection(article, "causes-autoimmune").claims]


def test_a_syndrome_presenting_with_the_condition_is_a_cause_before_a_population() -> None:
    hus = doc(
        923,
        "Surgical lesions of the colon in the hemolytic uremic syndrome",
        [
            (
                "",
                "Hemolytic uremic syndrome (HUS) is characterized by hemolytic anemia, thrombocytopenia, and "
                "acute renal failure, usually in children under 10 years of age.",
            )
        ],
    )
    article = ask("What causes thrombocytopenia?", hus)
    assert hus.id in [
        c.citations[0].document_id for c in subsection(article, "causes-microangiopathy").claims
    ]


def test_the_condition_named_with_its_cause_is_filed_as_a_cause() -> None:
    fluids = doc(
        924,
        "Maintenance fluid management in pediatrics",
        [
            (
                "",
                "The long-standing use of hypotonic fluids in pediatric maintenance fluids has been challenged "
                "due to concerns over iatrogenic hyponatremia causing morbidity and mortality.",
            )
        ],
    )
    thyroid = doc(
        925, "Hyponatremia of hypothyroidism", [("", "Hypothyroidism causes hyponatremia in older adults.")]
    )
    article = ask("What causes hyponatremia?", fluids, thyroid)
    assert fluids.id in [c.citations[0].document_id for c in subsection(article, "causes-medications").claims]


def test_a_cause_summary_names_causes_as_the_sentences_write_them() -> None:
    texts = [
        "Adenoviral-vectored-DNA vaccines may cause thrombocytopenia through antibodies to platelet factor 4.",
        "Hemolytic uremic syndrome (HUS) is characterized by hemolytic anemia, thrombocytopenia and renal failure.",
    ]
    docs = [doc(940 + i, f"Thrombocytopenia: report {i}", [("", t)]) for i, t in enumerate(texts)]
    lead = ask("What causes thrombocytopenia?", *docs).bottom_line[0].text
    assert "hemolytic uremic syndrome" in lead.lower() and "Hemolytic uremic" not in lead, lead


def test_a_disorder_whose_antecedent_names_none_is_not_quoted() -> None:
    news = doc(
        926,
        "Perspectives on vaccine induced thrombotic thrombocytopenia",
        [
            (
                "",
                "As of March 16 of 2021, vaccination programs in 18 countries had been suspended until further "
                "examination. This disorder presents as extensive thrombosis alongside thrombocytopenia.",
            )
        ],
    )
    texts = [c.text for c in all_claims(ask("What causes thrombocytopenia?", news))]
    assert not any("This disorder" in t for t in texts)


def test_a_list_of_a_class_quotes_only_sentences_naming_its_members() -> None:
    vocabulary = Vocabulary.builtin()
    vocabulary.add("Amino Acids, Essential")
    texts = [
        "Leucine, isoleucine and valine are essential amino acids.",
        "Plant proteins hold a low proportion of essential amino acids (methionine and lysine) in adults.",
        "The dose of essential amino acids as part of the so-called Sweden-diet relieves uraemic symptoms.",
    ]
    docs = [doc(950 + i, f"Amino acids in nutrition: report {i}", [("", t)]) for i, t in enumerate(texts)]
    query = analyse("List the essential aminoacids.", vocabulary=vocabulary)
    article = ExtractiveSynthesizer().synthesize(query, hits_for(*docs))
    quoted = " ".join(c.text for c in all_claims(article))
    assert "Leucine" in quoted and "methionine and lysine" in quoted
    assert "Sweden-diet" not in quoted  # names no amino acid: no answer to the list
    # Asked what is known about the class rather than for its members, the diet sentence stays.
    query = analyse("What is known about essential amino acids in nutrition?", vocabulary=vocabulary)
    quoted = " ".join(c.text for c in all_claims(ExtractiveSynthesizer().synthesize(query, hits_for(*docs))))
    assert "Sweden-diet" in quoted


def test_an_abbreviation_is_answered_only_by_sentences_that_spell_it_out() -> None:
    texts = [
        "Tofacitinib is the first drug of the targeted synthetic DMARD (tsDMARD) class in rheumatoid arthritis.",
        "For the first-line bDMARD or tsDMARD in rheumatoid arthritis, TNF inhibitors may be considered.",
    ]
    docs = [doc(960 + i, f"Rheumatoid arthritis therapy {i}", [("", t)]) for i, t in enumerate(texts)]
    quoted = [c.text for c in all_claims(ask("What does tsDMARD stand for?", *docs))]
    assert any("targeted synthetic DMARD (tsDMARD)" in t for t in quoted)
    assert not any("first-line" in t for t in quoted), quoted
    # "What is a tsDMARD?" may be answered by what it is used for too.
    assert any("first-line" in c.text for c in all_claims(ask("What is a tsDMARD?", *docs)))


def test_a_reviews_headings_answer_a_question_on_types_and_no_other() -> None:
    headings = doc(
        970,
        "Holoprosencephaly: a review",
        [
            (
                "",
                "Holoprosencephaly is a brain malformation resulting from incomplete cleavage of the forebrain. "
                "Holoprosencephaly is addressed under the following headings: alobar, semilobar, and lobar "
                "holoprosencephaly; arrhinencephaly; genetic causes of holoprosencephaly.",
            )
        ],
    )
    quoted = [c.text for c in all_claims(ask("What is holoprosencephaly?", headings))]
    assert quoted and not any("headings" in t for t in quoted), quoted
    quoted = [c.text for c in all_claims(ask("What are the types of holoprosencephaly?", headings))]
    assert any("headings" in t for t in quoted), quoted


def test_a_cause_summary_names_an_agent_the_vocabulary_does_not_know_by_its_indexed_heading() -> None:
    drug = doc(
        975,
        "Inappropriate antidiuretic hormone following adenine arabinoside administration",
        [
            (
                "",
                "A patient developed profound hyponatremia secondary to the administration of adenine arabinoside.",
            )
        ],
        mesh=(
            mesh("Vidarabine", "adverse effects"),
            mesh("Inappropriate ADH Syndrome", "chemically induced"),  # the harm, not the agent
            mesh("Hyponatremia", "chemically induced"),
        ),
    )
    thyroid = doc(
        976, "Hyponatremia of hypothyroidism", [("", "Hypothyroidism causes hyponatremia in older adults.")]
    )
    lead = ask("What causes hyponatremia?", drug, thyroid).bottom_line[0].text
    assert "medications and toxins (vidarabine)" in lead, lead
    assert "inappropriate" not in lead.lower(), lead
