"""Router filters over the one permission policy (bot.policy): the check sits where the handler is
registered, and a filter hands what it loaded to the handler (as Shvatka's OrgFilter does) — a
filter that returns {"request": req} injects `request`.

A refusal raises the same typed error the service raises (NotAllowed with its code), so the person
gets the same translated answer as before; the service keeps its final check inside its unit of
work (the state may change between the press and the write)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from aiogram import Bot
from aiogram.filters import Filter
from aiogram.filters.callback_data import CallbackData
from aiogram.types import Message

from bot import policy
from bot.app import App
from bot.errors import NotAllowed, Stale
from bot.services.context import Actor, memberships_of
from storage.models import Proposal, Request

# A rule over (presser's id, their memberships of the object's community, the object) → allowed.
RequestCheck = Callable[[int, Sequence[Any], Request], bool]

REQUEST_RULES: dict[str, tuple[RequestCheck, str]] = {
    "triage": (lambda uid, ms, req: policy.may_triage(ms, req), "triage_not_allowed"),
    "assignee": (lambda uid, ms, req: policy.is_assignee(uid, req), "not_assignee"),
    "requester": (lambda uid, ms, req: policy.is_requester(uid, req), "not_yours"),
}


class _ObjectRule(Filter):
    """A press on one object (typed callback data with an id field): loads it, checks one rule for
    the presser in the object's own community, and hands the object to the handler."""

    model: type[Any]
    field: str  # the callback data's id field
    handed: str  # the name the handler receives the object by
    rules: dict[str, tuple[Callable[[int, Sequence[Any], Any], bool], str]]

    def __init__(self, rule: str) -> None:
        self.check, self.refusal = self.rules[rule]
        self.rule = rule

    async def __call__(self, event: Any, callback_data: CallbackData, actor: Actor, app: App) -> dict[str, Any]:
        async with app.db.read() as s:
            obj = await s.get(self.model, int(getattr(callback_data, self.field)))
            if obj is None:
                raise Stale()
            ms = await memberships_of(s, actor.id, obj.community_id)
        if not self.check(actor.id, ms, obj):
            raise NotAllowed(self.refusal)
        return {self.handed: obj}

    def __str__(self) -> str:
        return f"{type(self).__name__}({self.rule!r})"


class RequestRule(_ObjectRule):
    """A press on a request (`req` field), handed on as `request`."""

    model, field, handed, rules = Request, "req", "request", REQUEST_RULES


PROPOSAL_RULES: dict[str, tuple[Callable[[int, Sequence[Any], Proposal], bool], str]] = {
    "manage": (lambda uid, ms, p: policy.may_manage_proposal(uid, ms, p), "not_yours_proposal"),
    "open": (lambda uid, ms, p: policy.may_open_proposal(uid, ms, p), "open_not_allowed"),
    "close": (lambda uid, ms, p: policy.may_close_proposal(ms, p), "staff_only"),
}


class ProposalRule(_ObjectRule):
    """A press on a council proposal (`proposal` field), handed on as `proposal`."""

    model, field, handed, rules = Proposal, "proposal", "proposal", PROPOSAL_RULES


class CommunityRole(Filter):
    """The sender holds one of `roles` in the community they act in (the bound group's, else their
    own); otherwise the update is refused with `refusal` (with `no_community`, when given, if they
    belong to no community at all)."""

    def __init__(self, *roles: str, refusal: str = "staff_only", no_community: str | None = None) -> None:
        self.roles, self.refusal, self.no_community = roles, refusal, no_community

    async def __call__(self, event: Any, actor: Actor) -> bool:
        if actor.community is None and self.no_community:
            raise NotAllowed(self.no_community)
        community_id = actor.community.id if actor.community else None
        if not any(policy.has_role(actor.memberships, community_id, role) for role in self.roles):
            raise NotAllowed(self.refusal)
        return True

    def __str__(self) -> str:
        return f"CommunityRole{self.roles}"


async def group_admins(bot: Bot, chat_id: int) -> set[int]:
    return {a.user.id for a in await bot.get_chat_administrators(chat_id)}


class ConfiguresGroup(Filter):
    """Binding, unbinding and a group's languages (policy.may_configure_group): staff of the
    community (the group's once bound) who administer the group on Telegram. Hands the handler
    `bot_admin`: whether the bot administers the group."""

    async def __call__(self, message: Message, actor: Actor, bot: Bot) -> dict[str, Any]:
        community_id = actor.community.id if actor.community else None
        if not policy.is_staff(actor.memberships, community_id):
            raise NotAllowed("staff_only")
        admins = await group_admins(bot, message.chat.id)
        sender = message.from_user.id if message.from_user else None
        if not policy.may_configure_group(actor.memberships, community_id, group_admin=sender in admins):
            raise NotAllowed("group_admin_only")
        return {"bot_admin": bot.id in admins}
