"""Callback data: an action and integer IDs, never text (64-byte limit; votes and presses from
every language must add up). Services describe a button as a plain `Press` (no aiogram); `pack`
turns it into data. Handlers match presses with one typed aiogram `CallbackData` class per action
(below): the prefix is the action's code and the fields are its ids in the same order, so the
data is the same string `pack` makes and buttons already posted in chats keep working."""
from __future__ import annotations

from aiogram.filters.callback_data import CallbackData

from bot.limits import MAX_CALLBACK_DATA
from bot.services.buttons import Act, Press

__all__ = ["Act", "ARITY", "PRESS", "TYPED_PRESSES", "pack", "unpack", "packed"]


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


class LanguagePress(CallbackData, prefix=Act.LANG.value):
    locale: int


class GridPress(CallbackData, prefix=Act.GRID.value):
    grid: int


class CategoryPress(CallbackData, prefix=Act.CATEGORY.value):
    category: int


class SkipPress(CallbackData, prefix=Act.SKIP.value):
    pass


class ConfirmPress(CallbackData, prefix=Act.CONFIRM.value):
    pass


class EditPress(CallbackData, prefix=Act.EDIT.value):
    pass


class CancelPress(CallbackData, prefix=Act.CANCEL.value):
    pass


class FollowPress(CallbackData, prefix=Act.FOLLOW.value):
    req: int


class RequestPress(CallbackData, prefix=Act.REQ.value):
    req: int


class CancelRequestPress(CallbackData, prefix=Act.CANCEL_REQ.value):
    req: int


class IntakeGridPress(CallbackData, prefix=Act.INTAKE_GRID.value):
    grid: int


class SignoffPress(CallbackData, prefix=Act.SIGNOFF.value):
    req: int
    resolved: int


class StarsPress(CallbackData, prefix=Act.STARS.value):
    req: int
    stars: int


class TranslatePress(CallbackData, prefix=Act.XLATE.value):
    post: int


class ProposalKindPress(CallbackData, prefix=Act.PROP_KIND.value):
    kind: int


class ProposalHoursPress(CallbackData, prefix=Act.PROP_HOURS.value):
    hours: int


class ProposalRulePress(CallbackData, prefix=Act.PROP_RULE.value):
    rule: int


class ProposalSavePress(CallbackData, prefix=Act.PROP_SAVE.value):
    open: int


class SurveyGroupPress(CallbackData, prefix=Act.SURVEY_GROUP.value):
    chat: int


class SurveyDaysPress(CallbackData, prefix=Act.SURVEY_DAYS.value):
    days: int


class MeTooPress(CallbackData, prefix=Act.METOO.value):
    req: int


class ServiceCategoryPress(CallbackData, prefix=Act.SVC_CAT.value):
    category: int
    page: int


class ServicePress(CallbackData, prefix=Act.SERVICE.value):
    service: int


class SlotPress(CallbackData, prefix=Act.SLOT.value):
    slot: int


class NeedsPagePress(CallbackData, prefix=Act.NEEDS_PAGE.value):
    page: int


class WishCategoryPress(CallbackData, prefix=Act.WISH_CAT.value):
    category: int


class WishPagePress(CallbackData, prefix=Act.WISH_PAGE.value):
    page: int


class RoutePress(CallbackData, prefix=Act.ROUTE.value):
    req: int
    page: int


class RouteToPress(CallbackData, prefix=Act.ROUTE_TO.value):
    req: int
    resource: int


class RouteBackPress(CallbackData, prefix=Act.ROUTE_BACK.value):
    route: int


class PartnerAnswerPress(CallbackData, prefix=Act.PARTNER_ANSWER.value):
    route: int
    accept: int


class ResourcesPress(CallbackData, prefix=Act.RESOURCES.value):
    partner: int
    page: int


class ItemsPress(CallbackData, prefix=Act.ITEMS.value):
    partner: int
    page: int


class RedeemPress(CallbackData, prefix=Act.REDEEM.value):
    item: int


class RedeemBackPress(CallbackData, prefix=Act.REDEEM_BACK.value):
    redemption: int


TYPED_PRESSES: tuple[type[CallbackData], ...] = (
    TriagePress, DeclinePress, DuplicatePress, EscalatePress, DuePress, RecategorisePress, TaskPress,
    LiaisonPress, AnswerPress, ToCouncilPress, ProposalPress, VotePress, BallotPress, OrderPress, WishPress,
    PagePress, LanguagePress, GridPress, CategoryPress, SkipPress, ConfirmPress, EditPress, CancelPress,
    FollowPress, RequestPress, CancelRequestPress, IntakeGridPress, SignoffPress, StarsPress, TranslatePress,
    ProposalKindPress, ProposalHoursPress, ProposalRulePress, ProposalSavePress, SurveyGroupPress, SurveyDaysPress,
    MeTooPress, ServiceCategoryPress, ServicePress, SlotPress, NeedsPagePress, WishCategoryPress, WishPagePress,
    RoutePress, RouteToPress, RouteBackPress, PartnerAnswerPress, ResourcesPress, ItemsPress, RedeemPress,
    RedeemBackPress)
PRESS: dict[Act, type[CallbackData]] = {Act(cls.__prefix__): cls for cls in TYPED_PRESSES}  # the class of each action
