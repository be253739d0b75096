"""What services need to notify people: the port they hand notifications to, as data.

A service says who is told (a person, a group, a post to replace), with which template and context,
and which buttons (plain `bot.services.buttons.Button` values), inside its unit of work. The outbox
writer in `bot.notify` implements this: it renders each notification in its reader's language, builds
the keyboard and queues it, so the messages commit with the state change. Services never render.
"""
from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from bot.services.buttons import Button
from storage.models import ChatBinding, Community, Outbox, User

INTERACTIVE, NORMAL, BULK = 1, 5, 9  # outbox priorities: lower goes first


class Notifier(Protocol):
    @property
    def locales(self) -> tuple[str, ...]:
        """The shipped locales."""

    def label(self, key: str, locale: str) -> str:
        """A short string of `labels.j2` in `locale` (a poll's options are sent as plain text)."""

    def text(self, template: str, locale: str, /, **ctx: Any) -> str:
        """A template's text in `locale`, for text kept with a record (a drafted proposal's title)."""

    def translated(self, text: str, language: str) -> bool:
        """Whether a machine translation of `text` into `language` is known already."""

    def remember(self, text: str, language: str, translation: str) -> None:
        """Keep a machine translation of a person's text for the notifications that quote it."""

    def locale_of(self, user: User, community: Community | None = None) -> str:
        """The language a person reads."""

    def wake(self) -> None:
        """Call after the unit of work that queued notifications has committed."""

    def to_user(self, s: AsyncSession, user: User, community: Community | None, template: str,
                /, *, buttons: list[list[Button]] | None = None, key: str | None = None,
                fallback_chat_id: int | None = None, priority: int = NORMAL,
                photo: str | None = None, link: str = "go", **ctx: Any) -> Outbox | None:
        """A private message (see `bot.notify.Notifier.to_user` for who cannot be reached)."""

    def to_chat(self, s: AsyncSession, chat: ChatBinding, template: str, /, *,
                buttons: list[list[Button]] | None = None, key: str | None = None,
                priority: int = NORMAL, **ctx: Any) -> Outbox:
        """A group message, through the privacy gate, in the group's language(s)."""

    def photo_to_chat(self, s: AsyncSession, chat: ChatBinding, template: str, blob: bytes, /, *,
                      key: str | None = None, priority: int = NORMAL, **ctx: Any) -> Outbox:
        """A picture posted to a group with a caption."""

    async def edit_post(self, s: AsyncSession, post: Outbox, chat_community: Community, template: str, /, *,
                        buttons: list[list[Button]] | None = None, both_languages: bool = False,
                        **ctx: Any) -> Outbox:
        """Replace the text and buttons of a post sent earlier."""

    def delete(self, s: AsyncSession, original: Outbox) -> Outbox:
        """Take back a message sent earlier (a photo or location that must not stay with someone)."""

    async def supersede(self, s: AsyncSession, chat_id: int, key: str) -> None:
        """A newer feed line replaces one about the same matter not sent yet."""

    async def supersede_edits(self, s: AsyncSession, original: Outbox) -> None:
        """Pending edits of a post are replaced by a newer one (a card's count, a quiet feed line)."""
