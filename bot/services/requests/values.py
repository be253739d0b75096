"""The values every stage of a request's life passes around: what intake gathered (`Draft`), a
request with what rendering it needs (`View`), its number, the buttons under its posts (plain values,
see `bot.services.buttons`), the "me too" count, and the limits a note is checked against."""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import BadInput
from bot.policy import Audience
from bot.privacy import PublicRequest
from bot.services.buttons import Act, Button, press
from bot.services.language import Translator
from bot.services.notify import Notifier
from storage.db import Database
from storage.models import Community, Grid, MeToo, Request, Status, User, utcnow

MAX_DESCRIPTION = 2000
MAX_NOTE = 1000
MAX_PHOTOS = 3
DECLINE_REASONS = ("not_community", "no_action", "referred", "other")
DUE_DAYS = (1, 3, 7, 14)
CARD_EDIT_GAP = timedelta(seconds=20)  # at most three edits a minute of a triage card (a "me too" count)

Hook = Callable[[AsyncSession, Request, str], Awaitable[None]]


class Stage:
    """What every stage of `RequestService` shares; set once by `RequestService.__init__`."""

    db: Database
    notifier: Notifier
    translator: Translator
    # Other services' part in a transition, inside its unit of work: `on_close(s, req, to)` runs
    # on every move (the services list frees an order's seat on cancel/decline), `reminders[who]`
    # sends a timer's reminder to people only that service knows (an order's provider).
    on_close: list[Hook]
    reminders: dict[str, Hook]


class Op:
    """Triage, task and liaison operations (indexes travel in callback data)."""

    ACCEPT, HANDLE, DUPLICATE, ASK, DECLINE, ESCALATE, CATEGORY = range(7)  # triage
    CLAIM, PROGRESS, DONE, RELEASE = range(4)  # task (assignee)
    DEPT_ACCEPT, DEPT_DONE, DEPT_RETURN = range(3)  # liaison


@dataclass
class Draft:
    """What intake gathered; validated again here whatever the conversation did."""

    description: str
    category: str | None = None
    grid_id: int | None = None
    photos: list[str] = field(default_factory=list)
    latitude: float | None = None
    longitude: float | None = None
    contact_note: str | None = None
    on_behalf_name: str | None = None
    source_chat_id: int | None = None
    language_hint: str | None = None


@dataclass
class View:
    """A request with what rendering it needs."""

    req: Request
    community: Community
    grid: Grid | None
    requester: User | None
    assignee: User | None = None
    clearance: Audience | None = None  # set by `view`: the widest text its reader may see
    affected: int = 1  # households affected: the requester's and every "me too" (附议)
    audience: list[User] = field(default_factory=list)  # who hears of a move: requester, followers

    @property
    def no(self) -> str:
        return number(self.community, self.req)

    def ctx(self, **more: Any) -> dict[str, Any]:
        return {"r": self.req, "no": self.no, "grid": self.grid, "community": self.community,
                "requester": self.requester, "assignee": self.assignee, "affected": self.affected, **more}

    def public_ctx(self, **more: Any) -> dict[str, Any]:
        """What a group (or a follower) may read: public fields, free text scrubbed."""
        return {"r": PublicRequest(self.req), "no": self.no, "grid": self.grid, "community": self.community,
                "requester": None, "assignee": self.assignee, "affected": self.affected, **more}


def number(community: Community, req: Request) -> str:
    return f"{community.code}-{req.number:04d}"


def triage_buttons(req_id: int) -> list[list[Button]]:
    triage = lambda label, op: Button(label, press(Act.TRIAGE, req_id, op))  # noqa: E731
    return [[triage("accept", Op.ACCEPT), triage("handle", Op.HANDLE)],
            [triage("duplicate", Op.DUPLICATE), triage("ask_info", Op.ASK)],
            [triage("decline", Op.DECLINE), triage("escalate", Op.ESCALATE)],
            [Button("to_council", press(Act.TO_COUNCIL, req_id)), triage("categorise", Op.CATEGORY)],
            [Button("to_partner", press(Act.ROUTE, req_id, 0))]]  # the resources list (资源清单), page 0


def metoo_buttons(req_id: int) -> list[list[Button]]:
    """"Me too" (附议) under a public request post: one tap, counted once per household."""
    return [[Button("metoo", press(Act.METOO, req_id))]]


def claim_buttons(req_id: int) -> list[list[Button]]:
    return [[Button("claim", press(Act.TASK, req_id, Op.CLAIM))]]


def assignee_buttons(req: Request) -> list[list[Button]]:
    if req.status in (Status.ESCALATED, Status.DEPT_ACCEPTED):
        liaison = lambda label, op: Button(label, press(Act.LIAISON, req.id or 0, op))  # noqa: E731
        first = [liaison("dept_accept", Op.DEPT_ACCEPT)] if req.status == Status.ESCALATED else []
        return [first + [liaison("done", Op.DEPT_DONE)], [liaison("return", Op.DEPT_RETURN)]]
    task = lambda label, op: Button(label, press(Act.TASK, req.id or 0, op))  # noqa: E731
    rows = [[task("progress", Op.PROGRESS), task("done", Op.DONE)]]
    if req.status not in (Status.HANDLING, Status.PARTNER_ACCEPTED):
        rows.append([task("release", Op.RELEASE)])
    return rows


async def issue_number(s: AsyncSession, community_id: int) -> int:
    """The community's next request number, in one statement: the UPDATE holds the community's
    row until the transaction ends, so numbers stay unique. On the connection, not through the
    session: the counter is no part of the directory cache (`storage.cache.VOLATILE`), and a
    statement through the session would count as a change to the directory."""
    return await s.run_sync(lambda sync: int(sync.connection().execute(_TAKE_NUMBER, {"community": community_id})
                                             .scalar_one()) - 1)


_COMMUNITIES = Community.__table__
_TAKE_NUMBER = (update(_COMMUNITIES).where(_COMMUNITIES.c.id == bindparam("community"))
                .values(next_number=_COMMUNITIES.c.next_number + 1).returning(_COMMUNITIES.c.next_number))


async def add_metoo(s: AsyncSession, req_id: int, user_id: int) -> bool:
    """Count a household once: an insert that does nothing when it is there already (also when
    two taps race on PostgreSQL: the loser waits for the winner, then inserts nothing). True if
    it was new."""
    dialect = s.bind.dialect.name if s.bind is not None else "sqlite"
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(MeToo).values(request_id=req_id, user_id=user_id, at=utcnow()).on_conflict_do_nothing()
    return (await s.execute(stmt)).rowcount == 1


def note_text(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    if len(text) > MAX_NOTE:
        raise BadInput("note_too_long", limit=MAX_NOTE, length=len(text))
    return text or None
