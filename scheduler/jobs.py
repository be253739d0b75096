"""Scheduler jobs. They reload state from the database each time; running one twice is harmless."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select, update

from bot.services import names, timers
from bot import inbox
from storage.models import Inbox, InboxStatus, Outbox, utcnow

log = logging.getLogger(__name__)
_app: Any = None


def bind(app: Any) -> None:
    """The running app's services (jobs are looked up by import path, so they find it here)."""
    global _app
    _app = app


async def sweep_timers() -> int:
    fired = await timers.sweep(_app.requests)
    if fired:
        log.info("timers fired: %s", fired)
    return fired


async def sweep_council() -> int:
    """Vote reminders and deadlines of the council's proposals (due times in `proposals`)."""
    fired = await _app.council.sweep()
    if fired:
        log.info("council timers fired: %s", fired)
    return fired


async def sweep_surveys() -> int:
    """Close satisfaction polls whose closing time passed (stopPoll, results)."""
    closed = await _app.surveys.sweep()
    if closed:
        log.info("surveys closed: %s", closed)
    return closed


async def sweep_redemptions() -> int:
    """Expire the points codes unused past their date: refunded once, the resident told."""
    expired = await _app.rewards.sweep()
    if expired:
        log.info("redemption codes expired: %s", expired)
    return expired


async def machine_names() -> int:
    """Names staff gave, in the languages they have none in yet, by the translation provider."""
    added = await names.machine_names(_app.db, _app.requests.translator, _app.renderer.locales)
    if added:
        log.info("machine names added: %s", added)
    return added


async def post_reports() -> int:
    """The weekly digest, monthly report and quarterly ranking that are due and not yet posted."""
    posted = await _app.reports.run_due()
    if posted:
        log.info("reports posted: %s", posted)
    return posted


async def prune() -> None:
    """Forget handled updates old enough never to be redelivered, the images of sent charts, and
    sent messages old enough never to be edited again (90 days; none that a pending edit points at).
    Failed updates stay until someone retries or looks at them (`gongzhi inbox failed`)."""
    async with _app.db.write() as s:
        await s.execute(delete(Inbox).where(Inbox.status == InboxStatus.DONE,
                                            Inbox.done_at < utcnow() - inbox.RETENTION))
        await s.execute(update(Outbox).where(Outbox.status == "sent", Outbox.blob.is_not(None)).values(blob=None))
        edited = select(Outbox.edit_of).where(Outbox.edit_of.is_not(None))  # originals go after their edits
        await s.execute(delete(Outbox).where(Outbox.status != "pending",
                                             Outbox.created_at < utcnow() - timedelta(days=90),
                                             Outbox.id.not_in(edited)))
