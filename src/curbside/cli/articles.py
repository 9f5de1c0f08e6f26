"""``curbside articles ...``: the pre-built article library (thin click commands over :mod:`curbside.review.library`).

    curbside articles build --topics FILE [--limit N] [--rebuild] [--json]
    curbside articles build --from-mesh [--limit 20] [--per-descriptor 2] [--rebuild] [--json]
    curbside articles list [--json]

``build`` writes each topic's article (what ``curbside ask`` prints) and submits
it to the review queue; stopped at any point, it skips the topics already built
when run again.  Reviewers approve the articles with ``curbside review`` or on
the web app's reviewer dashboard; approved ones are listed on its library page.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from curbside.cli.progress import Reporter, format_duration
from curbside.config import Settings
from curbside.errors import CurbsideError, InputError
from curbside.review.db import open_review_db
from curbside.review.library import BuildProgress, build, library_topics
from curbside.review.topics import load_topics, mesh_topics
from curbside.wording import count

err = Console(stderr=True)


class _HasSettings(Protocol):
    settings: Settings


@click.group(name="articles")
def articles_group() -> None:
    """The pre-built article library: write articles ahead of time, for review, then for readers."""


@articles_group.command(name="build")
@click.option(
    "--topics",
    "topics_file",
    type=click.Path(path_type=Path),
    default=None,
    help="File of topics: one question a line (optionally 'label<TAB>question'), or a JSON list.",
)
@click.option("--from-mesh", is_flag=True, help="Ask about the store's most frequent major MeSH headings.")
@click.option(
    "--limit", type=click.IntRange(min=1), default=None, help="Only the first N topics (--from-mesh: 20)."
)
@click.option(
    "--per-descriptor",
    type=click.IntRange(min=1),
    default=2,
    show_default=True,
    help="--from-mesh: questions per MeSH descriptor.",
)
@click.option(
    "--rebuild", is_flag=True, help="Write topics built earlier again (unchanged ones keep their version)."
)
@click.option("-k", "k", default=12, show_default=True, help="Evidence passages retrieved per article.")
@click.option("--synthesizer", default="extractive", show_default=True, help="extractive or llm.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def build_command(
    obj: _HasSettings,
    topics_file: Path | None,
    from_mesh: bool,
    limit: int | None,
    per_descriptor: int,
    rebuild: bool,
    k: int,
    synthesizer: str,
    as_json: bool,
) -> None:
    """Write an article per topic and submit each to the review queue (resumable: run again after a stop)."""
    from contextlib import closing

    from curbside.store import open_store

    if (topics_file is None) == (not from_mesh):
        raise InputError("give either --topics FILE or --from-mesh")
    settings = obj.settings
    with closing(open_store(settings.db, settings)) as store:
        if topics_file is not None:
            topics = load_topics(topics_file, max_chars=settings.max_question_chars)[:limit]
        else:
            topics = mesh_topics(store, limit=limit or 20, per_descriptor=per_descriptor)
            if not topics:
                raise InputError(
                    f"the store at {store.location} has no MeSH headings of drugs or conditions to ask about",
                    hint="ingest MEDLINE records first (curbside demo-corpus), or give --topics FILE",
                )
        err.print(
            f"{count(len(topics), 'topics')} for the library of {escape(store.location)}", highlight=False
        )
        with Reporter("articles", console=err, interval=settings.progress_interval) as reporter:

            def update(p: BuildProgress) -> None:
                r = p.result
                if r is None:
                    reporter.update("articles", p.done, p.total, status=f"writing: {p.topic.question}")
                    return
                if r.outcome == "failed":
                    reporter.say(f"[red]failed[/]: {escape(p.topic.question)}: {escape(r.error or '')}")
                reporter.update("articles", p.done, p.total, status=f"{r.outcome}: {p.topic.question}")

            try:
                report = build(
                    topics,
                    settings=settings,
                    store=store,
                    rebuild=rebuild,
                    k=k,
                    synthesizer=synthesizer,
                    progress=update,
                )
            except KeyboardInterrupt:
                reporter.say(
                    "stopped: the topics written so far are kept; run the same command again to go on"
                )
                raise
    if as_json:
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        per = report.seconds_per_article
        click.echo(
            f"{count(len(report.results), 'topics')} in {format_duration(report.seconds)}: "
            f"built {report.count('built')}, unchanged {report.count('unchanged')}, "
            f"skipped {report.count('skipped')} (built by an earlier run), failed {report.count('failed')}"
            + (f"; {per:.1f} s per article" if per is not None else "")
        )
        for r in report.failed:
            click.echo(f"failed: {r.topic.question}: {r.error}")
        if report.count("built"):
            click.echo("new versions await review: `curbside review list --status submitted`")
    if report.failed:
        raise CurbsideError(
            f"{count(len(report.failed), 'topics')} failed (listed above); the others were written",
            hint="run the same command again to retry only the failed ones",
        )


@articles_group.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def list_command(obj: _HasSettings, as_json: bool) -> None:
    """The library's topics: each one's article, version and review status, or why it failed."""
    with open_review_db(obj.settings) as db:
        records = library_topics(db)
    if as_json:
        click.echo(json.dumps([r.to_dict() for r in records], indent=2, ensure_ascii=False))
        return
    if not records:
        click.echo("no topics yet; build some with `curbside articles build --topics FILE`")
        return
    table = Table("topic", "question", "article", "version", "status")
    for r in records:
        status = r.status or ""
        if r.approved_version is not None and r.approved_version != r.version:
            status += f" (v{r.approved_version} approved)"
        table.add_row(
            escape(r.topic),
            escape(r.question),
            r.article_id or "",
            str(r.version or ""),
            f"failed: {escape(r.error or '')}" if r.state == "failed" else status,
        )
    Console().print(table)
