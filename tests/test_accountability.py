"""Accountability in the open (#18) through the real Dispatcher: "me too" (附议) on public request
posts and on the similar-request prompt, decisions carried out (决议落实), and the staff group's
quiet feed."""
from __future__ import annotations

import asyncio
from datetime import date, timedelta

from sqlalchemy import select, update

from bot.services.execution import overdue
from storage.models import Execution, ExecutionUpdate, MeToo, Outbox, Request, utcnow
from tests.conftest import (COMMUNITY_GROUP, GRID_GROUP, LEADER, RESIDENT, STAFF, STAFF_GROUP, VOL_GROUP, VOLUNTEER,
                            Harness, community, invite)
from tests.test_council import COUNCIL_GROUP, MEMBERS, council, data, past_deadline, propose
from tests.test_requests_flow import button, file_privately
from tests.test_roles import _clock, _hours
from tests.tg import Person

NEIGHBOUR_ZH = Person(710, "李娜", "zh-hans", "lina")
NEIGHBOUR_EN = Person(711, "Sam", "en", "sam")
STRANGER = Person(712, "Karim", "ar")  # in the grid's group, never started the bot


def last_answer(h: Harness) -> tuple[str, bool]:
    a = h.session.answers()[-1]
    return a.text or "", bool(a.show_alert)


async def rows(h: Harness, model, *cond) -> list:
    async with h.app.db.read() as s:
        return list((await s.execute(select(model).where(*cond))).scalars())


async def join(h: Harness, who: Person, grid_id: int) -> None:
    await h.send(who, f"/start {await invite(h, 'resident')}")
    await h.press(who, f"gr:{grid_id}")


async def test_me_too_counts_each_household_once_and_tells_them_the_outcome(harness: Harness):
    h = harness
    setup = await community(h)
    for who in (NEIGHBOUR_ZH, NEIGHBOUR_EN):
        await join(h, who, setup["grids"][0].id)
    req = await file_privately(h)
    await h.deliver()
    card = h.session.last_with_button(GRID_GROUP, "mt:")
    metoo = data(card, "mt:")[0]
    assert metoo == f"mt:{req.id}" and data(card, f"tr:{req.id}:")  # triage buttons stay
    h.session.clear()

    # The requester cannot "me too" his own request: refused, nothing counted.
    await h.press(RESIDENT, metoo, chat_id=GRID_GROUP, message_id=card.message_id)
    text, alert = last_answer(h)
    assert alert and "your own request" in text
    # A neighbour taps twice, at once: one household, one row.
    await asyncio.gather(h.press(NEIGHBOUR_ZH, metoo, chat_id=GRID_GROUP, message_id=card.message_id),
                         h.press(NEIGHBOUR_ZH, metoo, chat_id=GRID_GROUP, message_id=card.message_id))
    answers = sorted(a.text for a in h.session.answers()[-2:])
    assert any("2" in a and "JMS-0001" in a for a in answers), answers
    await h.press(NEIGHBOUR_ZH, metoo, chat_id=GRID_GROUP, message_id=card.message_id)
    assert "JMS-0001" in last_answer(h)[0] and not last_answer(h)[1]
    # Someone in the group who never started the bot is counted and told how to hear the outcome.
    await h.press(STRANGER, metoo, chat_id=GRID_GROUP, message_id=card.message_id)
    text, alert = last_answer(h)
    assert alert and "3" in text
    # A neighbour filing the same matter is offered the open request: following it counts too.
    await h.send(NEIGHBOUR_EN, "/new")
    await h.press(NEIGHBOUR_EN, button(h.session.last(NEIGHBOUR_EN.id), "Repair"))
    await h.send(NEIGHBOUR_EN, "Corridor light broken again")
    await h.press(NEIGHBOUR_EN, button(h.session.last(NEIGHBOUR_EN.id), "Skip"))
    await h.press(NEIGHBOUR_EN, button(h.session.last(NEIGHBOUR_EN.id), "Skip"))
    await h.press(NEIGHBOUR_EN, button(h.session.last(NEIGHBOUR_EN.id), "一网格"))
    await h.press(NEIGHBOUR_EN, button(h.session.last(NEIGHBOUR_EN.id), "Skip"))
    summary = h.session.last(NEIGHBOUR_EN.id)
    assert "Similar requests" in summary.text
    await h.press(NEIGHBOUR_EN, button(summary, "JMS-0001"))

    tappers = sorted(m.user_id for m in await rows(h, MeToo, MeToo.request_id == req.id))
    assert tappers == [NEIGHBOUR_ZH.id, NEIGHBOUR_EN.id, STRANGER.id]
    assert len(await rows(h, Request)) == 1  # no second request was filed

    # The card shows the count, by one coalesced edit (not a message more, not one per tap).
    await h.deliver()
    group = h.session.to(GRID_GROUP)
    edits = [c for c in group if c.name == "EditMessageText" and c.method.message_id == card.message_id]
    assert len(edits) == 1 and "4" in edits[0].text and "👥" in edits[0].text
    assert [c for c in group if c.name == "SendMessage"] == []
    assert data(edits[0], "mt:") and data(edits[0], f"tr:{req.id}:")
    staff_stats = await h.app.reports.stats(await _actor(h, STAFF))
    assert (staff_stats.acc.households, staff_stats.acc.metoo) == (4, 3)
    await h.send(STAFF, "/stats")
    assert "👥" in h.session.last(STAFF.id).text and "4" in h.session.last(STAFF.id).text

    # One more tap right after: its edit waits (a card is edited at most three times a minute).
    await h.press(VOLUNTEER, metoo, chat_id=GRID_GROUP, message_id=card.message_id)
    [waiting] = await rows(h, Outbox, Outbox.chat_id == GRID_GROUP, Outbox.method == "edit",
                           Outbox.status == "pending")
    assert waiting.not_before > utcnow() and "5" in waiting.text

    # Accepted, claimed, done: tappers hear the outcome (not every step), each in their language.
    h.session.clear()
    await h.press(LEADER, data(edits[0], f"tr:{req.id}:0")[0], chat_id=GRID_GROUP)
    await h.deliver()
    closed = [c for c in h.session.to(GRID_GROUP) if c.name == "EditMessageText"]
    assert len(closed) == 1 and closed[0].buttons() == []  # the card closes at once; the count edit is dropped
    assert h.session.to(NEIGHBOUR_ZH.id) == []
    task = h.session.last(VOL_GROUP)
    await h.press(VOLUNTEER, task.buttons()[0]["callback_data"], chat_id=VOL_GROUP)
    await h.deliver()
    brief = [s for s in h.session.to(VOLUNTEER.id) if "JMS-0001" in s.text][-1]
    await h.press(VOLUNTEER, brief.buttons()[1]["callback_data"])
    await h.press(VOLUNTEER, button(h.session.last(VOLUNTEER.id), "⏭"))
    await h.deliver()
    zh = h.texts(NEIGHBOUR_ZH.id)
    assert len(zh) == 1 and "JMS-0001" in zh[0] and "已办结" in zh[0]
    assert any("JMS-0001 is done" in t for t in h.texts(NEIGHBOUR_EN.id))
    # Nobody who tapped is named in any group.
    for chat in (GRID_GROUP, VOL_GROUP, STAFF_GROUP, COMMUNITY_GROUP):
        for t in h.texts(chat):
            assert "李娜" not in t and "Sam" not in t and "Karim" not in t


async def test_me_too_on_a_group_post_refuses_the_requester(harness: Harness):
    h = harness
    setup = await community(h)
    await join(h, NEIGHBOUR_EN, setup["grids"][0].id)
    await h.send(RESIDENT, "/new The lift in building 3 is broken", chat_id=COMMUNITY_GROUP)
    reply = h.session.last(COMMUNITY_GROUP)
    [metoo] = data(reply, "mt:")
    await h.press(RESIDENT, metoo, chat_id=COMMUNITY_GROUP)
    assert last_answer(h)[1] and "your own request" in last_answer(h)[0]
    await h.press(NEIGHBOUR_EN, metoo, chat_id=COMMUNITY_GROUP)
    assert "Counted: 2 households" in last_answer(h)[0]
    assert len(await rows(h, MeToo)) == 1
    await h.press(Person(999, "Nobody", "en"), "mt:424242", chat_id=COMMUNITY_GROUP)  # forged
    assert last_answer(h)[1] and len(await rows(h, MeToo)) == 1


async def _actor(h: Harness, who: Person):
    from tests.test_requests_flow import _actor as load

    return await load(h, who)


async def passed_decision(h: Harness, title: str = "Fix the playground swings") -> int:
    chen, maria, _ = MEMBERS
    p = await propose(h, chen, title, "The swings in the north yard are broken; replace them.")
    await h.press(chen, f"vo:{p.id}:0", chat_id=COUNCIL_GROUP)
    await h.press(maria, f"vo:{p.id}:0", chat_id=COUNCIL_GROUP)
    await past_deadline(h, p.id)
    await h.app.council.sweep()
    await h.deliver()
    return p.id


async def test_a_passed_decision_is_carried_out_in_the_open(harness: Harness):
    h = harness
    await council(h)
    chen, maria, omar = MEMBERS
    await h.send(STAFF, "/grouplang en", chat_id=COMMUNITY_GROUP)
    h.session.clear()
    pid = await passed_decision(h)
    [e] = await rows(h, Execution, Execution.proposal_id == pid)
    assert (e.owner_id, e.progress, e.done_at) == (None, 0, None)
    assert "/carryout JMS-P001" in h.session.last_with_button(STAFF_GROUP, f"pp:{pid}:5").text

    # Staff make Chen responsible, with a due date; Chen is told how to report.
    due = (date.today() + timedelta(days=10)).isoformat()
    await h.send(OMAR := omar, f"/carryout JMS-P001 @chen {due}")  # not staff
    assert "staff" in h.session.last(OMAR.id).text
    await h.send(STAFF, "/carryout JMS-P001 @chen tomorrow")
    assert "YYYY-MM-DD" in h.session.last(STAFF.id).text
    await h.send(STAFF, f"/carryout JMS-P001 @chen {due}")
    await h.deliver()
    assert "Chen" in h.session.last(STAFF.id).text
    assert "/progress JMS-P001" in h.session.last(chen.id).text
    [e] = await rows(h, Execution, Execution.proposal_id == pid)
    assert e.owner_id == chen.id and e.due_at is not None and e.remind_at is not None

    # Someone else cannot report; bad input is answered.
    await h.send(omar, "/progress JMS-P001 50 done soon")
    assert "responsible" in h.session.last(omar.id).text
    await h.send(chen, "/progress JMS-P001 150")
    assert "0 to 100" in h.session.last(chen.id).text

    # Chen reports 60 %: both groups read it (phone scrubbed), voters and the proposer are told.
    h.session.clear()
    await h.send(chen, "/progress JMS-P001 60 New swings ordered; supplier 13800001234")
    await h.deliver()
    for chat in (COUNCIL_GROUP, COMMUNITY_GROUP):
        post = h.session.last(chat).text
        assert "JMS-P001" in post and "60%" in post and "New swings ordered" in post
        assert "13800001234" not in post
    told = h.session.last(maria.id).text
    assert "JMS-P001" in told and "60%" in told
    assert h.session.to(omar.id) == []  # did not vote
    assert "60%" in h.session.last(chen.id).text  # the reply to the owner

    # Done, with a photo: the photo reaches the voters privately, a group only counts it.
    h.session.clear()
    await h.send(chen, photo=True, caption="/progress JMS-P001 100 Installed")
    await h.deliver()
    photo = h.session.last(maria.id)
    assert photo.name == "SendPhoto" and "100%" in photo.text and "carried out" in photo.text
    assert [c for c in h.session.calls if c.name == "SendPhoto" and c.chat_id < 0] == []
    assert "Photos: 1" in h.session.last(COMMUNITY_GROUP).text
    [e] = await rows(h, Execution, Execution.proposal_id == pid)
    assert e.progress == 100 and e.done_at is not None
    assert [u.progress for u in await rows(h, ExecutionUpdate)] == [60, 100]


async def test_overdue_decisions_show_in_reports_and_owners_are_reminded(harness: Harness, tmp_path):
    h = harness
    setup = await council(h)
    chen = MEMBERS[0]
    pid = await passed_decision(h, "Paint the bike shed")
    due = (date.today() + timedelta(days=3)).isoformat()
    await h.send(STAFF, f"/carryout JMS-P001 @chen {due}")
    await h.deliver()

    # The reminder before the due date: it waits out the quiet hours, then fires once, from the
    # council's scheduled sweep.
    async with h.app.db.write() as s:
        await s.execute(update(Execution).where(Execution.proposal_id == pid)
                        .values(remind_at=utcnow() - timedelta(minutes=1)))
    await _hours(h, quiet_hours=f"{_clock(-1)}-{_clock(1)}")
    h.session.clear()
    assert await h.app.council.sweep() == 0
    [e] = await rows(h, Execution, Execution.proposal_id == pid)
    assert e.remind_at > utcnow()  # held until the morning
    await _hours(h, quiet_hours="00:00-00:00")
    async with h.app.db.write() as s:
        await s.execute(update(Execution).where(Execution.proposal_id == pid)
                        .values(remind_at=utcnow() - timedelta(minutes=1)))
    assert await h.app.council.sweep() == 1
    assert await h.app.council.sweep() == 0
    await h.deliver()
    assert [t for t in h.texts(chen.id) if "Reminder" in t and "JMS-P001" in t]

    # Past its due date and not carried out: overdue in /stats, the monthly report and the function.
    async with h.app.db.write() as s:
        await s.execute(update(Execution).where(Execution.proposal_id == pid)
                        .values(due_at=utcnow() - timedelta(days=1)))
    async with h.app.db.read() as s:
        late = await overdue(s, setup["community"].id)
    assert [p.id for _, p in late] == [pid]
    await h.send(STAFF, "/stats")
    stats = h.session.last(STAFF.id).text
    assert "⏰" in stats and "JMS-P001" in stats and "Paint the bike shed" in stats
    from bot.services.reports import month
    c = setup["community"]
    period = month(utcnow().date(), c.timezone)
    h.session.clear()
    assert await h.app.reports.monthly_report(c.id, period) == 1
    await h.deliver()
    report = [t for t in h.texts(STAFF_GROUP) if "JMS-P001" in t]
    assert report and "⏰" in report[-1]

    # ...and in the export: decisions.csv, one row per decision followed in the range.
    import csv
    from bot.services.reports import export_csv
    out = tmp_path / "export"
    written = await export_csv(h.app.db, "JMS", period.first, period.last, out)
    assert written["decisions.csv"] == 1
    with (out / "decisions.csv").open(encoding="utf-8-sig") as fh:
        [row] = list(csv.DictReader(fh))
    assert (row["proposal"], row["title"], row["owner_id"], row["overdue"]) == (
        "JMS-P001", "Paint the bike shed", str(chen.id), "1"), row


async def test_quiet_feed_gives_one_edited_staff_message_per_request(harness: Harness):
    h = harness
    await community(h)
    await h.send(RESIDENT, "/quietfeed on")
    assert "staff" in h.session.last(RESIDENT.id).text  # staff only
    await h.send(STAFF, "/quietfeed maybe", chat_id=STAFF_GROUP)
    assert "/quietfeed on" in h.session.last(STAFF_GROUP).text
    await h.send(STAFF, "/quietfeed on", chat_id=STAFF_GROUP)
    h.session.clear()

    req = await file_privately(h)
    await h.deliver()
    card = h.session.last_with_button(GRID_GROUP, "tr:")
    await h.press(LEADER, data(card, f"tr:{req.id}:0")[0], chat_id=GRID_GROUP)
    await h.deliver()
    task = h.session.last(VOL_GROUP)
    await h.press(VOLUNTEER, task.buttons()[0]["callback_data"], chat_id=VOL_GROUP)
    await h.deliver()
    brief = [s for s in h.session.to(VOLUNTEER.id) if "JMS-0001" in s.text][-1]
    await h.press(VOLUNTEER, brief.buttons()[1]["callback_data"])
    await h.press(VOLUNTEER, button(h.session.last(VOLUNTEER.id), "⏭"))
    await h.deliver()

    feed = [c for c in h.session.to(STAFF_GROUP) if "JMS-0001" in c.text]
    sends = [c for c in feed if c.name == "SendMessage"]
    edits = [c for c in feed if c.name == "EditMessageText"]
    assert len(sends) == 1, [c.text for c in feed]
    assert edits and all(c.method.message_id == sends[0].message_id for c in edits)
    final = edits[-1].text
    assert final.count("→") == 3 and "已办结" in final  # new → accepted → claimed → done, in Chinese
    async with h.app.db.read() as s:
        assert (await s.get(Request, req.id)).status == "done"
    # Off again: the setting is the community's, and says so.
    await h.send(STAFF, "/quietfeed off", chat_id=STAFF_GROUP)
    async with h.app.db.read() as s:
        from storage.models import Community
        assert (await s.get(Community, req.community_id)).settings["quiet_feed"] is False
