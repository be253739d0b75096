"""The services list (服务清单): staff define a service with slots; a resident orders it from
/services in their language (点单); staff dispatch it (下单); the provider accepts it (接单); the
resident signs off and rates it (签单). Capacity is never exceeded; a cancelled order frees its
seat; the provider is reminded. And the needs list (需求清单) with the monthly "problem of the month"."""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.services import timers
from bot.services.reports import export_csv
from storage.models import Community, Proposal, Rating, Request, Service, ServiceOrder, ServiceSlot, utcnow
from tests.conftest import STAFF, STAFF_GROUP, VOL_GROUP, VOLUNTEER, Harness, community, invite
from tests.test_requests_flow import button, file_privately
from tests.tg import Person

AMAL = Person(410, "أمل", "ar", "amal")
COUNCIL = Person(600, "陈静", "zh-hans", "chenjing")
RTL = "\u200f"


def in_days(days: int = 1) -> str:
    return (datetime.now(ZoneInfo("Asia/Shanghai")) + timedelta(days=days)).strftime("%Y-%m-%d")


async def join(h: Harness, who: Person, token: str, grid_id: int) -> None:
    await h.send(who, f"/start {token}")
    await h.press(who, f"gr:{grid_id}")


async def define_service(h: Harness, capacity: int = 3, provider: str = "volunteers",
                         days: int = 1) -> tuple[Service, ServiceSlot]:
    """Staff create a service, name it in Arabic and English, and open one slot."""
    await h.send(STAFF, f"/addservice repair {provider} zh_Hans,en,ar 小家电上门维修")
    async with h.app.db.read() as s:
        svc = (await s.execute(select(Service).order_by(Service.id.desc()))).scalars().first()
    assert svc is not None and svc.name == "小家电上门维修", h.session.last(STAFF.id).text
    assert f"S{svc.id}" in h.session.last(STAFF.id).text
    await h.send(STAFF, f"/servicename {svc.id} ar تصليح الأجهزة المنزلية")
    await h.send(STAFF, f"/servicename {svc.id} en Home appliance repair")
    await h.send(STAFF, f"/addslot {svc.id} {in_days(days)} 10:00 {capacity}")
    async with h.app.db.read() as s:
        slot = (await s.execute(select(ServiceSlot).where(ServiceSlot.service_id == svc.id))).scalars().one()
        svc = await s.get(Service, svc.id)
    assert slot.capacity == capacity and slot.taken == 0 and svc.names["ar"] == "تصليح الأجهزة المنزلية"
    return svc, slot


async def slot_of(h: Harness, slot_id: int) -> ServiceSlot:
    async with h.app.db.read() as s:
        return await s.get(ServiceSlot, slot_id)


async def browse_to_slot(h: Harness, who: Person, name: str) -> None:
    """/services → category → service → slot: three taps; the note step follows."""
    await h.send(who, "/services")
    menu = h.session.last(who.id)
    await h.press(who, menu.buttons()[0]["callback_data"])  # the only category with services
    await h.press(who, button(h.session.last(who.id), name))
    slots = h.session.last(who.id)
    await h.press(who, slots.buttons()[0]["callback_data"])


async def test_arabic_resident_orders_a_service_and_signs_off(harness: Harness):
    h = harness
    env = await community(h)
    svc, slot = await define_service(h)
    await join(h, AMAL, await invite(h, "resident"), env["grids"][0].id)
    h.session.clear()

    await h.send(AMAL, "/services")
    menu = h.session.last(AMAL.id)
    assert menu.text.startswith(RTL) and "الخدمات" in menu.text  # the menu reads in Arabic
    await h.press(AMAL, menu.buttons()[0]["callback_data"])
    listing = h.session.last(AMAL.id)
    assert "تصليح الأجهزة المنزلية" in listing.text and "小家电" not in listing.text  # her language's name
    await h.press(AMAL, button(listing, "تصليح"))
    slots = h.session.last(AMAL.id)
    assert "3" in slots.buttons()[0]["text"]  # seats left shown on the slot
    await h.press(AMAL, slots.buttons()[0]["callback_data"])
    await h.send(AMAL, "أرجو الاتصال قبل المجيء، الشقة ١٢")  # the note: private to staff and the provider
    placed = h.session.last(AMAL.id)
    assert placed.text.startswith(RTL) and "JMS-0001" in placed.text
    async with h.app.db.read() as s:
        req = (await s.execute(select(Request))).scalars().one()
        order = (await s.execute(select(ServiceOrder))).scalars().one()
    assert (req.status, req.requester_id, req.category, order.held, order.slot_id) == ("new", AMAL.id, "repair",
                                                                                      True, slot.id)
    assert (await slot_of(h, slot.id)).taken == 1

    # 下单: the community dispatches from the staff group's card
    await h.deliver()
    card = h.session.last_with_button(STAFF_GROUP, f"od:{req.id}:")
    assert "JMS-0001" in card.text and "الاتصال" not in card.text and "١٢" not in card.text
    await h.press(STAFF, button(card, "派单"), chat_id=STAFF_GROUP)
    await h.deliver()
    post = h.session.last_with_button(VOL_GROUP, f"od:{req.id}:")
    assert "الاتصال" not in post.text  # the note never reaches the volunteer group

    # 接单: the provider (a volunteer) accepts; the note reaches only them, privately
    await h.press(VOLUNTEER, button(post, "接单"), chat_id=VOL_GROUP)
    await h.deliver()
    async with h.app.db.read() as s:
        req = await s.get(Request, req.id)
    assert (req.status, req.assignee_id) == ("handling", VOLUNTEER.id)
    assert any("الاتصال" in t for t in h.texts(VOLUNTEER.id))
    await h.press(VOLUNTEER, f"tk:{req.id}:2")  # done
    await h.press(VOLUNTEER, "sk")
    await h.deliver()

    # 签单: the resident signs off and rates, in Arabic
    ask = h.session.last(AMAL.id)
    assert ask.text.startswith(RTL)
    assert f"so:{req.id}:1" in [b["callback_data"] for b in ask.buttons()]
    await h.press(AMAL, f"so:{req.id}:1")  # yes, resolved
    assert f"st:{req.id}:5" in [b["callback_data"] for b in h.session.last(AMAL.id).buttons()]
    await h.press(AMAL, f"st:{req.id}:5")  # five stars
    async with h.app.db.read() as s:
        req = await s.get(Request, req.id)
        rating = (await s.execute(select(Rating))).scalars().one()
        order = await s.get(ServiceOrder, order.id)
    assert (req.status, rating.stars, order.held) == ("closed", 5, True)  # a delivered order keeps its seat
    assert (await slot_of(h, slot.id)).taken == 1


async def test_capacity_race_admits_exactly_three(harness: Harness):
    h = harness
    env = await community(h)
    svc, slot = await define_service(h, capacity=3)
    token = await invite(h, "resident")
    people = [Person(1000 + i, f"Resident{i}", "en", f"r{i}") for i in range(10)]
    for p in people:
        await join(h, p, token, env["grids"][0].id)
        await browse_to_slot(h, p, "Home appliance repair")
    h.session.clear()
    # Everyone confirms at once (the note is skipped): ten conditional updates race for 3 seats.
    await asyncio.gather(*(h.press(p, "sk") for p in people))
    async with h.app.db.read() as s:
        held = (await s.execute(select(func.count()).select_from(ServiceOrder).where(ServiceOrder.held))).scalar_one()
        reqs = (await s.execute(select(func.count()).select_from(Request))).scalar_one()
    assert (held, reqs, (await slot_of(h, slot.id)).taken) == (3, 3, 3)
    full = [a for a in h.session.answers() if a.show_alert and "full" in (a.text or "")]
    assert len(full) == 7  # the others are told clearly, nothing half-written


async def test_cancelling_frees_the_seat(harness: Harness):
    h = harness
    env = await community(h)
    svc, slot = await define_service(h, capacity=1)
    token = await invite(h, "resident")
    first, second = Person(1101, "Ivan", "ru", "ivan"), Person(1102, "Jin", "ko", "jin")
    for p in (first, second):
        await join(h, p, token, env["grids"][0].id)
    await browse_to_slot(h, first, "小家电")  # no Russian name: the community's own
    await h.press(first, "sk")
    assert (await slot_of(h, slot.id)).taken == 1
    await h.send(second, "/services")
    await h.press(second, h.session.last(second.id).buttons()[0]["callback_data"])
    await h.press(second, h.session.last(second.id).buttons()[0]["callback_data"])
    assert not [b for b in h.session.last(second.id).buttons() if b["callback_data"].startswith("sl:")]  # full
    async with h.app.db.read() as s:
        req = (await s.execute(select(Request))).scalars().one()
    await h.press(first, f"cr:{req.id}")  # cancel from /my
    assert (await slot_of(h, slot.id)).taken == 0
    async with h.app.db.read() as s:
        assert not (await s.get(ServiceOrder, 1)).held
    await browse_to_slot(h, second, "小家电")
    await h.press(second, "sk")
    assert (await slot_of(h, slot.id)).taken == 1
    async with h.app.db.read() as s:
        req2 = (await s.execute(select(Request).where(Request.requester_id == second.id))).scalars().one()
    await h.press(STAFF, f"od:{req2.id}:1", chat_id=STAFF_GROUP)  # staff decline it: the seat is freed too
    await h.deliver()
    assert (await slot_of(h, slot.id)).taken == 0
    assert "/services" in h.session.last(second.id).text  # told plainly, and where to pick another time


async def test_provider_is_reminded(harness: Harness):
    h = harness
    env = await community(h)
    async with h.app.db.write() as s:  # no quiet hours: the test must not depend on the time of day
        c = await s.get(Community, env["community"].id)
        c.settings = {**(c.settings or {}), "quiet_hours": "00:00-00:00"}
        s.add(c)
    svc, slot = await define_service(h, days=3)
    await join(h, AMAL, await invite(h, "resident"), env["grids"][0].id)
    await browse_to_slot(h, AMAL, "تصليح")
    await h.press(AMAL, "sk")
    async with h.app.db.read() as s:
        req = (await s.execute(select(Request))).scalars().one()
    await h.press(STAFF, f"od:{req.id}:0", chat_id=STAFF_GROUP)
    await h.deliver()
    h.session.clear()
    fired = await timers.sweep(h.app.requests, utcnow() + timedelta(hours=13))
    await h.deliver()
    assert fired == 1 and any("还在等人接单" in t and "JMS-0001" in t for t in h.texts(VOL_GROUP))
    post = h.session.last_with_button(VOL_GROUP, f"od:{req.id}:")  # the reminder carries Accept again
    await h.press(VOLUNTEER, button(post, "接单"), chat_id=VOL_GROUP)
    async with h.app.db.read() as s:
        req = await s.get(Request, req.id)
    assert req.timer_kind == "slot_remind" and req.timer_at < slot.starts_at  # before the slot
    await h.deliver()
    assert all(not b for b in (h.session.last(VOL_GROUP).buttons(),))  # accepting took the buttons off
    h.session.clear()
    assert await timers.sweep(h.app.requests, req.timer_at + timedelta(minutes=1)) == 1
    await h.deliver()
    reminder = h.session.last(VOLUNTEER.id).text
    assert "JMS-0001" in reminder and "提醒" in reminder and not h.texts(VOL_GROUP)  # privately, to who accepted


async def test_other_roles_and_communities_are_refused(harness: Harness):
    h = harness
    env = await community(h)
    svc, slot = await define_service(h)
    await join(h, AMAL, await invite(h, "resident"), env["grids"][0].id)
    h.session.clear()
    await h.send(AMAL, "/addservice repair volunteers all Something")
    assert h.session.last(AMAL.id).text == h.app.renderer.render("error", "ar", code="staff_only")
    async with h.app.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Service))).scalar_one() == 1
    # another community's staff and residents
    other_staff = Person(2100, "Olga", "ru", "olga")
    outsider = Person(2101, "Pedro", "es", "pedro")
    c2, token2 = await h.app.communities.create("米市社区", admin_id=other_staff.id, code="MS")
    await h.app.communities.add_grids("MS", ["A"])
    await h.send(other_staff, f"/start {token2}")
    h.session.clear()
    await h.send(other_staff, "/invite resident")
    token = h.session.last(other_staff.id).text.split("?start=")[1].split()[0]
    _, grids2 = await h.app.communities.list_grids("MS")
    await join(h, outsider, token, grids2[0].id)
    h.session.clear()
    await h.press(outsider, f"sv:{svc.id}")  # a forged press for JMS's service
    await h.press(outsider, f"sl:{slot.id}")
    await h.press(outsider, "sk")
    assert (await slot_of(h, slot.id)).taken == 0
    assert len([a for a in h.session.answers() if a.show_alert]) == 3  # each refused with an answer
    await browse_to_slot(h, AMAL, "تصليح")
    await h.press(AMAL, "sk")
    async with h.app.db.read() as s:
        req = (await s.execute(select(Request))).scalars().one()
    h.session.clear()
    await h.press(other_staff, f"od:{req.id}:0")  # MS staff cannot dispatch JMS's order
    await h.press(AMAL, f"od:{req.id}:0")  # nor can the resident
    await h.press(VOLUNTEER, f"od:{req.id}:2")  # not dispatched yet: nothing to accept
    alerts = [a.text for a in h.session.answers() if a.show_alert]
    assert len(alerts) == 3, alerts
    async with h.app.db.read() as s:
        assert (await s.get(Request, req.id)).status == "new"
    h.session.clear()
    await h.send(AMAL, "/needs")
    assert h.session.last(AMAL.id).text == h.app.renderer.render("error", "ar", code="needs_readers_only")
    await h.send(VOLUNTEER, "/needs")
    assert h.session.last(VOLUNTEER.id).text == h.app.renderer.render("error", "zh_Hans", code="needs_readers_only")
    await h.send(other_staff, "/needs")  # MS staff read MS's list: empty, nothing of JMS
    assert "За эти месяцы пока ничего не запрашивали" in h.session.last(other_staff.id).text


async def test_needs_list_and_problem_of_the_month(harness: Harness, tmp_path):
    h = harness
    env = await community(h)
    await h.send(COUNCIL, f"/start {await invite(h, 'council_member')}")
    await file_privately(h)  # a repair request, open
    svc, slot = await define_service(h)
    await join(h, AMAL, await invite(h, "resident"), env["grids"][0].id)
    await browse_to_slot(h, AMAL, "تصليح")
    await h.press(AMAL, "sk")  # a repair order, open
    h.session.clear()
    for who in (STAFF, COUNCIL):
        await h.send(who, "/needs")
        text = h.session.last(who.id).text
        assert "需求清单" in text and "维修" in text and "2" in text, text
        assert "The corridor" not in text and "Anna" not in text  # no personal data
    # the 1st of next month, 09:00 in the community: the monthly report and the problem of the month
    tz = ZoneInfo("Asia/Shanghai")
    local = datetime.now(tz)
    first = (local.replace(day=1) + timedelta(days=32)).replace(day=1, hour=9, minute=30)
    await h.app.reports.run_due(first.astimezone(ZoneInfo("UTC")))
    await h.app.reports.run_due(first.astimezone(ZoneInfo("UTC")))  # idempotent
    await h.deliver()
    async with h.app.db.read() as s:
        drafts = (await s.execute(select(Proposal))).scalars().all()
    assert len(drafts) == 1 and drafts[0].status == "draft" and "维修" in drafts[0].title
    staff_texts = "\n".join(h.texts(STAFF_GROUP))
    assert "每月一题" in staff_texts and "需求" in staff_texts
    card = h.session.last_with_button(STAFF_GROUP, f"pp:{drafts[0].id}:")
    await h.press(STAFF, button(card, "表决"), chat_id=STAFF_GROUP)  # staff open it for a vote
    async with h.app.db.read() as s:
        assert (await s.get(Proposal, drafts[0].id)).status == "open"
    written = export_csv.__name__ and await export_csv(h.app.db, "JMS", local.date() - timedelta(days=1),
                                                       local.date() + timedelta(days=1), tmp_path)
    assert written["needs.csv"] >= 1 and written["orders.csv"] == 1 and written["services.csv"] == 1
    orders_csv = (tmp_path / "orders.csv").read_text(encoding="utf-8-sig")
    assert "JMS-0002" in orders_csv and str(AMAL.id) not in orders_csv


async def test_a_partner_provides_a_service_its_members_accept_others_are_refused(harness: Harness):
    """Issue #17 item 1: a service provided by a partner (共建单位): its members receive the
    dispatched order privately and accept it (接单); another partner's member, a volunteer and a
    made-up partner are refused; the order carried to done counts as a service the partner delivered."""
    from storage.models import Contribution
    from tests.test_partners import KOREAN, SECOND, invite_member, partner_with_member, register

    h = harness
    env = await community(h)
    partner = await partner_with_member(h, KOREAN)
    other = await register(h, "merchant", "城东超市")
    await h.send(SECOND, f"/start {await invite_member(h, other, SECOND)}")
    h.session.clear()
    await h.send(STAFF, "/addservice repair partner:999 all Nothing")
    assert h.session.last(STAFF.id).text == h.app.renderer.render("error", "zh_Hans", code="partner_not_found",
                                                                 name="999")
    await h.send(STAFF, "/addservice repair partner all Nothing")
    assert "partner:" in h.session.last(STAFF.id).text  # the usage names the partner form
    svc, slot = await define_service(h, provider=f"partner:{partner.id}")
    assert (svc.provider_kind, svc.provider_id) == ("partner", partner.id)
    await join(h, AMAL, await invite(h, "resident"), env["grids"][0].id)
    await browse_to_slot(h, AMAL, "تصليح")
    await h.send(AMAL, "الشقة ١٢")
    async with h.app.db.read() as s:
        req = (await s.execute(select(Request))).scalars().one()
    await h.deliver()
    card = h.session.last_with_button(STAFF_GROUP, f"od:{req.id}:")
    h.session.clear()
    await h.press(STAFF, button(card, "派单"), chat_id=STAFF_GROUP)
    await h.deliver()
    post = h.session.last_with_button(KOREAN.id, f"od:{req.id}:")
    assert post is not None and "JMS-0001" in post.text and "١٢" not in post.text  # the note waits
    assert not h.texts(VOL_GROUP) and not h.texts(SECOND.id)  # not the volunteers, not the other partner
    # 提醒: not accepted in time, the partner's members are reminded (privately, with the button), once
    async with h.app.db.write() as s:  # no quiet hours: the test must not depend on the time of day
        c = await s.get(Community, env["community"].id)
        c.settings = {**(c.settings or {}), "quiet_hours": "00:00-00:00"}
        s.add(c)
    h.session.clear()
    later = utcnow() + timedelta(hours=13)
    assert await timers.sweep(h.app.requests, later) == 1
    assert await timers.sweep(h.app.requests, later) == 0  # persisted: a second sweep repeats nothing
    await h.deliver()
    reminder = h.session.last_with_button(KOREAN.id, f"od:{req.id}:")
    assert "JMS-0001" in reminder.text and "١٢" not in reminder.text
    assert not h.texts(VOL_GROUP) and not h.texts(SECOND.id)

    h.session.clear()
    await h.press(SECOND, f"od:{req.id}:2")  # another partner's member
    await h.press(VOLUNTEER, f"od:{req.id}:2", chat_id=VOL_GROUP)  # a volunteer
    alerts = [a.text for a in h.session.answers() if a.show_alert]
    assert alerts == [h.app.renderer.render("error", "ko", code="provider_only"),
                      h.app.renderer.render("error", "zh_Hans", code="provider_only")], alerts
    async with h.app.db.read() as s:
        assert (await s.get(Request, req.id)).status == "dispatched"

    await h.press(KOREAN, post.buttons()[0]["callback_data"])
    await h.deliver()
    async with h.app.db.read() as s:
        req = await s.get(Request, req.id)
    assert (req.status, req.assignee_id) == ("handling", KOREAN.id)
    assert any("١٢" in t for t in h.texts(KOREAN.id))  # the note, privately, to who accepted
    await h.press(KOREAN, f"tk:{req.id}:2")  # done
    await h.press(KOREAN, "sk")
    await h.deliver()
    await h.press(AMAL, f"so:{req.id}:1")
    async with h.app.db.read() as s:
        contrib = (await s.execute(select(Contribution))).scalars().all()
        req = await s.get(Request, req.id)
    assert req.status in ("done", "closed", "closed_unrated")
    assert [(c.partner_id, c.kind, c.amount, c.ref) for c in contrib] == [(partner.id, "service", 1, f"order:{req.id}")]
    # another community's staff cannot put this community's partner on their menu
    other_staff = Person(2100, "Olga", "ru", "olga")
    _, token2 = await h.app.communities.create("米市社区", admin_id=other_staff.id, code="MS")
    await h.send(other_staff, f"/start {token2}")
    await h.send(other_staff, f"/addservice repair partner:{partner.id} all Чужое")
    assert h.session.last(other_staff.id).text == h.app.renderer.render("error", "ru", code="partner_not_found",
                                                                       name=str(partner.id))
    async with h.app.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Service))).scalar_one() == 1
