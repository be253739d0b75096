"""Benchmark 1: update handling through the real Dispatcher, against a bare-aiogram floor.

A realistic mixed stream (new-request conversations, triage presses, claims, group chatter,
/my, /help, /tasks, stale buttons) goes through the real Dispatcher with all our middlewares
and a SQLite file; Telegram is the tests' RecordingSession and the pacer is unlimited. The
floor is a bare aiogram Dispatcher (same session) whose one handler does one SQLite insert per
update on the same SQLAlchemy async stack and SQLite driver (file database, WAL); the "aiosqlite floor"
is the same on aiosqlite, as the floor was first measured (issue #11). All are fed the same stream
sequentially and with bounded concurrency (as polling with handle_as_tasks does).

Every run is repeated `--rounds` times, interleaved (ours, then both floors, sequentially and then
with 8 in flight, round after round); the throughput ratio is computed within each round and the
median of the rounds' ratios is the figure, since the floors alone move by a third between runs here.
A last sequential run of ours counts Python function calls per update under a profiler: a proxy of
CPU that does not move with the machine's load.

    python -m bench.updates [--updates 2000] [--concurrency 8] [--residents 200] [--rounds 3]
"""
from __future__ import annotations

import asyncio
import cProfile
import itertools
import pstats
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiogram import Bot, Dispatcher
from aiogram.types import CallbackQuery, Message, Update
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, event, insert, select

from bench.common import (Harness, community, median, parser, pct, print_machine, residents, add_residents,
                          table, workdir)
from bot.inbox import person_of, row_for, store
from bot.services.context import load_actor
from bot.services.requests import Draft
from storage.db import Database
from storage.models import Inbox, User, utcnow
from tests.conftest import COMMUNITY_GROUP, GRID_GROUP, LEADER, VOL_GROUP, VOLUNTEER
from tests.tg import BOT_ID, Person, RecordingSession, Updates

# Share of each kind in the stream (a conversation contributes its 8 steps as "conversation").
MIX = {"conversation": 0.40, "chatter": 0.20, "my": 0.10, "help": 0.07, "triage": 0.08, "claim": 0.08,
       "tasks": 0.04, "stale": 0.03}
CONVERSATION = 8  # /new, category, description, skip photos, skip location, grid, contact, confirm
ACTIVE = 24  # conversations under way at once: a user never has two updates in one window of 8


@dataclass
class Plan:
    """What the stream needs to exist beforehand."""

    updates: int
    residents: int

    def count(self, kind: str) -> int:
        return int(self.updates * MIX[kind]) + 1


def stream(plan: Plan, people: list[Person], grid_id: int, to_triage: list[int], to_claim: list[int],
           seed: int = 1) -> list[tuple[str, Update]]:
    """The updates, in arrival order, each with its kind."""
    rng = random.Random(seed)
    u = Updates()
    talkers, others = people[: len(people) // 2], people[len(people) // 2:]
    next_talker = itertools.cycle(talkers)
    active = [[next(next_talker), 0] for _ in range(min(ACTIVE, len(talkers)))]
    slot = itertools.count()
    triage, claims = iter(to_triage), iter(to_claim)
    kinds, weights = zip(*MIX.items())
    out: list[tuple[str, Update]] = []
    while len(out) < plan.updates:
        kind = rng.choices(kinds, weights)[0]
        if kind == "conversation":
            conv = active[next(slot) % len(active)]
            who, step = conv
            out.append((kind, _step(u, who, step, grid_id)))
            conv[1] += 1
            if conv[1] == CONVERSATION:
                conv[:] = [next(next_talker), 0]
        elif kind == "chatter":
            out.append((kind, u.message(rng.choice(others), "楼下的快递柜又满了，有人知道几点清吗？",
                                        chat_id=COMMUNITY_GROUP)))
        elif kind == "my":
            out.append((kind, u.message(rng.choice(others), "/my")))
        elif kind == "help":
            out.append((kind, u.message(rng.choice(others), "/help")))
        elif kind == "tasks":
            out.append((kind, u.message(VOLUNTEER, "/tasks")))
        elif kind == "stale":
            out.append((kind, u.press(rng.choice(others), "tr:999999:0", chat_id=GRID_GROUP)))
        elif kind == "triage" and (req := next(triage, None)) is not None:
            out.append((kind, u.press(LEADER, f"tr:{req}:0", chat_id=GRID_GROUP)))
        elif kind == "claim" and (req := next(claims, None)) is not None:
            out.append((kind, u.press(VOLUNTEER, f"tk:{req}:0", chat_id=VOL_GROUP)))
    return out


def _step(u: Updates, who: Person, step: int, grid_id: int) -> Update:
    return [
        lambda: u.message(who, "/new"),
        lambda: u.press(who, "ct:0"),
        lambda: u.message(who, "3号楼2单元的楼道灯坏了一个星期了，晚上很黑，老人上下楼不安全。"),
        lambda: u.press(who, "sk"),
        lambda: u.press(who, "sk"),
        lambda: u.press(who, f"ig:{grid_id}"),
        lambda: u.message(who, "2单元502，电话13800001234"),
        lambda: u.press(who, "cf"),
    ][step]()


class SqlCounter:
    """SQL statements (their first lines, in `log`) and write transactions (SQLite's BEGIN IMMEDIATE) on a
    Database's engines. `tests/test_lean.py` counts with it too."""

    def __init__(self, db: Database) -> None:
        self.log: list[str] = []
        self.writes = 0
        self._engines = {db.write_engine, db.read_engine}
        for engine in self._engines:
            event.listen(engine.sync_engine, "before_cursor_execute", self._on)
        self._writer = db.write_engine if db.is_sqlite else None  # SQLite: its every BEGIN is IMMEDIATE
        if self._writer is not None:
            event.listen(self._writer.sync_engine, "begin", self._on_begin)

    @property
    def statements(self) -> int:
        return len(self.log)

    def _on(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if not statement.lstrip()[:16].upper().startswith(("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")):
            self.log.append(statement.split("\n")[0][:100])

    def _on_begin(self, conn: Any) -> None:
        self.writes += 1

    def reset(self) -> None:
        self.log.clear()
        self.writes = 0

    def close(self) -> None:
        for engine in self._engines:
            event.remove(engine.sync_engine, "before_cursor_execute", self._on)
        if self._writer is not None:
            event.remove(self._writer.sync_engine, "begin", self._on_begin)


async def run_stream(feed, updates: list[tuple[str, Update]], concurrency: int,
                     counter: SqlCounter | None = None, calls: bool = False) -> dict[str, Any]:
    """Feed updates with at most `concurrency` in flight; per-update latency and totals, and
    (sequentially, with a counter) SQL statements and write transactions per kind of update. With
    `calls`, under a profiler that counts Python function calls (its times are not the run's)."""
    latencies: list[float] = []
    by_kind: dict[str, list[float]] = {}
    sql: dict[str, list[tuple[int, int]]] = {}
    errors = 0
    it = iter(updates)

    async def worker() -> None:
        nonlocal errors
        for kind, upd in it:
            t0 = time.perf_counter()
            before = (counter.statements, counter.writes) if counter else (0, 0)
            try:
                await feed(upd)
            except Exception:
                errors += 1
            latencies.append(time.perf_counter() - t0)
            by_kind.setdefault(kind, []).append(latencies[-1])
            if counter is not None and concurrency == 1:
                sql.setdefault(kind, []).append((counter.statements - before[0], counter.writes - before[1]))

    profile = cProfile.Profile() if calls else None
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if profile is not None:
        profile.enable()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if profile is not None:
        profile.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    n = len(updates)
    return {"n": n, "wall": wall, "rate": n / wall, "p50_ms": median(latencies) * 1000,
            "p99_ms": pct(latencies, 99) * 1000, "cpu_ms": cpu / n * 1000, "errors": errors,
            "kind_ms": {k: median(v) * 1000 for k, v in by_kind.items()}, "sql": sql,
            "calls": pstats.Stats(profile).total_calls / n if profile is not None else None}


def as_polled(updates: list[tuple[str, Update]]) -> dict[int, dict[str, Any]]:
    """The stream's updates as JSON, as Telegram sends them (and the inbox stores them): each run
    validates them with its bot, as aiogram's polling and the inbox worker do."""
    return {upd.update_id: row_for(upd)["payload"] for _, upd in updates}


def _handled_from_inbox(h: Harness, payloads: dict[int, dict[str, Any]]):
    """Handling as the inbox worker does it (`bot.inbox`), the row already stored (the inbox's own
    cost left out)."""
    def feed(upd: Update):
        row = Inbox(update_id=upd.update_id, person=person_of(upd), payload={}, received_at=utcnow())
        return h.dp.feed_update(h.bot, Update.model_validate(payloads[upd.update_id], context={"bot": h.bot}),
                                inbox=row)
    return feed


async def through_inbox(h: Harness, updates: list[tuple[str, Update]], batch: int) -> dict[str, Any]:
    """The polling path: each batch stored in one transaction, then handled by the inbox worker
    (each person's in order, different people at once)."""
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(0, len(updates), batch):
        await store(h.app.db, [u for _, u in updates[i:i + batch]])
        await h.app.inbox.drain()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    n = len(updates)
    return {"n": n, "wall": wall, "rate": n / wall, "p50_ms": 0.0, "p99_ms": 0.0, "cpu_ms": cpu / n * 1000,
            "errors": 0, "kind_ms": {}, "sql": {}}


# ------------------------------------------------------------------------------------ ours
async def ours(path: Path, plan: Plan, concurrency: int, warmup: int,
               inbox_batch: int = 0, calls: bool = False, count: bool = False) -> tuple[dict[str, Any], Counter[str]]:
    """Ours, fed as the inbox worker feeds (concurrency > 0), or through the inbox (inbox_batch > 0);
    with `calls`, counting Python function calls (see `run_stream`); with `count`, SQL statements
    and write transactions per kind of update (the counter's engine events cost time: timed runs
    go without it, as the floors do)."""
    h = await Harness(path).start()
    try:
        info = await community(h)
        grid = info["grids"][0].id
        people = residents(plan.residents)
        await add_residents(h, people, info["community"].id, grid)
        to_triage, to_claim = await _pools(h, people, grid, plan.count("triage") + warmup, plan.count("claim") + warmup)
        await h.deliver()  # the setup's notifications: the stream starts with nothing queued
        updates = stream(Plan(plan.updates + warmup, plan.residents), people, grid, to_triage, to_claim)
        for _, upd in updates[:warmup]:
            await h.feed(upd)
        h.session.clear()
        timed = updates[warmup:]
        if inbox_batch:
            result = await through_inbox(h, timed, inbox_batch)
        else:
            result = await run_stream(_handled_from_inbox(h, as_polled(timed)), timed, concurrency,
                                      SqlCounter(h.app.db) if count else None, calls=calls)
        result["api_calls"] = len(h.session.calls)
        return result, Counter(kind for kind, _ in timed)
    finally:
        await h.close()


async def _pools(h: Harness, people: list[Person], grid: int, n_triage: int, n_claim: int) -> tuple[list[int], list[int]]:
    """Requests waiting for triage (for the leader's presses) and accepted ones (for claims)."""
    async with h.app.db.read() as s:
        leader = await load_actor(s, await s.get(User, LEADER.id), LEADER.id, "zh_Hans", h.app.renderer.locales)
        actors = [await load_actor(s, await s.get(User, p.id), p.id, "zh_Hans", h.app.renderer.locales)
                  for p in people[len(people) // 2:][:50]]
    ids = []
    for i in range(n_triage + n_claim):
        v = await h.app.requests.file(actors[i % len(actors)], Draft(description=f"电梯异响 #{i}", category=None,
                                                                     grid_id=grid))
        ids.append(v.req.id)
    for req in ids[n_triage:]:
        await h.app.requests.accept(leader, req)
    return ids[:n_triage], ids[n_triage:]


# ----------------------------------------------------------------------------------- floor
async def floor(path: Path, plan: Plan, concurrency: int, warmup: int, inline: bool = True) -> dict[str, Any]:
    db = Database(f"sqlite+aiosqlite:///{path}", inline_sqlite=inline)
    meta = MetaData()
    seen = Table("seen", meta, Column("id", Integer, primary_key=True), Column("update_id", BigInteger),
                 Column("kind", String))
    async with db.write_engine.begin() as conn:
        await conn.run_sync(meta.create_all)

    async def one_insert(event: Message | CallbackQuery) -> None:
        async with db.write() as s:
            await s.execute(insert(seen).values(update_id=event.from_user.id, kind=type(event).__name__))

    dp = Dispatcher()
    dp.message.register(one_insert)
    dp.callback_query.register(one_insert)
    bot = Bot(f"{BOT_ID}:TEST", session=RecordingSession())
    people = residents(plan.residents)
    updates = stream(Plan(plan.updates + warmup, plan.residents), people, 1,
                     list(range(1, 10 ** 6)), list(range(1, 10 ** 6)))
    try:
        for _, upd in updates[:warmup]:
            await dp.feed_update(bot, upd)
        payloads = as_polled(updates[warmup:])
        result = await run_stream(lambda upd: dp.feed_update(bot, Update.model_validate(
            payloads[upd.update_id], context={"bot": bot})), updates[warmup:], concurrency)
        async with db.read() as s:
            result["rows"] = len((await s.execute(select(seen.c.id))).all())
        return result
    finally:
        await db.dispose()


async def main(updates: int, concurrency: int, residents_n: int, warmup: int, directory: str | None,
               rounds: int = 1) -> dict:
    """Ours and both floors, sequentially and with `concurrency` in flight, `rounds` times over,
    interleaved: the floors move by a third between runs on a shared machine, so each round's
    ratio compares runs made a minute apart, and the median of the rounds' ratios is the figure."""
    print_machine()
    plan = Plan(updates, residents_n)
    results: dict[str, dict[str, Any]] = {}
    ratios: dict[str, list[tuple[float, float]]] = {}
    mix: Counter[str] = Counter()
    labels = ("sequential", f"concurrent x{concurrency}")
    with workdir(directory) as d:
        for n in range(rounds):
            for label, c in zip(labels, (1, concurrency)):
                mine, mix = await ours(d / f"ours-{c}-{n}.db", plan, c, warmup)
                fast = await floor(d / f"floor-{c}-{n}.db", plan, c, warmup)
                slow = await floor(d / f"floor-a{c}-{n}.db", plan, c, warmup, inline=False)
                ratios.setdefault(label, []).append((mine["rate"] / slow["rate"], mine["cpu_ms"] / slow["cpu_ms"]))
                for name, r in ((f"ours {label}", mine), (f"floor {label}", fast), (f"aiosqlite floor {label}", slow)):
                    r["round"] = n + 1
                    results.setdefault(name, r)  # the first round's run, with its times per kind
                    results.setdefault(f"{name} (rounds)", {"runs": []})["runs"].append(r)
        results["ours through the inbox"], _ = await ours(d / "ours-inbox.db", plan, 0, warmup, inbox_batch=20)
        results["ours, counting statements"], _ = await ours(d / "ours-sql.db", plan, 1, warmup, count=True)
        results["ours, counting calls"], _ = await ours(d / "ours-calls.db", plan, 1, warmup, calls=True)
    print(f"\nstream: {updates} updates after {warmup} warm-up, {rounds} round(s); mix {dict(mix)}")
    rows = [[name, r["round"], r["n"], r["rate"], r["p50_ms"], r["p99_ms"], r["cpu_ms"], r["errors"]]
            for key, runs in results.items() if key.endswith("(rounds)")
            for name in [key.removesuffix(" (rounds)")] for r in runs["runs"]]
    rows.append(["ours through the inbox", 1, *(results["ours through the inbox"][k] for k in
                                                 ("n", "rate", "p50_ms", "p99_ms", "cpu_ms", "errors"))])
    print(table(rows, ["run", "round", "updates", "updates/s", "p50 ms", "p99 ms", "CPU ms/update", "errors"]))
    print()
    for label in labels:
        rates, cpus = [r for r, _ in ratios[label]], [c for _, c in ratios[label]]
        print(f"{label}: ours/aiosqlite floor throughput, each round: {', '.join(f'{r:.2f}' for r in rates)}; "
              f"median {median(rates):.2f} (goal >= 0.50); CPU per update ours/aiosqlite floor, median "
              f"{median(cpus):.1f}x")
        results[f"ratio {label}"] = {"rounds": rates, "median": median(rates)}
    through, handled = results["ours through the inbox"], results[f"ours concurrent x{concurrency}"]
    print(f"the inbox's cost: through the inbox (polling batches of 20, stored then handled) / handled only "
          f"x{concurrency} = {through['rate'] / handled['rate']:.2f}; through the inbox / floor x{concurrency} = "
          f"{through['rate'] / results[f'floor concurrent x{concurrency}']['rate']:.2f}")
    print(f"Python function calls per update, ours sequentially (the same stream, counted by a profiler: "
          f"steadier than time on a shared machine): {results['ours, counting calls']['calls']:.0f}")
    seq = results["ours sequential"]["kind_ms"]
    sql = results["ours, counting statements"]["sql"]
    print("\nours, sequential, per update by kind (conversation = one step): median ms (first round), mean SQL "
          "statements and write transactions (a run of its own, counted by engine events; the inbox's batch "
          "insert adds 1/20 of one per update)")
    rows = [[k, v, sum(s for s, _ in sql[k]) / len(sql[k]), sum(w for _, w in sql[k]) / len(sql[k])]
            for k, v in sorted(seq.items(), key=lambda kv: -kv[1])]
    everything = [x for k in sql for x in sql[k]]
    rows.append(["all", median(list(seq.values())), sum(s for s, _ in everything) / len(everything),
                 sum(w for _, w in everything) / len(everything)])
    print(table(rows, ["kind", "p50 ms", "SQL statements", "write transactions"]))
    return results


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--updates", type=int, default=2000, help="timed updates per run (default 2000)")
    p.add_argument("--concurrency", type=int, default=8, help="updates in flight in the concurrent run")
    p.add_argument("--residents", type=int, default=200, help="residents who talk in the stream")
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; ratios are their median (default 3)")
    a = p.parse_args()
    asyncio.run(main(a.updates, a.concurrency, a.residents, a.warmup, a.dir, a.rounds))
