"""Writing a proposal in private chat, kept in the FSM (survives restarts):

/propose → title → text → kind → options (For / Against / Abstain, or 2-10 typed) → voting time →
summary with the rules to toggle (threshold, ballot, quorum) → Open the vote / Keep as a draft /
Cancel. Editing a draft runs the same steps with its values kept ("Keep as it is").
/cancel leaves at any step.
"""
from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import CallbackQuery, Message

from bot.app import App
from bot.callbacks import (Act, ProposalHoursPress, ProposalKindPress, ProposalRulePress, ProposalSavePress, SkipPress,
                           pack)
from bot.errors import BadInput
from bot.i18n import clean_user_text
from bot.render import Button
from bot.services.community import settings_of
from bot.services.context import Actor
from bot.services.deliberation import (DEFAULT_QUORUM, DEFAULT_VOTE_HOURS, KINDS, MAX_HOURS, MAX_OPTIONS,
                                       MAX_TEXT, MAX_TITLE, MIN_HOURS, MIN_OPTIONS, QUORUMS, THRESHOLDS, VOTE_HOURS,
                                       ProposalDraft, check_hours, check_length, parse_options)
from handlers.common import dm, kb, private_state, say, settle, show
from handlers.routing import Stage


class Propose(StatesGroup):
    title = State()
    text = State()
    kind = State()
    options = State()
    hours = State()
    confirm = State()


CANCEL = [Button("cancel", pack(Act.CANCEL))]
KEEP = [Button("keep", pack(Act.SKIP))]
THRESHOLD, SECRET, QUORUM = range(3)  # PROP_RULE toggles


def _default_hours(actor: Actor) -> int:
    return settings_of(actor.community).get("vote_hours", DEFAULT_VOTE_HOURS) if actor.community else DEFAULT_VOTE_HOURS


async def propose(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    app.council.may_propose(actor)
    assert actor.community is not None
    quorum = settings_of(actor.community).get("vote_quorum_pct", DEFAULT_QUORUM)
    await state.set_state(Propose.title)
    await state.set_data({"pid": None, "quorum_pct": quorum, "threshold": THRESHOLDS[0], "secret": False})
    await say(message, app, locale, "proposal_ask", buttons=[CANCEL], step="title", limit=MAX_TITLE, current=None)


async def begin_edit(cb: CallbackQuery, bot: Bot, app: App, locale: str, fsm_storage: BaseStorage,
                     pid: int, draft: ProposalDraft) -> None:
    """Edit a draft (pressed in a group or in private): the conversation continues privately."""
    state = private_state(fsm_storage, bot.id, cb.from_user.id)
    await state.set_state(Propose.title)
    await state.set_data({**draft.data(), "pid": pid})
    await dm(cb, bot, app, locale, "proposal_ask", buttons=[KEEP, CANCEL], step="title", limit=MAX_TITLE,
             current=draft.title)


async def title(message: Message, state: FSMContext, app: App, locale: str) -> None:
    text = check_length(clean_user_text(message.text or ""), MAX_TITLE)
    if not text:
        raise BadInput("proposal_empty")
    await state.update_data(title=text)
    await _ask_text(message, state, app, locale)


async def _ask_text(message: Message, state: FSMContext, app: App, locale: str) -> None:
    current = (await state.get_data()).get("text")
    await state.set_state(Propose.text)
    await say(message, app, locale, "proposal_ask", buttons=[KEEP, CANCEL] if current else [CANCEL], step="text",
              limit=MAX_TEXT, current=current)


async def body(message: Message, state: FSMContext, app: App, locale: str) -> None:
    text = check_length(clean_user_text(message.text or ""), MAX_TEXT)
    if not text:
        raise BadInput("proposal_empty")
    await state.update_data(text=text)
    await _ask_kind(message, state, app, locale)


async def _ask_kind(message: Message, state: FSMContext, app: App, locale: str) -> None:
    await state.set_state(Propose.kind)
    kinds = [[Button(f"pkind_{k}", pack(Act.PROP_KIND, i))] for i, k in enumerate(KINDS)]
    await say(message, app, locale, "proposal_ask", buttons=kinds + [CANCEL], step="kind", current=None)


async def keep(cb: CallbackQuery, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    """"Keep as it is" (title, text) or the default options."""
    current = await state.get_state()
    message = await settle(cb)
    if current == Propose.title.state:
        await _ask_text(message, state, app, locale)
    elif current == Propose.text.state:
        await _ask_kind(message, state, app, locale)
    elif current == Propose.options.state:
        await state.update_data(options=None)
        await _ask_hours(message, state, actor, app, locale)


async def kind(cb: CallbackQuery, callback_data: ProposalKindPress, state: FSMContext, app: App,
               locale: str) -> None:
    if not 0 <= callback_data.kind < len(KINDS):
        raise BadInput("stale")
    await state.update_data(kind=KINDS[callback_data.kind])
    await state.set_state(Propose.options)
    await show(cb, app, locale, "proposal_ask", buttons=[[Button("default_options", pack(Act.SKIP))], CANCEL],
               step="options", low=MIN_OPTIONS, high=MAX_OPTIONS, current=None)


async def options(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    await state.update_data(options=parse_options(clean_user_text(message.text or "")))
    await _ask_hours(message, state, actor, app, locale)


async def _ask_hours(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    await state.set_state(Propose.hours)
    picks = [Button(f"hours_{h}", pack(Act.PROP_HOURS, h)) for h in VOTE_HOURS]
    await say(message, app, locale, "proposal_ask", buttons=[picks[:2], picks[2:], CANCEL], step="hours",
              default=_default_hours(actor), current=None)


async def hours_typed(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    text = (message.text or "").strip()
    if not text.isdigit():
        raise BadInput("bad_hours", low=MIN_HOURS, high=MAX_HOURS)
    await state.update_data(hours=check_hours(int(text)))
    await _summary(message, state, app, locale, edit=False)


async def hours_picked(cb: CallbackQuery, callback_data: ProposalHoursPress, state: FSMContext, app: App,
                       locale: str) -> None:
    if callback_data.hours not in VOTE_HOURS:
        raise BadInput("stale")
    await state.update_data(hours=callback_data.hours)
    await cb.answer()
    assert isinstance(cb.message, Message)
    await _summary(cb.message, state, app, locale, edit=True)


def _summary_buttons(d: ProposalDraft) -> list[list[Button]]:
    rule = lambda label, i: Button(label, pack(Act.PROP_RULE, i))  # noqa: E731
    return [[Button("open_vote", pack(Act.PROP_SAVE, 1)), Button("save_draft", pack(Act.PROP_SAVE, 0))],
            [rule(f"rule_{d.threshold}", THRESHOLD), rule("rule_secret" if d.secret else "rule_open", SECRET)],
            [Button(text=f"👥 {d.quorum_pct}%", data=pack(Act.PROP_RULE, QUORUM))],
            CANCEL]


async def _summary(message: Message, state: FSMContext, app: App, locale: str, *, edit: bool) -> None:
    await state.set_state(Propose.confirm)
    d = ProposalDraft.from_data(await state.get_data())
    text = app.renderer.render("proposal_draft", locale, d=d, no=None, request_no=None)
    if edit:
        await message.edit_text(text, reply_markup=kb(app, _summary_buttons(d), locale))
    else:
        await message.answer(text, reply_markup=kb(app, _summary_buttons(d), locale))


# The summary's rule buttons, one handler each: every press moves that rule to its next value.
def _next_threshold(data: dict[str, Any]) -> dict[str, Any]:
    return {"threshold": THRESHOLDS[(THRESHOLDS.index(data.get("threshold", "simple")) + 1) % len(THRESHOLDS)]}


def _next_secrecy(data: dict[str, Any]) -> dict[str, Any]:
    return {"secret": not data.get("secret")}


def _next_quorum(data: dict[str, Any]) -> dict[str, Any]:
    q = data.get("quorum_pct")
    return {"quorum_pct": QUORUMS[(QUORUMS.index(q) + 1) % len(QUORUMS)] if q in QUORUMS else QUORUMS[0]}


RULE_STEPS = {THRESHOLD: _next_threshold, SECRET: _next_secrecy, QUORUM: _next_quorum}


def toggler(step: Callable[[dict[str, Any]], dict[str, Any]]) -> Callable[..., Awaitable[None]]:
    async def toggle(cb: CallbackQuery, state: FSMContext, app: App, locale: str) -> None:
        await state.update_data(step(await state.get_data()))
        await cb.answer()
        assert isinstance(cb.message, Message)
        await _summary(cb.message, state, app, locale, edit=True)
    toggle.__name__ = f"toggle{step.__name__}"
    return toggle


async def stale(cb: CallbackQuery) -> None:
    raise BadInput("stale")


async def save(cb: CallbackQuery, callback_data: ProposalSavePress, state: FSMContext, actor: Actor, app: App,
               locale: str) -> None:
    data = await state.get_data()
    open_now = callback_data.open == 1
    v = await app.council.save(actor, ProposalDraft.from_data(data), pid=data.get("pid"), open_now=open_now)
    await state.clear()
    await show(cb, app, locale, "proposal_done", code="opened" if open_now else "saved", **v.ctx())


async def wrong_input(message: Message, state: FSMContext, app: App, locale: str) -> None:
    await say(message, app, locale, "step_hint", step="proposal")


def make_router() -> Router:
    router = Stage(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(propose, Command("propose"))
    typed = F.text & ~F.text.startswith("/")  # a command mid-way is not a title; wrong_input explains
    router.message.register(title, Propose.title, typed)
    router.message.register(body, Propose.text, typed)
    router.callback_query.register(kind, ProposalKindPress.filter(), Propose.kind)
    router.message.register(options, Propose.options, typed)
    router.message.register(hours_typed, Propose.hours, typed)
    router.callback_query.register(hours_picked, ProposalHoursPress.filter(), Propose.hours)
    router.callback_query.register(keep, SkipPress.filter(), StateFilter(Propose.title, Propose.text, Propose.options))
    for rule, step in RULE_STEPS.items():
        router.callback_query.register(toggler(step), ProposalRulePress.filter(F.rule == rule), Propose.confirm)
    router.callback_query.register(stale, ProposalRulePress.filter(), Propose.confirm)
    router.callback_query.register(save, ProposalSavePress.filter(), Propose.confirm)
    router.message.register(wrong_input, StateFilter(Propose))
    return router
