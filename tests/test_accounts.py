from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from _articles import sample_article
from curbside import api
from curbside.config import Settings
from curbside.errors import AuthError, InputError, NotFoundError, PermissionDenied, ThrottledError
from curbside.review.accounts import Accounts, can, require, token_digest
from curbside.review.db import ReviewDB
from curbside.review.workflow import User

#: Cheap parameters so the tests do not spend a second per hash; the default hasher is tested once.
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def db(tmp_path: Path, clock: Clock) -> Iterator[ReviewDB]:
    settings = Settings(db=str(tmp_path / "store.db"), data_dir=tmp_path / "d", cache_dir=tmp_path / "c")
    d = ReviewDB(tmp_path / "store.db", clock=clock, settings=settings)
    yield d
    d.close()


@pytest.fixture
def accounts(db: ReviewDB) -> Accounts:
    return Accounts(db, hasher=FAST)


def test_add_user_hashes_the_password_with_argon2id(accounts: Accounts, db: ReviewDB) -> None:
    user = accounts.add_user("Rita", "correct horse battery", "reviewer")
    assert (user.username, user.role, user.disabled) == ("rita", "reviewer", False)
    stored = db.conn.execute("SELECT password_hash FROM accounts_users").fetchone()[0]
    assert stored.startswith("$argon2id$") and "correct horse" not in stored
    assert accounts.authenticate("rita", "correct horse battery") == user
    assert accounts.authenticate(" RITA ", "correct horse battery") == user
    assert db.articles.audit_entries()[-1].details == {"username": "rita", "role": "reviewer"}
    assert db.articles.audit_entries()[-1].actor == "cli"


def test_default_hasher_is_argon2id(db: ReviewDB) -> None:
    accounts = Accounts(db)
    accounts.add_user("ada", "a long password", "admin")
    assert accounts.authenticate("ada", "a long password").role == "admin"
    assert accounts.hasher.hash("x").startswith("$argon2id$")


def test_wrong_password_and_unknown_user_give_the_same_error(accounts: Accounts, db: ReviewDB) -> None:
    accounts.add_user("rita", "correct horse battery", "reviewer")
    with pytest.raises(AuthError, match="wrong username or password"):
        accounts.authenticate("rita", "wrong password!")
    with pytest.raises(AuthError, match="wrong username or password"):
        accounts.authenticate("nobody", "wrong password!")
    # The existing account's failure is audited, with the system (not the typed name) as actor; a name
    # nobody has is only counted (issue 17, S7).
    failed = [e for e in db.articles.audit_entries() if e.action == "login_failed"]
    assert [(e.actor, e.details["username"]) for e in failed] == [("system", "rita")]
    assert accounts.unknown_failures() == 1


def test_bad_usernames_passwords_and_roles(accounts: Accounts) -> None:
    with pytest.raises(InputError, match="invalid username"):
        accounts.add_user("a b", "long enough pw")
    with pytest.raises(InputError, match="too short"):
        accounts.add_user("rita", "short")
    with pytest.raises(InputError, match="unknown role"):
        accounts.add_user("rita", "long enough pw", "owner")
    accounts.add_user("rita", "long enough pw")
    with pytest.raises(InputError, match="already exists"):
        accounts.add_user("RITA", "long enough pw")
    with pytest.raises(NotFoundError):
        accounts.get_user("nobody")


def test_roles_list_and_change(accounts: Accounts, db: ReviewDB) -> None:
    accounts.add_user("rose", "long enough pw")
    accounts.add_user("ada", "long enough pw", "admin")
    assert [(u.username, u.role) for u in accounts.list_users()] == [("ada", "admin"), ("rose", "reader")]
    ada = accounts.get_user("ada")
    changed = accounts.set_role("rose", "reviewer", actor=ada)
    assert changed.role == "reviewer"
    entry = db.articles.audit_entries()[-1]
    assert (entry.actor, entry.action, entry.details) == (
        "ada",
        "set_role",
        {"username": "rose", "from": "reader", "to": "reviewer"},
    )
    with pytest.raises(PermissionDenied, match="manage users"):
        accounts.set_role("ada", "reader", actor=changed)
    with pytest.raises(PermissionDenied):
        accounts.add_user("eve", "long enough pw", "admin", actor=changed)


def test_sessions_expire_and_can_be_revoked(accounts: Accounts, clock: Clock, db: ReviewDB) -> None:
    accounts.add_user("rita", "correct horse battery", "reviewer")
    session = accounts.login("rita", "correct horse battery")
    assert session.expires_at_epoch == clock.now + 12 * 3600
    assert accounts.session_user(session.token) == session.user
    # Only a digest of the token is stored.
    rows = [r[0] for r in db.conn.execute("SELECT token_hash FROM accounts_sessions")]
    assert rows == [token_digest(session.token)] and session.token not in rows
    clock.now += 12 * 3600 - 1
    assert accounts.session_user(session.token) is not None
    clock.now += 1
    assert accounts.session_user(session.token) is None
    short = accounts.create_session(session.user, hours=1)
    assert accounts.session_user(short.token) is not None
    assert accounts.revoke_session(short.token)
    assert accounts.session_user(short.token) is None
    assert not accounts.revoke_session(short.token)
    assert accounts.session_user("made-up") is None and accounts.session_user(None) is None
    with pytest.raises(InputError):
        accounts.create_session(session.user, hours=0)


def test_password_change_and_disable_end_sessions(accounts: Accounts) -> None:
    accounts.add_user("rita", "correct horse battery", "reviewer")
    s1 = accounts.login("rita", "correct horse battery")
    accounts.set_password("rita", "a new long password", actor=s1.user)  # a user may change their own
    assert accounts.session_user(s1.token) is None
    with pytest.raises(AuthError):
        accounts.authenticate("rita", "correct horse battery")
    s2 = accounts.login("rita", "a new long password")
    disabled = accounts.set_disabled("rita", True)
    assert disabled.disabled and not disabled.can("approve")
    assert accounts.session_user(s2.token) is None
    with pytest.raises(AuthError):
        accounts.authenticate("rita", "a new long password")
    accounts.set_disabled("rita", False)
    s3 = accounts.login("rita", "a new long password")
    assert accounts.revoke_all("rita") == 1
    assert accounts.session_user(s3.token) is None


def test_login_throttling_backs_off_the_guesser_not_the_user(accounts: Accounts, clock: Clock) -> None:
    accounts.add_user("rita", "correct horse battery", "reviewer")
    for _ in range(5):
        with pytest.raises(AuthError, match="wrong"):
            accounts.authenticate("rita", "guess", client="10.0.0.66")
    with pytest.raises(ThrottledError) as info:
        accounts.authenticate("rita", "another guess", client="10.0.0.66")
    assert info.value.retry_after == pytest.approx(1.0)
    # The real user, from their own address, is not locked out by someone else's guesses.
    assert accounts.authenticate("rita", "correct horse battery", client="10.0.0.7").username == "rita"
    # The guesser waits twice as long after each further failure: 1 s, 2 s, 4 s.
    waits = [info.value.retry_after]
    for _ in range(2):
        clock.now += waits[-1] + 0.1
        with pytest.raises(AuthError, match="wrong"):
            accounts.authenticate("rita", "guess", client="10.0.0.66")
        with pytest.raises(ThrottledError) as info:
            accounts.authenticate("rita", "guess", client="10.0.0.66")
        waits.append(info.value.retry_after)
    assert waits == [pytest.approx(1.0), pytest.approx(2.0), pytest.approx(4.0)]
    # A success from that client clears its count.
    clock.now += 3600
    assert accounts.authenticate("rita", "correct horse battery", client="10.0.0.66").username == "rita"
    for _ in range(4):
        with pytest.raises(AuthError, match="wrong"):
            accounts.authenticate("rita", "guess", client="10.0.0.66")
    assert accounts.authenticate("rita", "correct horse battery", client="10.0.0.66").username == "rita"


def test_rehash_when_parameters_change(db: ReviewDB) -> None:
    Accounts(db, hasher=FAST).add_user("rita", "correct horse battery")
    before = db.conn.execute("SELECT password_hash FROM accounts_users").fetchone()[0]
    stronger = Accounts(db, hasher=PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    stronger.authenticate("rita", "correct horse battery")
    after = db.conn.execute("SELECT password_hash FROM accounts_users").fetchone()[0]
    assert after != before and "t=2" in after


def test_require_and_can() -> None:
    reviewer = User(1, "rita", "reviewer", "")
    assert can(reviewer, "approve") and not can(None, "approve")
    require(reviewer, "approve")
    with pytest.raises(PermissionDenied, match="sign in"):
        require(None, "view_unapproved")
    with pytest.raises(PermissionDenied, match="reader"):
        require(User(2, "rose", "reader", ""), "comment")
    with pytest.raises(PermissionDenied, match="sign in"):
        require(User(1, "rita", "reviewer", "", disabled=True), "approve")


def test_api_account_functions(settings: Settings) -> None:
    user = api.add_user("rita", "correct horse battery", "reviewer", settings=settings)
    assert [u.username for u in api.list_users(settings=settings)] == ["rita"]
    session = api.login("rita", "correct horse battery", settings=settings)
    assert api.session_user(session.token, settings=settings) == user
    saved = api.submit_article(sample_article(), settings=settings).version
    approved = api.review_article(saved.slug, "approve", user=user, settings=settings)
    assert approved.status_changed_by == "rita"
    assert api.logout(session.token, settings=settings)
    assert api.session_user(session.token, settings=settings) is None
    assert api.set_role("rita", "admin", settings=settings).role == "admin"


def test_users_table_is_in_the_store_file(settings: Settings) -> None:
    api.add_user("rita", "correct horse battery", settings=settings)
    conn = sqlite3.connect(settings.db)
    assert conn.execute("SELECT username FROM accounts_users").fetchall() == [("rita",)]
    conn.close()
