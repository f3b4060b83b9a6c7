"""The states of a case and the moves between them, as one table (``TRANSITIONS``): every change of a
case's status in ``CaseService`` goes through :func:`advance`, so a move the table does not have is a
``CaseConflict`` (HTTP 409), never a silent write. Pure data and functions: no session, no clock.

    manual --assign--> queued --deliver--> dispatched --accepted--> accepted --handled--> handled
       ^                                        |  |                    |                    |
       +------------- returned ----------------+  +------- handled ----+----- returned -----+ (to manual)
    handled --verified--> verified --closed--> closed;   handled --reopened--> reopened --deliver--> dispatched
    reopened --escalate--> manual (its department returned it twice);   manual --invalidate--> closed

The dispatch system may answer before our own delivery is recorded, so its callbacks also move a case from
``queued`` or ``reopened``.
"""
from __future__ import annotations

from typing import Literal, get_args

from .case_schemas import CaseStatus

CaseMove = Literal["assign", "deliver", "accepted", "handled", "returned", "verified", "closed", "reopened",
                   "escalate", "invalidate"]

STATUSES: tuple[CaseStatus, ...] = get_args(CaseStatus)
INITIAL: tuple[CaseStatus, ...] = ("manual", "queued")  # a new case: routed, or waiting for a person
_ANSWERED = ("dispatched", "queued", "reopened")  # with its department (or about to be, as far as we know)
_WORKED = ("dispatched", "accepted", "queued", "reopened")  # ... or accepted there

# move -> {from: to}
TRANSITIONS: dict[CaseMove, dict[CaseStatus, CaseStatus]] = {
    "assign": {"manual": "queued"},  # a reviewer picks the department
    "deliver": {"queued": "dispatched", "reopened": "dispatched"},  # the dispatch system took the message
    "accepted": {s: "accepted" for s in _ANSWERED},  # 签收
    "handled": {s: "handled" for s in _WORKED},  # 处置
    "returned": {s: "manual" for s in _WORKED},  # 回退: a person reassigns it
    "verified": {"handled": "verified"},  # 核查: by the dispatch system, or the camera's re-check
    "closed": {"verified": "closed"},  # 结案
    "reopened": {"handled": "reopened"},  # the re-check still sees the violation
    "escalate": {"reopened": "manual"},  # re-opened, but its department returned it twice before
    "invalidate": {"manual": "closed"},  # closed from the manual queue as invalid
}
# moves the dispatch system reports by callback (their names are the statuses it reports)
CALLBACK_MOVES: tuple[CaseMove, ...] = ("accepted", "handled", "returned", "verified", "closed")


class CaseConflict(Exception):
    """The change does not fit the case's current status (HTTP 409)."""


def can(move: CaseMove, status: str) -> bool:
    return status in TRANSITIONS[move]


def sources_of(move: CaseMove) -> tuple[CaseStatus, ...]:
    """The statuses ``move`` may start from."""
    return tuple(TRANSITIONS[move])


def advance(number: str, status: str, move: CaseMove, why: str | None = None) -> CaseStatus:
    """The status after ``move`` from ``status``; CaseConflict (naming the case) when the table has no such
    move. ``why`` replaces the default message (what a person must be told)."""
    after = TRANSITIONS[move].get(status)  # type: ignore[call-overload]
    if after is None:
        raise CaseConflict(why or f"case {number} is {status}; {move!r} needs one of {list(sources_of(move))}")
    return after
