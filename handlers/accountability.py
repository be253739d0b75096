"""Accountability in the open (#18): "me too" (附议) on public request posts, decisions carried
out (决议落实: /carryout, /progress) and the staff group's quiet feed (/quietfeed)."""
from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message

from bot.app import App
from bot.callbacks import MeTooPress
from bot.errors import BadInput, NotAllowed
from bot.i18n import clean_user_text
from bot.services.context import Actor
from handlers.common import say, toast
from handlers.routing import Stage


async def metoo(cb: CallbackQuery, callback_data: MeTooPress, actor: Actor, app: App, locale: str) -> None:
    """One tap: counted once per household; the answer says the count, and whether the outcome
    can reach the tapper (only in a private chat with the bot)."""
    v, new = await app.requests.metoo(actor, callback_data.req)
    reachable = actor.user.started and not actor.user.blocked
    code = "metoo_again" if not new else ("metoo" if reachable else "metoo_start")
    await toast(cb, app, locale, code, alert=not reachable, no=v.no, count=v.affected)


async def quiet_feed(message: Message, command: CommandObject, actor: Actor, app: App, locale: str) -> None:
    """/quietfeed on|off (staff, in private or in the staff group)."""
    arg = (command.args or "").strip().lower()
    if arg not in ("on", "off"):
        raise BadInput("quietfeed_usage")
    await app.communities.set_quiet_feed(actor, arg == "on")
    where = actor.binding.locale if actor.binding is not None else locale
    await say(message, app, where, "toast", code="quiet_feed", on=arg == "on")


async def carry_out(message: Message, command: CommandObject, actor: Actor, app: App, locale: str) -> None:
    """/carryout <proposal> <@person> <YYYY-MM-DD>: staff make someone responsible for a passed
    decision, with a due date."""
    parts = (command.args or "").split()
    if len(parts) != 3:
        raise BadInput("carryout_usage")
    v = await app.council.executions.assign(actor, parts[0], parts[1], parts[2])
    where = actor.binding.locale if actor.binding is not None else locale
    await say(message, app, where, "execution_set", **v.ctx())


async def progress(message: Message, command: CommandObject, actor: Actor, app: App, locale: str) -> None:
    """/progress <proposal> <percent> [note], as text or as a photo's caption (in private chat:
    the report itself is posted to the council and community groups)."""
    if message.chat.type != "private":
        raise NotAllowed("in_private")
    parts = (command.args or "").split(maxsplit=2)
    if len(parts) < 2 or not parts[1].rstrip("%").isdigit():
        raise BadInput("progress_usage")
    photos = [message.photo[-1].file_id] if message.photo else []
    note = clean_user_text(parts[2]) if len(parts) > 2 else None
    v = await app.council.executions.progress(actor, parts[0], int(parts[1].rstrip("%")), note, photos)
    await say(message, app, locale, "execution_update", **v.ctx())


def make_router() -> Router:
    router = Stage(name=__name__)
    router.callback_query.register(metoo, MeTooPress.filter())
    router.message.register(quiet_feed, Command("quietfeed"))
    router.message.register(carry_out, Command("carryout"))
    router.message.register(progress, Command("progress"), F.text | F.photo)
    return router
