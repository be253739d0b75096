"""Text measuring and entity parsing, the way Telegram does it.

Telegram counts lengths and entity offsets in UTF-16 code units, so an emoji
such as "👍" counts as 2.  Every length check in the emulator goes through
:func:`utf16_len` for that reason.

:func:`parse_html` implements ``parse_mode=HTML``.  It is deliberately a
hand-written scanner rather than :mod:`html.parser`, because the standard
parser silently repairs broken markup while Telegram rejects it, and catching
that breakage before production is the point of the emulator.  It is slightly
*stricter* than Telegram in one place: a bare ``&`` that does not start one of
the supported entities is an error (Telegram passes it through), because
unescaped user input is a bug even when Telegram happens to accept it.
"""

from __future__ import annotations

import re
from typing import Any

Entity = dict[str, Any]

#: Tag name -> MessageEntity type.  Only these tags are accepted.
HTML_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "span": "spoiler",
    "tg-spoiler": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}

_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_ENTITY_RE = re.compile(r"&(?:(lt|gt|amp|quot)|#(\d{1,7})|#[xX]([0-9a-fA-F]{1,6}));")
_TAG_NAME_RE = re.compile(r"[a-zA-Z][a-zA-Z0-9-]*")
_ATTRIBUTE_RE = re.compile(r"\s*([a-zA-Z][a-zA-Z0-9-]*)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>\"']+))?")
_COMMAND_RE = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?(?![\w@])")
_MENTION_RE = re.compile(r"(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31}(?!\w)")


class EntityParseError(ValueError):
    """Malformed markup; the message is Telegram's text after "can't parse entities: "."""


def utf16_len(text: str) -> int:
    """Length of ``text`` in UTF-16 code units (Telegram's unit for lengths and offsets)."""
    return len(text.encode("utf-16-le")) // 2


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


def _decode_entity(source: str, index: int) -> tuple[str, int]:
    """Decode the character entity at ``source[index] == "&"``; return (char, end index)."""
    match = _ENTITY_RE.match(source, index)
    if match is None:
        raise EntityParseError(
            f'Character "&" must be escaped as "&amp;" at byte offset {_byte_offset(source, index)}'
        )
    named, decimal, hexadecimal = match.groups()
    if named:
        return _NAMED_ENTITIES[named], match.end()
    code = int(decimal) if decimal else int(hexadecimal, 16)
    if not 0 < code <= 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        raise EntityParseError(f"Invalid character entity at byte offset {_byte_offset(source, index)}")
    return chr(code), match.end()


def _parse_attributes(source: str, index: int, tag: str, tag_offset: int) -> tuple[dict[str, str], int]:
    """Read attributes up to the closing ``>``; return them and the index after ``>``."""
    attributes: dict[str, str] = {}
    while True:
        while index < len(source) and source[index].isspace():
            index += 1
        if index >= len(source):
            raise EntityParseError(f"Unclosed start tag at byte offset {tag_offset}")
        if source[index] == ">":
            return attributes, index + 1
        match = _ATTRIBUTE_RE.match(source, index)
        if match is None or match.end() == index:
            raise EntityParseError(
                f'Empty attribute name in the tag "{tag}" at byte offset {_byte_offset(source, index)}'
            )
        raw = match.group(2) or ""
        if raw[:1] in {'"', "'"}:
            raw = raw[1:-1]
        attributes[match.group(1).lower()] = _unescape_attribute(raw, source, index)
        index = match.end()


def _unescape_attribute(raw: str, source: str, index: int) -> str:
    out: list[str] = []
    position = 0
    while position < len(raw):
        if raw[position] == "&":
            try:
                char, position = _decode_entity(raw, position)
            except EntityParseError:
                raise EntityParseError(
                    f'Character "&" must be escaped as "&amp;" at byte offset {_byte_offset(source, index)}'
                ) from None
            out.append(char)
        else:
            out.append(raw[position])
            position += 1
    return "".join(out)


def _entity_for(tag: str, attributes: dict[str, str], tag_offset: int) -> Entity | None:
    """The entity a start tag opens, or None for tags that only carry text (``<a>`` without href)."""
    kind = HTML_TAGS[tag]
    if tag == "span" and attributes.get("class") != "tg-spoiler":
        raise EntityParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {tag_offset}')
    if tag == "a":
        href = attributes.get("href")
        return {"type": kind, "url": href} if href else None
    if tag == "tg-emoji":
        emoji_id = attributes.get("emoji-id")
        if not emoji_id:
            raise EntityParseError(f'Tag "tg-emoji" must have attribute "emoji-id" at byte offset {tag_offset}')
        return {"type": kind, "custom_emoji_id": emoji_id}
    if tag == "blockquote" and "expandable" in attributes:
        return {"type": "expandable_blockquote"}
    if tag == "code" and attributes.get("class", "").startswith("language-"):
        return {"type": kind, "language": attributes["class"].removeprefix("language-")}
    return {"type": kind}


def parse_html(source: str) -> tuple[str, list[Entity]]:
    """Parse Telegram-flavoured HTML into plain text and MessageEntity dicts.

    Raises :class:`EntityParseError` on unsupported or unbalanced tags and on
    unescaped ``<``/``&``.  Offsets and lengths of the entities are in UTF-16
    code units; empty entities are dropped, as Telegram does.
    """
    text: list[str] = []
    utf16_position = 0
    # Open tags: (name, utf16 start, entity or None, byte offset of the tag).
    stack: list[tuple[str, int, Entity | None, int]] = []
    entities: list[Entity] = []
    index = 0
    while index < len(source):
        char = source[index]
        if char == "&":
            decoded, index = _decode_entity(source, index)
            text.append(decoded)
            utf16_position += utf16_len(decoded)
            continue
        if char != "<":
            text.append(char)
            utf16_position += utf16_len(char)
            index += 1
            continue
        tag_offset = _byte_offset(source, index)
        if source.startswith("</", index):
            end = source.find(">", index)
            if end == -1:
                raise EntityParseError(f"Unclosed end tag at byte offset {tag_offset}")
            name = source[index + 2 : end].strip().lower()
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {tag_offset}")
            open_name, start, entity, _ = stack.pop()
            if name != open_name:
                raise EntityParseError(
                    f'Unmatched end tag at byte offset {tag_offset}, expected "</{open_name}>", found "</{name}>"'
                )
            if entity is not None and utf16_position > start:
                entities.append({**entity, "offset": start, "length": utf16_position - start})
            index = end + 1
            continue
        match = _TAG_NAME_RE.match(source, index + 1)
        name = match.group(0).lower() if match else ""
        if name not in HTML_TAGS:
            raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {tag_offset}')
        attributes, index = _parse_attributes(source, index + 1 + len(name), name, tag_offset)
        entity = _entity_for(name, attributes, tag_offset)
        if name == "code" and stack and stack[-1][0] == "pre" and entity and "language" in entity:
            # <pre><code class="language-x"> sets the language of the enclosing pre block.
            pre_name, pre_start, pre_entity, pre_offset = stack[-1]
            stack[-1] = (pre_name, pre_start, {"type": "pre", "language": entity["language"]}, pre_offset)
            entity = None
        stack.append((name, utf16_position, entity, tag_offset))
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(text), entities


def detect_entities(text: str) -> list[Entity]:
    """Entities a Telegram client attaches to a typed message: commands and @mentions.

    ``/cmd@some_bot`` is a single ``bot_command`` entity (the lookbehind of the
    mention pattern keeps its ``@`` from also becoming a mention).
    """
    entities: list[Entity] = []
    for kind, pattern in (("bot_command", _COMMAND_RE), ("mention", _MENTION_RE)):
        for match in pattern.finditer(text):
            entities.append({"type": kind, "offset": utf16_len(text[: match.start()]),
                             "length": utf16_len(match.group(0))})
    entities.sort(key=lambda e: e["offset"])
    return entities
