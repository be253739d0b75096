"""The bot's web pages, served by its own aiohttp server (beside the webhook, or on
`WEB_HOST:WEB_PORT` in polling mode):

- `GET /c/{code}`: the public page of a community (信息公开). Read-only, no login, no personal
  data (see `bot.services.disclosure`); in the visitor's language (`?lang=` from the switcher,
  else Accept-Language, else the community's), right to left for Arabic and Persian; one
  request per page (styles and SVG charts inline); rendered pages are kept for `CACHE_SECONDS`
  per community and language and carry an ETag.
- `GET /staff`: the staff Mini App, opened from the `web_app` button of /dashboard. Its page
  reads Telegram's init data (the `tgWebAppData` of the URL fragment, or `Telegram.WebApp`) and
  posts it to `POST /staff/api`, which checks the signature with aiogram's
  `safe_parse_webapp_init_data`, refuses init data older than `WEBAPP_MAX_AGE` (or from the
  future), and shows the dashboard of a community the person is staff of (`bot.policy`).
- `GET /staff/export/{community}/{name}.csv`: a download, by a link the dashboard signed for
  that person and community, valid for `EXPORT_LINK_SECONDS`; staff membership is checked again.

`setup(web_app, app)` adds the routes to an aiohttp Application; `start(app, host, port)` runs
one on its own (polling mode, the demo, tests).
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import quote

from aiohttp import web
from aiogram.utils.web_app import WebAppInitData, safe_parse_webapp_init_data
from markupsafe import Markup
from sqlalchemy import select

from bot.errors import NotAllowed, NotFound
from bot.i18n import is_rtl, language_name, normalise
from bot.services import charts, disclosure
from bot.services.community import category_of
from storage.models import User

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

CACHE_SECONDS = 60
EXPORT_LINK_SECONDS = 600
FUTURE_SKEW = timedelta(minutes=1)
EXPORTS = ("requests", "timeline", "ratings", "rates", "votes")
HTML = "text/html"


def accept_language(header: str | None, supported: tuple[str, ...]) -> str | None:
    """The first shipped locale in an Accept-Language header, by its q-values."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((header or "").split(",")):
        code, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if code and code != "*" and q > 0:
            ranked.append((-q, i, code))
    for _, _, code in sorted(ranked):
        found = normalise(code, supported)
        if found:
            return found
    return None


class Unauthorized(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def check_init_data(token: str, init_data: str, max_age: float, now: datetime | None = None) -> WebAppInitData:
    """Telegram's signature (aiogram's check), then freshness: `auth_date` no older than
    `max_age` seconds and not from the future. Raises Unauthorized("forged" | "stale")."""
    if not init_data:
        raise Unauthorized("forged")
    try:
        data = safe_parse_webapp_init_data(token, init_data)
    except (ValueError, TypeError, KeyError):
        raise Unauthorized("forged") from None
    if data.user is None:
        raise Unauthorized("forged")
    now = now or datetime.now(timezone.utc)
    signed = data.auth_date if data.auth_date.tzinfo else data.auth_date.replace(tzinfo=timezone.utc)
    if signed > now + FUTURE_SKEW or now - signed > timedelta(seconds=max_age):
        raise Unauthorized("stale")
    return data


@dataclass
class _Cached:
    expires: float
    body: str
    locale: str
    etag: str


class Pages:
    def __init__(self, app: "App", clock: Callable[[], datetime] | None = None) -> None:
        self.app = app
        self.clock = clock or (lambda: datetime.now(timezone.utc))  # tests show a seeded past month
        self.cache: dict[tuple[str, str], _Cached] = {}
        token = app.settings.bot_token.get_secret_value() if app.settings.bot_token else app.bot.token
        self.token = token
        self.export_key = hmac.new(b"gongzhi-export", token.encode(), hashlib.sha256).digest()

    # ------------------------------------------------------------- rendering
    @property
    def locales(self) -> tuple[str, ...]:
        return self.app.renderer.locales

    def locale_for(self, request: web.Request, fallback: str) -> str:
        chosen = request.query.get("lang", "")
        if chosen in self.locales:
            return chosen
        return accept_language(request.headers.get("Accept-Language"), self.locales) or fallback

    def render(self, template: str, locale: str, **ctx: Any) -> str:
        r = self.app.renderer
        with r.catalogs.use_locale(locale):
            return r.env.get_template(f"web/{template}.j2").render(
                locale=locale, lang=locale.replace("_", "-"), rtl=is_rtl(locale),
                languages=[(code, language_name(code)) for code in self.locales], **ctx)

    # ------------------------------------------------------------- the public page
    async def public(self, request: web.Request) -> web.Response:
        code = request.match_info["code"]
        chosen = request.query.get("lang", "")
        explicit = chosen if chosen in self.locales else accept_language(
            request.headers.get("Accept-Language"), self.locales)
        key = (code.upper(), explicit or "*")
        hit = self.cache.get(key)
        if hit is None or hit.expires < time.monotonic():
            try:
                page = await disclosure.public_page(self.app.db, code, self.clock())
            except NotFound:
                locale = explicit or self.app.settings.default_locale
                body = self.render("not_found", locale, code=code)
                return web.Response(text=body, content_type=HTML, status=404)
            locale = explicit or page.community.locale
            body = self.render("public", locale, page=page, c=page.community, rv=page.rates,
                               chart_rates=self._rates_chart(page.rates.trend),
                               chart_categories=self._categories_chart(page.community, page.categories))
            hit = _Cached(time.monotonic() + CACHE_SECONDS, body, locale,
                          '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"')
            self.cache[key] = hit
        headers = {"Cache-Control": f"public, max-age={CACHE_SECONDS}", "ETag": hit.etag, "Vary": "Accept-Language",
                   "Content-Language": hit.locale.replace("_", "-")}
        if request.headers.get("If-None-Match") == hit.etag:
            return web.Response(status=304, headers=headers)
        return web.Response(text=hit.body, content_type=HTML, headers=headers)

    @staticmethod
    def _rates_chart(trend: list[tuple[str, Any]]) -> Any:
        def draw(*names: str) -> Markup:
            if not any(not r.empty for _, r in trend):
                return Markup("")
            return Markup(charts.rates_svg(trend, (str(names[0]), str(names[1]), str(names[2]))))
        return draw

    def _categories_chart(self, community: Any, categories: list[tuple[str, int]]) -> Any:
        def draw() -> Markup:
            if not categories:
                return Markup("")
            locale = self.app.renderer.catalogs.current_locale
            named = [(self.app.renderer.category_label(category_of(community, cat), locale), n)
                     for cat, n in categories]
            return Markup(charts.categories_svg(named))
        return draw

    # ------------------------------------------------------------- the staff Mini App
    async def staff_shell(self, request: web.Request) -> web.Response:
        locale = self.locale_for(request, self.app.settings.default_locale)
        return web.Response(text=self.render("staff_shell", locale), content_type=HTML,
                            headers={"Cache-Control": "no-store"})

    async def staff_api(self, request: web.Request) -> web.Response:
        form = await request.post()
        init_data = str(form.get("init_data") or "")
        fallback = self.locale_for(request, self.app.settings.default_locale)
        try:
            data = check_init_data(self.token, init_data, self.app.settings.webapp_max_age, self.clock())
        except Unauthorized as e:
            return self._refusal(e.code, fallback, 401)
        assert data.user is not None
        locale = await self._user_locale(data, fallback)
        wanted = str(form.get("community") or "")
        try:
            board = await disclosure.dashboard(self.app.db, data.user.id, int(wanted) if wanted.isdigit() else None,
                                               self.clock())
        except (NotAllowed, NotFound):
            return self._refusal("not_staff", locale, 403)
        links = {name: self.export_link(data.user.id, board.community.id or 0, name) for name in EXPORTS}
        body = self.render("staff", locale, board=board, c=board.community, rv=board.rates, links=links)
        return web.Response(text=body, content_type=HTML, headers={"Cache-Control": "no-store"})

    def _refusal(self, code: str, locale: str, status: int) -> web.Response:
        return web.Response(text=self.render("staff_refused", locale, code=code), content_type=HTML, status=status,
                            headers={"Cache-Control": "no-store"})

    async def _user_locale(self, data: WebAppInitData, fallback: str) -> str:
        assert data.user is not None
        async with self.app.db.read() as s:
            stored = (await s.execute(select(User.locale).where(User.id == data.user.id))).scalar_one_or_none()
        if stored in self.locales:
            return stored  # type: ignore[return-value]
        return normalise(data.user.language_code, self.locales) or fallback

    def _sign(self, user_id: int, community_id: int, name: str, expires: int) -> str:
        msg = f"{user_id}:{community_id}:{name}:{expires}".encode()
        return hmac.new(self.export_key, msg, hashlib.sha256).hexdigest()

    def export_link(self, user_id: int, community_id: int, name: str) -> str:
        expires = int(time.time()) + EXPORT_LINK_SECONDS
        sig = self._sign(user_id, community_id, name, expires)
        return f"/staff/export/{community_id}/{quote(name)}.csv?u={user_id}&e={expires}&s={sig}"

    async def export(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        try:
            cid, uid, expires = int(request.match_info["cid"]), int(request.query["u"]), int(request.query["e"])
        except (KeyError, ValueError):
            raise web.HTTPForbidden() from None
        good = hmac.compare_digest(self._sign(uid, cid, name, expires), request.query.get("s", ""))
        if name not in EXPORTS or not good or expires < time.time():
            raise web.HTTPForbidden()
        with tempfile.TemporaryDirectory(prefix="gongzhi-export-") as tmp:
            try:
                written = await disclosure.export_files(self.app.db, uid, cid, Path(tmp))
            except (NotAllowed, NotFound):
                raise web.HTTPForbidden() from None
            if f"{name}.csv" not in written:
                raise web.HTTPNotFound()
            data = (Path(tmp) / f"{name}.csv").read_bytes()
        return web.Response(body=data, content_type="text/csv", charset="utf-8", headers={
            "Content-Disposition": f'attachment; filename="{name}.csv"', "Cache-Control": "no-store"})


def setup(web_app: web.Application, app: "App", clock: Callable[[], datetime] | None = None) -> Pages:
    """Add the pages' routes to `web_app` (the webhook's Application, or one of their own)."""
    pages = Pages(app, clock)
    web_app.router.add_get("/c/{code}", pages.public)
    web_app.router.add_get("/staff", pages.staff_shell)
    web_app.router.add_post("/staff/api", pages.staff_api)
    web_app.router.add_get("/staff/export/{cid}/{name}.csv", pages.export)
    return pages


async def start(app: "App", host: str, port: int, clock: Callable[[], datetime] | None = None,
                ) -> tuple[web.AppRunner, str]:
    """Serve the pages alone on host:port (0: any free port); returns the runner (clean it up)
    and the address it listens on."""
    web_app = web.Application()
    setup(web_app, app, clock)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = site._server.sockets if site._server else []  # type: ignore[union-attr]
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, f"http://{host}:{bound}"


def public_url(base: str, code: str) -> str:
    return f"{base.rstrip('/')}/c/{quote(code)}"
