"""Fuzz: thousands of random and malformed updates through the real Dispatcher. No unhandled
exception, an answer where one is due, every call within Telegram's limits, and the database
invariants hold afterwards."""
from __future__ import annotations

import logging

from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from sqlalchemy import select
from telegram import constants as c

from bot.callbacks import Act
from storage.models import OPEN_STATUSES, Membership, Outbox, Request, Status
from tests.conftest import GRID_GROUP, LEADER, RESIDENT, STAFF, VOLUNTEER, VOL_GROUP, Harness, community
from tests.tg import Person

PEOPLE = [STAFF, LEADER, VOLUNTEER, RESIDENT, Person(666, "Stranger", None), Person(667, "مريم", "ar")]
CHATS = [None, GRID_GROUP, VOL_GROUP, -999]  # private, bound groups, an unbound group
COMMANDS = ["/start", "/new", "/my", "/tasks", "/mytasks", "/help", "/whoami", "/language", "/cancel", "/grid",
            "/invite", "/bind", "/unbind", "/assign", "/onbehalf", "/grouplang", "/points", "/redeem", "/leaderboard",
            "/propose", "/votes", "/closevote", "/conventions", "/survey", "/stats", "/nonsense"]
ACTS = [a.value for a in Act]

texts = st.one_of(st.text(max_size=60), st.text(min_size=2000, max_size=5000),
                  st.sampled_from(["JMS-0001", "@gongzhi_test_bot help", "<b>x</b>", "&amp;", "\u202eevil"]))
commands = st.builds(lambda cmd, arg: f"{cmd} {arg}".strip(), st.sampled_from(COMMANDS),
                     st.one_of(st.just(""), st.text(max_size=30), st.sampled_from(
                         ["volunteer", "grid_leader 一网格", "community", "grid 二网格", "JMS-0001 @zhangwei"])))
callback = st.one_of(
    st.builds(lambda a, ids: ":".join([a, *map(str, ids)]), st.sampled_from(ACTS),
              st.lists(st.integers(-5, 12), max_size=3)),
    st.text(min_size=1, max_size=64))
events = st.one_of(
    st.tuples(st.just("text"), st.sampled_from(PEOPLE), st.sampled_from(CHATS), st.one_of(texts, commands)),
    st.tuples(st.just("press"), st.sampled_from(PEOPLE), st.sampled_from(CHATS), callback),
    st.tuples(st.just("media"), st.sampled_from(PEOPLE), st.sampled_from(CHATS),
              st.sampled_from(["photo", "sticker", "location"])))


async def _play(h: Harness, event) -> None:
    kind, who, chat, payload = event
    if kind == "text":
        await h.send(who, payload, chat_id=chat)
    elif kind == "press":
        await h.press(who, payload, chat_id=chat)
    else:
        await h.send(who, None, chat_id=chat, photo=payload == "photo", sticker=payload == "sticker",
                     location=(29.3, 120.1) if payload == "location" else None)


async def _invariants(h: Harness) -> None:
    async with h.app.db.read() as s:
        for r in (await s.execute(select(Request))).scalars():
            assert r.status in set(Status)
            if r.status in (Status.CLAIMED, Status.IN_PROGRESS, Status.HANDLING, Status.ESCALATED):
                assert r.assignee_id is not None, r
            if r.status not in OPEN_STATUSES:
                assert r.timer_at is None, r
            assert 0 < len(r.description) <= 2000
        for m in (await s.execute(select(Membership))).scalars():
            assert m.role in {"resident", "grid_leader", "volunteer", "council_member", "staff", "department_liaison"}
        for o in (await s.execute(select(Outbox))).scalars():
            assert len(o.text) <= c.MessageLimit.MAX_TEXT_LENGTH


def _within_limits(h: Harness) -> None:
    for call in h.session.calls:
        text = getattr(call.method, "text", None)
        if text is not None:
            assert 0 < len(text) <= c.MessageLimit.MAX_TEXT_LENGTH
        for b in call.buttons():
            if "callback_data" in b:
                assert 1 <= len(b["callback_data"].encode()) <= c.InlineKeyboardButtonLimit.MAX_CALLBACK_DATA
        answer = getattr(call.method, "callback_query_id", None) and getattr(call.method, "text", None)
        if answer:
            assert len(answer) <= c.CallbackQueryLimit.ANSWER_CALLBACK_QUERY_TEXT_LENGTH


class Box:
    harness: Harness | None = None


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
          phases=[Phase.explicit, Phase.generate])  # a failing batch is reported as is, unshrunk
@given(st.lists(events, min_size=80, max_size=80))
async def test_random_updates_never_break_the_bot(tmp_path_factory, caplog, batch):
    if Box.harness is None:
        Box.harness = await Harness(tmp_path_factory.mktemp("fuzz") / "f.db").start()
        await community(Box.harness)
    h = Box.harness
    caplog.set_level(logging.ERROR)
    for event in batch:
        before = len(h.session.calls)
        await _play(h, event)
        kind, who, chat, payload = event
        if kind == "press":
            assert any(x.name == "AnswerCallbackQuery" for x in h.session.calls[before:]), event
        elif chat is None and (kind == "media" or payload.startswith("/")):
            assert len(h.session.calls) > before, event  # a private command or media always gets an answer
    await h.deliver()
    assert not [r for r in caplog.records if "unhandled" in r.getMessage()], caplog.text
    _within_limits(h)
    await _invariants(h)
    h.session.clear()
