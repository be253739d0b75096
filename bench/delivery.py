"""Benchmark 2: a notification burst through the outbox against the local Bot API emulator.

1,000 notifications to 50 chats (10 groups, 40 private chats, 20 each) are written to the
outbox and sent by `Delivery.run()` (bot/delivery.py) with a real aiogram Bot over HTTP to
`bot.sandbox.BotAPIEmulator`, whose Telegram-like flood limits are on. Meanwhile a user sends
/help every 2 s through the real Dispatcher and polling; we measure from the update being
queued at the emulator to the reply arriving there. Reported: completion time against the
theoretical minimum computed from the emulator's limits, 429s, interactive p50/p99. The
baseline is a naive sender: no pacing, a fixed concurrency, retrying a 429 after retry_after.

    python -m bench.delivery [--groups 10] [--privates 40] [--per-chat 20] [--naive-concurrency 16]
"""
from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramRetryAfter
from sqlalchemy import insert

from bench.common import median, parser, pct, print_machine, table, workdir
from bot.app import create_app
from bot.config import Settings
from bot.sandbox import BotAPIEmulator, FloodControl
from storage.models import Outbox, utcnow

TEXT = ("【公告】3号楼本周六上午9:00-11:00停水检修，请提前储水。如有老人独居需要帮助，请回复本消息或联系网格员。"
        "Notice: water off in building 3 on Saturday 9-11 am.")


@dataclass
class Burst:
    groups: int = 10
    privates: int = 40
    per_chat: int = 20
    talk_every: float = 2.0

    @property
    def total(self) -> int:
        return (self.groups + self.privates) * self.per_chat


def theoretical_minimum(flood: FloodControl, burst: Burst) -> float:
    """Seconds from the first send to the last that the emulator's token buckets allow at best."""
    def drain(n: float, bucket: float, rate: float) -> float:
        return max(0.0, (n - bucket) / rate)

    return max(drain(burst.total, flood.global_per_second, flood.global_per_second),
               drain(burst.per_chat, flood.private_burst, flood.private_per_second) if burst.privates else 0.0,
               drain(burst.per_chat, flood.group_per_minute, flood.group_per_minute / 60) if burst.groups else 0.0)


async def run(mode: str, burst: Burst, path: Path, naive_concurrency: int) -> dict[str, Any]:
    emu = BotAPIEmulator()
    await emu.start()
    chats = [emu.add_group(f"网格群{i}").id for i in range(burst.groups)]
    chats += [emu.add_user(f"居民{i}", started=True).id for i in range(burst.privates)]
    talker = emu.add_user("Talker", language_code="en", started=True)
    settings = Settings(bot_token=emu.token, telegram_api_base=emu.base_url,
                        database_url=f"sqlite+aiosqlite:///{path}", _env_file=None)
    bot, dp, app = create_app(settings)
    await app.db.create_all()
    now = utcnow()
    async with app.db.write() as s:  # interleaved, as a broadcast to every chat would be
        await s.execute(insert(Outbox), [dict(chat_id=chat, text=TEXT, method="send", priority=9, status="pending",
                                              attempts=0, not_before=now, created_at=now)
                                         for _ in range(burst.per_chat) for chat in chats])
    polling = asyncio.create_task(dp.start_polling(bot, handle_signals=False, close_bot_session=False,
                                                   polling_timeout=1))
    await asyncio.sleep(0.5)  # polling started (getMe, first getUpdates)
    asked: list[float] = []
    done = asyncio.Event()

    async def talk() -> None:
        while not done.is_set():
            asked.append(time.monotonic())
            await talker.send("/help")
            try:
                await asyncio.wait_for(done.wait(), burst.talk_every)
            except TimeoutError:
                pass

    targets = {str(c) for c in chats}
    sent = lambda: sum(1 for c in emu.calls if c.method == "sendMessage" and c.ok  # noqa: E731
                       and str(c.params.get("chat_id")) in targets)
    start = time.monotonic()
    talking = asyncio.create_task(talk())
    if mode == "outbox":
        worker = asyncio.create_task(app.delivery.run())
    else:
        worker = asyncio.create_task(naive(emu, chats, burst.per_chat, naive_concurrency))
    try:
        await emu.wait_until(lambda: sent() >= burst.total, timeout=600, description="the burst delivered")
        done.set()
        await talking
        try:  # a reply can be lost: the handler gives up after a second 429
            await emu.wait_until(lambda: len(_replies(emu, talker.id, asked)) == len(asked), timeout=10,
                                 description="the last interactive reply")
        except TimeoutError:
            pass
    finally:
        done.set()
        await app.delivery.stop()
        worker.cancel()
        await dp.stop_polling()
        await asyncio.gather(worker, polling, talking, return_exceptions=True)
        await bot.session.close()
        await app.db.dispose()
        await emu.stop()
    ok = [c.timestamp for c in emu.calls if c.method == "sendMessage" and c.ok and str(c.params.get("chat_id")) in targets]
    latencies = _replies(emu, talker.id, asked)
    return {"mode": mode, "completion": max(ok) - start, "minimum": theoretical_minimum(emu.flood, burst),
            "429": sum(emu.stats.rate_limited.values()), "sends": len(ok),
            "interactive": len(latencies), "lost": len(asked) - len(latencies),
            "p50": median(latencies), "p99": pct(latencies, 99),
            "max": max(latencies, default=0.0)}


def _replies(emu: BotAPIEmulator, chat_id: int, asked: list[float]) -> list[float]:
    """For each /help (queued at `asked`), the time until the next reply reached the emulator.

    Replies carry nothing tying them to their /help; each is paired with the earliest unanswered
    one before it, so a lost reply makes the next latency longer, never shorter."""
    arrivals = sorted(c.timestamp for c in emu.calls
                      if c.method == "sendMessage" and c.ok and str(c.params.get("chat_id")) == str(chat_id))
    out, i = [], 0
    for t in asked:
        while i < len(arrivals) and arrivals[i] < t:
            i += 1
        if i == len(arrivals):
            break
        out.append(arrivals[i] - t)
        i += 1
    return out


async def naive(emu: BotAPIEmulator, chats: list[int], per_chat: int, concurrency: int) -> None:
    """As fast as possible with `concurrency` in flight; a 429 waits retry_after and retries."""
    bot = Bot(emu.token, session=AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url)))
    queue = [chat for _ in range(per_chat) for chat in chats]
    it = iter(queue)

    async def worker() -> None:
        for chat in it:
            while True:
                try:
                    await bot.send_message(chat, TEXT)
                    break
                except TelegramRetryAfter as e:
                    await asyncio.sleep(e.retry_after)

    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    finally:
        await bot.session.close()


async def main(burst: Burst, naive_concurrency: int, directory: str | None) -> list[dict[str, Any]]:
    print_machine()
    # 429s are expected in the naive run, and replies lost to them are counted, not logged
    logging.getLogger("aiogram").setLevel(logging.CRITICAL)
    logging.getLogger("handlers.errors").setLevel(logging.CRITICAL)
    print(f"burst: {burst.total} messages to {burst.groups} groups and {burst.privates} private chats "
          f"({burst.per_chat} each); a user sends /help every {burst.talk_every:g} s during it")
    results = []
    with workdir(directory) as d:
        for mode in ("outbox", "naive"):
            results.append(await run(mode, burst, d / f"delivery-{mode}.db", naive_concurrency))
    rows = [[("outbox + Pacer (ours)" if r["mode"] == "outbox" else f"naive x{naive_concurrency} + retry"),
             r["sends"], r["completion"], r["minimum"], r["completion"] / r["minimum"] if r["minimum"] else 0.0,
             r["429"], r["interactive"], r["lost"], r["p50"], r["p99"]] for r in results]
    print(table(rows, ["sender", "sent", "completion s", "minimum s", "x minimum", "429s", "replies", "lost",
                       "reply p50 s", "reply p99 s"]))
    print("goal (ours): <= 1.1x minimum, 0 self-caused 429s, interactive p99 <= 1.5 s")
    return results


if __name__ == "__main__":
    p = parser(__doc__)
    p.add_argument("--groups", type=int, default=10)
    p.add_argument("--privates", type=int, default=40)
    p.add_argument("--per-chat", type=int, default=20)
    p.add_argument("--talk-every", type=float, default=2.0, help="seconds between the user's /help")
    p.add_argument("--naive-concurrency", type=int, default=16)
    a = p.parse_args()
    asyncio.run(main(Burst(a.groups, a.privates, a.per_chat, a.talk_every), a.naive_concurrency, a.dir))
