"""Issue #12: personal data only where it belongs, no way across communities (through the real Dispatcher)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.privacy import scrub
from storage.models import Membership, Request
from tests.conftest import GRID_GROUP, LEADER, RESIDENT, STAFF, Harness, community
from tests.test_requests_flow import button, file_privately
from tests.tg import Person

PHONE, ROOM = "13800138000", "room 1203"


async def _card(h: Harness):
    return [c for c in h.session.to(GRID_GROUP) if c.buttons()][-1]


async def test_1_staff_link_from_the_cli_admits_only_the_named_admin(harness: Harness):
    h = harness
    _, token = await h.app.communities.create("鸡鸣山社区", admin_id=STAFF.id, code="JMS")
    stranger = Person(666, "Mallory", "en")
    await h.send(stranger, f"/start {token}")
    async with h.app.db.read() as s:
        assert (await s.execute(select(Membership).where(Membership.user_id == stranger.id))).first() is None
    assert "someone else" in h.session.last(stranger.id).text
    await h.send(STAFF, f"/start {token}")  # the named admin still can
    async with h.app.db.read() as s:
        assert (await s.execute(select(Membership).where(Membership.user_id == STAFF.id))).first() is not None


async def test_2_private_answer_never_reaches_the_grid_group(harness: Harness):
    h = harness
    await community(h)
    await file_privately(h)
    await h.deliver()
    await h.press(LEADER, (await _card(h)).buttons()[3]["callback_data"], chat_id=GRID_GROUP)
    await h.send(LEADER, "哪一栋楼？")
    await h.deliver()
    await h.press(RESIDENT, button(h.session.last(RESIDENT.id), "Answer"))
    await h.send(RESIDENT, f"It is {ROOM} in building 7; the volunteer can call {PHONE}")
    await h.deliver()
    assert not any(PHONE in t or ROOM in t for t in h.texts(GRID_GROUP))
    assert PHONE in h.session.last(LEADER.id).text


async def test_6_assign_with_another_communitys_number_is_refused(harness: Harness):
    h = harness
    await community(h)
    await file_privately(h)
    h.session.clear()
    await h.send(LEADER, "/assign LHT-0001 @zhangwei")
    async with h.app.db.read() as s:
        req = (await s.execute(select(Request))).scalars().first()
    assert req.assignee_id is None and "LHT-0001" in h.session.last(LEADER.id).text


async def test_7_tasks_and_leaderboard_refused_in_an_unbound_group(harness: Harness):
    h = harness
    await community(h)
    for cmd in ("/tasks", "/leaderboard"):
        h.session.clear()
        await h.send(STAFF, cmd, chat_id=-2999)
        assert "/bind" in h.session.last(-2999).text


async def test_9_forged_follow_press_subscribes_no_one(harness: Harness):
    h = harness
    await community(h)
    req = await file_privately(h)
    other = Person(401, "Bob", "en")
    await h.send(other, "/start")
    await h.press(other, f"fo:{req.id}")
    async with h.app.db.read() as s:
        from storage.models import Follower
        assert (await s.execute(select(Follower))).first() is None


def test_scrub_chinese_and_international_formats():
    for text in ("电话 138 0013 8000", "身份证 33072519800101123X", "+7 912 345-67-89", "1203室", "apt 4B",
                 "кв. 45", "+33 6 12 34 56 78"):
        out, changed = scrub(text)
        assert changed, text
    assert scrub("The lift in building 3 is broken since 2024-05-12") == (
        "The lift in building 3 is broken since 2024-05-12", False)


async def test_a_request_sent_to_the_council_reaches_its_groups_scrubbed(harness: Harness):
    """The proposal drafted from a request copies its description: staff and council groups read
    its public form, the phone and flat number masked (issue #12)."""
    from tests.test_council import COUNCIL_GROUP, council, data, proposal
    from tests.conftest import STAFF_GROUP
    h = harness
    await council(h)
    await file_privately(h, text=f"The lift of {ROOM} is stuck, call {PHONE}")
    await h.deliver()
    await h.press(LEADER, data(await _card(h), "tc:")[0], chat_id=GRID_GROUP)
    await h.deliver()
    p = await proposal(h)
    assert PHONE not in p.text and ROOM not in p.text and PHONE not in p.title
    await h.press(STAFF, f"pp:{p.id}:1", chat_id=STAFF_GROUP)  # open the vote
    await h.deliver()
    for chat in (STAFF_GROUP, COUNCIL_GROUP):
        assert h.texts(chat) and not any(PHONE in t or ROOM in t for t in h.texts(chat)), chat


def test_the_group_scan_finds_private_text_and_numbers():
    """The scan every Harness-based test passes through (tests/conftest.py) flags a contact note,
    a phone number and a flat number sent to a group, and nothing sent privately."""
    from aiogram.methods import SendMessage

    from tests.conftest import group_leaks
    from tests.tg import Sent
    calls = [Sent(SendMessage(chat_id=-1001, text="JMS-0001 · lift broken in building 3 since 2024-05-12")),
             Sent(SendMessage(chat_id=RESIDENT.id, text=f"Your contact: gate code 4711, {PHONE}"))]
    assert group_leaks(calls, {"gate code 4711"}) == []
    calls += [Sent(SendMessage(chat_id=-1001, text="answered: gate code 4711")),
              Sent(SendMessage(chat_id=-1002, text=f"call {PHONE}")),
              Sent(SendMessage(chat_id=-1003, text=f"it is {ROOM}"))]
    leaks = group_leaks(calls, {"gate code 4711"})
    assert len(leaks) == 3 and "-1001" in leaks[0] and "-1002" in leaks[1] and "-1003" in leaks[2]


async def _claimed(h: Harness, **fields: Any):
    """A request filed privately (with `fields` written onto it), accepted and claimed."""
    from sqlalchemy import update

    from storage.models import Request
    from tests.conftest import VOL_GROUP, VOLUNTEER
    from tests.test_requests_flow import CONTACT
    req = await file_privately(h)
    if fields:
        async with h.app.db.write() as s:
            await s.execute(update(Request).where(Request.id == req.id).values(**fields))
    await h.deliver()
    await h.press(LEADER, (await _card(h)).buttons()[0]["callback_data"], chat_id=GRID_GROUP)  # accept
    await h.deliver()
    task = h.session.last_with_button(VOL_GROUP, "tk:")
    await h.press(VOLUNTEER, task.buttons()[0]["callback_data"], chat_id=VOL_GROUP, message_id=task.message_id)
    await h.deliver()
    brief = [c for c in h.session.to(VOLUNTEER.id) if CONTACT in c.text][-1]
    return req, brief


async def test_10_a_released_volunteers_brief_loses_the_contact_note(harness: Harness):
    from tests.conftest import VOLUNTEER
    from tests.test_requests_flow import CONTACT
    h = harness
    await community(h)
    req, brief = await _claimed(h)
    await h.press(VOLUNTEER, f"tk:{req.id}:3")  # release
    await h.deliver()
    edits = [c for c in h.session.to(VOLUNTEER.id) if c.name == "EditMessageText"
             and c.method.message_id == brief.message_id]
    assert edits and CONTACT not in edits[-1].text and "JMS-0001" in edits[-1].text
    assert not edits[-1].buttons()


async def test_10_a_released_volunteer_loses_the_home_photo_and_location(harness: Harness):
    """Photos and the location went to the volunteer who claimed it; released, they are deleted
    from that chat (the next volunteer gets them afresh)."""
    from tests.conftest import VOLUNTEER
    h = harness
    await community(h)
    req, _ = await _claimed(h, photos=["AgAD-home-photo"], latitude=29.31, longitude=120.07)
    sent = {c.name: c.message_id for c in h.session.to(VOLUNTEER.id) if c.name in ("SendPhoto", "SendLocation")}
    assert set(sent) == {"SendPhoto", "SendLocation"}
    await h.press(VOLUNTEER, f"tk:{req.id}:3")  # release
    await h.deliver()
    deleted = {c.method.message_id for c in h.session.calls
               if c.name == "DeleteMessage" and c.chat_id == VOLUNTEER.id}
    assert deleted == set(sent.values())


async def test_10_a_brief_not_sent_yet_is_never_sent_after_release(harness: Harness):
    from tests.conftest import VOL_GROUP, VOLUNTEER
    from tests.test_requests_flow import CONTACT
    h = harness
    await community(h)
    req = await file_privately(h)
    await h.deliver()
    await h.press(LEADER, (await _card(h)).buttons()[0]["callback_data"], chat_id=GRID_GROUP)
    await h.deliver()
    task = h.session.last_with_button(VOL_GROUP, "tk:")
    await h.press(VOLUNTEER, task.buttons()[0]["callback_data"], chat_id=VOL_GROUP, message_id=task.message_id)
    await h.press(VOLUNTEER, f"tk:{req.id}:3")  # released before the outbox ran
    await h.deliver()
    assert not any(CONTACT in c.text for c in h.session.to(VOLUNTEER.id))


async def test_10_exports_leave_restricted_text_out_unless_asked_and_logged(harness: Harness, tmp_path):
    from datetime import date, timedelta

    from bot.cli import parser
    from bot.services.reports import export_csv
    from storage.models import AuditEvent
    h = harness
    await community(h)
    await file_privately(h, text=f"Water leaks from the ceiling, call {PHONE}")
    await h.deliver()
    await h.press(LEADER, (await _card(h)).buttons()[3]["callback_data"], chat_id=GRID_GROUP)  # ask
    await h.send(LEADER, "哪一栋楼？")
    await h.deliver()
    await h.press(RESIDENT, button(h.session.last(RESIDENT.id), "Answer"))
    await h.send(RESIDENT, f"It is {ROOM} in building 7")
    today = date.today()
    span = (today - timedelta(days=1), today + timedelta(days=1))

    def everything(folder) -> str:
        return "".join(p.read_text(encoding="utf-8-sig") for p in sorted(folder.glob("*.csv")))

    await export_csv(h.app.db, "JMS", *span, tmp_path / "plain")
    plain = everything(tmp_path / "plain")
    assert "JMS-0001" in plain and PHONE not in plain and ROOM not in plain
    async with h.app.db.read() as s:
        assert (await s.execute(select(AuditEvent).where(AuditEvent.entity == "export"))).first() is None

    await export_csv(h.app.db, "JMS", *span, tmp_path / "full", include_restricted=True, by="operator")
    full = everything(tmp_path / "full")
    assert PHONE in full and ROOM in full
    async with h.app.db.read() as s:
        [logged] = (await s.execute(select(AuditEvent).where(AuditEvent.entity == "export"))).scalars().all()
    assert logged.action == "export_restricted" and "operator" in logged.note
    args = parser().parse_args(["export", "JMS", "--from", "2026-01-01", "--to", "2026-01-31", "--include-restricted"])
    assert args.include_restricted


async def test_the_writer_is_told_privately_what_the_groups_do_not_read(harness: Harness):
    """Scrubbing shortened the description for the groups: the resident is told so, in English,
    with what was taken out in kind; the group card has neither the number nor the notice."""
    h = harness
    await community(h)
    await file_privately(h, text=f"The lift of {ROOM} is stuck, call {PHONE}")
    await h.deliver()
    [told] = [t for t in h.texts(RESIDENT.id) if "shown in the groups" in t]
    assert "JMS-0001" in told and "a phone number" in told and "a flat or room number" in told
    assert "ID card" not in told
    assert not any("shown in the groups" in t for t in h.texts(GRID_GROUP))


async def test_nothing_is_said_when_nothing_was_taken_out(harness: Harness):
    h = harness
    await community(h)
    await file_privately(h)
    await h.deliver()
    assert not any("shown in the groups" in t for t in h.texts(RESIDENT.id))


async def test_8_a_direction_override_in_a_name_is_stripped_and_the_name_isolated(harness: Harness):
    """A volunteer named "Sam‮gnorw" (U+202E) takes a task: the Chinese volunteer group and the
    English resident read the name without the override, isolated, and our text unreversed."""
    from tests.conftest import VOL_GROUP, invite
    h = harness
    await community(h)
    sam = Person(301, "Sam\u202egnorw", "en", "sam")
    await h.send(sam, f"/start {await invite(h, 'volunteer')}")
    req = await file_privately(h)
    await h.deliver()
    await h.press(LEADER, (await _card(h)).buttons()[0]["callback_data"], chat_id=GRID_GROUP)  # accept
    await h.deliver()
    task = h.session.last_with_button(VOL_GROUP, "tk:")
    h.session.clear()
    await h.press(sam, task.buttons()[0]["callback_data"], chat_id=VOL_GROUP, message_id=task.message_id)
    await h.deliver()
    taken = [t for t in h.texts(VOL_GROUP) if "JMS-0001" in t][-1]
    told = [t for t in h.texts(RESIDENT.id) if "JMS-0001" in t][-1]
    for text in (taken, told):
        assert "\u202e" not in text and "Samgnorw" in text, text
    assert "Volunteer Samgnorw has taken your request" in told


def test_8_user_text_is_isolated_in_every_language_and_overrides_stripped():
    from bot.render import _inserted, _rtl, isolate
    for rtl in (False, True):
        token = _rtl.set(rtl)
        try:
            assert isolate("كريم\u202e") == "\u2068كريم\u2069"  # an Arabic name in English or Chinese too
            assert str(_inserted("<b>كريم\u202d")) == "\u2068&lt;b&gt;كريم\u2069"
            assert isolate("a\u202eb\u2066c") == ("\u2068abc\u2069" if rtl else "abc")
        finally:
            _rtl.reset(token)
