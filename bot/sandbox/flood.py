"""Telegram-like flood control: token buckets per chat plus one global bucket.

The model (all numbers are attributes of :class:`FloodControl`, so tests can
shrink or stretch them):

* **Global**: ``global_per_second`` (30) message-creating calls per second,
  burst of the same size.
* **Private chat**: ``private_per_second`` (1) per second with a burst of
  ``private_burst`` (3): three quick messages pass, the fourth waits ~1 s.
* **Group/supergroup**: ``group_per_minute`` (20) per minute, burst of the same
  size, i.e. after 20 quick messages one more every 3 s.
* **Edits** (editMessageText/Caption/ReplyMarkup) cost ``edit_weight`` (0.5)
  of a token in the chat bucket and nothing globally: Telegram limits them
  too, but more leniently than new messages.

A refused call takes no tokens and answers 429 with
``retry_after = ceil(time until enough tokens)`` (at least 1 s), as Telegram
does.  Every refusal is counted per chat in ``stats``.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import too_many_requests


@dataclass
class _Bucket:
    """Token count of one bucket; capacity and rate are supplied at each use so
    that changing a :class:`FloodControl` attribute takes effect immediately."""

    tokens: float
    stamp: float

    def wait_for(self, cost: float, capacity: float, rate: float, now: float) -> float:
        """Refill up to ``now``; return seconds until ``cost`` tokens exist (0 if they do)."""
        self.tokens = min(capacity, self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        missing = cost - self.tokens
        return 0.0 if missing <= 1e-9 else missing / rate


@dataclass
class FloodControl:
    """Rate limiter applied by the emulator to sending and editing methods."""

    enabled: bool = True
    global_per_second: float = 30.0
    private_per_second: float = 1.0
    private_burst: float = 3.0
    group_per_minute: float = 20.0
    edit_weight: float = 0.5
    clock: Callable[[], float] = time.monotonic
    #: Number of flood-control 429 answers per chat id.
    refusals: Counter[int] = field(default_factory=Counter)
    _chats: dict[int, _Bucket] = field(default_factory=dict, repr=False)
    _global: _Bucket | None = field(default=None, repr=False)

    def charge(self, chat_id: int, *, is_private: bool, edit: bool = False) -> None:
        """Take tokens for one call to ``chat_id`` or raise a 429 :class:`BotAPIError`."""
        if not self.enabled:
            return
        now = self.clock()
        if is_private:
            capacity, rate = self.private_burst, self.private_per_second
        else:
            capacity, rate = self.group_per_minute, self.group_per_minute / 60.0
        chat = self._chats.setdefault(chat_id, _Bucket(tokens=capacity, stamp=now))
        cost = self.edit_weight if edit else 1.0
        wait = chat.wait_for(cost, capacity, rate, now)
        if not edit:
            if self._global is None:
                self._global = _Bucket(tokens=self.global_per_second, stamp=now)
            wait = max(wait, self._global.wait_for(1.0, self.global_per_second, self.global_per_second, now))
        if wait > 0:
            self.refusals[chat_id] += 1
            raise too_many_requests(max(1, math.ceil(wait)))
        chat.tokens -= cost
        if not edit and self._global is not None:
            self._global.tokens -= 1.0

    def reset(self) -> None:
        """Refill every bucket (refusal counts are kept)."""
        self._chats.clear()
        self._global = None
