"""The generated references in docs/ match the code, and the README shows the two commands."""

from __future__ import annotations

from pathlib import Path

from curbside.cli.docgen import cli_reference, config_reference, editorial_policy

ROOT = Path(__file__).resolve().parents[1]


def test_cli_reference_is_current() -> None:
    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == cli_reference(), (
        "docs/cli.md is stale: run `.venv/bin/python -m curbside.cli.docgen`"
    )


def test_config_reference_is_current() -> None:
    assert (ROOT / "docs" / "config.md").read_text(encoding="utf-8") == config_reference(), (
        "docs/config.md is stale: run `.venv/bin/python -m curbside.cli.docgen`"
    )


def test_editorial_policy_copy_is_current() -> None:
    assert (ROOT / "docs" / "editorial-policy.md").read_text(encoding="utf-8") == editorial_policy(), (
        "docs/editorial-policy.md is stale: edit src/curbside/data/editorial-policy.md, then run "
        "`.venv/bin/python -m curbside.cli.docgen`"
    )


def test_every_setting_is_described() -> None:
    from curbside.config import Settings

    missing = [n for n, f in Settings.model_fields.items() if not (f.description or "").strip()]
    assert missing == []


def test_readme_shows_the_two_commands_near_the_top() -> None:
    head = "\n".join((ROOT / "README.md").read_text(encoding="utf-8").splitlines()[:40])
    assert "./scripts/demo.sh" in head
    assert "./scripts/test.sh" in head
    assert "./scripts/test.sh" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
