"""The benchmarks run at small sizes and report sane figures. Never a speed: no timing thresholds."""
from __future__ import annotations

from pathlib import Path

import pytest

from bench import delivery, memory, scale, updates
from bench.common import pct
from tests.conftest import POSTGRES

# The benchmarks measure the default deployment (SQLite files); the PostgreSQL run leaves them out.
pytestmark = pytest.mark.skipif(bool(POSTGRES), reason="benchmarks run on SQLite")


def test_percentile_and_table_helpers():
    assert pct([], 99) == 0.0
    assert pct([3.0, 1.0, 2.0], 50) == 2.0
    assert pct(list(range(1, 101)), 99) == 99


async def test_update_handling_runs(tmp_path: Path):
    results = await updates.main(updates=40, concurrency=4, residents_n=40, warmup=5, directory=str(tmp_path), rounds=2)
    runs = {"ours sequential", "floor sequential", "aiosqlite floor sequential", "ours concurrent x4",
            "floor concurrent x4", "aiosqlite floor concurrent x4"}
    assert set(results) == runs | {f"{r} (rounds)" for r in runs} | {"ours through the inbox", "ratio sequential",
                                                                      "ratio concurrent x4", "ours, counting calls",
                                                                      "ours, counting statements"}
    assert results["ours, counting calls"]["calls"] > 100  # a handled update is hundreds of Python calls
    for name in runs:
        assert [r["round"] for r in results[f"{name} (rounds)"]["runs"]] == [1, 2]
    ratio = results["ratio concurrent x4"]
    assert len(ratio["rounds"]) == 2 and min(ratio["rounds"]) <= ratio["median"] <= max(ratio["rounds"])
    for r in [results["ours through the inbox"], *(x for name in runs for x in results[f"{name} (rounds)"]["runs"])]:
        assert r["n"] == 40 and r["errors"] == 0
        assert r["rate"] > 0 and 0 <= r["p50_ms"] <= r["p99_ms"] and r["cpu_ms"] > 0
    assert results["ours sequential"]["api_calls"] > 0  # the bot answered
    assert results["ours through the inbox"]["api_calls"] > 0
    assert results["ours sequential"]["sql"] == {}  # timed runs go without the counter's engine events
    sql = results["ours, counting statements"]["sql"]
    assert sql["help"] and all(statements > 0 and writes >= 1 for statements, writes in sql["help"])


async def test_delivery_runs(tmp_path: Path):
    burst = delivery.Burst(groups=1, privates=2, per_chat=3, talk_every=1.5)
    results = await delivery.main(burst, naive_concurrency=4, directory=str(tmp_path))
    assert [r["mode"] for r in results] == ["outbox", "naive"]
    for r in results:
        # every message arrives, and no run beats what the emulator's flood limits allow
        assert r["sends"] == burst.total and r["completion"] >= r["minimum"]
        assert r["interactive"] >= 1 and 0 <= r["p50"] <= r["p99"]
    outbox = results[0]
    assert outbox["429"] == 0 and outbox["lost"] == 0  # the pacer keeps within the limits, every reply arrives


def test_theoretical_minimum_follows_the_emulator_limits():
    from bot.sandbox import FloodControl

    flood = FloodControl()
    assert delivery.theoretical_minimum(flood, delivery.Burst(10, 40, 20)) == (1000 - 30) / 30
    assert delivery.theoretical_minimum(flood, delivery.Burst(0, 1, 20)) == 17
    assert delivery.theoretical_minimum(flood, delivery.Burst(1, 0, 23)) == 9


async def test_scale_runs(tmp_path: Path):
    results = await scale.main([300, 3000], repeat=1, directory=str(tmp_path))
    assert set(results) == {300, 3000}
    assert results[300].keys() == results[3000].keys() and len(results[300]) >= 10
    assert all(isinstance(ms, float) and ms > 0 for r in results.values() for ms in r.values())  # every query ran


async def test_memory_runs(tmp_path: Path):
    r = await memory.main(20, 4, str(tmp_path))
    assert r["conversations"] == 20
    assert r["rss_after_kb"] > 0 and r["db_after"] >= r["db_before"] > 0
