"""Closing and outcomes: a vote closes at its deadline (the sweep) or early by staff; the outcome
moves what follows from it (the linked request, a new volunteer task for a decision without one, a
convention adopted), is announced, and staff add a statement for the minutes."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import BadInput, NotAllowed, Stale
from bot.i18n import Named
from bot.services import queries
from bot.services.buttons import Button
from bot.services.community import audit
from bot.services.context import Actor, system_actor
from bot.services.deliberation.values import MAX_STATEMENT, PView, Stage, check_length, statement_buttons
from bot.services.deliberation.voting import decide
from bot.services.execution import ExecutionService, open_execution
from bot.services.notify import INTERACTIVE
from bot.services.points import award
from bot.services.requests import View
from storage.db import locked
from storage.models import ChatKind, Convention, Outbox, Outcome, Proposal, ProposalStatus, Turnout, User, Vote, utcnow

log = logging.getLogger("bot.services.deliberation")  # the name it always logged under


class Closing(Stage):
    executions: ExecutionService

    async def close(self, actor: Actor, pid: int, reply_chat: int | None = None) -> PView:
        """Staff close a vote early once every elector has voted (or at any time after the
        deadline, should the sweep not have run yet)."""
        async with self.db.write() as s:
            proposal = await self.load(s, pid, lock=True)
            if not await self._may_close(s, actor, proposal):
                raise NotAllowed("staff_only")
            if proposal.status != ProposalStatus.OPEN:
                raise Stale("vote_closed" if proposal.status in (ProposalStatus.CLOSED,
                                                                 ProposalStatus.WITHDRAWN) else "stale")
            turnout = (await self._tally(s, proposal)).turnout
            if turnout < proposal.eligible and proposal.closes_at is not None and proposal.closes_at > utcnow():
                raise BadInput("not_everyone_voted", turnout=turnout, eligible=proposal.eligible)
            view = await self._close(s, proposal, actor, reply_chat)
        self.notifier.wake()
        return view

    async def _close(self, s: AsyncSession, proposal: Proposal, closer: Actor | None,
                     reply_chat: int | None = None) -> PView:
        """Count, decide, record the minutes, announce, and move what follows from the outcome:
        a linked request (volunteer task, closed, or back to triage), a new task for a passed
        proposal without a request, a convention for a passed convention."""
        now = utcnow()
        won = (await s.execute(update(Proposal).where(Proposal.id == proposal.id,
                                                      Proposal.status == ProposalStatus.OPEN)
                               .values(status=ProposalStatus.CLOSED, closed_at=now))).rowcount == 1
        if not won:
            raise Stale("vote_closed")
        counts = await self._counts(s, proposal)
        turnout = (await s.execute(select(func.count()).select_from(Turnout)
                                   .where(Turnout.proposal_id == proposal.id))).scalar_one()
        outcome, minutes = decide(proposal, counts, turnout)
        if not proposal.secret:
            rows = (await s.execute(select(User.first_name, Vote.option).join(Vote, Vote.user_id == User.id)
                                    .where(Vote.proposal_id == proposal.id).order_by(User.first_name, User.id))).all()
            minutes["named"] = [[name, option] for name, option in rows]
        proposal.status, proposal.closed_at, proposal.remind_at = ProposalStatus.CLOSED, now, None
        proposal.updated_at = now
        proposal.outcome, proposal.minutes = outcome, minutes
        s.add(proposal)
        audit(s, community_id=proposal.community_id, actor_id=closer.id if closer else None, entity="proposal",
              entity_id=proposal.id or 0, action="closed", from_state=ProposalStatus.OPEN, to_state=outcome,
              note=f"{turnout}/{proposal.eligible}")
        view = await self.view_of(s, proposal)
        system = closer or system_actor(view.community)  # the council itself
        # A multiple-choice decision: the task says which option was chosen, not only the question.
        winner = minutes.get("winner") if proposal.options else None
        decision = None if winner is None else Named(proposal.options[winner], proposal.names_of(winner))
        if proposal.request_id:
            request_view = await self.requests.after_council(s, system, proposal.request_id, outcome, decision)
            if request_view is not None:
                await self._tell_requester(s, view, request_view)
        elif outcome == Outcome.PASSED and proposal.kind != "convention":
            # No request behind it: the decision becomes a volunteer task filed for the proposer.
            req = await self.requests.council_task(s, proposal.community_id, proposal.proposer_id,
                                                   f"{proposal.title}\n\n{proposal.text}")
            proposal.request_id = req.id
            s.add(proposal)
            request_view = await self.requests.after_council(s, system, req.id or 0, Outcome.PASSED, decision)
            view.task_no = request_view.no if request_view else None
        if outcome == Outcome.PASSED:
            await award(s, view.community, proposal.proposer_id, "proposal_passed", f"proposal:{proposal.id}")
        open_execution(s, proposal)  # a passed decision is followed until it is carried out
        if outcome == Outcome.PASSED and proposal.kind == "convention":
            s.add(Convention(community_id=proposal.community_id, proposal_id=proposal.id or 0, title=proposal.title,
                             text=proposal.text, adopted_at=now))
        await self._refresh_posts(s, view, final=True)
        councils = await queries.bindings(s, proposal.community_id, ChatKind.COUNCIL)
        for kind in (ChatKind.COUNCIL, ChatKind.COMMUNITY):
            for group in await queries.bindings(s, proposal.community_id, kind):
                self.notifier.to_chat(s, group, "proposal_outcome", key=f"outcome:{proposal.id}",
                                      **view.ctx(audience="group"))
        if not councils:
            for person in await self._electors(s, proposal):
                self.notifier.to_user(s, person, view.community, "proposal_outcome", key=f"outcome:{proposal.id}",
                                      **view.ctx(audience="group"))
        # The chat where staff closed it gets the outcome as the reply: not a second time.
        await self.to_staff(s, view, "proposal_outcome", statement_buttons(proposal), key=f"minutes:{proposal.id}",
                            audience="staff", skip=reply_chat)
        await self._close_draft_cards(s, view, key=f"allin:{proposal.id}")  # no "close now" on a closed vote
        return view

    async def add_statement(self, actor: Actor, pid: int, text: str) -> PView:
        """Staff's outcome statement for the minutes, after the close; published to the council
        and community groups. A later statement replaces an earlier one (both are audited)."""
        text = text.strip()
        if not text:
            raise BadInput("statement_empty")
        check_length(text, MAX_STATEMENT)
        async with self.db.write() as s:
            proposal = await self.load(s, pid, lock=True)
            if not await self._may_close(s, actor, proposal):
                raise NotAllowed("staff_only")
            if proposal.status != ProposalStatus.CLOSED:
                raise Stale("not_closed")
            proposal.statement, proposal.statement_by, proposal.updated_at = text, actor.id, utcnow()
            s.add(proposal)
            audit(s, community_id=proposal.community_id, actor_id=actor.id, entity="proposal",
                  entity_id=proposal.id or 0, action="statement", note=text[:200])
            view = await self.view_of(s, proposal)
            for kind in (ChatKind.COUNCIL, ChatKind.COMMUNITY):
                for group in await queries.bindings(s, proposal.community_id, kind):
                    self.notifier.to_chat(s, group, "proposal_statement", key=f"statement:{proposal.id}", **view.ctx())
        self.notifier.wake()
        return view

    async def check_statement(self, actor: Actor, pid: int) -> PView:
        """Validate before asking staff to type a statement."""
        async with self.db.read() as s:
            proposal = await self.load(s, pid)
            if not await self._may_close(s, actor, proposal):
                raise NotAllowed("staff_only")
            if proposal.status != ProposalStatus.CLOSED:
                raise Stale("not_closed")
            return await self.view_of(s, proposal)

    async def sweep(self, now: datetime | None = None, batch: int = 100) -> int:
        """Fire due reminders and close votes whose deadline passed; returns how many fired.
        Each firing re-checks its row in its own unit of work: running twice is harmless."""
        now = now or utcnow()
        async with self.db.read() as s:
            remind = list((await s.execute(select(Proposal.id).where(
                Proposal.status == ProposalStatus.OPEN, Proposal.remind_at <= now).limit(batch))).scalars())
            due = list((await s.execute(select(Proposal.id).where(
                Proposal.status == ProposalStatus.OPEN, Proposal.closes_at <= now).limit(batch))).scalars())
        fired = await self.executions.sweep(now)  # owners of decisions due soon (same scheduler job)
        for fire, pid in [(self._remind, pid) for pid in remind] + [(self._close_due, pid) for pid in due]:
            try:
                fired += await fire(pid, now)
            except Exception:  # one broken proposal must not hold up every other deadline
                log.exception("council timer of proposal %s failed", pid)
        if fired:
            self.notifier.wake()
        return fired

    async def _close_due(self, pid: int, now: datetime) -> int:
        async with self.db.write() as s:
            proposal = await locked(s, Proposal, pid)  # another sweep: once
            if (proposal is None or proposal.status != ProposalStatus.OPEN or proposal.closes_at is None
                    or proposal.closes_at > now):
                return 0
            await self._close(s, proposal, None)
        return 1

    async def _close_draft_cards(self, s: AsyncSession, view: PView, key: str | None = None) -> None:
        """Draft cards (or `key`'s posts) lose their buttons once the draft is opened or withdrawn
        (or the vote closed)."""
        cards = (await s.execute(select(Outbox).where(Outbox.key == (key or f"draft:{view.p.id}"),
                                                      Outbox.method == "send"))).scalars().all()
        for card in cards:
            await self.notifier.edit_post(s, card, view.community, "proposal_final", both_languages=True, **view.ctx())

    async def to_staff(self, s: AsyncSession, view: PView, template: str, buttons: list[list[Button]], *,
                       key: str, skip: int | None = None, **ctx: Any) -> None:
        """The staff group, else every staff member privately (not chat `skip`)."""
        groups, people = await queries.staff_reach(s, view.p.community_id)
        for group in groups:
            if group.chat_id != skip:
                self.notifier.to_chat(s, group, template, buttons=buttons, key=key, **view.ctx(**ctx))
        for person in people:
            if person.id != skip:
                self.notifier.to_user(s, person, view.community, template, buttons=buttons, key=key,
                                      priority=INTERACTIVE, **view.ctx(**ctx))

    async def _tell_requester(self, s: AsyncSession, view: PView, request_view: View) -> None:
        """The requester (and followers) hear the council's outcome and what it means for them."""
        for person in await queries.audience(s, request_view.req):
            self.notifier.to_user(s, person, view.community, "proposal_outcome", key=f"req:{request_view.req.id}",
                                  fallback_chat_id=(request_view.req.source_chat_id
                                                    if person.id == request_view.req.requester_id else None),
                                  **view.ctx(audience="requester", request_no=request_view.no))
