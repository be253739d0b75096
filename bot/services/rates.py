"""The three rates of Beijing's 12345 接诉即办 (响应率、解决率、满意率), computed from the timeline.

Definitions (also in the README, "The three rates"); a period is a calendar month (or any
[start, end)) in the community's time zone:

- **Response rate** = responded / due for a response. A request counts in the period it was
  filed. It is *responded* when a person other than the requester first acted on it (any timeline
  event by someone else: triage, a question, a category, an escalation, a cancellation by staff)
  within the community's response window (`response_hours`, by default its `triage_hours`, 24 h);
  a request filed by a grid leader on a resident's behalf was heard in person and counts as
  responded when filed. It is *due* once it was responded to, or once its window has passed;
  a request cancelled by its requester before anyone responded (and within the window) is not
  counted, nor is one still inside its window without a response.
- **Resolution rate** = resolved / due for resolution. A request is due in the period in which
  its resolution deadline falls: filed + `resolve_hours` (default 168 h, 7 days). *Resolved* means
  the requester confirmed it ("Is it resolved?" → yes), as the request stands when the figure is
  computed: declined, closed without rating, done but not yet confirmed and still open all count
  as not resolved ("closed" is not "fixed"). Cancelled requests and merged duplicates (whose
  residents follow the original) are not counted.
- **Satisfaction rate** = satisfied / rated, over the sign-offs made in the period: a sign-off
  with stars is rated, satisfied at 4 or 5 stars (满意 and 基本满意); a "not resolved" answer
  (the resident reopened) is rated and not satisfied; a "yes, resolved" without stars is not a
  rating. **Closed without rating** (the sign-off was never answered and the request closed
  itself) is counted apart, in the period it closed, and shown beside the rate, never as
  satisfied.

A rate with nothing due is None (shown as "—"), not 0 % and not 100 %. Figures are kept per
micro-grid, per community and per street (the communities whose `street` setting names the same
street office, 街道); a street's rates are the sums of its communities' counts, not an average
of their rates.

The street's ranking of communities puts those with fewer council decisions overdue in the
period first (`ranked`, `bot.services.execution.overdue_counts`), then orders by the rates.

`tally` is plain Python over plain rows (tested against a hand-computed fixture); `load` reads
the rows of some communities for a span from the database.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEvent, Community, Rating, Request, Status, aware

SATISFIED_STARS = 4
DEFAULT_RESOLVE_HOURS = 168
NOT_COUNTED_FOR_RESOLUTION = frozenset({Status.CANCELLED, Status.DUPLICATE})


def response_hours(settings: dict[str, Any]) -> float:
    return float(settings.get("response_hours") or settings.get("triage_hours") or 24)


def resolve_hours(settings: dict[str, Any]) -> float:
    return float(settings.get("resolve_hours") or DEFAULT_RESOLVE_HOURS)


def street_of(community: Community) -> str | None:
    """The street office (街道) a community belongs to: its `street` setting, if staff set one."""
    value = (community.settings or {}).get("street")
    return str(value).strip() or None if value else None


# ----------------------------------------------------------------- plain rows
@dataclass(frozen=True)
class Case:
    """A request as the rates see it."""

    request_id: int
    community_id: int
    grid_id: int | None
    created_at: datetime
    status: str
    acknowledged_at: datetime | None  # first act by a person other than the requester
    response_hours: float
    resolve_hours: float

    @property
    def response_deadline(self) -> datetime:
        return self.created_at + timedelta(hours=self.response_hours)

    @property
    def resolution_due(self) -> datetime:
        return self.created_at + timedelta(hours=self.resolve_hours)


@dataclass(frozen=True)
class Verdict:
    """A sign-off: stars (or None), and whether the requester said it was resolved."""

    request_id: int
    community_id: int
    grid_id: int | None
    at: datetime
    resolved: bool
    stars: int | None


@dataclass(frozen=True)
class Unrated:
    """A request that closed itself without a rating."""

    request_id: int
    community_id: int
    grid_id: int | None
    at: datetime


@dataclass
class Rates:
    responded: int = 0
    response_due: int = 0
    resolved: int = 0
    resolution_due: int = 0
    satisfied: int = 0
    rated: int = 0
    unrated: int = 0  # closed without rating
    overdue: int = 0  # council decisions overdue in the period (a community's; not a timeline count)
    name: str | None = None
    key: Any = None
    obj: Any = None  # the community or micro-grid, for its name in the reader's language

    @staticmethod
    def _rate(n: int, d: int) -> float | None:
        return n / d if d else None

    @property
    def response_rate(self) -> float | None:
        return self._rate(self.responded, self.response_due)

    @property
    def resolution_rate(self) -> float | None:
        return self._rate(self.resolved, self.resolution_due)

    @property
    def satisfaction_rate(self) -> float | None:
        return self._rate(self.satisfied, self.rated)

    @property
    def empty(self) -> bool:
        return not (self.response_due or self.resolution_due or self.rated or self.unrated)

    def add(self, other: "Rates") -> "Rates":
        for f in ("responded", "response_due", "resolved", "resolution_due", "satisfied", "rated", "unrated"):
            setattr(self, f, getattr(self, f) + getattr(other, f))
        return self

    def as_row(self) -> dict[str, Any]:
        def pct(v: float | None) -> str:
            return "" if v is None else f"{100 * v:.1f}"
        return {"responded": self.responded, "response_due": self.response_due,
                "response_rate": pct(self.response_rate), "resolved": self.resolved,
                "resolution_due": self.resolution_due, "resolution_rate": pct(self.resolution_rate),
                "satisfied": self.satisfied, "rated": self.rated, "satisfaction_rate": pct(self.satisfaction_rate),
                "closed_without_rating": self.unrated}


@dataclass
class Breakdown:
    """The rates of one period: the whole, per community and per micro-grid."""

    total: Rates = field(default_factory=Rates)
    communities: dict[int, Rates] = field(default_factory=dict)
    grids: dict[int | None, Rates] = field(default_factory=dict)


def tally(cases: Iterable[Case], verdicts: Iterable[Verdict], unrated: Iterable[Unrated],
          start: datetime, end: datetime, now: datetime) -> Breakdown:
    """The three rates of [start, end) as known at `now` (see the module docstring)."""
    out = Breakdown()

    def buckets(community_id: int, grid_id: int | None) -> list[Rates]:
        return [out.total, out.communities.setdefault(community_id, Rates(key=community_id)),
                out.grids.setdefault(grid_id, Rates(key=grid_id))]

    for c in cases:
        if start <= c.created_at < end:
            on_time = c.acknowledged_at is not None and c.acknowledged_at <= c.response_deadline
            window_over = now >= c.response_deadline
            withdrawn = c.status == Status.CANCELLED and c.acknowledged_at is None
            if c.acknowledged_at is not None or (window_over and not withdrawn):
                for r in buckets(c.community_id, c.grid_id):
                    r.response_due += 1
                    r.responded += on_time
        if start <= c.resolution_due < end and c.resolution_due <= now \
                and c.status not in NOT_COUNTED_FOR_RESOLUTION:
            for r in buckets(c.community_id, c.grid_id):
                r.resolution_due += 1
                r.resolved += c.status == Status.CLOSED
    for v in verdicts:
        if not start <= v.at < end:
            continue
        if v.resolved and v.stars is None:
            continue  # "yes" without stars: no rating
        for r in buckets(v.community_id, v.grid_id):
            r.rated += 1
            r.satisfied += bool(v.resolved and v.stars is not None and v.stars >= SATISFIED_STARS)
    for u in unrated:
        if start <= u.at < end:
            for r in buckets(u.community_id, u.grid_id):
                r.unrated += 1
    return out


# ----------------------------------------------------------------- from the database
@dataclass
class Rows:
    cases: list[Case]
    verdicts: list[Verdict]
    unrated: list[Unrated]

    def tally(self, start: datetime, end: datetime, now: datetime) -> Breakdown:
        return tally(self.cases, self.verdicts, self.unrated, start, end, now)


async def load(s: AsyncSession, communities: list[Community], start: datetime, end: datetime) -> Rows:
    """Everything the rates of [start, end) need, for these communities, in four queries."""
    from bot.services.community import settings_of

    settings = {c.id: settings_of(c) for c in communities}
    ids = list(settings)
    longest = max([resolve_hours(x) for x in settings.values()] or [DEFAULT_RESOLVE_HOURS])
    lo = start - timedelta(hours=longest)
    reqs = (await s.execute(select(Request.id, Request.community_id, Request.grid_id, Request.created_at,
                                   Request.status, Request.filed_by_id).where(
        Request.community_id.in_(ids), Request.created_at >= lo, Request.created_at < end))).all()
    acks = dict((await s.execute(select(AuditEvent.entity_id, func.min(AuditEvent.at)).join(
        Request, Request.id == AuditEvent.entity_id).where(
        AuditEvent.entity == "request", Request.community_id.in_(ids), Request.created_at >= lo,
        Request.created_at < end, AuditEvent.actor_id.is_not(None), AuditEvent.actor_id != 0,
        AuditEvent.actor_id != Request.requester_id, AuditEvent.action != "followed")
        .group_by(AuditEvent.entity_id))).all())
    cases = []
    for rid, cid, gid, created, status, filed_by in reqs:
        created = aware(created)
        ack = created if filed_by is not None else (aware(acks[rid]) if rid in acks else None)
        cases.append(Case(rid, cid, gid, created, status, ack, response_hours(settings[cid]),
                          resolve_hours(settings[cid])))
    verdicts = [Verdict(rid, cid, gid, aware(at), bool(res), stars) for rid, cid, gid, at, res, stars in (
        await s.execute(select(Rating.request_id, Request.community_id, Request.grid_id, Rating.at, Rating.resolved,
                               Rating.stars).join(Request, Request.id == Rating.request_id).where(
            Request.community_id.in_(ids), Rating.at >= start, Rating.at < end))).all()]
    unrated = [Unrated(rid, cid, gid, aware(at)) for rid, cid, gid, at in (
        await s.execute(select(AuditEvent.entity_id, Request.community_id, Request.grid_id, AuditEvent.at).join(
            Request, Request.id == AuditEvent.entity_id).where(
            AuditEvent.entity == "request", AuditEvent.to_state == Status.CLOSED_UNRATED,
            Request.community_id.in_(ids), AuditEvent.at >= start, AuditEvent.at < end))).all()]
    return Rows(cases, verdicts, unrated)


async def monthly(s: AsyncSession, communities: list[Community], months: list[Any], now: datetime,
                  ) -> list[tuple[Any, Breakdown]]:
    """The breakdown of each period in `months` (objects with `start`, `end`), oldest first, from
    one load."""
    if not months:
        return []
    rows = await load(s, communities, months[0].start, months[-1].end)
    return [(m, rows.tally(m.start, m.end, now)) for m in months]


# ----------------------------------------------------------------- what reports and pages show
@dataclass
class View:
    """The rates of one community for one period, as every surface shows them: its own, per
    micro-grid, its street's (with the street's communities ranked), and a monthly trend."""

    community: Community
    rates: Rates
    grids: list[Rates]  # named, in the community's grid order
    street: str | None = None
    street_rates: Rates | None = None
    street_ranking: list[Rates] = field(default_factory=list)  # named communities, best first
    trend: list[tuple[str, Rates]] = field(default_factory=list)  # (YYYY-MM, rates), oldest first


def ranked(items: list[Rates]) -> list[Rates]:
    """Best first: fewer council decisions overdue in the period first (决议落实 counts in the
    ranking: a community that let a decision pass its due date ranks below every community of the
    street that let fewer do so, whatever its rates), then resolution, then satisfaction, then
    response (unknown counts last), then name. Micro-grids carry no decisions (overdue 0): for
    them this is the rates' order."""
    def key(r: Rates) -> tuple[Any, ...]:
        return (r.overdue,) + tuple(-(v if v is not None else -1) for v in (
            r.resolution_rate, r.satisfaction_rate, r.response_rate)) + (r.name or "",)
    return sorted(items, key=key)


async def street_communities(s: AsyncSession, community: Community) -> list[Community]:
    """The communities of the same street office, this one first; just this one without a street."""
    street = street_of(community)
    if street is None:
        return [community]
    others = [c for c in (await s.execute(select(Community).order_by(Community.id))).scalars()
              if c.id != community.id and street_of(c) == street]
    return [community, *others]


async def view(s: AsyncSession, community: Community, start: datetime, end: datetime, now: datetime, *,
               months: list[Any] | None = None, grids: list[Any] | None = None) -> View:
    """The rates of [start, end) at `now`; `months` (periods with `label`, `start`, `end`) adds a
    trend; `grids` (with `id`, `name`; default: the community's) names the per-grid rows."""
    from bot.services.community import grids_of
    from bot.services.execution import overdue_counts

    members = await street_communities(s, community)
    first = min([start] + [m.start for m in months or []])
    rows = await load(s, members, first, end)
    out = rows.tally(start, end, now)
    late = await overdue_counts(s, [c.id for c in members if c.id is not None], start, end, now)
    own = out.communities.get(community.id) or Rates(key=community.id)
    own.name, own.obj, own.overdue = community.name, community, late.get(community.id or 0, 0)
    named_grids = []
    for g in grids if grids is not None else await grids_of(s, community.id):
        r = out.grids.get(g.id) or Rates(key=g.id)
        r.name, r.obj = g.name, g
        named_grids.append(r)
    result = View(community, own, named_grids)
    if len(members) > 1:
        result.street = street_of(community)
        result.street_rates = out.total
        ranking = []
        for c in members:
            r = out.communities.get(c.id) or Rates(key=c.id)
            r.name, r.obj, r.overdue = c.name, c, late.get(c.id or 0, 0)
            ranking.append(r)
        result.street_ranking = ranked(ranking)
    for m in months or []:
        result.trend.append((m.label, rows.tally(m.start, m.end, now).communities.get(community.id) or Rates()))
    return result
