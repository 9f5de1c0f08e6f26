"""Settings as data: every field described, each readable from a ``CURBSIDE_*`` variable.

Settings never build anything; registries construct parts from them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from platformdirs import user_cache_dir, user_data_dir
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

APP_NAME = "curbside"
#: File name of the default model installed by `curbside models install` (see curbside.answer.backends.install).
DEFAULT_GGUF = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"


def default_data_dir() -> Path:
    return Path(user_data_dir(APP_NAME, appauthor=False))


def default_db() -> str:
    return str(default_data_dir() / "curbside.db")


def default_cache_dir() -> Path:
    return Path(user_cache_dir(APP_NAME, appauthor=False))


class Settings(BaseSettings):
    """Runtime settings. ``curbside doctor`` and docs/config.md list them all."""

    model_config = SettingsConfigDict(env_prefix="CURBSIDE_", extra="ignore")

    db: str = Field(
        default_factory=default_db,
        description="Store location: a SQLite file path (default in the user data dir) "
        "or a postgresql:// URL.",
    )
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Where curbside keeps downloaded corpora and models.",
    )
    cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description="On-disk HTTP cache for E-utilities and Europe PMC responses.",
    )
    ncbi_api_key: str | None = Field(
        default=None,
        description="NCBI API key; raises the E-utilities limit from 3 to 10 requests/s.",
    )
    ncbi_email: str | None = Field(
        default=None,
        description="Contact e-mail sent to NCBI with every request (their usage policy asks for it).",
    )
    ncbi_tool: str = Field(default="curbside", description="Tool name sent to NCBI with every request.")
    eutils_url: str = Field(
        default="https://eutils.ncbi.nlm.nih.gov/entrez/eutils/",
        description="Base URL of NCBI E-utilities (change only for a mirror or a test server).",
    )
    europepmc_url: str = Field(
        default="https://www.ebi.ac.uk/europepmc/webservices/rest/",
        description="Base URL of the Europe PMC REST API.",
    )
    http_timeout: float = Field(default=30.0, description="Seconds before a remote request times out.")
    http_retries: int = Field(
        default=4, description="Retries (with exponential backoff) on 429 and 5xx answers."
    )
    chunk_chars: int = Field(
        default=1500, description="Target chunk size in characters; chunks end on sentence boundaries."
    )
    batch_size: int = Field(default=500, description="Records written per ingest transaction.")
    ingest_check: bool = Field(
        default=True,
        description="Check a SQLite store for damage (PRAGMA quick_check, about 1 s per 250 MB) before "
        "ingesting into it, and refuse a damaged one.",
    )
    pg_pool_size: int = Field(
        default=4, ge=1, description="Most connections one process opens to a postgresql:// store."
    )
    pg_ef_search: int = Field(
        default=200,
        ge=1,
        description="HNSW candidate list size (hnsw.ef_search) for kNN on a postgresql:// store; "
        "higher: better recall, slower.",
    )
    pg_build_memory: str = Field(
        default="1GB",
        pattern=r"^\d+\s*(kB|MB|GB)$",
        description="maintenance_work_mem for building an HNSW index after a bulk vector load on a "
        "postgresql:// store (a graph that does not fit builds far more slowly); e.g. 512MB, 2GB.",
    )
    search: str = Field(
        default="",
        description="Where chunk search runs: empty for the store itself; milvus://host:19530 (or "
        "milvus+https://host:443) for a Milvus standalone or cluster; a local file path (ending .db) for "
        "milvus-lite, a local stand-in for tests and trials. Documents and review data stay in the store.",
    )
    search_collection: str = Field(
        default="curbside_chunks",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,254}$",
        description="Milvus collection holding the chunks (one per store).",
    )
    search_token: str | None = Field(
        default=None,
        description="Milvus token (user:password, or an API key) when the server requires authentication.",
    )
    search_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds to wait for the search engine before reporting it unreachable.",
    )
    embedder: str = Field(
        default="minilm",
        description="Registered embedder used by `curbside index` and dense retrieval "
        "(minilm: all-MiniLM-L6-v2 int8 ONNX; fake: hashing, for tests).",
    )
    embed_batch: int = Field(
        default=64,
        ge=1,
        description="Texts embedded per batch (and committed per write) by `curbside index`.",
    )
    question_identifiers: Literal["remove", "keep"] = Field(
        default="remove",
        description="remove: names after 'patient named', dates of birth, record numbers, phone numbers and "
        "e-mail addresses are cut from a question (replaced by [name], ...) before it is searched or saved for "
        "the editorial team; keep: questions are stored as typed (a single-user install).",
    )
    max_question_chars: int = Field(
        default=1000,
        ge=20,
        le=2000,
        description="Longest question (in characters) that `curbside ask`/`search`, the HTTP API and the "
        "web ask box accept.",
    )
    progress_interval: float = Field(
        default=10.0,
        ge=0,
        description="Seconds between progress lines of long commands (ingest, index, migrate) when "
        "their output is not a terminal; on a terminal a live bar is drawn instead.",
    )
    embed_window: int = Field(
        default=4096,
        ge=1,
        description="Chunks `curbside index` reads at a time and sorts by length, so that each batch "
        "pads to texts of similar length (larger: less padding, more memory).",
    )
    relevance_model: str = Field(
        default="default",
        description="Learned (question, sentence) relevance model used to rerank passages, pick sentences and "
        "judge claims: default (the one shipped in the package), none (the keyword scoring it replaced), or "
        "the path of a model file written by `curbside train relevance`.",
    )
    verdict_model: str = Field(
        default="default",
        description="Learned yes/no verdict model: default (shipped), none (the cue-word rules it replaced), "
        "or the path of a model file written by `curbside train verdict`.",
    )
    roles_model: str = Field(
        default="default",
        description="Learned answer-role model that decides whether a sentence filed under a causes or harms "
        "section states such a cause or harm: default (shipped), none (cue rules alone), or the path of a "
        "model file written by `curbside train roles`.",
    )
    verify_in_context: bool = Field(
        default=True,
        description="Judge each claim in context as well as against its quote: its opening, a provisional or "
        "null finding where a positive one stands, the question's subject, its learned relevance, agreement "
        "with a verdict (false: quote fidelity only, as before).",
    )
    reranker: str = Field(
        default="relevance",
        description="Registered reranker: relevance (the learned model's passage head after concept coverage; "
        "concept coverage alone without a model), concept, or none.",
    )
    shared_data: Path | None = Field(
        default=None,
        description="Folder holding the shared real data (medline/, mesh/, pubmedqa/) "
        "used by benchmarks and optional tests.",
    )
    llm_backend: Literal["xllamacpp", "openai", "llamacpp"] = Field(
        default="xllamacpp",
        description="Chat backend of the llm synthesizer: xllamacpp (in process, a prebuilt llama.cpp wheel: the "
        "default local runtime), openai (any OpenAI-compatible server: vLLM, Ollama, the llama.cpp server, a "
        "hosted API) or llamacpp (in-process llama-cpp-python, which compiles on install).",
    )
    llm_mode: Literal["compose", "passages"] = Field(
        default="compose",
        description="What the llm synthesizer asks of the model: compose (prose written from the claims the "
        "extractive synthesizer chose and the verifier kept, each sentence checked against them and shown as "
        "the quotes where it fails) or passages (claims written from the retrieved passages, citing sentence "
        "ids, then verified).",
    )
    compose_budget_s: float = Field(
        default=600.0,
        gt=0,
        description="Seconds the llm synthesizer's compose mode may spend on one article; the parts not begun "
        "by then keep their verified quotes (with a warning).",
    )
    llm_url: str = Field(
        default="http://127.0.0.1:8080/v1",
        description="Base URL of the OpenAI-compatible server; requests go to {llm_url}/chat/completions.",
    )
    llm_model: str = Field(
        default="qwen2.5-1.5b-instruct", description="Model name sent to the OpenAI-compatible server."
    )
    llm_api_key: str | None = Field(
        default_factory=lambda: os.environ.get("OPENAI_API_KEY") or None,
        description="Bearer token for the OpenAI-compatible server; falls back to OPENAI_API_KEY.",
    )
    llm_timeout: float = Field(
        default=120.0, description="Seconds before a language-model request times out."
    )
    llm_max_reply_bytes: int = Field(
        default=2_000_000,
        ge=1024,
        description="Largest reply read from a language-model server; a longer one is refused, never buffered.",
    )
    llm_retries: int = Field(
        default=2, description="Retries of a language-model request that timed out or got 429/5xx."
    )
    llm_model_path: Path = Field(
        default_factory=lambda data: Path(data["data_dir"]) / "models" / DEFAULT_GGUF,
        description="GGUF file loaded by the xllamacpp and llamacpp backends (`curbside models install` puts it there).",
    )
    review_db: str | None = Field(
        default=None,
        description="SQLite file for reviewed articles, accounts, sessions and threads; default: the store "
        "file itself when the store is SQLite, else review.db in the data dir.",
    )
    session_hours: float = Field(
        default=12.0, gt=0, description="Hours a sign-in session lasts before it must be renewed."
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        description="Failed sign-ins one client may make for one username within login_window_minutes "
        "before it must wait (1 s, then doubling per further failure); other clients are not slowed.",
    )
    login_window_minutes: float = Field(
        default=15.0,
        gt=0,
        description="Window in which failed sign-ins are counted; then they are forgotten.",
    )
    login_client_rate: float = Field(
        default=10.0,
        gt=0,
        description="Sign-in attempts per minute one client address may make (checked before any password hash).",
    )
    login_global_rate: float = Field(
        default=120.0,
        gt=0,
        description="Sign-in attempts per minute the whole server accepts (checked before any password hash).",
    )
    login_concurrency: int = Field(
        default=2,
        ge=1,
        description="Password checks run at once (each argon2 check takes 64 MiB); more wait their turn.",
    )
    follow_up_rewriter: Literal["rules", "llm"] = Field(
        default="rules",
        description="How follow-up questions become standalone queries: rules (deterministic) or llm "
        "(the llm_backend model; falls back to the rules when its reply is unusable).",
    )
    web_secret_key: str | None = Field(
        default=None,
        description="Key that signs the web app's anonymous-session and CSRF cookies; unset: a random key "
        "per server start (signed-in sessions live in the store and survive restarts).",
    )
    web_cookie_secure: Literal["auto", "always", "never"] = Field(
        default="auto",
        description="Mark web cookies Secure: auto (when the request came over https), always or never.",
    )
    web_ask_rate: float = Field(
        default=6.0,
        description="Questions per minute one client (signed-in user or IP address) may ask the web app.",
    )
    web_ask_burst: int = Field(
        default=3, description="Questions one client may ask at once before web_ask_rate applies."
    )
    web_synthesizer: str = Field(
        default="extractive",
        description="Registered synthesizer the web app answers with (extractive or llm).",
    )
    web_show_own_answers: bool = Field(
        default=True,
        description="Show a signed-out visitor the answers to their own questions at once, under the "
        "pending-review banner; false: only approved versions ever reach signed-out visitors.",
    )
    web_search_rate: float = Field(
        default=60.0,
        gt=0,
        description="Searches per minute one client may run through the web app and API (a burst of as many).",
    )
    web_max_body_bytes: int = Field(
        default=64 * 1024,
        ge=1024,
        description="Largest request body the web app reads (a question, a comment, a sign-in); larger: 413.",
    )
    web_header_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds `curbside serve` waits for a request's head before it closes the connection.",
    )
    web_max_connections: int = Field(
        default=200, ge=1, description="Connections `curbside serve` handles at once; more get 503."
    )
    web_trusted_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["localhost", "127.0.0.1", "[::1]"],
        description="Host names the web app answers to (comma-separated, '*.example.org' allowed, '*' for "
        "any); others get 400, which stops DNS rebinding to a server on this machine. Add your own name.",
    )
    anonymous_retention_days: float = Field(
        default=90.0,
        gt=0,
        description="Days a signed-out asker's conversation (its questions as typed) is kept; the reviewed "
        "articles stay.",
    )
    review_four_eyes: bool = Field(
        default=False,
        description="Nobody approves a version they generated (asked for) themselves.",
    )

    @field_validator("web_trusted_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [h.strip() for h in value.split(",") if h.strip()]
        return value

    @model_validator(mode="after")
    def _db_follows_data_dir(self) -> Settings:
        # The store's default lives in the data dir: CURBSIDE_DATA_DIR alone moves both (a fresh
        # data dir must not silently reuse the store of the default one).
        if "db" not in self.model_fields_set and "data_dir" in self.model_fields_set:
            self.db = str(Path(self.data_dir) / "curbside.db")
        return self


def shared_data_dir() -> Path | None:
    """The shared data folder, from ``CURBSIDE_SHARED_DATA`` or ``../shared/data``; ``None`` if absent."""
    env = os.environ.get("CURBSIDE_SHARED_DATA")
    candidates = [Path(env)] if env else []
    here = Path(__file__).resolve()
    candidates += [p / "shared" / "data" for p in here.parents]
    candidates.append(Path.cwd().parent / "shared" / "data")
    for c in candidates:
        if (c / "README.md").exists() or (c / "medline").is_dir():
            return c
    return None
