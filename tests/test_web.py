"""The web pages over HTTP (bot/web): the public page's figures, language, cache and privacy; the
staff Mini App's authentication (Telegram init data, freshness) and authorisation (staff of that
community only); the export links. The same pages in a real browser: tests/test_browser.py."""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import select

import bot.web
from bot.sandbox.webapp import sign_init_data
from storage.models import Community, Convention, Membership, Proposal, User
from tests.conftest import RESIDENT, STAFF, Harness
from tests.test_rates import at, seed

WEB_NOW = at(4, 10)  # the public page shows the last complete month: March 2025, the fixture's
OTHER_STAFF = 900
SECRETS = ("13800138000", "1203", "Room 1203")


@dataclass
class Site:
    h: Harness
    base: str
    c1: Community
    c2: Community
    http: aiohttp.ClientSession

    async def get(self, path: str, **headers: str) -> tuple[int, str, Any]:
        async with self.http.get(self.base + path, headers=headers) as r:
            return r.status, await r.text(), r.headers.copy()

    def init_data(self, user_id: int, *, token: str | None = None, age: timedelta = timedelta(minutes=1),
                  first_name: str = "王芳", language_code: str = "en") -> str:
        return sign_init_data(token or self.h.app.bot.token, {"id": user_id, "first_name": first_name,
                                                              "language_code": language_code}, WEB_NOW - age)

    async def staff(self, init_data: str, community: int | None = None) -> tuple[int, str]:
        form = {"init_data": init_data, "community": str(community or "")}
        async with self.http.post(self.base + "/staff/api?lang=en", data=form) as r:
            return r.status, await r.text()


async def seed_site(h: Harness) -> tuple[Community, Community]:
    c1, c2, _ = await seed(h)
    async with h.app.db.write() as s:
        p = Proposal(community_id=c1.id, number=3, proposer_id=STAFF.id, title="Bike shed, call 13800138000",
                     text="x", status="closed", outcome="passed", closed_at=at(3, 20), kind="convention")
        s.add(p)
        await s.flush()
        s.add(Convention(community_id=c1.id, proposal_id=p.id, title="Quiet hours",
                         text="No noise after 22:00; complaints to room 1203", adopted_at=at(3, 20)))
        s.add(User(id=OTHER_STAFF, first_name="Olga", language_code="ru"))
        s.add(Membership(user_id=OTHER_STAFF, community_id=c2.id, role="staff"))
    return c1, c2


@pytest.fixture
async def site(harness: Harness) -> AsyncIterator[Site]:
    c1, c2 = await seed_site(harness)
    runner, base = await bot.web.start(harness.app, "127.0.0.1", 0, clock=lambda: WEB_NOW)
    async with aiohttp.ClientSession() as http:
        yield Site(harness, base, c1, c2, http)
    await runner.cleanup()


async def test_public_page_shows_the_months_rates_without_personal_data(site: Site):
    status, page, headers = await site.get("/c/JMS?lang=en")
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert '<html lang="en" dir="ltr">' in page
    assert "The three rates, <bdi>2025-03</bdi>" in page
    assert '<div class="big">60%</div><div>Response rate</div><div class="small">3 of 5 answered in time' in page
    assert '<div class="big">40%</div><div>Resolution rate</div>' in page
    assert '<div class="big">33%</div><div>Satisfaction rate</div>' in page
    assert '<div class="card" id="rate-unrated"><div class="big">1</div>' in page
    assert "<svg" in page and "<script" not in page  # the chart is inline SVG; one request per page
    assert "<tr><td><bdi>2025-03</bdi></td><td class=\"n\">60%</td><td class=\"n\">40%</td><td class=\"n\">33%</td>" in page
    assert "Not yet categorised" in page
    assert "Bike shed, call […]" in page and "passed" in page  # decisions: scrubbed title, outcome
    assert "Quiet hours" in page and "complaints to […]" in page
    assert "Street: 稠城街道" in page
    for secret in SECRETS:
        assert secret not in page, secret
    assert "Lift" not in page  # no request's description at all


async def test_public_page_language_cache_and_unknown_code(site: Site):
    _, page, _ = await site.get("/c/JMS", **{"Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"})
    assert '<html lang="fr" dir="ltr">' in page
    _, page, _ = await site.get("/c/jms?lang=ar")
    assert '<html lang="ar" dir="rtl">' in page
    _, page, _ = await site.get("/c/JMS")  # no preference: the community's language
    assert '<html lang="zh-Hans" dir="ltr">' in page
    for code in ("zh_Hans", "en", "ar", "ru", "ko", "es", "fr", "fa"):  # the switcher offers all eight
        assert f'href="?lang={code}"' in page
    status, first, headers = await site.get("/c/JMS?lang=en")
    assert headers["Cache-Control"] == "public, max-age=60" and headers["ETag"]
    status, _, again = await site.get("/c/JMS?lang=en", **{"If-None-Match": headers["ETag"]})
    assert status == 304 and again["ETag"] == headers["ETag"]
    status, page, _ = await site.get("/c/NOPE?lang=en")
    assert status == 404 and "No community has the code NOPE." in page


async def test_staff_dashboard_needs_fresh_genuine_init_data_of_that_communitys_staff(site: Site):
    status, board = await site.staff(site.init_data(STAFF.id))
    assert status == 200, board
    assert "<h1><bdi>鸡鸣山社区</bdi></h1>" in board
    assert 'id="q-overdue"' in board and "JMS-0003" in board  # request 3: open and long overdue
    assert "Lift […]" in board
    for secret in SECRETS:
        assert secret not in board, secret
    assert "/staff/export/" in board

    status, text = await site.staff(site.init_data(STAFF.id, token="123:forged"))
    assert status == 401 and 'data-code="forged"' in text
    tampered = site.init_data(STAFF.id).replace("%E7%8E%8B", "%E6%9D%8E")  # another name, same hash
    status, text = await site.staff(tampered)
    assert status == 401 and 'data-code="forged"' in text
    status, text = await site.staff(site.init_data(STAFF.id, age=timedelta(hours=2)))
    assert status == 401 and 'data-code="stale"' in text and "expired" in text
    status, text = await site.staff(site.init_data(STAFF.id, age=-timedelta(hours=1)))  # from the future
    assert status == 401 and 'data-code="stale"' in text
    status, text = await site.staff("")
    assert status == 401 and 'data-code="forged"' in text

    status, text = await site.staff(site.init_data(RESIDENT.id, first_name="Anna"))
    assert status == 403 and 'data-code="not_staff"' in text
    status, text = await site.staff(site.init_data(OTHER_STAFF, language_code="ru"), site.c1.id)
    assert status == 403 and 'data-code="not_staff"' in text  # staff, but of the other community
    status, own = await site.staff(site.init_data(OTHER_STAFF, language_code="ru"))
    assert status == 200 and "<bdi>Other</bdi>" in own and "JMS-" not in own


async def test_exports_download_by_signed_link_only(site: Site):
    import re

    _, board = await site.staff(site.init_data(STAFF.id))
    link = re.search(r'href="(/staff/export/\d+/rates\.csv\?[^"]+)"', board).group(1).replace("&amp;", "&")
    status, body, headers = await site.get(link)
    assert status == 200 and headers["Content-Disposition"] == 'attachment; filename="rates.csv"'
    assert body.lstrip("\ufeff").startswith("month,scope,name,responded")
    status, _, _ = await site.get(link.replace("rates.csv", "requests.csv"))
    assert status == 403  # the signature names the file
    status, _, _ = await site.get(link[:-4] + "0000")
    assert status == 403


async def test_dashboard_button_for_staff_in_private_chat(harness: Harness):
    from tests.conftest import community

    h = harness
    await community(h)
    h.app.settings.web_base_url = "https://gongzhi.example.org"
    await h.send(STAFF, "/dashboard")
    reply = h.session.last(STAFF.id)
    [[button]] = reply.method.reply_markup.inline_keyboard
    assert button.web_app is not None and button.web_app.url == "https://gongzhi.example.org/staff?lang=zh_Hans"
    await h.send(RESIDENT, "/dashboard")
    assert "Only community staff" in h.session.last(RESIDENT.id).text
    h.app.settings.web_base_url = None  # no https address: said, no button Telegram would refuse
    await h.send(STAFF, "/dashboard")
    assert h.session.last(STAFF.id).method.reply_markup is None
    assert "WEB_BASE_URL" in h.session.last(STAFF.id).text


def test_web_settings_are_validated():
    from pydantic import ValidationError

    from bot.config import Settings, problems

    ok = Settings(_env_file=None, web_port="8081", web_base_url="https://gongzhi.example.org/")
    assert ok.web_port == 8081 and ok.web_address() == "https://gongzhi.example.org"
    assert Settings(_env_file=None).web_port is None and Settings(_env_file=None).web_address() is None
    assert Settings(_env_file=None, web_port=8081).web_address() == "http://127.0.0.1:8081"
    for bad, said in [({"web_port": "eighty"}, "WEB_PORT 'eighty' is not a port number"),
                      ({"web_port": 70000}, "WEB_PORT 70000 is not a port number"),
                      ({"web_base_url": "gongzhi.example.org"}, "WEB_BASE_URL 'gongzhi.example.org' is not"),
                      ({"webapp_max_age": 5}, "WEBAPP_MAX_AGE 5 must be between")]:
        with pytest.raises(ValidationError) as e:
            Settings(_env_file=None, **bad)
        assert said in problems(e.value), problems(e.value)


CHEN = 901  # a council member made responsible for a decision; the public page never names him


async def seed_decisions(site: Site) -> None:
    """Three passed decisions of JMS being carried out (one overdue at WEB_NOW but not in March,
    one done, one without anybody responsible yet) and one of the other community overdue in March."""
    from storage.models import Execution

    async with site.h.app.db.write() as s:
        s.add(User(id=CHEN, first_name="Chen Jun", language_code="en"))
        s.add(Membership(user_id=CHEN, community_id=site.c1.id, role="council_member"))
        s.add(Membership(user_id=CHEN, community_id=site.c1.id, role="resident"))
        specs = [(site.c1, 5, "New swings, ask 13800138000", dict(owner_id=CHEN, due_at=at(4, 5), progress=60)),
                 (site.c1, 6, "Fix the lamp", dict(owner_id=CHEN, due_at=at(3, 20), progress=100,
                                                   done_at=at(3, 18))),
                 (site.c1, 7, "Paint the fence", dict()),
                 (site.c2, 1, "Bench", dict(owner_id=OTHER_STAFF, due_at=at(3, 10), progress=20))]
        for c, number, title, execution in specs:
            p = Proposal(community_id=c.id, number=number, proposer_id=STAFF.id, title=title, text="x",
                         status="closed", outcome="passed", closed_at=at(3, 1 + number))
            s.add(p)
            await s.flush()
            s.add(Execution(community_id=c.id, proposal_id=p.id, **execution))


async def test_public_page_shows_decisions_carried_out_by_role_never_by_name(site: Site):
    await seed_decisions(site)
    _, page, _ = await site.get("/c/JMS?lang=en")
    decisions = page[page.index('id="decisions"'):page.index('id="conventions"')]
    swings = decisions[decisions.index("New swings"):decisions.index("</li>", decisions.index("New swings"))]
    assert 'class="exec overdue"' in swings and '<progress max="100" value="60">' in swings
    assert "Carried out: 60%" in swings and "due by" in swings and "⏰ overdue" in swings
    assert "responsible: council member" in swings  # his highest role, not his name
    lamp = decisions[decisions.index("Fix the lamp"):decisions.index("</li>", decisions.index("Fix the lamp"))]
    assert "Carried out: 100%" in lamp and "completed on" in lamp and "overdue" not in lamp
    fence = decisions[decisions.index("Paint the fence"):decisions.index("</li>", decisions.index("Paint the fence"))]
    assert "Carried out: 0%" in fence and "nobody responsible yet" in fence and "due by" not in fence
    assert "Chen Jun" not in page and "Olga" not in page and "13800138000" not in page
    # The street's ranking: Other resolves more (it ranked first), but let a decision pass its
    # due date in March; JMS's overdue decision fell due in April: JMS ranks first.
    street = page[page.index('id="street"'):page.index('id="decisions"')]
    assert street.index("<bdi>鸡鸣山社区</bdi>") < street.index("<bdi>Other</bdi>")
    assert "Decisions overdue" in street
    assert '<bdi>Other</bdi></td><td class="n">100%</td><td class="n">100%</td><td class="n">100%</td>' \
           '<td class="n">0</td><td class="n">1</td>' in street
    _, ar, _ = await site.get("/c/JMS?lang=ar")
    assert '<progress max="100" value="60">' in ar and "Chen Jun" not in ar


async def test_staff_dashboard_lists_decisions_being_carried_out(site: Site):
    await seed_decisions(site)
    status, board = await site.staff(site.init_data(STAFF.id))
    assert status == 200, board
    section = board[board.index('id="decisions"'):board.index('id="exports"')]
    assert '<span class="tag">2</span>' in section  # P005 and P007; P006 is done
    assert section.index("JMS-P005") < section.index("JMS-P007") and "JMS-P006" not in section
    assert '<tr class="overdue"><td><b>JMS-P005</b>' in section and "Chen Jun" in section
    assert "council member" in section and "13800138000" not in section
    status, other = await site.staff(site.init_data(OTHER_STAFF, language_code="ru"))
    assert status == 200 and "OTH-P001" in other and "JMS-P005" not in other


async def test_public_page_is_served_from_the_cache_within_its_window(site: Site):
    from sqlalchemy import event

    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # noqa: ANN001
        statements.append(statement)

    engines = {id(e): e for e in (site.h.app.db.read_engine, site.h.app.db.write_engine)}.values()
    for e in engines:
        event.listen(e.sync_engine, "before_cursor_execute", count)
    try:
        status, first, headers = await site.get("/c/JMS?lang=en")
        assert status == 200 and statements  # rendered from the database
        assert headers["Cache-Control"] == "public, max-age=60" and headers["ETag"].startswith('"')
        assert "<style>" in first and "<svg" in first and '<link rel="stylesheet"' not in first \
               and "<script" not in first and "<img" not in first  # one request renders the page
        read = len(statements)
        status, again, headers2 = await site.get("/c/JMS?lang=en")
        assert status == 200 and again == first and headers2["ETag"] == headers["ETag"]
        status, _, _ = await site.get("/c/JMS?lang=en", **{"If-None-Match": headers["ETag"]})
        assert status == 304
        assert len(statements) == read  # within the window: no statement reached the database
        status, _, _ = await site.get("/c/JMS?lang=fr")  # another language is another page
        assert status == 200 and len(statements) > read
    finally:
        for e in engines:
            event.remove(e.sync_engine, "before_cursor_execute", count)


async def test_public_page_shows_the_services_menu_without_orders_or_people(site: Site):
    from storage.models import Grid, Partner, Service, ServiceSlot

    _, before, _ = await site.get("/c/JMS?lang=en")
    assert 'id="services"' not in before  # no menu yet: no section
    async with site.h.app.db.write() as s:
        grid = (await s.execute(select(Grid).where(Grid.community_id == site.c1.id).order_by(Grid.id))).scalars().first()
        partner = Partner(community_id=site.c1.id, name="仁爱诊所", names={"en": "Renai Clinic"}, kind="institution")
        s.add(partner)
        await s.flush()
        haircut = Service(community_id=site.c1.id, name="义剪", names={"en": "Free haircut", "ar": "قص شعر مجاني"},
                          category="other", provider_kind="volunteers", languages=["zh_Hans", "en"],
                          created_by=STAFF.id, grid_id=grid.id)
        checkup = Service(community_id=site.c1.id, name="量血压", names={"en": "Blood pressure check"},
                          category="other", provider_kind="partner", provider_id=partner.id, languages=["zh_Hans"])
        gone = Service(community_id=site.c1.id, name="Old service", category="other", active=False)
        theirs = Service(community_id=site.c2.id, name="Other's yoga", category="other")
        s.add_all([haircut, checkup, gone, theirs])
        await s.flush()
        s.add_all([ServiceSlot(service_id=haircut.id, starts_at=WEB_NOW + timedelta(days=1), capacity=5, taken=2),
                   ServiceSlot(service_id=haircut.id, starts_at=WEB_NOW + timedelta(days=2), capacity=4, taken=4),
                   ServiceSlot(service_id=haircut.id, starts_at=WEB_NOW - timedelta(days=1), capacity=9, taken=0),
                   ServiceSlot(service_id=checkup.id, starts_at=WEB_NOW + timedelta(days=3), capacity=2, taken=0)])
    _, page, _ = await site.get("/c/JMS?lang=fr")  # another language: not the cached English page
    services = page[page.index('id="services"'):page.index("<footer>")]
    assert "<bdi>义剪</bdi>" in services and "<bdi>量血压</bdi>" in services  # no French name: the community's
    _, page, _ = await site.get("/c/JMS?lang=en")
    assert 'id="services"' not in page  # the English page is still the cached one, for its minute
    _, page, _ = await site.get("/c/JMS", **{"Accept-Language": "ar"})
    services = page[page.index('id="services"'):page.index("<footer>")]
    assert "قص شعر مجاني" in services
    _, page, _ = await site.get("/c/JMS?lang=ko")
    services = page[page.index('id="services"'):page.index("<footer>")]
    rows = services.split("<tr>")
    haircut_row = next(r for r in rows if "义剪" in r)
    assert f"<bdi>{grid.name}</bdi>" in haircut_row and '<td class="n">3</td>' in haircut_row  # 3 seats free to come
    checkup_row = next(r for r in rows if "量血压" in r)
    assert "<bdi>仁爱诊所</bdi>" in checkup_row and '<td class="n">2</td>' in checkup_row
    assert "Old service" not in page and "Other's yoga" not in page
    assert "王芳" not in page  # who defined the service is not shown
