"""Outbox keys: what a queued message is about, stored in `Outbox.key` as "kind:id" (a question
to a requester, a triage card, a task post), so later changes can find, replace or supersede it."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OutboxKey:
    kind: str  # "ask", "card", "task", "feed", "brief", ...
    ref: int  # the id of the request (proposal, survey) it is about

    def __str__(self) -> str:
        return f"{self.kind}:{self.ref}"

    @classmethod
    def parse(cls, key: str | None) -> OutboxKey | None:
        """The key of a row, or None for one without a key or of another shape."""
        kind, sep, ref = (key or "").partition(":")
        return cls(kind, int(ref)) if sep and ref.isdigit() else None
