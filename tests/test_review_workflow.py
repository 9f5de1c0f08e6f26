from __future__ import annotations

import pytest

from curbside.errors import InputError, PermissionDenied, TransitionError
from curbside.review.workflow import (
    ACTIONS,
    ROLE_ACTIONS,
    ROLES,
    STATUS_LABELS,
    STATUSES,
    TRANSITION_ACTIONS,
    TRANSITIONS,
    Action,
    Role,
    Status,
    allowed_actions,
    can,
    next_status,
    parse_action,
    parse_role,
    parse_status,
    path_to,
    require_role,
)

EXPECTED: dict[tuple[Status, Action], Status] = {
    ("submitted", "start_review"): "under_review",
    ("under_review", "approve"): "approved",
    ("under_review", "request_changes"): "changes_requested",
    ("under_review", "reject"): "rejected",
    ("changes_requested", "resubmit"): "submitted",
}


def test_transition_table_is_exactly_the_documented_one() -> None:
    assert dict(TRANSITIONS) == EXPECTED


@pytest.mark.parametrize(("status", "action"), list(EXPECTED))
def test_allowed_transitions(status: Status, action: Action) -> None:
    assert next_status(status, action) == EXPECTED[(status, action)]


FORBIDDEN = [(s, a) for s in STATUSES for a in TRANSITION_ACTIONS if (s, a) not in EXPECTED]


@pytest.mark.parametrize(("status", "action"), FORBIDDEN)
def test_forbidden_transitions_raise_a_clear_error(status: Status, action: Action) -> None:
    with pytest.raises(TransitionError) as info:
        next_status(status, action)
    message = str(info.value)
    assert STATUS_LABELS[status] in message
    assert action.replace("_", " ") in message
    assert "allowed now" in message


def test_final_statuses_say_so_and_hint_at_a_new_version() -> None:
    with pytest.raises(TransitionError, match="final status") as info:
        next_status("approved", "reject")
    assert info.value.hint is not None and "new version" in info.value.hint


@pytest.mark.parametrize("action", ["approve", "request_changes", "reject"])
def test_path_to_inserts_start_review_from_submitted(action: Action) -> None:
    assert path_to("submitted", action) == ["start_review", action]
    assert path_to("under_review", action) == [action]


def test_path_to_refuses_what_no_path_allows() -> None:
    with pytest.raises(TransitionError):
        path_to("approved", "approve")
    with pytest.raises(TransitionError):
        path_to("submitted", "resubmit")


ROLE_MATRIX: dict[Role, set[str]] = {
    "reader": {"view_unapproved"},
    "clinician": {"view_unapproved", "submit", "resubmit"},
    "reviewer": {
        "view_unapproved",
        "submit",
        "resubmit",
        "start_review",
        "approve",
        "request_changes",
        "reject",
        "comment",
        "resolve_flag",
        "view_audit",
        "view_questions",
    },
    "admin": set(ACTIONS),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("action", ACTIONS)
def test_role_permissions(role: Role, action: Action) -> None:
    allowed = action in ROLE_MATRIX[role]
    assert can(role, action) is allowed
    assert set(ROLE_ACTIONS[role]) == ROLE_MATRIX[role]
    if allowed:
        require_role(role, action)
    else:
        with pytest.raises(PermissionDenied, match=role):
            require_role(role, action)


@pytest.mark.parametrize("action", ACTIONS)
def test_signed_out_may_do_nothing(action: Action) -> None:
    assert not can(None, action)
    with pytest.raises(PermissionDenied, match="sign in"):
        require_role(None, action)


def test_allowed_actions_per_status_and_role() -> None:
    assert allowed_actions("submitted", "reviewer") == [
        "start_review",
        "approve",
        "request_changes",
        "reject",
    ]
    assert allowed_actions("under_review", "reviewer") == ["approve", "request_changes", "reject"]
    assert allowed_actions("changes_requested", "clinician") == ["resubmit"]
    assert allowed_actions("submitted", "clinician") == []
    assert allowed_actions("approved", "admin") == []
    assert allowed_actions("submitted", None) == []


def test_parsing_accepts_spellings_and_names_the_choices() -> None:
    assert parse_status("Under Review") == "under_review"
    assert parse_status("changes-requested") == "changes_requested"
    assert parse_role(" Reviewer ") == "reviewer"
    assert parse_action("request-changes") == "request_changes"
    with pytest.raises(InputError, match="submitted, under_review"):
        parse_status("published")
    with pytest.raises(InputError, match="unknown role 'owner'"):
        parse_role("owner")
    with pytest.raises(InputError, match="review action"):
        parse_action("publish")
