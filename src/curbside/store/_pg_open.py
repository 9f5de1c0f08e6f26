"""Registry factory for ``postgresql://`` stores that imports psycopg only when one is opened.

``psycopg`` is the optional ``server`` extra: registering the backend must not need it,
and opening one without it is a configuration error with the fix in its hint.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from curbside.config import Settings
from curbside.errors import ConfigError

if TYPE_CHECKING:
    from curbside.store.postgres import PostgresStore


def open_postgres(location: str, settings: Settings) -> PostgresStore:
    try:
        from curbside.store.postgres import open_postgres as _open
    except ImportError as exc:
        raise ConfigError(
            f"the PostgreSQL store needs the psycopg package ({exc.name} is not installed)",
            hint="./scripts/install.sh server",
        ) from exc
    return _open(location, settings)
