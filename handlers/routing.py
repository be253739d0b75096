"""Routers that pass over a handler its declared filters already rule out, without asking it.

aiogram asks every handler of every router in turn, each filter through its dependency
injection, until one matches: a conversation step was checked against 32 handlers in 10 routers,
`/my` against 56. Most handlers declare what they wait for in a form that can be read once, when
the router is built: a command (`Command`), a button's callback data prefix (`CallbackData.filter`)
or a conversation state (`State`, `StateFilter`). `Stage` reads those into a gate per handler — a
plain test of the update's text, data or state that holds whenever the handler's filters can
pass — and asks only the handlers whose gate holds, exactly as aiogram would. A handler with
none of these filters is asked as before.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from inspect import isclass
from typing import Any

from aiogram import Router
from aiogram.dispatcher.event.bases import UNHANDLED, SkipHandler
from aiogram.dispatcher.event.handler import FilterObject
from aiogram.dispatcher.event.telegram import TelegramEventObserver
from aiogram.filters import Command, StateFilter
from aiogram.filters.callback_data import CallbackQueryFilter
from aiogram.fsm.state import State, StatesGroup
from aiogram.types import TelegramObject

Gate = Callable[[TelegramObject, dict[str, Any]], bool]
_UNKNOWN = object()


class Stage(Router):
    """A router whose observers gate their handlers (see the module's docstring)."""

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)
        for event_name in list(self.observers):
            observer = GatedObserver(router=self, event_name=event_name)
            self.observers[event_name] = observer
            setattr(self, "errors" if event_name == "error" else event_name, observer)
        self.error = self.errors

    async def propagate_event(self, update_type: str, event: TelegramObject, **kwargs: Any) -> Any:
        """aiogram's `Router.propagate_event`, without building an outer middleware chain per
        update for an observer that has none (none of ours has), and passing over an observer with
        neither handlers nor router filters straight to the sub-routers, as aiogram would."""
        observer = self.observers.get(update_type)
        if observer is not None and len(observer.outer_middleware):
            return await super().propagate_event(update_type, event, **kwargs)
        kwargs["event_router"] = self
        if observer is not None and not observer.handlers and not observer._handler.filters:
            observer = None
        return await self._propagate_event(observer=observer, update_type=update_type, event=event, **kwargs)


class GatedObserver(TelegramEventObserver):
    def __init__(self, router: Router, event_name: str) -> None:
        super().__init__(router=router, event_name=event_name)
        self._gates: list[Gate | None] = []
        self._inner: list[Any] = []  # the inner middlewares of this observer and its routers' parents

    async def trigger(self, event: TelegramObject, **kwargs: Any) -> Any:
        """aiogram's `TelegramEventObserver.trigger`, asking only handlers whose gate holds."""
        if len(self._gates) != len(self.handlers):  # handlers and middlewares are registered before the first update
            self._gates = [gate(handler.filters) for handler in self.handlers]
            self._inner = self._resolve_middlewares()
        for handler, passes in zip(self.handlers, self._gates):
            if passes is not None and not passes(event, kwargs):
                continue
            kwargs["handler"] = handler
            result, data = await handler.check(event, **kwargs)
            if result:
                kwargs.update(data)
                try:
                    if not self._inner:  # no chain to build
                        return await handler.call(event, **kwargs)
                    return await self.outer_middleware.wrap_middlewares(self._inner, handler.call)(event, kwargs)
                except SkipHandler:
                    continue
        return UNHANDLED


def gate(filters: Iterable[FilterObject] | None) -> Gate | None:
    """What every one of these filters needs of an update, as one test; None if nothing can be told."""
    parts = [g for g in (_gate_of(f.callback) for f in filters or ()) if g is not None]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return lambda event, kwargs: all(p(event, kwargs) for p in parts)


def _gate_of(check: Any) -> Gate | None:
    if isinstance(check, Command):
        return _command(check)
    if isinstance(check, CallbackQueryFilter):
        return _callback(check.callback_data.__prefix__, check.callback_data.__separator__)
    if isinstance(check, (State, StateFilter)):
        return _states(check.states if isinstance(check, StateFilter) else (check,))
    return None


def _command(check: Command) -> Gate | None:
    """`Command`'s own parsing (`extract_command`, `validate_prefix`, `validate_command`) for plain names."""
    if not all(isinstance(c, str) for c in check.commands):
        return None  # a pattern: left to the filter
    names, prefixes, fold = frozenset(check.commands), check.prefix, check.ignore_case

    def passes(event: TelegramObject, _kwargs: dict[str, Any]) -> bool:
        text = getattr(event, "text", None) or getattr(event, "caption", None)
        if not text or not (words := text.split(maxsplit=1)):
            return False
        full = words[0]
        name = full[1:].partition("@")[0]
        return full[0] in prefixes and (name.casefold() if fold else name) in names
    return passes


def _callback(prefix: str, separator: str) -> Gate:
    """`CallbackData.unpack`'s first test: the data's prefix."""
    def passes(event: TelegramObject, _kwargs: dict[str, Any]) -> bool:
        data = getattr(event, "data", None)
        return isinstance(data, str) and data.split(separator, 1)[0] == prefix
    return passes


def _states(allowed: Iterable[Any]) -> Gate | None:
    """The conversation states a `State` or `StateFilter` lets through (from the FSM middleware's
    `raw_state`); None when any state will do."""
    names: set[str | None] = set()
    for s in allowed:
        if isinstance(s, State):
            s = s.state
        if isinstance(s, StatesGroup) or (isclass(s) and issubclass(s, StatesGroup)):
            names.update(s.__all_states_names__)
        elif s is None or isinstance(s, str):
            if s == "*":
                return None
            names.add(s)
        else:
            return None
    frozen = frozenset(names)

    def passes(_event: TelegramObject, kwargs: dict[str, Any]) -> bool:
        raw = kwargs.get("raw_state", _UNKNOWN)
        return raw is _UNKNOWN or raw in frozen
    return passes
