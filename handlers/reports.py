"""/stats: this month's figures and the micro-grid ratings, for staff in the staff group or in
private chat; /dashboard: the staff Mini App's button (private chat). The scheduled digest,
report and ranking are posted by the scheduler."""
from __future__ import annotations

from aiogram import F, Router
from aiogram.filters import Command
from aiogram.types import Message

from bot.app import App
from bot.errors import NotAllowed
from bot.filters import CommunityRole
from bot.services.context import Actor
from bot.render import Button
from handlers.common import say
from handlers.routing import Stage
from storage.models import Role


async def stats(message: Message, actor: Actor, app: App, locale: str) -> None:
    if message.chat.type != "private" and actor.binding is None:
        raise NotAllowed("stats_where")  # a group of no community: figures stay out of it
    st = await app.reports.stats(actor)
    where = actor.binding.locale if actor.binding is not None else locale  # a group reads its own language
    await say(message, app, where, "stats", community=st.community, p=st.period, f=st.total, grids=st.grids,
              open_now=st.open_now, acc=st.acc, rv=st.rates)


async def dashboard(message: Message, actor: Actor, app: App, locale: str) -> None:
    """A `web_app` button to the staff dashboard (bot/web). Telegram opens only https Mini Apps."""
    address = app.settings.web_address()
    if not address or not address.startswith("https://"):
        await say(message, app, locale, "dashboard", ready=False)
        return
    await say(message, app, locale, "dashboard", ready=True,
              buttons=[[Button("open_dashboard", web_app=f"{address}/staff?lang={locale}")]])


def make_router() -> Router:
    router = Stage(name=__name__)
    router.message.register(dashboard, Command("dashboard"), F.chat.type == "private",
                            CommunityRole(Role.STAFF, no_community="no_community"))
    router.message.register(stats, Command("stats"))
    return router
