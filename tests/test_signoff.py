"""Sign-off, reopen, reminders and auto-close, a resident who never started the bot, and points."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select, update

from bot.services import timers
from storage.models import PointEntry, Rating, Request, utcnow
from tests.conftest import GRID_GROUP, LEADER, RESIDENT, STAFF, VOL_GROUP, VOLUNTEER, Harness, community
from tests.test_requests_flow import button, file_privately
from tests.tg import Person


async def _done(h: Harness, req: Request) -> None:
    """Accepted, claimed and done by the volunteer, through the buttons."""
    await h.deliver()
    await h.press(LEADER, f"tr:{req.id}:0", chat_id=GRID_GROUP)
    await h.deliver()
    await h.press(VOLUNTEER, f"tk:{req.id}:0", chat_id=VOL_GROUP)
    await h.press(VOLUNTEER, f"tk:{req.id}:2")
    await h.press(VOLUNTEER, "sk")
    await h.deliver()


async def _req(h: Harness, req_id: int) -> Request:
    async with h.app.db.read() as s:
        return await s.get(Request, req_id)


async def _points(h: Harness, user_id: int) -> int:
    async with h.app.db.read() as s:
        return (await s.execute(select(func.coalesce(func.sum(PointEntry.delta), 0))
                                .where(PointEntry.user_id == user_id))).scalar_one()


async def test_sign_off_with_five_stars_and_a_comment(harness: Harness):
    h = harness
    await community(h)
    req = await file_privately(h)
    await _done(h, req)
    ask = h.session.last(RESIDENT.id)
    assert "Is it resolved" in ask.text
    await h.press(RESIDENT, button(ask, "Yes"))
    assert (await _req(h, req.id)).status == "closed"
    stars = h.session.last(RESIDENT.id)
    await h.press(RESIDENT, stars.buttons()[-1]["callback_data"])  # five stars
    await h.send(RESIDENT, "Quick and friendly, thank you")
    async with h.app.db.read() as s:
        rating = (await s.execute(select(Rating))).scalars().one()
    assert (rating.resolved, rating.stars, rating.comment) == (True, 5, "Quick and friendly, thank you")
    assert await _points(h, VOLUNTEER.id) == 15  # task done + five stars
    assert await _points(h, RESIDENT.id) == 1  # request accepted
    await h.deliver()
    assert "⭐⭐⭐⭐⭐" in h.session.last(VOLUNTEER.id).text


async def test_not_yet_reopens_with_history_and_never_pays_twice(harness: Harness):
    h = harness
    await community(h)
    req = await file_privately(h)
    await _done(h, req)
    await h.press(RESIDENT, button(h.session.last(RESIDENT.id), "Not yet"))
    await h.send(RESIDENT, "The light flickers again")
    await h.deliver()
    r = await _req(h, req.id)
    assert (r.status, r.round, r.assignee_id) == ("new", 2, None) and r.timer_kind == "triage_remind"
    card = h.session.last(GRID_GROUP).text  # a new triage card; the comment itself goes only to who acts
    assert "居民已重新打开此诉求" in card and "flickers" not in card
    assert "flickers" in h.session.last(LEADER.id).text
    assert "flickers" in h.session.last(VOLUNTEER.id).text  # the previous assignee is told
    await _done(h, req)  # the second round
    assert await _points(h, VOLUNTEER.id) == 10  # task_done paid once, not per round
    async with h.app.db.read() as s:
        rounds = [(x.round, x.resolved) for x in (await s.execute(select(Rating).order_by(Rating.id))).scalars()]
    assert rounds == [(1, False)]
    await h.send(RESIDENT, "/my")
    await h.press(RESIDENT, h.session.last(RESIDENT.id).buttons()[0]["callback_data"])
    assert "flickers" in h.session.last(RESIDENT.id).text  # the history keeps both rounds


async def test_no_answer_reminds_then_closes_without_rating(harness: Harness):
    h = harness
    await community(h)
    from tests.test_roles import _hours
    await _hours(h, quiet_hours="00:00-00:00")  # reminders wait out quiet hours: none here, whatever the clock
    req = await file_privately(h)
    await _done(h, req)
    for expected in ("signoff_close", None):
        async with h.app.db.write() as s:
            await s.execute(update(Request).values(timer_at=utcnow() - timedelta(seconds=1)))
        assert await timers.sweep(h.app.requests) == 1
        assert (await _req(h, req.id)).timer_kind == expected
    await h.deliver()
    r = await _req(h, req.id)
    assert r.status == "closed_unrated" and r.closed_at is not None
    assert any("⏰" in t for t in h.texts(RESIDENT.id))
    # "Still not fixed" still reaches someone after an auto-close.
    await h.press(RESIDENT, f"so:{req.id}:0")
    await h.send(RESIDENT, "Nobody came")
    assert (await _req(h, req.id)).status == "new"


async def test_resident_who_never_started_signs_off_through_the_group_link(harness: Harness):
    h = harness
    await community(h)
    stranger = Person(902, "Olu", "en")
    await h.send(stranger, "/new The bench in the park is broken", chat_id=GRID_GROUP)
    async with h.app.db.read() as s:
        req = (await s.execute(select(Request))).scalars().one()
    await _done(h, req)
    in_group = [t for t in h.texts(GRID_GROUP) if f"start=so_{req.id}" in t]
    assert in_group and "tg://user?id=902" in in_group[-1]
    await h.send(stranger, f"/start so_{req.id}")
    await h.press(stranger, button(h.session.last(stranger.id), "Yes"))
    assert (await _req(h, req.id)).status == "closed"
    await h.send(RESIDENT, f"/start so_{req.id}")  # someone else's request
    assert "not yours" in h.session.last(RESIDENT.id).text


async def test_points_statement_redeem_limits_and_leaderboard(harness: Harness):
    h = harness
    await community(h)
    req = await file_privately(h)
    await _done(h, req)
    await h.send(VOLUNTEER, "/points")
    assert "10" in h.session.last(VOLUNTEER.id).text
    await h.send(RESIDENT, "/redeem @zhangwei 5 soap")
    assert await _points(h, VOLUNTEER.id) == 10  # only staff redeem
    await h.send(STAFF, "/redeem @zhangwei 50 rice")
    assert await _points(h, VOLUNTEER.id) == 10  # never below zero
    assert "10" in h.session.last(STAFF.id).text
    await h.send(STAFF, "/redeem @zhangwei 4 soap")
    assert await _points(h, VOLUNTEER.id) == 6
    await h.send(STAFF, "/leaderboard")
    board = h.session.last(STAFF.id).text
    assert "张伟" in board and "Anna" not in board  # volunteers only (issue #15)
