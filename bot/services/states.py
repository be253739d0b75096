"""The request state machine (#13): every move a request can make, in one table.

`RequestService.apply` — through which every status change is recorded (a first-tap claim wins with a
conditional UPDATE, then records its move there too) — refuses any move not listed here
(the person is told the request has moved on, and nothing is written). Each stage's service checks
who may act and from which state; this table says what the workflow allows at all, so a new stage
cannot quietly invent a path (a closed request reopened by a stray button, a task marked done
before anyone took it). The effects of a move (timers, points, notices, cards) follow in `apply`.

Two kinds of move are not in the table: staying in an open state (a progress note, a changed
deadline), and cancelling an open request (the requester or staff, from any open state)."""
from __future__ import annotations

from storage.models import OPEN_STATUSES, Status

_S = Status
MOVES: dict[Status, frozenset[Status]] = {
    # triage (staff or the grid's leader), orders dispatched, routes to partners, /assign
    _S.NEW: frozenset({_S.ACCEPTED, _S.HANDLING, _S.DECLINED, _S.DUPLICATE, _S.WAITING_INFO, _S.ESCALATED,
                       _S.COUNCIL, _S.CLAIMED, _S.DISPATCHED, _S.PARTNER}),
    _S.WAITING_INFO: frozenset({_S.NEW}),  # the requester answered: back where it was asked
    _S.ACCEPTED: frozenset({_S.CLAIMED}),  # a volunteer claims it, or the leader assigns it
    _S.CLAIMED: frozenset({_S.IN_PROGRESS, _S.DONE, _S.ACCEPTED}),  # progress, done, released
    _S.IN_PROGRESS: frozenset({_S.DONE, _S.ACCEPTED}),
    _S.HANDLING: frozenset({_S.DONE}),  # the leader runs it, or a provider accepted an order
    _S.ESCALATED: frozenset({_S.DEPT_ACCEPTED, _S.DONE, _S.NEW}),  # the department accepts, finishes, returns
    _S.DEPT_ACCEPTED: frozenset({_S.DONE, _S.NEW}),
    _S.COUNCIL: frozenset({_S.ACCEPTED, _S.DECLINED, _S.NEW}),  # passed, rejected, no decision
    _S.DISPATCHED: frozenset({_S.HANDLING}),  # the provider accepts (接单)
    _S.PARTNER: frozenset({_S.PARTNER_ACCEPTED, _S.NEW}),  # a member accepts; declined or taken back
    _S.PARTNER_ACCEPTED: frozenset({_S.DONE}),
    _S.DONE: frozenset({_S.CLOSED, _S.CLOSED_UNRATED, _S.NEW}),  # signed off, no answer, reopened
    _S.CLOSED_UNRATED: frozenset({_S.NEW}),  # reopened after all
    _S.CLOSED: frozenset(),
    _S.DECLINED: frozenset(),
    _S.DUPLICATE: frozenset(),
    _S.CANCELLED: frozenset(),
}


def may_move(before: str, to: str) -> bool:
    if before in OPEN_STATUSES and to in (before, Status.CANCELLED):
        return True
    return to in MOVES.get(Status(before), frozenset())
