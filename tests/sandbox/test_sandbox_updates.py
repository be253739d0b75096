"""getUpdates semantics and a full round trip through an aiogram Dispatcher."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from aiogram import Bot, Dispatcher, F
from aiogram.exceptions import TelegramConflictError
from aiogram.filters import CommandStart
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message

from bot.sandbox import BotAPIEmulator

from .conftest import RawApi


async def test_long_poll_returns_as_soon_as_an_update_arrives(bot: Bot, emu: BotAPIEmulator) -> None:
    user = emu.add_user("Ann")
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    assert not poll.done()
    started = time.monotonic()
    await user.send("hello")
    updates = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - started < 1
    assert [u.message.text for u in updates if u.message] == ["hello"]


async def test_long_poll_times_out_empty(bot: Bot) -> None:
    started = time.monotonic()
    assert await bot.get_updates(timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 2


async def test_offset_confirms_and_drops_updates(bot: Bot, emu: BotAPIEmulator) -> None:
    user = emu.add_user("Ann")
    for text in ("one", "two", "three"):
        await user.send(text)
    first = await bot.get_updates(limit=2)
    assert [u.message.text for u in first] == ["one", "two"]
    # Not confirmed yet: delivered again.
    assert [u.update_id for u in await bot.get_updates()] == [u.update_id for u in first] + [first[-1].update_id + 1]
    rest = await bot.get_updates(offset=first[-1].update_id + 1)
    assert [u.message.text for u in rest] == ["three"]
    assert await bot.get_updates(offset=rest[-1].update_id + 1) == []
    assert emu.updates.pending == []


async def test_update_ids_increase(emu: BotAPIEmulator, bot: Bot) -> None:
    user = emu.add_user("Ann")
    await user.send("a")
    await user.send("b")
    ids = [u.update_id for u in await bot.get_updates()]
    assert ids == sorted(ids) and len(set(ids)) == 2


async def test_negative_offset_keeps_only_the_latest(emu: BotAPIEmulator, bot: Bot) -> None:
    user = emu.add_user("Ann")
    for text in ("one", "two", "three"):
        await user.send(text)
    assert [u.message.text for u in await bot.get_updates(offset=-1)] == ["three"]


async def test_allowed_updates_filters_and_is_remembered(emu: BotAPIEmulator, bot: Bot) -> None:
    ann, bob = emu.add_user("Ann"), emu.add_user("Bob")
    group = emu.add_group("Block 3", members=[ann])
    # chat_member is opt-in: by default the join only yields the service message.
    await group.join(bob)
    assert [u.event_type for u in await bot.get_updates()] == ["message"]
    updates = await bot.get_updates(offset=-1, allowed_updates=["message", "chat_member"])
    await group.leave(bob)
    updates = await bot.get_updates(offset=updates[-1].update_id + 1)
    assert [u.event_type for u in updates] == ["message", "chat_member"]
    assert updates[1].chat_member.new_chat_member.status == "left"
    # Now only callback queries: a new text message is discarded.
    await bot.get_updates(offset=updates[-1].update_id + 1, allowed_updates=["callback_query"])
    await ann.send("ignored", chat=group)
    assert await bot.get_updates() == []


async def test_second_poller_terminates_the_first(bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    second = asyncio.create_task(bot.get_updates(timeout=1))
    with pytest.raises(TelegramConflictError, match="terminated by other getUpdates"):
        await asyncio.wait_for(first, 2)
    assert await second == []


async def test_get_updates_conflicts_with_a_webhook(bot: Bot) -> None:
    await bot.set_webhook("https://example.invalid/hook")
    with pytest.raises(TelegramConflictError, match="webhook is active"):
        await bot.get_updates()
    await bot.delete_webhook()
    assert await bot.get_updates() == []


async def test_duplicate_delivery_redelivers_a_confirmed_update(emu: BotAPIEmulator, bot: Bot) -> None:
    user = emu.add_user("Ann")
    emu.faults.duplicate_next = 1
    await user.send("once")
    first = await bot.get_updates()
    await user.send("twice?")
    second = await bot.get_updates(offset=first[-1].update_id + 1)
    assert [u.update_id for u in second] == [first[0].update_id, first[0].update_id + 1]
    assert emu.faults.injected["duplicate"] == 1
    third = await bot.get_updates(offset=second[-1].update_id + 1)
    assert third == []


async def test_duplicate_rate_is_deterministic_per_seed() -> None:
    async def duplicated_ids(seed: int) -> list[int]:
        async with BotAPIEmulator(seed=seed) as emulator:
            emulator.faults.duplicate_rate = 0.5
            user = emulator.add_user("Ann")
            for index in range(20):
                await user.send(f"m{index}")
            seen: list[int] = []
            offset = 0
            for _ in range(25):
                emulator.updates.confirm(offset)
                batch = emulator.updates.take(1, emulator.faults.duplicate)
                if not batch:
                    break
                seen.append(batch[0]["update_id"])
                offset = batch[0]["update_id"] + 1
            return [update_id for update_id in seen if seen.count(update_id) > 1]

    assert await duplicated_ids(7) == await duplicated_ids(7)
    assert await duplicated_ids(7)  # some duplicates at p=0.5


# -- a real Dispatcher ---------------------------------------------------------------------

@pytest.fixture
async def running_bot(emu: BotAPIEmulator, bot: Bot) -> AsyncIterator[Dispatcher]:
    dispatcher = Dispatcher()

    @dispatcher.message(CommandStart())
    async def start(message: Message) -> None:
        keyboard = InlineKeyboardMarkup(inline_keyboard=[[
            InlineKeyboardButton(text="Report", callback_data="report"),
            InlineKeyboardButton(text="Help", callback_data="help"),
        ]])
        await message.answer(f"Welcome, <b>{message.from_user.first_name}</b>!", parse_mode="HTML",
                             reply_markup=keyboard)

    @dispatcher.callback_query(F.data == "report")
    async def report(query: CallbackQuery) -> None:
        await query.answer("Noted")
        await query.message.edit_text("Describe the problem")

    @dispatcher.message(F.text)
    async def echo(message: Message) -> None:
        await message.answer(message.text)

    task = asyncio.create_task(dispatcher.start_polling(bot, polling_timeout=1, handle_signals=False))
    yield dispatcher
    await dispatcher.stop_polling()
    await asyncio.wait_for(task, 5)


async def test_dispatcher_round_trip(emu: BotAPIEmulator, running_bot: Dispatcher) -> None:
    ann = emu.add_user("Ann", username="ann")
    await ann.send("/start")
    welcome = await emu.wait_for_message(ann)
    assert welcome.text == "Welcome, Ann!"
    assert welcome.data["entities"] == [{"type": "bold", "offset": 9, "length": 3}]
    assert welcome.button_labels == [["Report", "Help"]]

    query = await ann.press(welcome, text="Report")
    await emu.wait_until(lambda: welcome.edited, description="the edit")
    assert welcome.text == "Describe the problem" and welcome.inline_keyboard == []
    assert emu.world.callback_queries[query["id"]].answer == {"text": "Noted"}

    await ann.send("the lift is broken")
    echo = await emu.wait_for_message(ann)
    assert echo.text == "the lift is broken"
    await emu.wait_idle()
    assert emu.updates.pending == []
    assert emu.transcript(ann) == [
        "Ann: /start",
        "bot #2: Welcome, Ann!",
        "    [Report] [Help]",
        "Ann pressed [Report] on #2",
        "bot answered with toast 'Noted'",
        "bot edited #2: Describe the problem",
        "Ann: the lift is broken",
        "bot #4: the lift is broken",
    ]


async def test_wait_for_message_is_an_inbox(emu: BotAPIEmulator, running_bot: Dispatcher) -> None:
    emu.flood_limits = False  # four answers within a second would exceed the private-chat burst
    ann = emu.add_user("Ann")
    await ann.send("first")
    await ann.send("second")
    await emu.wait_idle()
    # Both answers already exist; they are still returned one by one, in order.
    assert (await emu.wait_for_message(ann)).text == "first"
    assert (await emu.wait_for_message(ann)).text == "second"
    with pytest.raises(TimeoutError, match="transcript tail"):
        await emu.wait_for_message(ann, timeout=0.2)
    await ann.send("third")
    emu.mark_read(ann)
    await ann.send("fourth")
    assert (await emu.wait_for_message(ann, lambda m: m.text == "fourth")).text == "fourth"


async def test_wait_idle_times_out_when_nobody_polls(emu: BotAPIEmulator) -> None:
    await emu.add_user("Ann").send("anyone?")
    with pytest.raises(TimeoutError, match="1 unconfirmed"):
        await emu.wait_idle(timeout=0.2)


async def test_raw_get_updates_wire_format(emu: BotAPIEmulator, api: RawApi) -> None:
    ann = emu.add_user("Ann", last_name="Lee", username="ann", language_code="zh-hans")
    await ann.send("/start@gongzhi_bot hi @gongzhi_bot")
    status, body = await api("getUpdates", timeout=0)
    assert status == 200 and body["ok"]
    message = body["result"][0]["message"]
    assert message["from"] == {"id": ann.id, "is_bot": False, "first_name": "Ann", "last_name": "Lee",
                               "username": "ann", "language_code": "zh-hans"}
    assert message["chat"] == {"id": ann.id, "type": "private", "first_name": "Ann", "last_name": "Lee",
                               "username": "ann"}
    assert message["entities"] == [{"type": "bot_command", "offset": 0, "length": 18},
                                   {"type": "mention", "offset": 22, "length": 12}]
