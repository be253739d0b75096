"""Reading requests: one with its timeline (only the text its reader may read), lists (mine, open
tasks, similar ones, merge candidates), a number typed by staff, the liaisons to escalate to."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import policy
from bot.errors import NotAllowed, NotFound, Stale
from bot.policy import Audience
from bot.privacy import PublicRequest
from bot.services import queries
from bot.services.context import Actor, memberships_of
from bot.services.keys import OutboxKey
from bot.services.requests.values import Stage, View
from storage.cache import row
from storage.db import locked
from storage.models import (OPEN_STATUSES, AuditEvent, Community, Follower, Grid, Membership, MeToo, Outbox,
                            Request, Role, Status, User)


# How many other households said "me too" to the request `:req` filed by `:requester`.
_HOUSEHOLDS_BESIDES_REQUESTER = select(func.count()).select_from(MeToo).where(
    MeToo.request_id == bindparam("req"), MeToo.user_id != bindparam("requester")).scalar_subquery()


def _people(audience: bool) -> Any:
    """A request's requester and assignee (`:people`), with how many other households it affects
    and, with `audience`, its followers, marked as such; the requester first."""
    follows = User.id.in_(queries.followers(bindparam("req"))) if audience else literal(False)
    return (select(User, _HOUSEHOLDS_BESIDES_REQUESTER, follows)
            .where(User.id.in_(bindparam("people", expanding=True)) | follows)
            .order_by(User.id != bindparam("requester"), User.id))


# Built once: a statement built per view costs more than it runs.
_PEOPLE = {False: _people(False), True: _people(True)}
_AFFECTED = select(_HOUSEHOLDS_BESIDES_REQUESTER)


class Reading(Stage):
    async def view_of(self, s: AsyncSession, req: Request, *, audience: bool = False) -> View:
        """The request with what rendering it needs: its community and grid from the directory
        cache; its requester, its assignee and the households it affects in one query; with
        `audience`, in the same query, who hears of a move (`View.audience`: requester, followers)."""
        community = await row(s, Community, req.community_id)
        assert community is not None
        grid = await row(s, Grid, req.grid_id) if req.grid_id else None
        params = {"req": req.id, "requester": req.requester_id,
                  "people": list({req.requester_id, req.assignee_id} - {None})}
        found = (await s.execute(_PEOPLE[audience], params)).all()
        people = {user.id: user for user, _, _ in found}
        view = View(req, community, grid, people.get(req.requester_id), people.get(req.assignee_id or 0),
                    affected=1 + (found[0][1] if found else (await s.execute(_AFFECTED, params)).scalar_one()))
        if audience:
            view.audience = [user for user, _, follower in found if user.id == req.requester_id or follower]
        return view

    async def _views(self, s: AsyncSession, reqs: Sequence[Request]) -> list[View]:
        """Views of a list of requests: their people in one query, whatever its length;
        communities and grids from the directory cache."""
        communities = {cid: await row(s, Community, cid) for cid in {r.community_id for r in reqs}}
        grids = {gid: await row(s, Grid, gid) for gid in {r.grid_id for r in reqs} if gid}
        users = await queries.users(s, [r.requester_id for r in reqs] + [r.assignee_id for r in reqs])
        return [View(r, communities[r.community_id], grids.get(r.grid_id or 0), users.get(r.requester_id),
                     users.get(r.assignee_id or 0)) for r in reqs]

    async def _page(self, s: AsyncSession, cond: list[Any], order: list[Any], offset: int,
                    limit: int) -> tuple[list[View], int]:
        """A page of requests and how many there are in all, in one query (the count rides on
        every row; an empty first page means none; a page past the end asks for the count alone)."""
        found = (await s.execute(select(Request, func.count().over()).where(*cond).order_by(*order)
                                 .offset(offset).limit(limit))).all()
        if found or not offset:
            total = found[0][1] if found else 0
        else:
            total = (await s.execute(select(func.count()).select_from(Request).where(*cond))).scalar_one()
        return await self._views(s, [req for req, _ in found]), total

    async def load(self, s: AsyncSession, req_id: int) -> Request:
        req = await locked(s, Request, req_id)  # PostgreSQL: no two transitions at once
        if req is None:
            raise Stale()
        return req

    async def view(self, actor: Actor, req_id: int) -> tuple[View, list[AuditEvent]]:
        """A request and its timeline, for people allowed to see it (requester, followers,
        its grid leaders, its assignee, that community's staff), holding only the text the reader
        may read (`View.clearance`): a follower sees public fields and public notes only."""
        async with self.db.read() as s:
            req = await self.load(s, req_id)
            level = await self._clearance(s, actor.id, req)
            if level is None:
                raise NotAllowed("not_yours")
            view = await self.view_of(s, req)
            view.clearance = level
            events = list((await s.execute(select(AuditEvent).where(
                AuditEvent.entity == "request", AuditEvent.entity_id == req_id).order_by(AuditEvent.id))).scalars())
            for event in events:
                if event.note and not policy.may_read(level, Audience.of(event.audience)):
                    s.expunge(event)
                    event.note = None
            if level < Audience.RESTRICTED:
                s.expunge(view.req)
                view.req = PublicRequest(view.req)  # type: ignore[assignment]
        return view, events

    async def _clearance(self, s: AsyncSession, user_id: int, req: Request) -> Audience | None:
        """Tenant first: the person's roles in the request's own community only."""
        follower = await s.get(Follower, (req.id, user_id)) is not None
        return policy.clearance(user_id, await memberships_of(s, user_id, req.community_id), req, follower=follower)

    async def mine(self, actor: Actor, *, offset: int = 0, limit: int = 8) -> tuple[list[View], int]:
        async with self.db.read() as s:
            return await self._page(s, [Request.requester_id == actor.id],
                                    [Request.created_at.desc(), Request.id.desc()], offset, limit)

    async def tasks(self, actor: Actor, *, mine: bool, offset: int = 0, limit: int = 5) -> tuple[list[View], int]:
        """Open volunteer tasks of the actor's community, or the actor's own ones."""
        if actor.community is None:
            raise NotAllowed("no_community")
        if mine:
            cond = [Request.assignee_id == actor.id,
                    Request.status.in_([Status.CLAIMED, Status.IN_PROGRESS, Status.HANDLING,
                                        Status.ESCALATED, Status.DEPT_ACCEPTED, Status.PARTNER_ACCEPTED])]
        else:
            if not policy.may_list_tasks(actor.memberships, actor.community.id):
                raise NotAllowed("volunteers_only")
            cond = [Request.community_id == actor.community.id, Request.status == Status.ACCEPTED]
        async with self.db.read() as s:
            return await self._page(s, cond, [Request.id], offset, limit)

    async def similar_open(self, actor: Actor, category: str | None, grid_id: int | None) -> list[View]:
        """Open requests of the same category in the same grid: "follow that one instead"."""
        if actor.community is None or not category:
            return []
        async with self.db.read() as s:
            rows = (await s.execute(select(Request).where(
                Request.community_id == actor.community.id, Request.grid_id == grid_id,
                Request.category == category, Request.status.in_(list(OPEN_STATUSES)),
                Request.requester_id != actor.id).order_by(Request.id.desc()).limit(3))).scalars().all()
            return await self._views(s, rows)

    async def merge_candidates(self, actor: Actor, req_id: int) -> list[View]:
        """Open requests a new one may duplicate: same grid first, newest first."""
        async with self.db.read() as s:
            req = await self.triage_target(s, actor, req_id)
            rows = (await s.execute(select(Request).where(
                Request.community_id == req.community_id, Request.id != req.id,
                Request.status.in_([status for status in OPEN_STATUSES if status != Status.NEW] + [Status.NEW]))
                .order_by((Request.grid_id == req.grid_id).desc(), Request.id.desc()).limit(8))).scalars().all()
            return await self._views(s, rows)

    async def question_behind(self, chat_id: int, message_id: int) -> int | None:
        """The request whose "question for you" message this is, if it is one (a reply to it in a
        group is the resident's answer)."""
        async with self.db.read() as s:
            key = (await s.execute(select(Outbox.key).where(Outbox.chat_id == chat_id,
                                                            Outbox.message_id == message_id))).scalars().first()
        parsed = OutboxKey.parse(key)
        return parsed.ref if parsed and parsed.kind == "ask" else None

    async def find_by_number(self, actor: Actor, ref: str) -> Request:
        """`JMS-0042`, `jms-42` or `42`, within the actor's community."""
        if actor.community is None:
            raise NotAllowed("no_community")
        prefix, _, digits = ref.strip().rpartition("-")
        if not digits.isdigit() or (prefix and prefix.upper() != actor.community.code.upper()):
            raise NotFound("request_not_found", ref=ref)  # another community's number is not ours
        async with self.db.read() as s:
            req = (await s.execute(select(Request).where(Request.community_id == actor.community.id,
                                                         Request.number == int(digits)))).scalars().first()
        if req is None:
            raise NotFound("request_not_found", ref=ref)
        return req

    async def liaisons(self, actor: Actor) -> list[tuple[User, str]]:
        if actor.community is None:
            return []
        async with self.db.read() as s:
            rows = (await s.execute(select(User, Membership.department).join(
                Membership, Membership.user_id == User.id).where(
                Membership.community_id == actor.community.id, Membership.role == Role.LIAISON)
                .order_by(Membership.department))).all()
            return [(user, department or "") for user, department in rows]
