"""The shape both background loops share (the inbox worker and the outbox): work in rounds, sleep
until woken or until something is due, survive a failing round, stop after the tasks in flight."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Loop:
    def __init__(self, idle: float) -> None:
        self.idle = idle
        self._wake = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False

    async def round(self) -> float:
        """One round of work; returns seconds until the next may be needed (0: at once)."""
        raise NotImplementedError

    def wake(self) -> None:
        self._wake.set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        self._stopping = False  # a loop can run again after a stop (a worker that leads again)
        while not self._stopping:
            try:
                wait = await self.round()
            except Exception:  # a database hiccup must not stop the bot
                log.exception("%s: round failed", type(self).__name__)
                wait = self.idle
            if wait <= 0:
                continue
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.01, min(wait, self.idle)))
            except TimeoutError:
                pass

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
