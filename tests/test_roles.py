"""Issue #15: the workflow as each person in it sees it — every text written for its reader, and
every button press answered truthfully. Through the real Dispatcher (tests/conftest.py)."""
from __future__ import annotations

from sqlalchemy import select

from storage.models import Request
from tests.conftest import (COMMUNITY_GROUP, GRID_GROUP, LEADER, LIAISON, RESIDENT, STAFF, STAFF_GROUP, VOL_GROUP, VOLUNTEER, Harness, community)
from tests.test_requests_flow import button, file_privately
from tests.test_signoff import _done
from tests.tg import Person


async def _ask(h: Harness, req: Request, question: str = "哪一栋楼？") -> None:
    await h.deliver()
    await h.press(LEADER, f"tr:{req.id}:3", chat_id=GRID_GROUP)  # ask for info
    await h.send(LEADER, question)
    await h.deliver()


# 1 ------------------------------------------------------------------------------------------
async def test_waiting_for_information_is_written_for_each_reader(harness: Harness):
    h = harness
    await community(h)
    req = await file_privately(h)
    await _ask(h, req)
    leader_reply = h.session.last(LEADER.id).text
    card = [c for c in h.session.to(GRID_GROUP) if c.name == "EditMessageText"][-1].text
    feed = h.session.last(STAFF_GROUP).text
    for text in (leader_reply, card, feed):  # Chinese readers who are not the resident
        assert "等待居民补充信息" in text and "您" not in text.split("JMS-0001")[1], text
    await h.send(RESIDENT, "/my")
    assert "waiting for your information" in h.session.last(RESIDENT.id).text
    await h.send(LEADER, "/my")  # the leader has no requests of his own
    await h.press(LEADER, f"rq:{req.id}")  # the leader opens the request: not "your" information
    detail = h.session.last(LEADER.id).text
    assert "等待居民补充信息" in detail and "等待您补充信息" not in detail


# 2 ------------------------------------------------------------------------------------------
async def test_a_double_tap_on_claim_tells_the_winner_he_holds_the_task(harness: Harness):
    h = harness
    await community(h)
    req = await file_privately(h)
    await h.deliver()
    await h.press(LEADER, f"tr:{req.id}:0", chat_id=GRID_GROUP)
    await h.deliver()
    task = h.session.last(VOL_GROUP)
    claim = button(task, "")
    await h.press(VOLUNTEER, claim, chat_id=VOL_GROUP)
    await h.press(VOLUNTEER, claim, chat_id=VOL_GROUP)
    first, second = [a.text or "" for a in h.session.answers()[-2:]]
    assert "JMS-0001" in first and "JMS-0001" in second
    assert "别的志愿者" not in second and "first" not in second  # never "someone else claimed it first"
    async with h.app.db.read() as s:
        r = await s.get(Request, req.id)
    assert (r.status, r.assignee_id) == ("claimed", VOLUNTEER.id)


# 3 ------------------------------------------------------------------------------------------
async def test_a_reopened_request_reaches_staff_as_reopened_with_round_and_comment(harness: Harness):
    h = harness
    await community(h)
    req = await file_privately(h)
    await _done(h, req)
    await h.press(RESIDENT, button(h.session.last(RESIDENT.id), "Not yet"))
    await h.send(RESIDENT, "The light flickers again")
    await h.deliver()
    feed = h.session.last(STAFF_GROUP).text
    # The staff group is a group: the resident's comment (restricted, #12) goes privately to whoever
    # can act, so the feed names the round and no private words.
    assert "flickers" not in feed and "（第 2 轮）" in feed and "None" not in feed
    assert "重新打开" in feed  # staff read Chinese: "reopened"
    await h.send(RESIDENT, "/my")
    await h.press(RESIDENT, f"rq:{req.id}")
    assert "reopened" in h.session.last(RESIDENT.id).text


# 7 ------------------------------------------------------------------------------------------
async def test_a_question_in_the_group_says_how_to_answer_there(harness: Harness):
    h = harness
    await community(h)
    stranger = Person(902, "Olu", "en")  # never started the bot: reached in the group
    await h.send(stranger, "/new The bench in the park is broken", chat_id=GRID_GROUP)
    async with h.app.db.read() as s:
        req = (await s.execute(select(Request))).scalars().one()
    await _ask(h, req, "Which bench?")
    question = [t for t in h.texts(GRID_GROUP) if "Which bench?" in t][-1]
    assert "💬" not in question and "Tap" not in question
    assert "Reply to this message" in question and f"start=an_{req.id}" in question


# 8 ------------------------------------------------------------------------------------------
async def test_filing_on_behalf_is_answered_for_the_filer(harness: Harness):
    h = harness
    await community(h)
    await h.send(LEADER, "/onbehalf 陈奶奶")
    await h.press(LEADER, h.session.last(LEADER.id).buttons()[3]["callback_data"])  # care
    await h.send(LEADER, "陈奶奶需要每周代买药品")
    for _ in range(2):
        await h.press(LEADER, h.session.last(LEADER.id).buttons()[0]["callback_data"])  # skip photos, location
    await h.press(LEADER, h.session.last(LEADER.id).buttons()[0]["callback_data"])  # grid
    await h.send(LEADER, "3栋2单元501")
    await h.press(LEADER, h.session.last(LEADER.id).buttons()[-1]["callback_data"].replace("cx", "cf"))
    filed = h.session.last(LEADER.id).text
    assert "JMS-0001" in filed and "陈奶奶" in filed
    assert "网格长会" not in filed  # not "the grid leader will look at it" to the grid leader


# 11 -----------------------------------------------------------------------------------------
def _migration(h: Harness, old: int, new: int, *, in_new: bool) -> "Update":
    from datetime import datetime, timezone

    from aiogram.types import Chat, Message, Update
    chat = Chat(id=new, type="supergroup", title="Grid") if in_new else Chat(id=old, type="group", title="Grid")
    extra = {"migrate_from_chat_id": old} if in_new else {"migrate_to_chat_id": new}
    msg = Message(message_id=next(h.u._message), date=datetime.now(timezone.utc), chat=chat,
                  from_user=STAFF.tg(), **extra)
    return Update(update_id=next(h.u._update), message=msg)


async def test_a_group_that_becomes_a_supergroup_keeps_its_binding_cards_and_posts(harness: Harness):
    h = harness
    await community(h)
    old, new = GRID_GROUP, -1009001
    req = await file_privately(h)  # its card goes to the grid's group
    await h.deliver()
    assert h.session.last(old).buttons()
    await h.feed(_migration(h, old, new, in_new=False))  # both service messages, in either order
    await h.feed(_migration(h, old, new, in_new=True))
    await h.deliver()
    card = h.session.last(new)  # the open card is there again, with its buttons
    assert "JMS-0001" in card.text and any(f"tr:{req.id}:0" == b["callback_data"] for b in card.buttons())
    await h.send(RESIDENT, "/new The gate lock is broken", chat_id=new)
    assert "JMS-0002" in h.session.last(new).text  # not "this group is not bound yet"
    await h.press(LEADER, f"tr:{req.id}:0", chat_id=new, message_id=card.message_id)
    await h.deliver()
    assert "JMS-0001" in h.session.last(VOL_GROUP).text
    closed = [c for c in h.session.to(new) if c.name == "EditMessageText"]
    assert closed and not closed[-1].buttons()
    assert not [c for c in h.session.to(old) if c.name == "EditMessageText"]


# 15 -----------------------------------------------------------------------------------------
async def _hours(h: Harness, **settings) -> None:
    from storage.models import Community
    async with h.app.db.write() as s:
        c = (await s.execute(select(Community))).scalars().one()
        c.settings = {**(c.settings or {}), **settings}
        s.add(c)


def _clock(delta_hours: float) -> str:
    """A community-time (Asia/Shanghai) clock reading `delta_hours` from now."""
    from datetime import datetime, timedelta, timezone
    from zoneinfo import ZoneInfo
    return (datetime.now(timezone.utc) + timedelta(hours=delta_hours)).astimezone(
        ZoneInfo("Asia/Shanghai")).strftime("%H:%M")


async def test_due_dates_fall_in_working_hours_and_reminders_wait_out_quiet_hours(harness: Harness):
    from datetime import timedelta, timezone
    from zoneinfo import ZoneInfo

    from sqlalchemy import update

    from bot.services import timers
    from storage.models import utcnow
    h = harness
    await community(h)
    # Working hours that start two hours from now (community time): "+3 days" lands outside them.
    start = _clock(2)  # read once: the clock may tick over a minute during the test
    await _hours(h, working_hours=f"{start}-{_clock(4)}", quiet_hours=f"{_clock(-1)}-{_clock(1)}")
    req = await file_privately(h)
    await h.deliver()
    await h.press(LEADER, f"tr:{req.id}:5", chat_id=GRID_GROUP)  # escalate
    await h.press(LEADER, h.session.last(LEADER.id).buttons()[0]["callback_data"])
    await h.press(LEADER, h.session.last(LEADER.id).buttons()[1]["callback_data"])  # +3 days
    async with h.app.db.read() as s:
        r = await s.get(Request, req.id)
    due = r.dept_due_at.replace(tzinfo=timezone.utc).astimezone(ZoneInfo("Asia/Shanghai"))
    assert due.strftime("%H:%M") == start
    assert timedelta(days=3) <= r.dept_due_at - utcnow() <= timedelta(days=3, hours=3)

    # Now is within the quiet hours: a due reminder is held until they end, not sent.
    async with h.app.db.write() as s:
        await s.execute(update(Request).where(Request.id == req.id).values(timer_at=utcnow() - timedelta(minutes=1)))
    await h.deliver()
    h.session.clear()
    assert await timers.sweep(h.app.requests) == 0
    await h.deliver()
    assert not h.texts(LIAISON.id)
    async with h.app.db.read() as s:
        r = await s.get(Request, req.id)
    assert r.timer_kind == "dept_remind" and r.timer_at > utcnow()
    # An urgent category is not held.
    async with h.app.db.write() as s:
        await s.execute(update(Request).where(Request.id == req.id).values(
            category="safety", timer_at=utcnow() - timedelta(minutes=1)))
    assert await timers.sweep(h.app.requests) == 1
    await h.deliver()
    assert any("⏰" in t for t in h.texts(LIAISON.id))


# 17 -----------------------------------------------------------------------------------------
async def test_after_an_outage_a_late_reminder_still_gives_the_promised_time(harness: Harness):
    from datetime import timedelta

    from sqlalchemy import update

    from bot.services import timers
    from storage.models import utcnow
    h = harness
    await community(h)
    await _hours(h, quiet_hours="00:00-00:00")  # no quiet hours in this test
    req = await file_privately(h)
    await _done(h, req)
    # The bot was down for five days: the reminder and the auto-close are both overdue.
    async with h.app.db.write() as s:
        await s.execute(update(Request).where(Request.id == req.id).values(
            done_at=utcnow() - timedelta(days=5), timer_at=utcnow() - timedelta(days=4)))
    h.session.clear()
    assert await timers.sweep(h.app.requests) == 1
    assert await timers.sweep(h.app.requests) == 0  # the close does not follow seconds later
    await h.deliver()
    assert any("⏰" in t for t in h.texts(RESIDENT.id))
    async with h.app.db.read() as s:
        r = await s.get(Request, req.id)
    assert r.status == "done" and r.timer_kind == "signoff_close"
    assert r.timer_at - utcnow() > timedelta(hours=47)  # 72 h to close − 24 h to remind = 48 h promised


# 12 -----------------------------------------------------------------------------------------
async def test_closevote_tells_staff_once_and_leaves_no_stale_buttons(harness: Harness):
    from tests.test_council import MEMBERS, council, propose
    h = harness
    await council(h)
    p = await propose(h, MEMBERS[0], "Repaint the bike shed", "Use the budget surplus.")
    for m in MEMBERS:
        await h.press(m, f"vo:{p.id}:0")
    await h.deliver()
    all_in = h.session.last(STAFF_GROUP)
    assert any(b["callback_data"] == f"pp:{p.id}:4" for b in all_in.buttons())
    await h.send(STAFF, "/votes")
    listing = h.session.last(STAFF.id).text
    assert "JMS-P001" in listing and "投票" not in listing.split("JMS-P001")[1].split("\n", 1)[1]
    h.session.clear()
    await h.send(STAFF, "/closevote JMS-P001", chat_id=STAFF_GROUP)
    await h.deliver()
    outcomes = [c for c in h.session.to(STAFF_GROUP) if c.name == "SendMessage" and "JMS-P001" in c.text]
    assert len(outcomes) == 1  # the reply, not the reply and the minutes again
    edits = [c for c in h.session.to(STAFF_GROUP) if c.name == "EditMessageText"
             and c.method.message_id == all_in.message_id]
    assert edits and not edits[-1].buttons()  # "close now" is gone


# 14 -----------------------------------------------------------------------------------------
async def test_the_leaderboard_lists_volunteers_only_and_points_says_so(harness: Harness):
    h = harness
    await community(h)
    req = await file_privately(h)
    await _done(h, req)  # Anna earned a point for an accepted request; 张伟 ten for the task
    await h.send(RESIDENT, "/leaderboard")
    board = h.session.last(RESIDENT.id).text
    assert "张伟" in board and "Anna" not in board
    await h.send(RESIDENT, "/points")
    told = h.session.last(RESIDENT.id).text
    assert "volunteers only" in told and "anonymous" in told


# 4 ------------------------------------------------------------------------------------------
async def test_a_multiple_choice_decision_becomes_a_task_that_states_the_choice(harness: Harness):
    from tests.test_council import MEMBERS, council, propose
    h = harness
    await council(h)
    p = await propose(h, MEMBERS[0], "Which lights for the corridor?", "Budget 2,000 yuan.",
                      options="Warm LED panels\nMotion-sensor bulbs\nSolar lamps")
    for m, option in zip(MEMBERS, (1, 1, 0)):
        await h.press(m, f"vo:{p.id}:{option}")
    await h.send(STAFF, "/closevote JMS-P001")
    await h.deliver()
    task = h.session.last(VOL_GROUP)
    assert "Which lights" in task.text and "Motion-sensor bulbs" in task.text
    assert "Warm LED panels" not in task.text and "Solar lamps" not in task.text


# 6 ------------------------------------------------------------------------------------------
async def test_bind_says_what_is_true_for_this_bot_and_this_kind_of_group(harness: Harness):
    h = harness
    await community(h, groups=False)
    council_group = -1005
    h.session.admins[council_group] = {STAFF.id}  # the bot is an administrator there too
    await h.send(STAFF, "/grouplang en", chat_id=council_group)
    await h.send(STAFF, "/bind council", chat_id=council_group)
    told = h.session.last(council_group).text
    assert "隐私模式" not in told and "/new" not in told  # an admin bot sees everything; no residents here
    h.session.admins[GRID_GROUP] = {STAFF.id}
    await h.send(STAFF, "/bind grid 一网格", chat_id=GRID_GROUP)
    told = h.session.last(GRID_GROUP).text
    assert "隐私模式" not in told and "/new" in told


# 10 -----------------------------------------------------------------------------------------
async def test_the_secret_ballot_csv_row_has_the_totals_and_no_voter(harness: Harness, tmp_path):
    import csv
    from datetime import date, timedelta

    from bot.services.reports import export_csv
    from tests.test_council import MEMBERS, council, propose
    h = harness
    await council(h)
    p = await propose(h, MEMBERS[0], "Install a water dispenser", "In the lobby of building 2.", rules=(1,))
    assert p.secret
    for m, option in zip(MEMBERS, (0, 0, 1)):
        await h.press(m, f"vo:{p.id}:{option}")
    await h.send(STAFF, "/closevote JMS-P001")
    today = date.today()
    await export_csv(h.app.db, "JMS", today - timedelta(days=1), today + timedelta(days=1), tmp_path)
    with open(tmp_path / "votes.csv", newline="", encoding="utf-8-sig") as f:
        [row] = list(csv.DictReader(f))
    assert row["secret"] == "1" and row["user_id"] == "" and row["option"] == ""
    assert row["totals"] == "2 | 1 | 0"


# 13 -----------------------------------------------------------------------------------------
async def test_survey_results_in_a_group_show_that_group_and_the_community_labelled(harness: Harness):
    from storage.models import Survey
    from tests.test_surveys import in_english, start_survey
    h = harness
    await community(h)
    await in_english(h)
    await start_survey(h)
    await h.press(STAFF, button(h.session.last(STAFF.id), "micro-grid group"))
    await h.press(STAFF, button(h.session.last(STAFF.id), "Next"))
    await h.press(STAFF, button(h.session.last(STAFF.id), "3 days"))
    await h.press(STAFF, button(h.session.last(STAFF.id), "Post the poll"))
    await h.deliver()
    by_chat = {chat: h.session.polls[(chat, m)] for (chat, m) in h.session.polls}
    await h.feed(h.u.poll(by_chat[COMMUNITY_GROUP], [3, 1, 0, 0, 1]))
    await h.feed(h.u.poll(by_chat[GRID_GROUP], [1, 1, 0, 0, 0]))
    async with h.app.db.read() as s:
        survey = (await s.execute(select(Survey))).scalars().one()
    assert await h.app.surveys.close(survey.id) == 1
    await h.deliver()
    grid = h.session.last(GRID_GROUP).text
    mine, whole = grid.split("In the whole community")
    assert "In this group" in mine and "2 answers in total" in mine and "7 answers" not in mine
    assert "7 answers in total" in whole


# 9 ------------------------------------------------------------------------------------------
async def test_triage_sets_the_category_of_a_request_filed_in_a_group(harness: Harness):
    h = harness
    await community(h)
    await h.send(RESIDENT, "/new The gate lock is broken", chat_id=GRID_GROUP)
    await h.deliver()
    async with h.app.db.read() as s:
        req = (await s.execute(select(Request))).scalars().one()
    assert req.category is None
    card = h.session.last(GRID_GROUP)
    [categorise] = [b["callback_data"] for b in card.buttons() if b["callback_data"] == f"tr:{req.id}:6"]
    await h.press(LEADER, categorise, chat_id=GRID_GROUP, message_id=card.message_id)
    pick = h.session.last(LEADER.id)
    await h.press(LEADER, button(pick, "维修"))  # "repair and maintenance", in the leader's Chinese
    async with h.app.db.read() as s:
        assert (await s.get(Request, req.id)).category == "repair"
    assert "维修" in h.session.last(LEADER.id).text
    await h.deliver()
    redrawn = [c for c in h.session.to(GRID_GROUP) if c.name == "EditMessageText"][-1]
    assert "维修" in redrawn.text and any(b["callback_data"] == f"tr:{req.id}:0" for b in redrawn.buttons())
    await h.press(RESIDENT, f"rc:{req.id}:1")  # not the resident's to change
    async with h.app.db.read() as s:
        assert (await s.get(Request, req.id)).category == "repair"


# 5 ------------------------------------------------------------------------------------------
async def test_an_open_vote_is_withdrawn_with_a_reason_the_council_and_voters_read(harness: Harness):
    from storage.models import Proposal
    from tests.test_council import COUNCIL_GROUP, MEMBERS, council, propose
    h = harness
    await council(h)
    p = await propose(h, MEMBERS[0], "Repaint the bike shed", "Use the budget surplus.")
    await h.press(MEMBERS[1], f"vo:{p.id}:0", chat_id=COUNCIL_GROUP)
    await h.deliver()
    await h.send(MEMBERS[2], "/withdrawvote JMS-P001 no longer needed")  # neither staff nor the proposer
    async with h.app.db.read() as s:
        assert (await s.get(Proposal, p.id)).status == "open"
    await h.send(MEMBERS[0], "/withdrawvote JMS-P001")  # a reason is required
    assert "/withdrawvote" in h.session.last(MEMBERS[0].id).text
    h.session.clear()
    await h.send(MEMBERS[0], "/withdrawvote JMS-P001 The property company repaints it for free")
    await h.deliver()
    async with h.app.db.read() as s:
        assert (await s.get(Proposal, p.id)).status == "withdrawn"
    announced = [t for t in h.texts(COUNCIL_GROUP) if "withdrawn" in t and "repaints it for free" in t]
    assert announced
    told = h.session.last(MEMBERS[1].id).text  # voted already: told, with the reason
    assert "withdrawn" in told and "repaints it for free" in told and "no longer counts" in told
    assert not h.texts(MEMBERS[2].id)  # did not vote: the group announcement is enough
    await h.press(MEMBERS[2], f"vo:{p.id}:0", chat_id=COUNCIL_GROUP)
    assert "closed" in (h.session.answers()[-1].text or "")
