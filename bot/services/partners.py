"""Partner organisations (共建单位): registering them, their members (role `partner`, scoped to one
partner through `Membership.partner_id`), names in other languages, and the contribution ledger
other modules write to.

Plain Python: no aiogram, no rendering. Every operation checks `bot.policy` inside its unit of
work (tenant first: a role counts only in its own community).
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot import policy
from bot.errors import BadInput, Conflict, NotAllowed, NotFound
from bot.services.community import MAX_NAME, CommunityService, audit
from bot.services.context import Actor
from storage.db import Database
from storage.models import (Community, Contribution, Membership, Partner, PartnerKind, Request, ResourceRoute, Role,
                            User, utcnow)

KINDS = tuple(PartnerKind)
CONTRIBUTION_KINDS = ("hours", "service", "wish", "points")
PARTNER_LINK_HOURS = 7 * 24
MAX_HOURS = 1000  # one record


async def find_partner(s: AsyncSession, community_id: int, ref: str) -> Partner:
    """A partner of that community by id, its name, or its name in any language (case-insensitive)."""
    ref = ref.strip()
    if ref.isdigit():
        found = await s.get(Partner, int(ref))
        if found is not None and found.community_id == community_id:
            return found
    rows = (await s.execute(select(Partner).where(Partner.community_id == community_id)
                            .order_by(Partner.id))).scalars().all()
    low = ref.lower()
    for p in rows:
        if p.name.lower() == low or any(n.lower() == low for n in (p.names or {}).values()):
            return p
    raise NotFound("partner_not_found", name=ref)


async def partners_of_member(s: AsyncSession, user_id: int, community_id: int) -> list[Partner]:
    """The partners this person is a member of, in that community."""
    return list((await s.execute(select(Partner).join(Membership, Membership.partner_id == Partner.id).where(
        Membership.user_id == user_id, Membership.community_id == community_id,
        Membership.role == Role.PARTNER, Partner.community_id == community_id)
        .order_by(Partner.id))).scalars().unique())


async def members_of(s: AsyncSession, partner: Partner) -> list[User]:
    return list((await s.execute(select(User).join(Membership, Membership.user_id == User.id).where(
        Membership.partner_id == partner.id, Membership.community_id == partner.community_id,
        Membership.role == Role.PARTNER).order_by(User.id))).scalars().unique())


async def contribute(s: AsyncSession, community_id: int, partner_id: int, kind: str, ref: str,
                     amount: int = 1) -> bool:
    """Record a partner's contribution once per `ref` (e.g. `wish:42`, `order:7`, `route:3:hours`),
    inside the caller's unit of work. `kind`: hours | service | wish | points. True if recorded.

    The hook for the services menu and micro-wishes: call it where the delivery is confirmed."""
    assert kind in CONTRIBUTION_KINDS, kind
    insert = pg_insert if s.bind.dialect.name == "postgresql" else sqlite_insert
    result = await s.execute(insert(Contribution).values(
        community_id=community_id, partner_id=partner_id, kind=kind, amount=amount, ref=ref[:64], at=utcnow(),
    ).on_conflict_do_nothing(index_elements=["ref"]))
    return result.rowcount == 1


DELIVERED = ("done", "closed", "closed_unrated")  # a routed request the partner carried to done


async def contribution_totals(s: AsyncSession, community_id: int, since: datetime | None = None,
                              until: datetime | None = None) -> dict[int, dict[str, int]]:
    """Per partner, what it contributed in [since, until): the contribution ledger (hours, wishes,
    points redeemed with it, services recorded by the services menu) plus the requests routed to
    its resources that it took on and carried to done (counted as services delivered)."""
    out: dict[int, dict[str, int]] = {}
    cond = [Contribution.community_id == community_id]
    if since is not None:
        cond.append(Contribution.at >= since)
    if until is not None:
        cond.append(Contribution.at < until)
    for pid, kind, n in (await s.execute(select(Contribution.partner_id, Contribution.kind,
                                                func.sum(Contribution.amount)).where(*cond)
                                         .group_by(Contribution.partner_id, Contribution.kind))).all():
        out.setdefault(pid, {})[kind] = out.get(pid, {}).get(kind, 0) + int(n or 0)
    rcond = [ResourceRoute.community_id == community_id, ResourceRoute.status == "accepted",
             Request.status.in_(DELIVERED)]
    if since is not None:
        rcond.append(Request.done_at >= since)
    if until is not None:
        rcond.append(Request.done_at < until)
    for pid, n in (await s.execute(select(ResourceRoute.partner_id, func.count(ResourceRoute.id))
                                   .join(Request, Request.id == ResourceRoute.request_id).where(*rcond)
                                   .group_by(ResourceRoute.partner_id))).all():
        out.setdefault(pid, {})["service"] = out.get(pid, {}).get("service", 0) + int(n or 0)
    return out


async def partner_figures(s: AsyncSession, community_id: int, since: datetime | None = None,
                          until: datetime | None = None) -> list[tuple[Partner, dict[str, int], int]]:
    """Every partner of the community with its contribution in the period and its member count
    (for the monthly report and the export)."""
    totals = await contribution_totals(s, community_id, since, until)
    partners = (await s.execute(select(Partner).where(Partner.community_id == community_id)
                                .order_by(Partner.id))).scalars().all()
    members = dict((await s.execute(select(Membership.partner_id, func.count(Membership.id)).where(
        Membership.community_id == community_id, Membership.role == Role.PARTNER)
        .group_by(Membership.partner_id))).all())
    return [(p, totals.get(p.id or 0, {}), int(members.get(p.id, 0))) for p in partners]


@dataclass
class PartnerRow:
    partner: Partner
    members: int
    contributions: dict[str, int]  # kind -> sum


class PartnerService:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def _staff(actor: Actor) -> Community:
        if actor.community is None or not policy.is_staff(actor.memberships, actor.community.id):
            raise NotAllowed("staff_only")
        return actor.community

    async def register(self, actor: Actor, kind: str, name: str) -> Partner:
        """Staff register a partner of their community (kind: company, institution, social, merchant)."""
        community = self._staff(actor)
        kind, name = kind.strip().lower(), " ".join(name.split())
        if kind not in KINDS:
            raise BadInput("partner_kind", kinds=", ".join(KINDS))
        if not name or len(name) > MAX_NAME:
            raise BadInput("name_too_long", limit=MAX_NAME)
        async with self.db.write() as s:
            exists = (await s.execute(select(Partner.id).where(
                Partner.community_id == community.id, func.lower(Partner.name) == name.lower()))).first()
            if exists:
                raise Conflict("partner_exists", name=name)
            partner = Partner(community_id=community.id or 0, name=name, kind=kind, created_by=actor.id)
            s.add(partner)
            await s.flush()
            audit(s, community_id=community.id, actor_id=actor.id, entity="partner", entity_id=partner.id or 0,
                  action="registered", to_state=kind, note=name, public=True)
        return partner

    async def set_name(self, actor: Actor, ref: str, locale: str, text: str) -> Partner:
        """A partner's name in another language (like `/name grid`)."""
        community = self._staff(actor)
        text = text.strip()
        if not text or len(text) > MAX_NAME:
            raise BadInput("name_too_long", limit=MAX_NAME)
        async with self.db.write() as s:
            partner = await find_partner(s, community.id or 0, ref)
            partner.names = {**(partner.names or {}), locale: text}  # a new dict: JSON columns track assignment
            s.add(partner)
            audit(s, community_id=community.id, actor_id=actor.id, entity="partner", entity_id=partner.id or 0,
                  action="named", note=f"{locale}={text}", public=True)
        return partner

    async def log_hours(self, actor: Actor, ref: str, hours: int) -> Partner:
        """Staff record hours a partner's people gave the community (a volunteer day, a session of
        its professionals): its contribution of kind `hours`, in /partners, the monthly report and
        the export. Each record is its own ledger line (a redelivered update is dropped upstream)."""
        community = self._staff(actor)
        if not 1 <= hours <= MAX_HOURS:
            raise BadInput("partner_hours_usage", limit=MAX_HOURS)
        async with self.db.write() as s:
            partner = await find_partner(s, community.id or 0, ref)
            await contribute(s, community.id or 0, partner.id or 0, "hours", f"hours:{secrets.token_hex(12)}", hours)
            audit(s, community_id=community.id, actor_id=actor.id, entity="partner", entity_id=partner.id or 0,
                  action="hours", note=str(hours), public=True)
        return partner

    async def invite(self, actor: Actor, ref: str, for_user_id: int | None = None) -> tuple[str, Partner]:
        """A one-time link (7 days) that makes its opener a member of that partner; bound to a
        Telegram id when one is given."""
        community = self._staff(actor)
        async with self.db.write() as s:
            partner = await find_partner(s, community.id or 0, ref)
            token = CommunityService._new_invite(s, community.id or 0, Role.PARTNER, None, None, actor.id, uses=1,
                                                 hours=PARTNER_LINK_HOURS, for_user_id=for_user_id,
                                                 partner_id=partner.id)
            audit(s, community_id=community.id, actor_id=actor.id, entity="partner", entity_id=partner.id or 0,
                  action="invited", note=str(for_user_id) if for_user_id else None)
        return token, partner

    async def mine(self, actor: Actor) -> list[Partner]:
        """The partners the acting person is a member of, in their current community."""
        if actor.community is None:
            raise NotAllowed("no_community")
        async with self.db.read() as s:
            return await partners_of_member(s, actor.id, actor.community.id or 0)

    async def get(self, actor: Actor, partner_id: int) -> Partner:
        """A partner of the actor's community (any member of the community may see it)."""
        if actor.community is None:
            raise NotAllowed("no_community")
        async with self.db.read() as s:
            partner = await s.get(Partner, partner_id)
            if partner is None or partner.community_id != actor.community.id:
                raise NotFound("partner_not_found", name=str(partner_id))
            return partner

    async def listing(self, actor: Actor, *, offset: int = 0, limit: int = 10) -> tuple[list[PartnerRow], int]:
        """Staff: the community's partners with member counts and contributions, a page at a time."""
        community = self._staff(actor)
        async with self.db.read() as s:
            total = int((await s.execute(select(func.count(Partner.id)).where(
                Partner.community_id == community.id))).scalar_one())
            partners = list((await s.execute(select(Partner).where(Partner.community_id == community.id)
                                             .order_by(Partner.id).offset(offset).limit(limit))).scalars())
            ids = [p.id for p in partners]
            members: dict[int, int] = dict((await s.execute(select(Membership.partner_id, func.count(Membership.id)).where(
                Membership.partner_id.in_(ids), Membership.role == Role.PARTNER)
                .group_by(Membership.partner_id))).all()) if ids else {}
            sums = await contribution_totals(s, community.id or 0)
        return [PartnerRow(p, int(members.get(p.id, 0)), sums.get(p.id or 0, {})) for p in partners], total
