"""The routers' gates (`handlers.routing`) pass over a handler only when aiogram's own filter would
have turned the update away: every gated filter of the real router tree, against a corpus of
commands, captions, presses and conversation states."""
from __future__ import annotations

import itertools

from aiogram import Bot
from aiogram.fsm.state import StatesGroup

from bot.callbacks import ARITY, pack
from handlers import build_root_router
from handlers.routing import GatedObserver, Stage, _gate_of
from tests.conftest import RESIDENT
from tests.tg import BOT_ID, RecordingSession, Updates

TEXTS = ["/new", "/NEW", "/new@gongzhi_test_bot", "/new@other_bot", " /new with words", "/newx", "new", "/",
         "/start abc", "/my", "/help", "/tasks", "/cancel", "hello /new", "/onbehalf Wang", "／new", "!new"]


def _states() -> list[str | None]:
    names: set[str | None] = {None}
    for group in _subclasses(StatesGroup):
        names.update(group.__all_states_names__)
    return sorted(names, key=str)


def _subclasses(cls: type) -> list[type]:
    out = []
    for sub in cls.__subclasses__():
        out += [sub, *_subclasses(sub)]
    return out


def _gated_filters(router: Stage) -> list:
    found = []
    for r in [router, *router.sub_routers]:
        if r is not router:
            found += _gated_filters(r)  # type: ignore[arg-type]
            continue
        for observer in r.observers.values():
            assert isinstance(observer, GatedObserver)
            for handler in observer.handlers:
                found += [f for f in handler.filters or () if _gate_of(f.callback) is not None]
    return found


async def test_a_gate_turns_away_only_what_the_filter_turns_away():
    root = build_root_router()
    assert all(isinstance(r, Stage) for r in root.sub_routers)
    filters = _gated_filters(root)
    assert len(filters) > 100  # commands, presses and states of every module
    bot = Bot(f"{BOT_ID}:TEST", session=RecordingSession())
    u = Updates()
    events = [u.message(RESIDENT, t).message for t in TEXTS]
    events.append(u.message(RESIDENT, photo=True, caption="/new").message)
    events.append(u.message(RESIDENT, photo=True).message)
    presses = [pack(act, *range(1, n + 1)) for act, n in ARITY.items()] + ["tr", "tr:", "xx:1", "ct:1:2:3", "cf:"]
    events += [u.press(RESIDENT, data).callback_query for data in presses]
    passed_over = 0
    for f, event, raw_state in itertools.product(filters, events, _states()):
        kwargs = {"bot": bot, "raw_state": raw_state, "event_from_user": event.from_user}
        if _gate_of(f.callback)(event, kwargs):
            continue
        passed_over += 1
        assert not await f.call(event, **kwargs), (f.callback, event.model_dump(exclude_none=True), raw_state)
    assert passed_over > 1000
    await bot.session.close()
