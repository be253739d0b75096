"""Wire protocol: routing, authentication, parameter encodings, call recording."""

from __future__ import annotations

import json

import aiohttp
import pytest
from aiogram import Bot
from aiogram.exceptions import TelegramNotFound, TelegramUnauthorizedError
from aiogram.methods import TelegramMethod

from bot.sandbox import BotAPIEmulator

from .conftest import RawApi


async def test_get_me_returns_the_configured_bot(bot: Bot, emu: BotAPIEmulator) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456789, "gongzhi_bot", True)
    assert emu.calls[-1].method == "getMe" and emu.calls[-1].ok


async def test_bot_identity_is_configurable() -> None:
    async with BotAPIEmulator("42:other", bot_username="other_bot", bot_first_name="Other") as emulator:
        assert emulator.bot.as_user() == {"id": 42, "is_bot": True, "first_name": "Other", "username": "other_bot"}


async def test_wrong_token_is_unauthorized(api: RawApi) -> None:
    status, body = await api("getMe", token="1:wrong")
    assert (status, body) == (401, {"ok": False, "error_code": 401, "description": "Unauthorized"})


async def test_unknown_method_is_not_found(api: RawApi, bot: Bot) -> None:
    status, body = await api("sendTelepathy", chat_id=1)
    assert (status, body) == (404, {"ok": False, "error_code": 404, "description": "Not Found"})

    class Telepathy(TelegramMethod[bool]):
        __returning__ = bool
        __api_method__ = "sendTelepathy"

    with pytest.raises(TelegramNotFound):
        await bot(Telepathy())


async def test_wrong_token_through_aiogram(emu: BotAPIEmulator) -> None:
    from aiogram.client.session.aiohttp import AiohttpSession
    from aiogram.client.telegram import TelegramAPIServer

    stranger = Bot("1:not-the-token", session=AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url)))
    try:
        with pytest.raises(TelegramUnauthorizedError):
            await stranger.get_me()
    finally:
        await stranger.session.close()


async def test_method_names_are_case_insensitive(api: RawApi) -> None:
    status, body = await api("GETME")
    assert status == 200 and body["result"]["username"] == "gongzhi_bot"


@pytest.mark.parametrize("encoding", ["json", "form", "multipart", "query"])
async def test_every_parameter_encoding_is_understood(emu: BotAPIEmulator, encoding: str) -> None:
    user = emu.add_user("Ann", started=True)
    markup = {"inline_keyboard": [[{"text": "Go", "callback_data": "go"}]]}
    fields = {"chat_id": str(user.id), "text": "123", "reply_markup": json.dumps(markup)}
    url = f"{emu.base_url}/bot{emu.token}/sendMessage"
    async with aiohttp.ClientSession() as session:
        if encoding == "json":
            request = session.post(url, json={"chat_id": user.id, "text": "123", "reply_markup": markup})
        elif encoding == "form":
            request = session.post(url, data=fields)
        elif encoding == "multipart":
            form = aiohttp.FormData(fields, default_to_multipart=True)
            request = session.post(url, data=form)
        else:
            request = session.get(url, params=fields)
        async with request as response:
            body = await response.json()
    assert body["ok"], body
    # "123" is a String parameter: it must not be decoded into a number.
    assert body["result"]["text"] == "123"
    assert body["result"]["reply_markup"] == markup
    assert emu.messages(user)[0].button_labels == [["Go"]]


async def test_calls_are_recorded_with_status_and_params(bot: Bot, emu: BotAPIEmulator) -> None:
    user = emu.add_user("Ann", started=True)
    await bot.send_message(user.id, "hello")
    with pytest.raises(Exception):
        await bot.send_message(user.id, "<b>broken", parse_mode="HTML")
    sends = emu.calls_to("sendMessage")
    assert [call.status for call in sends] == [200, 400]
    assert sends[0].params["text"] == "hello" and sends[0].params["chat_id"] == user.id
    assert sends[0].timestamp <= sends[1].timestamp
    assert emu.stats.calls["sendMessage"] == 2


async def test_settings_methods_are_accepted_and_commands_stored(bot: Bot) -> None:
    from aiogram.types import BotCommand, BotCommandScopeAllGroupChats, MenuButtonCommands

    await bot.delete_webhook()
    assert await bot.set_my_description("Community co-governance")
    assert await bot.set_chat_menu_button(menu_button=MenuButtonCommands())
    await bot.set_my_commands([BotCommand(command="start", description="Start")], language_code="zh")
    await bot.set_my_commands([BotCommand(command="report", description="Report")],
                              scope=BotCommandScopeAllGroupChats())
    assert [c.command for c in await bot.get_my_commands(language_code="zh")] == ["start"]
    assert [c.command for c in await bot.get_my_commands(scope=BotCommandScopeAllGroupChats())] == ["report"]
    assert await bot.get_my_commands() == []
