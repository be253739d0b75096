"""Nothing lost, provably: the durable inbox under kill -9 at the worst moments (polling and
webhook), the lost-tally race, replies that fail after the commit, updates that keep failing,
late button presses, the pacer after a restart, and configuration errors in one line."""
from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiogram.exceptions import TelegramRetryAfter, TelegramServerError
from aiogram.methods import AnswerCallbackQuery, EditMessageText, SendMessage
from sqlalchemy import func, select, update

from bot import inbox
from bot.delivery import Pacer
from bot.sandbox import BotAPIEmulator
from storage.db import Database
from storage.migrate import upgrade
from storage.models import ChatBinding, ChatKind, Inbox, InboxStatus, Outbox, Request, utcnow
from tests.conftest import GRID_GROUP, RESIDENT, STAFF, Harness, community, database_url
from tests.test_council import COUNCIL_GROUP, MEMBERS, council, data, to_council_and_open

ROOT = Path(__file__).resolve().parent.parent


# ----------------------------------------------------------------------------- kill -9, for real

async def _deployment(tmp_path: Path, emu: BotAPIEmulator) -> tuple[str, Any, Any]:
    """A community with a micro-grid whose group is bound, and a resident in that group."""
    from bot.services.community import CommunityService

    url = database_url(tmp_path / "kill.db")
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    c, _ = await CommunityService(db).create("Kill Test", admin_id=999, code="KT", locale="en")
    [grid] = await CommunityService(db).add_grids("KT", ["North"])
    resident = emu.add_user("Rosa", language_code="es")
    group = emu.add_group("North", members=[resident])
    async with db.write() as s:
        s.add(ChatBinding(chat_id=group.id, community_id=c.id, kind=ChatKind.GRID, grid_id=grid.id, locale="en"))
    await db.dispose()
    return url, resident, group


def _start(emu: BotAPIEmulator, url: str, *args: str, crash: str | None = None,
           **env: str) -> Any:
    environ = {**os.environ, "BOT_TOKEN": emu.token, "TELEGRAM_API_BASE": emu.base_url, "DATABASE_URL": url,
               "DELIVERY_IDLE_SECONDS": "0.2", "LOG_LEVEL": "WARNING", **env}
    environ.pop("GONGZHI_CRASH_AT", None)
    if crash:
        environ["GONGZHI_CRASH_AT"] = crash
    return asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "run", *args, env=environ, cwd=ROOT)


async def _stop(proc: Any) -> None:
    if proc.returncode is None:
        proc.send_signal(signal.SIGKILL)
    await proc.wait()


async def _filed_once(url: str, emu: BotAPIEmulator, group: Any) -> None:
    """Exactly one request, numbered once, and its one answer in the group."""
    await emu.wait_until(lambda: [m for m in emu.bot_messages(group) if "KT-0001" in (m.text or "")],
                         timeout=90, description="the answer in the group")
    await emu.wait_idle(quiet=1.0, timeout=60)
    texts = [m.text or "" for m in emu.bot_messages(group)]
    assert len(texts) == len(set(texts)) == 2, texts  # the answer and the triage card, once each
    assert not [m for m in emu.bot_messages(group) if "KT-0002" in (m.text or "")]
    db = Database(url)
    try:
        async with db.read() as s:
            assert (await s.execute(select(func.count()).select_from(Request))).scalar() == 1
            statuses = (await s.execute(select(Inbox.status))).scalars().all()
        assert statuses and set(statuses) == {InboxStatus.DONE}
    finally:
        await db.dispose()


@pytest.mark.parametrize("point", ["inbox.stored", "update.handled", "update.committed"])
async def test_kill_9_while_polling_loses_and_repeats_nothing(tmp_path: Path, point: str):
    async with BotAPIEmulator() as emu:
        url, resident, group = await _deployment(tmp_path, emu)
        marker = tmp_path / "crashed"
        proc = await _start(emu, url, crash=f"{point}:{marker}")
        try:
            await resident.send("/new The stair light on floor 3 is broken", chat=group)
            assert await asyncio.wait_for(proc.wait(), timeout=60) == -signal.SIGKILL
            assert marker.exists()
        finally:
            await _stop(proc)
        proc = await _start(emu, url)
        try:
            await _filed_once(url, emu, group)
        finally:
            await _stop(proc)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _post(port: int, update: dict[str, Any]) -> int | None:
    """Telegram's delivery attempt: the status, or None when the connection died."""
    try:
        async with aiohttp.ClientSession() as http:
            async with http.post(f"http://127.0.0.1:{port}/webhook", json=update,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "s3cret"}) as r:
                return r.status
    except aiohttp.ClientError:
        return None


async def _until_listening(port: int, proc: Any) -> None:
    # Bounded, generously: a cold start imports aiogram's types (seconds of CPU on a busy machine).
    for _ in range(2400):
        if proc.returncode is not None:
            raise AssertionError("the bot exited")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise AssertionError("the webhook server never listened")


@pytest.mark.parametrize("point", ["webhook.stored", "update.handled", "update.committed"])
async def test_kill_9_in_webhook_mode_loses_and_repeats_nothing(tmp_path: Path, point: str):
    """Telegram redelivers only what was not answered 200; what was, the inbox must handle."""
    async with BotAPIEmulator() as emu:
        url, resident, group = await _deployment(tmp_path, emu)
        port = _free_port()
        env = {"WEBHOOK_URL": "https://bot.example.org", "WEBHOOK_SECRET": "s3cret", "WEBHOOK_PORT": str(port)}
        update_json = {"update_id": 5001, "message": {
            "message_id": 77, "date": 0, "text": "/new The stair light on floor 3 is broken",
            "chat": {"id": group.id, "type": "supergroup", "title": "North"},
            "from": {"id": resident.id, "is_bot": False, "first_name": "Rosa", "language_code": "es"},
            "entities": [{"type": "bot_command", "offset": 0, "length": 4}]}}
        marker = tmp_path / "crashed"
        proc = await _start(emu, url, "--webhook", crash=f"{point}:{marker}", **env)
        try:
            await _until_listening(port, proc)
            status = await _post(port, update_json)
            assert await asyncio.wait_for(proc.wait(), timeout=60) == -signal.SIGKILL
        finally:
            await _stop(proc)
        proc = await _start(emu, url, "--webhook", **env)
        try:
            await _until_listening(port, proc)
            if status != 200:  # as Telegram does: not acknowledged, so delivered again
                assert point == "webhook.stored" or status is None
                assert await _post(port, update_json) == 200
            await _filed_once(url, emu, group)
        finally:
            await _stop(proc)


# ----------------------------------------------------------------------------- the lost tally

async def test_a_vote_during_the_tally_edit_in_flight_shows_on_the_post(harness: Harness):
    """The first tally edit is being sent when the second vote replaces it: the post must end
    showing both votes (the in-flight send must not mark the replacement as sent)."""
    h = harness
    await council(h)
    _, p, post = await to_council_and_open(h)
    chen, maria, _ = MEMBERS
    await h.press(chen, data(post, f"vo:{p.id}:")[0], chat_id=COUNCIL_GROUP)
    in_flight, release = asyncio.Event(), asyncio.Event()

    async def hold(method: Any) -> None:
        if isinstance(method, EditMessageText) and method.chat_id == COUNCIL_GROUP and not release.is_set():
            in_flight.set()
            await release.wait()

    h.session.before = hold
    await h.app.delivery.dispatch_due()
    await asyncio.wait_for(in_flight.wait(), timeout=10)
    await h.press(maria, data(post, f"vo:{p.id}:")[0], chat_id=COUNCIL_GROUP)
    release.set()
    await asyncio.gather(*list(h.app.delivery._tasks))
    async with h.app.db.write() as s:  # the tally gap is a pacing choice, not part of this test
        await s.execute(update(Outbox).where(Outbox.status == "pending").values(not_before=utcnow()))
    await h.deliver()
    edits = [c for c in h.session.to(COUNCIL_GROUP) if c.name == "EditMessageText"]
    assert "Turnout: 2 of 3" in edits[-1].text, edits[-1].text


# ----------------------------------------------------------------------------- delivery tells the truth

async def test_a_reply_that_fails_after_the_commit_is_retried_not_denied(harness: Harness):
    h = harness
    await community(h)
    h.session.faults.append(TelegramServerError(method=SendMessage(chat_id=GRID_GROUP, text=""),
                                                message="Internal Server Error"))
    await h.send(RESIDENT, "/new The lift is stuck", chat_id=GRID_GROUP)
    assert h.session.to(GRID_GROUP) == []  # Telegram refused the answer...
    async with h.app.db.write() as s:  # ...and the retry's backoff has passed
        await s.execute(update(Outbox).where(Outbox.status == "pending").values(not_before=utcnow()))
    await h.deliver()
    texts = h.texts(GRID_GROUP)
    assert any("JMS-0001" in t for t in texts), texts
    error = h.app.renderer.render("error", "en", code="internal")
    assert error not in texts, "told 'nothing was changed'"
    async with h.app.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Request))).scalar() == 1


@pytest.mark.fails_on_purpose
async def test_an_update_that_keeps_failing_is_parked_answered_once_and_blocks_nothing(
        harness: Harness, monkeypatch: pytest.MonkeyPatch):
    h = harness
    await community(h)
    monkeypatch.setattr(inbox, "backoff", lambda attempts: timedelta(0))
    real_file = h.app.requests.file

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(h.app.requests, "file", broken)
    filing = h.u.message(RESIDENT, "/new The lift is stuck", chat_id=GRID_GROUP)
    await inbox.store(h.app.db, [filing])
    await h.app.inbox.drain()
    [row] = await inbox.failed(h.app.db)
    assert (row.update_id, row.attempts) == (filing.update_id, inbox.MAX_ATTEMPTS) and "disk on fire" in row.error
    error = h.app.renderer.render("error", "en", code="internal")  # in the sender's language
    assert [t for t in h.texts(GRID_GROUP) if t == error] == [error]  # told once, not per attempt
    later = h.u.message(RESIDENT, "/help")  # the same person's next update is not blocked
    await inbox.store(h.app.db, [later])
    await h.app.inbox.drain()
    assert h.texts(RESIDENT.id), "the later update was not handled"
    monkeypatch.setattr(h.app.requests, "file", real_file)
    assert await inbox.retry(h.app.db) == 1
    await h.app.inbox.drain()
    assert any("JMS-0001" in t for t in h.texts(GRID_GROUP))
    async with h.app.db.read() as s:
        assert (await s.execute(select(func.count()).select_from(Request))).scalar() == 1


async def test_a_press_too_old_for_telegram_is_not_answered_but_its_alert_is_sent(harness: Harness):
    h = harness
    await community(h)
    press = h.u.press(RESIDENT, "tk:999999:0")  # a stale button: answered with an alert
    await inbox.store(h.app.db, [press])
    async with h.app.db.write() as s:  # it waited in the inbox over a restart
        await s.execute(update(Inbox).values(received_at=utcnow() - timedelta(minutes=5)))
    await h.app.inbox.drain()
    assert not [c for c in h.session.calls if isinstance(c.method, AnswerCallbackQuery)]
    assert h.texts(RESIDENT.id), "the alert did not reach the presser"


async def test_a_fresh_press_is_answered_exactly_once(harness: Harness):
    h = harness
    await community(h)
    await h.press(RESIDENT, "tk:999999:0")
    answers = [c for c in h.session.calls if isinstance(c.method, AnswerCallbackQuery)]
    assert len(answers) == 1 and answers[0].method.show_alert


# ----------------------------------------------------------------------------- pacing across restarts

async def test_the_pacer_remembers_the_last_minute_of_sends(tmp_path: Path):
    db = Database(database_url(tmp_path / "p.db"))
    await db.create_all()
    now = utcnow()
    async with db.write() as s:
        for i in range(20):
            s.add(Outbox(chat_id=-100, text=str(i), status="sent", sent_at=now - timedelta(seconds=30 - i)))
        s.add(Outbox(chat_id=42, text="old", status="sent", sent_at=now - timedelta(minutes=5)))
    pacer = Pacer()
    assert await pacer.restore(db) == 20
    import time

    assert pacer.ready_at(-100) > time.monotonic() + 20  # the group's minute is full
    assert pacer.ready_at(42) <= time.monotonic()
    await db.dispose()


async def test_a_429_on_the_retry_pauses_the_chat_too(harness: Harness):
    h = harness
    method = SendMessage(chat_id=RESIDENT.id, text="x")
    h.session.faults += [TelegramRetryAfter(method=method, message="Too Many Requests", retry_after=0),
                         TelegramRetryAfter(method=method, message="Too Many Requests", retry_after=3)]
    with pytest.raises(TelegramRetryAfter):
        await h.bot.send_message(RESIDENT.id, "x")
    import time

    assert h.app.pacer.ready_at(RESIDENT.id) > time.monotonic() + 2


# ----------------------------------------------------------------------------- configuration

@pytest.mark.parametrize("env, says", [
    ({"BOT_TOKEN": ""}, "BOT_TOKEN is not set"),
    ({"BOT_TOKEN": "abc"}, "BOT_TOKEN does not look like a token"),
    ({"DATABASE_URL": "nonsense"}, "is not a database URL"),
    ({"DATABASE_URL": "sqlite+aiosqlite:////no/such/dir/x.db"}, "cannot open the database"),
    ({"DATABASE_URL": "postgresql+asyncpg://u:secret@127.0.0.1:1/db"}, "cannot open the database"),
    ({"TIMEZONE": "Mars/Olympus"}, "is not a known time zone"),
    ({"DEFAULT_LOCALE": "xx"}, "is not one of the shipped languages"),
])
async def test_configuration_errors_are_one_line_and_exit_2(tmp_path: Path, env: dict[str, str], says: str):
    environ = {**os.environ, "BOT_TOKEN": "123:abc", "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
               **env}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "run", env=environ, cwd=tmp_path,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    lines = err.decode().strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and says in lines[0], err.decode()
    assert "secret" not in lines[0]


async def test_an_unknown_revision_is_one_line(tmp_path: Path):
    environ = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "bot.cli", "db", "upgrade", "nonsense",
                                                env=environ, cwd=tmp_path, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 2 and "Traceback" not in err.decode() and len(err.decode().strip().splitlines()) == 1


# ----------------------------------------------------------------------------- priorities per chat

async def test_an_answer_goes_before_the_feed_backlog_and_stale_feed_lines_are_dropped(harness: Harness):
    from tests.conftest import LEADER, STAFF_GROUP

    h = harness
    await community(h)
    for text in ("The lift is stuck", "A bench is broken", "Rubbish by gate 2"):
        await h.send(RESIDENT, f"/new {text}", chat_id=GRID_GROUP)
    async with h.app.db.read() as s:
        first = (await s.execute(select(Request).order_by(Request.id))).scalars().first()
    await h.press(LEADER, f"tr:{first.id}:0", chat_id=GRID_GROUP)  # accepted: a newer line about JMS-0001
    h.session.clear()
    await h.send(STAFF, "/stats", chat_id=STAFF_GROUP)  # the staff group's backlog is still unsent
    sent = h.session.to(STAFF_GROUP)
    assert sent and "JMS-" not in sent[0].text, [c.text for c in sent]  # the answer first
    await h.deliver()
    feed = [c.text for c in h.session.to(STAFF_GROUP) if "JMS-0001" in c.text]
    assert len(feed) == 1, feed  # only the latest state of JMS-0001, not one line per change


async def test_an_edit_that_changes_nothing_is_not_sent(harness: Harness):
    from tests.conftest import STAFF_GROUP

    h = harness
    async with h.app.db.write() as s:
        post = Outbox(chat_id=STAFF_GROUP, text="JMS-0001 · accepted")
        s.add(post)
    await h.deliver()
    async with h.app.db.write() as s:
        s.add(Outbox(chat_id=STAFF_GROUP, method="edit", edit_of=post.id, text="JMS-0001 · claimed"))
        s.add(Outbox(chat_id=STAFF_GROUP, method="edit", edit_of=post.id, text="JMS-0001 · claimed"))
    await h.deliver()
    edits = [c for c in h.session.calls if isinstance(c.method, EditMessageText)]
    assert [c.text for c in edits] == ["JMS-0001 · claimed"]  # the second would be "message is not modified"
    async with h.app.db.read() as s:
        assert (await s.execute(select(func.count()).where(Outbox.status != "sent"))).scalar() == 0
