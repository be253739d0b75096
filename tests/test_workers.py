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

import pytest
from sqlalchemy import func, select

from bot.sandbox.emulator import BotAPIEmulator
from storage.db import Database
from storage.models import Inbox, InboxStatus, Request
from tests.conftest import POSTGRES
from tests.test_inbox import _deployment, _free_port, _start, _stop, _until_listening

pytestmark = pytest.mark.skipif(not POSTGRES, reason="several workers need PostgreSQL (GONGZHI_TEST_POSTGRES)")

WORKERS = 3
PEOPLE = int(os.environ.get("GONGZHI_WORKERS_PEOPLE", "30"))
EACH = 2  # requests filed per person


async def test_three_workers_one_killed_lose_and_repeat_nothing(tmp_path: Path):
    async with BotAPIEmulator() as emu:
        url, first, group = await _deployment(tmp_path, emu)
        residents = [first] + [emu.add_user(f"R{i}", language_code=("en", "es", "ar", "zh-hans")[i % 4])
                               for i in range(1, PEOPLE)]
        group.members.extend(residents[1:])
        ports = [_free_port() for _ in range(WORKERS)]
        emu.webhooks.targets = [f"http://127.0.0.1:{p}/webhook" for p in ports]
        env = {"WEBHOOK_URL": "https://bot.example.org", "WEBHOOK_SECRET": "s3cret", "SWEEP_SECONDS": "3600"}
        procs = [await _start(emu, url, "--webhook", WEBHOOK_PORT=str(p), **env) for p in ports]
        try:
            for p, proc in zip(ports, procs):
                await _until_listening(p, proc)
            sends = [r.send(f"/new Broken lamp {n} near the door of {r.first_name}", chat=group)
                     for n in range(EACH) for r in residents]
            half = len(sends) // 2
            await asyncio.gather(*sends[:half])
            await emu.wait_until(lambda: _numbers(emu, group), timeout=120, description="the first answers")
            os.kill(procs[1].pid, 9)  # in the middle of the traffic
            await procs[1].wait()
            await asyncio.gather(*sends[half:])
            procs[1] = await _start(emu, url, "--webhook", WEBHOOK_PORT=str(ports[1]), **env)
            await _until_listening(ports[1], procs[1])
            total = PEOPLE * EACH
            await emu.wait_until(lambda: len(_numbers(emu, group)) >= total and not emu.updates.pending,
                                 timeout=300, description=f"{total} requests answered")
            await emu.wait_idle(quiet=1.5, timeout=120)
        finally:
            for proc in procs:
                await _stop(proc)

        numbers = _numbers(emu, group)
        assert len(numbers) == total, f"{len(numbers)} of {total} requests"
        texts = [m.text or "" for m in emu.bot_messages(group)]
        assert len(texts) == len(set(texts)), "a message was posted twice"
        numbered = {}  # (person, n) -> request number, from the cards that carry both
        for t in texts:
            if (lamp := re.search(r"Broken lamp (\d+) near the door of (\w+)", t)) and (no := re.search(r"KT-(\d{4})", t)):
                numbered[lamp.group(2), int(lamp.group(1))] = int(no.group(1))
        for r in residents:  # each person's requests were taken in the order they were written
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


def _numbers(emu: BotAPIEmulator, group) -> set[str]:
    return {m for msg in emu.bot_messages(group) for m in re.findall(r"KT-\d{4}", msg.text or "")}
