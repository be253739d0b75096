"""`gongzhi db copy --to POSTGRES_URL`: an SQLite deployment moved to PostgreSQL in one command,
every table and row the same, ids continuing after the copied ones, counts checked; and the
one-line refusals (a target with rows, a target that is not PostgreSQL, one that cannot be
reached). Runs where a PostgreSQL server is given (GONGZHI_TEST_POSTGRES)."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

import tests.conftest as conftest
from storage.copy import tables
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Outbox, Request
from tests.conftest import POSTGRES, Harness, database_url
from tests.test_council import COUNCIL_GROUP, MEMBERS, council, data, to_council_and_open

needs_pg = pytest.mark.skipif(not POSTGRES, reason="the copy's target is PostgreSQL (GONGZHI_TEST_POSTGRES)")
ROOT = Path(__file__).resolve().parent.parent


def _cli(source: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": source, "LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "-m", "bot.cli", "db", "copy", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


async def _sqlite_deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A community that has lived a little, on SQLite: members, groups, a request voted on by the
    council, the outbox with its edits, the audit trail."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    monkeypatch.setattr(conftest, "database_url", lambda _path: url)
    await asyncio.to_thread(upgrade, url)  # a deployment's database is migrated, not created
    h = await Harness(tmp_path / "old.db").start()
    try:
        await council(h)
        _, p, post = await to_council_and_open(h)
        for m in MEMBERS:
            await h.press(m, data(post, f"vo:{p.id}:0")[0], chat_id=COUNCIL_GROUP)
        await h.deliver()
        await h.send(conftest.RESIDENT, "/new The bench by building 2 is broken", chat_id=conftest.GRID_GROUP)
        await h.deliver()
        async with h.app.db.write() as s:  # a row pointing to a later row of its own table
            first, last = (await s.execute(select(func.min(Request.id), func.max(Request.id)))).one()
            await s.execute(update(Request).where(Request.id == first).values(duplicate_of_id=last))
    finally:
        await h.close()
    return url


async def _rows(url: str) -> dict[str, list[dict]]:
    db = Database(url)
    try:
        async with db.read() as s:
            out = {}
            for t in tables():
                rows = (await s.execute(select(t).order_by(*t.primary_key.columns))).mappings().all()
                out[t.name] = [dict(r) for r in rows]
            return out
    finally:
        await db.dispose()


@needs_pg
async def test_copy_moves_every_row_and_new_ids_continue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    source = await _sqlite_deployment(tmp_path, monkeypatch)
    target = database_url(tmp_path / "new.db")  # a new, empty PostgreSQL database (not even migrated)

    done = _cli(source, "--to", target)
    assert done.returncode == 0, done.stderr
    old, new = await _rows(source), await _rows(target)
    assert sum(map(len, old.values())) > 100 and old["outbox"] and old["votes"]
    for name in old:
        if name == "directory_version":  # a change counter (storage/cache.py): the copy's own writes move it on
            assert new[name][0]["version"] > old[name][0]["version"]
        else:
            assert new[name] == old[name], f"table {name} differs"
        assert f"{name}  " in done.stdout  # each table's counts printed
    assert "counts match" in done.stdout

    db = Database(target)  # the sequences continue: a new row gets a new id
    try:
        async with db.write() as s:
            row = Outbox(chat_id=1, text="after the move")
            s.add(row)
            await s.flush()
            assert row.id == max(r["id"] for r in old["outbox"]) + 1
    finally:
        await db.dispose()

    again = _cli(source, "--to", target)  # a target with rows is refused, in one line
    assert again.returncode == 2 and "not empty" in again.stderr and len(again.stderr.strip().splitlines()) == 1


@needs_pg
@pytest.mark.parametrize("to, says", [
    ("sqlite+aiosqlite:///elsewhere.db", "the target must be postgresql+asyncpg"),
    ("postgresql+asyncpg://gongzhi@127.0.0.1:1/nowhere", "cannot open the database"),
    ("not a url", "not a database URL"),
])
def test_copy_refuses_wrong_targets_in_one_line(tmp_path: Path, to: str, says: str):
    done = _cli(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}", "--to", to)
    assert done.returncode == 2 and says in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_a_count_that_differs_is_named_and_exits_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    """Should a table come out short (a trigger, a full disk, a bug), the command says which, exit 1."""
    import bot.cli
    import storage.copy
    from storage.copy import Counted

    async def short(_source: str, _target: str) -> list[Counted]:
        return [Counted("requests", 10, 10), Counted("outbox", 7, 6)]

    monkeypatch.setenv("DATABASE_URL", "sqlite+aiosqlite:///old.db")
    monkeypatch.setattr(bot.cli, "_upgrade", lambda *_a: None)
    monkeypatch.setattr(storage.copy, "copy", short)
    assert bot.cli.main(["db", "copy", "--to", "postgresql+asyncpg://u@127.0.0.1/new"]) == 1
    out, err = capsys.readouterr()
    assert "outbox" in out and "MISMATCH" in out and "differ in outbox" in err
