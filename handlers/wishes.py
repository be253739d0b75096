"""Micro-wishes after submission: staff screening (approve, edit the public text, decline), the
wish board (/wishes, Claim: first tap wins), delivery with a photo, the wisher's thanks and
confirmation, and /mywishes (own wishes, wishes being fulfilled, the yearly pledge)."""
from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from bot import policy
from bot.app import App
from bot.callbacks import Act, WishPagePress, WishPress, pack
from bot.errors import BadInput, NotAllowed
from bot.i18n import clean_user_text
from bot.privacy import group_context
from bot.render import Button
from bot.services.context import Actor
from bot.services.wishes import MAX_REASON, MAX_TITLE, WishOp, claim_buttons
from handlers.common import TYPED, say, settle, show, toast
from handlers.routing import Stage
from handlers.tasks import pager
from handlers.wish_intake import service

PAGE = 5


class WishNotes(StatesGroup):
    public_text = State()  # data: wish
    reject = State()  # data: wish
    photo = State()  # data: wish


async def board_page(actor: Actor, app: App, page: int) -> tuple[dict, list[list[Button]]]:
    views, total = await service(app).board(actor, offset=page * PAGE, limit=PAGE)
    buttons = [[Button(text=f"✋ {v.no}", data=pack(Act.WISH, v.wish.id or 0, WishOp.CLAIM))] for v in views]
    row = pager(0, page, total, PAGE)
    row = [Button(text=b.text, data=pack(Act.WISH_PAGE, int((b.data or "0").split(":")[-1]))) for b in row]
    return {"views": [v.public_ctx() for v in views], "total": total}, buttons + ([row] if row else [])


async def board_command(message: Message, actor: Actor, app: App, locale: str) -> None:
    """/wishes: the board, in private chat or a group bound to the community (public text only)."""
    if message.chat.type != "private" and not policy.group_may_list(actor.binding is not None):
        raise NotAllowed("group_not_bound")
    ctx, buttons = await board_page(actor, app, 0)
    if message.chat.type != "private":
        ctx = group_context(ctx)  # the one gate: a group reads the board's public fields only
    await say(message, app, locale, "wish_list", buttons=buttons, **ctx)


async def board_more(cb: CallbackQuery, callback_data: WishPagePress, actor: Actor, app: App, locale: str) -> None:
    if callback_data.page < 0:
        raise BadInput("stale")
    ctx, buttons = await board_page(actor, app, callback_data.page)
    await show(cb, app, locale, "wish_list", buttons=buttons, **ctx)


async def mine_command(message: Message, actor: Actor, app: App, locale: str) -> None:
    """/mywishes, in private chat only: it names the wishers' own words."""
    if message.chat.type != "private":
        raise NotAllowed("private_only_wishes")
    own, doing, pledge = await service(app).mine(actor)
    await say(message, app, locale, "wish_mine", own=[v.ctx() for v in own], doing=[v.ctx() for v in doing],
              pledge=pledge)


# One handler per wish button. Claiming works wherever the wish is posted; screening, delivery and
# confirmation buttons live in private chat only (pressed elsewhere: stale). The service checks who.
async def claim(cb: CallbackQuery, callback_data: WishPress, actor: Actor, app: App, locale: str) -> None:
    v, already = await service(app).claim(actor, callback_data.wish)
    await toast(cb, app, locale, "wish_yours_already" if already else "wish_claimed", no=v.no)


async def approve(cb: CallbackQuery, callback_data: WishPress, actor: Actor, app: App, locale: str) -> None:
    v = await service(app).approve(actor, callback_data.wish)
    await show(cb, app, locale, "wish_screened", actor_name=actor.user.first_name, **v.ctx())


async def _wait_for(cb: CallbackQuery, state: FSMContext, app: App, locale: str, wish_id: int, step: State,
                    ask: str, limit: int, ctx: dict) -> None:
    """Wait for the presser's text or photo for this wish, asked under the pressed message."""
    await state.set_state(step)
    await state.set_data({"wish": wish_id})
    message = await settle(cb)
    await say(message, app, locale, "wish_ask", step=ask, limit=limit, on_behalf=None, **ctx)


async def edit(cb: CallbackQuery, callback_data: WishPress, state: FSMContext, actor: Actor, app: App,
               locale: str) -> None:
    v = await service(app).check_screen(actor, callback_data.wish)
    await _wait_for(cb, state, app, locale, callback_data.wish, WishNotes.public_text, "public_text", MAX_TITLE,
                    v.ctx())


async def reject(cb: CallbackQuery, callback_data: WishPress, state: FSMContext, actor: Actor, app: App,
                 locale: str) -> None:
    v = await service(app).check_screen(actor, callback_data.wish)
    await _wait_for(cb, state, app, locale, callback_data.wish, WishNotes.reject, "reject", MAX_REASON, v.ctx())


async def deliver(cb: CallbackQuery, callback_data: WishPress, state: FSMContext, actor: Actor, app: App,
                  locale: str) -> None:
    v = await service(app).check_fulfiller(actor, callback_data.wish)
    await _wait_for(cb, state, app, locale, callback_data.wish, WishNotes.photo, "delivery_photo", 0, v.ctx())


async def release(cb: CallbackQuery, callback_data: WishPress, actor: Actor, app: App, locale: str) -> None:
    v = await service(app).release(actor, callback_data.wish)
    message = await settle(cb)
    await say(message, app, locale, "wish_done", action="released", **v.ctx())


async def confirm(cb: CallbackQuery, callback_data: WishPress, actor: Actor, app: App, locale: str) -> None:
    v, paid = await service(app).confirm(actor, callback_data.wish)
    message = await settle(cb)
    await say(message, app, locale, "wish_done", action="fulfilled", paid=paid, **v.ctx())


async def stale(cb: CallbackQuery) -> None:
    raise BadInput("stale")


async def public_text(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    text = clean_user_text(message.text or "")
    v = await service(app).approve(actor, int((await state.get_data())["wish"]), text)
    await state.clear()
    await say(message, app, locale, "wish_screened", actor_name=actor.user.first_name, **v.ctx())


async def reject_note(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    v = await service(app).reject(actor, int((await state.get_data())["wish"]), clean_user_text(message.text or ""))
    await state.clear()
    await say(message, app, locale, "wish_screened", actor_name=actor.user.first_name, **v.ctx())


async def delivery_photo(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    assert message.photo
    v = await service(app).deliver(actor, int((await state.get_data())["wish"]), message.photo[-1].file_id)
    await state.clear()
    await say(message, app, locale, "wish_done", action="delivered", **v.ctx())


async def photo_expected(message: Message, app: App, locale: str) -> None:
    raise BadInput("wish_photo_required")


def make_router() -> Router:
    router = Stage(name=__name__)
    private = F.chat.type == "private"
    router.message.register(board_command, Command("wishes"))
    router.message.register(mine_command, Command("mywishes"))
    router.callback_query.register(claim, WishPress.filter(F.op == WishOp.CLAIM))
    pressed_privately = F.message.chat.type == "private"
    for op, handler in ((WishOp.APPROVE, approve), (WishOp.EDIT, edit), (WishOp.REJECT, reject),
                        (WishOp.DELIVER, deliver), (WishOp.RELEASE, release), (WishOp.CONFIRM, confirm)):
        router.callback_query.register(handler, WishPress.filter(F.op == op), pressed_privately)
    router.callback_query.register(stale, WishPress.filter())
    router.callback_query.register(board_more, WishPagePress.filter())
    router.message.register(public_text, WishNotes.public_text, TYPED, private)
    router.message.register(reject_note, WishNotes.reject, TYPED, private)
    router.message.register(delivery_photo, WishNotes.photo, F.photo, private)
    router.message.register(photo_expected, WishNotes.photo, private, ~F.text.startswith("/"))
    return router


__all__ = ["claim_buttons", "make_router"]
