"""Sign-off by the requester (居民签单): "Is it resolved?" — Yes, then 1–5 stars and an optional
comment, each one tap and recorded at once; or "Not yet", which reopens the request with a
required comment, tells whoever can act, and restarts its clock. The history keeps every round.
"""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import BadInput, NotAllowed, Stale
from bot.services import points
from bot.services.community import audit, settings_of
from bot.services.context import Actor
from bot.services.requests import RequestService, View
from bot.services.requests import note_text as _note
from storage.models import Community, Rating, Request, Status, User, utcnow

REOPENABLE = (Status.DONE, Status.CLOSED_UNRATED)


class SignOffService:
    def __init__(self, requests: RequestService) -> None:
        self.requests = requests
        self.db, self.notifier = requests.db, requests.notifier

    async def _mine(self, s: AsyncSession, actor: Actor, req_id: int) -> Request:
        req = await self.requests.load(s, req_id)
        if req.requester_id != actor.id:
            raise NotAllowed("not_yours")
        return req

    async def _rating(self, s: AsyncSession, req: Request) -> Rating | None:
        return (await s.execute(select(Rating).where(Rating.request_id == req.id,
                                                     Rating.round == req.round))).scalars().first()

    async def pending(self, actor: Actor, req_id: int, statuses: tuple[str, ...] = (Status.DONE,)) -> View:
        """The request waiting for this requester's answer (a deep link from a group lands here)."""
        async with self.db.read() as s:
            req = await self._mine(s, actor, req_id)
            if req.status not in statuses:
                raise Stale("already_handled", status=req.status)
            return await self.requests.view_of(s, req)

    async def resolved(self, actor: Actor, req_id: int) -> View:
        """"Yes, it is resolved": closed at once; stars may follow."""
        async with self.db.write() as s:
            req = await self._mine(s, actor, req_id)
            if req.status != Status.DONE:
                raise Stale("already_handled", status=req.status)
            s.add(Rating(request_id=req.id or 0, round=req.round, user_id=actor.id, resolved=True))
            v = await self.requests.apply(s, actor, req, Status.CLOSED, "signed_off", fields={"closed_at": utcnow()})
        self.notifier.wake()
        return v

    async def rate(self, actor: Actor, req_id: int, stars: int) -> View:
        if not 1 <= stars <= 5:
            raise BadInput("bad_stars")
        async with self.db.write() as s:
            req = await self._mine(s, actor, req_id)
            rating = await self._rating(s, req)
            if rating is None or not rating.resolved or rating.stars is not None:
                raise Stale()  # rated already (a second tap), or nothing to rate
            rating.stars = stars
            s.add(rating)
            community = await s.get(Community, req.community_id)
            assert community is not None
            if stars == 5 and req.assignee_id:
                await points.award(s, community, req.assignee_id, "five_stars", f"five:{req.id}:{req.round}")
            audit(s, community_id=req.community_id, actor_id=actor.id, entity="request", entity_id=req.id or 0,
                  action="rated", note=str(stars))
            v = await self.requests.view_of(s, req)
            if v.assignee is not None:
                self.notifier.to_user(s, v.assignee, community, "rated", stars=stars, **v.ctx())
        self.notifier.wake()
        return v

    async def comment(self, actor: Actor, req_id: int, text: str | None) -> View:
        text = _note(text)
        async with self.db.write() as s:
            req = await self._mine(s, actor, req_id)
            rating = await self._rating(s, req)
            if rating is None:
                raise Stale()
            if text:
                rating.comment = text
                s.add(rating)
                audit(s, community_id=req.community_id, actor_id=actor.id, entity="request",
                      entity_id=req.id or 0, action="commented", note=text)
            return await self.requests.view_of(s, req)

    async def reopen(self, actor: Actor, req_id: int, comment: str | None) -> View:
        """"Not yet": back to triage with the comment, the previous assignee, leader and staff told."""
        comment = _note(comment)
        if not comment:
            raise BadInput("reopen_comment_required")
        await self.requests.prepare(comment)
        async with self.db.write() as s:
            req = await self._mine(s, actor, req_id)
            if req.status not in REOPENABLE:
                raise Stale("already_handled", status=req.status)
            s.add(Rating(request_id=req.id or 0, round=req.round, user_id=actor.id, resolved=False,
                         comment=comment))
            previous = await s.get(User, req.assignee_id) if req.assignee_id else None
            community = await s.get(Community, req.community_id)
            assert community is not None
            v = await self.requests.apply(s, actor, req, Status.NEW, "reopened", note=comment, fields={
                "round": req.round + 1, "assignee_id": None, "done_at": None, "closed_at": None,
                "timer_kind": "triage_remind",
                "timer_at": utcnow() + timedelta(hours=settings_of(community)["triage_hours"])})
            if previous is not None and previous.id != actor.id:
                self.notifier.to_user(s, previous, community, "reopened_notice", comment=comment, **v.ctx())
            await self.requests.retract_brief(s, v, previous)
            await self.requests.post_card(s, v, "reopened", comment)
        self.notifier.wake()
        return v
