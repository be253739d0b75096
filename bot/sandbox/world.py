"""The simulated Telegram world: users, groups, messages, files and polls.

Tests and the demo script the world through :class:`SimUser` and
:class:`SimGroup`.  Every action produces exactly what a real client would
cause Telegram to produce: a stored message (so transcripts and assertions see
it) and, when the bot is allowed to see it, an update in the getUpdates queue.

Impossible script steps (pressing a button that is not there, writing to a
group one is not a member of) raise :class:`~bot.sandbox.errors.ScriptError`
instead of being emulated, because they are bugs in the test, not in the bot.
"""

from __future__ import annotations

import copy
import itertools
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from .errors import ScriptError
from .formatting import detect_entities
from .updates import Signal, UpdateQueue

Json = dict[str, Any]
EventKind = Literal["message", "edit", "delete", "action"]
#: Something that identifies a message: a record or a Bot API Message dict.
MessageRef: TypeAlias = "ChatMessage | Mapping[str, Any]"

#: A few bytes that start and end like a JPEG; nothing in the project decodes images.
FAKE_JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00gongzhi-sandbox-photo\xff\xd9"


def _now() -> int:
    return int(time.time())


@dataclass(frozen=True)
class BotIdentity:
    """The bot's own account, returned by getMe and used as ``from`` of its messages."""

    id: int
    username: str
    first_name: str

    def as_user(self) -> Json:
        return {"id": self.id, "is_bot": True, "first_name": self.first_name, "username": self.username}


@dataclass(frozen=True)
class StoredFile:
    """A file known to the emulator, downloadable at ``/file/bot<token>/<file_path>``."""

    file_id: str
    file_unique_id: str
    file_path: str
    content: bytes
    #: The Bot API object the file was created as (PhotoSize, Document...), reused when resent by file_id.
    media: Json

    def as_file(self) -> Json:
        return {"file_id": self.file_id, "file_unique_id": self.file_unique_id,
                "file_size": len(self.content), "file_path": self.file_path}


@dataclass(eq=False)
class ChatMessage:
    """One message in one chat, with every version it went through.

    ``data`` is the current Bot API Message object (edits applied).  Deleted
    messages stay in the list with ``deleted`` set, so tests can assert on
    what the bot removed.  Poll votes update ``data`` in place (they are not
    edits).
    """

    chat_id: int
    message_id: int
    from_bot: bool
    versions: list[Json]
    deleted: bool = False

    @property
    def data(self) -> Json:
        return self.versions[-1]

    @property
    def text(self) -> str | None:
        """The text or caption (plain, after entity parsing)."""
        return self.data.get("text", self.data.get("caption"))

    @property
    def edited(self) -> bool:
        return len(self.versions) > 1

    @property
    def inline_keyboard(self) -> list[list[Json]]:
        return self.data.get("reply_markup", {}).get("inline_keyboard", [])

    @property
    def button_labels(self) -> list[list[str]]:
        return [[button["text"] for button in row] for row in self.inline_keyboard]

    def __repr__(self) -> str:
        state = " deleted" if self.deleted else ""
        who = "bot" if self.from_bot else "user"
        return f"<ChatMessage {self.chat_id}#{self.message_id} {who}{state} {self.text!r}>"


@dataclass(frozen=True)
class ChatEvent:
    """One entry of a chat's history, in global order (``seq``).

    ``snapshot`` is the message as it was at that moment (for "message" and
    "edit"); "action" events (button presses, votes, blocking) carry a
    human-readable ``detail`` instead.
    """

    seq: int
    chat_id: int
    kind: EventKind
    actor: str
    message: ChatMessage | None = None
    snapshot: Json | None = None
    detail: str = ""


@dataclass(eq=False)
class PollState:
    poll: Json
    message: ChatMessage
    votes: dict[int, list[int]] = field(default_factory=dict)


@dataclass(eq=False)
class CallbackQueryState:
    user: SimUser
    message: ChatMessage
    answer: Json | None = None


class World:
    """All simulated state, shared by the API methods and the scripting API."""

    def __init__(self, bot: BotIdentity, updates: UpdateQueue, signal: Signal) -> None:
        self.bot = bot
        self.updates = updates
        self.signal = signal
        self.users: dict[int, SimUser] = {}
        self.groups: dict[int, SimGroup] = {}
        self.files: dict[str, StoredFile] = {}
        self.polls: dict[str, PollState] = {}
        self.callback_queries: dict[str, CallbackQueryState] = {}
        #: setMyCommands storage, keyed by (scope as canonical JSON, language_code).
        self.commands: dict[tuple[str, str], list[Json]] = {}
        self.webhook_url = ""
        self.webhook_secret = ""
        self.events: list[ChatEvent] = []
        self._messages: dict[int, list[ChatMessage]] = {}
        self._by_id: dict[tuple[int, int], ChatMessage] = {}
        self._ids = itertools.count(1)
        self._next_user_id = 100_001
        self._next_group_id = -1_001_000_000_001

    # -- people and chats ------------------------------------------------------------

    def add_user(self, first_name: str, *, last_name: str | None = None, username: str | None = None,
                 language_code: str = "en", user_id: int | None = None, started: bool = False) -> SimUser:
        if user_id is None:
            user_id = self._next_user_id
            while user_id in self.users:
                user_id += 1
            self._next_user_id = user_id + 1
        if user_id in self.users or user_id <= 0:
            raise ScriptError(f"user id {user_id} is taken or not positive")
        user = SimUser(self, user_id, first_name, last_name=last_name, username=username,
                       language_code=language_code, started=started)
        self.users[user_id] = user
        return user

    def add_group(self, title: str, *, members: Iterable[SimUser] = (), admins: Iterable[SimUser] = (),
                  owner: SimUser | None = None, bot_is_member: bool = True, bot_is_admin: bool = True,
                  chat_type: Literal["group", "supergroup"] = "supergroup",
                  chat_id: int | None = None) -> SimGroup:
        if chat_id is None:
            chat_id = self._next_group_id
            while chat_id in self.groups:
                chat_id -= 1
            self._next_group_id = chat_id - 1
        if chat_id in self.groups or chat_id >= 0:
            raise ScriptError(f"group id {chat_id} is taken or not negative")
        group = SimGroup(self, chat_id, title, chat_type=chat_type, members=members, admins=admins,
                         owner=owner, bot_is_member=bot_is_member, bot_is_admin=bot_is_admin)
        self.groups[chat_id] = group
        return group

    def find_chat(self, chat_id: Any) -> SimUser | SimGroup | None:
        """Resolve a ``chat_id`` parameter (int or numeric string)."""
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)
        if not isinstance(chat_id, int) or isinstance(chat_id, bool):
            return None
        return self.users.get(chat_id) or self.groups.get(chat_id)

    def chat_label(self, chat_id: int) -> str:
        chat = self.find_chat(chat_id)
        if isinstance(chat, SimUser):
            handle = f" @{chat.username}" if chat.username else ""
            return f"private chat with {chat.full_name}{handle} ({chat_id})"
        if isinstance(chat, SimGroup):
            return f"{chat.type} {chat.title!r} ({chat_id})"
        return f"chat {chat_id}"

    # -- messages --------------------------------------------------------------------

    def add_message(self, chat: SimUser | SimGroup, fields: Json, *, sender: SimUser | None) -> ChatMessage:
        """Store a new message (``sender`` None means the bot) and log it."""
        messages = self._messages.setdefault(chat.id, [])
        message_id = len(messages) + 1
        author = self.bot.as_user() if sender is None else sender.as_user()
        data = {"message_id": message_id, "date": _now(), "chat": chat.as_chat(), "from": author, **fields}
        record = ChatMessage(chat.id, message_id, from_bot=sender is None, versions=[data])
        messages.append(record)
        self._by_id[(chat.id, message_id)] = record
        self.log(chat.id, "message", "bot" if sender is None else sender.full_name, record)
        return record

    def find_message(self, chat_id: int, message_id: Any) -> ChatMessage | None:
        if not isinstance(message_id, int) or isinstance(message_id, bool):
            return None
        return self._by_id.get((chat_id, message_id))

    def resolve(self, ref: MessageRef) -> ChatMessage:
        """The record behind a ChatMessage or a Bot API Message dict (ScriptError if unknown)."""
        if isinstance(ref, ChatMessage):
            return ref
        try:
            record = self.find_message(ref["chat"]["id"], ref["message_id"])
        except (KeyError, TypeError):
            raise ScriptError(f"not a message: {ref!r}") from None
        if record is None:
            raise ScriptError(f"unknown message {ref['chat']['id']}#{ref['message_id']}")
        return record

    def messages_in(self, chat_id: int) -> list[ChatMessage]:
        return list(self._messages.get(chat_id, []))

    def chat_ids(self) -> list[int]:
        return list(self._messages)

    def edit_message(self, record: ChatMessage, changes: Json) -> ChatMessage:
        """Add a version with ``changes`` applied (a None value removes the field)."""
        data = copy.deepcopy(record.data)
        for key, value in changes.items():
            if value is None:
                data.pop(key, None)
            else:
                data[key] = value
        data["edit_date"] = _now()
        record.versions.append(data)
        self.log(record.chat_id, "edit", "bot", record)
        return record

    def delete_message(self, record: ChatMessage) -> None:
        record.deleted = True
        self.log(record.chat_id, "delete", "bot", record)

    def log(self, chat_id: int, kind: EventKind, actor: str, message: ChatMessage | None = None,
            detail: str = "") -> None:
        snapshot = copy.deepcopy(message.data) if message is not None and kind != "delete" else None
        self.events.append(ChatEvent(len(self.events) + 1, chat_id, kind, actor, message, snapshot, detail))
        self.signal.fire()

    def history(self, chat_id: int) -> list[ChatEvent]:
        return [event for event in self.events if event.chat_id == chat_id]

    # -- files, polls, updates ---------------------------------------------------------

    def next_id(self) -> int:
        """A fresh number for file ids, poll ids and callback query ids."""
        return next(self._ids)

    def add_file(self, content: bytes, folder: str, extension: str, media: Json) -> StoredFile:
        """Store a file; ``media`` is completed with file_id/file_unique_id/file_size."""
        number = self.next_id()
        file_id = f"{folder[:2].upper()}SANDBOX{number:06d}{self.bot.id}"
        unique_id = f"U{number:06d}"
        media = {"file_id": file_id, "file_unique_id": unique_id, **media, "file_size": len(content)}
        stored = StoredFile(file_id, unique_id, f"{folder}/file_{number}.{extension}", content, media)
        self.files[file_id] = stored
        return stored

    def file_at(self, path: str) -> StoredFile | None:
        return next((stored for stored in self.files.values() if stored.file_path == path), None)

    def deliver(self, kind: str, payload: Json) -> None:
        self.updates.push(kind, copy.deepcopy(payload))

    def poll_update(self, state: PollState) -> None:
        """Recount the poll, refresh its message and send the ``poll`` update."""
        counts = [0] * len(state.poll["options"])
        for option_ids in state.votes.values():
            for option_id in option_ids:
                counts[option_id] += 1
        for option, count in zip(state.poll["options"], counts, strict=True):
            option["voter_count"] = count
        state.poll["total_voter_count"] = sum(1 for option_ids in state.votes.values() if option_ids)
        state.message.data["poll"] = copy.deepcopy(state.poll)
        self.deliver("poll", state.poll)


def _member(status: str, user: Json, **extra: Any) -> Json:
    """A ChatMember object; administrators get every right, as a freshly promoted admin would."""
    if status == "administrator":
        rights = ("can_manage_chat", "can_delete_messages", "can_manage_video_chats", "can_restrict_members",
                  "can_promote_members", "can_change_info", "can_invite_users", "can_post_stories",
                  "can_edit_stories", "can_delete_stories", "can_send_welcome_messages", "can_pin_messages")
        extra = {"can_be_edited": False, "is_anonymous": False, **{right: True for right in rights}, **extra}
    elif status == "creator":
        extra = {"is_anonymous": False, **extra}
    elif status == "kicked":
        extra = {"until_date": 0, **extra}
    return {"status": status, "user": user, **extra}


class SimUser:
    """A simulated Telegram user.  Actions return the Bot API object they created."""

    def __init__(self, world: World, user_id: int, first_name: str, *, last_name: str | None,
                 username: str | None, language_code: str, started: bool) -> None:
        self.world = world
        self.id = user_id
        self.first_name = first_name
        self.last_name = last_name
        self.username = username
        #: Mutable: the next update carries the new value, as when a user switches app language.
        self.language_code = language_code
        #: Whether the user ever opened the chat with the bot (the bot may write to them).
        self.started = started
        self.blocked = False

    def __repr__(self) -> str:
        return f"<SimUser {self.id} {self.full_name!r}>"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}" if self.last_name else self.first_name

    def as_user(self) -> Json:
        user: Json = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        user["language_code"] = self.language_code
        return user

    def as_chat(self) -> Json:
        """The user's private chat with the bot (its id is the user id)."""
        chat: Json = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        return chat

    # -- writing -----------------------------------------------------------------------

    def _chat_for_writing(self, chat: SimGroup | None) -> SimUser | SimGroup:
        if chat is None:
            if self.blocked:
                raise ScriptError(f"{self.full_name} blocked the bot; call unblock_bot() before writing")
            self.started = True
            return self
        if not chat.is_member(self):
            raise ScriptError(f"{self.full_name} is not a member of {chat.title!r}")
        return chat

    def _post(self, chat: SimUser | SimGroup, fields: Json) -> Json:
        record = self.world.add_message(chat, fields, sender=self)
        if chat is self or (isinstance(chat, SimGroup) and chat.bot_is_member):
            self.world.deliver("message", record.data)
        return record.data

    async def send(self, text: str, chat: SimGroup | None = None) -> Json:
        """Type ``text`` into the private chat with the bot (or into ``chat``).

        Commands get a ``bot_command`` entity and @names a ``mention`` entity.
        Any message in the private chat, ``/start`` in particular, lets the bot
        write to the user from then on.
        """
        return self._post(self._chat_for_writing(chat), self._text_fields(text))

    async def reply(self, to_message: MessageRef, text: str) -> Json:
        """Reply to a message (the update carries ``reply_to_message``)."""
        target = self.world.resolve(to_message)
        chat = self._chat_for_writing(self._group_of(target))
        quoted = {key: value for key, value in target.data.items() if key != "reply_to_message"}
        return self._post(chat, {**self._text_fields(text), "reply_to_message": quoted})

    async def send_photo(self, chat: SimGroup | None = None, caption: str | None = None) -> Json:
        """Send a (fake) photo in three sizes; each size is downloadable via getFile."""
        target = self._chat_for_writing(chat)
        sizes = [self.world.add_file(FAKE_JPEG, "photos", "jpg", {"width": side, "height": side}).media
                 for side in (90, 320, 800)]
        fields: Json = {"photo": sizes}
        if caption:
            fields["caption"] = caption
            if entities := detect_entities(caption):
                fields["caption_entities"] = entities
        return self._post(target, fields)

    async def send_location(self, latitude: float, longitude: float, chat: SimGroup | None = None) -> Json:
        return self._post(self._chat_for_writing(chat), {"location": {"latitude": latitude, "longitude": longitude}})

    async def send_sticker(self, chat: SimGroup | None = None, emoji: str = "👍") -> Json:
        """A sticker: media the bot probably does not handle (bad-input tests)."""
        target = self._chat_for_writing(chat)
        sticker = self.world.add_file(FAKE_JPEG, "stickers", "webp", {
            "type": "regular", "width": 512, "height": 512, "is_animated": False, "is_video": False, "emoji": emoji,
        }).media
        return self._post(target, {"sticker": sticker})

    async def send_voice(self, chat: SimGroup | None = None, duration: int = 3) -> Json:
        """A voice note: another unsupported input for bad-input tests."""
        target = self._chat_for_writing(chat)
        voice = self.world.add_file(b"OggS-sandbox-voice", "voice", "oga",
                                    {"duration": duration, "mime_type": "audio/ogg"}).media
        return self._post(target, {"voice": voice})

    def _text_fields(self, text: str) -> Json:
        fields: Json = {"text": text}
        if entities := detect_entities(text):
            fields["entities"] = entities
        return fields

    def _group_of(self, record: ChatMessage) -> SimGroup | None:
        """The group a message is in, or None if it is in this user's private chat."""
        if record.chat_id == self.id:
            return None
        group = self.world.groups.get(record.chat_id)
        if group is None:
            raise ScriptError(f"{self.full_name} cannot see message {record.chat_id}#{record.message_id}")
        return group

    # -- buttons and polls -------------------------------------------------------------

    async def press(self, message: MessageRef, *, text: str | None = None,
                    data: str | None = None) -> Json:
        """Press the inline button with label ``text`` and/or ``callback_data`` ``data``.

        The button must exist on the message's *current* version and carry
        callback_data; otherwise the test is wrong and ScriptError is raised.
        """
        if text is None and data is None:
            raise ScriptError("press() needs text= or data=")
        record = self.world.resolve(message)
        buttons = [button for row in record.inline_keyboard for button in row
                   if (text is None or button["text"] == text) and (data is None or button.get("callback_data") == data)]
        if not buttons:
            raise ScriptError(f"no button text={text!r} data={data!r} on {record!r}; buttons: {record.button_labels}")
        if "callback_data" not in buttons[0]:
            raise ScriptError(f"button {buttons[0]['text']!r} has no callback_data")
        return self._callback(record, buttons[0]["callback_data"], f"pressed [{buttons[0]['text']}]")

    async def press_raw(self, message: MessageRef, data: str) -> Json:
        """Send a callback query with arbitrary (forged) ``data`` for a message, as a modified client could."""
        record = self.world.resolve(message)
        return self._callback(record, data, f"sent forged callback data {data!r}")

    def _callback(self, record: ChatMessage, data: str, detail: str) -> Json:
        if not record.from_bot or record.deleted:
            raise ScriptError(f"cannot press buttons on {record!r}")
        self._chat_for_writing(self._group_of(record))
        query_id = str(4_000_000_000_000 + self.world.next_id())
        query = {"id": query_id, "from": self.as_user(), "message": record.data,
                 "chat_instance": str(abs(record.chat_id) * 31 + self.world.bot.id), "data": data}
        self.world.callback_queries[query_id] = CallbackQueryState(self, record)
        self.world.log(record.chat_id, "action", self.full_name, record, f"{detail} on #{record.message_id}")
        self.world.deliver("callback_query", query)
        return query

    async def answer_poll(self, poll_message: MessageRef, option_ids: list[int]) -> Json:
        """Vote (an empty list retracts the vote); returns the PollAnswer object.

        The bot gets a ``poll`` update with new totals, and a ``poll_answer``
        update too when the poll is not anonymous.
        """
        record = self.world.resolve(poll_message)
        self._chat_for_writing(self._group_of(record))
        state = next((s for s in self.world.polls.values() if s.message is record), None)
        if state is None:
            raise ScriptError(f"{record!r} is not a poll sent by the bot")
        poll = state.poll
        if poll["is_closed"]:
            raise ScriptError("the poll is closed")
        if len(option_ids) > 1 and not poll["allows_multiple_answers"]:
            raise ScriptError("the poll allows a single answer")
        if any(not 0 <= option < len(poll["options"]) for option in option_ids) or len(set(option_ids)) != len(option_ids):
            raise ScriptError(f"invalid option ids {option_ids} for {len(poll['options'])} options")
        state.votes[self.id] = sorted(option_ids)
        chosen = ", ".join(poll["options"][option]["text"] for option in option_ids) or "(retracted)"
        self.world.log(record.chat_id, "action", self.full_name, record, f"voted {chosen} on #{record.message_id}")
        self.world.poll_update(state)
        answer = {"poll_id": poll["id"], "user": self.as_user(), "option_ids": sorted(option_ids),
                  "option_persistent_ids": [poll["options"][option]["persistent_id"] for option in sorted(option_ids)]}
        if not poll["is_anonymous"]:
            self.world.deliver("poll_answer", answer)
        return answer

    # -- relationship with the bot -------------------------------------------------------

    async def block_bot(self) -> None:
        """Block the bot: its sends fail with 403 and it gets a ``my_chat_member`` update."""
        if self.blocked:
            raise ScriptError(f"{self.full_name} already blocked the bot")
        self.blocked = True
        self._my_chat_member("member", "kicked", "blocked the bot")

    async def unblock_bot(self) -> None:
        if not self.blocked:
            raise ScriptError(f"{self.full_name} has not blocked the bot")
        self.blocked = False
        self._my_chat_member("kicked", "member", "unblocked the bot")

    def _my_chat_member(self, old: str, new: str, detail: str) -> None:
        bot = self.world.bot.as_user()
        self.world.log(self.id, "action", self.full_name, detail=detail)
        self.world.deliver("my_chat_member", {
            "chat": self.as_chat(), "from": self.as_user(), "date": _now(),
            "old_chat_member": _member(old, bot), "new_chat_member": _member(new, bot),
        })


class SimGroup:
    """A simulated group or supergroup with its members and the bot's status."""

    def __init__(self, world: World, chat_id: int, title: str, *, chat_type: Literal["group", "supergroup"],
                 members: Iterable[SimUser], admins: Iterable[SimUser], owner: SimUser | None,
                 bot_is_member: bool, bot_is_admin: bool) -> None:
        self.world = world
        self.id = chat_id
        self.title = title
        self.type = chat_type
        self.owner = owner
        self.admins: list[SimUser] = list(admins)
        self.members: list[SimUser] = []
        for user in [*([owner] if owner else []), *self.admins, *members]:
            if user not in self.members:
                self.members.append(user)
        self.bot_is_member = bot_is_member
        self.bot_is_admin = bot_is_admin and bot_is_member

    def __repr__(self) -> str:
        return f"<SimGroup {self.id} {self.title!r}>"

    def as_chat(self) -> Json:
        return {"id": self.id, "type": self.type, "title": self.title}

    def is_member(self, user: SimUser) -> bool:
        return user in self.members

    def status_of(self, user: SimUser) -> str:
        if user is self.owner:
            return "creator"
        if user in self.admins:
            return "administrator"
        return "member" if user in self.members else "left"

    def member(self, user: SimUser) -> Json:
        """getChatMember's answer for ``user``."""
        return _member(self.status_of(user), user.as_user())

    def bot_member(self) -> Json:
        status = "administrator" if self.bot_is_admin else "member" if self.bot_is_member else "left"
        return _member(status, self.world.bot.as_user())

    async def join(self, user: SimUser) -> Json:
        """``user`` joins: a ``new_chat_members`` service message and a ``chat_member`` update."""
        if user in self.members:
            raise ScriptError(f"{user.full_name} is already in {self.title!r}")
        self.members.append(user)
        message = user._post(self, {"new_chat_members": [user.as_user()]})
        self._chat_member(user, "left", "member")
        return message

    async def leave(self, user: SimUser) -> Json:
        """``user`` leaves: a ``left_chat_member`` service message and a ``chat_member`` update."""
        if user not in self.members:
            raise ScriptError(f"{user.full_name} is not in {self.title!r}")
        old_status = self.status_of(user)
        message = user._post(self, {"left_chat_member": user.as_user()})
        self.members.remove(user)
        if user in self.admins:
            self.admins.remove(user)
        if user is self.owner:
            self.owner = None
        self._chat_member(user, old_status, "left")
        return message

    async def add_bot(self, by: SimUser, *, admin: bool = False) -> Json:
        """``by`` adds the bot: ``my_chat_member`` and a ``new_chat_members`` message."""
        if self.bot_is_member:
            raise ScriptError(f"the bot is already in {self.title!r}")
        if not self.is_member(by):
            raise ScriptError(f"{by.full_name} is not in {self.title!r}")
        old = self.bot_member()
        self.bot_is_member, self.bot_is_admin = True, admin
        self._bot_status_changed(by, old)
        return by._post(self, {"new_chat_members": [self.world.bot.as_user()]})

    async def remove_bot(self, by: SimUser) -> None:
        """``by`` removes the bot; it only learns through ``my_chat_member``."""
        if not self.bot_is_member:
            raise ScriptError(f"the bot is not in {self.title!r}")
        old = self.bot_member()
        self.bot_is_member = self.bot_is_admin = False
        self.world.log(self.id, "action", by.full_name, detail="removed the bot")
        self._bot_status_changed(by, old, new=_member("kicked", self.world.bot.as_user()))

    def _bot_status_changed(self, by: SimUser, old: Json, new: Json | None = None) -> None:
        self.world.deliver("my_chat_member", {
            "chat": self.as_chat(), "from": by.as_user(), "date": _now(),
            "old_chat_member": old, "new_chat_member": new or self.bot_member(),
        })

    def _chat_member(self, user: SimUser, old: str, new: str) -> None:
        if self.bot_is_member:
            self.world.deliver("chat_member", {
                "chat": self.as_chat(), "from": user.as_user(), "date": _now(),
                "old_chat_member": _member(old, user.as_user()), "new_chat_member": _member(new, user.as_user()),
            })
