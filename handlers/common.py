"""Small helpers every handler module uses: send a rendered template, parse our buttons, continue a
press privately and wait for a typed note; and the one Cancel of every conversation."""
from __future__ import annotations

from typing import Any

from contextlib import suppress

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message

from bot.app import App
from bot.callbacks import Act, CancelPress, pack
from bot.delivery import markup
from bot.errors import NotAllowed
from bot.render import Button, plain
from handlers.routing import Stage
from storage.models import Grid, User


def grid_buttons(grids: list[Grid], current: int | None = None, act: Act = Act.GRID) -> list[list[Button]]:
    """Micro-grids two per row, ✓ on the person's own."""
    def cell(g: Grid) -> Button:
        mark = "✓ " if g.id == current else ""
        return Button(text=mark + g.name, data=pack(act, g.id or 0),
                      names={loc: mark + name for loc, name in (g.names or {}).items()})  # each reader's own

    cells = [cell(g) for g in grids]
    return [cells[i:i + 2] for i in range(0, len(cells), 2)]


def kb(app: App, buttons: list[list[Button]] | None, locale: str) -> InlineKeyboardMarkup | None:
    return markup(app.renderer.keyboard(buttons, locale)) if buttons else None


async def say(message: Message, app: App, locale: str, template: str, *,
              buttons: list[list[Button]] | None = None, **ctx: Any) -> Message:
    """Answer in the same chat with a rendered template."""
    return await message.answer(app.renderer.render(template, locale, **ctx), reply_markup=kb(app, buttons, locale))


async def show(cb: CallbackQuery, app: App, locale: str, template: str, *,
               buttons: list[list[Button]] | None = None, **ctx: Any) -> None:
    """Replace the pressed message with a rendered template (a step of a conversation)."""
    text = app.renderer.render(template, locale, **ctx)
    if isinstance(cb.message, Message):
        with suppress(TelegramBadRequest):  # "message is not modified": a repeated tap, nothing to do
            await cb.message.edit_text(text, reply_markup=kb(app, buttons, locale))
    await cb.answer()


async def settle(cb: CallbackQuery) -> Message:
    """A step's button was pressed: answer it and take the buttons off that message (no double
    use); returns the message so the conversation can continue under it."""
    await cb.answer()
    assert isinstance(cb.message, Message)
    with suppress(TelegramBadRequest):  # already without buttons: a repeated tap
        await cb.message.edit_reply_markup(reply_markup=None)
    return cb.message


async def toast(cb: CallbackQuery, app: App, locale: str, code: str, *, alert: bool = False, **args: Any) -> None:
    """A short answer to a button press (≤200 characters)."""
    await cb.answer(plain(app.renderer.render("toast", locale, code=code, **args))[:200], show_alert=alert)


async def reachable(app: App, user_id: int) -> None:
    """A private answer needs a private chat: someone who never started the bot (or blocked it)
    is told so where they are, instead of the answer going nowhere."""
    async with app.db.read() as s:
        user = await s.get(User, user_id)
    if user is None or not user.started or user.blocked:
        raise NotAllowed("start_bot_first")


def private_state(storage: BaseStorage, bot_id: int, user_id: int) -> FSMContext:
    """The conversation state of a person's private chat, from a press in a group."""
    return FSMContext(storage=storage, key=StorageKey(bot_id=bot_id, chat_id=user_id, user_id=user_id))


TYPED = F.text & ~F.text.startswith("/")  # what a step waiting for text accepts: a command is not an answer


SKIP = [[Button("skip", pack(Act.SKIP))]]


async def dm(cb: CallbackQuery, bot: Bot, app: App, locale: str, template: str, *,
             buttons: list[list[Button]] | None = None, **ctx: Any) -> None:
    """Continue a press privately with the presser (it may have come from a group)."""
    await reachable(app, cb.from_user.id)
    await bot.send_message(cb.from_user.id, app.renderer.render(template, locale, **ctx),
                           reply_markup=kb(app, buttons, locale))
    private = cb.message is not None and cb.message.chat.type == "private"
    await (cb.answer() if private else toast(cb, app, locale, "see_private"))


async def ask_note(cb: CallbackQuery, bot: Bot, app: App, locale: str, fsm_storage: BaseStorage,
                   state: State, data: dict[str, Any], template: str, *, skippable: bool = False,
                   **ctx: Any) -> None:
    """Wait for the presser's typed note in their private chat."""
    ctx_state = private_state(fsm_storage, bot.id, cb.from_user.id)
    await ctx_state.set_state(state)
    await ctx_state.set_data(data)
    await dm(cb, bot, app, locale, template, buttons=SKIP if skippable else None, **ctx)


async def cancel_button(cb: CallbackQuery, state: FSMContext, app: App, locale: str) -> None:
    await state.clear()
    await show(cb, app, locale, "cancelled")


async def cancel_command(message: Message, state: FSMContext, app: App, locale: str) -> None:
    had = await state.get_state() is not None
    await state.clear()
    await say(message, app, locale, "cancelled", nothing=not had)


def make_router() -> Router:
    """/cancel and the Cancel button leave whichever conversation the person is in (intake,
    a note for triage, a proposal, a survey)."""
    router = Stage(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(cancel_command, Command("cancel"))
    router.callback_query.register(cancel_button, CancelPress.filter())
    return router
