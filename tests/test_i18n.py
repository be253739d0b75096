"""Locale resolution, right-to-left rendering, language hints and machine translation."""
from __future__ import annotations

import pytest
from aiohttp import web
from jinja2 import meta

from bot.config import ROOT
from bot.i18n import clean_user_text, normalise, resolve
from bot.render import TEMPLATES, Button
from bot.services.language import LibreTranslate, NoTranslator, detect
from tests.conftest import Harness

SHIPPED = ("ar", "en", "es", "fa", "fr", "ko", "ru", "zh_Hans")


@pytest.mark.parametrize("code, expected", [
    ("zh-hans", "zh_Hans"), ("zh-CN", "zh_Hans"), ("zh", "zh_Hans"), ("zh-hant-tw", "zh_Hans"), ("zh-TW", "zh_Hans"),
    ("en", "en"), ("en-GB", "en"), ("ar", "ar"), ("ar-EG", "ar"), ("fa-IR", "fa"), ("ru", "ru"), ("ko-KR", "ko"),
    ("es-419", "es"), ("fr-CA", "fr"), ("pt-br", None), ("de", None), ("", None), (None, None), ("xx-!!", None),
])
def test_language_code_resolution_table(code, expected):
    assert normalise(code, SHIPPED) == expected


def test_choice_beats_telegram_beats_community_default():
    assert resolve("fr", "ar", "zh_Hans", SHIPPED) == "fr"
    assert resolve(None, "ar", "zh_Hans", SHIPPED) == "ar"
    assert resolve(None, "pt-br", "zh_Hans", SHIPPED) == "zh_Hans"
    assert resolve("xx", None, "en", SHIPPED) == "en"


def test_direction_overrides_are_stripped_from_user_text():
    assert clean_user_text("abc\u202edcba\u2066x\u2069 ") == "abcdcbax"


def test_every_right_to_left_character_is_in_the_blocks_looked_at_first():
    """`bot.render._has_rtl` looks at each character only in text with one of these blocks."""
    import sys
    import unicodedata

    from bot.render import _RTL_BLOCKS, RTL, _has_rtl
    outside = [hex(c) for c in range(sys.maxunicode + 1)
               if unicodedata.bidirectional(chr(c)) in RTL and not _RTL_BLOCKS.match(chr(c))]
    assert outside == []
    assert _has_rtl("طلب ٣") and _has_rtl("שלום") and not _has_rtl("楼道灯坏了 light 3号")


async def test_rtl_messages_start_with_rlm_and_isolate_values(harness: Harness):
    r = harness.app.renderer
    text = r.render("following", "ar", no="JMS-0042")
    assert text.startswith("\u200f") and "\u2068JMS-0042\u2069" in text
    assert not r.render("following", "en", no="JMS-0042").startswith("\u200f")
    rows = r.keyboard([[Button(text="1", data="a"), Button(text="2", data="b")]], "ar")
    assert [b["text"] for b in rows[0]] == ["2", "1"]  # read right to left
    assert [b["text"] for b in r.keyboard([[Button(text="1", data="a"), Button(text="2", data="b")]], "en")[0]] == ["1", "2"]


def test_every_template_renders_in_every_locale_within_limits(harness: Harness):
    """Each template, for a realistic context, in every shipped locale: no error, and within 4096."""
    from tests.template_context import context_for

    r = harness.app.renderer
    for path in sorted(TEMPLATES.glob("*.j2")):
        name = path.stem
        if name.startswith("_") or name in ("labels", "commands"):
            continue
        source = r.env.loader.get_source(r.env, path.name)[0]
        needed = meta.find_undeclared_variables(r.env.parse(source))
        for locale in r.locales:
            for ctx in context_for(name, needed):
                text = r.render(name, locale, **ctx)
                assert text.strip(), (name, locale)
                assert len(text) <= 4096, (name, locale, len(text))


def test_command_menus_exist_for_every_locale(harness: Harness):
    r = harness.app.renderer
    for locale in r.locales:
        menus = r.strings("commands", locale)
        for command, description in [*menus.private, *menus.group]:
            assert command.isascii() and 1 <= len(str(description)) <= 256


@pytest.mark.parametrize("text, expected", [
    ("القمامة لا تُجمع من أمام المبنى", "ar"), ("The corridor light is broken again", "en"), ("楼道的灯坏了好几天", "zh"),
    ("Свет в подъезде не работает", "ru"), ("복도 불이 고장났어요", "ko"), ("چراغ راهرو خراب است", "fa"), ("ok", None),
])
def test_language_hint(text, expected):
    assert detect(text) == expected


async def test_libretranslate_provider_against_a_local_fake(aiohttp_free_port=None):
    seen = []

    async def translate(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append(body)
        if body["q"] == "fail":
            return web.json_response({"error": "x"}, status=500)
        return web.json_response({"translatedText": f"[{body['target']}] {body['q']}"})

    app = web.Application()
    app.router.add_post("/translate", translate)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        tr = LibreTranslate(f"http://127.0.0.1:{port}", key="k")
        assert await tr.translate("hello", "en", "zh_Hans") == "[zh] hello"
        assert seen[0]["api_key"] == "k" and seen[0]["source"] == "en"
        assert await tr.translate("fail", "en", "zh_Hans") is None  # failures never block
        assert await LibreTranslate("http://127.0.0.1:1").translate("x", None, "en") is None
        assert await NoTranslator().translate("x", None, "en") is None
    finally:
        await runner.cleanup()


async def test_grid_leader_sees_hint_and_labelled_translation(tmp_path):
    from tests.conftest import GRID_GROUP, community
    from bot.services.language import LibreTranslate

    class Fake(LibreTranslate):
        async def translate(self, text, source, target):
            return "楼前的垃圾三天没人收了"

    h = await Harness(tmp_path / "mt.db").start()
    h.app.requests.translator = Fake("http://unused")
    await community(h)
    karim = __import__("tests.tg", fromlist=["Person"]).Person(905, "Karim", "ar")
    await h.send(karim, "/new القمامة لا تُجمع من أمام المبنى 7 منذ ثلاثة أيام", chat_id=GRID_GROUP)
    await h.deliver()
    card = h.session.last(GRID_GROUP).text
    assert "القمامة" in card and "楼前的垃圾" in card  # the original is kept beside the translation
    assert "阿拉伯语" in card  # "written in Arabic", in the group's language
    await h.close()


ROOT  # noqa: B018  (imported for symmetry with other tests)


async def test_first_contact_without_language_offers_the_picker_from_the_hint(harness: Harness):
    from tests.tg import Person

    nobody = Person(950, "X", None)
    await harness.send(nobody, "Здравствуйте, у нас в подъезде не работает свет")
    picker = harness.session.last(nobody.id)
    marked = [b["text"] for b in picker.buttons() if b["text"].startswith("✓")]
    assert marked == ["✓ Русский"]


async def test_group_with_two_languages_gets_both_when_they_fit(harness: Harness):
    from tests.conftest import RESIDENT, STAFF, community

    await community(harness)
    await harness.send(STAFF, "/grouplang zh-hans en", chat_id=-1001)
    await harness.send(RESIDENT, "/new The gate is stuck", chat_id=-1001)
    await harness.deliver()
    card = harness.session.last(-1001).text
    assert "未分类" in card and "Not yet categorised" in card


async def test_links_stay_tappable_in_right_to_left_text(harness: Harness):
    from storage.models import User

    text = harness.app.renderer.render("via_group", "ar", user=User(id=901, first_name="كريم"), body="x",
                                       link="so_12")
    assert 'href="tg://user?id=901"' in text and "?start=so_12" in text
    assert "\u2068كريم\u2069" in text


async def test_a_post_too_long_for_two_languages_offers_each_reader_theirs(harness: Harness):
    from tests.conftest import RESIDENT, STAFF, community

    await community(harness)
    await harness.send(STAFF, "/grouplang zh-hans en", chat_id=-1001)
    # Just under the 2,000-character limit, in a third language: each half labels it in its own.
    text = ("Свет в подъезде не работает. " * 70)[:1999]
    await harness.send(RESIDENT, "/new " + text, chat_id=-1001)
    await harness.deliver()
    card = harness.session.last(-1001)
    assert "Not yet categorised" not in card.text  # the primary language only
    xl = next(b["callback_data"] for b in card.buttons() if b["callback_data"].startswith("xl:"))
    await harness.press(RESIDENT, xl, chat_id=-1001)
    assert "Not yet categorised" in harness.session.last(RESIDENT.id).text  # privately, in English
