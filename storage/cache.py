"""The directory cache: communities, grids, chat bindings and memberships, kept in process.

Every update needs them (who acts, in which community, with which roles) and they change
rarely. Invalidation is explicit and in one place — this module's session events — so that no
writer can forget it: any session that changes one of these tables (an ORM flush, or a bulk
`insert`/`update`/`delete` statement on it) bumps the single row of `directory_version` in the
same transaction, and, once that transaction has committed, drops this process's cache.

Other processes — PostgreSQL workers sharing the database, or a `gongzhi grid add` next to a
SQLite bot — learn of the change from the version: every update reads it first (one primary-key
lookup in the read the update makes anyway, `Directory.sync`) and drops the cache when it moved.
A role granted or revoked anywhere thus takes effect on the very next update in every process.
(A `NOTIFY` after commit would cost no read per update, but it arrives asynchronously: an update
starting between the commit and the notification would still act with the old roles.)

A community's request counter (`next_number`) is left out of the invalidation (it moves with
every request filed; services read it under the row lock): a cached community's counter is stale.
Entries are copies detached from every session (never the instances a unit of work changes),
filled only if nothing was invalidated since the update read the version, and bounded (LRU).
The per-update context (`bot.services.context.load_actor`) and the services' role checks
(`memberships_of`), a request's community and grid (`row`) and a community's bound groups
(`bot.services.queries.bindings`) read through it; a transaction that changed the directory itself
reads the database instead.
"""
from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import bindparam, event, inspect, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from storage.models import ChatBinding, Community, DirectoryVersion, FsmRecord, Grid, Membership, User

T = TypeVar("T")
DIRECTORY = (Community, Grid, ChatBinding, Membership)
TABLES = frozenset(m.__tablename__ for m in DIRECTORY)
MAX_ENTRIES = 100_000
_CHANGED = "directory_changed"  # session.info: this transaction changed the directory
_BUMPED = "directory_bumped"  # session.info: ... and bumped the version; drop the cache after commit
_VERSION = select(DirectoryVersion.version).where(DirectoryVersion.id == 1)
# Every update's first read, by statement (built once: a statement built per update costs more than
# it runs) and read as plain rows: the user's and the state's objects are made from their columns.
_USER, _STATE = User.__table__, FsmRecord.__table__
_FIRST = (select(*_USER.c, _VERSION.scalar_subquery(), *_STATE.c)
          .select_from(_USER.outerjoin(_STATE, _STATE.c.key == bindparam("state_key")))
          .where(_USER.c.id == bindparam("user_id")))


class Directory:
    """One process's (one `Database`'s) cached directory."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self.version: int | None = None  # the directory version the entries were read at
        self.generation = 0  # moves on every invalidation: a load begun before it is not kept
        self._entries: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
        self.hits = self.misses = 0

    def invalidate(self) -> None:
        self.generation += 1
        self._entries.clear()

    async def sync(self, s: AsyncSession) -> int:
        """Read the version (in the update's first read); drop everything if it moved. Returns
        the token that loads of this update pass to `get`."""
        return self._at((await s.execute(_VERSION)).scalar() or 0)

    async def sync_user(self, s: AsyncSession, user_id: int,
                        state_key: str | None = None) -> tuple[int, User | None, FsmRecord | None]:
        """`sync`, the acting user's row and their conversation state (`storage.fsm`) in one
        statement: the first read of every update."""
        found = await s.run_sync(_first, user_id, state_key or "")
        if found is None:
            return await self.sync(s), None, None
        n = len(_USER.c)
        user = User(**dict(zip(_USER.c.keys(), found[:n])))
        state = FsmRecord(**dict(zip(_STATE.c.keys(), found[n + 1:]))) if found[n + 1] is not None else None
        return self._at(found[n] or 0), user, state

    def _at(self, version: int) -> int:
        if version != self.version:
            self.invalidate()
            self.version = version
        return self.generation

    async def get(self, token: int, key: tuple[Any, ...], load: Callable[[], Awaitable[T]]) -> T:
        if key in self._entries:
            self.hits += 1
            self._entries.move_to_end(key)
            return self._entries[key]
        self.misses += 1
        value = await load()
        if token == self.generation:  # nothing changed since this update read the version
            self._entries[key] = value
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return value


def _first(session: Session, user_id: int, state_key: str) -> Any:
    return session.connection().execute(_FIRST, {"user_id": user_id, "state_key": state_key}).first()


async def lookup(s: AsyncSession, key: tuple[Any, ...], load: Callable[[], Awaitable[list[T]]]) -> list[T]:
    """A directory query of a service (`load`, run in its session `s`), through the cache when an
    update is in hand (whose `Directory.sync` token the middleware keeps in `scope.memo`) and its
    transaction has not changed the directory itself; else straight from the database."""
    from storage.db import current_scope  # storage.db imports this module

    scope = current_scope()
    token = scope.memo.get("directory") if scope is not None else None
    if token is None or s.info.get(_CHANGED) or _touched(s.sync_session):
        return await load()

    async def copies() -> tuple[T, ...]:
        return tuple(_copy(o) for o in await load())  # type: ignore[misc]
    return list(await scope.db.directory.get(token, key, copies))  # type: ignore[union-attr]


async def row(s: AsyncSession, model: type[T], key: int) -> T | None:
    """A community, a grid or a group's binding by its key, through the cache as `lookup` says (read-only: a service
    that changes one loads it with `storage.db.locked`)."""
    async def load() -> list[T]:
        found = await s.get(model, key)
        return [found] if found is not None else []
    rows = await lookup(s, (model.__tablename__, key), load)
    return rows[0] if rows else None


def _copy(obj: T | None) -> T | None:
    """A transient copy: no session ever holds it, so no unit of work changes or expires it."""
    if obj is None:
        return None
    return type(obj)(**obj.model_dump())  # type: ignore[attr-defined]


# Invalidation: every writer goes through a Session ------------------------------------------
# Columns that change often and are no part of what the cache serves: a community's request
# counter moves with every request filed, and is read and written under its row lock only.
VOLATILE: dict[type, frozenset[str]] = {Community: frozenset({"next_number"})}


def _touched(session: Session) -> bool:
    # Asked at every directory lookup: nothing pending, deleted or changed in the session (the
    # common case) is read from the unit of work's own bookkeeping, without building its sets.
    if not (session._new or session._deleted or session.identity_map._modified):
        return False
    if any(isinstance(o, DIRECTORY) for o in itertools.chain(session.new, session.deleted)):
        return True
    for o in session.dirty:
        if isinstance(o, DIRECTORY):
            state = inspect(o)
            changed = {attr.key for attr in state.attrs if attr.history.has_changes()}
            if changed - VOLATILE.get(type(o), frozenset()):
                return True
    return False


@event.listens_for(Session, "before_flush")
def _note_flush(session: Session, _context: object, _instances: object) -> None:
    if _touched(session):
        session.info[_CHANGED] = True


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table = getattr(state.statement, "table", None)
        if getattr(table, "name", None) in TABLES:
            state.session.info[_CHANGED] = True


@event.listens_for(Session, "before_commit")
def _bump(session: Session) -> None:
    """In the transaction that changed the directory (its outermost commit, not a savepoint's)."""
    if session.in_nested_transaction() or not (session.info.pop(_CHANGED, False) or _touched(session)):
        return
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    session.execute(insert(DirectoryVersion).values(id=1, version=1).on_conflict_do_update(
        index_elements=["id"], set_={"version": DirectoryVersion.version + 1}))
    session.info.pop(_CHANGED, None)  # set again by the flush above
    session.info[_BUMPED] = True


@event.listens_for(Session, "after_commit")
def _drop(session: Session) -> None:
    if session.in_nested_transaction() or not session.info.pop(_BUMPED, False):
        return
    db = session.info.get("db")
    if db is not None:
        db.directory.invalidate()


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    if not session.in_nested_transaction():
        session.info.pop(_CHANGED, None)
        session.info.pop(_BUMPED, None)
