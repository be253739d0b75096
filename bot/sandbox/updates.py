"""The update queue behind getUpdates, and the change signal tests wait on.

Updates follow Telegram's delivery contract: an update stays pending until a
getUpdates call passes an ``offset`` greater than its ``update_id``; only then
is it dropped.  ``allowed_updates`` is remembered between calls (an empty list
restores the default, which excludes ``chat_member``, ``message_reaction`` and
``message_reaction_count``).  Updates of a type that is not allowed are
discarded, both when created and, for pending ones, when a call changes the
setting (Telegram may still deliver those for "a short period"; the emulator
is deterministic instead).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

Update = dict[str, Any]

ALL_UPDATE_TYPES = frozenset({
    "message", "edited_message", "channel_post", "edited_channel_post", "business_connection",
    "business_message", "edited_business_message", "deleted_business_messages", "message_reaction",
    "message_reaction_count", "inline_query", "chosen_inline_result", "callback_query",
    "shipping_query", "pre_checkout_query", "purchased_paid_media", "poll", "poll_answer",
    "my_chat_member", "chat_member", "chat_join_request", "chat_boost", "removed_chat_boost",
})
DEFAULT_UPDATE_TYPES = ALL_UPDATE_TYPES - {"chat_member", "message_reaction", "message_reaction_count"}


def update_type(update: Update) -> str:
    """The payload key of an update (``"message"``, ``"callback_query"``...)."""
    return next(key for key in update if key != "update_id")


class Signal:
    """Wakes every coroutine waiting for "something changed" in the emulator."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        """Return at the next :meth:`fire` or after ``timeout`` seconds, whichever is first."""
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            pass


class UpdateQueue:
    """Pending updates, confirmation by offset, and duplicate redelivery."""

    def __init__(self, signal: Signal) -> None:
        self.pending: list[Update] = []
        self.allowed: frozenset[str] = DEFAULT_UPDATE_TYPES
        self._signal = signal
        self._next_id = 1
        self._delivered: set[int] = set()
        self._redeliver: list[Update] = []

    def push(self, kind: str, payload: dict[str, Any]) -> Update | None:
        """Create an update with the next update_id; None if its type is not allowed."""
        if kind not in self.allowed:
            return None
        update = {"update_id": self._next_id, kind: payload}
        self._next_id += 1
        self.pending.append(update)
        self._signal.fire()
        return update

    def set_allowed(self, types: list[str] | None) -> None:
        """Apply getUpdates' ``allowed_updates`` (None keeps the previous setting)."""
        if types is None:
            return
        self.allowed = frozenset(types) & ALL_UPDATE_TYPES if types else DEFAULT_UPDATE_TYPES
        self.pending = [update for update in self.pending if update_type(update) in self.allowed]

    def confirm(self, offset: int) -> None:
        """Forget updates below ``offset``; a negative offset keeps only the last ``-offset``."""
        if offset > 0:
            self.pending = [update for update in self.pending if update["update_id"] >= offset]
        elif offset < 0:
            self.pending = self.pending[offset:]
        self._delivered &= {update["update_id"] for update in self.pending}

    def remove(self, update_id: int) -> None:
        """A webhook delivery was acknowledged: forget that one update."""
        self.pending = [update for update in self.pending if update["update_id"] != update_id]

    def has_deliverable(self) -> bool:
        return bool(self.pending or self._redeliver)

    def take(self, limit: int, duplicate: Callable[[], bool]) -> list[Update]:
        """The next batch: scheduled redeliveries first, then pending updates.

        ``duplicate()`` is asked once per update delivered for the first time;
        when it says yes, the update is scheduled for redelivery by the next call.
        """
        pending_ids = {update["update_id"] for update in self.pending}
        batch = [update for update in self._redeliver if update["update_id"] not in pending_ids][:limit]
        self._redeliver = []
        for update in self.pending[: max(0, limit - len(batch))]:
            batch.append(update)
            if update["update_id"] not in self._delivered:
                self._delivered.add(update["update_id"])
                if duplicate():
                    self._redeliver.append(update)
        return batch
