from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from _articles import sample_article
from curbside.cli.main import cli
from curbside.errors import CurbsideError
from curbside.render.json import render_json


@pytest.fixture
def run(tmp_path: Path):  # type: ignore[no-untyped-def]
    db = str(tmp_path / "store.db")

    def invoke(*args: str, input: str | None = None, code: int = 0) -> str:
        result = CliRunner().invoke(cli, ["--db", db, *args], input=input)
        if code == 0:
            assert result.exit_code == 0, (result.output, result.exception)
        else:  # curbside.cli.main.main turns the error into this exit code
            assert isinstance(result.exception, CurbsideError), result.output
            assert result.exception.exit_code == code, result.exception
        return result.output

    return invoke


def test_users_add_list_and_set_role(run) -> None:  # type: ignore[no-untyped-def]
    assert "added rita (reviewer)" in run(
        "users", "add", "Rita", "--role", "reviewer", "--password-stdin", input="long password\n"
    )
    users = json.loads(run("users", "list", "--json"))
    assert [(u["username"], u["role"]) for u in users] == [("rita", "reviewer")]
    assert "rita is now admin" in run("users", "set-role", "rita", "admin")
    assert "password changed" in run(
        "users", "set-password", "rita", "--password-stdin", input="another long one\n"
    )
    run("users", "add", "fay", code=2)  # no terminal and no --password-stdin: says so
    assert "disabled" in run("users", "disable", "rita")
    assert "enabled" in run("users", "enable", "rita")


def test_users_add_prompts_twice_when_interactive(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("curbside.cli.review._interactive", lambda: True)
    out = run("users", "add", "carl", "--role", "clinician", input="long password\nlong password\n")
    assert "added carl (clinician)" in out
    run("users", "add", "dana", input="long password\nother password\nlong password\nlong password\n")
    run("users", "add", "eve", "--password-stdin", input="", code=2)


def test_review_commands_end_to_end(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    run("users", "add", "rita", "--role", "reviewer", "--password-stdin", input="long password\n")
    run("users", "add", "carl", "--role", "clinician", "--password-stdin", input="long password\n")
    path = tmp_path / "article.json"
    path.write_text(render_json(sample_article()), encoding="utf-8")
    assert "saved as art_" in run("review", "submit", str(path))
    assert "unchanged" in run("review", "submit", str(path))
    listed = json.loads(run("review", "list", "--json", "--status", "submitted"))
    assert [a["slug"] for a in listed] == ["causes-of-leukopenia"]
    run("review", "approve", "causes-of-leukopenia", "--as", "carl", code=9)  # a clinician may not approve
    out = run(
        "review",
        "request-changes",
        "causes-of-leukopenia",
        "--as",
        "rita",
        "--comment",
        "Add ANC",
        "--section",
        "causes",
    )
    assert "Changes Requested" in out
    assert "Submitted" in run("review", "resubmit", "causes-of-leukopenia", "--as", "carl")
    assert "comment" in run(
        "review", "comment", "causes-of-leukopenia", "--as", "rita", "--comment", "ok now"
    )
    assert "Approved" in run("review", "approve", "causes-of-leukopenia", "--as", "rita")
    run("review", "reject", "causes-of-leukopenia", "--as", "rita", code=7)  # approved is final
    shown = json.loads(run("review", "show", "causes-of-leukopenia", "--json"))
    assert shown["status"] == "approved" and [c["body"] for c in shown["comments"]] == ["Add ANC", "ok now"]
    assert "Causes of Leukopenia" in run("review", "show", "causes-of-leukopenia")
    audit = json.loads(run("review", "audit", "causes-of-leukopenia", "--json"))
    assert [e["action"] for e in audit][-3:] == ["comment", "start_review", "approve"]
    assert "rita approve" in run("review", "audit")
    assert "0 new re-review flag(s)" in run("review", "check")
    run("review", "show", "nope", code=5)
    run("review", "resolve-flag", "1", "--as", "rita", code=5)
