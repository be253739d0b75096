"""Reading Bot API parameters from any of the encodings Telegram accepts.

Telegram takes parameters as a query string, ``application/json``,
``application/x-www-form-urlencoded`` or ``multipart/form-data``.  aiogram
always sends multipart: scalars as text (``true``, ``42``), nested objects
(``reply_markup``, ``options``, ``allowed_updates``...) as JSON strings, and
files as separate parts referenced by ``attach://<name>``.

Form values are therefore JSON-decoded, *except* for fields that are strings in
the Bot API (a message text ``"123"`` or ``"true"`` must stay a string); those
are listed in :data:`STRING_FIELDS`.  A value that is not valid JSON (such as
``@channel``) stays a string.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web
from multidict import MultiMapping

from .errors import bad_request

#: Parameters the Bot API defines as String; never JSON-decoded from forms.
STRING_FIELDS = frozenset({
    "action", "animation", "audio", "business_connection_id", "callback_query_id", "caption",
    "custom_title", "description", "document", "emoji", "explanation", "explanation_parse_mode",
    "file_id", "inline_message_id", "language_code", "message_effect_id", "name", "parse_mode",
    "photo", "question", "question_parse_mode", "secret_token", "short_description", "sticker",
    "text", "title", "type", "url", "video", "video_note", "voice",
})


@dataclass(frozen=True)
class Upload:
    """A file sent as a multipart part."""

    filename: str
    content: bytes
    content_type: str


def _decode(name: str, raw: str) -> Any:
    if name in STRING_FIELDS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def _decode_form(fields: MultiMapping[str]) -> dict[str, Any]:
    return {name: _decode(name, value) for name, value in fields.items()}


class Params:
    """Typed access to one call's parameters, raising Telegram-style 400s."""

    def __init__(self, values: dict[str, Any], uploads: dict[str, Upload] | None = None) -> None:
        self.values = values
        self.uploads = uploads or {}

    @classmethod
    async def from_request(cls, request: web.Request) -> Params:
        """Parse query string and body, whatever the content type."""
        values = _decode_form(request.query)
        uploads: dict[str, Upload] = {}
        if request.content_type == "application/json":
            try:
                body = await request.json()
            except ValueError:
                raise bad_request("can't parse JSON object") from None
            if not isinstance(body, dict):
                raise bad_request("JSON object expected")
            values.update(body)
        elif request.content_type == "multipart/form-data":
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader) or part.name is None:
                    continue
                if part.filename is not None:
                    content_type = part.headers.get("Content-Type", "application/octet-stream")
                    uploads[part.name] = Upload(part.filename, bytes(await part.read()), content_type)
                else:
                    values[part.name] = _decode(part.name, await part.text())
        elif request.content_type == "application/x-www-form-urlencoded":
            values.update(_decode_form(await request.post()))  # type: ignore[arg-type]
        return cls(values, uploads)

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(name, default)

    def require(self, name: str) -> Any:
        value = self.values.get(name)
        if value is None or value == "":
            raise bad_request(f"{name} is empty")
        return value

    def get_int(self, name: str, default: int | None = None) -> int | None:
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            raise bad_request(f"invalid {name} specified")
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.lstrip("-").isdigit():
            return int(value)
        raise bad_request(f"invalid {name} specified")

    def require_int(self, name: str) -> int:
        self.require(name)
        value = self.get_int(name)
        assert value is not None
        return value

    def get_float(self, name: str) -> float:
        value = self.require(name)
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def get_bool(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, str):
            return value.lower() in {"true", "1"}
        return bool(value)

    def get_file(self, name: str) -> Upload | str | None:
        """A file parameter: an upload (``attach://x`` or a part named ``name``) or a string (file_id/URL)."""
        value = self.values.get(name)
        if isinstance(value, str) and value.startswith("attach://"):
            upload = self.uploads.get(value.removeprefix("attach://"))
            if upload is None:
                raise bad_request(f"{name} attachment not found")
            return upload
        if value is None and name in self.uploads:
            return self.uploads[name]
        return value if isinstance(value, str) else None
