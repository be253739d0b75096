"""Submitting a micro-wish in private chat (/wish), or for a resident in difficulty (/wishfor
<name>, grid leaders and staff): category → what → why → budget cap → photo (optional) →
delivery details (optional, private) → summary → Confirm. Kept in the FSM (survives restarts);
/cancel leaves at any step."""
from __future__ import annotations

import re

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from bot import policy
from bot.app import App
from bot.callbacks import Act, ConfirmPress, SkipPress, WishCategoryPress, pack
from bot.errors import BadInput, NotAllowed
from bot.i18n import clean_user_text
from bot.render import Button
from bot.services.context import Actor
from bot.services.wishes import MAX_CONTACT, MAX_REASON, MAX_TITLE, WishDraft, WishService, wish_settings
from handlers.common import TYPED, say, settle, show
from handlers.routing import Stage


class WishIntake(StatesGroup):
    category = State()
    title = State()
    reason = State()
    budget = State()
    photo = State()
    contact = State()
    confirm = State()


CANCEL = [[Button("cancel", pack(Act.CANCEL))]]
SKIP = [[Button("skip", pack(Act.SKIP)), Button("cancel", pack(Act.CANCEL))]]
_DIGITS = re.compile(r"\d+")


def service(app: App) -> WishService:
    return WishService(app.db, app.notifier)


async def wish(message: Message, state: FSMContext, actor: Actor, app: App, locale: str,
               on_behalf: str | None = None) -> None:
    if actor.community is None or not actor.memberships:
        raise NotAllowed("no_community")
    cats = wish_settings(actor.community)["wish_categories"]
    await state.set_state(WishIntake.category)
    await state.set_data({"on_behalf": on_behalf})
    cells = [Button(f"wcat_{c}", pack(Act.WISH_CAT, i)) for i, c in enumerate(cats)]
    await say(message, app, locale, "wish_ask", step="category", on_behalf=on_behalf,
              buttons=[cells[i:i + 2] for i in range(0, len(cells), 2)] + CANCEL)


async def wish_for(message: Message, command: CommandObject, state: FSMContext, actor: Actor, app: App,
                   locale: str) -> None:
    """/wishfor <name>: a grid leader submits for a resident met door to door (no Telegram)."""
    if actor.community is None or not policy.may_file_for(actor.memberships, actor.community.id):
        raise NotAllowed("leaders_only")
    name = clean_user_text(command.args or "")[:64]
    if not name:
        raise BadInput("wishfor_usage")
    await wish(message, state, actor, app, locale, on_behalf=name)


async def pick_category(cb: CallbackQuery, callback_data: WishCategoryPress, state: FSMContext, actor: Actor, app: App,
                        locale: str) -> None:
    assert actor.community is not None
    cats = wish_settings(actor.community)["wish_categories"]
    if not 0 <= callback_data.category < len(cats):
        raise BadInput("bad_category")
    await state.update_data(category=cats[callback_data.category])
    await state.set_state(WishIntake.title)
    await show(cb, app, locale, "wish_ask", step="title", buttons=CANCEL, limit=MAX_TITLE,
               on_behalf=(await state.get_data()).get("on_behalf"))


def _typed(message: Message, limit: int, code: str) -> str:
    text = clean_user_text(message.text or "")
    if not text:
        raise BadInput(f"{code}_empty")
    if len(text) > limit:
        raise BadInput("note_too_long", limit=limit, length=len(text))
    return text


async def title(message: Message, state: FSMContext, app: App, locale: str) -> None:
    data = await state.update_data(title=_typed(message, MAX_TITLE, "wish_title"))
    await state.set_state(WishIntake.reason)
    await say(message, app, locale, "wish_ask", step="reason", buttons=CANCEL, limit=MAX_REASON,
              on_behalf=data.get("on_behalf"))


async def reason(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    assert actor.community is not None
    data = await state.update_data(reason=_typed(message, MAX_REASON, "wish_reason"))
    await state.set_state(WishIntake.budget)
    await say(message, app, locale, "wish_ask", step="budget", buttons=CANCEL,
              limit=int(wish_settings(actor.community)["wish_budget_max"]), on_behalf=data.get("on_behalf"))


async def budget(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    assert actor.community is not None
    limit = int(wish_settings(actor.community)["wish_budget_max"])
    found = _DIGITS.findall((message.text or "").translate(str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹",
                                                                        "01234567890123456789")))
    amount = int(found[0]) if len(found) == 1 else 0
    if not 0 < amount <= limit:
        raise BadInput("wish_budget", limit=limit)
    await state.update_data(budget=amount)
    await state.set_state(WishIntake.photo)
    await say(message, app, locale, "wish_ask", step="photo", buttons=SKIP)


async def photo(message: Message, state: FSMContext, app: App, locale: str) -> None:
    assert message.photo
    data = await state.update_data(photo=message.photo[-1].file_id)
    await _ask_contact(message, state, app, locale, data)


async def _ask_contact(message: Message, state: FSMContext, app: App, locale: str, data: dict) -> None:
    await state.set_state(WishIntake.contact)
    await say(message, app, locale, "wish_ask", step="contact", buttons=SKIP, limit=MAX_CONTACT,
              on_behalf=data.get("on_behalf"))


async def contact(message: Message, state: FSMContext, app: App, locale: str) -> None:
    text = clean_user_text(message.text or "")
    if len(text) > MAX_CONTACT:
        raise BadInput("note_too_long", limit=MAX_CONTACT, length=len(text))
    await state.update_data(contact=text or None)
    await _summary(message, state, app, locale)


async def skip(cb: CallbackQuery, state: FSMContext, app: App, locale: str) -> None:
    current = await state.get_state()
    message = await settle(cb)
    if current == WishIntake.photo.state:
        await _ask_contact(message, state, app, locale, await state.get_data())
    else:
        await _summary(message, state, app, locale)


async def _summary(message: Message, state: FSMContext, app: App, locale: str) -> None:
    await state.set_state(WishIntake.confirm)
    await say(message, app, locale, "wish_summary", d=await state.get_data(),
              buttons=[[Button("confirm", pack(Act.CONFIRM)), Button("cancel", pack(Act.CANCEL))]])


async def confirm(cb: CallbackQuery, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    d = await state.get_data()
    if not d.get("title"):
        raise BadInput("stale")
    v = await service(app).submit(actor, WishDraft(
        title=d["title"], reason=d.get("reason", ""), budget=int(d.get("budget") or 0),
        category=d.get("category") or "other", photo=d.get("photo"), contact_note=d.get("contact"),
        on_behalf_name=d.get("on_behalf")))
    await state.clear()
    await show(cb, app, locale, "wish_filed", **v.ctx())


async def wrong_input(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    """Anything else while a step waits for something specific: the question again."""
    assert actor.community is not None
    step = (await state.get_state() or "").split(":")[-1]
    limit = {"title": MAX_TITLE, "reason": MAX_REASON, "contact": MAX_CONTACT,
             "budget": int(wish_settings(actor.community)["wish_budget_max"])}.get(step, 0)
    await say(message, app, locale, "wish_ask", step=step, again=True, limit=limit,
              on_behalf=(await state.get_data()).get("on_behalf"))


def make_router() -> Router:
    router = Stage(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(wish, Command("wish"))
    router.message.register(wish_for, Command("wishfor"))
    router.callback_query.register(pick_category, WishCategoryPress.filter(), WishIntake.category)
    router.message.register(title, WishIntake.title, TYPED)
    router.message.register(reason, WishIntake.reason, TYPED)
    router.message.register(budget, WishIntake.budget, TYPED)
    router.message.register(photo, WishIntake.photo, F.photo)
    router.message.register(contact, WishIntake.contact, TYPED)
    router.callback_query.register(skip, SkipPress.filter(), StateFilter(WishIntake.photo, WishIntake.contact))
    router.callback_query.register(confirm, ConfirmPress.filter(), WishIntake.confirm)
    router.message.register(wrong_input, StateFilter(WishIntake), ~F.text.startswith("/"))
    return router
