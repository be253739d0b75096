"""Error answers. Typed domain errors become translated answers; anything else is logged and,
once the update has failed for good, answered politely (see `bot.middlewares`). Nothing is
half-written: a failed unit of work rolls back, and an unexpected error rolls back the update."""
from __future__ import annotations

import logging
from aiogram import Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent

from bot.app import App
from bot.errors import DomainError
from bot.middlewares import answer_error
from handlers.routing import Stage

log = logging.getLogger(__name__)


async def on_error(event: ErrorEvent, app: App, locale: str | None = None) -> None:
    """Errors that escaped the update's scope (the middleware handles the rest)."""
    exc = event.exception
    code, args = (exc.code, exc.args_) if isinstance(exc, DomainError) else ("internal", {})
    if not isinstance(exc, DomainError):
        log.exception("unhandled error in update %s", event.update.update_id, exc_info=exc)
    try:
        await answer_error(app, event.update, locale or app.settings.default_locale, code, args)
    except Exception:  # the answer itself failed (blocked, network): already logged above
        log.warning("could not deliver the error answer for update %s", event.update.update_id)


def make_router() -> Router:
    router = Stage(name=__name__)
    router.errors.register(on_error, ExceptionTypeFilter(Exception))
    return router
