"""Built-in parts, registered through the same ``register`` hook a third-party plugin uses."""

from __future__ import annotations

from curbside.registry import Registry


def register(registry: Registry) -> None:
    # Imports stay inside the hook so that importing curbside stays cheap.
    # --- stores (by URL scheme) ---
    from curbside.store.sqlite import open_sqlite

    registry.add("store", "sqlite", open_sqlite)
    # --- sources (one line each) ---
    from curbside.sources.guidelines import SOURCE_TYPE as guideline

    registry.add("source", "guideline", guideline)
    from curbside.sources.jsonl import SOURCE_TYPE as jsonl

    registry.add("source", "jsonl", jsonl)
    from curbside.sources.jats import SOURCE_TYPE as jats

    registry.add("source", "jats", jats)
    # --- embedders ---
    from curbside.embeddings import MiniLMEmbedder

    registry.add("embedder", "minilm", MiniLMEmbedder)
    from curbside.testing import FakeEmbedder

    registry.add("embedder", "fake", FakeEmbedder)
    # --- rerankers ---
    from curbside.rerank import ConceptCoverageReranker, NoReranker

    registry.add("reranker", "concept", ConceptCoverageReranker)
    registry.add("reranker", "none", NoReranker)
