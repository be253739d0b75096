"""Points at partners (积分兑换): partners list items residents can redeem points for; a resident
redeems one and gets a one-time code; a member of that partner confirms the code.

The ledger records both sides: the resident's debit in `points_ledger` (made when the code is
issued, so the balance can never be spent twice) and the partner's side in
`partner_contributions` (kind `points`, when the code is confirmed). A balance never goes below
zero: the check and the debit happen under a lock on the person's row (`FOR UPDATE` on
PostgreSQL; SQLite's write transactions are exclusive). A pending code can be cancelled by the
resident, which refunds it once. A code unused after `CODE_DAYS` expires: the sweep (a scheduler
job) marks it `expired`, refunds it once and tells the resident; a partner can no longer confirm
it. The status lives in the table, so a restart neither loses nor repeats a refund.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import policy
from bot.errors import BadInput, NotAllowed, NotFound, Stale
from bot.services.community import audit
from bot.services.context import Actor, memberships_of
from bot.services.notify import Notifier
from bot.services.partners import contribute
from storage.db import Database, locked
from storage.models import Community, Partner, PartnerItem, PointEntry, Redemption, User, utcnow

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud at a counter
CODE_LENGTH = 6
CODE_DAYS = 7
SWEEP_BATCH = 200
MAX_ITEM = 120
MAX_POINTS = 100_000


@dataclass
class ItemRow:
    item: PartnerItem
    partner: Partner


async def balance(s: AsyncSession, community_id: int, user_id: int) -> int:
    return int((await s.execute(select(func.coalesce(func.sum(PointEntry.delta), 0)).where(
        PointEntry.community_id == community_id, PointEntry.user_id == user_id))).scalar_one())


def parse_item(text: str) -> tuple[int, str, int | None]:
    """`<points> <title> [| stock]` as typed after /item add."""
    points, _, rest = text.strip().partition(" ")
    title, _, stock = rest.partition("|")
    title, stock = title.strip(), stock.strip()
    if not points.isdigit() or not 0 < int(points) <= MAX_POINTS or not title or (stock and not stock.isdigit()):
        raise BadInput("item_usage")
    if len(title) > MAX_ITEM:
        raise BadInput("note_too_long", limit=MAX_ITEM, length=len(title))
    return int(points), title, int(stock) if stock else None


class RewardService:
    def __init__(self, db: Database, notifier: Notifier) -> None:
        self.db = db
        self.notifier = notifier

    async def add_item(self, actor: Actor, points: int, title: str, stock: int | None = None) -> ItemRow:
        """A partner's member lists an item of their partner."""
        if actor.community is None:
            raise NotAllowed("no_community")
        cid = actor.community.id or 0
        async with self.db.write() as s:
            mine = sorted(policy.partner_ids(await memberships_of(s, actor.id, cid), cid))
            if not mine:
                raise NotAllowed("partner_members_only")
            partner = await s.get(Partner, mine[0])
            assert partner is not None
            item = PartnerItem(community_id=cid, partner_id=partner.id or 0, title=title, points=points,
                               stock=stock, created_by=actor.id)
            s.add(item)
            await s.flush()
            audit(s, community_id=cid, actor_id=actor.id, entity="partner_item", entity_id=item.id or 0,
                  action="listed", note=f"{points}: {title}", public=True)
        return ItemRow(item, partner)

    async def items(self, actor: Actor, *, offset: int = 0, limit: int = 5) -> tuple[list[ItemRow], int]:
        """What the actor's community's partners offer for points, a page at a time (anyone of the
        community)."""
        if actor.community is None or not actor.memberships:
            raise NotAllowed("no_community")
        cond = [PartnerItem.community_id == actor.community.id, PartnerItem.active.is_(True),
                or_(PartnerItem.stock.is_(None), PartnerItem.stock > 0)]
        async with self.db.read() as s:
            total = int((await s.execute(select(func.count(PartnerItem.id)).where(*cond))).scalar_one())
            rows = (await s.execute(select(PartnerItem, Partner).join(Partner, Partner.id == PartnerItem.partner_id)
                                    .where(*cond).order_by(PartnerItem.points, PartnerItem.id)
                                    .offset(offset).limit(limit))).all()
        return [ItemRow(i, p) for i, p in rows], total

    async def redeem(self, actor: Actor, item_id: int) -> tuple[Redemption, ItemRow, int]:
        """Debit the item's points and issue a one-time code. Returns it, the item and the new balance."""
        if actor.community is None or not actor.memberships:
            raise NotAllowed("no_community")
        async with self.db.write() as s:
            item = await s.get(PartnerItem, item_id)
            if item is None or item.community_id != actor.community.id or not item.active:
                raise Stale()
            if not policy.roles_in(await memberships_of(s, actor.id, item.community_id), item.community_id):
                raise NotAllowed("no_community")
            await locked(s, User, actor.id)  # one redemption at a time per person: the check holds
            left = await balance(s, item.community_id, actor.id)
            if left < item.points:
                raise BadInput("not_enough_points", balance=left, amount=item.points)
            if item.stock is not None:
                taken = (await s.execute(update(PartnerItem).where(
                    PartnerItem.id == item.id, PartnerItem.stock > 0).values(stock=PartnerItem.stock - 1))).rowcount
                if taken != 1:
                    raise BadInput("item_gone")
            code = await self._new_code(s, item.community_id)
            red = Redemption(community_id=item.community_id, partner_id=item.partner_id, item_id=item.id or 0,
                             user_id=actor.id, points=item.points, code=code,
                             expires_at=utcnow() + timedelta(days=CODE_DAYS))
            s.add(red)
            await s.flush()
            s.add(PointEntry(community_id=item.community_id, user_id=actor.id, delta=-item.points,
                             reason="redeemed_item", ref=f"redemption:{red.id}", note=item.title[:200]))
            audit(s, community_id=item.community_id, actor_id=actor.id, entity="redemption", entity_id=red.id or 0,
                  action="issued", to_state="pending", note=f"{item.id}:{item.points}")
            partner = await s.get(Partner, item.partner_id)
            assert partner is not None
            await s.refresh(item)
            return red, ItemRow(item, partner), left - item.points

    @staticmethod
    async def _new_code(s: AsyncSession, community_id: int) -> str:
        while True:
            code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            if (await s.execute(select(Redemption.id).where(Redemption.community_id == community_id,
                                                            Redemption.code == code))).first() is None:
                return code

    async def confirm(self, actor: Actor, code: str) -> tuple[Redemption, ItemRow, User]:
        """A member of the partner confirms a code shown by a resident: once, not after it expired,
        never for another partner's or another community's code."""
        if actor.community is None:
            raise NotAllowed("no_community")
        code = code.strip().upper()
        async with self.db.write() as s:
            red = (await s.execute(select(Redemption).where(Redemption.community_id == actor.community.id,
                                                            Redemption.code == code))).scalars().first()
            if red is None:
                raise NotFound("code_not_found", given=code)
            if not policy.is_partner_member(await memberships_of(s, actor.id, red.community_id),
                                            red.community_id, red.partner_id):
                raise NotAllowed("code_other_partner")
            if red.status == "expired":
                raise BadInput("code_expired")
            if red.status != "pending":
                raise Stale("code_used")
            if red.expires_at.replace(tzinfo=None) < utcnow().replace(tzinfo=None):
                raise BadInput("code_expired")
            won = (await s.execute(update(Redemption).where(Redemption.id == red.id, Redemption.status == "pending")
                                   .values(status="confirmed", confirmed_by=actor.id, confirmed_at=utcnow()))).rowcount
            if won != 1:
                raise Stale("code_used")
            await contribute(s, red.community_id, red.partner_id, "points", f"redemption:{red.id}", red.points)
            audit(s, community_id=red.community_id, actor_id=actor.id, entity="redemption", entity_id=red.id or 0,
                  action="confirmed", from_state="pending", to_state="confirmed")
            await s.refresh(red)
            item, partner = await s.get(PartnerItem, red.item_id), await s.get(Partner, red.partner_id)
            resident = await s.get(User, red.user_id)
            community = await s.get(Community, red.community_id)
            assert item is not None and partner is not None and resident is not None
            self.notifier.to_user(s, resident, community, "redeem_confirmed", item=item, partner=partner, code=red.code,
                           resident=None)
        self.notifier.wake()
        return red, ItemRow(item, partner), resident

    async def sweep(self, now: datetime | None = None, batch: int = SWEEP_BATCH) -> int:
        """Expire the pending codes past their date: each is refunded to the resident once (the
        conditional UPDATE from `pending` decides it, so two sweeps or a racing confirm cannot
        both win), the item's stock comes back, and the resident is told. Returns how many."""
        now = now or utcnow()
        async with self.db.read() as s:
            due = list((await s.execute(select(Redemption.id).where(
                Redemption.status == "pending", Redemption.expires_at < now)
                .order_by(Redemption.id).limit(batch))).scalars())
        expired = 0
        for red_id in due:  # one unit of work each: a failure leaves the others done
            async with self.db.write() as s:
                won = (await s.execute(update(Redemption).where(Redemption.id == red_id,
                                                                Redemption.status == "pending")
                                       .values(status="expired"))).rowcount
                if won != 1:
                    continue
                red = await s.get(Redemption, red_id)
                assert red is not None
                await s.refresh(red)
                s.add(PointEntry(community_id=red.community_id, user_id=red.user_id, delta=red.points,
                                 reason="redeem_expired", ref=f"redemption:{red.id}:refund"))
                await s.execute(update(PartnerItem).where(PartnerItem.id == red.item_id,
                                                          PartnerItem.stock.is_not(None))
                                .values(stock=PartnerItem.stock + 1))
                audit(s, community_id=red.community_id, actor_id=None, entity="redemption", entity_id=red.id or 0,
                      action="expired", from_state="pending", to_state="expired")
                await s.flush()
                item, partner = await s.get(PartnerItem, red.item_id), await s.get(Partner, red.partner_id)
                resident, community = await s.get(User, red.user_id), await s.get(Community, red.community_id)
                if resident is not None and item is not None and partner is not None:
                    self.notifier.to_user(s, resident, community, "redeem_expired", item=item, partner=partner,
                                   code=red.code, points=red.points,
                                   balance=await balance(s, red.community_id, red.user_id))
                expired += 1
        if expired:
            self.notifier.wake()
        return expired

    async def cancel(self, actor: Actor, redemption_id: int) -> tuple[Redemption, int]:
        """The resident gives a pending code back: refunded once, the item's stock restored."""
        async with self.db.write() as s:
            red = await locked(s, Redemption, redemption_id)
            if red is None or red.user_id != actor.id:
                raise NotAllowed("not_yours")
            won = (await s.execute(update(Redemption).where(Redemption.id == red.id, Redemption.status == "pending")
                                   .values(status="cancelled"))).rowcount
            if won != 1:
                raise Stale("code_used")
            s.add(PointEntry(community_id=red.community_id, user_id=red.user_id, delta=red.points,
                             reason="redeem_refund", ref=f"redemption:{red.id}:refund"))
            await s.execute(update(PartnerItem).where(PartnerItem.id == red.item_id, PartnerItem.stock.is_not(None))
                            .values(stock=PartnerItem.stock + 1))
            audit(s, community_id=red.community_id, actor_id=actor.id, entity="redemption", entity_id=red.id or 0,
                  action="cancelled", from_state="pending", to_state="cancelled")
            await s.flush()
            return red, await balance(s, red.community_id, red.user_id)
