"""Embedding a store's chunks for dense retrieval (``curbside index``): resumable, length-batched, timed.

The work is done window by window: up to ``settings.embed_window`` chunks
without a vector are read, sorted by length and embedded ``settings.embed_batch``
at a time, each batch committed with its vectors.  A killed run loses at most
one batch, and the next run asks the store only for chunks still without a
vector.  Sorting a window rather than a batch is what keeps the model near its
own speed: a batch pads every text to its longest, and chunks range from a
60-character title to a 1,600-character passage (``bench/embed.py`` measures
both against the model alone).

Time is estimated in characters, not chunks: cost follows text length, and a
store's chunks are not in random order (a 1977 baseline file is mostly titles,
a 2021 one mostly abstracts).  The first batches of a run are a calibration
sample spread over the first window's lengths; their characters per second,
times the characters left, is the up-front estimate (:func:`estimate`, and the
first :class:`IndexProgress` event that carries ``estimate_s``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from curbside.config import Settings
from curbside.errors import InputError
from curbside.retrieval.embeddings import Embedder, length_batches
from curbside.store.base import Store, SyncReport

#: Calibration: this many groups of neighbouring lengths, spread over a window's length quantiles.
_CALIBRATION_GROUPS = 4


@dataclass(frozen=True)
class IndexProgress:
    """One progress event: chunks and characters done of the run's total.

    ``estimate_s`` is set once, on the event after the calibration batches: the
    whole run's expected seconds at the rate just measured.
    """

    done: int
    total: int
    chars_done: int
    chars_total: int
    elapsed_s: float
    estimate_s: float | None = None


IndexCallback = Callable[[IndexProgress], None]


@dataclass
class IndexReport:
    embedder: str
    embedded: int
    remaining: int
    seconds: float
    chars: int = 0
    search: SyncReport | None = None  # the search engine's fill, when CURBSIDE_SEARCH names one

    @property
    def rate(self) -> float:
        """Chunks per second over the run."""
        return self.embedded / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class IndexEstimate:
    """What ``curbside index`` has left to do and how long it should take on this machine."""

    embedder: str
    chunks: int
    chars: int
    chars_per_s: float  # measured on a calibration sample of the store's own chunks
    sample: int

    @property
    def seconds(self) -> float:
        return self.chars / self.chars_per_s if self.chars_per_s else 0.0


def calibration_sample(window: Sequence[tuple[int, str]], size: int) -> list[list[tuple[int, str]]]:
    """A few small batches of neighbouring lengths, taken at the window's length quantiles.

    Each batch pads as little as a real one; together they span short titles to
    long passages, so their characters per second predict the run's.
    """
    ordered = sorted(window, key=lambda item: len(item[1]))
    group = max(1, size // _CALIBRATION_GROUPS)
    if len(ordered) <= group * _CALIBRATION_GROUPS:
        return [ordered] if ordered else []
    batches = []
    for g in range(_CALIBRATION_GROUPS):
        middle = int((g + 0.5) / _CALIBRATION_GROUPS * len(ordered))
        start = min(max(0, middle - group // 2), len(ordered) - group)
        batches.append(ordered[start : start + group])
    return batches


def _warm(embedder: Embedder) -> None:
    # Two texts, not one: a one-text call may use another session (MiniLM's query_threads).
    embedder.embed(["warm-up", "warm-up"])


def _chars(batch: Sequence[tuple[int, str]]) -> int:
    return sum(len(text) for _, text in batch)


def estimate(store: Store, embedder: Embedder, settings: Settings) -> IndexEstimate:
    """Measure this machine's embedding rate on a sample of the chunks still to embed; stores nothing."""
    coverage = store.vector_coverage(embedder.name)
    chars = store.chars_to_embed(embedder.name) if coverage.remaining else 0
    window = store.chunks_to_embed(embedder.name, min(settings.embed_window, coverage.remaining))
    batches = calibration_sample(window, settings.embed_batch)
    rate = 0.0
    if batches:
        _warm(embedder)
        started = time.perf_counter()
        for batch in batches:
            embedder.embed([text for _, text in batch])
        seconds = time.perf_counter() - started
        rate = sum(_chars(b) for b in batches) / seconds if seconds else 0.0
    return IndexEstimate(embedder.name, coverage.remaining, chars, rate, sum(len(b) for b in batches))


def run(
    store: Store,
    embedder: Embedder,
    settings: Settings,
    *,
    limit: int | None = None,
    progress: IndexCallback | None = None,
    workers: int = 1,
    ray: str | None = None,
) -> IndexReport:
    """Embed every chunk (or the first ``limit``) without a vector from ``embedder``; see the module doc."""
    if workers < 1:
        raise InputError(f"workers must be at least 1 (got {workers})")
    if limit is not None and limit < 0:
        raise InputError(f"limit must be at least 0 (got {limit})")
    started = time.perf_counter()
    total = store.vector_coverage(embedder.name).remaining
    if limit is not None:
        total = min(total, limit)
    chars_total = store.chars_to_embed(embedder.name, limit) if total else 0
    state = {"done": 0, "chars": 0}

    def report(batch: Sequence[tuple[int, str]], estimate_s: float | None = None) -> None:
        state["done"] += len(batch)
        state["chars"] += _chars(batch)
        if progress is not None:
            progress(
                IndexProgress(
                    state["done"],
                    total,
                    state["chars"],
                    max(chars_total, state["chars"]),
                    time.perf_counter() - started,
                    estimate_s,
                )
            )

    if progress is not None:
        progress(IndexProgress(0, total, 0, chars_total, 0.0))
    # Entered even with nothing to embed: it rebuilds an index an interrupted load left out.
    with store.bulk_vectors(embedder.name, total):
        if ray is not None and total:
            from curbside.ingestion.distributed import embed_ray

            embed_ray(store, settings, embedder.name, address=ray, total=total, on_batch=report)
        elif workers > 1 and total:
            from curbside.ingestion.bulk import embed_parallel

            embed_parallel(
                store,
                settings.embedder,
                embedder.name,
                settings,
                workers=workers,
                total=total,
                on_batch=report,
            )
        calibrated = workers > 1 or ray is not None
        while state["done"] < total:
            window = store.chunks_to_embed(embedder.name, min(settings.embed_window, total - state["done"]))
            if not window:
                break
            batches = length_batches(window, settings.embed_batch)
            if not calibrated:
                calibrated = True
                batches = _calibrate(store, embedder, window, settings, chars_total, report)
            for batch in batches:
                store.put_vectors(
                    embedder.name, [key for key, _ in batch], embedder.embed([t for _, t in batch])
                )
                report(batch)
        remaining = store.vector_coverage(embedder.name).remaining
    return IndexReport(embedder.name, state["done"], remaining, time.perf_counter() - started, state["chars"])


def _calibrate(
    store: Store,
    embedder: Embedder,
    window: list[tuple[int, str]],
    settings: Settings,
    chars_total: int,
    report: Callable[[Sequence[tuple[int, str]], float | None], None],
) -> list[list[tuple[int, str]]]:
    """Embed and store the calibration sample of ``window``; return the batches for the rest of it."""
    sample = calibration_sample(window, settings.embed_batch)
    _warm(embedder)
    started = time.perf_counter()
    for batch in sample:
        store.put_vectors(embedder.name, [key for key, _ in batch], embedder.embed([t for _, t in batch]))
    seconds = time.perf_counter() - started
    chars = sum(_chars(b) for b in sample)
    estimate_s = chars_total / (chars / seconds) if chars and seconds and chars_total else None
    report([item for batch in sample for item in batch], estimate_s)
    taken = {key for batch in sample for key, _ in batch}
    return length_batches([item for item in window if item[0] not in taken], settings.embed_batch)
