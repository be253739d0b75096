"""Issue #12: a test that tries everything. Every command that needs a role and every callback
action of `bot/callbacks.py`, pressed by every role — resident, volunteer, grid leader, council
member, staff, and another community's staff, grid leader and volunteer — with the real ids of
this community's objects and with forged ones. Each forbidden attempt must be answered with a
refusal in the person's own language and change nothing: a snapshot of every table (but the
inbox and the outbox, which record the attempt and its answer) is the same before and after.

The real flows of the allowed people are tested elsewhere; here an allowed (role, action) pair
is only skipped, so the table also says who may do what."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlmodel import SQLModel

from bot.callbacks import ARITY, Act
from storage.models import Request
from tests.conftest import GRID_GROUP, LEADER, RESIDENT, STAFF, VOL_GROUP, VOLUNTEER, Harness
from tests.test_council import MEMBERS, council, propose
from tests.test_requests_flow import file_privately
from tests.tg import Person

OTHER_STAFF = Person(700, "Иван", "ru", "ivan")
OTHER_LEADER = Person(701, "민수", "ko", "minsu")
OTHER_VOLUNTEER = Person(702, "كريم", "ar", "karim")
COUNCIL = MEMBERS[1]  # a council member who proposed nothing
ROLES = {"resident": RESIDENT, "volunteer": VOLUNTEER, "leader": LEADER, "council": COUNCIL, "staff": STAFF,
         "other_staff": OTHER_STAFF, "other_leader": OTHER_LEADER, "other_volunteer": OTHER_VOLUNTEER}
FORGED = 987654

# The script each person's language is written in: a refusal must be in it.
SCRIPT = {"en": re.compile(r"[A-Za-z]"), "zh": re.compile(r"[\u4e00-\u9fff]"), "ru": re.compile(r"[А-Яа-я]"),
          "ko": re.compile(r"[\uac00-\ud7af]"), "ar": re.compile(r"[\u0600-\u06ff]")}
NOT_SCRIPT = {"en": re.compile(r"[\u4e00-\u9fff\uac00-\ud7af\u0600-\u06ffА-Яа-я]")}

IGNORED_TABLES = {"inbox", "outbox"}


async def world(h: Harness) -> dict[str, Any]:
    """JMS with every role, a council and its groups; LHT next door with its own staff, leader
    and volunteer. In JMS: a new request (R1), a task claimed by the volunteer (R3) and an open
    council vote proposed by another member (P)."""
    await council(h)
    c2, token = await h.app.communities.create("莲花塘社区", admin_id=OTHER_STAFF.id, code="LHT")
    await h.app.communities.add_grids("LHT", ["甲网格"])
    await h.send(OTHER_STAFF, f"/start {token}")
    for who, role in ((OTHER_LEADER, "grid_leader 甲网格"), (OTHER_VOLUNTEER, "volunteer")):
        h.session.clear()
        await h.send(OTHER_STAFF, f"/invite {role}")
        await h.send(who, f"/start {h.session.last(OTHER_STAFF.id).text.split('?start=')[1].split()[0]}")
    _, other_grids = await h.app.communities.list_grids("LHT")
    _, grids = await h.app.communities.list_grids("JMS")
    r1 = await file_privately(h)
    r3 = await file_again(h, "Please help carry groceries to the 5th floor")
    await h.deliver()
    card = [c for c in h.session.to(GRID_GROUP) if any(b.get("callback_data") == f"tr:{r3.id}:0"
                                                           for b in c.buttons())][-1]
    await h.press(LEADER, f"tr:{r3.id}:0", chat_id=GRID_GROUP, message_id=card.message_id)
    await h.deliver()
    await h.press(VOLUNTEER, f"tk:{r3.id}:0", chat_id=VOL_GROUP)
    p = await propose(h, MEMBERS[0], "Bike shed", "Build a bike shed by building 2")
    await h.deliver()
    async with h.app.db.read() as s:
        assert (await s.get(Request, r3.id)).status == "claimed"
    assert p.status == "open"
    for who in ROLES.values():  # everyone administers the groups: the role must be what refuses
        for chat in (GRID_GROUP, VOL_GROUP):
            h.session.admins.setdefault(chat, set()).add(who.id)
    return {"r1": r1.id, "r3": r3.id, "p": p.id, "grid": grids[0].id, "other_grid": other_grids[0].id,
            "liaison": 500}


async def file_again(h: Harness, text: str) -> Request:
    """A second request by the resident (file_privately expects the first number)."""
    from tests.test_requests_flow import CONTACT, button
    who = RESIDENT
    await h.send(who, "/new")
    await h.press(who, button(h.session.last(who.id), "Repair"))
    await h.send(who, text)
    await h.press(who, button(h.session.last(who.id), "Skip"))
    await h.press(who, button(h.session.last(who.id), "Skip"))
    await h.press(who, button(h.session.last(who.id), "一网格"))
    await h.send(who, CONTACT)
    await h.press(who, button(h.session.last(who.id), "Confirm"))
    async with h.app.db.read() as s:
        return (await s.execute(select(Request).order_by(Request.id.desc()))).scalars().first()


def presses(w: dict[str, Any]) -> list[tuple[str, str, set[str]]]:
    """(callback data, what it is, the roles allowed) for real ids; every action of `Act` appears."""
    r1, r3, p = w["r1"], w["r3"], w["p"]
    triage = {"leader", "staff"}
    rows: list[tuple[str, str, set[str]]] = []
    rows += [(f"tr:{r1}:{op}", f"triage op {op}", triage) for op in range(7)]
    rows += [(f"dc:{r1}:0", "decline", triage), (f"du:{r1}:{r3}", "merge", triage),
             (f"es:{r1}:{w['liaison']}", "escalate", triage), (f"dd:{r1}:{w['liaison']}:3", "due date", triage),
             (f"tc:{r1}", "to council", triage), (f"rc:{r1}:0", "categorise", triage)]
    rows += [(f"tk:{r3}:{op}", f"task op {op}", {"volunteer"}) for op in range(4)]
    rows += [(f"li:{r3}:{op}", f"liaison op {op}", set()) for op in range(3)]
    rows += [(f"rq:{r1}", "open a request", {"resident", "leader", "staff"}),
             (f"cr:{r1}", "cancel a request", {"resident", "staff"}),
             (f"an:{r1}", "answer a question", set()),
             (f"so:{r3}:1", "sign off", set()), (f"st:{r3}:5", "stars", set()),
             (f"fo:{r1}", "follow", set())]
    rows += [(f"pp:{p}:{op}", f"proposal op {op}", {"staff"} | ({"council"} if op == 0 else set()))
             for op in range(1, 6)]
    rows += [(f"vo:{p}:0", "vote", {"council"}), (f"vb:{p}", "ballot", {"council"})]
    # Steps of conversations nobody is in: stale for everyone.
    rows += [("cx", "leave one's own conversation", set(ROLES))]
    rows += [(d, "a conversation step", set()) for d in
             ("ct:0", "sk", "cf", "ed", "ig:0", "pk:0", "ph:24", "pu:0", "ps:1", f"sg:{GRID_GROUP}", "sd:3")]
    # Personal settings: one's own language and grid, but never another community's grid.
    rows += [(f"gr:{w['other_grid']}", "another community's grid", {"other_staff", "other_leader", "other_volunteer"}),
             (f"gr:{w['grid']}", "this community's grid", set(ROLES) - {"other_staff", "other_leader", "other_volunteer"}),
             ("lg:0", "language", set(ROLES)), (f"xl:{FORGED}", "a post in my language", set()),
             (f"pg:0:{FORGED}", "a page", set())]
    covered = {d.split(":")[0] for d, _, _ in rows}
    assert covered | LISTS == {a.value for a in Act}, {a.value for a in Act} - covered - LISTS
    assert not covered & LISTS
    return rows


# The actions of the three lists, wishes, partners and me too have their own table and world
# (`lists_presses`): every action appears in one of the two.
LISTS = {"wi", "wc", "wp", "ro", "rt", "rk", "pa", "rs", "it", "rd", "rb", "mt", "sc", "sv", "sl", "od", "np"}


def forged(data: str) -> str:
    head, *ids = data.split(":")
    return ":".join([head, *[str(FORGED)] * len(ids)])


COMMANDS = [  # (text, where, allowed roles)
    ("/assign JMS-0001 @zhangwei", None, {"leader", "staff"}),
    ("/assign JMS-9999 @zhangwei", None, set()),
    ("/onbehalf 陈奶奶", None, {"leader", "staff", "other_leader", "other_staff"}),
    ("/closevote JMS-P001", None, {"staff"}),
    ("/withdrawvote JMS-P001 no longer needed", None, {"staff"}),
    ("/invite staff", None, {"staff", "other_staff"}),
    ("/invite volunteer", None, {"staff", "other_staff"}),
    ("/redeem @zhangwei 5 soap", None, {"staff"}),
    ("/stats", None, {"staff", "other_staff"}),
    ("/survey", None, {"staff", "other_staff"}),
    ("/name community en Jimingshan", None, {"staff", "other_staff"}),
    ("/name category repair en Fixing", None, {"staff", "other_staff"}),
    ("/category", None, {"staff", "other_staff"}),
    ("/category add 停车", None, {"staff", "other_staff"}),
    ("/category remove repair", None, {"staff", "other_staff"}),
    ("/propose", None, {"council", "staff", "other_staff"}),
    ("/tasks", None, {"volunteer", "staff", "other_volunteer", "other_staff"}),
    ("/unbind", GRID_GROUP, {"staff"}),
    ("/bind volunteers", GRID_GROUP, {"staff"}),
    ("/grouplang en", GRID_GROUP, {"staff"}),
]


async def snapshot(h: Harness) -> dict[str, list[tuple]]:
    out = {}
    async with h.app.db.read() as s:
        for name, table in SQLModel.metadata.tables.items():
            if name in IGNORED_TABLES:
                continue
            rows = (await s.execute(select(table))).all()
            out[name] = sorted((tuple(map(repr, r)) for r in rows))
    return out


def changed(before: dict[str, list[tuple]], after: dict[str, list[tuple]]) -> list[str]:
    return [name for name in before if before[name] != after[name]]


def refusal(h: Harness, who: Person, chat: int | None) -> str:
    """What the person was told: the button's answer, or a message in the chat they used."""
    texts = [a.text for a in h.session.answers() if a.text]
    texts += [c.text for c in h.session.to(chat or who.id)]
    return "\n".join(texts)


def in_language(text: str, who: Person) -> bool:
    lang = (who.language_code or "en").split("-")[0]
    ok = bool(SCRIPT[lang].search(text))
    return ok and not (lang in NOT_SCRIPT and NOT_SCRIPT[lang].search(text))


async def attempt(h: Harness, who: Person, role: str, what: str, send) -> list[str]:
    before = await snapshot(h)
    h.session.clear()
    chat = await send()
    await h.deliver()
    problems = []
    told = refusal(h, who, chat)
    if not told.strip():
        problems.append(f"{role} {what}: no answer")
    elif not in_language(told, who):
        problems.append(f"{role} {what}: answered not in {who.language_code}: {told[:120]!r}")
    diff = changed(before, await snapshot(h))
    if diff:
        problems.append(f"{role} {what}: changed {diff}")
    return problems


async def press_all(h: Harness, rows: list[tuple[str, str, set[str]]], roles: dict[str, Person],
                    ) -> tuple[list[str], int]:
    """Every press of `rows` by every role not allowed it, with real ids and forged ones; then
    /cancel, leaving any conversation a refusal might have begun. Returns (problems, tried)."""
    problems: list[str] = []
    tried = 0
    for data, what, allowed in rows:
        for role, who in roles.items():
            for d, kind in ((data, "real"), (forged(data), "forged")):
                if (kind == "real" and role in allowed) or (kind == "forged" and d == data):
                    continue  # allowed; or no ids to forge, and the real one was tried
                tried += 1

                async def send(who=who, d=d):
                    await h.press(who, d)
                    await h.send(who, "/cancel")
                    return None
                problems += await attempt(h, who, role, f"pressed {d} ({what}, {kind} ids)", send)
    return problems, tried


async def test_every_forbidden_action_by_every_role_is_refused_and_changes_nothing(harness: Harness):
    h = harness
    w = await world(h)
    problems, tried = await press_all(h, presses(w), ROLES)
    for text, where, allowed in COMMANDS:
        for role, who in ROLES.items():
            if role in allowed:
                continue
            tried += 1

            async def send(who=who, text=text, where=where):
                await h.send(who, text, chat_id=where)
                if where is None:
                    await h.send(who, "/cancel")  # leave any conversation a refusal might have begun
                return where
            problems += await attempt(h, who, role, f"sent {text!r}", send)
    assert tried > 400
    assert not problems, f"{len(problems)} of {tried} attempts:\n" + "\n".join(problems)


# ----------------------------------------------------------------- the three lists, wishes, partners
PARTNER = Person(710, "지우", "ko", "jiwoo")  # a member of JMS's partner unit
LIST_ROLES = {**ROLES, "partner": PARTNER}


async def lists_world(h: Harness) -> dict[str, Any]:
    """`world`, plus in JMS: a partner unit with a member, its resource and a redeemable item; R1
    routed to that resource (waiting for the partner); a service with a slot and the resident's
    order of it (waiting for dispatch); a wish filed for an elderly resident (waiting for
    screening) and an approved one (on the board); the resident's pending redemption code."""
    from tests.test_partners import give_points, invite_member
    from tests.test_services_menu import define_service
    from tests.test_wishes import submit_on_behalf
    from storage.models import Partner, PartnerItem, Redemption, Resource, ResourceRoute, ServiceOrder, Wish
    w = await world(h)
    await h.send(STAFF, "/partner add social 义乌市法律援助中心")
    async with h.app.db.read() as s:
        partner = (await s.execute(select(Partner))).scalars().one()
    await h.send(PARTNER, f"/start {await invite_member(h, partner, PARTNER)}")
    await h.send(PARTNER, "/resource add service 免费法律咨询 | 每周三 14:00-17:00")
    await h.send(PARTNER, "/item add 15 洗衣券 | 2")
    async with h.app.db.read() as s:
        resource = (await s.execute(select(Resource))).scalars().one()
        item = (await s.execute(select(PartnerItem))).scalars().one()
    await h.press(LEADER, f"rt:{w['r1']}:{resource.id}")
    svc, slot = await define_service(h)
    await h.press(RESIDENT, f"sl:{slot.id}")
    await h.send(RESIDENT, "Mornings are best")
    second = await submit_on_behalf(h)
    await h.press(STAFF, f"wi:{second.id}:0")
    first = await wish_again(h)
    await give_points(h, RESIDENT, 20)
    await h.press(RESIDENT, f"rd:{item.id}")
    await h.deliver()
    async with h.app.db.read() as s:
        route = (await s.execute(select(ResourceRoute))).scalars().one()
        order = (await s.execute(select(ServiceOrder))).scalars().one()
        wishes = {x.id: x.status for x in (await s.execute(select(Wish))).scalars()}
        redemption = (await s.execute(select(Redemption))).scalars().one()
    assert route.status == "pending" and redemption.status == "pending", (route, redemption)
    assert wishes[second.id] != wishes[first.id], wishes
    return {**w, "partner": partner.id, "resource": resource.id, "item": item.id, "route": route.id,
            "service": svc.id, "slot": slot.id, "order": order.request_id, "wish": first.id,
            "board_wish": second.id, "redemption": redemption.id}


async def wish_again(h: Harness):
    """A second wish filed by the leader (submit_on_behalf expects the first number)."""
    from tests.test_wishes import CONTACT, REASON, TITLE, data_of
    from storage.models import Wish
    await h.send(LEADER, "/wishfor 王爷爷")
    await h.press(LEADER, data_of(h.session.last(LEADER.id), "wc:")[0])
    for text in (TITLE, REASON, "60"):
        await h.send(LEADER, text)
    await h.send(LEADER, photo=True)
    await h.send(LEADER, CONTACT)
    await h.press(LEADER, data_of(h.session.last(LEADER.id), "cf")[0])
    async with h.app.db.read() as s:
        return (await s.execute(select(Wish).where(Wish.number == 2))).scalars().one()


def lists_presses(w: dict[str, Any]) -> list[tuple[str, str, set[str]]]:
    """(callback data, what it is, the roles allowed) for the lists' actions, with real ids."""
    ours = set(LIST_ROLES) - {"other_staff", "other_leader", "other_volunteer"}
    triage = {"leader", "staff"}
    rows: list[tuple[str, str, set[str]]] = [
        (f"mt:{w['r1']}", "me too", ours - {"resident"}),
        (f"ro:{w['r3']}:0", "the resources to route a request to", triage),
        (f"rt:{w['r3']}:{w['resource']}", "route a request to a partner", triage),
        (f"rk:{w['route']}", "take a request back from a partner", triage),
        (f"pa:{w['route']}:1", "a partner accepts", {"partner"}),
        (f"pa:{w['route']}:0", "a partner declines", {"partner"}),
        (f"rs:{w['partner']}:0", "browse the resources list", ours),
        (f"it:{w['partner']}:0", "items to redeem points for", ours),
        (f"rd:{w['item']}", "redeem points (no balance left)", set()),
        (f"rb:{w['redemption']}", "give a code back", {"resident"}),
        ("sc:0:0", "a category of the services menu", ours),
        (f"sv:{w['service']}", "a service's slots", ours),
        (f"sl:{w['slot']}", "order a slot", ours),
        (f"od:{w['order']}:0", "dispatch an order", {"staff"}),
        (f"od:{w['order']}:1", "decline an order", {"staff"}),
        (f"od:{w['order']}:2", "accept an order not dispatched", set()),
        ("np:0", "a page of the needs list", {"staff", "council", "partner", "leader"}),
        ("wc:0", "a wish category outside the wish conversation", set()),
        ("wp:0", "a page of the wish board", ours),
    ]
    rows += [(f"wi:{w['wish']}:{op}", f"wish op {op} on a wish waiting for screening",
              {"staff"} if op in (0, 1, 2) else ({"staff", "leader"} if op == 7 else set()))
             for op in range(8)]
    rows += [(f"wi:{w['board_wish']}:{op}", f"wish op {op} on a wish on the board",
              {"volunteer", "partner"} if op == 3 else ({"staff", "leader"} if op == 7 else set()))
             for op in range(8)]
    covered = {d.split(":")[0] for d, _, _ in rows}
    assert covered == LISTS, LISTS ^ covered
    return rows


async def test_every_forbidden_lists_action_by_every_role_is_refused_and_changes_nothing(harness: Harness):
    h = harness
    problems, tried = await press_all(h, lists_presses(await lists_world(h)), LIST_ROLES)
    assert tried > 300
    assert not problems, f"{len(problems)} of {tried} attempts:\n" + "\n".join(problems)
