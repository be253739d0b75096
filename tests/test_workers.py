"""Several webhook workers on one PostgreSQL database, for real: three `gongzhi run --webhook`
processes behind the emulator's webhook delivery (it stands in for Telegram and a load balancer).

The full-size run (issue #14): 50 people in five communities make 500 mixed actions — filing in
their micro-grid's group, triage, claims, a note when the task is done, sign-off and stars, "me
too" taps, council drafts opened, voted and closed, and lists asked for in private — while one
worker is killed with SIGKILL in the middle and started again. A second run kills the *leader*
(the worker that sends the outbox and runs the scheduler): another worker must take both over,
sending what was left and closing votes whose deadline passed after the death.

Nothing may be lost or done twice: every request filed once with its own number, every rating,
vote and "me too" recorded once, every outbox row sent once (the emulator counts what arrived),
each person's updates handled in order, and no 429 that our own pacing caused."""
from __future__ import annotations

import asyncio
import os
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url

from bot.leader import LEADER_LOCK
from bot.sandbox.emulator import BotAPIEmulator
from bot.sandbox.webhooks import chat_of
from bot.sandbox.world import ChatMessage, SimGroup, SimUser
from bot.services.deliberation import POp
from bot.services.requests import Op
from storage.db import Database
from storage.migrate import upgrade
from storage.models import (ChatBinding, ChatKind, Community, Inbox, InboxStatus, MeToo, Membership, Outbox,
                            Proposal, Rating, Request, Role, User, Vote, utcnow)
from tests.conftest import POSTGRES, database_url
from tests.test_inbox import _free_port, _start, _stop

pytestmark = pytest.mark.skipif(not POSTGRES, reason="several workers need PostgreSQL (GONGZHI_TEST_POSTGRES)")

WORKERS = 3
PEOPLE = int(os.environ.get("GONGZHI_WORKERS_PEOPLE", "50"))  # ten to a community
WAIT = 300.0  # seconds any one step may take: generous, the machine may be busy; no assertion on time
ENV = {"WEBHOOK_URL": "https://bot.example.org", "WEBHOOK_SECRET": "s3cret"}
# Per community: three residents file 4 + 3 + 3 requests; two of them go to the council.
FILED = (4, 3, 3)
TO_COUNCIL = {(1, 2), (2, 2)}  # (resident, request) sent to the council; the others become tasks


@dataclass
class Town:
    """One community: ten people, four bound groups."""

    code: str
    staff: SimUser
    leader: SimUser
    volunteers: list[SimUser]
    council: list[SimUser]
    residents: list[SimUser]
    grid_group: SimGroup
    vol_group: SimGroup
    council_group: SimGroup
    staff_group: SimGroup
    proposals: list[int] = field(default_factory=list)
    locks: dict[int, asyncio.Lock] = field(default_factory=dict)

    @property
    def people(self) -> list[SimUser]:
        return [self.staff, self.leader, *self.volunteers, *self.council, *self.residents]

    @property
    def groups(self) -> list[SimGroup]:
        return [self.grid_group, self.vol_group, self.council_group, self.staff_group]


async def _deployment(tmp_path: Path, emu: BotAPIEmulator, towns: int) -> tuple[str, list[Town]]:
    from bot.services.community import DEFAULT_SETTINGS, CommunityService

    url = database_url(tmp_path / "workers.db")
    await asyncio.to_thread(upgrade, url)
    db = Database(url)
    out = []
    langs = ("en", "es", "ar", "zh-hans", "ru", "fr")
    for t in range(towns):
        code = "K" + "ABCDEFGHIJ"[t]
        n = iter(range(100))
        person = lambda role: emu.add_user(f"{code}{role}{next(n)}", language_code=langs[t % len(langs)],  # noqa: E731
                                           started=True)
        staff, leader = person("S"), person("L")
        volunteers, council, residents = [person("V") for _ in range(2)], [person("C") for _ in range(3)], \
            [person("R") for _ in range(3)]
        town = Town(code, staff, leader, volunteers, council, residents,
                    grid_group=emu.add_group(f"{code} grid", members=[*residents, leader, staff]),
                    vol_group=emu.add_group(f"{code} volunteers", members=[*volunteers, leader, staff]),
                    council_group=emu.add_group(f"{code} council", members=[*council, staff]),
                    staff_group=emu.add_group(f"{code} staff", members=[staff, leader]))
        c, _ = await CommunityService(db).create(f"Town {code}", admin_id=staff.id, code=code, locale="en")
        [grid] = await CommunityService(db).add_grids(code, ["G"])
        async with db.write() as s:
            community = await s.get(Community, c.id)
            # Quiet feed: one staff-group message per request; no quiet hours: timed closes run now.
            community.settings = {**DEFAULT_SETTINGS, "quiet_feed": True, "quiet_hours": "00:00-00:00"}
            s.add(community)
            for u in town.people:
                user = await s.get(User, u.id) or User(id=u.id)
                user.first_name, user.language_code, user.started, user.community_id = \
                    u.first_name, u.language_code, True, c.id
                s.add(user)
            roles = [(leader, Role.GRID_LEADER, grid.id), *[(v, Role.VOLUNTEER, None) for v in volunteers],
                     *[(m, Role.COUNCIL_MEMBER, None) for m in council], *[(r, Role.RESIDENT, grid.id) for r in residents]]
            for u, role, grid_id in roles:
                s.add(Membership(user_id=u.id, community_id=c.id, role=role, grid_id=grid_id))
            for group, kind in ((town.grid_group, ChatKind.GRID), (town.vol_group, ChatKind.VOLUNTEERS),
                                (town.council_group, ChatKind.COUNCIL), (town.staff_group, ChatKind.STAFF)):
                s.add(ChatBinding(chat_id=group.id, community_id=c.id, kind=kind,
                                  grid_id=grid.id if kind == ChatKind.GRID else None, locale="en"))
        out.append(town)
    await db.dispose()
    return url, out


def _data(m: ChatMessage, prefix: str) -> list[str]:
    return [b["callback_data"] for row in m.inline_keyboard for b in row if b.get("callback_data", "").startswith(prefix)]


class Play:
    """The people's side: every action is counted; every wait is on what the bot sent."""

    def __init__(self, emu: BotAPIEmulator, url: str) -> None:
        self.emu, self.url = emu, url
        self.actions = 0
        self.deadline_passed = asyncio.Event()  # set once the old leader is dead and another leads

    async def act(self, coro: Any) -> None:
        self.actions += 1
        await coro

    async def message(self, chat: Any, *needles: str, button: str | None = None, after: int = 0,
                      what: str = "") -> ChatMessage:
        def look() -> ChatMessage | None:
            for m in self.emu.bot_messages(chat)[after:]:
                if all(n in (m.text or "") for n in needles) and (button is None or _data(m, button)):
                    return m
            return None
        return await self.emu.wait_until(look, timeout=WAIT, description=what or f"{needles} {button}")

    async def town(self, t: Town) -> None:
        await asyncio.gather(*(self.act(p.send("/start")) for p in t.people))
        await asyncio.gather(*(self.message(p, what="the answer to /start") for p in t.people))
        lists = [(r, "/my") for r in t.residents] + [(v, "/mytasks") for v in t.volunteers] + \
                [(m, "/votes") for m in t.council] + [(t.leader, "/tasks"), (t.staff, "/help")]
        jobs = [self.act(p.send(cmd)) for p, cmd in lists]
        jobs += [self.request(t, ri, k) for ri, count in enumerate(FILED) for k in range(count)]
        await asyncio.gather(*jobs)

    async def request(self, t: Town, ri: int, k: int) -> None:
        resident, tag = t.residents[ri], f"{t.code}r{ri}n{k}"
        await self.act(resident.send(f"/new Broken lamp {tag} near the entrance", chat=t.grid_group))
        card = await self.message(t.grid_group, tag, button="tr:", what=f"the triage card of {tag}")
        rid = int(_data(card, "tr:")[0].split(":")[1])
        no = re.search(rf"{t.code}-\d{{4}}", card.text or "").group(0)
        # "Me too" from the next resident along (each request but the requester's own).
        tapper = t.residents[(ri + 2) % 3]
        await self.act(tapper.press(card, data=f"mt:{rid}"))
        if (ri, k) in TO_COUNCIL:
            await self.council(t, card, rid, no, ri, k)
        else:
            await self.task(t, card, rid, no, tag, resident, t.volunteers[(ri + k) % 2])

    async def task(self, t: Town, card: ChatMessage, rid: int, no: str, tag: str, resident: SimUser,
                   volunteer: SimUser) -> None:
        await self.act(t.leader.press(card, data=f"tr:{rid}:{Op.ACCEPT}"))
        post = await self.message(t.vol_group, no, button=f"tk:{rid}:", what=f"the task post of {no}")
        await self.act(volunteer.press(post, data=f"tk:{rid}:{Op.CLAIM}"))
        brief = await self.message(volunteer, no, button=f"tk:{rid}:{Op.DONE}", what=f"the brief of {no}")
        lock = t.locks.setdefault(volunteer.id, asyncio.Lock())
        async with lock:  # the note after "done" is a conversation: one at a time per person
            before = len(self.emu.bot_messages(volunteer))
            await self.act(volunteer.press(brief, data=f"tk:{rid}:{Op.DONE}"))
            await self.message(volunteer, no, button="sk", after=before, what=f"the done prompt of {no}")
            await self.act(volunteer.send(f"Fixed the lamp {tag}"))
            ask = await self.message(resident, no, button=f"so:{rid}:", what=f"the sign-off question of {no}")
        await self.act(resident.press(ask, data=f"so:{rid}:1"))
        await self.emu.wait_until(lambda: _data(ask, f"st:{rid}:"), timeout=WAIT, description=f"stars for {no}")
        await self.act(resident.press(ask, data=f"st:{rid}:5"))
        await self.message(volunteer, no, "⭐⭐⭐⭐⭐", what=f"the rating of {no}")

    async def council(self, t: Town, card: ChatMessage, rid: int, no: str, ri: int, k: int) -> None:
        await self.act(t.leader.press(card, data=f"tc:{rid}"))
        draft = await self.message(t.staff_group, no, button="pp:", what=f"the draft from {no}")
        pid = int(_data(draft, "pp:")[0].split(":")[1])
        t.proposals.append(pid)
        await self.act(t.staff.press(draft, data=f"pp:{pid}:{POp.OPEN}"))
        post = await self.message(t.council_group, button=f"vo:{pid}:", what=f"the council post of {no}")
        await asyncio.gather(*(self.act(m.press(post, data=f"vo:{pid}:0")) for m in t.council))
        if (ri, k) == (1, 2):  # its deadline passes after the leader died: the new one's scheduler closes it
            await self.message(t.staff_group, button=f"pp:{pid}:{POp.CLOSE}", what=f"all voted on {no}")
            await self.deadline_passed.wait()
            db = Database(self.url)
            try:
                async with db.write() as s:
                    await s.execute(update(Proposal).where(Proposal.id == pid).values(closes_at=utcnow()))
            finally:
                await db.dispose()
            self.actions += 1  # the clock's move stands for staff's close
        else:
            allin = await self.message(t.staff_group, button=f"pp:{pid}:{POp.CLOSE}", what=f"all voted on {no}")
            await self.act(t.staff.press(allin, data=f"pp:{pid}:{POp.CLOSE}"))
        await self.emu.wait_until(lambda: not _data(post, "vo:"), timeout=WAIT, description=f"the result of {no}")


async def _leader_backend(url: str) -> int | None:
    """The PostgreSQL backend holding the leader lock, if any."""
    conn = await asyncpg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False))
    try:
        return await conn.fetchval("SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 "
                                   "AND objid = $2 AND granted", *LEADER_LOCK)
    finally:
        await conn.close()


async def _drained(url: str) -> None:
    """Until no outbox row is pending (some wait for their `not_before`)."""
    db = Database(url)
    try:
        deadline = time.monotonic() + WAIT
        while True:
            async with db.read() as s:
                left = (await s.execute(select(func.count()).select_from(Outbox).where(
                    Outbox.status == "pending"))).scalar()
            if not left:
                return
            assert time.monotonic() < deadline, f"{left} outbox rows never sent"
            await asyncio.sleep(0.5)
    finally:
        await db.dispose()


async def _listening(port: int, proc: Any) -> None:
    """The worker answers on its port (a busy machine may take a while to start Python)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if proc.returncode is not None:
            raise AssertionError(f"the worker on port {port} exited with {proc.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"the worker on port {port} never listened")


async def _served(emu: BotAPIEmulator, count: int) -> None:
    await emu.wait_until(lambda: len({u for u, _, st in emu.webhooks.attempts if st == 200}) >= count,
                         timeout=WAIT, description=f"{count} updates served")


async def test_fifty_people_500_actions_a_worker_and_then_the_leader_killed(tmp_path: Path):
    """A third of the way in, a worker that does not lead is killed (and started again at half);
    two thirds in, the leader is killed: another worker must take the lead, send what is left and
    run the scheduler (the votes' deadlines then pass and only its sweep can close them)."""
    towns = PEOPLE // 10
    total = 100 * towns
    t0 = time.monotonic()
    async with BotAPIEmulator() as emu:
        url, town_list = await _deployment(tmp_path, emu, towns)
        print(f"\nset up in {time.monotonic() - t0:.0f} s")
        ports = [_free_port() for _ in range(WORKERS)]
        emu.webhooks.targets = [f"http://127.0.0.1:{p}/webhook" for p in ports]
        start = lambda i: _start(emu, url, "--webhook", WEBHOOK_PORT=str(ports[i]), SWEEP_SECONDS="2", **ENV)  # noqa: E731
        play = Play(emu, url)
        procs = [await start(0)]
        try:
            await _listening(ports[0], procs[0])
            first = None
            for _ in range(int(WAIT * 10)):  # the first worker leads; the others join it
                if (first := await _leader_backend(url)) is not None:
                    break
                await asyncio.sleep(0.1)
            assert first is not None, "no worker took the lead"
            procs += [await start(i) for i in (1, 2)]
            await asyncio.gather(*(_listening(ports[i], procs[i]) for i in (1, 2)))
            began = time.monotonic()
            print(f"workers up at {began - t0:.0f} s")
            stories = asyncio.ensure_future(asyncio.gather(*(play.town(t) for t in town_list)))

            async def served(count: int) -> None:  # the stories' own failures end the wait at once
                waiting = asyncio.ensure_future(_served(emu, count))
                await asyncio.wait([stories, waiting], return_when=asyncio.FIRST_COMPLETED)
                if not waiting.done():
                    waiting.cancel()
                    stories.result()
                    raise AssertionError(f"the stories ended before {count} updates were served")

            await served(total // 3)
            procs[1].kill()  # a worker that does not lead, in the middle of the traffic
            await procs[1].wait()
            await served(total // 2)
            restarted = len(emu.webhooks.attempts)
            procs[1] = await start(1)
            await _listening(ports[1], procs[1])
            await served(total * 2 // 3)
            before_death = {(m.chat_id, m.message_id) for m in emu.bot_messages()}
            procs[0].kill()  # the leader: it sends the outbox and runs the scheduler
            await procs[0].wait()
            taken = None
            for _ in range(int(WAIT * 10)):
                if (taken := await _leader_backend(url)) not in (None, first):
                    break
                await asyncio.sleep(0.1)
            assert taken not in (None, first), "no surviving worker took the lead"
            after = max(5, total // 25)  # 20 at full size; what is left after two thirds shrinks with the run
            await emu.wait_until(lambda: len(emu.bot_messages()) > len(before_death) + after, timeout=WAIT,
                                 description="messages sent by the new leader")
            play.deadline_passed.set()  # the votes' deadlines pass now: only the new leader's sweep closes them
            await stories
            await emu.wait_until(lambda: not emu.updates.pending, timeout=WAIT, description="every update served")
            await _drained(url)  # edits held back (a tally edited at most so often) go out too
            await emu.wait_idle(quiet=1.0, timeout=WAIT)
            print(f"{PEOPLE} people, {play.actions} actions, {len(emu.bot_messages())} messages in "
                  f"{time.monotonic() - began:.0f} s, a worker and then the leader killed")
        finally:
            for proc in procs:
                await _stop(proc)
    print(f"stopped at {time.monotonic() - t0:.0f} s")
    assert play.actions == total, f"{play.actions} actions, not {total}"
    assert {u for _, u, st in emu.webhooks.attempts[restarted:] if st == 200} >= {emu.webhooks.targets[1]}, \
        "the restarted worker served nothing"
    await _check(emu, url, town_list, before_death)


async def _check(emu: BotAPIEmulator, url: str, towns: list[Town], before_death: set[tuple[int, int]]) -> None:
    tasks = sum(FILED) - len(TO_COUNCIL)
    db = Database(url)
    try:
        async with db.read() as s:
            count = lambda model, *where: s.execute(select(func.count()).select_from(model).where(*where))  # noqa: E731
            for t in towns:
                community = (await s.execute(select(Community).where(Community.code == t.code))).scalar_one()
                numbers = sorted((await s.execute(select(Request.number).where(
                    Request.community_id == community.id))).scalars())
                assert numbers == list(range(1, sum(FILED) + 1)), (t.code, numbers)
                ratings = (await s.execute(select(Rating).join(Request, Rating.request_id == Request.id).where(
                    Request.community_id == community.id))).scalars().all()
                assert len(ratings) == tasks and {(r.resolved, r.stars) for r in ratings} == {(True, 5)}, t.code
                votes = (await s.execute(select(Vote).where(Vote.proposal_id.in_(t.proposals)))).scalars().all()
                assert len(votes) == 3 * len(TO_COUNCIL), (t.code, len(votes))
                outcomes = (await s.execute(select(Proposal.outcome).where(Proposal.id.in_(t.proposals)))).scalars()
                assert list(outcomes) == ["passed"] * len(TO_COUNCIL), t.code
                metoo = (await (count(MeToo, MeToo.request_id.in_(select(Request.id).where(
                    Request.community_id == community.id))))).scalar()
                assert metoo == sum(FILED), (t.code, metoo)
            assert set((await s.execute(select(Inbox.status))).scalars()) == {InboxStatus.DONE}
            handled = [(person, chat_of(payload), update_id) for person, update_id, payload in (await s.execute(
                select(Inbox.person, Inbox.update_id, Inbox.payload).order_by(Inbox.done_at, Inbox.update_id))).all()]
            outbox = Counter((await s.execute(select(Outbox.status))).scalars())
            recorded = set((await s.execute(select(Outbox.chat_id, Outbox.message_id).where(
                Outbox.status == "sent", Outbox.edit_of.is_(None), Outbox.target_message_id.is_(None),
                Outbox.method.in_(("send", "photo", "location", "poll"))))).all())
    finally:
        await db.dispose()
    # Each person's updates in one chat handled one after another, in the order Telegram delivered
    # them. That is all the order there is to keep: Telegram serialises webhook deliveries per chat,
    # so a person's updates in two chats may reach two workers at once and be stored in either order
    # (counted below, not asserted); and an update whose delivery failed (it reached the killed
    # worker) comes again later.
    late = {u for u, _, status in emu.webhooks.attempts if not 200 <= status < 300}
    disorder, across = [], 0
    for key in {(p, c) for p, c, _ in handled}:
        mine = [u for p, c, u in handled if (p, c) == key and u not in late]
        if mine != sorted(mine):
            disorder.append((key, mine))
    for person in {p for p, _, _ in handled}:
        mine = [u for p, _, u in handled if p == person and u not in late]
        across += mine != sorted(mine)
    print(f"persons whose updates in different chats were handled out of update order: {across}")
    assert disorder == [], disorder[:3]
    assert set(outbox) <= {"sent", "superseded"}, f"outbox rows not sent: {outbox}"  # superseded: a newer edit
    # Every outbox row sent is one message that arrived, and every message is one row's, except
    # (at-least-once) a message the dead leader sent but had not yet marked: it went again.
    arrived = {(m.chat_id, m.message_id) for m in emu.bot_messages()}
    assert recorded <= arrived, f"rows marked sent that never arrived: {sorted(recorded - arrived)[:5]}"
    orphans = arrived - recorded
    assert orphans <= before_death, f"messages sent twice while no one died: {sorted(orphans - before_death)[:5]}"
    # Only what the leader had sent but not yet marked goes again, never a chat's history: per chat at
    # most the send in flight when it died and the one before it, whose mark was still waiting to be
    # written with the next batch (bot/delivery.py marks sends together, a moment later).
    assert max(Counter(chat for chat, _ in orphans).values(), default=0) <= 2, sorted(orphans)
    print(f"{len(arrived)} messages, {len(orphans)} sent again after the leader's death")
    for t in towns:  # each person's requests were numbered in the order they were written
        for ri, r in enumerate(t.residents):
            order = [_number(emu, t, f"{t.code}r{ri}n{k}") for k in range(FILED[ri])]
            assert order == sorted(order), (r.first_name, order)
    assert not emu.stats.flood_refusals, f"self-caused 429s: {emu.stats.flood_refusals}"
    served = {u for _, u, status in emu.webhooks.attempts if status == 200}
    assert len(served) == WORKERS, f"the load balancer reached {served}"


def _number(emu: BotAPIEmulator, t: Town, tag: str) -> int:
    for m in emu.bot_messages(t.grid_group):
        if tag in (m.text or "") and (no := re.search(rf"{t.code}-(\d{{4}})", m.text or "")):
            return int(no.group(1))
    raise AssertionError(f"no number for {tag}")
