"""APScheduler wiring. Jobs are referenced by import path, take no state of their own and are
idempotent; what is due lives in our tables."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler import jobs

log = logging.getLogger(__name__)


async def start_scheduler(app: Any, caught_up: asyncio.Event | None = None) -> None:
    """Run the sweeps until cancelled. One immediate sweep catches what fell due while down;
    `caught_up` (tests wait on it) is set once that sweep has run."""
    jobs.bind(app)
    sched = AsyncIOScheduler(timezone="UTC")
    sched.add_job("scheduler.jobs:sweep_timers", "interval", seconds=app.settings.sweep_seconds,
                  id="sweep_timers", max_instances=1, coalesce=True)
    sched.add_job("scheduler.jobs:sweep_council", "interval", seconds=app.settings.sweep_seconds,
                  id="sweep_council", max_instances=1, coalesce=True)
    sched.add_job("scheduler.jobs:prune", "interval", hours=6, id="prune", max_instances=1, coalesce=True)
    sched.add_job("scheduler.jobs:sweep_surveys", "interval", minutes=1, id="sweep_surveys", max_instances=1,
                  coalesce=True)
    sched.add_job("scheduler.jobs:sweep_redemptions", "interval", minutes=10, id="sweep_redemptions",
                  max_instances=1, coalesce=True)
    sched.add_job("scheduler.jobs:machine_names", "interval", minutes=30, id="machine_names",
                  max_instances=1, coalesce=True)  # nothing to do without TRANSLATE_URL
    # Every quarter hour: each community's 09:00 (Monday / the 1st / a quarter's first day) is in its
    # own time zone, so the job asks which posts are due rather than being one cron per zone.
    sched.add_job("scheduler.jobs:post_reports", "cron", minute="*/15", id="post_reports", max_instances=1,
                  coalesce=True)
    sched.start()
    try:
        for catch_up in (jobs.sweep_timers, jobs.sweep_council, jobs.sweep_surveys, jobs.sweep_redemptions,
                          jobs.post_reports, jobs.machine_names):
            try:
                await catch_up()
            except Exception:  # the interval jobs retry; a failed catch-up must not stop the scheduler
                log.exception("catch-up %s failed", catch_up.__name__)
        if caught_up is not None:
            caught_up.set()
        await asyncio.Event().wait()
    finally:
        sched.shutdown(wait=False)
