"""Outbound delivery: one pacer for every send, and the outbox loop.

The pacer keeps Telegram's flood limits by design (sliding windows per chat and overall), so
our own pacing never causes a 429; a 429 that arrives anyway delays that chat only. Handlers'
direct replies go through the same pacer (a Bot session middleware) ahead of bulk sends.

The outbox loop sends pending rows per chat strictly in id order (one in flight per chat),
marks each sent with its message_id, retries 5xx and timeouts with backoff, and on 403 marks the
user blocked and falls back to the group where they asked. A crash between Telegram's answer and
our commit re-sends that one in-flight message after restart: Telegram's send is not
transactional, so at-least-once is the honest guarantee and it is limited to that message.
"""
from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from contextvars import ContextVar
from collections import defaultdict, deque
from datetime import datetime, timedelta
from typing import Any

from aiogram import Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
)
from aiogram.methods import DeleteMessage, EditMessageReplyMarkup, EditMessageText, SendLocation, SendMessage, SendPhoto, SendPoll, StopPoll, TelegramMethod
from aiogram.methods.base import Response
from aiogram.types import BufferedInputFile, InlineKeyboardMarkup, Message
from sqlalchemy import bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import limits
from bot.loops import Loop
from storage.db import Database
from storage.models import ChatBinding, Outbox, User, utcnow

log = logging.getLogger(__name__)
RIDE_MAX = 0.5  # seconds a sent mark may wait for an update's write to carry it
RIDE_AFTER, RIDE_BATCH = 0.25, 64  # an update's write carries the marks once the oldest is this old, or this many
UNKNOWN = -1  # in `Delivery._waiting`: more of the chat may wait than this process knows of

SENDING_METHODS = frozenset({"SendMessage", "SendPhoto", "SendPoll", "SendLocation", "EditMessageText",
                             "EditMessageReplyMarkup", "SendMediaGroup", "StopPoll"})
MAX_ATTEMPTS = 30
_paced: ContextVar[bool] = ContextVar("gongzhi_paced", default=False)  # slot already taken


class Pacer:
    """Sliding-window send budgets: per private chat, per group, overall.

    Windows are a little wider than Telegram's so network jitter cannot make two sends look
    closer together at Telegram's end than they were at ours.
    """

    def __init__(self, *, private: tuple[int, float] = (limits.PRIVATE_PER_SECOND, 1.05),
                 group: tuple[int, float] = (limits.GROUP_PER_MINUTE, 61.0),
                 overall: tuple[int, float] = (limits.MESSAGES_PER_SECOND, 1.05)) -> None:
        self.private, self.group, self.overall = private, group, overall
        self._sent: dict[int, deque[float]] = defaultdict(deque)
        self._all: deque[float] = deque()
        self._penalty: dict[int, float] = {}

    def _budget(self, chat_id: int) -> tuple[int, float]:
        return self.private if chat_id > 0 else self.group

    @staticmethod
    def _free_at(times: deque[float], count: int, window: float, now: float) -> float:
        while times and times[0] <= now - window:
            times.popleft()
        return now if len(times) < count else times[len(times) - count] + window

    def ready_at(self, chat_id: int, now: float | None = None) -> float:
        """The earliest monotonic time a message to this chat fits every limit."""
        now = time.monotonic() if now is None else now
        count, window = self._budget(chat_id)
        return max(self._free_at(self._sent[chat_id], count, window, now),
                   self._free_at(self._all, *self.overall, now),
                   self._penalty.get(chat_id, 0.0))

    def record(self, chat_id: int, at: float | None = None) -> None:
        at = time.monotonic() if at is None else at
        self._sent[chat_id].append(at)
        self._all.append(at)

    async def acquire(self, chat_id: int) -> None:
        """Wait for this chat's next slot and take it (for interactive sends)."""
        while (delay := self.ready_at(chat_id) - time.monotonic()) > 0:
            await asyncio.sleep(delay)
        self.record(chat_id)

    def penalise(self, chat_id: int, retry_after: float) -> None:
        self._penalty[chat_id] = max(self._penalty.get(chat_id, 0.0), time.monotonic() + retry_after)

    async def restore(self, db: Database) -> int:
        """Start from the sends of the last minute (the outbox knows them), so a restarted process
        does not think every chat's budget is full again. Returns how many were restored."""
        since = utcnow() - timedelta(seconds=self.group[1])
        async with db.read() as s:
            sent = (await s.execute(select(Outbox.chat_id, Outbox.sent_at)
                                    .where(Outbox.sent_at.is_not(None), Outbox.sent_at > since)
                                    .order_by(Outbox.sent_at))).all()
        now_wall, now = utcnow(), time.monotonic()
        for chat_id, sent_at in sent:
            self.record(chat_id, now - (now_wall - sent_at).total_seconds())
        return len(sent)


class PacingMiddleware(BaseRequestMiddleware):
    """Makes every direct send wait for its chat's slot; honours one 429 by waiting and retrying."""

    def __init__(self, pacer: Pacer, max_wait: float = 10.0) -> None:
        self.pacer = pacer
        self.max_wait = max_wait

    async def __call__(self, make_request: NextRequestMiddlewareType, bot: Bot,
                       method: TelegramMethod[Any]) -> Response[Any]:
        chat_id = getattr(method, "chat_id", None)
        if type(method).__name__ not in SENDING_METHODS or not isinstance(chat_id, int):
            return await make_request(bot, method)
        if _paced.get():  # the outbox loop already took the slot
            return await make_request(bot, method)
        await self.pacer.acquire(chat_id)
        try:
            return await make_request(bot, method)
        except TelegramRetryAfter as e:
            self.pacer.penalise(chat_id, e.retry_after)
            if e.retry_after > self.max_wait:
                raise
            await self.pacer.acquire(chat_id)
            try:
                return await make_request(bot, method)
            except TelegramRetryAfter as again:  # every 429 pauses the chat, a retry's too
                self.pacer.penalise(chat_id, again.retry_after)
                raise


def _heads(now: datetime) -> Any:
    """Per chat, what goes next: the most urgent first (an answer to a person, a triage card before
    a feed line), in the order they were written within one priority. An edit held back on purpose
    (a tally or a card spaced from its previous edit) waits aside: it must not hold up the chat's
    other messages, and edits of a post need no order against other posts."""
    rank = func.row_number().over(partition_by=Outbox.chat_id, order_by=(Outbox.priority, Outbox.id))
    return select(Outbox.id, rank.label("rank")).where(_in_line(now)).subquery()


def _in_line(now: datetime) -> Any:
    """Pending rows that hold their chat's place in line (not an edit held back on purpose)."""
    return (Outbox.status == "pending") & or_(Outbox.method != "edit", Outbox.not_before <= now)


# A chat's line (`Delivery._line`), built once (a statement built per call costs more than it runs):
# pending rows of `chat` in line at `now`, but the ones in `sent`, at most `limit`.
_LINE = (select(Outbox).where(Outbox.chat_id == bindparam("chat"), _in_line(bindparam("now")),
                              Outbox.id.not_in(bindparam("sent", expanding=True)))
         .order_by(Outbox.priority, Outbox.id).limit(bindparam("limit")))


def markup(buttons: list[list[dict[str, str]]] | None) -> InlineKeyboardMarkup | None:
    """The keyboard of Bot API JSON buttons. The same buttons (a step's choices in one language)
    are validated once and their keyboard shared: nothing changes a keyboard once made."""
    return _keyboard(json.dumps(buttons, ensure_ascii=False)) if buttons else None


@functools.lru_cache(maxsize=1024)
def _keyboard(buttons: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup.model_validate_json(f'{{"inline_keyboard": {buttons}}}')


class Delivery(Loop):
    """The outbox loop. Start it once per process; `wake()` after enqueueing for low latency."""

    def __init__(self, bot: Bot, db: Database, pacer: Pacer, *, idle: float = 1.0,
                 concurrency: int = 16) -> None:
        super().__init__(idle)
        self.bot, self.db, self.pacer = bot, db, pacer
        self._inflight: set[int] = set()  # chat ids with a send under way
        self._free = asyncio.Condition()  # notified when a chat leaves `_inflight`
        # row id -> when its outcome was committed. A query that began before then may still
        # see the row as pending (its snapshot is older): such rows wait for the next round.
        self._settled: dict[int, float] = {}
        self._sem = asyncio.Semaphore(concurrency)
        # Sent rows not yet marked in the database: marked together, a moment later, in one write
        # (a crash in that moment re-sends them once: at-least-once, as for a send in flight).
        self._sent: dict[int, dict[str, Any]] = {}
        self._marking: asyncio.Task[None] | None = None
        self._marks_since = 0.0  # when the oldest mark in `_sent` was made (roughly)
        self.riders = 0  # updates under way whose write will carry the sent marks (SQLite)
        # Per chat, the rows this process knows wait there (row id -> when it learnt of it): rows
        # its transactions committed (`Database.on_outbox`) and heads the loop found. On SQLite,
        # where this process is the one writer and sender, a reply whose chat has nothing else
        # known to wait goes out without reading the chat's line first.
        self._waiting: dict[int, dict[int, float]] = {}
        self._sole = db.is_sqlite
        self._surveyed = False  # until the loop's first round, anything may wait anywhere (a restart)
        if self._sole:  # elsewhere replies always look (several workers write the outbox): nothing to keep
            db.on_outbox = self.waiting

    async def round(self) -> float:
        return await self.dispatch_due()

    async def stop(self) -> None:
        await super().stop()
        if self._marking is not None:
            await asyncio.gather(self._marking, return_exceptions=True)
        await self.mark_sent()

    async def dispatch_due(self) -> float:
        """Start sends for every chat whose next row is due and fits the limits.

        Returns seconds until something else may become due.
        """
        now_wall = utcnow()
        began = time.monotonic()
        self._settled = {k: v for k, v in self._settled.items() if v > began - 60}
        ranked = _heads(now_wall)
        async with self.db.read() as s:  # the next pending row of each chat, and only those
            heads = {row.chat_id: row for row in (await s.execute(select(Outbox).where(
                Outbox.id.in_(select(ranked.c.id).where(ranked.c.rank == 1))))).scalars()}
        wait = self.idle
        now = time.monotonic()
        self._survey(heads, began)
        for row in sorted(heads.values(), key=lambda r: (r.priority, r.id)):
            if row.chat_id in self._inflight or self._stale(row.id, began):
                continue
            if row.not_before > now_wall:
                wait = min(wait, (row.not_before - now_wall).total_seconds())
                continue
            ready = self.pacer.ready_at(row.chat_id, now)
            if ready > now:
                wait = min(wait, ready - now)
                continue
            self._inflight.add(row.chat_id)
            self.spawn(self._send(row))
        return wait

    async def flush(self, rows: list[Outbox], keyboards: dict[int, InlineKeyboardMarkup] | None = None) -> None:
        """Send these rows now (a handler's replies, just committed), each chat's queue in order up
        to them, paced; what is not due yet stays for the loop. `keyboards`: row id -> the keyboard
        the handler made, the row's buttons already built (building them again costs more than the send)."""
        if self.db.announce_outbox:
            return  # another worker sends the outbox (`bot.leader`); the commit told it
        chats: dict[int, list[Outbox]] = {}
        for row in rows:
            chats.setdefault(row.chat_id, []).append(row)
        await asyncio.gather(*(self._flush_chat(chat, mine, keyboards or {}) for chat, mine in chats.items()))

    def _survey(self, heads: dict[int, Outbox], began: float) -> None:
        """What the round found waiting: a head this process did not know of was written elsewhere
        or before a restart, and more may wait behind it; a chat with nothing in line has nothing
        waiting but what was learnt since the round began."""
        self._surveyed = True
        if not self._sole:
            return
        for chat_id in [c for c in self._waiting if c not in heads]:
            self._learnt(chat_id, began, {})
        for row in heads.values():
            if row.id not in self._waiting.get(row.chat_id, {}) and not self._stale(row.id, began):
                self._waiting.setdefault(row.chat_id, {}).update({row.id or 0: began, UNKNOWN: began})

    def waiting(self, rows: list[Outbox]) -> None:
        """Rows a transaction of this process has committed: they wait in their chats."""
        now = time.monotonic()
        for row in rows:
            if row.id is not None:
                self._waiting.setdefault(row.chat_id, {})[row.id] = now

    def _left(self, row: Outbox) -> None:
        """The row is out of its chat's line (sent, failed, moved)."""
        known = self._waiting.get(row.chat_id)
        if known is not None:
            known.pop(row.id or 0, None)
            if not known:
                del self._waiting[row.chat_id]

    async def _line(self, chat_id: int, mine: list[Outbox]) -> list[Outbox]:
        """The chat's queue up to these rows, in order: older urgent rows of the chat go first.
        Only these rows, if nothing else is known to wait there; otherwise read once (bounded).
        Rows sent already and not yet marked are left out (their marks are written together,
        later, with no write transaction per reply), and so is a row whose mark committed while
        the line was read (its snapshot may be older)."""
        ids = {row.id for row in mine}
        if self._sole and self._surveyed and all(i in ids or i in self._sent for i in self._waiting.get(chat_id, ())):
            return sorted(mine, key=lambda r: (r.priority, r.id or 0))
        began = time.monotonic()
        sent, limit = list(self._sent), len(mine) + 8
        async with self.db.read() as s:
            found = (await s.execute(_LINE, {"chat": chat_id, "now": utcnow(), "sent": sent,
                                             "limit": limit})).scalars().all()
        line = [head for head in found if not self._stale(head.id, began)]
        if not self._sole:
            return line
        found_now = {head.id or 0: began for head in line}
        self._learnt(chat_id, began, found_now | ({UNKNOWN: began} if len(found) == limit else {}))
        return line

    def _learnt(self, chat_id: int, began: float, found: dict[int, float]) -> None:
        """What waits in the chat now: what a read begun at `began` found there, and what this
        process learnt since it began."""
        known = {i: t for i, t in self._waiting.get(chat_id, {}).items() if t >= began} | found
        if known:
            self._waiting[chat_id] = known
        else:
            self._waiting.pop(chat_id, None)

    async def _flush_chat(self, chat_id: int, mine: list[Outbox], keyboards: dict[int, InlineKeyboardMarkup]) -> None:
        async with self._free:
            await self._free.wait_for(lambda: chat_id not in self._inflight)
            self._inflight.add(chat_id)
        try:
            ids = {row.id or 0 for row in mine}
            for head in await self._line(chat_id, mine):
                if head.not_before > utcnow():
                    break
                await self.pacer.acquire(chat_id)
                await self._deliver(head, keyboards.get(head.id or 0))
                ids.discard(head.id or 0)
                if not ids:
                    break
        finally:
            await self._release(chat_id)

    async def _release(self, chat_id: int) -> None:
        async with self._free:
            self._inflight.discard(chat_id)
            self._free.notify_all()
        self._wake.set()

    async def _send(self, row: Outbox) -> None:
        try:
            async with self._sem:
                # The slot is taken right before the request goes out, not when the row was picked:
                # a send that waited for the semaphore must not count as earlier than it was.
                await self.pacer.acquire(row.chat_id)
                await self._deliver(row)
        except Exception:
            log.exception("outbox row %s: unexpected failure", row.id)
            await self._retry(row, "internal error")
        finally:
            await self._release(row.chat_id)

    async def _deliver(self, row: Outbox, keyboard: InlineKeyboardMarkup | None = None) -> None:
        try:
            message_id, external_id = await self._call(row, keyboard)
        except TelegramRetryAfter as e:
            self.pacer.penalise(row.chat_id, e.retry_after)
            await self._finish(row, status="pending", error=f"429 retry after {e.retry_after}",
                               not_before=utcnow() + timedelta(seconds=e.retry_after))
        except TelegramForbiddenError as e:
            await self._forbidden(row, str(e))
        except TelegramMigrateToChat as e:
            await self._migrated(row.chat_id, e.migrate_to_chat_id)
        except TelegramNotFound as e:  # the chat is gone: nothing later can reach it either
            await self._finish(row, status="failed", error=str(e)[:500])
        except TelegramBadRequest as e:
            if "not modified" in str(e):
                await self._finish(row, status="sent")
            else:
                log.warning("outbox row %s rejected: %s", row.id, e)
                await self._finish(row, status="failed", error=str(e)[:500])
        except (TelegramServerError, TelegramNetworkError, TimeoutError) as e:
            await self._retry(row, str(e)[:500])
        else:
            await self._finish(row, status="sent", message_id=message_id,
                               **({"external_id": external_id} if external_id else {}))

    async def _call(self, row: Outbox, keyboard: InlineKeyboardMarkup | None = None) -> tuple[int | None, str | None]:
        """Send one row; returns the message id and, for polls, the poll id."""
        kb = keyboard or markup(row.buttons)
        if row.method in ("edit", "markup", "stop_poll", "delete"):
            message_id = row.target_message_id or await self._original_id(row)
            m: TelegramMethod[Any]
            if row.method == "edit" and row.edit_of and await self._unchanged(row):
                return message_id, None  # the post already reads so: an edit would change nothing
            if row.method == "stop_poll":
                m = StopPoll(chat_id=row.chat_id, message_id=message_id)
            elif row.method == "delete":
                m = DeleteMessage(chat_id=row.chat_id, message_id=message_id)
            elif row.method == "markup":
                m = EditMessageReplyMarkup(chat_id=row.chat_id, message_id=message_id, reply_markup=kb)
            else:
                m = EditMessageText(chat_id=row.chat_id, message_id=message_id, text=row.text, reply_markup=kb)
        elif row.method == "photo":
            photo = BufferedInputFile(row.blob, "chart.png") if row.blob else (row.photo or "")
            m = SendPhoto(chat_id=row.chat_id, photo=photo, caption=row.text or None, reply_markup=kb)
        elif row.method == "poll":
            m = SendPoll(chat_id=row.chat_id, question=row.text, options=(row.payload or {}).get("options", []),
                         is_anonymous=True)
        elif row.method == "location":
            lat, lon = (float(x) for x in row.text.split(","))
            m = SendLocation(chat_id=row.chat_id, latitude=lat, longitude=lon)
        else:
            m = SendMessage(chat_id=row.chat_id, text=row.text, reply_markup=kb)
        _paced.set(True)  # this task's own context: only this send skips the middleware's wait
        result = await self.bot(m)
        if not isinstance(result, Message):
            return None, None
        return result.message_id, result.poll.id if result.poll else None

    def _stale(self, row_id: int | None, began: float) -> bool:
        """Whether a row read as pending by a query begun at `began` is in fact sent or settled:
        sent and not yet marked, or its outcome committed while that query ran (its snapshot may
        be older). Such a row must not go out again."""
        return row_id in self._sent or self._settled.get(row_id or 0, -1.0) >= began

    async def _mark_soon(self) -> None:
        """Write the sent marks within RIDE_MAX. While updates are being handled, one of their
        writes carries them (`ride`): no transaction of their own. Otherwise they are written
        here, 20 ms after the first (the sends finishing together share the write). Sends that
        finish while a write is under way are not in it and start no task of their own (this
        one is running): they are written too, or the last of a burst would stay pending in the
        database (the loop skips it as sent) until some later send came along."""
        while self._sent:
            await asyncio.sleep(0.02)  # a look every 20 ms: written as soon as no update is under way
            if self._sent and (not self.riders or time.monotonic() - self._marks_since >= RIDE_MAX):
                await self.mark_sent()

    async def ride(self, s: AsyncSession) -> list[int]:
        """In an update's write (SQLite, `bot.middlewares`): carry the sent marks once there are
        RIDE_BATCH of them or the oldest has waited RIDE_AFTER, so that one statement marks many
        sends; `settle` the ids returned once that write has committed."""
        if not self._sent or (len(self._sent) < RIDE_BATCH and time.monotonic() - self._marks_since < RIDE_AFTER):
            return []
        return await self.mark_in(s)

    async def mark_sent(self) -> None:
        """Write the sent marks gathered so far in one transaction. Rows stay known as sent in
        memory until the write is committed, so no round can pick them up as pending meanwhile."""
        if not self._sent:
            return
        async with self.db.write() as s:
            ids = await self.mark_in(s)
        self.settle(ids)

    async def mark_in(self, s: AsyncSession) -> list[int]:
        """Write the sent marks gathered so far in a transaction under way (an update's, which
        writes anyway: `bot.middlewares`); `settle` them once it has committed."""
        marks = dict(self._sent)
        alike: dict[tuple[str, ...], list[dict[str, Any]]] = {}  # one statement per set of columns
        for row_id, values in marks.items():
            alike.setdefault(tuple(sorted(values)), []).append({"row": row_id, **{f"new_{k}": v for k, v in values.items()}})
        table = Outbox.__table__
        for columns, params in alike.items():
            await s.execute(update(table).where(table.c.id == bindparam("row"), table.c.status == "pending")
                            .values({c: bindparam(f"new_{c}") for c in columns}), params)
        return list(marks)

    def settle(self, ids: list[int]) -> None:
        now = time.monotonic()
        for row_id in ids:
            self._settled[row_id] = now
            self._sent.pop(row_id, None)
        if ids:
            self._marks_since = now  # the marks left were made after the write began, or about then
            self._wake.set()

    async def _unchanged(self, row: Outbox) -> bool:
        """Whether the post's current version (the original, or its last edit sent) has this text
        and these buttons already."""
        async with self.db.read() as s:
            current = (await s.execute(
                select(Outbox).where(Outbox.status == "sent",
                                     (Outbox.id == row.edit_of) | ((Outbox.edit_of == row.edit_of)
                                                                   & (Outbox.method == "edit")))
                .order_by(Outbox.sent_at.desc(), Outbox.id.desc()).limit(1))).scalars().first()
        return current is not None and current.text == row.text and (current.buttons or None) == (row.buttons or None)

    async def _original_id(self, row: Outbox) -> int:
        if row.edit_of in self._sent and self._sent[row.edit_of].get("message_id"):
            return self._sent[row.edit_of]["message_id"]
        async with self.db.read() as s:
            original = await s.get(Outbox, row.edit_of)
        if original is None or original.message_id is None:
            raise TelegramBadRequest(method=None, message="original message was not delivered")  # type: ignore[arg-type]
        return original.message_id

    async def _retry(self, row: Outbox, error: str) -> None:
        attempts = row.attempts + 1
        if attempts >= MAX_ATTEMPTS:
            await self._finish(row, status="failed", error=error, attempts=attempts)
            return
        backoff = min(2 ** attempts, 300)
        await self._finish(row, status="pending", error=error, attempts=attempts,
                           not_before=utcnow() + timedelta(seconds=backoff))

    async def _forbidden(self, row: Outbox, error: str) -> None:
        """403: the user blocked the bot or never started it. Mark them; reach them in their group."""
        async with self.db.write() as s:
            if row.chat_id > 0:
                user = await s.get(User, row.chat_id)
                if user is not None:
                    user.blocked = True
                    if "initiate" in error:
                        user.blocked, user.started = False, False
                    s.add(user)
            await s.execute(update(Outbox).where(Outbox.id == row.id)
                            .values(status="failed", error=error[:500]))
            if row.fallback_chat_id and row.fallback_text:
                s.add(Outbox(chat_id=row.fallback_chat_id, text=row.fallback_text, key=row.key,
                             priority=row.priority))
        self._left(row)
        self._settled[row.id] = time.monotonic()

    async def _migrated(self, old: int, new: int) -> None:
        """A group became a supergroup: its binding and its queue move to the new id; the row is
        sent again there in order."""
        async with self.db.write() as s:
            binding = await s.get(ChatBinding, old)
            if binding is not None and await s.get(ChatBinding, new) is None:
                s.add(ChatBinding(**{**binding.model_dump(), "chat_id": new}))
                await s.delete(binding)
            await s.execute(update(Outbox).where(Outbox.chat_id == old, Outbox.status == "pending")
                            .values(chat_id=new))
        self._waiting.pop(old, None)
        self._waiting.setdefault(new, {})[UNKNOWN] = time.monotonic()
        log.info("chat %s migrated to %s", old, new)

    async def _finish(self, row: Outbox, **values: Any) -> None:
        if values.get("status") != "pending":
            self._left(row)
        if values.get("status") == "sent":
            values["sent_at"] = utcnow()
            if not self._sent:
                self._marks_since = time.monotonic()
            self._sent[row.id or 0] = values
            if self._marking is None or self._marking.done():
                self._marking = asyncio.create_task(self._mark_soon())
            return
        async with self.db.write() as s:  # ids are never reused: this is the row that was sent
            await s.execute(update(Outbox).where(Outbox.id == row.id, Outbox.status == "pending").values(**values))
        self._settled[row.id] = time.monotonic()
