"""Callback data: an action and integer IDs, never text (64-byte limit; votes and presses from
every language must add up). Plain functions, so services can build buttons without aiogram."""
from __future__ import annotations

from enum import StrEnum

from bot.limits import MAX_CALLBACK_DATA


class Act(StrEnum):
    LANG = "lg"  # pick language (index into shipped locales)
    GRID = "gr"  # resident picks their grid
    CATEGORY = "ct"  # intake: category index
    SKIP = "sk"  # intake: skip an optional step
    CONFIRM = "cf"  # intake: confirm
    EDIT = "ed"  # intake: back to description
    CANCEL = "cx"  # intake: cancel
    FOLLOW = "fo"  # intake: follow an existing request instead
    TRIAGE = "tr"  # request id, triage op index
    DECLINE = "dc"  # request id, reason index
    DUP = "du"  # request id, original id
    TASK = "tk"  # request id, task op index
    LIAISON = "li"  # request id, liaison op index
    ESCALATE = "es"  # request id, liaison user id
    DUE = "dd"  # request id, days until due
    REQ = "rq"  # open a request (timeline)
    PAGE = "pg"  # list id, page
    CANCEL_REQ = "cr"  # requester cancels a request
    ANSWER = "an"  # requester answers a question about their request
    INTAKE_GRID = "ig"  # intake: the request's micro-grid


def pack(act: Act, *ids: int) -> str:
    data = ":".join([act.value, *map(str, ids)])
    assert len(data.encode()) <= MAX_CALLBACK_DATA, data
    return data


def unpack(data: str | None) -> tuple[Act, tuple[int, ...]] | None:
    """Parse callback data; None for anything we did not make (forged, old format)."""
    if not data:
        return None
    head, *rest = data.split(":")
    try:
        return Act(head), tuple(int(x) for x in rest)
    except ValueError:
        return None
