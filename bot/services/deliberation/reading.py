"""Reading proposals: one by number or id, /votes (open ballots and drafts), a private ballot,
the community's conventions (公约), options still without a name in a language; who may manage one."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import policy
from bot.errors import NotAllowed, NotFound, Stale
from bot.services.context import Actor, memberships_of
from bot.services.deliberation.values import PView, Stage
from bot.services.requests import number
from storage.db import locked
from storage.models import Community, Convention, Elector, Proposal, ProposalStatus, Request, Turnout, User, Vote


class Reading(Stage):
    async def load(self, s: AsyncSession, pid: int, *, lock: bool = False) -> Proposal:
        """`lock` in units of work: the proposal row is locked (PostgreSQL) before its status is
        checked, so votes, closing, opening, editing and withdrawing one proposal happen one at
        a time, and each sees the others' committed effects (a vote's tally, a closed status)."""
        proposal = await (locked(s, Proposal, pid) if lock else s.get(Proposal, pid))
        if proposal is None:
            raise Stale()
        return proposal

    async def view_of(self, s: AsyncSession, proposal: Proposal, *, tally: bool = True) -> PView:
        community = await s.get(Community, proposal.community_id)
        assert community is not None
        proposer = await s.get(User, proposal.proposer_id)
        request_no = None
        if proposal.request_id:
            req = await s.get(Request, proposal.request_id)
            request_no = number(community, req) if req else None
        view = PView(proposal, community, proposer, request_no)
        if tally and proposal.status != ProposalStatus.DRAFT:
            view.tally = await self._tally(s, proposal)
        return view

    async def _may_manage(self, s: AsyncSession, actor: Actor, proposal: Proposal) -> bool:
        return policy.may_manage_proposal(actor.id, await memberships_of(s, actor.id, proposal.community_id), proposal)

    async def _may_close(self, s: AsyncSession, actor: Actor, proposal: Proposal) -> bool:
        return policy.may_close_proposal(await memberships_of(s, actor.id, proposal.community_id), proposal)

    @staticmethod
    async def _is_elector(s: AsyncSession, proposal: Proposal, user_id: int) -> bool:
        return await s.get(Elector, (proposal.id, user_id)) is not None

    async def find(self, actor: Actor, ref: str) -> Proposal:
        """`JMS-P001`, `P1` or `1`, within the actor's community."""
        if actor.community is None:
            raise NotAllowed("no_community")
        digits = ref.strip().upper().rsplit("-", 1)[-1].lstrip("P")
        if not digits.isdigit():
            raise NotFound("proposal_not_found", ref=ref)
        async with self.db.read() as s:
            proposal = (await s.execute(select(Proposal).where(Proposal.community_id == actor.community.id,
                                                               Proposal.number == int(digits)))).scalars().first()
        if proposal is None:
            raise NotFound("proposal_not_found", ref=ref)
        return proposal

    async def view(self, actor: Actor, pid: int) -> PView:
        """Drafts for those who may manage them; other states for the community's members."""
        async with self.db.read() as s:
            proposal = await self.load(s, pid)
            if proposal.status == ProposalStatus.DRAFT and not await self._may_manage(s, actor, proposal):
                raise NotAllowed("not_yours_proposal")
            if actor.community is None or actor.community.id != proposal.community_id:
                raise NotAllowed("not_allowed")
            return await self.view_of(s, proposal)

    def may_propose(self, actor: Actor) -> None:
        if actor.community is None:
            raise NotAllowed("no_community")
        if not policy.may_propose(actor.memberships, actor.community.id):
            raise NotAllowed("council_only")

    async def listing(self, actor: Actor) -> tuple[list[tuple[PView, bool, bool]], list[PView]]:
        """/votes: open proposals where the actor is an elector (all of them for staff), each
        with whether the actor voted and may vote; and the drafts the actor may open or edit."""
        if actor.community is None:
            raise NotAllowed("no_community")
        community_id = actor.community.id
        every = policy.sees_every_proposal(actor.memberships, community_id)
        async with self.db.read() as s:
            query = select(Proposal).where(Proposal.community_id == community_id,
                                           Proposal.status == ProposalStatus.OPEN)
            if not every:
                query = query.join(Elector, Elector.proposal_id == Proposal.id).where(Elector.user_id == actor.id)
            open_ = []
            for proposal in (await s.execute(query.order_by(Proposal.closes_at))).scalars().all():
                voted = await s.get(Turnout, (proposal.id, actor.id)) is not None
                open_.append((await self.view_of(s, proposal), voted, await self._is_elector(s, proposal, actor.id)))
            query = select(Proposal).where(Proposal.community_id == community_id,
                                           Proposal.status == ProposalStatus.DRAFT)
            if not every:
                query = query.where(Proposal.proposer_id == actor.id)
            rows = (await s.execute(query.order_by(Proposal.id))).scalars().all()
            drafts = [await self.view_of(s, proposal) for proposal in rows]
        if not open_ and not drafts and not policy.may_propose(actor.memberships, community_id):
            raise NotAllowed("council_only")
        return open_, drafts

    async def ballot(self, actor: Actor, pid: int) -> tuple[PView, int | None, bool]:
        """The private ballot: the proposal, the actor's current choice (open ballots) and
        whether they voted. Refused for non-electors and after the deadline."""
        async with self.db.read() as s:
            proposal = await self.load(s, pid)
            self._check_open(proposal)
            if not await self._is_elector(s, proposal, actor.id):
                raise NotAllowed("not_elector")
            voted = await s.get(Turnout, (proposal.id, actor.id)) is not None
            mine = None
            if not proposal.secret:
                mine = (await s.execute(select(Vote.option).where(Vote.proposal_id == proposal.id,
                                                                  Vote.user_id == actor.id))).scalar()
            return await self.view_of(s, proposal), mine, voted

    async def conventions(self, actor: Actor) -> list[Convention]:
        if actor.community is None:
            raise NotAllowed("no_community")
        async with self.db.read() as s:
            return list((await s.execute(select(Convention).where(
                Convention.community_id == actor.community.id).order_by(Convention.adopted_at))).scalars())

    async def unnamed_options(self, community_id: int, locales: tuple[str, ...]) -> list[tuple[str, list[str]]]:
        """Per locale, the options of drafts and open votes that have no name in it yet."""
        async with self.db.read() as s:
            rows = (await s.execute(select(Proposal).where(
                Proposal.community_id == community_id,
                Proposal.status.in_((ProposalStatus.DRAFT, ProposalStatus.OPEN))))).scalars().all()
        out = []
        for locale in locales:
            missing = [option for proposal in rows for i, option in enumerate(proposal.options or [])
                       if locale not in proposal.names_of(i)]
            out.append((locale, missing))
        return out
