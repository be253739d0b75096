"""The deliberation council through the real Dispatcher: a request sent to the council, votes in
the group and in private, the sweep closing at the deadline, outcomes and what follows from them,
secret ballots, reminders, a restart, conventions, and edits refused after opening."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import inspect, select, update

from bot.errors import Stale
from bot.services.deliberation import ProposalDraft, decide
from storage.db import Database
from storage.models import (AuditEvent, Ballot, Convention, Outbox, PointEntry, Proposal, Request, Turnout,
                            Vote, VoteLog, utcnow)
from tests.conftest import (COMMUNITY_GROUP, GRID_GROUP, LEADER, RESIDENT, STAFF, STAFF_GROUP, VOL_GROUP, Harness,
                            community, invite)
from tests.conftest import caught_up, database_url
from tests.test_requests_flow import _actor, file_privately
from tests.tg import Person, Sent, Updates

COUNCIL_GROUP = -1005
MEMBERS = [Person(600, "Chen", "en", "chen"), Person(601, "Maria", "en", "maria"), Person(602, "Omar", "en", "omar")]


def data(sent: Sent, prefix: str) -> list[str]:
    """Callback data of the buttons whose data starts with `prefix` (labels get translated)."""
    return [b["callback_data"] for b in sent.buttons() if b.get("callback_data", "").startswith(prefix)]


async def council(h: Harness, members: list[Person] = MEMBERS) -> dict:
    """The community, its council members, and a council group that reads English."""
    setup = await community(h)
    for m in members:
        await h.send(m, f"/start {await invite(h, 'council_member')}")
    h.session.admins[COUNCIL_GROUP] = {STAFF.id}
    await h.send(STAFF, "/bind council", chat_id=COUNCIL_GROUP)
    await h.send(STAFF, "/grouplang en", chat_id=COUNCIL_GROUP)
    h.session.clear()
    return setup


async def proposal(h: Harness, pid: int | None = None) -> Proposal:
    async with h.app.db.read() as s:
        if pid is None:
            return (await s.execute(select(Proposal).order_by(Proposal.id.desc()))).scalars().first()
        return await s.get(Proposal, pid)


async def request(h: Harness, req_id: int) -> Request:
    async with h.app.db.read() as s:
        return await s.get(Request, req_id)


async def rows(h: Harness, model, *cond) -> list:
    async with h.app.db.read() as s:
        return list((await s.execute(select(model).where(*cond))).scalars())


async def past_deadline(h: Harness, pid: int) -> None:
    async with h.app.db.write() as s:
        await s.execute(update(Proposal).where(Proposal.id == pid).values(closes_at=utcnow() - timedelta(minutes=1)))


def last_answer(h: Harness) -> str:
    return h.session.answers()[-1].text or ""


async def to_council_and_open(h: Harness) -> tuple[Request, Proposal, Sent]:
    """A resident's request, sent to the council by the grid leader, opened by staff."""
    req = await file_privately(h)
    await h.deliver()
    card = h.session.last(GRID_GROUP)
    [to_council] = data(card, "tc:")
    await h.press(LEADER, to_council, chat_id=GRID_GROUP)
    assert "JMS-0001" in last_answer(h) and "JMS-P001" in last_answer(h)
    await h.deliver()
    p = await proposal(h)
    assert (p.status, p.request_id, (await request(h, req.id)).status) == ("draft", req.id, "council")
    draft = h.session.last_with_button(STAFF_GROUP, "pp:")
    assert "JMS-P001" in draft.text and "corridor" in draft.text
    await h.press(STAFF, data(draft, f"pp:{p.id}:1")[0], chat_id=STAFF_GROUP)  # open
    await h.deliver()
    p = await proposal(h, p.id)
    assert p.status == "open" and p.eligible == len(MEMBERS)
    post = h.session.last(COUNCIL_GROUP)
    assert "JMS-P001" in post.text and "Turnout: 0 of 3" in post.text
    assert data(post, f"vo:{p.id}:") == [f"vo:{p.id}:{i}" for i in range(3)]
    return req, p, post


async def test_request_to_council_vote_close_and_volunteers(harness: Harness):
    h = harness
    await council(h)
    req, p, post = await to_council_and_open(h)
    chen, maria, omar = MEMBERS
    vote = lambda i: f"vo:{p.id}:{i}"  # noqa: E731

    await h.press(chen, vote(0), chat_id=COUNCIL_GROUP)
    assert "counted" in last_answer(h)
    await h.deliver()
    first = h.session.last(COUNCIL_GROUP)
    assert first.name == "EditMessageText" and "For: 1" in first.text and data(first, "vo:")
    await h.press(chen, vote(0), chat_id=COUNCIL_GROUP)  # double tap
    assert "nothing changed" in last_answer(h)
    await h.press(maria, vote(1), chat_id=COUNCIL_GROUP)
    await h.press(maria, vote(0), chat_id=COUNCIL_GROUP)  # changes her mind
    assert "changed" in last_answer(h)
    before = len(await rows(h, VoteLog))
    await h.press(RESIDENT, vote(1), chat_id=COUNCIL_GROUP)  # not on the council
    assert h.session.answers()[-1].show_alert and "not counted" in last_answer(h)
    late = Person(603, "Li", "en")  # joined the council after the vote opened
    await h.send(late, f"/start {await invite(h, 'council_member')}")
    await h.press(late, vote(1), chat_id=COUNCIL_GROUP)
    assert "not counted" in last_answer(h)
    assert len(await rows(h, VoteLog)) == before
    votes = {v.user_id: v.option for v in await rows(h, Vote, Vote.proposal_id == p.id)}
    assert votes == {chen.id: 0, maria.id: 0}
    assert [e.action for e in await rows(h, VoteLog, VoteLog.proposal_id == p.id)] == \
        ["cast", "repeat", "cast", "changed"]

    # The tally is refreshed by edits of the post, never more than one waiting per post.
    post_row = (await rows(h, Outbox, Outbox.key == f"prop:{p.id}", Outbox.method == "send"))[0]
    edits = await rows(h, Outbox, Outbox.edit_of == post_row.id)
    pending = [e for e in edits if e.status == "pending"]
    assert len(pending) == 1 and "For: 2" in pending[0].text and "Turnout: 2 of 3" in pending[0].text
    assert len(edits) == 2  # the first edit (sent), and one coalesced for the next presses
    assert pending[0].not_before > utcnow()  # spaced from the previous edit

    # After the deadline a press is refused, before the sweep has even run.
    await past_deadline(h, p.id)
    await h.press(omar, vote(1), chat_id=COUNCIL_GROUP)
    assert "closed" in last_answer(h) and "not counted" in last_answer(h)
    assert len(await rows(h, Vote, Vote.proposal_id == p.id)) == 2

    h.session.clear()
    assert await h.app.council.sweep() == 1
    assert await h.app.council.sweep() == 0  # idempotent
    await h.deliver()
    p = await proposal(h, p.id)
    assert p.outcome == "passed" and p.minutes["counts"] == [2, 0, 0] and p.minutes["turnout"] == 2
    assert p.minutes["named"] == [["Chen", 0], ["Maria", 0]]
    r = await request(h, req.id)
    assert r.status == "accepted"
    assert "JMS-0001" in h.session.last(VOL_GROUP).text  # the volunteer task is posted
    council_texts = h.texts(COUNCIL_GROUP)
    final_edit = [c for c in h.session.to(COUNCIL_GROUP) if c.name == "EditMessageText"][-1]
    assert final_edit.buttons() == [] and "passed" in final_edit.text
    outcome = council_texts[-1]
    assert "passed" in outcome and "Turnout: 2 of 3; quorum 2" in outcome
    assert "Majority test: 2 For, 0 Against" in outcome and "Chen" in outcome and "Maria" in outcome
    assert "JMS-P001" in h.session.last(COMMUNITY_GROUP).text
    told = h.session.last(RESIDENT.id).text
    assert "passed" in told and "goes to the volunteers" in told
    assert data(h.session.last_with_button(STAFF_GROUP, f"pp:{p.id}:5"), f"pp:{p.id}:5")  # the outcome-statement button
    actions = [e.action for e in await rows(h, AuditEvent, AuditEvent.entity == "request",
                                            AuditEvent.entity_id == req.id)]
    assert actions == ["filed", "to_council", "council_passed"]
    points = sorted((e.user_id, e.reason) for e in await rows(h, PointEntry) if e.reason != "request_accepted")
    assert points == [(LEADER.id, "proposal_passed"), (chen.id, "vote_cast"), (maria.id, "vote_cast")]

    # Staff add an outcome statement to the minutes; it is published.
    await h.press(STAFF, f"pp:{p.id}:5", chat_id=STAFF_GROUP)
    await h.send(STAFF, "物业将于下周更换灯具")
    await h.deliver()
    assert (await proposal(h, p.id)).statement == "物业将于下周更换灯具"
    assert "物业将于下周更换灯具" in h.session.last(COMMUNITY_GROUP).text


async def propose(h: Harness, who: Person, title: str, text: str, *, kind: int = 0, options: str | None = None,
                  hours: int = 24, rules: tuple[int, ...] = (), open_now: bool = True) -> Proposal:
    """/propose, step by step, as a member would."""
    await h.send(who, "/propose")
    assert data(h.session.last(who.id), "cx")  # every step can be cancelled
    await h.send(who, title)
    await h.send(who, text)
    await h.press(who, f"pk:{kind}")
    if options is None:
        await h.press(who, "sk")  # For / Against / Abstain
    else:
        await h.send(who, options)
    await h.press(who, f"ph:{hours}")
    for rule in rules:
        await h.press(who, f"pu:{rule}")
    summary = h.session.last(who.id)
    assert title in summary.text and data(summary, "ps:1")
    await h.press(who, f"ps:{int(open_now)}")
    await h.deliver()
    return await proposal(h)


async def test_no_quorum_sends_the_request_back_to_triage(harness: Harness):
    h = harness
    await council(h)
    req, p, _ = await to_council_and_open(h)
    await h.press(MEMBERS[0], f"vo:{p.id}:0", chat_id=COUNCIL_GROUP)  # 1 of 3; quorum is 2
    await past_deadline(h, p.id)
    h.session.clear()
    await h.app.council.sweep()
    await h.deliver()
    p = await proposal(h, p.id)
    assert p.outcome == "no_quorum" and not p.minutes["quorum_met"] and p.minutes["quorum_needed"] == 2
    assert "did not reach quorum" in h.session.last(COUNCIL_GROUP).text
    told = h.session.last(RESIDENT.id).text
    assert "did not reach quorum" in told and "goes back to your grid leader" in told
    r = await request(h, req.id)
    assert r.status == "new" and r.timer_kind == "triage_remind"
    assert data(h.session.last(GRID_GROUP), f"tr:{req.id}:")  # a fresh triage card
    assert await rows(h, Convention) == []


async def test_two_thirds_threshold_and_early_close_by_staff(harness: Harness):
    h = harness
    five = MEMBERS + [Person(603, "Li", "en"), Person(604, "Wang", "en")]
    await council(h, five)
    p = await propose(h, five[0], "Repaint the bike shed", "Use the 2024 budget surplus.", kind=2, rules=(0,))
    assert (p.status, p.threshold, p.kind, p.eligible, p.options) == ("open", "two_thirds", "spending", 5, None)
    assert "Repaint the bike shed" in h.session.last(COUNCIL_GROUP).text
    assert "two-thirds" in h.session.last(COUNCIL_GROUP).text
    for who, option in zip(five[:4], (0, 0, 0, 1)):
        await h.press(who, f"vo:{p.id}:{option}", chat_id=COUNCIL_GROUP)
    await h.send(STAFF, f"/closevote JMS-P{p.number:03d}")  # not everyone has voted yet
    assert "4" in h.session.last(STAFF.id).text and "5" in h.session.last(STAFF.id).text
    assert (await proposal(h, p.id)).status == "open"
    await h.press(five[4], f"vo:{p.id}:1")  # in private chat: 3 For, 2 Against = 60 %
    await h.deliver()
    all_in = h.session.last_with_button(STAFF_GROUP, f"pp:{p.id}:4")
    assert "JMS-P001" in all_in.text
    await h.press(STAFF, data(all_in, f"pp:{p.id}:4")[0], chat_id=STAFF_GROUP)  # close now
    await h.deliver()
    p = await proposal(h, p.id)
    assert p.outcome == "rejected" and p.minutes["counts"] == [3, 2, 0] and not p.minutes["threshold_met"]
    assert "Two-thirds test: 3 For out of 5" in h.session.last(COUNCIL_GROUP).text
    assert await rows(h, Request) == []  # rejected: no task
    closed = [e for e in await rows(h, AuditEvent, AuditEvent.entity == "proposal") if e.action == "closed"]
    assert len(closed) == 1 and closed[0].actor_id == STAFF.id and closed[0].to_state == "rejected"
    await h.press(STAFF, f"pp:{p.id}:4", chat_id=STAFF_GROUP)  # a second press: nothing more happens
    assert "已经结束" in last_answer(h)  # staff read Chinese: "the vote has closed"


def test_decide_thresholds():
    p = Proposal(community_id=1, number=1, proposer_id=1, title="t", text="t", eligible=6, quorum_pct=50)
    assert decide(p, [2, 1, 3], 6)[0] == "passed"  # abstentions count for quorum only
    assert decide(p, [1, 1, 0], 2)[0] == "no_quorum"  # 2 of 6 < 3
    assert decide(p, [2, 2, 0], 4)[0] == "rejected"  # a tie is not a majority
    p.threshold = "two_thirds"
    assert decide(p, [2, 1, 0], 3)[0] == "passed"  # exactly two thirds
    assert decide(p, [3, 2, 1], 6)[0] == "rejected"
    assert decide(p, [0, 0, 3], 3)[0] == "rejected"  # only abstentions
    p.options, p.threshold = ["A", "B", "C"], "simple"
    outcome, minutes = decide(p, [2, 1, 1], 4)
    assert outcome == "passed" and minutes["winner"] == 0
    assert decide(p, [2, 2, 0], 4)[0] == "rejected"
    p.threshold = "two_thirds"
    assert decide(p, [3, 1, 0], 4)[0] == "passed" and decide(p, [2, 1, 1], 4)[0] == "rejected"


async def test_secret_ballot_keeps_no_link_between_voter_and_choice(harness: Harness):
    h = harness
    await council(h)
    chen, maria, omar = MEMBERS
    p = await propose(h, chen, "Install a water dispenser", "In the lobby of building 2.", rules=(1,))
    assert p.secret
    post = h.session.last(COUNCIL_GROUP)
    assert data(post, "vo:") == [] and data(post, "vb:") == [f"vb:{p.id}"]  # vote in private only
    await h.press(maria, f"vb:{p.id}", chat_id=COUNCIL_GROUP)
    ballot = h.session.last(maria.id)
    assert "Install a water dispenser" in ballot.text and "cannot be changed" in ballot.text
    assert data(ballot, f"vo:{p.id}:")
    await h.press(maria, f"vo:{p.id}:0", chat_id=COUNCIL_GROUP)  # a forged group press
    assert "private chat" in last_answer(h) and await rows(h, Turnout) == []
    await h.press(maria, f"vo:{p.id}:0")
    assert "secret vote is counted" in last_answer(h)
    assert data(h.session.last(maria.id), "vo:") == []  # the ballot is redrawn without buttons
    await h.press(maria, f"vo:{p.id}:1")  # double tap or change of mind: neither is counted
    assert "cannot be changed" in last_answer(h)
    await h.press(omar, f"vo:{p.id}:0")
    await h.press(chen, f"vo:{p.id}:2")
    await h.deliver()

    # Who voted is known; what they chose is not, anywhere.
    assert {t.user_id for t in await rows(h, Turnout, Turnout.proposal_id == p.id)} == {chen.id, maria.id, omar.id}
    assert sorted(b.option for b in await rows(h, Ballot, Ballot.proposal_id == p.id)) == [0, 0, 2]
    assert set(inspect(Ballot).columns.keys()) == {"id", "proposal_id", "option"}
    assert await rows(h, Vote, Vote.proposal_id == p.id) == []
    log = await rows(h, VoteLog, VoteLog.proposal_id == p.id)
    assert len(log) == 4 and all(e.option is None for e in log)
    # The group sees turnout only while the vote is open.
    refreshed = [c.text for c in h.session.to(COUNCIL_GROUP) if c.name == "EditMessageText"]
    assert refreshed and "Turnout so far: 3 of 3" in refreshed[-1]  # coalesced into one edit
    assert all("For:" not in t and "Abstain:" not in t for t in h.texts(COUNCIL_GROUP))

    await past_deadline(h, p.id)
    h.session.clear()
    await h.app.council.sweep()
    await h.deliver()
    p = await proposal(h, p.id)
    assert p.outcome == "passed" and p.minutes["counts"] == [2, 0, 1] and "named" not in p.minutes
    outcome = h.session.last(COUNCIL_GROUP).text
    assert "For: 2" in outcome and "Maria" not in outcome and "Omar" not in outcome
    # Passed with no request behind it: a volunteer task is filed for the proposer and posted.
    [task] = await rows(h, Request)
    assert (task.status, task.requester_id, task.id) == ("accepted", chen.id, p.request_id)
    assert "Install a water dispenser" in h.session.last(VOL_GROUP).text
    assert "Volunteer task JMS-0001" in outcome


async def test_reminder_fires_once_for_members_who_have_not_voted(harness: Harness):
    h = harness
    await council(h)
    from tests.test_roles import _hours
    await _hours(h, quiet_hours="00:00-00:00")  # reminders wait out quiet hours: none here, whatever the clock
    chen, maria, omar = MEMBERS
    p = await propose(h, chen, "Quiet hours after 22:00", "Ask the square-dance group to stop at 22:00.", hours=24)
    assert p.remind_at == p.opened_at + timedelta(hours=12)  # half-way for a vote shorter than two days
    await h.press(chen, f"vo:{p.id}:0", chat_id=COUNCIL_GROUP)
    await h.send(chen, "/votes")
    assert "JMS-P001" in h.session.last(chen.id).text and "✅" in h.session.last(chen.id).text
    await h.send(maria, "/votes")
    assert "not voted yet" in h.session.last(maria.id).text
    assert data(h.session.last(maria.id), "vb:") == [f"vb:{p.id}"]
    await h.send(RESIDENT, "/votes")
    assert "Only council members" in h.session.last(RESIDENT.id).text
    assert await h.app.council.sweep() == 0  # nothing due yet
    async with h.app.db.write() as s:
        await s.execute(update(Proposal).values(remind_at=utcnow() - timedelta(minutes=1)))
    h.session.clear()
    assert await h.app.council.sweep() == 1
    assert await h.app.council.sweep() == 0
    await h.deliver()
    for who, expected in ((chen, 0), (maria, 1), (omar, 1)):
        reminders = [c for c in h.session.to(who.id) if "⏰" in c.text]
        assert len(reminders) == expected, who
    reminder = [c for c in h.session.to(maria.id) if "⏰" in c.text][0]
    await h.press(maria, data(reminder, f"vb:{p.id}")[0])
    assert data(h.session.last(maria.id), f"vo:{p.id}:")  # straight to her ballot
    p = await proposal(h, p.id)
    assert p.remind_at is None and p.status == "open"


async def test_deadline_passed_during_downtime_closes_after_restart(tmp_path):
    from scheduler import start_scheduler

    updates = Updates()
    h = await Harness(tmp_path / "c.db", updates).start()
    await council(h)
    p = await propose(h, MEMBERS[0], "Plant trees along the east wall", "Ten osmanthus trees.")
    for who in MEMBERS[:2]:
        await h.press(who, f"vo:{p.id}:0", chat_id=COUNCIL_GROUP)
    await h.close()
    db = Database(database_url(tmp_path / 'c.db'))
    async with db.write() as s:  # the deadline passed while the bot was down
        await s.execute(update(Proposal).values(closes_at=utcnow() - timedelta(hours=1)))
    await db.dispose()

    h2 = await Harness(tmp_path / "c.db", updates).start()
    h2.settings.sweep_seconds = 3600  # only the sweep at start can close it
    ready = asyncio.Event()
    task = asyncio.create_task(start_scheduler(h2.app, ready))
    try:
        await caught_up(task, ready)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    p = await proposal(h2, p.id)
    assert p.status == "closed" and p.outcome == "passed"
    await h2.deliver()
    assert "passed" in h2.session.last(COUNCIL_GROUP).text
    await h2.close()


async def test_a_passed_convention_is_listed(harness: Harness):
    h = harness
    await council(h)
    await h.send(RESIDENT, "/conventions")
    assert "no conventions yet" in h.session.last(RESIDENT.id).text
    p = await propose(h, MEMBERS[1], "Dogs on a leash", "Dogs are kept on a leash in shared spaces.", kind=1)
    for who in MEMBERS:
        await h.press(who, f"vo:{p.id}:0", chat_id=COUNCIL_GROUP)
    await past_deadline(h, p.id)
    await h.app.council.sweep()
    await h.deliver()
    assert (await proposal(h, p.id)).outcome == "passed"
    assert "/conventions" in h.session.last(COUNCIL_GROUP).text
    assert await rows(h, Request) == []  # a convention needs no volunteer task
    await h.send(RESIDENT, "/conventions")
    listed = h.session.last(RESIDENT.id).text
    assert "Dogs on a leash" in listed and "shared spaces" in listed
    await h.send(RESIDENT, "/conventions", chat_id=COMMUNITY_GROUP)
    assert "Dogs on a leash" in h.session.last(COMMUNITY_GROUP).text


async def test_drafts_are_edited_before_opening_and_never_after(harness: Harness):
    h = harness
    await council(h)
    req = await file_privately(h)
    await h.deliver()
    await h.press(LEADER, data(h.session.last(GRID_GROUP), "tc:")[0], chat_id=GRID_GROUP)
    await h.deliver()
    p = await proposal(h)
    draft = h.session.last_with_button(STAFF_GROUP, "pp:")
    await h.send(LEADER, "/votes")  # the proposer finds the draft
    assert data(h.session.last(LEADER.id), f"pp:{p.id}:0")
    # Not a member of the council, not staff, not the proposer: cannot open or edit it.
    await h.press(RESIDENT, f"pp:{p.id}:1", chat_id=STAFF_GROUP)
    await h.press(RESIDENT, f"pp:{p.id}:2", chat_id=STAFF_GROUP)
    assert all(a.show_alert for a in h.session.answers()[-2:])
    # Staff edit it in private chat: keep the title, a new text, custom options.
    await h.press(STAFF, data(draft, f"pp:{p.id}:2")[0], chat_id=STAFF_GROUP)
    assert "corridor" in h.session.last(STAFF.id).text  # the current title is shown
    await h.press(STAFF, "sk")  # keep the title
    await h.send(STAFF, "Replace all corridor lights of building 3 with LED lamps.")
    await h.press(STAFF, "pk:2")
    await h.send(STAFF, "LED lamps\nMotion-sensor lamps\nKeep the old lamps")
    await h.press(STAFF, "ph:48")
    await h.press(STAFF, "ps:0")  # keep it as a draft
    p = await proposal(h, p.id)
    assert (p.status, p.kind, p.hours, p.request_id) == ("draft", "spending", 48, req.id)
    assert p.options == ["LED lamps", "Motion-sensor lamps", "Keep the old lamps"]
    assert p.text.startswith("Replace all corridor lights")
    await h.press(STAFF, f"pp:{p.id}:1", chat_id=STAFF_GROUP)  # open
    await h.deliver()
    post = h.session.last(COUNCIL_GROUP)
    assert "Motion-sensor lamps" in post.text
    assert data(post, f"vo:{p.id}:") == [f"vo:{p.id}:{i}" for i in range(3)]
    p = await proposal(h, p.id)
    assert p.remind_at == p.closes_at - timedelta(hours=24)

    # Once open, every edit is refused and nothing changes.
    await h.press(STAFF, f"pp:{p.id}:2", chat_id=STAFF_GROUP)
    assert "不能再修改" in last_answer(h)
    try:
        await h.app.council.save(await _actor(h, STAFF), ProposalDraft("Other", "Other text"), pid=p.id)
        raise AssertionError("an edit after opening was accepted")
    except Stale as e:
        assert e.code == "edit_after_open"
    assert (await proposal(h, p.id)).title == p.title
    await h.press(MEMBERS[0], f"pp:{p.id}:1")  # opening twice
    assert h.session.answers()[-1].show_alert

    # Withdrawing is recorded; the request goes back to triage and its requester is told.
    await h.press(LEADER, f"pp:{p.id}:3")  # the proposer: an open vote needs a reason (issue #15)
    assert (await proposal(h, p.id)).status == "open"
    await h.send(LEADER, f"/withdrawvote JMS-P{p.number:03d} 物业已答应修好")
    await h.deliver()
    assert (await proposal(h, p.id)).status == "withdrawn"
    assert (await request(h, req.id)).status == "new"
    assert "withdrawn" in h.session.last(RESIDENT.id).text
    actions = [e.action for e in await rows(h, AuditEvent, AuditEvent.entity == "proposal")]
    assert actions == ["drafted", "edited", "opened", "withdrawn"]
    await h.press(MEMBERS[0], f"vo:{p.id}:0", chat_id=COUNCIL_GROUP)
    assert "closed" in last_answer(h)


async def test_forged_stale_and_stray_input_is_answered_and_changes_nothing(harness: Harness, caplog):
    import logging

    h = harness
    await council(h)
    p = await propose(h, MEMBERS[0], "Bike racks", "Two racks by gate 1.")
    await h.press(MEMBERS[0], f"vo:{p.id}:0", chat_id=COUNCIL_GROUP)
    caplog.set_level(logging.ERROR)
    stranger = Person(999, "Stranger", None)
    ids = [(), (p.id,), (p.id, 0), (p.id, 1), (p.id, 9), (999, 1), (p.id, 0, 0), (-1, 2)]
    for who in (STAFF, MEMBERS[1], RESIDENT, stranger):
        for chat in (None, COUNCIL_GROUP):
            for act in ("tc", "pp", "vo", "vb", "pk", "ph", "pu", "ps"):
                for i in ids:
                    before = len(h.session.calls)
                    await h.press(who, ":".join([act, *map(str, i)]), chat_id=chat)
                    assert any(c.name == "AnswerCallbackQuery" for c in h.session.calls[before:]), (who, act, i)
            for command in ("/votes", "/propose", "/conventions", "/closevote", "/closevote zz", "/closevote 9"):
                await h.send(who, command, chat_id=chat)
            await h.send(who, "/cancel")
    assert not [r for r in caplog.records if "unhandled" in r.getMessage()], caplog.text
    p2 = await proposal(h, p.id)
    assert p2.status == "open" and p2.title == "Bike racks"
    votes = {v.user_id: v.option for v in await rows(h, Vote, Vote.proposal_id == p.id)}
    assert votes == {MEMBERS[0].id: 0, MEMBERS[1].id: 1}  # Maria's own presses count; nobody else's
    assert await rows(h, Request) == []
