"""Parameter validation with Telegram's limits and error texts.

The limits are module constants so that a test can compare them with
python-telegram-bot's :mod:`telegram.constants` (an independent source) and
notice when Telegram changes them.  Error texts copy Telegram's where they are
known; where Telegram's exact text is unknown the wording follows its style
(``Bad Request: UPPER_CASE_CODE`` or a short lower-case sentence).
"""

from __future__ import annotations

import re
from typing import Any

from .errors import bad_request
from .formatting import Entity, EntityParseError, parse_html, utf16_len

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MIN_CALLBACK_DATA = 1
MAX_CALLBACK_DATA = 64
MAX_INLINE_BUTTONS = 100
MAX_BUTTONS_PER_ROW = 8
MAX_CALLBACK_ANSWER_TEXT = 200
MAX_POLL_QUESTION = 300
MIN_POLL_OPTIONS = 1  # Bot API 10.0 lowered this from 2 to 1.
MAX_POLL_OPTIONS = 12
MAX_POLL_OPTION = 100
MAX_BOT_COMMANDS = 100
MAX_COMMAND_LENGTH = 32
MAX_COMMAND_DESCRIPTION = 256

_INLINE_ACTIONS = (
    "callback_data", "url", "switch_inline_query", "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat", "login_url", "web_app", "pay", "callback_game", "copy_text",
)
_COMMAND_NAME_RE = re.compile(r"[a-z0-9_]+")
_BUTTON_URL_RE = re.compile(r"(https?|tg)://\S+")


def parse_formatted(text: Any, parse_mode: Any, entities: Any) -> tuple[str, list[Entity]]:
    """Apply ``parse_mode``; return (plain text, entities) without checking lengths.

    ``MarkdownV2``/``Markdown`` are accepted but not parsed: such text is
    stored verbatim (the project formats with HTML).
    """
    text = "" if text is None else str(text)
    mode = parse_mode.lower() if isinstance(parse_mode, str) else ""
    if mode == "html":
        try:
            return parse_html(text)
        except EntityParseError as error:
            raise bad_request(f"can't parse entities: {error}") from None
    if mode in {"", "markdown", "markdownv2"}:
        return text, list(entities) if isinstance(entities, list) else []
    raise bad_request("unsupported parse_mode")


def message_text(text: Any, parse_mode: Any, entities: Any) -> tuple[str, list[Entity]]:
    """A message text: non-empty and at most 4096 UTF-16 units after entity parsing."""
    plain, parsed = parse_formatted(text, parse_mode, entities)
    if not plain.strip():
        raise bad_request("message text is empty")
    if utf16_len(plain) > MAX_TEXT_LENGTH:
        raise bad_request("message is too long")
    return plain, parsed


def caption_text(caption: Any, parse_mode: Any, entities: Any) -> tuple[str, list[Entity]]:
    """A media caption: may be empty, at most 1024 UTF-16 units after entity parsing."""
    plain, parsed = parse_formatted(caption, parse_mode, entities)
    if utf16_len(plain) > MAX_CAPTION_LENGTH:
        raise bad_request("message caption is too long")
    return plain, parsed


def reply_markup(markup: Any) -> dict[str, Any] | None:
    """Validate ``reply_markup``; return what Telegram echoes in the Message.

    Only inline keyboards are echoed back (reply keyboards, ForceReply and
    ReplyKeyboardRemove are accepted but are not part of the Message object).
    """
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        return _inline_keyboard(markup["inline_keyboard"])
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise bad_request('field "keyboard" must be an Array')
        for row in rows:
            for button in row:
                label = button.get("text") if isinstance(button, dict) else button
                if not isinstance(label, str) or not label:
                    raise bad_request("keyboard button text must be non-empty")
        return None
    if markup.get("remove_keyboard") or markup.get("force_reply"):
        return None
    raise bad_request("can't parse reply keyboard markup JSON object")


def _inline_keyboard(rows: Any) -> dict[str, Any]:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('field "inline_keyboard" must be an Array of Arrays')
    if sum(len(row) for row in rows) > MAX_INLINE_BUTTONS:
        raise bad_request("too many inline buttons")
    for row in rows:
        if len(row) > MAX_BUTTONS_PER_ROW:
            raise bad_request("BUTTONS_TOO_MUCH")
        for button in row:
            _inline_button(button)
    return {"inline_keyboard": rows}


def _inline_button(button: Any) -> None:
    if not isinstance(button, dict) or not isinstance(button.get("text"), str) or not button["text"].strip():
        raise bad_request("BUTTON_TEXT_INVALID")
    actions = [name for name in _INLINE_ACTIONS if name in button]
    if not actions:
        raise bad_request("text buttons are unallowed in the inline keyboard")
    if len(actions) > 1:
        raise bad_request("can't parse inline keyboard button: exactly one of the optional fields must be used")
    if "callback_data" in button:
        data = button["callback_data"]
        size = len(data.encode("utf-8")) if isinstance(data, str) else 0
        if not MIN_CALLBACK_DATA <= size <= MAX_CALLBACK_DATA:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button and not (isinstance(button["url"], str) and _BUTTON_URL_RE.fullmatch(button["url"])):
        raise bad_request("BUTTON_URL_INVALID")


def callback_answer_text(text: Any) -> None:
    """answerCallbackQuery ``text`` is limited to 200 characters."""
    if isinstance(text, str) and utf16_len(text) > MAX_CALLBACK_ANSWER_TEXT:
        raise bad_request("MESSAGE_TOO_LONG")


def poll_content(question: Any, question_parse_mode: Any, options: Any) -> tuple[str, list[str]]:
    """Validate a poll; return the plain question and option texts.

    Options may be plain strings (old clients) or InputPollOption objects
    (``{"text": ..., "text_parse_mode": ...}``, what aiogram sends).
    """
    question_text, _ = parse_formatted(question, question_parse_mode, None)
    if not question_text.strip():
        raise bad_request("poll question must be non-empty")
    if utf16_len(question_text) > MAX_POLL_QUESTION:
        raise bad_request(f"poll question length must not exceed {MAX_POLL_QUESTION}")
    if not isinstance(options, list) or len(options) < MIN_POLL_OPTIONS:
        raise bad_request(f"poll must have at least {MIN_POLL_OPTIONS} option")
    if len(options) > MAX_POLL_OPTIONS:
        raise bad_request(f"poll can't have more than {MAX_POLL_OPTIONS} options")
    texts: list[str] = []
    for option in options:
        if isinstance(option, dict):
            option_text, _ = parse_formatted(option.get("text"), option.get("text_parse_mode"), None)
        else:
            option_text, _ = parse_formatted(option, None, None)
        if not option_text.strip():
            raise bad_request("poll options must be non-empty")
        if utf16_len(option_text) > MAX_POLL_OPTION:
            raise bad_request(f"poll options length must not exceed {MAX_POLL_OPTION}")
        texts.append(option_text)
    return question_text, texts


def bot_commands(commands: Any) -> list[dict[str, str]]:
    """Validate setMyCommands ``commands``; return them normalised to {command, description}."""
    if not isinstance(commands, list):
        raise bad_request("commands must be an Array")
    if len(commands) > MAX_BOT_COMMANDS:
        raise bad_request("too many commands")
    normalised: list[dict[str, str]] = []
    for command in commands:
        if not isinstance(command, dict):
            raise bad_request("BOT_COMMAND_INVALID")
        name, description = command.get("command"), command.get("description")
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_COMMAND_LENGTH or not _COMMAND_NAME_RE.fullmatch(name):
            raise bad_request("BOT_COMMAND_INVALID")
        if not isinstance(description, str) or not 1 <= len(description) <= MAX_COMMAND_DESCRIPTION:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        normalised.append({"command": name, "description": description})
    return normalised
