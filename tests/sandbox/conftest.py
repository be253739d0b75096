"""Fixtures: a running emulator, an aiogram Bot pointed at it, and a raw HTTP helper."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiogram import Bot
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer

from bot.sandbox import BotAPIEmulator


@pytest.fixture
async def emu() -> AsyncIterator[BotAPIEmulator]:
    async with BotAPIEmulator() as emulator:
        yield emulator
        assert emulator.internal_errors == []


@pytest.fixture
async def bot(emu: BotAPIEmulator) -> AsyncIterator[Bot]:
    client = Bot(emu.token, session=AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url)))
    yield client
    await client.session.close()


class RawApi:
    """Plain-aiohttp access, to check the wire format without aiogram in between."""

    def __init__(self, session: aiohttp.ClientSession, emu: BotAPIEmulator) -> None:
        self.session = session
        self.emu = emu

    async def __call__(self, method: str, *, token: str | None = None, **params: Any) -> tuple[int, dict[str, Any]]:
        """POST ``params`` as JSON; returns (HTTP status, decoded body)."""
        url = f"{self.emu.base_url}/bot{token or self.emu.token}/{method}"
        async with self.session.post(url, json=params) as response:
            return response.status, await response.json()


@pytest.fixture
async def api(emu: BotAPIEmulator) -> AsyncIterator[RawApi]:
    async with aiohttp.ClientSession() as session:
        yield RawApi(session, emu)
