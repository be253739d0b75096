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
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar, Token
from typing import Any, TypeVar

from sqlalchemy import event, make_url, text
from sqlalchemy.orm import Session
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel

from storage import models  # noqa: F401  (registers the tables)
from storage import sqlite_inline  # noqa: F401  (registers the SQLite dialect)
from storage.cache import Directory  # also registers the directory's invalidation events


T = TypeVar("T")
_in_write: ContextVar[bool] = ContextVar("gongzhi_in_write", default=False)
_scope: ContextVar["UpdateScope | None"] = ContextVar("gongzhi_scope", default=None)
OUTBOX_CHANNEL = "gongzhi_outbox"  # PostgreSQL NOTIFY channel: "the outbox has new rows"
IDLE_SESSIONS = 32  # closed sessions kept for reuse, per kind


def _one_priority(rows: list[models.Outbox]) -> None:
    """Messages to one chat written together (one action's) share the most urgent priority among
    them, so they go out in the order they were caused, not reordered by priority."""
    urgent: dict[int, int] = {}
    for row in rows:
        urgent[row.chat_id] = min(urgent.get(row.chat_id, row.priority), row.priority)
    for row in rows:
        if row.priority != urgent[row.chat_id]:
            row.priority = urgent[row.chat_id]


def _written(session: Session, rows: list[models.Outbox]) -> None:
    """The transaction wrote these outbox rows: announced at its commit (below)."""
    session.info["outbox_written"] = True
    session.info.setdefault("outbox_rows", []).extend(rows)


@event.listens_for(Session, "before_flush")
def _one_cause_one_priority(session: Session, _context: object, _instances: object) -> None:
    rows = [o for o in session.new if isinstance(o, models.Outbox)]
    if rows:
        _one_priority(rows)
        _written(session, rows)


_OUTBOX = models.Outbox.__table__
_OUTBOX_COLUMNS = [c.key for c in _OUTBOX.columns if c.key not in ("id", "sentinel")]
_OUTBOX_INSERT = _OUTBOX.insert().returning(_OUTBOX.c.id, sort_by_parameter_order=True)


def outbox_by_statement(session: Session) -> None:
    """The outbox rows a unit of work added and nothing flushed yet, taken out of the unit of work
    and written by `insert_outbox`, as it ends: by then nothing can refer to them (a row referred to
    needs its id, so it was flushed before), and queries inside the unit still saw them (autoflush)."""
    rows = [o for o in session.new if isinstance(o, models.Outbox)]
    if rows:
        for row in rows:
            session.expunge(row)
        insert_outbox(session, rows)


def insert_outbox(session: Session, rows: list[models.Outbox]) -> None:
    """New outbox rows that nothing else in the transaction refers to (an update's replies), in one
    INSERT outside the unit of work, which costs several times the statement; their ids are set,
    their priorities follow the rule above with the rows still pending in the session, and they
    are announced at commit as flushed rows are. Synchronous: run it with `AsyncSession.run_sync`."""
    if not rows:
        return
    _one_priority(rows + [o for o in session.new if isinstance(o, models.Outbox)])
    found = session.connection().execute(_OUTBOX_INSERT, [{c: row.__dict__[c] for c in _OUTBOX_COLUMNS}
                                                         for row in rows])
    for row, (row_id,) in zip(rows, found):
        row.__dict__["id"] = row_id  # a new row's values live in its __dict__ (`models.Table`)
    _written(session, rows)


@event.listens_for(Session, "after_commit")
def _outbox_committed(session: Session) -> None:
    """Tell the process's delivery which outbox rows are now waiting (`Database.on_outbox`)."""
    rows, db = session.info.pop("outbox_rows", None), session.info.get("db")
    if rows and db is not None and db.on_outbox is not None:
        db.on_outbox(rows)


@event.listens_for(Session, "after_soft_rollback")
def _outbox_dropped(session: Session, previous: Any) -> None:
    if previous.parent is None:  # the whole transaction (a savepoint's rows stay listed: harmless)
        session.info.pop("outbox_rows", None)


@event.listens_for(Session, "before_commit")
def _announce_outbox(session: Session) -> None:
    """A worker that does not send the outbox tells the one that does, in the transaction that
    wrote the rows: PostgreSQL delivers the notification exactly when they become visible."""
    db = session.info.get("db")
    if session.info.pop("outbox_written", False) and db is not None and db.announce_outbox:
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": OUTBOX_CHANNEL})


def _sqlite_engine(url: str, *, immediate: bool, inline: bool) -> AsyncEngine:
    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"
    if inline:  # see storage.sqlite_inline: the dialect issues BEGIN itself
        engine = create_async_engine(make_url(url).set(drivername="sqlite+inline"),
                                     connect_args={"timeout": 30}, begin=begin)
    else:
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn) -> None:  # pragma: no cover - driver glue
            conn.connection.dbapi_connection.execute(begin)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn, _record) -> None:  # pragma: no cover - driver glue
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    return engine


class Database:
    """The session factories of one database. App-lifetime; share one per process."""

    def __init__(self, url: str, *, inline_sqlite: bool = True) -> None:
        """`inline_sqlite=False` runs SQLite through aiosqlite's thread instead (the benchmarks'
        floor as first measured)."""
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.write_engine = _sqlite_engine(url, immediate=True, inline=inline_sqlite)
            self.read_engine = _sqlite_engine(url, immediate=False, inline=inline_sqlite)
        else:
            self.write_engine = self.read_engine = create_async_engine(url, pool_pre_ping=True)
        # Set by `bot.leader` while another process sends the outbox (PostgreSQL workers).
        self.announce_outbox = False
        # Called with the outbox rows each committed transaction wrote (`bot.delivery` keeps count).
        self.on_outbox: Callable[[list[models.Outbox]], None] | None = None
        # Communities, grids, chat bindings and memberships, cached in process (storage.cache).
        self.directory = Directory()
        self._makers = {False: async_sessionmaker(self.read_engine, expire_on_commit=False),
                        True: async_sessionmaker(self.write_engine, expire_on_commit=False)}
        # Closed sessions, reused: making one costs more than a statement (read, write).
        self._idle: dict[bool, list[AsyncSession]] = {False: [], True: []}
        self._write_lock: asyncio.Lock | contextlib.nullcontext[None] = (
            asyncio.Lock() if self.is_sqlite else contextlib.nullcontext())

    def _session(self, write: bool) -> AsyncSession:
        idle = self._idle[write]
        if idle:
            return idle.pop()
        return self._makers[write](info={"db": self})  # a dict of its own per session

    async def _release(self, session: AsyncSession, write: bool) -> None:
        """Close the session (its objects stay usable, detached) and keep it for the next unit.

        SQLite's inline driver never yields to the loop inside `close`, so a cancellation cannot
        interrupt it; on PostgreSQL the close runs shielded, as `async with AsyncSession` does."""
        if self.is_sqlite:
            await session.close()
        else:
            await asyncio.shield(session.close())
        session.info.clear()
        session.info["db"] = self
        if len(self._idle[write]) < IDLE_SESSIONS:
            self._idle[write].append(session)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits on success, rolls back on any exception.

        On SQLite, writers of this process queue on an asyncio lock, in order, instead of
        sleeping in SQLite's busy handler (which retries on a timer and inflates tail latency);
        busy_timeout still covers other processes. Units of work never nest.

        Inside an update's scope (`UpdateScope`) a unit of work is a savepoint of the update's
        one transaction: it still rolls back alone on an exception, but commits only with the
        update, together with its conversation state, its replies and its inbox mark.
        """
        if _in_write.get():
            raise RuntimeError("nested unit of work")
        token = _in_write.set(True)
        try:
            scope = _scope.get()
            if scope is not None and scope.db is self:
                session = await scope.session()
                async with session.begin_nested():
                    yield session
                    await session.run_sync(outbox_by_statement)
                return
            async with self._write_lock:
                session = self._session(write=True)
                try:
                    yield session
                    await session.run_sync(outbox_by_statement)
                    await session.commit()
                except BaseException:
                    await session.rollback()
                    raise
                finally:
                    await self._release(session, write=True)
        finally:
            _in_write.reset(token)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """Queries only. Closing (not rolling back) keeps loaded objects usable afterwards.

        Inside an update's scope that has written already, reads see its uncommitted writes."""
        scope = _scope.get()
        if scope is not None and scope.db is self and scope.open:
            yield await scope.session()
            return
        session = self._session(write=False)
        try:
            yield session
        finally:
            await self._release(session, write=False)

    async def create_all(self) -> None:
        """Create the schema directly (tests); deployments use `gongzhi db upgrade`."""
        async with self.write_engine.begin() as conn:
            await conn.run_sync(SQLModel.metadata.create_all)

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()


class UpdateScope:
    """One update's single transaction, opened at its first write and held until the update
    has been handled: its effects, conversation state, replies and inbox mark commit together.

    `after_commit` callbacks run once the transaction is durable (caches, wake-ups, sends);
    `after_rollback` ones when it is not (drop cache entries written in it).
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._session: AsyncSession | None = None
        self._locked = False
        self.after_commit: list[Callable[[], Any]] = []
        self.after_rollback: list[Callable[[], Any]] = []
        self.before_commit: list[Callable[[AsyncSession], Awaitable[None]]] = []
        self.memo: dict[str, Any] = {}  # what this update has read or will write (conversation state)

    @property
    def open(self) -> bool:
        return self._session is not None

    async def session(self) -> AsyncSession:
        if self._session is None:
            if isinstance(self.db._write_lock, asyncio.Lock):
                await self.db._write_lock.acquire()
                self._locked = True
            self._session = self.db._session(write=True)
        return self._session

    def enter(self) -> Token[UpdateScope | None]:
        return _scope.set(self)

    @staticmethod
    def leave(token: Token[UpdateScope | None]) -> None:
        _scope.reset(token)

    async def commit(self) -> None:
        try:
            if self.before_commit:
                session = await self.session()
                for hook in self.before_commit:
                    await hook(session)
            if self._session is not None:
                await self._session.commit()
        except BaseException:
            await self.rollback()
            raise
        await self._close()
        for callback in self.after_commit:
            callback()

    async def rollback(self) -> None:
        if self._session is not None:
            await self._session.rollback()
        await self._close()
        for callback in self.after_rollback:
            callback()
        self.after_commit.clear()
        self.before_commit.clear()

    async def _close(self) -> None:
        session, self._session = self._session, None
        try:
            if session is not None:
                await self.db._release(session, write=True)
        finally:
            if self._locked:
                self._locked = False
                self.db._write_lock.release()  # type: ignore[union-attr]


async def locked(s: AsyncSession, model: type[T], key: Any) -> T | None:
    """The row, locked until the transaction ends: a check-then-write on it is then atomic on
    PostgreSQL too (on SQLite, BEGIN IMMEDIATE already makes every write transaction exclusive).

    Read again even if the session holds it already (`populate_existing`): an update's session
    lives across its units of work, and a copy loaded before the lock was granted may predate
    another transaction's commit (the lock is granted only after it).

    `FOR NO KEY UPDATE`, not `FOR UPDATE`: inserting a row that refers to this one (a membership,
    an audit event, a request of the community) takes `FOR KEY SHARE` on it, which `FOR UPDATE`
    waits for; two updates that each inserted such a row and then lock it would deadlock. Keys
    never change here, and two `FOR NO KEY UPDATE` (or an UPDATE) still exclude each other."""
    pg = s.bind.dialect.name == "postgresql"
    return await s.get(model, key, with_for_update={"key_share": True} if pg else None, populate_existing=True)


async def execute(s: AsyncSession, statement: Any, params: Any = None) -> int:
    """A write by statement on the session's connection, without the ORM's execution around it (its
    events, autoflush and result): for tables no object of the unit of work refers to (the inbox,
    conversation states, replies) and none of the directory's (`storage.cache` watches the ORM's).
    Returns the rows it changed."""
    return await s.run_sync(_execute, statement, params)


def _execute(session: Session, statement: Any, params: Any) -> int:
    return session.connection().execute(statement, params).rowcount


def current_scope() -> UpdateScope | None:
    return _scope.get()
