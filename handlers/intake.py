"""Filing a request in private chat: a guided conversation kept in the FSM (survives restarts).

/new → category → description → photos (≤3) → location → micro-grid → private contact note →
summary with similar open requests → Confirm / Edit / Cancel. /cancel leaves at any step.
"""
from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command, CommandObject, StateFilter
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import CallbackQuery, Message

from bot.app import App
from bot.callbacks import Act, CategoryPress, ConfirmPress, EditPress, FollowPress, IntakeGridPress, SkipPress, pack
from bot.errors import BadInput, NotAllowed
from bot.filters import CommunityRole
from bot.i18n import clean_user_text
from bot.render import Button
from bot.services.community import categories_of, settings_of
from bot.services.context import Actor
from bot.services.requests import MAX_DESCRIPTION, MAX_NOTE, MAX_PHOTOS, Draft
from handlers.routing import Stage
from storage.models import Role
from handlers.common import TYPED, grid_buttons, say, settle, show


class Intake(StatesGroup):
    category = State()
    description = State()
    photos = State()
    location = State()
    grid = State()
    contact = State()
    confirm = State()


SKIP = [[Button("skip", pack(Act.SKIP)), Button("cancel", pack(Act.CANCEL))]]
CANCEL = [[Button("cancel", pack(Act.CANCEL))]]


def _categories(actor: Actor) -> list[str]:
    return settings_of(actor.community)["categories"] if actor.community else []


async def new(message: Message, state: FSMContext, actor: Actor, app: App, locale: str,
              on_behalf: str | None = None) -> None:
    if actor.community is None:
        raise NotAllowed("no_community")
    await state.set_state(Intake.category)
    offered = categories_of(actor.community)
    # The buttons' indexes point into the categories offered now: kept, so a category staff remove
    # meanwhile does not shift a press onto another one (filing it then is refused: bad_category).
    await state.set_data({"on_behalf": on_behalf, "photos": [], "offered": [c.code for c in offered]})
    cats = [Button(category=c, data=pack(Act.CATEGORY, i)) for i, c in enumerate(offered)]
    buttons = [cats[i:i + 2] for i in range(0, len(cats), 2)] + CANCEL
    await say(message, app, locale, "ask_category", buttons=buttons, on_behalf=on_behalf)


async def on_behalf(message: Message, command: CommandObject, state: FSMContext, actor: Actor,
                    app: App, locale: str) -> None:
    """/onbehalf <name>: a grid leader files for a resident met door to door (CommunityRole)."""
    name = clean_user_text(command.args or "")[:64]
    if not name:
        raise BadInput("onbehalf_usage")
    await new(message, state, actor, app, locale, on_behalf=name)


async def pick_category(cb: CallbackQuery, callback_data: CategoryPress, state: FSMContext, actor: Actor,
                        app: App, locale: str) -> None:
    cats = (await state.get_data()).get("offered") or _categories(actor)
    if not 0 <= callback_data.category < len(cats):
        raise BadInput("bad_category")
    await state.update_data(category=cats[callback_data.category])
    await state.set_state(Intake.description)
    await show(cb, app, locale, "ask_description", buttons=CANCEL, category=cats[callback_data.category],
               community=actor.community, limit=MAX_DESCRIPTION)


async def description(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    text = clean_user_text(message.text or "")
    if not text:
        raise BadInput("description_empty")
    if len(text) > MAX_DESCRIPTION:
        raise BadInput("description_too_long", limit=MAX_DESCRIPTION, length=len(text))
    data = await state.update_data(description=text)
    if data.get("editing"):
        await _summary(message, state, actor, app, locale)
        return
    await state.set_state(Intake.photos)
    await say(message, app, locale, "ask_photos", buttons=SKIP, limit=MAX_PHOTOS)


async def photo(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    data = await state.get_data()
    photos = [*data.get("photos", []), message.photo[-1].file_id][:MAX_PHOTOS]
    await state.update_data(photos=photos)
    if len(photos) >= MAX_PHOTOS:
        await _ask_location(message, state, app, locale)
    else:
        await say(message, app, locale, "photo_saved", buttons=[[Button("next", pack(Act.SKIP))]],
                  count=len(photos), limit=MAX_PHOTOS)


async def _ask_location(message: Message, state: FSMContext, app: App, locale: str) -> None:
    await state.set_state(Intake.location)
    await say(message, app, locale, "ask_location", buttons=SKIP)


async def location(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    loc = message.location
    await state.update_data(lat=loc.latitude, lon=loc.longitude)
    await _ask_grid(message, state, actor, app, locale)


async def _ask_grid(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    assert actor.community is not None
    grids = await app.communities.grids(actor.community.id)
    if not grids:
        await _ask_contact(message, state, app, locale)
        return
    await state.set_state(Intake.grid)
    await say(message, app, locale, "ask_grid", buttons=grid_buttons(grids, actor.grid_id, Act.INTAKE_GRID) + CANCEL)


async def pick_grid(cb: CallbackQuery, callback_data: IntakeGridPress, state: FSMContext, actor: Actor,
                    app: App, locale: str) -> None:
    assert actor.community is not None
    grids = {g.id: g for g in await app.communities.grids(actor.community.id)}
    if callback_data.grid not in grids:
        raise BadInput("grid_not_found", name=str(callback_data.grid))
    await state.update_data(grid_id=callback_data.grid)
    message = await settle(cb)
    await _ask_contact(message, state, app, locale)


async def _ask_contact(message: Message, state: FSMContext, app: App, locale: str) -> None:
    await state.set_state(Intake.contact)
    await say(message, app, locale, "ask_contact", buttons=SKIP)


async def contact(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    text = clean_user_text(message.text or "")
    if len(text) > MAX_NOTE:
        raise BadInput("note_too_long", limit=MAX_NOTE, length=len(text))
    await state.update_data(contact=text or None)
    await _summary(message, state, actor, app, locale)


async def skip(cb: CallbackQuery, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    """Skip (or finish) the optional step the conversation is at."""
    current = await state.get_state()
    message = await settle(cb)
    if current == Intake.photos.state:
        await _ask_location(message, state, app, locale)
    elif current == Intake.location.state:
        await _ask_grid(message, state, actor, app, locale)
    elif current == Intake.contact.state:
        await _summary(message, state, actor, app, locale)


async def _summary(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    await state.set_state(Intake.confirm)
    data = await state.get_data()
    similar = await app.requests.similar_open(actor, data.get("category"), data.get("grid_id"))
    buttons = [[Button(text=f"👥 {v.no}", data=pack(Act.FOLLOW, v.req.id or 0))] for v in similar]
    buttons.append([Button("confirm", pack(Act.CONFIRM)), Button("edit", pack(Act.EDIT)),
                    Button("cancel", pack(Act.CANCEL))])
    grid = None
    if data.get("grid_id") and actor.community:
        grid = next((g for g in await app.communities.grids(actor.community.id) if g.id == data["grid_id"]), None)
    await say(message, app, locale, "summary", buttons=buttons, d=data, grid=grid, similar=similar,
              community=actor.community)


async def confirm(cb: CallbackQuery, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    data = await state.get_data()
    if not data.get("description"):
        raise BadInput("stale")
    draft = Draft(description=data["description"], category=data.get("category"), grid_id=data.get("grid_id"),
                  photos=data.get("photos", []), latitude=data.get("lat"), longitude=data.get("lon"),
                  contact_note=data.get("contact"), on_behalf_name=data.get("on_behalf"))
    v = await app.requests.file(actor, draft)
    await state.clear()
    await show(cb, app, locale, "filed", no=v.no, r=v.req)


async def edit(cb: CallbackQuery, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    await state.update_data(editing=True)
    await state.set_state(Intake.description)
    await show(cb, app, locale, "ask_description", buttons=CANCEL, category=(await state.get_data()).get("category"),
               community=actor.community, limit=MAX_DESCRIPTION)


async def follow(cb: CallbackQuery, callback_data: FollowPress, state: FSMContext, actor: Actor, app: App,
                 locale: str) -> None:
    data = await state.get_data()
    v = await app.requests.follow(actor, callback_data.req, data.get("category"), data.get("grid_id"))
    await state.clear()
    await show(cb, app, locale, "following", no=v.no)


async def wrong_input(message: Message, state: FSMContext, app: App, locale: str) -> None:
    """Anything else while a step waits for something specific: say what it waits for."""
    await say(message, app, locale, "step_hint", step=(await state.get_state() or "").split(":")[-1])


def make_router() -> Router:
    router = Stage(name=__name__)
    router.message.filter(F.chat.type == "private")
    router.callback_query.filter(F.message.chat.type == "private")
    router.message.register(new, Command("new"))
    router.message.register(on_behalf, Command("onbehalf"),
                            CommunityRole(Role.STAFF, Role.GRID_LEADER, refusal="leaders_only"))
    router.callback_query.register(pick_category, CategoryPress.filter(), Intake.category)
    router.message.register(description, Intake.description, TYPED)
    router.message.register(photo, Intake.photos, F.photo)
    router.message.register(location, Intake.location, F.location)
    router.callback_query.register(pick_grid, IntakeGridPress.filter(), Intake.grid)
    router.message.register(contact, Intake.contact, TYPED)
    router.callback_query.register(skip, SkipPress.filter(),
                                   StateFilter(Intake.photos, Intake.location, Intake.contact))
    router.callback_query.register(confirm, ConfirmPress.filter(), Intake.confirm)
    router.callback_query.register(edit, EditPress.filter(), Intake.confirm)
    router.callback_query.register(follow, FollowPress.filter(), Intake.confirm)  # only what the summary offered
    router.message.register(wrong_input, StateFilter(Intake), ~F.text.startswith("/"))
    return router
