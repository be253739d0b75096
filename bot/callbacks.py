"""Callback data: an action and integer IDs, never text (64-byte limit; votes and presses from
every language must add up). Services describe a button as a plain `Press` (no aiogram); `pack`
turns it into data. Handlers match presses with one typed aiogram `CallbackData` class per action
(below): the prefix is the action's code and the fields are its ids in the same order, so the
data is the same string `pack` makes and buttons already posted in chats keep working."""
from __future__ import annotations

from aiogram.filters.callback_data import CallbackData

from bot.limits import MAX_CALLBACK_DATA
from bot.services.buttons import Act, Press

__all__ = ["Act", "ARITY", "pack", "unpack", "packed", "TYPED_PRESSES"]


# How many IDs each action carries; data with another count is not ours (forged or stale).
ARITY: dict[Act, int] = {
    Act.LANG: 1, Act.GRID: 1, Act.CATEGORY: 1, Act.SKIP: 0, Act.CONFIRM: 0, Act.EDIT: 0, Act.CANCEL: 0,
    Act.FOLLOW: 1, Act.TRIAGE: 2, Act.DECLINE: 2, Act.DUP: 2, Act.TASK: 2, Act.LIAISON: 2, Act.ESCALATE: 2,
    Act.DUE: 3, Act.REQ: 1, Act.PAGE: 2, Act.CANCEL_REQ: 1, Act.ANSWER: 1, Act.INTAKE_GRID: 1,
    Act.SIGNOFF: 2, Act.STARS: 2, Act.XLATE: 1,
    Act.TO_COUNCIL: 1, Act.PROPOSAL: 2, Act.VOTE: 2, Act.BALLOT: 1, Act.PROP_KIND: 1, Act.PROP_HOURS: 1,
    Act.PROP_RULE: 1, Act.PROP_SAVE: 1,
    Act.SURVEY_GROUP: 1, Act.SURVEY_DAYS: 1, Act.RECATEGORISE: 2, Act.METOO: 1,
    Act.SVC_CAT: 2, Act.SERVICE: 1, Act.SLOT: 1, Act.ORDER: 2, Act.NEEDS_PAGE: 1,
    Act.WISH: 2, Act.WISH_CAT: 1, Act.WISH_PAGE: 1,
    Act.ROUTE: 2, Act.ROUTE_TO: 2, Act.ROUTE_BACK: 1, Act.PARTNER_ANSWER: 2, Act.RESOURCES: 2, Act.ITEMS: 2, Act.REDEEM: 1, Act.REDEEM_BACK: 1,
}


def pack(act: Act, *ids: int) -> str:
    data = ":".join([act.value, *map(str, ids)])
    assert len(data.encode()) <= MAX_CALLBACK_DATA, data
    assert ARITY.get(act, len(ids)) == len(ids), data
    return data


def packed(data: Press | str) -> str:
    """Callback data for a button: a service's `Press`, or data a handler packed already."""
    return data if isinstance(data, str) else pack(data.act, *data.ids)


def unpack(data: str | None) -> tuple[Act, tuple[int, ...]] | None:
    """Parse callback data; None for anything we did not make (forged, old format)."""
    if not data:
        return None
    head, *rest = data.split(":")
    try:
        act, ids = Act(head), tuple(int(x) for x in rest)
    except ValueError:
        return None
    return (act, ids) if ARITY.get(act, len(ids)) == len(ids) else None


# ---------------------------------------------------------------- typed presses, one class per action
# Field order is wire order; an operation index (`op`) picks one handler each (F.op == ...).
class TriagePress(CallbackData, prefix=Act.TRIAGE.value):
    req: int
    op: int  # bot.services.requests.Op, triage part


class DeclinePress(CallbackData, prefix=Act.DECLINE.value):
    req: int
    reason: int  # index into DECLINE_REASONS


class DuplicatePress(CallbackData, prefix=Act.DUP.value):
    req: int
    original: int


class EscalatePress(CallbackData, prefix=Act.ESCALATE.value):
    req: int
    liaison: int  # the liaison's user id


class DuePress(CallbackData, prefix=Act.DUE.value):
    req: int
    liaison: int
    days: int


class RecategorisePress(CallbackData, prefix=Act.RECATEGORISE.value):
    req: int
    category: int  # index into the community's categories


class TaskPress(CallbackData, prefix=Act.TASK.value):
    req: int
    op: int  # bot.services.requests.Op, task part


class LiaisonPress(CallbackData, prefix=Act.LIAISON.value):
    req: int
    op: int  # bot.services.requests.Op, liaison part


class AnswerPress(CallbackData, prefix=Act.ANSWER.value):
    req: int


class ToCouncilPress(CallbackData, prefix=Act.TO_COUNCIL.value):
    req: int


class ProposalPress(CallbackData, prefix=Act.PROPOSAL.value):
    proposal: int
    op: int  # bot.services.deliberation.POp


class VotePress(CallbackData, prefix=Act.VOTE.value):
    proposal: int
    option: int


class BallotPress(CallbackData, prefix=Act.BALLOT.value):
    proposal: int


class OrderPress(CallbackData, prefix=Act.ORDER.value):
    req: int
    op: int  # bot.services.menu.MOp


class WishPress(CallbackData, prefix=Act.WISH.value):
    wish: int
    op: int  # bot.services.wishes.WishOp


class PagePress(CallbackData, prefix=Act.PAGE.value):
    list: int
    page: int


TYPED_PRESSES: tuple[type[CallbackData], ...] = (
    TriagePress, DeclinePress, DuplicatePress, EscalatePress, DuePress, RecategorisePress, TaskPress,
    LiaisonPress, AnswerPress, ToCouncilPress, ProposalPress, VotePress, BallotPress, OrderPress, WishPress,
    PagePress)
