"""Several webhook workers on one PostgreSQL database, for real: three `gongzhi run --webhook`
processes behind the emulator's webhook delivery (it stands in for Telegram and a load balancer),
one of them killed with SIGKILL in the middle of the traffic and started again.

Nothing may be lost or done twice: every request filed exactly once with its own number, each
answer and triage card posted once, each person's messages handled in order, and no 429 that
our own pacing caused (the leader paces for the bot as a whole)."""
from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from bot.leader import LEADER_LOCK

from bot.sandbox.emulator import BotAPIEmulator
from storage.db import Database
from storage.migrate import upgrade
from storage.models import ChatBinding, ChatKind, Inbox, InboxStatus, Request
from tests.conftest import POSTGRES, database_url
from tests.test_inbox import _free_port, _start, _stop, _until_listening

pytestmark = pytest.mark.skipif(not POSTGRES, reason="several workers need PostgreSQL (GONGZHI_TEST_POSTGRES)")

WORKERS = 3
PEOPLE = int(os.environ.get("GONGZHI_WORKERS_PEOPLE", "30"))
EACH = 2  # requests filed per person


GROUPS = 6  # micro-grids, each with its group: a group takes 20 messages a minute


async def _deployment(tmp_path: Path, emu: BotAPIEmulator) -> tuple[str, list[tuple[Any, Any]]]:
    """A community with GROUPS micro-grids, each group bound, PEOPLE residents spread over them."""
    from bot.services.community import CommunityService

    url = database_url(tmp_path / "workers.db")
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    c, _ = await CommunityService(db).create("Workers Test", admin_id=999, code="KT", locale="en")
    grids = await CommunityService(db).add_grids("KT", [f"G{i}" for i in range(GROUPS)])
    people = []
    for i, grid in enumerate(grids):
        members = [emu.add_user(f"R{n}", language_code=("en", "es", "ar", "zh-hans")[n % 4])
                   for n in range(i, PEOPLE, GROUPS)]
        group = emu.add_group(grid.name, members=members)
        async with db.write() as s:
            s.add(ChatBinding(chat_id=group.id, community_id=c.id, kind=ChatKind.GRID, grid_id=grid.id, locale="en"))
        people += [(r, group) for r in members]
    await db.dispose()
    return url, people


async def _leader_count(url: str) -> int:
    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        return await conn.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 "
                                   "AND objid = $2 AND granted", *LEADER_LOCK)
    finally:
        await conn.close()


async def test_three_workers_one_killed_lose_and_repeat_nothing(tmp_path: Path):
    async with BotAPIEmulator() as emu:
        url, people = await _deployment(tmp_path, emu)
        groups = list({id(g): g for _, g in people}.values())
        ports = [_free_port() for _ in range(WORKERS)]
        emu.webhooks.targets = [f"http://127.0.0.1:{p}/webhook" for p in ports]
        env = {"WEBHOOK_URL": "https://bot.example.org", "WEBHOOK_SECRET": "s3cret", "SWEEP_SECONDS": "3600"}
        procs = [await _start(emu, url, "--webhook", WEBHOOK_PORT=str(ports[0]), **env)]
        try:
            await _until_listening(ports[0], procs[0])
            for _ in range(600):  # the first worker leads (sends the outbox); the others join it
                if await _leader_count(url) == 1:
                    break
                await asyncio.sleep(0.05)
            procs += [await _start(emu, url, "--webhook", WEBHOOK_PORT=str(p), **env) for p in ports[1:]]
            for p, proc in zip(ports, procs):
                await _until_listening(p, proc)
            sends = [r.send(f"/new Broken lamp {n} near the door of {r.first_name}", chat=g)
                     for n in range(EACH) for r, g in people]
            half = len(sends) // 2
            await asyncio.gather(*sends[:half])
            await emu.wait_until(lambda: _numbers(emu, groups), timeout=120, description="the first answers")
            os.kill(procs[1].pid, 9)  # a worker that is not the leader, in the middle of the traffic
            await procs[1].wait()
            await asyncio.gather(*sends[half:])
            procs[1] = await _start(emu, url, "--webhook", WEBHOOK_PORT=str(ports[1]), **env)
            await _until_listening(ports[1], procs[1])
            total = PEOPLE * EACH
            # Every request answered and its triage card posted: two messages each.
            await emu.wait_until(lambda: len(emu.bot_messages()) >= 2 * total and not emu.updates.pending,
                                 timeout=600, description=f"{total} requests answered")
            await emu.wait_idle(quiet=1.5, timeout=120)
        finally:
            for proc in procs:
                await _stop(proc)

        assert len(_numbers(emu, groups)) == total, f"{len(_numbers(emu, groups))} of {total} requests"
        texts = [m.text or "" for g in groups for m in emu.bot_messages(g)]
        assert len(texts) == 2 * total and len(set(texts)) == len(texts), "a message lost or posted twice"
        numbered = {}  # (person, n) -> request number, from the cards that carry both
        for t in texts:
            if (lamp := re.search(r"Broken lamp (\d+) near the door of (\w+)", t)) and (no := re.search(r"KT-(\d{4})", t)):
                numbered[lamp.group(2), int(lamp.group(1))] = int(no.group(1))
        for r, _ in people:  # each person's requests were taken in the order they were written
            order = [numbered.get((r.first_name, n)) for n in range(EACH)]
            assert None not in order and order == sorted(order), (r.first_name, order)
        assert not emu.stats.flood_refusals, f"self-caused 429s: {emu.stats.flood_refusals}"
        db = Database(url)
        try:
            async with db.read() as s:
                assert (await s.execute(select(func.count()).select_from(Request))).scalar() == total
                statuses = set((await s.execute(select(Inbox.status))).scalars())
            assert statuses == {InboxStatus.DONE}
        finally:
            await db.dispose()
        served = {u for _, u, status in emu.webhooks.attempts if status == 200}
        assert len(served) == WORKERS, f"the load balancer reached {served}"


def _numbers(emu: BotAPIEmulator, groups: list[Any]) -> set[str]:
    return {m for g in groups for msg in emu.bot_messages(g) for m in re.findall(r"KT-\d{4}", msg.text or "")}
