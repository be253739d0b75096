"""The one outer middleware: each update is one transaction, handled once, answered for sure.

Everything an update does — the user row when Telegram tells us something new, the services'
units of work, the conversation state, the replies and the inbox mark — commits together in an
`UpdateScope`, or not at all. Replies are not sent while the handler runs: the bot session's
`DeferredSends` turns them into outbox rows of that transaction, and they go out right after the
commit (and again after a crash, from the outbox). So a reply that fails after the effect was
committed is retried, never replaced by "nothing was changed"; and the error answer is given
only when the update really had no effect.
"""
from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from datetime import datetime, timezone
from typing import Any

from aiogram import BaseMiddleware, Bot
from aiogram.client.session.middlewares.base import BaseRequestMiddleware, NextRequestMiddlewareType
from aiogram.fsm.middleware import FSMContextMiddleware
from aiogram.methods import (AnswerCallbackQuery, EditMessageReplyMarkup, EditMessageText, SendMessage,
                             TelegramMethod)
from aiogram.methods.base import Response
from aiogram.types import Chat, InlineKeyboardMarkup, Message, TelegramObject, Update, User as TgUser
from sqlalchemy import bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from bot import crashpoints, inbox
from bot.errors import DomainError
from bot.render import plain
from bot.services import users
from bot.services.context import load_actor
from bot.services.notify import INTERACTIVE
from storage.db import UpdateScope, current_scope, insert_outbox
from storage.fsm import DbStorage
from storage.models import Inbox, InboxStatus, Outbox, utcnow

log = logging.getLogger(__name__)

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]
CALLBACK_WINDOW = 10.0  # seconds: Telegram refuses answers to older callback queries ("query is too old")


def addressed(message: Message, bot_id: int, username: str | None) -> bool:
    """A reply to one of the bot's messages, or a mention of it (what privacy mode lets through)."""
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot_id:
        return True
    return bool(username) and f"@{username}".lower() in (message.text or message.caption or "").lower()


async def answer_error(app: Any, update: Update, locale: str, code: str, args: dict[str, Any]) -> None:
    """The translated answer to a failed update: an alert for a button press, else a reply."""
    text = app.renderer.render("error", locale, code=code, **args)
    if update.callback_query is not None:
        await update.callback_query.answer(plain(text)[:200], show_alert=True)
    elif update.message is not None:
        await update.message.answer(text)


class Replies:
    """What a handler said while its update was being handled, kept for the transaction.

    `late_to`: the press is too old for Telegram to take an answer (it waited in the inbox over
    a restart); an answer that says something goes to the presser's private chat instead."""

    def __init__(self, late_to: int | None = None) -> None:
        self.rows: list[Outbox] = []
        self._keyboards: dict[int, InlineKeyboardMarkup] = {}  # id() of a row -> the handler's keyboard
        self.callback_answer: AnswerCallbackQuery | None = None
        self.late_to = late_to

    def keyboards(self) -> dict[int, InlineKeyboardMarkup]:
        """Once written (the rows have their ids): row id -> the keyboard its buttons came from."""
        return {row.id: self._keyboards[id(row)] for row in self.rows if row.id and id(row) in self._keyboards}

    def record(self, method: TelegramMethod[Any]) -> Any:
        if isinstance(method, AnswerCallbackQuery):
            if self.late_to is None:
                self.callback_answer = method  # at most one answer per query: the last word wins
            elif method.text and method.show_alert:
                self.rows.append(Outbox(chat_id=self.late_to, text=html.escape(method.text), priority=INTERACTIVE))
            return True
        keyboard = getattr(method, "reply_markup", None)
        buttons = _buttons(keyboard)
        if isinstance(method, SendMessage):
            self._add(Outbox(chat_id=method.chat_id, text=method.text, buttons=buttons, priority=INTERACTIVE), keyboard)
            # A promise of a message: its id is known only once it is sent, after the commit.
            chat = _CHAT.model_copy(update={"id": method.chat_id,
                                            "type": "private" if method.chat_id > 0 else "supergroup"})
            return _PROMISE.model_copy(update={"date": datetime.now(timezone.utc), "text": method.text, "chat": chat})
        kind = "edit" if isinstance(method, EditMessageText) else "markup"
        self._add(Outbox(chat_id=method.chat_id, method=kind, text=getattr(method, "text", "") or "",
                         buttons=buttons, target_message_id=method.message_id, priority=INTERACTIVE), keyboard)
        return True

    def _add(self, row: Outbox, keyboard: Any) -> None:
        self.rows.append(row)
        if isinstance(keyboard, InlineKeyboardMarkup):
            self._keyboards[id(row)] = keyboard

    async def write(self, s: AsyncSession) -> None:
        await s.run_sync(insert_outbox, self.rows)


# A promise is copied from these: constructing a Message fills in its hundred fields' defaults one by one.
_CHAT = Chat.model_construct(id=0, type="private")
_PROMISE = Message.model_construct(message_id=0, date=datetime.now(timezone.utc), text="", chat=_CHAT)
_replies: ContextVar[Replies | None] = ContextVar("gongzhi_replies", default=None)
_INBOX = Inbox.__table__
# Built once: every update ends with it (a statement built per update costs more than it runs).
_DONE = (update(_INBOX).where(_INBOX.c.update_id == bindparam("done"))
         .values(status=InboxStatus.DONE, done_at=bindparam("at"), error=None))
DEFERRED = (SendMessage, EditMessageText, EditMessageReplyMarkup, AnswerCallbackQuery)


def _buttons(markup: Any) -> list[Any] | None:
    if isinstance(markup, InlineKeyboardMarkup):
        return markup.model_dump(mode="json", exclude_none=True)["inline_keyboard"]
    return None


class DeferredSends(BaseRequestMiddleware):
    """Inside an update, a reply becomes part of its transaction instead of a request now."""

    async def __call__(self, make_request: NextRequestMiddlewareType, bot: Bot,
                       method: TelegramMethod[Any]) -> Response[Any]:
        replies = _replies.get()
        if replies is None or not isinstance(method, DEFERRED) or not isinstance(getattr(method, "chat_id", 0), int):
            return await make_request(bot, method)
        return replies.record(method)


class ContextMiddleware(BaseMiddleware):
    def __init__(self, app: Any, fsm: FSMContextMiddleware | None = None) -> None:
        self.app = app
        self.fsm = fsm  # the conversation state is read along with the user (one statement)

    def _chatter(self, update: Update, bot_id: int) -> bool:
        """Group talk not addressed to the bot (an admin bot sees it all): nothing to do, no I/O."""
        m = update.message
        if (m is None or m.chat.type not in ("group", "supergroup") or m.new_chat_members or m.left_chat_member
                or m.migrate_to_chat_id or m.migrate_from_chat_id):
            return False
        return not ((m.text or m.caption or "").startswith("/") or addressed(m, bot_id, self.app.bot_username))

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        app = self.app
        row: Inbox | None = data.pop("inbox", None)
        if self._chatter(event, data["bot"].id):
            if row is not None:
                app.inbox.skip(row.update_id)
            return None
        if row is None and not await self._first_delivery(event):
            return None  # a redelivered update: handled once already
        scope, replies = UpdateScope(app.db), Replies(late_to=self._late_press(event, row))
        scope_token, replies_token = scope.enter(), _replies.set(replies)
        # This update's write will carry earlier replies' sent marks: until its own replies are
        # sent, the marks wait for it (or for the next update) instead of a write of their own.
        riding = app.db.is_sqlite
        app.delivery.riders += riding
        try:
            return await self._in_scope(handler, event, data, row, scope, replies, scope_token, replies_token)
        finally:
            app.delivery.riders -= riding

    async def _in_scope(self, handler: Handler, event: Update, data: dict[str, Any], row: Inbox | None,
                        scope: UpdateScope, replies: Replies, scope_token: Any, replies_token: Any) -> Any:
        app = self.app
        failure: Exception | None = None
        try:
            if not await inbox.claim(row):  # another worker has this person's update in hand
                await scope.rollback()
                app.inbox.elsewhere(row.person)  # type: ignore[union-attr]
                return None
            result = await self._handle(handler, event, data, replies)
            scope.before_commit += [lambda s: s.run_sync(self._finish, event.update_id, replies.rows),
                                    lambda s: self._mark_sent(s, scope)]
            crashpoints.reach("update.handled")
            await scope.commit()
            crashpoints.reach("update.committed")
        except Exception as e:
            failure = e
            await scope.rollback()
        finally:
            _replies.reset(replies_token)
            UpdateScope.leave(scope_token)
        if failure is not None:
            await self._failed(event, row, failure, data)
            return None
        await self._send(replies, event, row)
        return result

    @staticmethod
    def _late_press(event: Update, row: Inbox | None) -> int | None:
        """The presser of a button press Telegram would no longer take an answer for, if it is one."""
        cq = event.callback_query
        if cq is None or row is None or (utcnow() - row.received_at).total_seconds() < CALLBACK_WINDOW:
            return None
        return cq.from_user.id

    async def _handle(self, handler: Handler, event: Update, data: dict[str, Any], replies: Replies) -> Any:
        app = self.app
        m = event.message
        if m is not None and (m.migrate_to_chat_id or m.migrate_from_chat_id):
            return await handler(event, data)  # a group became a supergroup: no one acts (idempotent)
        tg_user: TgUser | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        actor = None
        if tg_user is not None and not tg_user.is_bot:
            where = chat.id if chat else tg_user.id
            directory = app.db.directory
            async with app.db.read() as s:  # one read for who acts, where; a write only for news
                # The user's row and the directory's version (cached copies are current): one statement.
                context = self.fsm.resolve_event_context(data["bot"], data) if self.fsm else None
                storage = self.fsm.storage if self.fsm else None
                state_key = storage.key_of(context.key) if context and isinstance(storage, DbStorage) else None
                token, user, state = await directory.sync_user(s, tg_user.id, state_key)
                if state_key is not None and user is not None:
                    storage.primed(context.key, state)  # type: ignore[union-attr]
                scope = current_scope()
                if scope is not None:
                    scope.memo["directory"] = token  # the services' directory lookups of this update
                changes = users.changes_for(user, first_name=tg_user.first_name, last_name=tg_user.last_name,
                                            username=tg_user.username, language_code=tg_user.language_code,
                                            private=chat is not None and chat.type == "private")
                if user is not None and not changes:
                    actor = await load_actor(s, user, where, app.settings.default_locale, app.renderer.locales)
            if actor is None:
                async with app.db.write() as s:
                    user = await users.upsert(s, tg_user.id, changes)
                    actor = await load_actor(s, user, where, app.settings.default_locale, app.renderer.locales)
        if actor is None:
            if tg_user is not None and event.message is not None:
                # An anonymous group admin or a channel writing as the chat: we cannot tell who
                # acts, so nothing is done on their behalf.
                await event.message.answer(app.renderer.render("error", app.settings.default_locale,
                                                               code="anonymous_sender"))
                return None
            return await handler(event, data)  # updates about no one (poll totals)
        data["actor"] = actor
        data["locale"] = actor.locale
        with app.renderer.catalogs.use_locale(actor.locale):
            try:
                return await handler(event, data)
            except DomainError as e:  # expected: the failed unit of work rolled back alone; say why
                await self._answer_error(event, actor.locale, e.code, e.args_)
                return None

    async def _answer_error(self, event: Update, locale: str, code: str, args: dict[str, Any]) -> None:
        await answer_error(self.app, event, locale, code, args)

    async def _first_delivery(self, event: Update) -> bool:
        """Fed without the inbox (tests, benchmarks): take the update into it now, once."""
        async with self.app.db.write() as s:
            insert = pg_insert if s.bind.dialect.name == "postgresql" else sqlite_insert
            result = await s.execute(insert(Inbox).values(**inbox.row_for(event))
                                     .on_conflict_do_nothing(index_elements=["update_id"]))
        return result.rowcount == 1

    @staticmethod
    def _finish(s: Session, update_id: int, replies: list[Outbox]) -> None:
        """The replies and the inbox mark, by statement (no unit of work): in one step."""
        insert_outbox(s, replies)
        s.connection().execute(_DONE, {"done": update_id, "at": utcnow()})

    async def _mark_sent(self, s: AsyncSession, scope: UpdateScope) -> None:
        """Earlier replies' "sent" marks ride along in this update's write instead of one of their
        own. SQLite only, where every write transaction is exclusive anyway: on PostgreSQL the
        update's row locks (a superseded feed line) and the marks' could be taken in opposite
        orders by two transactions, so there the delivery loop keeps writing its marks alone."""
        if not self.app.db.is_sqlite:
            return
        ids = await self.app.delivery.ride(s)
        if ids:
            scope.after_commit.append(lambda: self.app.delivery.settle(ids))

    async def _failed(self, event: Update, row: Inbox | None, exc: Exception, data: dict[str, Any]) -> None:
        """Nothing of the update was kept. Try again later; after the last attempt, mark it
        failed and tell its sender once (the answer is written right after the mark: a crash in
        between leaves the update failed and unanswered, listed by `gongzhi inbox failed`)."""
        log.error("update %s failed", event.update_id, exc_info=exc)
        attempts = (row.attempts if row is not None else 0) + 1
        final = row is None or attempts >= inbox.MAX_ATTEMPTS
        await inbox.record_failure(self.app.db, event.update_id, f"{type(exc).__name__}: {exc}", final=final)
        if final:
            replies = Replies(late_to=self._late_press(event, row))
            token = _replies.set(replies)
            try:
                locale = data.get("locale") or self.app.settings.default_locale
                await self._answer_error(event, locale, "internal", {})
            finally:
                _replies.reset(token)
            async with self.app.db.write() as s:
                await replies.write(s)
            await self._send(replies, event, row)

    async def _send(self, replies: Replies, event: Update, row: Inbox | None) -> None:
        """Right after the commit: the button press's answer (if Telegram still takes it), then
        the replies, paced, ahead of anything else queued for those chats."""
        app = self.app
        if replies.callback_answer is not None:
            try:
                await app.bot(replies.callback_answer)
            except Exception as e:  # a toast is a courtesy: the effect is committed already
                log.info("callback answer for update %s not delivered: %s", event.update_id, e)
        if replies.rows:
            await app.delivery.flush(replies.rows, replies.keyboards())
        app.delivery.wake()
