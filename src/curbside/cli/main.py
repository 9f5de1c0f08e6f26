"""The ``curbside`` command line: a thin click shell over :mod:`curbside.api`.

Commands parse options, call one library function, and render its result.
Every :class:`~curbside.errors.CurbsideError` becomes a one-line message on
stderr and the error's exit code; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import re
import sqlite3
import sys
from dataclasses import asdict
from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from curbside import api
from curbside.cli.context import Context, err_console, load_settings, pass_ctx, print_ingest
from curbside.cli.progress import Reporter, count_chars, format_duration, ingest_progress
from curbside.errors import CurbsideError, InputError, StoreError
from curbside.wording import count


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    envvar="CURBSIDE_DB",
    default=None,
    help="Store: a SQLite file path or a postgresql:// URL (env CURBSIDE_DB; default in the user data dir).",
)
@click.option("-v", "--verbose", is_flag=True, help="Show timings and details.")
@click.version_option(package_name="curbside")
@click.pass_context
def cli(ctx: click.Context, db: str | None, verbose: bool) -> None:
    """curbside: cited, claim-verified answers to clinical questions."""
    ctx.obj = Context(load_settings(db), verbose)


_mode_option = click.option(
    "--mode",
    type=click.Choice(["hybrid", "bm25", "dense"]),
    default=None,
    help="Retrieval mode (default: hybrid once `curbside index` has embedded every chunk, BM25 until then).",
)


def _check_writable(path: Path) -> None:
    """:class:`InputError` naming ``path`` unless the answer can be written there."""
    import os

    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; give a file name for the answer")
    if not folder.is_dir():
        raise InputError(f"{path}: the folder {folder} does not exist")
    if (path.exists() and not os.access(path, os.W_OK)) or not os.access(folder, os.W_OK):
        raise InputError(f"{path}: cannot write here (permission denied)")


_ray_option = click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value="local",
    default=None,
    metavar="[ADDRESS]",
    help="Run as a Ray Data pipeline: alone, on a local Ray instance; with an ADDRESS (auto, host:6379, "
    "ray://host:10001), on that cluster. Needs ./scripts/install.sh ray.",
)
#: What --ray accepts: local (the default with no value), auto, ray://host:port, host:port.
_RAY_ADDRESS = re.compile(r"^(?:local|auto|ray://[\w.-]+(?::\d+)?|[\w.-]+:\d+)$")


@cli.command()
@click.argument("paths", nargs=-1)
@click.option(
    "--pubmed", "pubmed_query", metavar="QUERY", help="Search PubMed (E-utilities) and ingest the results."
)
@click.option("--max", "max_records", default=100, show_default=True, help="With --pubmed: records to fetch.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Parse this many files at once in worker processes (bulk ingest; same result as 1).",
)
@_ray_option
@pass_ctx
def ingest(
    ctx: Context,
    paths: tuple[str, ...],
    pubmed_query: str | None,
    max_records: int,
    as_json: bool,
    workers: int,
    ray_address: str | None,
) -> None:
    """Ingest MEDLINE/PubMed XML, PMC JATS, guidelines or JSON Lines from PATHS (files, globs, folders)."""
    if ray_address is not None and not _RAY_ADDRESS.match(ray_address):
        # `--ray FILE ...` reads the first file as the address: it is a path, and --ray is local.
        if not Path(ray_address).exists() and not any(c in ray_address for c in "*?["):
            raise click.BadParameter(
                f"{ray_address!r} is neither a Ray address nor an input", param_hint="--ray"
            )
        paths, ray_address = (ray_address, *paths), "local"
    if not paths and not pubmed_query:
        raise click.UsageError("give PATHS to ingest, or --pubmed QUERY")
    with Reporter("records", console=err_console, interval=ctx.settings.progress_interval) as reporter:
        update = ingest_progress(reporter)
        reports = []
        if paths:
            reports.append(
                api.ingest(paths, settings=ctx.settings, progress=update, workers=workers, ray=ray_address)
            )
        if pubmed_query:
            reports.append(
                api.ingest_pubmed(
                    pubmed_query, max_records=max_records, settings=ctx.settings, progress=update
                )
            )
    for report in reports:
        print_ingest(report, as_json)
    if any(r.failed for r in reports):
        sys.exit(3)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@pass_ctx
def stats(ctx: Context, as_json: bool) -> None:
    """Counts of what the store holds and what ingest has read."""
    s = api.stats(settings=ctx.settings)
    if as_json:
        click.echo(json.dumps(asdict(s), indent=2))
        return
    table = Table(title=f"Store {s.location}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("documents", f"{s.documents:,}"),
        ("  with abstract / text (indexed)", f"{s.with_abstract:,}"),
        ("  retracted", f"{s.retracted:,}"),
        ("  years", f"{s.year_min}–{s.year_max}" if s.year_min else "–"),
        ("chunks (full-text indexed)", f"{s.chunks:,}"),
        *((f"  embedded by {m}", f"{n:,}") for m, n in s.embedded.items()),
        *((f"  kind {k}", f"{n:,}") for k, n in s.by_kind.items()),
        ("files ingested (completed)", f"{s.files:,} ({s.files_completed:,})"),
        ("articles read", f"{s.records_read:,}"),
        ("deletions applied", f"{s.deletions_applied:,}"),
        ("malformed records skipped", f"{s.malformed:,}"),
        ("size on disk", f"{s.size_bytes / 1e6:,.1f} MB"),
    ]
    for what, value in rows:
        table.add_row(what, value)
    Console().print(table)


@cli.command()
@click.argument("doc_id")
@click.option("--json", "as_json", is_flag=True, help="Print the normalised record as JSON.")
@click.option("--chunks", "with_chunks", is_flag=True, help="Also list the chunks with their offsets.")
@pass_ctx
def show(ctx: Context, doc_id: str, as_json: bool, with_chunks: bool) -> None:
    """Show one stored document: pmid:N, PMCn, doi:..., guideline:<slug>."""
    doc, chunks = api.show(doc_id, settings=ctx.settings)
    if as_json:
        data = doc.to_dict()
        if with_chunks:
            data["chunks"] = [asdict(c) for c in chunks]
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    from curbside.ingestion.screening import describe, screen_document

    console = Console()
    console.print(f"[bold]{escape(doc.title)}[/]")
    meta = [doc.journal or doc.issuer or "", str(doc.year or ""), doc.kind]
    console.print(escape(" · ".join(m for m in meta if m)))
    flagged = screen_document(doc)
    if flagged:
        console.print(
            f"[bold yellow]FLAGGED[/] contains text addressed to a language model ({escape(describe(flagged))}): "
            "never cited in answers",
            highlight=False,
        )
    ids = ", ".join(f"{k}: {v}" for k, v in sorted(doc.identifiers.items()))
    console.print(f"[dim]{doc.id}  {ids}[/]")
    if doc.retracted:
        console.print("[bold red]RETRACTED[/]")
    if doc.authors:
        console.print("Authors: " + ", ".join(doc.authors[:8]) + (" et al." if len(doc.authors) > 8 else ""))
    if doc.publication_types:
        console.print("Publication types: " + "; ".join(doc.publication_types))
    if doc.mesh:
        console.print("MeSH: " + "; ".join(str(m) for m in doc.mesh))
    if doc.chemicals:
        console.print("Chemicals: " + "; ".join(doc.chemicals))
    if doc.keywords:
        console.print("Keywords: " + "; ".join(doc.keywords))
    for section in doc.sections:
        console.print()
        if section.label:
            console.print(f"[bold]{section.label}[/]")
        console.print(section.text, markup=False, highlight=False)
    if with_chunks:
        console.print()
        for c in chunks:
            console.print(f"[dim]chunk {c.ordinal} [{c.section}] {c.start}–{c.end}[/]")


@cli.command()
@click.option("--limit", type=int, default=None, help="Embed at most this many chunks now (the rest later).")
@click.option("--embedder", default=None, help="Registered embedder name (default: settings.embedder).")
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Embed in this many worker processes, each with its own model.",
)
@_ray_option
@pass_ctx
def index(
    ctx: Context, limit: int | None, embedder: str | None, workers: int, ray_address: str | None
) -> None:
    """Embed the chunks that have no vector yet (resumable: stop and run again any time)."""
    if ray_address is not None and not _RAY_ADDRESS.match(ray_address):
        raise click.BadParameter(f"{ray_address!r} is not a Ray address", param_hint="--ray")
    from curbside.ingestion.indexing import IndexProgress
    from curbside.store.base import SyncReport

    settings = ctx.settings.model_copy(update={"embedder": embedder}) if embedder else ctx.settings
    with Reporter("chunks", console=err_console, interval=settings.progress_interval) as reporter:

        def update(p: IndexProgress) -> None:
            if p.done == 0 and p.total:
                size = f" ({count_chars(p.chars_total)})" if p.chars_total else ""
                reporter.say(
                    f"{count(p.total, 'chunks')} to embed{size}; measuring this machine's rate on a sample"
                )
            if p.estimate_s is not None:
                rate = p.chars_total / p.estimate_s if p.estimate_s else 0.0
                reporter.say(
                    f"{count(p.total, 'chunks')}: about {format_duration(p.estimate_s)} at the measured rate "
                    f"({rate:,.0f} characters/s on a {p.done}-chunk sample)"
                )
            reporter.update("embedding", p.done, p.total, work_done=p.chars_done, work_total=p.chars_total)

        chunks = api.stats(settings=settings).chunks if settings.search else 0

        def synced(r: SyncReport) -> None:
            reporter.update(
                "search engine", r.rows, chunks, status=f"{r.upserted:,} sent, {r.deleted:,} deleted"
            )

        report = api.index(
            settings=settings, limit=limit, progress=update, workers=workers, on_sync=synced, ray=ray_address
        )
    click.echo(
        f"embedded {count(report.embedded, 'chunks')} with {report.embedder} in {format_duration(report.seconds)} "
        f"({report.rate:,.1f} chunks/s, {report.chars / report.seconds if report.seconds else 0:,.0f} "
        f"characters/s); {report.remaining:,} remaining"
    )
    if report.search is not None:
        r = report.search
        click.echo(
            f"search engine {settings.search}: {count(r.rows, 'chunks')} checked, {r.upserted:,} sent, "
            f"{r.deleted:,} deleted in {format_duration(r.seconds)}"
        )


@cli.command()
@click.argument("question")
@click.option("-k", "k", default=10, show_default=True, help="Number of hits.")
@click.option("--json", "as_json", is_flag=True, help="Print hits as JSON.")
@click.option("--year-from", type=int, default=None, help="Only sources published in or after this year.")
@click.option("--year-to", type=int, default=None, help="Only sources published in or before this year.")
@click.option("--type", "pub_types", multiple=True, help="Publication type, e.g. 'Review' (repeatable).")
@click.option(
    "--kind", "kinds", multiple=True, help="Source kind: guideline, meta-analysis, rct, review, ..."
)
@click.option("--include-retracted", is_flag=True, help="Also return retracted sources (flagged).")
@_mode_option
@pass_ctx
def search(
    ctx: Context,
    question: str,
    k: int,
    as_json: bool,
    year_from: int | None,
    year_to: int | None,
    pub_types: tuple[str, ...],
    kinds: tuple[str, ...],
    include_retracted: bool,
    mode: str | None,
) -> None:
    """Ranked evidence passages for QUESTION (hybrid BM25 + dense retrieval)."""
    from curbside.retrieval.retrieve import matching_span

    found = api.search(
        question,
        k=k,
        year_from=year_from,
        year_to=year_to,
        publication_types=pub_types,
        kinds=kinds,
        include_retracted=include_retracted,
        mode=mode,  # type: ignore[arg-type]
        settings=ctx.settings,
    )
    query, hits, timings = found.query, found.hits, found.timings
    for warning in found.warnings:
        err_console.print(f"[yellow]Warning:[/] {escape(warning)}", highlight=False, soft_wrap=True)
    rows = []
    for rank, hit in enumerate(hits, start=1):
        start, end = matching_span(hit, query)
        body = hit.document.body
        rows.append(
            {
                "rank": rank,
                "id": hit.document.id,
                "pmid": hit.document.pmid,
                "title": hit.document.title,
                "year": hit.document.year,
                "kind": hit.document.kind,
                "journal": hit.document.journal,
                "retracted": hit.document.retracted,
                "chunk": hit.chunk.ordinal,
                "section": hit.chunk.section,
                "span": {"start": start, "end": end, "text": body[start:end] if end > start else ""},
                "scores": {
                    "final": round(hit.score, 6),
                    "bm25": None if hit.lexical is None else round(hit.lexical, 4),
                    "dense": None if hit.dense is None else round(hit.dense, 4),
                    "fused": round(hit.fused, 6),
                    "rerank": None if hit.rerank is None else round(hit.rerank, 3),
                    "evidence": round(hit.evidence, 3),
                },
            }
        )
    if as_json:
        click.echo(
            json.dumps(
                {
                    "query": {
                        "text": query.text,
                        "type": query.qtype,
                        "concepts": [c.preferred for c in query.concepts],
                        "keywords": list(query.keywords),
                    },
                    "hits": rows,
                    "mode": found.mode,
                    "warnings": list(found.warnings),
                    "timings_ms": {n: round(v, 2) for n, v in timings.items()},
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    console = Console()
    concepts = ", ".join(c.preferred for c in query.concepts) or "none recognised"
    console.print(f"[dim]question type: {query.qtype}; concepts: {escape(concepts)}[/]")
    if not rows:
        console.print("No matching evidence in the store.")
    for row in rows:
        sc = row["scores"]
        assert isinstance(sc, dict)
        flag = " [bold red]RETRACTED[/]" if row["retracted"] else ""
        console.print(
            f"[bold]{row['rank']:>2}. {escape(str(row['title']))}[/]{flag}\n"
            f"    {row['id']} · {row['journal'] or ''} {row['year'] or ''} · {row['kind']} · "
            f"score {sc['final']:.4f} (bm25 {sc['bm25']}, dense {sc['dense']}, evidence {sc['evidence']})"
        )
        span = row["span"]
        assert isinstance(span, dict)
        if span["text"]:
            console.print(f"    [italic]{escape(str(span['text']))}[/]", highlight=False)
    if ctx.verbose:
        console.print("[dim]" + ", ".join(f"{n} {v:.1f} ms" for n, v in timings.items()) + "[/]")


@cli.command()
@click.argument("question")
@click.option("-k", "--k", "k", default=12, show_default=True, help="Evidence passages retrieved.")
@click.option(
    "--synthesizer",
    default="extractive",
    show_default=True,
    help="extractive (no LLM, deterministic) or llm (needs an LLM backend).",
)
@click.option(
    "--model", default=None, help="LLM model name (with --synthesizer llm; env CURBSIDE_LLM_MODEL)."
)
@click.option("--format", "fmt", type=click.Choice(["md", "html", "json"]), default="md", show_default=True)
@click.option(
    "--audience",
    type=click.Choice(["clinician", "student", "patient"]),
    default="clinician",
    show_default=True,
    help="Who the article is written for.",
)
@click.option("--year-from", type=int, default=None, help="Only evidence published in or after this year.")
@click.option(
    "--fallback",
    type=click.Choice(["none", "extractive"]),
    default="none",
    show_default=True,
    help="If the LLM backend fails, answer with this synthesizer instead (with a warning).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the article to this file instead of the terminal.",
)
@click.option("--live", is_flag=True, help="Fetch fresh evidence from PubMed for this question first.")
@_mode_option
@pass_ctx
def ask(
    ctx: Context,
    question: str,
    k: int,
    synthesizer: str,
    model: str | None,
    fmt: str,
    audience: str,
    year_from: int | None,
    fallback: str,
    output: Path | None,
    live: bool,
    mode: str | None,
) -> None:
    """Answer QUESTION with a structured article whose every claim cites its evidence."""
    from curbside.render import render
    from curbside.render.markdown import print_markdown

    settings = ctx.settings.model_copy(update={"llm_model": model}) if model else ctx.settings
    if output is not None:
        _check_writable(output)  # before the answer is written, not after
    streaming = synthesizer == "llm" and fmt == "md" and output is None and sys.stderr.isatty()

    def on_token(token: str) -> None:
        err_console.print(token, end="", markup=False, highlight=False)

    def on_part(token: str) -> None:
        # Not a terminal: no token stream, but a line as the model begins each part of the article
        # (composing takes about a minute on 2 cores, and a silent minute looks like a hang).
        if token.startswith("\n["):
            err_console.print(f"composing {token.strip()}", markup=False, highlight=False, soft_wrap=True)

    try:
        article = api.ask(
            question,
            k=k,
            synthesizer=synthesizer,
            audience=audience,  # type: ignore[arg-type]
            year_from=year_from,
            settings=settings,
            on_token=on_token if streaming else on_part if synthesizer == "llm" else None,
            live=live,
            mode=mode,  # type: ignore[arg-type]
        )
    except CurbsideError as exc:
        if synthesizer == "extractive" or fallback == "none":
            raise
        err_console.print(f"[yellow]{escape(str(exc))}[/]\nFalling back to the {fallback} synthesizer.")
        article = api.ask(
            question,
            k=k,
            synthesizer=fallback,
            audience=audience,  # type: ignore[arg-type]
            year_from=year_from,
            settings=settings,
            mode=mode,  # type: ignore[arg-type]
        )
        article = api.with_warning(
            article,
            "fallback",
            f"The {synthesizer} synthesizer failed ({exc.message}); "
            f"this answer was written by the {fallback} synthesizer.",
        )
    if output is not None:
        output.write_text(render(article, fmt, verbose=ctx.verbose), encoding="utf-8")  # type: ignore[arg-type]
        click.echo(f"wrote {output}")
    elif fmt == "md":
        print_markdown(article, Console(), verbose=ctx.verbose)
    else:
        click.echo(render(article, fmt, verbose=ctx.verbose))  # type: ignore[arg-type]
    if ctx.verbose:
        timings = article.metadata.get("timings_ms", {})
        err_console.print("[dim]" + ", ".join(f"{n} {v:.0f} ms" for n, v in timings.items()) + "[/]")


# `demo-corpus`, `doctor`, `eval`, `models`, `serve` and `migrate` look after an installation.
from curbside.cli.operate import COMMANDS as OPERATE_COMMANDS  # noqa: E402

for _command in OPERATE_COMMANDS:
    cli.add_command(_command)
# `curbside users ...` and `curbside review ...` live in their own module (editorial review).
from curbside.cli.review import review_group, users_group  # noqa: E402

cli.add_command(users_group)
cli.add_command(review_group)
# `curbside train ...` rebuilds the learned models (curbside.training.scorers); `articles ...`: curbside.review.library.
from curbside.cli.articles import articles_group  # noqa: E402
from curbside.cli.train import train_group  # noqa: E402

cli.add_command(train_group)
cli.add_command(articles_group)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="curbside", standalone_mode=False)
    except click.exceptions.Abort:
        err_console.print("Aborted.")
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except sqlite3.Error as failure:
        # The store wraps its own failures; this catches the editorial tables' (same file or review.db).
        error = StoreError(
            f"the database failed: {failure}", hint="`curbside doctor` checks the store for damage"
        )
        err_console.print(f"[bold red]Error:[/] {escape(error.message)}", highlight=False, soft_wrap=True)
        err_console.print(f"Hint: {escape(error.hint or '')}", highlight=False, soft_wrap=True)
        sys.exit(error.exit_code)
    except CurbsideError as exc:
        # soft_wrap: one message, one line, whatever the terminal width (scripts grep for it).
        err_console.print(f"[bold red]Error:[/] {escape(exc.message)}", highlight=False, soft_wrap=True)
        if exc.hint:
            err_console.print(f"Hint: {escape(exc.hint)}", highlight=False, soft_wrap=True)
        sys.exit(exc.exit_code)
