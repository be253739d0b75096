"""Categories staff add, named in every language (#16): in the bot (/category, /name category) and
the CLI; readers see their language, else the community's; never the code; only that community's
staff may add, name or remove one; kept across a restart."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from bot.render import plain
from bot.services.community import category_of, settings_of
from storage.models import Community, Request
from tests.conftest import GRID_GROUP, LEADER, RESIDENT, STAFF, Harness, community, invite
from tests.test_requests_flow import CONTACT, button
from tests.test_web import site  # noqa: F401  (the public page, served)
from tests.tg import Person

SAMIRA = Person(610, "سميرة", "ar", "samira")  # a resident who reads Arabic
JIWOO = Person(611, "지우", "ko", "jiwoo")  # a resident whose language has no name for it yet
OTHER_STAFF = Person(700, "Иван", "ru", "ivan")  # staff of another community


def texts(sent) -> list[str]:
    return [b["text"] for b in sent.buttons()]


async def settings(h: Harness, code: str = "JMS") -> dict:
    async with h.app.db.read() as s:
        c = (await s.execute(select(Community).where(Community.code == code))).scalars().one()
        return settings_of(c)


async def join(h: Harness, who: Person) -> None:
    await h.send(who, f"/start {await invite(h, 'resident')}")
    _, grids = await h.app.communities.list_grids("JMS")
    await h.press(who, f"gr:{grids[0].id}")


async def file_under(h: Harness, who: Person, name: str, text: str) -> Request:
    await h.send(who, "/new")
    await h.press(who, button(h.session.last(who.id), name))
    assert name in h.session.last(who.id).text  # "what is it about" names the category too
    await h.send(who, text)
    await h.press(who, "sk")  # photos
    await h.press(who, "sk")  # location
    await h.press(who, button(h.session.last(who.id), "一网格"))
    await h.send(who, CONTACT)
    summary = h.session.last(who.id)
    assert name in summary.text, summary.text
    await h.press(who, "cf")
    async with h.app.db.read() as s:
        return (await s.execute(select(Request).order_by(Request.id.desc()))).scalars().first()


async def test_staff_add_a_category_and_every_reader_sees_its_name(harness: Harness):
    h = harness
    await community(h)
    await join(h, SAMIRA)
    await join(h, JIWOO)

    await h.send(STAFF, "/category add 停车")
    added = h.session.last(STAFF.id).text
    assert "停车" in added and "parking" not in added.lower(), added  # a Chinese name: code c1
    assert (await settings(h))["categories"][-1] == "c1"
    await h.send(STAFF, "/name category c1 en Parking")
    assert "Parking" in h.session.last(STAFF.id).text
    await h.send(STAFF, "/name category C1 ar موقف السيارات")  # codes are not case-sensitive
    await h.send(STAFF, "/category add 停车")  # offered already
    assert "c1" in h.session.last(STAFF.id).text and "已经" in h.session.last(STAFF.id).text

    # Staff see it with the languages it still has no name in; /name lists it too.
    h.session.clear()
    await h.send(STAFF, "/category")
    listed = h.session.last(STAFF.id).text
    assert "c1" in listed and "停车" in listed and "韩语" in listed and "英语" not in listed, listed
    assert "修缮" in listed or "维修" in listed  # the built-in ones, named by the catalogs
    await h.send(STAFF, "/name")
    missing = h.session.last(STAFF.id).text
    assert "停车" in missing and "/name category" in missing, missing

    # Residents pick it by its name in their language, else the community's; never its code.
    for who, name in ((RESIDENT, "Parking"), (SAMIRA, "موقف السيارات"), (JIWOO, "停车")):
        await h.send(who, "/new")
        labels = texts(h.session.last(who.id))
        assert name in labels and "c1" not in labels and "cat_c1" not in labels, (who.language_code, labels)
        await h.send(who, "/cancel")
    req = await file_under(h, RESIDENT, "Parking", "A car blocks the fire lane every night")
    assert req.category == "c1"
    await file_under(h, SAMIRA, "موقف السيارات", "سيارة تسد ممر الإطفاء كل ليلة")

    # The leader's triage card (Chinese group) names it in the community's language.
    await h.deliver()
    cards = [t for t in h.texts(GRID_GROUP) if "JMS-0001" in t]
    assert cards and "停车" in cards[0] and "c1" not in cards[0], cards
    # Triage offers it among the categories, by name.
    card = h.session.last_with_button(GRID_GROUP, f"tr:{req.id}:")
    await h.press(LEADER, f"tr:{req.id}:6", chat_id=GRID_GROUP, message_id=card.message_id)  # 🏷 Category
    picks = [texts(s) for s in h.session.to(LEADER.id) if any("停车" in t for t in texts(s))]
    assert picks and "停车" in picks[-1], picks

    # Removed: not offered for new requests; the request filed under it keeps it, and its name.
    await h.send(STAFF, "/category remove c1")
    assert "停车" in h.session.last(STAFF.id).text
    await h.send(RESIDENT, "/new")
    assert "Parking" not in texts(h.session.last(RESIDENT.id))
    await h.send(RESIDENT, "/cancel")
    h.session.clear()
    await h.press(RESIDENT, f"rq:{req.id}")
    assert "Parking" in h.session.last(RESIDENT.id).text
    async with h.app.db.read() as s:
        assert (await s.get(Request, req.id)).category == "c1"
    await h.send(STAFF, "/category add 停车")  # added again: the same code, with its names
    assert (await settings(h))["categories"][-1] == "c1"
    await h.send(RESIDENT, "/new")
    assert "Parking" in texts(h.session.last(RESIDENT.id))


async def test_only_that_communitys_staff_may_add_name_or_remove(harness: Harness):
    h = harness
    await community(h)
    await h.send(STAFF, "/category add 停车")
    _, token = await h.app.communities.create("莲花塘社区", admin_id=OTHER_STAFF.id, code="LHT")
    await h.send(OTHER_STAFF, f"/start {token}")
    before = await settings(h)
    for who, text, said in ((RESIDENT, "/category add Bikes", "staff"), (RESIDENT, "/category", "staff"),
                            (LEADER, "/category remove c1", "工作人员"), (RESIDENT, "/name category c1 en Cars", "staff"),
                            (OTHER_STAFF, "/category remove c1", "c1"),
                            (OTHER_STAFF, "/name category c1 en Cars", "c1")):
        h.session.clear()
        await h.send(who, text)
        answer = h.session.last(who.id).text
        assert said in answer, (text, answer)
        if who is OTHER_STAFF:
            assert any("\u0400" <= ch <= "\u04ff" for ch in answer), answer  # in their own language
    assert await settings(h) == before
    await h.send(OTHER_STAFF, "/category add Велосипеды")  # their own community's, not JMS's
    assert (await settings(h, "LHT"))["categories"][-1] == "c1" and await settings(h) == before
    # Bad input gets a clear answer.
    for text in ("/category add", "/category rename c1", "/name category c1", "/category remove nope"):
        h.session.clear()
        await h.send(STAFF, text)
        assert "/category" in h.session.last(STAFF.id).text, text


async def test_a_category_survives_a_restart(tmp_path: Path):
    h = await Harness(tmp_path / "gongzhi.db").start()
    try:
        await community(h)
        await h.send(STAFF, "/category add 停车")
        await h.send(STAFF, "/name category c1 en Parking")
    finally:
        await h.close()
    h = await Harness(tmp_path / "gongzhi.db", h.u).start()  # a new app on the same database
    try:
        await h.send(RESIDENT, "/new")
        assert "Parking" in texts(h.session.last(RESIDENT.id))
    finally:
        await h.close()


def test_cli_adds_lists_and_removes_categories(tmp_path, monkeypatch, capsys):
    from bot.cli import main

    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    assert main(["community", "create", "鸡鸣山社区", "--admin", "100", "--code", "JMS"]) == 0
    assert main(["category", "add", "JMS", "停车", "--name", "en=Parking", "--name", "ar=موقف السيارات"]) == 0
    assert "category c1 added: 停车, ar=موقف السيارات, en=Parking" in capsys.readouterr().out
    assert main(["category", "add", "JMS", "Bikes", "--name", "xx=Vélos"]) == 2  # no such language
    assert main(["category", "add", "JMS", "停车"]) == 1  # offered already
    assert "c1" in capsys.readouterr().err
    assert main(["category", "list", "JMS"]) == 0
    out = capsys.readouterr().out
    assert "  c1\t停车\tar=موقف السيارات, en=Parking\tmissing: es, fa, fr, ko, ru" in out, out
    assert "  repair\t(built in)" in out
    assert main(["category", "remove", "JMS", "c1"]) == 0
    capsys.readouterr()
    assert main(["category", "list", "JMS"]) == 0 and "c1" not in capsys.readouterr().out
    assert main(["category", "remove", "JMS", "c1"]) == 1


async def test_machine_names_for_categories_are_marked_and_staff_names_win(harness: Harness):
    from bot.render import Renderer  # noqa: F401  (the one place a category is named)
    from bot.services.names import machine_names
    from tests.test_foreign import FakeTranslator
    h = harness
    await community(h)
    await h.send(STAFF, "/category add 停车")
    await h.send(STAFF, "/name category c1 en Parking")
    translator = FakeTranslator()
    await machine_names(h.app.db, translator, h.app.renderer.locales)
    assert ("停车", "zh", "ko") in translator.calls and ("停车", "zh", "en") not in translator.calls
    async with h.app.db.read() as s:
        c = (await s.execute(select(Community).where(Community.code == "JMS"))).scalars().one()
    r = h.app.renderer
    assert r.category_label(category_of(c, "c1"), "ko") == "🌐 [ko] 停车"
    assert r.category_label(category_of(c, "c1"), "en") == "Parking"
    assert r.category_label(category_of(c, "c1"), "zh_Hans") == "停车"
    assert r.category_label(category_of(c, "repair"), "en") == "Repair and maintenance"  # the catalogs'
    h.session.clear()
    await h.send(STAFF, "/name")
    assert "停车 → 🌐 [ko] 停车" in h.session.last(STAFF.id).text
    await h.send(STAFF, "/name category c1 ko 주차")
    async with h.app.db.read() as s:
        c = (await s.execute(select(Community).where(Community.code == "JMS"))).scalars().one()
    assert r.category_label(category_of(c, "c1"), "ko") == "주차"


async def test_the_public_page_names_a_category_staff_added_even_after_its_removal(site):
    """The public page (bot/services/disclosure.py) and its chart: by name, never the code; a
    category since removed is still counted under its own name, not as "not yet categorised"."""
    h = site.h
    await h.app.communities.add_category("JMS", "停车", {"en": "Parking"})
    async with h.app.db.write() as s:
        req = (await s.execute(select(Request).where(Request.community_id == site.c1.id)
                               .order_by(Request.id))).scalars().first()
        req.category = "c1"
        s.add(req)
    await h.app.communities.remove_category("JMS", "c1")
    status, page, _ = await site.get("/c/JMS?lang=en")
    assert status == 200 and "<td>Parking</td>" in page and ">c1<" not in page, page
    status, page, _ = await site.get("/c/JMS?lang=ko")
    assert "<td>停车</td>" in page


# ------------------------------------------------------------------ conventions per language (#16)
async def test_a_convention_reads_in_the_readers_language_named_else_by_machine_else_labelled(harness: Harness):
    from bot.services.names import machine_names
    from storage.models import Convention, Proposal
    from tests.test_foreign import FakeTranslator
    h = harness
    await community(h)
    await join(h, JIWOO)
    async with h.app.db.write() as s:
        c = (await s.execute(select(Community).where(Community.code == "JMS"))).scalars().one()
        p = Proposal(community_id=c.id, number=1, proposer_id=STAFF.id, title="安静时段", text="晚上十点以后不要大声喧哗",
                     status="closed", outcome="passed", kind="convention")
        s.add(p)
        await s.flush()
        s.add(Convention(community_id=c.id, proposal_id=p.id, title="安静时段", text="晚上十点以后不要大声喧哗"))

    await h.send(RESIDENT, "/conventions")
    shown = plain(h.session.last(RESIDENT.id).text)
    assert "安静时段 (written in Chinese)" in shown, shown  # the original, its language labelled
    await h.send(STAFF, "/name convention 1 en Quiet hours")
    assert "Quiet hours" in h.session.last(STAFF.id).text
    await h.send(RESIDENT, "/conventions")
    shown = plain(h.session.last(RESIDENT.id).text)
    assert "1. Quiet hours" in shown and "安静时段 (written" not in shown, shown

    translator = FakeTranslator()
    await machine_names(h.app.db, translator, h.app.renderer.locales)
    assert ("安静时段", "zh", "en") not in translator.calls  # staff named it in English
    await h.send(JIWOO, "/conventions")
    shown = plain(h.session.last(JIWOO.id).text)
    assert "1. 🌐 [ko] 安静时段" in shown and "[ko] 晚上十点以后不要大声喧哗" in shown, shown
    assert "晚上十点以后不要大声喧哗" in shown.replace("[ko] 晚上十点以后不要大声喧哗", "")  # the original, a tap away

    for who, text, said in ((RESIDENT, "/name convention 1 en Mine", "staff"),
                            (STAFF, "/name convention 9 en Nine", "9"), (STAFF, "/name convention x", "/conventions")):
        h.session.clear()
        await h.send(who, text)
        assert said in h.session.last(who.id).text, text
    async with h.app.db.read() as s:
        v = (await s.execute(select(Convention))).scalars().one()
    assert v.names["en"] == "Quiet hours" and v.names["ko@mt"] == "[ko] 安静时段"


def test_every_screen_that_shows_a_category_names_it(harness: Harness):
    """The monthly report, its chart's legend, the needs list, a task post and the triage card:
    a category staff added by its name in the reader's language (else the community's), never its
    code; a micro-wish category of the needs list by the catalogs' name."""
    from bot.services.needs import Row
    from tests.template_context import COMMON, _report_context
    r = harness.app.renderer
    c = Community(id=1, name="鸡鸣山社区", code="JMS", locale="zh_Hans", timezone="Asia/Shanghai",
                  settings={"categories": ["repair", "c1"],
                            "category_names": {"c1": {"name": "停车", "names": {"en": "Parking"}}}})
    req = Request(id=7, community_id=1, number=7, requester_id=1, description="x", category="c1", status="new")
    rows = [Row("c1", 3, 2, 0, []), Row("wish:daily", 1, 1, 0, [], wishes=1)]
    for template, ctx in (("report_month", {**_report_context(), "categories": [("c1", 3), ("repair", 1)],
                                            "needs": rows}),
                          ("report_chart", {**_report_context(), "categories": [("c1", 3)], "codes": ["A"]}),
                          ("needs_list", {"rows": rows, "total": 2, "since": "2026-10", "until": "2026-12"}),
                          ("task_post", {}), ("triage_card", {})):
        ctx = {**COMMON, **ctx, "community": c, "r": req}
        en, ko = r.render(template, "en", **ctx), r.render(template, "ko", **ctx)
        assert "Parking" in en and "停车" in ko, (template, en, ko)
        assert "c1" not in plain(en) and "cat_" not in en, (template, en)
    assert "Daily necessities" in r.render("needs_list", "en", **{**COMMON, "rows": rows, "total": 2,
                                                                    "since": "2026-10", "until": "2026-12"})


async def test_a_category_removed_while_a_resident_picks_does_not_shift_their_press(harness: Harness):
    h = harness
    await community(h)
    await h.send(STAFF, "/category add 停车")
    await h.send(STAFF, "/name category c1 en Parking")
    await h.send(RESIDENT, "/new")
    other = button(h.session.last(RESIDENT.id), "Other")
    await h.send(STAFF, "/category remove repair")  # the buttons before "Other" are one fewer now
    await h.press(RESIDENT, other)
    asked = h.session.last(RESIDENT.id).text
    assert "Other" in asked and "Parking" not in asked, asked


async def test_a_category_removed_while_a_leader_recategorises_does_not_shift_their_press(harness: Harness):
    """Triage's category buttons carry a number that never changes for a code (built-in ones first,
    then those staff added): a removal between showing and pressing them cannot shift the press."""
    h = harness
    await community(h)
    await h.send(STAFF, "/category add 停车")
    req = await file_under(h, RESIDENT, "Other", "A car blocks the fire lane every night")
    await h.deliver()
    card = h.session.last_with_button(GRID_GROUP, f"tr:{req.id}:")
    await h.press(LEADER, f"tr:{req.id}:6", chat_id=GRID_GROUP, message_id=card.message_id)  # 🏷 Category
    parking = button(h.session.last(LEADER.id), "停车")
    await h.send(STAFF, "/category remove repair")  # the buttons before 停车 are one fewer now
    await h.press(LEADER, parking)
    async with h.app.db.read() as s:
        assert (await s.get(Request, req.id)).category == "c1"
    await h.send(STAFF, "/category remove c1")  # and a press for a category no longer offered is refused
    await h.press(LEADER, parking)
    assert "按钮" in (h.session.answers()[-1].text or "")  # "please pick a category from the buttons"
    async with h.app.db.read() as s:
        assert (await s.get(Request, req.id)).category == "c1"  # unchanged


async def test_the_public_page_reads_a_convention_in_the_readers_language(site):
    """The public page as /conventions: staff's title for the reader's language, else the machine's
    marked 🌐 (its text likewise, the original kept beside it); and what a name or a machine
    translation holds is scrubbed like the original."""
    from storage.models import Convention
    h = site.h
    await h.app.communities.name_convention("JMS", 1, "zh_Hans", "安静时段（投诉找1203室）")
    async with h.app.db.write() as s:
        v = (await s.execute(select(Convention).where(Convention.community_id == site.c1.id))).scalars().one()
        v.text_names = {"ko@mt": "밤 10시 이후 소음 금지, 민원은 1203호로"}
        s.add(v)
    status, page, _ = await site.get("/c/JMS?lang=zh_Hans")
    assert status == 200 and "安静时段（投诉找[…]）" in page and "Quiet hours" not in page, page
    assert "No noise after 22:00; complaints to […] <i>（原文为英语）</i>" in page  # as written, labelled
    status, page, _ = await site.get("/c/JMS?lang=ko")
    assert "밤 10시 이후 소음 금지, 민원은 […]" in page and "🌐" in page, page
    assert "No noise after 22:00" in page  # the original, beside the machine's
    status, page, _ = await site.get("/c/JMS?lang=en")
    assert "Quiet hours" in page and "밤 10시" not in page
    assert "1203" not in page
