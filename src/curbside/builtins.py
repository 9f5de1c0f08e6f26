"""Built-in parts, registered through the same ``register`` hook a third-party plugin uses."""

from __future__ import annotations

from curbside.registry import Registry


def register(registry: Registry) -> None:
    # Imports stay inside the hook so that importing curbside stays cheap.
    # --- stores (by URL scheme) ---
    from curbside.store.sqlite import open_sqlite

    registry.add("store", "sqlite", open_sqlite)
    from curbside.store import open_postgres_store

    registry.add("store", "postgresql", open_postgres_store)
    registry.add("store", "postgres", open_postgres_store)
    # --- search engines (CURBSIDE_SEARCH; a store searches itself without one) ---
    from curbside.store.milvus import with_milvus

    registry.add("search", "milvus", with_milvus)
    # --- sources (one line each) ---
    from curbside.ingestion.sources.guidelines import SOURCE_TYPE as guideline

    registry.add("source", "guideline", guideline)
    from curbside.ingestion.sources.jsonl import SOURCE_TYPE as jsonl

    registry.add("source", "jsonl", jsonl)
    from curbside.ingestion.sources.jats import SOURCE_TYPE as jats

    registry.add("source", "jats", jats)
    from curbside.ingestion.sources.medline import SOURCE_TYPE as medline

    registry.add("source", "medline", medline)
    # --- embedders ---
    from curbside.retrieval.embeddings import MiniLMEmbedder

    registry.add("embedder", "minilm", MiniLMEmbedder)
    from curbside.testing import FakeEmbedder

    registry.add("embedder", "fake", FakeEmbedder)
    # --- rerankers ---
    from curbside.retrieval.rerank import ConceptCoverageReranker, LearnedReranker, NoReranker

    registry.add("reranker", "concept", ConceptCoverageReranker)
    registry.add("reranker", "relevance", LearnedReranker)
    registry.add("reranker", "none", NoReranker)
    # --- synthesizers ---
    from curbside.answer.extractive import ExtractiveSynthesizer

    registry.add("synthesizer", "extractive", ExtractiveSynthesizer)
    # --- chat backends (factories take settings) and the llm synthesizer ---
    from curbside.answer.backends.llamacpp import LlamaCppBackend
    from curbside.answer.backends.openai_compat import OpenAICompatBackend
    from curbside.answer.backends.xllama import XLlamaCppBackend

    registry.add("chat", "openai", OpenAICompatBackend)
    registry.add("chat", "llamacpp", LlamaCppBackend)
    registry.add("chat", "xllamacpp", XLlamaCppBackend)
    from curbside.answer.llm import LLMSynthesizer

    registry.add("synthesizer", "llm", LLMSynthesizer)
    # --- renderers: functions (article, audience, verbose) -> str; see curbside.render ---
    from curbside.render.html import html_renderer
    from curbside.render.json import json_renderer
    from curbside.render.markdown import markdown_renderer

    registry.add("renderer", "md", markdown_renderer)
    registry.add("renderer", "html", html_renderer)
    registry.add("renderer", "json", json_renderer)
