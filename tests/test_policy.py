"""The permission matrix: every rule of bot/policy.py × every role × own or other community.

Checked against bot.policy directly (plain values, no database, no Telegram): a role counts only in
the community where it was given, so the same role held in another community is refused everywhere
a role is needed. The expected sets below are the product rules (BRIEF.md); a change to a rule shows
up here as a named (action, persona) pair."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest

from bot import policy
from bot.policy import Audience
from storage.models import ProviderKind, Role

OWN, OTHER = 1, 2  # community ids
GRID, OTHER_GRID = 10, 11  # micro-grids of the request's community
PARTNER, OTHER_PARTNER = 5, 6
PERSON, REQUESTER, ASSIGNEE, FILER = 100, 200, 300, 400  # Telegram ids


@dataclass
class M:
    community_id: int
    role: str
    grid_id: int | None = None
    partner_id: int | None = None


@dataclass
class Req:
    community_id: int = OWN
    grid_id: int | None = GRID
    requester_id: int = REQUESTER
    assignee_id: int | None = ASSIGNEE
    filed_by_id: int | None = FILER
    status: str = "new"
    category: str | None = "repair"


@dataclass
class Wish:
    community_id: int = OWN
    requester_id: int = REQUESTER
    filed_by_id: int | None = FILER
    fulfiller_id: int | None = None


@dataclass
class Service:
    provider_kind: str = ProviderKind.COMMUNITY
    provider_id: int | None = None
    community_id: int = OWN
    grid_id: int | None = None


@dataclass
class Proposal:
    community_id: int = OWN
    proposer_id: int = REQUESTER


# Each role as one membership in community `c`.
ROLES: dict[str, Callable[[int], M]] = {
    "resident": lambda c: M(c, Role.RESIDENT, GRID),
    "volunteer": lambda c: M(c, Role.VOLUNTEER),
    "grid_leader": lambda c: M(c, Role.GRID_LEADER, GRID),
    "other_grid_leader": lambda c: M(c, Role.GRID_LEADER, OTHER_GRID),
    "council_member": lambda c: M(c, Role.COUNCIL_MEMBER),
    "liaison": lambda c: M(c, Role.LIAISON),
    "partner_member": lambda c: M(c, Role.PARTNER, partner_id=PARTNER),
    "staff": lambda c: M(c, Role.STAFF),
}
EVERYONE = frozenset(ROLES)
OPEN = ("new", "accepted", "in_progress")

Rule = Callable[[list[M]], object]

# action -> (rule over the person's memberships, the roles it allows in the object's own community).
# In another community every one of these is refused (tenant first).
MATRIX: dict[str, tuple[Rule, frozenset[str] | dict[str, object]]] = {
    "triage a request of a grid": (
        lambda ms: policy.may_triage(ms, Req()), frozenset({"staff", "grid_leader"})),
    "triage a request without a grid": (
        lambda ms: policy.may_triage(ms, Req(grid_id=None)),
        frozenset({"staff", "grid_leader", "other_grid_leader"})),
    "cancel someone's request": (
        lambda ms: policy.may_cancel(PERSON, ms, Req()), frozenset({"staff"})),
    "claim a task": (lambda ms: policy.may_claim(ms, Req()), frozenset({"volunteer"})),
    "follow a request intake offered": (
        lambda ms: policy.may_follow(PERSON, ms, Req(), category="repair", grid_id=GRID, open_statuses=OPEN),
        EVERYONE),
    "me too outside the community's groups": (
        lambda ms: policy.may_metoo(PERSON, ms, Req(), in_community_group=False, open_statuses=OPEN), EVERYONE),
    "carry out a decision one owns": (
        lambda ms: policy.may_carry_out(PERSON, ms, OWN, PERSON), EVERYONE),
    "carry out a decision someone else owns": (
        lambda ms: policy.may_carry_out(PERSON, ms, OWN, REQUESTER), frozenset({"staff"})),
    "carry out a decision nobody owns": (
        lambda ms: policy.may_carry_out(PERSON, ms, OWN, None), frozenset({"staff"})),
    "invite": (lambda ms: policy.may_invite(ms, OWN), frozenset({"staff"})),
    "name things in other languages": (lambda ms: policy.may_name(ms, OWN), frozenset({"staff"})),
    "add, list or remove categories": (lambda ms: policy.may_manage_categories(ms, OWN), frozenset({"staff"})),
    "configure a group one administers": (
        lambda ms: policy.may_configure_group(ms, OWN, group_admin=True), frozenset({"staff"})),
    "configure a group one does not administer": (
        lambda ms: policy.may_configure_group(ms, OWN, group_admin=False), frozenset()),
    "manage one's partner": (
        lambda ms: policy.may_manage_partner(ms, OWN, PARTNER), frozenset({"staff", "partner_member"})),
    "manage another partner": (
        lambda ms: policy.may_manage_partner(ms, OWN, OTHER_PARTNER), frozenset({"staff"})),
    "manage no partner": (lambda ms: policy.may_manage_partner(ms, OWN, None), frozenset({"staff"})),
    "act as a partner's member": (
        lambda ms: policy.is_partner_member(ms, OWN, PARTNER), frozenset({"partner_member"})),
    "accept an order of a service the community provides": (
        lambda ms: policy.may_provide(ms, Service(ProviderKind.COMMUNITY)), frozenset({"staff"})),
    "accept an order of a service volunteers provide": (
        lambda ms: policy.may_provide(ms, Service(ProviderKind.VOLUNTEERS)), frozenset({"volunteer"})),
    "accept an order of a service one's partner provides": (
        lambda ms: policy.may_provide(ms, Service(ProviderKind.PARTNER, PARTNER)), frozenset({"partner_member"})),
    "accept an order of a service another partner provides": (
        lambda ms: policy.may_provide(ms, Service(ProviderKind.PARTNER, OTHER_PARTNER)), frozenset()),
    "file a request or a wish for someone": (
        lambda ms: policy.may_file_for(ms, OWN), frozenset({"staff", "grid_leader", "other_grid_leader"})),
    "see the month's figures": (lambda ms: policy.may_see_figures(ms, OWN), frozenset({"staff"})),
    "run a satisfaction poll": (lambda ms: policy.may_run_survey(ms, OWN), frozenset({"staff"})),
    "redeem someone's points": (lambda ms: policy.may_redeem_points(ms, OWN), frozenset({"staff"})),
    "list the open tasks": (lambda ms: policy.may_list_tasks(ms, OWN), frozenset({"staff", "volunteer"})),
    "propose to the council": (lambda ms: policy.may_propose(ms, OWN), frozenset({"staff", "council_member"})),
    "see every open vote and draft": (lambda ms: policy.sees_every_proposal(ms, OWN), frozenset({"staff"})),
    "order a service of the whole community": (lambda ms: policy.may_order(ms, Service()), EVERYONE),
    "order a service of one's micro-grid": (
        lambda ms: policy.may_order(ms, Service(grid_id=GRID)), frozenset({"staff", "resident", "grid_leader"})),
    "see the wish board": (
        lambda ms: policy.may_see_wish_board(ms, OWN), frozenset({"staff", "volunteer", "partner_member"})),
    "screen a wish": (lambda ms: policy.may_screen_wish(ms, Wish()), frozenset({"staff"})),
    "claim a wish": (lambda ms: policy.may_claim_wish(ms, Wish()), frozenset({"volunteer", "partner_member"})),
    "manage someone else's proposal": (
        lambda ms: policy.may_manage_proposal(PERSON, ms, Proposal()), frozenset({"staff"})),
    "open someone else's proposal": (
        lambda ms: policy.may_open_proposal(PERSON, ms, Proposal()), frozenset({"staff"})),
    "open one's own proposal": (
        lambda ms: policy.may_open_proposal(PERSON, ms, Proposal(proposer_id=PERSON)),
        frozenset({"staff", "council_member"})),
    "close a vote, write its statement": (
        lambda ms: policy.may_close_proposal(ms, Proposal()), frozenset({"staff"})),
    "read a request": (
        lambda ms: policy.clearance(PERSON, ms, Req()),
        {"staff": Audience.PRIVATE, "grid_leader": Audience.RESTRICTED}),
    "read a request without a grid": (
        lambda ms: policy.clearance(PERSON, ms, Req(grid_id=None)),
        {"staff": Audience.PRIVATE, "grid_leader": Audience.RESTRICTED, "other_grid_leader": Audience.RESTRICTED}),
}



def _expected(allowed: frozenset[str] | dict[str, object], role: str, community: int) -> object:
    if isinstance(allowed, dict):  # clearance: a level, None when they may not read it at all
        return allowed.get(role) if community == OWN else None
    return community == OWN and role in allowed


CASES = [pytest.param(action, role, community, id=f"{action}|{role}|{'own' if community == OWN else 'other'}")
         for action in MATRIX for role in ROLES for community in (OWN, OTHER)]


@pytest.mark.parametrize("action,role,community", CASES)
def test_matrix(action: str, role: str, community: int):
    rule, allowed = MATRIX[action]
    assert rule([ROLES[role](community)]) == _expected(allowed, role, community)


@pytest.mark.parametrize("role", ROLES)
def test_a_role_elsewhere_adds_nothing(role: str):
    """Someone who is a resident here and holds a role in another community gets what a resident gets."""
    here = [ROLES["resident"](OWN)]
    both = here + [ROLES[role](OTHER)]
    for action, (rule, _) in MATRIX.items():
        assert rule(both) == rule(here), action


def test_no_membership_is_refused_everything():
    for action, (rule, allowed) in MATRIX.items():
        assert rule([]) in (False, None), action


# ---------------------------------------------------------------- rules that go by who one is
def test_the_people_of_a_request_read_everything_of_it_whatever_their_roles():
    for user in (REQUESTER, ASSIGNEE, FILER):
        assert policy.clearance(user, [], Req()) is Audience.PRIVATE
    assert policy.clearance(PERSON, [], Req()) is None


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("community", (OWN, OTHER))
def test_following_unlocks_public_text_only(role: str, community: int):
    level = policy.clearance(PERSON, [ROLES[role](community)], Req(), follower=True)
    expected = _expected(MATRIX["read a request"][1], role, community) or Audience.PUBLIC
    assert level == expected
    assert policy.may_read(level, Audience.PUBLIC)
    assert policy.may_read(level, Audience.PRIVATE) == (community == OWN and role == "staff")


def test_audience_levels():
    assert [policy.may_read(reader, text) for reader in (None, *Audience) for text in Audience] == [
        False, False, False,
        True, False, False,
        True, True, False,
        True, True, True]
    assert Audience.of(None) is Audience.RESTRICTED and Audience.of("nonsense") is Audience.RESTRICTED
    assert Audience.of("public") is Audience.PUBLIC and Audience.of("private") is Audience.PRIVATE


def test_the_requester_cancels_but_neither_follows_nor_seconds_their_own():
    ms, req = [ROLES["resident"](OWN)], Req()
    assert policy.may_cancel(REQUESTER, ms, req) and not policy.may_cancel(ASSIGNEE, ms, req)
    assert not policy.may_follow(REQUESTER, ms, req, category="repair", grid_id=GRID, open_statuses=OPEN)
    assert not policy.may_metoo(REQUESTER, ms, req, in_community_group=True, open_statuses=OPEN)
    assert policy.is_requester(REQUESTER, req) and not policy.is_requester(PERSON, req)
    assert policy.is_assignee(ASSIGNEE, req) and not policy.is_assignee(PERSON, req)
    assert not policy.is_assignee(PERSON, Req(assignee_id=None))


def test_following_needs_the_offer_intake_made():
    ms, req = [ROLES["resident"](OWN)], Req()
    follow = lambda **kw: policy.may_follow(PERSON, ms, kw.pop("req", req), **{  # noqa: E731
        "category": "repair", "grid_id": GRID, "open_statuses": OPEN, **kw})
    assert follow()
    assert not follow(category=None) and not follow(category="noise")
    assert not follow(grid_id=OTHER_GRID) and not follow(req=Req(status="done"))


def test_me_too_from_a_community_group_and_only_while_open():
    assert policy.may_metoo(PERSON, [], Req(), in_community_group=True, open_statuses=OPEN)
    assert not policy.may_metoo(PERSON, [ROLES["staff"](OWN)], Req(status="done"),
                                in_community_group=True, open_statuses=OPEN)


def test_the_owner_of_a_decision_must_still_belong_to_its_community():
    assert not policy.may_carry_out(PERSON, [], OWN, PERSON)


def test_wish_confirmation_and_invitations_go_by_person():
    assert policy.may_confirm_wish(REQUESTER, Wish()) and policy.may_confirm_wish(FILER, Wish())
    assert not policy.may_confirm_wish(PERSON, Wish())
    assert policy.may_use_invitation(PERSON, None) and policy.may_use_invitation(PERSON, PERSON)
    assert not policy.may_use_invitation(PERSON, REQUESTER)


def test_a_proposer_manages_their_own_proposal_by_person():
    """Like the service's check: being its proposer is enough to edit or withdraw it (no role needed);
    opening it takes a council seat in its community."""
    own = Proposal(proposer_id=PERSON)
    assert policy.may_manage_proposal(PERSON, [], own) and not policy.may_manage_proposal(REQUESTER, [], own)
    assert not policy.may_open_proposal(PERSON, [], own)
    assert not policy.may_open_proposal(PERSON, [ROLES["council_member"](OTHER)], own)


def test_partner_ids_are_per_community():
    ms = [M(OWN, Role.PARTNER, partner_id=PARTNER), M(OTHER, Role.PARTNER, partner_id=OTHER_PARTNER)]
    assert policy.partner_ids(ms, OWN) == {PARTNER} and policy.partner_ids(ms, OTHER) == {OTHER_PARTNER}
    assert policy.partner_ids(ms, None) == set() and not policy.is_partner_member(ms, OWN, None)
