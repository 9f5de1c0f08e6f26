"""``curbside train``: the relevance and verdict models rebuilt from a tiny BioASQ-format file.

The fixture (tests/fixtures/bioasq/tiny.json) holds twelve invented abstracts on real
topics, with gold snippets and yes/no answers, split across batches 7B-9B like the
shared data.  Training it proves the pipeline end to end and that a seed fixes the
result; the shipped models are trained on the shared data (docs/answers.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from curbside.config import Settings
from curbside.models.relevance import RelevanceModel, load_relevance
from curbside.models.verdicts import CUE_NAMES, FEATURE_SETS, VerdictModel, load_verdict
from curbside.training.bioasq import load
from curbside.training.scorers import auc, best_threshold, fit, train_relevance, train_verdict

TINY = Path(__file__).parent / "fixtures" / "bioasq" / "tiny.json"
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def needs_minilm() -> None:
    from curbside.errors import ModelError
    from curbside.retrieval.embeddings import MiniLMEmbedder

    try:
        MiniLMEmbedder().load()
    except ModelError as exc:
        pytest.skip(f"the MiniLM embedder is not installed: {exc.message}")


@pytest.fixture(scope="module")
def relevance(tmp_path_factory: pytest.TempPathFactory, needs_minilm: None) -> tuple[RelevanceModel, Path]:
    work = tmp_path_factory.mktemp("train")
    model = train_relevance(TINY, work, seed=7, epochs=20, hidden=8)
    return model, work


def test_the_relevance_model_learns_the_gold_sentences(
    relevance: tuple[RelevanceModel, Path], tmp_path: Path
) -> None:
    model, _ = relevance
    assert model.info["trained_on"] == ["7B", "8B"] and model.info["selected_on"] == ["9B"]
    assert model.info["train_sentences"] > 20 and 0.0 < model.sentence_threshold < 1.0
    assert model.info["select_sentence_auc"] > 0.5
    path = tmp_path / "relevance.npz"
    model.save(path)
    again = RelevanceModel.load(path)
    assert again.info == model.info and again.sentence_threshold == model.sentence_threshold
    assert load_relevance(Settings(relevance_model=str(path))) is not None


def test_the_same_seed_gives_the_same_model(relevance: tuple[RelevanceModel, Path]) -> None:
    model, work = relevance
    [cache] = work.glob("examples-*")  # one file per question: a killed run resumes from them
    files = sorted(cache.glob("*.npz"))
    assert len(files) == len(load(TINY).questions)
    files[0].write_bytes(b"cut short")  # a file a kill left half-written is collected again
    again = train_relevance(TINY, work, seed=7, epochs=20, hidden=8)  # corpus and examples cached in work
    assert np.array_equal(again.sentence.w1, model.sentence.w1)
    assert np.array_equal(again.passage.w2, model.passage.w2)
    assert np.load(files[0])["sy"].size > 0


def test_the_verdict_model_trains_on_the_yes_no_questions(
    relevance: tuple[RelevanceModel, Path], tmp_path: Path
) -> None:
    model, work = relevance
    verdict, report = train_verdict(TINY, None, work, relevance=model)
    assert report["select_questions"] == 3 and 0.0 <= report["select_accuracy"] <= 1.0
    assert report["feature_set"] in FEATURE_SETS
    [cache] = work.glob("verdict-*")  # one row per question: a killed run resumes from them
    assert len(list(cache.glob("*.npy"))) == sum(q.yes is not None for q in load(TINY).questions)
    path = tmp_path / "verdict.npz"
    verdict.save(path)
    again = VerdictModel.load(path)
    assert again.info["relevance_model"] == model.name and again.feature_set == report["feature_set"]
    assert load_verdict(Settings(verdict_model=str(path))) is not None
    # The same rows come back from the cache, so the same model is fitted.
    _, report_again = train_verdict(TINY, None, work, relevance=model)
    assert report_again == report


def test_a_cues_only_verdict_model_reads_the_tail_of_a_full_row() -> None:
    cues = len(CUE_NAMES)
    weights = np.zeros(cues, np.float32)
    weights[CUE_NAMES.index("signed")] = 2.0
    model = VerdictModel(np.zeros(cues, np.float32), np.ones(cues, np.float32), weights, 0.0,
                         info={"feature_set": "cues"})  # fmt: skip
    row = np.zeros(2 * 384 + cues, np.float32)
    row[-cues + CUE_NAMES.index("signed")] = 1.5
    assert model.probability(row)[0] > 0.9
    row[-cues + CUE_NAMES.index("signed")] = -1.5
    assert model.probability(row)[0] < 0.1


def test_fit_auc_and_threshold_on_separable_data() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 3)).astype(np.float32)
    y = (x[:, 0] + 0.1 * x[:, 1] > 0).astype(np.float32)
    head = fit(x, y, np.ones(400, np.float32), hidden=4, epochs=40, seed=1, rate=1e-2)
    scores = head.predict(x)
    assert auc(scores, y) > 0.95
    threshold, precision, f1 = best_threshold(scores, y)
    assert 0 < threshold < 1 and precision > 0.85 and f1 > 0.85


def test_models_fall_back_when_absent_and_refuse_a_missing_file(tmp_path: Path) -> None:
    from curbside.errors import ConfigError

    assert load_relevance(Settings(relevance_model="none")) is None
    assert load_verdict(Settings(verdict_model="none")) is None
    with pytest.raises(ConfigError, match="no model file"):
        load_relevance(Settings(relevance_model=str(tmp_path / "missing.npz")))


def test_curbside_train_writes_both_models_and_verdict_needs_relevance(
    needs_minilm: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from curbside.cli.main import main

    common = ["--questions", str(TINY), "--work", str(tmp_path / "work"), "--no-distractors"]
    relevance = tmp_path / "relevance.npz"
    monkeypatch.setenv("CURBSIDE_RELEVANCE_MODEL", "none")
    with pytest.raises(SystemExit) as refused:
        main(["train", "verdict", *common, "--no-pubmedqa", "-o", str(tmp_path / "v.npz")])
    assert refused.value.code != 0 and "train that first" in capsys.readouterr().err
    main(["train", "relevance", *common, "--epochs", "3", "--hidden", "4", "-o", str(relevance)])
    assert relevance.is_file() and "threshold" in capsys.readouterr().out
    monkeypatch.setenv("CURBSIDE_RELEVANCE_MODEL", str(relevance))
    verdict = tmp_path / "verdict.npz"
    main(["train", "verdict", *common, "--no-pubmedqa", "-o", str(verdict)])
    assert VerdictModel.load(verdict).info["trained_on"] == ["7B", "8B"]
