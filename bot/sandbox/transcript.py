"""Readable per-chat transcripts, for ``gongzhi demo`` and for failing tests.

One line per event, bot messages with their inline buttons on an indented
line as ``[Label]``.  Bot messages carry their id (``bot #4:``) so that later
edits (``bot edited #4:``) and deletions can be matched to them.
"""

from __future__ import annotations

from .world import ChatEvent, Json

INDENT = "    "


def describe(message: Json) -> str:
    """A one-line rendering of a message's content, whatever its type."""
    caption = message.get("caption")
    if "text" in message:
        body = message["text"]
    elif "photo" in message:
        body = "[photo]" + (f" {caption}" if caption else "")
    elif "document" in message:
        name = message["document"].get("file_name", "file")
        body = f"[document {name}]" + (f" {caption}" if caption else "")
    elif "location" in message:
        body = f"[location {message['location']['latitude']}, {message['location']['longitude']}]"
    elif "sticker" in message:
        body = f"[sticker {message['sticker'].get('emoji', '')}]".replace(" ]", "]")
    elif "voice" in message:
        body = f"[voice {message['voice']['duration']}s]"
    elif "poll" in message:
        poll = message["poll"]
        options = " / ".join(f"{option['text']} ({option['voter_count']})" for option in poll["options"])
        body = f"[poll{' closed' if poll['is_closed'] else ''}] {poll['question']}: {options}"
    elif "new_chat_members" in message:
        body = "[joined: " + ", ".join(member["first_name"] for member in message["new_chat_members"]) + "]"
    elif "left_chat_member" in message:
        body = f"[left: {message['left_chat_member']['first_name']}]"
    else:
        body = "[unsupported message]"
    if "reply_to_message" in message:
        body = f"(reply to #{message['reply_to_message']['message_id']}) {body}"
    return body


def _buttons(message: Json) -> list[str]:
    rows = message.get("reply_markup", {}).get("inline_keyboard", [])
    return [INDENT + " ".join(f"[{button['text']}]" for button in row) for row in rows]


def _indent_continuation(line: str) -> list[str]:
    first, *rest = line.split("\n")
    return [first, *(INDENT + part for part in rest)]


def render(events: list[ChatEvent]) -> list[str]:
    """Transcript lines for the events of one chat."""
    lines: list[str] = []
    for event in events:
        number = f"#{event.message.message_id}" if event.message else ""
        if event.kind == "message" and event.snapshot is not None:
            who = f"bot {number}" if event.actor == "bot" else event.actor
            lines += _indent_continuation(f"{who}: {describe(event.snapshot)}")
            lines += _buttons(event.snapshot)
        elif event.kind == "edit" and event.snapshot is not None:
            lines += _indent_continuation(f"bot edited {number}: {describe(event.snapshot)}")
            lines += _buttons(event.snapshot)
        elif event.kind == "delete":
            lines.append(f"bot deleted {number}")
        else:
            lines.append(f"{event.actor} {event.detail}")
    return lines
