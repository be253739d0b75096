"""Buttons as plain values: what a button says (a key into `labels.j2`, or literal text such as
a request number) and what pressing it does (an action and integer ids). Services describe the
buttons of the notifications they queue with these; the presentation layer (`bot.render`,
`bot.callbacks`) turns them into callback data and translated keyboards."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from enum import StrEnum


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
    METOO = "mt"  # request id: "me too" (附议) on a public request post
    SVC_CAT = "sc"  # /services: category index, page
    SERVICE = "sv"  # /services: a service id (its slots)
    SLOT = "sl"  # /services: a slot id (order it; the note follows)
    ORDER = "od"  # request id of an order, order op index (dispatch, decline, accept)
    NEEDS_PAGE = "np"  # /needs: page
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


@dataclass(frozen=True)
class Press:
    """What a button press asks for: an action and the ids it acts on."""

    act: Act
    ids: tuple[int, ...] = ()


def press(act: Act, *ids: int) -> Press:
    return Press(act, tuple(ids))


@dataclass(frozen=True)
class Button:
    """An inline button before rendering: a key into `labels.j2` (or literal data such as a
    request number or a grid name in `text`), and either what a press does or a URL.

    `data` is a `Press` from services; handlers may also give packed callback data."""

    label: str | None = None
    data: Press | str | None = None
    url: str | None = None
    text: str | None = None
    names: dict[str, str] | None = None  # `text` in other languages, keyed by locale (a grid's names)
    web_app: str | None = None  # an https address opened as a Telegram Mini App
    category: Any = None  # a `bot.services.community.Category`: its name, by `Renderer.category_label`
