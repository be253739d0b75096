"""Error types of the Bot API emulator.

Two kinds of failure exist and they must never be confused:

* :class:`BotAPIError` is what *Telegram* would answer: it becomes an
  ``{"ok": false, ...}`` HTTP response and is part of normal emulation.
* :class:`ScriptError` means the *test script* asked for something impossible
  (pressing a button that is not on the message, a non-member writing in a
  group).  It is raised in the test, because hiding it would let a broken test
  pass.
"""

from __future__ import annotations

from typing import Any


class BotAPIError(Exception):
    """A Telegram-style error response (``ok: false``)."""

    def __init__(self, error_code: int, description: str, *, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def payload(self) -> dict[str, Any]:
        """The JSON body Telegram sends for this error."""
        body: dict[str, Any] = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(detail: str) -> BotAPIError:
    """``400 Bad Request: <detail>``, the most common Telegram error."""
    return BotAPIError(400, f"Bad Request: {detail}")


def forbidden(detail: str) -> BotAPIError:
    """``403 Forbidden: <detail>`` (blocked bot, not a member, ...)."""
    return BotAPIError(403, f"Forbidden: {detail}")


def too_many_requests(retry_after: int) -> BotAPIError:
    """``429`` with ``parameters.retry_after`` exactly as Telegram sends it."""
    return BotAPIError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)


def server_error(status: int) -> BotAPIError:
    """A 5xx answer, used only by fault injection."""
    description = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
    return BotAPIError(status, description.get(status, "Internal Server Error"))


class ScriptError(AssertionError):
    """The test script drove the simulated world into an impossible state.

    Subclasses :class:`AssertionError` so pytest reports it as a test failure.
    """
