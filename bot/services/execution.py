"""Decisions carried out (决议落实): what became of a passed council decision.

A passed proposal (not a convention, which is adopted as text) gets an execution record when the
vote closes (`open_execution`, inside the council's unit of work). Staff make one person
responsible and set a due date (`assign`); that person (or staff) reports progress 0–100 % with
a note and photos (`progress`). Each report is posted to the council and community groups
through the privacy gate (the note scrubbed, photos counted but kept out of groups) and told
privately to the proposer and everyone who voted. The owner is reminded before the due date
(`sweep`, run with the council's timers); `overdue` is the plain figure reports and the ranking use.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import policy
from bot.errors import BadInput, NotAllowed, NotFound
from bot.privacy import scrub
from bot.services.community import after_quiet_hours, audit, settings_of
from bot.services.context import Actor, memberships_of
from bot.services.notify import Notifier
from storage.db import Database, locked
from storage.models import (ChatBinding, ChatKind, Community, Execution, ExecutionUpdate, Membership, Proposal,
                            Turnout, User, utcnow)

log = logging.getLogger(__name__)

MAX_NOTE = 1000
MAX_PHOTOS = 3
REMIND_BEFORE = timedelta(hours=24)


@dataclass
class EView:
    """An execution with what rendering it needs."""

    e: Execution
    p: Proposal
    community: Community
    owner: User | None
    note: str | None = None  # the latest report's note, scrubbed (it goes public)
    photos: int = 0
    overdue: bool = False
    photo_ids: list[str] = field(default_factory=list)

    @property
    def no(self) -> str:
        return f"{self.community.code}-P{self.p.number:03d}"

    def ctx(self, **more: Any) -> dict[str, Any]:
        return {"e": self.e, "p": self.p, "no": self.no, "title": scrub(self.p.title)[0], "community": self.community,
                "owner": self.owner, "note": self.note, "photos": self.photos, "overdue": self.overdue, **more}


def open_execution(s: AsyncSession, p: Proposal) -> Execution | None:
    """The record of a decision that passed; a convention is adopted as text and needs none."""
    if p.outcome != "passed" or p.kind == "convention":
        return None
    e = Execution(community_id=p.community_id, proposal_id=p.id or 0)
    s.add(e)
    return e


async def overdue(s: AsyncSession, community_id: int, now: datetime | None = None) -> list[tuple[Execution, Proposal]]:
    """Decisions not carried out by their due date, oldest due first. A plain query: reports, the
    quarterly ranking and the public page can all count on it."""
    now = now or utcnow()
    return [(e, p) for e, p in (await s.execute(
        select(Execution, Proposal).join(Proposal, Proposal.id == Execution.proposal_id).where(
            Execution.community_id == community_id, Execution.done_at.is_(None), Execution.due_at.is_not(None),
            Execution.due_at < now).order_by(Execution.due_at))).all()]


async def overdue_counts(s: AsyncSession, community_ids: list[int], start: datetime, end: datetime,
                         now: datetime | None = None) -> dict[int, int]:
    """Per community, the council decisions that were overdue at some moment of the period
    [start, min(end, now)): a due date before that moment's end, and not carried out by it —
    still not done, or done after both its due date and the period's start. The ranking counts
    them (`bot.services.rates.ranked`); a decision finished late before the period began does not."""
    until = min(end, now or utcnow())
    if not community_ids or until <= start:
        return {}
    rows = (await s.execute(select(Execution.community_id, func.count()).where(
        Execution.community_id.in_(community_ids), Execution.due_at.is_not(None), Execution.due_at < until,
        or_(Execution.done_at.is_(None), and_(Execution.done_at > Execution.due_at, Execution.done_at > start)))
        .group_by(Execution.community_id))).all()
    return {int(cid): int(n) for cid, n in rows}


def due_from(community: Community, day: str) -> datetime:
    """`YYYY-MM-DD` (community time) → the end of that working day, in UTC."""
    try:
        d = date.fromisoformat(day.strip())
    except ValueError:
        raise BadInput("bad_date") from None
    end = time.fromisoformat(settings_of(community)["working_hours"].split("-")[1].strip())
    return datetime.combine(d, end, tzinfo=ZoneInfo(community.timezone)).astimezone(ZoneInfo("UTC"))


class ExecutionService:
    def __init__(self, db: Database, notifier: Notifier) -> None:
        self.db = db
        self.notifier = notifier

    async def _find(self, s: AsyncSession, actor: Actor, ref: str) -> tuple[Proposal, Execution]:
        """`JMS-P001`, `P1` or `1`, within the actor's community, with its execution (locked)."""
        if actor.community is None:
            raise NotAllowed("no_community")
        digits = ref.strip().upper().rsplit("-", 1)[-1].lstrip("P")
        p = None
        if digits.isdigit():
            p = (await s.execute(select(Proposal).where(Proposal.community_id == actor.community.id,
                                                        Proposal.number == int(digits)))).scalars().first()
        if p is None:
            raise NotFound("proposal_not_found", ref=ref)
        eid = (await s.execute(select(Execution.id).where(Execution.proposal_id == p.id))).scalar()
        e = await locked(s, Execution, eid) if eid is not None else None
        if e is None:
            raise NotFound("no_execution", ref=ref)
        return p, e

    async def _view(self, s: AsyncSession, e: Execution, p: Proposal, **more: Any) -> EView:
        community = await s.get(Community, e.community_id)
        assert community is not None
        owner = await s.get(User, e.owner_id) if e.owner_id else None
        return EView(e, p, community, owner, overdue=bool(e.due_at and not e.done_at and e.due_at < utcnow()),
                     **more)

    async def assign(self, actor: Actor, ref: str, who: str, day: str) -> EView:
        """Staff make one person of the community responsible, with a due date; that person is
        told privately how to report progress."""
        async with self.db.write() as s:
            p, e = await self._find(s, actor, ref)
            if not policy.is_staff(await memberships_of(s, actor.id, p.community_id), p.community_id):
                raise NotAllowed("staff_only")
            community = await s.get(Community, p.community_id)
            assert community is not None
            handle = who.lstrip("@")
            q = select(User).join(Membership, Membership.user_id == User.id).where(
                Membership.community_id == community.id)
            q = q.where(User.id == int(handle)) if handle.isdigit() else q.where(
                func.lower(User.username) == handle.lower())
            owner = (await s.execute(q)).scalars().first()
            if owner is None:
                raise NotFound("member_not_found", name=who)
            now = utcnow()
            due = due_from(community, day)
            if due <= now:
                raise BadInput("bad_date")
            e.owner_id, e.due_at, e.updated_at = owner.id, due, now
            e.remind_at = due - REMIND_BEFORE if due - REMIND_BEFORE > now else None
            s.add(e)
            audit(s, community_id=community.id, actor_id=actor.id, entity="execution", entity_id=e.id or 0,
                  action="assigned", note=f"{owner.id}:{day}", public=True)
            v = await self._view(s, e, p)
            if owner.id != actor.id:
                self.notifier.to_user(s, owner, community, "execution_owner", key=f"exec:{p.id}", **v.ctx())
        self.notifier.wake()
        return v

    async def progress(self, actor: Actor, ref: str, percent: int, note: str | None,
                       photos: list[str] | None = None) -> EView:
        """A progress report by the responsible person (or staff): posted to the council and
        community groups and told to the proposer and everyone who voted."""
        if not 0 <= percent <= 100:
            raise BadInput("bad_progress")
        note = (note or "").strip() or None
        if note and len(note) > MAX_NOTE:
            raise BadInput("note_too_long", limit=MAX_NOTE, length=len(note))
        photos = (photos or [])[:MAX_PHOTOS]
        async with self.db.write() as s:
            p, e = await self._find(s, actor, ref)
            ms = await memberships_of(s, actor.id, p.community_id)
            if not policy.may_carry_out(actor.id, ms, p.community_id, e.owner_id):
                raise NotAllowed("not_owner")
            now = utcnow()
            before = e.progress
            e.progress, e.updated_at = percent, now
            e.done_at = (e.done_at or now) if percent == 100 else None
            s.add(e)
            s.add(ExecutionUpdate(execution_id=e.id or 0, author_id=actor.id, progress=percent, note=note,
                                  photos=photos, at=now))
            audit(s, community_id=p.community_id, actor_id=actor.id, entity="execution", entity_id=e.id or 0,
                  action="progress", from_state=str(before), to_state=str(percent), note=note, public=True)
            v = await self._view(s, e, p, note=scrub(note)[0] if note else None, photos=len(photos),
                                 photo_ids=photos)
            for kind in (ChatKind.COUNCIL, ChatKind.COMMUNITY):
                for g in (await s.execute(select(ChatBinding).where(
                        ChatBinding.community_id == p.community_id, ChatBinding.kind == kind))).scalars():
                    self.notifier.to_chat(s, g, "execution_update", key=f"exec:{p.id}", **v.ctx())
            voters = set((await s.execute(select(Turnout.user_id).where(Turnout.proposal_id == p.id))).scalars())
            for uid in sorted((voters | {p.proposer_id}) - {actor.id}):
                person = await s.get(User, uid)
                if person is not None:
                    self.notifier.to_user(s, person, v.community, "execution_update", key=f"exec:{p.id}",
                                   photo=photos[0] if photos else None, **v.ctx())
        self.notifier.wake()
        return v

    async def sweep(self, now: datetime | None = None, batch: int = 100) -> int:
        """Remind owners of decisions due soon (once each; quiet hours wait for the morning).
        Each firing re-checks its row in its own unit of work: running twice is harmless."""
        now = now or utcnow()
        async with self.db.read() as s:
            due = list((await s.execute(select(Execution.id).where(
                Execution.remind_at <= now, Execution.done_at.is_(None)).limit(batch))).scalars())
        fired = 0
        for eid in due:
            try:
                fired += await self._remind(eid, now)
            except Exception:  # one broken record must not hold up the others
                log.exception("execution reminder %s failed", eid)
        if fired:
            self.notifier.wake()
        return fired

    async def _remind(self, eid: int, now: datetime) -> int:
        async with self.db.write() as s:
            e = await locked(s, Execution, eid)
            if e is None or e.remind_at is None or e.remind_at > now or e.done_at is not None:
                return 0
            community = await s.get(Community, e.community_id)
            p = await s.get(Proposal, e.proposal_id)
            assert community is not None and p is not None
            held = after_quiet_hours(community, now)
            if held != now and (e.due_at is None or held < e.due_at):
                e.remind_at = held
                s.add(e)
                return 0
            e.remind_at = None
            s.add(e)
            v = await self._view(s, e, p)
            if v.owner is not None:
                self.notifier.to_user(s, v.owner, community, "execution_owner", key=f"exec:{p.id}", reminder=True,
                               **v.ctx())
            audit(s, community_id=e.community_id, actor_id=None, entity="execution", entity_id=e.id or 0,
                  action="reminded")
        return 1
