"""App factory: builds the Bot, the Dispatcher and the app-lifetime objects, and runs them."""
from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import ValidationError

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.base import BaseSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.enums import ParseMode
from aiogram.fsm.storage.memory import SimpleEventIsolation
from aiogram.types import BotCommand, BotCommandScopeAllGroupChats, BotCommandScopeAllPrivateChats, Update

from bot import crashpoints
from bot.config import ConfigError, Settings
from bot.delivery import Delivery, Pacer, PacingMiddleware
from bot.i18n import Catalogs
from bot.inbox import InboxWorker, Poller, store
from bot.leader import Leadership
from bot.middlewares import ContextMiddleware, DeferredSends
from bot.render import Renderer
from bot.services.community import CommunityService
from bot.services.menu import MenuService
from bot.services.needs import NeedsService
from bot.services.deliberation import DeliberationService
from bot.notify import Notifier
from bot.services.language import translator_from
from bot.services.partners import PartnerService
from bot.services.resources import ResourceService
from bot.services.rewards import RewardService
from bot.services.points import PointsService
from bot.services.requests import RequestService
from bot.services.signoff import SignOffService
from bot.services.reports import ReportService
from bot.services.surveys import SurveyService
from storage.db import Database
from storage.fsm import DbStorage

log = logging.getLogger(__name__)


@dataclass
class App:
    """App-lifetime objects, given to handlers as the `app` Dispatcher kwarg and to scheduler jobs."""

    settings: Settings
    db: Database
    renderer: Renderer
    notifier: Notifier
    pacer: Pacer
    communities: CommunityService
    requests: RequestService
    signoff: SignOffService
    points: PointsService
    partners: PartnerService
    resources: ResourceService
    rewards: RewardService
    bot: Bot
    delivery: Delivery
    council: DeliberationService
    surveys: SurveyService
    reports: ReportService
    menu: MenuService = field(init=False)  # the services list (服务清单, 点单)
    needs: NeedsService = field(init=False)  # the needs list (需求清单, 每月一题)
    inbox: InboxWorker = field(init=False)
    bot_username: str = "gongzhi_bot"
    background: list[asyncio.Task[Any]] = field(default_factory=list)
    step_down: Callable[[], Awaitable[None]] | None = None  # stops the outbox and scheduler if they run here


def create_app(settings: Settings, *, session: BaseSession | None = None,
               db: Database | None = None, pacer: Pacer | None = None) -> tuple[Bot, Dispatcher, App]:
    db = db or Database(settings.database_url)
    catalogs = Catalogs(path=settings.locales_dir, default_locale=settings.default_locale)
    renderer = Renderer(catalogs, settings.timezone)
    notifier = Notifier(renderer, settings.default_locale)
    pacer = pacer or Pacer()
    if session is None:
        session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api_base.rstrip("/")))
    session.middleware(DeferredSends())  # inside an update, replies join its transaction
    session.middleware(PacingMiddleware(pacer))
    token = settings.bot_token.get_secret_value() if settings.bot_token else "0:sandbox"
    bot = Bot(token, session=session, default=DefaultBotProperties(
        parse_mode=ParseMode.HTML, link_preview_is_disabled=True))
    delivery = Delivery(bot, db, pacer, idle=settings.delivery_idle_seconds)
    notifier.on_commit = delivery.wake
    translator = translator_from(settings.translate_url,
                                 settings.translate_key.get_secret_value() if settings.translate_key else None)
    requests = RequestService(db, notifier, translator)
    app = App(settings=settings, db=db, renderer=renderer, notifier=notifier, pacer=pacer,
              communities=CommunityService(db), requests=requests, signoff=SignOffService(requests),
              points=PointsService(db), partners=PartnerService(db),
              resources=ResourceService(db, requests), rewards=RewardService(db, notifier),
              bot=bot, delivery=delivery, council=DeliberationService(db, notifier, requests),
              surveys=SurveyService(db, notifier, translator), reports=ReportService(db, notifier))
    app.menu = MenuService(requests)
    app.needs = NeedsService(app.council, app.reports)

    from handlers import build_root_router  # handlers import the app's types

    # One person's updates are handled one at a time, in order: a button press and the text typed
    # right after it must not race through the conversation state.
    # The conversation state is read inside the update's scope (ContextMiddleware first, then
    # aiogram's FSM middleware, which reads it eagerly): the update remembers it, and group chatter
    # the bot ignores reads nothing.
    dp = Dispatcher(storage=DbStorage(db), events_isolation=SimpleEventIsolation(), app=app, disable_fsm=True)
    dp.update.outer_middleware(ContextMiddleware(app, dp.fsm))
    dp.update.outer_middleware(dp.fsm)
    dp.include_router(build_root_router())
    _checks_inline(dp)
    app.inbox = InboxWorker(bot, dp, db)
    return bot, dp, app


def _checks_inline(dp: Dispatcher) -> None:
    """aiogram runs a filter or handler that is a plain function (every magic filter, `F.…`) on a
    worker thread: a thread hand-off per check, several per update. Ours are pure expressions that
    take microseconds; they run on the event loop like the rest (a handler is always a coroutine)."""
    def inline(callback: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        async def run(*args: Any, **kwargs: Any) -> Any:
            return callback(*args, **kwargs)
        return run

    for router in dp.chain_tail:
        for observer in router.observers.values():
            for handler in [observer._handler, *observer.handlers]:
                if handler is not observer._handler and not handler.awaitable:
                    raise TypeError(f"handler {handler.callback!r} is not a coroutine function")
                for check in handler.filters or []:
                    if not check.awaitable:
                        check.callback, check.awaitable = inline(check.callback), True


async def set_commands(bot: Bot, renderer: Renderer, default_locale: str) -> None:
    """Command menus per language and scope; the default locale also fills the no-language menu."""
    for locale in renderer.locales:
        menus = renderer.strings("commands", locale)
        for scope, items in ((BotCommandScopeAllPrivateChats(), menus.private),
                             (BotCommandScopeAllGroupChats(), menus.group)):
            commands = [BotCommand(command=c, description=str(d)) for c, d in items]
            await bot.set_my_commands(commands, scope=scope, language_code=locale.split("_")[0])
            if locale == default_locale:
                await bot.set_my_commands(commands, scope=scope)


async def start_background(app: App) -> None:
    """Identity, menus, the delivery loop and the scheduler: what a running bot needs."""
    me = await app.bot.get_me()
    app.bot_username = me.username or app.bot_username
    app.renderer.env.globals["bot_username"] = app.bot_username  # deep links in templates
    try:
        await set_commands(app.bot, app.renderer, app.settings.default_locale)
    except Exception:  # menus are a convenience; never refuse to start over them
        log.exception("setting command menus failed")
    app.background.append(asyncio.create_task(app.inbox.run(), name="inbox"))
    duties: list[asyncio.Task[Any]] = []

    async def lead() -> None:
        """The outbox and the scheduler: once for the bot as a whole (see `bot.leader`)."""
        from scheduler import start_scheduler

        restored = await app.pacer.restore(app.db)
        log.debug("pacer restored with %d recent sends", restored)
        duties.append(asyncio.create_task(app.delivery.run(), name="outbox"))
        duties.append(asyncio.create_task(start_scheduler(app), name="scheduler"))

    async def step_down() -> None:
        await app.delivery.stop()
        for task in duties:
            task.cancel()
        await asyncio.gather(*duties, return_exceptions=True)
        duties.clear()

    leadership = Leadership(app.db, lead=lead, step_down=step_down, wake=app.delivery.wake)
    app.background.append(asyncio.create_task(leadership.run(), name="leadership"))
    app.step_down = step_down


async def stop_background(app: App) -> None:
    await app.inbox.stop()
    for task in app.background:
        task.cancel()
    await asyncio.gather(*app.background, return_exceptions=True)
    app.background.clear()
    if app.step_down is not None:
        await app.step_down()


async def run_polling(settings: Settings) -> None:
    bot, dp, app = create_app(settings)
    poller = Poller(bot, app.db, app.inbox, allowed_updates=dp.resolve_used_update_types())
    pages: web.AppRunner | None = None
    try:
        await bot.delete_webhook(drop_pending_updates=False)
        await start_background(app)
        if settings.web_port is not None:  # the web pages (bot/web), on their own port
            from bot import web as web_pages

            pages, address = await web_pages.start(app, settings.web_host, settings.web_port)
            log.info("web pages on %s", address)
        log.info("polling as @%s", app.bot_username)
        await _until_signal(poller.run())
    finally:
        poller.stop()
        if pages is not None:
            await pages.cleanup()
        await stop_background(app)
        await bot.session.close()
        await app.db.dispose()


def webhook_handler(app: App, secret: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """Telegram's POST: the update is stored before the 200, so it is never lost to a crash
    (without a 200 Telegram delivers it again)."""

    async def handle(request: web.Request) -> web.Response:
        if not hmac.compare_digest(request.headers.get("X-Telegram-Bot-Api-Secret-Token", ""), secret):
            return web.Response(status=401)
        try:
            update = Update.model_validate(await request.json(), context={"bot": app.bot})
        except (ValueError, ValidationError):
            return web.Response(status=400)
        await store(app.db, [update])
        crashpoints.reach("webhook.stored")
        app.inbox.wake()
        return web.Response()

    return handle


async def run_webhook(settings: Settings, *, reuse_port: bool = False) -> None:
    if not settings.webhook_url or not settings.webhook_secret:
        raise ConfigError("WEBHOOK_URL and WEBHOOK_SECRET must be set for --webhook")
    bot, dp, app = create_app(settings)
    secret = settings.webhook_secret.get_secret_value()
    web_app = web.Application()
    web_app.router.add_post("/webhook", webhook_handler(app, secret))
    from bot import web as web_pages

    web_pages.setup(web_app, app)  # the public pages and the staff Mini App, beside the webhook
    runner = web.AppRunner(web_app)
    await runner.setup()
    try:
        await web.TCPSite(runner, settings.webhook_host, settings.webhook_port, reuse_port=reuse_port or None).start()
        await start_background(app)
        await bot.set_webhook(f"{settings.webhook_url.rstrip('/')}/webhook", secret_token=secret,
                              allowed_updates=dp.resolve_used_update_types())
        log.info("webhook on %s:%s", settings.webhook_host, settings.webhook_port)
        await _until_signal(asyncio.Event().wait())
    finally:
        await stop_background(app)
        await runner.cleanup()
        await bot.session.close()
        await app.db.dispose()


async def _until_signal(work: Awaitable[Any]) -> None:
    """Run until the work ends or SIGTERM/SIGINT asks to stop (then the caller shuts down cleanly)."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(work)
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError):
                loop.remove_signal_handler(sig)
