"""Micro-wishes (微心愿): small wishes of residents in difficulty, fulfilled by volunteers and
partner members.

A resident (or a grid leader on behalf of one met door to door) submits a wish; staff screen
it for privacy and approve the public text (scrubbed) or decline it with a reason; the approved
wish goes to the wish board (the volunteer group, else volunteers and partner members privately)
without the wisher's name, contact or photo; the first volunteer or partner member to claim it
gets the delivery details in private, delivers with a photo, and the wisher (or the leader who
filed it) thanks and confirms, which pays the fulfiller's points. Every step is one unit of work:
a conditional state change (two people acting at once cannot both win), an audit event and the
notifications it causes, committed together. Plain Python: no aiogram, no rendering here.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import policy
from bot.errors import BadInput, NotAllowed, Stale
from bot.privacy import PublicWish, Restricted, scrub
from bot.services.buttons import Act, Button, press
from bot.services import points
from bot.services.community import audit, settings_of
from bot.services.context import Actor, memberships_of
from bot.services.notify import INTERACTIVE, Notifier
from bot.services.partners import contribute
from storage.db import Database, locked
from storage.models import (ChatBinding, ChatKind, Community, Grid, Membership, Role, User, Wish, WishStatus,
                            utcnow)

MAX_TITLE = 200
MAX_REASON = 1000
MAX_CONTACT = 500
PARTNER = Role.PARTNER  # a member of a partner unit (共建单位)
OPEN = (WishStatus.SUBMITTED, WishStatus.APPROVED, WishStatus.CLAIMED, WishStatus.DELIVERED)
DEFAULTS: dict[str, Any] = {
    "wish_categories": ["daily", "study", "health", "household", "company", "other"],
    "wish_budget_max": 500,  # yuan: a micro-wish is small
    "wish_pledge": {PARTNER: 2},  # wishes a year each member pledges to fulfil, by role
}


class WishOp:
    """Operations carried in callback data (indexes)."""

    APPROVE, EDIT, REJECT, CLAIM, DELIVER, RELEASE, CONFIRM, VIEW = range(8)


def wish_settings(community: Community) -> dict[str, Any]:
    return {**DEFAULTS, **settings_of(community)}


@dataclass
class WishDraft:
    """What the conversation gathered; validated again here whatever it did."""

    title: str
    reason: str
    budget: int
    category: str = "other"
    photo: str | None = None
    contact_note: str | None = None
    on_behalf_name: str | None = None


@dataclass
class WishView:
    wish: Wish
    community: Community
    grid: Grid | None
    wisher: User | None  # who submitted it (the resident, or the leader on their behalf)
    fulfiller: User | None = None

    @property
    def no(self) -> str:
        return wish_number(self.community, self.wish)

    def ctx(self, **more: Any) -> dict[str, Any]:
        """For the wisher, the filer, staff and the fulfiller (private chats)."""
        return {"w": self.wish, "no": self.no, "grid": self.grid, "community": self.community,
                "wisher": self.wisher, "fulfiller": self.fulfiller,
                "wisher_name": Restricted(self.wish.on_behalf_name or (self.wisher.first_name if self.wisher else "")),
                **more}

    def public_ctx(self, **more: Any) -> dict[str, Any]:
        """What the board (a group, or a claimer-to-be) may read: the screened public text only."""
        return {"w": PublicWish(self.wish), "no": self.no, "grid": self.grid, "community": self.community,
                "wisher": None, "fulfiller": self.fulfiller, "wisher_name": "", **more}


@dataclass
class Pledge:
    """A person's yearly pledge and how much of it is done."""

    year: int
    pledged: int
    fulfilled: int
    holding: int  # claimed or delivered, not yet confirmed


def wish_number(community: Community, wish: Wish) -> str:
    return f"{community.code}-W{wish.number:03d}"


def screen_buttons(wish_id: int) -> list[list[Button]]:
    b = lambda label, op: Button(label, press(Act.WISH, wish_id, op))  # noqa: E731
    return [[b("wish_approve", WishOp.APPROVE), b("wish_edit", WishOp.EDIT)], [b("wish_reject", WishOp.REJECT)]]


def claim_buttons(wish_id: int) -> list[list[Button]]:
    return [[Button("claim", press(Act.WISH, wish_id, WishOp.CLAIM))]]


def fulfiller_buttons(wish_id: int) -> list[list[Button]]:
    b = lambda label, op: Button(label, press(Act.WISH, wish_id, op))  # noqa: E731
    return [[b("wish_deliver", WishOp.DELIVER)], [b("release", WishOp.RELEASE)]]


def confirm_buttons(wish_id: int) -> list[list[Button]]:
    return [[Button("wish_confirm", press(Act.WISH, wish_id, WishOp.CONFIRM))]]


def _text(value: str | None, limit: int, code: str) -> str:
    value = (value or "").strip()
    if not value:
        raise BadInput(f"{code}_empty")
    if len(value) > limit:
        raise BadInput("note_too_long", limit=limit, length=len(value))
    return value


def _year_start(community: Community, now: datetime) -> datetime:
    local = now.astimezone(ZoneInfo(community.timezone))
    return local.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)


class WishService:
    def __init__(self, db: Database, notifier: Notifier) -> None:
        self.db = db
        self.notifier = notifier

    # ----------------------------------------------------------------- reading
    async def _view(self, s: AsyncSession, wish: Wish) -> WishView:
        community = await s.get(Community, wish.community_id)
        assert community is not None
        grid = await s.get(Grid, wish.grid_id) if wish.grid_id else None
        wisher = await s.get(User, wish.requester_id)
        fulfiller = await s.get(User, wish.fulfiller_id) if wish.fulfiller_id else None
        return WishView(wish, community, grid, wisher, fulfiller)

    async def _load(self, s: AsyncSession, wish_id: int) -> Wish:
        wish = await locked(s, Wish, wish_id)
        if wish is None:
            raise Stale()
        return wish

    async def _ms(self, s: AsyncSession, actor: Actor, wish: Wish) -> list[Membership]:
        """Tenant first: the actor's roles in the wish's own community only."""
        return await memberships_of(s, actor.id, wish.community_id)

    async def board(self, actor: Actor, *, offset: int = 0, limit: int = 5) -> tuple[list[WishView], int]:
        """Approved wishes open to claim, as the board shows them (public text only)."""
        if actor.community is None:
            raise NotAllowed("no_community")
        if not policy.may_see_wish_board(actor.memberships, actor.community.id):
            raise NotAllowed("wish_claimers_only")
        cond = [Wish.community_id == actor.community.id, Wish.status == WishStatus.APPROVED]
        async with self.db.read() as s:
            total = (await s.execute(select(func.count()).select_from(Wish).where(*cond))).scalar_one()
            rows = (await s.execute(select(Wish).where(*cond).order_by(Wish.id).offset(offset).limit(limit))).scalars()
            return [await self._view(s, w) for w in rows], int(total)

    async def mine(self, actor: Actor, *, limit: int = 10) -> tuple[list[WishView], list[WishView], Pledge | None]:
        """The actor's own wishes (submitted by them or for others), the wishes they are fulfilling
        or fulfilled, and their yearly pledge if their role carries one."""
        if actor.community is None:
            raise NotAllowed("no_community")
        cid = actor.community.id
        async with self.db.read() as s:
            own = (await s.execute(select(Wish).where(Wish.community_id == cid, Wish.requester_id == actor.id)
                                   .order_by(Wish.id.desc()).limit(limit))).scalars().all()
            doing = (await s.execute(select(Wish).where(Wish.community_id == cid, Wish.fulfiller_id == actor.id)
                                     .order_by(Wish.id.desc()).limit(limit))).scalars().all()
            pledge = await self._pledge(s, actor.community, actor.id, actor.memberships)
            return ([await self._view(s, w) for w in own], [await self._view(s, w) for w in doing], pledge)

    async def _pledge(self, s: AsyncSession, community: Community, user_id: int,
                      memberships: list[Membership]) -> Pledge | None:
        by_role = wish_settings(community)["wish_pledge"] or {}
        pledged = max([int(by_role.get(m.role, 0)) for m in policy.roles_in(memberships, community.id)] or [0])
        now = utcnow()
        start = _year_start(community, now)
        fulfilled = (await s.execute(select(func.count()).select_from(Wish).where(
            Wish.community_id == community.id, Wish.fulfiller_id == user_id, Wish.status == WishStatus.FULFILLED,
            Wish.fulfilled_at >= start))).scalar_one()
        holding = (await s.execute(select(func.count()).select_from(Wish).where(
            Wish.community_id == community.id, Wish.fulfiller_id == user_id,
            Wish.status.in_([WishStatus.CLAIMED, WishStatus.DELIVERED])))).scalar_one()
        if not pledged and not fulfilled and not holding:
            return None
        return Pledge(start.year, pledged, int(fulfilled), int(holding))

    # ----------------------------------------------------------------- submit and screen
    async def submit(self, actor: Actor, draft: WishDraft) -> WishView:
        community = actor.community
        if community is None:
            raise NotAllowed("no_community")
        conf = wish_settings(community)
        title = _text(draft.title, MAX_TITLE, "wish_title")
        reason = _text(draft.reason, MAX_REASON, "wish_reason")
        if draft.category not in conf["wish_categories"]:
            raise BadInput("bad_category")
        if not 0 < draft.budget <= int(conf["wish_budget_max"]):
            raise BadInput("wish_budget", limit=int(conf["wish_budget_max"]))
        contact = (draft.contact_note or "").strip() or None
        if contact and len(contact) > MAX_CONTACT:
            raise BadInput("note_too_long", limit=MAX_CONTACT, length=len(contact))
        name = (draft.on_behalf_name or "").strip() or None
        async with self.db.write() as s:
            ms = await memberships_of(s, actor.id, community.id)
            if name and not policy.may_file_for(ms, community.id):
                raise NotAllowed("leaders_only")
            if not name and not policy.roles_in(ms, community.id):
                raise NotAllowed("no_community")
            # The wish's micro-grid: the leader's (on behalf), else the resident's own.
            grid_id = next((m.grid_id for m in ms if m.grid_id and m.role == (
                Role.GRID_LEADER if name else Role.RESIDENT)), None)
            c = await locked(s, Community, community.id)  # numbers stay unique
            assert c is not None
            number = int((await s.execute(select(func.coalesce(func.max(Wish.number), 0)).where(
                Wish.community_id == c.id))).scalar_one()) + 1
            wish = Wish(community_id=c.id, number=number, grid_id=grid_id, category=draft.category,
                        requester_id=actor.id, filed_by_id=actor.id if name else None, on_behalf_name=name,
                        title=title, reason=reason, budget=draft.budget, photo=draft.photo, contact_note=contact,
                        public_text=scrub(title)[0])
            s.add(wish)
            await s.flush()
            audit(s, community_id=c.id, actor_id=actor.id, entity="wish", entity_id=wish.id or 0,
                  action="submitted", to_state=WishStatus.SUBMITTED)
            v = await self._view(s, wish)
            for person in await self._members(s, c.id, (Role.STAFF,)):  # screening is private
                self.notifier.to_user(s, person, c, "wish_screen", buttons=screen_buttons(wish.id or 0),
                               key=f"wscreen:{wish.id}", **v.ctx())
        self.notifier.wake()
        return v

    async def check_screen(self, actor: Actor, wish_id: int) -> WishView:
        """The wish, if the actor may screen it now (before asking them to type)."""
        async with self.db.read() as s:
            return await self._view(s, await self._screen_target(s, actor, wish_id))

    async def _screen_target(self, s: AsyncSession, actor: Actor, wish_id: int) -> Wish:
        wish = await self._load(s, wish_id)
        if not policy.may_screen_wish(await self._ms(s, actor, wish), wish):
            raise NotAllowed("staff_only")
        if wish.status != WishStatus.SUBMITTED:
            raise Stale("wish_moved_on", status=wish.status)
        return wish

    async def approve(self, actor: Actor, wish_id: int, public_text: str | None = None) -> WishView:
        """Staff approve the wish with a public text (theirs, else the wisher's words), scrubbed of
        phone, ID and room numbers; the board gets it, the wisher is told."""
        async with self.db.write() as s:
            wish = await self._screen_target(s, actor, wish_id)
            text = _text(public_text, MAX_TITLE, "wish_title") if public_text is not None else wish.title
            now = utcnow()
            wish.public_text, wish.status = scrub(text)[0], WishStatus.APPROVED
            wish.screened_by, wish.approved_at, wish.updated_at = actor.id, now, now
            s.add(wish)
            audit(s, community_id=wish.community_id, actor_id=actor.id, entity="wish", entity_id=wish.id or 0,
                  action="approved", from_state=WishStatus.SUBMITTED, to_state=WishStatus.APPROVED,
                  note=wish.public_text, public=True)
            v = await self._view(s, wish)
            await self._close_screen_cards(s, v, actor)
            self._tell_wisher(s, v, actor, "approved")
            await self._post_board(s, v)
        self.notifier.wake()
        return v

    async def reject(self, actor: Actor, wish_id: int, note: str) -> WishView:
        """Staff decline a wish with a reason the wisher reads."""
        if not (note or "").strip():
            raise BadInput("note_required")
        note = _text(note, MAX_REASON, "note")
        async with self.db.write() as s:
            wish = await self._screen_target(s, actor, wish_id)
            wish.status, wish.reject_note, wish.screened_by, wish.updated_at = (
                WishStatus.REJECTED, note, actor.id, utcnow())
            s.add(wish)
            audit(s, community_id=wish.community_id, actor_id=actor.id, entity="wish", entity_id=wish.id or 0,
                  action="rejected", from_state=WishStatus.SUBMITTED, to_state=WishStatus.REJECTED, note=note)
            v = await self._view(s, wish)
            await self._close_screen_cards(s, v, actor)
            self._tell_wisher(s, v, actor, "rejected", note=Restricted(note))
        self.notifier.wake()
        return v

    # ----------------------------------------------------------------- claim and deliver
    async def claim(self, actor: Actor, wish_id: int) -> tuple[WishView, bool]:
        """First volunteer or partner member wins: a conditional UPDATE whose row count says who
        won. Returns the view and whether it was already theirs (a double tap changes nothing)."""
        async with self.db.write() as s:
            wish = await self._load(s, wish_id)
            ms = await self._ms(s, actor, wish)
            if not policy.may_claim_wish(ms, wish):
                raise NotAllowed("wish_claimers_only")
            if not actor.user.started or actor.user.blocked:
                raise NotAllowed("start_bot_first")  # the delivery details could not reach them
            # A partner member fulfils it for their partner unit (its contribution, their pledge).
            partner_id = min(policy.partner_ids(ms, wish.community_id), default=None)
            role = Role.PARTNER if partner_id is not None else Role.VOLUNTEER
            now = utcnow()
            won = (await s.execute(update(Wish).where(Wish.id == wish_id, Wish.status == WishStatus.APPROVED)
                                   .values(status=WishStatus.CLAIMED, fulfiller_id=actor.id, fulfiller_role=str(role),
                                           partner_id=partner_id, claimed_at=now, updated_at=now))).rowcount == 1
            await s.refresh(wish)
            if not won:
                if wish.fulfiller_id == actor.id and wish.status in (WishStatus.CLAIMED, WishStatus.DELIVERED):
                    return await self._view(s, wish), True
                if wish.status in (WishStatus.CLAIMED, WishStatus.DELIVERED, WishStatus.FULFILLED):
                    raise Stale("wish_taken")
                raise Stale("wish_moved_on", status=wish.status)
            audit(s, community_id=wish.community_id, actor_id=actor.id, entity="wish", entity_id=wish.id or 0,
                  action="claimed", from_state=WishStatus.APPROVED, to_state=WishStatus.CLAIMED,
                  note=actor.user.first_name, public=True)
            v = await self._view(s, wish)
            await self._edit_board(s, v)
            self._brief(s, v)
            self._tell_wisher(s, v, actor, "claimed")
        self.notifier.wake()
        return v, False

    def _brief(self, s: AsyncSession, v: WishView) -> None:
        """The delivery details (name, contact, photo) go to the fulfiller in private only."""
        assert v.fulfiller is not None
        self.notifier.to_user(s, v.fulfiller, v.community, "wish_brief", buttons=fulfiller_buttons(v.wish.id or 0),
                       key=f"wbrief:{v.wish.id}", priority=INTERACTIVE, **v.ctx())
        if v.wish.photo:
            self.notifier.to_user(s, v.fulfiller, v.community, "wish_photo", photo=v.wish.photo, key=f"wbrief:{v.wish.id}",
                           **v.ctx())

    async def check_fulfiller(self, actor: Actor, wish_id: int) -> WishView:
        async with self.db.read() as s:
            wish = await self._load(s, wish_id)
            self._check_fulfiller(actor, wish)
            return await self._view(s, wish)

    @staticmethod
    def _check_fulfiller(actor: Actor, wish: Wish) -> None:
        if wish.fulfiller_id != actor.id:
            raise NotAllowed("wish_not_yours")
        if wish.status != WishStatus.CLAIMED:
            raise Stale("wish_moved_on", status=wish.status)

    async def release(self, actor: Actor, wish_id: int) -> WishView:
        """The fulfiller gives the wish back: it returns to the board for others."""
        async with self.db.write() as s:
            wish = await self._load(s, wish_id)
            self._check_fulfiller(actor, wish)
            wish.status, wish.fulfiller_id, wish.fulfiller_role, wish.claimed_at = WishStatus.APPROVED, None, None, None
            wish.partner_id = None
            wish.updated_at = utcnow()
            s.add(wish)
            audit(s, community_id=wish.community_id, actor_id=actor.id, entity="wish", entity_id=wish.id or 0,
                  action="released", from_state=WishStatus.CLAIMED, to_state=WishStatus.APPROVED)
            v = await self._view(s, wish)
            await self._edit_board(s, v, released=True)
            await self._post_board(s, v)
        self.notifier.wake()
        return v

    async def deliver(self, actor: Actor, wish_id: int, photo: str) -> WishView:
        """Delivered, with a photo: the wisher (or the leader who filed it) is asked to confirm."""
        if not photo:
            raise BadInput("wish_photo_required")
        async with self.db.write() as s:
            wish = await self._load(s, wish_id)
            self._check_fulfiller(actor, wish)
            now = utcnow()
            wish.status, wish.delivered_photo, wish.delivered_at, wish.updated_at = (
                WishStatus.DELIVERED, photo, now, now)
            s.add(wish)
            audit(s, community_id=wish.community_id, actor_id=actor.id, entity="wish", entity_id=wish.id or 0,
                  action="delivered", from_state=WishStatus.CLAIMED, to_state=WishStatus.DELIVERED)
            v = await self._view(s, wish)
            await self._edit_board(s, v)
            if v.wisher is not None:
                self.notifier.to_user(s, v.wisher, v.community, "wish_delivered", photo=photo,
                               buttons=confirm_buttons(wish.id or 0), key=f"wconfirm:{wish.id}", **v.ctx())
        self.notifier.wake()
        return v

    async def confirm(self, actor: Actor, wish_id: int) -> tuple[WishView, int]:
        """The wisher (or the leader on their behalf) thanks and confirms: fulfilled, and the
        fulfiller's points are paid once (the ledger's ref). Returns the view and the points paid."""
        async with self.db.write() as s:
            wish = await self._load(s, wish_id)
            if not policy.may_confirm_wish(actor.id, wish):
                raise NotAllowed("wish_not_yours")
            if wish.status != WishStatus.DELIVERED:
                raise Stale("wish_moved_on", status=wish.status)
            now = utcnow()
            wish.status, wish.fulfilled_at, wish.updated_at = WishStatus.FULFILLED, now, now
            s.add(wish)
            audit(s, community_id=wish.community_id, actor_id=actor.id, entity="wish", entity_id=wish.id or 0,
                  action="fulfilled", from_state=WishStatus.DELIVERED, to_state=WishStatus.FULFILLED)
            v = await self._view(s, wish)
            paid = 0
            if wish.fulfiller_id and await points.award(s, v.community, wish.fulfiller_id, "wish_fulfilled",
                                                        f"wish:{wish.id}"):
                paid = points.rule(v.community, "wish_fulfilled")
            if wish.partner_id is not None:  # the partner unit's contribution (reports, export)
                await contribute(s, wish.community_id, wish.partner_id, "wish", f"wish:{wish.id}")
            await self._edit_board(s, v)
            if v.fulfiller is not None:
                pledge = await self._pledge(s, v.community, v.fulfiller.id,
                                            await memberships_of(s, v.fulfiller.id, v.community.id))
                self.notifier.to_user(s, v.fulfiller, v.community, "wish_thanks", key=f"wthanks:{wish.id}", paid=paid,
                               pledge=pledge, **v.ctx())
        self.notifier.wake()
        return v, paid

    # ----------------------------------------------------------------- machinery
    @staticmethod
    async def _is(s: AsyncSession, user_id: int, community_id: int, role: str) -> bool:
        return (await s.execute(select(Membership.id).where(
            Membership.user_id == user_id, Membership.community_id == community_id, Membership.role == role)
            .limit(1))).first() is not None

    @staticmethod
    async def _members(s: AsyncSession, community_id: int, roles: tuple[str, ...]) -> list[User]:
        return list((await s.execute(select(User).join(Membership, Membership.user_id == User.id).where(
            Membership.community_id == community_id, Membership.role.in_(list(roles))).distinct())).scalars())

    def _tell_wisher(self, s: AsyncSession, v: WishView, actor: Actor, action: str, note: Any = None) -> None:
        if v.wisher is not None and v.wisher.id != actor.id:
            self.notifier.to_user(s, v.wisher, v.community, "wish_status", key=f"wish:{v.wish.id}", action=action,
                           note=note, **v.ctx())

    async def _close_screen_cards(self, s: AsyncSession, v: WishView, actor: Actor) -> None:
        """Other staff's screening cards lose their buttons and say who decided what."""
        from storage.models import Outbox

        posts = (await s.execute(select(Outbox).where(Outbox.key == f"wscreen:{v.wish.id}",
                                                      Outbox.method == "send"))).scalars().all()
        for post in posts:
            await self.notifier.edit_post(s, post, v.community, "wish_screened", actor_name=actor.user.first_name, **v.ctx())

    async def _post_board(self, s: AsyncSession, v: WishView) -> None:
        """The wish on the board: the volunteer group(s), else volunteers privately; partner
        members privately. Only the screened public text, budget, category and micro-grid."""
        ctx = v.public_ctx()
        buttons = claim_buttons(v.wish.id or 0)
        groups = list((await s.execute(select(ChatBinding).where(
            ChatBinding.community_id == v.wish.community_id, ChatBinding.kind == ChatKind.VOLUNTEERS))).scalars())
        for g in groups:
            self.notifier.to_chat(s, g, "wish_board", buttons=buttons, key=f"wboard:{v.wish.id}", **ctx)
        roles: tuple[str, ...] = (PARTNER,) if groups else policy.WISH_CLAIMERS
        for person in await self._members(s, v.wish.community_id, roles):
            self.notifier.to_user(s, person, v.community, "wish_board", buttons=buttons, key=f"wboard:{v.wish.id}", **ctx)

    async def _edit_board(self, s: AsyncSession, v: WishView, released: bool = False) -> None:
        from storage.models import Outbox

        posts = (await s.execute(select(Outbox).where(Outbox.key == f"wboard:{v.wish.id}",
                                                      Outbox.method == "send"))).scalars().all()
        for post in posts:
            await self.notifier.edit_post(s, post, v.community, "wish_taken", **v.public_ctx(released=released))


# ----------------------------------------------------------------- figures (reports, needs list)
async def wish_counts(s: AsyncSession, community_id: int, start: datetime, end: datetime,
                      tz: str = "Asia/Shanghai") -> list[tuple[str, int | None, str, int]]:
    """Wishes submitted in [start, end) counted by (category, micro-grid id, local month "YYYY-MM"),
    most frequent first: for the needs list (需求清单). Counts only, no personal data."""
    rows = (await s.execute(select(Wish.category, Wish.grid_id, Wish.created_at).where(
        Wish.community_id == community_id, Wish.created_at >= start, Wish.created_at < end))).all()
    zone = ZoneInfo(tz)
    counted = Counter((cat, grid, (at if at.tzinfo else at.replace(tzinfo=ZoneInfo("UTC"))).astimezone(zone)
                       .strftime("%Y-%m")) for cat, grid, at in rows)
    return [(cat, grid, mon, n) for (cat, grid, mon), n in sorted(counted.items(), key=lambda x: (-x[1], x[0][2]))]


async def wish_figures(s: AsyncSession, community_id: int, start: datetime, end: datetime) -> dict[str, int]:
    """For the monthly report: wishes submitted, approved and fulfilled within [start, end)."""
    def count(col: Any) -> Any:
        return select(func.count()).select_from(Wish).where(Wish.community_id == community_id, col >= start, col < end)

    return {"submitted": int((await s.execute(count(Wish.created_at))).scalar_one()),
            "approved": int((await s.execute(count(Wish.approved_at))).scalar_one()),
            "fulfilled": int((await s.execute(count(Wish.fulfilled_at))).scalar_one())}
