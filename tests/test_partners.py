"""Partner organisations (共建单位, issue #17 items 1, 2 and 6): registered by staff, members invited
by a deep link bound to the partner (role `partner`, scoped to it), refused elsewhere."""
from __future__ import annotations

from sqlalchemy import select

from bot.errors import BadInput, Conflict, NotAllowed
from bot.services.context import load_actor
from storage.models import Membership, Partner, Role, User
from tests.conftest import LEADER, RESIDENT, STAFF, Harness, community
from tests.tg import Person

import pytest

KOREAN = Person(700, "김민준", "ko", "minjun")
OTHER_STAFF = Person(900, "Olga", "ru", "olga")


async def actor_of(h: Harness, who: Person):
    async with h.app.db.read() as s:
        user = await s.get(User, who.id)
        return await load_actor(s, user, who.id, "zh_Hans", h.app.renderer.locales)


async def register(h: Harness, kind: str = "company", name: str = "义乌法律服务所") -> Partner:
    return await h.app.partners.register(await actor_of(h, STAFF), kind, name)


async def invite_member(h: Harness, partner: Partner, who: Person, bound: bool = True) -> str:
    h.session.clear()
    await h.send(STAFF, f"/invite partner {partner.id}" + (f" {who.id}" if bound else ""))
    text = h.session.last(STAFF.id).text
    assert "?start=" in text, text
    return text.split("?start=")[1].split()[0]


async def test_partner_registered_with_names_and_a_member_invited_by_deep_link(harness: Harness):
    h = harness
    await community(h, groups=False)
    partner = await register(h)
    await h.app.partners.set_name(await actor_of(h, STAFF), str(partner.id), "ko", "이우 법률서비스")
    token = await invite_member(h, partner, KOREAN)
    await h.send(KOREAN, f"/start {token}")
    welcome = h.session.last(KOREAN.id).text
    assert "환영" in welcome or "가입" in welcome, welcome  # Korean, not Chinese
    async with h.app.db.read() as s:
        m = (await s.execute(select(Membership).where(Membership.user_id == KOREAN.id))).scalars().one()
    assert (m.role, m.partner_id) == (Role.PARTNER, partner.id)
    mine = await h.app.partners.mine(await actor_of(h, KOREAN))
    assert [p.id for p in mine] == [partner.id]
    # The link was one-time and bound to the Korean member.
    await h.send(RESIDENT, f"/start {token}")
    assert await h.app.partners.mine(await actor_of(h, RESIDENT)) == []


async def test_a_link_bound_to_someone_else_admits_no_one_else(harness: Harness):
    h = harness
    await community(h, groups=False)
    partner = await register(h)
    token = await invite_member(h, partner, KOREAN)
    await h.send(RESIDENT, f"/start {token}")
    assert await h.app.partners.mine(await actor_of(h, RESIDENT)) == []


async def test_only_staff_of_the_community_register_and_invite(harness: Harness):
    h = harness
    await community(h, groups=False)
    partner = await register(h)
    with pytest.raises(NotAllowed):
        await h.app.partners.register(await actor_of(h, LEADER), "merchant", "超市")
    with pytest.raises(Conflict):
        await register(h)
    with pytest.raises(BadInput):
        await register(h, kind="bank", name="某银行")
    h.session.clear()
    await h.send(LEADER, f"/invite partner {partner.id}")
    assert "?start=" not in h.session.last(LEADER.id).text
    # Staff of another community cannot invite to this community's partner.
    await h.app.communities.create("拱墅米市社区", admin_id=OTHER_STAFF.id, code="MSX")
    other = await actor_of(h, OTHER_STAFF)
    h.session.clear()
    await h.send(OTHER_STAFF, f"/invite partner {partner.id}")
    assert "?start=" not in h.session.last(OTHER_STAFF.id).text
    assert other.community is not None and other.community.id != partner.community_id
