"""Issue #11 item 5, a lean update path: the directory (communities, grids, chat bindings,
memberships) comes from an in-process cache that every change invalidates — in this process and,
through the directory's version row, in every other process on the same database — and a
read-only update costs a few statements and its inbox mark as its only write.

Counts, not timings: the statements a /help and a button press issue are counted on the engines."""
from __future__ import annotations

import pytest
from sqlalchemy import delete, select

from bench.updates import SqlCounter
from bot.inbox import store
from storage.db import Database
from storage.models import DirectoryVersion, FsmRecord, Inbox, Membership, Role
from tests.conftest import GRID_GROUP, POSTGRES, RESIDENT, VOLUNTEER, Harness, community


def refused(h: Harness) -> str:
    return h.app.renderer.render("error", "zh_Hans", code="volunteers_only")


async def _revoke(db: Database, user_id: int, role: Role) -> None:
    async with db.write() as s:  # a bulk statement: the invalidation must see it too
        await s.execute(delete(Membership).where(Membership.user_id == user_id, Membership.role == role))


async def _grant(db: Database, user_id: int, community_id: int, role: Role) -> None:
    async with db.write() as s:  # an ORM flush
        s.add(Membership(user_id=user_id, community_id=community_id, role=role))


async def test_a_revoked_or_granted_role_takes_effect_on_the_next_update(harness: Harness):
    h = harness
    info = await community(h)
    await h.send(VOLUNTEER, "/tasks")
    assert h.session.last(VOLUNTEER.id).text != refused(h)
    await h.send(VOLUNTEER, "/tasks")  # served from the cache now
    assert h.app.db.directory.hits > 0
    await _revoke(h.app.db, VOLUNTEER.id, Role.VOLUNTEER)
    await h.send(VOLUNTEER, "/tasks")
    assert h.session.last(VOLUNTEER.id).text == refused(h)
    await _grant(h.app.db, VOLUNTEER.id, info["community"].id, Role.VOLUNTEER)
    await h.send(VOLUNTEER, "/tasks")
    assert h.session.last(VOLUNTEER.id).text != refused(h)


async def test_a_change_made_by_another_process_takes_effect_on_the_next_update(harness: Harness):
    """Another worker (or a CLI command) on the same database: a Database object of its own, with
    its own cache. (On PostgreSQL this is two workers sharing one server.)"""
    h = harness
    info = await community(h)
    other = Database(h.settings.database_url)
    try:
        await h.send(VOLUNTEER, "/tasks")
        assert h.session.last(VOLUNTEER.id).text != refused(h)
        await _revoke(other, VOLUNTEER.id, Role.VOLUNTEER)
        assert h.app.db.directory.version is not None
        async with other.read() as s:  # the other process's change moved the version
            assert (await s.get(DirectoryVersion, 1)).version > h.app.db.directory.version
        await h.send(VOLUNTEER, "/tasks")
        assert h.session.last(VOLUNTEER.id).text == refused(h)
        await _grant(other, VOLUNTEER.id, info["community"].id, Role.VOLUNTEER)
        await h.send(VOLUNTEER, "/tasks")
        assert h.session.last(VOLUNTEER.id).text != refused(h)
    finally:
        await other.dispose()


async def test_a_rolled_back_change_leaves_the_cache_and_the_version_alone(harness: Harness):
    h = harness
    info = await community(h)
    async with h.app.db.read() as s:
        before = (await s.get(DirectoryVersion, 1)).version
    generation = h.app.db.directory.generation
    try:
        async with h.app.db.write() as s:
            s.add(Membership(user_id=RESIDENT.id, community_id=info["community"].id, role=Role.VOLUNTEER))
            await s.flush()
            raise RuntimeError("no")
    except RuntimeError:
        pass
    async with h.app.db.read() as s:
        assert (await s.get(DirectoryVersion, 1)).version == before
        assert not (await s.execute(select(Membership).where(Membership.user_id == RESIDENT.id,
                                                             Membership.role == Role.VOLUNTEER))).first()
    assert h.app.db.directory.generation == generation


@pytest.mark.skipif(bool(POSTGRES), reason="SQLite's counts: on PostgreSQL an update also takes the person's "
                    "lock (two statements) and the delivery loop writes the sent marks on its own")
async def test_help_and_a_button_press_cost_few_statements_and_one_write(harness: Harness):
    h = harness
    await community(h)
    await h.send(RESIDENT, "/help")  # the first time fills the caches
    await h.press(RESIDENT, "tr:999999:0", chat_id=GRID_GROUP)
    await h.deliver()  # the outbox loop's first round: it knows what waits where
    help_update, press_update = h.u.message(RESIDENT, "/help"), h.u.press(RESIDENT, "tr:999999:0", chat_id=GRID_GROUP)
    await store(h.app.db, [help_update, press_update])  # as polling or the webhook stores them
    async with h.app.db.read() as s:
        rows = {r.update_id: r for r in (await s.execute(select(Inbox))).scalars()}
    count = SqlCounter(h.app.db)
    try:
        await h.dp.feed_update(h.bot, help_update, inbox=rows[help_update.update_id])  # as the inbox worker
        help_statements, help_writes = list(count.log), count.writes
        count.reset()
        await h.dp.feed_update(h.bot, press_update, inbox=rows[press_update.update_id])  # a stale press
        press_statements, press_writes = list(count.log), count.writes
    finally:
        count.close()
    assert "/help" not in h.session.last(RESIDENT.id).text  # it was answered (not echoed)
    # /help: the user with the directory's version and the conversation state (one statement), the reply's outbox row and
    # the inbox mark; nothing else waits in the chat, so its line is not read before the reply goes.
    # The press: the user, the request it names and the inbox mark. Either may also carry earlier
    # replies' "sent" marks (one statement), once they have waited a moment. Nothing of the
    # directory is read; one write transaction each.
    assert not [s for s in help_statements if "memberships" in s or "communities" in s or "chat_bindings" in s], \
        help_statements
    assert not [s for s in help_statements + press_statements if "fsm_states" in s], help_statements
    assert len(help_statements) <= 4, help_statements
    assert not [s for s in help_statements if s.startswith("SELECT outbox")], help_statements
    assert help_writes == 1, help_statements
    assert not [s for s in press_statements if "memberships" in s or "communities" in s or "chat_bindings" in s], \
        press_statements
    assert len(press_statements) <= 4, press_statements
    assert press_writes == 1, press_statements


async def test_a_conversation_step_writes_its_state_once(harness: Harness):
    """The state moves with the update's one write, as one upsert (not a read and a write for the
    state and again for the data), and is not read again: the update remembers it."""
    h = harness
    await community(h)
    await h.send(RESIDENT, "/new")
    count = SqlCounter(h.app.db)
    try:
        await h.press(RESIDENT, "ct:0")  # a category: the conversation moves to the description
    finally:
        count.close()
    state = [s for s in count.log if "fsm_states" in s]
    writes = [s for s in state if not s.startswith("SELECT")]
    assert len(writes) == 1 and writes[0].startswith("INSERT INTO fsm_states"), count.log
    # Never read on its own: the update's first statement reads it with the person's row (PostgreSQL
    # too, where no cache is kept across updates: several workers).
    assert len(state) == len(writes), count.log
    async with h.app.db.read() as s:  # the stored state is the step's
        rows = (await s.execute(select(FsmRecord).where(FsmRecord.key.like(f"%:{RESIDENT.id}:%")))).scalars().all()
    assert [(r.state, r.data.get("category")) for r in rows] == [("Intake:description", "repair")], rows
