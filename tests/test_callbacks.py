"""Typed callback data (one aiogram CallbackData class per action) is wire-compatible with the
strings `pack` makes, which are on buttons already posted in chats."""
from __future__ import annotations

import pytest

from bot.callbacks import ARITY, PRESS, TYPED_PRESSES, Act, pack, unpack
from bot.limits import MAX_CALLBACK_DATA


@pytest.mark.parametrize("cls", TYPED_PRESSES, ids=lambda c: c.__name__)
def test_typed_press_is_the_packed_string(cls):
    act = Act(cls.__prefix__)
    fields = list(cls.model_fields)
    assert len(fields) == ARITY[act]
    ids = [2**31 + i for i in range(len(fields))]  # large ids still fit
    data = cls(**dict(zip(fields, ids))).pack()
    assert data == pack(act, *ids) and len(data.encode()) <= MAX_CALLBACK_DATA
    assert unpack(data) == (act, tuple(ids))
    back = cls.unpack(pack(act, *ids))
    assert [getattr(back, f) for f in fields] == ids


def test_one_class_per_action():
    assert len({cls.__prefix__ for cls in TYPED_PRESSES}) == len(TYPED_PRESSES)
    assert {Act(cls.__prefix__) for cls in TYPED_PRESSES} == set(Act)  # a new action gets its class


def test_negative_ids_travel():
    """A survey's target group is a chat id (negative)."""
    data = pack(Act.SURVEY_GROUP, -1001234567890)
    assert PRESS[Act.SURVEY_GROUP].unpack(data).chat == -1001234567890


@pytest.mark.parametrize("cls", TYPED_PRESSES, ids=lambda c: c.__name__)
def test_foreign_data_is_not_ours(cls):
    for data in (f"{cls.__prefix__}:x" + ":1" * (len(cls.model_fields) - 1), f"{cls.__prefix__}" + ":1" * 9):
        with pytest.raises((TypeError, ValueError)):
            cls.unpack(data)
