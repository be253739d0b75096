"""What the web pages show (信息公开 and the staff dashboard), as plain values.

The public page holds no personal data by construction: counts (by category and micro-grid), the
three rates, the services menu (names, categories, providers, free seats), council decisions
(with how far each was carried out: percent, due date, overdue, and the responsible person's
*role*, never a name) and conventions, their free text scrubbed (`bot.privacy.scrub`). It never
loads a request's description, contact note, location, photos or anyone's name. The staff
dashboard is for staff of one community (`bot.policy.is_staff`, checked here, inside the read):
its queue shows public fields of requests (number, category, micro-grid, status, dates) and the
scrubbed description, never a contact note; its decisions being carried out name who is
responsible (staff assigned them).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import policy
from bot.errors import NotAllowed, NotFound
from bot.i18n import Named
from bot.privacy import scrub
from bot.services import rates
from bot.services.community import by_category, find_community, grids_of, settings_of
from bot.services.reports import Period, month, trend_months, _add_months
from storage.db import Database
from storage.models import (OPEN_STATUSES, Community, Convention, Execution, Grid, Membership, Partner, Proposal,
                            Request, Role, Service, ServiceSlot, Status, User, aware, utcnow)

DECISIONS = 20  # the latest council decisions shown


# The role a decision's responsible person is shown by on the public page (never a name): the
# first of these they hold in the community.
SHOWN_ROLES = (Role.STAFF, Role.COUNCIL_MEMBER, Role.GRID_LEADER, Role.VOLUNTEER, Role.PARTNER, Role.LIAISON,
               Role.RESIDENT)


@dataclass
class Progress:
    """How far a passed decision has been carried out (决议落实)."""

    percent: int
    due_at: datetime | None
    done_at: datetime | None
    overdue: bool  # past its due date and not done
    owner_role: str | None  # the responsible person's role in the community; None: nobody yet
    updated_at: datetime
    owner_name: str | None = None  # for the staff dashboard only; never on the public page


@dataclass
class Decision:
    number: int
    title: str  # scrubbed
    kind: str
    outcome: str | None
    status: str
    closed_at: datetime | None
    execution: Progress | None = None  # decision execution (决议落实), where recorded


@dataclass
class PublicConvention:
    """A convention as the public page shows it: its title and text scrubbed, with staff's and the
    machine's versions in other languages (scrubbed too) for the reader's language."""

    title: str
    text: str
    adopted_at: datetime
    names: dict[str, str]  # the title in other languages
    text_names: dict[str, str]  # the text machine-translated ("<locale>@mt")


@dataclass
class PublicService:
    """A service on the menu (服务清单), as the public page shows it: no person, no order."""

    name: Named
    category: str
    provider_kind: str
    provider: Named | None  # the partner organisation, for provider_kind == partner
    grid: Named | None  # offered to that micro-grid only
    languages: list[str]
    times: int  # upcoming times with a seat free
    free: int  # seats free at those times


@dataclass
class PublicPage:
    community: Community
    street: str | None
    period: Period  # the last complete month: the monthly report's
    rates: rates.View
    categories: list[tuple[str, int]]  # (category code, requests filed in the period)
    grids: list[tuple[Grid | None, int, int, rates.Rates | None]]  # (micro-grid, filed, resolved, its rates)
    decisions: list[Decision]
    conventions: list[PublicConvention]
    services: list[PublicService] = field(default_factory=list)  # the services menu, if the community has one
    generated_at: datetime = field(default_factory=utcnow)


def _clean(value: str | None) -> str:
    return scrub(value or "")[0]


async def public_page(db: Database, code: str, now: datetime | None = None) -> PublicPage:
    """The figures of the community with this code (or name): the last complete month, a
    six-month trend, decisions and conventions. NotFound if there is no such community."""
    now = now or utcnow()
    async with db.read() as s:
        c = await find_community(s, code)
        today = now.astimezone(ZoneInfo(c.timezone)).date()
        period = month(_add_months(today.replace(day=1), -1), c.timezone)
        rv = await rates.view(s, c, period.start, period.end, now, months=trend_months(period))
        cats = await _categories(s, c, period)
        by_grid = {r.key: r for r in rv.grids}
        grid_rows = [(g, filed, done, by_grid.get(g.id) if g is not None else None)
                     for g, filed, done in await _grid_counts(s, c, period)]
        decisions = await _decisions(s, c, now)
        conventions = [PublicConvention(_clean(v.title), _clean(v.text), v.adopted_at,
                                        {k: _clean(t) for k, t in (v.names or {}).items()},
                                        {k: _clean(t) for k, t in (v.text_names or {}).items()})
                       for v in (await s.execute(select(Convention).where(Convention.community_id == c.id)
                                                 .order_by(Convention.adopted_at))).scalars()]
        services = await _services(s, c, now)
    return PublicPage(c, rates.street_of(c), period, rv, cats, grid_rows, decisions, conventions, services)


async def _services(s: AsyncSession, c: Community, now: datetime) -> list[PublicService]:
    """The active services of the menu with their upcoming free seats (two queries, three with
    partners)."""
    services = list((await s.execute(select(Service).where(Service.community_id == c.id, Service.active.is_(True))
                                     .order_by(Service.category, Service.id))).scalars())
    if not services:
        return []
    seats = {sid: (int(n), int(free or 0)) for sid, n, free in (await s.execute(
        select(ServiceSlot.service_id, func.count(), func.sum(ServiceSlot.capacity - ServiceSlot.taken)).where(
            ServiceSlot.service_id.in_([v.id for v in services]), ServiceSlot.starts_at > now,
            ServiceSlot.taken < ServiceSlot.capacity).group_by(ServiceSlot.service_id))).all()}
    partner_ids = {v.provider_id for v in services if v.provider_id}
    partners = {p.id: Named(p.name, dict(p.names or {})) for p in (await s.execute(
        select(Partner).where(Partner.community_id == c.id, Partner.id.in_(partner_ids)))).scalars()} \
        if partner_ids else {}
    grids = {g.id: Named(g.name, dict(g.names or {})) for g in await grids_of(s, c.id)}
    return [PublicService(Named(v.name, dict(v.names or {})), v.category, str(v.provider_kind),
                          partners.get(v.provider_id) if v.provider_id else None,
                          grids.get(v.grid_id) if v.grid_id else None, list(v.languages or []),
                          *seats.get(v.id, (0, 0))) for v in services]


async def _categories(s: AsyncSession, c: Community, period: Period) -> list[tuple[str, int]]:
    rows = dict((await s.execute(select(Request.category, func.count()).where(
        Request.community_id == c.id, Request.created_at >= period.start, Request.created_at < period.end)
        .group_by(Request.category))).all())
    return by_category(c, rows)


async def _grid_counts(s: AsyncSession, c: Community, period: Period) -> list[tuple[Grid | None, int, int]]:
    rows = (await s.execute(select(Request.grid_id, func.count(),
                                   func.sum(case((Request.status == Status.CLOSED, 1), else_=0))).where(
        Request.community_id == c.id, Request.created_at >= period.start, Request.created_at < period.end)
        .group_by(Request.grid_id))).all()
    counts = {gid: (int(n), int(done or 0)) for gid, n, done in rows}
    out: list[tuple[Grid | None, int, int]] = [(g, *counts.pop(g.id, (0, 0))) for g in await grids_of(s, c.id)]
    if None in counts:
        out.append((None, *counts[None]))
    return out


async def _decisions(s: AsyncSession, c: Community, now: datetime) -> list[Decision]:
    """The latest decisions, each with its execution (progress, due date, overdue, the owner's
    role): three queries, whatever the number of decisions."""
    props = (await s.execute(select(Proposal).where(
        Proposal.community_id == c.id, Proposal.status == "closed", Proposal.outcome.is_not(None)).order_by(
        Proposal.closed_at.desc(), Proposal.number.desc()).limit(DECISIONS))).scalars().all()
    execs = {e.proposal_id: e for e in (await s.execute(select(Execution).where(
        Execution.proposal_id.in_([p.id for p in props])))).scalars()} if props else {}
    roles = await _owner_roles(s, c.id or 0, [e.owner_id for e in execs.values() if e.owner_id])
    return [Decision(p.number, _clean(p.title), p.kind, p.outcome, p.status, p.closed_at,
                     _progress(execs[p.id], roles, now) if p.id in execs else None) for p in props]


async def _owner_roles(s: AsyncSession, community_id: int, user_ids: list[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    held: dict[int, set[str]] = {}
    for uid, role in (await s.execute(select(Membership.user_id, Membership.role).where(
            Membership.community_id == community_id, Membership.user_id.in_(user_ids)))).all():
        held.setdefault(uid, set()).add(str(role))
    return {uid: next((r.value for r in SHOWN_ROLES if r.value in mine), Role.RESIDENT.value)
            for uid, mine in held.items()}


def _progress(e: Execution, roles: dict[int, str], now: datetime, owner_name: str | None = None) -> Progress:
    due = aware(e.due_at) if e.due_at else None
    return Progress(e.progress, due, aware(e.done_at) if e.done_at else None,
                    bool(due is not None and e.done_at is None and due < now),
                    (roles.get(e.owner_id, Role.RESIDENT.value) if e.owner_id else None),
                    aware(e.updated_at), owner_name)


async def open_executions(s: AsyncSession, c: Community, now: datetime) -> list[Decision]:
    """Passed decisions not carried out yet (the staff dashboard): overdue first, then by due date
    (none set last), with the owner's name (staff of that community only read this)."""
    rows = (await s.execute(select(Execution, Proposal).join(Proposal, Proposal.id == Execution.proposal_id).where(
        Execution.community_id == c.id, Execution.done_at.is_(None)))).all()
    owners = [e.owner_id for e, _ in rows if e.owner_id]
    roles = await _owner_roles(s, c.id or 0, owners)
    names = dict((await s.execute(select(User.id, User.first_name).where(User.id.in_(owners)))).all()) \
        if owners else {}
    out = [Decision(p.number, _clean(p.title), p.kind, p.outcome, p.status, p.closed_at,
                    _progress(e, roles, now, names.get(e.owner_id) if e.owner_id else None)) for e, p in rows]
    far = datetime.max.replace(tzinfo=now.tzinfo)
    out.sort(key=lambda d: (not d.execution.overdue, d.execution.due_at or far, d.number))  # type: ignore[union-attr]
    return out


# ----------------------------------------------------------------- the staff dashboard
QUEUES = ("open", "overdue", "waiting", "escalated")
WAITING = frozenset({Status.WAITING_INFO, Status.DONE})  # a question, or "is it resolved?"
ESCALATED = frozenset({Status.ESCALATED, Status.DEPT_ACCEPTED})
QUEUE_LIMIT = 50


@dataclass
class QueueItem:
    number: str  # JMS-0042
    category: str | None
    grid: Grid | None
    status: str
    created_at: datetime
    due_at: datetime | None
    overdue: bool
    summary: str  # the description, scrubbed and shortened


@dataclass
class Dashboard:
    community: Community
    communities: list[Community]  # every community this person is staff of
    period: Period  # this month so far
    rates: rates.View
    queues: dict[str, list[QueueItem]]
    counts: dict[str, int]
    executions: list[Decision] = field(default_factory=list)  # decisions being carried out, overdue first
    exports: list[str] = field(default_factory=lambda: ["requests", "timeline", "ratings", "rates", "votes"])


async def staff_communities(db: Database, user_id: int) -> list[Community]:
    async with db.read() as s:
        ms = list((await s.execute(select(Membership).where(Membership.user_id == user_id))).scalars())
        ids = sorted({m.community_id for m in ms if policy.is_staff(ms, m.community_id)})
        return [c for c in [await s.get(Community, i) for i in ids] if c is not None]


async def dashboard(db: Database, user_id: int, community_id: int | None = None,
                    now: datetime | None = None) -> Dashboard:
    """The queue and the rates of one community, for one of its staff. NotAllowed for anyone
    else (staff of another community included); without `community_id`, the first community
    the person is staff of."""
    now = now or utcnow()
    mine = await staff_communities(db, user_id)
    if community_id is None and mine:
        community_id = mine[0].id
    async with db.read() as s:
        ms = list((await s.execute(select(Membership).where(Membership.user_id == user_id))).scalars())
        if community_id is None or not policy.is_staff(ms, community_id):  # the final check, tenant first
            raise NotAllowed("staff_only")
        c = await s.get(Community, community_id)
        if c is None:
            raise NotFound("community_not_found", ref=str(community_id))
        period = month(now.astimezone(ZoneInfo(c.timezone)).date(), c.timezone)
        rv = await rates.view(s, c, period.start, period.end, now)
        grids = {g.id: g for g in await grids_of(s, c.id)}
        resolve_h = rates.resolve_hours(settings_of(c))
        reqs = (await s.execute(select(Request).where(
            Request.community_id == c.id, Request.status.in_(list(OPEN_STATUSES | WAITING)))
            .order_by(Request.created_at))).scalars().all()
        queues: dict[str, list[QueueItem]] = {q: [] for q in QUEUES}
        for r in reqs:
            created = aware(r.created_at)
            due = aware(r.dept_due_at) if r.dept_due_at else created + timedelta(hours=resolve_h)
            item = QueueItem(f"{c.code}-{r.number:04d}", r.category, grids.get(r.grid_id), r.status, created, due,
                             due < now and r.status != Status.DONE, _clean(r.description)[:140])
            if r.status in OPEN_STATUSES:
                queues["open"].append(item)
            if item.overdue:
                queues["overdue"].append(item)
            if r.status in WAITING:
                queues["waiting"].append(item)
            if r.status in ESCALATED:
                queues["escalated"].append(item)
        executions = await open_executions(s, c, now)
    counts = {q: len(items) for q, items in queues.items()}
    return Dashboard(c, mine, period, rv, {q: items[:QUEUE_LIMIT] for q, items in queues.items()}, counts,
                     executions=executions)


async def export_files(db: Database, user_id: int, community_id: int, out_dir: Any,
                       now: datetime | None = None) -> dict[str, int]:
    """This month's CSV export for a staff member of that community (the same files as
    `gongzhi export`)."""
    from bot.services.reports import export_csv

    now = now or utcnow()
    async with db.read() as s:
        ms = list((await s.execute(select(Membership).where(Membership.user_id == user_id))).scalars())
        if not policy.is_staff(ms, community_id):
            raise NotAllowed("staff_only")
        c = await s.get(Community, community_id)
        if c is None:
            raise NotFound("community_not_found", ref=str(community_id))
        today = now.astimezone(ZoneInfo(c.timezone)).date()
    return await export_csv(db, c.code, today.replace(day=1), today, out_dir)
