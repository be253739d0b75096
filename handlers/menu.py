"""The services list (服务清单): /services → category → service → slot → an optional note, and
the order is placed (点单); staff dispatch it (下单) and the provider accepts it (接单) from their
cards. Staff define services with /addservice, /servicename and /addslot. /needs: the needs list."""
from __future__ import annotations

from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from bot.app import App
from bot.callbacks import (Act, NeedsPagePress, OrderPress, ServiceCategoryPress, ServicePress, SkipPress, SlotPress,
                           pack)
from bot.errors import BadInput, NotAllowed
from bot.i18n import clean_user_text
from bot.render import Button
from bot.services.community import category_of, settings_of
from bot.services.context import Actor
from bot.services.menu import PAGE, MOp, parse_when
from bot.services.needs import PAGE as NEEDS_PAGE
from bot.services.reports import _add_months, month
from handlers.common import TYPED, kb, reachable, say, show, toast
from handlers.routing import Stage
from handlers.tasks import pager
from storage.models import utcnow

NEEDS_MONTHS = 3  # the needs list covers this month and the two before


class Ordering(StatesGroup):
    note = State()  # data: slot


def _private(message_or_cb: Message | CallbackQuery) -> bool:
    chat = message_or_cb.chat if isinstance(message_or_cb, Message) else (
        message_or_cb.message.chat if message_or_cb.message else None)
    return chat is not None and chat.type == "private"


# ----------------------------------------------------------------- residents: the menu
async def _categories_view(actor: Actor, app: App) -> tuple[dict, list[list[Button]]]:
    cats = await app.menu.categories(actor)
    assert actor.community is not None
    known = list(settings_of(actor.community)["categories"])
    buttons = [[Button(category=category_of(actor.community, cat), data=pack(Act.SVC_CAT, known.index(cat), 0))]
               for cat, _ in cats]
    return {"categories": cats, "community": actor.community}, buttons


async def services_command(message: Message, actor: Actor, app: App, bot: Bot, locale: str) -> None:
    ctx, buttons = await _categories_view(actor, app)
    if _private(message):
        await say(message, app, locale, "services_menu", buttons=buttons, **ctx)
        return
    await reachable(app, actor.id)  # the menu and the order go on in private chat
    await bot.send_message(actor.id, app.renderer.render("services_menu", locale, **ctx),
                           reply_markup=kb(app, buttons, locale))
    await say(message, app, locale, "toast", code="see_private")


async def category(cb: CallbackQuery, callback_data: ServiceCategoryPress, actor: Actor, app: App,
                   locale: str) -> None:
    index, page = callback_data.category, callback_data.page
    if actor.community is None:
        raise NotAllowed("no_community")
    known = list(settings_of(actor.community)["categories"])
    if not 0 <= index < len(known) or page < 0:
        raise BadInput("stale")
    cat = known[index]
    rows, total = await app.menu.services(actor, cat, offset=page * PAGE)
    buttons = [[Button(text=f"{svc.name} ({free})", data=pack(Act.SERVICE, svc.id or 0),
                       names={loc: f"{name} ({free})" for loc, name in (svc.names or {}).items()})]
               for svc, free in rows]
    nav = [Button(text=b.text, data=pack(Act.SVC_CAT, index, int(b.data.split(":")[-1])))
           for b in pager(0, page, total, PAGE) if b.data]
    await show(cb, app, locale, "services_list", buttons=buttons + ([nav] if nav else []), category=cat,
               rows=rows, total=total, community=actor.community)


async def service(cb: CallbackQuery, callback_data: ServicePress, actor: Actor, app: App, locale: str) -> None:
    svc, slots = await app.menu.slots(actor, callback_data.service)
    tz = actor.community.timezone if actor.community else None
    buttons = [[Button(text=app.renderer.render("slot_button", locale, slot=sl, tz=tz),
                       data=pack(Act.SLOT, sl.id or 0))] for sl in slots if sl.taken < sl.capacity]
    await show(cb, app, locale, "service_detail", buttons=buttons, service=svc, slots=slots, tz=tz,
               community=actor.community)


async def slot(cb: CallbackQuery, callback_data: SlotPress, state: FSMContext, actor: Actor, app: App,
               locale: str) -> None:
    svc, sl = await app.menu.check_slot(actor, callback_data.slot)
    if not _private(cb):
        raise BadInput("stale")  # the menu lives in private chat
    await state.set_state(Ordering.note)
    await state.set_data({"slot": sl.id})
    tz = actor.community.timezone if actor.community else None
    await show(cb, app, locale, "order_note_ask", buttons=[[Button("skip", pack(Act.SKIP))]], service=svc,
               slot=sl, tz=tz)


async def _place(state: FSMContext, actor: Actor, app: App, note: str | None):
    data = await state.get_data()
    ov = await app.menu.order(actor, int(data["slot"]), note)
    await state.clear()
    return ov


async def note_typed(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    ov = await _place(state, actor, app, clean_user_text(message.text or ""))
    await say(message, app, locale, "order_placed", **ov.ctx())


async def note_skipped(cb: CallbackQuery, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    ov = await _place(state, actor, app, None)
    await show(cb, app, locale, "order_placed", **ov.ctx())


# ----------------------------------------------------------------- 下单 / 接单
# One handler per order button (the service checks who: staff dispatch or decline, the volunteer accepts).
async def dispatch_order(cb: CallbackQuery, callback_data: OrderPress, actor: Actor, app: App, locale: str) -> None:
    ov = await app.menu.dispatch(actor, callback_data.req)
    await toast(cb, app, locale, "order_dispatched", no=ov.v.no)


async def decline_order(cb: CallbackQuery, callback_data: OrderPress, actor: Actor, app: App, locale: str) -> None:
    ov = await app.menu.decline(actor, callback_data.req)
    await toast(cb, app, locale, "order_declined", no=ov.v.no)


async def accept_order(cb: CallbackQuery, callback_data: OrderPress, actor: Actor, app: App, locale: str) -> None:
    ov = await app.menu.accept(actor, callback_data.req)
    await toast(cb, app, locale, "order_accepted", no=ov.v.no)


async def stale_order(cb: CallbackQuery) -> None:
    raise BadInput("stale")


# ----------------------------------------------------------------- staff: defining services
async def add_service(message: Message, command: CommandObject, actor: Actor, app: App, locale: str) -> None:
    """/addservice <category> <community|volunteers> <languages|all> [grid=<micro-grid>] <name>"""
    parts = (command.args or "").split()
    if len(parts) < 4:
        raise BadInput("service_usage", categories=_cats(actor), choices=", ".join(app.renderer.locales))
    category, provider, langs, *rest = parts
    grid = None
    if rest and rest[0].startswith("grid="):
        grid = rest.pop(0)[5:]
    svc = await app.menu.define(actor, category=category, provider=provider, languages=langs.split(","),
                                name=" ".join(rest), grid=grid, locales=app.renderer.locales)
    await say(message, app, locale, "service_defined", service=svc, community=actor.community)


def _cats(actor: Actor) -> str:
    return ", ".join(settings_of(actor.community)["categories"]) if actor.community else ""


async def service_name(message: Message, command: CommandObject, actor: Actor, app: App, locale: str) -> None:
    """/servicename <id> <language> <name>"""
    ref, lang, *rest = (command.args or "").split(maxsplit=2) + ["", ""]
    if not ref.lstrip("Ss").isdigit() or lang not in app.renderer.locales or not rest[0].strip():
        raise BadInput("servicename_usage", choices=", ".join(app.renderer.locales))
    svc = await app.menu.rename(actor, int(ref.lstrip("Ss")), lang, rest[0])
    await say(message, app, locale, "service_defined", service=svc, renamed=lang, community=actor.community)


async def add_slot(message: Message, command: CommandObject, actor: Actor, app: App, locale: str) -> None:
    """/addslot <id> <YYYY-MM-DD> <HH:MM> <capacity>"""
    parts = (command.args or "").split()
    if len(parts) != 4 or not parts[0].lstrip("Ss").isdigit() or not parts[3].isdigit() or actor.community is None:
        raise BadInput("slot_usage")
    when = parse_when(actor.community, parts[1], parts[2])
    sl = await app.menu.add_slot(actor, int(parts[0].lstrip("Ss")), when, int(parts[3]))
    await say(message, app, locale, "slot_added", slot=sl, tz=actor.community.timezone)


# ----------------------------------------------------------------- the needs list
async def _needs_page(actor: Actor, app: App, page: int) -> tuple[dict, list[list[Button]]]:
    if actor.community is None:
        raise NotAllowed("no_community")
    now = utcnow()
    tz = actor.community.timezone
    this = month(now.astimezone(ZoneInfo(tz)).date(), tz)
    first = month(_add_months(this.first, -(NEEDS_MONTHS - 1)), tz)
    rows, total = await app.needs.listing(actor, first.start, this.end, offset=page * NEEDS_PAGE)
    nav = [Button(text=b.text, data=pack(Act.NEEDS_PAGE, int(b.data.split(":")[-1])))
           for b in pager(0, page, total, NEEDS_PAGE) if b.data]
    return ({"rows": rows, "total": total, "since": first.label, "until": this.label, "community": actor.community},
            [nav] if nav else [])


async def needs_command(message: Message, actor: Actor, app: App, locale: str) -> None:
    ctx, buttons = await _needs_page(actor, app, 0)
    await say(message, app, locale, "needs_list", buttons=buttons, **ctx)


async def needs_page(cb: CallbackQuery, callback_data: NeedsPagePress, actor: Actor, app: App, locale: str) -> None:
    if callback_data.page < 0:
        raise BadInput("stale")
    ctx, buttons = await _needs_page(actor, app, callback_data.page)
    await show(cb, app, locale, "needs_list", buttons=buttons, **ctx)


def make_router() -> Router:
    router = Stage(name=__name__)
    router.message.register(services_command, Command("services"))
    router.message.register(add_service, Command("addservice"))
    router.message.register(service_name, Command("servicename"))
    router.message.register(add_slot, Command("addslot"))
    router.message.register(needs_command, Command("needs"))
    router.callback_query.register(category, ServiceCategoryPress.filter())
    router.callback_query.register(service, ServicePress.filter())
    router.callback_query.register(slot, SlotPress.filter())
    router.callback_query.register(note_skipped, SkipPress.filter(), Ordering.note)
    for op, handler in ((MOp.DISPATCH, dispatch_order), (MOp.DECLINE, decline_order), (MOp.ACCEPT, accept_order)):
        router.callback_query.register(handler, OrderPress.filter(F.op == op))
    router.callback_query.register(stale_order, OrderPress.filter())
    router.callback_query.register(needs_page, NeedsPagePress.filter())
    router.message.register(note_typed, StateFilter(Ordering.note), TYPED, F.chat.type == "private")
    return router
