"""Prose composed from verified claims: what the model may write, what is checked, what falls back."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from curbside.answer.backends import ChatMessage
from curbside.answer.compose import COMPOSED_CATEGORY, compose_article
from curbside.answer.faithful import unfaithful
from curbside.answer.sentences import SUMMARY_CATEGORY
from curbside.retrieval.questions import Vocabulary
from curbside.testing import FakeChatBackend, FakeEmbedder
from curbside.types import Article, ArticleSection, Citation, Claim

VOCAB = Vocabulary.builtin()


def _claim(text: str, doc: str = "pmid:1", context: str = "") -> Claim:
    return Claim(
        text, (Citation(doc, 0, len(text), text),), verdict="supported", support=0.9, context=context
    )


CLOZAPINE = _claim("Two patients receiving clozapine developed grand mal seizures.", "pmid:412427")
METABOLIC = _claim(
    "The majority of patients treated with clozapine develop metabolic dysregulation, including weight gain.",
    "pmid:34023734",
)
NULL = _claim("Clozapine did not cause agranulocytosis in this cohort of 40 patients.", "pmid:5")
MICE = _claim("Clozapine (5 mg/kg) attenuated prepulse inhibition deficits.", "pmid:6", context="In mice")


def test_a_faithful_paraphrase_passes() -> None:
    text = "Grand mal seizures developed in two patients receiving clozapine."
    assert unfaithful(text, [CLOZAPINE], vocabulary=VOCAB) is None


def test_a_number_the_claims_do_not_state_fails() -> None:
    why = unfaithful("Patients receiving clozapine developed seizures in 12 cases.", [CLOZAPINE])
    assert why == "the number 12 is not in the cited claims"


def test_a_name_the_claims_do_not_state_fails() -> None:
    text = "Two patients receiving clozapine developed seizures and leukopenia."
    assert unfaithful(text, [CLOZAPINE], vocabulary=VOCAB) == "'Leukopenia' is not in the cited claims"
    token = unfaithful("Two patients receiving clozapine developed seizures via CYP1A2.", [CLOZAPINE])
    assert token == "'CYP1A2' is not in the cited claims"


def test_a_negation_must_be_kept_and_never_added() -> None:
    dropped = unfaithful("In this cohort of 40 patients, clozapine did cause agranulocytosis.", [NULL])
    assert dropped == "it drops a negation of the cited claims"
    added = unfaithful("Two patients receiving clozapine did not develop grand mal seizures.", [CLOZAPINE])
    assert added == "it denies what the cited claims state"


def test_an_animal_setting_must_be_kept() -> None:
    assert unfaithful("Clozapine (5 mg/kg) attenuated prepulse inhibition deficits.", [MICE]) == (
        "it leaves out the setting of a cited claim ('In mice')"
    )
    assert unfaithful("In mice, clozapine (5 mg/kg) attenuated prepulse inhibition deficits.", [MICE]) is None


def test_a_sentence_about_something_else_fails_on_meaning() -> None:
    # Words the framing allows (the question, the heading) pass the lexical checks; the meaning does not.
    text = "Harbour customs reported clozapine shipments doubled last winter."
    framing = "harbour customs shipments doubled last winter"
    why = unfaithful(text, [CLOZAPINE], embedder=FakeEmbedder(), framing=framing)
    assert why is not None and why.startswith("it means something else")
    faithful = "Grand mal seizures developed in two patients receiving clozapine."
    assert unfaithful(faithful, [CLOZAPINE], embedder=FakeEmbedder()) is None


def test_new_words_and_qualifiers_are_relations_the_claims_do_not_state() -> None:
    drug = _claim("A man treated with levamisole developed agranulocytosis; he had a relative monocytosis.")
    invented = "Agranulocytosis is a condition characterized by monocytosis in a man on levamisole."
    assert unfaithful(invented, [drug]) == "it uses words the cited claims do not (condition, characterized)"
    sepsis = _claim("Leucopenia was more frequent in the group of patients with hiperacute sepsis.")
    overstated = unfaithful("Leucopenia is common in patients with hiperacute sepsis.", [sepsis])
    assert overstated == "it says 'common', which the cited claims do not"
    assert unfaithful("Leucopenia was more frequent in patients with hiperacute sepsis.", [sepsis]) is None


def test_the_questions_subject_may_be_named_and_must_be_kept() -> None:
    cause = _claim("Hairy cell leukemia is characterized by anemia, leukopenia and splenomegaly.")
    drug = _claim("Agranulocytosis developed in a man treated with levamisole.")
    text = "A man treated with levamisole developed leukopenia."
    assert unfaithful(text, [drug], vocabulary=VOCAB) == "'Leukopenia' is not in the cited claims"
    assert unfaithful(text, [drug], vocabulary=VOCAB, asked=["Leukopenia"]) is None
    left_out = "Hairy cell leukemia is characterized by splenomegaly and anemia."
    assert unfaithful(left_out, [cause], vocabulary=VOCAB, asked=["Leukopenia"]) == (
        "it leaves out what the cited claims say of Leukopenia"
    )


def test_every_cited_claim_must_be_said() -> None:
    drug = _claim("Levamisole induced agranulocytosis in a man.")
    why = unfaithful("Two patients receiving clozapine developed grand mal seizures.", [CLOZAPINE, drug])
    assert why is not None and why.startswith("it says nothing particular to a claim it cites ('Levamisole")


def _article() -> Article:
    return Article(
        question="What are the adverse effects of clozapine?",
        qtype="general",
        title="Adverse Effects of Clozapine",
        bottom_line=(CLOZAPINE,),
        sections=(ArticleSection("adverse-effects", "Adverse effects", (METABOLIC, NULL)),),
    )


def _reply(*sentences: tuple[str, Sequence[str]]) -> str:
    return json.dumps({"sentences": [{"text": t, "cites": list(c)} for t, c in sentences]})


def test_compose_writes_each_part_from_its_own_claims() -> None:
    bottom = _reply(("Grand mal seizures developed in two patients receiving clozapine.", ["c1"]))
    section = _reply(
        (
            "The majority of patients treated with clozapine develop metabolic dysregulation and weight gain.",
            ["c1"],
        )
    )
    chat = FakeChatBackend([bottom, section])
    article = compose_article(_article(), chat, vocabulary=VOCAB)
    (lead,) = article.bottom_line
    assert lead.category == COMPOSED_CATEGORY and lead.note == "composed from 1 verified claim (c1)"
    # The reader can open the exact quote behind a composed sentence: its citations are its claim's.
    assert lead.citations == CLOZAPINE.citations
    composed, kept = article.sections[0].claims
    assert composed.category == COMPOSED_CATEGORY and kept == NULL  # a claim no sentence cites stays quoted
    # Each request lists only its part's claims, and its schema lets the model cite nothing else.
    schema = chat.calls[1].schema
    assert schema is not None
    cites = schema["properties"]["sentences"]["items"]["properties"]["cites"]["items"]
    assert cites == {"type": "string", "enum": ["c1", "c2"]}
    assert "[c1] The majority of patients" in chat.calls[1].messages[1].content
    assert "[c1] Two patients receiving clozapine" in chat.calls[0].messages[1].content
    assert "metabolic" not in chat.calls[0].messages[1].content  # the bottom line is rewritten from its own
    assert article.metadata["composition"]["composed_sentences"] == 2


def test_a_composed_summary_bottom_line_is_kept_as_it_is() -> None:
    summary = Claim(
        "Reported adverse effects of clozapine include seizures.",
        CLOZAPINE.citations,
        verdict="supported",
        category=SUMMARY_CATEGORY,
    )
    article = replace(_article(), bottom_line=(summary,))
    section = _reply(
        ("The majority of patients treated with clozapine develop metabolic dysregulation.", ["c1"])
    )
    chat = FakeChatBackend([section])
    composed = compose_article(article, chat, vocabulary=VOCAB)
    assert composed.bottom_line == (summary,) and len(chat.calls) == 1


def test_a_sentence_that_fails_a_check_is_shown_as_its_quotes_visibly() -> None:
    bottom = _reply(("Grand mal seizures developed in two patients receiving clozapine.", ["c1"]))
    section = _reply(
        (
            "In this cohort of 40 patients clozapine did cause agranulocytosis and metabolic dysregulation.",
            ["c1", "c2"],
        )
    )
    article = compose_article(_article(), FakeChatBackend([bottom, section]), vocabulary=VOCAB)
    claims = article.sections[0].claims
    assert [c.text for c in claims] == [METABOLIC.text, NULL.text]
    assert all("composed sentence failed a check" in c.note for c in claims)
    (warning,) = [w for w in article.warnings if w.code == "composition"]
    assert "1 composed sentence failed the checks" in warning.message
    assert article.metadata["composition"]["failed_checks"] == [
        "Adverse effects: it drops a negation of the cited claims"
    ]


def test_an_unusable_reply_is_answered_once_then_the_part_stays_quoted() -> None:
    chat = FakeChatBackend(
        ["not json", "still not json", "{}", '{"sentences": [{"text": "x", "cites": ["c9"]}]}']
    )
    article = compose_article(_article(), chat)
    assert article.bottom_line == (CLOZAPINE,)
    assert article.sections[0].claims == (METABOLIC, NULL)
    retry = chat.calls[1].messages[-1].content
    assert retry.startswith("That reply cannot be used: it is not JSON")
    assert len(chat.calls) == 4  # two tries per part, no more
    (warning,) = [w for w in article.warnings if w.code == "composition"]
    assert "unusable for Bottom line" in warning.message and "Adverse effects" in warning.message


def test_the_audience_shapes_the_prompt() -> None:
    seen: list[Sequence[ChatMessage]] = []

    def reply(messages: Sequence[ChatMessage], schema: dict[str, Any] | None) -> str:
        seen.append(messages)
        return _reply(("Grand mal seizures developed in two patients receiving clozapine.", ["c1"]))

    compose_article(_article(), FakeChatBackend(reply), audience="patient")
    assert "plain words" in seen[0][0].content


def test_a_real_runtime_writes_schema_valid_parts_and_noise_falls_back_to_quotes(tmp_path: Path) -> None:
    """End to end on llama.cpp with the tiny random model: its grammar-constrained replies are valid
    JSON citing only the part's ids, and what it writes (noise) fails the checks, visibly."""
    pytest.importorskip("xllamacpp", reason="xllamacpp is in the llm and dev extras")
    from curbside.answer.backends.xllama import XLlamaCppBackend
    from curbside.testing import write_tiny_gguf

    chat = XLlamaCppBackend(model_path=write_tiny_gguf(tmp_path / "tiny.gguf"), n_ctx=8192, n_threads=1)
    article = compose_article(_article(), chat, vocabulary=VOCAB)
    assert article.sections[0].claims == (METABOLIC, NULL) or all(
        c.category == COMPOSED_CATEGORY or c in (METABOLIC, NULL) or "failed a check" in c.note
        for c in article.sections[0].claims
    )
    composition = article.metadata["composition"]
    assert composition["unusable_parts"] == []  # the grammar made every reply parse
    assert composition["failed_checks"] and composition["completion_tokens"] > 0


def _installed_model() -> Path:
    from curbside.answer.backends.install import MODELS, installed_path
    from curbside.config import Settings

    pytest.importorskip("xllamacpp", reason="xllamacpp is in the llm and dev extras")
    folder = Settings().llm_model_path.parent
    for name in MODELS:  # the 1.5B default first
        path = installed_path(folder, name)
        if path is not None:
            return path
    pytest.skip(f"no language model installed in {folder} (curbside models install)")


def test_the_installed_model_composes_sentences_that_pass_their_checks() -> None:
    """With the real model (1.5B, else 0.5B): every sentence kept is composed from claims it cites,
    with their quotes, and says nothing they do not."""
    from curbside.answer.backends.xllama import XLlamaCppBackend

    chat = XLlamaCppBackend(model_path=_installed_model())
    article = compose_article(_article(), chat, vocabulary=Vocabulary.default(), asked=["Clozapine"])
    quotes = {c.quote for c in (CLOZAPINE, METABOLIC, NULL) for c in c.citations}
    for claim in article.all_claims():
        assert claim.citations and {c.quote for c in claim.citations} <= quotes
        if claim.category == COMPOSED_CATEGORY:
            sources = [c for c in (CLOZAPINE, METABOLIC, NULL) if c.citations[0] in claim.citations]
            assert (
                unfaithful(claim.text, sources, vocabulary=Vocabulary.default(), asked=["Clozapine"]) is None
            )
    assert article.metadata["composition"]["unusable_parts"] == []


def test_parts_past_the_time_budget_keep_their_quotes() -> None:
    def slow(messages: Sequence[ChatMessage], schema: dict[str, Any] | None) -> str:
        import time

        time.sleep(0.05)
        return _reply(("Grand mal seizures developed in two patients receiving clozapine.", ["c1"]))

    article = compose_article(_article(), FakeChatBackend(slow), budget_s=0.01)
    assert article.bottom_line[0].category == COMPOSED_CATEGORY  # the first part had begun in time
    assert article.sections[0].claims == (METABOLIC, NULL)
    assert article.metadata["composition"]["over_budget_parts"] == ["Adverse effects"]
    assert any("time budget" in w.message for w in article.warnings)


def test_the_heading_may_frame_a_sentence() -> None:
    hairy = _claim("Hairy cell leukemia presents with anemia, leukopenia and splenomegaly.")
    text = "Among neoplasms, hairy cell leukemia presents with anemia, leukopenia and splenomegaly."
    assert unfaithful(text, [hairy], vocabulary=VOCAB) == "'Neoplasms' is not in the cited claims"
    framing = "What are the causes of leukopenia? Causes: Malignancy and marrow infiltration"
    assert unfaithful(text, [hairy], vocabulary=VOCAB, framing=framing) is None


def test_a_bottom_line_claim_no_sentence_cites_stays_quoted() -> None:
    article = replace(_article(), bottom_line=(CLOZAPINE, METABOLIC), sections=())
    reply = _reply(("Grand mal seizures developed in two patients receiving clozapine.", ["c1"]))
    composed = compose_article(article, FakeChatBackend([reply]), vocabulary=VOCAB)
    first, second = composed.bottom_line
    assert first.category == COMPOSED_CATEGORY and second == METABOLIC


def test_a_sentence_that_drifts_from_the_question_fails_on_relevance() -> None:
    relevant = replace(CLOZAPINE, relevance=0.9)
    article = replace(_article(), bottom_line=(relevant,), sections=())
    reply = _reply(("Grand mal seizures developed in two patients receiving clozapine.", ["c1"]))

    def scorer(score: float) -> Any:
        return lambda text, sources: score

    drifted = compose_article(article, FakeChatBackend([reply]), relevance=scorer(0.3), min_relevance=0.7)
    (quoted,) = drifted.bottom_line
    assert quoted.text == relevant.text and "less about the question" in quoted.note
    assert drifted.metadata["composition"]["failed_checks"] == [
        "Bottom line (the answer at the top of the article): it is less about the question than its claims "
        "(relevance 0.30 < 0.70)"
    ]
    kept = compose_article(article, FakeChatBackend([reply]), relevance=scorer(0.8), min_relevance=0.7)
    assert kept.bottom_line[0].category == COMPOSED_CATEGORY
