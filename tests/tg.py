"""Test doubles for Telegram: a recording bot session (aiogram's MockedBot pattern) and
factories for realistic Updates. Our own code is never mocked."""
from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timezone
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.exceptions import TelegramForbiddenError
from aiogram.methods import (AnswerCallbackQuery, EditMessageReplyMarkup, EditMessageText, GetChatAdministrators,
                             GetMe, SendLocation, SendMessage, SendPhoto, SendPoll, StopPoll, TelegramMethod)
from aiogram.types import Poll, PollOption
from aiogram.types import (CallbackQuery, Chat, ChatMemberOwner, Location, Message,
                           MessageEntity, PhotoSize, Update, User)

BOT_ID = 777000
BOT_USERNAME = "gongzhi_test_bot"
_ids = itertools.count(1000)


@dataclass
class Sent:
    method: TelegramMethod[Any]
    message_id: int | None = None

    @property
    def name(self) -> str:
        return type(self.method).__name__

    @property
    def chat_id(self) -> Any:
        return getattr(self.method, "chat_id", None)

    @property
    def text(self) -> str:
        return getattr(self.method, "text", None) or getattr(self.method, "caption", None) or ""

    def buttons(self) -> list[dict[str, Any]]:
        markup = getattr(self.method, "reply_markup", None)
        if markup is None:
            return []
        return [b.model_dump(exclude_none=True) for row in markup.inline_keyboard for b in row]


@dataclass
class RecordingSession(BaseSession):
    """Answers every Bot API call plausibly and records it. `forbidden` chat ids answer 403."""

    calls: list[Sent] = field(default_factory=list)
    admins: dict[int, set[int]] = field(default_factory=dict)  # chat id -> admin user ids
    forbidden: dict[int, str] = field(default_factory=dict)
    faults: list[Exception] = field(default_factory=list)  # raised by the next sends, in order
    polls: dict[tuple[int, int], Any] = field(default_factory=dict)  # (chat id, message id) -> Poll sent
    before: Callable[[TelegramMethod[Any]], Awaitable[None]] | None = None  # awaited before each call

    def __post_init__(self) -> None:
        BaseSession.__init__(self)

    async def close(self) -> None:
        return None

    async def stream_content(self, *args: Any, **kwargs: Any):  # pragma: no cover
        yield b""

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:
        if self.before is not None:
            await self.before(method)
        chat_id = getattr(method, "chat_id", None)
        if chat_id in self.forbidden and isinstance(method, (SendMessage, SendPhoto, SendLocation)):
            raise TelegramForbiddenError(method=method, message=self.forbidden[chat_id])
        if self.faults and isinstance(method, (SendMessage, SendPhoto, SendLocation, EditMessageText)):
            raise self.faults.pop(0)
        sent = Sent(method)
        self.calls.append(sent)
        me = User(id=BOT_ID, is_bot=True, first_name="Gongzhi", username=BOT_USERNAME,
                  can_read_all_group_messages=False)
        if isinstance(method, GetMe):
            return me
        if isinstance(method, GetChatAdministrators):
            admins = self.admins.get(method.chat_id, set())
            out = [ChatMemberOwner(user=User(id=uid, is_bot=False, first_name="A"), is_anonymous=False)
                   for uid in admins]
            out.append(ChatMemberOwner(user=me, is_anonymous=False))  # the bot is an admin too
            return out
        if isinstance(method, (SendMessage, SendPhoto, SendLocation, EditMessageText)):
            sent.message_id = getattr(method, "message_id", None) or next(_ids)
            chat = Chat(id=chat_id, type="private" if chat_id > 0 else "supergroup")
            return Message(message_id=sent.message_id, date=datetime.now(timezone.utc), chat=chat, from_user=me,
                           text=getattr(method, "text", None))
        if isinstance(method, SendPoll):  # a Message carrying the Poll, as Telegram answers
            sent.message_id = next(_ids)
            options = [o if isinstance(o, str) else o.text for o in method.options]
            poll = Poll(id=f"poll-{sent.message_id}", question=method.question, is_closed=False,
                        options=[PollOption(persistent_id=str(i), text=o, voter_count=0)
                                 for i, o in enumerate(options)], total_voter_count=0,
                        is_anonymous=method.is_anonymous is not False, type="regular",
                        allows_multiple_answers=False, allows_revoting=False, members_only=False)
            self.polls[(chat_id, sent.message_id)] = poll
            return Message(message_id=sent.message_id, date=datetime.now(timezone.utc),
                           chat=Chat(id=chat_id, type="private" if chat_id > 0 else "supergroup"), from_user=me,
                           poll=poll)
        if isinstance(method, StopPoll):  # the final Poll (one sent before a restart: a stand-in)
            poll = self.polls.get((chat_id, method.message_id)) or Poll(
                id=f"poll-{method.message_id}", question="…", options=[], total_voter_count=0, is_closed=True,
                is_anonymous=True, type="regular", allows_multiple_answers=False, allows_revoting=False,
                members_only=False)
            self.polls[(chat_id, method.message_id)] = poll.model_copy(update={"is_closed": True})
            return self.polls[(chat_id, method.message_id)]
        if isinstance(method, (AnswerCallbackQuery, EditMessageReplyMarkup)):
            return True
        return True

    # what tests read
    def to(self, chat_id: int) -> list[Sent]:
        return [c for c in self.calls if c.chat_id == chat_id and c.name in
                ("SendMessage", "SendPhoto", "SendLocation", "EditMessageText")]

    def last(self, chat_id: int) -> Sent:
        sent = self.to(chat_id)
        assert sent, f"nothing was sent to {chat_id}"
        return sent[-1]

    def last_with_button(self, chat_id: int, prefix: str) -> Sent:
        """The last message to the chat carrying a button whose data starts with `prefix` (feed
        lines about other things may have gone after it: they wait behind actionable messages)."""
        sent = [c for c in self.to(chat_id) if any(b.get("callback_data", "").startswith(prefix) for b in c.buttons())]
        assert sent, f"no message with a {prefix!r} button was sent to {chat_id}"
        return sent[-1]

    def answers(self) -> list[AnswerCallbackQuery]:
        return [c.method for c in self.calls if isinstance(c.method, AnswerCallbackQuery)]

    def clear(self) -> None:
        self.calls.clear()


@dataclass
class Person:
    id: int
    first_name: str
    language_code: str | None = "en"
    username: str | None = None

    def tg(self) -> User:
        return User(id=self.id, is_bot=False, first_name=self.first_name, language_code=self.language_code,
                    username=self.username)


class Updates:
    """Builds Updates with increasing ids, like Telegram."""

    def __init__(self) -> None:
        self._update = itertools.count(1)
        self._message = itertools.count(1)

    def message(self, who: Person, text: str | None = None, *, chat_id: int | None = None,
                reply_to: Message | None = None, photo: bool = False, location: tuple[float, float] | None = None,
                sticker: bool = False, caption: str | None = None) -> Update:
        chat = (Chat(id=who.id, type="private", first_name=who.first_name) if chat_id is None
                else Chat(id=chat_id, type="supergroup", title="Group"))
        entities = None
        if text and text.startswith("/"):
            entities = [MessageEntity(type="bot_command", offset=0, length=len(text.split()[0]))]
        extra: dict[str, Any] = {}
        if photo:
            fid = f"photo-{next(self._message)}"
            extra["photo"] = [PhotoSize(file_id=fid + "-s", file_unique_id=fid + "s", width=90, height=90),
                              PhotoSize(file_id=fid, file_unique_id=fid, width=1280, height=960)]
            extra["caption"] = caption
        if location:
            extra["location"] = Location(latitude=location[0], longitude=location[1])
        if sticker:
            from aiogram.types import Sticker
            extra["sticker"] = Sticker(file_id="st", file_unique_id="st", type="regular", width=1, height=1,
                                       is_animated=False, is_video=False)
        msg = Message(message_id=next(self._message), date=datetime.now(timezone.utc), chat=chat,
                      from_user=who.tg(), text=text, entities=entities, reply_to_message=reply_to, **extra)
        return Update(update_id=next(self._update), message=msg)

    def poll(self, poll: Any, counts: list[int], *, closed: bool = False) -> Update:
        """A `poll` update: new running totals of a poll the bot sent."""
        options = [o.model_copy(update={"voter_count": n}) for o, n in zip(poll.options, counts)]
        return Update(update_id=next(self._update), poll=poll.model_copy(update={
            "options": options, "total_voter_count": sum(counts), "is_closed": closed}))

    def press(self, who: Person, data: str, *, chat_id: int | None = None, message_id: int = 1) -> Update:
        chat = (Chat(id=who.id, type="private") if chat_id is None else Chat(id=chat_id, type="supergroup"))
        msg = Message(message_id=message_id, date=datetime.now(timezone.utc), chat=chat,
                      from_user=User(id=BOT_ID, is_bot=True, first_name="Gongzhi"), text="…")
        cq = CallbackQuery(id=str(next(self._update)), from_user=who.tg(), chat_instance="ci", message=msg,
                           data=data)
        return Update(update_id=next(self._update), callback_query=cq)
