"""Partner organisations (共建单位): registering them (/partner add, /partners), their resources
(/resource, /resources; routing a request to one while triaging; the partner's answer), and
points redeemed at them (/item, /items, redeeming, /confirm)."""
from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import CallbackQuery, Message

from bot.app import App
from bot.callbacks import (Act, ItemsPress, PartnerAnswerPress, RedeemBackPress, RedeemPress, ResourcesPress,
                           RouteBackPress, RoutePress, RouteToPress, pack)
from bot.errors import BadInput
from bot.i18n import clean_user_text
from bot.render import Button
from bot.services.context import Actor
from bot.services.partners import KINDS as PARTNER_KINDS, MAX_HOURS
from bot.services.resources import KINDS as RESOURCE_KINDS, parse_offer
from bot.services.rewards import parse_item
from handlers.common import TYPED, say, show
from handlers.routing import Stage
from handlers.triage import ask_note, dm

PAGE = 5


class PartnerNotes(StatesGroup):
    decline = State()  # data: route


def pager(act: Act, key: int, page: int, total: int, size: int = PAGE) -> list[list[Button]]:
    pages = max(1, -(-total // size))
    if pages == 1:
        return []
    row = []
    if page > 0:
        row.append(Button(text="‹", data=pack(act, key, page - 1)))
    row.append(Button(text=f"{page + 1}/{pages}", data=pack(act, key, page)))
    if page + 1 < pages:
        row.append(Button(text="›", data=pack(act, key, page + 1)))
    return [row]


# ----------------------------------------------------------------- partners
async def partner_command(message: Message, command: CommandObject, actor: Actor, app: App, locale: str) -> None:
    """/partner add <kind> <name> — staff register a partner organisation;
    /partner hours <partner> <hours> — staff record hours it gave."""
    sub, _, rest = (command.args or "").strip().partition(" ")
    if sub.lower() == "hours":
        ref, _, hours = rest.strip().rpartition(" ")
        if not ref.strip() or not hours.isdigit():
            raise BadInput("partner_hours_usage", limit=MAX_HOURS)
        partner = await app.partners.log_hours(actor, ref, int(hours))
        await say(message, app, locale, "partner_hours", partner=partner, hours=int(hours))
        return
    kind, _, name = rest.strip().partition(" ")
    if sub.lower() != "add" or not name.strip():
        raise BadInput("partner_kind", kinds=", ".join(PARTNER_KINDS))
    partner = await app.partners.register(actor, kind, name)
    await say(message, app, locale, "partner_registered", partner=partner)


async def partners_command(message: Message, command: CommandObject, actor: Actor, app: App, locale: str) -> None:
    """/partners [page] — staff: partners with their members and contribution."""
    arg = (command.args or "").strip()
    page = max(int(arg) - 1, 0) if arg.isdigit() else 0
    rows, total = await app.partners.listing(actor, offset=page * 10, limit=10)
    await say(message, app, locale, "partner_list", rows=rows, total=total, page=page + 1,
              pages=max(1, -(-total // 10)))


# ----------------------------------------------------------------- resources
async def resource_command(message: Message, command: CommandObject, actor: Actor, app: App, locale: str) -> None:
    """/resource add <kind> <title> [| availability] [| amount]; /resource off <number>"""
    sub, _, rest = (command.args or "").strip().partition(" ")
    if sub.lower() == "off" and rest.strip().isdigit():
        res = await app.resources.withdraw(actor, int(rest.strip()))
        await say(message, app, locale, "resource_added", resource=res, partner=None, withdrawn=True)
        return
    if sub.lower() != "add":
        raise BadInput("resource_usage", kinds=", ".join(RESOURCE_KINDS))
    row = await app.resources.add(actor, *parse_offer(rest))
    await say(message, app, locale, "resource_added", resource=row.resource, partner=row.partner, withdrawn=False)


async def _resource_page(actor: Actor, app: App, page: int) -> tuple[dict, list[list[Button]]]:
    rows, total = await app.resources.listing(actor, offset=page * PAGE, limit=PAGE)
    return {"rows": rows, "total": total}, pager(Act.RESOURCES, 0, page, total)


async def resources_command(message: Message, actor: Actor, app: App, locale: str) -> None:
    """/resources — the resources list (staff, grid leaders, partners' members), a page at a time."""
    ctx, buttons = await _resource_page(actor, app, 0)
    await say(message, app, locale, "resource_list", buttons=buttons or None, **ctx)


async def resources_page(cb: CallbackQuery, callback_data: ResourcesPress, actor: Actor, app: App, locale: str) -> None:
    ctx, buttons = await _resource_page(actor, app, max(callback_data.page, 0))
    await show(cb, app, locale, "resource_list", buttons=buttons or None, **ctx)


async def route_list(cb: CallbackQuery, callback_data: RoutePress, actor: Actor, app: App, bot: Bot, locale: str) -> None:
    """From a triage card (page 0, continues privately) or a page button: where could it go?"""
    req_id, page = callback_data.req, callback_data.page
    v, rows, total = await app.resources.routable(actor, req_id, offset=max(page, 0) * PAGE, limit=PAGE)
    if not rows and page == 0:
        raise BadInput("no_resources")
    buttons = [[Button(text=f"{i + 1 + page * PAGE}. {row.resource.title[:40]}",
                       data=pack(Act.ROUTE_TO, req_id, row.resource.id or 0))] for i, row in enumerate(rows)]
    buttons += pager(Act.ROUTE, req_id, page, total)
    ctx = {"no": v.no, "rows": rows, "start": page * PAGE, "total": total}
    if cb.message is not None and cb.message.chat.type == "private" and page > 0:
        await show(cb, app, locale, "route_pick", buttons=buttons, **ctx)
    else:
        await dm(cb, bot, app, locale, "route_pick", buttons=buttons, **ctx)


async def route_to(cb: CallbackQuery, callback_data: RouteToPress, actor: Actor, app: App, locale: str) -> None:
    v, row, route_id = await app.resources.route(actor, callback_data.req, callback_data.resource)
    await show(cb, app, locale, "triage_done", no=v.no, status=v.req.status,
               buttons=[[Button("take_back", pack(Act.ROUTE_BACK, route_id))]])


async def take_back(cb: CallbackQuery, callback_data: RouteBackPress, actor: Actor, app: App, locale: str) -> None:
    v = await app.resources.take_back(actor, callback_data.route)
    await show(cb, app, locale, "triage_done", no=v.no, status=v.req.status)


async def partner_accepts(cb: CallbackQuery, callback_data: PartnerAnswerPress, actor: Actor, app: App,
                          locale: str) -> None:
    v = await app.resources.answer(actor, callback_data.route, True)
    await show(cb, app, locale, "triage_done", no=v.no, status=v.req.status)


async def partner_declines(cb: CallbackQuery, callback_data: PartnerAnswerPress, app: App, bot: Bot, locale: str,
                           fsm_storage: BaseStorage) -> None:
    """Declining asks for the reason first (privately); the answer is given with it."""
    await ask_note(cb, bot, app, locale, fsm_storage, PartnerNotes.decline, {"route": callback_data.route},
                   "ask_partner_note")


async def partner_note(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    data = await state.get_data()
    v = await app.resources.answer(actor, int(data.get("route", 0)), False, clean_user_text(message.text or ""))
    await state.clear()
    await say(message, app, locale, "triage_done", no=v.no, status=v.req.status)


# ----------------------------------------------------------------- points at partners
async def item_command(message: Message, command: CommandObject, actor: Actor, app: App, locale: str) -> None:
    """/item add <points> <title> [| stock] — a partner's member lists an item."""
    sub, _, rest = (command.args or "").strip().partition(" ")
    if sub.lower() != "add":
        raise BadInput("item_usage")
    row = await app.rewards.add_item(actor, *parse_item(rest))
    await say(message, app, locale, "item_added", item=row.item, partner=row.partner)


async def _item_page(actor: Actor, app: App, page: int) -> tuple[dict, list[list[Button]]]:
    rows, total = await app.rewards.items(actor, offset=page * PAGE, limit=PAGE)
    buttons = [[Button(text=f"🎁 {i + 1 + page * PAGE}. {row.item.title[:40]} · {row.item.points}",
                       data=pack(Act.REDEEM, row.item.id or 0))] for i, row in enumerate(rows)]
    return {"rows": rows, "total": total, "start": page * PAGE}, buttons + pager(Act.ITEMS, 0, page, total)


async def items_command(message: Message, actor: Actor, app: App, locale: str) -> None:
    """/items — what partners offer for points; a tap redeems (in private chat)."""
    ctx, buttons = await _item_page(actor, app, 0)
    private = message.chat.type == "private"
    await say(message, app, locale, "item_list", buttons=(buttons if private else None) or None,
              private=private, **ctx)


async def items_page(cb: CallbackQuery, callback_data: ItemsPress, actor: Actor, app: App, locale: str) -> None:
    ctx, buttons = await _item_page(actor, app, max(callback_data.page, 0))
    await show(cb, app, locale, "item_list", buttons=buttons or None, private=True, **ctx)


async def redeem_item(cb: CallbackQuery, callback_data: RedeemPress, actor: Actor, app: App, bot: Bot,
                      locale: str) -> None:
    red, row, left = await app.rewards.redeem(actor, callback_data.item)
    await dm(cb, bot, app, locale, "redeem_code", code=red.code, item=row.item, partner=row.partner,
             balance=left, expires=red.expires_at, community=actor.community,
             buttons=[[Button("redeem_back", pack(Act.REDEEM_BACK, red.id or 0))]])


async def give_back(cb: CallbackQuery, callback_data: RedeemBackPress, actor: Actor, app: App, locale: str) -> None:
    """An unused code given back: the points return once."""
    red, left = await app.rewards.cancel(actor, callback_data.redemption)
    await show(cb, app, locale, "redeem_back", code=red.code, points=red.points, balance=left)


async def confirm_command(message: Message, command: CommandObject, actor: Actor, app: App, locale: str) -> None:
    """/confirm <code> — a partner's member confirms a resident's code."""
    code = (command.args or "").strip()
    if not code:
        raise BadInput("confirm_usage")
    red, row, resident = await app.rewards.confirm(actor, code)
    await say(message, app, locale, "redeem_checked", code=red.code, item=row.item, partner=row.partner)


def make_router() -> Router:
    router = Stage(name=__name__)
    router.message.register(partner_command, Command("partner"))
    router.message.register(partners_command, Command("partners"))
    router.message.register(resource_command, Command("resource"))
    router.message.register(resources_command, Command("resources"))
    router.message.register(item_command, Command("item"))
    router.message.register(items_command, Command("items"))
    router.message.register(confirm_command, Command("confirm"))
    router.callback_query.register(resources_page, ResourcesPress.filter())
    router.callback_query.register(route_list, RoutePress.filter())
    router.callback_query.register(route_to, RouteToPress.filter())
    router.callback_query.register(take_back, RouteBackPress.filter())
    router.callback_query.register(partner_accepts, PartnerAnswerPress.filter(F.accept == 1))
    router.callback_query.register(partner_declines, PartnerAnswerPress.filter(F.accept == 0))
    router.callback_query.register(items_page, ItemsPress.filter())
    router.callback_query.register(redeem_item, RedeemPress.filter())
    router.callback_query.register(give_back, RedeemBackPress.filter())
    router.message.register(partner_note, StateFilter(PartnerNotes), TYPED, F.chat.type == "private")
    return router
