"""Satisfaction polls through the real Dispatcher: staff's /survey conversation, anonymous native
polls in the chosen groups, running totals from `poll` updates, the close at the deadline (also
right after a restart) with stopPoll and the results, once."""
from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from aiogram.methods import SendPoll, StopPoll
from sqlalchemy import select, update

from bot.services.surveys import SurveyDraft
from storage.db import Database
from storage.models import ChatBinding, Outbox, Survey, SurveyPoll, User, utcnow
from tests.conftest import (COMMUNITY_GROUP, GRID_GROUP, RESIDENT, STAFF, STAFF_GROUP, VOL_GROUP, Harness,
                            community)
from tests.conftest import caught_up, database_url
from tests.tg import Sent, Updates


def button(sent: Sent, *words: str) -> str:
    for b in sent.buttons():
        if all(w in b["text"] for w in words):
            return b["callback_data"]
    raise AssertionError(f"no button {words} in {[b['text'] for b in sent.buttons()]}")


def polls_sent(h: Harness, chat_id: int | None = None) -> list[SendPoll]:
    return [c.method for c in h.session.calls
            if isinstance(c.method, SendPoll) and (chat_id is None or c.chat_id == chat_id)]


async def rows(h: Harness, model, *where):  # noqa: ANN001, ANN201
    async with h.app.db.read() as s:
        return list((await s.execute(select(model).where(*where))).scalars())


async def in_english(h: Harness) -> None:
    """Staff and every group read English, so assertions hold whatever the catalogs say."""
    async with h.app.db.write() as s:
        await s.execute(update(User).where(User.id == STAFF.id).values(locale="en"))
        await s.execute(update(ChatBinding).values(locale="en"))


async def start_survey(h: Harness, question: str = "How satisfied are you with the courtyard renovation?",
                       options: str | None = None) -> None:
    """Staff go through /survey up to the target groups."""
    await h.send(STAFF, "/survey")
    assert "New satisfaction poll" in h.session.last(STAFF.id).text
    await h.send(STAFF, question)
    if options is None:
        await h.press(STAFF, button(h.session.last(STAFF.id), "Satisfaction scale"))
    else:
        await h.send(STAFF, options)


async def test_survey_lifecycle_poll_updates_and_close_after_restart(tmp_path: Path):
    from scheduler import start_scheduler

    updates = Updates()
    h = await Harness(tmp_path / "s.db", updates).start()
    await community(h)
    await in_english(h)
    await start_survey(h)
    groups = h.session.last(STAFF.id)
    assert "Which groups" in groups.text
    # The community group is chosen already; add the grid group.
    assert any(b["text"].startswith("✅") and "community group" in b["text"] for b in groups.buttons())
    await h.press(STAFF, button(groups, "micro-grid group"))
    await h.press(STAFF, button(h.session.last(STAFF.id), "Next"))
    await h.press(STAFF, button(h.session.last(STAFF.id), "3 days"))
    summary = h.session.last(STAFF.id)
    assert "courtyard renovation" in summary.text and "Very satisfied" in summary.text
    await h.press(STAFF, button(summary, "Post the poll"))
    assert "2 groups" in h.session.last(STAFF.id).text
    await h.deliver()

    sent = {p.chat_id: p for p in polls_sent(h)}
    assert set(sent) == {COMMUNITY_GROUP, GRID_GROUP}  # not the volunteer or staff group
    poll = sent[COMMUNITY_GROUP]
    assert poll.is_anonymous is True and len(poll.options) == 5
    assert poll.options[0] == h.app.renderer.label("scale_1", "en")
    assert "anonymous" in h.session.last(COMMUNITY_GROUP).text
    [survey] = await rows(h, Survey)
    assert survey.status == "open" and survey.options == []  # the default scale
    assert (survey.closes_at - survey.created_at) == timedelta(days=3)

    # Running totals arrive as `poll` updates for each posted poll; unknown polls are ignored.
    by_chat = {chat: h.session.polls[(chat, m)] for (chat, m) in h.session.polls}
    await h.feed(updates.poll(by_chat[COMMUNITY_GROUP], [1, 0, 0, 0, 0]))
    await h.feed(updates.poll(by_chat[COMMUNITY_GROUP], [3, 1, 0, 0, 1]))
    await h.feed(updates.poll(by_chat[GRID_GROUP], [1, 1, 0, 0, 0]))
    await h.feed(updates.poll(by_chat[GRID_GROUP].model_copy(update={"id": "someone-elses"}), [9, 9, 9, 9, 9]))
    totals = {p.chat_id: p.totals for p in await rows(h, SurveyPoll)}
    assert totals == {COMMUNITY_GROUP: [3, 1, 0, 0, 1], GRID_GROUP: [1, 1, 0, 0, 0]}
    assert await h.app.surveys.sweep() == 0  # not due yet
    await h.close()

    db = Database(database_url(tmp_path / 's.db'))
    async with db.write() as s:  # the closing time passed while the bot was down
        await s.execute(update(Survey).values(closes_at=utcnow() - timedelta(minutes=5)))
    await db.dispose()

    h2 = await Harness(tmp_path / "s.db", updates).start()
    h2.settings.sweep_seconds = 3600
    ready = asyncio.Event()
    task = asyncio.create_task(start_scheduler(h2.app, ready))  # only the sweep at start can close it
    try:
        await caught_up(task, ready)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert (await rows(h2, Survey))[0].status == "closed"
    await h2.deliver()
    stops = [c for c in h2.session.calls if isinstance(c.method, StopPoll)]
    assert sorted(c.chat_id for c in stops) == sorted([COMMUNITY_GROUP, GRID_GROUP])
    for chat in (COMMUNITY_GROUP, GRID_GROUP, STAFF_GROUP):
        text = h2.session.last(chat).text
        assert "Poll results" in text and "7 answers in total" in text, text
        assert "(57%)" in text  # 4 of 7 very satisfied
        assert "Satisfied or very satisfied: 86%" in text
    staff = h2.session.last(STAFF_GROUP).text
    assert "— Group · community group: 5" in staff and "— Group · micro-grid group: 2" in staff  # staff only
    assert "— Group" not in h2.session.last(COMMUNITY_GROUP).text
    assert h2.session.to(VOL_GROUP) == []

    # Running the close again (a second process, a double tick) changes nothing.
    calls = len(h2.session.calls)
    assert await h2.app.surveys.sweep() == 0
    assert await h2.app.surveys.close((await rows(h2, Survey))[0].id) == 0
    await h2.deliver()
    assert len(h2.session.calls) == calls
    assert len(await rows(h2, Outbox, Outbox.method == "stop_poll")) == 2
    await h2.close()


async def test_custom_options_and_html_in_the_question(harness: Harness):
    h = harness
    await community(h)
    await in_english(h)
    await start_survey(h, question="Lift & stairs <b>repairs</b>: keep the contractor?",
                       options="Keep them\n\n- Change contractor\nKeep them\nNo opinion")
    await h.press(STAFF, button(h.session.last(STAFF.id), "Next"))
    await h.press(STAFF, button(h.session.last(STAFF.id), "1 day"))
    await h.press(STAFF, button(h.session.last(STAFF.id), "Post the poll"))
    await h.deliver()
    [poll] = polls_sent(h)
    assert poll.chat_id == COMMUNITY_GROUP
    assert poll.options == ["Keep them", "Change contractor", "No opinion"]  # de-duplicated, bullets gone
    assert poll.question == "Lift &amp; stairs &lt;b&gt;repairs&lt;/b&gt;: keep the contractor?"  # sent as HTML
    [survey] = await rows(h, Survey)
    assert survey.question == "Lift & stairs <b>repairs</b>: keep the contractor?"


async def test_survey_input_is_checked(harness: Harness):
    h = harness
    await community(h)
    await in_english(h)
    await h.send(RESIDENT, "/survey")
    assert "Only community staff" in h.session.last(RESIDENT.id).text
    await h.send(STAFF, "/survey")
    await h.send(STAFF, "x" * 301)
    assert "301 characters" in h.session.last(STAFF.id).text
    await h.send(STAFF, "Is the new bike shed useful?")
    await h.send(STAFF, "Only one option")
    assert "between 2 and 10" in h.session.last(STAFF.id).text
    await h.send(STAFF, "Yes\n" + "N" * 101)
    assert "too long" in h.session.last(STAFF.id).text
    await h.send(STAFF, "Yes\nNo")
    groups = h.session.last(STAFF.id)
    await h.press(STAFF, button(groups, "community group"))  # leave the community group out: none chosen
    await h.press(STAFF, button(h.session.last(STAFF.id), "Next"))
    assert "at least one group" in h.session.answers()[-1].text
    await h.press(STAFF, "sg:-999999")  # a group of no community: refused
    assert h.session.answers()[-1].show_alert
    await h.send(STAFF, "/cancel")
    assert await rows(h, Survey) == []


async def test_the_service_refuses_a_forged_draft(harness: Harness):
    """Whatever the conversation did, the service checks the draft again and writes nothing."""
    h = harness
    await community(h)
    await in_english(h)
    from bot.errors import BadInput, NotAllowed, Stale
    from bot.services.context import Actor
    from storage.models import Community, Membership

    async with h.app.db.read() as s:
        c = (await s.execute(select(Community))).scalars().one()
        user = await s.get(User, STAFF.id)
        ms = list((await s.execute(select(Membership).where(Membership.user_id == STAFF.id))).scalars())
        resident = await s.get(User, RESIDENT.id)
    staff = Actor(user=user, locale="en", community=c, memberships=ms)
    for draft, error in ((SurveyDraft("Q?", None, [-42], 3), Stale), (SurveyDraft("Q?", None, [], 3), BadInput),
                         (SurveyDraft("Q?", None, [COMMUNITY_GROUP], 2), BadInput),
                         (SurveyDraft("Q?", ["only"], [COMMUNITY_GROUP], 1), BadInput)):
        try:
            await h.app.surveys.create(staff, draft)
        except error:
            pass
        else:
            raise AssertionError(f"{draft} was accepted")
    try:
        await h.app.surveys.create(Actor(user=resident, locale="en", community=c),
                                   SurveyDraft("Q?", None, [COMMUNITY_GROUP], 1))
    except NotAllowed:
        pass
    else:
        raise AssertionError("a resident posted a survey")
    assert await rows(h, Survey) == [] and await rows(h, Outbox, Outbox.method == "poll") == []


def test_poll_updates_are_subscribed(harness: Harness):
    assert "poll" in harness.dp.resolve_used_update_types()


async def test_staffs_own_question_and_options_reach_a_group_of_another_language_machine_translated(
        harness: Harness):
    """#16: with a translation provider, a poll posted in an English group carries staff's Chinese
    question and options translated, the question marked 🌐; a Chinese group gets them as typed."""
    from tests.test_foreign import FakeTranslator
    h = harness
    await community(h)
    await in_english(h)  # staff and every group read English...
    async with h.app.db.write() as s:  # ...but the grid group, which reads Chinese
        await s.execute(update(ChatBinding).where(ChatBinding.chat_id == GRID_GROUP).values(locale="zh_Hans"))
    h.app.surveys.translator = translator = FakeTranslator()
    await start_survey(h, question="您对楼道改造满意吗？", options="满意\n不满意")
    await h.press(STAFF, f"sg:{GRID_GROUP}")
    await h.press(STAFF, button(h.session.last(STAFF.id), "Next"))
    await h.press(STAFF, button(h.session.last(STAFF.id), "1 day"))
    await h.press(STAFF, button(h.session.last(STAFF.id), "Post the poll"))
    await h.deliver()
    polls = {p.chat_id: p for p in polls_sent(h)}
    assert polls[COMMUNITY_GROUP].question == "🌐 [en] 您对楼道改造满意吗？"
    assert polls[COMMUNITY_GROUP].options == ["[en] 满意", "[en] 不满意"]
    assert (polls[GRID_GROUP].question, polls[GRID_GROUP].options) == ("您对楼道改造满意吗？", ["满意", "不满意"])
    assert {target for _, _, target in translator.calls} == {"en"}
