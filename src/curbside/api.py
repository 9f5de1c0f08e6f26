"""Library entry points: what the CLI, the HTTP API and the web app call.

Each function takes plain arguments plus optional ``settings`` and ``store``
and returns data; none of them prints.  The store is opened from
``settings.db`` when not given and closed again afterwards.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from curbside.answer.scoring import score_claims
from curbside.config import Settings
from curbside.errors import ConfigError, InputError, NotFoundError, StoreError, UnreachableError
from curbside.ingestion import indexing
from curbside.ingestion.chunking import is_title_chunk
from curbside.ingestion.indexing import IndexCallback, IndexEstimate, IndexReport
from curbside.ingestion.pipeline import IngestReport, ProgressCallback, ingest_source
from curbside.ingestion.run import ingest_paths
from curbside.ingestion.screening import blocked_warning, screen_hits, visible_text
from curbside.models.relevance import load_relevance
from curbside.registry import get_registry
from curbside.retrieval.embeddings import Embedder, get_embedder
from curbside.retrieval.evaluation import EvalReport, evaluate, load_qrels, load_questions, ranked_documents
from curbside.retrieval.facets import facet_hits
from curbside.retrieval.privacy import question_for_saving
from curbside.retrieval.questions import analyse, check_question_length
from curbside.retrieval.retrieve import Mode, RetrievalConfig, Retriever
from curbside.retrieval.subject import with_word_counts
from curbside.review.service import (
    add_user as add_user,
)
from curbside.review.service import (
    audit_log as audit_log,
)
from curbside.review.service import (
    check_rereview as check_rereview,
)
from curbside.review.service import (
    comment_article as comment_article,
)
from curbside.review.service import (
    get_article as get_article,
)
from curbside.review.service import (
    list_articles as list_articles,
)
from curbside.review.service import (
    list_users as list_users,
)
from curbside.review.service import (
    login as login,
)
from curbside.review.service import (
    logout as logout,
)
from curbside.review.service import (
    resolve_flag as resolve_flag,
)
from curbside.review.service import (
    review_article as review_article,
)
from curbside.review.service import (
    review_db,
)
from curbside.review.service import (
    session_user as session_user,
)
from curbside.review.service import (
    set_role as set_role,
)
from curbside.review.service import (
    submit_article as submit_article,
)
from curbside.store import using_store
from curbside.store.base import Store, StoreStats, SyncReport
from curbside.store.milvus import MilvusStore, sync
from curbside.types import Article, ArticleWarning, Audience, Chunk, Document, Hit, Query
from curbside.version import __version__
from curbside.wording import count

if TYPE_CHECKING:
    from curbside.answer.backends.base import ChatBackend
    from curbside.review.db import ReviewDB
    from curbside.review.threads import Thread
    from curbside.review.workflow import User


def ingest(
    paths: Sequence[str | Path],
    *,
    settings: Settings | None = None,
    store: Store | None = None,
    progress: ProgressCallback | None = None,
    workers: int = 1,
    ray: str | None = None,
) -> IngestReport:
    """Ingest files, globs and folders; see :mod:`curbside.ingestion.pipeline` (``workers``: :mod:`curbside.ingestion.bulk`;
    ``ray``, a Ray address or ``"local"``: :mod:`curbside.ingestion.distributed`)."""
    settings = settings or Settings()
    with using_store(settings, store) as s:
        _refuse_damaged(s, settings)
        report = ingest_paths(s, paths, settings, progress=progress, workers=workers, ray=ray)
        _rereview_after_ingest(settings, s)
        return report


def _refuse_damaged(store: Store, settings: Settings) -> None:
    """Writing more into a damaged file hides the damage behind a report of success: refuse."""
    if not settings.ingest_check:
        return
    damage = store.check()
    if damage:
        raise StoreError(
            f"{store.location} is damaged: {damage[0]}"
            + (f" (and {count(len(damage) - 1, 'more problems')})" if len(damage) > 1 else ""),
            hint="restore it from a backup, or ingest into a new file; nothing was written",
        )


def ingest_pubmed(
    query: str,
    *,
    max_records: int = 100,
    settings: Settings | None = None,
    store: Store | None = None,
    progress: ProgressCallback | None = None,
) -> IngestReport:
    """Search PubMed through E-utilities and ingest up to ``max_records`` results."""
    from curbside.ingestion.sources.eutils import EutilsSource

    if not query.strip():
        raise InputError("the PubMed query is empty")
    if max_records < 1:
        raise InputError(f"--max must be at least 1 (got {max_records})")
    settings = settings or Settings()
    report = IngestReport()
    source = EutilsSource(query, max_records=max_records, settings=settings)
    with using_store(settings, store) as s:
        _refuse_damaged(s, settings)
        # A live query's answer changes over time, so each run is its own input (a repeat
        # re-reads; unchanged records cost nothing because their content hash matches).
        key = f"pubmed:{query}|max={max_records}|at={int(time.time())}"
        report.inputs.append(
            ingest_source(
                s,
                source,
                key=key,
                source_type="eutils",
                settings=settings,
                progress=progress,
                result=report.result,
            )
        )
        s.record_run([source.name], report.result, 0.0)
        _rereview_after_ingest(settings, s)
    return report


def stats(*, settings: Settings | None = None, store: Store | None = None) -> StoreStats:
    settings = settings or Settings()
    with using_store(settings, store) as s:
        return s.stats()


def normalise_id(doc_id: str) -> str:
    """Accept ``pmid:123``, a bare ``123`` (a PMID), ``PMC123`` or ``doi:...``."""
    text = doc_id.strip()
    if text.isdigit():
        return f"pmid:{text}"
    if text.upper().startswith("PMC") and text[3:].isdigit():
        return f"pmcid:{text.upper()}"
    if text.startswith("10.") and "/" in text:
        return f"doi:{text}"
    return text


def show(
    doc_id: str, *, settings: Settings | None = None, store: Store | None = None
) -> tuple[Document, list[Chunk]]:
    """A stored document and its chunks; :class:`NotFoundError` when absent."""
    settings = settings or Settings()
    wanted = normalise_id(doc_id)
    with using_store(settings, store) as s:
        doc = s.get_document(wanted)
        if doc is None:
            raise NotFoundError(
                f"{wanted} is not in the store at {s.location}",
                hint="check the id, or ingest it first (curbside ingest --pubmed ...)",
            )
        return doc, s.chunks(wanted)


def index(
    *,
    settings: Settings | None = None,
    store: Store | None = None,
    embedder: Embedder | None = None,
    limit: int | None = None,
    progress: IndexCallback | None = None,
    workers: int = 1,
    on_sync: Callable[[SyncReport], None] | None = None,
    ray: str | None = None,
) -> IndexReport:
    """Embed every chunk that has no vector from the configured embedder yet (see :mod:`curbside.ingestion.indexing`).

    Resumable by construction: each batch commits its vectors, and the next run
    asks the store only for chunks still without one.  ``progress`` receives an
    :class:`~curbside.ingestion.indexing.IndexProgress` after each batch, the first after
    calibration with the run's estimated seconds.  ``workers`` > 1 embeds in that
    many processes, each with its own ``settings.embedder`` (see :mod:`curbside.ingestion.bulk`); ``ray`` (a
    Ray address, or ``"local"``) in Ray actors (see :mod:`curbside.ingestion.distributed`).

    With a search engine (``CURBSIDE_SEARCH``), the store's chunks and vectors are then
    copied into it (:func:`curbside.store.milvus.sync`: only what is missing or changed, so
    a killed fill is repaired by the next run); ``on_sync`` follows that fill.
    """
    settings = settings or Settings()
    if workers > 1 and embedder is not None:
        raise InputError(
            "workers > 1 builds the embedder in each worker from settings.embedder; pass no embedder"
        )
    if ray is not None and (workers > 1 or embedder is not None):
        raise InputError(
            "ray embeds with settings.embedder in Ray actors: pass neither workers nor an embedder"
        )
    emb = embedder or get_embedder(settings.embedder, settings)
    with using_store(settings, store) as s:
        # Vectors are kept in the store (the source of truth: Milvus can be refilled without
        # re-embedding), then a search engine is filled from it.
        base = s.inner if isinstance(s, MilvusStore) else s
        report = indexing.run(base, emb, settings, limit=limit, progress=progress, workers=workers, ray=ray)
        if isinstance(s, MilvusStore):
            report.search = sync(base, s.search, emb.name, emb.dim, progress=on_sync)
        return report


def estimate_index(
    *, settings: Settings | None = None, store: Store | None = None, embedder: Embedder | None = None
) -> IndexEstimate:
    """How many chunks ``curbside index`` has left and its time at a rate measured here (a few seconds)."""
    settings = settings or Settings()
    emb = embedder or get_embedder(settings.embedder, settings)
    with using_store(settings, store) as s:
        return indexing.estimate(s, emb, settings)


def make_retriever(settings: Settings, store: Store, *, embedder: Embedder | None = None) -> Retriever:
    """A retriever over ``store``; dense search joins only when the store has vectors for the embedder."""
    registry = get_registry()
    reranker = registry.get("reranker", settings.reranker)(settings)
    if embedder is None:
        # Vectors are stored under the embedder's model name ("minilm-l6-int8"), not its registry
        # name ("minilm"); building the embedder is cheap, its model loads on first use.
        configured = get_embedder(settings.embedder, settings)
        if store.vector_coverage(configured.name).embedded:
            embedder = configured
    return Retriever(store, embedder, reranker=reranker)


def choose_mode(retriever: Retriever, requested: Mode | None) -> tuple[Mode, str | None]:
    """The retrieval mode to run, and a warning when the dense index is missing or partial.

    ``requested`` None picks hybrid only over a complete dense index: while
    ``curbside index`` is part way, dense search would see only the embedded
    chunks and rank the rest lower than BM25 alone does, so retrieval stays
    lexical (with a warning saying how far the index is) until it finishes.
    An explicit ``hybrid`` or ``dense`` is honoured over a partial index.
    """
    embedder = retriever.embedder
    coverage = retriever.store.vector_coverage(embedder.name) if embedder is not None else None
    if coverage is None or not coverage.embedded:
        if requested == "dense":
            raise ConfigError("dense retrieval needs embeddings; run `curbside index` first")
        warning = None
        if requested == "hybrid":
            warning = "no dense index yet: retrieval is BM25 only; run `curbside index` to add it"
        return "bm25", warning
    if coverage.complete:
        return requested or "hybrid", None
    share = int(coverage.fraction * 100)
    covered = (
        f"dense index covers {f'{share}%' if share else 'under 1%'} of chunks "
        f"({coverage.embedded:,} of {coverage.chunks:,}); run `curbside index` to finish"
    )
    if requested is None:
        return "bm25", f"{covered}. Until then retrieval is BM25 only (--mode hybrid uses the partial index)."
    if requested == "dense":
        return "dense", f"{covered}. Chunks not yet embedded are not searched."
    return requested, f"{covered}. Chunks not yet embedded are found by BM25 only."


@dataclass(frozen=True)
class SearchResult:
    """What :func:`search` found: the analysed query, its hits, stage timings (ms) and warnings."""

    query: Query
    hits: list[Hit]
    timings: dict[str, float]
    mode: Mode
    warnings: tuple[str, ...] = ()


def search(
    question: str,
    *,
    k: int = 10,
    year_from: int | None = None,
    year_to: int | None = None,
    publication_types: Sequence[str] = (),
    kinds: Sequence[str] = (),
    include_retracted: bool = False,
    mode: Mode | None = None,
    settings: Settings | None = None,
    store: Store | None = None,
    embedder: Embedder | None = None,
) -> SearchResult:
    """Analyse ``question`` and retrieve its passages; ``mode`` None chooses by the index (:func:`choose_mode`)."""
    settings = settings or Settings()
    if k < 1 or k > 1000:
        raise InputError(f"k must be between 1 and 1000 (got {k})")
    question = visible_text(question)
    check_question_length(question, settings.max_question_chars)
    query = analyse(
        question,
        year_from=year_from,
        year_to=year_to,
        publication_types=tuple(publication_types),
        kinds=tuple(kinds),
    )
    if include_retracted:
        query = replace(query, exclude_retracted=False)
    with using_store(settings, store) as s:
        retriever = make_retriever(settings, s, embedder=embedder)
        chosen, warning = choose_mode(retriever, mode)
        hits = retriever.search(query, k, config=replace(retriever.config, mode=chosen))
        warnings = (warning,) if warning else ()
        return SearchResult(query, hits, retriever.last_timings.stages, chosen, warnings)


def evaluate_retrieval(
    questions_path: Path,
    qrels_path: Path,
    *,
    modes: Sequence[Mode] | None = None,
    k: int = 100,
    settings: Settings | None = None,
    store: Store | None = None,
) -> list[EvalReport]:
    """Evaluate each retrieval mode over judged questions (see :mod:`curbside.retrieval.evaluation`)."""
    settings = settings or Settings()
    questions = load_questions(questions_path)
    qrels = load_qrels(qrels_path)
    with using_store(settings, store) as s:
        retriever = make_retriever(settings, s)
        available: list[Mode] = ["hybrid", "bm25", "dense"] if retriever.embedder else ["bm25"]
        wanted = list(modes) if modes else available
        for mode in wanted:
            if mode not in available:
                raise InputError(f"mode {mode!r} needs embeddings; run `curbside index` first")
        reports = []
        for mode in wanted:
            cfg = replace(retriever.config, mode=mode)

            def run(question: str, cfg: RetrievalConfig = cfg) -> list[str]:
                return ranked_documents(
                    retriever.search(question, k, config=replace(cfg, max_per_document=1))
                )

            reports.append(evaluate(mode, run, questions, qrels))
        return reports


def ask(
    question: str,
    *,
    k: int = 12,
    synthesizer: str = "extractive",
    audience: Audience = "clinician",
    year_from: int | None = None,
    year_to: int | None = None,
    kinds: Sequence[str] = (),
    settings: Settings | None = None,
    store: Store | None = None,
    embedder: Embedder | None = None,
    on_token: Callable[[str], None] | None = None,
    live: bool = False,
    on_stage: Callable[[str, float], None] | None = None,
    mode: Mode | None = None,
) -> Article:
    """Answer ``question`` with a verified, cited article (see DESIGN: retrieve -> synthesize -> verify).

    With an empty store (or ``live=True``) evidence for the question is first
    fetched from PubMed and stored for reuse; offline, an empty store is an
    error that says how to build one.  ``metadata["timings_ms"]`` holds the
    time of every stage; ``on_stage(name, ms)`` is called as each one ends
    (the web app streams these to the reader).  ``mode`` is the retrieval mode
    (None: hybrid over a complete dense index, else BM25; see :func:`choose_mode`).
    """
    from curbside.answer.audience import adapt
    from curbside.answer.base import finalize
    from curbside.answer.bottomline import refresh_coverage
    from curbside.answer.verify import verify_article

    settings = settings or Settings()
    if k < 1 or k > 100:
        raise InputError(f"k must be between 1 and 100 (got {k})")
    timings: dict[str, float] = {}
    started = t = time.perf_counter()

    def lap(name: str, since: float) -> float:
        now = _lap(timings, name, since)
        if on_stage is not None:
            on_stage(name, timings[name])
        return now

    question = visible_text(question)
    check_question_length(question, settings.max_question_chars)
    question, removed = question_for_saving(question, settings)
    query = analyse(question, year_from=year_from, year_to=year_to, kinds=tuple(kinds))
    # The llm synthesizer in compose mode: the extractive draft, verified, then written as prose.
    composing = synthesizer == "llm" and settings.llm_mode == "compose"
    synth = get_registry().get("synthesizer", "extractive" if composing else synthesizer)(settings)
    # Made now, so that a missing model or runtime fails before any retrieval work.
    chat = get_registry().get("chat", settings.llm_backend)(settings) if composing else None
    with using_store(settings, store) as s:
        # Not stats(): it scans every document (~0.3 s at 50k), and this runs on every question.
        if live or next(iter(s.iter_documents()), None) is None:
            _fetch_live(question, settings, s, force=live)
            t = lap("live-fetch", t)
        # Word rarity in this store weighs the question's subject for the retriever, the learned
        # models and the verifier alike (curbside.retrieval.subject); they were trained on queries with it.
        query = with_word_counts(query, s)
        retriever = make_retriever(settings, s, embedder=embedder)
        chosen, coverage_warning = choose_mode(retriever, mode)
        # k counts passages a synthesizer can quote: title-only records (a third of MEDLINE) have
        # no text to cite, so twice as many hits are fetched and the first k with text kept.
        config = replace(retriever.config, mode=chosen)
        found = retriever.search(query, 2 * k, config=config)
        hits = [h for h in found if h.chunk.text.strip()][:k]
        stages = dict(retriever.last_timings.stages)
        facet_counts: dict[str, int] = {}
        if query.qtype != "yesno":
            # Titles of title-only records are citable too (curbside.ingestion.chunking) but rank low (one
            # short field to match), so they come from a deeper search; a second search, because a
            # deeper one reorders the passages (diversity), and those must stay as they were.
            # Yes/no verdicts never rest on titles, so yes/no questions skip it.
            seen = {h.chunk.id for h in hits}
            deeper = retriever.search(query, 4 * k, config=config)
            hits += [h for h in deeper if is_title_chunk(h.chunk) and h.chunk.id not in seen]
            # Each section's own sub-query (causes: "the condition AND induced/caused by..."):
            # the papers that answer a causes question rarely read like the question.
            extra, facet_counts = facet_hits(retriever, query, exclude=hits)
            hits += extra
            timings["retrieve.facets"] = round((time.perf_counter() - t) * 1000, 2)
        timings.update({f"retrieve.{n}": round(v, 2) for n, v in stages.items()})
        hits, blocked = screen_hits(hits)
        t = lap("retrieve", t)
        if on_token is not None and "on_token" in inspect.signature(synth.synthesize).parameters:
            # Streaming synthesizers (llm) take on_token; the Synthesizer protocol does not require it.
            draft = synth.synthesize(query, hits, on_token=on_token)
        else:
            draft = synth.synthesize(query, hits)
        t = lap("synthesize", t)
        documents = {h.document.id: h.document for h in hits}
        learned = load_relevance(settings)
        embedder_now = retriever.embedder
        if learned is not None and (embedder_now is None or embedder_now.name != learned.embedder):
            learned = None  # the model reads one embedder's vectors: without them, no learned threshold
        if learned is not None and embedder_now is not None and settings.verify_in_context:
            # A language model's claims get the same learned relevance score as extracted sentences.
            draft = score_claims(draft, query, documents, learned, embedder_now)
        verified = verify_article(
            draft,
            embedder=retriever.embedder,
            blocked=blocked,
            query=query if settings.verify_in_context else None,
            relevance_threshold=learned.sentence_threshold if learned is not None else None,
        )
        verified = refresh_coverage(verified)
        t = lap("verify", t)
        if chat is not None:
            from curbside.answer.compose import compose_article
            from curbside.answer.scoring import prose_relevance
            from curbside.retrieval.questions import Vocabulary

            scorer = (
                prose_relevance(query, documents, learned, embedder_now)
                if learned is not None and embedder_now is not None
                else None
            )
            verified = compose_article(
                verified,
                chat,
                vocabulary=Vocabulary.default(),
                embedder=retriever.embedder,
                audience=audience,
                on_token=on_token,
                asked=[n for c in query.concepts for n in (c.preferred, *c.narrower)],
                budget_s=settings.compose_budget_s,
                relevance=scorer,
                min_relevance=learned.sentence_threshold if learned is not None else None,
            )
            verified = replace(verified, metadata={**verified.metadata, "synthesizer": "llm (compose)"})
            t = lap("compose", t)
        article = finalize(verified, documents)
        article = adapt(article, audience)
        lap("render-prep", t)
        timings["total"] = round((time.perf_counter() - started) * 1000, 2)
        metadata = dict(article.metadata)
        metadata.update(
            {
                "timings_ms": timings,
                "retrieval": {"mode": chosen, "k": k, "hits": len(hits), "facets": facet_counts},
                "store": s.location,
                "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "curbside_version": __version__,
            }
        )
        article = replace(article, metadata=metadata)
        if removed is not None:
            article = replace(article, warnings=(*article.warnings, removed))
        if blocked:
            article = replace(article, warnings=(*article.warnings, blocked_warning(blocked)))
        return with_warning(article, "partial-index", coverage_warning) if coverage_warning else article


def _lap(timings: dict[str, float], name: str, since: float) -> float:
    now = time.perf_counter()
    timings[name] = round((now - since) * 1000, 2)
    return now


def with_warning(article: Article, code: str, message: str) -> Article:
    """``article`` with one more warning (e.g. that a fallback synthesizer wrote it)."""
    warning = ArticleWarning(code, message)  # type: ignore[arg-type]
    return replace(article, warnings=(*article.warnings, warning))


def _fetch_live(question: str, settings: Settings, store: Store, *, force: bool) -> None:
    from curbside.ingestion.live import fetch_evidence_live

    try:
        fetch_evidence_live(question, settings=settings, store=store, force=force)
    except UnreachableError as exc:
        if store.stats().documents:
            raise
        # One line: the full E-utilities URL (with the whole search term) buries the fix.
        host = urlsplit(settings.eutils_url).netloc or settings.eutils_url
        cause = f": {type(exc.__cause__).__name__}" if exc.__cause__ is not None else ""
        raise StoreError(
            f"the store at {store.location} is empty and PubMed ({host}) could not be reached{cause}",
            hint="build the offline demo corpus with `curbside demo-corpus`, "
            "or ingest files with `curbside ingest PATH`",
        ) from exc


def _rereview_after_ingest(settings: Settings, store: Store) -> None:
    """Run the re-review check when the editorial tables exist (a plain document store gets none)."""
    from curbside.review.connection import has_review_tables, review_db_path

    if has_review_tables(review_db_path(settings, store.location)):
        check_rereview(settings=settings, store=store)


def follow_up(
    thread_id: str | None,
    question: str,
    *,
    user: User | None = None,
    audience: Audience = "clinician",
    save: bool = True,
    k: int = 12,
    synthesizer: str = "extractive",
    year_from: int | None = None,
    year_to: int | None = None,
    kinds: Sequence[str] = (),
    settings: Settings | None = None,
    store: Store | None = None,
    db: ReviewDB | None = None,
    embedder: Embedder | None = None,
    on_token: Callable[[str], None] | None = None,
    live: bool = False,
    on_stage: Callable[[str, float], None] | None = None,
    rewriter: Literal["rules", "llm"] | None = None,
    chat: ChatBackend | None = None,
) -> tuple[Thread, Article]:
    """Ask ``question`` in a conversation thread (``thread_id=None`` starts one).

    The question is rewritten into a standalone query from the thread's earlier
    turns (:func:`curbside.review.threads.rewrite_follow_up`), answered with
    :func:`ask`, saved as an article version awaiting review (unless
    ``save=False``) and recorded as the thread's next turn.  Returns the
    updated thread and the article in ``audience``'s wording;
    ``thread.turns[-1]`` holds the standalone query and the saved article id
    and version.  ``rewriter`` (default ``settings.follow_up_rewriter``) picks
    the rules or the language model (``chat``, default: the configured
    backend); ``metadata["follow_up"]`` records the question as asked, the
    query searched, the rewriter used and any fallback (never the thread id).
    """
    from curbside.answer.audience import adapt
    from curbside.review.threads import rewrite_follow_up

    settings = settings or Settings()
    question = visible_text(question)
    check_question_length(question, settings.max_question_chars)
    question, removed = question_for_saving(question, settings)
    with using_store(settings, store) as s, review_db(settings, db, s.location) as d:
        thread = d.threads.get(thread_id, viewer=user) if thread_id else None
        turns = thread.turns if thread else ()
        note: dict[str, object] = {"question": " ".join(question.split()), "rewriter": "rules"}
        standalone = rewrite_follow_up(turns, question)
        if (rewriter or settings.follow_up_rewriter) == "llm" and turns:
            from curbside.errors import ModelError, RemoteError
            from curbside.review.threads import rewrite_follow_up_llm

            try:
                backend = chat or get_registry().get("chat", settings.llm_backend)(settings)
                standalone = rewrite_follow_up_llm(turns, question, backend)
                note["rewriter"] = f"llm:{backend.name}/{backend.model}"
            except (ModelError, RemoteError) as exc:
                note["fallback"] = f"the language model rewrite failed ({exc.message}); used the rules"
        note["standalone"] = standalone
        article = ask(
            standalone,
            k=k,
            synthesizer=synthesizer,
            audience="clinician",
            year_from=year_from,
            year_to=year_to,
            kinds=kinds,
            settings=settings,
            store=s,
            embedder=embedder,
            on_token=on_token,
            live=live,
            on_stage=on_stage,
        )
        # The thread id stays out of the article: every signed-in account reads saved versions.
        article = replace(article, metadata={**article.metadata, "follow_up": note})
        if removed is not None and removed not in article.warnings:
            article = replace(article, warnings=(*article.warnings, removed))
        article_id: str | None = None
        version: int | None = None
        # One transaction: a saved version is never left without the thread turn that asked for it.
        with d.transaction():
            if thread is None:
                thread = d.threads.create(user=user)
            if save:
                from curbside.review.accounts import can

                # A reader may ask but not submit: their answer is saved by the pipeline, like a signed-out one.
                saved = d.articles.save_version(article, user=user if can(user, "submit") else None)
                article_id, version = saved.version.article_id, saved.version.version
            thread = d.threads.add_turn(
                thread.id,
                " ".join(question.split()),
                standalone,
                article_id=article_id,
                version=version,
                viewer=user,
            )
        return thread, adapt(article, audience) if audience != "clinician" else article
