"""Progress reporting: live bar on a terminal, timed log lines elsewhere."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from curbside.cli.progress import Reporter, format_duration, short_name


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.2, "<1 s"),
        (45, "45 s"),
        (250, "4 min 10 s"),
        (300, "5 min"),
        (1630, "27 min"),
        (7500, "2 h 05 min"),
    ],
)
def test_durations_read_as_a_person_says_them(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_short_name_keeps_the_file_name() -> None:
    path = "/very/long/folder/" * 5 + "pubmed24n1219.xml.gz"
    assert short_name(path).endswith("pubmed24n1219.xml.gz") and len(short_name(path)) == 48
    assert short_name("a.xml") == "a.xml"


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=120), out


def test_a_pipe_gets_lines_with_rate_and_time_left(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 5.0, 11.0, 12.0, 30.0])
    monkeypatch.setattr("curbside.cli.progress.time.perf_counter", lambda: next(clock))
    console, out = _console(terminal=False)
    with Reporter("chunks", console=console, interval=10) as reporter:
        reporter.update("embedding", 0, 1000, work_done=0, work_total=1000)  # t=0: starts the task
        reporter.update("embedding", 100, 1000, work_done=100, work_total=1000)  # t=5: too soon
        reporter.update("embedding", 200, 1000, work_done=200, work_total=1000)  # t=11: a line
        reporter.update("embedding", 220, 1000, work_done=220, work_total=1000)  # t=12: too soon
    lines = out.getvalue().splitlines()
    # 200 chunks in 11 s: 18.2/s; 800 units left at 200/11 per s: 44 s.
    assert lines == [
        "embedding: 200/1,000 chunks (20%), 18.2 chunks/s, about 44 s left",
        "embedding: 220/1,000 chunks in 30 s",  # the task's last line, when the block ends
    ]


def test_a_failed_or_skipped_task_says_so_once() -> None:
    console, out = _console(terminal=False)
    with Reporter("records", console=console, interval=0) as reporter:
        reporter.finish("a.xml", "unchanged since last ingest (30,000 records)")
        reporter.update("b.xml", 10, status="1.0/2.0 MB")
        reporter.finish("b.xml", "failed after 10 records")
    text = out.getvalue()
    assert "a.xml: unchanged since last ingest (30,000 records)" in text
    assert "b.xml: 10 records, " in text and "1.0/2.0 MB" in text
    assert text.count("b.xml: failed after 10 records") == 1


def test_a_terminal_gets_a_bar_not_lines() -> None:
    console, out = _console(terminal=True)
    with Reporter("chunks", console=console, interval=0) as reporter:
        reporter.update("embedding", 5, 10)
        reporter.say("a message")
    text = out.getvalue()
    assert "a message" in text and "embedding" in text and "5/10 chunks" in text
