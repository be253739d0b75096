from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg

import pytest

from bot.app import create_app
from bot.config import Settings
from bot.delivery import Pacer
from storage.models import Outbox
from tests.tg import BOT_ID, BOT_USERNAME, Person, RecordingSession, Updates

from sqlalchemy import select


def unlimited() -> Pacer:
    """Flow tests check behaviour, not pacing (the pacer has its own tests)."""
    return Pacer(private=(10_000, 1.0), group=(10_000, 1.0), overall=(10_000, 1.0))


# The suite runs on SQLite, and again on PostgreSQL when this names a server (`.ci/run` starts one):
# e.g. postgresql+asyncpg://gongzhi@127.0.0.1:55432. Each database file of a test becomes a database.
POSTGRES = os.environ.get("GONGZHI_TEST_POSTGRES", "").rstrip("/")
_created: set[str] = set()


def database_url(path: Path) -> str:
    """A test's database: the SQLite file at `path`, or the PostgreSQL database standing for it."""
    if not POSTGRES:
        return f"sqlite+aiosqlite:///{path}"
    name = "t_" + hashlib.sha1(str(path).encode()).hexdigest()[:20]
    if name not in _created:
        async def create() -> None:
            conn = await asyncpg.connect(POSTGRES.replace("postgresql+asyncpg", "postgresql") + "/postgres")
            try:
                if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
                    await conn.execute(f'CREATE DATABASE "{name}"')
            finally:
                await conn.close()

        with ThreadPoolExecutor(1) as pool:  # its own event loop: callers may be inside one
            pool.submit(asyncio.run, create()).result()
        _created.add(name)
    return f"{POSTGRES}/{name}"


_HARNESSES: list["Harness"] = []  # every Harness made during the current test (see group_leaks)


class Harness:
    """The real Dispatcher and app over a real database (a SQLite file, or PostgreSQL), with a
    recording bot session."""

    def __init__(self, db_path: Path, updates: Updates | None = None) -> None:
        self.settings = Settings(bot_token=f"{BOT_ID}:TEST", database_url=database_url(db_path),
                                 _env_file=None)
        self.session = RecordingSession()
        self.bot, self.dp, self.app = create_app(self.settings, session=self.session, pacer=unlimited())
        self.u = updates or Updates()
        _HARNESSES.append(self)

    async def start(self) -> "Harness":
        await self.app.db.create_all()
        self.app.bot_username = BOT_USERNAME
        self.app.renderer.env.globals["bot_username"] = BOT_USERNAME
        return self

    async def close(self) -> None:
        await self.app.delivery.stop()
        await self.app.db.dispose()

    async def feed(self, update: Any) -> Any:
        return await self.dp.feed_update(self.bot, update)

    async def send(self, who: Person, text: str | None = None, **kw: Any) -> Any:
        return await self.feed(self.u.message(who, text, **kw))

    async def press(self, who: Person, data: str, **kw: Any) -> Any:
        return await self.feed(self.u.press(who, data, **kw))

    async def deliver(self, rounds: int = 50) -> None:
        """Run the outbox loop until nothing due is left."""
        import asyncio

        for _ in range(rounds):
            await self.app.delivery.dispatch_due()
            if self.app.delivery._tasks:
                await asyncio.gather(*list(self.app.delivery._tasks))
                await self.app.delivery.mark_sent()
                continue
            await self.app.delivery.mark_sent()
            async with self.app.db.read() as s:
                pending = (await s.execute(select(Outbox).where(Outbox.status == "pending"))).scalars().all()
            if not pending or all(p.attempts > 0 for p in pending):
                return

    def texts(self, chat_id: int) -> list[str]:
        return [c.text for c in self.session.to(chat_id)]


@pytest.fixture
async def harness(tmp_path: Path):
    h = await Harness(tmp_path / "gongzhi.db").start()
    yield h
    await h.close()


STAFF = Person(100, "王芳", "zh-hans", "wangfang")
LEADER = Person(200, "李强", "zh-CN", "liqiang")
VOLUNTEER = Person(300, "张伟", "zh", "zhangwei")
RESIDENT = Person(400, "Anna", "en", "anna")
LIAISON = Person(500, "赵敏", "zh-hans", "zhaomin")
GRID_GROUP, VOL_GROUP, STAFF_GROUP, COMMUNITY_GROUP = -1001, -1002, -1003, -1004


async def invite(h: Harness, role: str, target: str | None = None) -> str:
    """An invitation made through the staff command, as staff would."""
    h.session.clear()
    await h.send(STAFF, f"/invite {role}" + (f" {target}" if target else ""))
    text = h.session.last(STAFF.id).text
    return text.split("?start=")[1].split()[0]


async def community(h: Harness, *, groups: bool = True) -> dict[str, Any]:
    """Jimingshan, set up the way a community worker would: CLI, then invitations and /bind."""
    c, token = await h.app.communities.create("鸡鸣山社区", admin_id=STAFF.id, code="JMS")
    await h.app.communities.add_grids("JMS", ["一网格", "二网格"])
    await h.send(STAFF, f"/start {token}")
    await h.send(LEADER, f"/start {await invite(h, 'grid_leader', '一网格')}")
    await h.send(VOLUNTEER, f"/start {await invite(h, 'volunteer')}")
    await h.send(LIAISON, f"/start {await invite(h, 'department_liaison', '物业')}")
    await h.send(RESIDENT, f"/start {await invite(h, 'resident')}")
    _, grids = await h.app.communities.list_grids("JMS")
    await h.press(RESIDENT, f"gr:{grids[0].id}")
    if groups:
        for chat, kind in ((GRID_GROUP, "grid 一网格"), (VOL_GROUP, "volunteers"), (STAFF_GROUP, "staff"),
                           (COMMUNITY_GROUP, "community")):
            h.session.admins[chat] = {STAFF.id}
            await h.send(STAFF, f"/bind {kind}", chat_id=chat)
    h.session.clear()
    return {"community": c, "grids": grids}


# ----------------------------------------------------------------- the group scan (issue #12)
# Every message any Harness-based test sent to a group chat is scanned, after the test, for the
# personal data the test used: its contact notes, restricted notes (answers, reopen comments,
# progress notes, decline notes), rating comments and names of residents filed for, read from its
# database; and for phone, ID card and flat numbers anywhere (`bot.privacy.scrub` finds none in
# text that may go public). A test whose flow leaked fails, naming the group and the text.
MIN_SECRET = 6  # shorter private texts ("ok", "yes") would match by chance


def group_texts(calls: list[Any]) -> list[tuple[int, str]]:
    """(chat id, text) of everything sent to a group: messages, captions, edits, polls."""
    out = []
    for c in calls:
        chat = getattr(c.method, "chat_id", None)
        if not isinstance(chat, int) or chat >= 0:
            continue
        texts = [getattr(c.method, "text", None), getattr(c.method, "caption", None),
                 getattr(c.method, "question", None)]
        texts += [o if isinstance(o, str) else getattr(o, "text", "") for o in getattr(c.method, "options", None) or []]
        out += [(chat, t) for t in texts if isinstance(t, str) and t]
    return out


def group_leaks(calls: list[Any], secrets: set[str]) -> list[str]:
    """What reached a group and should not have: a known private text, or a phone, ID or flat number."""
    from bot.privacy import scrub
    from bot.render import plain

    found = []
    for chat, text in group_texts(calls):
        text = plain(text)  # what members read: no tags (a mention's tg://user?id=…), no entities (&#39;)
        hits = [sec for sec in secrets if sec in text]
        if scrub(text)[1]:
            hits.append(f"pattern {scrub(text)[0]!r}")
        found += [f"group {chat} read {hit!r} in {text!r}" for hit in hits]
    return found


async def private_texts(url: str) -> set[str]:
    """The texts of a test's database that may never reach a group."""
    from storage.db import Database
    from storage.models import AuditEvent, Rating, Request

    db = Database(url)
    try:
        async with db.read() as s:
            found: set[str | None] = set()
            for r in (await s.execute(select(Request))).scalars():
                found |= {r.contact_note, r.reason_note, r.on_behalf_name}
            found |= set((await s.execute(select(AuditEvent.note).where(
                # a leader's question is written for the resident, who may have asked in a group and
                # never started the bot: it reaches them there (scrubbed) by design
                AuditEvent.entity == "request", AuditEvent.audience != "public",
                AuditEvent.action != "info_requested"))).scalars())
            found |= set((await s.execute(select(Rating.comment))).scalars())
    except Exception:  # noqa: BLE001 - a test that never created its tables has nothing to leak
        return set()
    finally:
        await db.dispose()
    return {t.strip() for t in found if t and len(t.strip()) >= MIN_SECRET}


def _secrets_of(h: Harness) -> set[str]:
    with ThreadPoolExecutor(1) as pool:  # its own event loop: the test's may be closed or running
        return pool.submit(asyncio.run, private_texts(h.settings.database_url)).result()


# ----------------------------------------------------------------- the generic error (issue #15, item 21)
# "Sorry, something went wrong" is for the truly unexpected: an update whose handling raised anything
# but a domain error (logged by the inbox middleware or the errors router) fails the test that caused
# it, unless the test provokes one on purpose (crash points, injected exceptions).
class _UpdateFailures(logging.Handler):
    LOGGERS = ("bot.middlewares", "handlers.errors")

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name in self.LOGGERS:
            exc = record.exc_info[1] if record.exc_info else None
            self.seen.append(f"{record.getMessage()}: {type(exc).__name__}: {exc}" if exc else record.getMessage())


_FAILURES = _UpdateFailures()
logging.getLogger().addHandler(_FAILURES)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: Any) -> None:
    _HARNESSES.clear()
    _FAILURES.seen.clear()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: Any):
    outcome = yield
    if outcome.excinfo is not None:
        return
    if _FAILURES.seen and not item.get_closest_marker("fails_on_purpose"):
        outcome.force_exception(AssertionError("an update failed (users get the generic error):\n"
                                               + "\n".join(_FAILURES.seen[:10])))
        return
    if item.get_closest_marker("leaks_on_purpose"):
        return
    leaks = [leak for h in list(_HARNESSES) for leak in group_leaks(h.session.calls, _secrets_of(h))]
    if leaks:
        outcome.force_exception(AssertionError("personal data reached a group chat:\n" + "\n".join(leaks[:10])))


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "leaks_on_purpose: the test sends personal data to a group to check the scan")
    config.addinivalue_line("markers", "fails_on_purpose: the test makes an update fail (the generic error is expected)")


async def caught_up(scheduler: asyncio.Task, ready: asyncio.Event) -> None:
    """Wait until the scheduler's catch-up sweep has run (`start_scheduler(app, ready)`); a scheduler
    that died first fails the test with its error instead of hanging it."""
    waiting = asyncio.ensure_future(ready.wait())
    await asyncio.wait({waiting, scheduler}, return_when=asyncio.FIRST_COMPLETED)
    if not waiting.done():
        waiting.cancel()
        scheduler.result()  # raises what stopped it
        raise AssertionError("the scheduler stopped before its catch-up sweep")
