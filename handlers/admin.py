"""Staff tools: invite links, binding groups to the community, a group's languages."""
from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message

from bot.app import App
from bot.errors import BadInput
from bot.filters import ConfiguresGroup
from bot.i18n import normalise
from bot.services.community import Missing, category_of
from bot.services.context import Actor
from bot.services.migration import chat_migrated
from handlers.common import say
from handlers.routing import Stage


async def invite(message: Message, command: CommandObject, actor: Actor, app: App, locale: str) -> None:
    """/invite <role> [grid or department]"""
    role, _, target = (command.args or "").strip().partition(" ")
    if not role:
        raise BadInput("invite_usage")
    if message.chat.type != "private" and role.lower() != "resident":
        raise BadInput("private_only")  # a one-time role link posted in a group is anyone's
    if role.lower() == "partner":  # /invite partner <partner> [telegram id]
        words = target.split()
        bound = int(words.pop()) if len(words) > 1 and words[-1].isdigit() else None
        if not words:
            raise BadInput("partner_required")
        token, partner = await app.partners.invite(actor, " ".join(words), bound)
        await say(message, app, locale, "invite_link", role="partner", target=partner, token=token, for_user=bound)
        return
    token, role, target, for_user = await app.communities.invite(actor, role.lower(), target.strip() or None)
    await say(message, app, locale, "invite_link", role=role, target=target, token=token, for_user=for_user)


# /bind, /unbind and /grouplang are registered behind ConfiguresGroup (bot.filters): staff of the
# community who administer the group; the service checks staff again when it writes.
async def bind(message: Message, command: CommandObject, actor: Actor, app: App, bot: Bot, locale: str,
               bot_admin: bool) -> None:
    """/bind community|grid <name>|volunteers|council|staff — staff who are admins of the group."""
    kind, _, grid = (command.args or "").strip().partition(" ")
    if not kind:
        raise BadInput("bind_usage")
    chat_locale = actor.community.locale if actor.community else app.settings.default_locale
    binding = await app.communities.bind(actor, chat_id=message.chat.id, title=message.chat.title or "",
                                         kind=kind.lower(), grid_name=grid.strip() or None, locale=chat_locale)
    me = await bot.me()
    await say(message, app, binding.locale, "bound", binding=binding, grid=grid.strip(),
              bot_admin=bot_admin, privacy=not (me.can_read_all_group_messages or bot_admin))


async def unbind(message: Message, actor: Actor, app: App, locale: str) -> None:
    await app.communities.unbind(actor, message.chat.id)
    await say(message, app, locale, "unbound")


async def group_language(message: Message, command: CommandObject, actor: Actor, app: App) -> None:
    """/grouplang <locale> [second locale] — the bot's language(s) in this group; posts carry both
    when they fit."""
    codes = (command.args or "").split()
    chosen = [normalise(c, app.renderer.locales) for c in codes[:2]]
    if not chosen or None in chosen:
        raise BadInput("grouplang_usage", choices=", ".join(app.renderer.locales))
    await app.communities.set_group_locale(actor, message.chat.id, chosen[0], chosen[1] if len(chosen) > 1 else None)
    await say(message, app, chosen[0], "group_language_set")


async def name(message: Message, command: CommandObject, actor: Actor, app: App, locale: str) -> None:
    """/name — what has no name yet in each language; /name community <lang> <name>;
    /name grid <grid> <lang> <name>; /name department <department> <lang> <name>;
    /name option <JMS-P001> <n> <lang> <name>: a name in another language, which its readers then see."""
    args = (command.args or "").split()
    if not args:
        missing = await app.communities.missing_names(actor, app.renderer.locales)
        options = dict(await app.council.unnamed_options(actor.community.id, app.renderer.locales))  # type: ignore[union-attr]
        await say(message, app, locale, "names_missing",
                  missing=[(loc, names + [Missing(o) for o in options[loc]]) for loc, names in missing],
                  options=any(options[loc] for loc, _ in missing))
        return
    kind = args[0].lower()
    if kind == "option":  # /name option <JMS-P001> <position> <lang> <name>
        if len(args) < 5 or not args[2].isdigit() or normalise(args[3], app.renderer.locales) is None:
            raise BadInput("name_option_usage", choices=", ".join(app.renderer.locales))
        lang = normalise(args[3], app.renderer.locales)
        text = " ".join(args[4:])
        was = await app.council.name_option(actor, args[1], int(args[2]), lang, text)  # type: ignore[arg-type]
        await say(message, app, locale, "name_set", was=was, name=" ".join(text.split()), lang=lang)
        return
    if kind == "convention":  # /name convention <n> <lang> <title>
        if len(args) < 4 or not args[1].isdigit() or normalise(args[2], app.renderer.locales) is None:
            raise BadInput("name_convention_usage", choices=", ".join(app.renderer.locales))
        lang, text = normalise(args[2], app.renderer.locales), " ".join(args[3:])
        convention = await app.communities.name_convention(actor, int(args[1]), lang, text)  # type: ignore[arg-type]
        await say(message, app, locale, "name_set", was=convention.title, name=" ".join(text.split()), lang=lang)
        return
    if kind == "category":  # /name category <code> <lang> <name>
        if len(args) < 4 or normalise(args[2], app.renderer.locales) is None:
            raise BadInput("category_usage")
        lang, text = normalise(args[2], app.renderer.locales), " ".join(args[3:])
        community = await app.communities.set_name(actor, "category", args[1], lang, text)  # type: ignore[arg-type]
        await say(message, app, locale, "name_set", was=category_of(community, args[1].lower()), name=text.strip(),
                  lang=lang)
        return
    target, rest = (args[1], args[2:]) if kind in ("grid", "department", "partner") and len(args) > 1 else (None, args[1:])
    lang = normalise(rest[0], app.renderer.locales) if rest else None
    if kind == "partner" and target and lang is not None and len(rest) >= 2:  # /name partner <number> <lang> <name>
        partner = await app.partners.set_name(actor, target, lang, " ".join(rest[1:]))
        await say(message, app, locale, "name_set", was=partner.name, name=" ".join(rest[1:]).strip(), lang=lang)
        return
    if kind not in ("community", "grid", "department") or lang is None or len(rest) < 2:
        raise BadInput("name_usage", choices=", ".join(app.renderer.locales))
    text = " ".join(rest[1:])
    await app.communities.set_name(actor, kind, target, lang, text)
    await say(message, app, locale, "name_set", was=target if kind != "community" else actor.community.name,
              name=text.strip(), lang=lang)


async def category(message: Message, command: CommandObject, actor: Actor, app: App, locale: str) -> None:
    """/category — the categories of requests and the languages their names are missing in;
    /category add <name> (in the community's language); /category remove <code>."""
    verb, _, rest = (command.args or "").strip().partition(" ")
    verb = verb.lower()
    if verb == "add" and rest.strip():
        cat = await app.communities.add_category(actor, rest)
        await say(message, app, locale, "category_set", cat=cat)
    elif verb == "remove" and rest.strip():
        cat = await app.communities.remove_category(actor, rest)
        await say(message, app, locale, "category_set", cat=cat)
    elif not verb:
        _, cats = await app.communities.categories(actor, app.renderer.locales)
        await say(message, app, locale, "category_list", cats=cats)
    else:
        raise BadInput("category_usage")


async def migrated(message: Message, app: App) -> None:
    """A group became a supergroup: its binding, open cards and pending posts follow it."""
    if message.migrate_to_chat_id:
        old, new = message.chat.id, message.migrate_to_chat_id
    else:
        old, new = message.migrate_from_chat_id or 0, message.chat.id
    await chat_migrated(app.requests, old, new)


def make_router() -> Router:
    router = Stage(name=__name__)
    router.message.register(migrated, F.migrate_to_chat_id | F.migrate_from_chat_id)
    router.message.register(invite, Command("invite"))
    router.message.register(name, Command("name"))
    router.message.register(category, Command("category"))
    groups = F.chat.type.in_({"group", "supergroup"})
    router.message.register(bind, Command("bind"), groups, ConfiguresGroup())
    router.message.register(unbind, Command("unbind"), groups, ConfiguresGroup())
    router.message.register(group_language, Command("grouplang"), groups, ConfiguresGroup())
    return router
