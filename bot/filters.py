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


class RequestRule(Filter):
    """A press on a request (typed callback data with a `req` field): loads the request, checks
    one rule of REQUEST_RULES for the presser in the request's own community, and hands the
    request to the handler as `request`."""

    def __init__(self, rule: str) -> None:
        self.check, self.refusal = REQUEST_RULES[rule]
        self.rule = rule

    async def __call__(self, event: Any, callback_data: CallbackData, actor: Actor, app: App) -> dict[str, Any]:
        async with app.db.read() as s:
            req = await s.get(Request, int(getattr(callback_data, "req")))
            if req is None:
                raise Stale()
            ms = await memberships_of(s, actor.id, req.community_id)
        if not self.check(actor.id, ms, req):
            raise NotAllowed(self.refusal)
        return {"request": req}

    def __str__(self) -> str:
        return f"RequestRule({self.rule!r})"


PROPOSAL_RULES: dict[str, tuple[Callable[[int, Sequence[Any], Proposal], bool], str]] = {
    "manage": (lambda uid, ms, p: policy.may_manage_proposal(uid, ms, p), "not_yours_proposal"),
    "open": (lambda uid, ms, p: policy.may_open_proposal(uid, ms, p), "open_not_allowed"),
    "close": (lambda uid, ms, p: policy.may_close_proposal(ms, p), "staff_only"),
}


class ProposalRule(Filter):
    """A press on a council proposal (typed callback data with a `proposal` field): loads it,
    checks one rule of PROPOSAL_RULES in the proposal's own community, hands it on as `proposal`."""

    def __init__(self, rule: str) -> None:
        self.check, self.refusal = PROPOSAL_RULES[rule]
        self.rule = rule

    async def __call__(self, event: Any, callback_data: CallbackData, actor: Actor, app: App) -> dict[str, Any]:
        async with app.db.read() as s:
            p = await s.get(Proposal, int(getattr(callback_data, "proposal")))
            if p is None:
                raise Stale()
            ms = await memberships_of(s, actor.id, p.community_id)
        if not self.check(actor.id, ms, p):
            raise NotAllowed(self.refusal)
        return {"proposal": p}

    def __str__(self) -> str:
        return f"ProposalRule({self.rule!r})"


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
