"""Different people acting on the same thing at the same moment: one outcome, nothing lost.

Each update is one transaction. On SQLite a process's writers queue one behind the other, so
these pass there by construction; on PostgreSQL (`GONGZHI_TEST_POSTGRES`, READ COMMITTED) the
updates really run at once, in separate transactions, as they do in several workers, and every
read-modify-write on a shared row must lock it (or update it conditionally) before deciding.
The updates are fed concurrently with `asyncio.gather`, each with its own session.
"""
from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from bot.errors import BadInput, DomainError
from bot.services import points, timers
from bot.services.deliberation import ProposalDraft
from bot.services.requests import Op
from bot.services.surveys import SurveyDraft
from storage.models import (AuditEvent, Community, Invitation, Membership, Outbox, PointEntry, Proposal, Rating,
                            Request, Role, Turnout, Vote, utcnow)
from tests.conftest import (COMMUNITY_GROUP, GRID_GROUP, LEADER, RESIDENT, STAFF, STAFF_GROUP, VOL_GROUP,
                            VOLUNTEER, Harness, community, invite)
from tests.test_council import COUNCIL_GROUP, council
from tests.test_requests_flow import _actor, file_privately
from tests.tg import Person


async def rows(h: Harness, model, *cond) -> list:
    async with h.app.db.read() as s:
        return list((await s.execute(select(model).where(*cond))).scalars())


async def count(h: Harness, model, *cond) -> int:
    async with h.app.db.read() as s:
        return int((await s.execute(select(func.count()).select_from(model).where(*cond))).scalar_one())


def people(base: int, n: int, prefix: str) -> list[Person]:
    return [Person(base + i, f"{prefix}{i}", "en") for i in range(n)]


def daytime() -> "datetime":
    """Tomorrow at noon in Yiwu: outside the community's quiet hours, so timers fire, not wait."""
    return (utcnow() + timedelta(days=1)).replace(hour=4, minute=0, second=0, microsecond=0)


def alerts(h: Harness) -> list[str]:
    """What the bot answered in group chats and alerts: errors end up here too."""
    return [a.text or "" for a in h.session.answers()]


# ----------------------------------------------------------------- numbering
async def test_twenty_residents_file_at_once_get_twenty_numbers(harness: Harness):
    h = harness
    await community(h)
    residents = people(4000, 20, "R")
    await asyncio.gather(*(h.send(r, f"/new Broken bench number {i} by the gate", chat_id=COMMUNITY_GROUP)
                           for i, r in enumerate(residents)))
    filed = await rows(h, Request)
    assert len(filed) == 20, [t for r in residents for t in h.texts(r.id)] + h.texts(COMMUNITY_GROUP)
    assert sorted(r.number for r in filed) == list(range(1, 21))
    async with h.app.db.read() as s:
        assert (await s.execute(select(Community.next_number))).scalar_one() == 21


async def test_proposals_drafted_at_once_get_distinct_numbers(harness: Harness):
    h = harness
    members = people(6100, 6, "C")
    await council(h, members)
    actors = [await _actor(h, m) for m in members]
    drafts = [ProposalDraft(title=f"Benches {i}", text="New benches for the courtyard") for i in range(6)]
    await asyncio.gather(*(h.app.council.save(a, d) for a, d in zip(actors, drafts)))
    assert sorted(p.number for p in await rows(h, Proposal)) == list(range(1, 7))


# ----------------------------------------------------------------- first tap
async def test_ten_volunteers_claim_one_task_at_once(harness: Harness):
    h = harness
    await community(h)
    volunteers = people(3100, 10, "V")
    for v in volunteers:
        await h.send(v, f"/start {await invite(h, 'volunteer')}")
    req = await file_privately(h)
    await h.app.requests.accept(await _actor(h, LEADER), req.id)
    await h.deliver()
    claim = h.session.last(VOL_GROUP).buttons()[0]["callback_data"]
    h.session.clear()
    await asyncio.gather(*(h.press(v, claim, chat_id=VOL_GROUP) for v in volunteers))
    answers = alerts(h)
    assert sum("You claimed" in a for a in answers) == 1, answers
    assert sum("first" in a for a in answers) == 9, answers
    [holder] = [r.assignee_id for r in await rows(h, Request, Request.id == req.id)]
    assert holder in {v.id for v in volunteers}
    assert await count(h, AuditEvent, AuditEvent.action == "claimed") == 1
    briefs = await rows(h, Outbox, Outbox.key == f"brief:{req.id}")
    assert {b.chat_id for b in briefs} == {holder}  # only the winner gets the details


async def test_triage_buttons_pressed_at_once_move_the_request_once(harness: Harness):
    h = harness
    await community(h)
    req = await file_privately(h)
    await h.deliver()
    card = h.session.last_with_button(GRID_GROUP, "tr:")
    accept, handle = (b["callback_data"] for b in card.buttons()[:2])
    h.session.clear()
    # The grid leader accepts while staff take it on themselves, each twice.
    await asyncio.gather(h.press(LEADER, accept, chat_id=GRID_GROUP), h.press(STAFF, handle, chat_id=GRID_GROUP),
                         h.press(LEADER, accept, chat_id=GRID_GROUP), h.press(STAFF, handle, chat_id=GRID_GROUP))
    moves = await rows(h, AuditEvent, AuditEvent.entity == "request", AuditEvent.entity_id == req.id,
                       AuditEvent.action.in_(["accepted", "handling"]))
    assert len(moves) == 1, [m.action for m in moves]
    [now] = await rows(h, Request, Request.id == req.id)
    assert now.status == {"accepted": "accepted", "handling": "handling"}[moves[0].action]


async def test_single_use_invitation_accepted_at_once_admits_one(harness: Harness):
    h = harness
    await community(h)
    token = await invite(h, "volunteer")
    comers = people(5100, 6, "N")
    await asyncio.gather(*(h.send(p, f"/start {token}") for p in comers))
    joined = await rows(h, Membership, Membership.role == Role.VOLUNTEER,
                        Membership.user_id.in_([p.id for p in comers]))
    assert len(joined) == 1, [m.user_id for m in joined]
    [inv] = await rows(h, Invitation, Invitation.token == token)
    assert inv.uses_left == 0


async def test_resident_link_counts_every_use(harness: Harness):
    h = harness
    await community(h)
    token = await invite(h, "resident")
    comers = people(5200, 12, "M")
    await asyncio.gather(*(h.send(p, f"/start {token}") for p in comers))
    assert await count(h, Membership, Membership.role == Role.RESIDENT,
                       Membership.user_id.in_([p.id for p in comers])) == 12
    [inv] = await rows(h, Invitation, Invitation.token == token)
    assert inv.uses_left == 1000 - 12


# ----------------------------------------------------------------- council
async def open_proposal(h: Harness, **kw) -> Proposal:
    staff = await _actor(h, STAFF)
    v = await h.app.council.save(staff, ProposalDraft(title="Benches", text="New benches", **kw), open_now=True)
    await h.deliver()
    return v.p


async def test_six_council_members_vote_at_once(harness: Harness):
    h = harness
    members = people(6000, 6, "C")
    await council(h, members)
    p = await open_proposal(h)
    h.session.clear()
    await asyncio.gather(*(h.press(m, f"vo:{p.id}:0", chat_id=COUNCIL_GROUP) for m in members))
    assert sum("counted" in a for a in alerts(h)) == 6, alerts(h)
    assert await count(h, Vote, Vote.proposal_id == p.id, Vote.option == 0) == 6
    assert await count(h, Turnout, Turnout.proposal_id == p.id) == 6
    # The last vote saw all six: staff are told once that everyone has voted.
    assert await count(h, Outbox, Outbox.key == f"allin:{p.id}") == 1
    # One pending edit of the council post, with the whole tally.
    [post] = await rows(h, Outbox, Outbox.key == f"prop:{p.id}", Outbox.method == "send",
                        Outbox.chat_id == COUNCIL_GROUP)
    pending = await rows(h, Outbox, Outbox.edit_of == post.id, Outbox.status == "pending")
    assert len(pending) == 1 and "Turnout: 6 of 6" in pending[0].text, [e.text for e in pending]


async def test_votes_changed_while_staff_close_are_all_in_the_minutes(harness: Harness):
    h = harness
    members = people(6200, 6, "C")
    await council(h, members)
    p = await open_proposal(h)
    for m in members:
        await h.press(m, f"vo:{p.id}:0", chat_id=COUNCIL_GROUP)
    staff = await _actor(h, STAFF)

    async def close() -> None:
        await h.app.council.close(staff, p.id)

    h.session.clear()
    await asyncio.gather(close(), *(h.press(m, f"vo:{p.id}:1", chat_id=COUNCIL_GROUP) for m in members))
    [closed] = await rows(h, Proposal, Proposal.id == p.id)
    assert closed.status == "closed"
    votes = await rows(h, Vote, Vote.proposal_id == p.id)
    counts = [sum(v.option == i for v in votes) for i in range(3)]
    assert closed.minutes["counts"] == counts  # no change slipped in after the count
    changed = sum("changed" in a for a in alerts(h))
    assert counts[1] == changed


async def test_sweeps_at_once_remind_and_close_a_vote_once(harness: Harness):
    h = harness
    members = people(6300, 3, "C")
    await council(h, members)
    p = await open_proposal(h, hours=72)
    now = daytime()
    async with h.app.db.write() as s:
        await s.execute(update(Proposal).where(Proposal.id == p.id).values(remind_at=now - timedelta(minutes=1)))
    await asyncio.gather(*(h.app.council.sweep(now) for _ in range(4)))
    assert await count(h, AuditEvent, AuditEvent.entity == "proposal", AuditEvent.action == "reminded") == 1
    async with h.app.db.write() as s:
        await s.execute(update(Proposal).where(Proposal.id == p.id).values(closes_at=now - timedelta(minutes=1)))
    assert sum(await asyncio.gather(*(h.app.council.sweep(now) for _ in range(4)))) == 1
    assert await count(h, AuditEvent, AuditEvent.entity == "proposal", AuditEvent.action == "closed") == 1


# ----------------------------------------------------------------- timers, sign-off, ratings
async def done_request(h: Harness) -> Request:
    req = await file_privately(h)
    await h.app.requests.accept(await _actor(h, LEADER), req.id)
    vol = await _actor(h, VOLUNTEER)
    await h.app.requests.claim(vol, req.id)
    await h.app.requests.task_op(vol, req.id, Op.DONE)
    await h.deliver()
    [req] = await rows(h, Request, Request.id == req.id)
    assert req.status == "done"
    return req


async def test_due_timers_swept_at_once_fire_once(harness: Harness):
    h = harness
    await community(h)
    req = await file_privately(h)
    now = daytime()  # the triage reminder is due
    async with h.app.db.write() as s:
        await s.execute(update(Request).where(Request.id == req.id).values(timer_at=now - timedelta(minutes=1)))
    fired = await asyncio.gather(*(timers.sweep(h.app.requests, now) for _ in range(4)))
    assert sum(fired) == 1
    assert await count(h, AuditEvent, AuditEvent.action == "timer_triage_remind") == 1


async def test_signoff_and_its_deadline_at_once_one_outcome(harness: Harness):
    h = harness
    await community(h)
    req = await done_request(h)
    async with h.app.db.write() as s:  # the sign-off window has closed: the sweep would close it unrated
        await s.execute(update(Request).where(Request.id == req.id).values(
            timer_kind="signoff_close", timer_at=utcnow() - timedelta(minutes=1)))
    h.session.clear()
    await asyncio.gather(timers.sweep(h.app.requests, daytime()), h.press(RESIDENT, f"so:{req.id}:1"))
    [after] = await rows(h, Request, Request.id == req.id)
    ratings = await rows(h, Rating, Rating.request_id == req.id)
    closes = await rows(h, AuditEvent, AuditEvent.entity_id == req.id,
                        AuditEvent.action.in_(["signed_off", "closed_unrated"]))
    assert len(closes) == 1, [e.action for e in closes]
    if closes[0].action == "signed_off":
        assert after.status == "closed" and len(ratings) == 1
    else:
        assert after.status == "closed_unrated" and ratings == []


async def test_rating_pressed_twice_at_once_counts_once(harness: Harness):
    h = harness
    await community(h)
    req = await done_request(h)
    await asyncio.gather(h.press(RESIDENT, f"so:{req.id}:1"), h.press(RESIDENT, f"so:{req.id}:1"))
    assert await count(h, Rating, Rating.request_id == req.id) == 1
    h.session.clear()
    await asyncio.gather(h.press(RESIDENT, f"st:{req.id}:5"), h.press(RESIDENT, f"st:{req.id}:4"))
    [rating] = await rows(h, Rating, Rating.request_id == req.id)
    assert rating.stars in (4, 5)
    assert await count(h, AuditEvent, AuditEvent.action == "rated") == 1
    assert await count(h, PointEntry, PointEntry.reason == "five_stars") == (1 if rating.stars == 5 else 0)


# ----------------------------------------------------------------- points
async def test_points_awarded_at_once_add_up(harness: Harness):
    h = harness
    setup = await community(h)
    c = setup["community"]

    async def earn(i: int) -> None:
        async with h.app.db.write() as s:
            await points.award(s, c, VOLUNTEER.id, "task_done", f"race:{i}")

    await asyncio.gather(*(earn(i) for i in range(10)), earn(0), earn(1))  # two of them twice
    statement = await h.app.points.statement(await _actor(h, VOLUNTEER))
    assert statement.balance == 10 * points.rule(c, "task_done")


async def test_redemptions_at_once_never_overdraw(harness: Harness):
    h = harness
    setup = await community(h)
    c = setup["community"]
    async with h.app.db.write() as s:
        await points.award(s, c, VOLUNTEER.id, "task_done", "race:seed")  # 10 points
    staff = await _actor(h, STAFF)
    results = await asyncio.gather(*(h.app.points.redeem(staff, str(VOLUNTEER.id), 4, "soap") for _ in range(5)),
                                   return_exceptions=True)
    refused = [r for r in results if isinstance(r, DomainError)]
    assert all(isinstance(r, (tuple, BadInput)) for r in results), results
    assert len(refused) == 3 and all(r.code == "not_enough_points" for r in refused)
    assert (await h.app.points.statement(await _actor(h, VOLUNTEER))).balance == 2


# ----------------------------------------------------------------- surveys
async def test_survey_closed_by_sweeps_at_once_publishes_once(harness: Harness):
    h = harness
    await community(h)
    staff = await _actor(h, STAFF)
    survey = await h.app.surveys.create(staff, SurveyDraft("Are you satisfied with the new benches?", None,
                                                           [COMMUNITY_GROUP], 1))
    later = utcnow() + timedelta(days=2)
    assert sum(await asyncio.gather(*(h.app.surveys.sweep(later) for _ in range(4)))) == 1
    assert await count(h, Outbox, Outbox.key == f"survey:{survey.id}", Outbox.method == "stop_poll") == 1
    results = await rows(h, Outbox, Outbox.key == f"survey:{survey.id}:results")
    assert sorted(r.chat_id for r in results) == [COMMUNITY_GROUP, STAFF_GROUP]
