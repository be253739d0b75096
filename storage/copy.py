"""`gongzhi db copy --to POSTGRES_URL`: move an SQLite deployment to PostgreSQL in one command.

Every table of the models is copied from the SQLite database into an empty PostgreSQL database
migrated to the same revision, parents before children (foreign keys), in one transaction on
each side: the source is read in one read transaction (a consistent snapshot even while the bot
writes, thanks to WAL), and the target commits everything or nothing. Columns that point into
their own table (a duplicate's original, an edit's message) are written once all rows are in.
Then each id sequence is moved past the largest id copied, so new rows never collide with old
ones, and the rows of every table are counted on both sides.

Stop the bot (or accept that what it writes after the snapshot stays behind) and point
`DATABASE_URL` at the new database afterwards.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, func, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError
from sqlmodel import SQLModel

from storage import models  # noqa: F401  (registers the tables)
from storage.db import Database

BATCH = 1000


class CopyError(Exception):
    """Why the copy cannot start (said in one line)."""


@dataclass(frozen=True)
class Counted:
    table: str
    source: int
    target: int

    @property
    def ok(self) -> bool:
        return self.source == self.target


def check_urls(source_url: str, target_url: str) -> None:
    """The source must be SQLite and the target PostgreSQL, not the same database."""
    try:
        source, target = make_url(source_url), make_url(target_url)
    except ArgumentError as e:
        raise CopyError(f"not a database URL: {e}") from None
    if source.get_backend_name() != "sqlite":
        raise CopyError(f"DATABASE_URL is {source.render_as_string(hide_password=True)}: "
                        "the copy moves an SQLite deployment (sqlite+aiosqlite:///…)")
    if target.get_backend_name() != "postgresql" or target.get_driver_name() != "asyncpg":
        raise CopyError(f"--to {target.render_as_string(hide_password=True)}: the target must be "
                        "postgresql+asyncpg://user:password@host/database")
    if not target.database:
        raise CopyError("--to names no database: add /DATABASE to the URL")


def tables() -> list[Table]:
    """The model tables, each after every table it points to."""
    return list(SQLModel.metadata.sorted_tables)


def _self_refs(table: Table) -> list[str]:
    return [fk.parent.name for fk in table.foreign_keys if fk.column.table is table]


async def copy(source_url: str, target_url: str) -> list[Counted]:
    """Copy every table; returns the row counts per table (source, target). Raises CopyError
    when the target is not empty or its schema is not the source's revision."""
    check_urls(source_url, target_url)
    source, target = Database(source_url), Database(target_url)
    try:
        async with source.read() as src, target.write() as dst:
            have, want = await _revision(dst), await _revision(src)
            if have != want:
                raise CopyError(f"the target is at revision {have}, the source at {want}: "
                                "migrate both (gongzhi db upgrade)")
            for table in tables():
                if (await dst.execute(select(func.count()).select_from(table))).scalar_one():
                    raise CopyError(f"the target is not empty (table {table.name} has rows): "
                                    "copy into a new, empty database")
            later: list[tuple[Table, str, list[dict[str, Any]]]] = []
            for table in tables():
                refs = _self_refs(table)
                pk = [c.name for c in table.primary_key.columns]
                pending: dict[str, list[dict[str, Any]]] = {r: [] for r in refs}
                result = await src.stream(select(table).order_by(*table.primary_key.columns))
                async for batch in result.mappings().partitions(BATCH):
                    rows = [dict(row) for row in batch]
                    for row in rows:
                        for ref in refs:
                            if row[ref] is not None:
                                pending[ref].append({**{f"k_{k}": row[k] for k in pk}, "v": row[ref]})
                                row[ref] = None
                    await dst.execute(table.insert(), rows)
                later += [(table, ref, values) for ref, values in pending.items() if values]
            for table, ref, values in later:  # rows that point into their own table, all there now
                stmt = update(table).values({ref: bindparam("v")})
                for k in pk_names(table):
                    stmt = stmt.where(table.c[k] == bindparam(f"k_{k}"))
                for i in range(0, len(values), BATCH):
                    await dst.execute(stmt.execution_options(synchronize_session=False), values[i:i + BATCH])
            await _fix_sequences(dst)
            counts = {t.name: (await src.execute(select(func.count()).select_from(t))).scalar_one() for t in tables()}
        async with target.read() as dst:
            return [Counted(t.name, counts[t.name], (await dst.execute(select(func.count()).select_from(t))).scalar_one())
                    for t in tables()]
    finally:
        await source.dispose()
        await target.dispose()


def pk_names(table: Table) -> list[str]:
    return [c.name for c in table.primary_key.columns]


async def _revision(s: Any) -> str | None:
    try:
        return (await s.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    except Exception:  # no alembic_version: never migrated
        return None


async def _fix_sequences(s: Any) -> None:
    """Each serial/identity column's sequence continues after the largest value copied."""
    for table in tables():
        for column in table.primary_key.columns:
            seq = (await s.execute(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                   {"t": table.name, "c": column.name})).scalar()
            if seq is None:
                continue
            top = (await s.execute(select(func.max(column)))).scalar()
            await s.execute(text("SELECT setval(:seq, :v, :called)"),
                            {"seq": seq, "v": top if top is not None else 1, "called": top is not None})
