"""``curbside train``: rebuild the learned models from the shared expert-labelled data.

    curbside train relevance [--questions FILE] [--distractors DIR] [--work DIR] [--seed 13] [-o FILE]
    curbside train verdict   [--questions FILE] [--pubmedqa FILE] [--work DIR] [--seed 13] [-o FILE]
    curbside train roles     --store NAME=DB [--store ...] [--labels FILE] [-o FILE]

Both read the BioASQ file (default: ``../shared/data/bioasq/...``), train on
batches 7B and 8B and select on 9B; the corpus they retrieve from is built once
under ``--work`` (default: the cache dir) and embedded resumably.  The output
defaults to the file the package ships (``src/curbside/models/``), so a
developer's run replaces it; ``-o`` writes elsewhere, and ``CURBSIDE_RELEVANCE_MODEL``
/ ``CURBSIDE_VERDICT_MODEL`` point curbside at such a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console

from curbside.errors import InputError

err = Console(stderr=True)


def _shared(relative: str) -> Path | None:
    from curbside.config import shared_data_dir

    root = shared_data_dir()
    return root / relative if root is not None else None


def _questions(path: Path | None) -> Path:
    from curbside.training.bioasq import RELATIVE_PATH

    found = path or _shared(str(RELATIVE_PATH))
    if found is None or not found.is_file():
        raise InputError(
            "no BioASQ questions file: pass --questions, or set CURBSIDE_SHARED_DATA to the shared data folder"
        )
    return found


def _log(message: str) -> None:
    err.print(message, highlight=False, soft_wrap=True)


@click.group(name="train")
def train_group() -> None:
    """Rebuild the learned models from expert-labelled data (BioASQ 7B-8B, selected on 9B)."""


_common = [
    click.option("--questions", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
                 help="BioASQ Task B file (default: the shared data's)."),
    click.option("--work", type=click.Path(file_okay=False, path_type=Path), default=None,
                 help="Folder for the corpus and caches (default: <cache dir>/training)."),
    click.option("--seed", type=int, default=13, show_default=True, help="Seed of every random draw."),
    click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
                 help="Model file to write (default: the one the package ships)."),
    click.option("--no-distractors", is_flag=True, help="Only the rebuilt gold documents in the corpus."),
]  # fmt: skip


def _with_common(f: Any) -> Any:
    for option in reversed(_common):
        f = option(f)
    return f


@train_group.command(name="relevance")
@_with_common
@click.option(
    "--distractors",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Folder of MEDLINE files added to the corpus (default: the shared data's medline/; 'none' for none).",
)
@click.option("--epochs", type=int, default=30, show_default=True)
@click.option("--hidden", type=int, default=32, show_default=True, help="Hidden units of each head.")
@click.pass_obj
def train_relevance_cmd(
    obj: Any,
    questions: Path | None,
    work: Path | None,
    seed: int,
    output: Path | None,
    distractors: Path | None,
    no_distractors: bool,
    epochs: int,
    hidden: int,
) -> None:
    """Train the (question, sentence) and (question, passage) relevance model."""
    from curbside.models.relevance import packaged_model
    from curbside.training.scorers import train_relevance

    settings = obj.settings
    folder = distractors or _shared("medline")
    medline = [] if no_distractors or folder is None else sorted(folder.glob("*.xml.gz"))
    model = train_relevance(
        _questions(questions),
        work or settings.cache_dir / "training",
        medline,
        seed=seed,
        hidden=hidden,
        epochs=epochs,
        log=_log,
    )
    target = output or packaged_model()
    model.save(target)
    click.echo(
        f"wrote {target} ({target.stat().st_size:,} bytes): {model.name}, threshold {model.sentence_threshold:.3f}"
    )


@train_group.command(name="verdict")
@_with_common
@click.option(
    "--pubmedqa",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="PubMedQA file trained on and cross-validated (default: the shared data's; needs the file).",
)
@click.option(
    "--no-pubmedqa",
    is_flag=True,
    help="BioASQ questions only (a model that never saw PubMedQA, to benchmark on it out of sample).",
)
@click.pass_obj
def train_verdict_cmd(
    obj: Any,
    questions: Path | None,
    work: Path | None,
    seed: int,
    output: Path | None,
    pubmedqa: Path | None,
    no_pubmedqa: bool,
    no_distractors: bool,
) -> None:
    """Train the yes/no verdict model (needs the relevance model: `curbside train relevance` first)."""
    from curbside.models.relevance import load_relevance
    from curbside.models.verdicts import packaged_model
    from curbside.training.scorers import train_verdict

    settings = obj.settings
    relevance = load_relevance(settings)
    if relevance is None:
        raise InputError("the verdict model reads evidence chosen by the relevance model: train that first")
    folder = _shared("medline")
    medline = [] if no_distractors or folder is None else sorted(folder.glob("*.xml.gz"))
    shared_pubmedqa = _shared("pubmedqa/pubmedqa_dev.json")
    if no_pubmedqa:
        pubmedqa = shared_pubmedqa = None
    model, report = train_verdict(
        _questions(questions),
        pubmedqa or (shared_pubmedqa if shared_pubmedqa and shared_pubmedqa.is_file() else None),
        work or settings.cache_dir / "training",
        medline,
        relevance=relevance,
        seed=seed,
        log=_log,
    )
    target = output or packaged_model()
    model.save(target)
    click.echo(f"wrote {target} ({target.stat().st_size:,} bytes): {model.name}; {report}")


@train_group.command(name="roles")
@click.option(
    "--labels",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=Path("bench/data/sentence_roles.json"),
    show_default=True,
    help="Labelled sentences (spans of records in the stores below).",
)
@click.option(
    "--store",
    "stores",
    multiple=True,
    required=True,
    metavar="NAME=DB",
    help="A store the labels point into, e.g. demo=~/.local/share/curbside/curbside.db (repeatable).",
)
@click.option("--l2", type=float, default=300.0, show_default=True, help="L2 penalty of the regression.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the cross-validation folds.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Model file to write (default: the one the package ships).")  # fmt: skip
@click.pass_obj
def train_roles_cmd(
    obj: Any, labels: Path, stores: tuple[str, ...], l2: float, seed: int, output: Path | None
) -> None:
    """Train the answer-role model that gates causes and harms sections (labelled sentences)."""
    import json

    from curbside.models.roles import packaged_model
    from curbside.retrieval.embeddings import get_embedder
    from curbside.store import open_store
    from curbside.training.roles import load_labelled, train_roles

    settings = obj.settings
    opened = {}
    for item in stores:
        name, sep, db = item.partition("=")
        if not sep or not name or not db:
            raise InputError(f"--store {item!r}: expected NAME=DB, e.g. demo=curbside.db")
        if not Path(db).expanduser().is_file():
            raise InputError(f"--store {item!r}: no store file at {db}")
        opened[name] = open_store(str(Path(db).expanduser()), settings)
    labelled = load_labelled(labels, opened)
    _log(f"{len(labelled)} labelled sentences from {', '.join(opened)}")
    model, report = train_roles(labelled, get_embedder(settings.embedder, settings), l2=l2, seed=seed)
    target = output or packaged_model()
    model.save(target)
    click.echo(f"wrote {target} ({target.stat().st_size:,} bytes): {model.name}")
    click.echo(json.dumps(report.as_dict(), indent=2))
