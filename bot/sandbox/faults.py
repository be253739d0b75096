"""Deterministic fault injection.

Real Telegram misbehaves in a few characteristic ways; the bot must survive
each of them, so each one can be switched on here:

* ``rate_limit_*``: a 429 with ``retry_after`` seconds (on top of real flood
  control, to hit the retry path on demand);
* ``server_error_*``: a 5xx (``server_error_status``, 502 by default);
* ``lost_response_*``: the call **is performed** (the message is sent) but the
  client gets a 5xx: Telegram's sends are not transactional, and a naive retry
  produces a duplicate message;
* ``slow_*``: the answer is delayed by ``slow_delay`` seconds;
* ``duplicate_*``: an update is delivered again by the *next* getUpdates even
  though the bot confirmed it, as after a crash between handling and
  confirming.

Each fault has ``*_next`` (a count: the next N eligible calls) and ``*_rate``
(a probability per eligible call).  Rates draw from a private
:class:`random.Random` seeded at construction and only when the rate is
positive, so a given configuration and seed always fault the same calls.
Counted faults are used before rates.  429 and 5xx are decided before the
method runs and have **no side effect**.

Only methods named in ``methods`` are eligible (message-sending methods by
default); duplicate delivery applies to getUpdates.  ``injected`` counts the
faults issued, keyed by "rate_limit", "server_error", "lost_response",
"slow" and "duplicate".
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from .errors import BotAPIError, server_error, too_many_requests


@dataclass(frozen=True)
class FaultPlan:
    """What to do to one API call."""

    delay: float = 0.0
    #: Answer this instead of running the method (no side effect).
    error: BotAPIError | None = None
    #: Run the method, then answer this instead of its result.
    lost: BotAPIError | None = None
    #: Names of the faults applied, for the call log.
    kinds: tuple[str, ...] = ()


class Faults:
    """Settable fault rates and counters; see the module docstring."""

    def __init__(self, *, seed: int = 0, methods: Iterable[str] = ()) -> None:
        self.methods: set[str] = set(methods)
        self.rate_limit_next = 0
        self.rate_limit_rate = 0.0
        self.retry_after = 1
        self.server_error_next = 0
        self.server_error_rate = 0.0
        self.server_error_status = 502
        self.lost_response_next = 0
        self.lost_response_rate = 0.0
        self.slow_rate = 0.0
        self.slow_delay = 0.5
        self.duplicate_next = 0
        self.duplicate_rate = 0.0
        self.injected: Counter[str] = Counter()
        self._random = random.Random(seed)

    def clear(self) -> None:
        """Switch every fault off (counts in ``injected`` are kept)."""
        self.rate_limit_next = self.server_error_next = self.lost_response_next = self.duplicate_next = 0
        self.rate_limit_rate = self.server_error_rate = self.lost_response_rate = 0.0
        self.slow_rate = self.duplicate_rate = 0.0

    def _fires(self, kind: str, rate: float) -> bool:
        """Consume one ``{kind}_next`` if positive, else roll against ``rate``."""
        counter = f"{kind}_next"
        remaining: int = getattr(self, counter)
        if remaining > 0:
            setattr(self, counter, remaining - 1)
        elif not (rate > 0 and self._random.random() < rate):
            return False
        self.injected[kind] += 1
        return True

    def plan(self, method: str) -> FaultPlan:
        """Decide the faults for one call of ``method`` (canonical Bot API name)."""
        if method not in self.methods:
            return FaultPlan()
        slow = self.slow_rate > 0 and self._random.random() < self.slow_rate
        if slow:
            self.injected["slow"] += 1
        delay, kinds = (self.slow_delay, ("slow",)) if slow else (0.0, ())
        if self._fires("rate_limit", self.rate_limit_rate):
            return FaultPlan(delay, error=too_many_requests(self.retry_after), kinds=(*kinds, "rate_limit"))
        if self._fires("server_error", self.server_error_rate):
            return FaultPlan(delay, error=server_error(self.server_error_status), kinds=(*kinds, "server_error"))
        if self._fires("lost_response", self.lost_response_rate):
            return FaultPlan(delay, lost=server_error(self.server_error_status), kinds=(*kinds, "lost_response"))
        return FaultPlan(delay, kinds=kinds)

    def duplicate(self) -> bool:
        """Whether an update being delivered for the first time should be delivered again."""
        return self._fires("duplicate", self.duplicate_rate)
