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
from bot.services import states
from bot.services.buttons import Act, Button, press
from bot.services.community import audit, settings_of
from bot.services.context import Actor
from bot.services.requests.values import Stage, View
from storage.cache import row
from storage.models import OPEN_STATUSES, Community, MeToo, Request, Status, User, utcnow


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
        self.notifier.wake()
        return view

    async def apply(self, s: AsyncSession, actor: Actor, req: Request, to: str, action: str, *,
                    fields: dict[str, Any] | None = None, note: str | None = None,
                    timer: tuple[str, str] | None = None, tell_requester: bool = True,
                    extra: dict[str, Any] | None = None, public_note: bool = False) -> View:
        """Move `req` to `to` (a move `bot.services.states` allows, else Stale): fields, timer, the
        move's effects (`states.MOVES`), audit, requester/follower notices and the staff feed.

        `note` is restricted unless `public_note`: followers, groups and the staff feed then get
        the change without it; the requester gets it."""
        before = req.status
        if not states.may_move(before, to):
            raise Stale("already_handled", status=before)
        now = utcnow()
        community = await row(s, Community, req.community_id)
        assert community is not None
        move = states.Move(s, self, actor, req, community, before, to, now, extra or {})
        for name, value in (fields or {}).items():
            setattr(req, name, value)
        if timer is not None:
            req.timer_kind, req.timer_at = timer[0], now + timedelta(hours=settings_of(community)[timer[1]])
        elif to not in OPEN_STATUSES:
            req.timer_kind = req.timer_at = None
        req.status, req.updated_at = to, now
        await states.run(states.RECORD, move)
        s.add(req)
        for hook in self.on_close:
            await hook(s, req, to)
        audit(s, community_id=req.community_id, actor_id=actor.id, entity="request", entity_id=req.id or 0,
              action=action, from_state=before, to_state=to, note=note, public=public_note)
        await s.flush()  # the move itself; what follows only tells people: their messages are written
        with s.no_autoflush:  # together, in one INSERT, when the unit of work ends
            view = move.view = await self.view_of(s, req, audience=True)
            told = note if public_note or note is None else Restricted(note)
            ctx = view.ctx(action=action, note=told, actor_name=actor.user.first_name, **(extra or {}))
            # Followers read public fields and public notes only.
            follower_ctx = move.public = view.public_ctx(action=action, note=note if public_note else "",
                                                         actor_name=actor.user.first_name, **(extra or {}))
            if tell_requester:
                for person in view.audience:
                    if person.id == actor.id:
                        continue  # the actor gets a reply
                    if to == Status.DONE and person.id == req.requester_id:
                        self.ask_signoff(s, view, person, note=told)
                    elif person.id == req.requester_id:
                        self.notifier.to_user(s, person, view.community, "status_changed", key=f"req:{req.id}",
                                              fallback_chat_id=req.source_chat_id, **ctx)
                    else:
                        self.notifier.to_user(s, person, view.community, "status_changed", key=f"req:{req.id}",
                                              **follower_ctx)
            await states.run(states.NOTICE, move)
            await self._feed(s, view, action, note=note if public_note else None)
            await states.run(states.AFTER, move)
        return view

    async def tell_tappers(self, s: AsyncSession, req: Request, view: View, actor: Actor,
                           ctx: dict[str, Any]) -> None:
        """Households that said "me too" hear the outcome (done, not taken up, merged, cancelled,
        closed) and a reopening, in their language, through the outbox; only public fields and
        notes. Those who follow the request hear every change already."""
        told = {person.id for person in view.audience} | {actor.id}  # read with the move's view
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
