"""`gongzhi demo`: the whole story, played by scripted people against the real bot.

The real bot (polling over HTTP, outbox, scheduler) runs against the local Bot API emulator with
Telegram's flood limits on: a Jimingshan-like community with staff, a grid leader and a volunteer
writing in Chinese, council members, residents writing in English and Arabic, and a partner
organisation's member writing in Korean: a service ordered from the menu, a partner registered and
invited, and a micro-wish fulfilled by the partner. It prints a
transcript per chat, each participant seeing the bot in their own language, and exits 0 when the
story completed, or 1 naming the step that failed. It needs no token and no network, and uses a
throwaway database unless told otherwise.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from bot.sandbox import BotAPIEmulator, ChatMessage, SimGroup, SimUser
from bot.services.reports import Period
from storage.models import Community

log = logging.getLogger(__name__)
STEP_TIMEOUT = 20.0


class StoryFailed(Exception):
    pass


@dataclass
class Cast:
    staff: SimUser
    leader: SimUser
    volunteer: SimUser
    council: list[SimUser]
    anna: SimUser  # resident writing in English
    karim: SimUser  # resident writing in Arabic
    grid_group: SimGroup
    volunteers: SimGroup
    council_group: SimGroup
    staff_group: SimGroup
    community_group: SimGroup
    partner: SimUser  # a member of a partner organisation (共建单位), writing in Korean


@dataclass
class Story:
    """Named steps, so a failure says where the story broke."""

    emu: BotAPIEmulator
    steps: list[str] = field(default_factory=list)

    @contextlib.asynccontextmanager
    async def step(self, name: str) -> AsyncIterator[None]:
        started = time.monotonic()
        try:
            yield
        except Exception as e:
            raise StoryFailed(f"step {len(self.steps) + 1} “{name}” failed: {type(e).__name__}: {e}") from e
        self.steps.append(f"{name} ({time.monotonic() - started:.1f}s)")

    async def reply(self, chat: Any, predicate: Callable[[ChatMessage], bool] | None = None) -> ChatMessage:
        return await self.emu.wait_for_message(chat, predicate, timeout=STEP_TIMEOUT)


def has(*needles: str) -> Callable[[ChatMessage], bool]:
    return lambda m: all(n in (m.text or "") for n in needles)


def with_button(prefix: str) -> Callable[[ChatMessage], bool]:
    return lambda m: any(b.get("callback_data", "").startswith(prefix) for row in m.inline_keyboard for b in row)


def data_of(message: ChatMessage, prefix: str, index: int = 0) -> str:
    found = [b["callback_data"] for row in message.inline_keyboard for b in row
             if b.get("callback_data", "").startswith(prefix)]
    if len(found) <= index:
        raise AssertionError(f"no button {prefix!r} in {message.button_labels}")
    return found[index]


def labelled(message: ChatMessage, text: str) -> str:
    """The callback data of the button whose label contains `text` (rows read right to left in RTL)."""
    for row in message.inline_keyboard:
        for b in row:
            if text in b.get("text", ""):
                return b["callback_data"]
    raise AssertionError(f"no button {text!r} in {message.button_labels}")


def token_in(message: ChatMessage) -> str:
    match = re.search(r"start=([\w-]+)", message.text or "")
    if not match:
        raise AssertionError(f"no invitation link in {message.text!r}")
    return match.group(1)


def cast_of(emu: BotAPIEmulator) -> Cast:
    staff = emu.add_user("王芳", username="wangfang", language_code="zh-hans")
    leader = emu.add_user("李强", username="liqiang", language_code="zh-CN")
    volunteer = emu.add_user("张伟", username="zhangwei", language_code="zh")
    council = [emu.add_user("陈静", username="chenjing", language_code="zh-hans"),
               emu.add_user("Olga", username="olga", language_code="en"),
               emu.add_user("刘洋", username="liuyang", language_code="zh-hans")]
    anna = emu.add_user("Anna", username="anna_k", language_code="en")
    karim = emu.add_user("كريم", username="karim", language_code="ar")
    minjun = emu.add_user("김민준", username="minjun", language_code="ko")
    everyone = [staff, leader, volunteer, *council, anna, karim]

    def group(title: str, members: list[SimUser]) -> SimGroup:
        return emu.add_group(title, members=members, admins=[staff], bot_is_admin=True)

    return Cast(staff, leader, volunteer, council, anna, karim,
                grid_group=group("一网格 居民群", [staff, leader, anna, karim]),
                volunteers=group("志愿者群", [staff, volunteer, leader]),
                council_group=group("议事会", [staff, *council]),
                staff_group=group("社区工作群", [staff, leader]),
                community_group=group("鸡鸣山社区 全体居民", everyone), partner=minjun)


async def onboard(story: Story, c: Cast, staff_token: str) -> None:
    emu = story.emu
    async with story.step("staff opens the invitation from the CLI"):
        await c.staff.send(f"/start {staff_token}")
        await story.reply(c.staff)

    async def invite(role: str, target: str = "") -> str:
        await c.staff.send(f"/invite {role} {target}".strip())
        return token_in(await story.reply(c.staff, has("start=")))

    async with story.step("staff invites the grid leader, a volunteer and the council"):
        for person, role, target in [(c.leader, "grid_leader", "一网格"), (c.volunteer, "volunteer", ""),
                                     *[(m, "council_member", "") for m in c.council]]:
            await person.send(f"/start {await invite(role, target)}")
            await story.reply(person)
    async with story.step("residents join and pick their micro-grid"):
        resident_link = await invite("resident")
        for person in (c.anna, c.karim):
            await person.send(f"/start {resident_link}")
            joined = await story.reply(person, with_button("gr:"))
            await person.press(joined, data=labelled(joined, "一网格"))
            await emu.wait_until(lambda j=joined: j.edited, timeout=STEP_TIMEOUT, description="grid chosen")
    async with story.step("staff binds the groups"):
        for group, kind in ((c.grid_group, "grid 一网格"), (c.volunteers, "volunteers"),
                            (c.council_group, "council"), (c.staff_group, "staff"),
                            (c.community_group, "community")):
            await c.staff.send(f"/bind {kind}", chat=group)
            await story.reply(group)


async def request_from_group(story: Story, c: Cast) -> None:
    emu = story.emu
    async with story.step("Anna reports a broken light in the grid group"):
        await c.anna.send("/new The corridor light on floor 3 of building 5 has been broken for a week",
                          chat=c.grid_group)
        await story.reply(c.grid_group, has("JMS-0001"))
    async with story.step("the grid leader sends it to the council: it concerns every building"):
        card = await story.reply(c.grid_group, with_button("tc:"))
        await c.leader.press(card, data=data_of(card, "tc:"))
        draft = await story.reply(c.staff_group, with_button("pp:"))
    async with story.step("staff open the vote in the council group"):
        await c.staff.press(draft, data=data_of(draft, "pp:", 0))  # ▶️ open the vote
        post = await story.reply(c.council_group, with_button("vo:"))
    async with story.step("council members vote, one member one vote; staff close once all have voted"):
        for member in c.council:
            await member.press(post, data=data_of(post, "vo:", 0))
        close = await story.reply(c.staff_group, with_button("pp:"))
        await c.staff.press(close, data=data_of(close, "pp:"))
        await story.reply(c.council_group, has("JMS-P001"))
        await story.reply(c.anna, has("JMS-0001"))
    async with story.step("a volunteer claims the task; the first press wins"):
        task = await story.reply(c.volunteers, with_button("tk:"))
        await c.volunteer.press(task, data=data_of(task, "tk:"))
        brief = await story.reply(c.volunteer, with_button("tk:"))
        await emu.wait_until(lambda: task.edited, timeout=STEP_TIMEOUT, description="task post marked taken")
        await story.reply(c.anna, has("张伟"))
    async with story.step("the volunteer reports progress and completes the task"):
        await c.volunteer.press(brief, data=data_of(brief, "tk:", 0))
        await story.reply(c.volunteer)
        await c.volunteer.send("已买好灯管，今晚更换")
        await story.reply(c.anna, has("已买好灯管"))
        await c.volunteer.press(brief, data=data_of(brief, "tk:", 1))
        await story.reply(c.volunteer)
        await c.volunteer.send("灯已修好")
        ask = await story.reply(c.anna, has("JMS-0001", "灯已修好"))
    async with story.step("Anna signs off with one tap and rates five stars"):
        await c.anna.press(ask, data=data_of(ask, "so:"))
        await story.emu.wait_until(lambda: ask.edited and with_button("st:")(ask), timeout=STEP_TIMEOUT,
                                   description="the stars")
        await c.anna.press(ask, data=data_of(ask, "st:", 4))
        await story.reply(c.volunteer, has("⭐⭐⭐⭐⭐"))


async def request_in_private(story: Story, c: Cast) -> None:
    async with story.step("Karim files a request in private chat, in Arabic"):
        await c.karim.send("/new")
        ask = await story.reply(c.karim, with_button("ct:"))
        await c.karim.press(ask, data=data_of(ask, "ct:", 1))
        await story.emu.wait_until(lambda: ask.edited, timeout=STEP_TIMEOUT, description="description prompt")
        await c.karim.send("القمامة لا تُجمع من أمام المبنى 7 منذ ثلاثة أيام")
        for _ in range(2):  # no photo, no location
            await c.karim.press(await story.reply(c.karim, with_button("sk")), data="sk")
        grid = await story.reply(c.karim, with_button("ig:"))
        await c.karim.press(grid, data=labelled(grid, "一网格"))
        await c.karim.send("الشقة 302، الهاتف 13900001111")
        summary = await story.reply(c.karim, with_button("cf"))
        await c.karim.press(summary, data="cf")
        await story.emu.wait_until(lambda: "JMS-0002" in (summary.text or ""), timeout=STEP_TIMEOUT,
                                   description="request number shown")
    async with story.step("the grid leader declines it as referred elsewhere, with a note"):
        card = await story.reply(c.grid_group, lambda m: "JMS-0002" in (m.text or "") and with_button("tr:")(m))
        await c.leader.press(card, data=data_of(card, "tr:", 4))
        reasons = await story.reply(c.leader, with_button("dc:"))
        await c.leader.press(reasons, data=data_of(reasons, "dc:", 2))
        await story.reply(c.leader)
        await c.leader.send("已转给环卫所，电话 0579-8512345")
        await story.reply(c.karim, has("JMS-0002", "0579-8512345"))


async def service_order(story: Story, c: Cast) -> None:
    """The services list (点单、下单、接单、签单): Karim orders a visit in Arabic."""
    async with story.step("staff put a service on the menu, with its Arabic name and a time"):
        await c.staff.send("/addservice care volunteers all 陪同就医")
        await story.reply(c.staff, has("S1"))
        await c.staff.send("/servicename 1 ar مرافقة إلى الطبيب")
        await story.reply(c.staff, has("مرافقة"))
        day = (date.today() + timedelta(days=2)).isoformat()
        await c.staff.send(f"/addslot 1 {day} 09:30 2")
        await story.reply(c.staff, has("S1", "2"))
    async with story.step("Karim orders it from /services in Arabic (点单)"):
        await c.karim.send("/services")
        menu = await story.reply(c.karim, with_button("sc:"))
        await c.karim.press(menu, data=data_of(menu, "sc:"))
        await story.emu.wait_until(lambda: with_button("sv:")(menu), timeout=STEP_TIMEOUT, description="services")
        await c.karim.press(menu, data=data_of(menu, "sv:"))
        await story.emu.wait_until(lambda: with_button("sl:")(menu), timeout=STEP_TIMEOUT, description="times")
        await c.karim.press(menu, data=data_of(menu, "sl:"))
        await story.emu.wait_until(lambda: with_button("sk")(menu), timeout=STEP_TIMEOUT, description="note")
        await c.karim.send("أحتاج كرسيًا متحركًا")
        await story.reply(c.karim, has("JMS-0003"))
    async with story.step("staff dispatch it (下单); a volunteer accepts it (接单)"):
        card = await story.reply(c.staff_group, with_button("od:"))
        await c.staff.press(card, data=data_of(card, "od:", 0))
        post = await story.reply(c.volunteers, with_button("od:"))
        await c.volunteer.press(post, data=data_of(post, "od:"))
        brief = await story.reply(c.volunteer, lambda m: "كرسي" in (m.text or "") and with_button("tk:")(m))
    async with story.step("the volunteer marks it done; Karim signs off and rates it (签单)"):
        await c.volunteer.press(brief, data=data_of(brief, "tk:", 1))
        await story.reply(c.volunteer, with_button("sk"))
        await c.volunteer.send("已陪同就医")
        ask = await story.reply(c.karim, lambda m: "JMS-0003" in (m.text or "") and with_button("so:")(m))
        await c.karim.press(ask, data=labelled(ask, "👍"))
        await story.emu.wait_until(lambda: ask.edited and with_button("st:")(ask), timeout=STEP_TIMEOUT,
                                   description="the stars")
        await c.karim.press(ask, data=labelled(ask, "⭐⭐⭐⭐⭐"))


HANGUL = re.compile(r"[\uac00-\ud7a3]")
ELDER = "陈奶奶"  # an elderly resident without Telegram; her grid leader wishes on her behalf
ELDER_CONTACT = "3栋2单元501室，电话 13800001234，下午在家"


async def partner_joins(story: Story, c: Cast) -> None:
    """A partner organisation (共建单位) is registered, its member invited and listing a resource."""
    async with story.step("staff register a partner, name it in Korean and invite its member by deep link"):
        await c.staff.send("/partner add social 义乌市法律援助中心")
        registered = await story.reply(c.staff, has("义乌市法律援助中心", "/invite partner"))
        number = re.search(r"/invite partner (\d+)", registered.text or "")
        if number is None:
            raise AssertionError(f"no partner number in {registered.text!r}")
        await c.staff.send(f"/name partner {number.group(1)} ko 이우시 법률지원센터")
        await story.reply(c.staff, has("이우시"))
        await c.staff.send(f"/invite partner {number.group(1)} {c.partner.id}")
        await c.partner.send(f"/start {token_in(await story.reply(c.staff, has('start=')))}")
        welcome = await story.reply(c.partner)
        assert HANGUL.search(welcome.text or ""), welcome.text  # welcomed in Korean
    async with story.step("the partner's member lists a professional service on the resources list"):
        await c.partner.send("/resource add service 免费法律咨询 | 每周三 14:00-17:00")
        listed = await story.reply(c.partner, has("免费法律咨询"))
        assert "이우시 법률지원센터" in (listed.text or "")  # the partner's Korean name


async def wish_fulfilled(story: Story, c: Cast) -> None:
    """微心愿: the grid leader wishes for an elderly resident, staff screen it, the partner's
    member claims it from the board, delivers with a photo; the leader confirms; points follow."""
    emu, leader = story.emu, c.leader

    async def then(chat: SimUser, action: Any, what: str) -> None:
        before = sum(1 for e in emu.history(chat.id) if e.actor == "bot" and e.kind in ("message", "edit"))
        await action
        await emu.wait_until(lambda: sum(1 for e in emu.history(chat.id) if e.actor == "bot"
                                         and e.kind in ("message", "edit")) > before,
                             timeout=STEP_TIMEOUT, description=what)

    async with story.step("the grid leader submits a micro-wish on behalf of an elderly resident"):
        await leader.send(f"/wishfor {ELDER}")
        ask = await story.reply(leader, with_button("wc:"))
        await then(leader, leader.press(ask, data=data_of(ask, "wc:")), "the title prompt")
        await then(leader, leader.send("想要一台收音机听越剧"), "the reason prompt")
        await then(leader, leader.send("独居，眼睛不好"), "the budget prompt")
        await then(leader, leader.send("80"), "the photo prompt")
        await then(leader, leader.send_photo(), "the contact prompt")
        await leader.send(ELDER_CONTACT)
        summary = await story.reply(leader, with_button("cf"))
        await leader.press(summary, data=data_of(summary, "cf"))
        await emu.wait_until(lambda: "W001" in (summary.text or "") or any(
            "W001" in (m.text or "") for m in emu.bot_messages(leader)), timeout=STEP_TIMEOUT,
            description="the wish number")
    async with story.step("staff screen it and write the public text; it goes on the wish board"):
        screen = await story.reply(c.staff, lambda m: ELDER in (m.text or "") and with_button("wi:")(m))
        wish = data_of(screen, "wi:").split(":")[1]
        await then(c.staff, c.staff.press(screen, data=f"wi:{wish}:1"), "the public text prompt")
        await c.staff.send("一位独居老人想要一台收音机")
        await story.reply(c.volunteers, with_button(f"wi:{wish}:"))
        board = await story.reply(c.partner, with_button(f"wi:{wish}:"))  # partners get it privately
        if ELDER in (board.text or "") or "13800001234" in (board.text or ""):
            raise AssertionError("the wish board shows who wished or how to reach them")
    async with story.step("the partner's member claims it, gets the address privately, delivers with a photo"):
        await c.partner.press(board, data=data_of(board, "wi:"))
        brief = await story.reply(c.partner, lambda m: ELDER_CONTACT in (m.text or "")
                                  and with_button(f"wi:{wish}:4")(m))
        await then(c.partner, c.partner.press(brief, data=f"wi:{wish}:4"), "the photo prompt")
        await c.partner.send_photo()
        confirm = await story.reply(leader, with_button(f"wi:{wish}:6"))
    async with story.step("the leader confirms for her; the partner's member is thanked with points"):
        await leader.press(confirm, data=f"wi:{wish}:6")
        thanks = await story.reply(c.partner, has("W001", "10"))
        assert HANGUL.search(thanks.text or ""), thanks.text


async def digest(story: Story, c: Cast, app: Any) -> None:
    """The digest is due on Mondays at 09:00; the demo asks for this week's now."""
    async with story.step("the weekly digest goes to the community group"):
        async with app.db.read() as s:
            community = (await s.execute(select(Community))).scalars().one()
        monday = date.today() - timedelta(days=date.today().weekday())
        await app.reports.weekly_digest(community.id, Period("week", monday, monday + timedelta(days=6),
                                                              community.timezone))
        app.notifier.wake()
        await story.reply(c.community_group)


async def public_page(story: Story, url: str) -> None:
    import aiohttp

    async with story.step("the public page loads, without personal data"):
        async with aiohttp.ClientSession() as http, http.get(url + "?lang=en") as r:
            page = await r.text()
        if r.status != 200 or "鸡鸣山社区" not in page or "Response rate" not in page:
            raise StoryFailed(f"the public page answered {r.status}")
        if re.search(r"1[3-9]\d{9}", re.sub(r"<style.*?</style>|<[^>]+>", " ", page, flags=re.S)):
            raise StoryFailed("the public page shows a phone number")


async def play(database_url: str | None = None, *, story_timeout: float = 180.0,
               announce: Callable[[str], None] | None = None) -> tuple[bool, str, BotAPIEmulator]:
    """Run the story; returns (completed, report, emulator) so tests can inspect the emulator.
    `announce` is told the public page's address as soon as it is served."""
    from bot.app import create_app, start_background, stop_background
    from bot.inbox import Poller
    from bot.config import Settings
    from bot.services.community import CommunityService
    from storage.db import Database
    from storage.migrate import upgrade

    tmp = tempfile.TemporaryDirectory(prefix="gongzhi-demo-")
    url = database_url or f"sqlite+aiosqlite:///{Path(tmp.name) / 'demo.db'}"
    emu = BotAPIEmulator(bot_username="gongzhi_demo_bot", bot_first_name="共治 Gongzhi")
    await emu.start()
    story = Story(emu)
    settings = Settings(_env_file=None, bot_token=emu.token, telegram_api_base=emu.base_url, database_url=url,
                        sweep_seconds=2.0, delivery_idle_seconds=0.2)
    c = cast_of(emu)
    await asyncio.to_thread(upgrade, url)
    setup_db = Database(url)
    community, staff_token = await CommunityService(setup_db).create(
        "鸡鸣山社区", admin_id=c.staff.id, code="JMS", locale="zh_Hans")
    await CommunityService(setup_db).add_grids("JMS", ["一网格", "二网格", "三网格"])
    await setup_db.dispose()

    bot, dp, app = create_app(settings)
    await start_background(app)
    from bot import web as web_pages

    pages, address = await web_pages.start(app, "127.0.0.1", 0)  # the public page, while the story runs
    public = web_pages.public_url(address, "JMS")
    if announce is not None:
        announce(f"public page: {public}")
    poller = Poller(bot, app.db, app.inbox, allowed_updates=dp.resolve_used_update_types(), timeout=1)
    polling = asyncio.create_task(poller.run())
    ok, failure = True, ""
    try:
        async with asyncio.timeout(story_timeout):
            await onboard(story, c, staff_token)
            await request_from_group(story, c)
            await request_in_private(story, c)
            await service_order(story, c)
            await partner_joins(story, c)
            await wish_fulfilled(story, c)
            await digest(story, c, app)
            await emu.wait_idle(quiet=0.5, timeout=STEP_TIMEOUT)
            await public_page(story, public)
    except (StoryFailed, TimeoutError) as e:
        ok, failure = False, str(e) or "the story ran out of time"
    finally:
        poller.stop()
        with contextlib.suppress(asyncio.CancelledError, RuntimeError):
            await polling
        await pages.cleanup()
        await stop_background(app)
        await bot.session.close()
        await app.db.dispose()
        await emu.stop()
        tmp.cleanup()
    lines = [emu.render_transcripts(), "", "Steps:"]
    lines += [f"  {i}. {s}" for i, s in enumerate(story.steps, 1)]
    limited = sum(emu.stats.rate_limited.values())
    lines.append(f"429 answers from the emulator: {limited}")
    lines.append(f"public page (served while the story ran): {public}")
    lines.append("the story completed" if ok else f"FAILED: {failure}")
    return ok, "\n".join(lines), emu


async def main(database_url: str | None = None, verbose: bool = False) -> int:
    if not verbose:
        logging.getLogger("aiogram").setLevel(logging.WARNING)
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
        logging.getLogger("aiohttp").setLevel(logging.WARNING)
    ok, report, _ = await play(database_url, announce=lambda line: print(line, flush=True))
    print(report)
    return 0 if ok else 1
