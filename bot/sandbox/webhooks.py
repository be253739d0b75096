"""Telegram's side of a webhook: the emulator POSTs each update to the bot.

As Telegram does: the secret token set with `setWebhook` goes in the
``X-Telegram-Bot-Api-Secret-Token`` header; an update is delivered again until
the bot answers 2xx (with a growing pause); one chat's updates go one at a time,
in order, while different chats' go in parallel (up to ``max_connections``).

``targets`` stands in for a load balancer in front of several workers: each POST
goes to the next URL in turn, and a worker that cannot be reached is skipped for
that attempt.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

import aiohttp

from .updates import Signal, UpdateQueue, update_type

log = logging.getLogger(__name__)


def chat_of(update: dict[str, Any]) -> int:
    """The key Telegram serialises webhook deliveries on: the chat, else the sender."""
    payload = update[update_type(update)]
    chat = payload.get("chat") or (payload.get("message") or {}).get("chat")
    if chat:
        return int(chat["id"])
    sender = payload.get("from") or payload.get("user") or {}
    return int(sender.get("id", 0))


class WebhookPusher:
    def __init__(self, queue: UpdateQueue, signal: Signal, world: Any, *, max_connections: int = 40) -> None:
        self.queue, self.signal, self.world = queue, signal, world
        self.max_connections = max_connections
        self.targets: list[str] = []  # empty: the URL given to setWebhook
        #: Every POST made: (update_id, url, HTTP status or 0 when the worker could not be reached).
        self.attempts: list[tuple[int, str, int]] = []
        self._busy: set[int] = set()
        self._turn = itertools.count()
        self.stopped = False  # checked each round: a cancel can be swallowed by wait_for (Python 3.11)

    def _urls(self) -> list[str]:
        return self.targets or ([self.world.webhook_url] if self.world.webhook_url else [])

    async def run(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            tasks: set[asyncio.Task[None]] = set()
            while not self.stopped:
                if self._urls():
                    for update in list(self.queue.pending):
                        chat = chat_of(update)
                        if chat in self._busy or len(self._busy) >= self.max_connections:
                            continue
                        self._busy.add(chat)
                        task = asyncio.create_task(self._deliver(http, update, chat))
                        tasks.add(task)
                        task.add_done_callback(tasks.discard)
                await self.signal.wait(0.5)

    async def _deliver(self, http: aiohttp.ClientSession, update: dict[str, Any], chat: int) -> None:
        try:
            for attempt in itertools.count():
                urls = self._urls()
                if not urls:
                    return
                url = urls[next(self._turn) % len(urls)]
                headers = {"X-Telegram-Bot-Api-Secret-Token": self.world.webhook_secret} \
                    if self.world.webhook_secret else {}
                try:
                    async with http.post(url, json=update, headers=headers) as response:
                        status = response.status
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    status = 0
                self.attempts.append((update["update_id"], url, status))
                if 200 <= status < 300:
                    self.queue.remove(update["update_id"])
                    return
                await asyncio.sleep(min(0.05 * 2 ** attempt, 2.0) if status else 0.05)
        finally:
            self._busy.discard(chat)
            self.signal.fire()
