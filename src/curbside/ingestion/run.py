"""Which of the three ways an ingest runs: one process, worker processes, or a Ray Data pipeline.

:func:`ingest_paths` resolves the inputs and hands them to :mod:`~curbside.ingestion.pipeline` (one
process), :mod:`~curbside.ingestion.bulk` (``workers`` > 1) or :mod:`~curbside.ingestion.distributed`
(``ray``); the store ends the same either way.  It sits above the three so that they need not
know one another.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

from curbside.config import Settings
from curbside.errors import CurbsideError, InputError
from curbside.ingestion.pipeline import (
    IngestReport,
    InputReport,
    ProgressCallback,
    file_digest,
    ingest_source,
    resolve_inputs,
)
from curbside.store.base import Store

__all__ = ["ingest_paths"]


def ingest_paths(
    store: Store,
    patterns: Sequence[str | Path],
    settings: Settings | None = None,
    *,
    progress: ProgressCallback | None = None,
    workers: int = 1,
    ray: str | None = None,
) -> IngestReport:
    """Ingest every file matched by ``patterns`` (see :func:`resolve_inputs`).

    ``workers`` > 1 parses that many files at once in worker processes
    (:mod:`curbside.ingestion.bulk`); ``ray`` (a Ray address, or ``"local"``) parses them as a Ray Data
    pipeline (:mod:`curbside.ingestion.distributed`).  The store ends the same either way.
    """
    settings = settings or Settings()
    if workers < 1:
        raise InputError(f"workers must be at least 1 (got {workers})")
    if ray is not None and workers > 1:
        raise InputError("--ray and --workers both choose where files are parsed: give one")
    started = time.perf_counter()
    report = IngestReport()
    inputs = resolve_inputs(patterns)
    if ray is not None and inputs:
        from curbside.ingestion.distributed import ingest_ray

        ingest_ray(store, inputs, settings, address=ray, report=report, progress=progress)
    elif workers > 1 and inputs:
        from curbside.ingestion.bulk import ingest_parallel

        ingest_parallel(store, inputs, settings, workers=workers, report=report, progress=progress)
    for path, source_type in inputs if workers == 1 and ray is None else ():
        try:
            key = "sha256:" + file_digest(path)
            source = source_type.open(path, settings)
        except (OSError, CurbsideError) as exc:
            message = exc.strerror if isinstance(exc, OSError) else str(exc)
            report.inputs.append(
                InputReport(str(path), source_type.name, "failed", error=f"{path}: {message}")
            )
            continue
        report.inputs.append(
            ingest_source(
                store,
                source,
                key=key,
                source_type=source_type.name,
                settings=settings,
                progress=progress,
                result=report.result,
            )
        )
    report.seconds = time.perf_counter() - started
    store.record_run([str(p) for p, _ in inputs], report.result, report.seconds)
    report.problems = store.problems(limit=20)
    return report
