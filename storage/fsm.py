"""aiogram FSM storage on our own table, so a conversation survives a restart.

On SQLite, reads are served from a bounded write-through cache: aiogram asks for the state on
every update, and one process owns the database. On PostgreSQL several workers may handle one
person's updates in turn, so a cached state could be stale: there every read goes to the database
(one indexed lookup, inside the update's transaction that holds the person's lock). Every write goes to the database first, in the update's own transaction (so the state
moves only if the update's effects commit), and only when the state actually changed; a
rolled-back update drops what it cached.

Inside an update (`UpdateScope`) the state is written once, as the update commits, whatever the
handler set in between (`set_state` then `set_data` is one statement, an upsert, not two reads and
two writes), and the value read or set is remembered for the rest of the update (PostgreSQL too:
the update holds the person's lock, so no one else moves their state meanwhile).
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StorageKey
from sqlalchemy import bindparam, delete
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database, current_scope, execute
from storage.models import FsmRecord

CACHE_SIZE = 50_000


def _upsert(insert: Any) -> Any:
    stmt = insert(FsmRecord.__table__)
    return stmt.on_conflict_do_update(index_elements=["key"], set_={"state": stmt.excluded.state,
                                                                     "data": stmt.excluded.data})


# A conversation step's one write, built once per dialect (a statement built per step costs more than it runs).
_UPSERT = {"postgresql": _upsert(pg_insert), "sqlite": _upsert(sqlite_insert)}
_DELETE = delete(FsmRecord.__table__).where(FsmRecord.__table__.c.key == bindparam("key"))


def _key(key: StorageKey) -> str:
    return f"{key.bot_id}:{key.chat_id}:{key.thread_id or 0}:{key.user_id}:{key.destiny}"


class DbStorage(BaseStorage):
    def __init__(self, db: Database, cache_size: int = CACHE_SIZE) -> None:
        self.db = db
        self.cache_size = cache_size if db.is_sqlite else 0
        self._cache: OrderedDict[str, tuple[str | None, dict[str, Any]]] = OrderedDict()

    def _remember(self, key: str, state: str | None, data: dict[str, Any]) -> None:
        if not self.cache_size:
            return  # PostgreSQL: no cache at all
        self._cache[key] = (state, data)
        self._cache.move_to_end(key)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    def primed(self, key: StorageKey, rec: FsmRecord | None) -> None:
        """The state of `key` as the update's first statement read it (`bot.middlewares`): the
        update reads it from here instead of asking the database again."""
        memo = self._memo()
        if memo is not None:
            memo[_key(key)] = (rec.state, dict(rec.data)) if rec else (None, {})

    @staticmethod
    def key_of(key: StorageKey) -> str:
        return _key(key)

    def _memo(self) -> dict[str, tuple[str | None, dict[str, Any]]] | None:
        """This update's view of the states it touched (None outside an update)."""
        scope = current_scope()
        if scope is None or scope.db is not self.db:
            return None
        return scope.memo.setdefault("fsm", {})

    async def _load(self, key: str) -> tuple[str | None, dict[str, Any]]:
        memo = self._memo()
        if memo is not None and key in memo:
            return memo[key]
        if self.cache_size and key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        async with self.db.read() as s:
            rec = await s.get(FsmRecord, key)
        value = (rec.state, dict(rec.data)) if rec else (None, {})
        self._remember(key, *value)
        if memo is not None:
            memo[key] = value
        return value

    async def _save(self, key: str, state: str | None, data: dict[str, Any]) -> None:
        if await self._load(key) == (state, data):
            return  # nothing changed: no write
        scope = current_scope()
        if scope is not None and scope.db is self.db:
            memo = scope.memo.setdefault("fsm", {})
            dirty: set[str] = scope.memo.setdefault("fsm_dirty", set())
            memo[key] = (state, dict(data))
            self._remember(key, state, data)
            if key not in dirty:  # written once, as the update commits, with its last value
                dirty.add(key)
                scope.before_commit.append(lambda s: self._write(s, key, *memo[key]))
                scope.after_rollback.append(lambda: self._cache.pop(key, None))
            return
        async with self.db.write() as s:
            await self._write(s, key, state, data)
        self._remember(key, state, data)

    @staticmethod
    async def _write(s: AsyncSession, key: str, state: str | None, data: dict[str, Any]) -> None:
        if state is None and not data:
            await execute(s, _DELETE, {"key": key})
            return
        await execute(s, _UPSERT[s.bind.dialect.name], {"key": key, "state": state, "data": data})

    async def set_state(self, key: StorageKey, state: str | State | None = None) -> None:
        k = _key(key)
        value = state.state if isinstance(state, State) else state
        current, data = await self._load(k)
        if value != current:
            await self._save(k, value, data)

    async def get_state(self, key: StorageKey) -> str | None:
        return (await self._load(_key(key)))[0]

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        k = _key(key)
        state, _ = await self._load(k)
        await self._save(k, state, dict(data))

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        return dict((await self._load(_key(key)))[1])

    async def close(self) -> None:  # the Database is closed by its owner
        return None
