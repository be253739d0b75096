"""The HTTP side of the emulator: an aiohttp server speaking the Bot API.

Point aiogram at it with ``TelegramAPIServer.from_base(emu.base_url)``; URLs
are ``{base_url}/bot{token}/{method}`` and ``{base_url}/file/bot{token}/{path}``.

Every call goes through the same pipeline, in this order:

1. token check (401) and method lookup (404);
2. parameter parsing (query string, JSON, urlencoded or multipart);
3. fault injection (:mod:`.faults`), which may delay, or answer 429/5xx
   without running the method;
4. the method itself (:mod:`.methods`), which validates (400/403), applies
   flood control (:mod:`.flood`, 429) and then changes the world;
5. a "lost response" fault may replace the successful answer by a 5xx;
6. the call is appended to :attr:`BotAPIEmulator.calls`.

Everything runs on the test's event loop, so tests can inspect state between
awaits without locks.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from aiohttp import web

from .errors import BotAPIError
from .faults import Faults
from .flood import FloodControl
from .methods import METHODS, SENDING_METHODS, BotAPIMethods
from .params import Params
from .transcript import render
from .updates import Signal, UpdateQueue
from .webhooks import WebhookPusher
from .world import BotIdentity, ChatEvent, ChatMessage, Json, SimGroup, SimUser, World

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "123456789:SANDBOX-gongzhi-test-token"
T = TypeVar("T")
ChatRef = int | SimUser | SimGroup


@dataclass(frozen=True)
class ApiCall:
    """One HTTP call to the Bot API, as the emulator answered it."""

    method: str
    params: dict[str, Any]
    status: int
    response: Json
    #: time.monotonic() when the request arrived.
    timestamp: float
    #: Faults injected into this call ("slow", "rate_limit", "server_error", "lost_response").
    faults: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(frozen=True)
class Stats:
    """Counters, as a snapshot taken when :attr:`BotAPIEmulator.stats` is read."""

    #: Every 429 answered, per ``chat_id`` parameter (flood control and injected).
    rate_limited: Counter[Any]
    #: 429s from flood control only, per chat id.
    flood_refusals: Counter[int]
    #: Injected faults per kind (see :mod:`.faults`).
    injected: Counter[str]
    #: Calls per method name.
    calls: Counter[str]


def _chat_id(chat: ChatRef) -> int:
    return chat if isinstance(chat, int) else chat.id


class BotAPIEmulator:
    """A local Telegram Bot API server with a scriptable world behind it.

    ``token`` is the only token accepted (others get 401).  The bot's id
    defaults to the number before ``:`` in the token, like real tokens.
    """

    def __init__(self, token: str = DEFAULT_TOKEN, *, host: str = "127.0.0.1", port: int = 0,
                 bot_username: str = "gongzhi_bot", bot_first_name: str = "Gongzhi",
                 bot_id: int | None = None, seed: int = 0) -> None:
        self.token = token
        self.host = host
        self.port = port
        if bot_id is None:
            prefix = token.split(":", 1)[0]
            bot_id = int(prefix) if prefix.isdigit() else 1_000_000_001
        self.signal = Signal()
        self.updates = UpdateQueue(self.signal)
        self.world = World(BotIdentity(bot_id, bot_username, bot_first_name), self.updates, self.signal)
        self.flood = FloodControl()
        self.faults = Faults(seed=seed, methods=SENDING_METHODS)
        #: Every API call in order of completion (a long poll completes when it returns).
        self.calls: list[ApiCall] = []
        #: Exceptions raised by the emulator itself (bugs); answered as 500.
        self.internal_errors: list[BaseException] = []
        self._api = BotAPIMethods(self.world, self.flood, self.faults)
        self._runner: web.AppRunner | None = None
        self._in_flight = 0
        self._last_activity = time.monotonic()
        self._read_upto: dict[int, int] = {}
        #: Delivers updates by POST while a webhook is set (``webhooks.targets``: several workers).
        self.webhooks = WebhookPusher(self.updates, self.signal, self.world)
        self._pusher: asyncio.Task[None] | None = None

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start listening; with ``port=0`` a free port is chosen."""
        app = web.Application(client_max_size=60 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._api.closing = False
        self.webhooks.stopped = False
        self._pusher = asyncio.create_task(self.webhooks.run(), name="webhook pusher")

    async def stop(self) -> None:
        """Stop the server; pending long polls return immediately."""
        self._api.closing = True
        self.webhooks.stopped = True
        self.signal.fire()
        if self._pusher is not None:
            self._pusher.cancel()
            await asyncio.gather(self._pusher, return_exceptions=True)
            self._pusher = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BotAPIEmulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """For ``TelegramAPIServer.from_base(...)``."""
        return f"http://{self.host}:{self.port}"

    # -- configuration ---------------------------------------------------------------------

    @property
    def bot(self) -> BotIdentity:
        return self.world.bot

    @property
    def flood_limits(self) -> bool:
        """Whether flood control is on (default).  Its parameters are on :attr:`flood`."""
        return self.flood.enabled

    @flood_limits.setter
    def flood_limits(self, enabled: bool) -> None:
        self.flood.enabled = enabled

    @property
    def stats(self) -> Stats:
        rate_limited: Counter[Any] = Counter(call.params.get("chat_id") for call in self.calls if call.status == 429)
        return Stats(rate_limited, Counter(self.flood.refusals), Counter(self.faults.injected),
                     Counter(call.method for call in self.calls))

    # -- world -------------------------------------------------------------------------

    def add_user(self, first_name: str, *, last_name: str | None = None, username: str | None = None,
                 language_code: str = "en", user_id: int | None = None, started: bool = False) -> SimUser:
        """A simulated user; with ``started=True`` the bot may write to them before they write."""
        return self.world.add_user(first_name, last_name=last_name, username=username,
                                   language_code=language_code, user_id=user_id, started=started)

    def web_app_init_data(self, user: SimUser, *, auth_date: datetime | None = None) -> str:
        """The init data Telegram would give `user`'s Mini App (signed with this bot's token)."""
        from bot.sandbox.webapp import sign_init_data, user_fields

        return sign_init_data(self.token, user_fields(user), auth_date)

    def add_group(self, title: str, *, members: list[SimUser] | tuple[SimUser, ...] = (),
                  admins: list[SimUser] | tuple[SimUser, ...] = (), owner: SimUser | None = None,
                  bot_is_member: bool = True, bot_is_admin: bool = True,
                  chat_type: Literal["group", "supergroup"] = "supergroup", chat_id: int | None = None) -> SimGroup:
        """A simulated group (ids like -1001000000001); ``owner`` and ``admins`` are members too."""
        return self.world.add_group(title, members=members, admins=admins, owner=owner,
                                    bot_is_member=bot_is_member, bot_is_admin=bot_is_admin,
                                    chat_type=chat_type, chat_id=chat_id)

    # -- inspection ---------------------------------------------------------------------------

    def messages(self, chat: ChatRef) -> list[ChatMessage]:
        """Every message of the chat in order, current versions, deleted ones marked."""
        return self.world.messages_in(_chat_id(chat))

    def bot_messages(self, chat: ChatRef | None = None) -> list[ChatMessage]:
        """Messages the bot sent, in one chat or (chat None) in all chats."""
        chat_ids = self.world.chat_ids() if chat is None else [_chat_id(chat)]
        return [record for chat_id in chat_ids for record in self.world.messages_in(chat_id) if record.from_bot]

    def history(self, chat: ChatRef) -> list[ChatEvent]:
        """Everything that happened in the chat: messages, edits, deletions, presses, votes."""
        return self.world.history(_chat_id(chat))

    def calls_to(self, method: str) -> list[ApiCall]:
        return [call for call in self.calls if call.method.lower() == method.lower()]

    def transcript(self, chat: ChatRef) -> list[str]:
        return render(self.history(chat))

    def transcripts(self) -> dict[int, list[str]]:
        """Transcripts of every chat that has history, in order of first activity."""
        chat_ids = dict.fromkeys(event.chat_id for event in self.world.events)
        return {chat_id: self.transcript(chat_id) for chat_id in chat_ids}

    def render_transcripts(self) -> str:
        """All transcripts as one text, each under a heading naming the chat."""
        blocks = [f"== {self.world.chat_label(chat_id)} ==\n" + "\n".join(lines)
                  for chat_id, lines in self.transcripts().items()]
        return "\n\n".join(blocks)

    # -- waiting ---------------------------------------------------------------------------

    async def wait_until(self, condition: Callable[[], T | None], *, timeout: float = 5.0,
                         description: str = "condition") -> T:
        """Re-check ``condition`` after every change until it returns a truthy value."""
        deadline = time.monotonic() + timeout
        while not (result := condition()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {description}")
            await self.signal.wait(remaining)
        return result

    async def wait_for_message(self, chat: ChatRef, predicate: Callable[[ChatMessage], bool] | None = None,
                               *, timeout: float = 5.0) -> ChatMessage:
        """The next bot message in ``chat`` not returned before (matching ``predicate``, if given).

        Works like reading an inbox: each chat has a read position, and the
        returned message and everything before it count as read.  That makes
        ``await user.send(...); await emu.wait_for_message(user)`` race-free even
        if the bot answered before the wait started.  Use :meth:`mark_read` to
        skip what is already there.
        """
        chat_id = _chat_id(chat)

        def unread_match() -> ChatMessage | None:
            records = self.world.messages_in(chat_id)
            for index in range(self._read_upto.get(chat_id, 0), len(records)):
                record = records[index]
                if record.from_bot and (predicate is None or predicate(record)):
                    self._read_upto[chat_id] = index + 1
                    return record
            return None

        try:
            return await self.wait_until(unread_match, timeout=timeout, description="a bot message")
        except TimeoutError:
            transcript = "\n".join(self.transcript(chat_id)[-15:]) or "(empty)"
            raise TimeoutError(f"no matching bot message in {self.world.chat_label(chat_id)} within "
                               f"{timeout}s; transcript tail:\n{transcript}") from None

    def mark_read(self, chat: ChatRef | None = None) -> None:
        """Make :meth:`wait_for_message` ignore messages that exist now (in one or all chats)."""
        for chat_id in self.world.chat_ids() if chat is None else [_chat_id(chat)]:
            self._read_upto[chat_id] = len(self.world.messages_in(chat_id))

    async def wait_idle(self, *, quiet: float = 0.1, timeout: float = 5.0) -> None:
        """Wait until the bot confirmed every update and made no API call for ``quiet`` seconds.

        Long polls do not count as activity, but a getUpdates that returned
        updates does.  Raises TimeoutError with the reason if it never settles.
        """
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            quiet_for = now - self._last_activity
            if not self.updates.pending and self._in_flight == 0 and quiet_for >= quiet:
                return
            if now >= deadline:
                raise TimeoutError(f"bot not idle after {timeout}s: {len(self.updates.pending)} unconfirmed "
                                   f"updates, {self._in_flight} calls in flight")
            await self.signal.wait(min(deadline - now, max(quiet - quiet_for, 0.005)))

    # -- HTTP handlers ------------------------------------------------------------------------

    async def _handle_method(self, request: web.Request) -> web.Response:
        arrived = time.monotonic()
        name = request.match_info["method"]
        spec = METHODS.get(name.lower())
        counts_as_activity = spec is None or spec.name != "getUpdates"
        if counts_as_activity:
            self._in_flight += 1
            self._last_activity = arrived
        params = Params({})
        injected: tuple[str, ...] = ()
        try:
            if request.match_info["token"] != self.token:
                raise BotAPIError(401, "Unauthorized")
            if spec is None:
                raise BotAPIError(404, "Not Found")
            name = spec.name
            params = await Params.from_request(request)
            plan = self.faults.plan(spec.name)
            injected = plan.kinds
            if plan.delay:
                await asyncio.sleep(plan.delay)
            if plan.error is not None:
                raise plan.error
            result = await spec.handler(self._api, params)
            if plan.lost is not None:
                raise plan.lost
            status, body = 200, {"ok": True, "result": result}
            if not counts_as_activity and result:
                self._last_activity = time.monotonic()
        except BotAPIError as error:
            status, body = error.error_code, error.payload()
        except Exception as error:  # an emulator bug: answer like Telegram would, but keep it visible
            log.exception("emulator failure in %s", name)
            self.internal_errors.append(error)
            status, body = 500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}
        finally:
            if counts_as_activity:
                self._in_flight -= 1
                self._last_activity = time.monotonic()
        self.calls.append(ApiCall(name, params.values, status, body, arrived, injected))
        self.signal.fire()
        return web.json_response(body, status=status)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return web.json_response(BotAPIError(401, "Unauthorized").payload(), status=401)
        stored = self.world.file_at(request.match_info["path"])
        if stored is None:
            return web.json_response(BotAPIError(404, "Not Found").payload(), status=404)
        return web.Response(body=stored.content, content_type="application/octet-stream")
