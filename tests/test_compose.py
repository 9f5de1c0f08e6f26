"""Prose composed from verified claims: what the model may write, what is checked, what falls back."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from curbside.questions import Vocabulary
from curbside.synthesis.backends import ChatMessage
from curbside.synthesis.compose import COMPOSED_CATEGORY, compose_article
from curbside.synthesis.faithful import unfaithful
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
    assert (
        unfaithful("Clozapine caused grand mal seizures in two patients.", [CLOZAPINE], vocabulary=VOCAB)
        is None
    )


def test_a_number_the_claims_do_not_state_fails() -> None:
    why = unfaithful("Clozapine caused seizures in 12 patients.", [CLOZAPINE])
    assert why == "the number 12 is not in the cited claims"


def test_a_name_the_claims_do_not_state_fails() -> None:
    why = unfaithful(
        "Clozapine caused seizures and leukopenia in two patients.", [CLOZAPINE], vocabulary=VOCAB
    )
    assert why == "'Leukopenia' is not in the cited claims"
    token = unfaithful("Clozapine caused seizures via CYP1A2 in two patients.", [CLOZAPINE])
    assert token == "'CYP1A2' is not in the cited claims"


def test_a_negation_must_be_kept_and_never_added() -> None:
    assert unfaithful("Clozapine caused agranulocytosis in 40 patients.", [NULL]) == (
        "it drops a negation of the cited claims"
    )
    assert unfaithful("Clozapine did not cause seizures in two patients.", [CLOZAPINE]) == (
        "it denies what the cited claims state"
    )


def test_an_animal_setting_must_be_kept() -> None:
    assert unfaithful("Clozapine (5 mg/kg) attenuated prepulse inhibition deficits.", [MICE]) == (
        "it leaves out the setting of a cited claim ('In mice')"
    )
    assert unfaithful("In mice, clozapine (5 mg/kg) attenuated prepulse inhibition deficits.", [MICE]) is None


def test_a_sentence_about_something_else_fails_on_meaning() -> None:
    text = "Customs seizures of smuggled clozapine shipments doubled at harbour ports last winter."
    why = unfaithful(text, [CLOZAPINE], embedder=FakeEmbedder())
    assert why is not None and why.startswith("it means something else")
    faithful = "Clozapine caused grand mal seizures in two patients."
    assert unfaithful(faithful, [CLOZAPINE], embedder=FakeEmbedder()) is None


def test_the_questions_subject_may_be_named_and_must_be_kept() -> None:
    cause = _claim("Hairy cell leukemia is characterized by anemia, leukopenia and splenomegaly.")
    drug = _claim("Agranulocytosis developed in a man treated with levamisole.")
    assert unfaithful("Levamisole caused leukopenia in a man.", [drug], vocabulary=VOCAB) == (
        "'Leukopenia' is not in the cited claims"
    )
    assert (
        unfaithful("Levamisole caused leukopenia in a man.", [drug], vocabulary=VOCAB, asked=["Leukopenia"])
        is None
    )
    assert unfaithful(
        "Hairy cell leukemia causes splenomegaly and anemia.", [cause], vocabulary=VOCAB, asked=["Leukopenia"]
    ) == ("it leaves out what the cited claims say of Leukopenia")


def test_every_cited_claim_must_be_said() -> None:
    drug = _claim("Agranulocytosis developed in a man treated with levamisole.")
    why = unfaithful("Clozapine caused grand mal seizures in two patients.", [CLOZAPINE, drug])
    assert why is not None and why.startswith(
        "it says nothing particular to a claim it cites ('Agranulocytosis"
    )


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
    bottom = _reply(
        ("Clozapine caused grand mal seizures in two patients and metabolic dysregulation.", ["c1", "c2"])
    )
    section = _reply(
        ("Most patients treated with clozapine develop metabolic dysregulation with weight gain.", ["c1"])
    )
    chat = FakeChatBackend([bottom, section])
    article = compose_article(_article(), chat, vocabulary=VOCAB)
    (lead,) = article.bottom_line
    assert lead.category == COMPOSED_CATEGORY and lead.note == "composed from 2 verified claims (c1, c2)"
    # The reader can open the exact quotes behind a composed sentence: its citations are its claims'.
    assert [c.quote for c in lead.citations] == [CLOZAPINE.text, METABOLIC.text]
    composed, kept = article.sections[0].claims
    assert composed.category == COMPOSED_CATEGORY and kept == NULL  # a claim no sentence cites stays quoted
    # Each request lists only its part's claims, and its schema lets the model cite nothing else.
    schema = chat.calls[1].schema
    assert schema is not None
    cites = schema["properties"]["sentences"]["items"]["properties"]["cites"]["items"]
    assert cites == {"type": "string", "enum": ["c1", "c2"]}
    assert "[c1] The majority of patients" in chat.calls[1].messages[1].content
    assert article.metadata["composition"]["composed_sentences"] == 2


def test_a_sentence_that_fails_a_check_is_shown_as_its_quotes_visibly() -> None:
    bottom = _reply(("Clozapine caused grand mal seizures in two patients.", ["c1"]))
    section = _reply(
        ("Clozapine caused agranulocytosis in 40 patients and weight gain in most.", ["c1", "c2"])
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
        return _reply(("Clozapine caused grand mal seizures in two patients.", ["c1"]))

    compose_article(_article(), FakeChatBackend(reply), audience="patient")
    assert "plain words" in seen[0][0].content


def test_a_real_runtime_writes_schema_valid_parts_and_noise_falls_back_to_quotes(tmp_path: Path) -> None:
    """End to end on llama.cpp with the tiny random model: its grammar-constrained replies are valid
    JSON citing only the part's ids, and what it writes (noise) fails the checks, visibly."""
    pytest.importorskip("xllamacpp", reason="xllamacpp is in the llm and dev extras")
    from curbside.synthesis.backends.xllama import XLlamaCppBackend
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
    from curbside.config import Settings
    from curbside.models import MODELS, installed_path

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
    from curbside.synthesis.backends.xllama import XLlamaCppBackend

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
        return _reply(("Clozapine caused grand mal seizures in two patients.", ["c1"]))

    article = compose_article(_article(), FakeChatBackend(slow), budget_s=0.01)
    assert article.bottom_line[0].category == COMPOSED_CATEGORY  # the first part had begun in time
    assert article.sections[0].claims == (METABOLIC, NULL)
    assert article.metadata["composition"]["over_budget_parts"] == ["Adverse effects"]
    assert any("time budget" in w.message for w in article.warnings)
