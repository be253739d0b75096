"""Typed domain errors. Each carries a code that `templates/error.j2` turns into a translated
answer; the error router sends it. Raising one means nothing was written (the unit of work
rolls back)."""
from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "generic"

    def __init__(self, code: str | None = None, **args: Any) -> None:
        super().__init__(code or self.code)
        if code:
            self.code = code
        self.args_ = args


class NotAllowed(DomainError):
    code = "not_allowed"


class NotFound(DomainError):
    code = "not_found"


class Stale(DomainError):
    """A button or action that no longer applies (state moved on, or forged data)."""

    code = "stale"


class BadInput(DomainError):
    code = "bad_input"


class Conflict(DomainError):
    code = "conflict"
