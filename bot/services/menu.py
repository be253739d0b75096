"""The services list (服务清单): residents order from the menu (点单), the community dispatches
(下单), the provider accepts (接单), the resident signs off and rates (签单).

An order *is* a request (`storage.models.Request`, category = the service's) plus a
`ServiceOrder` holding one seat of a slot, so it runs the request machinery: the audit trail,
`/my`, cancelling, reminders, "done" by the assignee and the requester's sign-off and rating
(`bot.services.signoff`). What is new here: the menu, the seat, dispatching and accepting.

Capacity is a counter moved only by conditional UPDATEs (`taken < capacity` to take a seat,
`taken > 0` to give one back), so concurrent orders on PostgreSQL or SQLite can never exceed it.
A cancelled or declined order gives its seat back exactly once (`ServiceOrder.held`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import policy
from bot.errors import BadInput, Conflict, NotAllowed, NotFound, Stale
from bot.i18n import local_name
from bot.services import queries
from bot.services.buttons import Act, Button, press
from bot.services.community import audit, settings_of
from bot.services.context import Actor, memberships_of
from bot.services.notify import INTERACTIVE
from bot.services.partners import contribute, find_partner, members_of
from bot.services.requests import MAX_NOTE, RequestService, View, issue_number
from bot.services.requests import note_text as _note
from storage.cache import row
from storage.models import (ChatKind, Community, Grid, Partner, ProviderKind, Request, Role, Service, ServiceOrder,
                            ServiceSlot, Status, User, aware, utcnow)

MAX_NAME = 64
MAX_CAPACITY = 500
PAGE = 5
ORDER_NOTE_LIMIT = MAX_NOTE


class MOp:
    """Operations on an order (indexes travel in callback data)."""

    DISPATCH, DECLINE, ACCEPT = range(3)


def dispatch_buttons(req_id: int) -> list[list[Button]]:
    return [[Button("order_dispatch", press(Act.ORDER, req_id, MOp.DISPATCH)),
             Button("order_decline", press(Act.ORDER, req_id, MOp.DECLINE))]]


def accept_buttons(req_id: int) -> list[list[Button]]:
    return [[Button("order_accept", press(Act.ORDER, req_id, MOp.ACCEPT))]]


@dataclass
class OrderView:
    """An order: its request's view, the service and the slot."""

    v: View
    service: Service
    slot: ServiceSlot

    def ctx(self, **more: Any) -> dict[str, Any]:
        return self.v.ctx(service=self.service, slot=self.slot, **more)

    def public_ctx(self, **more: Any) -> dict[str, Any]:
        return self.v.public_ctx(service=self.service, slot=self.slot, **more)


def service_name(service: Service, locale: str) -> str:
    return local_name(service, locale)


def parse_when(community: Community, day: str, clock: str) -> datetime:
    """`2026-12-05` `09:30` in the community's time zone, as aware UTC."""
    try:
        d, t = date.fromisoformat(day), time.fromisoformat(clock)
    except ValueError:
        raise BadInput("slot_usage") from None
    return datetime.combine(d, t, tzinfo=ZoneInfo(community.timezone)).astimezone(ZoneInfo("UTC"))


class MenuService:
    def __init__(self, requests: RequestService) -> None:
        self.requests = requests
        self.db, self.notifier = requests.db, requests.notifier
        requests.on_close.append(self.free_seat)
        requests.on_close.append(self.credit_partner)
        requests.reminders["provider"] = self.remind_provider

    # ----------------------------------------------------------------- staff: defining the menu
    @staticmethod
    def _staff(actor: Actor) -> Community:
        if actor.community is None or not policy.is_staff(actor.memberships, actor.community.id):
            raise NotAllowed("staff_only")
        return actor.community

    async def define(self, actor: Actor, *, category: str, provider: str, languages: list[str],
                     name: str, grid: str | None = None, locales: tuple[str, ...] = ()) -> Service:
        """A new service of the actor's community (staff only)."""
        community = self._staff(actor)
        name = name.strip()
        if not name or len(name) > MAX_NAME:
            raise BadInput("name_too_long", limit=MAX_NAME)
        if category not in settings_of(community)["categories"]:
            raise BadInput("bad_category")
        kind, _, ref = provider.partition(":")
        if kind not in tuple(ProviderKind) or (kind == ProviderKind.PARTNER) != bool(ref):
            raise BadInput("service_usage", categories=", ".join(settings_of(community)["categories"]),
                           choices=", ".join(locales))
        if languages == ["all"]:
            languages = list(locales)
        if not languages or any(loc not in locales for loc in languages):
            raise BadInput("service_usage")
        async with self.db.write() as s:
            grid_id = None
            if grid:
                g = (await s.execute(select(Grid).where(Grid.community_id == community.id,
                                                        Grid.name == grid))).scalars().first()
                if g is None:
                    raise BadInput("grid_not_found", name=grid)
                grid_id = g.id
            provider_id = None
            if kind == ProviderKind.PARTNER:  # `partner:<number or name>`, a partner of this community only
                provider_id = (await find_partner(s, community.id or 0, ref)).id
            svc = Service(community_id=community.id or 0, name=name, category=category, provider_kind=kind,
                          provider_id=provider_id, languages=languages, grid_id=grid_id, created_by=actor.id)
            s.add(svc)
            await s.flush()
            audit(s, community_id=community.id, actor_id=actor.id, entity="service", entity_id=svc.id or 0,
                  action="defined", note=name, public=True)
            return svc

    async def _own_service(self, s: AsyncSession, community_id: int | None, service_id: int) -> Service:
        svc = await s.get(Service, service_id)
        if svc is None or svc.community_id != community_id:  # another community's service is not there
            raise NotFound("service_not_found", ref=str(service_id))
        return svc

    async def rename(self, actor: Actor, service_id: int, locale: str, text: str) -> Service:
        community = self._staff(actor)
        text = text.strip()
        if not text or len(text) > MAX_NAME:
            raise BadInput("name_too_long", limit=MAX_NAME)
        async with self.db.write() as s:
            svc = await self._own_service(s, community.id, service_id)
            svc.names = {**(svc.names or {}), locale: text}
            s.add(svc)
            audit(s, community_id=community.id, actor_id=actor.id, entity="service", entity_id=service_id,
                  action="named", note=f"{locale}={text}", public=True)
            return svc

    async def add_slot(self, actor: Actor, service_id: int, starts_at: datetime, capacity: int) -> ServiceSlot:
        community = self._staff(actor)
        if not 1 <= capacity <= MAX_CAPACITY:
            raise BadInput("capacity_range", limit=MAX_CAPACITY)
        if starts_at <= utcnow():
            raise BadInput("slot_in_past")
        async with self.db.write() as s:
            svc = await self._own_service(s, community.id, service_id)
            slot = ServiceSlot(service_id=svc.id or 0, starts_at=starts_at, capacity=capacity)
            s.add(slot)
            await s.flush()
            audit(s, community_id=community.id, actor_id=actor.id, entity="service", entity_id=service_id,
                  action="slot_added", note=f"{starts_at.isoformat()} ×{capacity}", public=True)
            return slot

    # ----------------------------------------------------------------- residents: the menu
    def _may_order(self, actor: Actor, svc: Service) -> bool:
        """A member of the service's community; of its micro-grid when it is limited to one."""
        if actor.community is None or svc.community_id != actor.community.id or not svc.active:
            return False
        return policy.may_order(actor.memberships, svc)

    async def _orderable(self, s: AsyncSession, actor: Actor) -> list[Service]:
        if actor.community is None:
            raise NotAllowed("no_community")
        rows = (await s.execute(select(Service).where(Service.community_id == actor.community.id,
                                                      Service.active).order_by(Service.id))).scalars().all()
        return [svc for svc in rows if self._may_order(actor, svc)]

    async def categories(self, actor: Actor) -> list[tuple[str, int]]:
        """The menu's categories (in the community's order) with how many services each has."""
        async with self.db.read() as s:
            services = await self._orderable(s, actor)
        assert actor.community is not None
        counts: dict[str, int] = {}
        for svc in services:
            counts[svc.category] = counts.get(svc.category, 0) + 1
        return [(cat, counts[cat]) for cat in settings_of(actor.community)["categories"] if cat in counts]

    async def services(self, actor: Actor, category: str, *, offset: int = 0,
                       limit: int = PAGE) -> tuple[list[tuple[Service, int]], int]:
        """One page of a category's services, each with its free seats in future slots."""
        async with self.db.read() as s:
            services = [svc for svc in await self._orderable(s, actor) if svc.category == category]
            page = services[offset:offset + limit]
            free = {}
            if page:
                free = dict((await s.execute(select(ServiceSlot.service_id,
                                                    func.sum(ServiceSlot.capacity - ServiceSlot.taken)).where(
                    ServiceSlot.service_id.in_([x.id for x in page]), ServiceSlot.starts_at > utcnow())
                    .group_by(ServiceSlot.service_id))).all())
            return [(svc, int(free.get(svc.id, 0) or 0)) for svc in page], len(services)

    async def slots(self, actor: Actor, service_id: int) -> tuple[Service, list[ServiceSlot]]:
        """A service and its future slots (full ones included: the reader sees why)."""
        async with self.db.read() as s:
            svc = await s.get(Service, service_id)
            if svc is None or not self._may_order(actor, svc):
                raise Stale()
            slots = (await s.execute(select(ServiceSlot).where(
                ServiceSlot.service_id == svc.id, ServiceSlot.starts_at > utcnow())
                .order_by(ServiceSlot.starts_at).limit(10))).scalars().all()
            return svc, list(slots)

    async def check_slot(self, actor: Actor, slot_id: int) -> tuple[Service, ServiceSlot]:
        """Before asking for the note: the slot exists, is orderable by the actor and has a seat."""
        async with self.db.read() as s:
            slot = await s.get(ServiceSlot, slot_id)
            svc = await s.get(Service, slot.service_id) if slot else None
            if slot is None or svc is None or not self._may_order(actor, svc):
                raise Stale()
            if aware(slot.starts_at) <= utcnow():
                raise Stale()
            if slot.taken >= slot.capacity:
                raise Conflict("slot_full")
            return svc, slot

    # ----------------------------------------------------------------- 点单: ordering
    async def order(self, actor: Actor, slot_id: int, note: str | None) -> OrderView:
        """Take a seat (or refuse: full), file the order as a request and show it to staff to
        dispatch, in one unit of work. The note is private: staff and the provider who accepts."""
        note = _note(note)
        async with self.db.write() as s:
            slot = await s.get(ServiceSlot, slot_id)
            svc = await s.get(Service, slot.service_id) if slot else None
            # Tenant first, inside the transaction: the community and, if limited, the micro-grid.
            if slot is None or svc is None or actor.community is None or svc.community_id != actor.community.id:
                raise Stale()
            actor.memberships = await memberships_of(s, actor.id, svc.community_id)
            if not self._may_order(actor, svc) or aware(slot.starts_at) <= utcnow():
                raise Stale()
            mine = (await s.execute(select(ServiceOrder.id).join(Request, Request.id == ServiceOrder.request_id)
                                    .where(ServiceOrder.slot_id == slot.id, ServiceOrder.held,
                                           Request.requester_id == actor.id).limit(1))).first()
            if mine is not None:
                raise Conflict("already_ordered")
            won = (await s.execute(update(ServiceSlot).where(ServiceSlot.id == slot.id,
                                                             ServiceSlot.taken < ServiceSlot.capacity)
                                   .values(taken=ServiceSlot.taken + 1))).rowcount == 1
            if not won:
                raise Conflict("slot_full")
            c = await row(s, Community, svc.community_id)
            assert c is not None
            now = utcnow()
            req = Request(community_id=c.id or 0, number=await issue_number(s, c.id or 0), grid_id=actor.grid_id, requester_id=actor.id,
                          category=svc.category, description=svc.name, contact_note=note, status=Status.NEW,
                          timer_kind="dispatch_remind",
                          timer_at=now + timedelta(hours=settings_of(c)["triage_hours"]))
            s.add(req)
            await s.flush()
            s.add(ServiceOrder(request_id=req.id or 0, service_id=svc.id or 0, slot_id=slot.id or 0))
            audit(s, community_id=c.id, actor_id=actor.id, entity="request", entity_id=req.id or 0,
                  action="ordered", to_state=Status.NEW, note=f"S{svc.id}", public=True)
            await s.refresh(slot)
            ov = OrderView(await self.requests.view_of(s, req), svc, slot)
            await self._to_staff(s, ov, "order_card", dispatch_buttons(req.id or 0), key=f"card:{req.id}")
        self.notifier.wake()
        return ov

    async def _order_of(self, s: AsyncSession, req: Request) -> OrderView:
        order = (await s.execute(select(ServiceOrder).where(ServiceOrder.request_id == req.id))).scalars().first()
        if order is None:
            raise Stale()
        svc, slot = await s.get(Service, order.service_id), await s.get(ServiceSlot, order.slot_id)
        assert svc is not None and slot is not None
        return OrderView(await self.requests.view_of(s, req), svc, slot)

    async def _to_staff(self, s: AsyncSession, ov: OrderView, template: str, buttons: list[list[Button]] | None,
                        *, key: str) -> None:
        """The staff group(s), else every staff member privately (with the note)."""
        cid = ov.v.req.community_id
        groups = await queries.bindings(s, cid, ChatKind.STAFF)
        for g in groups:
            self.notifier.to_chat(s, g, template, buttons=buttons, key=key, **ov.public_ctx())
        if not groups:
            for u in await queries.members(s, cid, Role.STAFF):
                self.notifier.to_user(s, u, ov.v.community, template, buttons=buttons, key=key, priority=INTERACTIVE,
                               private=True, **ov.ctx())

    # ----------------------------------------------------------------- 下单: dispatching
    async def dispatch(self, actor: Actor, req_id: int) -> OrderView:
        """Staff of the order's community pass it to its provider, who is asked to accept it."""
        async with self.db.write() as s:
            req = await self.requests.load(s, req_id)
            if not policy.is_staff(await memberships_of(s, actor.id, req.community_id), req.community_id):
                raise NotAllowed("staff_only")
            ov = await self._order_of(s, req)
            if req.status != Status.NEW:
                raise Stale("already_handled", status=req.status)
            ov.v = await self.requests.apply(s, actor, req, Status.DISPATCHED, "dispatched", public_note=True,
                                       note=ov.service.provider_kind, timer=("order_remind", "claim_remind_hours"))
            await self._to_provider(s, ov, "order_post", accept_buttons(req_id), key=f"task:{req_id}")
        self.notifier.wake()
        return ov

    async def decline(self, actor: Actor, req_id: int) -> OrderView:
        """Staff cannot serve it (e.g. the provider is away): declined, the seat freed, the
        resident told."""
        async with self.db.write() as s:
            req = await self.requests.load(s, req_id)
            if not policy.is_staff(await memberships_of(s, actor.id, req.community_id), req.community_id):
                raise NotAllowed("staff_only")
            ov = await self._order_of(s, req)
            if req.status != Status.NEW:
                raise Stale("already_handled", status=req.status)
            ov.v = await self.requests.apply(s, actor, req, Status.DECLINED, "declined", fields={"reason": "order_unavailable"})
        self.notifier.wake()
        return ov

    async def provider_people(self, s: AsyncSession, svc: Service) -> list[User]:
        if svc.provider_kind == ProviderKind.PARTNER:
            partner = await s.get(Partner, svc.provider_id) if svc.provider_id else None
            if partner is None or partner.community_id != svc.community_id:
                return []
            return await members_of(s, partner)
        role = Role.STAFF if svc.provider_kind == ProviderKind.COMMUNITY else Role.VOLUNTEER
        return await queries.members(s, svc.community_id, role)

    async def _to_provider(self, s: AsyncSession, ov: OrderView, template: str,
                           buttons: list[list[Button]] | None, *, key: str | None = None, **more: Any) -> None:
        """The provider's group (volunteers: the volunteer group; community: the staff group),
        else its people privately; public fields only either way (the note waits for whoever
        accepts). A partner's members have no group: privately, each of them."""
        svc = ov.service
        if svc.provider_kind == ProviderKind.PARTNER:
            for u in await self.provider_people(s, svc):
                self.notifier.to_user(s, u, ov.v.community, template, buttons=buttons, key=key, **ov.public_ctx(**more))
            return
        kind = ChatKind.STAFF if svc.provider_kind == ProviderKind.COMMUNITY else ChatKind.VOLUNTEERS
        groups = await queries.bindings(s, svc.community_id, kind)
        for g in groups:
            self.notifier.to_chat(s, g, template, buttons=buttons, key=key, **ov.public_ctx(**more))
        if not groups:
            for u in await self.provider_people(s, svc):
                self.notifier.to_user(s, u, ov.v.community, template, buttons=buttons, key=key, **ov.public_ctx(**more))

    # ----------------------------------------------------------------- 接单: the provider accepts
    async def accept(self, actor: Actor, req_id: int) -> OrderView:
        """The first of the provider's people to accept gets it (`take_first`), with the
        note, privately; a reminder before the slot follows."""
        async with self.db.write() as s:
            req = await self.requests.load(s, req_id)
            ov = await self._order_of(s, req)
            ms = await memberships_of(s, actor.id, req.community_id)
            if not policy.may_provide(ms, ov.service):
                raise NotAllowed("provider_only")
            if not await self.requests.take_first(s, actor, req, Status.DISPATCHED, Status.HANDLING):
                return ov  # a double tap
            remind = aware(ov.slot.starts_at) - timedelta(hours=settings_of(ov.v.community)["order_remind_before_hours"])
            now = utcnow()
            ov.v = await self.requests.apply(s, actor, req, Status.HANDLING, "order_accepted",
                                       fields={"assignee_id": actor.id, "timer_kind": "slot_remind" if remind > now
                                               else "done_remind",
                                               "timer_at": remind if remind > now else aware(ov.slot.starts_at)})
            for post in await self.requests.posts(s, ov.v, "task"):
                await self.notifier.edit_post(s, post, ov.v.community, "order_taken", **ov.public_ctx())
            await self.requests.brief_assignee(s, ov.v)
        self.notifier.wake()
        return ov

    # ----------------------------------------------------------------- seats
    async def free_seat(self, s: AsyncSession, req: Request, to: str) -> None:
        """Hook of `RequestService._apply`: a cancelled or declined order gives its seat back,
        once (the `held` flag flips in the same conditional UPDATE that decides it)."""
        if to not in (Status.CANCELLED, Status.DECLINED, Status.DUPLICATE):
            return
        order = (await s.execute(select(ServiceOrder).where(ServiceOrder.request_id == req.id))).scalars().first()
        if order is None:
            return
        freed = (await s.execute(update(ServiceOrder).where(ServiceOrder.id == order.id, ServiceOrder.held)
                                 .values(held=False))).rowcount == 1
        if freed:
            await s.execute(update(ServiceSlot).where(ServiceSlot.id == order.slot_id, ServiceSlot.taken > 0)
                            .values(taken=ServiceSlot.taken - 1))

    async def credit_partner(self, s: AsyncSession, req: Request, to: str) -> None:
        """Hook of `RequestService._apply`: an order of a partner's service carried to done counts
        once as a service that partner delivered (its contribution, in reports and the export)."""
        if to != Status.DONE:
            return
        row = (await s.execute(select(Service.provider_kind, Service.provider_id)
                               .join(ServiceOrder, ServiceOrder.service_id == Service.id)
                               .where(ServiceOrder.request_id == req.id))).first()
        if row is not None and row[0] == ProviderKind.PARTNER and row[1] is not None:
            await contribute(s, req.community_id, row[1], "service", f"order:{req.id}")

    async def remind_provider(self, s: AsyncSession, req: Request, kind: str) -> None:
        """A timer of an order (`bot.services.timers`): `order_remind`, it is still waiting for its
        provider to accept it (their group, with the button again); `slot_remind`, whoever accepted
        it is reminded of the slot, privately."""
        order = (await s.execute(select(ServiceOrder).where(ServiceOrder.request_id == req.id))).scalars().first()
        if order is None:
            return
        ov = await self._order_of(s, req)
        if kind == "order_remind":
            # keyed like the order's post, so accepting takes the button off both
            await self._to_provider(s, ov, "order_reminder", accept_buttons(req.id or 0), key=f"task:{req.id}",
                                    kind=kind)
        elif ov.v.assignee is not None:
            self.notifier.to_user(s, ov.v.assignee, ov.v.community, "order_reminder", kind=kind, **ov.ctx())
