"""Bot API method implementations.

Each method is a coroutine registered with :func:`api_method`; the registry
maps lower-cased names to :class:`MethodSpec` (Telegram method names are case
insensitive).  ``kind`` tells the emulator how a method is treated by flood
control and fault injection: ``"send"`` creates a message, ``"edit"`` changes
one, ``"other"`` is neither.

Methods validate in Telegram's order of concern: the chat (400 chat not found,
403 forbidden), then the content (400), then flood control (429), and only
then change state, so a refused call never has a side effect.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

from . import validation
from .errors import BotAPIError, bad_request, forbidden
from .faults import Faults
from .flood import FloodControl
from .params import Params, Upload
from .world import ChatMessage, Json, PollState, SimGroup, SimUser, World

MethodKind = Literal["send", "edit", "other"]
Handler = Callable[["BotAPIMethods", Params], Awaitable[Any]]


@dataclass(frozen=True)
class MethodSpec:
    name: str
    kind: MethodKind
    handler: Handler


METHODS: dict[str, MethodSpec] = {}

_NOT_MODIFIED = ("message is not modified: specified new message content and reply markup are exactly "
                 "the same as a current content and reply markup of the message")
_CHAT_ACTIONS = frozenset({"typing", "upload_photo", "record_video", "upload_video", "record_voice", "upload_voice",
                           "upload_document", "choose_sticker", "find_location", "record_video_note",
                           "upload_video_note"})


def api_method(name: str, kind: MethodKind = "other") -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        METHODS[name.lower()] = MethodSpec(name, kind, handler)
        return handler
    return register


class BotAPIMethods:
    """The state-changing side of the emulator; one instance per emulator."""

    def __init__(self, world: World, flood: FloodControl, faults: Faults) -> None:
        self.world = world
        self.flood = flood
        self.faults = faults
        #: Set when the server stops, so long polls return at once.
        self.closing = False
        self.poll_generation = 0

    # -- shared checks --------------------------------------------------------------

    def chat(self, params: Params, name: str = "chat_id") -> SimUser | SimGroup:
        chat = self.world.find_chat(params.require(name))
        if chat is None:
            raise bad_request("chat not found")
        return chat

    def writable_chat(self, params: Params) -> SimUser | SimGroup:
        """The target chat, if the bot may write there (403 otherwise)."""
        chat = self.chat(params)
        if isinstance(chat, SimUser):
            if chat.blocked:
                raise forbidden("bot was blocked by the user")
            if not chat.started:
                raise forbidden("bot can't initiate conversation with a user")
        elif not chat.bot_is_member:
            raise forbidden(f"bot is not a member of the {chat.type} chat")
        return chat

    def charge(self, chat: SimUser | SimGroup, *, edit: bool = False) -> None:
        self.flood.charge(chat.id, is_private=isinstance(chat, SimUser), edit=edit)

    def message(self, chat: SimUser | SimGroup, params: Params, not_found: str) -> ChatMessage:
        record = self.world.find_message(chat.id, params.get_int("message_id"))
        if record is None or record.deleted:
            raise bad_request(not_found)
        return record

    def editable(self, params: Params) -> tuple[SimUser | SimGroup, ChatMessage]:
        if params.get("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")
        chat = self.writable_chat(params)
        record = self.message(chat, params, "message to edit not found")
        if not record.from_bot:
            raise bad_request("message can't be edited")
        return chat, record

    def apply_edit(self, chat: SimUser | SimGroup, record: ChatMessage, changes: Json) -> Json:
        """Refuse no-op edits like Telegram, else charge flood control and store a new version."""
        if all(record.data.get(key) == value for key, value in changes.items()):
            raise bad_request(_NOT_MODIFIED)
        self.charge(chat, edit=True)
        return self.world.edit_message(record, changes).data

    def reply_fields(self, chat: SimUser | SimGroup, params: Params) -> Json:
        """``reply_to_message`` for reply_parameters / the deprecated reply_to_message_id."""
        reply = params.get("reply_parameters")
        if isinstance(reply, dict):
            message_id, allow_missing = reply.get("message_id"), bool(reply.get("allow_sending_without_reply"))
        else:
            message_id = params.get_int("reply_to_message_id")
            allow_missing = params.get_bool("allow_sending_without_reply")
        if message_id is None:
            return {}
        target = self.world.find_message(chat.id, message_id)
        if target is None or target.deleted:
            if allow_missing:
                return {}
            raise bad_request("message to be replied not found")
        return {"reply_to_message": {k: v for k, v in target.data.items() if k != "reply_to_message"}}

    def send(self, chat: SimUser | SimGroup, params: Params, fields: Json) -> Json:
        """Common tail of every send method: markup, reply, flood control, store."""
        markup = validation.reply_markup(params.get("reply_markup"))
        reply = self.reply_fields(chat, params)
        self.charge(chat)
        if markup is not None:
            fields["reply_markup"] = markup
        return self.world.add_message(chat, {**fields, **reply}, sender=None).data

    def media_file(self, params: Params, name: str, folder: str, extension: str, media: Json) -> Json:
        """Resolve a file parameter (upload, known file_id or URL) to its Bot API object."""
        value = params.get_file(name)
        if isinstance(value, Upload):
            return self.world.add_file(value.content, folder, extension, {**media, **_upload_meta(name, value)}).media
        if isinstance(value, str) and value in self.world.files:
            return self.world.files[value].media
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return self.world.add_file(f"downloaded from {value}".encode(), folder, extension, media).media
        if value is None:
            raise bad_request(f"there is no {name} in the request")
        raise bad_request("wrong file identifier/HTTP URL specified")


def _upload_meta(name: str, upload: Upload) -> Json:
    return {"file_name": upload.filename, "mime_type": upload.content_type} if name == "document" else {}


def _text_fields(key: str, text: str, entities: list[Json]) -> Json:
    fields: Json = {key: text}
    if entities:
        fields["entities" if key == "text" else "caption_entities"] = entities
    return fields


# -- identity, webhooks, commands --------------------------------------------------------

@api_method("getMe")
async def get_me(api: BotAPIMethods, params: Params) -> Json:
    return {**api.world.bot.as_user(), "can_join_groups": True, "can_read_all_group_messages": False,
            "supports_inline_queries": False}


@api_method("setWebhook")
async def set_webhook(api: BotAPIMethods, params: Params) -> bool:
    api.world.webhook_url = str(params.require("url"))
    api.world.webhook_secret = str(params.get("secret_token") or "")
    return True


@api_method("deleteWebhook")
async def delete_webhook(api: BotAPIMethods, params: Params) -> bool:
    api.world.webhook_url = ""
    if params.get_bool("drop_pending_updates"):
        api.world.updates.pending.clear()
    return True


@api_method("getWebhookInfo")
async def get_webhook_info(api: BotAPIMethods, params: Params) -> Json:
    return {"url": api.world.webhook_url, "has_custom_certificate": False,
            "pending_update_count": len(api.world.updates.pending)}


def _commands_key(params: Params) -> tuple[str, str]:
    scope = params.get("scope") or {"type": "default"}
    return json.dumps(scope, sort_keys=True), str(params.get("language_code") or "")


@api_method("setMyCommands")
async def set_my_commands(api: BotAPIMethods, params: Params) -> bool:
    api.world.commands[_commands_key(params)] = validation.bot_commands(params.require("commands"))
    return True


@api_method("getMyCommands")
async def get_my_commands(api: BotAPIMethods, params: Params) -> list[Json]:
    return api.world.commands.get(_commands_key(params), [])


@api_method("deleteMyCommands")
async def delete_my_commands(api: BotAPIMethods, params: Params) -> bool:
    api.world.commands.pop(_commands_key(params), None)
    return True


async def _accept(api: BotAPIMethods, params: Params) -> bool:
    """Settings with no observable effect in the emulator."""
    return True


for _name in ("setMyDescription", "setMyShortDescription", "setMyName", "setChatMenuButton"):
    api_method(_name)(_accept)


# -- updates ------------------------------------------------------------------------------

@api_method("getUpdates")
async def get_updates(api: BotAPIMethods, params: Params) -> list[Json]:
    """Long polling; a newer call terminates a waiting older one with 409, as Telegram does."""
    if api.world.webhook_url:
        raise BotAPIError(409, "Conflict: can't use getUpdates method while webhook is active; "
                               "use deleteWebhook to delete the webhook first")
    queue = api.world.updates
    offset = params.get_int("offset", 0) or 0
    limit = min(max(params.get_int("limit", 100) or 100, 1), 100)
    timeout = min(max(params.get_int("timeout", 0) or 0, 0), 50)
    allowed = params.get("allowed_updates")
    queue.confirm(offset)
    queue.set_allowed(allowed if isinstance(allowed, list) else None)
    api.poll_generation += 1
    generation = api.poll_generation
    api.world.signal.fire()
    loop_deadline = time.monotonic() + timeout
    while not queue.has_deliverable() and not api.closing and time.monotonic() < loop_deadline:
        await api.world.signal.wait(loop_deadline - time.monotonic())
        if api.poll_generation != generation:
            raise BotAPIError(409, "Conflict: terminated by other getUpdates request; "
                                   "make sure that only one bot instance is running")
    return queue.take(limit, api.faults.duplicate)


# -- sending --------------------------------------------------------------------------------

@api_method("sendMessage", "send")
async def send_message(api: BotAPIMethods, params: Params) -> Json:
    chat = api.writable_chat(params)
    text, entities = validation.message_text(params.get("text"), params.get("parse_mode"), params.get("entities"))
    return api.send(chat, params, _text_fields("text", text, entities))


def _caption_fields(params: Params) -> Json:
    caption, entities = validation.caption_text(params.get("caption"), params.get("parse_mode"),
                                                params.get("caption_entities"))
    return _text_fields("caption", caption, entities) if caption else {}


@api_method("sendPhoto", "send")
async def send_photo(api: BotAPIMethods, params: Params) -> Json:
    chat = api.writable_chat(params)
    caption = _caption_fields(params)
    photo = api.media_file(params, "photo", "photos", "jpg", {"width": 800, "height": 600})
    return api.send(chat, params, {"photo": [photo], **caption})


@api_method("sendDocument", "send")
async def send_document(api: BotAPIMethods, params: Params) -> Json:
    chat = api.writable_chat(params)
    caption = _caption_fields(params)
    document = api.media_file(params, "document", "documents", "bin", {})
    return api.send(chat, params, {"document": document, **caption})


@api_method("sendLocation", "send")
async def send_location(api: BotAPIMethods, params: Params) -> Json:
    chat = api.writable_chat(params)
    latitude, longitude = params.get_float("latitude"), params.get_float("longitude")
    if not -90 <= latitude <= 90:
        raise bad_request("wrong latitude")
    if not -180 <= longitude <= 180:
        raise bad_request("wrong longitude")
    return api.send(chat, params, {"location": {"latitude": latitude, "longitude": longitude}})


@api_method("sendPoll", "send")
async def send_poll(api: BotAPIMethods, params: Params) -> Json:
    chat = api.writable_chat(params)
    question, options = validation.poll_content(params.get("question"), params.get("question_parse_mode"),
                                                params.get("options"))
    poll_type = params.get("type") or "regular"
    if poll_type not in {"regular", "quiz"}:
        raise bad_request("poll type is invalid")
    poll_id = str(5_000_000_000_000 + api.world.next_id())
    poll: Json = {
        "id": poll_id, "question": question,
        "options": [{"persistent_id": f"{poll_id}-{index}", "text": text, "voter_count": 0}
                    for index, text in enumerate(options)],
        "total_voter_count": 0, "is_closed": False, "is_anonymous": params.get_bool("is_anonymous", True),
        "type": poll_type, "allows_multiple_answers": params.get_bool("allows_multiple_answers"),
        "allows_revoting": params.get_bool("allows_revoting", True),
        "members_only": params.get_bool("members_only"),
    }
    data = api.send(chat, params, {"poll": poll})
    record = api.world.find_message(chat.id, data["message_id"])
    assert record is not None
    api.world.polls[poll_id] = PollState(copy.deepcopy(data["poll"]), record)
    return data


@api_method("stopPoll", "edit")
async def stop_poll(api: BotAPIMethods, params: Params) -> Json:
    chat = api.writable_chat(params)
    record = api.message(chat, params, "message with poll to stop not found")
    state = next((s for s in api.world.polls.values() if s.message is record), None)
    if state is None:
        raise bad_request("message with poll to stop not found")
    if state.poll["is_closed"]:
        raise bad_request("poll has already been closed")
    changes: Json = {}
    if params.get("reply_markup") is not None:
        changes["reply_markup"] = validation.reply_markup(params.get("reply_markup"))
    api.charge(chat, edit=True)
    state.poll["is_closed"] = True
    api.world.edit_message(record, {**changes, "poll": copy.deepcopy(state.poll)})
    api.world.deliver("poll", state.poll)
    return state.poll


@api_method("sendChatAction")
async def send_chat_action(api: BotAPIMethods, params: Params) -> bool:
    api.writable_chat(params)
    if params.get("action") not in _CHAT_ACTIONS:
        raise bad_request("wrong parameter action in request")
    return True


# -- editing and deleting ---------------------------------------------------------------

@api_method("editMessageText", "edit")
async def edit_message_text(api: BotAPIMethods, params: Params) -> Json:
    chat, record = api.editable(params)
    if "text" not in record.data:
        raise bad_request("there is no text in the message to edit")
    text, entities = validation.message_text(params.get("text"), params.get("parse_mode"), params.get("entities"))
    markup = validation.reply_markup(params.get("reply_markup"))
    return api.apply_edit(chat, record, {"text": text, "entities": entities or None, "reply_markup": markup})


@api_method("editMessageCaption", "edit")
async def edit_message_caption(api: BotAPIMethods, params: Params) -> Json:
    chat, record = api.editable(params)
    if not {"photo", "document"} & record.data.keys():
        raise bad_request("there is no caption in the message to edit")
    caption = _caption_fields(params)
    markup = validation.reply_markup(params.get("reply_markup"))
    return api.apply_edit(chat, record, {"caption": caption.get("caption"),
                                          "caption_entities": caption.get("caption_entities"),
                                          "reply_markup": markup})


@api_method("editMessageReplyMarkup", "edit")
async def edit_message_reply_markup(api: BotAPIMethods, params: Params) -> Json:
    chat, record = api.editable(params)
    markup = validation.reply_markup(params.get("reply_markup"))
    return api.apply_edit(chat, record, {"reply_markup": markup})


@api_method("deleteMessage")
async def delete_message(api: BotAPIMethods, params: Params) -> bool:
    chat = api.chat(params)
    record = api.message(chat, params, "message to delete not found")
    if isinstance(chat, SimGroup) and not record.from_bot and not chat.bot_is_admin:
        raise bad_request("message can't be deleted")
    api.world.delete_message(record)
    return True


@api_method("answerCallbackQuery")
async def answer_callback_query(api: BotAPIMethods, params: Params) -> bool:
    query_id = str(params.require("callback_query_id"))
    state = api.world.callback_queries.get(query_id)
    if state is None or state.answer is not None:
        raise bad_request("query is too old and response timeout expired or query ID is invalid")
    validation.callback_answer_text(params.get("text"))
    state.answer = {key: params.get(key) for key in ("text", "show_alert", "url", "cache_time")
                    if params.get(key) is not None}
    if text := params.get("text"):
        style = "alert" if params.get_bool("show_alert") else "toast"
        api.world.log(state.message.chat_id, "action", "bot", state.message, f"answered with {style} {text!r}")
    return True


# -- files and chats ---------------------------------------------------------------------

@api_method("getFile")
async def get_file(api: BotAPIMethods, params: Params) -> Json:
    stored = api.world.files.get(str(params.require("file_id")))
    if stored is None:
        raise bad_request("invalid file_id")
    return stored.as_file()


@api_method("getChat")
async def get_chat(api: BotAPIMethods, params: Params) -> Json:
    chat = api.chat(params)
    gifts = {"unlimited_gifts": False, "limited_gifts": False, "unique_gifts": False,
             "premium_subscription": False, "gifts_from_channels": False}
    return {**chat.as_chat(), "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gifts}


@api_method("getChatMember")
async def get_chat_member(api: BotAPIMethods, params: Params) -> Json:
    chat = api.chat(params)
    user_id = params.require_int("user_id")
    if user_id == api.world.bot.id:
        return chat.bot_member() if isinstance(chat, SimGroup) else {"status": "member", "user": api.world.bot.as_user()}
    user = api.world.users.get(user_id)
    if user is None:
        raise bad_request("user not found")
    if isinstance(chat, SimGroup):
        return chat.member(user)
    return {"status": "member" if user is chat else "left", "user": user.as_user()}


@api_method("getChatAdministrators")
async def get_chat_administrators(api: BotAPIMethods, params: Params) -> list[Json]:
    chat = api.chat(params)
    if isinstance(chat, SimUser):
        raise bad_request("there are no administrators in the private chat")
    admins = [chat.member(user) for user in chat.members if chat.status_of(user) in {"creator", "administrator"}]
    return admins + ([chat.bot_member()] if chat.bot_is_admin else [])


@api_method("getChatMemberCount")
async def get_chat_member_count(api: BotAPIMethods, params: Params) -> int:
    chat = api.chat(params)
    if isinstance(chat, SimUser):
        return 2
    return len(chat.members) + int(chat.bot_is_member)


SENDING_METHODS = frozenset(spec.name for spec in METHODS.values() if spec.kind == "send")
