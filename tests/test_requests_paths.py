"""The other roads a request takes: decline, ask for info, escalation, merge, on-behalf filing,
group mentions and replies, cancelling, timers across a restart, and bad input."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from bot.services import timers
from storage.models import Follower, Outbox, Request, utcnow
from tests.conftest import (GRID_GROUP, LEADER, LIAISON, RESIDENT, STAFF, STAFF_GROUP, VOL_GROUP, VOLUNTEER, Harness,
                            community)
from tests.test_requests_flow import button, file_privately
from tests.tg import BOT_ID, Person, Updates


async def _card(h: Harness):
    await h.deliver()
    return h.session.last(GRID_GROUP)


async def _status(h: Harness, req_id: int) -> Request:
    async with h.app.db.read() as s:
        return await s.get(Request, req_id)


async def test_decline_with_reason_reaches_the_resident(harness: Harness):
    h = harness
    await community(h)
    req = await file_privately(h)
    card = await _card(h)
    await h.press(LEADER, card.buttons()[4]["callback_data"], chat_id=GRID_GROUP)  # Decline
    reasons = h.session.last(LEADER.id)
    await h.press(LEADER, reasons.buttons()[2]["callback_data"])  # referred elsewhere
    await h.send(LEADER, "请联系物业公司 0579-1234")
    await h.deliver()
    told = h.session.last(RESIDENT.id).text
    assert "was not taken up here, because another office handles it." in told and "0579-1234" in told
    assert "(written in Chinese)" in told  # the leader's note, labelled for an English reader
    r = await _status(h, req.id)
    assert (r.status, r.reason, r.timer_at) == ("declined", "referred", None)


async def test_ask_for_info_pauses_the_clock_until_the_resident_answers(harness: Harness):
    h = harness
    await community(h)
    req = await file_privately(h)
    card = await _card(h)
    await h.press(LEADER, card.buttons()[3]["callback_data"], chat_id=GRID_GROUP)
    await h.send(LEADER, "哪一栋楼？")
    await h.deliver()
    r = await _status(h, req.id)
    assert r.status == "waiting_info" and r.timer_at is None and r.paused_remaining_s > 0
    question = h.session.last(RESIDENT.id)
    assert "哪一栋楼" in question.text
    await h.press(RESIDENT, button(question, "Answer"))
    await h.send(RESIDENT, "Building 3")
    await h.deliver()
    r = await _status(h, req.id)
    assert r.status == "new" and r.timer_at is not None
    # A fresh card in the group says there is an answer; the answer itself reaches the leader privately.
    assert "居民已回复" in h.session.last(GRID_GROUP).text and "Building 3" not in h.session.last(GRID_GROUP).text
    assert "Building 3" in h.session.last(LEADER.id).text


async def test_escalation_to_a_department_and_back(harness: Harness):
    h = harness
    await community(h)
    req = await file_privately(h)
    card = await _card(h)
    await h.press(LEADER, card.buttons()[5]["callback_data"], chat_id=GRID_GROUP)  # Escalate
    liaisons = h.session.last(LEADER.id)
    assert "物业" in liaisons.buttons()[0]["text"]
    await h.press(LEADER, liaisons.buttons()[0]["callback_data"])
    await h.press(LEADER, h.session.last(LEADER.id).buttons()[1]["callback_data"])  # +3 days
    await h.deliver()
    r = await _status(h, req.id)
    assert r.status == "escalated" and r.department == "物业" and r.timer_kind == "dept_remind"
    brief = h.session.last(LIAISON.id)
    assert "13800001234" in brief.text  # the department needs the contact
    assert "escalated to 物业" in h.session.last(RESIDENT.id).text
    await h.press(LIAISON, brief.buttons()[0]["callback_data"])  # accept
    await h.press(LIAISON, button(brief, "↩️"))
    await h.send(LIAISON, "不属于物业范围")
    await h.deliver()
    r = await _status(h, req.id)
    assert r.status == "new" and r.assignee_id is None
    assert "returned" in h.session.last(RESIDENT.id).text
    assert "部门已退回此诉求" in h.session.last(GRID_GROUP).text  # a fresh card; the note is private
    assert "不属于物业范围" not in h.session.last(GRID_GROUP).text
    assert "不属于物业范围" in h.session.last(LEADER.id).text


async def test_merge_makes_the_requester_follow_the_original(harness: Harness):
    h = harness
    await community(h)
    first = await file_privately(h)
    other = Person(410, "Li Na", "zh-hans")
    from tests.conftest import invite
    await h.send(other, f"/start {await invite(h, 'resident', '一网格')}")
    await h.send(other, "/new The corridor light on floor 3 is out", chat_id=GRID_GROUP)
    await h.deliver()
    async with h.app.db.read() as s:
        second = (await s.execute(select(Request).where(Request.requester_id == other.id))).scalars().one()
    card = h.session.last(GRID_GROUP)
    await h.press(LEADER, card.buttons()[2]["callback_data"], chat_id=GRID_GROUP)
    await h.press(LEADER, button(h.session.last(LEADER.id), "JMS-0001"))
    await h.deliver()
    assert (await _status(h, second.id)).status == "duplicate"
    async with h.app.db.read() as s:
        assert await s.get(Follower, (first.id, other.id)) is not None
    # The follower hears about the original's progress.
    await h.press(LEADER, (await _card_for(h, first.id)), chat_id=GRID_GROUP)
    await h.deliver()
    assert "JMS-0001" in h.session.last(other.id).text


async def _card_for(h: Harness, req_id: int) -> str:
    return f"tr:{req_id}:0"


async def test_grid_leader_files_on_behalf_of_a_resident(harness: Harness):
    h = harness
    await community(h)
    await h.send(LEADER, "/onbehalf 陈奶奶")
    await h.press(LEADER, h.session.last(LEADER.id).buttons()[3]["callback_data"])  # care
    await h.send(LEADER, "陈奶奶需要每周代买药品")
    for _ in range(2):
        await h.press(LEADER, h.session.last(LEADER.id).buttons()[0]["callback_data"])  # skip photos, location
    await h.press(LEADER, h.session.last(LEADER.id).buttons()[0]["callback_data"])  # grid
    await h.send(LEADER, "3栋2单元501，电话 139xxxx")
    await h.press(LEADER, h.session.last(LEADER.id).buttons()[-1]["callback_data"].replace("cx", "cf"))
    async with h.app.db.read() as s:
        req = (await s.execute(select(Request))).scalars().one()
    assert req.on_behalf_name == "陈奶奶" and req.filed_by_id == LEADER.id and req.category == "care"
    await h.send(RESIDENT, "/onbehalf Someone")
    assert "Only grid leaders" in h.session.last(RESIDENT.id).text


async def test_mention_and_reply_in_a_group_file_requests(harness: Harness):
    h = harness
    await community(h)
    await h.send(RESIDENT, "@gongzhi_test_bot the gate lock is broken", chat_id=GRID_GROUP)
    reply = h.session.last(GRID_GROUP)
    assert "JMS-0001" in reply.text
    bot_msg = h.u.message(Person(BOT_ID, "Gongzhi"), "…", chat_id=GRID_GROUP).message
    await h.feed(h.u.message(RESIDENT, "Also the bike shed light", chat_id=GRID_GROUP, reply_to=bot_msg))
    assert "JMS-0002" in h.session.last(GRID_GROUP).text
    await h.send(RESIDENT, "just chatting with neighbours", chat_id=GRID_GROUP)
    assert "JMS-0003" not in h.session.last(GRID_GROUP).text
    async with h.app.db.read() as s:
        assert len((await s.execute(select(Request))).scalars().all()) == 2


async def test_only_requester_or_staff_cancel(harness: Harness):
    h = harness
    await community(h)
    req = await file_privately(h)
    await h.press(LEADER, f"cr:{req.id}")
    assert "not yours" in (h.session.answers()[-1].text or "") or "不是" in (h.session.answers()[-1].text or "")
    await h.press(RESIDENT, f"cr:{req.id}")
    assert (await _status(h, req.id)).status == "cancelled"
    await h.press(RESIDENT, f"cr:{req.id}")
    assert "no longer available" in h.session.answers()[-1].text


async def test_bad_input_gets_clear_answers_and_changes_nothing(harness: Harness):
    h = harness
    await community(h)
    await h.send(RESIDENT, "/new")
    await h.press(RESIDENT, h.session.last(RESIDENT.id).buttons()[0]["callback_data"])
    await h.send(RESIDENT, "x" * 2500)
    assert "2500" in h.session.last(RESIDENT.id).text
    await h.send(RESIDENT, sticker=True)
    assert "describe" in h.session.last(RESIDENT.id).text.lower()
    await h.send(RESIDENT, "/cancel")
    assert "Cancelled" in h.session.last(RESIDENT.id).text
    await h.send(RESIDENT, sticker=True)
    assert "/new" in h.session.last(RESIDENT.id).text
    await h.send(RESIDENT, "/frobnicate")
    assert "don't know that command" in h.session.last(RESIDENT.id).text
    async with h.app.db.read() as s:
        assert (await s.execute(select(Request))).first() is None


async def test_timers_fire_once_and_survive_a_restart(tmp_path):
    updates = Updates()
    h = await Harness(tmp_path / "t.db", updates).start()
    await community(h)
    from tests.test_roles import _hours
    await _hours(h, quiet_hours="00:00-00:00")  # reminders wait out quiet hours: none here, whatever the clock
    req = await file_privately(h)
    await h.deliver()
    # The bot was down while the triage window passed; pending notifications remain too.
    async with h.app.db.write() as s:
        await s.execute(update(Request).values(timer_at=utcnow() - timedelta(minutes=1)))
        s.add(Outbox(chat_id=STAFF.id, text="pending before the crash"))
    await h.close()

    h2 = await Harness(tmp_path / "t.db", updates).start()
    assert await timers.sweep(h2.app.requests) == 1
    assert await timers.sweep(h2.app.requests) == 0  # idempotent
    await h2.deliver()
    assert any("⏰" in t and "JMS-0001" in t for t in h2.texts(LEADER.id))
    assert "pending before the crash" in h2.texts(STAFF.id)
    r = await _status(h2, req.id)
    assert r.timer_kind == "triage_staff" and r.timer_at > utcnow()
    async with h2.app.db.write() as s:
        await s.execute(update(Request).values(timer_at=utcnow() - timedelta(minutes=1)))
    await timers.sweep(h2.app.requests)
    await h2.deliver()
    assert any("⏰" in t and "JMS-0001" in t for t in h2.texts(STAFF_GROUP)[-1:])
    assert (await _status(h2, req.id)).timer_at is None
    await h2.close()


async def test_volunteer_release_reposts_and_assign_by_leader(harness: Harness):
    h = harness
    await community(h)
    req = await file_privately(h)
    card = await _card(h)
    await h.press(LEADER, card.buttons()[0]["callback_data"], chat_id=GRID_GROUP)
    await h.deliver()
    from tests.conftest import VOLUNTEER
    await h.press(VOLUNTEER, h.session.last(VOL_GROUP).buttons()[0]["callback_data"], chat_id=VOL_GROUP)
    await h.deliver()
    await h.press(VOLUNTEER, f"tk:{req.id}:3")  # release
    await h.deliver()
    assert (await _status(h, req.id)).status == "accepted"
    assert h.session.last(VOL_GROUP).buttons()[0]["callback_data"] == f"tk:{req.id}:0"
    await h.send(LEADER, "/assign JMS-0001 @zhangwei")
    r = await _status(h, req.id)
    assert r.status == "claimed" and r.assignee_id == VOLUNTEER.id
    await h.send(LEADER, "/assign JMS-0099 @zhangwei")
    assert "JMS-0099" in h.session.last(LEADER.id).text


async def test_a_page_of_requests_says_how_many_there_are_in_all(harness: Harness):
    """A page and the total come in one query; an empty first page means none, and a page past
    the end (a stale "next" button) still says how many there are."""
    from bot.services.context import load_actor
    from bot.services.requests import Draft
    from storage.models import User

    h = harness
    info = await community(h)

    async def actor(who: Person):
        async with h.app.db.read() as s:
            return await load_actor(s, await s.get(User, who.id), who.id, "zh_Hans", h.app.renderer.locales)

    resident = await actor(RESIDENT)
    for i in range(3):
        await h.app.requests.file(resident, Draft(description=f"楼道灯坏了 #{i}", category=None,
                                                  grid_id=info["grids"][0].id))
    pages = [await h.app.requests.mine(resident, offset=offset, limit=2) for offset in (0, 2, 4)]
    assert [(len(views), total) for views, total in pages] == [(2, 3), (1, 3), (0, 3)]
    assert [v.req.number for v in pages[0][0] + pages[1][0]] == [3, 2, 1]  # newest first
    assert await h.app.requests.mine(await actor(VOLUNTEER), offset=0) == ([], 0)


async def test_edit_on_the_summary_goes_back_to_the_description_and_files_the_new_one(harness: Harness):
    h = harness
    await community(h)
    await h.send(RESIDENT, "/new")
    await h.press(RESIDENT, button(h.session.last(RESIDENT.id), "Repair"))
    await h.send(RESIDENT, "The corridor light is broken")
    await h.press(RESIDENT, button(h.session.last(RESIDENT.id), "Skip"))  # photos
    await h.press(RESIDENT, button(h.session.last(RESIDENT.id), "Skip"))  # location
    await h.press(RESIDENT, button(h.session.last(RESIDENT.id), "一网格"))
    await h.send(RESIDENT, "Flat 502")
    await h.press(RESIDENT, button(h.session.last(RESIDENT.id), "Edit"))
    asked = h.session.last(RESIDENT.id)
    assert "Sorry" not in asked.text and "describe" in asked.text.lower(), asked.text
    await h.send(RESIDENT, "The corridor light on floor 3 is broken and flickers")
    summary = h.session.last(RESIDENT.id)
    assert "flickers" in summary.text and "Please check your request" in summary.text, summary.text
    await h.press(RESIDENT, button(summary, "Confirm"))
    assert "JMS-0001" in h.session.last(RESIDENT.id).text
    async with h.app.db.read() as s:
        filed = (await s.execute(select(Request))).scalars().all()
    assert [r.description for r in filed] == ["The corridor light on floor 3 is broken and flickers"]
