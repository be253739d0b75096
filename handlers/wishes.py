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
from bot.callbacks import Act, pack
from bot.errors import BadInput, NotAllowed
from bot.i18n import clean_user_text
from bot.privacy import group_context
from bot.render import Button
from bot.services.context import Actor
from bot.services.wishes import MAX_REASON, MAX_TITLE, WishOp, claim_buttons
from handlers.common import TYPED, Cb, say, settle, show, toast
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


async def board_more(cb: CallbackQuery, ids: tuple[int, ...], actor: Actor, app: App, locale: str) -> None:
    if ids[0] < 0:
        raise BadInput("stale")
    ctx, buttons = await board_page(actor, app, ids[0])
    await show(cb, app, locale, "wish_list", buttons=buttons, **ctx)


async def mine_command(message: Message, actor: Actor, app: App, locale: str) -> None:
    """/mywishes, in private chat only: it names the wishers' own words."""
    if message.chat.type != "private":
        raise NotAllowed("private_only_wishes")
    own, doing, pledge = await service(app).mine(actor)
    await say(message, app, locale, "wish_mine", own=[v.ctx() for v in own], doing=[v.ctx() for v in doing],
              pledge=pledge)


async def press(cb: CallbackQuery, ids: tuple[int, ...], state: FSMContext, actor: Actor, app: App,
                locale: str) -> None:
    wish_id, op = ids
    svc = service(app)
    private = cb.message is not None and cb.message.chat.type == "private"
    if op == WishOp.CLAIM:
        v, already = await svc.claim(actor, wish_id)
        await toast(cb, app, locale, "wish_yours_already" if already else "wish_claimed", no=v.no)
        return
    if not private:
        raise BadInput("stale")  # screening, delivery and confirmation buttons live in private chat only
    if op == WishOp.APPROVE:
        v = await svc.approve(actor, wish_id)
        await show(cb, app, locale, "wish_screened", actor_name=actor.user.first_name, **v.ctx())
    elif op in (WishOp.EDIT, WishOp.REJECT):
        v = await svc.check_screen(actor, wish_id)
        await state.set_state(WishNotes.public_text if op == WishOp.EDIT else WishNotes.reject)
        await state.set_data({"wish": wish_id})
        await settle(cb)
        await say(cb.message, app, locale, "wish_ask", step="public_text" if op == WishOp.EDIT else "reject",  # type: ignore[arg-type]
                  limit=MAX_TITLE if op == WishOp.EDIT else MAX_REASON, on_behalf=None, **v.ctx())
    elif op == WishOp.DELIVER:
        v = await svc.check_fulfiller(actor, wish_id)
        await state.set_state(WishNotes.photo)
        await state.set_data({"wish": wish_id})
        await settle(cb)
        await say(cb.message, app, locale, "wish_ask", step="delivery_photo", limit=0, on_behalf=None,  # type: ignore[arg-type]
                  **v.ctx())
    elif op == WishOp.RELEASE:
        v = await svc.release(actor, wish_id)
        await settle(cb)
        await say(cb.message, app, locale, "wish_done", action="released", **v.ctx())  # type: ignore[arg-type]
    elif op == WishOp.CONFIRM:
        v, paid = await svc.confirm(actor, wish_id)
        await settle(cb)
        await say(cb.message, app, locale, "wish_done", action="fulfilled", paid=paid, **v.ctx())  # type: ignore[arg-type]
    else:
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
    router = Router(name=__name__)
    private = F.chat.type == "private"
    router.message.register(board_command, Command("wishes"))
    router.message.register(mine_command, Command("mywishes"))
    router.callback_query.register(press, Cb(Act.WISH))
    router.callback_query.register(board_more, Cb(Act.WISH_PAGE))
    router.message.register(public_text, WishNotes.public_text, TYPED, private)
    router.message.register(reject_note, WishNotes.reject, TYPED, private)
    router.message.register(delivery_photo, WishNotes.photo, F.photo, private)
    router.message.register(photo_expected, WishNotes.photo, private, ~F.text.startswith("/"))
    return router


__all__ = ["claim_buttons", "make_router"]
