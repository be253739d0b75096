"""The one error router: typed domain errors become translated answers; anything else is
logged and answered politely. Nothing is half-written: services roll back on raise."""
from __future__ import annotations

import logging

from aiogram import Router
from aiogram.filters import ExceptionTypeFilter
from aiogram.types import ErrorEvent

from bot.app import App
from bot.errors import DomainError
from bot.render import plain

log = logging.getLogger(__name__)


async def on_error(event: ErrorEvent, app: App, locale: str | None = None) -> None:
    exc = event.exception
    if isinstance(exc, DomainError):
        code, args = exc.code, exc.args_
    else:
        log.exception("unhandled error in update %s", event.update.update_id, exc_info=exc)
        code, args = "internal", {}
    locale = locale or app.settings.default_locale
    text = app.renderer.render("error", locale, code=code, **args)
    update = event.update
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(plain(text)[:200], show_alert=True)
        elif update.message is not None:
            await update.message.answer(text)
    except Exception:  # the answer itself failed (blocked, network): already logged above
        log.warning("could not deliver the error answer for update %s", update.update_id)


def make_router() -> Router:
    router = Router(name=__name__)
    router.errors.register(on_error, ExceptionTypeFilter(Exception))
    return router
