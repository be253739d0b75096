"""Foreign residents first (#16): each reader gets their own language (or a labelled original),
readable dates with the zone, right-to-left on every line in Arabic and Persian, and the words of
the glossary in every catalog."""
from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from babel.messages.pofile import read_po

from bot.config import ROOT
from bot.i18n import shipped_locales
from bot.render import plain
from tests.conftest import Harness

LOCALES = ROOT / "locales"
GLOSSARY = LOCALES / "GLOSSARY.md"
NUMERIC_DATE = re.compile(r"\b\d{1,4}[/.\-]\d{1,2}[/.\-]\d{1,4}\b")
NATIVE_DIGITS = re.compile("[\u0660-\u0669\u06f0-\u06f9]")


def _catalog(locale: str):
    with (LOCALES / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=locale)


def _strings(m) -> tuple[str, ...]:
    return m.string if isinstance(m.string, tuple) else (m.string,)


# ------------------------------------------------------------------ glossary
def _glossary() -> tuple[list[str], list[dict[str, str]], list[tuple[str, str]]]:
    rows, avoid, header = [], [], []
    for line in GLOSSARY.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| English |"):
            header = cells
        elif line.startswith("|") and header and not line.startswith("|---"):
            rows.append(dict(zip(header, cells)))
        m = re.match(r"- (\w+): (.+?) — ", line)
        if m:
            avoid.append((m.group(1), m.group(2)))
    return header, rows, avoid


# English term → where it must be rendered with the glossary's word (first alternative).
CHECKED = ("community", "grid leader", "micro-grid", "volunteer")


def _stems(term: str, locale: str) -> list[str]:
    """The glossary word, loose enough for case endings and articles (ru, es, fr: the word less
    its last two letters; ar: less the article) but not for another word. A long term's short
    form in running text (المجلس for مجلس السكان التشاوري) keeps its head word, which is checked."""
    term = re.split(r"[;/（(]", term)[0].strip()
    words = [w for w in term.split() if len(w) > 3] or [term]
    if locale in ("ru", "es", "fr"):
        return [w[: max(4, len(w) - 2)] for w in words]
    if locale in ("ar", "fa"):
        return [words[0].removeprefix("ال")]
    return [term]


def _prose(msgid: str) -> str:
    """The English words of a msgid: without placeholders, command syntax and compound terms that
    have their own glossary row (a volunteer task is a task)."""
    msgid = re.sub(r"%\(\w+\)s|/\w+( [\w|&;<> ]+)?", " ", msgid)
    return re.sub(r"volunteer tasks?|volunteer group|community staff|community group", " ", msgid, flags=re.I)


@pytest.mark.parametrize("locale", [loc for loc in shipped_locales(LOCALES) if loc != "en"])
def test_glossary_terms_are_used_consistently(locale: str):
    header, rows, _ = _glossary()
    assert locale in header, f"add a {locale} column to GLOSSARY.md"
    assert any(r["English"] == "community" for r in rows)
    problems = []
    for row in rows:
        if row["English"] not in CHECKED:
            continue
        english = re.compile(rf"\b{re.escape(row['English'])}s?\b(?!-)", re.I)
        stems = _stems(row[locale], locale)
        for m in _catalog(locale):
            msgid = m.id[0] if isinstance(m.id, tuple) else m.id
            if not msgid or not english.search(_prose(msgid)):
                continue
            for s in _strings(m):
                low = s.lower()
                if not all(st.lower() in low for st in stems):
                    problems.append(f"{row['English']!r} not as {stems}: {msgid[:60]!r} -> {s[:80]!r}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("locale", shipped_locales(LOCALES))
def test_words_we_do_not_use_are_gone(locale: str):
    _, _, avoid = _glossary()
    words = [w for loc, w in avoid if loc == locale]
    found = [(w, s) for m in _catalog(locale) for s in _strings(m) for w in words if s and w in s]
    assert not found, found


@pytest.mark.parametrize("locale", shipped_locales(LOCALES))
def test_one_digit_set_per_catalog(locale: str):
    assert not [s for m in _catalog(locale) for s in _strings(m) if s and NATIVE_DIGITS.search(s)]


# ------------------------------------------------------------------ rendering
WHEN = datetime(2026, 12, 4, 8, 21, tzinfo=timezone.utc)  # 16:21 in Yiwu


def test_dates_are_words_in_the_community_zone_and_say_which(harness: Harness):
    r = harness.app.renderer
    for locale in r.locales:
        with r.catalogs.use_locale(locale):
            text = r._format_dt(WHEN, "Asia/Shanghai")
        assert not NUMERIC_DATE.search(text), (locale, text)
        assert "2026" in text and ("16:21" in text or "4:21" in text), (locale, text)
        # A Chinese reader of a Yiwu community lives on its clock; everyone else is told the zone.
        assert ("UTC+8" in text) == (locale != "zh_Hans"), (locale, text)
    with r.catalogs.use_locale("zh_Hans"):
        assert "UTC+5:30" in r._format_dt(WHEN, "Asia/Kolkata")  # a community elsewhere: zone named
    with r.catalogs.use_locale("fr"):
        assert "16:21" in r._format_dt(WHEN, "Asia/Shanghai")  # 24-hour where the language uses it


def test_every_line_of_an_rtl_message_starts_right_to_left(harness: Harness):
    from tests.template_context import ACTOR

    r = harness.app.renderer
    for locale in ("ar", "fa"):
        text = r.render("help", locale, actor=ACTOR, private=True)
        lines = [line for line in text.split("\n") if line]
        assert any(line.lstrip("\u200f").startswith("/") for line in lines)  # command lines exist
        assert all(line.startswith("\u200f") for line in lines), [ln for ln in lines if ln[0] != "\u200f"]
    assert "\u200f" not in r.render("help", "en", actor=ACTOR, private=True)


def test_one_digit_set_in_rendered_arabic_and_persian(harness: Harness):
    from jinja2 import meta

    from bot.render import TEMPLATES
    from tests.template_context import context_for

    r = harness.app.renderer
    for path in sorted(TEMPLATES.glob("*.j2")):
        if path.stem.startswith("_") or path.stem in ("labels", "commands"):
            continue
        needed = meta.find_undeclared_variables(r.env.parse(r.env.loader.get_source(r.env, path.name)[0]))
        for locale in ("ar", "fa"):
            for ctx in context_for(path.stem, needed):
                assert not NATIVE_DIGITS.search(r.render(path.stem, locale, **ctx)), (path.stem, locale)


# ------------------------------------------------------------------ free text between people
class FakeTranslator:
    """A LibreTranslate stand-in: tags the text with the target language, records the calls."""

    enabled = True

    def __init__(self) -> None:
        self.calls: list[tuple[str, str | None, str]] = []

    async def translate(self, text: str, source: str | None, target: str) -> str | None:
        self.calls.append((text, source, target))
        return f"[{target}] {text}"


async def test_a_leaders_note_reaches_a_foreign_resident_labelled_then_translated(harness: Harness):
    from tests.conftest import LEADER, RESIDENT, community
    from tests.test_requests_paths import _card, file_privately

    h = harness
    await community(h)
    await file_privately(h)
    card = await _card(h)
    await h.press(LEADER, card.buttons()[3]["callback_data"], chat_id=-1001)  # ask for info
    await h.send(LEADER, "请问是几号楼几单元？")
    await h.deliver()
    asked = h.session.last(RESIDENT.id).text
    assert "请问是几号楼几单元？" in asked and "(written in Chinese)" in asked  # no provider: labelled

    translator = FakeTranslator()
    h.app.requests.translator = translator
    await h.press(RESIDENT, h.session.last(RESIDENT.id).buttons()[0]["callback_data"])
    await h.send(RESIDENT, "Building 3, entrance 2, the light by the lift")
    await h.deliver()
    answered = h.session.last(LEADER.id).text  # the answer, privately to the (Chinese) leader (#12)
    assert "🌐 <i>机器翻译（原文为英语）：</i> [zh] Building 3" in answered
    assert "<blockquote expandable><i>英语原文：</i>\nBuilding 3, entrance 2" in answered  # one tap away
    assert {t for _, _, t in translator.calls} == {"zh", "ar", "ru", "ko", "es", "fr", "fa"}


# ------------------------------------------------------------------ done when: eight residents
from bot.i18n import language_name  # noqa: E402
from tests.tg import Person  # noqa: E402

GRID_NAMES = {"en": "Grid 1", "ar": "المربع 1", "ru": "Участок 1", "ko": "1소구역", "es": "Manzana 1",
              "fr": "Îlot 1", "fa": "بلوک 1"}
COMMUNITY_NAMES = {"en": "Jimingshan Community", "ar": "حي جيمينغشان", "ru": "Микрорайон Цзиминшань",
                   "ko": "지밍산 동네", "es": "Comunidad de Jimingshan", "fr": "Quartier de Jimingshan",
                   "fa": "محلهٔ جیمینگشان"}
RESIDENTS = {  # locale: (person, what they write, their answer)
    "en": (Person(801, "Anna", "en"), "The corridor light on the third floor has been broken for a week",
           "Building three, second entrance"),
    "ar": (Person(802, "أمل", "ar"), "مصباح الممر في الطابق الثالث معطل منذ أسبوع", "المبنى الثالث، المدخل الثاني"),
    "ru": (Person(803, "Иван", "ru"), "Свет в коридоре на третьем этаже не работает уже неделю",
           "Третий корпус, второй подъезд"),
    "ko": (Person(804, "민지", "ko"), "3층 복도 전등이 일주일째 고장 나 있어요", "3동 2번 출입구예요"),
    "es": (Person(805, "Lucía", "es"), "La luz del pasillo del tercer piso lleva una semana rota",
           "Edificio tres, segunda entrada"),
    "fr": (Person(806, "Chloé", "fr"), "La lumière du couloir du troisième étage est en panne depuis une semaine",
           "Bâtiment trois, deuxième entrée"),
    "fa": (Person(807, "مریم", "fa"), "چراغ راهروی طبقه سوم یک هفته است که خراب است", "ساختمان سوم، ورودی دوم"),
    "zh_Hans": (Person(808, "陈奶奶", "zh-hans"), "三楼走廊的灯坏了一个星期了", "三号楼二单元"),
}
DEPARTMENTS = {"en": "Property management", "ar": "إدارة العقار", "ru": "Управляющая компания", "ko": "관리사무소",
               "es": "Administración de la finca", "fr": "Syndic de l’immeuble", "fa": "مدیریت ساختمان"}
QUESTION = "请问是几号楼几单元？"
SCRIPT = {"zh_Hans": "[\u4e00-\u9fff]", "ar": "[\u0600-\u06ff]", "fa": "[\u0600-\u06ff]", "ru": "[\u0400-\u04ff]",
          "ko": "[\uac00-\ud7af]", "en": "[A-Za-z]", "es": "[A-Za-z]", "fr": "[A-Za-z]"}
FOREIGN_SCRIPTS = {"cjk": "[\u4e00-\u9fff]", "arabic": "[\u0600-\u06ff]", "cyrillic": "[\u0400-\u04ff]",
                   "hangul": "[\uac00-\ud7af]", "latin": "[A-Za-z]{2,}"}
OWN = {"zh_Hans": "cjk", "ar": "arabic", "fa": "arabic", "ru": "cyrillic", "ko": "hangul",
       "en": "latin", "es": "latin", "fr": "latin"}
ENGLISH_WORDS = re.compile(r"\b(the|your|request|was|has|and|you|due)\b", re.I)


def _interface_only(text: str, locale: str) -> str:
    """What is left once data is taken out: request numbers, commands, people's names, what people
    wrote (labelled originals are allowed: the labels stay and are checked with the rest) and the
    time zone's name (UTC)."""
    people = [data for person, wrote, answer in RESIDENTS.values() for data in (wrote, answer, person.first_name)]
    for data in (QUESTION, *people, "李强", "王芳", "赵敏", "UTC", "gongzhi_test_bot"):
        text = text.replace(data, "")
    text = re.sub(r"JMS-\d+|/[a-z_]+|https?://\S+|<[^>]+>|tg://\S+", " ", text)
    return text


async def test_eight_residents_each_read_only_their_language(harness: Harness):
    """The issue's 'done when': residents in all eight languages file, are asked a question in
    Chinese, answer, and are told their request was escalated with a due date."""
    from tests.conftest import GRID_GROUP, LEADER, LIAISON, STAFF, community, invite

    h = harness
    await community(h)
    for loc in GRID_NAMES:
        await h.send(STAFF, f"/name grid 一网格 {loc} {GRID_NAMES[loc]}")
        await h.send(STAFF, f"/name community {loc} {COMMUNITY_NAMES[loc]}")
        await h.send(STAFF, f"/name department 物业 {loc} {DEPARTMENTS[loc]}")
    assert any("“Grid 1”" in t for t in h.texts(STAFF.id))  # staff are told what readers will see
    await h.send(STAFF, "/name")
    missing = h.session.last(STAFF.id).text
    assert "二网格" in missing and "Grid 1" not in missing  # the other grid still needs its names

    for loc, (person, wrote, answer) in RESIDENTS.items():
        await h.send(person, f"/start {await invite(h, 'resident')}")
        h.session.clear()
        await h.send(person, "/new")
        await h.press(person, h.session.last(person.id).buttons()[0]["callback_data"])  # a category
        await h.send(person, wrote)
        await h.press(person, "sk")  # photos
        await h.press(person, "sk")  # location
        grid_buttons = h.session.last(person.id).buttons()
        mine = GRID_NAMES.get(loc, "一网格")
        assert any(b["text"] == mine for b in grid_buttons), (loc, [b["text"] for b in grid_buttons])
        await h.press(person, next(b["callback_data"] for b in grid_buttons if b["text"] == mine))
        await h.press(person, "sk")  # contact
        assert mine in h.session.last(person.id).text  # the summary names their grid their way
        await h.press(person, "cf")
        await h.deliver()
        req_id = int(next(b["callback_data"] for b in h.session.last(GRID_GROUP).buttons()
                          if b["callback_data"].startswith("tr:")).split(":")[1])

        await h.press(LEADER, f"tr:{req_id}:3", chat_id=GRID_GROUP)  # ask for information, in Chinese
        await h.send(LEADER, QUESTION)
        await h.deliver()
        await h.press(person, f"an:{req_id}")
        await h.send(person, answer)
        await h.deliver()
        await h.press(LEADER, f"tr:{req_id}:5", chat_id=GRID_GROUP)  # escalate, due in three days
        await h.press(LEADER, f"es:{req_id}:{LIAISON.id}")
        await h.press(LEADER, f"dd:{req_id}:{LIAISON.id}:3")
        await h.deliver()

        texts = [s.text for s in h.session.to(person.id) if s.text]
        assert len(texts) >= 8, (loc, len(texts))
        asked = next(t for t in texts if QUESTION in t)
        escalated = texts[-1]
        r = h.app.renderer
        assert DEPARTMENTS.get(loc, "物业") in escalated, (loc, escalated)  # the department, in their words
        if loc != "zh_Hans":  # the leader's Chinese, labelled in the reader's words
            label = r.label("said_written_in", loc).format(language=language_name("zh", loc))
            assert label in asked, (loc, asked)
            assert "UTC+8" in escalated, (loc, escalated)
        else:
            assert "UTC" not in escalated
        assert "2026" in escalated or "2027" in escalated, (loc, escalated)
        for t in texts:
            assert not NUMERIC_DATE.search(t), (loc, t)
            if loc in ("ar", "fa"):
                assert all(line.startswith("\u200f") for line in t.split("\n") if line), (loc, t)
            rest = _interface_only(t, loc)
            assert re.search(SCRIPT[loc], rest), (loc, t)
            for name, rx in FOREIGN_SCRIPTS.items():
                if name != OWN[loc]:
                    assert not re.search(rx, rest), (loc, name, rest)
            if loc in ("es", "fr"):
                assert not ENGLISH_WORDS.search(rest), (loc, rest)
            assert "一网格" not in t or loc == "zh_Hans", (loc, t)  # their grid, their name
        h.session.clear()


async def test_a_reply_in_a_group_adds_a_line_in_the_residents_language(harness: Harness):
    from tests.conftest import GRID_GROUP, community

    h = harness
    await community(h)
    minji = Person(810, "민지", "ko")
    await h.send(minji, "/new 3층 복도 전등이 고장 났어요", chat_id=GRID_GROUP)
    await h.deliver()
    reply = next(s.text for s in h.session.to(GRID_GROUP) if "JMS-0001" in s.text and "收到" in s.text)
    assert "JMS-0001</b> 민원" in reply or "민원" in reply.split("\n")[-1], reply  # one line in Korean
    before = len(h.session.to(GRID_GROUP))
    await h.send(Person(811, "张阿姨", "zh-hans"), "/new 楼下垃圾没人收", chat_id=GRID_GROUP)
    await h.deliver()
    same = [s.text for s in h.session.to(GRID_GROUP)[before:] if "JMS-0002" in s.text and "收到" in s.text]
    assert same and not re.search("[\uac00-\ud7af]", same[0])  # the group's own language: nothing added


def test_cli_names_a_grid_in_other_languages(tmp_path, monkeypatch, capsys):
    from bot.cli import main

    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    assert main(["community", "create", "鸡鸣山社区", "--admin", "100", "--code", "JMS"]) == 0
    assert main(["grid", "add", "JMS", "一网格", "--name", "en=Grid 1", "--name", "ar=المربع 1"]) == 0
    assert main(["grid", "add", "JMS", "一网格", "--name", "fr=Îlot 1"]) == 0  # an existing grid: named too
    assert main(["grid", "add", "JMS", "二网格", "三网格", "--name", "en=Grid 2"]) == 2  # whose name would it be?
    capsys.readouterr()
    assert main(["grid", "list", "JMS"]) == 0
    assert "一网格\tar=المربع 1, en=Grid 1, fr=Îlot 1" in capsys.readouterr().out


def test_a_bilingual_group_reads_names_headings_and_tallies_in_both(harness: Harness):
    from storage.models import ChatBinding, Community
    from tests.template_context import COMMON, context_for

    r = harness.app.renderer
    community = Community(id=1, name="鸡鸣山社区", code="JMS", locale="zh_Hans", timezone="Asia/Shanghai",
                          settings={}, names={"fr": "Quartier de Jimingshan"})
    group = ChatBinding(chat_id=-1, community_id=1, kind="community", locale="zh_Hans", secondary_locale="fr")
    needed = {"community"} | set(COMMON)
    [ctx] = context_for("digest", needed)[:1]
    if "r" in ctx:  # a group reads only a request's public form
        from bot.privacy import PublicRequest
        ctx = {**ctx, "r": PublicRequest(ctx["r"])}
    text, split = harness.app.notifier.render_chat(group, "digest", **{**ctx, "community": community})
    assert not split
    zh, fr = text.split("\n\n📰")
    assert "鸡鸣山社区" in zh and "Quartier de Jimingshan" in fr and "鸡鸣山社区" not in fr
    with r.catalogs.use_locale("fr"):
        tally = str(r._jinja_gettext("%(option)s: %(count)s", option="Pour", count=3))
    assert tally == "Pour\u00a0: 3"  # the colon belongs to the language, not to the template


# ------------------------------------------------------------------ a vote's options, named (#16)
async def test_a_votes_own_options_reach_english_readers_by_their_english_names(harness: Harness):
    """Staff propose with Chinese options and name them in English before opening: the English
    council group reads the English names in the post, on the buttons and in the result; Chinese
    readers keep the originals; a resident cannot name them and bad input is answered."""
    from tests.conftest import RESIDENT, STAFF
    from tests.test_council import COUNCIL_GROUP, MEMBERS, council, past_deadline, propose
    h = harness
    await council(h)
    p = await propose(h, STAFF, "车棚", "2号楼旁边的空地用来做什么？", options="建自行车棚\n修花坛", open_now=False)
    h.session.clear()
    await h.send(STAFF, "/name")
    assert "建自行车棚" in h.session.last(STAFF.id).text  # missing in English (and the others)
    await h.send(STAFF, "/name option P1 1 en Bike shed")
    assert "Bike shed" in h.session.last(STAFF.id).text
    await h.send(STAFF, "/name option JMS-P001 2 en Flower bed")
    await h.send(STAFF, "/name option P1 3 en Third")  # there are two options
    said = h.app.renderer.render("error", "zh_Hans", code="option_position", high=2)
    assert h.session.last(STAFF.id).text.strip() == said.strip(), (h.session.last(STAFF.id).text, said)
    await h.send(STAFF, "/name option P1 x")
    assert "/name option" in h.session.last(STAFF.id).text  # usage, in Chinese
    await h.send(RESIDENT, "/name option P1 1 en Mine")
    async with h.app.db.read() as s:
        from storage.models import Proposal
        named = (await s.get(Proposal, p.id)).option_names
    assert named == [{"en": "Bike shed"}, {"en": "Flower bed"}], named

    h.session.clear()
    await h.send(STAFF, "/propose")  # leave no conversation behind; then open the draft from its card
    await h.send(STAFF, "/cancel")
    await h.press(STAFF, f"pp:{p.id}:1")
    await h.deliver()
    post = h.session.last(COUNCIL_GROUP)
    assert "Bike shed" in post.text and "Flower bed" in post.text and "建自行车棚" not in post.text, post.text
    assert "2号楼旁边的空地用来做什么？ (written in Chinese)" in plain(post.text), post.text  # people's text, labelled
    assert [b["text"] for b in post.buttons()] == ["Bike shed", "Flower bed"], post.buttons()
    for m in MEMBERS[:2]:
        await h.press(m, f"vo:{p.id}:0", chat_id=COUNCIL_GROUP, message_id=post.message_id)
    from tests.conftest import VOL_GROUP
    await h.send(STAFF, "/grouplang en", chat_id=VOL_GROUP)
    await past_deadline(h, p.id)
    h.session.clear()
    await h.app.council.sweep()
    await h.deliver()
    told = "\n".join(c.text for c in h.session.to(COUNCIL_GROUP))
    assert "Bike shed" in told and "建自行车棚" not in told, told
    task = "\n".join(c.text for c in h.session.to(VOL_GROUP))  # the decision became a volunteer task
    assert "The council decided: Bike shed" in task, task
    from tests.conftest import COMMUNITY_GROUP
    assert "建自行车棚" in "\n".join(c.text for c in h.session.to(COMMUNITY_GROUP))  # Chinese readers: the original


# ------------------------------------------------------------------ names by machine (#16)
async def test_missing_names_are_machine_translated_once_marked_and_staff_names_win(harness: Harness):
    from bot.i18n import local_name
    from bot.services.language import NoTranslator
    from bot.services.names import machine_names
    from sqlalchemy import select
    from storage.models import Grid
    from tests.conftest import STAFF, community
    h = harness
    await community(h)
    locales = h.app.renderer.locales
    assert await machine_names(h.app.db, NoTranslator(), locales) == 0  # no provider: nothing claimed
    translator = FakeTranslator()
    await h.send(STAFF, "/name grid 一网格 ko 1소구역")  # staff named one already: not translated
    added = await machine_names(h.app.db, translator, locales)
    assert added == 3 * 7 - 1, translator.calls  # the community and two grids, seven other languages
    assert ("一网格", "zh", "ko") not in translator.calls
    assert await machine_names(h.app.db, translator, locales) == 0 and len(translator.calls) == added  # once
    async with h.app.db.read() as s:
        grid = (await s.execute(select(Grid).where(Grid.name == "一网格"))).scalars().one()
    assert local_name(grid, "en") == "🌐 [en] 一网格" and local_name(grid, "ko") == "1소구역"
    assert local_name(grid, "zh_Hans") == "一网格"
    h.session.clear()
    await h.send(STAFF, "/name")
    listed = h.session.last(STAFF.id).text
    assert "一网格 → 🌐 [en] 一网格" in listed and "🌐 表示机器翻译" in listed, listed
    await h.send(STAFF, "/name grid 一网格 en Grid 1")  # staff's name wins over the machine's
    async with h.app.db.read() as s:
        grid = await s.get(Grid, grid.id)
    assert local_name(grid, "en") == "Grid 1"
