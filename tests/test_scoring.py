"""Claims a synthesizer left unscored get the relevance model's score of the sentence they quote."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from curbside.answer.scoring import learned_assessment, score_claims
from curbside.models.relevance import LEXICAL_NAMES, PASSAGE_NAMES, Head, RelevanceModel
from curbside.retrieval.questions import Vocabulary, analyse
from curbside.testing import FakeEmbedder
from curbside.training.scorers import fit
from curbside.types import Article, ArticleSection, Citation, Claim, Document, Section

DOC = Document(
    "pmid:1",
    "Drug-induced leukopenia",
    (
        Section("Clozapine causes leukopenia in 3% of patients.", "RESULTS"),
        Section("The weather was mild.", "CONCLUSIONS"),
    ),
)


def _model(embedder: FakeEmbedder) -> RelevanceModel:
    rng = np.random.default_rng(0)
    width = embedder.dim + 1 + len(LEXICAL_NAMES)
    x = rng.normal(size=(60, width)).astype(np.float32)
    y = (x[:, embedder.dim] > 0).astype(np.float32)  # the cosine decides
    sentence = fit(x, y, np.ones_like(y), hidden=4, epochs=5, seed=0)
    xp = rng.normal(size=(60, len(PASSAGE_NAMES))).astype(np.float32)
    passage = fit(xp, (xp[:, 0] > 0).astype(np.float32), np.ones_like(y), hidden=4, epochs=5, seed=0)
    return RelevanceModel(sentence, passage, 0.5, {"version": "t", "embedder": embedder.name})


def _cite(quote: str, part: str = "body") -> Citation:
    start = DOC.body.find(quote) if part == "body" else 0
    return Citation(DOC.id, start, start + len(quote), quote, part=part)


def test_unscored_quoted_claims_are_scored_and_the_rest_left_alone() -> None:
    embedder = FakeEmbedder()
    on = Claim("Clozapine causes leukopenia in 3% of patients.", (_cite(DOC.sections[0].text),))
    off = Claim("The weather was mild.", (_cite(DOC.sections[1].text),))
    title = Claim("A record titled Drug-induced leukopenia.", (_cite(DOC.title, "title"),))
    scored_already = Claim("Clozapine causes leukopenia.", (_cite(DOC.sections[0].text),), relevance=0.42)
    article = Article(
        "What causes leukopenia?",
        "causes",
        "Causes of leukopenia",
        (on,),
        (ArticleSection("causes", "Causes", (off, title, scored_already)),),
    )
    query = analyse(article.question, vocabulary=Vocabulary.builtin())
    out = score_claims(article, query, {DOC.id: DOC}, _model(embedder), embedder)
    [first] = out.bottom_line
    second, third, fourth = out.sections[0].claims
    assert first.relevance is not None and 0.0 <= first.relevance <= 1.0
    assert second.relevance is not None
    assert third.relevance is None  # a title claim: nothing the sentence head was trained on
    assert fourth.relevance == 0.42
    # Unknown records and articles with nothing to score come back unchanged.
    assert score_claims(article, query, {}, _model(embedder), embedder) == article


def test_ask_applies_the_learned_threshold_when_the_model_reads_this_embedder(tmp_path: Path) -> None:
    from _web import build_settings
    from curbside import api

    path = tmp_path / "relevance.npz"
    _model(FakeEmbedder()).save(path)
    settings = build_settings(tmp_path, relevance_model=str(path))
    article = api.ask("What are the causes of leukopenia?", settings=settings)
    verification = article.metadata["verification"]
    assert verification["relevance_threshold"] == 0.5
    assert article.metadata["relevance_model"] == "relevance-t"
    assert all(c.relevance is not None for c in article.all_claims() if c.citations[0].part == "body")
    kept, removed = verification["relevant"], verification["checked"]
    assert kept <= removed
    # Switched off, as before: no threshold, keyword scoring.
    plain = api.ask(
        "What are the causes of leukopenia?", settings=settings.model_copy(update={"relevance_model": "none"})
    )
    assert plain.metadata["verification"]["relevance_threshold"] is None


def test_a_verdict_is_uncertain_only_when_its_evidence_names_nothing_the_question_asks() -> None:
    from curbside.ingestion.chunking import chunk_document
    from curbside.models.verdicts import CUE_NAMES, VerdictModel
    from curbside.types import Hit

    embedder = FakeEmbedder()
    cues = len(CUE_NAMES)
    weights = np.zeros(cues, np.float32)
    weights[CUE_NAMES.index("signed")] = 3.0
    verdict = VerdictModel(np.zeros(cues, np.float32), np.ones(cues, np.float32), weights, 0.0,
                           info={"feature_set": "cues"})  # fmt: skip
    query = analyse("Does clozapine cause leukopenia?", vocabulary=Vocabulary.builtin())

    def assess(document: Document) -> str:
        hits = [Hit(chunk, document, 1.0) for chunk in chunk_document(document)]
        return learned_assessment(query, hits, [], verdict, None, embedder).verdict

    # Low relevance is no reason for "uncertain" when the findings name the question's subject.
    assert assess(DOC) == "yes"
    unrelated = Document("pmid:2", "Weather", (Section("The weather was mild in the spring.", "RESULTS"),))
    assert assess(unrelated) == "uncertain"


def _subject_model(embedder: FakeEmbedder) -> RelevanceModel:
    """A sentence head that says "relevant" exactly when the text names the question's subject (the
    first lexical feature, subject coverage): what reading a sentence under its title must change."""
    width = embedder.dim + 1 + len(LEXICAL_NAMES)
    w1 = np.zeros((width, 1), np.float32)
    w1[embedder.dim + 1, 0] = 10.0  # subject coverage
    sentence = Head(
        np.zeros(width, np.float32),
        np.ones(width, np.float32),
        w1,
        np.zeros(1, np.float32),
        np.ones((1, 1), np.float32),
        np.full(1, -5.0, np.float32),
    )
    n = len(PASSAGE_NAMES)
    passage = Head(
        np.zeros(n, np.float32),
        np.ones(n, np.float32),
        np.zeros((n, 1), np.float32),
        np.zeros(1, np.float32),
        np.ones((1, 1), np.float32),
        np.zeros(1, np.float32),
    )
    return RelevanceModel(sentence, passage, 0.5, {"version": "t", "embedder": embedder.name})


def test_a_finding_that_does_not_name_the_subject_is_read_under_its_title() -> None:
    from curbside.answer.scoring import in_title_context, learned_candidates
    from curbside.answer.sentences import candidate_sentences
    from curbside.types import Chunk, Hit

    titled = Document(
        "pmid:7",
        "Clozapine in tardive dyskinesia",
        (Section("Out of 12 patients, neutropenia occurred in two patients.", ""),),
    )
    other = Document(
        "pmid:8",
        "Lithium and the parathyroid",
        (Section("Out of 12 patients, neutropenia occurred in two patients taking it.", ""),),
    )
    hits = [Hit(Chunk(d.id, 0, "", 0, len(d.body), d.body), d, score=1.0) for d in (titled, other)]
    embedder = FakeEmbedder()
    model = _subject_model(embedder)
    query = analyse("What are the adverse effects of clozapine?", vocabulary=Vocabulary.builtin())
    scored = learned_candidates(query, candidate_sentences(query, hits), model, embedder)
    assert all(c.relevance < 0.5 for c in scored)  # neither sentence names clozapine
    out, lifted = in_title_context(query, scored, model, embedder, 0.5)
    by_doc = {c.document.id: c for c in out}
    assert lifted == {by_doc[titled.id].key}  # the title names clozapine; lithium's does not
    assert by_doc[titled.id].relevance >= 0.5 and by_doc[other.id].relevance < 0.5
