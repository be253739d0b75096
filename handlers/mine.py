"""The requester's view: /my, a request's timeline, cancelling one's own request.

Always answered in private chat: a timeline can hold a contact note and the resident's answers,
which never belong in a group.
"""
from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.app import App
from bot.callbacks import Act, CancelRequestPress, RequestPress, pack
from bot.policy import Audience
from bot.render import Button
from bot.services.context import Actor
from bot.services.signoff import REOPENABLE
from handlers.common import kb, reachable, say, show, toast
from handlers.routing import Stage
from handlers.tasks import MY, task_list
from storage.models import OPEN_STATUSES, Status


async def _private(bot: Bot, actor: Actor, app: App, locale: str, template: str,
                   buttons: list[list[Button]] | None, **ctx: object) -> None:
    await reachable(app, actor.id)
    await bot.send_message(actor.id, app.renderer.render(template, locale, **ctx), reply_markup=kb(app, buttons, locale))


async def my_command(message: Message, actor: Actor, app: App, bot: Bot, locale: str) -> None:
    template, ctx, buttons = await task_list(actor, app, MY, 0)
    if message.chat.type == "private":
        await say(message, app, locale, template, buttons=buttons, **ctx)
        return
    await _private(bot, actor, app, locale, template, buttons, **ctx)
    await say(message, app, locale, "toast", code="see_private")


async def open_request(cb: CallbackQuery, callback_data: RequestPress, actor: Actor, app: App, bot: Bot,
                       locale: str) -> None:
    v, events = await app.requests.view(actor, callback_data.req)
    buttons = []
    if v.req.requester_id == actor.id:
        if v.req.status == Status.WAITING_INFO:
            buttons.append([Button("answer", pack(Act.ANSWER, v.req.id or 0))])
        if v.req.status in OPEN_STATUSES:
            buttons.append([Button("cancel_request", pack(Act.CANCEL_REQ, v.req.id or 0))])
        if v.req.status == Status.DONE:
            buttons.append([Button("signoff_yes", pack(Act.SIGNOFF, v.req.id or 0, 1))])
        if v.req.status in REOPENABLE:
            buttons.append([Button("signoff_no", pack(Act.SIGNOFF, v.req.id or 0, 0))])
    await _private(bot, actor, app, locale, "request_detail", buttons or None, events=events[-20:],
                   show_private=v.clearance == Audience.PRIVATE, yours=actor.id == v.req.requester_id, **v.ctx())
    private = cb.message is not None and cb.message.chat.type == "private"
    await (cb.answer() if private else toast(cb, app, locale, "see_private"))


async def cancel_request(cb: CallbackQuery, callback_data: CancelRequestPress, actor: Actor, app: App,
                         locale: str) -> None:
    v = await app.requests.cancel(actor, callback_data.req)
    await show(cb, app, locale, "triage_done", no=v.no, status=v.req.status)


def make_router() -> Router:
    router = Stage(name=__name__)
    router.message.register(my_command, Command("my"))
    router.callback_query.register(open_request, RequestPress.filter())
    router.callback_query.register(cancel_request, CancelRequestPress.filter())
    return router
