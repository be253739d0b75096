"""Benchmark 3: the hot queries on databases of 10^4, 10^5 (and with --huge 10^6) requests.

Databases are generated fast (Core insert() executemany in big transactions) with a realistic
spread: 20 communities of 60 grids, residents filing a skewed number of requests at a steady
1,370 a day (10^6 is two years of history), so the open workload stays about the same size
while history grows: recent requests are often open, old ones done (a few stuck), with audit
events and outbox rows for each. Timed, through the app's
own services and Database where they exist: the grid leader's queue, /my, /tasks, /mytasks,
the intake's "similar open requests", the timer sweep's due query and the weekly digest / grid
rating queries (written here: they are not in the app yet). Each timing is the median of
--repeat runs; growth is the ratio per 10x more requests; EXPLAIN QUERY PLAN shows index use.

    python -m bench.scale [--sizes 10000 100000] [--huge] [--repeat 20] [--dir DIR]
"""
from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, insert, select, text
from sqlmodel import SQLModel

from bench.common import db_size, median, parser, print_machine, table, workdir
from bot.config import Settings
from bot.i18n import Catalogs
from bot.render import Renderer
from bot.services.context import Actor, load_actor
from bot.notify import Notifier
from bot.services.requests import RequestService
from storage.db import Database
from storage.models import (OPEN_STATUSES, AuditEvent, Community, Grid, Membership, Outbox, Request, Role, Status,
                            User)

COMMUNITIES, GRIDS = 20, 60
VOLUNTEERS = 40  # per community
NOW = datetime(2025, 6, 2, 8, 0, tzinfo=timezone.utc)  # a Monday: the digest covers the week before
PER_DAY = 1370  # requests a day over all communities: 10^6 is two years of history
CLOSED = [(Status.DONE, 0.88), (Status.DECLINED, 0.05), (Status.DUPLICATE, 0.03), (Status.CANCELLED, 0.04)]
OPEN = [(Status.NEW, 0.25), (Status.WAITING_INFO, 0.05), (Status.ACCEPTED, 0.2), (Status.CLAIMED, 0.15),
        (Status.IN_PROGRESS, 0.12), (Status.HANDLING, 0.08), (Status.ESCALATED, 0.08), (Status.DEPT_ACCEPTED, 0.07)]


def p_open(age_days: float) -> float:
    """Recent requests are often still open; old ones rarely (a few get stuck)."""
    return 0.6 * math.exp(-age_days / 4) + 0.003


TRAIL = {Status.DONE: ["accepted", "claimed", "done"], Status.DECLINED: ["declined"], Status.DUPLICATE: ["merged"],
         Status.CANCELLED: ["cancelled"], Status.NEW: [], Status.WAITING_INFO: ["info_requested"],
         Status.ACCEPTED: ["accepted"], Status.CLAIMED: ["accepted", "claimed"],
         Status.IN_PROGRESS: ["accepted", "claimed", "progress"], Status.HANDLING: ["handling"],
         Status.ESCALATED: ["escalated"], Status.DEPT_ACCEPTED: ["escalated", "dept_accepted"]}
ASSIGNED = {Status.DONE, Status.CLAIMED, Status.IN_PROGRESS, Status.HANDLING, Status.ESCALATED, Status.DEPT_ACCEPTED}
CHUNK = 50_000


# ---------------------------------------------------------------------------------- generate
def generate(path: Path, n: int, seed: int = 7) -> dict[str, Any]:
    """A database with `n` requests; returns ids the timed queries need."""
    rng = random.Random(seed)
    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _fast(conn, _record) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")

    SQLModel.metadata.create_all(engine)
    res_per_c = max(50, n // COMMUNITIES // 5)  # five requests per resident on average
    span = timedelta(days=n / PER_DAY) + timedelta(days=1)
    users, members = [], []
    ids: dict[str, Any] = {"leaders": {}, "volunteers": {}, "staff": {}}
    with engine.begin() as conn:
        conn.execute(insert(Community), [dict(id=c, name=f"社区{c}", code=f"C{c:02d}", settings={},
                                              next_number=1, created_at=NOW - span) for c in range(1, COMMUNITIES + 1)])
        conn.execute(insert(Grid), [dict(id=(c - 1) * GRIDS + g, community_id=c, name=f"{g}网格")
                                    for c in range(1, COMMUNITIES + 1) for g in range(1, GRIDS + 1)])
        uid = 1_000_000
        for c in range(1, COMMUNITIES + 1):
            def person(role: str, grid: int | None) -> int:
                nonlocal uid
                uid += 1
                users.append(dict(id=uid, first_name=f"U{uid}", language_code="zh", started=True, blocked=False,
                                  community_id=c, created_at=NOW - span))
                members.append(dict(user_id=uid, community_id=c, role=role, grid_id=grid, created_at=NOW - span))
                return uid
            ids["staff"][c] = person(Role.STAFF, None)
            ids["leaders"][c] = [person(Role.GRID_LEADER, (c - 1) * GRIDS + g) for g in range(1, GRIDS + 1)]
            ids["volunteers"][c] = [person(Role.VOLUNTEER, None) for _ in range(VOLUNTEERS)]
            ids.setdefault("residents", {})[c] = [person(Role.RESIDENT, (c - 1) * GRIDS + rng.randint(1, GRIDS))
                                                  for _ in range(res_per_c)]
        for i in range(0, len(users), CHUNK):
            conn.execute(insert(User), users[i:i + CHUNK])
            conn.execute(insert(Membership), members[i:i + CHUNK])
    grid_of = {m["user_id"]: m["grid_id"] for m in members if m["role"] == Role.RESIDENT}
    closed, closed_w = zip(*CLOSED)
    open_s, open_w = zip(*OPEN)
    numbers = {c: 0 for c in range(1, COMMUNITIES + 1)}
    req_id = audit_id = 0
    for start in range(0, n, CHUNK):
        reqs, audits, outbox = [], [], []
        for _ in range(min(CHUNK, n - start)):
            req_id += 1
            c = rng.randint(1, COMMUNITIES)
            numbers[c] += 1
            res = ids["residents"][c]
            requester = res[int(len(res) * rng.random() ** 3)]  # a few residents file a lot
            created = NOW - span * (1 - (start + len(reqs)) / n) - timedelta(seconds=rng.random() * 60)
            age = (NOW - created).total_seconds() / 86400
            status = (rng.choices(open_s, open_w) if rng.random() < p_open(age) else rng.choices(closed, closed_w))[0]
            resolved = min(NOW, created + timedelta(hours=rng.expovariate(1 / 40)))
            open_ = status in OPEN_STATUSES
            grid = grid_of[requester]
            assignee = None
            if status in ASSIGNED:
                assignee = (ids["leaders"][c][(grid - 1) % GRIDS] if status == Status.HANDLING
                            else rng.choice(ids["volunteers"][c]))
            timer = None
            if open_ and status != Status.WAITING_INFO:
                timer = created + timedelta(hours=rng.choice([24, 48, 72]))
            reqs.append(dict(id=req_id, community_id=c, number=numbers[c], grid_id=grid, requester_id=requester,
                             category=rng.choice(["repair", "safety", "environment", "elderly", "other"]),
                             description="3号楼2单元的楼道灯坏了，晚上很黑。", photos=[], status=status,
                             assignee_id=assignee, timer_at=timer, timer_kind="triage_remind" if timer else None,
                             created_at=created, updated_at=created if open_ else resolved))
            trail = ["filed", *TRAIL[status]]
            for k, action in enumerate(trail):
                audit_id += 1
                at = created if k == 0 else created + (resolved - created) * k / (len(trail) - 1)
                audits.append(dict(id=audit_id, community_id=c, actor_id=requester if k == 0 else assignee,
                                   entity="request", entity_id=req_id, action=action, at=at))
            for key in (f"card:{req_id}", f"feed:{req_id}"):
                outbox.append(dict(chat_id=-1000 - c, text="…", key=key, status="sent", priority=5, attempts=0,
                                   not_before=created, created_at=created, sent_at=created, message_id=req_id))
        with engine.begin() as conn:
            conn.execute(insert(Request), reqs)
            conn.execute(insert(AuditEvent), audits)
            conn.execute(insert(Outbox), outbox)
    with engine.begin() as conn:
        for c, num in numbers.items():
            conn.execute(Community.__table__.update().where(Community.__table__.c.id == c).values(next_number=num + 1))
        # The resident with the most requests, in community 1: the heaviest /my.
        heavy = conn.execute(select(Request.requester_id).where(Request.community_id == 1)
                             .group_by(Request.requester_id).order_by(func.count().desc()).limit(1)).scalar_one()
        counts = dict(conn.execute(select(Request.status, func.count()).group_by(Request.status)).all())
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    ids.update(heavy=heavy, typical=ids["residents"][1][len(ids["residents"][1]) // 2], counts=counts,
               audits=audit_id)
    return ids


# ------------------------------------------------------------------------------------ queries
DIGEST_COUNTS = """
SELECT grid_id, status, count(*) FROM requests
WHERE community_id = :c AND created_at >= :since AND created_at < :until
GROUP BY grid_id, status"""

DIGEST_MEDIAN = """
WITH d AS (
  SELECT grid_id, (julianday(updated_at) - julianday(created_at)) * 24 AS hours,
         row_number() OVER (PARTITION BY grid_id ORDER BY julianday(updated_at) - julianday(created_at)) AS rn,
         count(*) OVER (PARTITION BY grid_id) AS n
  FROM requests
  WHERE community_id = :c AND status = 'done' AND updated_at >= :since AND updated_at < :until)
SELECT grid_id, avg(hours) FROM d WHERE rn IN ((n + 1) / 2, (n + 2) / 2) GROUP BY grid_id"""

RATINGS = """
SELECT grid_id, count(*) AS filed, sum(status = 'done') AS done,
       avg(CASE WHEN status = 'done' THEN (julianday(updated_at) - julianday(created_at)) * 24 END) AS hours
FROM requests WHERE created_at >= :since AND created_at < :until
GROUP BY grid_id ORDER BY done DESC"""


def _dt(d: datetime) -> str:
    """Datetimes as SQLAlchemy stores them in SQLite (naive ISO with microseconds)."""
    return d.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


async def _actor(db: Database, user_id: int) -> Actor:
    async with db.read() as s:
        return await load_actor(s, await s.get(User, user_id), user_id, "zh_Hans", ("zh_Hans", "en"))


def queries(db: Database, svc: RequestService, ids: dict[str, Any], actors: dict[str, Actor]) \
        -> dict[str, Callable[[], Awaitable[Any]]]:
    grid = 1
    week = {"since": _dt(NOW - timedelta(days=7)), "until": _dt(NOW), "c": 1}

    async def queue() -> Any:
        """The grid leader's triage queue: open requests of one grid, oldest first, and how many."""
        cond = (Request.community_id == 1, Request.grid_id == grid, Request.status.in_(list(OPEN_STATUSES)))
        async with db.read() as s:
            total = (await s.execute(select(func.count()).select_from(Request).where(*cond))).scalar_one()
            rows = (await s.execute(select(Request).where(*cond).order_by(Request.id).limit(20))).scalars().all()
        return total, rows

    async def sweep_due() -> Any:  # bot/services/timers.py: sweep()
        async with db.read() as s:
            return list((await s.execute(select(Request.id).where(Request.timer_at <= NOW)
                                         .order_by(Request.timer_at).limit(200))).scalars())

    async def sql(q: str, **params: Any) -> Any:
        async with db.read() as s:
            return (await s.execute(text(q), params)).all()

    async def outbox_due() -> Any:  # bot/delivery.py: Delivery.dispatch_due()
        async with db.read() as s:
            return (await s.execute(select(Outbox).where(Outbox.status == "pending").order_by(Outbox.id)
                                    .limit(2000))).scalars().all()

    return {
        "leader queue (open, 1 grid)": queue,
        "/my heaviest resident": lambda: svc.mine(actors["heavy"]),
        "/my typical resident": lambda: svc.mine(actors["typical"]),
        "/tasks (open tasks)": lambda: svc.tasks(actors["volunteer"], mine=False),
        "/mytasks (assigned to me)": lambda: svc.tasks(actors["volunteer"], mine=True),
        "intake similar_open": lambda: svc.similar_open(actors["typical"], "repair", actors["typical"].grid_id),
        "triage merge_candidates": lambda: svc.merge_candidates(actors["staff"], ids["new_req"]),
        "timer sweep due": sweep_due,
        "outbox dispatch_due": outbox_due,
        "digest: counts by grid/status (1 community, week)": lambda: sql(DIGEST_COUNTS, **week),
        "digest: median hours to done per grid (week)": lambda: sql(DIGEST_MEDIAN, **week),
        "grid ratings, all communities (week)": lambda: sql(RATINGS, since=week["since"], until=week["until"]),
    }


async def measure(path: Path, ids: dict[str, Any], repeat: int) -> tuple[dict[str, float], dict[str, list]]:
    db = Database(f"sqlite+aiosqlite:///{path}")
    settings = Settings(_env_file=None)
    renderer = Renderer(Catalogs(path=settings.locales_dir, default_locale="zh_Hans"), settings.timezone)
    svc = RequestService(db, Notifier(renderer, "zh_Hans"))
    async with db.read() as s:
        ids["new_req"] = (await s.execute(select(Request.id).where(Request.community_id == 1,
                                                                   Request.status == Status.NEW)
                                          .order_by(Request.id.desc()).limit(1))).scalar_one()
    actors = {"heavy": await _actor(db, ids["heavy"]), "typical": await _actor(db, ids["typical"]),
              "volunteer": await _actor(db, ids["volunteers"][1][0]), "staff": await _actor(db, ids["staff"][1])}
    statements: list[tuple[str, Any]] = []

    @event.listens_for(db.read_engine.sync_engine, "before_cursor_execute")
    def _record(conn, cursor, statement, parameters, context, executemany) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append((statement, parameters))

    timings: dict[str, float] = {}
    plans: dict[str, list] = {}
    try:
        for name, run in queries(db, svc, ids, actors).items():
            statements.clear()
            await run()
            plans[name] = list(statements)
            samples = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                await run()
                samples.append(time.perf_counter() - t0)
            timings[name] = median(samples) * 1000
    finally:
        await db.dispose()
    return timings, plans


def explain(path: Path, plans: dict[str, list]) -> str:
    import sqlite3

    conn = sqlite3.connect(path)
    out = []
    for name, stmts in plans.items():
        distinct: dict[str, Any] = {}
        for st, params in stmts:
            distinct.setdefault(st, params)
        out.append(f"-- {name}: {len(stmts)} statement(s), {len(distinct)} distinct")
        for st, params in distinct.items():
            rows = conn.execute("EXPLAIN QUERY PLAN " + st, params).fetchall()
            out.append("   " + " ".join(st.split())[:150] + (" …" if len(" ".join(st.split())) > 150 else ""))
            out.extend(f"      {r[-1]}" for r in rows)
    conn.close()
    return "\n".join(out)


async def main(sizes: list[int], repeat: int, directory: str | None, plan_for: int | None = None) -> dict:
    print_machine()
    results: dict[int, dict[str, float]] = {}
    with workdir(directory) as d:
        for n in sizes:
            path = d / f"scale-{n}.db"
            path.unlink(missing_ok=True)
            t0 = time.perf_counter()
            ids = generate(path, n)
            gen = time.perf_counter() - t0
            open_n = sum(v for k, v in ids["counts"].items() if k in OPEN_STATUSES)
            print(f"\n{n:,} requests ({open_n:,} open, {ids['audits']:,} audit events): generated in {gen:.1f} s, "
                  f"{db_size(path) / 2 ** 20:.0f} MiB")
            results[n], plans = await measure(path, ids, repeat)
            if n == (plan_for or sizes[-1]):
                print(f"\nEXPLAIN QUERY PLAN at {n:,} requests:")
                print(explain(path, plans))
    headers = ["query (median ms)", *[f"{n:,}" for n in sizes]]
    growth = len(sizes) > 1
    if growth:
        headers.append("x per 10x")
    rows = []
    for name in results[sizes[0]]:
        row: list[Any] = [name, *[results[n][name] for n in sizes]]
        if growth:
            decades = math.log10(sizes[-1] / sizes[0])
            row.append((results[sizes[-1]][name] / results[sizes[0]][name]) ** (1 / decades))
        rows.append(row)
    print()
    print(table(rows, headers))
    print("\ngoal: each <= 50 ms at 10^6, growing no faster than logarithmically (x per 10x close to 1)")
    return results


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    p.add_argument("--huge", action="store_true", help="add 10^6 requests (about 1.5 GB of disk, minutes)")
    p.add_argument("--repeat", type=int, default=20, help="timed runs per query (median)")
    a = p.parse_args()
    asyncio.run(main(sorted(set(a.sizes + ([1_000_000] if a.huge else []))), a.repeat, a.dir))
