"""APScheduler wiring. Jobs are referenced by import path, take no state of their own and are
idempotent; what is due lives in our tables."""
from __future__ import annotations

import asyncio
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from scheduler import jobs


async def start_scheduler(app: Any) -> None:
    """Run the sweeps until cancelled. One immediate sweep catches what fell due while down."""
    jobs.bind(app)
    sched = AsyncIOScheduler(timezone="UTC")
    sched.add_job("scheduler.jobs:sweep_timers", "interval", seconds=app.settings.sweep_seconds,
                  id="sweep_timers", max_instances=1, coalesce=True)
    sched.add_job("scheduler.jobs:sweep_council", "interval", seconds=app.settings.sweep_seconds,
                  id="sweep_council", max_instances=1, coalesce=True)
    sched.add_job("scheduler.jobs:prune", "interval", hours=6, id="prune", max_instances=1, coalesce=True)
    sched.add_job("scheduler.jobs:sweep_surveys", "interval", minutes=1, id="sweep_surveys", max_instances=1,
                  coalesce=True)
    # Every quarter hour: each community's 09:00 (Monday / the 1st / a quarter's first day) is in its
    # own time zone, so the job asks which posts are due rather than being one cron per zone.
    sched.add_job("scheduler.jobs:post_reports", "cron", minute="*/15", id="post_reports", max_instances=1,
                  coalesce=True)
    sched.start()
    try:
        await jobs.sweep_timers()
        await jobs.sweep_council()
        await jobs.sweep_surveys()
        await jobs.post_reports()
        await asyncio.Event().wait()
    finally:
        sched.shutdown(wait=False)
