"""curbside: structured, claim-verified, cited answers to clinical questions.

The curated public API; everything else is importable from its module but may change.
``tests/test_public_api.py`` keeps ``__all__`` and this list in step.
"""

from __future__ import annotations

from curbside.api import ask, index, ingest, ingest_pubmed, search, show, stats
from curbside.config import Settings
from curbside.errors import CurbsideError
from curbside.store import open_store
from curbside.types import Article, Chunk, Claim, Document, Hit, Query
from curbside.version import __version__

__all__ = [
    "Article",
    "Chunk",
    "Claim",
    "CurbsideError",
    "Document",
    "Hit",
    "Query",
    "Settings",
    "__version__",
    "ask",
    "index",
    "ingest",
    "ingest_pubmed",
    "open_store",
    "search",
    "show",
    "stats",
]
