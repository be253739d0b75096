"""Last in line: whatever no other handler took gets a clear answer in private chat, a stale
button gets "no longer available", and ordinary group chatter is left alone."""
from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.types import CallbackQuery, Message

from bot.app import App
from bot.services.context import Actor
from handlers import settings
from handlers.common import say, toast
from handlers.routing import Stage


async def unknown_private(message: Message, actor: Actor, app: App, locale: str) -> None:
    if message.text and settings.needs_language(actor, app):
        await settings.offer_language(message, actor, app, locale)
        return
    kind = "text"
    if message.text and message.text.startswith("/"):
        kind = "command"
    elif not message.text:
        kind = "media"
    await say(message, app, locale, "fallback", kind=kind)


async def unknown_group_command(message: Message, app: App, locale: str) -> None:
    await say(message, app, locale, "fallback", kind="group_command")


async def stale_button(cb: CallbackQuery, app: App, locale: str) -> None:
    await toast(cb, app, locale, "stale", alert=True)


async def for_this_bot(message: Message, bot: Bot) -> bool:
    """A command addressed to us by name (`/foo@our_bot`); others may belong to other bots."""
    me = await bot.me()
    head = (message.text or "").split(maxsplit=1)[0] if message.text else ""
    return bool(me.username) and head.lower().endswith(f"@{me.username.lower()}")


def make_router() -> Router:
    router = Stage(name=__name__)
    router.message.register(unknown_private, F.chat.type == "private")
    router.message.register(unknown_group_command, F.text.startswith("/"), for_this_bot)
    router.callback_query.register(stale_button)
    return router
