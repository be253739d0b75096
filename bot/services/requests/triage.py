"""Triage and routing: staff or the grid's leader accept a new request (a volunteer task is
posted), run it themselves, decline it, merge it into another, ask the requester, escalate it to a
department's liaison (街道吹哨、部门报到) or send it to the council (议事会), whose outcome moves it on."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import policy
from bot.errors import BadInput, NotAllowed, Stale
from bot.i18n import Named
from bot.services.buttons import Act, Button, press
from bot.services.community import audit, in_working_hours, settings_of
from bot.services.context import Actor, memberships_of
from bot.services.keys import OutboxKey
from bot.services.requests.values import (DECLINE_REASONS, DUE_DAYS, MAX_DESCRIPTION, Stage, View, add_metoo,
                                          issue_number, note_text)
from storage.cache import row
from storage.db import locked
from storage.models import OPEN_STATUSES, Community, Follower, Membership, MeToo, Outcome, Request, Role, Status, utcnow


class Triage(Stage):
    async def triage_target(self, s: AsyncSession, actor: Actor, req_id: int,
                            allowed: frozenset[str] = frozenset({Status.NEW})) -> Request:
        req = await self.load(s, req_id)
        if not policy.may_triage(await memberships_of(s, actor.id, req.community_id), req):
            raise NotAllowed("triage_not_allowed")
        if req.status not in allowed:
            raise Stale("already_handled", status=req.status)
        return req

    @staticmethod
    async def is_member(s: AsyncSession, user_id: int, community_id: int, role: Role,
                        grid_id: int | None = None) -> bool:
        return policy.has_role(await memberships_of(s, user_id, community_id), community_id, role, grid_id)

    async def check_triage(self, actor: Actor, req_id: int) -> View:
        """Validate that the actor may triage this request now (before a multi-step choice)."""
        async with self.db.read() as s:
            return await self.view_of(s, await self.triage_target(s, actor, req_id))

    async def categorise(self, actor: Actor, req_id: int, category: str) -> View:
        """Triage sets or changes the category (a request filed in a group has none), while the
        request is open: the monthly report and the similar-request search count on it. An open
        triage card is redrawn with it."""
        async with self.db.write() as s:
            req = await self.triage_target(s, actor, req_id, frozenset(OPEN_STATUSES))
            community = await row(s, Community, req.community_id)
            assert community is not None
            if category not in settings_of(community)["categories"]:
                raise BadInput("bad_category")
            before, req.category, req.updated_at = req.category, category, utcnow()
            s.add(req)
            audit(s, community_id=req.community_id, actor_id=actor.id, entity="request", entity_id=req.id or 0,
                  action="categorised", note=f"{before or ''}→{category}")
            view = await self.view_of(s, req)
            await self._redraw_cards(s, view)
        self.notifier.wake()
        return view

    async def accept(self, actor: Actor, req_id: int) -> View:
        """Accepted: a volunteer task is posted, without personal data."""
        return await self._transition(actor, req_id, Status.ACCEPTED, "accepted", triage=True,
                                      timer=("claim_remind", "claim_remind_hours"))

    async def handle(self, actor: Actor, req_id: int) -> View:
        """The grid leader runs it themselves (代办) and gets the details privately."""
        if not actor.user.started or actor.user.blocked:
            raise NotAllowed("start_bot_first")
        return await self._transition(actor, req_id, Status.HANDLING, "handling", triage=True,
                                      assignee=actor.id, timer=("done_remind", "done_remind_hours"))

    async def decline(self, actor: Actor, req_id: int, reason: str, note: str | None) -> View:
        if reason not in DECLINE_REASONS:
            raise BadInput("bad_reason")
        note = note_text(note)
        if reason == "other" and not note:
            raise BadInput("note_required")
        await self.prepare(note)
        return await self._transition(actor, req_id, Status.DECLINED, "declined", triage=True,
                                      fields={"reason": reason, "reason_note": note}, note=note)

    async def merge(self, actor: Actor, req_id: int, original_id: int) -> View:
        if req_id == original_id:
            raise BadInput("same_request")
        async with self.db.write() as s:
            req = await self.triage_target(s, actor, req_id)
            original = await locked(s, Request, original_id)  # still open when merged into
            if original is None or original.community_id != req.community_id or original.status not in OPEN_STATUSES:
                raise Stale()
            for uid in {req.requester_id} | set((await s.execute(select(Follower.user_id).where(
                    Follower.request_id == req.id))).scalars()):
                if uid != original.requester_id and await s.get(Follower, (original.id, uid)) is None:
                    s.add(Follower(request_id=original.id, user_id=uid))
            # The duplicate's households (its requester's and its "me too"s) are the original's now.
            tappers = set((await s.execute(select(MeToo.user_id).where(MeToo.request_id == req.id))).scalars())
            for uid in ({req.requester_id} | tappers) - {original.requester_id}:
                await add_metoo(s, original.id or 0, uid)
            original_view = await self.view_of(s, original)
            view = await self.apply(s, actor, req, Status.DUPLICATE, "merged", public_note=True,
                                    fields={"duplicate_of_id": original.id}, note=original_view.no,
                                    extra={"original": original_view.no})
            await self._redraw_cards(s, await self.view_of(s, original))
        self.notifier.wake()
        return view

    async def ask_info(self, actor: Actor, req_id: int, question: str) -> View:
        """The requester is asked; the clock pauses until they answer."""
        question = note_text(question)
        if not question:
            raise BadInput("note_required")
        await self.prepare(question)
        async with self.db.write() as s:
            req = await self.triage_target(s, actor, req_id)
            remaining = int((req.timer_at - utcnow()).total_seconds()) if req.timer_at else None
            view = await self.apply(s, actor, req, Status.WAITING_INFO, "info_requested", note=question,
                                    fields={"paused_status": req.status, "paused_remaining_s": remaining,
                                            "timer_at": None, "timer_kind": None},
                                    tell_requester=False)
            self.notifier.to_user(s, view.requester, view.community, "ask_info", question=question,
                                  buttons=[[Button("answer", press(Act.ANSWER, req.id or 0))]],
                                  fallback_chat_id=req.source_chat_id, key=str(OutboxKey("ask", req.id or 0)),
                                  link=f"an_{req.id}",
                                  **view.ctx())
        self.notifier.wake()
        return view

    async def check_answer(self, actor: Actor, req_id: int) -> View:
        """Validate that the actor is the requester and a question waits for them (before asking
        them to type the answer)."""
        async with self.db.read() as s:
            req = await self.load(s, req_id)
            if actor.id != req.requester_id:
                raise NotAllowed("not_yours")
            if req.status != Status.WAITING_INFO:
                raise Stale("already_handled", status=req.status)
            return await self.view_of(s, req)

    async def answer_info(self, actor: Actor, req_id: int, answer: str) -> View:
        answer = note_text(answer)
        if not answer:
            raise BadInput("note_required")
        await self.prepare(answer)
        async with self.db.write() as s:
            req = await self.load(s, req_id)
            if actor.id != req.requester_id:
                raise NotAllowed("not_yours")
            if req.status != Status.WAITING_INFO:
                raise Stale("already_handled", status=req.status)
            resume = req.paused_status or Status.NEW
            remaining = req.paused_remaining_s if req.paused_remaining_s is not None else 0
            view = await self.apply(s, actor, req, resume, "info_answered", note=answer,
                                    fields={"paused_status": None, "paused_remaining_s": None,
                                            "timer_at": utcnow() + timedelta(seconds=max(remaining, 0)),
                                            "timer_kind": "triage_remind"},
                                    tell_requester=False)
            await self.post_card(s, view, "answer", answer)
        self.notifier.wake()
        return view

    async def escalate(self, actor: Actor, req_id: int, liaison_id: int, days: int) -> View:
        """街道吹哨、部门报到: the liaison gets the request with a due date; the trail is visible."""
        if days not in DUE_DAYS:
            raise BadInput("bad_due")
        async with self.db.write() as s:
            req = await self.triage_target(s, actor, req_id)
            department = (await s.execute(select(Membership.department).where(
                Membership.user_id == liaison_id, Membership.community_id == req.community_id,
                Membership.role == Role.LIAISON))).scalars().first()
            if department is None:
                raise Stale()
            community = await s.get(Community, req.community_id)
            assert community is not None
            due = in_working_hours(community, utcnow() + timedelta(days=days))  # never a due date in the night
            remind = due - timedelta(hours=settings_of(community)["dept_remind_hours"])
            view = await self.apply(s, actor, req, Status.ESCALATED, "escalated", note=department, public_note=True,
                                    fields={"assignee_id": liaison_id, "department": department, "dept_due_at": due,
                                            "timer_at": remind, "timer_kind": "dept_remind"})  # the liaison is briefed
        self.notifier.wake()
        return view

    # The council (议事会) steps. Each runs inside the caller's unit of work (the deliberation
    # service's), so the request and its proposal change together or not at all.
    async def to_council(self, s: AsyncSession, actor: Actor, req_id: int) -> View:
        """Triage sends a public matter to the council; its triage clock stops."""
        req = await self.triage_target(s, actor, req_id)
        return await self.apply(s, actor, req, Status.COUNCIL, "to_council",
                                fields={"timer_at": None, "timer_kind": None})

    async def council_task(self, s: AsyncSession, community_id: int, requester_id: int,
                           description: str) -> Request:
        """A passed proposal with no request behind it becomes one, filed for its proposer and
        waiting in `council` so that `after_council` posts it like any other."""
        req = Request(community_id=community_id, number=await issue_number(s, community_id), requester_id=requester_id,
                      category="public", description=description[:MAX_DESCRIPTION], status=Status.COUNCIL)
        s.add(req)
        await s.flush()
        audit(s, community_id=community_id, actor_id=None, entity="request", entity_id=req.id or 0,
              action="filed", to_state=Status.COUNCIL)
        return req

    async def after_council(self, s: AsyncSession, actor: Actor, req_id: int, outcome: str,
                            decision: Named | None = None) -> View | None:
        """The council's outcome moves the request on: passed -> the volunteer task is posted;
        rejected -> closed, not fixed, with the council as reason; no quorum or withdrawn -> back
        to triage with a fresh card. The caller tells the requester (with the figures). None if
        the request left `council` meanwhile (e.g. the requester cancelled it)."""
        req = await self.load(s, req_id)
        if req.status != Status.COUNCIL:
            return None
        if outcome == Outcome.PASSED:
            view = await self.apply(s, actor, req, Status.ACCEPTED, "council_passed", tell_requester=False,
                                    timer=("claim_remind", "claim_remind_hours"), extra={"decision": decision})
        elif outcome == Outcome.REJECTED:
            view = await self.apply(s, actor, req, Status.DECLINED, "council_rejected", tell_requester=False,
                                    fields={"reason": "council_rejected"})
        else:
            community = await s.get(Community, req.community_id)
            assert community is not None
            view = await self.apply(s, actor, req, Status.NEW, f"council_{outcome}", tell_requester=False,
                                    fields={"timer_kind": "triage_remind",
                                            "timer_at": utcnow() + timedelta(
                                                hours=settings_of(community)["triage_hours"])})
            await self.post_card(s, view)
        return view
