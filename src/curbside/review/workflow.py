"""The editorial state machine and who may do what (pure functions, no storage).

Statuses of one article *version* (docs/editorial-policy.md explains them)::

    submitted ──start_review──> under_review ──approve──────────> approved
        ^                           │  └──────reject───────────> rejected
        │                           └──request_changes──> changes_requested
        └────────────────────resubmit──────────────────────────────┘

A version's content never changes; a regenerated article is a *new* version
that starts at ``submitted`` again.  Approving, rejecting or requesting changes
on a ``submitted`` version is allowed only through :func:`path_to`, which
inserts the ``start_review`` step so the audit log shows both.

API::

    STATUSES, ACTIONS, ROLES, TRANSITION_ACTIONS        # tuples of the Literal values
    STATUS_LABELS["under_review"] == "Under Review"     # for badges
    ROLE_ACTIONS["reviewer"] -> frozenset of actions
    next_status(status, action) -> Status               # TransitionError if not allowed
    path_to(status, action) -> list[Action]             # e.g. ["start_review", "approve"]
    allowed_actions(status, role) -> list[Action]       # transition actions this role may take now
    can(role, action) -> bool                           # role may do the action (any status)
    require_role(role, action) -> None                  # PermissionDenied; role None = signed out
    require_user(user, action) -> None                  # the same for a User (disabled = signed out)
    parse_status(text) / parse_role(text) / parse_action(text)   # InputError naming the choices

Roles: ``reader`` (signed-in reader: sees unapproved versions), ``clinician``
(also submits and resubmits articles, asks follow-ups), ``reviewer`` (Medical
Advisory Board: also reviews, comments, resolves re-review flags, reads the
audit log and the questions as askers typed them, with who asked), ``admin`` (everything, and manages users).  Signed out, nobody may
do any of these actions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Final, Literal, Protocol, get_args

from curbside.errors import InputError, PermissionDenied, TransitionError

Status = Literal["submitted", "under_review", "approved", "changes_requested", "rejected"]
Role = Literal["reader", "clinician", "reviewer", "admin"]
Action = Literal[
    # transitions
    "start_review",
    "approve",
    "request_changes",
    "reject",
    "resubmit",
    # other permissions
    "submit",
    "comment",
    "resolve_flag",
    "view_unapproved",
    "view_audit",
    "view_questions",
    "manage_users",
]

STATUSES: Final[tuple[Status, ...]] = get_args(Status)
ROLES: Final[tuple[Role, ...]] = get_args(Role)
ACTIONS: Final[tuple[Action, ...]] = get_args(Action)
TRANSITION_ACTIONS: Final[tuple[Action, ...]] = (
    "start_review",
    "approve",
    "request_changes",
    "reject",
    "resubmit",
)

STATUS_LABELS: Final[dict[Status, str]] = {
    "submitted": "Submitted",
    "under_review": "Under Review",
    "approved": "Approved",
    "changes_requested": "Changes Requested",
    "rejected": "Rejected",
}
ACTION_LABELS: Final[dict[Action, str]] = {
    "start_review": "Start review",
    "approve": "Approve",
    "request_changes": "Request changes",
    "reject": "Reject",
    "resubmit": "Resubmit",
    "submit": "Submit",
    "comment": "Comment",
    "resolve_flag": "Resolve re-review flag",
    "view_unapproved": "View unapproved versions",
    "view_audit": "View audit log",
    "view_questions": "View askers' questions",
    "manage_users": "Manage users",
}

#: (status, action) -> the status after it.  Anything missing is not allowed.
TRANSITIONS: Final[dict[tuple[Status, Action], Status]] = {
    ("submitted", "start_review"): "under_review",
    ("under_review", "approve"): "approved",
    ("under_review", "request_changes"): "changes_requested",
    ("under_review", "reject"): "rejected",
    ("changes_requested", "resubmit"): "submitted",
}

_READER: Final[frozenset[Action]] = frozenset({"view_unapproved"})
_CLINICIAN: Final[frozenset[Action]] = _READER | {"submit", "resubmit"}
_REVIEWER: Final[frozenset[Action]] = _CLINICIAN | {
    "start_review",
    "approve",
    "request_changes",
    "reject",
    "comment",
    "resolve_flag",
    "view_audit",
    "view_questions",
}
ROLE_ACTIONS: Final[dict[Role, frozenset[Action]]] = {
    "reader": _READER,
    "clinician": _CLINICIAN,
    "reviewer": _REVIEWER,
    "admin": _REVIEWER | frozenset[Action]({"manage_users"}),
}


def _parse(text: str, allowed: tuple[str, ...], what: str) -> str:
    value = text.strip().lower().replace("-", "_").replace(" ", "_")
    if value not in allowed:
        raise InputError(f"unknown {what} {text!r}; choose one of: {', '.join(allowed)}")
    return value


def parse_status(text: str) -> Status:
    """``"under-review"``, ``"Under Review"`` or ``"under_review"`` -> ``"under_review"``."""
    return _STATUS_BY_NAME[_parse(text, STATUSES, "review status")]


def parse_role(text: str) -> Role:
    return _ROLE_BY_NAME[_parse(text, ROLES, "role")]


def parse_action(text: str) -> Action:
    return _ACTION_BY_NAME[_parse(text, ACTIONS, "review action")]


_STATUS_BY_NAME: Final[dict[str, Status]] = {s: s for s in STATUSES}
_ROLE_BY_NAME: Final[dict[str, Role]] = {r: r for r in ROLES}
_ACTION_BY_NAME: Final[dict[str, Action]] = {a: a for a in ACTIONS}


def next_status(status: Status, action: Action) -> Status:
    """The status after ``action``; :class:`TransitionError` names what is allowed instead."""
    after = TRANSITIONS.get((status, action))
    if after is None:
        possible = [a for (s, a) in TRANSITIONS if s == status]
        allowed = ", ".join(possible) if possible else "nothing (final status)"
        raise TransitionError(
            f"cannot {action.replace('_', ' ')} a version that is {STATUS_LABELS[status]}; "
            f"allowed now: {allowed}",
            hint="a regenerated article is saved as a new version and reviewed again"
            if status in ("approved", "rejected")
            else None,
        )
    return after


def path_to(status: Status, action: Action) -> list[Action]:
    """The transition steps that carry out ``action`` from ``status`` (start_review inserted if needed)."""
    if (status, action) in TRANSITIONS:
        return [action]
    if status == "submitted" and ("under_review", action) in TRANSITIONS:
        return ["start_review", action]
    next_status(status, action)  # raises with the explanation
    raise AssertionError("unreachable")  # pragma: no cover


def can(role: Role | None, action: Action) -> bool:
    """Whether ``role`` (``None``: signed out) may take ``action`` at all."""
    return role is not None and action in ROLE_ACTIONS[role]


def roles_allowed(action: Action) -> list[Role]:
    return [r for r in ROLES if action in ROLE_ACTIONS[r]]


def require_role(role: Role | None, action: Action) -> None:
    """:class:`PermissionDenied` unless ``role`` may take ``action``; the message names who may."""
    if can(role, action):
        return
    who = ", ".join(roles_allowed(action))
    if role is None:
        raise PermissionDenied(
            f"sign in to {ACTION_LABELS[action].lower()}: it needs the role {who}", sign_in=True
        )
    raise PermissionDenied(f"the role {role} may not {ACTION_LABELS[action].lower()}; it needs {who}")


def allowed_actions(status: Status, role: Role | None) -> list[Action]:
    """Transition actions ``role`` may take on a version in ``status`` (shortcuts through start_review too)."""
    out: list[Action] = []
    for action in TRANSITION_ACTIONS:
        if not can(role, action):
            continue
        try:
            steps = path_to(status, action)
        except TransitionError:
            continue
        if all(can(role, step) for step in steps):
            out.append(action)
    return out


class HasRole(Protocol):
    """What the checks need of a user (:class:`curbside.review.accounts.User` has it)."""

    @property
    def role(self) -> Role: ...

    @property
    def disabled(self) -> bool: ...


def require_user(user: HasRole | None, action: Action) -> None:
    """:func:`require_role` for a user; a disabled user counts as signed out."""
    require_role(None if user is None or user.disabled else user.role, action)


@dataclass(frozen=True)
class User:
    """A signed-in account: who, with which role, and whether it is disabled."""

    id: int
    username: str
    role: Role
    created_at: str
    disabled: bool = False

    def can(self, action: Action) -> bool:
        return not self.disabled and can(self.role, action)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
