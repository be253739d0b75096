"""/language, /help, /whoami."""
from __future__ import annotations

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, Message

from bot.app import App
from bot.callbacks import Act, LanguagePress, TranslatePress, pack
from bot.i18n import language_name, normalise
from bot.services.language import detect
from bot.render import Button, local_name
from bot.errors import BadInput, Stale
from bot import notify
from bot.services import users
from bot.services.context import Actor
from handlers.common import reachable, say, show, toast
from handlers.routing import Stage


async def language(message: Message, app: App, locale: str, marked: str | None = None) -> None:
    """The picker, each language in its own name; ✓ marks the current one (or a detected hint)."""
    locales = app.renderer.locales
    marked = marked or locale
    cells = [Button(text=("✓ " if loc == marked else "") + language_name(loc), data=pack(Act.LANG, i))
             for i, loc in enumerate(locales)]
    await say(message, app, locale, "language_pick", buttons=[cells[i:i + 2] for i in range(0, len(cells), 2)])


async def in_my_language(cb: CallbackQuery, callback_data: TranslatePress, actor: Actor, app: App, bot: Bot,
                         locale: str) -> None:
    """A group post too long for two languages, sent privately in the presser's language."""
    texts = await notify.in_every_language(app.db, callback_data.post)
    if not texts:
        raise BadInput("stale")
    await reachable(app, actor.id)
    await bot.send_message(actor.id, texts.get(locale) or next(iter(texts.values())))
    await toast(cb, app, locale, "see_private")


def needs_language(actor: Actor, app: App) -> bool:
    """First contact with no usable Telegram language and no choice yet."""
    return actor.user.locale is None and normalise(actor.user.language_code, app.renderer.locales) is None


async def offer_language(message: Message, actor: Actor, app: App, locale: str) -> None:
    """Offer the picker, pre-selected from what the person wrote (a hint, never a switch)."""
    hint = detect(message.text or "") if message.text and not message.text.startswith("/") else None
    await language(message, app, locale, marked=normalise(hint, app.renderer.locales))


async def pick_language(cb: CallbackQuery, callback_data: LanguagePress, actor: Actor, app: App) -> None:
    locales = app.renderer.locales
    if not 0 <= callback_data.locale < len(locales):
        raise Stale()  # forged or from an older list: answered "no longer available"
    chosen = locales[callback_data.locale]
    await users.set_locale(app.db, actor.id, chosen)
    await show(cb, app, chosen, "language_set", name=language_name(chosen))


async def help_command(message: Message, actor: Actor, app: App, locale: str) -> None:
    await say(message, app, locale, "help", actor=actor, private=message.chat.type == "private")


async def whoami(message: Message, actor: Actor, app: App, locale: str) -> None:
    grids = ({g.id: local_name(g, locale) for g in await app.communities.grids(actor.community.id)}
             if actor.community else {})
    await say(message, app, locale, "whoami", actor=actor, grids=grids, language=language_name(locale))


def make_router() -> Router:
    router = Stage(name=__name__)
    router.message.register(language, Command("language"))
    router.callback_query.register(pick_language, LanguagePress.filter())
    router.callback_query.register(in_my_language, TranslatePress.filter())
    router.message.register(help_command, Command("help"))
    router.message.register(whoami, Command("whoami"))
    return router
