"""Benchmark: ``curbside ingest`` and ``curbside index`` in one process, on a local Ray instance,
and on a two-node Ray cluster started on loopback, over the shared MEDLINE files.

For each path the script ingests both shared MEDLINE baseline files into a new SQLite store and
embeds its chunks, then checks that ``curbside stats`` is the same as the single-process store's
(documents, chunks, vectors, records read, deletions, malformed records, files).  It reports
records/s for ingest and chunks/s for embedding.

* ``single``: ``api.ingest`` / ``api.index`` as ``curbside ingest`` / ``curbside index`` run them;
* ``ray-local``: ``--ray`` (a local Ray instance with this machine's CPUs);
* ``ray-2-nodes``: a head node and a second node, each its own raylet with half the CPUs, joined
  over this machine's own address (``ray.cluster_utils.Cluster``, token authentication on; the
  traffic never leaves the machine): the code path of a real cluster address, the same cores.

Embedding every chunk with MiniLM three times would take most of an hour on two cores, so the
stats check embeds with the hashed test embedder (``--embedder fake``, every chunk), and the
MiniLM rate is measured on the first ``--minilm-chunks`` chunks (default 2,000) of each store.

    CURBSIDE_SHARED_DATA=../shared/data .venv/bin/python bench/ray_bulk.py [--records N] [--minilm-chunks N]

Prints a table; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from curbside import api
from curbside.config import Settings, shared_data_dir

OUT = Path(__file__).resolve().parent / "out" / "ray"
STATS = ("documents", "with_abstract", "retracted", "chunks", "embedded", "records_read", "deletions_applied",
         "malformed", "files", "files_completed", "year_min", "year_max")  # fmt: skip


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def local_ray(cpus: int) -> Iterator[str]:
    import ray

    ray.init(
        address="local",
        num_cpus=cpus,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
    )
    try:
        yield "local"
    finally:
        ray.shutdown()


@contextlib.contextmanager
def two_nodes(cpus: int) -> Iterator[str]:
    import ray
    from ray.cluster_utils import Cluster

    half = max(1, cpus // 2)
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": half, "include_dashboard": False},
    )
    cluster.add_node(num_cpus=max(1, cpus - half))
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, log_to_driver=False, logging_level=logging.ERROR)
    try:
        nodes = [n for n in ray.nodes() if n["Alive"]]
        log(f"  cluster at {cluster.address}: {len(nodes)} nodes, {ray.cluster_resources().get('CPU')} CPUs")
        yield cluster.address
    finally:
        ray.shutdown()
        cluster.shutdown()


def run_path(
    name: str,
    inputs: list[str],
    session: Callable[[], contextlib.AbstractContextManager[str]] | None,
    minilm: int,
) -> dict[str, Any]:
    folder = OUT / name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    fake = Settings(db=str(folder / "store.db"), embedder="fake", data_dir=folder, cache_dir=folder)
    real = fake.model_copy(update={"embedder": "minilm"})
    with session() if session is not None else contextlib.nullcontext(None) as address:
        ray = None if address is None else address
        started = time.perf_counter()
        report = api.ingest(inputs, settings=fake, ray=ray)
        ingest_s = time.perf_counter() - started
        records = sum(r.documents + r.deletions + r.malformed for r in report.inputs)
        log(f"  {name}: ingested {records:,} records in {ingest_s:.1f} s")
        started = time.perf_counter()
        indexed = api.index(settings=fake, ray=ray)
        fake_s = time.perf_counter() - started
        log(f"  {name}: {indexed.embedded:,} chunks embedded (hashed) in {fake_s:.1f} s")
        started = time.perf_counter()
        sample = api.index(settings=real, ray=ray, limit=minilm)
        minilm_s = time.perf_counter() - started
        log(f"  {name}: {sample.embedded:,} chunks embedded with MiniLM in {minilm_s:.1f} s")
    stats = asdict(api.stats(settings=fake))
    return {
        "path": name,
        "records": records,
        "ingest_s": round(ingest_s, 1),
        "ingest_records_per_s": round(records / ingest_s, 1),
        "hashed_chunks": indexed.embedded,
        "hashed_chunks_per_s": round(indexed.embedded / fake_s, 1),
        "minilm_chunks": sample.embedded,
        "minilm_chunks_per_s": round(sample.embedded / minilm_s, 1),
        "stats": {k: stats[k] for k in STATS},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--minilm-chunks", type=int, default=2000, help="chunks embedded with MiniLM per path"
    )
    parser.add_argument("--paths", default="single,ray-local,ray-2-nodes", help="which paths to run")
    args = parser.parse_args(argv)
    data = shared_data_dir()
    medline = sorted((data / "medline").glob("*.xml.gz")) if data else []
    if not medline:
        print(
            json.dumps({"bench": "ray", "skipped": "shared MEDLINE files not found (CURBSIDE_SHARED_DATA)"})
        )
        return 0
    inputs = [str(p) for p in medline]
    cpus = os.cpu_count() or 2
    sessions: dict[str, Callable[[], contextlib.AbstractContextManager[str]] | None] = {
        "single": None,
        "ray-local": lambda: local_ray(cpus),
        "ray-2-nodes": lambda: two_nodes(cpus),
    }
    rows = []
    for name in args.paths.split(","):
        log(f"{name} …")
        rows.append(run_path(name, inputs, sessions[name], args.minilm_chunks))
    base = rows[0]["stats"]
    print(
        f"{'path':<12} {'records':>8} {'ingest rec/s':>12} {'hashed ch/s':>11} {'MiniLM ch/s':>11} same stats"
    )
    for r in rows:
        same = "yes" if r["stats"] == base else f"NO: {_diff(base, r['stats'])}"
        r["same_stats_as_first"] = r["stats"] == base
        print(
            f"{r['path']:<12} {r['records']:>8,} {r['ingest_records_per_s']:>12,.0f} "
            f"{r['hashed_chunks_per_s']:>11,.0f} {r['minilm_chunks_per_s']:>11,.1f} {same}"
        )
    print(json.dumps({"bench": "ray", "cpus": cpus, "inputs": [Path(i).name for i in inputs], "rows": rows}))
    return 0 if all(r["same_stats_as_first"] for r in rows) else 1


def _diff(a: dict[str, Any], b: dict[str, Any]) -> str:
    return ", ".join(f"{k} {a[k]} vs {b[k]}" for k in a if a[k] != b.get(k))


if __name__ == "__main__":
    sys.exit(main())
