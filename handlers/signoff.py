"""The requester's sign-off: resolved? — stars — comment, or "not yet" with a comment (reopen)."""
from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from bot.app import App
from bot.callbacks import Act, SignoffPress, SkipPress, StarsPress, pack
from bot.i18n import clean_user_text
from bot.render import Button
from bot.services.context import Actor
from bot.services.signoff import REOPENABLE
from handlers.common import TYPED, say, show
from handlers.routing import Stage


class SignOff(StatesGroup):
    reopen = State()  # data: req
    comment = State()  # data: req


def stars(req_id: int) -> list[list[Button]]:
    return [[Button(text="⭐" * n, data=pack(Act.STARS, req_id, n)) for n in range(1, 4)],
            [Button(text="⭐" * n, data=pack(Act.STARS, req_id, n)) for n in range(4, 6)]]


async def answer(cb: CallbackQuery, callback_data: SignoffPress, state: FSMContext, actor: Actor, app: App,
                 locale: str) -> None:
    req_id, yes = callback_data.req, callback_data.resolved
    if yes:
        v = await app.signoff.resolved(actor, req_id)
        await show(cb, app, locale, "signoff_stars", buttons=stars(req_id), **v.ctx())
    else:
        v = await app.signoff.pending(actor, req_id, REOPENABLE)
        await state.set_state(SignOff.reopen)
        await state.set_data({"req": req_id})
        await show(cb, app, locale, "signoff_reopen_ask", **v.ctx())


async def rate(cb: CallbackQuery, callback_data: StarsPress, state: FSMContext, actor: Actor, app: App,
               locale: str) -> None:
    req_id, n = callback_data.req, callback_data.stars
    v = await app.signoff.rate(actor, req_id, n)
    await state.set_state(SignOff.comment)
    await state.set_data({"req": req_id})
    await show(cb, app, locale, "signoff_comment_ask", buttons=[[Button("skip", pack(Act.SKIP))]],
               stars=n, **v.ctx())


async def typed(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    current, data = await state.get_state(), await state.get_data()
    text = clean_user_text(message.text or "")
    if current == SignOff.reopen.state:
        v = await app.signoff.reopen(actor, int(data["req"]), text)
        await state.clear()
        await say(message, app, locale, "signoff_reopened", **v.ctx())
    else:
        v = await app.signoff.comment(actor, int(data["req"]), text)
        await state.clear()
        await say(message, app, locale, "signoff_thanks", **v.ctx())


async def skip_comment(cb: CallbackQuery, state: FSMContext, app: App, locale: str) -> None:
    await state.clear()
    await show(cb, app, locale, "signoff_thanks", no=None)


async def prompt(message: Message, actor: Actor, app: App, locale: str, req_id: int) -> None:
    """Reached through the group's link (/start so_<id>): the same question, privately."""
    v = await app.signoff.pending(actor, req_id)
    await say(message, app, locale, "signoff_ask", buttons=[[
        Button("signoff_yes", pack(Act.SIGNOFF, req_id, 1)), Button("signoff_no", pack(Act.SIGNOFF, req_id, 0))]],
        **v.ctx())


def make_router() -> Router:
    router = Stage(name=__name__)
    router.callback_query.register(answer, SignoffPress.filter())
    router.callback_query.register(rate, StarsPress.filter())
    router.callback_query.register(skip_comment, SkipPress.filter(), SignOff.comment)
    router.message.register(typed, StateFilter(SignOff), TYPED, F.chat.type == "private")
    return router
