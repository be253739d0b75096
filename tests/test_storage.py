"""Storage on a real SQLite file: migrations, pragmas, FSM across restarts."""
from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text
from sqlmodel import SQLModel

from storage.db import Database
from storage.migrate import upgrade
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
