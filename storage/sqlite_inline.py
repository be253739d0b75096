"""SQLite for the async engine, run on the event loop's own thread.

aiosqlite runs every call on a thread of its own: each statement is three or four hand-offs
(cursor, execute, fetch, close), each one a queue, a thread switch and a wake-up of the event
loop. A SQLite statement on a local file in WAL mode takes microseconds, far less than the hand-off,
so this dialect calls the standard `sqlite3` module directly from SQLAlchemy's greenlet: no thread
and no await inside a statement. What that asks of the rest of the code, and gets:

- a statement blocks the loop while it runs, so slow queries must stay off the hot path (the
  hot queries are measured by `bench.scale`);
- a writer must never wait for SQLite's write lock while another coroutine of this process holds it
  (the wait would block the loop that has to release it): `Database.write` queues this process's
  writers on an asyncio lock first, so SQLite's busy handler only ever waits for another process
  (a CLI command), for at most `busy_timeout`.

The URL stays `sqlite+aiosqlite:///FILE` (`Database` picks this dialect for it).
"""
from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import pool
from sqlalchemy.dialects import registry
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.dialects.sqlite.base import SQLiteExecutionContext


class Cursor(sqlite3.Cursor):
    async def _async_soft_close(self) -> None:
        """What the async result asks of a cursor once executed; the rows stay readable."""


class Connection(sqlite3.Connection):
    def cursor(self, factory: Any = Cursor) -> Cursor:  # type: ignore[override]
        return super().cursor(factory)


class _Context(SQLiteExecutionContext):
    def create_server_side_cursor(self) -> Any:
        return self._dbapi_connection.cursor()  # sqlite3 reads rows as they are fetched anyway


class SQLiteDialect_inline(SQLiteDialect_pysqlite):
    driver = "inline"
    is_async = True  # allowed by create_async_engine: nothing in it ever awaits
    supports_statement_cache = True
    supports_server_side_cursors = True  # `AsyncSession.stream` (the copy to PostgreSQL reads in batches)
    execution_ctx_cls = _Context

    def __init__(self, begin: str = "BEGIN", **kwargs: Any) -> None:
        """`begin`: what opens a transaction (`BEGIN IMMEDIATE` on the writers' engine)."""
        super().__init__(**kwargs)
        self.begin = begin

    # BEGIN, and savepoints (every unit of work inside an update is one), go straight to the
    # driver: through SQLAlchemy's statement path each costs more than the statements it brackets,
    # and a `begin` event listener would put every statement of the engine through event dispatch.
    def do_begin(self, dbapi_connection: Any) -> None:
        dbapi_connection.execute(self.begin)

    def do_savepoint(self, connection: Any, name: str) -> None:
        connection.connection.dbapi_connection.execute(f"SAVEPOINT {name}")

    def do_release_savepoint(self, connection: Any, name: str) -> None:
        connection.connection.dbapi_connection.execute(f"RELEASE SAVEPOINT {name}")

    def do_rollback_to_savepoint(self, connection: Any, name: str) -> None:
        connection.connection.dbapi_connection.execute(f"ROLLBACK TO SAVEPOINT {name}")

    @classmethod
    def get_pool_class(cls, url: Any) -> type[pool.Pool]:
        return pool.AsyncAdaptedQueuePool if cls._is_url_file_db(url) else pool.StaticPool

    def create_connect_args(self, url: Any) -> tuple[list[Any], dict[str, Any]]:
        args, kwargs = super().create_connect_args(url)
        kwargs["factory"] = Connection
        kwargs["check_same_thread"] = False  # the pool may close a connection from the GC's thread
        return args, kwargs


registry.register("sqlite.inline", __name__, "SQLiteDialect_inline")
