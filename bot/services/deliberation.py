"""The deliberation council (议事会商议, "有事大家议"): proposals, votes, outcomes, conventions.

A proposal is a `draft` (editable by staff or its proposer), then `open` (frozen: every edit is
refused), then `closed` with an outcome (passed, rejected, no quorum) or `withdrawn`.

Invariants:
- Opening snapshots the eligible voters (the community's council members at that moment) into
  `proposal_electors`; only they can vote, whoever joins or leaves the council later.
- `vote_turnout` says who voted, never what. Open ballots keep the current choice in `votes`
  (one per member, a unique constraint) and it can change until the deadline. Secret ballots
  keep the choice in `secret_ballots` with no voter, no time and a random id, so nothing links
  a member to a choice; a secret vote therefore cannot be changed.
- `vote_log` is append-only: every accepted press (cast, changed, repeat), without the choice for
  secret ballots. A refused press (not eligible, after the deadline) writes nothing.
- Due times (`remind_at`, `closes_at`) live in `proposals`; `sweep` fires them, idempotently, so a
  deadline passed while the bot was down closes right after start.

Every operation is one unit of work: state change, audit event and the notifications it causes
commit together. The council group's post is refreshed by outbox edits, coalesced to at most one
pending edit per post, spaced `TALLY_GAP` apart.
"""
from __future__ import annotations

import logging
import math
import secrets
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import policy
from bot.errors import BadInput, NotAllowed, NotFound, Stale
from bot.i18n import Named
from bot.privacy import PublicRequest
from bot.services import queries
from bot.services.buttons import Act, Button, press
from bot.services.community import after_quiet_hours, audit, in_working_hours, settings_of
from bot.services.context import Actor, memberships_of, system_actor
from bot.services.execution import ExecutionService, open_execution
from bot.services.notify import INTERACTIVE, Notifier
from bot.services.points import award
from bot.services.requests import MAX_DESCRIPTION, RequestService, View, number
from storage.db import Database, locked
from storage.models import (Ballot, ChatBinding, ChatKind, Community, Convention, Elector, Membership, Outbox,
                            Outcome, Proposal, ProposalStatus, Request, Role, Turnout, User, Vote, VoteLog,
                            utcnow)

KINDS = ("decision", "convention", "spending")
THRESHOLDS = ("simple", "two_thirds")
QUORUMS = (50, 67, 34)  # what the conversation cycles through; the service takes any 1-100
VOTE_HOURS = (24, 48, 72, 168)  # quick picks; any MIN_HOURS..MAX_HOURS may be typed
DEFAULT_VOTE_HOURS, DEFAULT_QUORUM = 72, 50  # community settings `vote_hours`, `vote_quorum_pct`
FOR, AGAINST, ABSTAIN = range(3)  # the default options (labels opt_for, opt_against, opt_abstain)
MAX_TITLE, MAX_TEXT, MAX_OPTION = 120, MAX_DESCRIPTION, 60
MIN_OPTIONS, MAX_OPTIONS = 2, 10
MIN_HOURS, MAX_HOURS = 1, 24 * 30
MAX_STATEMENT = 2000
TALLY_GAP = timedelta(seconds=20)  # at most three tally edits a minute per post
log = logging.getLogger(__name__)


class POp:
    """Operations on a proposal (indexes travel in callback data)."""

    VIEW, OPEN, EDIT, WITHDRAW, CLOSE, STATEMENT = range(6)


@dataclass
class ProposalDraft:
    """What /propose gathered (or a draft's current values); validated here whatever the
    conversation did. None for hours/quorum means the community's default."""

    title: str
    text: str
    kind: str = "decision"
    options: list[str] | None = None
    hours: int | None = None
    quorum_pct: int | None = None
    threshold: str = "simple"
    secret: bool = False

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> "ProposalDraft":
        names = cls.__dataclass_fields__
        return cls(**{k: v for k, v in data.items() if k in names})

    @classmethod
    def of(cls, p: Proposal) -> "ProposalDraft":
        return cls(title=p.title, text=p.text, kind=p.kind, options=p.options, hours=p.hours,
                   quorum_pct=p.quorum_pct, threshold=p.threshold, secret=p.secret)

    def data(self) -> dict[str, Any]:
        return asdict(self)

    def validated(self) -> "ProposalDraft":
        title, text = self.title.strip(), self.text.strip()
        if not title or not text:
            raise BadInput("proposal_empty")
        check_length(title, MAX_TITLE)
        check_length(text, MAX_TEXT)
        if self.kind not in KINDS or self.threshold not in THRESHOLDS:
            raise BadInput("stale")
        options = None if self.options is None else parse_options("\n".join(self.options))
        if self.hours is not None:
            check_hours(self.hours)
        if self.quorum_pct is not None and not 1 <= self.quorum_pct <= 100:
            raise BadInput("stale")
        return ProposalDraft(title, text, self.kind, options, self.hours, self.quorum_pct, self.threshold,
                             bool(self.secret))


def check_length(text: str, limit: int) -> str:
    if len(text) > limit:
        raise BadInput("description_too_long", limit=limit, length=len(text))
    return text


def check_hours(hours: int) -> int:
    if not MIN_HOURS <= hours <= MAX_HOURS:
        raise BadInput("bad_hours", low=MIN_HOURS, high=MAX_HOURS)
    return hours


def parse_options(text: str) -> list[str]:
    """Custom options, one per line: 2-10 distinct, each short enough for a button."""
    options = [line.strip(" \t•-") for line in text.splitlines()]
    options = [o for o in options if o]
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS or len({o.lower() for o in options}) != len(options):
        raise BadInput("options_count", low=MIN_OPTIONS, high=MAX_OPTIONS)
    for o in options:
        if len(o) > MAX_OPTION:
            raise BadInput("option_too_long", limit=MAX_OPTION, option=o[:20])
    return options


def n_options(p: Proposal) -> int:
    return len(p.options) if p.options else 3


def quorum_needed(eligible: int, pct: int) -> int:
    return max(1, math.ceil(eligible * pct / 100))


def decide(p: Proposal, counts: list[int], turnout: int) -> tuple[str, dict[str, Any]]:
    """The outcome and the minutes' figures.

    Quorum: `turnout` (abstentions included) reaches `quorum_pct` of the eligible voters.
    For / Against / Abstain: simple = more For than Against; two-thirds = For is at least two
    thirds of For + Against (abstentions count for quorum only). Custom options: the option with
    the most votes wins if no other ties it (simple), or if it has at least two thirds of the
    votes cast (two-thirds); otherwise nothing is chosen and the proposal is rejected.
    """
    needed = quorum_needed(p.eligible, p.quorum_pct)
    if p.options is None:
        yes, no = counts[FOR], counts[AGAINST]
        decisive = yes + no
        ok = yes > no if p.threshold == "simple" else yes > 0 and 3 * yes >= 2 * decisive
        winner = FOR if ok else None
    else:
        decisive = sum(counts)
        top = max(counts)
        leaders = [i for i, c in enumerate(counts) if c == top]
        ok = top > 0 and (len(leaders) == 1 if p.threshold == "simple" else 3 * top >= 2 * decisive)
        winner = leaders[0] if ok else None
    minutes = {"eligible": p.eligible, "turnout": turnout, "quorum_needed": needed,
               "quorum_met": turnout >= needed, "counts": counts, "decisive": decisive,
               "threshold": p.threshold, "threshold_met": winner is not None, "winner": winner}
    outcome = Outcome.NO_QUORUM if turnout < needed else (Outcome.PASSED if winner is not None else Outcome.REJECTED)
    return outcome, minutes


@dataclass
class Tally:
    eligible: int
    turnout: int
    quorum_needed: int
    counts: list[int] = field(default_factory=list)  # empty while a secret ballot is open


@dataclass
class PView:
    """A proposal with what rendering it needs."""

    p: Proposal
    community: Community
    proposer: User | None
    request_no: str | None = None
    tally: Tally | None = None
    task_no: str | None = None  # the volunteer task a passed proposal opened

    @property
    def no(self) -> str:
        return proposal_number(self.community, self.p)

    def ctx(self, **more: Any) -> dict[str, Any]:
        return {"p": self.p, "no": self.no, "community": self.community, "proposer": self.proposer,
                "request_no": self.request_no, "tally": self.tally, "task_no": self.task_no, **more}


@dataclass
class VoteResult:
    view: PView
    action: str  # cast | changed | same | already (a secret vote is final)
    option: int


def proposal_number(community: Community, p: Proposal) -> str:
    return f"{community.code}-P{p.number:03d}"


def option_buttons(p: Proposal) -> list[list[Button]]:
    """Vote buttons: proposal id and option index only, so votes in every language add up."""
    if p.options is None:
        keys = ("opt_for", "opt_against", "opt_abstain")
        return [[Button(k, press(Act.VOTE, p.id or 0, i)) for i, k in enumerate(keys)]]
    return [[Button(text=o, names=p.names_of(i), data=press(Act.VOTE, p.id or 0, i))]
            for i, o in enumerate(p.options)]


def post_buttons(p: Proposal) -> list[list[Button]]:
    """The council group's post: vote there (open ballot) or go to private chat (secret)."""
    if p.secret:
        return [[Button("vote_private", press(Act.BALLOT, p.id or 0))]]
    return option_buttons(p)


def draft_buttons(p: Proposal) -> list[list[Button]]:
    op = lambda label, o: Button(label, press(Act.PROPOSAL, p.id or 0, o))  # noqa: E731
    return [[op("open_vote", POp.OPEN), op("edit", POp.EDIT)], [op("withdraw", POp.WITHDRAW)]]


def close_buttons(p: Proposal) -> list[list[Button]]:
    return [[Button("close_now", press(Act.PROPOSAL, p.id or 0, POp.CLOSE))]]


def statement_buttons(p: Proposal) -> list[list[Button]]:
    return [[Button("add_statement", press(Act.PROPOSAL, p.id or 0, POp.STATEMENT))]]


class DeliberationService:
    def __init__(self, db: Database, notifier: Notifier, requests: RequestService) -> None:
        self.db = db
        self.n = notifier
        self.r = requests
        self.executions = ExecutionService(db, notifier)  # decisions carried out (决议落实)

    # ----------------------------------------------------------------- reading
    async def _load(self, s: AsyncSession, pid: int, *, lock: bool = False) -> Proposal:
        """`lock` in units of work: the proposal row is locked (PostgreSQL) before its status is
        checked, so votes, closing, opening, editing and withdrawing one proposal happen one at
        a time, and each sees the others' committed effects (a vote's tally, a closed status)."""
        p = await (locked(s, Proposal, pid) if lock else s.get(Proposal, pid))
        if p is None:
            raise Stale()
        return p

    async def _view(self, s: AsyncSession, p: Proposal, *, tally: bool = True) -> PView:
        community = await s.get(Community, p.community_id)
        assert community is not None
        proposer = await s.get(User, p.proposer_id)
        request_no = None
        if p.request_id:
            req = await s.get(Request, p.request_id)
            request_no = number(community, req) if req else None
        v = PView(p, community, proposer, request_no)
        if tally and p.status != ProposalStatus.DRAFT:
            v.tally = await self._tally(s, p)
        return v

    async def _tally(self, s: AsyncSession, p: Proposal) -> Tally:
        """Turnout always; counts only where they may be seen (never for an open secret ballot)."""
        turnout = (await s.execute(select(func.count()).select_from(Turnout)
                                   .where(Turnout.proposal_id == p.id))).scalar_one()
        t = Tally(p.eligible, turnout, quorum_needed(p.eligible, p.quorum_pct))
        if p.status == ProposalStatus.CLOSED and p.minutes:
            t.counts = list(p.minutes["counts"])
        elif not p.secret:
            t.counts = await self._counts(s, p)
        return t

    async def _counts(self, s: AsyncSession, p: Proposal) -> list[int]:
        table = Ballot if p.secret else Vote
        rows = (await s.execute(select(table.option, func.count()).where(table.proposal_id == p.id)
                                .group_by(table.option))).all()
        counts = [0] * n_options(p)
        for option, count in rows:
            counts[option] = count
        return counts

    async def _may_manage(self, s: AsyncSession, actor: Actor, p: Proposal) -> bool:
        return policy.may_manage_proposal(actor.id, await memberships_of(s, actor.id, p.community_id), p)

    async def _may_close(self, s: AsyncSession, actor: Actor, p: Proposal) -> bool:
        return policy.may_close_proposal(await memberships_of(s, actor.id, p.community_id), p)

    @staticmethod
    async def _is_elector(s: AsyncSession, p: Proposal, user_id: int) -> bool:
        return await s.get(Elector, (p.id, user_id)) is not None

    async def find(self, actor: Actor, ref: str) -> Proposal:
        """`JMS-P001`, `P1` or `1`, within the actor's community."""
        if actor.community is None:
            raise NotAllowed("no_community")
        digits = ref.strip().upper().rsplit("-", 1)[-1].lstrip("P")
        if not digits.isdigit():
            raise NotFound("proposal_not_found", ref=ref)
        async with self.db.read() as s:
            p = (await s.execute(select(Proposal).where(Proposal.community_id == actor.community.id,
                                                        Proposal.number == int(digits)))).scalars().first()
        if p is None:
            raise NotFound("proposal_not_found", ref=ref)
        return p

    async def view(self, actor: Actor, pid: int) -> PView:
        """Drafts for those who may manage them; other states for the community's members."""
        async with self.db.read() as s:
            p = await self._load(s, pid)
            if p.status == ProposalStatus.DRAFT and not await self._may_manage(s, actor, p):
                raise NotAllowed("not_yours_proposal")
            if actor.community is None or actor.community.id != p.community_id:
                raise NotAllowed("not_allowed")
            return await self._view(s, p)

    async def name_option(self, actor: Actor, ref: str, position: int, locale: str, text: str) -> str:
        """Staff or the proposer name option `position` (from 1) of a draft or open vote with options
        of its own in another language; readers of that language see it in posts, tallies, ballots and
        buttons from then on. Returns the option as proposed."""
        found = await self.find(actor, ref)
        text = " ".join(text.split())
        if not text or len(text) > MAX_OPTION:
            raise BadInput("option_too_long", limit=MAX_OPTION, option=text[:20])
        async with self.db.write() as s:
            p = await self._load(s, found.id or 0, lock=True)
            if not await self._may_manage(s, actor, p):
                raise NotAllowed("not_yours_proposal")
            if p.status not in (ProposalStatus.DRAFT, ProposalStatus.OPEN):
                raise Stale()  # closed: its minutes were posted with the names they had
            if not p.options:
                raise BadInput("no_own_options", no=proposal_number(actor.community, p))  # type: ignore[arg-type]
            if not 1 <= position <= len(p.options):
                raise BadInput("option_position", high=len(p.options))
            names = [dict(n) for n in (p.option_names or [])] + [{} for _ in range(len(p.options))]
            names = names[:len(p.options)]
            names[position - 1][locale] = text
            p.option_names = names  # a new list: JSON columns track assignment
            s.add(p)
            audit(s, community_id=p.community_id, actor_id=actor.id, entity="proposal", entity_id=p.id or 0,
                  action="named", note=f"{position}: {locale}={text}", public=True)
            return p.options[position - 1]

    async def unnamed_options(self, community_id: int, locales: tuple[str, ...]) -> list[tuple[str, list[str]]]:
        """Per locale, the options of drafts and open votes that have no name in it yet."""
        async with self.db.read() as s:
            rows = (await s.execute(select(Proposal).where(
                Proposal.community_id == community_id,
                Proposal.status.in_((ProposalStatus.DRAFT, ProposalStatus.OPEN))))).scalars().all()
        out = []
        for loc in locales:
            missing = [o for p in rows for i, o in enumerate(p.options or [])
                       if loc not in p.names_of(i)]
            out.append((loc, missing))
        return out

    def may_propose(self, actor: Actor) -> None:
        if actor.community is None:
            raise NotAllowed("no_community")
        if not (actor.is_staff or actor.has(Role.COUNCIL_MEMBER)):
            raise NotAllowed("council_only")

    async def listing(self, actor: Actor) -> tuple[list[tuple[PView, bool, bool]], list[PView]]:
        """/votes: open proposals where the actor is an elector (all of them for staff), each
        with whether the actor voted and may vote; and the drafts the actor may open or edit."""
        if actor.community is None:
            raise NotAllowed("no_community")
        cid = actor.community.id
        async with self.db.read() as s:
            q = select(Proposal).where(Proposal.community_id == cid, Proposal.status == ProposalStatus.OPEN)
            if not actor.is_staff:
                q = q.join(Elector, Elector.proposal_id == Proposal.id).where(Elector.user_id == actor.id)
            open_ = []
            for p in (await s.execute(q.order_by(Proposal.closes_at))).scalars().all():
                voted = await s.get(Turnout, (p.id, actor.id)) is not None
                open_.append((await self._view(s, p), voted, await self._is_elector(s, p, actor.id)))
            q = select(Proposal).where(Proposal.community_id == cid, Proposal.status == ProposalStatus.DRAFT)
            if not actor.is_staff:
                q = q.where(Proposal.proposer_id == actor.id)
            drafts = [await self._view(s, p) for p in (await s.execute(q.order_by(Proposal.id))).scalars().all()]
        if not open_ and not drafts and not (actor.is_staff or actor.has(Role.COUNCIL_MEMBER)):
            raise NotAllowed("council_only")
        return open_, drafts

    async def ballot(self, actor: Actor, pid: int) -> tuple[PView, int | None, bool]:
        """The private ballot: the proposal, the actor's current choice (open ballots) and
        whether they voted. Refused for non-electors and after the deadline."""
        async with self.db.read() as s:
            p = await self._load(s, pid)
            self._check_open(p)
            if not await self._is_elector(s, p, actor.id):
                raise NotAllowed("not_elector")
            voted = await s.get(Turnout, (p.id, actor.id)) is not None
            mine = None
            if not p.secret:
                mine = (await s.execute(select(Vote.option).where(Vote.proposal_id == p.id,
                                                                  Vote.user_id == actor.id))).scalar()
            return await self._view(s, p), mine, voted

    async def conventions(self, actor: Actor) -> list[Convention]:
        if actor.community is None:
            raise NotAllowed("no_community")
        async with self.db.read() as s:
            return list((await s.execute(select(Convention).where(
                Convention.community_id == actor.community.id).order_by(Convention.adopted_at))).scalars())

    # ----------------------------------------------------------------- drafts
    async def _next_number(self, s: AsyncSession, community_id: int) -> int:
        await locked(s, Community, community_id)  # two drafts at once: the second waits for the first's number
        top = (await s.execute(select(func.max(Proposal.number))
                               .where(Proposal.community_id == community_id))).scalar()
        return (top or 0) + 1

    async def from_request(self, actor: Actor, req_id: int) -> tuple[PView, View]:
        """Triage sends a request to the council: the request moves to `council` and a draft
        proposal (its text, default rules) goes to staff, who open it, edit it or withdraw it."""
        async with self.db.write() as s:
            request_view = await self.r.to_council(s, actor, req_id)
            req, c = request_view.req, request_view.community
            # The draft goes to the staff group and, once opened, to the council group: it copies
            # the request's public form (phone, ID and room numbers masked), never its raw text.
            text = PublicRequest(req).description
            p = Proposal(community_id=c.id, number=await self._next_number(s, c.id), request_id=req.id,
                         proposer_id=actor.id, title=text.splitlines()[0][:MAX_TITLE], text=text,
                         hours=settings_of(c).get("vote_hours", DEFAULT_VOTE_HOURS),
                         quorum_pct=settings_of(c).get("vote_quorum_pct", DEFAULT_QUORUM))
            s.add(p)
            await s.flush()
            audit(s, community_id=c.id, actor_id=actor.id, entity="proposal", entity_id=p.id or 0,
                  action="drafted", to_state=ProposalStatus.DRAFT, note=request_view.no)
            v = await self._view(s, p)
            await self._to_staff(s, v, "proposal_draft", draft_buttons(p), key=f"draft:{p.id}",
                                 d=ProposalDraft.of(p))
        self.n.wake()
        return v, request_view

    async def save(self, actor: Actor, draft: ProposalDraft, *, pid: int | None = None,
                   open_now: bool = False) -> PView:
        """Create a draft (`pid` None) or replace an existing draft's content; optionally open
        it in the same unit of work. Refused once the proposal is open (or closed)."""
        if actor.community is None:
            raise NotAllowed("no_community")
        d = draft.validated()
        async with self.db.write() as s:
            if pid is None:
                self.may_propose(actor)
                c = actor.community
                p = Proposal(community_id=c.id, number=await self._next_number(s, c.id), proposer_id=actor.id,
                             title=d.title, text=d.text)
                action = "drafted"
            else:
                p = await self._load(s, pid, lock=True)
                if not await self._may_manage(s, actor, p):
                    raise NotAllowed("not_yours_proposal")
                if p.status != ProposalStatus.DRAFT:
                    raise Stale("edit_after_open")
                c = await s.get(Community, p.community_id)
                assert c is not None
                action = "edited"
            p.title, p.text, p.kind, p.options = d.title, d.text, d.kind, d.options
            p.hours = d.hours or settings_of(c).get("vote_hours", DEFAULT_VOTE_HOURS)
            p.quorum_pct = d.quorum_pct or settings_of(c).get("vote_quorum_pct", DEFAULT_QUORUM)
            p.threshold, p.secret, p.updated_at = d.threshold, d.secret, utcnow()
            s.add(p)
            await s.flush()
            audit(s, community_id=c.id, actor_id=actor.id, entity="proposal", entity_id=p.id or 0,
                  action=action, to_state=ProposalStatus.DRAFT)
            v = await self._open(s, actor, p) if open_now else await self._view(s, p)
        self.n.wake()
        return v

    async def draft_for_edit(self, actor: Actor, pid: int) -> ProposalDraft:
        """A draft's values to start editing from; refused once it is open."""
        async with self.db.read() as s:
            p = await self._load(s, pid)
            if not await self._may_manage(s, actor, p):
                raise NotAllowed("not_yours_proposal")
            if p.status != ProposalStatus.DRAFT:
                raise Stale("edit_after_open")
            return ProposalDraft.of(p)

    # ----------------------------------------------------------------- opening
    async def open(self, actor: Actor, pid: int) -> PView:
        async with self.db.write() as s:
            v = await self._open(s, actor, await self._load(s, pid, lock=True))
        self.n.wake()
        return v

    async def _open(self, s: AsyncSession, actor: Actor, p: Proposal) -> PView:
        """Staff, or a proposer who sits on the council, open a draft: the electors are
        snapshotted, the deadline and reminder set, the proposal posted with its vote buttons."""
        if p.status != ProposalStatus.DRAFT:
            raise Stale("edit_after_open")
        if not policy.may_open_proposal(actor.id, await memberships_of(s, actor.id, p.community_id), p):
            raise NotAllowed("open_not_allowed")
        electors = list((await s.execute(select(Membership.user_id).where(
            Membership.community_id == p.community_id, Membership.role == Role.COUNCIL_MEMBER)
            .distinct())).scalars())
        if not electors:
            raise BadInput("no_council_members")
        s.add_all([Elector(proposal_id=p.id, user_id=uid) for uid in electors])
        now = utcnow()
        hours = check_hours(p.hours)
        p.status, p.eligible, p.opened_at = ProposalStatus.OPEN, len(electors), now
        community = await s.get(Community, p.community_id)
        assert community is not None
        p.closes_at = in_working_hours(community, now + timedelta(hours=hours))  # never closes in the night
        # A day before the close; half-way for votes shorter than two days.
        p.remind_at = p.closes_at - timedelta(hours=24) if hours >= 48 else now + timedelta(hours=hours / 2)
        p.updated_at = now
        s.add(p)
        await s.flush()
        audit(s, community_id=p.community_id, actor_id=actor.id, entity="proposal", entity_id=p.id or 0,
              action="opened", from_state=ProposalStatus.DRAFT, to_state=ProposalStatus.OPEN, note=str(len(electors)))
        v = await self._view(s, p)
        await self._close_draft_cards(s, v)
        groups = await queries.bindings(s, p.community_id, ChatKind.COUNCIL)
        for g in groups:
            self.n.to_chat(s, g, "proposal_post", buttons=post_buttons(p), key=f"prop:{p.id}", **v.ctx())
        if not groups:  # no council group: every elector privately, where any ballot can be cast
            for u in await self._electors(s, p):
                self.n.to_user(s, u, v.community, "proposal_post", buttons=option_buttons(p),
                               key=f"prop:{p.id}", **v.ctx(private=True))
        return v

    async def _electors(self, s: AsyncSession, p: Proposal, *, not_voted: bool = False) -> list[User]:
        q = select(User).join(Elector, Elector.user_id == User.id).where(Elector.proposal_id == p.id)
        if not_voted:
            q = q.where(~select(Turnout.user_id).where(Turnout.proposal_id == p.id,
                                                       Turnout.user_id == User.id).exists())
        return list((await s.execute(q.order_by(User.id))).scalars())

    # ----------------------------------------------------------------- withdrawing
    async def withdraw(self, actor: Actor, pid: int, reason: str | None = None) -> PView:
        """Staff or the proposer withdraw a draft or an open vote (recorded). An open vote needs
        a reason: it is announced in the council group and sent to those who voted already. A
        linked request goes back to triage."""
        reason = (reason or "").strip() or None
        async with self.db.write() as s:
            p = await self._load(s, pid, lock=True)
            if not await self._may_manage(s, actor, p):
                raise NotAllowed("not_yours_proposal")
            if p.status not in (ProposalStatus.DRAFT, ProposalStatus.OPEN):
                raise Stale("vote_closed")
            if p.status == ProposalStatus.OPEN and not reason:
                raise BadInput("withdraw_usage")
            if reason:
                check_length(reason, MAX_STATEMENT)
            before = p.status
            p.status, p.remind_at, p.closed_at, p.updated_at = ProposalStatus.WITHDRAWN, None, utcnow(), utcnow()
            p.statement, p.statement_by = (reason, actor.id) if reason else (p.statement, p.statement_by)
            s.add(p)
            audit(s, community_id=p.community_id, actor_id=actor.id, entity="proposal", entity_id=p.id or 0,
                  action="withdrawn", from_state=before, to_state=ProposalStatus.WITHDRAWN, note=reason)
            v = await self._view(s, p)
            if before == ProposalStatus.OPEN:
                await self._refresh_posts(s, v, final=True)
                councils = await queries.bindings(s, p.community_id, ChatKind.COUNCIL)
                for g in councils:
                    self.n.to_chat(s, g, "proposal_outcome", key=f"outcome:{p.id}", **v.ctx(audience="group"))
                voted = (await s.execute(select(User).join(Turnout, Turnout.user_id == User.id).where(
                    Turnout.proposal_id == p.id).order_by(User.id))).scalars().all()
                for u in voted:
                    if u.id != actor.id:
                        self.n.to_user(s, u, v.community, "proposal_outcome", key=f"outcome:{p.id}",
                                       **v.ctx(audience="voter"))
            else:
                await self._close_draft_cards(s, v)
            if p.request_id:
                request_view = await self.r.after_council(s, actor, p.request_id, "withdrawn")
                if request_view is not None:
                    await self._tell_requester(s, v, request_view)
        self.n.wake()
        return v

    # ----------------------------------------------------------------- voting
    @staticmethod
    def _check_open(p: Proposal, now: datetime | None = None) -> None:
        if p.status != ProposalStatus.OPEN:
            raise Stale("vote_closed" if p.status in (ProposalStatus.CLOSED, ProposalStatus.WITHDRAWN) else "stale")
        if p.closes_at is not None and p.closes_at <= (now or utcnow()):
            raise Stale("vote_closed")  # the sweep has not closed it yet; the deadline has passed

    async def vote(self, actor: Actor, pid: int, option: int, *, private: bool) -> VoteResult:
        """One press. Open ballots: cast, change, or a harmless repeat. Secret ballots: cast once,
        in private chat only; a repeat is answered and counts nothing."""
        async with self.db.write() as s:
            p = await self._load(s, pid, lock=True)
            self._check_open(p)
            if not await self._is_elector(s, p, actor.id):
                raise NotAllowed("not_elector")
            if not 0 <= option < n_options(p):
                raise Stale()
            if p.secret and not private:
                raise BadInput("vote_in_private")
            voted = await s.get(Turnout, (p.id, actor.id)) is not None
            if p.secret:
                action = "already" if voted else "cast"
                if not voted:
                    s.add(Turnout(proposal_id=p.id, user_id=actor.id))
                    s.add(Ballot(id=secrets.randbits(62) + 1, proposal_id=p.id, option=option))
                s.add(VoteLog(proposal_id=p.id, user_id=actor.id, option=None,
                              action="repeat" if voted else "cast"))
            else:
                current = (await s.execute(select(Vote).where(Vote.proposal_id == p.id,
                                                              Vote.user_id == actor.id))).scalars().first()
                if current is None:
                    action = "cast"
                    s.add(Vote(proposal_id=p.id, user_id=actor.id, option=option))
                    s.add(Turnout(proposal_id=p.id, user_id=actor.id))
                elif current.option == option:
                    action = "same"
                else:
                    action = "changed"
                    current.option, current.at = option, utcnow()
                    s.add(current)
                s.add(VoteLog(proposal_id=p.id, user_id=actor.id, option=option,
                              action="repeat" if action == "same" else action))
            await s.flush()
            v = await self._view(s, p)
            if action == "cast":  # 积分 for taking part, once per member and proposal
                await award(s, v.community, actor.id, "vote_cast", f"vote:{p.id}:{actor.id}")
            if action in ("cast", "changed"):
                await self._refresh_posts(s, v)
            if action == "cast" and v.tally and v.tally.turnout >= p.eligible:
                await self._to_staff(s, v, "vote_all_in", close_buttons(p), key=f"allin:{p.id}")
        self.n.wake()
        return VoteResult(v, action, option)

    # ----------------------------------------------------------------- closing
    async def close(self, actor: Actor, pid: int, reply_chat: int | None = None) -> PView:
        """Staff close a vote early once every elector has voted (or at any time after the
        deadline, should the sweep not have run yet)."""
        async with self.db.write() as s:
            p = await self._load(s, pid, lock=True)
            if not await self._may_close(s, actor, p):
                raise NotAllowed("staff_only")
            if p.status != ProposalStatus.OPEN:
                raise Stale("vote_closed" if p.status in (ProposalStatus.CLOSED, ProposalStatus.WITHDRAWN) else "stale")
            turnout = (await self._tally(s, p)).turnout
            if turnout < p.eligible and p.closes_at is not None and p.closes_at > utcnow():
                raise BadInput("not_everyone_voted", turnout=turnout, eligible=p.eligible)
            v = await self._close(s, p, actor, reply_chat)
        self.n.wake()
        return v

    async def _close(self, s: AsyncSession, p: Proposal, closer: Actor | None,
                     reply_chat: int | None = None) -> PView:
        """Count, decide, record the minutes, announce, and move what follows from the outcome:
        a linked request (volunteer task, closed, or back to triage), a new task for a passed
        proposal without a request, a convention for a passed convention."""
        now = utcnow()
        won = (await s.execute(update(Proposal).where(Proposal.id == p.id, Proposal.status == ProposalStatus.OPEN)
                               .values(status=ProposalStatus.CLOSED, closed_at=now))).rowcount == 1
        if not won:
            raise Stale("vote_closed")
        counts = await self._counts(s, p)
        turnout = (await s.execute(select(func.count()).select_from(Turnout)
                                   .where(Turnout.proposal_id == p.id))).scalar_one()
        outcome, minutes = decide(p, counts, turnout)
        if not p.secret:
            rows = (await s.execute(select(User.first_name, Vote.option).join(Vote, Vote.user_id == User.id)
                                    .where(Vote.proposal_id == p.id).order_by(User.first_name, User.id))).all()
            minutes["named"] = [[name, option] for name, option in rows]
        p.status, p.closed_at, p.remind_at, p.updated_at = ProposalStatus.CLOSED, now, None, now
        p.outcome, p.minutes = outcome, minutes
        s.add(p)
        audit(s, community_id=p.community_id, actor_id=closer.id if closer else None, entity="proposal",
              entity_id=p.id or 0, action="closed", from_state=ProposalStatus.OPEN, to_state=outcome,
              note=f"{turnout}/{p.eligible}")
        v = await self._view(s, p)
        system = closer or system_actor(v.community)  # the council itself
        # A multiple-choice decision: the task says which option was chosen, not only the question.
        winner = minutes.get("winner") if p.options else None
        decision = None if winner is None else Named(p.options[winner], p.names_of(winner))
        if p.request_id:
            request_view = await self.r.after_council(s, system, p.request_id, outcome, decision)
            if request_view is not None:
                await self._tell_requester(s, v, request_view)
        elif outcome == Outcome.PASSED and p.kind != "convention":
            # No request behind it: the decision becomes a volunteer task filed for the proposer.
            req = await self.r.council_task(s, p.community_id, p.proposer_id, f"{p.title}\n\n{p.text}")
            p.request_id = req.id
            s.add(p)
            request_view = await self.r.after_council(s, system, req.id or 0, Outcome.PASSED, decision)
            v.task_no = request_view.no if request_view else None
        if outcome == Outcome.PASSED:
            await award(s, v.community, p.proposer_id, "proposal_passed", f"proposal:{p.id}")
        open_execution(s, p)  # a passed decision is followed until it is carried out
        if outcome == Outcome.PASSED and p.kind == "convention":
            s.add(Convention(community_id=p.community_id, proposal_id=p.id or 0, title=p.title, text=p.text,
                             adopted_at=now))
        await self._refresh_posts(s, v, final=True)
        councils = await queries.bindings(s, p.community_id, ChatKind.COUNCIL)
        for kind in (ChatKind.COUNCIL, ChatKind.COMMUNITY):
            for g in await queries.bindings(s, p.community_id, kind):
                self.n.to_chat(s, g, "proposal_outcome", key=f"outcome:{p.id}", **v.ctx(audience="group"))
        if not councils:
            for u in await self._electors(s, p):
                self.n.to_user(s, u, v.community, "proposal_outcome", key=f"outcome:{p.id}",
                               **v.ctx(audience="group"))
        # The chat where staff closed it gets the outcome as the reply: not a second time.
        await self._to_staff(s, v, "proposal_outcome", statement_buttons(p), key=f"minutes:{p.id}",
                             audience="staff", skip=reply_chat)
        await self._close_draft_cards(s, v, key=f"allin:{p.id}")  # no "close now" on a closed vote
        return v

    async def add_statement(self, actor: Actor, pid: int, text: str) -> PView:
        """Staff's outcome statement for the minutes, after the close; published to the council
        and community groups. A later statement replaces an earlier one (both are audited)."""
        text = text.strip()
        if not text:
            raise BadInput("statement_empty")
        check_length(text, MAX_STATEMENT)
        async with self.db.write() as s:
            p = await self._load(s, pid, lock=True)
            if not await self._may_close(s, actor, p):
                raise NotAllowed("staff_only")
            if p.status != ProposalStatus.CLOSED:
                raise Stale("not_closed")
            p.statement, p.statement_by, p.updated_at = text, actor.id, utcnow()
            s.add(p)
            audit(s, community_id=p.community_id, actor_id=actor.id, entity="proposal", entity_id=p.id or 0,
                  action="statement", note=text[:200])
            v = await self._view(s, p)
            for kind in (ChatKind.COUNCIL, ChatKind.COMMUNITY):
                for g in await queries.bindings(s, p.community_id, kind):
                    self.n.to_chat(s, g, "proposal_statement", key=f"statement:{p.id}", **v.ctx())
        self.n.wake()
        return v

    async def check_statement(self, actor: Actor, pid: int) -> PView:
        """Validate before asking staff to type a statement."""
        async with self.db.read() as s:
            p = await self._load(s, pid)
            if not await self._may_close(s, actor, p):
                raise NotAllowed("staff_only")
            if p.status != ProposalStatus.CLOSED:
                raise Stale("not_closed")
            return await self._view(s, p)

    # ----------------------------------------------------------------- timers
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
            self.n.wake()
        return fired

    async def _close_due(self, pid: int, now: datetime) -> int:
        async with self.db.write() as s:
            p = await locked(s, Proposal, pid)  # another sweep: once
            if p is None or p.status != ProposalStatus.OPEN or p.closes_at is None or p.closes_at > now:
                return 0
            await self._close(s, p, None)
        return 1

    async def _remind(self, pid: int, now: datetime) -> int:
        async with self.db.write() as s:
            p = await locked(s, Proposal, pid)  # another sweep: once
            if p is None or p.status != ProposalStatus.OPEN or p.remind_at is None or p.remind_at > now:
                return 0
            if p.closes_at is not None and p.closes_at <= now:
                p.remind_at = None
                s.add(p)
                return 0  # closing now; a reminder would only confuse
            community = await s.get(Community, p.community_id)
            assert community is not None
            held = after_quiet_hours(community, now)
            if held != now and (p.closes_at is None or held < p.closes_at):
                p.remind_at = held  # quiet hours: the reminder waits for the morning
                s.add(p)
                return 0
            p.remind_at = None
            s.add(p)
            v = await self._view(s, p)
            late = await self._electors(s, p, not_voted=True)
            for u in late:
                self.n.to_user(s, u, v.community, "vote_reminder", key=f"remind:{p.id}",
                               buttons=[[Button("vote_now", press(Act.BALLOT, p.id or 0))]], **v.ctx())
            audit(s, community_id=p.community_id, actor_id=None, entity="proposal", entity_id=p.id or 0,
                  action="reminded", note=str(len(late)))
        return 1

    # ----------------------------------------------------------------- machinery
    async def _refresh_posts(self, s: AsyncSession, v: PView, *, final: bool = False) -> None:
        """Edit the council group's post: the live tally, or the result (no buttons) at the end.

        Coalesced: at most one pending edit per post. A pending one is replaced rather than
        updated in place: the delivery loop may be sending it right now, and would then mark it
        sent with the old text; deleted, its "sent" mark touches nothing and the replacement
        carries the latest tally. Live edits keep `TALLY_GAP` between them; the final one goes
        at once.
        """
        p = v.p
        posts = (await s.execute(select(Outbox).where(Outbox.key == f"prop:{p.id}", Outbox.method == "send",
                                                      Outbox.chat_id < 0))).scalars().all()
        now = utcnow()
        for post in posts:
            binding = await s.get(ChatBinding, post.chat_id)
            if binding is None:
                continue
            edits = (await s.execute(select(Outbox).where(Outbox.edit_of == post.id)
                                     .order_by(Outbox.id.desc()))).scalars().all()
            pending = [e for e in edits if e.status == "pending"]
            if pending:
                not_before = pending[0].not_before
                await s.execute(delete(Outbox).where(Outbox.id.in_([e.id for e in pending])))
            else:
                not_before = max(now, edits[0].not_before + TALLY_GAP) if edits else now
            if final:
                row = await self.n.edit_post(s, post, v.community, "proposal_final", both_languages=True, **v.ctx())
                row.not_before, row.priority = now, INTERACTIVE  # the result goes before other posts' tallies
            else:
                row = await self.n.edit_post(s, post, v.community, "proposal_post", buttons=post_buttons(p),
                                             both_languages=True, **v.ctx())
                row.not_before = not_before

    async def _close_draft_cards(self, s: AsyncSession, v: PView, key: str | None = None) -> None:
        """Draft cards (or `key`'s posts) lose their buttons once the draft is opened or withdrawn
        (or the vote closed)."""
        cards = (await s.execute(select(Outbox).where(Outbox.key == (key or f"draft:{v.p.id}"),
                                                      Outbox.method == "send"))).scalars().all()
        for card in cards:
            await self.n.edit_post(s, card, v.community, "proposal_final", both_languages=True, **v.ctx())

    async def _to_staff(self, s: AsyncSession, v: PView, template: str, buttons: list[list[Button]], *,
                        key: str, skip: int | None = None, **ctx: Any) -> None:
        """The staff group, else every staff member privately (not chat `skip`)."""
        groups, people = await queries.staff_reach(s, v.p.community_id)
        for g in groups:
            if g.chat_id != skip:
                self.n.to_chat(s, g, template, buttons=buttons, key=key, **v.ctx(**ctx))
        for u in people:
            if u.id != skip:
                self.n.to_user(s, u, v.community, template, buttons=buttons, key=key,
                               priority=INTERACTIVE, **v.ctx(**ctx))

    async def _tell_requester(self, s: AsyncSession, v: PView, request_view: View) -> None:
        """The requester (and followers) hear the council's outcome and what it means for them."""
        for uid in await queries.audience(s, request_view.req):
            person = await s.get(User, uid)
            if person is not None:
                self.n.to_user(s, person, v.community, "proposal_outcome", key=f"req:{request_view.req.id}",
                               fallback_chat_id=request_view.req.source_chat_id if uid == request_view.req.requester_id else None,
                               **v.ctx(audience="requester", request_no=request_view.no))

    # What other stage services (the needs list's problem of the month) build on, by public names.
    next_number = _next_number
    view_of = _view
    to_staff = _to_staff
