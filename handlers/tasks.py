"""Volunteer tasks: claim (first wins), progress, done, release; /tasks, /mytasks, /assign."""
from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import CallbackQuery, Message

from bot.app import App
from bot.callbacks import Act, PagePress, TaskPress, pack
from bot import policy
from bot.errors import BadInput, NotAllowed
from bot.filters import RequestRule
from bot.render import Button
from bot.services.context import Actor
from bot.services.requests import Op
from handlers.common import ask_note, say, show, toast
from handlers.routing import Stage
from handlers.triage import Notes

PAGE = 5
TASKS, MYTASKS, MY = 1, 2, 3  # list ids in paging buttons


def pager(list_id: int, page: int, total: int, size: int) -> list[Button]:
    pages = max(1, -(-total // size))
    if pages == 1:
        return []
    row = []
    if page > 0:
        row.append(Button(text="‹", data=pack(Act.PAGE, list_id, page - 1)))
    row.append(Button(text=f"{page + 1}/{pages}", data=pack(Act.PAGE, list_id, page)))
    if page + 1 < pages:
        row.append(Button(text="›", data=pack(Act.PAGE, list_id, page + 1)))
    return row


async def task_list(actor: Actor, app: App, list_id: int, page: int) -> tuple[str, dict, list[list[Button]]]:
    """The template, its context and the buttons of one page of a list."""
    if list_id == MY:
        views, total = await app.requests.mine(actor, offset=page * 8, limit=8)
        buttons = [[Button(text=f"{v.no}", data=pack(Act.REQ, v.req.id or 0))] for v in views]
        row = pager(MY, page, total, 8)
        return "my_list", {"views": views, "total": total}, buttons + ([row] if row else [])
    mine = list_id == MYTASKS
    views, total = await app.requests.tasks(actor, mine=mine, offset=page * PAGE, limit=PAGE)
    if mine:
        buttons = [[Button(text=v.no, data=pack(Act.REQ, v.req.id or 0))] for v in views]
    else:
        buttons = [[Button(text=f"✋ {v.no}", data=pack(Act.TASK, v.req.id or 0, Op.CLAIM))] for v in views]
    row = pager(list_id, page, total, PAGE)
    return "task_list", {"views": views, "total": total, "mine": mine}, buttons + ([row] if row else [])


def _where(message: Message, actor: Actor) -> None:
    """Lists answer in private chat or in a group bound to a community, never in a stranger's."""
    if message.chat.type != "private" and not policy.group_may_list(actor.binding is not None):
        raise NotAllowed("group_not_bound")


async def tasks_command(message: Message, actor: Actor, app: App, locale: str) -> None:
    _where(message, actor)
    template, ctx, buttons = await task_list(actor, app, TASKS, 0)
    await say(message, app, locale, template, buttons=buttons, **ctx)


async def mytasks_command(message: Message, actor: Actor, app: App, locale: str) -> None:
    _where(message, actor)
    template, ctx, buttons = await task_list(actor, app, MYTASKS, 0)
    await say(message, app, locale, template, buttons=buttons, **ctx)


async def page(cb: CallbackQuery, callback_data: PagePress, actor: Actor, app: App, locale: str) -> None:
    list_id, number = callback_data.list, callback_data.page
    if list_id not in (TASKS, MYTASKS, MY) or number < 0:
        raise BadInput("stale")
    template, ctx, buttons = await task_list(actor, app, list_id, number)
    await show(cb, app, locale, template, buttons=buttons, **ctx)


# One handler per task button. Claiming is open to the community's volunteers (the service decides,
# first wins); the other steps are the assignee's own (RequestRule("assignee")).
async def claim(cb: CallbackQuery, callback_data: TaskPress, actor: Actor, app: App, locale: str) -> None:
    v = await app.requests.claim(actor, callback_data.req)
    await toast(cb, app, locale, "claimed", no=v.no)


async def release(cb: CallbackQuery, callback_data: TaskPress, actor: Actor, app: App, locale: str) -> None:
    v = await app.requests.task_op(actor, callback_data.req, Op.RELEASE)
    await toast(cb, app, locale, "released", no=v.no)


async def progress(cb: CallbackQuery, callback_data: TaskPress, actor: Actor, app: App, bot: Bot, locale: str,
                   fsm_storage: BaseStorage) -> None:
    v = await app.requests.check_task(actor, callback_data.req)
    await ask_note(cb, bot, app, locale, fsm_storage, Notes.progress, {"req": callback_data.req}, "ask_progress",
                   no=v.no)


async def done(cb: CallbackQuery, callback_data: TaskPress, actor: Actor, app: App, bot: Bot, locale: str,
               fsm_storage: BaseStorage) -> None:
    v = await app.requests.check_task(actor, callback_data.req)
    await ask_note(cb, bot, app, locale, fsm_storage, Notes.done, {"req": callback_data.req}, "ask_done",
                   skippable=True, no=v.no)


async def stale(cb: CallbackQuery) -> None:
    raise BadInput("stale")


async def assign(message: Message, command: CommandObject, actor: Actor, app: App, locale: str) -> None:
    """/assign <number> <@volunteer>"""
    ref, _, who = (command.args or "").strip().partition(" ")
    if not ref or not who.strip():
        raise BadInput("assign_usage")
    req = await app.requests.find_by_number(actor, ref)
    v = await app.requests.assign(actor, req.id or 0, who.strip())
    await say(message, app, locale, "triage_done", no=v.no, status=v.req.status, assignee=v.assignee)


def make_router() -> Router:
    router = Stage(name=__name__)
    router.message.register(tasks_command, Command("tasks"))
    router.message.register(mytasks_command, Command("mytasks"))
    router.message.register(assign, Command("assign"))
    router.callback_query.register(page, PagePress.filter())
    router.callback_query.register(claim, TaskPress.filter(F.op == Op.CLAIM))
    theirs = RequestRule("assignee")
    for op, handler in ((Op.RELEASE, release), (Op.PROGRESS, progress), (Op.DONE, done)):
        router.callback_query.register(handler, TaskPress.filter(F.op == op), theirs)
    router.callback_query.register(stale, TaskPress.filter())
    return router

