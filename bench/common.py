"""Helpers shared by the benchmarks: machine facts, percentiles, RSS, tables, the app harness.

The harness is the tests' one (tests/conftest.py, tests/tg.py): the real Dispatcher, our
middlewares and a SQLite file, with a recording session in place of Telegram.
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import sqlite3
import statistics
import tempfile
from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import insert

from storage.models import Membership, Role, User, utcnow
from tests.conftest import Harness, community  # noqa: F401  (re-exported for the benchmarks)
from tests.tg import Person


def machine() -> dict[str, str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"nproc": str(os.cpu_count()), "cpu": cpu, "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version}


def print_machine() -> None:
    m = machine()
    print(f"machine: nproc={m['nproc']} cpu={m['cpu']!r} python={m['python']} sqlite={m['sqlite']}")


def pct(values: Sequence[float], p: float) -> float:
    """The p-th percentile (nearest rank); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1))
    return ordered[k]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else 0.0


def rss_kb() -> int:
    """Resident set size of this process (VmRSS), in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def table(rows: list[Sequence[Any]], headers: Sequence[str]) -> str:
    cells = [[str(h) for h in headers]] + [[_fmt(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))) for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    return str(v)


@contextmanager
def workdir(path: str | None = None) -> Iterator[Path]:
    """A directory for database files: the one given (kept), else a temporary one (removed)."""
    if path:
        p = Path(path)
        p.mkdir(parents=True, exist_ok=True)
        yield p
    else:
        with tempfile.TemporaryDirectory(prefix="gongzhi-bench-") as d:
            yield Path(d)


def parser(doc: str | None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0] if doc else None)
    p.add_argument("--dir", help="where to put database files (default: a temporary directory)")
    return p


def db_size(path: Path) -> int:
    """Bytes of a SQLite database with its WAL and shared-memory files."""
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if p.is_file())


def residents(n: int, first_id: int = 10_000_000) -> list[Person]:
    return [Person(first_id + i, f"R{i}", "en", f"r{i}") for i in range(n)]


async def add_residents(h: Harness, people: list[Person], community_id: int, grid_id: int) -> None:
    """Residents who have started the bot and joined a grid, written in bulk (setup, not measured).

    The rows match what Telegram tells about them, so the middleware takes its read-only path.
    """
    now = utcnow()
    async with h.app.db.write() as s:
        for i in range(0, len(people), 5000):
            chunk = people[i:i + 5000]
            await s.execute(insert(User), [dict(id=p.id, first_name=p.first_name, last_name=None, username=p.username,
                                                language_code=p.language_code, started=True, blocked=False,
                                                community_id=community_id, created_at=now) for p in chunk])
            await s.execute(insert(Membership), [dict(user_id=p.id, community_id=community_id, role=Role.RESIDENT,
                                                      grid_id=grid_id, created_at=now) for p in chunk])
