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
    XLATE = "xl"  # a group post's reference: send me this post in my language
    SIGNOFF = "so"  # request id, 1 = resolved / 0 = not yet
    STARS = "st"  # request id, stars 1-5
    INTAKE_GRID = "ig"  # intake: the request's micro-grid
    TO_COUNCIL = "tc"  # request id: triage sends it to the council (a proposal draft)
    PROPOSAL = "pp"  # proposal id, proposal op index (view, open, edit, withdraw, close, statement)
    VOTE = "vo"  # proposal id, option index
    BALLOT = "vb"  # proposal id: show the private ballot
    PROP_KIND = "pk"  # /propose: kind index
    PROP_HOURS = "ph"  # /propose: voting hours
    PROP_RULE = "pu"  # /propose: toggle a rule (threshold, secret, quorum)
    PROP_SAVE = "ps"  # /propose: 1 = open the vote now, 0 = keep as a draft
    SURVEY_GROUP = "sg"  # /survey: toggle a target group (its chat id)
    SURVEY_DAYS = "sd"  # /survey: days until the poll closes
    RECATEGORISE = "rc"  # request id, category index: triage sets or changes the category
    WISH = "wi"  # wish id, wish op index (approve, edit, reject, claim, deliver, release, confirm)
    WISH_CAT = "wc"  # /wish: category index
    WISH_PAGE = "wp"  # the wish board: page
    ROUTE = "ro"  # request id, page: the resources list to route a request to (staff, grid leaders)
    ROUTE_TO = "rt"  # request id, resource id: route it there
    ROUTE_BACK = "rk"  # route id: staff or the leader take a request back from a silent partner
    PARTNER_ANSWER = "pa"  # route id, 1 = accept / 0 = decline (a partner's member)
    RESOURCES = "rs"  # partner id (0: all), page: browse the resources list
    ITEMS = "it"  # partner id (0: all), page: items to redeem points for
    REDEEM = "rd"  # item id: a resident redeems points for it
    REDEEM_BACK = "rb"  # redemption id: the resident gives an unused code back (refunded)


# How many IDs each action carries; data with another count is not ours (forged or stale).
ARITY: dict[Act, int] = {
    Act.LANG: 1, Act.GRID: 1, Act.CATEGORY: 1, Act.SKIP: 0, Act.CONFIRM: 0, Act.EDIT: 0, Act.CANCEL: 0,
    Act.FOLLOW: 1, Act.TRIAGE: 2, Act.DECLINE: 2, Act.DUP: 2, Act.TASK: 2, Act.LIAISON: 2, Act.ESCALATE: 2,
    Act.DUE: 3, Act.REQ: 1, Act.PAGE: 2, Act.CANCEL_REQ: 1, Act.ANSWER: 1, Act.INTAKE_GRID: 1,
    Act.SIGNOFF: 2, Act.STARS: 2, Act.XLATE: 1,
    Act.TO_COUNCIL: 1, Act.PROPOSAL: 2, Act.VOTE: 2, Act.BALLOT: 1, Act.PROP_KIND: 1, Act.PROP_HOURS: 1,
    Act.PROP_RULE: 1, Act.PROP_SAVE: 1,
    Act.SURVEY_GROUP: 1, Act.SURVEY_DAYS: 1, Act.RECATEGORISE: 2,
    Act.WISH: 2, Act.WISH_CAT: 1, Act.WISH_PAGE: 1,
    Act.ROUTE: 2, Act.ROUTE_TO: 2, Act.ROUTE_BACK: 1, Act.PARTNER_ANSWER: 2, Act.RESOURCES: 2, Act.ITEMS: 2, Act.REDEEM: 1, Act.REDEEM_BACK: 1,
}


def pack(act: Act, *ids: int) -> str:
    data = ":".join([act.value, *map(str, ids)])
    assert len(data.encode()) <= MAX_CALLBACK_DATA, data
    assert ARITY.get(act, len(ids)) == len(ids), data
    return data


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
