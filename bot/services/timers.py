"""Due timers: reminders before escalation. Due times live in the requests table; the
scheduler only wakes this sweep, so a restart resumes (and a deadline passed while down fires
right after start). Each firing re-checks the row in its own unit of work: idempotent."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from bot.services.community import after_quiet_hours, audit, settings_of
from bot.services import queries
from bot.services.requests import RequestService
from bot.services.context import system_actor
from storage.db import locked
from storage.models import ChatKind, Community, Request, Role, Status, utcnow

log = logging.getLogger(__name__)

# kind -> (who is told, the next kind, hours until it from the community setting or None)
STAGES: dict[str, tuple[str, str | None, str | None]] = {
    "triage_remind": ("leaders", "triage_staff", "triage_hours"),
    "triage_staff": ("staff", None, None),
    "claim_remind": ("volunteers", "claim_staff", "claim_staff_hours"),
    "claim_staff": ("staff", None, None),
    "done_remind": ("assignee", "done_staff", "claim_staff_hours"),
    "done_staff": ("staff", None, None),
    "dept_remind": ("assignee", "dept_overdue", None),
    "dept_overdue": ("staff", None, None),
    "signoff_remind": ("requester", "signoff_close", None),
    "signoff_close": ("nobody", None, None),
    # Orders from the services list (bot.services.menu): staff dispatch them, the provider accepts
    # them, and whoever accepted is reminded before the slot.
    "dispatch_remind": ("staff", None, None),
    "order_remind": ("provider", "claim_staff", "claim_staff_hours"),
    "slot_remind": ("provider", "done_remind", "done_remind_hours"),
}
STAFF_LEVEL = frozenset({"triage_staff", "claim_staff", "done_staff", "dept_overdue"})  # deadline breaches


async def sweep(svc: RequestService, now: datetime | None = None, batch: int = 200) -> int:
    """Fire every due timer; returns how many fired."""
    now = now or utcnow()
    async with svc.db.read() as s:
        ids = list((await s.execute(select(Request.id).where(Request.timer_at <= now)
                                    .order_by(Request.timer_at).limit(batch))).scalars())
    fired = 0
    for req_id in ids:
        try:
            fired += await fire(svc, req_id, now)
        except Exception:  # one broken row must not stall every later deadline
            log.exception("timer of request %s failed", req_id)
    if fired:
        svc.notifier.wake()
    return fired


async def fire(svc: RequestService, req_id: int, now: datetime) -> int:
    async with svc.db.write() as s:
        # Locked before the due check: a sweep in another worker, or the person acting at the
        # deadline (a sign-off as it closes unrated), goes first or second, never both at once.
        req = await locked(s, Request, req_id)
        if req is None or req.timer_at is None or req.timer_at > now or req.timer_kind not in STAGES:
            return 0
        community = await s.get(Community, req.community_id)
        assert community is not None
        held = after_quiet_hours(community, now, req.category)
        if held != now:  # quiet hours: the reminder (or the close it announces) waits for the morning
            req.timer_at = held
            s.add(req)
            return 0
        who, next_kind, hours = STAGES[req.timer_kind]
        v = await svc.view_of(s, req)
        ctx = v.ctx(kind=req.timer_kind)
        kind = req.timer_kind
        if kind in STAFF_LEVEL:
            req.breaches += 1
        if who == "nobody":  # the sign-off window closed without an answer
            await svc.apply(s, system_actor(), req, Status.CLOSED_UNRATED, "closed_unrated",
                             fields={"closed_at": now})
            return 1
        if who in svc.reminders:
            await svc.reminders[who](s, req, kind)
        elif who == "requester":
            if v.requester is not None:
                svc.ask_signoff(s, v, v.requester, "signoff_remind")
        elif who == "volunteers":
            groups = await queries.bindings(s, req.community_id, ChatKind.VOLUNTEERS)
            for g in groups:
                svc.notifier.to_chat(s, g, "reminder", **v.public_ctx(kind=req.timer_kind))
        elif who == "assignee" and v.assignee is not None:
            svc.notifier.to_user(s, v.assignee, community, "reminder", **ctx)
        elif who == "leaders":
            people = await queries.members(s, req.community_id, Role.GRID_LEADER, req.grid_id) if req.grid_id else []
            for p in people or await queries.members(s, req.community_id, Role.STAFF):
                svc.notifier.to_user(s, p, community, "reminder", **ctx)
        else:
            groups, staff = await queries.staff_reach(s, req.community_id)
            for g in groups:
                svc.notifier.to_chat(s, g, "reminder", **v.public_ctx(kind=req.timer_kind))
            for p in staff:
                svc.notifier.to_user(s, p, community, "reminder", **ctx)
        audit(s, community_id=req.community_id, actor_id=None, entity="request", entity_id=req_id,
              action=f"timer_{kind}")
        settings = settings_of(community)
        if next_kind == "dept_overdue":
            # Catching up after an outage, a reminder whose deadline has passed as well still gives
            # the promised notice: the deadline moves so that the usual time follows the reminder.
            req.timer_at = max(req.dept_due_at or now, now + timedelta(hours=settings["dept_remind_hours"]))
        elif next_kind == "signoff_close":
            promised = settings["signoff_close_hours"] - settings["signoff_remind_hours"]
            req.timer_at = max((req.done_at or now) + timedelta(hours=settings["signoff_close_hours"]),
                               now + timedelta(hours=max(promised, 1)))
        elif next_kind and hours:
            req.timer_at = now + timedelta(hours=settings_of(community)[hours])
        else:
            req.timer_at = None
        req.timer_kind = next_kind if req.timer_at else None
        s.add(req)
    return 1
