"""Benchmark 5: several webhook workers on PostgreSQL (issue #14), against the local emulator.

1. Update throughput: the same traffic — PEOPLE residents in GROUPS micro-grid groups, each
   filing a request in their group (`/new …`: a request, its number, an answer and a triage card)
   and asking for `/my` in private — pushed by the emulator's webhook delivery (one chat's
   updates one at a time, as Telegram does) to 1 process on SQLite, then 1, 2 and 4 worker
   processes on PostgreSQL, in the same run. Flood limits are off here: this measures handling,
   not Telegram's pacing. Time runs from the first update queued to the last answer arriving.
2. The outbox with 3 workers: 1,000 messages to 50 chats (10 groups, 40 private chats, 20 each)
   written to the outbox of a 3-worker deployment, sent by its leader with the emulator's flood
   limits on; completion against the theoretical minimum under Telegram's limits (30/s per bot,
   1/s per private chat, 20/min per group) and the 429s the emulator answered.

PostgreSQL: the server given with --postgres (or GONGZHI_TEST_POSTGRES), else a throwaway
cluster started here the way tests/run does (initdb in a temporary folder, as the postgres user
when run as root, 127.0.0.1 only, removed at the end), with synchronous_commit=off — the
counterpart of the bot's SQLite setting (WAL, synchronous=NORMAL): a crash may lose the last
commits, never corrupt.

    python -m bench.workers [--people 60] [--groups 15] [--workers 1 2 4] [--postgres URL]
"""
from __future__ import annotations

import asyncio
import glob
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import insert
from sqlalchemy.engine import make_url

from bench.common import parser, print_machine, table, workdir
from bench.delivery import Burst, TEXT, theoretical_minimum
from bot.sandbox import BotAPIEmulator
from storage.db import OUTBOX_CHANNEL, Database
from storage.migrate import upgrade
from storage.models import ChatBinding, ChatKind, Membership, Outbox, Role, User, utcnow

ROOT = Path(__file__).resolve().parent.parent
STEP_TIMEOUT = 600.0  # seconds any one phase may take before the benchmark gives up


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def postgres(url: str | None) -> Iterator[str]:
    """A PostgreSQL server URL (no database): the one given, else a throwaway cluster."""
    if url:
        yield url.rstrip("/")
        return
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: [int(x) for x in p.split("/")[-2].split(".")
                                                                          if x.isdigit()])
    pgbin = bins[-1] if bins else os.path.dirname(shutil.which("initdb") or "/none/initdb")
    if not os.access(os.path.join(pgbin, "initdb"), os.X_OK):
        raise SystemExit("PostgreSQL is not installed (Debian: apt-get install -y postgresql) and --postgres "
                         "was not given")
    root = os.geteuid() == 0
    as_pg = ["runuser", "-u", "postgres", "--"] if root else []  # initdb refuses root
    folder = tempfile.mkdtemp(prefix="gongzhi-bench-pg.")
    if root:
        shutil.chown(folder, "postgres")
    port = _free_port()
    data = os.path.join(folder, "data")
    run = lambda *cmd: subprocess.run([*as_pg, *cmd], check=True, capture_output=True)  # noqa: E731
    try:
        run(f"{pgbin}/initdb", "-D", data, "-A", "trust", "-U", "gongzhi")
        run(f"{pgbin}/pg_ctl", "-D", data, "-l", os.path.join(folder, "log"), "-w", "-o",
            f"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c synchronous_commit=off "
            "-c max_connections=200", "start")
        yield f"postgresql+asyncpg://gongzhi@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_pg, f"{pgbin}/pg_ctl", "-D", data, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


async def _new_database(server: str, name: str) -> str:
    conn = await asyncpg.connect(server.replace("postgresql+asyncpg", "postgresql") + "/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"{server}/{name}"


class Workers:
    """N `gongzhi run --webhook` processes on one database, each on a port of its own; the
    emulator's webhook delivery spreads updates over them like a load balancer."""

    def __init__(self, emu: BotAPIEmulator, url: str, count: int, **env: str) -> None:
        self.emu, self.url, self.count, self.env = emu, url, count, env
        self.ports = [_free_port() for _ in range(count)]
        self.procs: list[asyncio.subprocess.Process] = []

    async def __aenter__(self) -> "Workers":
        self.emu.webhooks.targets = [f"http://127.0.0.1:{p}/webhook" for p in self.ports]
        environ = {**os.environ, "BOT_TOKEN": self.emu.token, "TELEGRAM_API_BASE": self.emu.base_url,
                   "DATABASE_URL": self.url, "LOG_LEVEL": "WARNING", "WEBHOOK_URL": "https://bot.example.org",
                   "WEBHOOK_SECRET": "s3cret", "SWEEP_SECONDS": "3600", **self.env}
        for i, port in enumerate(self.ports):
            self.procs.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot.cli", "run", "--webhook", env={**environ, "WEBHOOK_PORT": str(port)},
                cwd=ROOT))
            await self._listening(port, self.procs[-1])
            if i == 0:
                await asyncio.sleep(1.5)  # the first one takes the lead before the others start
        return self

    async def _listening(self, port: int, proc: asyncio.subprocess.Process) -> None:
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            if proc.returncode is not None:
                raise SystemExit(f"a worker exited with {proc.returncode}")
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
                writer.close()
                return
            except OSError:
                await asyncio.sleep(0.1)
        raise SystemExit("a worker never listened")

    async def __aexit__(self, *exc: object) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def _town(emu: BotAPIEmulator, url: str, people: int, groups: int) -> list[tuple[Any, Any]]:
    """One community, `groups` micro-grids with a bound group each, `people` residents spread over
    them (known to the bot already: the middleware's read-only path)."""
    from bot.services.community import CommunityService

    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    try:
        c, _ = await CommunityService(db).create("Bench Town", admin_id=1, code="BT", locale="en")
        grids = await CommunityService(db).add_grids("BT", [f"G{i}" for i in range(groups)])
        out = []
        now = utcnow()
        async with db.write() as s:
            for i, grid in enumerate(grids):
                members = [emu.add_user(f"R{n}", language_code=("en", "es", "ar", "zh-hans")[n % 4], started=True)
                           for n in range(i, people, groups)]
                group = emu.add_group(grid.name, members=members)
                s.add(ChatBinding(chat_id=group.id, community_id=c.id, kind=ChatKind.GRID, grid_id=grid.id,
                                  locale="en"))
                await s.execute(insert(User), [dict(id=r.id, first_name=r.first_name, language_code=r.language_code,
                                                    started=True, blocked=False, community_id=c.id, created_at=now)
                                               for r in members])
                await s.execute(insert(Membership), [dict(user_id=r.id, community_id=c.id, role=Role.RESIDENT,
                                                          grid_id=grid.id, created_at=now) for r in members])
                out += [(r, group) for r in members]
        return out
    finally:
        await db.dispose()


async def throughput(url: str, workers: int, people: int, groups: int) -> dict[str, Any]:
    async with BotAPIEmulator() as emu:
        emu.flood_limits = False
        cast = await _town(emu, url, people, groups)
        async with Workers(emu, url, workers):
            updates, expected = 2 * len(cast), 3 * len(cast)  # /new: answer + card; /my: the list
            start = time.monotonic()
            for r, group in cast:
                await r.send(f"/new The lamp by the door of {r.first_name} is broken", chat=group)
                await r.send("/my")
            await emu.wait_until(lambda: len(emu.bot_messages()) >= expected, timeout=STEP_TIMEOUT,
                                 description=f"{expected} answers")
            elapsed = time.monotonic() - start
        return {"setup": "SQLite, 1 process" if url.startswith("sqlite") else f"PostgreSQL, {workers} worker(s)",
                "updates": updates, "seconds": elapsed, "per_s": updates / elapsed,
                "messages": len(emu.bot_messages())}


async def outbox(server: str, burst: Burst) -> dict[str, Any]:
    url = await _new_database(server, "bench_outbox")
    await asyncio.to_thread(upgrade, url)
    async with BotAPIEmulator() as emu:
        chats = [emu.add_group(f"网格群{i}").id for i in range(burst.groups)]
        chats += [emu.add_user(f"居民{i}", started=True).id for i in range(burst.privates)]
        targets = {str(c) for c in chats}
        async with Workers(emu, url, 3, DELIVERY_IDLE_SECONDS="0.2"):
            db = Database(url)
            try:
                now = utcnow()
                async with db.write() as s:  # interleaved, as a broadcast to every chat would be
                    await s.execute(insert(Outbox), [dict(chat_id=chat, text=TEXT, method="send", priority=9,
                                                          status="pending", attempts=0, not_before=now, created_at=now)
                                                     for _ in range(burst.per_chat) for chat in chats])
                    from sqlalchemy import text
                    await s.execute(text("SELECT pg_notify(:c, '')"), {"c": OUTBOX_CHANNEL})
            finally:
                await db.dispose()
            start = time.monotonic()
            sent = lambda: [c.timestamp for c in emu.calls if c.method == "sendMessage" and c.ok  # noqa: E731
                            and str(c.params.get("chat_id")) in targets]
            await emu.wait_until(lambda: len(sent()) >= burst.total, timeout=STEP_TIMEOUT,
                                 description="the burst delivered")
            first = min(sent())
            completion = max(sent()) - first
        return {"sent": len(sent()), "completion": completion, "from_commit": max(sent()) - start,
                "minimum": theoretical_minimum(emu.flood, burst), "429": sum(emu.stats.rate_limited.values())}


async def main(people: int, groups: int, counts: list[int], pg: str | None, directory: str | None) -> None:
    print_machine()
    logging.getLogger("aiogram").setLevel(logging.WARNING)
    with postgres(pg or os.environ.get("GONGZHI_TEST_POSTGRES")) as server, workdir(directory) as d:
        where = make_url(server).render_as_string(hide_password=True)
        print(f"PostgreSQL at {where}" + ("" if pg or os.environ.get("GONGZHI_TEST_POSTGRES")
                                          else " (a throwaway cluster, synchronous_commit=off)"))
        print(f"throughput: {people} residents in {groups} groups, each /new in the group and /my in private "
              f"({2 * people} updates, {3 * people} answers); flood limits off")
        rows = []
        runs = [("sqlite", 1)] + [("pg", n) for n in counts]
        for kind, n in runs:
            url = f"sqlite+aiosqlite:///{d / 'workers.db'}" if kind == "sqlite" else \
                await _new_database(server, f"bench_w{n}")
            r = await throughput(url, n, people, groups)
            rows.append([r["setup"], r["updates"], r["seconds"], r["per_s"]])
            print(f"  {r['setup']}: {r['per_s']:.1f} updates/s", flush=True)
        base = next(r[3] for r in rows if r[0].startswith("PostgreSQL"))
        print(table([r + [r[3] / base] for r in rows], ["setup", "updates", "seconds", "updates/s",
                                                         "x PostgreSQL 1 worker"]))
        burst = Burst()
        print(f"\noutbox: {burst.total} messages to {burst.groups} groups and {burst.privates} private chats "
              f"({burst.per_chat} each), 3 workers on PostgreSQL, flood limits on")
        o = await outbox(server, burst)
        print(table([["3 workers (one leader sends)", o["sent"], o["completion"], o["minimum"],
                      o["completion"] / o["minimum"], o["from_commit"], o["429"]]],
                    ["outbox", "sent", "first→last s", "minimum s", "x minimum", "commit→last s", "429s"]))
        print("goal: <= 1.1x minimum, 0 self-caused 429s")


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--people", type=int, default=60)
    p.add_argument("--groups", type=int, default=15)
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    p.add_argument("--postgres", help="a PostgreSQL server URL, e.g. postgresql+asyncpg://user@host:5432")
    a = p.parse_args()
    asyncio.run(main(a.people, a.groups, a.workers, a.postgres, a.dir))
