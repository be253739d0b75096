"""The durable inbox: every update is stored before Telegram is told it arrived, then handled.

Polling writes each batch in one transaction and only then asks for the next one (which is what
confirms the batch to Telegram); the webhook stores the update before answering 200. The worker
handles stored rows, each person's strictly one at a time and in order, different people at
once. Handling an update and marking its row done commit in one transaction (the
`ContextMiddleware`), so after a crash an update is either fully handled or handled again from
scratch. An update that keeps failing is marked failed after `MAX_ATTEMPTS` (its sender is told
once) and never blocks that person's later updates; `gongzhi inbox` lists and retries them.
"""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.exceptions import TelegramNetworkError, TelegramServerError, TelegramUnauthorizedError
from aiogram.methods import GetUpdates
from aiogram.types import Update
from sqlalchemy import select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from bot import crashpoints
from bot.loops import Loop
from storage.db import Database, current_scope
from storage.models import Inbox, InboxStatus, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
BATCH = 200
ELSEWHERE = 0.05  # seconds before looking again at a person whose update another worker handles
RETENTION = timedelta(days=3)


def person_of(update: Update) -> int:
    """Whose update this is: the sender, else the chat, else no one (0)."""
    event = update.event
    user = getattr(event, "from_user", None) or getattr(event, "user", None)
    if user is not None:
        return user.id
    chat = getattr(event, "chat", None) or getattr(getattr(event, "message", None), "chat", None)
    return chat.id if chat is not None else 0


def row_for(update: Update) -> dict[str, Any]:
    return {"update_id": update.update_id, "person": person_of(update),
            "payload": update.model_dump(mode="json", exclude_none=True, exclude_unset=True),
            "status": InboxStatus.PENDING, "attempts": 0, "not_before": utcnow(), "received_at": utcnow()}


async def store(db: Database, updates: list[Update]) -> int:
    """Write a batch in one transaction; an update stored already (a redelivery) is ignored.
    Returns how many were new."""
    if not updates:
        return 0
    async with db.write() as s:
        insert = pg_insert if s.bind.dialect.name == "postgresql" else sqlite_insert
        result = await s.execute(insert(Inbox).values([row_for(u) for u in updates])
                                 .on_conflict_do_nothing(index_elements=["update_id"]))
    return max(result.rowcount, 0)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2 ** attempts, 60))


class InboxWorker(Loop):
    """Handles stored updates: each person's in order, up to `concurrency` people at once."""

    def __init__(self, bot: Bot, dp: Dispatcher, db: Database, *, concurrency: int = 32,
                 idle: float = 1.0) -> None:
        super().__init__(idle)
        self.bot, self.dp, self.db = bot, dp, db
        self._busy: set[int] = set()  # people with an update being handled
        self._skipped: list[int] = []  # handled with no effect (group chatter): marked done in one write
        self._elsewhere: dict[int, float] = {}  # person -> monotonic time: another worker has them now
        self._sem = asyncio.Semaphore(concurrency)

    async def round(self) -> float:
        if await self.dispatch():
            return 0
        return max(0.01, min([self.idle, *(t - time.monotonic() for t in self._elsewhere.values())]))

    async def stop(self) -> None:
        await super().stop()
        await self._mark_skipped()

    def skip(self, update_id: int) -> None:
        """An update that needed nothing: mark it done with the next batch instead of a write of its own."""
        self._skipped.append(update_id)

    def elsewhere(self, person: int) -> None:
        """Another worker is handling this person's update: look again in a moment."""
        self._elsewhere[person] = time.monotonic() + ELSEWHERE

    async def _mark_skipped(self) -> None:
        ids, self._skipped = self._skipped, []
        if ids:
            async with self.db.write() as s:
                await s.execute(update(Inbox).where(Inbox.update_id.in_(ids))
                                .values(status=InboxStatus.DONE, done_at=utcnow()))

    async def dispatch(self) -> int:
        """Start handling the oldest pending update of every person not busy. Returns how many."""
        await self._mark_skipped()
        now = utcnow()
        async with self.db.read() as s:
            rows = (await s.execute(select(Inbox).where(Inbox.status == InboxStatus.PENDING)
                                    .order_by(Inbox.update_id).limit(BATCH))).scalars().all()
        seen: set[int] = set()
        started = 0
        clock = time.monotonic()
        self._elsewhere = {p: t for p, t in self._elsewhere.items() if t > clock}
        for row in rows:
            if row.person in seen:
                continue  # only the person's oldest: the next waits for it
            seen.add(row.person)
            if row.person in self._busy or row.person in self._elsewhere or row.not_before > now:
                continue
            self._busy.add(row.person)
            self.spawn(self._handle(row))
            started += 1
        return started

    async def _handle(self, row: Inbox) -> None:
        try:
            async with self._sem:
                await self.handle(row)
        finally:
            self._busy.discard(row.person)
            self._wake.set()

    async def handle(self, row: Inbox) -> None:
        update_obj = Update.model_validate(row.payload, context={"bot": self.bot})
        try:
            await self.dp.feed_update(self.bot, update_obj, inbox=row)
        except Exception:  # the middleware records failures; this is a last resort
            log.exception("update %s: unexpected failure outside the handler", row.update_id)
            await record_failure(self.db, row.update_id, "internal error", final=False)

    async def drain(self) -> None:
        """Handle everything pending now (tests, and a clean shutdown)."""
        while await self.dispatch() or self._tasks:
            if self._tasks:
                await asyncio.gather(*list(self._tasks))

async def claim(row: Inbox | None) -> bool:
    """Whether this process may handle the row now. One worker is alone (SQLite, and updates fed
    without the inbox); on PostgreSQL several may be, so the update's transaction takes the
    person's lock first and checks the row is still the person's oldest pending one. The lock is
    held until that transaction ends — when the row is marked done with the update's effects.
    """
    scope = current_scope()
    if row is None or scope is None or scope.db.is_sqlite:
        return True
    s = await scope.session()  # the update's transaction, opened now, holds the lock
    if not (await s.execute(text("SELECT pg_try_advisory_xact_lock(:person)"), {"person": row.person})).scalar():
        return False
    oldest = (await s.execute(select(Inbox.update_id).where(Inbox.person == row.person,
                                                             Inbox.status == InboxStatus.PENDING)
                              .order_by(Inbox.update_id).limit(1))).scalar()
    return oldest == row.update_id


async def record_failure(db: Database, update_id: int, error: str, *, final: bool) -> None:
    values: dict[str, Any] = {"attempts": Inbox.attempts + 1, "error": error[:500]}
    if final:
        values.update(status=InboxStatus.FAILED, done_at=utcnow())
    async with db.write() as s:
        row = await s.get(Inbox, update_id)
        if row is None or row.status != InboxStatus.PENDING:
            return
        values["not_before"] = utcnow() + backoff(row.attempts + 1)
        await s.execute(update(Inbox).where(Inbox.update_id == update_id).values(**values))


class Poller:
    """Long polling that confirms a batch to Telegram only after it is stored."""

    def __init__(self, bot: Bot, db: Database, worker: InboxWorker, *, allowed_updates: list[str] | None,
                 timeout: int = 10) -> None:
        self.bot, self.db, self.worker = bot, db, worker
        self.allowed_updates, self.timeout = allowed_updates, timeout
        self._stopping = asyncio.Event()

    async def run(self) -> None:
        offset: int | None = None
        failures = 0
        while not self._stopping.is_set():
            request = GetUpdates(offset=offset, timeout=self.timeout, allowed_updates=self.allowed_updates)
            try:
                updates = await self.bot(request, request_timeout=int(self.bot.session.timeout + self.timeout))
            except TelegramUnauthorizedError:
                raise
            except (TelegramNetworkError, TelegramServerError, TimeoutError) as e:
                failures += 1
                log.warning("getUpdates failed (%s); retrying", e)
                await self._pause(min(0.5 * 2 ** failures, 30))
                continue
            failures = 0
            if not updates:
                continue
            await store(self.db, updates)  # stored first: only then does the next call confirm them
            crashpoints.reach("inbox.stored")
            offset = updates[-1].update_id + 1
            self.worker.wake()

    async def _pause(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    def stop(self) -> None:
        self._stopping.set()


async def failed(db: Database) -> list[Inbox]:
    async with db.read() as s:
        return list((await s.execute(select(Inbox).where(Inbox.status == InboxStatus.FAILED)
                                     .order_by(Inbox.update_id))).scalars())


async def retry(db: Database, update_ids: list[int] | None = None) -> int:
    """Put failed updates back in the queue (all of them, or the ones named)."""
    stmt = update(Inbox).where(Inbox.status == InboxStatus.FAILED)
    if update_ids:
        stmt = stmt.where(Inbox.update_id.in_(update_ids))
    async with db.write() as s:
        result = await s.execute(stmt.values(status=InboxStatus.PENDING, attempts=0, not_before=utcnow(),
                                             done_at=None))
    return result.rowcount
