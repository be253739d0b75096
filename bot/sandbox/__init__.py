"""A local Telegram Bot API emulator for end-to-end tests, ``gongzhi demo`` and benchmarks.

Typical use::

    async with BotAPIEmulator() as emu:
        alice = emu.add_user("Alice", username="alice")
        bot = Bot(emu.token, session=AiohttpSession(api=TelegramAPIServer.from_base(emu.base_url)))
        ...  # start the dispatcher polling with ``bot``
        await alice.send("/start")
        reply = await emu.wait_for_message(alice)
        await alice.press(reply, text="Report a problem")

See :mod:`.emulator` for the request pipeline, :mod:`.world` for the scripting
API, :mod:`.flood` and :mod:`.faults` for the misbehaviour it can produce.
"""

from .emulator import DEFAULT_TOKEN, ApiCall, BotAPIEmulator, Stats
from .errors import BotAPIError, ScriptError
from .faults import Faults
from .flood import FloodControl
from .world import BotIdentity, ChatEvent, ChatMessage, SimGroup, SimUser, StoredFile

__all__ = [
    "DEFAULT_TOKEN",
    "ApiCall",
    "BotAPIEmulator",
    "BotAPIError",
    "BotIdentity",
    "ChatEvent",
    "ChatMessage",
    "Faults",
    "FloodControl",
    "ScriptError",
    "SimGroup",
    "SimUser",
    "Stats",
    "StoredFile",
]
