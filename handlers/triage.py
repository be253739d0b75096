"""Triage by grid leaders and staff, escalation to department liaisons, and the requester's
answer when asked for more information. Choices that need typing continue in private chat."""
from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import CallbackQuery, Message

from bot.app import App
from bot.callbacks import (AnswerPress, DeclinePress, DuePress, DuplicatePress, EscalatePress, LiaisonPress,
                           RecategorisePress, SkipPress, TriagePress)
from bot.errors import BadInput
from bot.i18n import clean_user_text
from bot.render import Button
from bot.services.community import categories_of, category_numbers, offered_category
from bot.services.context import Actor
from bot.services.requests import DECLINE_REASONS, DUE_DAYS, Op, View
from bot.filters import RequestRule
from handlers.common import TYPED, ask_note, dm, say, settle, show, toast
from handlers.routing import Stage


class Notes(StatesGroup):
    question = State()  # data: req
    decline = State()  # data: req, reason
    dept_return = State()  # data: req
    answer = State()  # data: req
    progress = State()  # data: req
    done = State()  # data: req


# One handler per triage button; RequestRule("triage") refuses anyone but the request's grid
# leaders and its community's staff before anything is asked.
async def accept(cb: CallbackQuery, callback_data: TriagePress, actor: Actor, app: App, locale: str) -> None:
    v = await app.requests.accept(actor, callback_data.req)
    await toast(cb, app, locale, "accepted", no=v.no)


async def handle(cb: CallbackQuery, callback_data: TriagePress, actor: Actor, app: App, locale: str) -> None:
    v = await app.requests.handle(actor, callback_data.req)
    await toast(cb, app, locale, "handling", no=v.no)


async def duplicate(cb: CallbackQuery, callback_data: TriagePress, actor: Actor, app: App, bot: Bot,
                    locale: str) -> None:
    req_id = callback_data.req
    v = await app.requests.check_triage(actor, req_id)
    options = await app.requests.merge_candidates(actor, req_id)
    buttons = [[Button(text=o.no, data=DuplicatePress(req=req_id, original=o.req.id or 0).pack())] for o in options]
    await dm(cb, bot, app, locale, "pick_duplicate", buttons=buttons or None, options=options, no=v.no)


async def ask(cb: CallbackQuery, callback_data: TriagePress, actor: Actor, app: App, bot: Bot, locale: str,
              fsm_storage: BaseStorage) -> None:
    v = await app.requests.check_triage(actor, callback_data.req)
    await ask_note(cb, bot, app, locale, fsm_storage, Notes.question, {"req": callback_data.req}, "ask_question",
                   no=v.no)


async def decline(cb: CallbackQuery, callback_data: TriagePress, actor: Actor, app: App, bot: Bot,
                  locale: str) -> None:
    req_id = callback_data.req
    v = await app.requests.check_triage(actor, req_id)
    buttons = [[Button(f"reason_{r}", DeclinePress(req=req_id, reason=i).pack())]
               for i, r in enumerate(DECLINE_REASONS)]
    await dm(cb, bot, app, locale, "pick_reason", buttons=buttons, no=v.no)


async def escalate(cb: CallbackQuery, callback_data: TriagePress, actor: Actor, app: App, bot: Bot,
                   locale: str) -> None:
    req_id = callback_data.req
    v = await app.requests.check_triage(actor, req_id)
    liaisons = await app.requests.liaisons(actor)
    if not liaisons:
        raise BadInput("no_liaisons")
    buttons = [[Button(text=f"{dept} · {u.first_name}", data=EscalatePress(req=req_id, liaison=u.id).pack())]
               for u, dept in liaisons]
    await dm(cb, bot, app, locale, "pick_liaison", buttons=buttons, no=v.no)


async def category(cb: CallbackQuery, callback_data: TriagePress, actor: Actor, app: App, bot: Bot,
                   locale: str) -> None:
    req_id = callback_data.req
    v = await app.requests.check_triage(actor, req_id)
    numbers = category_numbers(v.community)
    buttons = [[Button(category=c, data=RecategorisePress(req=req_id, category=numbers.index(c.code)).pack())]
               for c in categories_of(v.community)]
    await dm(cb, bot, app, locale, "ask_category", buttons=buttons, no=v.no, on_behalf=None)


async def stale(cb: CallbackQuery) -> None:
    """Our prefix with an operation we do not have (old or forged data)."""
    raise BadInput("stale")


async def recategorise(cb: CallbackQuery, callback_data: RecategorisePress, actor: Actor, app: App,
                       locale: str) -> None:
    code = offered_category(actor.community, callback_data.category)
    if code is None:  # forged, or a category removed since the buttons were shown
        raise BadInput("bad_category")
    v = await app.requests.categorise(actor, callback_data.req, code)
    await show(cb, app, locale, "triage_done", no=v.no, status=v.req.status, category=v.req.category,
               community=v.community)


async def pick_duplicate(cb: CallbackQuery, callback_data: DuplicatePress, actor: Actor, app: App,
                         locale: str) -> None:
    v = await app.requests.merge(actor, callback_data.req, callback_data.original)
    await show(cb, app, locale, "triage_done", no=v.no, status=v.req.status)


async def pick_reason(cb: CallbackQuery, callback_data: DeclinePress, actor: Actor, app: App, bot: Bot,
                      locale: str, fsm_storage: BaseStorage) -> None:
    req_id, idx = callback_data.req, callback_data.reason
    if not 0 <= idx < len(DECLINE_REASONS):
        raise BadInput("bad_reason")
    v = await app.requests.check_triage(actor, req_id)
    reason = DECLINE_REASONS[idx]
    await ask_note(cb, bot, app, locale, fsm_storage, Notes.decline, {"req": req_id, "reason": reason},
                   "ask_decline_note", skippable=reason != "other", no=v.no, reason=reason)


async def pick_liaison(cb: CallbackQuery, callback_data: EscalatePress, actor: Actor, app: App, locale: str) -> None:
    req_id, liaison_id = callback_data.req, callback_data.liaison
    v = await app.requests.check_triage(actor, req_id)
    buttons = [[Button(text=f"+{d}", data=DuePress(req=req_id, liaison=liaison_id, days=d).pack())
                for d in DUE_DAYS]]
    await show(cb, app, locale, "pick_due", buttons=buttons, no=v.no)


async def pick_due(cb: CallbackQuery, callback_data: DuePress, actor: Actor, app: App, locale: str) -> None:
    v = await app.requests.escalate(actor, callback_data.req, callback_data.liaison, callback_data.days)
    await show(cb, app, locale, "triage_done", no=v.no, status=v.req.status)


# The escalated request's liaison: accept, done (toasts), return (asks why). RequestRule("assignee").
async def liaison_step(cb: CallbackQuery, callback_data: LiaisonPress, actor: Actor, app: App, locale: str) -> None:
    v = await app.requests.liaison_op(actor, callback_data.req, callback_data.op)
    await toast(cb, app, locale, v.req.status, no=v.no)


async def liaison_return(cb: CallbackQuery, callback_data: LiaisonPress, actor: Actor, app: App, bot: Bot,
                         locale: str, fsm_storage: BaseStorage) -> None:
    await app.requests.check_liaison(actor, callback_data.req)  # still escalated to them
    await ask_note(cb, bot, app, locale, fsm_storage, Notes.dept_return, {"req": callback_data.req},
                   "ask_return_note")


async def answer_button(cb: CallbackQuery, callback_data: AnswerPress, actor: Actor, app: App, bot: Bot,
                        locale: str, fsm_storage: BaseStorage) -> None:
    await app.requests.check_answer(actor, callback_data.req)  # a question still waits
    await ask_note(cb, bot, app, locale, fsm_storage, Notes.answer, {"req": callback_data.req}, "ask_answer")


async def note_text(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    """A typed note for whichever step is waiting (question, decline, return, answer, progress)."""
    await _apply_note(message, state, actor, app, locale, clean_user_text(message.text or ""))


async def note_skip(cb: CallbackQuery, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    message = await settle(cb)
    await _apply_note(message, state, actor, app, locale, None)


async def done_photo(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    await _apply_note(message, state, actor, app, locale, clean_user_text(message.caption or ""),
                      photo=message.photo[-1].file_id)


# What each waiting step does with the typed note (one entry per state; nothing falls through).
NOTE_STEPS: dict[str | None, Callable[..., Awaitable[View]]] = {
    Notes.question.state: lambda svc, actor, req, data, note, photo: svc.ask_info(actor, req, note or ""),
    Notes.decline.state: lambda svc, actor, req, data, note, photo: svc.decline(actor, req, data.get("reason", ""),
                                                                               note),
    Notes.dept_return.state: lambda svc, actor, req, data, note, photo: svc.liaison_op(actor, req, Op.DEPT_RETURN,
                                                                                      note),
    Notes.answer.state: lambda svc, actor, req, data, note, photo: svc.answer_info(actor, req, note or ""),
    Notes.progress.state: lambda svc, actor, req, data, note, photo: svc.task_op(actor, req, Op.PROGRESS, note),
    Notes.done.state: lambda svc, actor, req, data, note, photo: svc.task_op(actor, req, Op.DONE, note,
                                                                            photo=photo),
}


async def _apply_note(message: Message, state: FSMContext, actor: Actor, app: App, locale: str,
                      note: str | None, photo: str | None = None) -> None:
    current, data = await state.get_state(), await state.get_data()
    step = NOTE_STEPS.get(current)
    if step is None:  # the step was left meanwhile (another chat, /cancel)
        raise BadInput("stale")
    v = await step(app.requests, actor, int(data.get("req", 0)), data, note, photo)
    await state.clear()
    await say(message, app, locale, "triage_done", no=v.no, status=v.req.status)


def make_router() -> Router:
    router = Stage(name=__name__)
    may_triage = RequestRule("triage")
    for op, handler in ((Op.ACCEPT, accept), (Op.HANDLE, handle), (Op.DUPLICATE, duplicate), (Op.ASK, ask),
                        (Op.DECLINE, decline), (Op.ESCALATE, escalate), (Op.CATEGORY, category)):
        router.callback_query.register(handler, TriagePress.filter(F.op == op), may_triage)
    router.callback_query.register(stale, TriagePress.filter())
    router.callback_query.register(recategorise, RecategorisePress.filter(), may_triage)
    router.callback_query.register(pick_duplicate, DuplicatePress.filter(), may_triage)
    router.callback_query.register(pick_reason, DeclinePress.filter(), may_triage)
    router.callback_query.register(pick_liaison, EscalatePress.filter(), may_triage)
    router.callback_query.register(pick_due, DuePress.filter(), may_triage)
    their_task = RequestRule("assignee")
    router.callback_query.register(liaison_return, LiaisonPress.filter(F.op == Op.DEPT_RETURN), their_task)
    router.callback_query.register(liaison_step, LiaisonPress.filter(F.op.in_({Op.DEPT_ACCEPT, Op.DEPT_DONE})),
                                   their_task)
    router.callback_query.register(stale, LiaisonPress.filter())
    router.callback_query.register(answer_button, AnswerPress.filter(), RequestRule("requester"))
    private = F.chat.type == "private"
    router.message.register(done_photo, Notes.done, F.photo, private)
    router.message.register(note_text, StateFilter(Notes), TYPED, private)
    router.callback_query.register(note_skip, SkipPress.filter(), Notes.decline)
    router.callback_query.register(note_skip, SkipPress.filter(), Notes.done)
    return router
