"""Evaluation and reports (一季度一排名, 红黄黑 grid ratings, transparency figures).

Figures of a period (all times are UTC in the database; periods are calendar weeks, months and
quarters in the community's time zone):

- filed: requests created in the period; breaches: deadline breaches (a timer that reached
  staff) counted on those requests;
- median time to triage: first triage of requests triaged in the period (triaged_at - created_at);
- median time to resolve: requests done ("fixed") in the period (done_at - created_at);
- average rating: the 1–5 stars of sign-offs made in the period;
- reopen rate: sign-offs in the period answered "not fixed" / all sign-offs in the period.

Micro-grid rating (红黄黑). Red (红) is the good grade, as in the practice it comes from; yellow
(黄) needs attention; black (黑) is failing. Thresholds are the community setting `grid_rating`
(merged over `DEFAULT_GRID_RATING`, per level and key):

- black if ANY known figure is worse than its `black` limit: median triage hours >
  black.triage_hours, median resolve hours > black.resolve_hours, average rating <
  black.rating, reopen rate > black.reopen_rate, breach rate (breaches / filed) >
  black.breach_rate;
- red if EVERY known figure is within its `red` limit (<= hours and rates, >= rating);
- yellow otherwise;
- no grade (None) for a grid with no activity at all in the period.
A figure with no data (no sign-off yet, nothing resolved) is left out rather than counted as bad.

Scheduled posts (`run_due`) are idempotent: each is written to the outbox with a key naming the
community and the period (`digest:3:2025-W03`, `report:3:2025-03`, `ranking:3:2025-Q1`), checked
inside the same write transaction (SQLite `BEGIN IMMEDIATE`), so a double run, a second process
or a restart never posts twice, and a due time passed while the bot was down is caught up.
"""
from __future__ import annotations


import csv
import json
import logging
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import policy
from bot.errors import NotAllowed
from bot.privacy import scrub
from bot.services import queries, rates
from bot.services.community import audit, by_category, find_community, grids_of, settings_of
from bot.services.context import Actor
from bot.services.notify import BULK, Notifier
from bot.services.partners import partner_figures
from bot.services.wishes import wish_figures
from storage.db import Database, locked
from storage.models import (OPEN_STATUSES, AuditEvent, ChatBinding, ChatKind, Community, Execution, Membership,
                            Outbox, Outcome, PartnerItem, PointEntry, Proposal, Rating, Redemption, Request, Role,
                            Survey, SurveyPoll, SurveyStatus, User, Vote, Wish, aware, utcnow)

log = logging.getLogger(__name__)

DEFAULT_GRID_RATING: dict[str, dict[str, float]] = {
    "red": {"triage_hours": 24, "resolve_hours": 72, "rating": 4.0, "reopen_rate": 0.10, "breach_rate": 0.10},
    "black": {"triage_hours": 72, "resolve_hours": 240, "rating": 3.0, "reopen_rate": 0.30, "breach_rate": 0.30},
}
GRADES = ("red", "yellow", "black")
POST_HOUR = 9  # local time of the weekly digest, the monthly report and the quarterly ranking
TREND_MONTHS = 6
TOP = 10


def thresholds(community: Community) -> dict[str, dict[str, float]]:
    custom = settings_of(community).get("grid_rating") or {}
    return {level: {**limits, **(custom.get(level) or {})} for level, limits in DEFAULT_GRID_RATING.items()}


# ----------------------------------------------------------------- periods
@dataclass(frozen=True)
class Period:
    kind: str  # week | month | quarter | range
    first: date  # local calendar days, inclusive
    last: date
    tz: str

    @property
    def start(self) -> datetime:
        return _utc(self.first, self.tz)

    @property
    def end(self) -> datetime:
        return _utc(self.last + timedelta(days=1), self.tz)

    @property
    def label(self) -> str:
        """ASCII, for outbox keys and file names."""
        if self.kind == "week":
            y, w, _ = self.first.isocalendar()
            return f"{y}-W{w:02d}"
        if self.kind == "month":
            return f"{self.first:%Y-%m}"
        if self.kind == "quarter":
            return f"{self.first.year}-Q{(self.first.month - 1) // 3 + 1}"
        return f"{self.first:%Y%m%d}-{self.last:%Y%m%d}"

    @property
    def quarter(self) -> int:
        return (self.first.month - 1) // 3 + 1


def _utc(d: date, tz: str) -> datetime:
    return datetime.combine(d, time(), tzinfo=ZoneInfo(tz)).astimezone(timezone.utc)


def _add_months(d: date, n: int) -> date:
    m = d.year * 12 + d.month - 1 + n
    return date(m // 12, m % 12 + 1, 1)


def week(first: date, tz: str) -> Period:
    monday = first - timedelta(days=first.weekday())
    return Period("week", monday, monday + timedelta(days=6), tz)


def month(first: date, tz: str) -> Period:
    start = first.replace(day=1)
    return Period("month", start, _add_months(start, 1) - timedelta(days=1), tz)


def quarter(first: date, tz: str) -> Period:
    start = date(first.year, (first.month - 1) // 3 * 3 + 1, 1)
    return Period("quarter", start, _add_months(start, 3) - timedelta(days=1), tz)


def trend_months(period: Period, n: int = TREND_MONTHS) -> list[Period]:
    """The `n` months up to the one `period` starts in, oldest first."""
    return [month(_add_months(period.first, -back), period.tz) for back in range(n - 1, -1, -1)]


def due_periods(community: Community, now: datetime) -> list[Period]:
    """The periods whose post is due at `now`: for each kind, the period before the latest
    posting moment that has passed (Monday / the 1st / the first day of a quarter, 09:00 local)."""
    tz = community.timezone
    local = now.astimezone(ZoneInfo(tz))
    today = local.date()
    at_post = local.time() >= time(POST_HOUR)

    monday = today - timedelta(days=today.weekday())
    if not at_post and today == monday:
        monday -= timedelta(days=7)
    first_of_month = today.replace(day=1)
    if not at_post and today == first_of_month:
        first_of_month = _add_months(first_of_month, -1)
    q_start = quarter(today, tz).first
    if not at_post and today == q_start:
        q_start = _add_months(q_start, -3)
    return [week(monday - timedelta(days=7), tz), month(_add_months(first_of_month, -1), tz),
            quarter(_add_months(q_start, -3), tz)]


# ----------------------------------------------------------------- figures
@dataclass
class Figures:
    """One micro-grid's (or the whole community's) figures for a period."""

    name: str | None = None
    grid_id: int | None = None
    filed: int = 0
    resolved: int = 0
    breaches: int = 0
    triage_h: list[float] = field(default_factory=list)
    resolve_h: list[float] = field(default_factory=list)
    stars: list[int] = field(default_factory=list)
    signoffs: int = 0
    reopened: int = 0
    grade: str | None = None

    @property
    def median_triage(self) -> float | None:
        return round(statistics.median(self.triage_h), 1) if self.triage_h else None

    @property
    def median_resolve(self) -> float | None:
        return round(statistics.median(self.resolve_h), 1) if self.resolve_h else None

    @property
    def rating(self) -> float | None:
        return round(sum(self.stars) / len(self.stars), 2) if self.stars else None

    @property
    def reopen_rate(self) -> float | None:
        return self.reopened / self.signoffs if self.signoffs else None

    @property
    def breach_rate(self) -> float | None:
        return self.breaches / self.filed if self.filed else None

    @property
    def active(self) -> bool:
        return bool(self.filed or self.triage_h or self.resolve_h or self.signoffs)

    def pct(self, value: float | None) -> int | None:
        return None if value is None else round(100 * value)


def grade(f: Figures, limits: dict[str, dict[str, float]]) -> str | None:
    """红黄黑: see the module docstring."""
    if not f.active:
        return None
    # (value, limit key, higher is better)
    checks = [(f.median_triage, "triage_hours", False), (f.median_resolve, "resolve_hours", False),
              (f.rating, "rating", True), (f.reopen_rate, "reopen_rate", False), (f.breach_rate, "breach_rate", False)]
    known = [(v, k, up) for v, k, up in checks if v is not None]

    def within(level: str) -> list[bool]:
        return [(v >= limits[level][k]) if up else (v <= limits[level][k]) for v, k, up in known]

    if not all(within("black")):
        return "black"
    return "red" if all(within("red")) else "yellow"


def _hours(a: datetime, b: datetime) -> float:
    return max((b - a).total_seconds(), 0) / 3600


async def figures(s: AsyncSession, community: Community, start: datetime, end: datetime,
                  ) -> tuple[Figures, list[Figures]]:
    """The community's figures and each micro-grid's (graded), for [start, end)."""
    def within(col):  # noqa: ANN001, ANN202
        return (col >= start) & (col < end)

    reqs = (await s.execute(select(Request).where(
        Request.community_id == community.id,
        within(Request.created_at) | within(Request.triaged_at) | within(Request.done_at)))).scalars().all()
    grids = await grids_of(s, community.id)
    total = Figures()
    per: dict[int | None, Figures] = {g.id: Figures(name=g.name, grid_id=g.id) for g in grids}
    for r in reqs:
        buckets = [total] + ([per[r.grid_id]] if r.grid_id in per else [])
        for f in buckets:
            if start <= r.created_at < end:
                f.filed += 1
                f.breaches += r.breaches
            if r.triaged_at is not None and start <= r.triaged_at < end:
                f.triage_h.append(_hours(r.created_at, r.triaged_at))
            if r.done_at is not None and start <= r.done_at < end:
                f.resolved += 1
                f.resolve_h.append(_hours(r.created_at, r.done_at))
    rows = (await s.execute(select(Rating, Request.grid_id).join(Request, Request.id == Rating.request_id).where(
        Request.community_id == community.id, within(Rating.at)))).all()
    for rating, grid_id in rows:
        for f in [total] + ([per[grid_id]] if grid_id in per else []):
            f.signoffs += 1
            f.reopened += 0 if rating.resolved else 1
            if rating.stars:
                f.stars.append(rating.stars)
    limits = thresholds(community)
    for f in per.values():
        f.grade = grade(f, limits)
    return total, list(per.values())


def ranked(grids: list[Figures]) -> list[Figures]:
    """Best first: grade, then average rating, then median time to resolve, then volume."""
    order = {"red": 0, "yellow": 1, "black": 2, None: 3}
    return sorted(grids, key=lambda f: (order[f.grade], -(f.rating or 0), f.median_resolve or 1e9, -f.filed,
                                        f.name or ""))


@dataclass
class VolunteerFigures:
    user: User
    done: int
    rating: float | None
    points: int = 0


async def volunteer_ranking(s: AsyncSession, community_id: int, start: datetime, end: datetime,
                            limit: int = TOP) -> list[VolunteerFigures]:
    """Volunteers by tasks done in the period (their own "done"), then the average rating of the
    sign-offs of their tasks in the period."""
    vol_ids = select(Membership.user_id).where(Membership.community_id == community_id,
                                               Membership.role == Role.VOLUNTEER)
    done_rows = (await s.execute(select(AuditEvent.actor_id, func.count(func.distinct(AuditEvent.entity_id))).where(
        AuditEvent.community_id == community_id, AuditEvent.entity == "request", AuditEvent.action == "done",
        AuditEvent.at >= start, AuditEvent.at < end, AuditEvent.actor_id.in_(vol_ids))
        .group_by(AuditEvent.actor_id))).all()
    star_rows = (await s.execute(select(Request.assignee_id, func.avg(Rating.stars)).join(
        Request, Request.id == Rating.request_id).where(
        Request.community_id == community_id, Rating.stars.is_not(None), Rating.at >= start, Rating.at < end,
        Request.assignee_id.in_(vol_ids)).group_by(Request.assignee_id))).all()
    done = {uid: int(n) for uid, n in done_rows}
    stars = {uid: round(float(a), 2) for uid, a in star_rows}
    out = []
    for uid in set(done) | set(stars):
        user = await s.get(User, uid)
        if user is not None:
            out.append(VolunteerFigures(user, done.get(uid, 0), stars.get(uid)))
    out.sort(key=lambda v: (-v.done, -(v.rating or 0), v.user.first_name))
    return out[:limit]


async def decisions_passed(db: Database, community_id: int, start: datetime, end: datetime) -> int:
    """Council decisions passed in the period."""
    async with db.read() as s:
        return (await s.execute(select(func.count()).select_from(Proposal).where(
            Proposal.community_id == community_id, Proposal.outcome == Outcome.PASSED,
            Proposal.closed_at >= start, Proposal.closed_at < end))).scalar_one()


@dataclass
class Accountability:
    """Households affected by the requests filed in a period ("me too" included) and the council
    decisions overdue now (#18)."""

    households: int = 0
    metoo: int = 0
    overdue: list[tuple[str, str]] = field(default_factory=list)  # (proposal number, title)


async def accountability(s: AsyncSession, community: Community, start: datetime, end: datetime,
                         now: datetime | None = None) -> Accountability:
    from bot.services.execution import overdue
    from storage.models import MeToo

    filed = select(Request.id).where(Request.community_id == community.id, Request.created_at >= start,
                                     Request.created_at < end)
    n = int((await s.execute(select(func.count()).select_from(filed.subquery()))).scalar_one())
    metoo = int((await s.execute(select(func.count()).select_from(MeToo).join(Request, Request.id == MeToo.request_id)
                                 .where(MeToo.request_id.in_(filed), MeToo.user_id != Request.requester_id)))
                .scalar_one())
    late = [(f"{community.code}-P{p.number:03d}", p.title) for _, p in await overdue(s, community.id, now)]
    return Accountability(n + metoo, metoo, late)


# ----------------------------------------------------------------- the service
@dataclass
class Stats:
    community: Community
    period: Period
    total: Figures
    grids: list[Figures]
    open_now: int
    acc: Accountability | None = None
    rates: rates.View | None = None


class ReportService:
    def __init__(self, db: Database, notifier: Notifier) -> None:
        self.db = db
        self.notifier = notifier
        # Monthly work of other services, run with the monthly report: (community id, period) ->
        # what it made. Each must be idempotent (it runs every quarter hour) and must not raise.
        self.on_month: list[Callable[[int, Period], Awaitable[int]]] = []

    async def stats(self, actor: Actor, now: datetime | None = None) -> Stats:
        """/stats: this month so far, for staff (in private or in the staff group)."""
        if actor.community is None:
            raise NotAllowed("no_community")
        if not policy.may_see_figures(actor.memberships, actor.community.id):
            raise NotAllowed("staff_only")
        if actor.binding is not None and actor.binding.kind != ChatKind.STAFF:
            raise NotAllowed("stats_where")
        now = now or utcnow()
        c = actor.community
        period = month(now.astimezone(ZoneInfo(c.timezone)).date(), c.timezone)
        async with self.db.read() as s:
            total, grids = await figures(s, c, period.start, min(now, period.end))
            open_now = (await s.execute(select(func.count()).select_from(Request).where(
                Request.community_id == c.id, Request.status.in_(list(OPEN_STATUSES))))).scalar_one()
            acc = await accountability(s, c, period.start, min(now, period.end), now)
            rv = await rates.view(s, c, period.start, period.end, now)
        return Stats(c, period, total, ranked(grids), int(open_now), acc, rv)

    # ------------------------------------------------------------- scheduled posts
    async def run_due(self, now: datetime | None = None) -> int:
        """Post whatever weekly digest, monthly report or quarterly ranking is due; returns how
        many were posted. Safe to run as often as wanted."""
        now = now or utcnow()
        async with self.db.read() as s:
            communities = list((await s.execute(select(Community).order_by(Community.id))).scalars())
        posted = 0
        for c in communities:
            try:
                periods = due_periods(c, now)
            except Exception:  # e.g. a time zone this machine does not know
                log.exception("community %s: cannot tell which reports are due", c.id)
                continue
            for period in periods:
                if period.end <= c.created_at:
                    continue  # the community did not exist yet: nothing to tell
                try:
                    if period.kind == "week":
                        posted += await self.weekly_digest(c.id, period)
                    elif period.kind == "month":
                        posted += await self.monthly_report(c.id, period)
                        for hook in self.on_month:  # e.g. the needs list's problem of the month (it
                            await hook(c.id, period)  # wakes delivery itself; not a report post)
                    else:
                        posted += await self.quarterly_ranking(c.id, period)
                except Exception:  # one community's failure must not stop the others
                    log.exception("%s report for community %s failed", period.kind, c.id)
        if posted:
            self.notifier.wake()
        return posted

    @staticmethod
    async def _sent(s: AsyncSession, key: str) -> bool:
        return (await s.execute(select(Outbox.id).where(Outbox.key == key).limit(1))).first() is not None

    async def _pending(self, key: str, community_id: int, kind: ChatKind) -> bool:
        """A cheap look first (a read, no write lock): not posted yet and somewhere to post it.
        The write transaction checks again; this only spares the work every quarter hour."""
        async with self.db.read() as s:
            return not await self._sent(s, key) and bool(await self._groups(s, community_id, kind))

    @staticmethod
    async def _groups(s: AsyncSession, community_id: int, kind: ChatKind) -> list[ChatBinding]:
        return await queries.bindings(s, community_id, kind)

    async def weekly_digest(self, community_id: int, period: Period) -> int:
        """To the community group(s), in each group's language: new, resolved, median time,
        satisfaction and council decisions of the week. 1 if posted now, 0 if already posted
        (or no community group is bound)."""
        key = f"digest:{community_id}:{period.label}"
        if not await self._pending(key, community_id, ChatKind.COMMUNITY):
            return 0
        passed = await decisions_passed(self.db, community_id, period.start, period.end)
        async with self.db.write() as s:
            c = await locked(s, Community, community_id)  # two runs at once: the second waits, then sees the post
            groups = await self._groups(s, community_id, ChatKind.COMMUNITY)
            if c is None or not groups or await self._sent(s, key):
                return 0
            total, _ = await figures(s, c, period.start, period.end)
            surveys = await self._surveys_closed(s, c.id, period)
            rv = await rates.view(s, c, period.start, period.end, utcnow(), grids=[])
            for g in groups:
                self.notifier.to_chat(s, g, "digest", key=key, priority=BULK, community=c, p=period, f=total,
                               passed=passed, surveys=surveys, rv=rv)
        return 1

    async def _surveys_closed(self, s: AsyncSession, community_id: int, period: Period) -> int:
        return int((await s.execute(select(func.count()).select_from(Survey).where(
            Survey.community_id == community_id, Survey.status == SurveyStatus.CLOSED,
            Survey.closes_at >= period.start, Survey.closes_at < period.end))).scalar_one())

    async def monthly_report(self, community_id: int, period: Period) -> int:
        """To the staff group(s): a chart (requests by category; satisfaction trend) with the
        legend in the caption, then the figures and the grid ratings as text."""
        from bot.services import charts

        key = f"report:{community_id}:{period.label}"
        if not await self._pending(key, community_id, ChatKind.STAFF):
            return 0
        async with self.db.read() as s:
            c = await s.get(Community, community_id)
            if c is None:
                return 0
            categories = await self._categories(s, c, period)
            trend = await self._trend(s, c, period)
            rv = await rates.view(s, c, period.start, period.end, utcnow(), months=trend_months(period))
        png = charts.monthly_chart([n for _, n in categories], [v for _, v in trend], [m for m, _ in trend],
                                   rates_trend=rv.trend)
        async with self.db.write() as s:
            await locked(s, Community, community_id)
            groups = await self._groups(s, community_id, ChatKind.STAFF)
            if not groups or await self._sent(s, key):
                return 0
            total, grids = await figures(s, c, period.start, period.end)
            from bot.services.needs import collect, summarise  # the needs list reads requests too

            needs = summarise(await collect(s, c, period.start, period.end),
                              {g.id: g for g in await grids_of(s, c.id)})
            # The ten partners that contributed most this month (the full list: /partners, the export).
            partners = sorted(((p, t) for p, t, _ in await partner_figures(s, c.id or 0, period.start, period.end)
                               if any(t.values())), key=lambda pt: -sum(pt[1].values()))[:10]
            wishes = await wish_figures(s, c.id, period.start, period.end)
            ctx: dict[str, Any] = dict(community=c, p=period, f=total, grids=ranked(grids), categories=categories,
                                       trend=trend, codes=charts.codes(len(categories)), partners=partners,
                                       wishes=wishes, acc=await accountability(s, c, period.start, period.end),
                                       needs=needs[:3], orders=sum(r.orders for r in needs), rv=rv)
            for g in groups:
                if png is not None:
                    self.notifier.photo_to_chat(s, g, "report_chart", png, key=key, priority=BULK, **ctx)
                self.notifier.to_chat(s, g, "report_month", key=key, priority=BULK, **ctx)
        return 1

    async def _categories(self, s: AsyncSession, c: Community, period: Period) -> list[tuple[str, int]]:
        rows = dict((await s.execute(select(Request.category, func.count()).where(
            Request.community_id == c.id, Request.created_at >= period.start, Request.created_at < period.end)
            .group_by(Request.category))).all())
        return by_category(c, rows)

    async def _trend(self, s: AsyncSession, c: Community, period: Period) -> list[tuple[str, float | None]]:
        """Average stars per month, the last months up to the report's month (oldest first)."""
        out = []
        for m in trend_months(period):
            avg = (await s.execute(select(func.avg(Rating.stars)).join(Request, Request.id == Rating.request_id).where(
                Request.community_id == c.id, Rating.stars.is_not(None), Rating.at >= m.start,
                Rating.at < m.end))).scalar_one()
            out.append((m.label, round(float(avg), 2) if avg is not None else None))
        return out

    async def quarterly_ranking(self, community_id: int, period: Period) -> int:
        """To the staff group(s): micro-grids by grade and volunteers by tasks done and rating; the
        street's communities by the three rates, those with council decisions overdue in the
        quarter last (`rates.ranked`); the decisions overdue now, listed."""
        key = f"ranking:{community_id}:{period.label}"
        if not await self._pending(key, community_id, ChatKind.STAFF):
            return 0
        async with self.db.write() as s:
            c = await locked(s, Community, community_id)
            groups = await self._groups(s, community_id, ChatKind.STAFF)
            if c is None or not groups or await self._sent(s, key):
                return 0
            _, grids = await figures(s, c, period.start, period.end)
            volunteers = await volunteer_ranking(s, c.id, period.start, period.end)
            rv = await rates.view(s, c, period.start, period.end, utcnow())
            rv.grids = rates.ranked(rv.grids)
            acc = await accountability(s, c, period.start, period.end)  # decisions overdue now, listed
            for g in groups:
                self.notifier.to_chat(s, g, "ranking", key=key, priority=BULK, community=c, p=period, grids=ranked(grids),
                               volunteers=volunteers, rv=rv, acc=acc)
        return 1


# ----------------------------------------------------------------- export (operators, CLI)
REQUEST_COLUMNS = ["number", "grid", "category", "status", "reason", "department", "round", "breaches",
                   "created_at", "triaged_at", "done_at", "closed_at", "description"]


RATE_COLUMNS = ["month", "scope", "name", "responded", "response_due", "response_rate", "resolved", "resolution_due",
                "resolution_rate", "satisfied", "rated", "satisfaction_rate", "closed_without_rating"]


async def _rate_rows(s: AsyncSession, c: Community, first: date, last: date) -> list[list[Any]]:
    """The three rates of each month the range touches: the street's (when the community has one
    with other communities), the community's and each micro-grid's."""
    months, m = [], month(first, c.timezone)
    while m.first <= last:
        months.append(m)
        m = month(_add_months(m.first, 1), c.timezone)
    rows: list[list[Any]] = []
    for p in months:
        rv = await rates.view(s, c, p.start, p.end, utcnow())
        scoped = ([("street", rv.street or "", rv.street_rates)] if rv.street_rates is not None else []) + \
            [("community", c.name, rv.rates)] + [("grid", g.name or "", g) for g in rv.grids]
        for scope, name, r in scoped:
            assert r is not None
            rows.append([p.label, scope, name, *r.as_row().values()])
    return rows


WISH_COLUMNS = ["number", "grid", "category", "status", "budget", "public_text", "fulfiller_id", "fulfiller_role",
                "partner_id", "created_at", "approved_at", "claimed_at", "delivered_at", "fulfilled_at"]


def _iso(value: datetime | None) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="seconds") if value else ""


async def export_csv(db: Database, ref: str, first: date, last: date, out_dir: Path, *,
                     include_restricted: bool = False, by: str | None = None) -> dict[str, int]:
    """CSV files for one community and date range (local days, inclusive): requests with their
    timeline, sign-offs, council votes, points and surveys.
    Returns file name -> data rows. Contact notes, locations and photos are never exported;
    people appear by Telegram id only. Restricted free text (answers, reopen and rating comments,
    decline, progress and department notes) is left out, and descriptions are written in their
    public (scrubbed) form, unless `include_restricted`: that export is recorded in the audit
    log (`by`: who asked for it) before anything is written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    if include_restricted:
        async with db.write() as s:
            c = await find_community(s, ref)
            audit(s, community_id=c.id, actor_id=None, entity="export", entity_id=c.id or 0,
                  action="export_restricted", note=f"{first}..{last} {out_dir} by {by or 'unknown'}")
    written: dict[str, int] = {}

    def write(name: str, header: list[str], rows: list[list[Any]]) -> None:
        path = out_dir / f"{name}.csv"
        with path.open("w", newline="", encoding="utf-8-sig") as fh:  # BOM: spreadsheet apps read UTF-8
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)
        written[path.name] = len(rows)

    async with db.read() as s:
        c = await find_community(s, ref)
        span = Period("range", first, last, c.timezone)
        start, end = span.start, span.end
        grids = {g.id: g.name for g in await grids_of(s, c.id)}
        reqs = (await s.execute(select(Request).where(Request.community_id == c.id, Request.created_at >= start,
                                                      Request.created_at < end).order_by(Request.number))).scalars().all()
        numbers = {r.id: f"{c.code}-{r.number:04d}" for r in reqs}
        write("requests", REQUEST_COLUMNS, [
            [numbers[r.id], grids.get(r.grid_id, ""), r.category or "", r.status, r.reason or "", r.department or "",
             r.round, r.breaches, _iso(r.created_at), _iso(r.triaged_at), _iso(r.done_at), _iso(r.closed_at),
             r.description if include_restricted else scrub(r.description)[0]] for r in reqs])
        events = (await s.execute(select(AuditEvent).where(
            AuditEvent.entity == "request", AuditEvent.entity_id.in_(list(numbers) or [-1]))
            .order_by(AuditEvent.entity_id, AuditEvent.id))).scalars().all()
        write("timeline", ["number", "at", "action", "from_state", "to_state", "actor_id", "note"], [
            [numbers[e.entity_id], _iso(e.at), e.action, e.from_state or "", e.to_state or "", e.actor_id or "",
             (e.note or "") if include_restricted or e.audience == "public" else ""] for e in events])
        ratings = (await s.execute(select(Rating, Request).join(Request, Request.id == Rating.request_id).where(
            Request.community_id == c.id, Rating.at >= start, Rating.at < end).order_by(Rating.at))).all()
        write("ratings", ["number", "round", "resolved", "stars", "comment", "at"], [
            [f"{c.code}-{r.number:04d}", g.round, int(g.resolved), g.stars or "",
             (g.comment or "") if include_restricted else "", _iso(g.at)]
            for g, r in ratings])
        points = (await s.execute(select(PointEntry).where(PointEntry.community_id == c.id, PointEntry.at >= start,
                                                           PointEntry.at < end).order_by(PointEntry.id))).scalars().all()
        write("points", ["user_id", "delta", "reason", "ref", "note", "at"], [
            [p.user_id, p.delta, p.reason, p.ref, p.note or "", _iso(p.at)] for p in points])
        surveys = (await s.execute(select(Survey).where(Survey.community_id == c.id, Survey.created_at >= start,
                                                        Survey.created_at < end).order_by(Survey.id))).scalars().all()
        survey_rows = []
        for sv in surveys:
            polls = (await s.execute(select(SurveyPoll).where(SurveyPoll.survey_id == sv.id))).scalars().all()
            totals = [sum(x) for x in zip(*[p.totals for p in polls])] if polls else []
            survey_rows.append([sv.id, sv.question, " | ".join(sv.options) or "(satisfaction scale)", sv.status,
                                _iso(sv.created_at), _iso(sv.closes_at), " | ".join(map(str, totals)), sum(totals)])
        write("surveys", ["id", "question", "options", "status", "created_at", "closes_at", "totals", "total"],
              survey_rows)
        # The services list (点单): services with their slots' seats, and orders (no notes, no people).
        from bot.services.needs import collect
        from storage.models import Service, ServiceOrder, ServiceSlot

        services = (await s.execute(select(Service).where(Service.community_id == c.id)
                                    .order_by(Service.id))).scalars().all()
        seats = {sid: (cap, taken) for sid, cap, taken in (await s.execute(
            select(ServiceSlot.service_id, func.sum(ServiceSlot.capacity), func.sum(ServiceSlot.taken))
            .where(ServiceSlot.service_id.in_([x.id for x in services] or [-1]))
            .group_by(ServiceSlot.service_id))).all()}
        write("services", ["id", "name", "names", "category", "provider", "languages", "grid", "active", "capacity",
                           "taken"], [
            [f"S{x.id}", x.name, json.dumps(x.names or {}, ensure_ascii=False), x.category, x.provider_kind,
             " ".join(x.languages), grids.get(x.grid_id, ""), int(x.active), *seats.get(x.id, (0, 0))]
            for x in services])
        orders = (await s.execute(select(ServiceOrder, ServiceSlot, Request)
                                  .join(ServiceSlot, ServiceSlot.id == ServiceOrder.slot_id)
                                  .join(Request, Request.id == ServiceOrder.request_id)
                                  .where(Request.community_id == c.id, Request.created_at >= start,
                                         Request.created_at < end).order_by(Request.number))).all()
        write("orders", ["number", "service", "slot_starts_at", "status", "seat_held", "assignee_id", "ordered_at",
                         "done_at", "closed_at"], [
            [f"{c.code}-{r.number:04d}", f"S{o.service_id}", _iso(sl.starts_at), r.status, int(o.held),
             r.assignee_id or "", _iso(o.created_at), _iso(r.done_at), _iso(r.closed_at)] for o, sl, r in orders])
        needs = sorted(await collect(s, c, start, end), key=lambda n: (n.month, n.category, n.grid_id or 0, n.source))
        write("needs", ["month", "category", "grid", "source", "total", "unmet"], [
            [n.month, n.category, grids.get(n.grid_id, ""), n.source, n.total, n.unmet] for n in needs])
        write("rates", RATE_COLUMNS, await _rate_rows(s, c, first, last))
        # Partner organisations (共建单位): their contribution in the range, and redemptions of
        # points at them (no codes: a pending one could still be used).
        write("partners", ["partner_id", "name", "kind", "members", "hours", "services_delivered", "wishes_fulfilled",
                           "points_redeemed"], [
            [p.id, p.name, p.kind, members, t.get("hours", 0), t.get("service", 0), t.get("wish", 0),
             t.get("points", 0)] for p, t, members in await partner_figures(s, c.id or 0, start, end)])
        reds = (await s.execute(select(Redemption, PartnerItem).join(PartnerItem, PartnerItem.id == Redemption.item_id)
                                .where(Redemption.community_id == c.id, Redemption.created_at >= start,
                                       Redemption.created_at < end).order_by(Redemption.id))).all()
        write("redemptions", ["id", "partner_id", "item", "user_id", "points", "status", "created_at", "confirmed_at",
                              "confirmed_by"], [
            [r.id, r.partner_id, i.title, r.user_id, r.points, r.status, _iso(r.created_at), _iso(r.confirmed_at),
             r.confirmed_by or ""] for r, i in reds])
        wishes = (await s.execute(select(Wish).where(Wish.community_id == c.id, Wish.created_at >= start,
                                                     Wish.created_at < end).order_by(Wish.number))).scalars().all()
        # The board's screened text only: never the wisher's own words, name, contact or photo.
        write("wishes", WISH_COLUMNS, [
            [f"{c.code}-W{w.number:03d}", grids.get(w.grid_id, ""), w.category, w.status, w.budget,
             w.public_text if w.approved_at else "", w.fulfiller_id or "", w.fulfiller_role or "", w.partner_id or "",
             _iso(w.created_at), _iso(w.approved_at), _iso(w.claimed_at), _iso(w.delivered_at),
             _iso(w.fulfilled_at)] for w in wishes])
    write("votes", ["proposal", "title", "status", "outcome", "secret", "eligible", "closed_at", "user_id",
                    "option", "totals"], await _export_votes(db, c.id, start, end))
    write("decisions", ["proposal", "title", "owner_id", "due_at", "progress", "done_at", "overdue"],
          await _export_decisions(db, c, start, end))
    return written


async def _export_decisions(db: Database, c: Community, start: datetime, end: datetime) -> list[list[Any]]:
    """Decisions carried out (决议落实) followed during the range: passed before its end and not
    done before its start. `overdue` is 1 when the due date passed (before the end of the range,
    or now) with the decision not carried out by then, and not done late before the range began:
    the rule of `execution.overdue_counts`, which the ranking counts."""
    until = min(end, utcnow())
    async with db.read() as s:
        rows = (await s.execute(select(Execution, Proposal).join(Proposal, Proposal.id == Execution.proposal_id).where(
            Execution.community_id == c.id, Execution.created_at < end,
            (Execution.done_at.is_(None)) | (Execution.done_at >= start)).order_by(Proposal.number))).all()
    out = []
    for e, p in rows:
        due, done = (aware(t) if t else None for t in (e.due_at, e.done_at))
        late = due is not None and due < until and (done is None or (done > due and done > start))
        out.append([f"{c.code}-P{p.number:03d}", p.title, e.owner_id or "", _iso(due), e.progress, _iso(done),
                    int(late)])
    return out


async def _export_votes(db: Database, community_id: int, start: datetime, end: datetime) -> list[list[Any]]:
    """Proposals closed in the range; for open (named) ballots one row per vote, for secret
    ballots one row without a voter. Every row carries the per-option totals of the minutes
    (counts only: a secret ballot's totals say nothing about any voter)."""
    rows: list[list[Any]] = []
    async with db.read() as s:
        props = (await s.execute(select(Proposal).where(
            Proposal.community_id == community_id, Proposal.closed_at >= start, Proposal.closed_at < end)
            .order_by(Proposal.number))).scalars().all()
        for p in props:
            head = [p.number, p.title, p.status, p.outcome or "", int(p.secret), p.eligible, _iso(p.closed_at)]
            totals = " | ".join(map(str, (p.minutes or {}).get("counts") or []))
            if p.secret:
                rows.append(head + ["", "", totals])
                continue
            for vote in (await s.execute(select(Vote).where(Vote.proposal_id == p.id).order_by(Vote.id))).scalars():
                rows.append(head + [vote.user_id, vote.option, totals])
    return rows
