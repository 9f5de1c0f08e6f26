"""What every ``curbside`` command shares: the settings it runs with and the console for messages.

The command modules (:mod:`.main`, :mod:`.operate`, :mod:`.review`, :mod:`.articles`,
:mod:`.train`) import it; it imports none of them.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from curbside.config import Settings
from curbside.errors import ConfigError
from curbside.ingestion.pipeline import IngestReport

__all__ = ["Context", "err_console", "load_settings", "pass_ctx", "print_ingest"]

err_console = Console(stderr=True)


class Context:
    """The settings a command runs with, and whether it was asked for details (``-v``)."""

    def __init__(self, settings: Settings, verbose: bool) -> None:
        self.settings = settings
        self.verbose = verbose


pass_ctx = click.make_pass_decorator(Context)


def load_settings(db: str | None = None) -> Settings:
    """The settings from the environment (and ``db``); a bad value is one clear ConfigError naming the
    variable and what it accepts, not pydantic's traceback."""
    from pydantic import ValidationError

    try:
        return Settings(db=db) if db else Settings()
    except ValidationError as exc:
        problems = [
            f"CURBSIDE_{'_'.join(str(p) for p in e['loc']).upper()}: {e['msg']}"
            for e in exc.errors()
            if e["type"] != "default_factory_not_called"  # a consequence of another field's error
        ]
        raise ConfigError(
            "invalid setting: " + "; ".join(problems),
            hint="fix or unset the environment variable (docs/config.md lists every setting and its values)",
        ) from None


def print_ingest(report: IngestReport, as_json: bool) -> None:
    """An ingest's report: one JSON document, or a line per input and the totals."""
    if as_json:
        click.echo(
            json.dumps(
                {
                    "inputs": [asdict(i) for i in report.inputs],
                    "result": asdict(report.result),
                    "seconds": round(report.seconds, 3),
                    "records_per_s": round(report.records_per_s, 1),
                    "problems": [asdict(p) for p in report.problems],
                },
                indent=2,
            )
        )
        return
    console = Console()
    table = Table(title="Ingest", show_lines=False)
    for col in ("input", "source", "status", "documents", "deletions", "malformed"):
        table.add_column(col, justify="right" if col in {"documents", "deletions", "malformed"} else "left")
    for i in report.inputs:
        table.add_row(
            i.input, i.source_type, i.status, f"{i.documents:,}", f"{i.deletions:,}", f"{i.malformed:,}"
        )
    console.print(table)
    r = report.result
    console.print(
        f"inserted {r.inserted:,}, updated {r.updated:,}, unchanged {r.unchanged:,}, "
        f"deleted {r.deleted:,} in {report.seconds:.1f} s ({report.records_per_s:,.0f} records/s)"
    )
    for p in report.problems:
        err_console.print(
            f"[yellow]skipped malformed record[/] {escape(p.source)} ({p.position}): {escape(p.message)}"
        )
    for i in report.inputs:
        for doc_id, why in i.flagged:
            err_console.print(
                f"[yellow]flagged[/] {doc_id}: text addressed to a language model ({escape(why)}); "
                "stored, never cited",
                highlight=False,
            )
    for i in report.failed:
        err_console.print(f"[red]failed:[/] {escape(i.error or '')}")
