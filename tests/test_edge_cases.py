"""Edge cases real users hit: groups never see private details, commands are never taken as
answers, anonymous senders, very long texts, cancelling a claimed task, double taps, forged
follows, invitations in groups."""
from __future__ import annotations

from datetime import datetime, timezone

from aiogram.types import Chat, Message, Update, User as TgUser
from sqlalchemy import select

from bot.limits import MAX_TEXT
from storage.models import Follower, Request
from tests.conftest import (COMMUNITY_GROUP, GRID_GROUP, LEADER, RESIDENT, STAFF, VOL_GROUP, VOLUNTEER, Harness,
                            community)
from tests.test_requests_flow import CONTACT, file_privately


async def _req(h: Harness, req_id: int) -> Request:
    async with h.app.db.read() as s:
        return await s.get(Request, req_id)


async def test_my_requests_from_a_group_are_answered_privately(harness: Harness):
    h = harness
    await community(h)
    req = await file_privately(h)
    await h.send(RESIDENT, "/my", chat_id=COMMUNITY_GROUP)
    await h.press(RESIDENT, f"rq:{req.id}", chat_id=COMMUNITY_GROUP)
    assert any(CONTACT in t for t in h.texts(RESIDENT.id))  # the requester sees it, privately
    assert not any("13800001234" in t for t in h.texts(COMMUNITY_GROUP))


async def test_a_command_in_the_middle_of_a_step_is_not_taken_as_the_answer(harness: Harness):
    h = harness
    await community(h)
    await h.send(RESIDENT, "/new")
    await h.press(RESIDENT, h.session.last(RESIDENT.id).buttons()[0]["callback_data"])
    await h.send(RESIDENT, "/help")
    assert "/new" in h.session.last(RESIDENT.id).text  # the help, not "photos?"
    await h.send(RESIDENT, "The lift is stuck between floors")
    assert "photo" in h.session.last(RESIDENT.id).text.lower()  # the conversation went on
    async with h.app.db.read() as s:
        assert (await s.execute(select(Request))).first() is None


async def test_anonymous_admins_get_a_clear_answer(harness: Harness):
    h = harness
    await community(h)
    anon = TgUser(id=1087968824, is_bot=True, first_name="Group", username="GroupAnonymousBot")
    msg = Message(message_id=9, date=datetime.now(timezone.utc), chat=Chat(id=GRID_GROUP, type="supergroup"),
                  from_user=anon, text="/new the gate is broken",
                  entities=[{"type": "bot_command", "offset": 0, "length": 4}])
    await h.feed(Update(update_id=99999, message=msg))
    assert "anonymously" in h.session.last(GRID_GROUP).text or "匿名" in h.session.last(GRID_GROUP).text
    async with h.app.db.read() as s:
        assert (await s.execute(select(Request))).first() is None


async def test_very_long_texts_stay_within_telegram_limits(harness: Harness):
    h = harness
    await community(h)
    long = "灯坏了。" * 499 + "x"  # 1,997 characters of the resident's own words
    await h.send(RESIDENT, f"/new {long}", chat_id=GRID_GROUP)
    await h.deliver()
    for call in h.session.calls:
        text = getattr(call.method, "text", None)
        assert text is None or len(text) <= MAX_TEXT


async def test_cancelling_a_claimed_task_tells_the_volunteer_and_closes_the_post(harness: Harness):
    h = harness
    await community(h)
    req = await file_privately(h)
    await h.deliver()
    await h.press(LEADER, f"tr:{req.id}:0", chat_id=GRID_GROUP)
    await h.deliver()
    await h.press(VOLUNTEER, f"tk:{req.id}:0", chat_id=VOL_GROUP)
    await h.deliver()
    await h.press(RESIDENT, f"cr:{req.id}")
    await h.deliver()
    assert "JMS-0001" in h.session.last(VOLUNTEER.id).text
    assert h.session.last(VOL_GROUP).name == "EditMessageText"
    await h.press(VOLUNTEER, f"tk:{req.id}:2")  # done on a cancelled task
    assert "已撤销" in h.session.answers()[-1].text  # "no longer available: the request is now cancelled"


async def test_a_second_rating_tap_changes_nothing(harness: Harness):
    from tests.test_signoff import _done

    h = harness
    await community(h)
    req = await file_privately(h)
    await _done(h, req)
    await h.press(RESIDENT, f"so:{req.id}:1")
    await h.press(RESIDENT, f"st:{req.id}:5")
    await h.press(RESIDENT, f"st:{req.id}:1")
    from storage.models import Rating

    async with h.app.db.read() as s:
        assert (await s.execute(select(Rating))).scalars().one().stars == 5


async def test_forged_follow_is_refused(harness: Harness):
    h = harness
    await community(h)
    req = await file_privately(h)
    stranger_req = req.id
    from tests.tg import Person

    other = Person(4711, "Eve", "en")
    from tests.conftest import invite

    await h.send(other, f"/start {await invite(h, 'resident', '二网格')}")
    await h.send(other, "/new")
    await h.press(other, h.session.last(other.id).buttons()[-2]["callback_data"])  # another category
    await h.press(other, f"fo:{stranger_req}")
    async with h.app.db.read() as s:
        assert (await s.execute(select(Follower))).first() is None


async def test_one_time_invitations_are_not_made_in_groups(harness: Harness):
    h = harness
    await community(h)
    await h.send(STAFF, "/invite grid_leader 一网格", chat_id=GRID_GROUP)
    assert "start=" not in h.session.last(GRID_GROUP).text
    await h.send(STAFF, "/invite resident", chat_id=GRID_GROUP)
    assert "start=" in h.session.last(GRID_GROUP).text  # resident links are meant to be shared


async def test_a_group_filer_answers_a_question_by_replying_in_the_group(harness: Harness):
    from tests.tg import BOT_ID, Person

    h = harness
    await community(h)
    karim = Person(906, "Karim", "en")
    await h.send(karim, "/new The gate does not close", chat_id=GRID_GROUP)
    async with h.app.db.read() as s:
        req = (await s.execute(select(Request))).scalars().one()
    await h.deliver()
    await h.press(LEADER, f"tr:{req.id}:3", chat_id=GRID_GROUP)  # ask for info
    await h.send(LEADER, "Which gate?")
    await h.deliver()
    question = [c for c in h.session.to(GRID_GROUP) if "Which gate" in c.text][-1]
    assert f"start=an_{req.id}" in question.text
    bot_msg = Message(message_id=question.message_id, date=datetime.now(timezone.utc),
                      chat=Chat(id=GRID_GROUP, type="supergroup"),
                      from_user=TgUser(id=BOT_ID, is_bot=True, first_name="Gongzhi"), text="…")
    await h.feed(h.u.message(karim, "The north gate", chat_id=GRID_GROUP, reply_to=bot_msg))
    assert (await _req(h, req.id)).status == "new"
    async with h.app.db.read() as s:
        assert len((await s.execute(select(Request))).scalars().all()) == 1  # not a new request
