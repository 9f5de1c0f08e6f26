"""A milvus-lite search engine for the store and retrieval suites (``backend_location`` = ``milvus``).

The suites write through the store and search at once; in production ``curbside index`` fills
Milvus between the two.  :class:`SyncedMilvusStore` runs that same fill (:func:`sync`) before each
search, so every store test checks Milvus's answers against what the store holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from curbside.config import Settings
from curbside.store import open_store
from curbside.store.base import ChunkHit, SearchFilters, VectorCoverage
from curbside.store.milvus import MilvusStore, sync

#: (model, dimension) a collection is made for before any vector is stored.
_TEXT_ONLY = ("none", 2)


def milvus_available() -> None:
    """Skip, saying why, where milvus-lite cannot run (the milvus extra is not installed)."""
    pytest.importorskip("pymilvus", reason="pymilvus is not installed: ./scripts/install.sh milvus")
    pytest.importorskip("milvus_lite", reason="milvus-lite is not installed: ./scripts/install.sh milvus")


class SyncedMilvusStore(MilvusStore):
    """A :class:`MilvusStore` that fills Milvus from the store before every search."""

    model: tuple[str, int] | None = None  # of the vectors last stored through this wrapper

    def _sync(self) -> None:
        held = self.search.model()
        wanted = self.model or held or _TEXT_ONLY  # else the model `curbside index` filled it with
        if held is not None and held != wanted:
            self.search.drop()  # a suite switching models: start the collection again
        sync(self.inner, self.search, *wanted)

    def put_vectors(self, model: str, keys: Sequence[int], vectors: npt.NDArray[np.float32]) -> None:
        super().put_vectors(model, keys, vectors)
        if len(vectors):
            self.model = (model, int(np.asarray(vectors).shape[-1]))

    def search_text(self, match: str, k: int, filters: SearchFilters | None = None) -> list[ChunkHit]:
        self._sync()
        return super().search_text(match, k, filters)

    def search_vector(
        self, model: str, vector: npt.NDArray[np.float32], k: int, filters: SearchFilters | None = None
    ) -> list[ChunkHit]:
        self._sync()
        return super().search_vector(model, vector, k, filters)

    def vector_coverage(self, model: str) -> VectorCoverage:
        self._sync()
        return super().vector_coverage(model)


def open_synced(location: str, settings: Settings, folder: Path) -> SyncedMilvusStore:
    """The store at ``location`` with its search in a milvus-lite file in ``folder``."""
    milvus_available()
    opened = open_store(location, settings.model_copy(update={"search": str(folder / "milvus.db")}))
    assert isinstance(opened, MilvusStore)
    return SyncedMilvusStore(opened.inner, opened.search)
