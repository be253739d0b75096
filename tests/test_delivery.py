"""The outbox under faults: retries, 429 per chat, 403 fallback, order per chat, and the pacer."""
from __future__ import annotations

from datetime import timedelta

from aiogram.exceptions import TelegramRetryAfter, TelegramServerError
from aiogram.methods import SendMessage
from sqlalchemy import select, update

from bot.delivery import UNKNOWN, Pacer, markup
from storage.models import Outbox, User, utcnow
from tests.conftest import Harness


async def _queue(h: Harness, *rows: Outbox) -> list[int]:
    async with h.app.db.write() as s:
        for r in rows:
            s.add(r)
        await s.flush()
        return [r.id for r in rows]


async def _rows(h: Harness) -> dict[int, Outbox]:
    async with h.app.db.read() as s:
        return {r.id: r for r in (await s.execute(select(Outbox))).scalars()}


async def _make_due(h: Harness) -> None:
    async with h.app.db.write() as s:
        await s.execute(update(Outbox).values(not_before=utcnow() - timedelta(seconds=1)))


async def test_server_errors_are_retried_until_delivered(harness: Harness):
    h = harness
    m = SendMessage(chat_id=1, text="x")
    h.session.faults = [TelegramServerError(method=m, message="Bad Gateway"),
                        TelegramServerError(method=m, message="Bad Gateway")]
    [rid] = await _queue(h, Outbox(chat_id=1, text="hello"))
    for _ in range(3):
        await h.deliver()
        await _make_due(h)
    row = (await _rows(h))[rid]
    assert row.status == "sent" and row.attempts == 2 and row.message_id
    assert [c.text for c in h.session.to(1)] == ["hello"]  # exactly once


async def test_retry_after_delays_only_that_chat(harness: Harness):
    h = harness
    m = SendMessage(chat_id=1, text="x")
    h.session.faults = [TelegramRetryAfter(method=m, message="Too Many Requests", retry_after=30)]
    a, b = await _queue(h, Outbox(chat_id=1, text="to one"), Outbox(chat_id=2, text="to two"))
    await h.deliver()
    rows = await _rows(h)
    assert rows[a].status == "pending" and rows[a].not_before > utcnow() + timedelta(seconds=20)
    assert rows[b].status == "sent"
    assert h.app.pacer.ready_at(1) > h.app.pacer.ready_at(2)


async def test_blocked_user_is_marked_and_reached_in_their_group(harness: Harness):
    h = harness
    async with h.app.db.write() as s:
        s.add(User(id=42, first_name="Ann", started=True))
    h.session.forbidden[42] = "Forbidden: bot was blocked by the user"
    [rid] = await _queue(h, Outbox(chat_id=42, text="private", fallback_chat_id=-100, fallback_text="via group"))
    await h.deliver()
    rows = await _rows(h)
    assert rows[rid].status == "failed"
    assert [r.text for r in rows.values() if r.chat_id == -100 and r.status == "sent"] == ["via group"]
    async with h.app.db.read() as s:
        assert (await s.get(User, 42)).blocked is True


async def test_messages_to_one_chat_keep_their_order_through_failures(harness: Harness):
    h = harness
    m = SendMessage(chat_id=7, text="x")
    h.session.faults = [TelegramServerError(method=m, message="Internal Server Error")]
    await _queue(h, *[Outbox(chat_id=7, text=f"m{i}") for i in range(5)])
    for _ in range(3):
        await h.deliver()
        await _make_due(h)
    assert [c.text for c in h.session.to(7)] == [f"m{i}" for i in range(5)]


async def test_an_edit_held_back_does_not_hold_up_its_chat(harness: Harness):
    """A tally edit spaced from the previous one waits aside: the group's next message and the
    final result of another vote (more urgent) go meanwhile; the held edit follows once due."""
    h = harness
    a, b = await _queue(h, Outbox(chat_id=-7, text="vote A: 1 for", status="sent", message_id=11),
                        Outbox(chat_id=-7, text="vote B: 1 for", status="sent", message_id=12))
    later = utcnow() + timedelta(seconds=20)
    [held] = await _queue(h, Outbox(chat_id=-7, method="edit", edit_of=a, text="vote A: 2 for", not_before=later))
    await _queue(h, Outbox(chat_id=-7, text="a new request"))  # each its own transaction (its own cause)
    await _queue(h, Outbox(chat_id=-7, method="edit", edit_of=b, text="vote B: passed", priority=1))
    await h.deliver()
    assert [c.text for c in h.session.to(-7)] == ["vote B: passed", "a new request"]
    assert (await _rows(h))[held].status == "pending"
    await _make_due(h)
    await h.deliver()
    assert [c.text for c in h.session.to(-7)][-1] == "vote A: 2 for"


def test_pacer_never_exceeds_telegram_limits():
    pacer = Pacer()
    now, sent = 0.0, {1: [], -5: []}
    total: list[float] = []
    while now < 180:
        for chat in (1, -5):
            if pacer.ready_at(chat, now) <= now:
                pacer.record(chat, now)
                sent[chat].append(now)
                total.append(now)
        now += 0.01
    private, group = sent[1], sent[-5]
    assert all(b - a >= 1.0 for a, b in zip(private, private[1:]))
    assert all(group[i + 20] - group[i] >= 60 for i in range(len(group) - 20))
    assert len(group) >= 50  # ~20 per minute over three minutes, not fewer
    assert all(total[i + 30] - total[i] >= 1.0 for i in range(len(total) - 30))


async def test_prune_keeps_what_may_still_be_edited(harness: Harness):
    from scheduler import jobs

    h = harness
    old = utcnow() - timedelta(days=120)
    async with h.app.db.write() as s:
        card = Outbox(chat_id=-1, text="card", status="sent", created_at=old, key="card:1", blob=b"png")
        s.add(card)
        await s.flush()
        s.add(Outbox(chat_id=-1, text="edit", method="edit", edit_of=card.id, status="pending", created_at=old))
        s.add(Outbox(chat_id=-2, text="old", status="sent", created_at=old))
        s.add(Outbox(chat_id=-2, text="new", status="sent"))
    jobs.bind(h.app)
    await jobs.prune()
    texts = {r.text: r for r in (await _rows(h)).values()}
    assert set(texts) == {"card", "edit", "new"} and texts["card"].blob is None


async def test_a_row_marked_sent_while_its_chat_is_read_goes_out_once(harness: Harness, monkeypatch):
    """Sent marks are written a moment after the send, in batches. A reply flushed to the same chat
    reads that chat's next row; if the mark commits while that read runs, the read still sees the
    row pending (its snapshot is older) and must not send it again (it did: an edit went twice,
    and Telegram answered 400 "message is not modified")."""
    import asyncio
    from contextlib import asynccontextmanager

    h = harness
    delivery, db = h.app.delivery, h.app.db
    [first] = await _queue(h, Outbox(chat_id=1, text="once"))
    await delivery.flush(list((await _rows(h)).values()))
    assert first in delivery._sent  # sent; its mark is still to be written
    delivery._marking.cancel()  # the batched mark is written below, at the worst moment instead
    await asyncio.gather(delivery._marking, return_exceptions=True)
    [second] = await _queue(h, Outbox(chat_id=1, text="next"))
    reply = (await _rows(h))[second]
    real_read, armed = db.read, [True]

    @asynccontextmanager
    async def read_while_the_mark_commits():
        async with real_read() as s:
            if armed.pop() if armed else False:
                await s.execute(select(Outbox.id).limit(1))  # the read's snapshot begins here...
                await delivery.mark_sent()  # ...and the mark commits while it is open
            yield s

    monkeypatch.setattr(db, "read", read_while_the_mark_commits)
    delivery._waiting.setdefault(1, {})[UNKNOWN] = 0.0  # more may wait there (another process's): read the line
    await delivery.flush([reply])
    monkeypatch.undo()
    assert not armed  # the race was staged
    assert [c.text for c in h.session.to(1)] == ["once", "next"]
    await delivery.mark_sent()
    rows = await _rows(h)
    assert rows[first].status == rows[second].status == "sent"


async def test_a_reply_waits_behind_what_another_process_queued_for_its_chat(harness: Harness):
    """A reply goes out without reading its chat's line when nothing else is known to wait there
    (SQLite: this process writes and sends the outbox). A row another process wrote (a CLI
    command; or this process before a restart) is learnt by the loop's next round, and from then
    on the chat's line is read: the older row still goes first."""
    from storage.db import Database

    h = harness
    await h.deliver()  # the loop's first round: nothing waits anywhere
    other = Database(h.settings.database_url)
    try:
        async with other.write() as s:  # held back for now (a retry's pause): it stays first in line
            s.add(Outbox(chat_id=1, text="older", not_before=utcnow() + timedelta(hours=1)))
    finally:
        await other.dispose()
    await h.deliver()  # the round finds it: not due yet, so it waits
    [reply] = await _queue(h, Outbox(chat_id=1, text="reply"))
    await h.app.delivery.flush([(await _rows(h))[reply]])
    assert h.session.to(1) == []  # not ahead of the older one
    await _make_due(h)
    await h.deliver()
    assert [c.text for c in h.session.to(1)] == ["older", "reply"]


async def test_nothing_is_kept_of_what_waited_once_it_has_gone(harness: Harness):
    """What the delivery knows waits in each chat is dropped as rows go out (and as the loop finds
    chats empty): nothing accumulates in a long-running process. On PostgreSQL nothing is kept at
    all: replies there always look at their chat's queue (several workers write the outbox)."""
    from tests.conftest import RESIDENT, community
    from tests.test_requests_flow import file_privately

    h = harness
    await community(h)
    await h.deliver()
    await file_privately(h)  # its card, the staff feed, the replies of each step
    await h.send(RESIDENT, "/my")
    if h.app.db.is_sqlite:
        assert h.app.delivery._waiting  # the card and the feed line wait for the loop
    await h.deliver()
    assert h.app.delivery._waiting == {}


def test_a_keyboard_is_made_once_per_set_of_buttons_and_reads_as_given():
    rows = [[{"text": "是", "callback_data": "so:1:1"}, {"text": "否", "callback_data": "so:1:0"}],
            [{"text": "Open", "web_app": {"url": "https://example.org/app"}}]]
    keyboard = markup(rows)
    assert keyboard is markup([[dict(cell) for cell in row] for row in rows])  # equal buttons: the same keyboard
    assert keyboard.model_dump(mode="json", exclude_none=True)["inline_keyboard"] == rows
    assert markup([[{"text": "否", "callback_data": "so:1:0"}]]) is not keyboard
    assert markup([]) is None and markup(None) is None
