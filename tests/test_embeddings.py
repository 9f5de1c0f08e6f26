"""Tests for curbside.retrieval.embeddings (MiniLM on ONNX) and curbside.testing.FakeEmbedder.

The real-model tests use a handful of short texts so the whole module runs in a
couple of seconds; they skip when the ``embed`` extra is not installed.  The
comparison with the fp32 sentence-transformers reference lives in
bench/embed.py, because it needs torch.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from curbside.config import Settings
from curbside.errors import InputError, ModelError, PluginError
from curbside.ingestion.indexing import IndexProgress, calibration_sample
from curbside.retrieval import embeddings
from curbside.retrieval.embeddings import (
    EMBED_EXTRA_HINT,
    ONNX_PACKAGE,
    TOKENIZER_PACKAGE,
    Embedder,
    MiniLMEmbedder,
    embed_query,
    get_embedder,
    length_batches,
    locate_model_files,
)
from curbside.testing import FakeEmbedder

TEXTS = [
    "Leukopenia is a decrease in the number of white blood cells.",
    "fever",
    "Amoxicillin is first-line treatment for community-acquired pneumonia in children.",
    "Metformin lowers hepatic glucose production.",
    "A randomised trial of early versus delayed surgery for hip fracture in older adults "
    "found no difference in mortality at one year.",
    "",
    "ACE inhibitors",
]


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope="module")
def minilm() -> Iterator[MiniLMEmbedder]:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tokenizers")
    try:
        files = locate_model_files()
    except ModelError as exc:
        pytest.skip(f"embedding model packages not installed ({exc.message})")
    emb = MiniLMEmbedder(batch_size=3, threads=1, files=files)
    emb.load()
    yield emb


# --------------------------------------------------------------------------------------------------
# MiniLM
# --------------------------------------------------------------------------------------------------


def test_minilm_shape_dtype_and_unit_rows(minilm: MiniLMEmbedder) -> None:
    vecs = minilm.embed(TEXTS)
    assert vecs.shape == (len(TEXTS), 384) == (len(TEXTS), minilm.dim)
    assert vecs.dtype == np.float32
    assert np.all(np.isfinite(vecs))
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert isinstance(minilm, Embedder)
    assert minilm.name == "minilm-l6-int8"


def test_minilm_is_deterministic(minilm: MiniLMEmbedder) -> None:
    assert np.array_equal(minilm.embed(TEXTS), minilm.embed(TEXTS))


def test_minilm_batched_equals_one_by_one_in_input_order(minilm: MiniLMEmbedder) -> None:
    # batch_size=3 over texts of mixed length: the length sort reorders them across batches,
    # so a row landing in the wrong place, or padding leaking into the mean, would show here.
    batched = minilm.embed(TEXTS)
    single = np.vstack([minilm.embed([t]) for t in TEXTS])
    np.testing.assert_allclose(batched, single, atol=1e-5)
    reversed_rows = minilm.embed(TEXTS[::-1])
    np.testing.assert_allclose(reversed_rows[::-1], batched, atol=1e-5)
    # Distinct texts must give distinct rows (guards against every row being the same vector).
    assert _cos(batched[0], batched[1]) < 0.9


def test_minilm_batch_size_does_not_change_results(minilm: MiniLMEmbedder) -> None:
    other = MiniLMEmbedder(batch_size=32, threads=1, files=minilm.files)
    np.testing.assert_allclose(other.embed(TEXTS), minilm.embed(TEXTS), atol=1e-5)


def test_minilm_semantic_sanity(minilm: MiniLMEmbedder) -> None:
    q, near, far = minilm.embed(["low white blood cell count", "leukopenia", "fractured femur"])
    assert float(q @ near) > float(q @ far) + 0.1


def test_minilm_progress_reports_texts_done(minilm: MiniLMEmbedder) -> None:
    seen: list[int] = []
    minilm.embed(TEXTS, progress=seen.append)
    assert seen == [3, 6, 7]


def test_minilm_empty_input_and_query(minilm: MiniLMEmbedder) -> None:
    empty = minilm.embed([])
    assert empty.shape == (0, 384) and empty.dtype == np.float32
    q = embed_query(minilm, "leukopenia")
    assert q.shape == (384,)
    np.testing.assert_allclose(q, minilm.embed(["leukopenia"])[0], atol=1e-6)


def test_minilm_truncates_at_256_tokens_not_128(minilm: MiniLMEmbedder) -> None:
    assert minilm.files.max_seq_length == 256
    base = " ".join(["patient"] * 150)  # 150 word tokens + [CLS]/[SEP]: past 128, within 256
    within = minilm.embed([base + " leukopenia", base + " fractured femur"])
    # tokenizer.json alone would truncate at 128 and make these two identical.
    assert not np.allclose(within[0], within[1], atol=1e-4)
    long = " ".join(["patient"] * 400)
    beyond = minilm.embed([long, long + " leukopenia", long + " fractured femur"])
    np.testing.assert_allclose(beyond[1], beyond[0], atol=1e-6)
    np.testing.assert_allclose(beyond[2], beyond[0], atol=1e-6)


def test_minilm_sessions_are_cached_per_process(minilm: MiniLMEmbedder) -> None:
    a = embeddings.load_runtime(minilm.files, 1)
    b = embeddings.load_runtime(minilm.files, 1)
    assert a is b


def test_one_text_runs_on_the_query_session(minilm: MiniLMEmbedder) -> None:
    e = MiniLMEmbedder(threads=2, query_threads=1, files=minilm.files)
    query = e.embed([TEXTS[0]])
    assert (os.getpid(), minilm.files.onnx, minilm.files.tokenizer, minilm.files.max_seq_length, 1) in (
        embeddings._runtimes
    )
    # Same vector as in a batch on the two-thread session.
    np.testing.assert_allclose(query[0], e.embed(TEXTS)[0], atol=1e-5)


def test_bare_string_is_rejected(minilm: MiniLMEmbedder) -> None:
    with pytest.raises(InputError, match="single string"):
        minilm.embed("leukopenia")


# --------------------------------------------------------------------------------------------------
# missing packages, construction, registry
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("missing", [ONNX_PACKAGE, TOKENIZER_PACKAGE])
def test_missing_model_package_raises_model_error(monkeypatch: pytest.MonkeyPatch, missing: str) -> None:
    real = importlib.metadata.distribution

    def fake_distribution(name: str) -> importlib.metadata.Distribution:
        if name == missing:
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(embeddings, "_distribution", fake_distribution)
    emb = MiniLMEmbedder()  # construction stays cheap and never looks for the model
    with pytest.raises(ModelError) as info:
        emb.embed(["leukopenia"])
    text = str(info.value)
    assert repr(missing) in text
    assert EMBED_EXTRA_HINT in text


def test_missing_onnxruntime_raises_model_error(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        files = locate_model_files()
    except ModelError as exc:
        pytest.skip(f"embedding model packages not installed ({exc.message})")
    monkeypatch.setattr(embeddings, "_runtimes", {})
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    with pytest.raises(ModelError, match="'onnxruntime'") as info:
        MiniLMEmbedder(files=files).embed(["x"])
    assert EMBED_EXTRA_HINT in str(info.value)


def test_invalid_construction_arguments() -> None:
    with pytest.raises(InputError, match="batch_size"):
        MiniLMEmbedder(batch_size=0)
    with pytest.raises(InputError, match="threads"):
        MiniLMEmbedder(threads=0)
    with pytest.raises(InputError, match="query_threads"):
        MiniLMEmbedder(query_threads=0)
    with pytest.raises(InputError, match="dim"):
        FakeEmbedder(dim=1)


def test_get_embedder_through_the_registry() -> None:
    settings = Settings()
    fake = get_embedder("fake", settings)
    assert isinstance(fake, FakeEmbedder) and isinstance(fake, Embedder)
    minilm = get_embedder("minilm", settings)
    assert isinstance(minilm, MiniLMEmbedder)
    assert minilm.dim == 384
    with pytest.raises(PluginError, match="no embedder named 'nope'"):
        get_embedder("nope", settings)


# --------------------------------------------------------------------------------------------------
# FakeEmbedder
# --------------------------------------------------------------------------------------------------


def test_fake_shape_dtype_and_unit_rows() -> None:
    fake = FakeEmbedder(dim=32)
    vecs = fake.embed(TEXTS)
    assert vecs.shape == (len(TEXTS), 32) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-6)
    assert fake.name == "fake-hash-32" and fake.dim == 32
    assert FakeEmbedder().dim == 64
    assert fake.embed([]).shape == (0, 32)
    # A text without word characters still gets a unit row (the first basis vector).
    assert np.array_equal(fake.embed(["  ?!"])[0], np.eye(32, dtype=np.float32)[0])
    assert fake.calls == 3


def test_fake_is_deterministic_across_instances_and_processes() -> None:
    a = FakeEmbedder().embed(["Leukopenia after chemotherapy"])
    b = FakeEmbedder().embed(["leukopenia AFTER chemotherapy"])  # lowercased before hashing
    assert np.array_equal(a, b)
    # Python salts str hashes per process; the fake must not depend on that.
    code = (
        "import sys; from curbside.testing import FakeEmbedder;"
        "import json; sys.stdout.write(json.dumps(FakeEmbedder().embed(['Leukopenia after chemotherapy'])[0].tolist()))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    ).stdout
    np.testing.assert_allclose(np.array(json.loads(out), dtype=np.float32), a[0], atol=0)


def test_fake_shared_words_score_higher() -> None:
    fake = FakeEmbedder()
    q, related, unrelated, variant = fake.embed(
        [
            "white blood cell count in leukopenia",
            "leukopenia lowers the white cell count",
            "surgery for a fractured femur",
            "leucopenia",
        ]
    )
    assert float(q @ related) > float(q @ unrelated) + 0.2
    leuko = fake.embed(["leukopenia"])[0]
    # Character 3-grams pull spelling variants together even without a shared word.
    assert float(leuko @ variant) > float(leuko @ unrelated) + 0.2


# -- curbside index: embeds what is not embedded yet ---------------------------------------------


def test_index_is_resumable_and_embeds_each_chunk_once(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from conftest import make_doc
    from curbside import api
    from curbside.cli.main import cli
    from curbside.store.base import Batch, FileProgress
    from curbside.store.sqlite import SQLiteStore

    db = tmp_path / "index.db"
    with SQLiteStore(db) as store:
        docs = [make_doc(n) for n in range(1, 11)]
        store.write_batch(Batch(FileProgress("k", "t", "t"), documents=docs, records=len(docs)))
        chunks = store.stats().chunks
    settings = Settings(db=str(db), embedder="fake", data_dir=tmp_path / "d", cache_dir=tmp_path / "c")
    seen: list[IndexProgress] = []
    first = api.index(settings=settings, limit=2, progress=seen.append)
    assert (first.embedded, first.remaining) == (2, chunks - 2)
    assert (seen[0].done, seen[0].total) == (0, 2) and (seen[-1].done, seen[-1].total) == (2, 2)
    # Not a terminal (CliRunner): progress comes as lines, here one per batch.
    result = CliRunner().invoke(
        cli,
        ["--db", str(db), "index", "--embedder", "fake"],
        env={"CURBSIDE_PROGRESS_INTERVAL": "0", "CURBSIDE_EMBED_BATCH": "1"},
    )
    assert result.exit_code == 0, result.output
    assert f"{chunks - 2:,} chunks to embed" in result.output
    assert re.search(rf"{chunks - 2:,} chunks: about [<\d]+ s at the measured rate", result.output)
    assert re.search(
        rf"embedding: \d/{chunks - 2:,} chunks \(\d+%\), [\d.,]+ chunks/s, about [<\d]+ s left", result.output
    )
    assert (
        f"embedded {chunks - 2:,} chunks with fake-hash-64" in result.output
        and "0 remaining" in result.output
    )
    again = api.index(settings=settings)
    assert (again.embedded, again.remaining) == (0, 0)
    with SQLiteStore(db) as store:
        assert store.stats().embedded == {"fake-hash-64": chunks}


def test_length_batches_group_similar_lengths_and_keep_every_item() -> None:
    items = [(i, "x" * n) for i, n in enumerate([900, 5, 300, 40, 1500, 7, 310, 880])]
    batches = length_batches(items, 3)
    assert [len(b) for b in batches] == [3, 3, 2]
    assert [[len(t) for _, t in b] for b in batches] == [[5, 7, 40], [300, 310, 880], [900, 1500]]
    assert sorted(k for b in batches for k, _ in b) == list(range(8))


def test_calibration_sample_spans_the_lengths_of_a_window() -> None:
    window = [(i, "x" * (i + 1)) for i in range(400)]
    batches = calibration_sample(window, 64)
    assert len(batches) == 4 and all(len(b) == 16 for b in batches)
    medians = [len(b[8][1]) for b in batches]
    assert medians == sorted(medians) and medians[0] < 100 < 300 < medians[-1]
    assert calibration_sample(window[:10], 64) == [sorted(window[:10], key=lambda kv: len(kv[1]))]
    assert calibration_sample([], 64) == []


def test_index_reports_characters_and_an_estimate_once(tmp_path: Path) -> None:
    from conftest import make_doc
    from curbside import api
    from curbside.store.base import Batch, FileProgress
    from curbside.store.sqlite import SQLiteStore

    db = tmp_path / "index.db"
    with SQLiteStore(db) as store:
        docs = [make_doc(n) for n in range(1, 30)]
        store.write_batch(Batch(FileProgress("k", "t", "t"), documents=docs, records=len(docs)))
        chars = store.chars_to_embed("fake-hash-64")
        chunks = store.vector_coverage("fake-hash-64").chunks
    settings = Settings(db=str(db), embedder="fake", embed_batch=4, embed_window=10)
    estimate = api.estimate_index(settings=settings)
    assert (estimate.chunks, estimate.chars, estimate.sample) == (chunks, chars, 4)
    assert estimate.chars_per_s > 0 and estimate.seconds > 0
    seen: list[IndexProgress] = []
    report = api.index(settings=settings, progress=seen.append)
    assert report.embedded == chunks and report.chars == chars and report.remaining == 0
    assert [p.estimate_s is not None for p in seen].count(True) == 1
    assert seen[1].estimate_s is not None and seen[1].done == 4  # right after the calibration sample
    assert all(p.chars_total == chars for p in seen)
    assert [p.done for p in seen] == sorted(p.done for p in seen) and seen[-1].chars_done == chars
