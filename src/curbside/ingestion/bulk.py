"""Bulk work in worker processes: parallel parsing for ingest, parallel embedding for index.

Parallel ingest (:func:`ingest_parallel`, ``curbside ingest --workers N``):

* each input file is parsed in a worker process, at most ``workers`` at once,
  started with the ``spawn`` method (the same on every platform, and no child
  ever inherits the parent's open database connection);
* a worker groups records into batches exactly as the serial ingest does
  (:func:`curbside.ingestion.pipeline.batched`) and sends them over a bounded queue, so it
  parses at most a few batches ahead of the writer and memory stays flat;
* the parent is the only writer: it writes each batch in one transaction
  through the :class:`~curbside.store.base.Store` protocol (any backend), file
  by file in input order, so the store ends exactly as a serial ingest of the
  same inputs leaves it (a later file's version of a PMID still wins);
* resume: each worker skips the records its file already has committed
  (``FileProgress.records_done``), so a killed bulk ingest resumes by file and
  record, and completed files are skipped by content digest as always.

Parsing is the part that parallelises; the writes stay serial in one process
(SQLite has one writer anyway), so the speed-up is bounded by the write time.

Parallel embedding (:func:`embed_parallel`, ``curbside index --workers N``):
the parent reads a window of chunks that have no vector yet, worker processes
each holding one embedder embed batches of it, and the parent stores each
batch's vectors (one transaction per batch) as they come back, in order.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from curbside.config import Settings
from curbside.errors import CurbsideError, SourceError
from curbside.ingestion.pipeline import (
    BatchParts,
    IngestReport,
    InputReport,
    Progress,
    ProgressCallback,
    batched,
    file_digest,
)
from curbside.ingestion.screening import flag_documents
from curbside.ingestion.sources.base import FileSourceType
from curbside.registry import get_registry
from curbside.retrieval.embeddings import Embedder, get_embedder, length_batches
from curbside.store.base import Batch, FileProgress, Store

__all__ = [
    "QUEUE_BATCHES",
    "Job",
    "WorkerError",
    "embed_parallel",
    "end_file",
    "ingest_parallel",
    "plan_files",
]

#: Batches a worker may parse ahead of the writer (memory: this many x ``batch_size`` records).
QUEUE_BATCHES = 4
# How long blocking queue calls wait before checking that the other side is still alive.
_POLL_S = 1.0


class WorkerError(CurbsideError):
    """A worker process failed in a way that is a bug or a crash, not a problem with the input."""

    exit_code = 1


# --------------------------------------------------------------------------------------------------
# parallel ingest
# --------------------------------------------------------------------------------------------------

# Messages from a parse worker: ("batch", BatchParts, position) | ("done",) | ("failed", message)
# | ("crashed", traceback text).
_Message = tuple[Any, ...]


@dataclass
class Job:
    index: int  # position among the inputs, for the report
    path: Path
    source_type: str
    progress: FileProgress
    resumed: bool
    size: int | None


def _send(out: Queue[_Message], message: _Message) -> None:
    out.put(message)  # blocks while the queue is full: the writer sets the pace


def _watch_parent(parent: int) -> None:
    """End this worker if the parent dies (SIGKILL runs no cleanup that could tell it).

    A worker blocked on a full queue, or exiting while its queue's feeder thread
    waits for a reader, would otherwise wait forever: it holds both ends of the
    pipe, so the writes never fail.
    """
    while os.getppid() == parent:
        time.sleep(_POLL_S)
    os._exit(1)


def _start_watchdog(parent: int) -> None:
    # Ctrl-C reaches the whole process group; the parent alone handles it (and stops the workers).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent,), name="curbside-watch-parent", daemon=True).start()


def _parse_worker(
    path: str, source_type: str, settings: Settings, skip: int, out: Queue[_Message], parent: int
) -> None:
    """Worker process body: parse one file into batches (module level, so ``spawn`` can import it)."""
    _start_watchdog(parent)
    try:
        try:
            factory: FileSourceType = get_registry().get("source", source_type)
            source = factory.open(Path(path), settings)
        except (OSError, CurbsideError) as exc:
            message = exc.strerror if isinstance(exc, OSError) else str(exc)
            _send(out, ("failed", f"{path}: {message}"))
            return
        try:
            for parts in batched(source.records(), skip, settings.batch_size):
                _send(out, ("batch", parts, getattr(source, "position", None)))
        except SourceError as exc:
            _send(out, ("failed", str(exc)))
            return
        _send(out, ("done",))
    except BaseException:  # a bug: hand the traceback to the parent, which raises it
        _send(out, ("crashed", traceback.format_exc()))


def plan_files(
    store: Store, inputs: Sequence[tuple[Path, FileSourceType]], notify: ProgressCallback
) -> tuple[list[InputReport | None], list[Job]]:
    """The files still to ingest, each with its progress (resumed after the records it has committed),
    and a report slot per input already filled for the files that are unchanged or unreadable."""
    slots: list[InputReport | None] = [None] * len(inputs)
    pending: list[Job] = []
    for index, (path, source_type) in enumerate(inputs):
        try:
            key = "sha256:" + file_digest(path)
            size = path.stat().st_size
        except OSError as exc:
            slots[index] = InputReport(
                str(path), source_type.name, "failed", error=f"{path}: {exc.strerror or exc}"
            )
            continue
        fp = store.file_progress(key)
        if fp is not None and fp.completed:
            notify(
                Progress(str(path), fp.records_done, event="skipped", message="unchanged since last ingest")
            )
            slots[index] = InputReport(
                str(path), source_type.name, "unchanged", fp.documents, fp.deletions, fp.malformed
            )
            continue
        resumed = fp is not None and fp.records_done > 0
        fp = fp or FileProgress(key=key, path=str(path), source_type=source_type.name)
        fp.path = str(path)
        pending.append(Job(index, path, source_type.name, fp, resumed, size))

    return slots, pending


def ingest_parallel(
    store: Store,
    inputs: Sequence[tuple[Path, FileSourceType]],
    settings: Settings,
    *,
    workers: int,
    report: IngestReport,
    progress: ProgressCallback | None = None,
) -> None:
    """Ingest ``inputs`` into ``store`` with ``workers`` parse processes; fills ``report.inputs`` in order."""
    notify: ProgressCallback = progress or (lambda _p: None)
    slots, jobs = plan_files(store, inputs, notify)
    pending: deque[Job] = deque(jobs)

    context = multiprocessing.get_context("spawn")
    running: deque[tuple[Job, SpawnProcess, Queue[_Message]]] = deque()

    def start_next() -> None:
        job = pending.popleft()
        out: Queue[_Message] = context.Queue(QUEUE_BATCHES)
        process = context.Process(
            target=_parse_worker,
            args=(str(job.path), job.source_type, settings, job.progress.records_done, out, os.getpid()),
            name=f"curbside-parse-{job.index}",
            daemon=True,
        )
        process.start()
        running.append((job, process, out))
        start_file(job, notify)

    try:
        while pending or running:
            while pending and len(running) < workers:
                start_next()
            job, process, out = running[0]
            slots[job.index] = _write_file(store, job, process, out, report, notify)
            running.popleft()
            process.join()
    finally:
        for _, process, out in running:  # interrupted (or a crash): stop the parsers still running
            process.terminate()
            process.join()
            out.close()
    report.inputs.extend(r for r in slots if r is not None)


def _write_file(
    store: Store,
    job: Job,
    process: SpawnProcess,
    out: Queue[_Message],
    report: IngestReport,
    notify: ProgressCallback,
) -> InputReport:
    """Write the batches of one file as its worker sends them; the file's report at the end."""
    fp = job.progress
    name = str(job.path)
    flagged: list[tuple[str, str]] = []
    while True:
        message = _receive(out, process, name)
        kind = message[0]
        if kind == "batch":
            parts: BatchParts = message[1]
            report.result.add(store.write_batch(Batch(fp, *parts)))
            flagged += flag_documents(parts[0])
            notify(Progress(name, fp.records_done, message[2], job.size))
        elif kind == "done":
            return end_file(store, job, notify, flagged)
        elif kind == "failed":
            return end_file(store, job, notify, flagged, error=message[1])
        else:
            raise WorkerError(f"the worker parsing {name} failed:\n{message[1]}")


def start_file(job: Job, notify: ProgressCallback) -> None:
    """Announce a file's parse starting (or resuming after the records it has committed)."""
    skip = job.progress.records_done
    message = f"resuming after record {skip}" if job.resumed else ""
    notify(Progress(str(job.path), skip, 0, job.size, event="start", message=message))


def end_file(
    store: Store, job: Job, notify: ProgressCallback, flagged: list[tuple[str, str]], error: str | None = None
) -> InputReport:
    """Close a file's ingest: marked complete (or reported failed at ``error``), and its report."""
    fp, name = job.progress, str(job.path)
    if error is not None:
        notify(Progress(name, fp.records_done, event="failed", message=error))
        status: Literal["ingested", "resumed", "failed"] = "failed"
    else:
        store.finish_file(fp)
        notify(Progress(name, fp.records_done, job.size, job.size, event="done"))
        status = "resumed" if job.resumed else "ingested"
    return InputReport(
        name, job.source_type, status, fp.documents, fp.deletions, fp.malformed, error=error, flagged=flagged
    )


def _receive(out: Queue[_Message], process: SpawnProcess, name: str) -> _Message:
    while True:
        try:
            message: _Message = out.get(timeout=_POLL_S)
            return message
        except queue.Empty:
            if process.is_alive():
                continue
            try:  # it may have exited right after its last put
                message = out.get(timeout=_POLL_S)
                return message
            except queue.Empty:
                raise WorkerError(
                    f"the worker parsing {name} died (exit status {process.exitcode}) before finishing",
                    hint="killed, or out of memory? its output above may say more; try fewer --workers",
                ) from None


# --------------------------------------------------------------------------------------------------
# parallel embedding
# --------------------------------------------------------------------------------------------------

_worker_embedder: Embedder | None = None


def _init_embed_worker(name: str, settings: Settings, threads: int, parent: int) -> None:
    global _worker_embedder
    _start_watchdog(parent)
    embedder = get_embedder(name, settings)
    # onnxruntime (the default embedder) would otherwise start one thread per core in every
    # worker; splitting the cores between workers avoids oversubscribing them.
    if getattr(embedder, "threads", 0) is None:
        embedder.threads = threads  # type: ignore[attr-defined]
    _worker_embedder = embedder


def _embed_worker(texts: list[str]) -> npt.NDArray[np.float32]:
    assert _worker_embedder is not None, "worker not initialised"
    return _worker_embedder.embed(texts)


def embed_parallel(
    store: Store,
    embedder_name: str,
    model: str,
    settings: Settings,
    *,
    workers: int,
    total: int,
    on_batch: Callable[[Sequence[tuple[int, str]]], None] | None = None,
) -> int:
    """Embed up to ``total`` chunks without a ``model`` vector using ``workers`` processes; returns the count.

    ``on_batch(batch)`` is called after each batch's vectors are stored.
    """
    batch = settings.embed_batch
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")
    done = 0
    with context.Pool(
        workers, initializer=_init_embed_worker, initargs=(embedder_name, settings, threads, os.getpid())
    ) as pool:
        while done < total:
            # A window several batches deep keeps every worker busy; chunks_to_embed only
            # returns chunks without vectors, so windows never overlap.
            window = store.chunks_to_embed(
                model, min(max(settings.embed_window, batch * workers * 4), total - done)
            )
            if not window:
                break
            batches = length_batches(window, batch)
            texts = [[text for _, text in part] for part in batches]
            for part, vectors in zip(batches, pool.imap(_embed_worker, texts), strict=True):
                store.put_vectors(model, [key for key, _ in part], vectors)
                done += len(part)
                if on_batch:
                    on_batch(part)
    return done
