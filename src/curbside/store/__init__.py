"""Storage backends behind one :class:`~curbside.store.base.Store` protocol.

``open_store(location)`` picks the backend from the location: a ``postgresql://``
URL or a SQLite path (optionally ``sqlite:///path``).  Backends are registered
under the ``store`` kind by URL scheme, so a plugin can add another.  With
``CURBSIDE_SEARCH`` set, the store's chunk search runs in that engine instead
(the ``search`` kind, e.g. :mod:`curbside.store.milvus`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from curbside.config import Settings
from curbside.errors import ConfigError
from curbside.registry import get_registry
from curbside.store.base import Store

if TYPE_CHECKING:
    from curbside.store.postgres import PostgresStore


def open_postgres_store(location: str, settings: Settings) -> PostgresStore:
    """The registry's factory for ``postgresql://`` stores: psycopg (the optional ``server`` extra)
    is imported only when one is opened, and its absence is a :class:`ConfigError` with the fix."""
    try:
        from curbside.store.postgres import open_postgres
    except ImportError as exc:
        raise ConfigError(
            f"the PostgreSQL store needs the psycopg package ({exc.name} is not installed)",
            hint="./scripts/install.sh server",
        ) from exc
    return open_postgres(location, settings)


def scheme_of(location: str) -> str:
    if "://" in location:
        scheme = location.split("://", 1)[0].lower()
        return "postgresql" if scheme in {"postgres", "postgresql"} else scheme
    return "sqlite"


def open_store(location: str | None = None, settings: Settings | None = None) -> Store:
    """Open (and migrate) the store at ``location`` (default: ``settings.db``)."""
    settings = settings or Settings()
    location = location or settings.db
    scheme = scheme_of(location)
    registry = get_registry()
    if scheme not in registry.names("store"):
        raise ConfigError(
            f"no store backend for {location!r} (scheme {scheme!r}); "
            f"available: {', '.join(registry.names('store'))}"
        )
    factory = registry.get("store", scheme)
    store: Store = factory(location, settings)
    if settings.search:
        engine = search_engine_of(settings.search)
        if engine not in registry.names("search"):
            store.close()
            raise ConfigError(
                f"no search engine for CURBSIDE_SEARCH={settings.search!r} ({engine!r}); "
                f"available: {', '.join(registry.names('search'))}"
            )
        try:
            store = registry.get("search", engine)(store, settings)
        except BaseException:
            store.close()
            raise
    return store


def search_engine_of(search: str) -> str:
    """The registered search engine a ``CURBSIDE_SEARCH`` value names: its URL scheme up to any ``+``
    (``milvus+https://``), and milvus (milvus-lite) for a local path."""
    if "://" not in search:
        return "milvus"
    return search.split("://", 1)[0].split("+", 1)[0].lower()


@contextmanager
def using_store(settings: Settings, store: Store | None) -> Iterator[Store]:
    """``store`` itself, or the store of ``settings.db`` opened for the block and closed after it."""
    if store is not None:
        yield store
        return
    opened = open_store(settings.db, settings)
    try:
        yield opened
    finally:
        opened.close()
