"""Audience adaptation: lay wording, glossary, safety advice, preserved citations, readability."""

from __future__ import annotations

import pytest

from _articles import sample_article, title_only_article
from curbside.answer.audience import (
    GLOSSARY_KEY,
    GLOSSARY_LIMIT,
    SEEK_CARE_KEY,
    adapt,
    article_text,
    count_syllables,
    glossary,
    lay_terms,
    readability,
    seek_care,
    shorten_sentences,
)
from curbside.answer.verify import AUTHORED_SECTION_KEYS, verify_article
from curbside.errors import InputError
from curbside.types import DISCLAIMER, Article, ArticleSection, Citation, Claim


def keys(article: Article) -> list[str]:
    return [s.key for s in article.sections]


def test_clinician_is_unchanged() -> None:
    article = sample_article()
    assert adapt(article, "clinician") is article


def test_patient_reads_easier_than_clinician() -> None:
    clinician = sample_article()
    patient = adapt(clinician, "patient")
    before = readability(article_text(clinician))
    after = readability(article_text(patient))
    assert before["flesch_kincaid_grade"] is not None and after["flesch_kincaid_grade"] is not None
    assert after["flesch_kincaid_grade"] < before["flesch_kincaid_grade"]
    assert patient.metadata["readability"] == after


def test_citations_and_verdicts_stay_attached() -> None:
    clinician = sample_article()
    for audience in ("student", "patient"):
        adapted = adapt(clinician, audience)
        source = list(clinician.all_claims())
        kept = [c for c in adapted.all_claims() if c.category not in (GLOSSARY_KEY, SEEK_CARE_KEY)]
        if audience == "patient":  # the pitfalls section is dropped for patients
            pitfalls = clinician.sections[1].all_claims()
            source = [c for c in source if c not in pitfalls]
        assert len(kept) == len(source)
        for old, new in zip(source, kept, strict=True):
            assert new.citations == old.citations
            assert (new.verdict, new.support, new.supporting, new.note) == (
                old.verdict,
                old.support,
                old.supporting,
                old.note,
            )
        assert adapted.references == clinician.references
        assert adapted.removed_claims == clinician.removed_claims
        changes = adapted.metadata["audience_changes"]
        assert all(ch["original"] in {c.text for c in source} for ch in changes)
        assert all(ch["adapted"] in {c.text for c in kept} for ch in changes)
        assert bool(changes) == (audience == "patient")  # the student sample needs no new expansion
        assert adapted.metadata["audience_adapted"] is True
    assert "audience_adapted" not in clinician.metadata  # the input is not changed


def test_patient_lay_wording() -> None:
    patient = adapt(sample_article(), "patient")
    text = article_text(patient)
    assert "heart attack" in text and "myocardial infarction" not in text
    assert "high blood pressure" in text and "hypertension" not in text.lower()
    # The technical term is kept in brackets on first use only.
    assert text.count("low white blood cell count (leukopenia)") == 1
    assert "low white blood cell count" in text.split("(leukopenia)", 1)[1].lower()
    assert patient.title == "Causes of Low White Blood Cell Count (Leukopenia)"
    # Sentences split at "; " and ", which".
    assert "; the absolute" not in text and ". The absolute neutrophil count" in text
    assert ", which persisted" not in text and ". This persisted" in text


def test_patient_sections_and_disclaimer() -> None:
    patient = adapt(sample_article(), "patient")
    assert "pitfalls" not in keys(patient)
    assert keys(patient)[-1] == SEEK_CARE_KEY
    section = patient.sections[-1]
    assert "not taken from the cited sources" in section.intro
    assert all(not c.citations for c in section.claims)
    assert len(section.claims) == len(seek_care().items)
    assert patient.disclaimer == seek_care().disclaimer != DISCLAIMER
    assert GLOSSARY_KEY not in keys(patient)


def test_student_glossary_and_abbreviations() -> None:
    student = adapt(sample_article(), "student")
    assert keys(student)[-1] == GLOSSARY_KEY
    assert "pitfalls" in keys(student)
    assert SEEK_CARE_KEY not in keys(student)
    gloss = student.sections[-1]
    assert "curbside's built-in glossary" in gloss.intro
    terms = [c.text.split(":", 1)[0].lower() for c in gloss.claims]
    assert "leukopenia" in terms and "myocardial infarction" in terms
    assert len(terms) <= GLOSSARY_LIMIT
    assert all(not c.citations for c in gloss.claims)
    # Wording of claims is otherwise unchanged apart from abbreviations.
    assert student.sections[0].claims[0].text == sample_article().sections[0].claims[0].text


def test_abbreviation_expanded_on_first_use_only() -> None:
    c = Citation("pmid:1", 0, 1, "x")
    article = Article(
        "q",
        "general",
        "t",
        (Claim("Clozapine requires ANC monitoring.", (c,)),),
        (
            ArticleSection(
                "s",
                "S",
                (
                    Claim("The ANC falls with NSAIDs.", (c,)),
                    Claim("NSAIDs help. Check HbA1c.", (c,)),
                ),
            ),
        ),
    )
    student = adapt(article, "student")
    texts = [x.text for x in student.all_claims()]
    assert texts[0] == "Clozapine requires absolute neutrophil count (ANC) monitoring."
    assert texts[1] == "The ANC falls with nonsteroidal anti-inflammatory drugs (NSAIDs)."
    assert texts[2] == "NSAIDs help. Check glycated hemoglobin (HbA1c)."


def test_only_curbside_sections_escape_verification() -> None:
    assert {GLOSSARY_KEY, SEEK_CARE_KEY} <= AUTHORED_SECTION_KEYS
    student = adapt(sample_article(), "student")
    reverified = verify_article(student)
    assert GLOSSARY_KEY in keys(reverified)


def test_adapting_twice_or_to_an_unknown_audience_is_refused() -> None:
    patient = adapt(sample_article(), "patient")
    assert adapt(patient, "patient") is patient
    with pytest.raises(InputError, match="already adapted"):
        adapt(patient, "student")
    with pytest.raises(InputError, match="unknown audience"):
        adapt(sample_article(), "child")  # type: ignore[arg-type]


def test_shorten_sentences() -> None:
    assert shorten_sentences("A is common; b is rare.") == "A is common. B is rare."
    assert (
        shorten_sentences("It lowers the ANC, which raises risk.") == "It lowers the ANC. This raises risk."
    )
    kept = "Risk rose (OR 1.4; 95% CI 1.1 to 1.8) in adults."
    assert shorten_sentences(kept) == kept


def test_syllables_and_readability() -> None:
    counts = {"the": 1, "cat": 1, "table": 2, "caused": 1, "causes": 2, "treated": 2, "leukopenia": 5}
    assert {w: count_syllables(w) for w in counts} == counts
    r = readability("The cat sat on the mat.")
    assert (r["words"], r["sentences"], r["syllables"]) == (6, 1, 6)
    assert r["flesch_reading_ease"] == pytest.approx(206.835 - 1.015 * 6 - 84.6, abs=0.06)
    assert r["flesch_kincaid_grade"] == pytest.approx(0.39 * 6 + 11.8 - 15.59, abs=0.06)
    hard = readability("Idiopathic agranulocytosis necessitates comprehensive haematological investigation.")
    assert hard["flesch_kincaid_grade"] is not None and r["flesch_kincaid_grade"] is not None
    assert hard["flesch_kincaid_grade"] > r["flesch_kincaid_grade"] + 10
    empty = readability("")
    assert empty["words"] == 0 and empty["flesch_kincaid_grade"] is None


def test_data_files_load() -> None:
    entries, abbreviations = glossary()
    assert len(entries) >= 100
    assert all(e.definition.endswith(".") for e in entries)
    assert abbreviations["ANC"] == "absolute neutrophil count"
    table = {t.term: t for t in lay_terms()}
    assert table["myocardial infarction"].lay == "heart attack"
    assert table["leukopenia"].keep_term


def test_a_quoted_title_is_never_reworded_inside_its_quotation_marks() -> None:
    article = title_only_article()

    def title_claim(a: Article) -> Claim:
        return next(c for c in a.all_claims() if c.citations and c.citations[0].part == "title")

    assert title_claim(adapt(article, "student")) == title_claim(article)
    patient = title_claim(adapt(article, "patient")).text
    assert '"' not in patient and patient.startswith("A published case report describes ")
    assert "severe lack of infection-fighting white blood cells" in patient and "mianserin" in patient


def test_a_semicolon_before_the_rest_of_a_sentence_is_not_a_sentence_break() -> None:
    from curbside.answer.audience import shorten_sentences

    broken = "The spleen was enlarged; by anemia, leukopenia and thrombocytopenia the marrow was judged."
    assert shorten_sentences(broken) == broken  # "By anemia, ..." would not be a sentence
    assert shorten_sentences("Fever was rare; including two cases of sepsis.") == (
        "Fever was rare; including two cases of sepsis."
    )
    assert shorten_sentences("Leukopenia was common in adults; it resolved within weeks.") == (
        "Leukopenia was common in adults. It resolved within weeks."
    )
    assert shorten_sentences("Rates fell; p < 0.05.") == "Rates fell; p < 0.05."


def test_patient_readability_line_is_honest_about_technical_sources() -> None:
    from curbside.render.common import readability_line
    from curbside.types import Article

    def line(grade: float) -> str | None:
        metadata = {
            "readability": {"flesch_reading_ease": 40.0, "flesch_kincaid_grade": grade},
            "readability_target_grade": 8.0,
        }
        return readability_line(Article("q", "causes", "t", (), (), audience="patient", metadata=metadata))

    assert (
        line(6.5) == "Readability: Flesch reading ease 40, Flesch-Kincaid grade 6.5 (written for patients)."
    )
    hard = line(12.3)
    assert hard is not None and "written for patients" not in hard
    assert "harder than the grade 8 advised for patient information" in hard and "technical" in hard
