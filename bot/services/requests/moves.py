"""The one place a request's status changes: `apply` checks the move against
`bot.services.states`, sets its fields and timer, runs the move's effects, records the audit event
and tells the requester, followers, "me too" households and the staff feed."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import Stale
from bot.privacy import Restricted
from bot.services import points, queries, states
from bot.services.buttons import Act, Button, press
from bot.services.community import audit, settings_of
from bot.services.context import Actor
from bot.services.requests.values import Stage, View
from storage.models import OPEN_STATUSES, Community, MeToo, Request, Role, Status, User, utcnow


class Moves(Stage):
    async def _transition(self, actor: Actor, req_id: int, to: Status, action: str, *, triage: bool,
                          fields: dict[str, Any] | None = None, note: str | None = None,
                          assignee: int | None = None, timer: tuple[str, str] | None = None) -> View:
        async with self.db.write() as s:
            req = await self.triage_target(s, actor, req_id) if triage else await self.load(s, req_id)
            fields = dict(fields or {})
            if assignee is not None:
                fields["assignee_id"] = assignee
            view = await self.apply(s, actor, req, to, action, fields=fields, note=note, timer=timer)
            if to == Status.ACCEPTED:
                await self._post_task(s, view)
            if to == Status.HANDLING:
                await self.brief_assignee(s, view)
        self.notifier.wake()
        return view

    async def apply(self, s: AsyncSession, actor: Actor, req: Request, to: str, action: str, *,
                    fields: dict[str, Any] | None = None, note: str | None = None,
                    timer: tuple[str, str] | None = None, tell_requester: bool = True,
                    extra: dict[str, Any] | None = None, public_note: bool = False) -> View:
        """Move `req` to `to` (a move `bot.services.states` allows, else Stale): fields, timer, audit,
        requester/follower notices, card and feed.

        `note` is restricted unless `public_note`: followers, groups and the staff feed then get
        the change without it; the requester gets it."""
        before = req.status
        if not states.may_move(before, to):
            raise Stale("already_handled", status=before)
        now = utcnow()
        for name, value in (fields or {}).items():
            setattr(req, name, value)
        if timer is not None:
            community = await s.get(Community, req.community_id)
            assert community is not None
            req.timer_kind, req.timer_at = timer[0], now + timedelta(hours=settings_of(community)[timer[1]])
        elif to not in OPEN_STATUSES:
            req.timer_kind = req.timer_at = None
        req.status, req.updated_at = to, now
        if before == Status.NEW and req.triaged_at is None and to not in (Status.NEW, Status.CANCELLED):
            req.triaged_at = now
        community = await s.get(Community, req.community_id)
        assert community is not None
        if to == Status.DONE:
            # Done means "fixed?" is asked: the requester signs off, or a reminder and then an
            # auto-close (never counted as satisfied) follow.
            req.done_at = now
            req.timer_kind = "signoff_remind"
            req.timer_at = now + timedelta(hours=settings_of(community)["signoff_remind_hours"])
            if req.assignee_id and await self._is_member(s, req.assignee_id, req.community_id, Role.VOLUNTEER):
                await points.award(s, community, req.assignee_id, "task_done", f"done:{req.id}")
        elif to == Status.ACCEPTED and before == Status.NEW:
            await points.award(s, community, req.requester_id, "request_accepted", f"accepted:{req.id}")
        s.add(req)
        for hook in self.on_close:
            await hook(s, req, to)
        audit(s, community_id=req.community_id, actor_id=actor.id, entity="request", entity_id=req.id or 0,
              action=action, from_state=before, to_state=to, note=note, public=public_note)
        view = await self.view_of(s, req)
        told = note if public_note or note is None else Restricted(note)
        ctx = view.ctx(action=action, note=told, actor_name=actor.user.first_name, **(extra or {}))
        # Followers read public fields and public notes only.
        follower_ctx = view.public_ctx(action=action, note=note if public_note else "",
                                       actor_name=actor.user.first_name, **(extra or {}))
        if tell_requester:
            for uid in await queries.audience(s, req):
                if uid == actor.id:
                    continue  # the person acting gets a direct reply instead
                person = await s.get(User, uid)
                if person is None:
                    continue
                if to == Status.DONE and uid == req.requester_id:
                    self.ask_signoff(s, view, person, note=told)
                elif uid == req.requester_id:
                    self.notifier.to_user(s, person, view.community, "status_changed", key=f"req:{req.id}",
                                          fallback_chat_id=req.source_chat_id, **ctx)
                else:
                    self.notifier.to_user(s, person, view.community, "status_changed", key=f"req:{req.id}",
                                          **follower_ctx)
        if to not in OPEN_STATUSES or action == "reopened":
            await self._tell_tappers(s, req, view, actor, follower_ctx)
        if before == Status.NEW and to != Status.NEW:
            await self._close_posts(s, view, "card", actor_name=actor.user.first_name)
        await self._feed(s, view, action, note=note if public_note else None)
        return view

    async def _tell_tappers(self, s: AsyncSession, req: Request, view: View, actor: Actor,
                            ctx: dict[str, Any]) -> None:
        """Households that said "me too" hear the outcome (done, not taken up, merged, cancelled,
        closed) and a reopening, in their language, through the outbox; only public fields and
        notes. Those who follow the request hear every change already."""
        told = set(await queries.audience(s, req)) | {actor.id}
        tappers = (await s.execute(select(MeToo.user_id).where(MeToo.request_id == req.id)
                                   .order_by(MeToo.at))).scalars().all()
        for uid in tappers:
            if uid in told:
                continue
            person = await s.get(User, uid)
            if person is not None:
                self.notifier.to_user(s, person, view.community, "status_changed", key=f"req:{req.id}", **ctx)

    def ask_signoff(self, s: AsyncSession, view: View, requester: User, template: str = "signoff_ask",
                    note: str | None = None) -> None:
        """"Is it resolved?" with one-tap answers; in the group (with a link) if we cannot DM."""
        buttons = [[Button("signoff_yes", press(Act.SIGNOFF, view.req.id or 0, 1)),
                    Button("signoff_no", press(Act.SIGNOFF, view.req.id or 0, 0))]]
        self.notifier.to_user(s, requester, view.community, template, buttons=buttons, key=f"signoff:{view.req.id}",
                              fallback_chat_id=view.req.source_chat_id, link=f"so_{view.req.id}", **view.ctx(note=note))
