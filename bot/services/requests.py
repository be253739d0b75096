"""The request lifecycle: intake, triage, escalation, volunteer tasks, completion.

Every transition is one unit of work: a conditional state change (so two people acting at once
cannot both win), an audit event, the next timer, and the notifications it causes, committed
together. Invalid transitions and people without the role raise a typed error and write nothing.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import policy
from bot.errors import BadInput, NotAllowed, NotFound, Stale
from bot.i18n import Named
from bot.policy import Audience
from bot.privacy import PublicRequest, Restricted, scrub_kinds
from bot.services import points, queries, states
from bot.services.buttons import Act, Button, press
from bot.services.keys import OutboxKey
from bot.services.community import audit, in_working_hours, settings_of
from bot.services.context import Actor, memberships_of
from bot.services.language import NoTranslator, Translator, detect
from bot.services.notify import BULK, INTERACTIVE, Notifier
from storage.db import Database, locked
from storage.models import (OPEN_STATUSES, AuditEvent, ChatBinding, ChatKind, Community, Follower, Grid,
                            Membership, MeToo, Outbox, Outcome, Request, Role, Status, User, utcnow)

MAX_DESCRIPTION = 2000
MAX_NOTE = 1000
MAX_PHOTOS = 3
DECLINE_REASONS = ("not_community", "no_action", "referred", "other")
DUE_DAYS = (1, 3, 7, 14)
CARD_EDIT_GAP = timedelta(seconds=20)  # at most three edits a minute of a triage card (a "me too" count)


class Op:
    """Triage, task and liaison operations (indexes travel in callback data)."""

    ACCEPT, HANDLE, DUPLICATE, ASK, DECLINE, ESCALATE, CATEGORY = range(7)  # triage
    CLAIM, PROGRESS, DONE, RELEASE = range(4)  # task (assignee)
    DEPT_ACCEPT, DEPT_DONE, DEPT_RETURN = range(3)  # liaison


@dataclass
class Draft:
    """What intake gathered; validated again here whatever the conversation did."""

    description: str
    category: str | None = None
    grid_id: int | None = None
    photos: list[str] = field(default_factory=list)
    latitude: float | None = None
    longitude: float | None = None
    contact_note: str | None = None
    on_behalf_name: str | None = None
    source_chat_id: int | None = None
    language_hint: str | None = None


@dataclass
class View:
    """A request with what rendering it needs."""

    req: Request
    community: Community
    grid: Grid | None
    requester: User | None
    assignee: User | None = None
    clearance: Audience | None = None  # set by `view`: the widest text its reader may see
    affected: int = 1  # households affected: the requester's and every "me too" (附议)

    @property
    def no(self) -> str:
        return number(self.community, self.req)

    def ctx(self, **more: Any) -> dict[str, Any]:
        return {"r": self.req, "no": self.no, "grid": self.grid, "community": self.community,
                "requester": self.requester, "assignee": self.assignee, "affected": self.affected, **more}

    def public_ctx(self, **more: Any) -> dict[str, Any]:
        """What a group (or a follower) may read: public fields, free text scrubbed."""
        return {"r": PublicRequest(self.req), "no": self.no, "grid": self.grid, "community": self.community,
                "requester": None, "assignee": self.assignee, "affected": self.affected, **more}


def number(community: Community, req: Request) -> str:
    return f"{community.code}-{req.number:04d}"


def triage_buttons(req_id: int) -> list[list[Button]]:
    t = lambda label, op: Button(label, press(Act.TRIAGE, req_id, op))  # noqa: E731
    return [[t("accept", Op.ACCEPT), t("handle", Op.HANDLE)],
            [t("duplicate", Op.DUPLICATE), t("ask_info", Op.ASK)],
            [t("decline", Op.DECLINE), t("escalate", Op.ESCALATE)],
            [Button("to_council", press(Act.TO_COUNCIL, req_id)), t("categorise", Op.CATEGORY)],
            [Button("to_partner", press(Act.ROUTE, req_id, 0))]]  # the resources list (资源清单), page 0


def metoo_buttons(req_id: int) -> list[list[Button]]:
    """"Me too" (附议) under a public request post: one tap, counted once per household."""
    return [[Button("metoo", press(Act.METOO, req_id))]]


async def affected_households(s: AsyncSession, req: Request) -> int:
    """The requester's household and every other one that said "me too"."""
    others = (await s.execute(select(func.count()).select_from(MeToo).where(
        MeToo.request_id == req.id, MeToo.user_id != req.requester_id))).scalar_one()
    return 1 + int(others)


async def add_metoo(s: AsyncSession, req_id: int, user_id: int) -> bool:
    """Count a household once: an insert that does nothing when it is there already (also when
    two taps race on PostgreSQL: the loser waits for the winner, then inserts nothing). True if
    it was new."""
    dialect = s.bind.dialect.name if s.bind is not None else "sqlite"
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    stmt = insert(MeToo).values(request_id=req_id, user_id=user_id, at=utcnow()).on_conflict_do_nothing()
    return (await s.execute(stmt)).rowcount == 1


def claim_buttons(req_id: int) -> list[list[Button]]:
    return [[Button("claim", press(Act.TASK, req_id, Op.CLAIM))]]


def assignee_buttons(req: Request) -> list[list[Button]]:
    if req.status in (Status.ESCALATED, Status.DEPT_ACCEPTED):
        li = lambda label, op: Button(label, press(Act.LIAISON, req.id or 0, op))  # noqa: E731
        first = [li("dept_accept", Op.DEPT_ACCEPT)] if req.status == Status.ESCALATED else []
        return [first + [li("done", Op.DEPT_DONE)], [li("return", Op.DEPT_RETURN)]]
    tk = lambda label, op: Button(label, press(Act.TASK, req.id or 0, op))  # noqa: E731
    rows = [[tk("progress", Op.PROGRESS), tk("done", Op.DONE)]]
    if req.status not in (Status.HANDLING, Status.PARTNER_ACCEPTED):
        rows.append([tk("release", Op.RELEASE)])
    return rows


class RequestService:
    def __init__(self, db: Database, notifier: Notifier, translator: Translator | None = None) -> None:
        self.db = db
        self.n = notifier
        self.translator = translator or NoTranslator()
        # Other services' part in a transition, inside its unit of work: `on_close(s, req, to)` runs
        # on every move (the services list frees an order's seat on cancel/decline), `reminders[who]`
        # sends a timer's reminder to people only that service knows (an order's provider).
        self.on_close: list[Callable[[AsyncSession, Request, str], Awaitable[None]]] = []
        self.reminders: dict[str, Callable[[AsyncSession, Request, str], Awaitable[None]]] = {}

    async def prepare(self, text: str | None, source: str | None = None) -> None:
        """Machine-translate what a person wrote into every shipped language but its own, before
        the unit of work (no network call holds the write lock), so each reader's notification can
        carry a labelled translation. Without a provider, or when it fails, readers still see the
        original labelled with its language."""
        if not text or not self.translator.enabled:
            return
        source = source or detect(text)
        if not source:
            return
        targets = sorted({loc.split("_")[0] for loc in self.n.locales} - {source})
        missing = [t for t in targets if not self.n.translated(text, t)]
        results = await asyncio.gather(*(self.translator.translate(text, source, t) for t in missing))
        for target, translated in zip(missing, results):
            if translated:
                self.n.remember(text, target, translated)

    # ----------------------------------------------------------------- reading
    async def _view(self, s: AsyncSession, req: Request) -> View:
        community = await s.get(Community, req.community_id)
        assert community is not None
        grid = await s.get(Grid, req.grid_id) if req.grid_id else None
        requester = await s.get(User, req.requester_id)
        assignee = await s.get(User, req.assignee_id) if req.assignee_id else None
        return View(req, community, grid, requester, assignee, affected=await affected_households(s, req))

    async def _views(self, s: AsyncSession, reqs: Sequence[Request]) -> list[View]:
        """Views of a list of requests in four queries, whatever its length."""
        async def by_id(model: Any, ids: set[int | None]) -> dict[int, Any]:
            ids.discard(None)
            if not ids:
                return {}
            return {x.id: x for x in (await s.execute(select(model).where(model.id.in_(ids)))).scalars()}

        communities = await by_id(Community, {r.community_id for r in reqs})
        grids = await by_id(Grid, {r.grid_id for r in reqs})
        users = await by_id(User, {r.requester_id for r in reqs} | {r.assignee_id for r in reqs})
        return [View(r, communities[r.community_id], grids.get(r.grid_id or 0), users.get(r.requester_id),
                     users.get(r.assignee_id or 0)) for r in reqs]

    async def _load(self, s: AsyncSession, req_id: int) -> Request:
        req = await locked(s, Request, req_id)  # PostgreSQL: no two transitions at once
        if req is None:
            raise Stale()
        return req

    async def view(self, actor: Actor, req_id: int) -> tuple[View, list[Any]]:
        """A request and its timeline, for people allowed to see it (requester, followers,
        its grid leaders, its assignee, that community's staff), holding only the text the reader
        may read (`View.clearance`): a follower sees public fields and public notes only."""
        from storage.models import AuditEvent

        async with self.db.read() as s:
            req = await self._load(s, req_id)
            level = await self._clearance(s, actor.id, req)
            if level is None:
                raise NotAllowed("not_yours")
            v = await self._view(s, req)
            v.clearance = level
            events = list((await s.execute(select(AuditEvent).where(
                AuditEvent.entity == "request", AuditEvent.entity_id == req_id).order_by(AuditEvent.id))).scalars())
            for e in events:
                if e.note and not policy.may_read(level, Audience.of(e.audience)):
                    s.expunge(e)
                    e.note = None
            if level < Audience.RESTRICTED:
                s.expunge(v.req)
                v.req = PublicRequest(v.req)  # type: ignore[assignment]
        return v, events

    async def _clearance(self, s: AsyncSession, user_id: int, req: Request) -> Audience | None:
        """Tenant first: the person's roles in the request's own community only."""
        follower = await s.get(Follower, (req.id, user_id)) is not None
        return policy.clearance(user_id, await memberships_of(s, user_id, req.community_id), req, follower=follower)

    async def mine(self, actor: Actor, *, offset: int = 0, limit: int = 8) -> tuple[list[View], int]:
        async with self.db.read() as s:
            cond = Request.requester_id == actor.id
            total = (await s.execute(select(func.count()).select_from(Request).where(cond))).scalar_one()
            rows = (await s.execute(select(Request).where(cond).order_by(Request.created_at.desc(), Request.id.desc())
                                    .offset(offset).limit(limit))).scalars().all()
            return await self._views(s, rows), total

    async def tasks(self, actor: Actor, *, mine: bool, offset: int = 0, limit: int = 5) -> tuple[list[View], int]:
        """Open volunteer tasks of the actor's community, or the actor's own ones."""
        if actor.community is None:
            raise NotAllowed("no_community")
        if mine:
            cond = [Request.assignee_id == actor.id,
                    Request.status.in_([Status.CLAIMED, Status.IN_PROGRESS, Status.HANDLING,
                                        Status.ESCALATED, Status.DEPT_ACCEPTED, Status.PARTNER_ACCEPTED])]
        else:
            if not (actor.has(Role.VOLUNTEER) or actor.is_staff):
                raise NotAllowed("volunteers_only")
            cond = [Request.community_id == actor.community.id, Request.status == Status.ACCEPTED]
        async with self.db.read() as s:
            total = (await s.execute(select(func.count()).select_from(Request).where(*cond))).scalar_one()
            rows = (await s.execute(select(Request).where(*cond).order_by(Request.id)
                                    .offset(offset).limit(limit))).scalars().all()
            return await self._views(s, rows), total

    async def similar_open(self, actor: Actor, category: str | None, grid_id: int | None) -> list[View]:
        """Open requests of the same category in the same grid: "follow that one instead"."""
        if actor.community is None or not category:
            return []
        async with self.db.read() as s:
            rows = (await s.execute(select(Request).where(
                Request.community_id == actor.community.id, Request.grid_id == grid_id,
                Request.category == category, Request.status.in_(list(OPEN_STATUSES)),
                Request.requester_id != actor.id).order_by(Request.id.desc()).limit(3))).scalars().all()
            return await self._views(s, rows)

    async def merge_candidates(self, actor: Actor, req_id: int) -> list[View]:
        """Open requests a new one may duplicate: same grid first, newest first."""
        async with self.db.read() as s:
            req = await self._triage_target(s, actor, req_id)
            rows = (await s.execute(select(Request).where(
                Request.community_id == req.community_id, Request.id != req.id,
                Request.status.in_([st for st in OPEN_STATUSES if st != Status.NEW] + [Status.NEW]))
                .order_by((Request.grid_id == req.grid_id).desc(), Request.id.desc()).limit(8))).scalars().all()
            return await self._views(s, rows)

    async def question_behind(self, chat_id: int, message_id: int) -> int | None:
        """The request whose "question for you" message this is, if it is one (a reply to it in a
        group is the resident's answer)."""
        async with self.db.read() as s:
            key = (await s.execute(select(Outbox.key).where(Outbox.chat_id == chat_id,
                                                            Outbox.message_id == message_id))).scalars().first()
        parsed = OutboxKey.parse(key)
        return parsed.ref if parsed and parsed.kind == "ask" else None

    async def find_by_number(self, actor: Actor, ref: str) -> Request:
        """`JMS-0042`, `jms-42` or `42`, within the actor's community."""
        if actor.community is None:
            raise NotAllowed("no_community")
        prefix, _, digits = ref.strip().rpartition("-")
        if not digits.isdigit() or (prefix and prefix.upper() != actor.community.code.upper()):
            raise NotFound("request_not_found", ref=ref)  # another community's number is not ours
        async with self.db.read() as s:
            req = (await s.execute(select(Request).where(Request.community_id == actor.community.id,
                                                         Request.number == int(digits)))).scalars().first()
        if req is None:
            raise NotFound("request_not_found", ref=ref)
        return req

    # ----------------------------------------------------------------- intake
    async def file(self, actor: Actor, draft: Draft) -> View:
        community = actor.community
        if community is None:
            raise NotAllowed("no_community")
        description = draft.description.strip()
        if not description:
            raise BadInput("description_empty")
        if len(description) > MAX_DESCRIPTION:
            raise BadInput("description_too_long", limit=MAX_DESCRIPTION, length=len(description))
        if draft.category is not None and draft.category not in settings_of(community)["categories"]:
            raise BadInput("bad_category")
        if draft.on_behalf_name and not (actor.is_staff or actor.has(Role.GRID_LEADER)):
            raise NotAllowed("leaders_only")
        hint = draft.language_hint or detect(description)
        mt = None  # translated before the unit of work: no network call holds the write lock
        if self.translator.enabled and hint and hint != community.locale.split("_")[0]:
            mt = await self.translator.translate(description, hint, community.locale)
        await self.prepare(description, hint)
        now = utcnow()
        async with self.db.write() as s:
            grid = None
            if draft.grid_id is not None:
                grid = await s.get(Grid, draft.grid_id)
                if grid is None or grid.community_id != community.id:
                    raise BadInput("grid_not_found", name=str(draft.grid_id))
            c = await locked(s, Community, community.id)  # numbers stay unique
            assert c is not None
            num = c.next_number
            c.next_number = num + 1
            s.add(c)
            req = Request(community_id=c.id, number=num, grid_id=grid.id if grid else None,
                          requester_id=actor.id, filed_by_id=actor.id if draft.on_behalf_name else None,
                          on_behalf_name=draft.on_behalf_name, category=draft.category,
                          description=description, language_hint=hint,
                          description_mt=mt, mt_locale=community.locale if mt else None,
                          contact_note=(draft.contact_note or None), photos=draft.photos[:MAX_PHOTOS],
                          latitude=draft.latitude, longitude=draft.longitude,
                          source_chat_id=draft.source_chat_id, status=Status.NEW,
                          timer_kind="triage_remind",
                          timer_at=now + timedelta(hours=settings_of(c)["triage_hours"]))
            s.add(req)
            await s.flush()
            audit(s, community_id=c.id, actor_id=actor.id, entity="request", entity_id=req.id or 0,
                  action="filed", to_state=Status.NEW, note=draft.on_behalf_name)
            v = await self._view(s, req)
            await self._post_card(s, v)
            await self._feed(s, v, "filed")
            await self._tell_scrubbed(s, v, actor.user, description)
            if draft.source_chat_id is not None and v.requester is not None and v.requester.started:
                # Filed in a group: the details continue in private chat.
                self.n.to_user(s, v.requester, c, "filed", priority=INTERACTIVE, from_group=True, **v.ctx())
        self.n.wake()
        return v

    async def follow(self, actor: Actor, req_id: int, category: str | None, grid_id: int | None) -> View:
        """Follow a similar open request instead of filing one: only one that intake offered (same
        grid and category), so forged data cannot subscribe anyone to any request."""
        async with self.db.write() as s:
            req = await self._load(s, req_id)
            if not policy.may_follow(actor.id, await memberships_of(s, actor.id, req.community_id), req,
                                     category=category, grid_id=grid_id, open_statuses=OPEN_STATUSES):
                raise Stale()
            if req.requester_id != actor.id and await s.get(Follower, (req.id, actor.id)) is None:
                s.add(Follower(request_id=req.id, user_id=actor.id))
                audit(s, community_id=req.community_id, actor_id=actor.id, entity="request",
                      entity_id=req.id or 0, action="followed")
            if await add_metoo(s, req.id or 0, actor.id):  # the same matter: one more household
                v = await self._view(s, req)
                await self._redraw_cards(s, v)
            else:
                v = await self._view(s, req)
        self.n.wake()
        return v

    async def metoo(self, actor: Actor, req_id: int) -> tuple[View, bool]:
        """"Me too" (附议) on a public request post: the tapper's household counts once (a second
        tap changes nothing), never the requester's own a second time; the triage card's count is
        edited. Tappers hear the outcome (see `_apply`); no group learns who they are. Returns
        the view and whether the tap was new."""
        async with self.db.write() as s:
            req = await self._load(s, req_id)  # FOR UPDATE: counts and card edits in order
            ms = await memberships_of(s, actor.id, req.community_id)
            in_group = actor.binding is not None and actor.binding.community_id == req.community_id
            if policy.is_requester(actor.id, req):
                raise NotAllowed("metoo_own")
            if not policy.may_metoo(actor.id, ms, req, in_community_group=in_group, open_statuses=OPEN_STATUSES):
                raise Stale("already_handled", status=req.status) if req.status not in OPEN_STATUSES else NotAllowed()
            new = await add_metoo(s, req.id or 0, actor.id)
            if new:
                audit(s, community_id=req.community_id, actor_id=actor.id, entity="request", entity_id=req.id or 0,
                      action="metoo")
            v = await self._view(s, req)
            if new:
                await self._redraw_cards(s, v)
        self.n.wake()
        return v, new

    async def _redraw_cards(self, s: AsyncSession, v: View) -> None:
        """An open triage card shows what changed (category, households affected), each in its
        chat's language; a group's passes the privacy gate. Edits coalesce: at most one pending
        per card, so a burst of taps is one edit, never a message more."""
        if v.req.status != Status.NEW:
            return
        now = utcnow()
        latest = {p.chat_id: p for p in sorted(await self._posts(s, v, "card"), key=lambda p: p.id or 0)}
        for post in latest.values():  # a card posted again (reopened, returned) replaced the old one
            # A group's budget is 20 messages a minute: a card's edits keep a gap between them; one
            # still waiting is replaced and keeps its time.
            last = (await s.execute(select(Outbox).where(
                Outbox.edit_of == post.id, Outbox.method == "edit", Outbox.status.in_(("pending", "sent")))
                .order_by(Outbox.id.desc()).limit(1))).scalars().first()
            not_before = now if last is None else (
                last.not_before if last.status == "pending" else max(now, (last.sent_at or now) + CARD_EDIT_GAP))
            await self.n.supersede_edits(s, post)
            if post.chat_id < 0:
                row = await self.n.edit_post(s, post, v.community, "triage_card", both_languages=True,
                                             buttons=triage_buttons(v.req.id or 0) + metoo_buttons(v.req.id or 0),
                                             **v.public_ctx())
                row.not_before = not_before
            else:
                await self.n.edit_post(s, post, v.community, "triage_card", buttons=triage_buttons(v.req.id or 0),
                                       private=True, **v.ctx())

    # ----------------------------------------------------------------- triage
    async def _triage_target(self, s: AsyncSession, actor: Actor, req_id: int,
                             allowed: frozenset[str] = frozenset({Status.NEW})) -> Request:
        req = await self._load(s, req_id)
        if not policy.may_triage(await memberships_of(s, actor.id, req.community_id), req):
            raise NotAllowed("triage_not_allowed")
        if req.status not in allowed:
            raise Stale("already_handled", status=req.status)
        return req

    @staticmethod
    async def _is_member(s: AsyncSession, user_id: int, community_id: int, role: Role,
                         grid_id: int | None = None) -> bool:
        q = select(Membership.id).where(Membership.user_id == user_id, Membership.community_id == community_id,
                                         Membership.role == role)
        if grid_id is not None:
            q = q.where(Membership.grid_id == grid_id)
        return (await s.execute(q.limit(1))).first() is not None

    async def categorise(self, actor: Actor, req_id: int, category: str) -> View:
        """Triage sets or changes the category (a request filed in a group has none), while the
        request is open: the monthly report and the similar-request search count on it. An open
        triage card is redrawn with it."""
        async with self.db.write() as s:
            req = await self._triage_target(s, actor, req_id, frozenset(OPEN_STATUSES))
            community = await s.get(Community, req.community_id)
            assert community is not None
            if category not in settings_of(community)["categories"]:
                raise BadInput("bad_category")
            before, req.category, req.updated_at = req.category, category, utcnow()
            s.add(req)
            audit(s, community_id=req.community_id, actor_id=actor.id, entity="request", entity_id=req.id or 0,
                  action="categorised", note=f"{before or ''}→{category}")
            v = await self._view(s, req)
            await self._redraw_cards(s, v)
        self.n.wake()
        return v

    async def check_triage(self, actor: Actor, req_id: int) -> View:
        """Validate that the actor may triage this request now (before a multi-step choice)."""
        async with self.db.read() as s:
            return await self._view(s, await self._triage_target(s, actor, req_id))

    # The council (议事会) steps. Each runs inside the caller's unit of work (the deliberation
    # service's), so the request and its proposal change together or not at all.
    async def to_council(self, s: AsyncSession, actor: Actor, req_id: int) -> View:
        """Triage sends a public matter to the council; its triage clock stops."""
        req = await self._triage_target(s, actor, req_id)
        return await self._apply(s, actor, req, Status.COUNCIL, "to_council",
                                 fields={"timer_at": None, "timer_kind": None})

    async def council_task(self, s: AsyncSession, community_id: int, requester_id: int,
                           description: str) -> Request:
        """A passed proposal with no request behind it becomes one, filed for its proposer and
        waiting in `council` so that `after_council` posts it like any other."""
        c = await locked(s, Community, community_id)  # numbered like any other request
        assert c is not None
        req = Request(community_id=c.id, number=c.next_number, requester_id=requester_id, category="public",
                      description=description[:MAX_DESCRIPTION], status=Status.COUNCIL)
        c.next_number += 1
        s.add_all([c, req])
        await s.flush()
        audit(s, community_id=c.id, actor_id=None, entity="request", entity_id=req.id or 0,
              action="filed", to_state=Status.COUNCIL)
        return req

    async def after_council(self, s: AsyncSession, actor: Actor, req_id: int, outcome: str,
                            decision: Named | None = None) -> View | None:
        """The council's outcome moves the request on: passed -> the volunteer task is posted;
        rejected -> closed, not fixed, with the council as reason; no quorum or withdrawn -> back
        to triage with a fresh card. The caller tells the requester (with the figures). None if
        the request left `council` meanwhile (e.g. the requester cancelled it)."""
        req = await self._load(s, req_id)
        if req.status != Status.COUNCIL:
            return None
        if outcome == Outcome.PASSED:
            v = await self._apply(s, actor, req, Status.ACCEPTED, "council_passed", tell_requester=False,
                                  timer=("claim_remind", "claim_remind_hours"))
            await self._post_task(s, v, decision=decision)
        elif outcome == Outcome.REJECTED:
            v = await self._apply(s, actor, req, Status.DECLINED, "council_rejected", tell_requester=False,
                                  fields={"reason": "council_rejected"})
        else:
            c = await s.get(Community, req.community_id)
            assert c is not None
            v = await self._apply(s, actor, req, Status.NEW, f"council_{outcome}", tell_requester=False,
                                  fields={"timer_kind": "triage_remind",
                                          "timer_at": utcnow() + timedelta(hours=settings_of(c)["triage_hours"])})
            await self._post_card(s, v)
        return v

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
        note = _note(note)
        if reason == "other" and not note:
            raise BadInput("note_required")
        await self.prepare(note)
        return await self._transition(actor, req_id, Status.DECLINED, "declined", triage=True,
                                      fields={"reason": reason, "reason_note": note}, note=note)

    async def merge(self, actor: Actor, req_id: int, original_id: int) -> View:
        if req_id == original_id:
            raise BadInput("same_request")
        async with self.db.write() as s:
            req = await self._triage_target(s, actor, req_id)
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
            ov = await self._view(s, original)
            v = await self._apply(s, actor, req, Status.DUPLICATE, "merged", public_note=True,
                                  fields={"duplicate_of_id": original.id}, note=ov.no, extra={"original": ov.no})
            await self._redraw_cards(s, await self._view(s, original))
        self.n.wake()
        return v

    async def ask_info(self, actor: Actor, req_id: int, question: str) -> View:
        """The requester is asked; the clock pauses until they answer."""
        question = _note(question)
        if not question:
            raise BadInput("note_required")
        await self.prepare(question)
        async with self.db.write() as s:
            req = await self._triage_target(s, actor, req_id)
            remaining = int((req.timer_at - utcnow()).total_seconds()) if req.timer_at else None
            v = await self._apply(s, actor, req, Status.WAITING_INFO, "info_requested", note=question,
                                  fields={"paused_status": req.status, "paused_remaining_s": remaining,
                                          "timer_at": None, "timer_kind": None},
                                  tell_requester=False)
            self.n.to_user(s, v.requester, v.community, "ask_info", question=question,
                           buttons=[[Button("answer", press(Act.ANSWER, req.id or 0))]],
                           fallback_chat_id=req.source_chat_id, key=str(OutboxKey("ask", req.id or 0)), link=f"an_{req.id}",
                           **v.ctx())
        self.n.wake()
        return v

    async def answer_info(self, actor: Actor, req_id: int, answer: str) -> View:
        answer = _note(answer)
        if not answer:
            raise BadInput("note_required")
        await self.prepare(answer)
        async with self.db.write() as s:
            req = await self._load(s, req_id)
            if actor.id != req.requester_id:
                raise NotAllowed("not_yours")
            if req.status != Status.WAITING_INFO:
                raise Stale("already_handled", status=req.status)
            resume = req.paused_status or Status.NEW
            remaining = req.paused_remaining_s if req.paused_remaining_s is not None else 0
            v = await self._apply(s, actor, req, resume, "info_answered", note=answer,
                                  fields={"paused_status": None, "paused_remaining_s": None,
                                          "timer_at": utcnow() + timedelta(seconds=max(remaining, 0)),
                                          "timer_kind": "triage_remind"},
                                  tell_requester=False)
            await self._post_card(s, v, "answer", answer)
        self.n.wake()
        return v

    async def liaisons(self, actor: Actor) -> list[tuple[User, str]]:
        if actor.community is None:
            return []
        async with self.db.read() as s:
            rows = (await s.execute(select(User, Membership.department).join(
                Membership, Membership.user_id == User.id).where(
                Membership.community_id == actor.community.id, Membership.role == Role.LIAISON)
                .order_by(Membership.department))).all()
            return [(u, d or "") for u, d in rows]

    async def escalate(self, actor: Actor, req_id: int, liaison_id: int, days: int) -> View:
        """街道吹哨、部门报到: the liaison gets the request with a due date; the trail is visible."""
        if days not in DUE_DAYS:
            raise BadInput("bad_due")
        async with self.db.write() as s:
            req = await self._triage_target(s, actor, req_id)
            dept = (await s.execute(select(Membership.department).where(
                Membership.user_id == liaison_id, Membership.community_id == req.community_id,
                Membership.role == Role.LIAISON))).scalars().first()
            if dept is None:
                raise Stale()
            c = await s.get(Community, req.community_id)
            assert c is not None
            due = in_working_hours(c, utcnow() + timedelta(days=days))  # never a due date in the night
            remind = due - timedelta(hours=settings_of(c)["dept_remind_hours"])
            v = await self._apply(s, actor, req, Status.ESCALATED, "escalated", note=dept, public_note=True,
                                  fields={"assignee_id": liaison_id, "department": dept, "dept_due_at": due,
                                          "timer_at": remind, "timer_kind": "dept_remind"})
            await self._brief_assignee(s, v)
        self.n.wake()
        return v

    # ----------------------------------------------------------------- liaison
    async def liaison_op(self, actor: Actor, req_id: int, op: int, note: str | None = None) -> View:
        await self.prepare(_note(note))
        async with self.db.write() as s:
            req = await self._load(s, req_id)
            if req.assignee_id != actor.id or req.status not in (Status.ESCALATED, Status.DEPT_ACCEPTED):
                if req.assignee_id != actor.id:
                    raise NotAllowed("not_assignee")
                raise Stale("already_handled", status=req.status)
            if op == Op.DEPT_ACCEPT and req.status == Status.ESCALATED:
                v = await self._apply(s, actor, req, Status.DEPT_ACCEPTED, "dept_accepted", note=req.department,
                                      public_note=True)
            elif op == Op.DEPT_DONE:
                v = await self._apply(s, actor, req, Status.DONE, "done", note=_note(note))
            elif op == Op.DEPT_RETURN:
                note = _note(note)
                if not note:
                    raise BadInput("note_required")
                c = await s.get(Community, req.community_id)
                assert c is not None
                v = await self._apply(s, actor, req, Status.NEW, "returned", note=note,
                                      fields={"assignee_id": None, "department": None, "dept_due_at": None,
                                              "timer_kind": "triage_remind",
                                              "timer_at": utcnow() + timedelta(hours=settings_of(c)["triage_hours"])})
                await self.retract_brief(s, v, actor.user)
                await self._post_card(s, v, "returned", note)
            else:
                raise Stale()
        self.n.wake()
        return v

    # ----------------------------------------------------------------- tasks
    async def claim(self, actor: Actor, req_id: int) -> View:
        """First eligible volunteer wins: a conditional UPDATE whose row count says who won."""
        async with self.db.write() as s:
            req = await self._load(s, req_id)
            if not await self._is_member(s, actor.id, req.community_id, Role.VOLUNTEER):
                raise NotAllowed("volunteers_only")
            if not actor.user.started or actor.user.blocked:
                raise NotAllowed("start_bot_first")  # the details could not reach them
            won = (await s.execute(update(Request).where(Request.id == req_id, Request.status == Status.ACCEPTED)
                                   .values(status=Status.CLAIMED, assignee_id=actor.id))).rowcount == 1
            if not won:
                await s.refresh(req)
                if req.status in (Status.CLAIMED, Status.IN_PROGRESS) and req.assignee_id == actor.id:
                    return await self._view(s, req)  # a double tap: the task is his, nothing changes
                if req.status in (Status.CLAIMED, Status.IN_PROGRESS):
                    raise Stale("already_claimed")
                raise Stale("already_handled", status=req.status)
            req.status = Status.ACCEPTED  # the UPDATE bypassed the ORM; _apply records the move
            v = await self._apply(s, actor, req, Status.CLAIMED, "claimed",
                                  fields={"assignee_id": actor.id},
                                  timer=("done_remind", "done_remind_hours"))
            await self._update_task_post(s, v)
            await self._brief_assignee(s, v)
        self.n.wake()
        return v

    async def assign(self, actor: Actor, req_id: int, volunteer: str) -> View:
        """Leaders and staff give an open task to a named volunteer (@username or id)."""
        async with self.db.write() as s:
            req = await self._triage_target(s, actor, req_id, frozenset({Status.NEW, Status.ACCEPTED}))
            ref = volunteer.lstrip("@")
            q = select(User).join(Membership, Membership.user_id == User.id).where(
                Membership.community_id == req.community_id, Membership.role == Role.VOLUNTEER)
            q = q.where(User.id == int(ref)) if ref.isdigit() else q.where(func.lower(User.username) == ref.lower())
            vol = (await s.execute(q)).scalars().first()
            if vol is None:
                raise NotFound("volunteer_not_found", name=volunteer)
            if not vol.started or vol.blocked:
                raise BadInput("volunteer_unreachable", name=vol.first_name)
            was_posted = req.status == Status.ACCEPTED
            v = await self._apply(s, actor, req, Status.CLAIMED, "assigned", note=vol.first_name, public_note=True,
                                  fields={"assignee_id": vol.id}, timer=("done_remind", "done_remind_hours"))
            if was_posted:
                await self._update_task_post(s, v)
            await self._brief_assignee(s, v)
        self.n.wake()
        return v

    @staticmethod
    def _check_assignee(actor: Actor, req: Request) -> None:
        if req.assignee_id != actor.id:
            raise NotAllowed("not_assignee")
        if req.status not in (Status.CLAIMED, Status.IN_PROGRESS, Status.HANDLING, Status.PARTNER_ACCEPTED):
            raise Stale("already_handled", status=req.status)

    async def check_task(self, actor: Actor, req_id: int) -> View:
        """Validate that the actor works on this task now (before asking them to type)."""
        async with self.db.read() as s:
            req = await self._load(s, req_id)
            self._check_assignee(actor, req)
            return await self._view(s, req)

    async def check_liaison(self, actor: Actor, req_id: int) -> View:
        """Validate that the actor is the liaison of this escalated request now (before asking
        them to type a note)."""
        async with self.db.read() as s:
            req = await self._load(s, req_id)
            if req.assignee_id != actor.id:
                raise NotAllowed("not_assignee")
            if req.status not in (Status.ESCALATED, Status.DEPT_ACCEPTED):
                raise Stale("already_handled", status=req.status)
            return await self._view(s, req)

    async def check_answer(self, actor: Actor, req_id: int) -> View:
        """Validate that the actor is the requester and a question waits for them (before asking
        them to type the answer)."""
        async with self.db.read() as s:
            req = await self._load(s, req_id)
            if actor.id != req.requester_id:
                raise NotAllowed("not_yours")
            if req.status != Status.WAITING_INFO:
                raise Stale("already_handled", status=req.status)
            return await self._view(s, req)

    async def task_op(self, actor: Actor, req_id: int, op: int, note: str | None = None,
                      photo: str | None = None) -> View:
        """Progress, done or release by the assignee (volunteer or the grid leader handling it)."""
        await self.prepare(_note(note))
        async with self.db.write() as s:
            req = await self._load(s, req_id)
            self._check_assignee(actor, req)
            note = _note(note)
            if op == Op.PROGRESS:
                if not note:
                    raise BadInput("note_required")
                to = req.status if req.status in (Status.HANDLING, Status.PARTNER_ACCEPTED) else Status.IN_PROGRESS
                v = await self._apply(s, actor, req, to, "progress", note=note)
            elif op == Op.DONE:
                if photo:
                    req.photos = [*req.photos, f"done:{photo}"]
                v = await self._apply(s, actor, req, Status.DONE, "done", note=note, extra={"photo": photo})
                if photo and v.requester is not None:
                    self.n.to_user(s, v.requester, v.community, "done_photo", photo=photo, **v.ctx())
            elif op == Op.RELEASE and req.status not in (Status.HANDLING, Status.PARTNER_ACCEPTED):
                v = await self._apply(s, actor, req, Status.ACCEPTED, "released",
                                      fields={"assignee_id": None}, timer=("claim_remind", "claim_remind_hours"))
                await self.retract_brief(s, v, actor.user)
                await self._update_task_post(s, v, released=True)
            else:
                raise Stale()
        self.n.wake()
        return v

    async def cancel(self, actor: Actor, req_id: int) -> View:
        async with self.db.write() as s:
            req = await self._load(s, req_id)
            if actor.id != req.requester_id and not await self._is_member(s, actor.id, req.community_id, Role.STAFF):
                raise NotAllowed("not_yours")
            if req.status not in OPEN_STATUSES:
                raise Stale("already_handled", status=req.status)
            assignee = await s.get(User, req.assignee_id) if req.assignee_id else None
            v = await self._apply(s, actor, req, Status.CANCELLED, "cancelled",
                                  fields={"timer_at": None, "timer_kind": None})
            if assignee is not None and assignee.id != actor.id:
                self.n.to_user(s, assignee, v.community, "status_changed", **v.ctx(action="cancelled", note=None,
                                                                                     actor_name=actor.user.first_name))
            await self.retract_brief(s, v, assignee)
            await self._close_posts(s, v, "task")
        self.n.wake()
        return v

    # ----------------------------------------------------------------- machinery
    async def _transition(self, actor: Actor, req_id: int, to: Status, action: str, *, triage: bool,
                          fields: dict[str, Any] | None = None, note: str | None = None,
                          assignee: int | None = None, timer: tuple[str, str] | None = None) -> View:
        async with self.db.write() as s:
            req = await self._triage_target(s, actor, req_id) if triage else await self._load(s, req_id)
            fields = dict(fields or {})
            if assignee is not None:
                fields["assignee_id"] = assignee
            v = await self._apply(s, actor, req, to, action, fields=fields, note=note, timer=timer)
            if to == Status.ACCEPTED:
                await self._post_task(s, v)
            if to == Status.HANDLING:
                await self._brief_assignee(s, v)
        self.n.wake()
        return v

    async def _apply(self, s: AsyncSession, actor: Actor, req: Request, to: str, action: str, *,
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
        for k, val in (fields or {}).items():
            setattr(req, k, val)
        if timer is not None:
            c = await s.get(Community, req.community_id)
            assert c is not None
            req.timer_kind, req.timer_at = timer[0], now + timedelta(hours=settings_of(c)[timer[1]])
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
        v = await self._view(s, req)
        told = note if public_note or note is None else Restricted(note)
        ctx = v.ctx(action=action, note=told, actor_name=actor.user.first_name, **(extra or {}))
        # Followers read public fields and public notes only.
        follower_ctx = v.public_ctx(action=action, note=note if public_note else "",
                                    actor_name=actor.user.first_name, **(extra or {}))
        if tell_requester:
            for uid in await queries.audience(s, req):
                if uid == actor.id:
                    continue  # the person acting gets a direct reply instead
                person = await s.get(User, uid)
                if person is None:
                    continue
                if to == Status.DONE and uid == req.requester_id:
                    self.ask_signoff(s, v, person, note=told)
                elif uid == req.requester_id:
                    self.n.to_user(s, person, v.community, "status_changed", key=f"req:{req.id}",
                                   fallback_chat_id=req.source_chat_id, **ctx)
                else:
                    self.n.to_user(s, person, v.community, "status_changed", key=f"req:{req.id}", **follower_ctx)
        if to not in OPEN_STATUSES or action == "reopened":
            await self._tell_tappers(s, req, v, actor, follower_ctx)
        if before == Status.NEW and to != Status.NEW:
            await self._close_posts(s, v, "card", actor_name=actor.user.first_name)
        await self._feed(s, v, action, note=note if public_note else None)
        return v

    async def _tell_tappers(self, s: AsyncSession, req: Request, v: View, actor: Actor,
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
                self.n.to_user(s, person, v.community, "status_changed", key=f"req:{req.id}", **ctx)

    def ask_signoff(self, s: AsyncSession, v: View, requester: User, template: str = "signoff_ask",
                    note: str | None = None) -> None:
        """"Is it resolved?" with one-tap answers; in the group (with a link) if we cannot DM."""
        buttons = [[Button("signoff_yes", press(Act.SIGNOFF, v.req.id or 0, 1)),
                    Button("signoff_no", press(Act.SIGNOFF, v.req.id or 0, 0))]]
        self.n.to_user(s, requester, v.community, template, buttons=buttons, key=f"signoff:{v.req.id}",
                       fallback_chat_id=v.req.source_chat_id, link=f"so_{v.req.id}", **v.ctx(note=note))

    async def _audience(self, s: AsyncSession, req: Request) -> list[int]:
        return await queries.audience(s, req)

    async def _bindings(self, s: AsyncSession, community_id: int, kind: ChatKind,
                        grid_id: int | None = None) -> list[ChatBinding]:
        return await queries.bindings(s, community_id, kind, grid_id)

    async def _members(self, s: AsyncSession, community_id: int, role: Role, grid_id: int | None = None) -> list[User]:
        return await queries.members(s, community_id, role, grid_id)

    async def _post_card(self, s: AsyncSession, v: View, note_kind: str | None = None,
                         note: str | None = None) -> None:
        """The triage card: to the grid's group, else its leaders privately, else staff.

        A restricted `note` (`note_kind`: answer, reopened, returned) never goes to the group:
        the group's card says there is one, and the grid's leaders (else staff) get it privately."""
        req, buttons = v.req, triage_buttons(v.req.id or 0)
        key = f"card:{req.id}"
        groups = await queries.bindings(s, req.community_id, ChatKind.GRID, req.grid_id) if req.grid_id else []
        people = await queries.members(s, req.community_id, Role.GRID_LEADER, req.grid_id) if req.grid_id else []
        people = people or await queries.members(s, req.community_id, Role.STAFF)
        if groups:
            for g in groups:  # a micro-grid's residents read the card: "me too" is one tap
                self.n.to_chat(s, g, "triage_card", buttons=buttons + metoo_buttons(req.id or 0), key=key,
                               **v.public_ctx(note_kind=note_kind))
            if note:
                for p in people:
                    self.n.to_user(s, p, v.community, "card_note", note_kind=note_kind, note=Restricted(note),
                                   **v.ctx())
            return
        for p in people:
            self.n.to_user(s, p, v.community, "triage_card", buttons=buttons, key=key, private=True,
                           note_kind=note_kind, note=Restricted(note) if note else None, **v.ctx())

    async def _posts(self, s: AsyncSession, v: View, kind: str) -> list[Outbox]:
        return list((await s.execute(select(Outbox).where(Outbox.key == str(OutboxKey(kind, v.req.id or 0)),
                                                          Outbox.method == "send"))).scalars())

    async def _close_posts(self, s: AsyncSession, v: View, kind: str, **more: Any) -> None:
        """Triage cards ("card") or task posts ("task") lose their buttons and say what became of
        the request."""
        for post in await self._posts(s, v, kind):
            await self.n.supersede_edits(s, post)  # e.g. a "me too" count still waiting: closed now
            await self.n.edit_post(s, post, v.community, "card_closed", **v.public_ctx(**more))

    async def _post_task(self, s: AsyncSession, v: View, decision: Named | None = None) -> None:
        """The task as volunteers see it: no contact note, no location, no photos; with the
        council's chosen option when a multiple-choice decision is behind it."""
        ctx = v.public_ctx(**({"decision": decision} if decision else {}))
        groups = await queries.bindings(s, v.req.community_id, ChatKind.VOLUNTEERS)
        for g in groups:
            self.n.to_chat(s, g, "task_post", buttons=claim_buttons(v.req.id or 0), key=f"task:{v.req.id}", **ctx)
        if not groups:  # no volunteer group: every volunteer privately, still only what is public
            for p in await queries.members(s, v.req.community_id, Role.VOLUNTEER):
                self.n.to_user(s, p, v.community, "task_post", buttons=claim_buttons(v.req.id or 0),
                               key=f"task:{v.req.id}", **ctx)

    async def _update_task_post(self, s: AsyncSession, v: View, released: bool = False) -> None:
        for post in await self._posts(s, v, "task"):
            await self.n.edit_post(s, post, v.community, "task_taken", **v.public_ctx(released=released))
        if released:
            await self._post_task(s, v)

    async def _brief_assignee(self, s: AsyncSession, v: View) -> None:
        """Full details (contact note, location, photos) go to the assignee in private only."""
        if v.assignee is None:
            return
        self.n.to_user(s, v.assignee, v.community, "assignee_brief", buttons=assignee_buttons(v.req),
                       key=f"brief:{v.req.id}", priority=INTERACTIVE, **v.ctx())
        for photo in v.req.photos:
            if not photo.startswith("done:") and v.assignee.started and not v.assignee.blocked:
                s.add(Outbox(chat_id=v.assignee.id, method="photo", photo=photo, text="", key=f"brief:{v.req.id}"))
        if v.req.latitude is not None and v.assignee.started and not v.assignee.blocked:
            s.add(Outbox(chat_id=v.assignee.id, method="location", text=f"{v.req.latitude},{v.req.longitude}",
                         key=f"brief:{v.req.id}"))

    async def _tell_scrubbed(self, s: AsyncSession, v: View, writer: User, text: str) -> None:
        """The person who wrote `text` learns, privately, that the groups read it shortened and
        what was taken out in kind (a phone number, a flat number…); the full text reaches only
        those who act on it. Nothing when nothing was taken out or no group reads it."""
        kinds = scrub_kinds(text)[1]
        if not kinds or not writer.started or writer.blocked:
            return
        groups = await queries.bindings(s, v.req.community_id, ChatKind.STAFF)
        if v.req.grid_id is not None:
            groups += await queries.bindings(s, v.req.community_id, ChatKind.GRID, v.req.grid_id)
        if groups:
            self.n.to_user(s, writer, v.community, "scrubbed_notice", kinds=kinds, **v.ctx())

    async def retract_brief(self, s: AsyncSession, v: View, previous: User | None) -> None:
        """The task left `previous` (released, returned, reopened for another round, cancelled):
        their private brief loses the contact note and buttons (edited), its photos and location are
        taken back (deleted), and what of it was not sent yet is never sent."""
        if previous is None:
            return
        key = f"brief:{v.req.id}"
        await s.execute(update(Outbox).where(Outbox.chat_id == previous.id, Outbox.key == key,
                                             Outbox.status == "pending").values(status="superseded"))
        sent = (await s.execute(select(Outbox).where(Outbox.chat_id == previous.id, Outbox.key == key,
                                                     Outbox.method.in_(("send", "photo", "location")),
                                                     Outbox.status == "sent"))).scalars()
        for post in list(sent):
            if post.method == "send":
                await self.n.edit_post(s, post, v.community, "assignee_brief", retracted=True, **v.ctx())
            else:
                self.n.delete(s, post)

    async def _feed(self, s: AsyncSession, v: View, action: str, note: str | None = None) -> None:
        """A line to the staff group per change; with the community's quiet feed on, one message
        per request instead, edited as it moves (its trail of states in it)."""
        key = f"feed:{v.req.id}"
        quiet = bool(settings_of(v.community).get("quiet_feed"))
        trail = await self._trail(s, v.req) if quiet else []
        for g in await queries.bindings(s, v.req.community_id, ChatKind.STAFF):
            root = await self._feed_post(s, g.chat_id, key) if quiet else None
            if root is not None:
                await self.n.supersede_edits(s, root)
                await self.n.edit_post(s, root, v.community, "staff_feed", both_languages=True,
                                       **v.public_ctx(action=action, note=note, quiet=True, trail=trail))
                continue
            await self.n.supersede(s, g.chat_id, key)
            self.n.to_chat(s, g, "staff_feed", key=key, priority=BULK, action=action, note=note, quiet=quiet,
                           trail=trail, **v.public_ctx())

    @staticmethod
    async def _feed_post(s: AsyncSession, chat_id: int, key: str) -> Outbox | None:
        """The staff group's message about a request, sent or on its way (not one replaced)."""
        return (await s.execute(select(Outbox).where(
            Outbox.chat_id == chat_id, Outbox.key == key, Outbox.method == "send",
            Outbox.status.in_(("pending", "sent"))).order_by(Outbox.id).limit(1))).scalars().first()

    @staticmethod
    async def _trail(s: AsyncSession, req: Request, limit: int = 8) -> list[str]:
        """The states a request went through, oldest first (the last `limit`), repeats folded."""
        states = (await s.execute(select(AuditEvent.to_state).where(
            AuditEvent.entity == "request", AuditEvent.entity_id == req.id, AuditEvent.to_state.is_not(None))
            .order_by(AuditEvent.id))).scalars().all()
        trail: list[str] = []
        for st in [*states, req.status]:
            if not trail or trail[-1] != st:
                trail.append(st)
        return trail[-limit:]

    # The steps other stage services (sign-off, timers, council, group migration) build on, by their
    # public names; inside this module the underscore names stay (fewer conflicting lines while other
    # branches change it).
    load = _load
    view_of = _view
    apply = _apply
    post_card = _post_card
    posts = _posts
    brief_assignee = _brief_assignee
    triage_target = _triage_target


def _note(text: str | None) -> str | None:
    if text is None:
        return None
    text = text.strip()
    if len(text) > MAX_NOTE:
        raise BadInput("note_too_long", limit=MAX_NOTE, length=len(text))
    return text or None

