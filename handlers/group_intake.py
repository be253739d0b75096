"""Requests from group chats: `/new <text>`, a mention of the bot with text, or a reply to the bot.

The group sees the number and nothing personal. Details continue in private chat, or the reply
carries a link to start the bot for someone who never has.
"""
from __future__ import annotations

import re

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from markupsafe import Markup

from bot.app import App
from bot.errors import BadInput, NotAllowed
from bot.i18n import clean_user_text
from bot.middlewares import addressed
from bot.render import Button
from bot.services.context import Actor
from bot.services.requests import Draft, metoo_buttons
from handlers.common import say
from handlers.routing import Stage
from storage.models import ChatKind


async def _file_from_group(message: Message, text: str, actor: Actor, app: App) -> None:
    binding = actor.binding
    if binding is None or actor.community is None:
        raise NotAllowed("group_not_bound")
    text = clean_user_text(text)
    if not text:
        raise BadInput("group_new_usage")
    if not actor.memberships:
        await app.communities.join_as_resident(actor.id, actor.community.id)
    grid_id = binding.grid_id if binding.kind == ChatKind.GRID else actor.grid_id
    v = await app.requests.file(actor, Draft(description=text, grid_id=grid_id, source_chat_id=message.chat.id))
    started = actor.user.started and not actor.user.blocked
    link = [[Button("start_bot", url=f"https://t.me/{app.bot_username}?start=go")]]
    buttons = metoo_buttons(v.req.id or 0) + ([] if started else link)  # neighbours: "me too" in one tap
    # A resident who reads another language than the group's gets one line in theirs.
    aside = None
    if actor.locale not in (binding.locale, binding.secondary_locale):
        aside = Markup(app.renderer.render("group_filed", actor.locale, no=v.no, started=started).split("\n")[0])
    await say(message, app, binding.locale, "group_filed", buttons=buttons,
              no=v.no, user=actor.user, started=started, aside=aside)


async def new_in_group(message: Message, command: CommandObject, actor: Actor, app: App) -> None:
    await _file_from_group(message, command.args or "", actor, app)


async def mention_or_reply(message: Message, actor: Actor, app: App, bot: Bot) -> None:
    text = message.text or ""
    replied = message.reply_to_message
    if replied is not None and replied.from_user is not None and replied.from_user.id == bot.id:
        asked = await app.requests.question_behind(message.chat.id, replied.message_id)
        if asked is not None:  # the answer to a grid leader's question, written in the group
            v = await app.requests.answer_info(actor, asked, clean_user_text(text))
            await say(message, app, actor.binding.locale if actor.binding else actor.locale, "triage_done",
                      no=v.no, status=v.req.status)
            return
    me = await bot.me()
    mention = f"@{me.username}" if me.username else None
    if mention:
        text = re.sub(re.escape(mention), "", text, flags=re.IGNORECASE)
    await _file_from_group(message, text, actor, app)


async def addressed_to_bot(message: Message, bot: Bot) -> bool:
    return addressed(message, bot.id, (await bot.me()).username)


def make_router() -> Router:
    router = Stage(name=__name__)
    router.message.filter(F.chat.type.in_({"group", "supergroup"}))
    router.message.register(new_in_group, Command("new"))
    router.message.register(mention_or_reply, F.text, ~F.text.startswith("/"), addressed_to_bot)
    return router
