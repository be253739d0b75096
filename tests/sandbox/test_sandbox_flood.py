"""Flood control: token buckets per chat and globally, 429s with retry_after."""

from __future__ import annotations

import asyncio

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter

from bot.sandbox import BotAPIEmulator, FloodControl


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_private_chat_bucket_allows_a_burst_then_one_per_second() -> None:
    clock = FakeClock()
    flood = FloodControl(clock=clock)
    for _ in range(3):
        flood.charge(1, is_private=True)
    with pytest.raises(Exception) as caught:
        flood.charge(1, is_private=True)
    assert caught.value.retry_after == 1 and caught.value.error_code == 429
    clock.now = 1.0
    flood.charge(1, is_private=True)
    # Another chat has its own bucket.
    flood.charge(2, is_private=True)
    assert flood.refusals == {1: 1}


def test_group_bucket_is_per_minute_and_edits_are_lighter() -> None:
    clock = FakeClock()
    flood = FloodControl(clock=clock)
    for _ in range(20):
        flood.charge(-1, is_private=False)
    with pytest.raises(Exception) as caught:
        flood.charge(-1, is_private=False)
    assert caught.value.retry_after == 3  # one message per 60/20 seconds
    clock.now = 1.5
    flood.charge(-1, is_private=False, edit=True)  # half a token has refilled: enough for an edit


def test_global_bucket_spans_chats() -> None:
    clock = FakeClock()
    flood = FloodControl(clock=clock, global_per_second=5)
    for chat_id in range(5):
        flood.charge(chat_id, is_private=True)
    with pytest.raises(Exception):
        flood.charge(99, is_private=True)
    assert flood.refusals == {99: 1}


async def test_exceeding_the_private_limit_raises_retry_after(bot: Bot, emu: BotAPIEmulator) -> None:
    ann = emu.add_user("Ann", started=True)
    for index in range(3):
        await bot.send_message(ann.id, f"burst {index}")
    with pytest.raises(TelegramRetryAfter) as caught:
        await bot.send_message(ann.id, "one too many")
    assert caught.value.retry_after == 1
    assert emu.stats.flood_refusals[ann.id] == 1
    assert emu.stats.rate_limited[ann.id] == 1
    assert [m.text for m in emu.messages(ann)] == ["burst 0", "burst 1", "burst 2"]
    await asyncio.sleep(1.05)
    await bot.send_message(ann.id, "after waiting")


async def test_paced_sends_are_never_limited(bot: Bot, emu: BotAPIEmulator) -> None:
    emu.flood.private_per_second = 20
    emu.flood.private_burst = 1
    ann = emu.add_user("Ann", started=True)
    for index in range(6):
        await bot.send_message(ann.id, f"paced {index}")
        await asyncio.sleep(0.06)
    assert emu.stats.flood_refusals == {}
    with pytest.raises(TelegramRetryAfter):
        await bot.send_message(ann.id, "a")
        await bot.send_message(ann.id, "b")


async def test_flood_limits_can_be_switched_off(bot: Bot, emu: BotAPIEmulator) -> None:
    emu.flood_limits = False
    ann = emu.add_user("Ann", started=True)
    for index in range(10):
        await bot.send_message(ann.id, str(index))
    assert len(emu.messages(ann)) == 10 and emu.stats.rate_limited == {}
