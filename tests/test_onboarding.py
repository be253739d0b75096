"""Onboarding through the real Dispatcher, in Chinese and English."""
from __future__ import annotations

from sqlalchemy import select

from storage.models import ChatBinding, Membership, User
from tests.conftest import LEADER, RESIDENT, STAFF, Harness, community, invite
from tests.tg import Person


async def test_start_without_community_explains_how_to_join(harness: Harness):
    await harness.send(Person(1, "Omar", "en"), "/start")
    text = harness.session.last(1).text
    assert "Gongzhi" in text and "invitation link" in text


async def test_start_greets_in_chinese_for_a_chinese_client(harness: Harness):
    await harness.send(Person(2, "小明", "zh-hans"), "/start")
    text = harness.session.last(2).text
    assert "共治" in text and "Hello" not in text


async def test_invitations_grant_roles_and_resident_picks_grid(harness: Harness):
    setup = await community(harness, groups=False)
    async with harness.app.db.read() as s:
        roles = {(m.user_id, m.role, m.grid_id) for m in (await s.execute(select(Membership))).scalars()}
    grid = setup["grids"][0].id
    assert (LEADER.id, "grid_leader", grid) in roles
    assert (RESIDENT.id, "resident", grid) in roles
    assert (STAFF.id, "staff", None) in roles


async def test_used_forged_and_expired_invites_get_clear_answers(harness: Harness):
    await community(harness, groups=False)
    token = await invite(harness, "volunteer")
    await harness.send(Person(9, "Bob", "en"), f"/start {token}")
    await harness.send(Person(10, "Eve", "en"), f"/start {token}")
    assert "already been used" in harness.session.last(10).text
    await harness.send(Person(11, "Mallory", "en"), "/start forged-token-123")
    assert "not valid" in harness.session.last(11).text


async def test_language_choice_sticks(harness: Harness):
    p = Person(3, "Lee", "en")
    await harness.send(p, "/language")
    buttons = harness.session.last(p.id).buttons()
    zh = next(b for b in buttons if "中文" in b["text"])
    await harness.press(p, zh["callback_data"])
    async with harness.app.db.read() as s:
        assert (await s.get(User, p.id)).locale == "zh_Hans"
    await harness.send(p, "/help")
    assert "我能做什么" in harness.session.last(p.id).text or "新" in harness.session.last(p.id).text


async def test_bind_requires_staff_who_is_group_admin(harness: Harness):
    await community(harness, groups=False)
    harness.session.admins[-5] = {RESIDENT.id}
    await harness.send(RESIDENT, "/bind volunteers", chat_id=-5)
    assert "staff" in harness.session.last(-5).text
    await harness.send(STAFF, "/bind volunteers", chat_id=-5)  # staff, not an admin there
    async with harness.app.db.read() as s:
        assert await s.get(ChatBinding, -5) is None
    harness.session.admins[-5] = {STAFF.id}
    await harness.send(STAFF, "/bind volunteers", chat_id=-5)
    async with harness.app.db.read() as s:
        assert (await s.get(ChatBinding, -5)).kind == "volunteers"


async def test_duplicate_update_is_handled_once(harness: Harness):
    update = harness.u.message(Person(4, "Dup", "en"), "/start")
    await harness.feed(update)
    await harness.feed(update)
    assert len(harness.session.to(4)) == 1


async def test_a_supergroup_and_a_person_with_64_bit_ids_bind_join_and_are_audited(harness: Harness):
    """Real supergroup ids (-100…) and newer Telegram user ids do not fit in 32 bits: binding such a
    group failed on PostgreSQL when its id was written into the audit log."""
    from storage.models import AuditEvent
    h = harness
    await community(h, groups=False)
    group, newcomer = -1001987654321, Person(7_123_456_789, "Lina", "en", "lina")
    h.session.admins[group] = {STAFF.id}
    await h.send(STAFF, "/bind volunteers", chat_id=group)
    await h.send(newcomer, f"/start {await invite(h, 'volunteer')}")
    async with h.app.db.read() as s:
        assert (await s.execute(select(ChatBinding).where(ChatBinding.chat_id == group))).scalars().one()
        assert (await s.execute(select(AuditEvent).where(AuditEvent.entity_id == group))).scalars().all()
        assert (await s.execute(select(Membership).where(Membership.user_id == newcomer.id))).scalars().one()
