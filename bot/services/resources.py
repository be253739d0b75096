"""The resources list (资源清单): what partners and the community can offer, and requests routed
to a partner's resource, which the partner's members accept or decline like a department liaison.

Plain Python (no aiogram, no rendering); permission through `bot.policy` inside each unit of work.
A routed request waits in `partner`; the member who accepts becomes its assignee
(`partner_accepted`) and gets the details privately, then reports progress and done like anyone
handling a request; a decline (with a note for the leaders) puts it back to triage.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import policy
from bot.errors import BadInput, NotAllowed, NotFound, Stale
from bot.services.buttons import Act, Button, press
from bot.services.community import audit, settings_of
from bot.services.context import Actor, memberships_of
from bot.services.partners import members_of, partners_of_member
from bot.services.requests import MAX_NOTE, RequestService, View
from storage.db import Database, locked
from storage.models import (Community, Outbox, Partner, Request, Resource, ResourceKind, ResourceRoute, Role, Status,
                            utcnow)

KINDS = tuple(ResourceKind)
MAX_TITLE = 120
MAX_AVAILABILITY = 120


@dataclass
class ResourceRow:
    resource: Resource
    partner: Partner | None  # None: the community's own


def may_browse(actor: Actor) -> bool:
    """Staff, grid leaders and partners' members read the resources list (they triage or offer)."""
    cid = actor.community.id if actor.community else None
    ms = actor.memberships
    return (policy.is_staff(ms, cid) or policy.has_role(ms, cid, Role.GRID_LEADER)
            or bool(policy.partner_ids(ms, cid)))


def parse_offer(text: str) -> tuple[str, str, str | None, int | None]:
    """`<kind> <title> [| availability] [| amount]` as typed after /resource add."""
    kind, _, rest = text.strip().partition(" ")
    parts = [p.strip() for p in rest.split("|")]
    title = parts[0] if parts else ""
    availability = parts[1] if len(parts) > 1 and parts[1] else None
    amount = int(parts[2]) if len(parts) > 2 and parts[2].isdigit() else None
    if kind.lower() not in KINDS or not title or (len(parts) > 2 and parts[2] and amount is None):
        raise BadInput("resource_usage", kinds=", ".join(KINDS))
    if len(title) > MAX_TITLE or (availability and len(availability) > MAX_AVAILABILITY):
        raise BadInput("note_too_long", limit=MAX_TITLE, length=max(len(title), len(availability or "")))
    return kind.lower(), title, availability, amount


class ResourceService:
    def __init__(self, db: Database, requests: RequestService) -> None:
        self.db = db
        self.requests = requests
        self.notifier = requests.notifier

    async def add(self, actor: Actor, kind: str, title: str, availability: str | None = None,
                  amount: int | None = None) -> ResourceRow:
        """A partner's member lists a resource of their partner; staff list the community's own."""
        if actor.community is None:
            raise NotAllowed("no_community")
        cid = actor.community.id
        async with self.db.write() as s:
            ms = await memberships_of(s, actor.id, cid or 0)
            mine = sorted(policy.partner_ids(ms, cid))
            if mine:
                partner_id: int | None = mine[0]
            elif policy.is_staff(ms, cid):
                partner_id = None
            else:
                raise NotAllowed("partners_only")
            res = Resource(community_id=cid or 0, partner_id=partner_id, kind=kind, title=title,
                           availability=availability, amount=amount, created_by=actor.id)
            s.add(res)
            await s.flush()
            audit(s, community_id=cid, actor_id=actor.id, entity="resource", entity_id=res.id or 0,
                  action="listed", to_state=kind, note=title, public=True)
            partner = await s.get(Partner, partner_id) if partner_id else None
        return ResourceRow(res, partner)

    async def withdraw(self, actor: Actor, resource_id: int) -> Resource:
        """Take a resource off the list (its partner's members, or staff)."""
        if actor.community is None:
            raise NotAllowed("no_community")
        async with self.db.write() as s:
            res = await s.get(Resource, resource_id)
            if res is None or res.community_id != actor.community.id:
                raise NotFound("resource_not_found", ref=str(resource_id))
            ms = await memberships_of(s, actor.id, res.community_id)
            if not (policy.is_staff(ms, res.community_id)
                    or (res.partner_id is not None and policy.is_partner_member(ms, res.community_id, res.partner_id))):
                raise NotAllowed("partners_only")
            res.active = False
            s.add(res)
            audit(s, community_id=res.community_id, actor_id=actor.id, entity="resource", entity_id=res.id or 0,
                  action="withdrawn", public=True)
        return res

    async def listing(self, actor: Actor, *, partner_id: int | None = None, offset: int = 0,
                      limit: int = 5) -> tuple[list[ResourceRow], int]:
        """The active resources of the actor's community (of one partner if given), a page at a time."""
        if actor.community is None:
            raise NotAllowed("no_community")
        if not may_browse(actor):
            raise NotAllowed("resources_who")
        cond = [Resource.community_id == actor.community.id, Resource.active.is_(True)]
        if partner_id:
            cond.append(Resource.partner_id == partner_id)
        async with self.db.read() as s:
            total = int((await s.execute(select(func.count(Resource.id)).where(*cond))).scalar_one())
            rows = (await s.execute(select(Resource, Partner).outerjoin(Partner, Partner.id == Resource.partner_id)
                                    .where(*cond).order_by(Resource.partner_id.is_(None), Resource.id)
                                    .offset(offset).limit(limit))).all()
        return [ResourceRow(r, p) for r, p in rows], total

    async def routable(self, actor: Actor, req_id: int, *, offset: int = 0,
                       limit: int = 5) -> tuple[View, list[ResourceRow], int]:
        """While triaging: the request and the partners' resources it could go to."""
        async with self.db.read() as s:
            req = await self.requests.triage_target(s, actor, req_id)
            v = await self.requests.view_of(s, req)
            cond = [Resource.community_id == req.community_id, Resource.active.is_(True),
                    Resource.partner_id.is_not(None)]
            total = int((await s.execute(select(func.count(Resource.id)).where(*cond))).scalar_one())
            rows = (await s.execute(select(Resource, Partner).join(Partner, Partner.id == Resource.partner_id)
                                    .where(*cond).order_by(Resource.id).offset(offset).limit(limit))).all()
        return v, [ResourceRow(r, p) for r, p in rows], total

    async def route(self, actor: Actor, req_id: int, resource_id: int) -> tuple[View, ResourceRow, int]:
        """Staff or the grid's leader send a new request to a partner's resource; every member of
        that partner is asked privately (public fields only) to accept or decline."""
        async with self.db.write() as s:
            req = await self.requests.triage_target(s, actor, req_id)
            res = await s.get(Resource, resource_id)
            if res is None or res.community_id != req.community_id or not res.active or res.partner_id is None:
                raise Stale()
            partner = await s.get(Partner, res.partner_id)
            assert partner is not None
            # Only members who can be written to privately: a route nobody can see would wait forever.
            members = [m for m in await members_of(s, partner) if m.started and not m.blocked]
            if not members:
                raise BadInput("partner_no_members")
            route = ResourceRoute(community_id=req.community_id, request_id=req.id or 0, resource_id=res.id or 0,
                                  partner_id=partner.id or 0, routed_by=actor.id)
            s.add(route)
            await s.flush()
            v = await self.requests.apply(s, actor, req, Status.PARTNER, "partner_routed", note=partner.name,
                                           public_note=True, fields={"timer_at": None, "timer_kind": None},
                                           extra={"partner": partner, "resource": res})
            buttons = [[Button("partner_accept", press(Act.PARTNER_ANSWER, route.id or 0, 1)),
                        Button("partner_decline", press(Act.PARTNER_ANSWER, route.id or 0, 0))]]
            for m in members:
                self.notifier.to_user(s, m, v.community, "partner_route", buttons=buttons, key=f"proute:{route.id}",
                               partner=partner, resource=res, **v.public_ctx())
        self.notifier.wake()
        return v, ResourceRow(res, partner), route.id or 0

    async def answer(self, actor: Actor, route_id: int, accept: bool, note: str | None = None) -> View:
        """A member of the partner accepts (becomes the assignee, gets the details privately) or
        declines with a note (the request goes back to triage). The first answer wins."""
        note = (note or "").strip() or None
        if note and len(note) > MAX_NOTE:
            raise BadInput("note_too_long", limit=MAX_NOTE, length=len(note))
        if not accept and not note:
            raise BadInput("note_required")
        async with self.db.write() as s:
            route = await locked(s, ResourceRoute, route_id)
            if route is None:
                raise Stale()
            ms = await memberships_of(s, actor.id, route.community_id)
            if not policy.is_partner_member(ms, route.community_id, route.partner_id):
                raise NotAllowed("partner_members_only")
            won = (await s.execute(update(ResourceRoute).where(
                ResourceRoute.id == route_id, ResourceRoute.status == "pending").values(
                status="accepted" if accept else "declined", member_id=actor.id, note=note,
                decided_at=utcnow()))).rowcount == 1
            req = await s.get(Request, route.request_id)
            if not won or req is None or req.status != Status.PARTNER:
                raise Stale("already_handled", status=req.status if req else "")
            partner = await s.get(Partner, route.partner_id)
            res = await s.get(Resource, route.resource_id)
            if not actor.user.started or actor.user.blocked:
                raise NotAllowed("start_bot_first")
            if accept:
                v = await self.requests.apply(s, actor, req, Status.PARTNER_ACCEPTED, "partner_accepted",
                                               note=partner.name if partner else None, public_note=True,
                                               fields={"assignee_id": actor.id},
                                               timer=("done_remind", "done_remind_hours"),
                                               extra={"partner": partner, "resource": res})
                await self.requests.brief_assignee(s, v)
            else:
                c = await s.get(Community, req.community_id)
                assert c is not None
                v = await self.requests.apply(
                    s, actor, req, Status.NEW, "partner_declined", note=note,
                    fields={"assignee_id": None, "timer_kind": "triage_remind",
                            "timer_at": utcnow() + timedelta(hours=settings_of(c)["triage_hours"])},
                    extra={"partner": partner, "resource": res})
                await self.requests.post_card(s, v, "partner_declined", note)
            # Every member's question loses its buttons and says how it was answered.
            await self._close_asks(s, v, route, accept)
        self.notifier.wake()
        return v

    async def take_back(self, actor: Actor, route_id: int) -> View:
        """Staff or the grid's leader take a request back from a partner that has not answered
        (nobody is stuck waiting on a silent partner): back to triage with a fresh card."""
        async with self.db.write() as s:
            route = await locked(s, ResourceRoute, route_id)
            if route is None:
                raise Stale()
            req = await self.requests.triage_target(s, actor, route.request_id, frozenset({Status.PARTNER}))
            won = (await s.execute(update(ResourceRoute).where(
                ResourceRoute.id == route_id, ResourceRoute.status == "pending").values(
                status="withdrawn", decided_at=utcnow()))).rowcount == 1
            if not won:
                raise Stale("already_handled", status=req.status)
            c = await s.get(Community, req.community_id)
            assert c is not None
            v = await self.requests.apply(s, actor, req, Status.NEW, "partner_withdrawn", fields={
                "timer_kind": "triage_remind",
                "timer_at": utcnow() + timedelta(hours=settings_of(c)["triage_hours"])})
            await self.requests.post_card(s, v)
            await self._close_asks(s, v, route, False)
        self.notifier.wake()
        return v

    async def _close_asks(self, s: AsyncSession, v: View, route: ResourceRoute, accept: bool) -> None:
        posts = (await s.execute(select(Outbox).where(Outbox.key == f"proute:{route.id}",
                                                      Outbox.method == "send"))).scalars().all()
        for post in posts:
            await self.notifier.edit_post(s, post, v.community, "partner_route_closed", accepted=accept, **v.public_ctx())

    async def open_routes(self, actor: Actor) -> list[tuple[ResourceRoute, View]]:
        """The routed requests waiting for an answer from the actor's partners."""
        if actor.community is None:
            raise NotAllowed("no_community")
        async with self.db.read() as s:
            ids = [p.id for p in await partners_of_member(s, actor.id, actor.community.id or 0)]
            if not ids:
                raise NotAllowed("partner_members_only")
            rows = (await s.execute(select(ResourceRoute, Request).join(Request, Request.id == ResourceRoute.request_id)
                                    .where(ResourceRoute.partner_id.in_(ids), ResourceRoute.status == "pending")
                                    .order_by(ResourceRoute.id))).all()
            return [(r, await self.requests.view_of(s, q)) for r, q in rows]
