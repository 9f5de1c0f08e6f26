"""Progress of long commands: a live bar on a terminal, a log line every few seconds otherwise.

A bar drawn to a pipe or a log file shows nothing until the command ends (rich
renders a live display only on a terminal), so under ``nohup``, ``systemd``,
CI or ``| tee`` a long ingest or index looked hung.  :class:`Reporter` prints
one line per task every ``CURBSIDE_PROGRESS_INTERVAL`` seconds instead, with
the rate and the time left, and a last line when a task ends.

Rate and time left come from the work units a task reports (bytes of a file,
characters of text to embed) when it has them, else from its item counts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from curbside.ingestion.pipeline import Progress as IngestProgress
from curbside.wording import count


def format_duration(seconds: float) -> str:
    """``45 s``, ``4 min 10 s``, ``27 min``, ``2 h 05 min``: as precise as a person reading it needs."""
    seconds = max(0.0, seconds)
    if seconds < 1:
        return "<1 s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 10:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    if minutes < 60:
        return f"{minutes + (secs >= 30)} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@dataclass
class _Task:
    label: str
    started: float
    done: int = 0
    total: int | None = None
    work_done: float | None = None
    work_total: float | None = None
    status: str = ""
    last_line: float = 0.0
    finished: bool = False

    def rate(self, now: float) -> float:
        elapsed = now - self.started
        return self.done / elapsed if elapsed > 0 else 0.0

    def seconds_left(self, now: float) -> float | None:
        elapsed = now - self.started
        if elapsed <= 0:
            return None
        if self.work_total and self.work_done:
            return (self.work_total - self.work_done) / (self.work_done / elapsed)
        if self.total is not None and self.done:
            return (self.total - self.done) / (self.done / elapsed)
        return None


class Reporter:
    """Reports the progress of one or more named tasks (``with Reporter(...) as r: r.update(...)``).

    ``unit`` names what ``done``/``total`` count ("chunks", "records");
    ``terminal`` defaults to whether the console is one.
    """

    def __init__(
        self,
        unit: str,
        *,
        console: Console,
        interval: float = 10.0,
        terminal: bool | None = None,
    ) -> None:
        self.unit = unit
        self.console = console
        self.interval = interval
        self.terminal = console.is_terminal if terminal is None else terminal
        self._tasks: dict[str, _Task] = {}
        self._bar: Progress | None = None
        self._ids: dict[str, TaskID] = {}
        if self.terminal:
            self._bar = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                console=console,
            )

    def __enter__(self) -> Reporter:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.stop()
        elif kind is None:
            for key, task in self._tasks.items():
                if not task.finished:
                    self.finish(key)

    def say(self, text: str) -> None:
        """A message that stays (above the bar on a terminal)."""
        self.console.print(text, highlight=False, soft_wrap=True)

    def update(
        self,
        key: str,
        done: int,
        total: int | None = None,
        *,
        work_done: float | None = None,
        work_total: float | None = None,
        status: str | None = None,
    ) -> None:
        """Task ``key`` has ``done`` of ``total`` items (and ``work_done`` of ``work_total`` work units)."""
        now = time.perf_counter()
        task = self._tasks.get(key)
        if task is None:
            task = self._tasks[key] = _Task(label=key, started=now, last_line=now)
        task.done, task.total = done, total
        task.work_done, task.work_total = work_done, work_total
        if status is not None:
            task.status = status
        text = self._describe(task, now)
        if self._bar is not None:
            # The bar follows the work units when there are some (a file's bytes), else the items.
            completed, size = (work_done or 0, work_total) if work_total else (done, total or None)
            if key not in self._ids:
                self._ids[key] = self._bar.add_task(escape(key), total=size, status=text)
            self._bar.update(self._ids[key], completed=completed, total=size, status=text)
        elif now - task.last_line >= self.interval:
            task.last_line = now
            self.say(f"{key}: {text}")

    def finish(self, key: str, status: str | None = None) -> None:
        """Task ``key`` ended: its last line (``status`` replaces the figures, e.g. "unchanged")."""
        task = self._tasks.get(key)
        if task is None:
            task = self._tasks[key] = _Task(label=key, started=time.perf_counter())
        task.finished = True
        now = time.perf_counter()
        text = status or f"{self._count(task)} in {format_duration(now - task.started)}"
        if self._bar is not None:
            if key not in self._ids:
                self._ids[key] = self._bar.add_task(escape(key), total=1, status="")
            self._bar.update(self._ids[key], status=text, completed=task.total or 1, total=task.total or 1)
        else:
            self.say(f"{key}: {text}")

    def _count(self, task: _Task) -> str:
        if task.total:
            return f"{task.done:,}/{count(task.total, self.unit)}"
        return count(task.done, self.unit)

    def _describe(self, task: _Task, now: float) -> str:
        parts = [self._count(task)]
        if task.total:
            parts[0] += f" ({task.done / task.total:.0%})"
        rate = task.rate(now)
        if rate:
            parts.append(f"{rate:,.1f} {self.unit}/s")
        left = task.seconds_left(now)
        if left is not None and task.total and task.done < task.total:
            parts.append(f"about {format_duration(left)} left")
        if task.status:
            parts.append(task.status)
        return ", ".join(parts)


def short_name(path: str, width: int = 48) -> str:
    """A long path cut from the left, so the file name stays readable."""
    return path if len(path) <= width else "…" + path[-(width - 1) :]


def count_chars(n: int) -> str:
    """``812 characters``, ``78.1 M characters``."""
    return f"{n / 1e6:,.1f} M characters" if n >= 1e6 else f"{n:,} characters"


def ingest_progress(reporter: Reporter) -> Callable[[IngestProgress], None]:
    """Ingest progress, one task per input file (bytes read drive the bar and the time left)."""

    def update(p: IngestProgress) -> None:
        name = short_name(p.input)
        if p.event == "skipped":
            reporter.finish(name, f"unchanged since last ingest ({count(p.records, 'records')})")
        elif p.event == "failed":
            reporter.finish(name, f"failed after {count(p.records, 'records')}")
        else:
            size = (
                f"{(p.bytes_done or 0) / 1e6:,.1f}/{p.bytes_total / 1e6:,.1f} MB" if p.bytes_total else None
            )
            reporter.update(name, p.records, work_done=p.bytes_done, work_total=p.bytes_total, status=size)
            if p.event == "done":
                reporter.finish(name)

    return update
