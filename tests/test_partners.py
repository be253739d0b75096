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


# ----------------------------------------------------------------- the story through the bot
from storage.models import AuditEvent, Contribution, PointEntry, Redemption, Request, Resource, ResourceRoute  # noqa: E402
from storage.models import PartnerItem as PartnerItemModel  # noqa: E402
from tests.conftest import GRID_GROUP, STAFF_GROUP, VOLUNTEER  # noqa: E402
from tests.test_requests_flow import CONTACT, button, file_privately  # noqa: E402

SECOND = Person(701, "박서연", "ko", "seoyeon")


async def partner_with_member(h: Harness, *members: Person) -> Partner:
    """Staff register a legal aid centre with a Korean name and invite members (bound links)."""
    h.session.clear()
    await h.send(STAFF, "/partner add social 义乌市法律援助中心")
    assert "义乌市法律援助中心" in h.session.last(STAFF.id).text
    async with h.app.db.read() as s:
        partner = (await s.execute(select(Partner))).scalars().one()
    await h.send(STAFF, f"/name partner {partner.id} ko 이우시 법률지원센터")
    for who in members:
        await h.send(who, f"/start {await invite_member(h, partner, who)}")
    async with h.app.db.read() as s:
        return await s.get(Partner, partner.id)


async def test_story_partner_lists_a_resource_a_leader_routes_a_request_the_korean_member_accepts(harness: Harness):
    h = harness
    await community(h)
    partner = await partner_with_member(h, KOREAN)
    assert partner.names == {"ko": "이우시 법률지원센터"}

    h.session.clear()
    await h.send(KOREAN, "/resource add service 免费法律咨询 | 每周三 14:00-17:00")
    listed = h.session.last(KOREAN.id).text
    assert "이우시 법률지원센터" in listed and "免费法律咨询" in listed  # her partner's name in Korean
    await h.send(LEADER, "/resources")
    assert "免费法律咨询" in h.session.last(LEADER.id).text and "每周三" in h.session.last(LEADER.id).text

    req = await file_privately(h)
    await h.deliver()
    card = h.session.last(GRID_GROUP)
    h.session.clear()
    await h.press(LEADER, _route_button(card), chat_id=GRID_GROUP, message_id=card.message_id)
    pick = h.session.last(LEADER.id)
    assert "JMS-0001" in pick.text and "免费法律咨询" in pick.text
    await h.press(LEADER, button(pick, "免费法律咨询"))
    await h.deliver()
    ask = h.session.last_with_button(KOREAN.id, "pa:")
    assert "JMS-0001" in ask.text and "이우시 법률지원센터" in ask.text
    assert CONTACT not in ask.text  # public fields only until she takes it on
    assert "义乌市法律援助中心" in h.session.last(RESIDENT.id).text  # the requester is told where it went

    accept = next(b["callback_data"] for b in ask.buttons() if b["callback_data"].endswith(":1"))
    await h.press(KOREAN, accept, message_id=ask.message_id)
    await h.deliver()
    brief = [c for c in h.session.to(KOREAN.id) if CONTACT in c.text]
    assert brief, "the member who accepted gets the details privately"
    async with h.app.db.read() as s:
        req = await s.get(Request, req.id)
        route = (await s.execute(select(ResourceRoute))).scalars().one()
        actions = [e.action for e in (await s.execute(select(AuditEvent).where(
            AuditEvent.entity == "request", AuditEvent.entity_id == req.id).order_by(AuditEvent.id))).scalars()]
    assert (req.status, req.assignee_id, route.status, route.member_id) == (
        "partner_accepted", KOREAN.id, "accepted", KOREAN.id)
    assert actions == ["filed", "partner_routed", "partner_accepted"]
    # Her answer closed the question (no second answer possible) ...
    assert any(c.name == "EditMessageText" for c in h.session.to(KOREAN.id))
    await h.press(KOREAN, accept)
    async with h.app.db.read() as s:
        assert (await s.get(Request, req.id)).status == "partner_accepted"

    # ... she reports done like anyone handling a request; staff see the contribution.
    done = button(brief[-1], "✅")
    await h.press(KOREAN, done)
    await h.press(KOREAN, button(h.session.last(KOREAN.id), "⏭"))
    async with h.app.db.read() as s:
        assert (await s.get(Request, req.id)).status == "done"
    h.session.clear()
    await h.send(STAFF, "/partners")
    assert "完成服务：1" in h.session.last(STAFF.id).text  # staff read Chinese


async def test_a_decline_goes_back_to_triage_with_the_note_kept_out_of_the_group(harness: Harness):
    h = harness
    await community(h)
    partner = await partner_with_member(h, KOREAN)
    await h.app.resources.add(await actor_of(h, KOREAN), "venue", "会议室", "工作日")
    req = await file_privately(h)
    async with h.app.db.read() as s:
        res = (await s.execute(select(Resource))).scalars().one()
    await h.app.resources.route(await actor_of(h, LEADER), req.id, res.id)
    await h.deliver()
    ask = h.session.last_with_button(KOREAN.id, "pa:")
    decline = next(b["callback_data"] for b in ask.buttons() if b["callback_data"].endswith(":0"))
    h.session.clear()
    await h.press(KOREAN, decline, message_id=ask.message_id)
    await h.send(KOREAN, "这周会议室在装修 电话 13812345678")
    await h.deliver()
    async with h.app.db.read() as s:
        req = await s.get(Request, req.id)
        route = (await s.execute(select(ResourceRoute))).scalars().one()
    assert (req.status, req.assignee_id, route.status) == ("new", None, "declined")
    group = " ".join(h.texts(GRID_GROUP))
    assert "JMS-0001" in group and "装修" not in group and "13812345678" not in group
    assert any("装修" in t for t in h.texts(LEADER.id))  # the leader reads the note privately
    assert partner.id == route.partner_id


async def test_routing_and_answering_refuse_other_roles_and_other_partners(harness: Harness):
    h = harness
    await community(h)
    await partner_with_member(h, KOREAN)
    req = await file_privately(h)
    # A resident cannot list a resource, nor browse the list.
    h.session.clear()
    await h.send(RESIDENT, "/resource add venue 我家客厅")
    await h.send(RESIDENT, "/resources")
    async with h.app.db.read() as s:
        assert (await s.execute(select(Resource))).first() is None
    await h.app.resources.add(await actor_of(h, KOREAN), "equipment", "投影仪")
    async with h.app.db.read() as s:
        res = (await s.execute(select(Resource))).scalars().one()
    # A volunteer cannot route; a member of another partner cannot answer.
    with pytest.raises(NotAllowed):
        await h.app.resources.route(await actor_of(h, VOLUNTEER), req.id, res.id)
    await h.app.resources.route(await actor_of(h, STAFF), req.id, res.id)
    h.session.clear()
    await h.send(STAFF, "/partner add merchant 小超市")
    async with h.app.db.read() as s:
        other = (await s.execute(select(Partner).where(Partner.name == "小超市"))).scalars().one()
        route = (await s.execute(select(ResourceRoute))).scalars().one()
    await h.send(SECOND, f"/start {await invite_member(h, other, SECOND)}")
    with pytest.raises(NotAllowed):
        await h.app.resources.answer(await actor_of(h, SECOND), route.id, True)
    with pytest.raises(NotAllowed):
        await h.app.resources.answer(await actor_of(h, LEADER), route.id, True)
    async with h.app.db.read() as s:
        assert (await s.get(ResourceRoute, route.id)).status == "pending"


# ----------------------------------------------------------------- points at partners
async def give_points(h: Harness, who: Person, amount: int) -> None:
    async with h.app.db.write() as s:
        s.add(PointEntry(community_id=1, user_id=who.id, delta=amount, reason="task_done", ref=f"test:{who.id}"))


async def test_points_redeemed_at_a_partner_with_a_one_time_code(harness: Harness):
    h = harness
    await community(h, groups=False)
    partner = await partner_with_member(h, KOREAN)
    await give_points(h, RESIDENT, 20)
    h.session.clear()
    await h.send(KOREAN, "/item add 15 洗衣券 | 2")
    assert "15" in h.session.last(KOREAN.id).text
    await h.send(RESIDENT, "/items")
    menu = h.session.last(RESIDENT.id)
    assert "洗衣券" in menu.text
    await h.press(RESIDENT, button(menu, "洗衣券"))
    got = h.session.last(RESIDENT.id).text
    async with h.app.db.read() as s:
        red = (await s.execute(select(Redemption))).scalars().one()
    assert red.code in got and red.status == "pending" and "5" in got
    # A second tap would take the balance below zero: refused, nothing written.
    before = len(h.session.calls)
    await h.press(RESIDENT, button(menu, "洗衣券"))
    answers = [c.method.text or "" for c in h.session.calls[before:] if c.name == "AnswerCallbackQuery"]
    assert any("balance is 5" in a for a in answers), answers
    async with h.app.db.read() as s:
        assert len((await s.execute(select(Redemption))).scalars().all()) == 1
        ledger = (await s.execute(select(PointEntry).where(PointEntry.user_id == RESIDENT.id))).scalars().all()
    assert sum(e.delta for e in ledger) == 5

    # Someone who is not the partner's member cannot confirm it; the member can, once.
    h.session.clear()
    await h.send(LEADER, f"/confirm {red.code}")
    await h.send(KOREAN, f"/confirm {red.code.lower()}")
    await h.deliver()
    assert red.code in h.session.last(KOREAN.id).text
    assert red.code in h.session.last(RESIDENT.id).text  # the resident is told
    await h.send(KOREAN, f"/confirm {red.code}")
    async with h.app.db.read() as s:
        red = await s.get(Redemption, red.id)
        contrib = (await s.execute(select(Contribution))).scalars().all()
    assert (red.status, red.confirmed_by) == ("confirmed", KOREAN.id)
    assert [(c.partner_id, c.kind, c.amount) for c in contrib] == [(partner.id, "points", 15)]
    h.session.clear()
    await h.send(STAFF, "/partners")
    assert "兑换积分：15" in h.session.last(STAFF.id).text

    # The export carries both sides: the resident's debit and the partner's contribution, no code.
    import csv
    from datetime import timedelta
    from bot.services.reports import export_csv
    from storage.models import utcnow
    today = utcnow().date()
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        from pathlib import Path
        written = await export_csv(h.app.db, "JMS", today - timedelta(days=1), today + timedelta(days=1), Path(tmp))
        partners_csv = list(csv.DictReader((Path(tmp) / "partners.csv").open(encoding="utf-8-sig")))
        reds_csv = (Path(tmp) / "redemptions.csv").read_text(encoding="utf-8-sig")
        points_csv = (Path(tmp) / "points.csv").read_text(encoding="utf-8-sig")
    assert written["partners.csv"] == 1 and partners_csv[0]["points_redeemed"] == "15"
    assert "confirmed" in reds_csv and red.code not in reds_csv
    assert f"redemption:{red.id}" in points_csv and "-15" in points_csv


async def test_concurrent_redemptions_never_take_a_balance_below_zero(harness: Harness):
    import asyncio

    h = harness
    await community(h, groups=False)
    await partner_with_member(h, KOREAN)
    await give_points(h, RESIDENT, 30)
    row = await h.app.rewards.add_item(await actor_of(h, KOREAN), 10, "牛奶")
    resident = await actor_of(h, RESIDENT)
    results = await asyncio.gather(*[h.app.rewards.redeem(resident, row.item.id or 0) for _ in range(8)],
                                   return_exceptions=True)
    assert sum(1 for r in results if not isinstance(r, BaseException)) == 3
    assert all(isinstance(r, BadInput) for r in results if isinstance(r, BaseException))
    async with h.app.db.read() as s:
        ledger = (await s.execute(select(PointEntry).where(PointEntry.user_id == RESIDENT.id))).scalars().all()
    assert sum(e.delta for e in ledger) == 0


async def test_a_code_given_back_is_refunded_once_and_can_no_longer_be_confirmed(harness: Harness):
    h = harness
    await community(h, groups=False)
    await partner_with_member(h, KOREAN)
    await give_points(h, RESIDENT, 20)
    await h.app.rewards.add_item(await actor_of(h, KOREAN), 15, "洗衣券", 1)
    h.session.clear()
    await h.send(RESIDENT, "/items")
    await h.press(RESIDENT, button(h.session.last(RESIDENT.id), "洗衣券"))
    code_msg = h.session.last_with_button(RESIDENT.id, "rb:")
    back = code_msg.buttons()[0]["callback_data"]
    await h.press(RESIDENT, back, message_id=code_msg.message_id)
    await h.press(RESIDENT, back, message_id=code_msg.message_id)  # a double tap refunds nothing more
    async with h.app.db.read() as s:
        red = (await s.execute(select(Redemption))).scalars().one()
        ledger = (await s.execute(select(PointEntry).where(PointEntry.user_id == RESIDENT.id))).scalars().all()
        item = (await s.execute(select(PartnerItemModel))).scalars().one()
    assert red.status == "cancelled" and sum(e.delta for e in ledger) == 20 and item.stock == 1
    h.session.clear()
    await h.send(KOREAN, f"/confirm {red.code}")
    async with h.app.db.read() as s:
        assert (await s.get(Redemption, red.id)).status == "cancelled"
        assert (await s.execute(select(Contribution))).first() is None


async def test_partners_resources_and_codes_are_refused_to_other_communities(harness: Harness):
    h = harness
    await community(h, groups=False)
    partner = await partner_with_member(h, KOREAN)
    row = await h.app.resources.add(await actor_of(h, KOREAN), "venue", "会议室")
    req = await file_privately(h)
    await give_points(h, RESIDENT, 20)
    item = await h.app.rewards.add_item(await actor_of(h, KOREAN), 10, "牛奶")
    red, _, _ = await h.app.rewards.redeem(await actor_of(h, RESIDENT), item.item.id or 0)
    # Another community, its staff, and a partner member there.
    _, token = await h.app.communities.create("拱墅米市社区", admin_id=OTHER_STAFF.id, code="MSX")
    await h.send(OTHER_STAFF, f"/start {token}")
    other = await actor_of(h, OTHER_STAFF)
    theirs = await h.app.partners.register(other, "merchant", "米市超市")
    invite, _ = await h.app.partners.invite(other, str(theirs.id), SECOND.id)
    await h.send(SECOND, f"/start {invite}")
    stranger = await actor_of(h, SECOND)
    from bot.errors import NotFound
    with pytest.raises(NotFound):
        await h.app.partners.invite(other, str(partner.id))
    with pytest.raises(NotFound):
        await h.app.resources.withdraw(other, row.resource.id or 0)
    with pytest.raises(NotAllowed):
        await h.app.resources.route(other, req.id, row.resource.id or 0)
    with pytest.raises(NotFound):
        await h.app.rewards.confirm(stranger, red.code)
    rows, _ = await h.app.resources.listing(stranger)
    assert rows == []  # they see their own community's list only
    async with h.app.db.read() as s:
        assert (await s.get(Redemption, red.id)).status == "pending"
        assert (await s.get(Resource, row.resource.id)).active


async def test_the_leader_takes_a_request_back_from_a_silent_partner(harness: Harness):
    h = harness
    await community(h)
    await partner_with_member(h, KOREAN)
    await h.app.resources.add(await actor_of(h, KOREAN), "hours", "周末志愿服务", None, 20)
    req = await file_privately(h)
    await h.deliver()
    card = h.session.last(GRID_GROUP)
    await h.press(LEADER, _route_button(card), chat_id=GRID_GROUP, message_id=card.message_id)
    await h.press(LEADER, button(h.session.last(LEADER.id), "周末志愿服务"))
    routed = h.session.last_with_button(LEADER.id, "rk:")
    await h.deliver()
    ask = h.session.last_with_button(KOREAN.id, "pa:")
    h.session.clear()
    await h.press(LEADER, routed.buttons()[0]["callback_data"], message_id=routed.message_id)
    await h.deliver()
    async with h.app.db.read() as s:
        assert (await s.get(Request, req.id)).status == "new"
        assert (await s.execute(select(ResourceRoute))).scalars().one().status == "withdrawn"
    assert any("JMS-0001" in t for t in h.texts(GRID_GROUP))  # a fresh triage card
    accept = next(b["callback_data"] for b in ask.buttons() if b["callback_data"].endswith(":1"))
    await h.press(KOREAN, accept, message_id=ask.message_id)  # too late: nothing changes
    async with h.app.db.read() as s:
        req = await s.get(Request, req.id)
    assert (req.status, req.assignee_id) == ("new", None)


def _route_button(card) -> str:
    """The triage card's 🤝 Partner resource button (the card has others: me too, category…)."""
    return next(b["callback_data"] for b in card.buttons() if b.get("callback_data", "").startswith("ro:"))


async def test_an_unused_code_expires_is_refunded_once_and_can_no_longer_be_confirmed(harness: Harness):
    """Issue #17 item 4: a code unused for 7 days is swept: expired, the points refunded once (the
    ledger holds the debit and the refund), the stock back, the resident told; the partner's
    confirm is then refused with a clear message."""
    from datetime import timedelta

    from storage.models import utcnow

    h = harness
    await community(h, groups=False)
    await partner_with_member(h, KOREAN)
    await give_points(h, RESIDENT, 20)
    await h.app.rewards.add_item(await actor_of(h, KOREAN), 15, "洗衣券", 1)
    await h.send(RESIDENT, "/items")
    await h.press(RESIDENT, button(h.session.last(RESIDENT.id), "洗衣券"))
    async with h.app.db.read() as s:
        red = (await s.execute(select(Redemption))).scalars().one()
    issued = red.expires_at.replace(tzinfo=None) - utcnow().replace(tzinfo=None)
    assert timedelta(days=6, hours=23) < issued <= timedelta(days=7)
    await h.deliver()
    h.session.clear()
    assert await h.app.rewards.sweep(utcnow() + timedelta(days=6)) == 0  # not yet
    assert await h.app.rewards.sweep(utcnow() + timedelta(days=8)) == 1
    assert await h.app.rewards.sweep(utcnow() + timedelta(days=9)) == 0  # a second sweep refunds nothing
    await h.deliver()
    told = h.session.last(RESIDENT.id).text
    assert red.code in told and "15" in told and "20" in told, told  # refunded: back to 20
    async with h.app.db.read() as s:
        red = await s.get(Redemption, red.id)
        ledger = (await s.execute(select(PointEntry).where(PointEntry.user_id == RESIDENT.id)
                                  .order_by(PointEntry.id))).scalars().all()
        item = (await s.execute(select(PartnerItemModel))).scalars().one()
    assert red.status == "expired" and item.stock == 1
    assert [e.delta for e in ledger] == [20, -15, 15]
    h.session.clear()
    await h.send(KOREAN, f"/confirm {red.code}")
    assert h.session.last(KOREAN.id).text == h.app.renderer.render("error", "ko", code="code_expired")
    async with h.app.db.read() as s:
        assert (await s.get(Redemption, red.id)).status == "expired"
        assert (await s.execute(select(Contribution))).first() is None


async def test_staff_record_a_partners_hours_seen_in_partners_report_and_export(harness: Harness, tmp_path):
    """Issue #17 item 5: each partner's contribution — hours (recorded by staff), services, wishes,
    points — in /partners, the monthly report and the CSV export; the record is refused to other
    roles and other communities, bad input gets the usage."""
    import csv
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    from bot.services.reports import export_csv

    h = harness
    await community(h)
    partner = await partner_with_member(h, KOREAN)
    h.session.clear()
    await h.send(STAFF, f"/partner hours {partner.id} 6")
    assert "6" in h.session.last(STAFF.id).text and "义乌市法律援助中心" in h.session.last(STAFF.id).text
    await h.send(STAFF, "/partner hours 义乌市法律援助中心 2")  # by name too
    await h.send(STAFF, f"/partner hours {partner.id} lots")
    assert h.session.last(STAFF.id).text == h.app.renderer.render("error", "zh_Hans", code="partner_hours_usage",
                                                                 limit=1000)
    await h.send(STAFF, f"/partner hours {partner.id} 5000")
    assert h.session.last(STAFF.id).text == h.app.renderer.render("error", "zh_Hans", code="partner_hours_usage",
                                                                 limit=1000)
    await h.send(LEADER, f"/partner hours {partner.id} 9")  # not staff
    await h.send(KOREAN, f"/partner hours {partner.id} 9")  # the partner's own member
    await h.app.communities.create("拱墅米市社区", admin_id=OTHER_STAFF.id, code="MSX")
    await h.send(OTHER_STAFF, f"/partner hours {partner.id} 9")  # another community's staff: not found there
    async with h.app.db.read() as s:
        hours = [(c.partner_id, c.kind, c.amount) for c in (await s.execute(select(Contribution))).scalars()]
    assert sorted(hours) == [(partner.id, "hours", 2), (partner.id, "hours", 6)]
    h.session.clear()
    await h.send(STAFF, "/partners")
    assert "服务时长：8" in h.session.last(STAFF.id).text
    local = datetime.now(ZoneInfo("Asia/Shanghai"))
    written = await export_csv(h.app.db, "JMS", local.date() - timedelta(days=1), local.date() + timedelta(days=1),
                               tmp_path)
    rows = list(csv.DictReader((tmp_path / "partners.csv").open(encoding="utf-8-sig")))
    assert written["partners.csv"] == 1 and rows[0]["hours"] == "8"
    # the monthly report of this month, posted on the 1st of the next, lists the partner with its hours
    first = (local.replace(day=1) + timedelta(days=32)).replace(day=1, hour=9, minute=30)
    await h.app.reports.run_due(first.astimezone(ZoneInfo("UTC")))
    await h.deliver()
    assert any("义乌市法律援助中心" in t and "服务时长：8" in t for t in h.texts(STAFF_GROUP))
