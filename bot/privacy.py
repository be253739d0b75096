"""What may reach a group: the one gate every group rendering passes through.

A request reaches a group only as a `PublicRequest` (public fields, with phone numbers, ID card
numbers and room numbers scrubbed out of its free text); text that is not public travels as
`Restricted`. `group_context` checks a rendering context before anything is rendered for a group:
strict (a group post) raises on anything not public; lenient (a message for a person that has to
go through the group where they asked, because they never started the bot) replaces it with its
scrubbed public form.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from bot.i18n import clean_user_text

MASK = "[…]"

# Category-aware patterns, Chinese and international. Order matters: IDs before phones before
# room numbers, so that a long ID is not half-taken by a phone pattern.
# Arabic-Indic and Persian digits count as digits
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_PATTERNS = [
    # Chinese resident ID card: 18 characters (17 digits and a digit or X), or the old 15 digits
    re.compile(r"(?<!\d)\d{6}(?:19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx](?![\dA-Za-z])"),
    re.compile(r"(?<!\d)\d{15}(?!\d)"),
    # A home's own number (a room, flat or door), not a building or floor, which many share and
    # public matters need ("the lift in building 3"): 1203室, 1203号, 房间 1203 ("5户" counts households)
    re.compile(r"\d+\s*[A-Za-z]?\s*(?:室|号(?!楼|线|门|口))"),
    re.compile(r"(?:房间?号?|门牌号?)\s*[:：]?\s*\d+[A-Za-z]?"),
    # The same words in the bot's other languages, followed by a number: room 1203, apt 4B,
    # flat #12, кв. 45, квартира 12, appartement 3, depto 12, 1203호, شقة ١٢, واحد ۱۲
    re.compile(r"(?i)\b(?:room|rm|flat|apartment|apt|suite|appartement|appt|chambre|porte|"
               r"depto|departamento|habitación|habitacion|puerta|кв|квартира|комната)"
               r"\.?\s*(?:#|№|no\.?)?\s*\d+[A-Za-zА-Яа-я]?"),
    re.compile(r"\d+\s*호"),
    re.compile(r"(?:شقة|غرفة|واحد|اتاق|پلاک)\s*[:#]?\s*\d+"),
    re.compile(r"#\s*\d{2,}"),
]


# Phone numbers, Chinese and international: a run of digits with the usual separators
# (+86 138 0013 8000, 0579-8512 3456, +7 (912) 345-67-89, 555 1234) holding 7 to 15 digits.
# Dates (2024-05-12) and short figures hold fewer digits and stay.
_DATE = re.compile(r"(?:19|20)\d{2}[-./](?:0?[1-9]|1[0-2])[-./](?:0?[1-9]|[12]\d|3[01])")
_PHONE = re.compile(r"(?<![\d\w])(?:\+|00)?\(?\d[\d \t\u00a0\-.()]{4,22}\d(?!\d)")  # never across lines


def _phone(m: re.Match[str]) -> str:
    digits = sum(ch.isdigit() for ch in m.group(0))
    if _DATE.fullmatch(m.group(0).strip()):
        return m.group(0)
    return MASK if 7 <= digits <= 15 else m.group(0)


def scrub(text: str | None) -> tuple[str, bool]:
    """`text` with phone numbers, ID numbers and room numbers masked; and whether any were."""
    out, kinds = scrub_kinds(text)
    return out, bool(kinds)


# What was masked, in kind (the person who wrote it is told: `labels.j2` "scrubbed_<kind>")
ID_NUMBER, PHONE, ROOM = "id_number", "phone", "room"


def scrub_kinds(text: str | None) -> tuple[str, list[str]]:
    """`text` with phone numbers, ID numbers and room numbers masked, and the kinds masked (in
    that order, each once)."""
    if not text:
        return text or "", []
    kinds: list[str] = []
    source = text.translate(_DIGITS)

    def step(out: str, changed: str, kind: str) -> str:
        if changed != out and kind not in kinds:
            kinds.append(kind)
        return changed

    out = step(source, _PATTERNS[0].sub(MASK, source), ID_NUMBER)
    out = step(out, _PATTERNS[1].sub(MASK, out), ID_NUMBER)
    out = step(out, _PHONE.sub(_phone, out), PHONE)
    for pattern in _PATTERNS[2:]:
        out = step(out, pattern.sub(MASK, out), ROOM)
    order = [k for k in (ID_NUMBER, PHONE, ROOM) if k in kinds]
    return (text, []) if out == source else (out, order)


def scrubbed(text: str | None) -> str | None:
    return None if text is None else scrub(text)[0]


class Restricted(str):
    """Text for the requester, the assignee, the grid's leaders and that community's staff
    only: a group rendering refuses it (or, lenient, scrubs it)."""


class NotPublic(TypeError):
    """Something that is not public was about to be rendered for a group: a bug, never data."""


class PublicRequest:
    """A request as a group may see it: its public fields only, free text scrubbed. Anything
    else reads as empty (`contact_note`, `reason_note`, the name of the resident it was filed for,
    photos' file ids, the location)."""

    _PASS = frozenset({"id", "community_id", "number", "grid_id", "category", "status", "language_hint",
                       "mt_locale", "department", "dept_due_at", "reason", "round", "created_at",
                       "updated_at", "triaged_at", "done_at", "closed_at", "timer_kind", "duplicate_of_id",
                       "requester_id", "assignee_id", "filed_by_id", "source_chat_id"})

    def __init__(self, req: Any) -> None:
        self._req = req
        self.description = scrub(req.description)[0]
        self.description_mt = scrubbed(req.description_mt)
        self.photos = ["photo"] * len([p for p in req.photos or [] if not str(p).startswith("done:")])
        self.contact_note = self.reason_note = self.on_behalf_name = None
        self.latitude = self.longitude = None

    def __getattr__(self, name: str) -> Any:
        if name in PublicRequest._PASS:
            return getattr(self._req, name)
        raise NotPublic(f"request field {name!r} is not public")


class PublicWish:
    """A micro-wish as the board (a group, or a claimer-to-be) may see it: the text staff
    approved at screening (scrubbed again here), budget, category and micro-grid. The wisher's
    own words, name, contact and photo read as not public."""

    _PASS = frozenset({"id", "community_id", "number", "grid_id", "category", "budget", "status",
                       "created_at", "approved_at", "claimed_at", "delivered_at", "fulfilled_at", "fulfiller_id"})

    def __init__(self, wish: Any) -> None:
        self._wish = wish
        self.public_text = scrub(wish.public_text or "")[0]
        self.on_behalf_name = self.contact_note = self.photo = self.delivered_photo = None

    def __getattr__(self, name: str) -> Any:
        if name in PublicWish._PASS:
            return getattr(self._wish, name)
        raise NotPublic(f"wish field {name!r} is not public")


def _public_value(key: str, value: Any, strict: bool) -> Any:
    from storage.models import Rating, Request, Wish

    if isinstance(value, (PublicRequest, PublicWish)):
        return value
    if isinstance(value, Wish):
        if strict:
            raise NotPublic(f"{key}: a Wish must reach a group as PublicWish")
        return PublicWish(value)
    if isinstance(value, Request):
        if strict:
            raise NotPublic(f"{key}: a Request must reach a group as PublicRequest")
        return PublicRequest(value)
    if isinstance(value, Restricted):
        if strict:
            raise NotPublic(f"{key}: restricted text in a group rendering")
        return scrub(str(value))[0]
    if isinstance(value, Rating):
        raise NotPublic(f"{key}: a rating's comment is restricted")
    if isinstance(value, (list, tuple)):
        return type(value)(_public_value(key, v, strict) for v in value)
    if isinstance(value, Mapping):
        return {k: _public_value(f"{key}.{k}", v, strict) for k, v in value.items()}
    return value


def group_context(ctx: Mapping[str, Any], *, strict: bool = True) -> dict[str, Any]:
    """The one gate for anything rendered for a group (see the module docstring)."""
    return {k: _public_value(k, v, strict) for k, v in ctx.items()}


def clean_name(name: str | None) -> str:
    """A person's name as we show it: no direction overrides or isolates of its own."""
    return clean_user_text(name or "")
