"""Which process does what must happen once for the bot as a whole.

Any number of webhook workers can store and handle updates on one PostgreSQL database (each
person's one at a time: `bot.middlewares` takes a per-person transaction lock). Two duties must
not be shared: sending the outbox (one pacer keeps Telegram's limits for the whole bot, and no
message goes out twice) and the scheduler (sweeps and posts run once). One worker — the holder of
a session advisory lock on a connection of its own — does both; the others write their replies
to the outbox and `NOTIFY` it, so a reply leaves within milliseconds of the commit.

When the leader dies, PostgreSQL drops its connection and with it the lock; a surviving worker
takes it within `poll` seconds, restores the pacer from the outbox and catches up the sweeps.
Sends that were in flight at the leader's death go out again (at-least-once, as after a crash).

On SQLite there is one process per database: it leads from the start.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy.engine import make_url

from storage.db import OUTBOX_CHANNEL, Database

log = logging.getLogger(__name__)

LEADER_LOCK = (0x6A7A, 1)  # two int4 keys: a key space apart from the per-person bigint locks


class Leadership:
    def __init__(self, db: Database, *, lead: Callable[[], Awaitable[None]], step_down: Callable[[], Awaitable[None]],
                 wake: Callable[[], None], poll: float = 1.0) -> None:
        self.db, self.poll = db, poll
        self._lead, self._step_down, self._wake = lead, step_down, wake
        self.leading = asyncio.Event()

    async def run(self) -> None:
        if self.db.is_sqlite:
            await self._become_leader()
            await asyncio.Event().wait()
        self.db.announce_outbox = True  # until this process leads, its replies wake the leader
        while True:
            try:
                await self._contend()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # the database went away: whoever reconnects first leads
                log.warning("leadership: %s", e)
            if self.leading.is_set():
                await self._lose()
            await asyncio.sleep(self.poll)

    async def _contend(self) -> None:
        import asyncpg

        dsn = make_url(self.db.url).set(drivername="postgresql").render_as_string(hide_password=False)
        conn = await asyncpg.connect(dsn)
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1, $2)", *LEADER_LOCK):
                await asyncio.sleep(self.poll)
            await conn.add_listener(OUTBOX_CHANNEL, lambda *_: self._wake())
            await self._become_leader()
            while True:  # hold the lock; notice a lost connection within `poll` seconds
                await asyncio.sleep(self.poll)
                await asyncio.wait_for(conn.fetchval("SELECT 1"), timeout=max(self.poll, 1.0) * 5)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), timeout=2)

    async def _become_leader(self) -> None:
        log.info("this process leads: it sends the outbox and runs the scheduler")
        self.db.announce_outbox = False
        self.leading.set()
        await self._lead()

    async def _lose(self) -> None:
        log.warning("leadership lost: outbox and scheduler stopped here")
        self.leading.clear()
        self.db.announce_outbox = True
        await self._step_down()

