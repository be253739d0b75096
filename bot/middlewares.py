"""The one outer middleware: idempotency, who is acting, and their locale.

It writes only when it must: the update id (once per update, before any side effect), and the
user row on first contact or when Telegram tells us something new about them.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import Chat, Message, TelegramObject, Update, User as TgUser

from bot.services import users
from bot.services.context import load_actor
from storage.models import User

Handler = Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]]


def addressed(message: Message, bot_id: int, username: str | None) -> bool:
    """A reply to one of the bot's messages, or a mention of it (what privacy mode lets through)."""
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot_id:
        return True
    return bool(username) and f"@{username}".lower() in (message.text or message.caption or "").lower()


class ContextMiddleware(BaseMiddleware):
    def __init__(self, app: Any) -> None:
        self.app = app

    def _chatter(self, update: Update, bot_id: int) -> bool:
        """Group talk not addressed to the bot (an admin bot sees it all): nothing to do, no I/O."""
        m = update.message
        if m is None or m.chat.type not in ("group", "supergroup") or m.new_chat_members or m.left_chat_member:
            return False
        return not ((m.text or m.caption or "").startswith("/") or addressed(m, bot_id, self.app.bot_username))

    async def __call__(self, handler: Handler, event: TelegramObject, data: dict[str, Any]) -> Any:
        assert isinstance(event, Update)
        app = self.app
        m = event.message
        if m is not None and (m.migrate_to_chat_id or m.migrate_from_chat_id):
            return await handler(event, data)  # a group became a supergroup: no one acts (idempotent)
        if self._chatter(event, data["bot"].id):
            return None
        tg_user: TgUser | None = data.get("event_from_user")
        chat: Chat | None = data.get("event_chat")
        # One short unit of work: the update id (before any side effect), the user only when
        # Telegram tells us something new, and who is acting.
        async with app.db.write() as s:
            if not await users.claim_update(s, event.update_id):
                return None  # a redelivered update: handled once already
            if tg_user is None or tg_user.is_bot:
                actor = None
            else:
                user = await s.get(User, tg_user.id)
                changes = users.changes_for(user, first_name=tg_user.first_name, last_name=tg_user.last_name,
                                            username=tg_user.username, language_code=tg_user.language_code,
                                            private=chat is not None and chat.type == "private")
                if user is None or changes:
                    user = await users.upsert(s, tg_user.id, changes)
                actor = await load_actor(s, user, chat.id if chat else tg_user.id, app.settings.default_locale,
                                         app.renderer.locales)
        if actor is None:
            if tg_user is not None and event.message is not None:
                # An anonymous group admin or a channel writing as the chat: we cannot tell who
                # acts, so nothing is done on their behalf.
                binding_locale = app.settings.default_locale
                await event.message.answer(app.renderer.render("error", binding_locale, code="anonymous_sender"))
                return None
            return await handler(event, data)  # updates about no one (poll totals)
        data["actor"] = actor
        data["locale"] = actor.locale
        with app.renderer.catalogs.use_locale(actor.locale):
            return await handler(event, data)
