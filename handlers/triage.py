"""Triage by grid leaders and staff, escalation to department liaisons, and the requester's
answer when asked for more information. Choices that need typing continue in private chat."""
from __future__ import annotations


from aiogram import Bot, F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import CallbackQuery, Message

from bot.app import App
from bot.callbacks import Act, pack
from bot.errors import BadInput
from bot.i18n import clean_user_text
from bot.render import Button
from bot.services.community import settings_of
from bot.services.context import Actor
from bot.services.requests import DECLINE_REASONS, DUE_DAYS, Op
from handlers.common import Cb, TYPED, ask_note, dm, say, settle, show, toast


class Notes(StatesGroup):
    question = State()  # data: req
    decline = State()  # data: req, reason
    dept_return = State()  # data: req
    answer = State()  # data: req
    progress = State()  # data: req
    done = State()  # data: req


async def triage(cb: CallbackQuery, ids: tuple[int, ...], actor: Actor, app: App, bot: Bot,
                 locale: str, fsm_storage: BaseStorage) -> None:
    req_id, op = ids  # the Cb filter has checked the count
    svc = app.requests
    if op == Op.ACCEPT:
        v = await svc.accept(actor, req_id)
        await toast(cb, app, locale, "accepted", no=v.no)
    elif op == Op.HANDLE:
        v = await svc.handle(actor, req_id)
        await toast(cb, app, locale, "handling", no=v.no)
    elif op == Op.DUPLICATE:
        v = await svc.check_triage(actor, req_id)
        options = await svc.merge_candidates(actor, req_id)
        buttons = [[Button(text=o.no, data=pack(Act.DUP, req_id, o.req.id or 0))] for o in options]
        await dm(cb, bot, app, locale, "pick_duplicate", buttons=buttons or None, options=options, no=v.no)
    elif op == Op.ASK:
        v = await svc.check_triage(actor, req_id)
        await ask_note(cb, bot, app, locale, fsm_storage, Notes.question, {"req": req_id}, "ask_question", no=v.no)
    elif op == Op.DECLINE:
        v = await svc.check_triage(actor, req_id)
        buttons = [[Button(f"reason_{r}", pack(Act.DECLINE, req_id, i))] for i, r in enumerate(DECLINE_REASONS)]
        await dm(cb, bot, app, locale, "pick_reason", buttons=buttons, no=v.no)
    elif op == Op.ESCALATE:
        v = await svc.check_triage(actor, req_id)
        liaisons = await svc.liaisons(actor)
        if not liaisons:
            raise BadInput("no_liaisons")
        buttons = [[Button(text=f"{dept} · {u.first_name}", data=pack(Act.ESCALATE, req_id, u.id))]
                   for u, dept in liaisons]
        await dm(cb, bot, app, locale, "pick_liaison", buttons=buttons, no=v.no)
    elif op == Op.CATEGORY:
        v = await svc.check_triage(actor, req_id)
        cats = settings_of(v.community)["categories"]
        buttons = [[Button(f"cat_{c}", pack(Act.RECATEGORISE, req_id, i))] for i, c in enumerate(cats)]
        await dm(cb, bot, app, locale, "ask_category", buttons=buttons, no=v.no, on_behalf=None)
    else:
        raise BadInput("stale")


async def recategorise(cb: CallbackQuery, ids: tuple[int, ...], actor: Actor, app: App, locale: str) -> None:
    req_id, index = ids
    cats = settings_of(actor.community)["categories"] if actor.community else []
    if not 0 <= index < len(cats):
        raise BadInput("stale")
    v = await app.requests.categorise(actor, req_id, cats[index])
    await show(cb, app, locale, "triage_done", no=v.no, status=v.req.status, category=v.req.category)


async def pick_duplicate(cb: CallbackQuery, ids: tuple[int, ...], actor: Actor, app: App, locale: str) -> None:
    v = await app.requests.merge(actor, ids[0], ids[1])
    await show(cb, app, locale, "triage_done", no=v.no, status=v.req.status)


async def pick_reason(cb: CallbackQuery, ids: tuple[int, ...], actor: Actor, app: App, bot: Bot,
                      locale: str, fsm_storage: BaseStorage) -> None:
    req_id, idx = ids
    if not 0 <= idx < len(DECLINE_REASONS):
        raise BadInput("bad_reason")
    v = await app.requests.check_triage(actor, req_id)
    reason = DECLINE_REASONS[idx]
    await ask_note(cb, bot, app, locale, fsm_storage, Notes.decline, {"req": req_id, "reason": reason},
                   "ask_decline_note", skippable=reason != "other", no=v.no, reason=reason)


async def pick_liaison(cb: CallbackQuery, ids: tuple[int, ...], actor: Actor, app: App, locale: str) -> None:
    req_id, liaison_id = ids
    v = await app.requests.check_triage(actor, req_id)
    buttons = [[Button(text=f"+{d}", data=pack(Act.DUE, req_id, liaison_id, d)) for d in DUE_DAYS]]
    await show(cb, app, locale, "pick_due", buttons=buttons, no=v.no)


async def pick_due(cb: CallbackQuery, ids: tuple[int, ...], actor: Actor, app: App, locale: str) -> None:
    req_id, liaison_id, days = ids
    v = await app.requests.escalate(actor, req_id, liaison_id, days)
    await show(cb, app, locale, "triage_done", no=v.no, status=v.req.status)


async def liaison(cb: CallbackQuery, ids: tuple[int, ...], actor: Actor, app: App, bot: Bot, locale: str,
                  fsm_storage: BaseStorage) -> None:
    req_id, op = ids
    if op == Op.DEPT_RETURN:
        await app.requests.check_liaison(actor, req_id)  # a press by anyone else asks nothing
        await ask_note(cb, bot, app, locale, fsm_storage, Notes.dept_return, {"req": req_id}, "ask_return_note")
        return
    v = await app.requests.liaison_op(actor, req_id, op)
    await toast(cb, app, locale, v.req.status, no=v.no)


async def answer_button(cb: CallbackQuery, ids: tuple[int, ...], actor: Actor, app: App, bot: Bot,
                        locale: str, fsm_storage: BaseStorage) -> None:
    await app.requests.check_answer(actor, ids[0])  # only the requester, while a question waits
    await ask_note(cb, bot, app, locale, fsm_storage, Notes.answer, {"req": ids[0]}, "ask_answer")


async def note_text(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    """A typed note for whichever step is waiting (question, decline, return, answer, progress)."""
    await _apply_note(message, state, actor, app, locale, clean_user_text(message.text or ""))


async def note_skip(cb: CallbackQuery, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    message = await settle(cb)
    await _apply_note(message, state, actor, app, locale, None)


async def done_photo(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    await _apply_note(message, state, actor, app, locale, clean_user_text(message.caption or ""),
                      photo=message.photo[-1].file_id)


async def _apply_note(message: Message, state: FSMContext, actor: Actor, app: App, locale: str,
                      note: str | None, photo: str | None = None) -> None:
    current, data = await state.get_state(), await state.get_data()
    svc, req_id = app.requests, int(data.get("req", 0))
    if current == Notes.question.state:
        v = await svc.ask_info(actor, req_id, note or "")
    elif current == Notes.decline.state:
        v = await svc.decline(actor, req_id, data.get("reason", ""), note)
    elif current == Notes.dept_return.state:
        v = await svc.liaison_op(actor, req_id, Op.DEPT_RETURN, note)
    elif current == Notes.answer.state:
        v = await svc.answer_info(actor, req_id, note or "")
    elif current == Notes.progress.state:
        v = await svc.task_op(actor, req_id, Op.PROGRESS, note)
    else:
        v = await svc.task_op(actor, req_id, Op.DONE, note, photo=photo)
    await state.clear()
    await say(message, app, locale, "triage_done", no=v.no, status=v.req.status)


def make_router() -> Router:
    router = Router(name=__name__)
    router.callback_query.register(triage, Cb(Act.TRIAGE))
    router.callback_query.register(recategorise, Cb(Act.RECATEGORISE))
    router.callback_query.register(pick_duplicate, Cb(Act.DUP))
    router.callback_query.register(pick_reason, Cb(Act.DECLINE))
    router.callback_query.register(pick_liaison, Cb(Act.ESCALATE))
    router.callback_query.register(pick_due, Cb(Act.DUE))
    router.callback_query.register(liaison, Cb(Act.LIAISON))
    router.callback_query.register(answer_button, Cb(Act.ANSWER))
    private = F.chat.type == "private"
    router.message.register(done_photo, Notes.done, F.photo, private)
    router.message.register(note_text, StateFilter(Notes), TYPED, private)
    router.callback_query.register(note_skip, Cb(Act.SKIP), Notes.decline)
    router.callback_query.register(note_skip, Cb(Act.SKIP), Notes.done)
    return router
