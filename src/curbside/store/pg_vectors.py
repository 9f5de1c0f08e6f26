"""Vectors in the PostgreSQL store: COPY encoding, one HNSW index per model, bulk loads.

Every embedding model gets a partial HNSW index on ``chunk_vectors`` (the column is
dimensionless; the index casts to the model's dimension).  Inserting into a live
HNSW graph costs a graph search per row, while pgvector builds an index over rows
already loaded in one pass, several times faster (``bench/store.py`` reports both
rates).  So a large load - ``curbside index`` over a fresh corpus, ``curbside migrate`` -
runs inside :func:`bulk_load`: the model's index is dropped, the vectors are copied
in, and the index is built once at the end.

Searches stay correct meanwhile (an exact scan, slower).  A load killed before its
end leaves the index missing; the next :func:`bulk_load` of that model (every
``curbside index`` run enters one, even with nothing to embed) builds it again.
One bulk load runs at a time per database (an advisory lock); a second one, and a
load too small to pay for a rebuild, inserts into the live index instead.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from curbside.errors import StoreError
from curbside.store.pg_schema import MIGRATION_LOCK

MODEL_LOCK = MIGRATION_LOCK + 1  # transaction lock: two writers registering one new model
BULK_LOCK = MIGRATION_LOCK + 2  # session lock: held for a whole bulk load
#: Fewer incoming vectors than this (or than the model already has) go into the live index:
#: rebuilding the whole graph would cost more than inserting them.
BULK_MIN = 20_000


def index_name(model: str) -> str:
    return "chunk_vectors_hnsw_" + hashlib.sha256(model.encode()).hexdigest()[:16]


def vector_literal(vector: npt.NDArray[np.float32]) -> str:
    return "[" + ",".join(repr(float(x)) for x in vector.reshape(-1)) + "]"


def binary_copy(model: str, keys: Sequence[int], data: npt.NDArray[np.float32]) -> bytes:
    """A COPY BINARY stream of (model, chunk_key, embedding) rows: no text formatting of floats."""
    name = model.encode()
    dims = data.shape[1]
    # per row: 3 fields; model (length, bytes); chunk_key (length 8, int8); vector (see below)
    head = struct.pack(">hi", 3, len(name)) + name + struct.pack(">i", 8)
    vec_head = struct.pack(">ihh", 4 + 4 * dims, dims, 0)
    big = data.astype(">f4", copy=False)
    parts = [b"PGCOPY\n\xff\r\n\x00", struct.pack(">ii", 0, 0)]
    for i, key in enumerate(keys):
        parts.append(head)
        parts.append(struct.pack(">q", int(key)))
        parts.append(vec_head)
        parts.append(big[i].tobytes())
    parts.append(struct.pack(">h", -1))
    return b"".join(parts)


def ensure_model(conn: psycopg.Connection[Any], model: str, dims: int, *, with_index: bool) -> None:
    """Register ``model`` (and build its empty index unless ``with_index`` is false), or check its dims."""
    row = conn.execute("SELECT dims FROM vector_models WHERE model = %s", (model,)).fetchone()
    if row is None:
        # Two processes seeing a new model at once: the second waits here, then finds the row.
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MODEL_LOCK,))
        row = conn.execute("SELECT dims FROM vector_models WHERE model = %s", (model,)).fetchone()
    if row is not None:
        if row[0] != dims:
            raise StoreError(f"{model!r} vectors here have {row[0]} dimensions, not {dims}")
        return
    conn.execute("INSERT INTO vector_models VALUES (%s, %s, %s)", (model, dims, index_name(model)))
    if with_index:
        create_index(conn, model, dims)


def create_index(conn: psycopg.Connection[Any], model: str, dims: int) -> None:
    conn.execute(
        sql.SQL(
            "CREATE INDEX IF NOT EXISTS {index} ON chunk_vectors "
            "USING hnsw ((embedding::vector({dims})) vector_ip_ops) WHERE model = {model}"
        ).format(index=sql.Identifier(index_name(model)), dims=sql.Literal(dims), model=sql.Literal(model))
    )


def has_index(conn: psycopg.Connection[Any], model: str) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (index_name(model),)).fetchone()
    return bool(row and row[0])


@contextmanager
def bulk_load(
    pool: ConnectionPool[Any], model: str, incoming: int, deferred: set[str], *, build_memory: str
) -> Iterator[None]:
    """Defer ``model``'s HNSW index to the end of the block when ``incoming`` vectors pay for it.

    ``deferred`` is the store's set of models whose index is deferred, read by
    ``put_vectors`` so a model first seen inside the block gets no index yet.
    ``build_memory``: ``maintenance_work_mem`` for the build (a graph that does not
    fit is built much more slowly).
    """
    with pool.connection() as conn:
        row = conn.execute("SELECT pg_try_advisory_lock(%s)", (BULK_LOCK,)).fetchone()
        locked = bool(row and row[0])
        try:
            # Counting the model's vectors reads the whole table: only for a load that could pay.
            if locked and incoming >= BULK_MIN:
                row = conn.execute("SELECT count(*) FROM chunk_vectors WHERE model = %s", (model,)).fetchone()
                defer = incoming >= (int(row[0]) if row else 0)
            else:
                defer = False
            if defer:
                conn.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(index_name(model))))
                deferred.add(model)
            try:
                yield
            except Exception:
                if locked:
                    _build(conn, model, build_memory)
                raise
            # (an interrupt, KeyboardInterrupt or SystemExit, skips the build: the next load does it)
            if locked:
                _build(conn, model, build_memory)
        finally:
            deferred.discard(model)
            if locked:
                conn.execute("SELECT pg_advisory_unlock(%s)", (BULK_LOCK,))


def _build(conn: psycopg.Connection[Any], model: str, build_memory: str) -> None:
    """Build ``model``'s index if it is missing (after a deferred or an interrupted load)."""
    row = conn.execute("SELECT dims FROM vector_models WHERE model = %s", (model,)).fetchone()
    if row is None or has_index(conn, model):
        return
    try:
        with conn.transaction():
            conn.execute("SELECT set_config('maintenance_work_mem', %s, true)", (build_memory,))
            create_index(conn, model, int(row[0]))
    except psycopg.Error as exc:
        raise StoreError(f"building the HNSW index of {model!r} vectors failed: {exc}") from exc
