"""Claim verification: lexical support, numbers, negation, embeddings, article bookkeeping."""

from __future__ import annotations

import pytest

from curbside.answer.sentences import SUMMARY_CATEGORY, quoted_title, title_claim_text
from curbside.answer.verify import (
    AUTHORED_SECTION_KEYS,
    VerifyThresholds,
    analyse_text,
    stem,
    verify_article,
    verify_claim,
)
from curbside.errors import InputError, ModelError
from curbside.testing import FakeEmbedder
from curbside.types import Article, ArticleSection, Citation, Claim

BODY_PREFIX = "Leukopenia is a reduction in circulating white cells. "
PASSAGE = (
    "Drug-induced neutropenia is most often caused by clozapine, sulfasalazine and methimazole. "
    "Neutropenia was observed in 40% of patients receiving the drug. "
    "Smoking is associated with a higher white cell count."
)
BODY = BODY_PREFIX + PASSAGE
START = len(BODY_PREFIX)


def cite(quote: str = PASSAGE, doc: str = "pmid:1") -> Citation:
    start = BODY.find(quote) if quote in BODY else 0
    return Citation(doc, start, start + len(quote), quote)


def claim(text: str, *citations: Citation) -> Claim:
    return Claim(text, citations or (cite(),))


def test_verbatim_claim_is_supported_and_narrowed_to_its_sentence() -> None:
    sentence = "Drug-induced neutropenia is most often caused by clozapine, sulfasalazine and methimazole."
    out = verify_claim(claim(sentence))
    assert out.verdict == "supported"
    assert out.support == pytest.approx(1.0)
    assert out.supporting is not None
    assert out.supporting.quote == sentence
    # Offsets still index into the document body, not into the quote.
    assert BODY[out.supporting.start : out.supporting.end] == sentence
    assert out.supporting.document_id == "pmid:1"


def test_paraphrase_sharing_words_is_at_least_partial() -> None:
    out = verify_claim(
        claim("Clozapine, sulfasalazine and methimazole commonly cause drug-induced neutropenia.")
    )
    assert out.verdict in ("supported", "partial")
    assert out.support >= VerifyThresholds().low


def test_number_not_in_span_caps_at_partial_and_says_which() -> None:
    out = verify_claim(claim("Neutropenia was observed in 50% of patients receiving the drug."))
    assert out.verdict == "partial"
    assert out.support < VerifyThresholds().high
    assert "50%" in out.note and "not in cited passage" in out.note


def test_same_number_written_differently_is_found() -> None:
    out = verify_claim(claim("Neutropenia was observed in 40 percent of patients receiving the drug."))
    assert out.verdict == "supported"
    assert "not in cited passage" not in out.note


def test_identifier_digits_are_not_numbers() -> None:
    assert analyse_text("COVID-19 and IL-6 raise CD4 counts").numbers == {}
    assert set(analyse_text("a dose of 1,000 mg or 0.50 g in 40% of cases").numbers) == {"1000", "0.5", "40"}


def test_negated_claim_is_not_supported() -> None:
    out = verify_claim(claim("Smoking is not associated with a higher white cell count."))
    assert out.verdict != "supported"
    assert out.verdict == "unsupported"
    assert "negation" in out.note
    # The affirmative version of the same sentence is supported, so it is the negation that counts.
    assert verify_claim(claim("Smoking is associated with a higher white cell count.")).verdict == "supported"


def test_negation_in_an_unrelated_clause_does_not_count() -> None:
    span = "Clozapine is associated with agranulocytosis but not with thrombocytosis."
    out = verify_claim(
        Claim("Clozapine is associated with agranulocytosis.", (Citation("pmid:2", 0, len(span), span),))
    )
    assert out.verdict == "supported"


def test_negation_cues_in_both_agree() -> None:
    span = "There was no significant increase in mortality without treatment."
    c = Citation("pmid:3", 0, len(span), span)
    assert (
        verify_claim(Claim("No increase in mortality was seen without treatment.", (c,))).verdict
        == "supported"
    )
    assert verify_claim(Claim("Mortality increased without treatment.", (c,))).verdict != "supported"


def test_unrelated_claim_is_unsupported_with_missing_words() -> None:
    out = verify_claim(claim("Aspirin reduces the risk of myocardial infarction in elderly men."))
    assert out.verdict == "unsupported"
    assert out.supporting is None
    assert "aspirin" in out.note


def test_claim_without_citation_is_unsupported() -> None:
    out = verify_claim(Claim("Leukopenia is common.", ()))
    assert out.verdict == "unsupported"
    assert out.note == "no citation"


def test_claims_combining_two_sources_can_be_jointly_supported() -> None:
    a = "Clozapine causes agranulocytosis."
    b = "Methotrexate causes pancytopenia."
    c = Claim(
        "Clozapine causes agranulocytosis and methotrexate causes pancytopenia.",
        (Citation("pmid:1", 0, len(a), a), Citation("pmid:2", 0, len(b), b)),
    )
    out = verify_claim(c)
    assert out.verdict == "supported"
    assert "jointly" in out.note
    assert out.supporting is not None and out.supporting.quote in (a, b)


def test_embedder_blends_cosine_and_embeds_in_one_batch() -> None:
    emb = FakeEmbedder()
    sentence = "Drug-induced neutropenia is most often caused by clozapine, sulfasalazine and methimazole."
    article = Article(
        question="q",
        qtype="causes",
        title="t",
        bottom_line=(claim(sentence),),
        sections=(
            ArticleSection(
                "causes", "Causes", (claim("Smoking is associated with a higher white cell count."),)
            ),
        ),
    )
    out = verify_article(article, embedder=emb)
    assert emb.calls == 1
    assert out.metadata["verification"]["embedder"] == emb.name
    assert "semantic" in out.bottom_line[0].note
    assert out.bottom_line[0].verdict == "supported"
    lexical_only = verify_claim(claim("Clozapine, sulfasalazine and methimazole commonly cause neutropenia."))
    blended = verify_claim(
        claim("Clozapine, sulfasalazine and methimazole commonly cause neutropenia."), embedder=FakeEmbedder()
    )
    assert blended.support != lexical_only.support


def test_embedder_returning_wrong_shape_is_a_model_error() -> None:
    class Broken(FakeEmbedder):
        def embed(self, texts):  # type: ignore[no-untyped-def]
            return super().embed(texts)[:1]

    with pytest.raises(ModelError, match="returned shape"):
        verify_claim(claim("Smoking is associated with a higher white cell count."), embedder=Broken())


def _article() -> Article:
    good = claim("Drug-induced neutropenia is most often caused by clozapine, sulfasalazine and methimazole.")
    partial = claim("Neutropenia was observed in 65% of patients receiving the drug.")
    bad = claim("Aspirin reduces the risk of myocardial infarction in elderly men.")
    uncited = Claim("Everything is fine.", ())
    return Article(
        question="What causes neutropenia?",
        qtype="causes",
        title="Causes of Neutropenia",
        bottom_line=(good, bad),
        sections=(
            ArticleSection(
                "causes",
                "Causes",
                (partial,),
                subsections=(ArticleSection("drugs", "Drugs", (good,)),),
            ),
            ArticleSection("pitfalls", "Pitfalls", (bad, uncited)),
            ArticleSection("glossary", "Glossary", (Claim("Neutropenia: few neutrophils.", ()),)),
        ),
        removed_claims=(Claim("Earlier removal.", (), verdict="unsupported"),),
        metadata={"synthesizer": "test"},
    )


def test_verify_article_moves_unsupported_claims_and_records_counts() -> None:
    article = _article()
    out = verify_article(article)
    assert [c.verdict for c in out.bottom_line] == ["supported"]
    assert [s.key for s in out.sections] == ["causes", "glossary"]  # pitfalls lost every claim
    assert out.sections[0].claims[0].verdict == "partial"  # partial claims stay
    assert out.sections[0].subsections[0].claims[0].verdict == "supported"
    # The glossary is curbside's own text: passed through unverified.
    assert "glossary" in AUTHORED_SECTION_KEYS
    assert out.sections[1].claims[0].verdict == "unchecked"
    removed = out.removed_claims
    assert removed[0].text == "Earlier removal."
    # The same quote removed from the bottom line and from its section is listed once.
    assert [c.text for c in removed[1:]] == [
        "Aspirin reduces the risk of myocardial infarction in elderly men.",
        "Everything is fine.",
    ]
    assert all(c.verdict == "unsupported" and c.note for c in removed[1:])
    meta = out.metadata["verification"]
    assert meta["checked"] == 6
    assert (meta["supported"], meta["partial"], meta["unsupported"], meta["removed"]) == (2, 1, 3, 2)
    assert meta["citation_precision"] == pytest.approx(2 / 6, abs=1e-4)
    assert meta["thresholds"]["high"] == VerifyThresholds().high
    assert meta["embedder"] is None
    assert out.metadata["synthesizer"] == "test"
    # Pure: the input is untouched.
    assert article.bottom_line[0].verdict == "unchecked"
    assert "verification" not in article.metadata
    assert len(article.removed_claims) == 1


def test_empty_article_has_no_precision() -> None:
    out = verify_article(Article("q", "general", "t", (), ()))
    assert out.metadata["verification"]["checked"] == 0
    assert out.metadata["verification"]["citation_precision"] is None


def test_thresholds_are_validated() -> None:
    with pytest.raises(InputError, match="low"):
        VerifyThresholds(high=0.3, low=0.5)
    with pytest.raises(InputError, match="between 0 and 1"):
        VerifyThresholds(high=1.5)
    text = "Clozapine causes neutropenic episodes."  # 3 of 4 content words, one by prefix only
    assert verify_claim(claim(text)).verdict == "partial"
    assert verify_claim(claim(text), thresholds=VerifyThresholds(high=0.9, low=0.8)).verdict == "unsupported"
    assert verify_claim(claim(text), thresholds=VerifyThresholds(high=0.5, low=0.2)).verdict == "supported"


def test_light_stemming_groups_word_forms() -> None:
    assert stem("associated") == stem("association") == stem("associations")
    assert stem("causes") == stem("caused") == stem("cause") == stem("causing")
    assert stem("bleeding") == stem("bleed")
    assert stem("treated") == stem("treating") == stem("treatment") == stem("treat")
    assert stem("smokers") == stem("smoking") and stem("higher") == stem("high")
    assert stem("dose") == stem("doses") and stem("fever") != stem("few")
    assert stem("diagnosis") == "diagnosis"
    assert stem("leucopenia") == stem("leukopenia")  # British spelling


def test_twenty_claim_article_is_verified_without_an_embedder() -> None:
    # Its speed is reported by bench/answer.py (verify_ms); here, lexical verification alone judges all 20.
    passages = [
        f"Drug number {i} caused neutropenia in {i * 3}% of {i * 10} treated adults. " * 3 for i in range(20)
    ]
    claims = tuple(
        Claim(
            f"Drug number {i} caused neutropenia in {i * 3}% of treated adults.",
            (Citation(f"pmid:{i}", 0, len(p), p),),
        )
        for i, p in enumerate(passages)
    )
    article = Article("q", "causes", "t", claims[:3], (ArticleSection("causes", "Causes", claims[3:]),))
    out = verify_article(article)
    assert out.metadata["verification"]["supported"] == 20
    assert out.metadata["verification"]["embedder"] is None


# --- titles of records without abstract ------------------------------------------------------------

TITLE = "[Agranulocytosis after treatment with aprindine (author's transl)]."


def title_cite(quote: str = "Agranulocytosis after treatment with aprindine") -> Citation:
    start = TITLE.find(quote)
    return Citation("pmid:9", start, start + len(quote), quote, "title")


def test_a_title_claim_is_checked_by_its_quoted_title_against_the_title_span() -> None:
    framed = title_claim_text("Agranulocytosis after treatment with aprindine", "Case report")
    checked = verify_claim(Claim(framed, (title_cite(),)))
    assert checked.verdict == "supported"
    assert checked.supporting is not None and checked.supporting.part == "title"
    assert checked.supporting.quote == "Agranulocytosis after treatment with aprindine"


def test_a_title_claim_quoting_words_the_title_lacks_is_not_supported() -> None:
    framed = title_claim_text("Aplastic anaemia after treatment with chloramphenicol", "Case report")
    assert verify_claim(Claim(framed, (title_cite(),))).verdict == "unsupported"


def test_the_frame_is_only_set_aside_for_claims_citing_titles() -> None:
    # The same words citing a body span: "reported", "case", "titled" must then be found in it too.
    framed = title_claim_text("Drug-induced neutropenia is most often caused by clozapine", "Case report")
    body_claim = verify_claim(Claim(framed, (cite(),)))
    plain = verify_claim(Claim("Drug-induced neutropenia is most often caused by clozapine", (cite(),)))
    assert body_claim.support < plain.support
    assert quoted_title("Agranulocytosis after aprindine.") is None


def test_a_translated_title_claim_is_checked_by_its_quoted_title() -> None:
    framed = title_claim_text(
        "Agranulocytosis after treatment with aprindine", "Case report", translated=True
    )
    assert framed.endswith('aprindine" (English translation of the title).')
    assert quoted_title(framed) == "Agranulocytosis after treatment with aprindine"
    assert verify_claim(Claim(framed, (title_cite(),))).verdict == "supported"


def test_a_summary_holds_only_while_every_claim_it_summarises_does() -> None:
    good = claim("Drug-induced neutropenia is most often caused by clozapine, sulfasalazine and methimazole.")
    bad = Claim("Aspirin reduces the risk of myocardial infarction.", (cite(BODY_PREFIX.strip(), "pmid:2"),))
    held = Claim(
        "Medications are reported as causes in one source.", good.citations, category=SUMMARY_CATEGORY
    )
    lost = Claim(
        "Medications are reported as causes in two sources.",
        (*good.citations, *bad.citations),
        category=SUMMARY_CATEGORY,
    )
    article = Article(
        question="What causes neutropenia?",
        qtype="causes",
        title="Causes of Neutropenia",
        bottom_line=(held, lost),
        sections=(ArticleSection("causes", "Causes", (good, bad)),),
    )
    out = verify_article(article)
    # Its words are curbside's, so it is not checked against the spans but against what survives.
    assert [(c.text, c.verdict) for c in out.bottom_line] == [(held.text, "supported")]
    assert out.bottom_line[0].note == "summary of 1 verified claim cited in the sections below"
    removed = {c.text: c for c in out.removed_claims}
    assert removed[lost.text].verdict == "unsupported"  # never silently dropped
    assert "1 of 2 summarised claims not in the article" in removed[lost.text].note
    assert out.metadata["verification"]["checked"] == 4


def test_with_the_question_claims_are_also_judged_in_context_and_for_relevance() -> None:
    from curbside.retrieval.questions import Vocabulary, analyse

    query = analyse("What causes neutropenia?", vocabulary=Vocabulary.builtin())
    on = claim("Drug-induced neutropenia is most often caused by clozapine, sulfasalazine and methimazole.")
    off = claim("Smoking is associated with a higher white cell count.")
    article = Article(
        "What causes neutropenia?",
        "causes",
        "Causes of Neutropenia",
        (on,),
        (ArticleSection("causes", "Causes", (on, off)),),
    )
    out = verify_article(article, query=query)
    meta = out.metadata["verification"]
    counts = (meta["checked"], meta["supported"], meta["supported_in_context"], meta["relevant"])
    assert counts == (3, 2, 3, 2)
    assert meta["citation_precision"] == 1.0  # quote fidelity alone: every quote holds
    assert [c.text for c in out.removed_claims] == ["Smoking is associated with a higher white cell count."]
    assert out.removed_claims[0].note.startswith("not relevant: does not name the question's subject")
    # Without the question, quote fidelity alone, as before.
    plain = verify_article(article)
    assert plain.metadata["verification"]["relevant"] is None and not plain.removed_claims
