"""Bulk ingest and embedding as Ray Data pipelines: ``curbside ingest --ray`` and ``index --ray``.

The same code runs on a local Ray instance (``--ray`` alone: started for the run, stopped after)
and on a cluster (``--ray ADDRESS``: ``auto``, ``host:6379`` from inside the cluster, or
``ray://host:10001`` through Ray Client; a multi-node cluster wants ``RAY_AUTH_MODE=token``).

* **ingest**: one Ray task per input file parses it (:func:`curbside.ingestion.pipeline.batched`, the
  batches the serial ingest writes) and streams its batches back; this process is the only
  writer and writes them through the :class:`~curbside.store.base.Store` protocol, file by file
  in input order, so the store ends exactly as a serial ingest leaves it.  Each batch carries the
  record position it starts at: a file already partly committed is parsed from there, and a batch
  seen again (a task retried after its worker died) is skipped, so nothing is lost or written
  twice.  Inputs must be readable at the same path on every node (a shared mount).
* **index**: chunks without a vector are read from the store a window at a time and embedded
  by a pool of Ray actors, each holding one embedder; this process stores each batch's vectors
  as they come back (one transaction each), so a killed run resumes with the chunks still
  without one, and a retried batch only replaces vectors with equal ones.

A task whose worker dies is run again, and an actor restarted, by Ray Data itself (its
defaults retry system failures without limit); a parse error in the input is reported for its
file, not retried.  Ray's own logging is kept to warnings; progress goes through the usual
callbacks.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import numpy as np

from curbside.config import Settings
from curbside.errors import ConfigError, CurbsideError, SourceError
from curbside.ingestion.bulk import Job, end_file, plan_files, start_file
from curbside.ingestion.pipeline import IngestReport, InputReport, Progress, ProgressCallback, batched
from curbside.ingestion.screening import flag_documents
from curbside.ingestion.sources.base import FileSourceType
from curbside.registry import get_registry
from curbside.retrieval.embeddings import get_embedder
from curbside.store.base import Batch, Store

__all__ = ["LOCAL", "embed_ray", "ingest_ray", "ray_session"]

#: ``--ray`` without an address: start a local Ray instance for the run.
LOCAL: Final = "local"
#: Size a Ray Data block is cut at: a few ingest batches.
BLOCK_BYTES: Final = 2 * 1024 * 1024
#: Chunks read from the store per Ray Data pipeline when embedding (the actors are started per window).
EMBED_WINDOW: Final = 20_000


@contextmanager
def ray_session(address: str) -> Iterator[Any]:
    """Ray connected to ``address`` (:data:`LOCAL`: a local instance started here, stopped after).

    A session already open in this process (a test's cluster) is used as it is."""
    try:
        import ray
        import ray.data
    except ImportError as exc:
        raise ConfigError(
            "--ray needs Ray", hint="./scripts/install.sh ray (Ray Data from the checked-in lock)"
        ) from exc
    started = False
    # Ray's C++ core logs notes at error level straight to this process's stderr (e.g. that an
    # actor's constructor arguments live in the object store); curbside reports real failures as
    # exceptions. A user's own RAY_BACKEND_LOG_LEVEL wins.
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    if not ray.is_initialized():
        kwargs: dict[str, Any] = {
            "include_dashboard": False,
            "log_to_driver": False,
            "logging_level": logging.ERROR,
        }
        try:
            # "local" starts a new instance even where a stale cluster file points at a dead one.
            ray.init(address=address, **kwargs)
        except Exception as exc:  # ConnectionError, RuntimeError, ValueError: all mean "no cluster there"
            raise ConfigError(
                f"--ray {address}: cannot reach a Ray cluster there: {exc}",
                hint="start one (`ray start --head`), pass its address (host:6379 or ray://host:10001), "
                "or use --ray alone for a local instance",
            ) from exc
        started = True
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # curbside reports progress itself
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.execution_options.preserve_order = True  # batches come back file by file, in order
    # A parse task's output is handed on a block at a time: small blocks let the writer start on a
    # file's first batches while the rest is parsed, instead of after the whole file (128 MiB).
    context.target_max_block_size = BLOCK_BYTES
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


# --------------------------------------------------------------------------------------------------
# ingest
# --------------------------------------------------------------------------------------------------


def _parse_file(row: dict[str, Any], settings: Settings) -> Iterator[dict[str, Any]]:
    """A Ray task: one file's batches after its first ``skip`` records, each with its start position."""
    path, index, skip = row["path"], int(row["index"]), int(row["skip"])
    done = skip
    base = {"index": index, "start": 0, "count": 0, "parts": b"", "position": -1, "message": ""}
    try:
        factory: FileSourceType = get_registry().get("source", row["source_type"])
        source = factory.open(Path(path), settings)
        for parts in batched(source.records(), skip, settings.batch_size):
            position = getattr(source, "position", None)
            yield {
                **base,
                "kind": "batch",
                "start": done,
                "count": parts[3],
                "parts": pickle.dumps(parts),
                "position": -1 if position is None else int(position),
            }
            done += parts[3]
    except (OSError, CurbsideError) as exc:
        message = f"{path}: {exc.strerror}" if isinstance(exc, OSError) else str(exc)
        yield {**base, "kind": "failed", "message": message}
        return
    yield {**base, "kind": "done"}


def ingest_ray(
    store: Store,
    inputs: Sequence[tuple[Path, FileSourceType]],
    settings: Settings,
    *,
    address: str,
    report: IngestReport,
    progress: ProgressCallback | None = None,
) -> None:
    """Ingest ``inputs`` into ``store``, parsing on Ray (see the module docstring)."""
    notify: ProgressCallback = progress or (lambda _p: None)
    slots, jobs = plan_files(store, inputs, notify)
    if jobs:
        with ray_session(address) as ray:
            items = [
                {
                    "index": j.index,
                    "path": str(j.path),
                    "source_type": j.source_type,
                    "skip": j.progress.records_done,
                }
                for j in jobs
            ]
            for job in jobs:
                start_file(job, notify)
            dataset = ray.data.from_items(items, override_num_blocks=len(items)).flat_map(
                _parse_file,
                fn_kwargs={"settings": settings},
            )
            _write_rows(store, {j.index: j for j in jobs}, dataset.iter_rows(), slots, report, notify)
    report.inputs.extend(r for r in slots if r is not None)


def _write_rows(
    store: Store,
    jobs: dict[int, Job],
    rows: Iterator[dict[str, Any]],
    slots: list[InputReport | None],
    report: IngestReport,
    notify: ProgressCallback,
) -> None:
    """Write the parse tasks' batches as they arrive; fill each file's report slot when it ends."""
    flagged: dict[int, list[tuple[str, str]]] = {index: [] for index in jobs}
    for row in rows:
        index = int(row["index"])
        job = jobs[index]
        fp, name = job.progress, str(job.path)
        if slots[index] is not None:
            continue  # a retried task's rows for a file already finished
        kind = row["kind"]
        if kind == "batch":
            start, count = int(row["start"]), int(row["count"])
            if start + count <= fp.records_done:
                continue  # sent again by a retried task: already written
            if start != fp.records_done:
                raise SourceError(f"{name}: batch at record {start} arrived after record {fp.records_done}")
            parts = pickle.loads(row["parts"])  # written by _parse_file in this job's own workers
            report.result.add(store.write_batch(Batch(fp, *parts)))
            flagged[index] += flag_documents(parts[0])
            position = int(row["position"])
            notify(Progress(name, fp.records_done, None if position < 0 else position, job.size))
        else:
            error = None if kind == "done" else str(row["message"])
            slots[index] = end_file(store, job, notify, flagged[index], error=error)


# --------------------------------------------------------------------------------------------------
# embedding
# --------------------------------------------------------------------------------------------------


class _Embed:
    """A Ray actor holding one embedder (loaded once, used for every batch it is given)."""

    def __init__(self, name: str, settings: Settings, threads: int) -> None:
        self.embedder = get_embedder(name, settings)
        if getattr(self.embedder, "threads", 0) is None:
            self.embedder.threads = threads  # type: ignore[attr-defined]

    def __call__(self, batch: dict[str, Any]) -> dict[str, Any]:
        texts = [str(t) for t in batch["text"]]
        return {"key": batch["key"], "vector": self.embedder.embed(texts)}


def embed_ray(
    store: Store,
    settings: Settings,
    model: str,
    *,
    address: str,
    total: int,
    on_batch: Callable[[Sequence[tuple[int, str]]], None] | None = None,
    actors: int | None = None,
) -> int:
    """Embed up to ``total`` chunks without a ``model`` vector on Ray; returns how many were stored."""
    done = 0
    with ray_session(address) as ray:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        pool = max(1, actors or cpus)
        threads = max(1, cpus // pool)
        while done < total:
            window = store.chunks_to_embed(model, min(max(settings.embed_window, EMBED_WINDOW), total - done))
            if not window:
                break
            texts = dict(window)
            dataset = ray.data.from_items(
                [{"key": key, "text": text} for key, text in window],
                override_num_blocks=max(1, min(len(window) // settings.embed_batch, pool * 4)),
            ).map_batches(
                _Embed,
                fn_constructor_kwargs={"name": settings.embedder, "settings": settings, "threads": threads},
                batch_size=settings.embed_batch,
                batch_format="numpy",
                concurrency=pool,
                num_cpus=1,
            )
            for batch in dataset.iter_batches(batch_size=None, batch_format="numpy"):
                keys = [int(k) for k in batch["key"]]
                store.put_vectors(model, keys, np.asarray(batch["vector"], dtype=np.float32))
                done += len(keys)
                if on_batch is not None:
                    on_batch([(k, texts[k]) for k in keys])
    return done
