"""Storage on a real SQLite file: migrations, pragmas, FSM across restarts."""
from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlmodel import SQLModel

from storage.db import Database, UpdateScope
from storage.migrate import upgrade
from storage.models import Outbox
from tests.conftest import RESIDENT, Harness, community, database_url
from tests.tg import Person, Updates


async def test_migrations_build_exactly_the_models(tmp_path: Path):
    url = database_url(tmp_path / "m.db")  # SQLite, or PostgreSQL in the suite's second run
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    async with db.write_engine.connect() as conn:
        diff = await conn.run_sync(lambda c: compare_metadata(MigrationContext.configure(c), SQLModel.metadata))
    await db.dispose()
    assert diff == [], diff


async def test_sqlite_runs_in_wal_with_foreign_keys(tmp_path: Path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    await db.create_all()
    async with db.read() as s:
        assert (await s.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await s.execute(text("PRAGMA foreign_keys"))).scalar() == 1
        assert (await s.execute(text("PRAGMA busy_timeout"))).scalar() == 30000
    await db.dispose()


async def test_sqlite_writers_begin_immediate_without_engine_listeners(tmp_path: Path):
    """The inline dialect opens every write transaction with BEGIN IMMEDIATE itself: an engine
    listener would put every statement of the engine through SQLAlchemy's event dispatch."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'b.db'}")
    await db.create_all()
    try:
        for engine in (db.write_engine, db.read_engine):
            assert not engine.sync_engine._has_events
        async with db.write() as s:  # a writer holds the write lock from its first statement
            await s.execute(text("SELECT 1"))
            other = sqlite3.connect(tmp_path / "b.db", timeout=0)
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
            other.close()
        async with db.read() as s:  # a reader takes none
            await s.execute(text("SELECT 1"))
            other = sqlite3.connect(tmp_path / "b.db", timeout=0)
            other.execute("BEGIN IMMEDIATE")
            other.rollback()
            other.close()
    finally:
        await db.dispose()


async def test_a_unit_of_works_outbox_rows_are_written_by_statement_as_it_ends(tmp_path: Path):
    """Rows added in a unit of work are seen by its own queries, get their ids and the priority
    rule as it ends, and are announced once committed; a unit that fails leaves none behind."""
    db = Database(database_url(tmp_path / "o.db"))
    await db.create_all()
    announced: list[Outbox] = []
    db.on_outbox = announced.extend
    scope = UpdateScope(db)
    token = scope.enter()
    try:
        async with db.write() as s:
            first, second = Outbox(chat_id=7, text="a", priority=5), Outbox(chat_id=7, text="b", priority=1)
            s.add_all([first, second])
            seen = (await s.execute(select(func.count()).select_from(Outbox))).scalar()
        assert seen == 2 and first.id and second.id and first.id < second.id
        assert first.priority == second.priority == 1  # one cause, one priority per chat
        with pytest.raises(RuntimeError):
            async with db.write() as s:
                s.add(Outbox(chat_id=8, text="lost"))
                raise RuntimeError
        await scope.commit()
    finally:
        UpdateScope.leave(token)
    async with db.read() as s:
        rows = (await s.execute(select(Outbox.id, Outbox.text).order_by(Outbox.id))).all()
    await db.dispose()
    assert [text for _, text in rows] == ["a", "b"]
    assert [row.id for row in announced] == [first.id, second.id]


async def test_conversation_survives_a_restart(tmp_path: Path):
    """Two app instances over one database file: /new starts in the first, continues in the second."""
    updates = Updates()
    first = await Harness(tmp_path / "r.db", updates).start()
    await community(first, groups=False)
    await first.send(RESIDENT, "/new")
    category = first.session.last(RESIDENT.id).buttons()[0]["callback_data"]
    await first.press(RESIDENT, category)
    await first.close()

    second = await Harness(tmp_path / "r.db", updates).start()
    await second.send(RESIDENT, "Bins in the courtyard overflow every weekend")
    assert "photos" in second.session.last(RESIDENT.id).text
    await second.close()


async def test_update_ids_are_remembered_across_a_restart(tmp_path: Path):
    updates = Updates()
    update = updates.message(Person(5, "Zoe", "en"), "/start")
    first = await Harness(tmp_path / "d.db", updates).start()
    await first.feed(update)
    await first.close()
    second = await Harness(tmp_path / "d.db", updates).start()
    await second.feed(update)
    assert second.session.to(5) == []
    await second.close()


async def test_backup_of_a_running_database_is_complete(tmp_path: Path):
    """`gongzhi db backup FILE` while the database is open: the copy has every row (SQLite's online
    backup API, or pg_dump on PostgreSQL), and a second backup to the same file is refused."""
    import os
    import sqlite3
    import sys

    url = database_url(tmp_path / "live.db")
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    try:
        from bot.services.community import CommunityService

        await CommunityService(db).create("Backup Test", admin_id=999, code="BT", locale="en")
        env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "WARNING"}
        dest = tmp_path / "copy.backup"
        argv = [sys.executable, "-m", "bot.cli", "db", "backup", str(dest)]
        proc = await asyncio.create_subprocess_exec(*argv, env=env, stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        assert b"backup written" in out
        if url.startswith("sqlite"):
            copy = sqlite3.connect(dest)
            assert copy.execute("SELECT code FROM communities").fetchall() == [("BT",)]
            copy.close()
        else:
            assert dest.read_bytes().startswith(b"PGDMP")  # pg_dump's custom format
        again = await asyncio.create_subprocess_exec(*argv, env=env, stderr=asyncio.subprocess.PIPE)
        _, err = await again.communicate()
        assert again.returncode == 2 and b"exists already" in err
    finally:
        await db.dispose()
