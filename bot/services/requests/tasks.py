"""The work: a volunteer claims a posted task (first tap wins) or a leader assigns it; the assignee
reports progress, marks it done (with a photo) or releases it; a department's liaison accepts,
finishes or returns an escalated request; the requester or staff cancel an open one."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import BadInput, NotAllowed, NotFound, Stale
from bot.services.community import settings_of
from bot.services.context import Actor
from bot.services.requests.values import Op, Stage, View, note_text
from storage.models import OPEN_STATUSES, Community, Membership, Request, Role, Status, User, utcnow


class Tasks(Stage):
    async def claim(self, actor: Actor, req_id: int) -> View:
        """First eligible volunteer wins (`take_first`)."""
        async with self.db.write() as s:
            req = await self.load(s, req_id)
            if not await self.is_member(s, actor.id, req.community_id, Role.VOLUNTEER):
                raise NotAllowed("volunteers_only")
            if not await self.take_first(s, actor, req, Status.ACCEPTED, Status.CLAIMED, Status.IN_PROGRESS):
                return await self.view_of(s, req)  # a double tap: the task is his, nothing changes
            view = await self.apply(s, actor, req, Status.CLAIMED, "claimed",
                                    fields={"assignee_id": actor.id},
                                    timer=("done_remind", "done_remind_hours"))  # post taken, brief: states.MOVES
        self.notifier.wake()
        return view

    @staticmethod
    async def take_first(s: AsyncSession, actor: Actor, req: Request, waiting: Status, taken: Status,
                         *later: Status) -> bool:
        """First tap wins (a volunteer's claim, a provider's acceptance). `req` was loaded locked
        (`load`): the tap that finds it `waiting` holds it until its move to `taken` has committed,
        and the next tap reads it after that. True for the winner, whose `apply` then makes the
        move; False for the winner tapping again (`req` is `taken` or `later`, theirs); Stale for
        everyone else."""
        if not actor.user.started or actor.user.blocked:
            raise NotAllowed("start_bot_first")  # what the task needs could not reach them
        if req.status == waiting:
            return True
        if req.status in (taken, *later):
            if req.assignee_id == actor.id:
                return False
            raise Stale("already_claimed")
        raise Stale("already_handled", status=req.status)

    async def assign(self, actor: Actor, req_id: int, volunteer: str) -> View:
        """Leaders and staff give an open task to a named volunteer (@username or id)."""
        async with self.db.write() as s:
            req = await self.triage_target(s, actor, req_id, frozenset({Status.NEW, Status.ACCEPTED}))
            ref = volunteer.lstrip("@")
            query = select(User).join(Membership, Membership.user_id == User.id).where(
                Membership.community_id == req.community_id, Membership.role == Role.VOLUNTEER)
            query = query.where(User.id == int(ref) if ref.isdigit() else func.lower(User.username) == ref.lower())
            chosen = (await s.execute(query)).scalars().first()
            if chosen is None:
                raise NotFound("volunteer_not_found", name=volunteer)
            if not chosen.started or chosen.blocked:
                raise BadInput("volunteer_unreachable", name=chosen.first_name)
            # From `accepted` the task post says it is taken; from `new` the card closes; the brief either way.
            view = await self.apply(s, actor, req, Status.CLAIMED, "assigned", note=chosen.first_name, public_note=True,
                                    fields={"assignee_id": chosen.id}, timer=("done_remind", "done_remind_hours"))
        self.notifier.wake()
        return view

    @staticmethod
    def _check_assignee(actor: Actor, req: Request) -> None:
        if req.assignee_id != actor.id:
            raise NotAllowed("not_assignee")
        if req.status not in (Status.CLAIMED, Status.IN_PROGRESS, Status.HANDLING, Status.PARTNER_ACCEPTED):
            raise Stale("already_handled", status=req.status)

    async def check_task(self, actor: Actor, req_id: int) -> View:
        """Validate that the actor works on this task now (before asking them to type)."""
        async with self.db.read() as s:
            req = await self.load(s, req_id)
            self._check_assignee(actor, req)
            return await self.view_of(s, req)

    async def task_op(self, actor: Actor, req_id: int, op: int, note: str | None = None,
                      photo: str | None = None) -> View:
        """Progress, done or release by the assignee (volunteer or the grid leader handling it)."""
        await self.prepare(note_text(note))
        async with self.db.write() as s:
            req = await self.load(s, req_id)
            self._check_assignee(actor, req)
            note = note_text(note)
            if op == Op.PROGRESS:
                if not note:
                    raise BadInput("note_required")
                to = req.status if req.status in (Status.HANDLING, Status.PARTNER_ACCEPTED) else Status.IN_PROGRESS
                view = await self.apply(s, actor, req, to, "progress", note=note)
            elif op == Op.DONE:
                if photo:
                    req.photos = [*req.photos, f"done:{photo}"]
                view = await self.apply(s, actor, req, Status.DONE, "done", note=note, extra={"photo": photo})
                if photo and view.requester is not None:
                    self.notifier.to_user(s, view.requester, view.community, "done_photo", photo=photo, **view.ctx())
            elif op == Op.RELEASE and req.status not in (Status.HANDLING, Status.PARTNER_ACCEPTED):
                view = await self.apply(s, actor, req, Status.ACCEPTED, "released",
                                        fields={"assignee_id": None}, timer=("claim_remind", "claim_remind_hours"))
                await self.retract_brief(s, view, actor.user)
                await self.update_task_post(s, view, released=True)
            else:
                raise Stale()
        self.notifier.wake()
        return view

    async def check_liaison(self, actor: Actor, req_id: int) -> View:
        """Validate that the actor is the liaison of this escalated request now (before asking
        them to type a note)."""
        async with self.db.read() as s:
            req = await self.load(s, req_id)
            if req.assignee_id != actor.id:
                raise NotAllowed("not_assignee")
            if req.status not in (Status.ESCALATED, Status.DEPT_ACCEPTED):
                raise Stale("already_handled", status=req.status)
            return await self.view_of(s, req)

    async def liaison_op(self, actor: Actor, req_id: int, op: int, note: str | None = None) -> View:
        await self.prepare(note_text(note))
        async with self.db.write() as s:
            req = await self.load(s, req_id)
            if req.assignee_id != actor.id or req.status not in (Status.ESCALATED, Status.DEPT_ACCEPTED):
                if req.assignee_id != actor.id:
                    raise NotAllowed("not_assignee")
                raise Stale("already_handled", status=req.status)
            if op == Op.DEPT_ACCEPT and req.status == Status.ESCALATED:
                view = await self.apply(s, actor, req, Status.DEPT_ACCEPTED, "dept_accepted", note=req.department,
                                        public_note=True)
            elif op == Op.DEPT_DONE:
                view = await self.apply(s, actor, req, Status.DONE, "done", note=note_text(note))
            elif op == Op.DEPT_RETURN:
                note = note_text(note)
                if not note:
                    raise BadInput("note_required")
                community = await s.get(Community, req.community_id)
                assert community is not None
                view = await self.apply(s, actor, req, Status.NEW, "returned", note=note,
                                        fields={"assignee_id": None, "department": None, "dept_due_at": None,
                                                "timer_kind": "triage_remind",
                                                "timer_at": utcnow() + timedelta(
                                                    hours=settings_of(community)["triage_hours"])})
                await self.retract_brief(s, view, actor.user)
                await self.post_card(s, view, "returned", note)
            else:
                raise Stale()
        self.notifier.wake()
        return view

    async def cancel(self, actor: Actor, req_id: int) -> View:
        async with self.db.write() as s:
            req = await self.load(s, req_id)
            if actor.id != req.requester_id and not await self.is_member(s, actor.id, req.community_id, Role.STAFF):
                raise NotAllowed("not_yours")
            if req.status not in OPEN_STATUSES:
                raise Stale("already_handled", status=req.status)
            assignee = await s.get(User, req.assignee_id) if req.assignee_id else None
            view = await self.apply(s, actor, req, Status.CANCELLED, "cancelled",
                                    fields={"timer_at": None, "timer_kind": None})
            if assignee is not None and assignee.id != actor.id:
                self.notifier.to_user(s, assignee, view.community, "status_changed",
                                      **view.ctx(action="cancelled", note=None, actor_name=actor.user.first_name))
            await self.retract_brief(s, view, assignee)
            await self.close_posts(s, view, "task")
        self.notifier.wake()
        return view
