"""Drafting and opening: triage sends a request to the council (a draft goes to staff), staff or a
council member draft a proposal, edit it, name its options in other languages and open it (the electors
are snapshotted and the proposal posted), or withdraw a draft or an open vote."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import policy
from bot.errors import BadInput, NotAllowed, Stale
from bot.privacy import PublicRequest
from bot.services import queries
from bot.services.community import audit, in_working_hours, settings_of
from bot.services.context import Actor, memberships_of
from bot.services.deliberation.values import (DEFAULT_QUORUM, DEFAULT_VOTE_HOURS, MAX_OPTION, MAX_STATEMENT, MAX_TITLE,
                                              ProposalDraft, PView, Stage, check_hours, check_length, draft_buttons,
                                              option_buttons, post_buttons, proposal_number)
from bot.services.requests import View
from storage.db import locked
from storage.models import (ChatKind, Community, Elector, Membership, Proposal, ProposalStatus, Role, Turnout, User,
                            utcnow)


class Drafting(Stage):
    async def next_number(self, s: AsyncSession, community_id: int) -> int:
        await locked(s, Community, community_id)  # two drafts at once: the second waits for the first's number
        top = (await s.execute(select(func.max(Proposal.number))
                               .where(Proposal.community_id == community_id))).scalar()
        return (top or 0) + 1

    async def from_request(self, actor: Actor, req_id: int) -> tuple[PView, View]:
        """Triage sends a request to the council: the request moves to `council` and a draft
        proposal (its text, default rules) goes to staff, who open it, edit it or withdraw it."""
        async with self.db.write() as s:
            request_view = await self.requests.to_council(s, actor, req_id)
            req, community = request_view.req, request_view.community
            # The draft goes to the staff group and, once opened, to the council group: it copies
            # the request's public form (phone, ID and room numbers masked), never its raw text.
            text = PublicRequest(req).description
            proposal = Proposal(community_id=community.id, number=await self.next_number(s, community.id),
                                request_id=req.id, proposer_id=actor.id,
                                title=text.splitlines()[0][:MAX_TITLE], text=text,
                                hours=settings_of(community).get("vote_hours", DEFAULT_VOTE_HOURS),
                                quorum_pct=settings_of(community).get("vote_quorum_pct", DEFAULT_QUORUM))
            s.add(proposal)
            await s.flush()
            audit(s, community_id=community.id, actor_id=actor.id, entity="proposal", entity_id=proposal.id or 0,
                  action="drafted", to_state=ProposalStatus.DRAFT, note=request_view.no)
            view = await self.view_of(s, proposal)
            await self.to_staff(s, view, "proposal_draft", draft_buttons(proposal), key=f"draft:{proposal.id}",
                                d=ProposalDraft.of(proposal))
        self.notifier.wake()
        return view, request_view

    async def save(self, actor: Actor, draft: ProposalDraft, *, pid: int | None = None,
                   open_now: bool = False) -> PView:
        """Create a draft (`pid` None) or replace an existing draft's content; optionally open
        it in the same unit of work. Refused once the proposal is open (or closed)."""
        if actor.community is None:
            raise NotAllowed("no_community")
        valid = draft.validated()
        async with self.db.write() as s:
            if pid is None:
                self.may_propose(actor)
                community = actor.community
                proposal = Proposal(community_id=community.id, number=await self.next_number(s, community.id),
                                    proposer_id=actor.id, title=valid.title, text=valid.text)
                action = "drafted"
            else:
                proposal = await self.load(s, pid, lock=True)
                if not await self._may_manage(s, actor, proposal):
                    raise NotAllowed("not_yours_proposal")
                if proposal.status != ProposalStatus.DRAFT:
                    raise Stale("edit_after_open")
                community = await s.get(Community, proposal.community_id)
                assert community is not None
                action = "edited"
            proposal.title, proposal.text = valid.title, valid.text
            proposal.kind, proposal.options = valid.kind, valid.options
            proposal.hours = valid.hours or settings_of(community).get("vote_hours", DEFAULT_VOTE_HOURS)
            proposal.quorum_pct = valid.quorum_pct or settings_of(community).get("vote_quorum_pct", DEFAULT_QUORUM)
            proposal.threshold, proposal.secret, proposal.updated_at = valid.threshold, valid.secret, utcnow()
            s.add(proposal)
            await s.flush()
            audit(s, community_id=community.id, actor_id=actor.id, entity="proposal", entity_id=proposal.id or 0,
                  action=action, to_state=ProposalStatus.DRAFT)
            view = await self._open(s, actor, proposal) if open_now else await self.view_of(s, proposal)
        self.notifier.wake()
        return view

    async def draft_for_edit(self, actor: Actor, pid: int) -> ProposalDraft:
        """A draft's values to start editing from; refused once it is open."""
        async with self.db.read() as s:
            proposal = await self.load(s, pid)
            if not await self._may_manage(s, actor, proposal):
                raise NotAllowed("not_yours_proposal")
            if proposal.status != ProposalStatus.DRAFT:
                raise Stale("edit_after_open")
            return ProposalDraft.of(proposal)

    async def name_option(self, actor: Actor, ref: str, position: int, locale: str, text: str) -> str:
        """Staff or the proposer name option `position` (from 1) of a draft or open vote with options
        of its own in another language; readers of that language see it in posts, tallies, ballots and
        buttons from then on. Returns the option as proposed."""
        found = await self.find(actor, ref)
        text = " ".join(text.split())
        if not text or len(text) > MAX_OPTION:
            raise BadInput("option_too_long", limit=MAX_OPTION, option=text[:20])
        async with self.db.write() as s:
            proposal = await self.load(s, found.id or 0, lock=True)
            if not await self._may_manage(s, actor, proposal):
                raise NotAllowed("not_yours_proposal")
            if proposal.status not in (ProposalStatus.DRAFT, ProposalStatus.OPEN):
                raise Stale()  # closed: its minutes were posted with the names they had
            if not proposal.options:
                raise BadInput("no_own_options",
                               no=proposal_number(actor.community, proposal))  # type: ignore[arg-type]
            if not 1 <= position <= len(proposal.options):
                raise BadInput("option_position", high=len(proposal.options))
            names = [dict(named) for named in (proposal.option_names or [])]
            names += [{} for _ in range(len(proposal.options))]
            names = names[:len(proposal.options)]
            names[position - 1][locale] = text
            proposal.option_names = names  # a new list: JSON columns track assignment
            s.add(proposal)
            audit(s, community_id=proposal.community_id, actor_id=actor.id, entity="proposal",
                  entity_id=proposal.id or 0, action="named", note=f"{position}: {locale}={text}", public=True)
            return proposal.options[position - 1]

    async def open(self, actor: Actor, pid: int) -> PView:
        async with self.db.write() as s:
            view = await self._open(s, actor, await self.load(s, pid, lock=True))
        self.notifier.wake()
        return view

    async def _open(self, s: AsyncSession, actor: Actor, proposal: Proposal) -> PView:
        """Staff, or a proposer who sits on the council, open a draft: the electors are
        snapshotted, the deadline and reminder set, the proposal posted with its vote buttons."""
        if proposal.status != ProposalStatus.DRAFT:
            raise Stale("edit_after_open")
        if not policy.may_open_proposal(actor.id, await memberships_of(s, actor.id, proposal.community_id), proposal):
            raise NotAllowed("open_not_allowed")
        electors = list((await s.execute(select(Membership.user_id).where(
            Membership.community_id == proposal.community_id, Membership.role == Role.COUNCIL_MEMBER)
            .distinct())).scalars())
        if not electors:
            raise BadInput("no_council_members")
        s.add_all([Elector(proposal_id=proposal.id, user_id=uid) for uid in electors])
        now = utcnow()
        hours = check_hours(proposal.hours)
        proposal.status, proposal.eligible, proposal.opened_at = ProposalStatus.OPEN, len(electors), now
        community = await s.get(Community, proposal.community_id)
        assert community is not None
        proposal.closes_at = in_working_hours(community, now + timedelta(hours=hours))  # never closes in the night
        # A day before the close; half-way for votes shorter than two days.
        proposal.remind_at = (proposal.closes_at - timedelta(hours=24) if hours >= 48
                              else now + timedelta(hours=hours / 2))
        proposal.updated_at = now
        s.add(proposal)
        await s.flush()
        audit(s, community_id=proposal.community_id, actor_id=actor.id, entity="proposal", entity_id=proposal.id or 0,
              action="opened", from_state=ProposalStatus.DRAFT, to_state=ProposalStatus.OPEN, note=str(len(electors)))
        view = await self.view_of(s, proposal)
        await self._close_draft_cards(s, view)
        groups = await queries.bindings(s, proposal.community_id, ChatKind.COUNCIL)
        for group in groups:
            self.notifier.to_chat(s, group, "proposal_post", buttons=post_buttons(proposal), key=f"prop:{proposal.id}",
                                  **view.ctx())
        if not groups:  # no council group: every elector privately, where any ballot can be cast
            for person in await self._electors(s, proposal):
                self.notifier.to_user(s, person, view.community, "proposal_post", buttons=option_buttons(proposal),
                                      key=f"prop:{proposal.id}", **view.ctx(private=True))
        return view

    async def _electors(self, s: AsyncSession, proposal: Proposal, *, not_voted: bool = False) -> list[User]:
        query = select(User).join(Elector, Elector.user_id == User.id).where(Elector.proposal_id == proposal.id)
        if not_voted:
            query = query.where(~select(Turnout.user_id).where(Turnout.proposal_id == proposal.id,
                                                               Turnout.user_id == User.id).exists())
        return list((await s.execute(query.order_by(User.id))).scalars())

    async def withdraw(self, actor: Actor, pid: int, reason: str | None = None) -> PView:
        """Staff or the proposer withdraw a draft or an open vote (recorded). An open vote needs
        a reason: it is announced in the council group and sent to those who voted already. A
        linked request goes back to triage."""
        reason = (reason or "").strip() or None
        async with self.db.write() as s:
            proposal = await self.load(s, pid, lock=True)
            if not await self._may_manage(s, actor, proposal):
                raise NotAllowed("not_yours_proposal")
            if proposal.status not in (ProposalStatus.DRAFT, ProposalStatus.OPEN):
                raise Stale("vote_closed")
            if proposal.status == ProposalStatus.OPEN and not reason:
                raise BadInput("withdraw_usage")
            if reason:
                check_length(reason, MAX_STATEMENT)
            before = proposal.status
            proposal.status, proposal.remind_at = ProposalStatus.WITHDRAWN, None
            proposal.closed_at, proposal.updated_at = utcnow(), utcnow()
            if reason:
                proposal.statement, proposal.statement_by = reason, actor.id
            s.add(proposal)
            audit(s, community_id=proposal.community_id, actor_id=actor.id, entity="proposal",
                  entity_id=proposal.id or 0, action="withdrawn", from_state=before, to_state=ProposalStatus.WITHDRAWN,
                  note=reason)
            view = await self.view_of(s, proposal)
            if before == ProposalStatus.OPEN:
                await self._refresh_posts(s, view, final=True)
                councils = await queries.bindings(s, proposal.community_id, ChatKind.COUNCIL)
                for group in councils:
                    self.notifier.to_chat(s, group, "proposal_outcome", key=f"outcome:{proposal.id}",
                                          **view.ctx(audience="group"))
                voted = (await s.execute(select(User).join(Turnout, Turnout.user_id == User.id).where(
                    Turnout.proposal_id == proposal.id).order_by(User.id))).scalars().all()
                for person in voted:
                    if person.id != actor.id:
                        self.notifier.to_user(s, person, view.community, "proposal_outcome",
                                              key=f"outcome:{proposal.id}",
                                              **view.ctx(audience="voter"))
            else:
                await self._close_draft_cards(s, view)
            if proposal.request_id:
                request_view = await self.requests.after_council(s, actor, proposal.request_id, "withdrawn")
                if request_view is not None:
                    await self._tell_requester(s, view, request_view)
        self.notifier.wake()
        return view
