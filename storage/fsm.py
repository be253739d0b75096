"""aiogram FSM storage on our own table, so a conversation survives a restart."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiogram.fsm.state import State
from aiogram.fsm.storage.base import BaseStorage, StorageKey

from storage.db import Database
from storage.models import FsmRecord


def _key(key: StorageKey) -> str:
    return f"{key.bot_id}:{key.chat_id}:{key.thread_id or 0}:{key.user_id}:{key.destiny}"


class DbStorage(BaseStorage):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def set_state(self, key: StorageKey, state: str | State | None = None) -> None:
        value = state.state if isinstance(state, State) else state
        async with self.db.write() as s:
            rec = await s.get(FsmRecord, _key(key))
            if rec is None:
                if value is None:
                    return
                rec = FsmRecord(key=_key(key), state=value, data={})
            elif value is None and not rec.data:
                await s.delete(rec)
                return
            rec.state = value
            s.add(rec)

    async def get_state(self, key: StorageKey) -> str | None:
        async with self.db.read() as s:
            rec = await s.get(FsmRecord, _key(key))
            return rec.state if rec else None

    async def set_data(self, key: StorageKey, data: Mapping[str, Any]) -> None:
        async with self.db.write() as s:
            rec = await s.get(FsmRecord, _key(key))
            if rec is None:
                if not data:
                    return
                rec = FsmRecord(key=_key(key), state=None, data=dict(data))
            elif not data and rec.state is None:
                await s.delete(rec)
                return
            rec.data = dict(data)
            s.add(rec)

    async def get_data(self, key: StorageKey) -> dict[str, Any]:
        async with self.db.read() as s:
            rec = await s.get(FsmRecord, _key(key))
            return dict(rec.data) if rec else {}

    async def close(self) -> None:  # the Database is closed by its owner
        return None
