"""Writing notifications into the outbox, rendered for each recipient: the presentation side of
`bot.services.notify.Notifier`.

Services hand over notifications as data (recipient, template name, context, buttons as plain
values) inside their unit of work, so a state change and the messages it causes commit together (or
not at all). Here they are rendered in each reader's language, with keyboards, and queued;
`bot.delivery` sends them later, within Telegram's limits.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import resolve
from bot.limits import MAX_CAPTION, MAX_TEXT
from bot.privacy import group_context
from bot.render import Renderer
from bot.services.buttons import Act, Button, press
from bot.services.notify import BULK, INTERACTIVE, NORMAL  # noqa: F401  (re-exported)
from storage.cache import row
from storage.db import Database
from storage.models import ChatBinding, Community, Outbox, User

_OUTBOX = Outbox.__table__
# Built once: every move of a request replaces its waiting feed line with it.
_SUPERSEDE = (update(_OUTBOX).where(_OUTBOX.c.chat_id == bindparam("chat"), _OUTBOX.c.key == bindparam("about"),
                                   _OUTBOX.c.method == "send", _OUTBOX.c.status == "pending")
              .values(status="superseded"))


class Notifier:
    def __init__(self, renderer: Renderer, default_locale: str) -> None:
        self.renderer = renderer
        self.default_locale = default_locale
        self.on_commit: Callable[[], None] = lambda: None  # the app wakes its delivery loop

    @property
    def locales(self) -> tuple[str, ...]:
        return self.renderer.locales

    def label(self, key: str, locale: str) -> str:
        return self.renderer.label(key, locale)

    def text(self, template: str, locale: str, /, **ctx: Any) -> str:
        return self.renderer.render(template, locale, **ctx)

    def translated(self, text: str, language: str) -> bool:
        return (text, language) in self.renderer.translations

    def remember(self, text: str, language: str, translation: str) -> None:
        self.renderer.remember(text, language, translation)

    def wake(self) -> None:
        """Call after the unit of work that enqueued has committed."""
        self.on_commit()

    def locale_of(self, user: User, community: Community | None = None) -> str:
        fallback = community.locale if community else self.default_locale
        return resolve(user.locale, user.language_code, fallback, self.renderer.locales)

    def to_user(self, s: AsyncSession, user: User, community: Community | None, template: str,
                /, *, buttons: list[list[Button]] | None = None, key: str | None = None,
                fallback_chat_id: int | None = None, priority: int = NORMAL,
                photo: str | None = None, link: str = "go", **ctx: Any) -> Outbox | None:
        """A private message in the user's locale.

        A user who never started the bot, or blocked it, cannot be written to privately; they
        are reached in `fallback_chat_id` (the group where they asked) with a mention and a link
        to start the bot, without the buttons (a group must not act for them). Without such a
        group nothing can reach them and nothing is queued. With `photo`, the text is its caption
        (and a photo never goes to a group). `link` is the start payload of the group's link,
        which continues the matter privately once they open the chat.
        """
        locale = self.locale_of(user, community)
        text = self.renderer.render(template, locale, **ctx)
        fallback = None
        if fallback_chat_id is not None:  # a group reads it: only its public form goes there, without
            # pointing to buttons, which stay in private chat
            body = self.renderer.render(template, locale, in_group=True, **group_context(ctx, strict=False))
            fallback = self.renderer.render("via_group", locale, user=user, body=body, link=link)
        if not user.started or user.blocked:
            if fallback is None or photo:
                return None
            row = Outbox(chat_id=fallback_chat_id, text=fallback, key=key, priority=priority)
        else:
            row = Outbox(chat_id=user.id, text=text, key=key, priority=priority,
                         method="photo" if photo else "send", photo=photo,
                         buttons=self.renderer.keyboard(buttons, locale) if buttons else None,
                         fallback_chat_id=fallback_chat_id, fallback_text=fallback)
        s.add(row)
        return row

    def render_chat(self, chat: ChatBinding, template: str, **ctx: Any) -> tuple[str, bool]:
        """A group's text: its language, and its second one too when both fit; and whether the
        second one had to be left out. Every group rendering passes the privacy gate here."""
        ctx = group_context(ctx)
        text = self.renderer.render(template, chat.locale, **ctx)
        if not chat.secondary_locale or chat.secondary_locale == chat.locale:
            return text, False
        second = self.renderer.render(template, chat.secondary_locale, **ctx)
        if len(text) + len(second) + 2 <= MAX_TEXT:
            return f"{text}\n\n{second}", False
        return text, True

    async def chat_locale(self, s: AsyncSession, chat_id: int, community: Community) -> str:
        """The language a chat reads: a group's own, or the person's."""
        if chat_id < 0:
            binding = await row(s, ChatBinding, chat_id)
            return binding.locale if binding else community.locale
        person = await s.get(User, chat_id)
        return self.locale_of(person, community) if person else community.locale

    def to_chat(self, s: AsyncSession, chat: ChatBinding, template: str, /, *,
                buttons: list[list[Button]] | None = None, key: str | None = None,
                priority: int = NORMAL, **ctx: Any) -> Outbox:
        """A group message in the group's locale, and in its secondary locale too when both fit.

        When they do not fit, the post carries a "in my language" button: the message in every
        language is kept with it, and a press answers privately in the presser's language.
        """
        ctx = group_context(ctx)
        text, split = self.render_chat(chat, template, **ctx)
        rows = [list(r) for r in buttons] if buttons else []
        external_id = payload = None
        if split:
            ref = secrets.randbits(40)
            external_id = f"i18n:{ref}"
            payload = {"texts": {loc: self.renderer.render(template, loc, **ctx) for loc in self.renderer.locales}}
            rows.append([Button("in_my_language", press(Act.XLATE, ref))])
        row = Outbox(chat_id=chat.chat_id, text=text, key=key, priority=priority, external_id=external_id,
                     payload=payload, buttons=self.renderer.keyboard(rows, chat.locale) if rows else None)
        s.add(row)
        return row

    async def supersede(self, s: AsyncSession, chat_id: int, key: str) -> None:
        """A newer line about the same matter replaces one not sent yet, so a feed in a burst
        carries each matter's latest state instead of falling behind with stale ones."""
        await s.execute(_SUPERSEDE, {"chat": chat_id, "about": key})

    async def supersede_edits(self, s: AsyncSession, original: Outbox) -> None:
        """Pending edits of a post are replaced by a newer one: a post that is edited as a matter
        moves (a quiet feed line, a card's count) carries its latest state in one edit."""
        await s.execute(update(Outbox).where(Outbox.chat_id == original.chat_id, Outbox.edit_of == original.id,
                                             Outbox.method == "edit", Outbox.status == "pending")
                        .values(status="superseded"))

    async def render_post(self, s: AsyncSession, chat_id: int, chat_community: Community, template: str,
                          /, **ctx: Any) -> str:
        """The new text of a post sent earlier, in the language its chat reads; a group's passes
        the privacy gate."""
        locale = await self.chat_locale(s, chat_id, chat_community)
        return self.renderer.render(template, locale, **(group_context(ctx) if chat_id < 0 else ctx))

    async def edit_post(self, s: AsyncSession, post: Outbox, chat_community: Community, template: str, /, *,
                        buttons: list[list[Button]] | None = None, both_languages: bool = False,
                        **ctx: Any) -> Outbox:
        """Replace a post sent earlier with `template` in the language its chat reads (a group's
        through the privacy gate; with `both_languages`, a bilingual group's two as `to_chat` does),
        with `buttons` or none."""
        binding = await row(s, ChatBinding, post.chat_id) if post.chat_id < 0 and both_languages else None
        if binding is not None:
            text, locale = self.render_chat(binding, template, **ctx)[0], binding.locale
        else:
            locale = await self.chat_locale(s, post.chat_id, chat_community)
            text = self.renderer.render(template, locale, **(group_context(ctx) if post.chat_id < 0 else ctx))
        return self.edit(s, post, text, self.renderer.keyboard(buttons, locale) if buttons else None)

    def photo_to_chat(self, s: AsyncSession, chat: ChatBinding, template: str, blob: bytes, /, *,
                      key: str | None = None, priority: int = NORMAL, **ctx: Any) -> Outbox:
        """A picture (a chart) posted to a group, captioned with `template` in the group's language."""
        caption = self.renderer.render(template, chat.locale, **group_context(ctx))[:MAX_CAPTION]
        row = Outbox(chat_id=chat.chat_id, method="photo", text=caption, blob=blob, key=key, priority=priority)
        s.add(row)
        return row

    def edit(self, s: AsyncSession, original: Outbox, text: str,
             buttons: list[list[dict[str, str]]] | None = None) -> Outbox:
        """Replace the text (and buttons) of a message sent earlier through the outbox."""
        row = Outbox(chat_id=original.chat_id, method="edit", text=text, buttons=buttons,
                     edit_of=original.id, key=original.key, priority=original.priority)
        s.add(row)
        return row


    def delete(self, s: AsyncSession, original: Outbox) -> Outbox:
        """Take back a message sent earlier (Telegram allows it within 48 hours)."""
        row = Outbox(chat_id=original.chat_id, method="delete", text="", edit_of=original.id, key=original.key,
                     priority=original.priority)
        s.add(row)
        return row


async def in_every_language(db: Database, ref: int) -> dict[str, str] | None:
    """The texts kept with a group post too long to carry two languages (see `Notifier.to_chat`)."""
    async with db.read() as s:
        row = (await s.execute(select(Outbox).where(Outbox.external_id == f"i18n:{ref}"))).scalars().first()
    return (row.payload or {}).get("texts") if row else None
