"""The needs list (需求清单): what residents ask for, by category, micro-grid and month, counted
from requests, service orders and (when they land) micro-wishes; never a person, a text or a
number that leads to one. Visible to staff, council members and partners of the community.

Each month the most frequent unmet need of the month before becomes a draft proposal for the
council ("每月一题", problem of the month), which staff open for a vote with the proposal
service's own buttons.

Sources are pluggable: `SOURCES` holds async functions `(session, community, start, end) ->
list[Need]`: requests, orders and micro-wishes. A wish's category is one of the wish categories,
kept apart as `wish:<category>`; templates name both with the `|category` filter (bot.render).
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import policy
from bot.errors import NotAllowed
from bot.services.community import audit, grids_of, settings_of
from bot.services.context import Actor
from bot.services.deliberation import (DEFAULT_QUORUM, DEFAULT_VOTE_HOURS, MAX_TITLE, DeliberationService,
                                       ProposalDraft, draft_buttons)
from storage.db import locked
from storage.models import (Community, NeedsDraft, Proposal, Request, Role, ServiceOrder, Status, Wish, WishStatus)

# Not unmet: fixed (done, signed off), withdrawn by the resident, or counted under another request.
MET = frozenset({Status.DONE, Status.CLOSED, Status.CANCELLED, Status.DUPLICATE})
PAGE = 8
# Who reads the needs list, besides staff: council members and partners (the role of issue #17's
# partner units, once it exists).
READERS = tuple(r for r in ("staff", "council_member", "partner") if r in {x.value for x in Role})


@dataclass
class Need:
    """One count: a category in a micro-grid in a month, from one source."""

    category: str
    grid_id: int | None
    month: str  # YYYY-MM, community time
    source: str  # request | order | wish
    total: int = 0
    unmet: int = 0


Source = Callable[[AsyncSession, Community, datetime, datetime], Awaitable[list[Need]]]


def _month(at: datetime, tz: str) -> str:
    aware = at if at.tzinfo else at.replace(tzinfo=ZoneInfo("UTC"))
    return aware.astimezone(ZoneInfo(tz)).strftime("%Y-%m")


async def from_requests(s: AsyncSession, c: Community, start: datetime, end: datetime) -> list[Need]:
    """Requests and orders (an order is a request with a `ServiceOrder`): only the category, the
    micro-grid, the month and whether it was met are read."""
    rows = (await s.execute(select(Request.category, Request.grid_id, Request.created_at, Request.status,
                                   ServiceOrder.id).outerjoin(ServiceOrder, ServiceOrder.request_id == Request.id)
                            .where(Request.community_id == c.id, Request.created_at >= start,
                                   Request.created_at < end))).all()
    out: dict[tuple[str, int | None, str, str], Need] = {}
    for category, grid_id, created, status, order in rows:
        key = (category or "unset", grid_id, _month(created, c.timezone), "order" if order else "request")
        need = out.setdefault(key, Need(*key))
        need.total += 1
        need.unmet += status not in MET
    return list(out.values())


# A wish is met when fulfilled; withdrawn or turned down at screening, it is no longer a need.
WISH_MET = frozenset({WishStatus.FULFILLED, WishStatus.CANCELLED, WishStatus.REJECTED})
WISH = "wish:"


async def from_wishes(s: AsyncSession, c: Community, start: datetime, end: datetime) -> list[Need]:
    """Micro-wishes submitted in the period: only the category, micro-grid, month and whether it
    was met are read (never the text, the person or the photo)."""
    rows = (await s.execute(select(Wish.category, Wish.grid_id, Wish.created_at, Wish.status)
                            .where(Wish.community_id == c.id, Wish.created_at >= start,
                                   Wish.created_at < end))).all()
    out: dict[tuple[str, int | None, str, str], Need] = {}
    for category, grid_id, created, status in rows:
        key = (WISH + (category or "other"), grid_id, _month(created, c.timezone), "wish")
        need = out.setdefault(key, Need(*key))
        need.total += 1
        need.unmet += status not in WISH_MET
    return list(out.values())


SOURCES: list[Source] = [from_requests, from_wishes]


async def collect(s: AsyncSession, c: Community, start: datetime, end: datetime) -> list[Need]:
    needs: list[Need] = []
    for source in SOURCES:
        needs.extend(await source(s, c, start, end))
    return needs


@dataclass
class Row:
    """A line of the list: a category, its counts, and the micro-grids asking most."""

    category: str
    total: int
    unmet: int
    orders: int
    grids: list[tuple[Any, int]]
    wishes: int = 0


def summarise(needs: list[Need], grids: dict[int, Any]) -> list[Row]:
    by_cat: dict[str, Row] = {}
    per_grid: dict[str, dict[int | None, int]] = {}
    for n in needs:
        row = by_cat.setdefault(n.category, Row(n.category, 0, 0, 0, []))
        row.total += n.total
        row.unmet += n.unmet
        row.orders += n.total if n.source == "order" else 0
        row.wishes += n.total if n.source == "wish" else 0
        per_grid.setdefault(n.category, {}).setdefault(n.grid_id, 0)
        per_grid[n.category][n.grid_id] += n.total
    for cat, row in by_cat.items():
        top = sorted(((g, k) for g, k in per_grid[cat].items() if g in grids), key=lambda x: (-x[1], x[0] or 0))
        row.grids = [(grids[g], k) for g, k in top[:3]]
    return sorted(by_cat.values(), key=lambda r: (-r.unmet, -r.total, r.category))


def top_unmet(rows: list[Row]) -> Row | None:
    """The most frequent unmet need: most unmet, then most asked, then by category code."""
    rows = [r for r in rows if r.unmet > 0]
    return rows[0] if rows else None


class NeedsService:
    def __init__(self, council: DeliberationService, reports: Any = None) -> None:
        self.council = council
        self.db, self.notifier = council.db, council.notifier
        if reports is not None:  # the problem of the month is drafted when the monthly report is due
            reports.on_month.append(self.on_month)

    async def on_month(self, community_id: int, period: Any) -> int:
        async with self.db.read() as s:  # a cheap look first: this runs every quarter hour
            if await s.get(NeedsDraft, (community_id, period.label)) is not None:
                return 0
        return int(await self.monthly(community_id, period.label, period.start, period.end) is not None)

    @staticmethod
    def may_read(actor: Actor) -> bool:
        return actor.community is not None and any(
            policy.has_role(actor.memberships, actor.community.id, role) for role in READERS)

    async def listing(self, actor: Actor, start: datetime, end: datetime, *, offset: int = 0,
                      limit: int = PAGE) -> tuple[list[Row], int]:
        """A page of the needs list for staff, council members and partners of the community."""
        if actor.community is None:
            raise NotAllowed("no_community")
        if not self.may_read(actor):
            raise NotAllowed("needs_readers_only")
        async with self.db.read() as s:
            c = await s.get(Community, actor.community.id)
            assert c is not None
            grids = {g.id: g for g in await grids_of(s, c.id)}
            rows = summarise(await collect(s, c, start, end), grids)
        return rows[offset:offset + limit], len(rows)

    async def monthly(self, community_id: int, label: str, start: datetime, end: datetime) -> Proposal | None:
        """每月一题: the month's most frequent unmet need as a draft proposal, sent to staff with
        the proposal service's buttons (open the vote, edit, withdraw). Once per community and
        month; None when nothing was unmet or it was drafted already."""
        async with self.db.write() as s:
            c = await locked(s, Community, community_id)  # two runs: the second waits
            if c is None or await s.get(NeedsDraft, (community_id, label)) is not None:
                return None
            grids = {g.id: g for g in await grids_of(s, c.id)}
            top = top_unmet(summarise(await collect(s, c, start, end), grids))
            if top is None:
                s.add(NeedsDraft(community_id=c.id, month=label))
                return None
            ctx = dict(row=top, month=label, community=c)
            title = self.notifier.text("needs_proposal", c.locale, part="title", **ctx)[:MAX_TITLE]
            text = self.notifier.text("needs_proposal", c.locale, part="text", **ctx)
            p = Proposal(community_id=c.id, number=await self.council.next_number(s, c.id), proposer_id=0,
                         title=title, text=text, hours=settings_of(c).get("vote_hours", DEFAULT_VOTE_HOURS),
                         quorum_pct=settings_of(c).get("vote_quorum_pct", DEFAULT_QUORUM))
            s.add(p)
            await s.flush()
            s.add(NeedsDraft(community_id=c.id, month=label, proposal_id=p.id, category=top.category))
            audit(s, community_id=c.id, actor_id=None, entity="proposal", entity_id=p.id or 0,
                  action="drafted", to_state="draft", note=f"needs:{label}:{top.category}", public=True)
            v = await self.council.view_of(s, p)
            await self.council.to_staff(s, v, "proposal_draft", draft_buttons(p), key=f"draft:{p.id}",
                                         d=ProposalDraft.of(p), month_problem=label)
        self.notifier.wake()
        return p
