"""Points (积分): an append-only ledger per person and community.

Awards are called inside the unit of work of the event that earns them, with a `ref` naming that
event once (e.g. `done:42`): the unique constraint makes a redelivered update or a reopened
request unable to pay twice. Rules are community settings.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from bot import policy
from bot.errors import BadInput, NotAllowed, NotFound
from bot.services.community import audit, settings_of
from bot.services.context import Actor
from storage.db import Database, execute, locked
from storage.models import Community, Membership, PointEntry, Role, User, utcnow

DEFAULT_RULES = {"task_done": 10, "five_stars": 5, "vote_cast": 1, "proposal_passed": 3, "request_accepted": 1,
                 "wish_fulfilled": 10}


def rule(community: Community, reason: str) -> int:
    return int({**DEFAULT_RULES, **settings_of(community).get("points", {})}.get(reason, 0))


async def award(s: AsyncSession, community: Community, user_id: int, reason: str, ref: str) -> bool:
    """Credit `user_id` by the community's rule for `reason`, once per `ref`. True if it paid."""
    delta = rule(community, reason)
    if delta == 0:
        return False
    # By statement (`storage.db.execute`): no object of the unit of work refers to a ledger entry.
    return await execute(s, _CREDIT[s.bind.dialect.name], {"community_id": community.id, "user_id": user_id,
                                                           "delta": delta, "reason": reason, "ref": ref,
                                                           "at": utcnow()}) == 1


# Built once per dialect (a statement built per award costs more than it runs).
_CREDIT = {name: insert(PointEntry.__table__).on_conflict_do_nothing(index_elements=["ref"])
           for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))}


@dataclass
class Statement:
    balance: int
    recent: list[PointEntry]


def quarter_start(now: datetime) -> datetime:
    return now.replace(month=(now.month - 1) // 3 * 3 + 1, day=1, hour=0, minute=0, second=0, microsecond=0)


class PointsService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _balance(self, s: AsyncSession, community_id: int, user_id: int) -> int:
        return int((await s.execute(select(func.coalesce(func.sum(PointEntry.delta), 0)).where(
            PointEntry.community_id == community_id, PointEntry.user_id == user_id))).scalar_one())

    async def statement(self, actor: Actor, limit: int = 10) -> Statement:
        if actor.community is None:
            raise NotAllowed("no_community")
        async with self.db.read() as s:
            recent = list((await s.execute(select(PointEntry).where(
                PointEntry.community_id == actor.community.id, PointEntry.user_id == actor.id)
                .order_by(PointEntry.id.desc()).limit(limit))).scalars())
            return Statement(await self._balance(s, actor.community.id, actor.id), recent)

    async def redeem(self, actor: Actor, who: str, amount: int, reason: str) -> tuple[User, int]:
        """Staff redeem points for goods; a balance never goes below zero. Returns the new balance."""
        if actor.community is None or not policy.may_redeem_points(actor.memberships, actor.community.id):
            raise NotAllowed("staff_only")
        reason = reason.strip()
        if amount <= 0 or not reason:
            raise BadInput("redeem_usage")
        ref = who.lstrip("@")
        async with self.db.write() as s:
            q = select(User).join(Membership, Membership.user_id == User.id).where(
                Membership.community_id == actor.community.id)
            q = q.where(User.id == int(ref)) if ref.isdigit() else q.where(func.lower(User.username) == ref.lower())
            user = (await s.execute(q)).scalars().first()
            if user is None:
                raise NotFound("member_not_found", name=who)
            await locked(s, User, user.id)  # two redemptions at once: the second sees the first's
            balance = await self._balance(s, actor.community.id, user.id)
            if amount > balance:
                raise BadInput("not_enough_points", balance=balance, amount=amount)
            entry = PointEntry(community_id=actor.community.id, user_id=user.id, delta=-amount, reason="redeemed",
                               ref=f"redeem:{actor.id}:{utcnow().timestamp()}:{user.id}", note=reason[:200],
                               by_id=actor.id)
            s.add(entry)
            await s.flush()
            audit(s, community_id=actor.community.id, actor_id=actor.id, entity="points", entity_id=entry.id or 0,
                  action="redeemed", note=f"{user.id}:{amount}:{reason[:100]}")
            return user, balance - amount

    async def leaderboard(self, actor: Actor, since: datetime | None = None, limit: int = 10) -> list[tuple[User, int]]:
        """This quarter's top volunteers (redemptions do not lower anyone's rank). Only volunteers
        are listed: they serve in public already, while a resident's points would tell anyone
        who asked for help and how often."""
        if actor.community is None:
            raise NotAllowed("no_community")
        since = since or quarter_start(utcnow())
        async with self.db.read() as s:
            earned = func.sum(PointEntry.delta).label("earned")
            volunteers = select(Membership.user_id).where(Membership.community_id == actor.community.id,
                                                          Membership.role == Role.VOLUNTEER)
            rows = (await s.execute(select(User, earned).join(PointEntry, PointEntry.user_id == User.id).where(
                PointEntry.community_id == actor.community.id, PointEntry.delta > 0, PointEntry.at >= since,
                User.id.in_(volunteers))
                .group_by(User.id).order_by(earned.desc()).limit(limit))).all()
            return [(u, int(n)) for u, n in rows]
