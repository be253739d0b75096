"""Onboarding: /start (with an invitation or not), picking one's micro-grid."""
from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import CommandObject, CommandStart
from aiogram.types import CallbackQuery, Message

from bot.app import App
from bot.callbacks import Act, GridPress, pack
from bot.render import Button
from bot.services.context import Actor
from handlers import settings, signoff
from handlers.common import grid_buttons, say, show
from handlers.routing import Stage


async def start(message: Message, command: CommandObject, actor: Actor, app: App, locale: str) -> None:
    token = (command.args or "").strip()
    if token.startswith("so_") and token[3:].isdigit():
        await signoff.prompt(message, actor, app, locale, int(token[3:]))
        return
    if token.startswith("an_") and token[3:].isdigit():  # a question asked in the group, answered here
        v, events = await app.requests.view(actor, int(token[3:]))
        question = next((e.note for e in reversed(events) if e.action == "info_requested"), "")
        await say(message, app, locale, "ask_info", buttons=[[Button("answer", pack(Act.ANSWER, v.req.id or 0))]],
                  question=question, **v.ctx())
        return
    if token and token != "go":
        joined = await app.communities.accept_invite(actor.id, token)
        buttons = None
        if joined.needs_grid:
            buttons = grid_buttons(await app.communities.grids(joined.community.id)) or None
        await say(message, app, locale, "joined", buttons=buttons, community=joined.community,
                  role=joined.membership.role, needs_grid=bool(buttons))
        return
    if actor.community is not None and actor.grid_id is None and not actor.memberships:
        # A user who first met the bot in a community group becomes its resident here.
        joined = await app.communities.join_as_resident(actor.id, actor.community.id)
        buttons = grid_buttons(await app.communities.grids(joined.community.id)) or None
        await say(message, app, locale, "joined", buttons=buttons, community=joined.community,
                  role="resident", needs_grid=bool(buttons))
        return
    await say(message, app, locale, "welcome", actor=actor)
    if settings.needs_language(actor, app):
        await settings.offer_language(message, actor, app, locale)


async def start_in_group(message: Message, app: App, locale: str) -> None:
    await say(message, app, locale, "group_hint")


async def pick_grid(cb: CallbackQuery, callback_data: GridPress, actor: Actor, app: App, locale: str) -> None:
    grid = await app.communities.set_grid(actor, callback_data.grid)
    await show(cb, app, locale, "grid_set", grid=grid)


async def grids_command(message: Message, actor: Actor, app: App, locale: str) -> None:
    """/grid: change one's micro-grid."""
    if actor.community is None:
        await say(message, app, locale, "error", code="no_community")
        return
    grids = await app.communities.grids(actor.community.id)
    await say(message, app, locale, "grid_pick", buttons=grid_buttons(grids, actor.grid_id) or None,
              has_grids=bool(grids))


def make_router() -> Router:
    router = Stage(name=__name__)
    router.message.register(start, CommandStart(), F.chat.type == "private")
    router.message.register(start_in_group, CommandStart())
    router.message.register(grids_command, F.text.regexp(r"^/grid(@\w+)?$"), F.chat.type == "private")
    router.callback_query.register(pick_grid, GridPress.filter())
    return router
