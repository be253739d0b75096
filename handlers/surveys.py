"""Satisfaction polls: staff's /survey conversation in private chat (kept in the FSM, so it
survives a restart), and the `poll` updates that carry the running totals of posted polls.

/survey → question → options (the five-point scale, or typed one per line) → target groups
(toggle buttons) → closing time (1, 3 or 7 days) → summary → Post / Cancel. /cancel leaves at
any step.
"""
from __future__ import annotations

from datetime import timedelta

from aiogram import F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message, Poll

from bot.app import App
from bot.callbacks import Act, ConfirmPress, SkipPress, SurveyDaysPress, SurveyGroupPress, pack
from bot.errors import BadInput
from bot.i18n import clean_user_text
from bot.render import Button
from bot.services.context import Actor
from bot.services.surveys import (CLOSE_DAYS, MAX_OPTION, MAX_OPTIONS, MAX_QUESTION, MIN_OPTIONS, check_question,
                                  draft_from, parse_options)
from handlers.common import TYPED, kb, say, show
from handlers.routing import Stage
from storage.models import ChatBinding, ChatKind, utcnow


class SurveyFlow(StatesGroup):
    question = State()
    options = State()
    groups = State()
    days = State()
    confirm = State()


CANCEL = [Button("cancel", pack(Act.CANCEL))]
DAY_LABELS = {1: "hours_24", 3: "hours_72", 7: "hours_168"}
MAX_GROUP_BUTTONS = 90  # Telegram allows 100 buttons; leave room for Next and Cancel


def _name(app: App, g: ChatBinding, locale: str) -> str:
    kind = app.renderer.label(f"kind_{g.kind}", locale)
    return f"{g.title} · {kind}" if g.title else kind


async def survey(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    app.surveys.may_run(actor)
    await state.set_state(SurveyFlow.question)
    await state.set_data({"chats": None})
    await say(message, app, locale, "survey_ask", buttons=[CANCEL], step="question", limit=MAX_QUESTION)


async def question(message: Message, state: FSMContext, app: App, locale: str) -> None:
    await state.update_data(question=check_question(clean_user_text(message.text or "")))
    await state.set_state(SurveyFlow.options)
    await say(message, app, locale, "survey_ask", buttons=[[Button("survey_scale", pack(Act.SKIP))], CANCEL],
              step="options", low=MIN_OPTIONS, high=MAX_OPTIONS, limit=MAX_OPTION)


async def options_typed(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    await state.update_data(options=parse_options(clean_user_text(message.text or "")))
    await _groups(message, state, actor, app, locale, edit=False)


async def scale(cb: CallbackQuery, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    await state.update_data(options=None)
    await cb.answer()
    assert isinstance(cb.message, Message)
    await _groups(cb.message, state, actor, app, locale, edit=True)


async def _groups(message: Message, state: FSMContext, actor: Actor, app: App, locale: str, *, edit: bool) -> None:
    groups = (await app.surveys.targets(actor))[:MAX_GROUP_BUTTONS]
    chosen = (await state.get_data()).get("chats")
    if chosen is None:  # first time here: the community-wide group(s) are chosen already
        chosen = [g.chat_id for g in groups if g.kind == ChatKind.COMMUNITY]
        await state.update_data(chats=chosen)
    await state.set_state(SurveyFlow.groups)
    rows = [[Button(text=f"{'✅' if g.chat_id in chosen else '▫️'} {_name(app, g, locale)}",
                    data=pack(Act.SURVEY_GROUP, g.chat_id))] for g in groups]
    if groups:
        rows.append([Button("next", pack(Act.CONFIRM))])
    rows.append(CANCEL)
    text = app.renderer.render("survey_ask", locale, step="groups", groups=groups)
    if edit:
        await message.edit_text(text, reply_markup=kb(app, rows, locale))
    else:
        await message.answer(text, reply_markup=kb(app, rows, locale))


async def toggle_group(cb: CallbackQuery, callback_data: SurveyGroupPress, state: FSMContext, actor: Actor, app: App,
                       locale: str) -> None:
    if callback_data.chat not in {g.chat_id for g in await app.surveys.targets(actor)}:
        raise BadInput("stale")
    chosen = list((await state.get_data()).get("chats") or [])
    chat = callback_data.chat
    chosen = [c for c in chosen if c != chat] if chat in chosen else [*chosen, chat]
    await state.update_data(chats=chosen)
    await cb.answer()
    assert isinstance(cb.message, Message)
    await _groups(cb.message, state, actor, app, locale, edit=True)


async def groups_done(cb: CallbackQuery, state: FSMContext, app: App, locale: str) -> None:
    if not (await state.get_data()).get("chats"):
        raise BadInput("survey_no_groups")
    await state.set_state(SurveyFlow.days)
    picks = [Button(DAY_LABELS[d], pack(Act.SURVEY_DAYS, d)) for d in CLOSE_DAYS]
    await show(cb, app, locale, "survey_ask", buttons=[picks, CANCEL], step="days")


async def days(cb: CallbackQuery, callback_data: SurveyDaysPress, state: FSMContext, actor: Actor, app: App,
               locale: str) -> None:
    if callback_data.days not in CLOSE_DAYS:
        raise BadInput("stale")
    data = await state.update_data(days=callback_data.days)
    await state.set_state(SurveyFlow.confirm)
    d = draft_from(data)
    titles = {g.chat_id: _name(app, g, locale) for g in await app.surveys.targets(actor)}
    assert actor.community is not None
    await show(cb, app, locale, "survey_ask", buttons=[[Button("survey_post", pack(Act.CONFIRM))], CANCEL],
               step="summary", q=d.question, names=app.surveys.option_names(d.options, locale),
               groups=[titles.get(c, str(c)) for c in d.chat_ids], closes_at=utcnow() + timedelta(days=d.days),
               tz=actor.community.timezone)


async def post(cb: CallbackQuery, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    draft = draft_from(await state.get_data())
    survey = await app.surveys.create(actor, draft)
    await state.clear()
    assert actor.community is not None
    await show(cb, app, locale, "survey_done", count=len(set(draft.chat_ids)), closes_at=survey.closes_at,
               tz=actor.community.timezone)


async def wrong_input(message: Message, app: App, locale: str) -> None:
    await say(message, app, locale, "step_hint", step="survey")


async def poll_update(poll: Poll, app: App) -> None:
    """Running totals of a poll the bot sent (anonymous polls report no voters, only counts)."""
    await app.surveys.record_poll(poll.id, [o.voter_count for o in poll.options])


def make_router() -> Router:
    router = Stage(name=__name__)
    router.poll.register(poll_update)
    private = Stage(name=f"{__name__}.private")
    private.message.filter(F.chat.type == "private")
    private.callback_query.filter(F.message.chat.type == "private")
    private.message.register(survey, Command("survey"))
    private.message.register(question, SurveyFlow.question, TYPED)
    private.message.register(options_typed, SurveyFlow.options, TYPED)
    private.callback_query.register(scale, SkipPress.filter(), SurveyFlow.options)
    private.callback_query.register(toggle_group, SurveyGroupPress.filter(), SurveyFlow.groups)
    private.callback_query.register(groups_done, ConfirmPress.filter(), SurveyFlow.groups)
    private.callback_query.register(days, SurveyDaysPress.filter(), SurveyFlow.days)
    private.callback_query.register(post, ConfirmPress.filter(), SurveyFlow.confirm)
    private.message.register(wrong_input, StateFilter(SurveyFlow))
    router.include_router(private)
    return router
