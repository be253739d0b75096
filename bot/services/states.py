"""The request state machine (#13): every move a request can make, and what each move does, in one table.

`RequestService.apply` — through which every status change is recorded (a first-tap claim wins with a
conditional UPDATE, then records its move there too) — refuses any move not listed here
(the person is told the request has moved on, and nothing is written). Each stage's service checks
who may act and from which state; this table says what the workflow allows at all, so a new stage
cannot quietly invent a path (a closed request reopened by a stray button, a task marked done
before anyone took it).

Beside each move are its effects, run by `apply` in three phases: `RECORD` effects change the request
(and points) before its audit event is written; `NOTICE` effects tell people after the requester and
followers were told; `AFTER` effects post and brief after the staff feed's line. What a stage does
that is its own purpose (the question asked, the photo of the work done) stays in that stage.

Two kinds of move are not in the table: staying in an open state (a progress note, a changed
deadline: no effect), and cancelling an open request (the requester or staff, from any open state:
see `effects`)."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import Named
from bot.services import points
from bot.services.community import settings_of
from bot.services.context import Actor
from storage.models import OPEN_STATUSES, Community, Request, Role, Status

RECORD, NOTICE, AFTER = "record", "notice", "after"


class Posts(Protocol):
    """What effects use of the request service that applies the move (`bot.services.requests`);
    named here so that this table imports nothing of it."""

    async def is_member(self, s: AsyncSession, user_id: int, community_id: int, role: Role,
                        grid_id: int | None = None) -> bool: ...
    async def tell_tappers(self, s: AsyncSession, req: Request, view: Any, actor: Actor,
                           ctx: dict[str, Any]) -> None: ...
    async def close_posts(self, s: AsyncSession, view: Any, kind: str, **more: Any) -> None: ...
    async def post_task(self, s: AsyncSession, view: Any, decision: Named | None = None) -> None: ...
    async def update_task_post(self, s: AsyncSession, view: Any, released: bool = False) -> None: ...
    async def brief_assignee(self, s: AsyncSession, view: Any) -> None: ...


@dataclass
class Move:
    """One move being applied, as its effects see it: inside the request's unit of work."""

    s: AsyncSession
    service: Posts  # the request service applying it: whose posts and notices the effects use
    actor: Actor
    req: Request
    community: Community
    before: str
    to: str
    now: datetime
    extra: dict[str, Any]  # what the caller added for the notices (and `decision` for the task post)
    view: Any = None  # the request's `View` once recorded (NOTICE and AFTER effects)
    public: dict[str, Any] | None = None  # what followers and "me too" households may read of the move


@dataclass(frozen=True)
class Effect:
    phase: str
    run: Callable[[Move], Awaitable[None]]

    def __repr__(self) -> str:
        return self.run.__name__


def effect(phase: str) -> Callable[[Callable[[Move], Awaitable[None]]], Effect]:
    return lambda run: Effect(phase, run)


@effect(RECORD)
async def triaged(move: Move) -> None:
    """Triage answered: the first response time is kept (the reports' "time to triage")."""
    if move.req.triaged_at is None:
        move.req.triaged_at = move.now


@effect(RECORD)
async def requester_earns(move: Move) -> None:
    """An accepted request earns its requester points (积分), once."""
    await points.award(move.s, move.community, move.req.requester_id, "request_accepted", f"accepted:{move.req.id}")


@effect(RECORD)
async def signoff_asked(move: Move) -> None:
    """Done means "fixed?" is asked: the requester signs off, or a reminder and then an auto-close
    (never counted as satisfied) follow. A volunteer who did it earns points, once."""
    req = move.req
    req.done_at = move.now
    req.timer_kind = "signoff_remind"
    req.timer_at = move.now + timedelta(hours=settings_of(move.community)["signoff_remind_hours"])
    if req.assignee_id and await move.service.is_member(move.s, req.assignee_id, req.community_id, Role.VOLUNTEER):
        await points.award(move.s, move.community, req.assignee_id, "task_done", f"done:{req.id}")


@effect(NOTICE)
async def tappers_told(move: Move) -> None:
    """Households that said "me too" hear the outcome (or a reopening), public fields only."""
    assert move.view is not None and move.public is not None
    await move.service.tell_tappers(move.s, move.req, move.view, move.actor, move.public)


@effect(NOTICE)
async def card_closed(move: Move) -> None:
    """The triage card loses its buttons and says what became of the request."""
    assert move.view is not None
    await move.service.close_posts(move.s, move.view, "card", actor_name=move.actor.user.first_name)


@effect(AFTER)
async def task_posted(move: Move) -> None:
    """Volunteers see the task, without personal data (with the council's chosen option, if any)."""
    assert move.view is not None
    await move.service.post_task(move.s, move.view, decision=move.extra.get("decision"))


@effect(AFTER)
async def task_taken(move: Move) -> None:
    """The posted task says it is taken (its claim button goes)."""
    assert move.view is not None
    await move.service.update_task_post(move.s, move.view)


@effect(AFTER)
async def assignee_briefed(move: Move) -> None:
    """Whoever now acts on it gets the full details, privately."""
    assert move.view is not None
    await move.service.brief_assignee(move.s, move.view)


_S = Status
DONE = (signoff_asked, tappers_told)
MOVES: dict[Status, dict[Status, tuple[Effect, ...]]] = {
    # triage (staff or the grid's leader), orders dispatched, routes to partners, /assign: every move
    # out of `new` records the first response and closes the triage card
    _S.NEW: {_S.ACCEPTED: (triaged, requester_earns, card_closed, task_posted),
             _S.HANDLING: (triaged, card_closed, assignee_briefed),  # the leader runs it (代办)
             _S.DECLINED: (triaged, tappers_told, card_closed),
             _S.DUPLICATE: (triaged, tappers_told, card_closed),
             _S.WAITING_INFO: (triaged, card_closed),
             _S.ESCALATED: (triaged, card_closed, assignee_briefed),  # the liaison gets it
             _S.COUNCIL: (triaged, card_closed),
             _S.CLAIMED: (triaged, card_closed, assignee_briefed),  # /assign
             _S.DISPATCHED: (triaged, card_closed),
             _S.PARTNER: (triaged, card_closed)},
    _S.WAITING_INFO: {_S.NEW: ()},  # the requester answered: back where it was asked
    _S.ACCEPTED: {_S.CLAIMED: (task_taken, assignee_briefed)},  # a volunteer claims it, or the leader assigns it
    _S.CLAIMED: {_S.IN_PROGRESS: (), _S.DONE: DONE, _S.ACCEPTED: ()},  # progress, done, released
    _S.IN_PROGRESS: {_S.DONE: DONE, _S.ACCEPTED: ()},
    _S.HANDLING: {_S.DONE: DONE},  # the leader runs it, or a provider accepted an order
    _S.ESCALATED: {_S.DEPT_ACCEPTED: (), _S.DONE: DONE, _S.NEW: ()},  # the department accepts, finishes, returns
    _S.DEPT_ACCEPTED: {_S.DONE: DONE, _S.NEW: ()},
    _S.COUNCIL: {_S.ACCEPTED: (task_posted,), _S.DECLINED: (tappers_told,), _S.NEW: ()},  # passed, rejected, none
    _S.DISPATCHED: {_S.HANDLING: ()},  # the provider accepts (接单)
    _S.PARTNER: {_S.PARTNER_ACCEPTED: (), _S.NEW: ()},  # a member accepts; declined or taken back
    _S.PARTNER_ACCEPTED: {_S.DONE: DONE},
    _S.DONE: {_S.CLOSED: (tappers_told,), _S.CLOSED_UNRATED: (tappers_told,),  # signed off, no answer
              _S.NEW: (tappers_told,)},  # reopened
    _S.CLOSED_UNRATED: {_S.NEW: (tappers_told,)},  # reopened after all
    _S.CLOSED: {},
    _S.DECLINED: {},
    _S.DUPLICATE: {},
    _S.CANCELLED: {},
}


def may_move(before: str, to: str) -> bool:
    if before in OPEN_STATUSES and to in (before, Status.CANCELLED):
        return True
    return to in MOVES.get(Status(before), {})


def effects(before: str, to: str) -> tuple[Effect, ...]:
    """What moving from `before` to `to` does (a move `may_move` allows)."""
    if to == before:
        return ()
    if to == Status.CANCELLED:  # from any open state
        return (tappers_told, card_closed) if before == Status.NEW else (tappers_told,)
    return MOVES[Status(before)][Status(to)]


async def run(phase: str, move: Move) -> None:
    for step in effects(move.before, move.to):
        if step.phase == phase:
            await step.run(move)

