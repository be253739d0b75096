"""aiogram FSM storage on our own table, so a conversation survives a restart.

On SQLite, reads are served from a bounded write-through cache: aiogram asks for the state on
every update, and one process owns the database. On PostgreSQL several workers may handle one
person's updates in turn, so a cached state could be stale: there every read goes to the database
(one indexed lookup, inside the update's transaction that holds the person's lock). Every write goes to the database first, in the update's own transaction (so the state
moves only if the update's effects commit), and only when the state actually changed; a
rolled-back update drops what it cached.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StorageKey

from storage.db import Database, current_scope
from storage.models import FsmRecord

CACHE_SIZE = 50_000


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

    async def _load(self, key: str) -> tuple[str | None, dict[str, Any]]:
        if self.cache_size and key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        async with self.db.read() as s:
            rec = await s.get(FsmRecord, key)
        value = (rec.state, dict(rec.data)) if rec else (None, {})
        self._remember(key, *value)
        return value

    async def _save(self, key: str, state: str | None, data: dict[str, Any]) -> None:
        if self._cache.get(key) == (state, data):
            return  # nothing changed: no write
        async with self.db.write() as s:
            rec = await s.get(FsmRecord, key)
            if state is None and not data:
                if rec is not None:
                    await s.delete(rec)
            else:
                rec = rec or FsmRecord(key=key)
                rec.state, rec.data = state, data
                s.add(rec)
        self._remember(key, state, data)
        scope = current_scope()
        if scope is not None:
            scope.after_rollback.append(lambda: self._cache.pop(key, None))

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
