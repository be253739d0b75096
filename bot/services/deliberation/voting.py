"""Voting and tallies: one press casts, changes or repeats a vote (a secret ballot once, in private
chat), the council group's post shows the live tally, electors who have not voted are reminded, and
`decide` turns the counts into an outcome and the minutes' figures."""
from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.errors import BadInput, NotAllowed, Stale
from bot.services.buttons import Act, Button, press
from bot.services.community import after_quiet_hours, audit
from bot.services.context import Actor
from bot.services.deliberation.values import (AGAINST, FOR, TALLY_GAP, PView, Stage, Tally, VoteResult, close_buttons,
                                              n_options, post_buttons, quorum_needed)
from bot.services.notify import INTERACTIVE
from bot.services.points import award
from storage.db import locked
from storage.models import (Ballot, ChatBinding, Community, Outbox, Outcome, Proposal, ProposalStatus, Turnout, Vote,
                            VoteLog, utcnow)


def decide(proposal: Proposal, counts: list[int], turnout: int) -> tuple[str, dict[str, Any]]:
    """The outcome and the minutes' figures.

    Quorum: `turnout` (abstentions included) reaches `quorum_pct` of the eligible voters.
    For / Against / Abstain: simple = more For than Against; two-thirds = For is at least two
    thirds of For + Against (abstentions count for quorum only). Custom options: the option with
    the most votes wins if no other ties it (simple), or if it has at least two thirds of the
    votes cast (two-thirds); otherwise nothing is chosen and the proposal is rejected.
    """
    needed = quorum_needed(proposal.eligible, proposal.quorum_pct)
    if proposal.options is None:
        yes, no = counts[FOR], counts[AGAINST]
        decisive = yes + no
        ok = yes > no if proposal.threshold == "simple" else yes > 0 and 3 * yes >= 2 * decisive
        winner = FOR if ok else None
    else:
        decisive = sum(counts)
        top = max(counts)
        leaders = [i for i, count in enumerate(counts) if count == top]
        ok = top > 0 and (len(leaders) == 1 if proposal.threshold == "simple" else 3 * top >= 2 * decisive)
        winner = leaders[0] if ok else None
    minutes = {"eligible": proposal.eligible, "turnout": turnout, "quorum_needed": needed,
               "quorum_met": turnout >= needed, "counts": counts, "decisive": decisive,
               "threshold": proposal.threshold, "threshold_met": winner is not None, "winner": winner}
    outcome = Outcome.NO_QUORUM if turnout < needed else (Outcome.PASSED if winner is not None else Outcome.REJECTED)
    return outcome, minutes


class Voting(Stage):
    async def _tally(self, s: AsyncSession, proposal: Proposal) -> Tally:
        """Turnout always; counts only where they may be seen (never for an open secret ballot)."""
        turnout = (await s.execute(select(func.count()).select_from(Turnout)
                                   .where(Turnout.proposal_id == proposal.id))).scalar_one()
        tally = Tally(proposal.eligible, turnout, quorum_needed(proposal.eligible, proposal.quorum_pct))
        if proposal.status == ProposalStatus.CLOSED and proposal.minutes:
            tally.counts = list(proposal.minutes["counts"])
        elif not proposal.secret:
            tally.counts = await self._counts(s, proposal)
        return tally

    async def _counts(self, s: AsyncSession, proposal: Proposal) -> list[int]:
        table = Ballot if proposal.secret else Vote
        rows = (await s.execute(select(table.option, func.count()).where(table.proposal_id == proposal.id)
                                .group_by(table.option))).all()
        counts = [0] * n_options(proposal)
        for option, count in rows:
            counts[option] = count
        return counts

    @staticmethod
    def _check_open(proposal: Proposal, now: datetime | None = None) -> None:
        if proposal.status != ProposalStatus.OPEN:
            raise Stale("vote_closed" if proposal.status in (ProposalStatus.CLOSED,
                                                             ProposalStatus.WITHDRAWN) else "stale")
        if proposal.closes_at is not None and proposal.closes_at <= (now or utcnow()):
            raise Stale("vote_closed")  # the sweep has not closed it yet; the deadline has passed

    async def vote(self, actor: Actor, pid: int, option: int, *, private: bool) -> VoteResult:
        """One press. Open ballots: cast, change, or a harmless repeat. Secret ballots: cast once,
        in private chat only; a repeat is answered and counts nothing."""
        async with self.db.write() as s:
            proposal = await self.load(s, pid, lock=True)
            self._check_open(proposal)
            if not await self._is_elector(s, proposal, actor.id):
                raise NotAllowed("not_elector")
            if not 0 <= option < n_options(proposal):
                raise Stale()
            if proposal.secret and not private:
                raise BadInput("vote_in_private")
            voted = await s.get(Turnout, (proposal.id, actor.id)) is not None
            if proposal.secret:
                action = "already" if voted else "cast"
                if not voted:
                    s.add(Turnout(proposal_id=proposal.id, user_id=actor.id))
                    s.add(Ballot(id=secrets.randbits(62) + 1, proposal_id=proposal.id, option=option))
                s.add(VoteLog(proposal_id=proposal.id, user_id=actor.id, option=None,
                              action="repeat" if voted else "cast"))
            else:
                current = (await s.execute(select(Vote).where(Vote.proposal_id == proposal.id,
                                                              Vote.user_id == actor.id))).scalars().first()
                if current is None:
                    action = "cast"
                    s.add(Vote(proposal_id=proposal.id, user_id=actor.id, option=option))
                    s.add(Turnout(proposal_id=proposal.id, user_id=actor.id))
                elif current.option == option:
                    action = "same"
                else:
                    action = "changed"
                    current.option, current.at = option, utcnow()
                    s.add(current)
                s.add(VoteLog(proposal_id=proposal.id, user_id=actor.id, option=option,
                              action="repeat" if action == "same" else action))
            await s.flush()
            view = await self.view_of(s, proposal)
            if action == "cast":  # 积分 for taking part, once per member and proposal
                await award(s, view.community, actor.id, "vote_cast", f"vote:{proposal.id}:{actor.id}")
            if action in ("cast", "changed"):
                await self._refresh_posts(s, view)
            if action == "cast" and view.tally and view.tally.turnout >= proposal.eligible:
                await self.to_staff(s, view, "vote_all_in", close_buttons(proposal), key=f"allin:{proposal.id}")
        self.notifier.wake()
        return VoteResult(view, action, option)

    async def _refresh_posts(self, s: AsyncSession, view: PView, *, final: bool = False) -> None:
        """Edit the council group's post: the live tally, or the result (no buttons) at the end.

        Coalesced: at most one pending edit per post. A pending one is replaced rather than
        updated in place: the delivery loop may be sending it right now, and would then mark it
        sent with the old text; deleted, its "sent" mark touches nothing and the replacement
        carries the latest tally. Live edits keep `TALLY_GAP` between them; the final one goes
        at once.
        """
        proposal = view.p
        posts = (await s.execute(select(Outbox).where(Outbox.key == f"prop:{proposal.id}", Outbox.method == "send",
                                                      Outbox.chat_id < 0))).scalars().all()
        now = utcnow()
        for post in posts:
            binding = await s.get(ChatBinding, post.chat_id)
            if binding is None:
                continue
            edits = (await s.execute(select(Outbox).where(Outbox.edit_of == post.id)
                                     .order_by(Outbox.id.desc()))).scalars().all()
            pending = [edit for edit in edits if edit.status == "pending"]
            if pending:
                not_before = pending[0].not_before
                await s.execute(delete(Outbox).where(Outbox.id.in_([edit.id for edit in pending])))
            else:
                not_before = max(now, edits[0].not_before + TALLY_GAP) if edits else now
            if final:
                row = await self.notifier.edit_post(s, post, view.community, "proposal_final", both_languages=True,
                                                    **view.ctx())
                row.not_before, row.priority = now, INTERACTIVE  # the result goes before other posts' tallies
            else:
                row = await self.notifier.edit_post(s, post, view.community, "proposal_post",
                                                    buttons=post_buttons(proposal),
                                                    both_languages=True, **view.ctx())
                row.not_before = not_before

    async def _remind(self, pid: int, now: datetime) -> int:
        async with self.db.write() as s:
            proposal = await locked(s, Proposal, pid)  # another sweep: once
            if (proposal is None or proposal.status != ProposalStatus.OPEN or proposal.remind_at is None
                    or proposal.remind_at > now):
                return 0
            if proposal.closes_at is not None and proposal.closes_at <= now:
                proposal.remind_at = None
                s.add(proposal)
                return 0  # closing now; a reminder would only confuse
            community = await s.get(Community, proposal.community_id)
            assert community is not None
            held = after_quiet_hours(community, now)
            if held != now and (proposal.closes_at is None or held < proposal.closes_at):
                proposal.remind_at = held  # quiet hours: the reminder waits for the morning
                s.add(proposal)
                return 0
            proposal.remind_at = None
            s.add(proposal)
            view = await self.view_of(s, proposal)
            late = await self._electors(s, proposal, not_voted=True)
            for person in late:
                self.notifier.to_user(s, person, view.community, "vote_reminder", key=f"remind:{proposal.id}",
                                      buttons=[[Button("vote_now", press(Act.BALLOT, proposal.id or 0))]], **view.ctx())
            audit(s, community_id=proposal.community_id, actor_id=None, entity="proposal", entity_id=proposal.id or 0,
                  action="reminded", note=str(len(late)))
        return 1
