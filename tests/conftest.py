"""Shared fixtures: real SQLite stores in temporary folders, small documents, the shared data folder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from curbside.config import Settings, shared_data_dir
from curbside.store.sqlite import SQLiteStore
from curbside.types import Document, MeshHeading, MeshQualifier, Section
from pg_server import pg_server, pg_url  # noqa: F401  (PostgreSQL fixtures, see pg_server.py)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(db=str(tmp_path / "store.db"), data_dir=tmp_path / "data", cache_dir=tmp_path / "cache")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore(tmp_path / "store.db")
    yield s
    s.close()


@pytest.fixture
def shared_data() -> Path:
    path = shared_data_dir()
    if path is None:
        pytest.skip("shared data folder not found (set CURBSIDE_SHARED_DATA or place it at ../shared/data)")
    return path


def make_doc(
    n: int, *, title: str | None = None, text: str | None = None, year: int = 2020, **kw: object
) -> Document:
    """A small but complete research document."""
    fields: dict[str, object] = {
        "id": f"pmid:{n}",
        "title": title or f"Study {n} of leukopenia in adults",
        "sections": (
            Section(text or f"Leukopenia was observed in {n} patients after chemotherapy.", "RESULTS"),
            Section("Neutropenia is the most common form of leukopenia.", "CONCLUSIONS"),
        ),
        "source": "test",
        "journal": "Test Journal",
        "year": year,
        "identifiers": {"pmid": str(n)},
        "publication_types": ("Journal Article",),
        "mesh": (
            MeshHeading(
                "Leukopenia", "D007970", True, (MeshQualifier("chemically induced", "Q000139", True),)
            ),
        ),
    }
    fields.update(kw)
    return Document(**fields)  # type: ignore[arg-type]
