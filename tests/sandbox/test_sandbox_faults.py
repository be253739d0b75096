"""Injected faults: 429, 5xx, lost responses, slowness; never a side effect unless "lost"."""

from __future__ import annotations

import time

import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramRetryAfter, TelegramServerError

from bot.sandbox import BotAPIEmulator, Faults


@pytest.fixture
def ann(emu: BotAPIEmulator):
    emu.flood_limits = False
    return emu.add_user("Ann", started=True)


async def test_injected_429_has_the_chosen_retry_after_and_no_side_effect(bot: Bot, emu: BotAPIEmulator, ann) -> None:
    emu.faults.rate_limit_next = 2
    emu.faults.retry_after = 1
    for _ in range(2):
        with pytest.raises(TelegramRetryAfter) as caught:
            await bot.send_message(ann.id, "hello")
        assert caught.value.retry_after == 1
    await bot.send_message(ann.id, "hello")
    assert [m.text for m in emu.messages(ann)] == ["hello"]
    assert emu.faults.injected["rate_limit"] == 2
    assert emu.stats.rate_limited[ann.id] == 2
    assert [call.faults for call in emu.calls_to("sendMessage")] == [("rate_limit",), ("rate_limit",), ()]


async def test_injected_server_errors_have_no_side_effect(bot: Bot, emu: BotAPIEmulator, ann) -> None:
    emu.faults.server_error_next = 1
    with pytest.raises(TelegramServerError, match="Bad Gateway"):
        await bot.send_message(ann.id, "hello")
    emu.faults.server_error_next, emu.faults.server_error_status = 1, 500
    with pytest.raises(TelegramServerError, match="Internal Server Error"):
        await bot.send_message(ann.id, "hello")
    assert emu.messages(ann) == []
    assert [call.status for call in emu.calls_to("sendMessage")] == [502, 500]


async def test_lost_response_sends_the_message_anyway(bot: Bot, emu: BotAPIEmulator, ann) -> None:
    emu.faults.lost_response_next = 1
    with pytest.raises(TelegramServerError):
        await bot.send_message(ann.id, "did it arrive?")
    await bot.send_message(ann.id, "did it arrive?")  # a naive retry
    assert [m.text for m in emu.messages(ann)] == ["did it arrive?", "did it arrive?"]
    assert emu.faults.injected["lost_response"] == 1


async def test_faults_only_hit_configured_methods(bot: Bot, emu: BotAPIEmulator, ann) -> None:
    emu.faults.server_error_rate = 1.0
    assert (await bot.get_me()).username == "gongzhi_bot"
    emu.faults.methods.add("getMe")
    with pytest.raises(TelegramServerError):
        await bot.get_me()
    emu.faults.clear()
    await bot.get_me()


def test_fault_rates_are_deterministic_per_seed() -> None:
    def outcomes(seed: int) -> list[int]:
        faults = Faults(seed=seed, methods={"sendMessage"})
        faults.rate_limit_rate = faults.server_error_rate = 0.3
        plans = [faults.plan("sendMessage") for _ in range(30)]
        return [plan.error.error_code if plan.error else 200 for plan in plans]

    assert outcomes(3) == outcomes(3)
    assert {429, 502, 200} <= set(outcomes(3))
    assert outcomes(3) != outcomes(4)


async def test_slow_responses_are_delayed(bot: Bot, emu: BotAPIEmulator, ann) -> None:
    emu.faults.slow_rate, emu.faults.slow_delay = 1.0, 0.3
    started = time.monotonic()
    await bot.send_message(ann.id, "slowly")
    assert time.monotonic() - started >= 0.3
    assert emu.faults.injected["slow"] == 1 and emu.calls_to("sendMessage")[0].faults == ("slow",)
