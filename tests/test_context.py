"""Claims judged in context: openings, provisional findings in positive places, setting, relevance."""

from __future__ import annotations

from curbside.answer.context import CONTEXT_NOTE, IRRELEVANT_NOTE, judge_claims, opening, qualified, setting
from curbside.retrieval.questions import Vocabulary, analyse
from curbside.types import Citation, Claim, Document, MeshHeading


def _claim(text: str, relevance: float | None = None) -> Claim:
    return Claim(text, (Citation("pmid:1", 0, len(text), text),), verdict="supported", relevance=relevance)


QUERY = analyse("What are the causes of leukopenia?", vocabulary=Vocabulary.builtin())


def test_a_pronoun_opening_drops_the_claim_and_a_connective_is_left_out() -> None:
    assert opening("They were more frequent in the treated group.")[1] == (
        "opens with 'They', whose referent is in another sentence"
    )
    text, why = opening("Therefore, leukopenia is common after clozapine.")
    assert (text, why) == ("Leukopenia is common after clozapine.", None)
    assert opening("Theophylline raises the count.") == ("Theophylline raises the count.", None)


def test_the_papers_own_voice_is_shown_as_what_it_stands_for() -> None:
    # "We" and "This study" have a referent every reader knows: the cited paper and its authors.
    assert opening("We thus characterize a distinct disorder caused by VPS4A mutations.") == (
        "The authors thus characterize a distinct disorder caused by VPS4A mutations.",
        None,
    )
    assert opening("In this study, we found that clozapine lowers the count.") == (
        "The authors found that clozapine lowers the count.",
        None,
    )
    assert opening("This study showed that MIR137 dosage matters.")[0].startswith("The study showed")
    assert opening("These findings suggest a role for zinc.") == (
        "The study's findings suggest a role for zinc.",
        None,
    )
    assert opening("These drugs lower the count.")[1] is not None  # which drugs: another sentence
    assert opening("Wegener granulomatosis is rare.") == ("Wegener granulomatosis is rare.", None)


def test_an_expletive_it_is_no_dangling_pronoun() -> None:
    assert opening(", it is largely unknown how aggregates are cleared by aggrephagy.") == (
        "It is largely unknown how aggregates are cleared by aggrephagy.",
        None,
    )
    assert opening("It remains unclear whether zinc helps.")[1] is None
    assert opening("It was more frequent in women.")[1] is not None  # what was: another sentence
    assert opening("It is a potent inhibitor of the enzyme.")[1] is not None


def test_provisional_and_null_findings_are_qualified() -> None:
    assert (
        qualified("These results, if confirmed, suggest a role for zinc.")
        == "is provisional ('if confirmed')"
    )
    assert qualified(
        "If these adverse effects are confirmed in a larger sample, clozapine is unlikely to gain wide use."
    ) == ("is provisional ('If these')")
    assert qualified("Leukopenia was not associated with mortality.") == "states a null or negative finding"
    assert qualified("Clozapine causes leukopenia.") is None


def test_setting_names_the_species_or_the_population_only_when_the_sentence_does_not() -> None:
    mice = Document("pmid:2", "Leukopenia in a model", mesh=(MeshHeading("Mice"), MeshHeading("Animals")))
    assert setting(mice, "Leukopenia developed within a week.") == "In mice"
    assert setting(mice, "Murine leukopenia developed within a week.") == ""
    people = Document(
        "pmid:3", "Leukopenia in mice and men", mesh=(MeshHeading("Mice"), MeshHeading("Humans"))
    )
    assert setting(people, "Leukopenia developed.") == ""
    lupus = Document("pmid:4", "Leukopenia in patients with systemic lupus erythematosus: a cohort")
    assert setting(lupus, "Leukopenia occurred in 40% of patients.") == (
        "In patients with systemic lupus erythematosus"
    )
    assert setting(lupus, "Leukopenia is common.") == ""


def test_a_record_without_mesh_says_its_species_from_its_own_text() -> None:
    from curbside.types import Section

    rats = Document(
        "pmid:5",
        "A ganglionic blocker modifies clozapine-induced insulin resistance",
        (
            Section("Adult female rats were treated with clozapine and clamped.", "METHODS"),
            Section("Mecamylamine reversed the rise in epinephrine caused by clozapine.", "RESULTS"),
        ),
    )
    assert setting(rats, "Mecamylamine reversed the rise in epinephrine caused by clozapine.") == "In rats"
    # Once the record speaks of people as often as of animals, its text no longer says it studied
    # animals only.
    both = Document(
        "pmid:6",
        "Clozapine in rats and in patients",
        (*rats.sections, Section("Twelve patients then received clozapine.", "RESULTS")),
    )
    assert setting(both, "Mecamylamine reversed the rise in epinephrine caused by clozapine.") == ""
    # MeSH, when present, decides: a human study that mentions an earlier rat experiment.
    humans = Document("pmid:7", rats.title, rats.sections, mesh=(MeshHeading("Humans"),))
    assert setting(humans, "Mecamylamine reversed the rise in epinephrine caused by clozapine.") == ""


def test_judgements_keep_context_and_relevance_apart() -> None:
    claims = [
        _claim("Leukopenia is most often caused by drugs.", 0.9),
        _claim("They were more frequent in the treated group with leukopenia.", 0.9),
        _claim("Aspirin prevents myocardial infarction.", 0.9),
        _claim("Leukopenia, if confirmed, may follow zinc deficiency.", 0.9),
        _claim("Leukopenia was recorded at every visit.", 0.1),
        _claim("Drug-induced neutropenia is common.", 0.9),  # a narrower heading names the subject
    ]
    places = ["bottom", "causes", "causes", "causes-drugs", "causes", "causes"]
    judged = judge_claims(claims, places, QUERY, relevance_threshold=0.5)
    assert [(j.in_context, j.relevant) for j in judged] == [
        (True, True),
        (False, True),
        (True, False),
        (False, True),
        (True, False),
        (True, True),
    ]
    notes = [j.claim.note for j in judged]
    assert notes[1].startswith(CONTEXT_NOTE) and "'They'" in notes[1]
    assert notes[2].startswith(IRRELEVANT_NOTE) and "leukopenia" in notes[2].lower()
    assert notes[3].startswith(CONTEXT_NOTE) and "if confirmed" in notes[3]
    assert notes[4] == f"{IRRELEVANT_NOTE} scores 0.10 for relevance to the question, below 0.50"
    assert [j.claim.verdict for j in judged] == [
        "supported",
        "unsupported",
        "unsupported",
        "unsupported",
        "unsupported",
        "supported",
    ]


def test_a_null_finding_may_stand_in_the_bottom_line_of_a_no() -> None:
    query = analyse("Does zinc cause leukopenia?", vocabulary=Vocabulary.builtin())
    claim = _claim("Zinc was not associated with leukopenia.")
    assert judge_claims([claim], ["bottom"], query, verdict="no")[0].in_context
    assert not judge_claims([claim], ["bottom"], query, verdict="yes")[0].in_context
    against = judge_claims([_claim("Zinc caused leukopenia in 3 patients.")], ["evidence-against"], query)
    assert "reads for the verdict" in against[0].claim.note


def test_claims_the_quote_does_not_support_count_in_neither() -> None:
    bad = Claim("Leukopenia is common.", (Citation("pmid:1", 0, 5, "x"),), verdict="unsupported", note="no")
    [j] = judge_claims([bad], ["causes"], QUERY)
    assert (j.in_context, j.relevant, j.claim.note) == (False, False, "no")


def test_an_abstract_label_is_left_out_of_what_the_reader_sees() -> None:
    assert opening("BACKGROUND: Clozapine causes neutropenia in 1% of patients.") == (
        "Clozapine causes neutropenia in 1% of patients.",
        None,
    )
    assert opening("Results of the trial were mixed.") == ("Results of the trial were mixed.", None)


def test_status_words_from_an_old_or_undated_source_carry_its_date() -> None:
    from curbside.types import Section

    old = Document("pmid:8", "Clozapine in tardive dyskinesia", (Section("x", ""),), year=1978)
    assert setting(old, "Clozapine is a new antipsychotic.", now_year=2026) == "As of 1978"
    assert setting(old, "Clozapine is an antipsychotic.", now_year=2026) == ""
    recent = Document("pmid:9", "Givosiran", (Section("x", ""),), year=2024)
    assert setting(recent, "Givosiran is a recently approved treatment.", now_year=2026) == ""
    undated = Document("guideline:1", "Guidance", (Section("x", ""),))
    assert setting(undated, "A novel agent is under development.", now_year=2026) == "Undated source"
    mice = Document("pmid:10", "A model", mesh=(MeshHeading("Mice"), MeshHeading("Animals")), year=1990)
    assert setting(mice, "A novel agent raised the count.", now_year=2026) == "In mice, as of 1990"


def test_study_species_reads_mesh_first_and_the_records_own_text_without_it() -> None:
    from curbside.answer.context import study_species
    from curbside.types import Section

    assert (
        study_species(Document("pmid:11", "A", mesh=(MeshHeading("Rats"), MeshHeading("Animals"))))
        == "In rats"
    )
    assert study_species(Document("pmid:12", "A", mesh=(MeshHeading("Rats"), MeshHeading("Humans")))) is None
    assert study_species(Document("pmid:13", "A", mesh=(MeshHeading("Hypertension"),))) is None
    cells = Document(
        "pmid:14", "Clozapine toxicity", (Section("Cultured cells were exposed to clozapine.", ""),)
    )
    assert study_species(cells) == "In vitro"
    ward = Document(
        "pmid:15", "Clozapine toxicity", (Section("Patients and cultured cells were studied.", ""),)
    )
    assert study_species(ward) is None


def test_a_finding_that_addresses_a_yes_no_question_is_relevant_whatever_its_score() -> None:
    query = analyse("Can tailored interventions increase mammography use among women?")
    finding = _claim("Tailored interventions increased mammography use among women by 12%.", 0.2)
    elsewhere = _claim("Mammography was offered to every woman in the practice.", 0.2)
    judged = judge_claims([finding, elsewhere], ["evidence-for", "key-findings"], query, verdict="yes",
                          relevance_threshold=0.7)  # fmt: skip
    assert [j.relevant for j in judged] == [True, False]
    # Outside a verdict the learned score decides, as before.
    plain = judge_claims([finding], ["key-findings"], query, relevance_threshold=0.7)
    assert not plain[0].relevant and plain[0].claim.note.startswith(IRRELEVANT_NOTE)


def test_any_animal_study_is_labelled_and_its_sentences_about_patients_are_not() -> None:
    from curbside.types import MeshHeading, Section

    guinea = Document(
        "pmid:7",
        "Meningococcal antibodies after infection",
        (Section("Antibody against the capsular polysaccharide was induced by meningococcal infection."),),
        mesh=(MeshHeading("Animals", "", False, ()), MeshHeading("Guinea Pigs", "", False, ())),
    )
    assert setting(guinea, guinea.sections[0].text) == "In guinea pigs"
    hamsters = Document("pmid:8", "x", guinea.sections, mesh=(MeshHeading("Animals", "", False, ()),))
    assert setting(hamsters, guinea.sections[0].text) == "In animals"  # MeSH's check tag, no species named
    background = "The majority of patients treated with clozapine develop weight gain."
    assert setting(hamsters, background) == ""  # a background sentence about people


def test_compound_abstract_labels_are_left_out() -> None:
    assert opening("BACKGROUND AND PURPOSE: Holoprosencephaly is rare.") == (
        "Holoprosencephaly is rare.",
        None,
    )
    assert opening("PATIENTS AND METHODS: All cases were registered.")[0] == "All cases were registered."


def test_a_definite_reference_back_needs_its_antecedent() -> None:
    assert opening("The observed lymphopenia was reversed by serum transfer.")[1] is not None
    assert opening("The latter was more frequent in adults.")[1] is not None
    assert opening("The first-line treatment is piperacillin-tazobactam.")[1] is None


def test_a_reference_back_inside_the_first_sentence_needs_its_antecedent() -> None:
    why = opening(
        "Cerebral venous thrombosis is one of several manifestations of this type of immune thrombocytopenia."
    )
    assert why[1] == "refers back ('this type') to another sentence"
    assert opening("The first would be a program to screen all antepartum patients.")[1] is not None
    she = opening("In the early stage of her clinical course, she developed adrenal hemorrhage.")[1]
    assert she is not None and "'her'" in she
    # A person the sentence introduces itself, or a referent in the joined sentence before, is enough.
    assert opening("A 57-year-old woman presented with fever; she had neutropenia.")[1] is None
    assert opening("Hairy cell leukemia is rare. It is characterized by this type of cell.")[1] is None
    assert opening("The first case of heparin-induced thrombocytopenia was reported in 1958.")[1] is None
    assert opening("HER2 amplification predicts response.")[1] is None
    assert opening("HER-2 belongs to the epidermal growth factor receptor family.")[1] is None


def test_a_bad_outcome_stands_as_evidence_against_a_question_about_a_good_one() -> None:
    query = analyse(
        "Is zinc deficiency associated with better prognosis in leukopenia?", vocabulary=Vocabulary.builtin()
    )
    worse = _claim("Zinc deficiency in leukopenia was associated with a more aggressive disease phenotype.")
    assert judge_claims([worse], ["evidence-against"], query, verdict="no")[0].in_context
    assert (
        "reads against the verdict"
        in judge_claims([worse], ["evidence-for"], query, verdict="yes")[0].claim.note
    )


def test_a_gap_between_quoted_snippets_ends_the_first_sentence() -> None:
    # BioASQ's rebuilt abstracts join snippets with "…": a back-reference in a later snippet is
    # no opening of the claim.
    text = (
        "In this review, we discuss the novel NY-ESO-1 targeted vaccine regimen, CMB305. … CMB305 "
        "induces T cell responses in SS and MRC patients and these patients had excellent survival."
    )
    assert opening(text)[1] is None
    assert opening("Three of these eight patients developed thrombocytopenia.")[1] is not None


def test_a_finding_gets_the_setting_its_title_ends_with_when_it_names_none() -> None:
    sle = Document(
        "pmid:7",
        "Computer analysis of factors influencing frequency of infection in systemic lupus erythematosus.",
    )
    assert setting(sle, "Leukopenia did not predispose to infection.") == "In systemic lupus erythematosus"
    # The sentence names its setting itself, or the title's tail is no group or condition.
    assert setting(sle, "In lupus, leukopenia did not predispose to infection.") == ""
    tail = Document("pmid:8", "Fatal case of TAFRO syndrome with adrenal hemorrhage in early-stage disease.")
    assert setting(tail, "Thrombocytopenia and fever comprise TAFRO syndrome.") == ""
    one = Document(
        "pmid:9", "Adalimumab-induced thrombocytopenia in a patient with hidradenitis suppurativa."
    )
    assert setting(one, "Adalimumab-induced thrombocytopenia is rare.") == ""


def test_a_plural_abbreviation_spelt_out_elsewhere_needs_its_antecedent() -> None:
    assert opening("The PLCOs shortened hospital length of stay.")[1] is not None
    # Joined to a sentence that does not spell it out either, it still points back.
    assert (
        opening("The scopes of PLCOs can be divided into two types. The PLCOs shortened stay.")[1] is not None
    )
    assert opening("Pharmacist-led order sets (PLCOs) were studied. The PLCOs shortened stay.")[1] is None
    # A singular one is as often a gene or an agency.
    assert opening("The BRCA2 gene is mutated in 5% of cases.")[1] is None


def test_a_source_five_calendar_years_back_dates_its_status_words() -> None:
    from curbside.types import Section

    vitt = Document(
        "pmid:11",
        "Perspectives on vaccine induced thrombotic thrombocytopenia",
        (Section("x", ""),),
        year=2021,
    )
    text = "Due to recent reports, vaccination with ChAdOx1 nCov-19 may result in thrombocytopenia."
    assert setting(vitt, text, now_year=2026) == "As of 2021"
    assert setting(vitt, text, now_year=2025) == ""


def test_a_reference_to_a_disorder_joins_only_a_sentence_naming_one() -> None:
    from curbside.answer.context import antecedent_fits

    news = "As of March 16 of 2021, vaccination programs in 18 countries had been suspended."
    assert not antecedent_fits("This disorder presents as extensive thrombosis.", news)
    assert antecedent_fits(
        "This disorder presents as extensive thrombosis.", "VITT was first reported in 2021."
    )
    assert antecedent_fits("It is characterized by leukopenia.", news)  # not a reference to a condition
    assert qualified("The mechanism of drug mediated autoantibody synthesis might have been involved.")
