"""The main loop through the real Dispatcher: a resident in English, the grid leader and the
volunteer in Chinese; from private chat and from a group."""
from __future__ import annotations

import asyncio

from sqlalchemy import select

from storage.models import AuditEvent, Outbox, Request
from tests.conftest import (COMMUNITY_GROUP, GRID_GROUP, LEADER, RESIDENT, STAFF_GROUP, VOL_GROUP, VOLUNTEER,
                            Harness, community)
from tests.tg import Person, Sent

CONTACT = "Room 301, tel 13800001234"


def button(sent: Sent, *words: str) -> str:
    for b in sent.buttons():
        if all(w in b["text"] for w in words):
            return b["callback_data"]
    raise AssertionError(f"no button {words} in {[b['text'] for b in sent.buttons()]}")


async def file_privately(h: Harness, who: Person = RESIDENT, text: str = "The corridor light on floor 3 is broken") -> Request:
    await h.send(who, "/new")
    await h.press(who, button(h.session.last(who.id), "Repair"))
    await h.send(who, text)
    await h.press(who, button(h.session.last(who.id), "Skip"))  # photos
    await h.press(who, button(h.session.last(who.id), "Skip"))  # location
    await h.press(who, button(h.session.last(who.id), "一网格"))
    await h.send(who, CONTACT)
    summary = h.session.last(who.id)
    assert "Please check your request" in summary.text and CONTACT in summary.text
    await h.press(who, button(summary, "Confirm"))
    assert "JMS-0001" in h.session.last(who.id).text
    async with h.app.db.read() as s:
        return (await s.execute(select(Request).order_by(Request.id.desc()))).scalars().first()


async def test_whole_lifecycle_private_intake(harness: Harness):
    h = harness
    await community(h)
    req = await file_privately(h)
    assert req.status == "new" and req.contact_note == CONTACT
    await h.deliver()
    card = h.session.last(GRID_GROUP)
    assert "JMS-0001" in card.text and "corridor" in card.text
    assert "JMS-0001" in h.session.last(STAFF_GROUP).text

    await h.press(LEADER, button(card, "受理") if "受理" in str(card.buttons()) else button(card, "Accept"),
                  chat_id=GRID_GROUP, message_id=card.message_id)
    await h.deliver()
    task = h.session.last(VOL_GROUP)
    assert "JMS-0001" in task.text
    assert "accepted" in h.session.last(RESIDENT.id).text

    await h.press(VOLUNTEER, task.buttons()[0]["callback_data"], chat_id=VOL_GROUP, message_id=task.message_id)
    await h.deliver()
    brief = [s for s in h.session.to(VOLUNTEER.id) if "JMS-0001" in s.text][-1]
    assert CONTACT in brief.text
    assert "张伟" in h.session.last(RESIDENT.id).text  # first name of the volunteer, nothing more
    edited = [c for c in h.session.to(VOL_GROUP) if c.name == "EditMessageText"]
    assert edited and "张伟" in edited[-1].text

    done = brief.buttons()[1]["callback_data"]
    await h.press(VOLUNTEER, done)
    await h.press(VOLUNTEER, button(h.session.last(VOLUNTEER.id), "⏭"))
    await h.deliver()
    assert "marked done" in h.session.last(RESIDENT.id).text
    async with h.app.db.read() as s:
        req = await s.get(Request, req.id)
        actions = [e.action for e in (await s.execute(select(AuditEvent).where(
            AuditEvent.entity == "request", AuditEvent.entity_id == req.id).order_by(AuditEvent.id))).scalars()]
    assert req.status == "done" and req.timer_kind == "signoff_remind"
    assert actions == ["filed", "accepted", "claimed", "done"]

    # Privacy: nothing personal ever reached a group.
    for chat in (GRID_GROUP, VOL_GROUP, STAFF_GROUP, COMMUNITY_GROUP):
        for text in h.texts(chat):
            assert "13800001234" not in text and "Room 301" not in text


async def test_group_intake_shows_number_only_and_links_unstarted_people(harness: Harness):
    h = harness
    await community(h)
    stranger = Person(901, "Karim", "ar")
    await h.send(stranger, "/new Water leaks from the roof of building 5", chat_id=GRID_GROUP)
    reply = h.session.last(GRID_GROUP)
    assert "JMS-0001" in reply.text
    assert any("start=go" in (b.get("url") or "") for b in reply.buttons())
    async with h.app.db.read() as s:
        req = (await s.execute(select(Request))).scalars().one()
    assert req.source_chat_id == GRID_GROUP and req.grid_id is not None and req.category is None

    # The resident is told about changes in the group (with a link), since we cannot write to them.
    await h.deliver()
    card = h.session.last(GRID_GROUP)
    h.session.clear()
    await h.press(LEADER, button(card, "Accept") if "Accept" in str(card.buttons()) else card.buttons()[0]["callback_data"],
                  chat_id=GRID_GROUP)
    await h.deliver()
    told = [t for t in h.texts(GRID_GROUP) if "tg://user?id=901" in t]
    assert told, h.texts(GRID_GROUP)


async def test_twenty_volunteers_claim_at_once_one_wins(harness: Harness):
    h = harness
    await community(h)
    volunteers = [Person(3000 + i, f"V{i}", "en") for i in range(20)]
    for v in volunteers:
        from tests.conftest import invite
        await h.send(v, f"/start {await invite(h, 'volunteer')}")
    req = await file_privately(h)
    await h.app.requests.accept(await _actor(h, LEADER), req.id)
    await h.deliver()
    data = h.session.last(VOL_GROUP).buttons()[0]["callback_data"]
    h.session.clear()
    await asyncio.gather(*(h.press(v, data, chat_id=VOL_GROUP) for v in volunteers))
    answers = h.session.answers()
    wins = [a for a in answers if "You claimed" in (a.text or "")]
    polite = [a for a in answers if "first" in (a.text or "")]
    assert len(wins) == 1 and len(polite) == 19
    async with h.app.db.read() as s:
        claimed = (await s.execute(select(AuditEvent).where(AuditEvent.action == "claimed"))).scalars().all()
    assert len(claimed) == 1


async def _actor(h: Harness, who: Person):
    from bot.services.context import load_actor
    from storage.models import User

    async with h.app.db.read() as s:
        user = await s.get(User, who.id)
        return await load_actor(s, user, who.id, "zh_Hans", h.app.renderer.locales)


async def test_roles_cannot_do_what_they_must_not(harness: Harness):
    h = harness
    await community(h)
    req = await file_privately(h)
    await h.deliver()
    card = h.session.last(GRID_GROUP)
    accept = card.buttons()[0]["callback_data"]
    before = await _outbox_count(h)
    for who in (RESIDENT, VOLUNTEER):  # not leaders of that grid
        await h.press(who, accept, chat_id=GRID_GROUP)
    async with h.app.db.read() as s:
        assert (await s.get(Request, req.id)).status == "new"
    assert await _outbox_count(h) == before
    assert all(a.show_alert for a in h.session.answers()[-2:])
    # A claim before acceptance, a forged button, a stale one: clear answers, nothing changes.
    await h.press(VOLUNTEER, f"tk:{req.id}:0")
    await h.press(VOLUNTEER, "tk:999999:0")
    await h.press(VOLUNTEER, "zz:garbage")
    texts = [a.text for a in h.session.answers()[-3:]]
    assert all(t for t in texts), texts
    async with h.app.db.read() as s:
        assert (await s.get(Request, req.id)).status == "new"


async def _outbox_count(h: Harness) -> int:
    async with h.app.db.read() as s:
        return len((await s.execute(select(Outbox))).scalars().all())
