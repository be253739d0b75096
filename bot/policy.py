"""Who may do what to which object: the one rule, tenant first.

Plain Python (no aiogram, no database): callers pass the object and the person's memberships
*of any community*; every rule first keeps only the memberships of the object's own community,
so a role counts only where it was given. Services call these as the final check inside their
unit of work; handlers and filters may call the same functions to refuse early.

Audience of stored text (see `Audience`): public text may go to groups; restricted text reaches
the requester, the assignee, the grid's leaders and that community's staff; private text (the
contact note) reaches the requester, the assignee and that community's staff. Following a
request never unlocks more than public text.
"""
from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum
from typing import Any, Protocol

from storage.models import ProviderKind, Role


class Audience(IntEnum):
    """Who may read a piece of text; a person's clearance is the widest they may read."""

    PUBLIC = 0
    RESTRICTED = 1
    PRIVATE = 2

    @property
    def code(self) -> str:
        return self.name.lower()

    @classmethod
    def of(cls, code: str | None) -> "Audience":
        """Stored codes; anything unknown (or missing) counts as restricted, never public."""
        return {"public": cls.PUBLIC, "private": cls.PRIVATE}.get(code or "", cls.RESTRICTED)


class MembershipLike(Protocol):
    community_id: int
    role: str
    grid_id: int | None


class RequestLike(Protocol):
    community_id: int
    grid_id: int | None
    requester_id: int
    assignee_id: int | None
    filed_by_id: int | None
    status: str


def roles_in(memberships: Iterable[MembershipLike], community_id: int | None) -> list[MembershipLike]:
    """Tenant first: only the memberships of that community count."""
    return [m for m in memberships if community_id is not None and m.community_id == community_id]


def has_role(memberships: Iterable[MembershipLike], community_id: int | None, role: str,
             grid_id: int | None = None) -> bool:
    return any(m.role == role and (grid_id is None or m.grid_id == grid_id)
               for m in roles_in(memberships, community_id))


def is_staff(memberships: Iterable[MembershipLike], community_id: int | None) -> bool:
    return has_role(memberships, community_id, Role.STAFF)


def partner_ids(memberships: Iterable[MembershipLike], community_id: int | None) -> set[int]:
    """The partners (共建单位) this person is a member of, in that community only."""
    return {pid for m in roles_in(memberships, community_id)
            if m.role == Role.PARTNER and (pid := getattr(m, "partner_id", None)) is not None}


def is_partner_member(memberships: Iterable[MembershipLike], community_id: int | None, partner_id: int | None) -> bool:
    """A member of that partner, counted only in the partner's own community."""
    return partner_id is not None and partner_id in partner_ids(memberships, community_id)


def may_manage_partner(memberships: Iterable[MembershipLike], community_id: int | None,
                       partner_id: int | None) -> bool:
    """Staff of the partner's community, or one of the partner's members (its resources, items,
    confirming its redemptions)."""
    ms = list(memberships)
    return is_staff(ms, community_id) or is_partner_member(ms, community_id, partner_id)


def may_triage(memberships: Iterable[MembershipLike], req: RequestLike) -> bool:
    """Staff of the request's community, or a leader of its micro-grid (any leader of that
    community when it has no micro-grid)."""
    ms = list(memberships)
    if is_staff(ms, req.community_id):
        return True
    if req.grid_id is None:
        return has_role(ms, req.community_id, Role.GRID_LEADER)
    return has_role(ms, req.community_id, Role.GRID_LEADER, req.grid_id)


def clearance(user_id: int, memberships: Iterable[MembershipLike], req: RequestLike, *,
              follower: bool = False) -> Audience | None:
    """The widest text of `req` this person may read, or None when they may not see it at all."""
    ms = list(memberships)
    if user_id in (req.requester_id, req.assignee_id, req.filed_by_id):
        return Audience.PRIVATE
    if is_staff(ms, req.community_id):
        return Audience.PRIVATE
    if may_triage(ms, req):
        return Audience.RESTRICTED
    if follower:
        return Audience.PUBLIC
    return None


def may_read(reader: Audience | None, text: Audience) -> bool:
    return reader is not None and text <= reader


def may_cancel(user_id: int, memberships: Iterable[MembershipLike], req: RequestLike) -> bool:
    return user_id == req.requester_id or is_staff(memberships, req.community_id)


def may_claim(memberships: Iterable[MembershipLike], req: RequestLike) -> bool:
    return has_role(memberships, req.community_id, Role.VOLUNTEER)


def is_assignee(user_id: int, req: RequestLike) -> bool:
    return req.assignee_id is not None and user_id == req.assignee_id


def is_requester(user_id: int, req: RequestLike) -> bool:
    return user_id == req.requester_id


def may_follow(user_id: int, memberships: Iterable[MembershipLike], req: RequestLike, *,
               category: str | None, grid_id: int | None, open_statuses: Iterable[str]) -> bool:
    """Only a request intake offered: same community (the person belongs to it), a named
    category, the same micro-grid, still open, and not one's own."""
    return (bool(roles_in(memberships, req.community_id)) and category is not None
            and getattr(req, "category", None) == category and req.grid_id == grid_id
            and req.status in set(open_statuses) and user_id != req.requester_id)


def may_metoo(user_id: int, memberships: Iterable[MembershipLike], req: RequestLike, *,
              in_community_group: bool, open_statuses: Iterable[str]) -> bool:
    """"Me too" on an open request that is not one's own, by someone of the request's community:
    a member, or a person in one of its bound groups (where its residents read the cards)."""
    return (user_id != req.requester_id and req.status in set(open_statuses)
            and (bool(roles_in(memberships, req.community_id)) or in_community_group))


def may_carry_out(user_id: int, memberships: Iterable[MembershipLike], community_id: int,
                  owner_id: int | None) -> bool:
    """Progress on a council decision: the person staff made responsible for it, or staff."""
    return (owner_id is not None and user_id == owner_id and bool(roles_in(memberships, community_id))) \
        or is_staff(memberships, community_id)


def may_invite(memberships: Iterable[MembershipLike], community_id: int | None) -> bool:
    return is_staff(memberships, community_id)


def may_see_figures(memberships: Iterable[MembershipLike], community_id: int | None) -> bool:
    """/stats, the dashboard's figures: that community's staff."""
    return is_staff(memberships, community_id)


def may_run_survey(memberships: Iterable[MembershipLike], community_id: int | None) -> bool:
    """A satisfaction poll sent to the community's groups: its staff."""
    return is_staff(memberships, community_id)


def may_redeem_points(memberships: Iterable[MembershipLike], community_id: int | None) -> bool:
    """Points exchanged for goods, taken off someone's balance: that community's staff."""
    return is_staff(memberships, community_id)


def may_list_tasks(memberships: Iterable[MembershipLike], community_id: int | None) -> bool:
    """The open volunteer tasks (/tasks): that community's volunteers and staff."""
    ms = list(memberships)
    return has_role(ms, community_id, Role.VOLUNTEER) or is_staff(ms, community_id)


def may_propose(memberships: Iterable[MembershipLike], community_id: int | None) -> bool:
    """Drafting a proposal for the council (and seeing /votes with nothing open to one): that
    community's council members and staff."""
    ms = list(memberships)
    return has_role(ms, community_id, Role.COUNCIL_MEMBER) or is_staff(ms, community_id)


def sees_every_proposal(memberships: Iterable[MembershipLike], community_id: int | None) -> bool:
    """Every open vote and every draft of the community, not only one's own: its staff."""
    return is_staff(memberships, community_id)


def may_name(memberships: Iterable[MembershipLike], community_id: int | None) -> bool:
    """Names in other languages of what staff named (the community, micro-grids, departments,
    categories): that community's staff."""
    return is_staff(memberships, community_id)


def may_manage_categories(memberships: Iterable[MembershipLike], community_id: int | None) -> bool:
    """Adding, listing and removing the categories of requests: that community's staff."""
    return is_staff(memberships, community_id)


def may_use_invitation(user_id: int, for_user_id: int | None) -> bool:
    """An invitation made for a named person admits only that Telegram id."""
    return for_user_id is None or for_user_id == user_id


def may_configure_group(memberships: Iterable[MembershipLike], binding_community_id: int | None, *,
                        group_admin: bool) -> bool:
    """Binding, unbinding and a group's languages: staff of the group's community who also
    administer the group on Telegram."""
    return group_admin and is_staff(memberships, binding_community_id)


def group_may_list(bound: bool) -> bool:
    """Lists of tasks and members answer in private chat or in a group bound to a community."""
    return bound


def public_fields(obj: Any, fields: Iterable[str]) -> dict[str, Any]:
    """Helper for renderers: only the named (public) attributes of an object."""
    return {f: getattr(obj, f, None) for f in fields}


# ---------------------------------------------------------------- micro-wishes (微心愿)
class WishLike(Protocol):
    community_id: int
    requester_id: int
    filed_by_id: int | None
    fulfiller_id: int | None


WISH_CLAIMERS = (Role.VOLUNTEER, Role.PARTNER)  # partner-unit members (共建单位) claim too


class ServiceLike(Protocol):
    community_id: int
    grid_id: int | None
    provider_kind: str
    provider_id: int | None


def may_order(memberships: Iterable[MembershipLike], service: ServiceLike) -> bool:
    """Ordering from the services menu: a member of the service's community; of its micro-grid
    when the service is limited to one (or staff)."""
    ms = roles_in(memberships, service.community_id)
    return bool(ms) and (service.grid_id is None or any(m.grid_id == service.grid_id for m in ms)
                         or is_staff(ms, service.community_id))


def may_provide(memberships: Iterable[MembershipLike], service: ServiceLike) -> bool:
    """One of a menu service's provider people, who may accept its orders: staff (the community
    provides it), volunteers, or a member of that very partner (not another partner's, not another
    community's)."""
    if service.provider_kind == ProviderKind.PARTNER:
        return is_partner_member(memberships, service.community_id, service.provider_id)
    role = Role.STAFF if service.provider_kind == ProviderKind.COMMUNITY else Role.VOLUNTEER
    return has_role(memberships, service.community_id, role)


def may_file_for(memberships: Iterable[MembershipLike], community_id: int | None) -> bool:
    """A request or a micro-wish on behalf of a resident in difficulty (no Telegram): that
    community's grid leaders and staff."""
    ms = list(memberships)
    return is_staff(ms, community_id) or has_role(ms, community_id, Role.GRID_LEADER)


def may_screen_wish(memberships: Iterable[MembershipLike], wish: WishLike) -> bool:
    """Privacy screening and approval: staff of the wish's community."""
    return is_staff(memberships, wish.community_id)


def may_claim_wish(memberships: Iterable[MembershipLike], wish: WishLike) -> bool:
    ms = list(memberships)
    return any(has_role(ms, wish.community_id, role) for role in WISH_CLAIMERS)


def may_see_wish_board(memberships: Iterable[MembershipLike], community_id: int | None) -> bool:
    """The board of wishes open to claim: those who may claim one, and staff."""
    ms = list(memberships)
    return any(has_role(ms, community_id, role) for role in WISH_CLAIMERS) or is_staff(ms, community_id)


def may_confirm_wish(user_id: int, wish: WishLike) -> bool:
    """The wisher, or the leader who filed it for them, thanks and confirms."""
    return user_id in (wish.requester_id, wish.filed_by_id)


# ---------------------------------------------------------------- council proposals (议事会)
class ProposalLike(Protocol):
    community_id: int
    proposer_id: int


def may_manage_proposal(user_id: int, memberships: Iterable[MembershipLike], proposal: ProposalLike) -> bool:
    """Editing a draft, withdrawing: its proposer, or staff of its community."""
    return user_id == proposal.proposer_id or is_staff(memberships, proposal.community_id)


def may_open_proposal(user_id: int, memberships: Iterable[MembershipLike], proposal: ProposalLike) -> bool:
    """Opening the vote: staff, or a proposer who sits on that community's council."""
    ms = list(memberships)
    return is_staff(ms, proposal.community_id) or (
        user_id == proposal.proposer_id and has_role(ms, proposal.community_id, Role.COUNCIL_MEMBER))


def may_close_proposal(memberships: Iterable[MembershipLike], proposal: ProposalLike) -> bool:
    """Closing a vote early and writing the outcome statement: staff of its community."""
    return is_staff(memberships, proposal.community_id)
