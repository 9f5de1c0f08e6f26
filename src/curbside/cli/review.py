"""``curbside users ...`` and ``curbside review ...``: thin click commands over the review API.

:mod:`curbside.cli.main` adds :data:`users_group` and :data:`review_group` to the
``curbside`` group; they live here to keep ``cli.py`` small.  Commands::

    curbside users add USERNAME [--role reviewer] [--password-stdin]
    curbside users list [--json]
    curbside users set-role USERNAME ROLE
    curbside users set-password USERNAME [--password-stdin]
    curbside users disable|enable USERNAME

    curbside review list [--status S] [--flagged] [--json]
    curbside review show ID [--version N] [--json]
    curbside review submit ARTICLE.json [--as USER]
    curbside review start|approve|request-changes|reject|resubmit ID --as USER [--comment T] [--section KEY]
    curbside review comment ID --as USER --comment T [--section KEY]
    curbside review resolve-flag FLAG_ID --as USER [--comment T]
    curbside review check
    curbside review audit [ID] [--limit N] [--json]

The command line is the server operator's: it can read every version and the
audit log without signing in, and ``--as USER`` names the account (which must
have the role for the action) that the audit log records.  Passwords are
prompted for twice when interactive, or read as one line from stdin with
``--password-stdin``; they never appear as arguments.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Protocol

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from curbside import api
from curbside.config import Settings
from curbside.errors import InputError
from curbside.review.db import ReviewDB, open_review_db
from curbside.review.workflow import ROLES, STATUSES, User
from curbside.wording import printable


class _HasSettings(Protocol):
    settings: Settings


#: The operator at the command line reads like a signed-in admin (they hold the database file anyway).
OPERATOR = User(id=0, username="cli", role="admin", created_at="")


def _db(obj: _HasSettings) -> ReviewDB:
    return open_review_db(obj.settings)


def _interactive() -> bool:
    return sys.stdin.isatty()


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise InputError("--password-stdin: nothing on stdin")
        return line.rstrip("\r\n")
    if not _interactive():
        raise InputError("no terminal to ask for the password", hint="pipe it in with --password-stdin")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password")
    return value


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2))


# --- users -----------------------------------------------------------------------------------------


@click.group(name="users")
def users_group() -> None:
    """Accounts for the web app: readers, clinicians, reviewers and admins."""


@users_group.command(name="add")
@click.argument("username")
@click.option(
    "--role", type=click.Choice(ROLES), default="reader", show_default=True, help="The user's role."
)
@click.option("--password-stdin", is_flag=True, help="Read the password as one line from stdin.")
@click.pass_obj
def users_add(obj: _HasSettings, username: str, role: str, password_stdin: bool) -> None:
    """Create a user (prompts for the password twice unless --password-stdin)."""
    password = _read_password(password_stdin)
    with _db(obj) as db:
        user = api.add_user(username, password, role, db=db)
    click.echo(f"added {user.username} ({user.role})")


@users_group.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def users_list(obj: _HasSettings, as_json: bool) -> None:
    """List users and their roles."""
    with _db(obj) as db:
        users = api.list_users(db=db)
    if as_json:
        _echo_json([u.to_dict() for u in users])
        return
    if not users:
        click.echo("no users yet; add one with `curbside users add NAME --role reviewer`")
        return
    table = Table("user", "role", "created", "state")
    for u in users:
        table.add_row(escape(u.username), u.role, u.created_at, "disabled" if u.disabled else "active")
    Console().print(table)


@users_group.command(name="set-role")
@click.argument("username")
@click.argument("role", type=click.Choice(ROLES))
@click.pass_obj
def users_set_role(obj: _HasSettings, username: str, role: str) -> None:
    """Change a user's role."""
    with _db(obj) as db:
        user = api.set_role(username, role, db=db)
    click.echo(f"{user.username} is now {user.role}")


@users_group.command(name="set-password")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help="Read the password as one line from stdin.")
@click.pass_obj
def users_set_password(obj: _HasSettings, username: str, password_stdin: bool) -> None:
    """Set a new password (signs the user out everywhere)."""
    password = _read_password(password_stdin)
    with _db(obj) as db:
        db.accounts.set_password(username, password)
    click.echo(f"password changed for {username.strip().lower()}")


@users_group.command(name="disable")
@click.argument("username")
@click.pass_obj
def users_disable(obj: _HasSettings, username: str) -> None:
    """Disable a user (and end their sessions)."""
    with _db(obj) as db:
        user = db.accounts.set_disabled(username, True)
    click.echo(f"{user.username} disabled")


@users_group.command(name="enable")
@click.argument("username")
@click.pass_obj
def users_enable(obj: _HasSettings, username: str) -> None:
    """Enable a disabled user again."""
    with _db(obj) as db:
        user = db.accounts.set_disabled(username, False)
    click.echo(f"{user.username} enabled")


# --- review ----------------------------------------------------------------------------------------


@click.group(name="review")
def review_group() -> None:
    """Editorial review of saved articles (see docs/editorial-policy.md and docs/review.md)."""


@review_group.command(name="list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only this latest-version status.")
@click.option("--flagged", is_flag=True, help="Only articles with open re-review flags.")
@click.option("--limit", type=int, default=100, show_default=True, help="At most this many articles.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def review_list(obj: _HasSettings, status: str | None, flagged: bool, limit: int, as_json: bool) -> None:
    """Saved articles, most recently updated first."""
    with _db(obj) as db:
        items = api.list_articles(
            status=status, viewer=OPERATOR, flagged=True if flagged else None, limit=limit, db=db
        )
    if as_json:
        _echo_json([s.to_dict() for s in items])
        return
    if not items:
        click.echo("no articles" + (f" with status {status}" if status else ""))
        return
    table = Table("id", "slug", "title", "latest", "status", "approved", "flags", "updated")
    for s in items:
        table.add_row(
            s.id,
            escape(s.slug),
            escape(s.title),
            f"v{s.latest_version}",
            s.latest_status_label,
            f"v{s.approved_version}" if s.approved_version else "-",
            str(s.open_flags) if s.open_flags else "",
            s.updated_at,
        )
    Console().print(table)


@review_group.command(name="show")
@click.argument("ref")
@click.option("--version", "version", type=int, default=None, help="This version (default: the latest).")
@click.option("--json", "as_json", is_flag=True, help="Print the version, with its article JSON.")
@click.pass_obj
def review_show(obj: _HasSettings, ref: str, version: int | None, as_json: bool) -> None:
    """One version: status, comments, flags and the article."""
    from curbside.render.markdown import print_markdown

    with _db(obj) as db:
        av = api.get_article(ref, version=version, viewer=OPERATOR, db=db)
    if as_json:
        _echo_json(av.to_dict())
        return
    console = Console()
    console.print(
        f"[bold]{escape(av.article.title)}[/]  {av.article_id} ({escape(av.slug)}) "
        f"v{av.version} of {av.latest_version}: [bold]{av.status_label}[/] "
        f"by {escape(av.status_changed_by)} at {av.status_changed_at}; generated {av.created_at}",
        highlight=False,
    )
    for flag in av.flags:
        console.print(
            f"[yellow]Re-review flag {flag.id}[/] ({flag.reason}): {escape(flag.message)}", highlight=False
        )
    for c in av.comments:
        where = f" on {c.section_key}" if c.section_key else ""
        action = f" [{c.action}]" if c.action else ""
        console.print(
            f"- {escape(c.author)}{where}{escape(action)} {c.created_at}: {escape(c.body)}", highlight=False
        )
    print_markdown(av.article, console)


def _act(
    obj: _HasSettings, ref: str, action: str, who: str, comment: str, section: str | None, version: int | None
) -> None:
    with _db(obj) as db:
        user = db.accounts.get_user(who)
        av = api.review_article(
            ref, action, user=user, version=version, comment=comment, section=section, db=db
        )
    click.echo(f"{av.article_id} v{av.version}: {av.status_label}")


def _action_command(name: str, action: str, summary: str) -> None:
    @review_group.command(name=name, help=summary)
    @click.argument("ref")
    @click.option("--as", "who", required=True, help="The reviewer's username (recorded in the audit log).")
    @click.option("--comment", default="", help="A comment to record with the action.")
    @click.option("--section", default=None, help="The section key the comment is about.")
    @click.option("--version", "version", type=int, default=None, help="This version (default: the latest).")
    @click.pass_obj
    def command(
        obj: _HasSettings, ref: str, who: str, comment: str, section: str | None, version: int | None
    ) -> None:
        _act(obj, ref, action, who, comment, section, version)


_action_command("start", "start_review", "Mark a submitted version as under review.")
_action_command("approve", "approve", "Approve a version: readers who are signed out will see it.")
_action_command("request-changes", "request_changes", "Send a version back with the changes it needs.")
_action_command("reject", "reject", "Reject a version (final for that version).")
_action_command("resubmit", "resubmit", "Put a version with requested changes back in the queue.")


@review_group.command(name="comment")
@click.argument("ref")
@click.option("--as", "who", required=True, help="The reviewer's username.")
@click.option("--comment", required=True, help="The comment.")
@click.option("--section", default=None, help="The section key it is about (default: the whole version).")
@click.option("--version", "version", type=int, default=None, help="This version (default: the latest).")
@click.pass_obj
def review_comment(
    obj: _HasSettings, ref: str, who: str, comment: str, section: str | None, version: int | None
) -> None:
    """Comment on a version or one of its sections."""
    with _db(obj) as db:
        c = api.comment_article(
            ref, comment, user=db.accounts.get_user(who), version=version, section=section, db=db
        )
    click.echo(
        f"comment {c.id} on {c.article_id} v{c.version}" + (f" ({c.section_key})" if c.section_key else "")
    )


@review_group.command(name="submit")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as", "who", default=None, help="The submitting user (default: the pipeline, 'system').")
@click.pass_obj
def review_submit(obj: _HasSettings, path: Path, who: str | None) -> None:
    """Save an article JSON file (`curbside ask --format json`) as a version awaiting review."""
    from curbside.render.json import article_from_json

    article = article_from_json(path.read_text(encoding="utf-8"))
    with _db(obj) as db:
        user = db.accounts.get_user(who) if who else None
        result = api.submit_article(article, user=user, db=db)
    v = result.version
    state = "saved as" if result.created else "unchanged: already"
    click.echo(f"{state} {v.article_id} ({v.slug}) v{v.version}: {v.status_label}")


@review_group.command(name="resolve-flag")
@click.argument("flag_id", type=int)
@click.option("--as", "who", required=True, help="The reviewer's username.")
@click.option("--comment", default="", help="Why the article stands (recorded).")
@click.pass_obj
def review_resolve_flag(obj: _HasSettings, flag_id: int, who: str, comment: str) -> None:
    """Close a re-review flag after checking the article."""
    with _db(obj) as db:
        flag = api.resolve_flag(flag_id, user=db.accounts.get_user(who), comment=comment, db=db)
    click.echo(f"flag {flag.id} on {flag.article_id} v{flag.version} resolved by {flag.resolved_by}")


@review_group.command(name="check")
@click.pass_obj
def review_check(obj: _HasSettings) -> None:
    """Flag approved articles with retracted sources or newer guidelines (ingest does this too)."""
    with _db(obj) as db:
        flags = api.check_rereview(settings=obj.settings, db=db)
    for f in flags:
        click.echo(f"flag {f.id}: {f.article_id} v{f.version} {f.reason}: {f.message}")
    click.echo(f"{len(flags)} new re-review flag(s)")


@review_group.command(name="audit")
@click.argument("ref", required=False)
@click.option("--limit", type=int, default=200, show_default=True, help="The last N entries.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def review_audit(obj: _HasSettings, ref: str | None, limit: int, as_json: bool) -> None:
    """The append-only audit log (who did what, when), oldest first."""
    with _db(obj) as db:
        entries = api.audit_log(ref, user=OPERATOR, limit=limit, db=db)
    if as_json:
        _echo_json([e.to_dict() for e in entries])
        return
    for e in entries:
        where = f" {e.article_id} v{e.version}" if e.version else (f" {e.article_id}" if e.article_id else "")
        details = json.dumps(e.details, ensure_ascii=False, sort_keys=True) if e.details else ""
        # Stored values are data: a newline must not forge an entry, nor an escape reach the terminal.
        click.echo(printable(f"{e.at} {e.actor} {e.action}{where} {details}".rstrip()))
