"""Points (积分): /points, /redeem (staff), /leaderboard."""
from __future__ import annotations

from aiogram import Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.app import App
from bot import policy
from bot.errors import BadInput, NotAllowed
from bot.services.context import Actor
from handlers.common import say
from handlers.routing import Stage


async def balance(message: Message, actor: Actor, app: App, locale: str) -> None:
    statement = await app.points.statement(actor)
    await say(message, app, locale, "points", balance=statement.balance, recent=statement.recent)


async def redeem(message: Message, command: CommandObject, actor: Actor, app: App, locale: str) -> None:
    """/redeem <@member> <points> <reason>"""
    parts = (command.args or "").split(maxsplit=2)
    if len(parts) < 3 or not parts[1].isdigit():
        raise BadInput("redeem_usage")
    user, left = await app.points.redeem(actor, parts[0], int(parts[1]), parts[2])
    await say(message, app, locale, "redeemed", user=user, amount=int(parts[1]), balance=left, reason=parts[2])


async def leaderboard(message: Message, actor: Actor, app: App, locale: str) -> None:
    if message.chat.type != "private" and not policy.group_may_list(actor.binding is not None):
        raise NotAllowed("group_not_bound")  # the member list stays out of a stranger's group
    await say(message, app, locale, "leaderboard", rows=await app.points.leaderboard(actor))


def make_router() -> Router:
    router = Stage(name=__name__)
    router.message.register(balance, Command("points"))
    router.message.register(redeem, Command("redeem"))
    router.message.register(leaderboard, Command("leaderboard"))
    return router
