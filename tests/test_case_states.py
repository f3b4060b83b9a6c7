"""The case state machine (api/case_states.py): one table over ``CaseStatus`` that every status change of
``CaseService`` goes through. The callbacks' legal moves are the ones the service always allowed."""
from __future__ import annotations

import pytest

from api.case_states import (
    CALLBACK_MOVES,
    INITIAL,
    STATUSES,
    TRANSITIONS,
    CaseConflict,
    advance,
    can,
    sources_of,
)
from api.cases import CALLBACK_FROM


def test_every_move_goes_between_statuses_of_CaseStatus() -> None:
    for move, edges in TRANSITIONS.items():
        assert edges, move
        for before, after in edges.items():
            assert before in STATUSES and after in STATUSES, (move, before, after)


def test_every_status_is_reachable_and_only_closed_is_final() -> None:
    reached, frontier = set(INITIAL), list(INITIAL)
    while frontier:
        status = frontier.pop()
        for edges in TRANSITIONS.values():
            after = edges.get(status)
            if after is not None and after not in reached:
                reached.add(after)
                frontier.append(after)
    assert reached == set(STATUSES)
    leaving = {before for edges in TRANSITIONS.values() for before in edges}
    assert set(STATUSES) - leaving == {"closed"}


def test_callbacks_allow_what_they_always_allowed() -> None:
    """The table reproduces the dispatch callbacks' rules as they were written out before it."""
    assert CALLBACK_FROM == {
        "accepted": ("dispatched", "queued", "reopened"),
        "handled": ("dispatched", "accepted", "queued", "reopened"),
        "returned": ("dispatched", "accepted", "queued", "reopened"),
        "verified": ("handled",),
        "closed": ("verified",),
    }
    assert set(CALLBACK_MOVES) == set(CALLBACK_FROM)


@pytest.mark.parametrize("before, move, after", [
    ("manual", "assign", "queued"), ("queued", "deliver", "dispatched"), ("reopened", "deliver", "dispatched"),
    ("dispatched", "accepted", "accepted"), ("accepted", "handled", "handled"), ("accepted", "returned", "manual"),
    ("handled", "verified", "verified"), ("verified", "closed", "closed"), ("handled", "reopened", "reopened"),
    ("reopened", "escalate", "manual"), ("manual", "invalidate", "closed"),
])
def test_advance_follows_the_table(before: str, move, after: str) -> None:
    assert can(move, before) and advance("C1", before, move) == after


@pytest.mark.parametrize("before, move", [
    ("closed", "handled"), ("dispatched", "assign"), ("queued", "invalidate"), ("dispatched", "deliver"),
    ("handled", "closed"), ("verified", "reopened"), ("manual", "returned"),
])
def test_a_move_the_table_lacks_is_a_conflict_naming_the_case(before: str, move) -> None:
    assert not can(move, before)
    with pytest.raises(CaseConflict, match=rf"case C7 is {before}; '{move}' needs one of"):
        advance("C7", before, move)
    with pytest.raises(CaseConflict, match="^not now$"):
        advance("C7", before, move, "not now")
    assert before not in sources_of(move)
