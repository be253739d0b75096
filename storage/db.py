"""Engines and transactions.

Two ways in, one each for reading and writing. On SQLite a write transaction starts with
`BEGIN IMMEDIATE`: a deferred transaction that reads and then writes can fail at once with
SQLITE_BUSY when another connection committed in between (busy_timeout does not help there);
taking the write lock up front makes writers queue on busy_timeout instead. Reads stay deferred
so they never wait for a writer (WAL).
"""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel

from storage import models  # noqa: F401  (registers the tables)


_in_write: ContextVar[bool] = ContextVar("gongzhi_in_write", default=False)


def _sqlite_engine(url: str, *, immediate: bool) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # pragma: no cover - driver glue
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn) -> None:  # pragma: no cover - driver glue
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """The session factories of one database. App-lifetime; share one per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.write_engine = _sqlite_engine(url, immediate=True)
            self.read_engine = _sqlite_engine(url, immediate=False)
        else:
            self.write_engine = self.read_engine = create_async_engine(url, pool_pre_ping=True)
        self._write = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._write_lock: asyncio.Lock | contextlib.nullcontext[None] = (
            asyncio.Lock() if self.is_sqlite else contextlib.nullcontext())
        self._read = async_sessionmaker(self.read_engine, expire_on_commit=False)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits on success, rolls back on any exception.

        On SQLite, writers of this process queue on an asyncio lock, in order, instead of
        sleeping in SQLite's busy handler (which retries on a timer and inflates tail latency);
        busy_timeout still covers other processes. Units of work never nest.
        """
        if _in_write.get():
            raise RuntimeError("nested unit of work")
        token = _in_write.set(True)
        try:
            async with self._write_lock, self._write() as session:
                try:
                    yield session
                    await session.commit()
                except BaseException:
                    await session.rollback()
                    raise
        finally:
            _in_write.reset(token)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """Queries only. Closing (not rolling back) keeps loaded objects usable afterwards."""
        async with self._read() as session:
            yield session

    async def create_all(self) -> None:
        """Create the schema directly (tests); deployments use `gongzhi db upgrade`."""
        async with self.write_engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()
