"""Micro-wishes (微心愿, issue #17 item 5) through the real Dispatcher: a grid leader submits a wish
for an elderly resident without Telegram, staff screen and approve it, volunteers race to claim it
(one wins), the winner delivers with a photo, the leader confirms on the resident's behalf, the
points are paid; the board never shows who wished or where they live; other roles and other
communities are refused."""
from __future__ import annotations

import asyncio
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from storage.models import AuditEvent, Community, PointEntry, Wish
from tests.conftest import (COMMUNITY_GROUP, GRID_GROUP, LEADER, RESIDENT, STAFF, STAFF_GROUP, VOL_GROUP, VOLUNTEER,
                            Harness, community, invite)
from tests.tg import Person

NAME = "陈奶奶"
TITLE = "想要一台收音机听越剧"
REASON = "独居，眼睛不好，白天一个人在家"
CONTACT = "3栋2单元501室，电话 13800001234，下午在家"
PUBLIC = "一位独居老人想要一台收音机（联系 13912345678）"


def data_of(sent, prefix: str) -> list[str]:
    return [b["callback_data"] for b in sent.buttons() if b.get("callback_data", "").startswith(prefix)]


async def wish_row(h: Harness, number: int = 1) -> Wish:
    async with h.app.db.read() as s:
        return (await s.execute(select(Wish).where(Wish.number == number))).scalars().one()


async def submit_on_behalf(h: Harness) -> Wish:
    """The leader, met an elderly resident door to door: /wishfor 陈奶奶, then the steps."""
    await h.send(LEADER, f"/wishfor {NAME}")
    ask = h.session.last(LEADER.id)
    assert NAME in ask.text
    await h.press(LEADER, data_of(ask, "wc:")[0])
    await h.send(LEADER, TITLE)
    await h.send(LEADER, REASON)
    await h.send(LEADER, "about lots")  # not a number: asked again, nothing kept
    assert "1" in h.session.last(LEADER.id).text and "500" in h.session.last(LEADER.id).text
    await h.send(LEADER, "80")
    await h.send(LEADER, photo=True)
    await h.send(LEADER, CONTACT)
    summary = h.session.last(LEADER.id)
    assert TITLE in summary.text and CONTACT in summary.text and "80" in summary.text
    await h.press(LEADER, data_of(summary, "cf")[0])
    assert "JMS-W001" in h.session.last(LEADER.id).text
    return await wish_row(h)


async def test_wish_on_behalf_approved_claimed_delivered_confirmed(harness: Harness):
    h = harness
    await community(h)
    volunteers = [VOLUNTEER] + [Person(3100 + i, f"V{i}", "en") for i in range(7)]
    for v in volunteers[1:]:
        await h.send(v, f"/start {await invite(h, 'volunteer')}")
    h.session.clear()
    wish = await submit_on_behalf(h)
    assert wish.status == "submitted" and wish.on_behalf_name == NAME and wish.filed_by_id == LEADER.id
    assert wish.budget == 80 and wish.contact_note == CONTACT and wish.photo
    await h.deliver()
    # Nothing reaches any group before screening; staff get the whole wish privately.
    assert not [t for t in h.texts(VOL_GROUP) if "W001" in t]
    screen = h.session.last_with_button(STAFF.id, f"wi:{wish.id}:")
    assert NAME in screen.text and CONTACT in screen.text and TITLE in screen.text

    # Staff write the public text; the phone number typed into it is scrubbed anyway.
    await h.press(STAFF, f"wi:{wish.id}:1")
    await h.send(STAFF, PUBLIC)
    await h.deliver()
    wish = await wish_row(h)
    assert wish.status == "approved" and "13912345678" not in (wish.public_text or "")
    board = h.session.last_with_button(VOL_GROUP, f"wi:{wish.id}:3")
    assert "JMS-W001" in board.text and "收音机" in board.text and "80" in board.text

    # Eight volunteers tap Claim at once: exactly one gets it.
    h.session.clear()
    claim = data_of(board, "wi:")[0]
    await asyncio.gather(*(h.press(v, claim, chat_id=VOL_GROUP, message_id=board.message_id) for v in volunteers))
    answers = h.session.answers()
    assert len(answers) == len(volunteers)
    won = [a for a in answers if not a.show_alert]
    lost = [a for a in answers if a.show_alert]
    assert len(won) == 1 and len(lost) == len(volunteers) - 1, [a.text for a in answers]
    wish = await wish_row(h)
    winner = next(v for v in volunteers if v.id == wish.fulfiller_id)
    assert wish.status == "claimed" and wish.fulfiller_role == "volunteer"
    async with h.app.db.read() as s:
        claims = (await s.execute(select(AuditEvent).where(AuditEvent.entity == "wish",
                                                           AuditEvent.action == "claimed"))).scalars().all()
    assert len(claims) == 1
    # A second tap by the winner tells him it is his; nothing changes.
    h.session.clear()
    await h.press(winner, claim, chat_id=VOL_GROUP)
    again = h.session.answers()[-1]
    assert not again.show_alert and "JMS-W001" in again.text
    if winner.language_code == "en":
        assert "already hold" in again.text
    assert (await wish_row(h)).status == "claimed"

    # The winner alone gets the delivery details, privately, with the wisher's photo.
    await h.deliver()
    brief = h.session.last_with_button(winner.id, f"wi:{wish.id}:4")
    assert NAME in brief.text and CONTACT in brief.text
    assert any(c.name == "SendPhoto" and c.method.photo == wish.photo for c in h.session.to(winner.id))
    for other in volunteers:
        if other.id != winner.id:
            assert not any(CONTACT in c.text for c in h.session.to(other.id))

    # Delivered with a photo (text alone is not enough).
    await h.press(winner, f"wi:{wish.id}:4")
    await h.send(winner, "done!")
    assert (await wish_row(h)).status == "claimed"
    await h.send(winner, photo=True)
    await h.deliver()
    wish = await wish_row(h)
    assert wish.status == "delivered" and wish.delivered_photo
    to_leader = [c for c in h.session.to(LEADER.id) if c.name == "SendPhoto"]
    assert to_leader and to_leader[-1].method.photo == wish.delivered_photo
    confirm = data_of(to_leader[-1], "wi:")
    assert confirm == [f"wi:{wish.id}:6"]

    # Only the wisher (here the leader on the resident's behalf) confirms; then points are paid once.
    await h.press(winner, confirm[0])
    assert h.session.answers()[-1].show_alert and (await wish_row(h)).status == "delivered"
    await h.press(LEADER, confirm[0])
    await h.press(LEADER, confirm[0])  # a double tap pays nothing more
    await h.deliver()
    wish = await wish_row(h)
    assert wish.status == "fulfilled" and wish.fulfilled_at is not None
    async with h.app.db.read() as s:
        paid = (await s.execute(select(PointEntry).where(PointEntry.user_id == winner.id))).scalars().all()
    assert [(p.reason, p.delta, p.ref) for p in paid] == [("wish_fulfilled", 10, f"wish:{wish.id}")]
    thanks = h.session.last(winner.id).text
    assert "JMS-W001" in thanks and "10" in thanks
    edits = [c for c in h.session.to(VOL_GROUP) if c.name == "EditMessageText"]
    assert edits and winner.first_name in edits[-1].text

    # Privacy: no group ever read the resident's name, contact, flat, reason or own words.
    for chat in (GRID_GROUP, VOL_GROUP, STAFF_GROUP, COMMUNITY_GROUP):
        for text in h.texts(chat):
            for secret in (NAME, "13800001234", "501", "13912345678", REASON, TITLE):
                assert secret not in text, (chat, secret, text)

    # /mywishes: the leader sees the wish he filed; the winner sees what he fulfilled this year.
    await h.send(LEADER, "/mywishes")
    assert "JMS-W001" in h.session.last(LEADER.id).text
    await h.send(winner, "/mywishes")
    assert "JMS-W001" in h.session.last(winner.id).text


async def test_a_resident_wishes_and_a_pledge_is_shown(harness: Harness, tmp_path):
    h = harness
    await community(h)
    async with h.app.db.write() as s:  # this community asks volunteers for two wishes a year each
        c = (await s.execute(select(Community))).scalars().one()
        c.settings = {**c.settings, "wish_pledge": {"volunteer": 2}}
        s.add(c)
    await h.send(RESIDENT, "/wish")
    await h.press(RESIDENT, data_of(h.session.last(RESIDENT.id), "wc:")[1])
    await h.send(RESIDENT, "A school bag for my son")
    await h.send(RESIDENT, "His old one is torn")
    await h.send(RESIDENT, "9999")
    assert "500" in h.session.last(RESIDENT.id).text
    await h.send(RESIDENT, "60")
    await h.press(RESIDENT, data_of(h.session.last(RESIDENT.id), "sk")[0])  # no photo
    await h.press(RESIDENT, data_of(h.session.last(RESIDENT.id), "sk")[0])  # no delivery details
    await h.press(RESIDENT, data_of(h.session.last(RESIDENT.id), "cf")[0])
    wish = await wish_row(h)
    assert wish.requester_id == RESIDENT.id and wish.on_behalf_name is None and wish.category == "study"
    await h.press(STAFF, f"wi:{wish.id}:0")  # approved as written
    await h.deliver()
    assert "approved" in h.session.last(RESIDENT.id).text
    board = h.session.last_with_button(VOL_GROUP, f"wi:{wish.id}:3")
    assert "school bag" in board.text and "Anna" not in board.text
    await h.send(VOLUNTEER, "/mywishes")
    before = h.session.last(VOLUNTEER.id).text
    assert "2026" in before or "0" in before
    await h.press(VOLUNTEER, data_of(board, "wi:")[0], chat_id=VOL_GROUP)
    await h.press(VOLUNTEER, f"wi:{wish.id}:4")
    await h.send(VOLUNTEER, photo=True)
    await h.deliver()
    confirm = h.session.last_with_button(RESIDENT.id, f"wi:{wish.id}:6")
    assert "Have you received it" in confirm.text
    await h.press(RESIDENT, f"wi:{wish.id}:6")
    await h.send(VOLUNTEER, "/mywishes")
    mine = h.session.last(VOLUNTEER.id).text
    assert "1" in mine and "2" in mine and "JMS-W001" in mine

    # The figures: the monthly report, the export (no wisher's words beyond the screened text),
    # and the counts the needs list reads.
    from bot.services.reports import export_csv, month
    from bot.services.wishes import wish_counts, wish_figures

    wish = await wish_row(h)
    local = wish.created_at.astimezone(ZoneInfo("Asia/Shanghai")).date()
    period = month(local.replace(day=1), "Asia/Shanghai")
    async with h.app.db.read() as s:
        assert await wish_figures(s, wish.community_id, period.start, period.end) == {
            "submitted": 1, "approved": 1, "fulfilled": 1}
        assert await wish_counts(s, wish.community_id, period.start, period.end, "Asia/Shanghai") == [
            ("study", wish.grid_id, local.strftime("%Y-%m"), 1)]
    h.session.clear()
    assert await h.app.reports.monthly_report(wish.community_id, period) == 1
    await h.deliver()
    assert any("微心愿：提交 1 个，审核通过 1 个，已圆梦 1 个" in t for t in h.texts(STAFF_GROUP))
    written = await export_csv(h.app.db, "JMS", local - timedelta(days=1), local + timedelta(days=1), tmp_path)
    assert written["wishes.csv"] == 1
    exported = (tmp_path / "wishes.csv").read_text(encoding="utf-8-sig")
    assert "JMS-W001" in exported and "school bag" in exported and "fulfilled" in exported
    assert "torn" not in exported  # the reason stays with staff and the fulfiller


async def test_other_roles_and_communities_are_refused(harness: Harness):
    h = harness
    await community(h)
    wish = await submit_on_behalf(h)
    # A resident may not file for someone else, nor screen, nor claim.
    await h.send(RESIDENT, f"/wishfor {NAME}")
    assert "grid leaders" in h.session.last(RESIDENT.id).text
    for op in (0, 1, 2):
        await h.press(RESIDENT, f"wi:{wish.id}:{op}")
        assert h.session.answers()[-1].show_alert
    assert (await wish_row(h)).status == "submitted"
    # Another community's staff and volunteer count for nothing here.
    other, token = await h.app.communities.create("米市社区", admin_id=9100, code="MS")
    stranger = Person(9100, "Mia", "en")
    await h.send(stranger, f"/start {token}")
    h.session.clear()
    await h.press(stranger, f"wi:{wish.id}:0")
    assert h.session.answers()[-1].show_alert and "staff" in h.session.answers()[-1].text
    assert (await wish_row(h)).status == "submitted"
    await h.press(STAFF, f"wi:{wish.id}:0")
    assert (await wish_row(h)).status == "approved"
    outsider = Person(9101, "Olek", "en")
    h.session.clear()
    await h.send(stranger, "/invite volunteer")
    link = h.session.last(stranger.id).text.split("?start=")[1].split()[0]
    await h.send(outsider, f"/start {link}")
    for who in (stranger, outsider, RESIDENT, LEADER):
        await h.press(who, f"wi:{wish.id}:3", chat_id=VOL_GROUP)
        assert h.session.answers()[-1].show_alert
    assert (await wish_row(h)).status == "approved" and (await wish_row(h)).fulfiller_id is None
    # Delivery and confirmation belong to the fulfiller and the wisher only.
    await h.press(VOLUNTEER, f"wi:{wish.id}:3", chat_id=VOL_GROUP)
    for who, op in ((RESIDENT, 4), (STAFF, 4), (RESIDENT, 6), (VOLUNTEER, 6)):
        await h.press(who, f"wi:{wish.id}:{op}")
        assert h.session.answers()[-1].show_alert
    assert (await wish_row(h)).status == "claimed"
    # /mywishes names wishers' words: never in a group.
    await h.send(LEADER, "/mywishes", chat_id=GRID_GROUP)
    assert TITLE not in h.session.last(GRID_GROUP).text


async def test_the_board_in_the_volunteer_group_shows_public_fields_only(harness: Harness):
    h = harness
    await community(h)
    wish = await submit_on_behalf(h)
    await h.press(STAFF, f"wi:{wish.id}:0")  # approved as written: the title, scrubbed
    await h.send(VOLUNTEER, "/wishes", chat_id=VOL_GROUP)
    board = h.session.last(VOL_GROUP)
    assert "JMS-W001" in board.text and data_of(board, "wi:") == [f"wi:{wish.id}:3"]
    for secret in (NAME, "13800001234", "501", REASON):
        assert secret not in board.text
    await h.send(RESIDENT, "/wishes")
    assert h.session.last(RESIDENT.id).text and not data_of(h.session.last(RESIDENT.id), "wi:")


async def test_a_korean_partner_member_fulfils_a_wish_for_the_partner_unit(harness: Harness):
    """The issue's end-to-end story: a wish on behalf of an elderly resident, approved, claimed by a
    partner member who reads Korean, delivered and confirmed; the partner's contribution and the
    member's yearly pledge (two a year by default) are counted."""
    from storage.models import Contribution
    from tests.test_partners import KOREAN, invite_member, register

    h = harness
    await community(h)
    partner = await register(h)
    await h.send(KOREAN, f"/start {await invite_member(h, partner, KOREAN)}")
    wish = await submit_on_behalf(h)
    await h.press(STAFF, f"wi:{wish.id}:0")
    await h.deliver()
    post = h.session.last_with_button(KOREAN.id, f"wi:{wish.id}:3")  # partners get the board privately
    assert "작은 소원" in post.text and NAME not in post.text and "13800001234" not in post.text
    await h.press(KOREAN, data_of(post, "wi:")[0])
    wish = await wish_row(h)
    assert (wish.status, wish.fulfiller_id, wish.fulfiller_role, wish.partner_id) == (
        "claimed", KOREAN.id, "partner", partner.id)
    await h.deliver()
    brief = h.session.last_with_button(KOREAN.id, f"wi:{wish.id}:4")
    assert NAME in brief.text and CONTACT in brief.text and "전달" in brief.text
    await h.press(KOREAN, f"wi:{wish.id}:4")
    await h.send(KOREAN, photo=True)
    await h.deliver()
    await h.press(LEADER, f"wi:{wish.id}:6")
    await h.deliver()
    async with h.app.db.read() as s:
        given = (await s.execute(select(Contribution).where(Contribution.partner_id == partner.id))).scalars().all()
        paid = (await s.execute(select(PointEntry).where(PointEntry.user_id == KOREAN.id))).scalars().all()
    assert [(c.kind, c.ref) for c in given] == [("wish", f"wish:{wish.id}")]
    assert [(p.reason, p.delta) for p in paid] == [("wish_fulfilled", 10)]
    thanks = h.session.last(KOREAN.id).text
    assert "포인트" in thanks and "1" in thanks and "2" in thanks  # points, and 1 of 2 pledged this year
    await h.send(KOREAN, "/mywishes")
    mine = h.session.last(KOREAN.id).text
    assert "JMS-W001" in mine and "2" in mine and "이루어짐" in mine


async def test_the_needs_list_counts_wishes_by_category_without_personal_data(harness: Harness, tmp_path):
    """Issue #17 item 3: the needs list (需求清单) aggregates micro-wishes with requests and orders,
    by category, micro-grid and month; no name, text, flat or phone; an unmet wish can become the
    problem of the month."""
    from datetime import datetime

    from bot.services.needs import NeedsService
    from bot.services.reports import export_csv

    h = harness
    await community(h)
    wish = await submit_on_behalf(h)
    h.session.clear()
    await h.send(STAFF, "/needs")
    text = h.session.last(STAFF.id).text
    category = h.app.renderer.label("wcat_" + wish.category, "zh_Hans")
    assert category in text and "微心愿" in text, text
    for secret in (NAME, TITLE, REASON, "501", "13800001234"):
        assert secret not in text
    local = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    written = await export_csv(h.app.db, "JMS", local - timedelta(days=1), local + timedelta(days=1), tmp_path)
    needs_csv = (tmp_path / "needs.csv").read_text(encoding="utf-8-sig")
    assert written["needs.csv"] == 1 and f"wish:{wish.category}" in needs_csv and ",wish,1,1" in needs_csv
    assert NAME not in needs_csv and TITLE not in needs_csv
    # the only unmet need of the month: it becomes the council's draft, titled by the wish category
    start = datetime.now(ZoneInfo("UTC")) - timedelta(days=1)
    needs: NeedsService = h.app.needs
    proposal = await needs.monthly(wish.community_id, "2099-01", start, start + timedelta(days=2))
    assert proposal is not None and category in proposal.title and NAME not in proposal.text
