"""The one way to produce user-facing text: Jinja2 templates with gettext, per recipient locale.

Templates render HTML (Telegram parse_mode HTML) with autoescape on. A line holding only
control tags ends in `-%}` so it leaves no blank line; text lines keep their line breaks. For right-to-left locales
every line starts with U+200F (Telegram lays out each line by its first strong character, so a line that starts
with a command, a number or an isolated name would otherwise run left to right) and every inserted value is
isolated with U+2068…U+2069; in every language, names and people's text are stripped of their own
direction controls and isolated when they hold right-to-left characters (`_isolated`). Digits are Latin in every locale, Arabic and Persian included (what Babel's CLDR
data formats dates with, and what request numbers, commands and links use); see README, Translating.

Dates and times are written in the community's time zone, in the reader's language, never as an all-numeric
date, and with the zone named ("4 Dec 2026, 16:21 (UTC+8)") unless the reader's language belongs to a country
whose clocks all agree with the community's (a Chinese reader of a Yiwu community).
"""
from __future__ import annotations

import html
import re
import unicodedata
from collections import OrderedDict
from contextvars import ContextVar
from functools import lru_cache
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.core import get_global
from babel.dates import format_skeleton, format_time
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from bot.callbacks import packed
from bot.i18n import BIDI_CONTROLS, Catalogs, in_locale, is_rtl, language_name, local_name
from bot.services.buttons import Button
from bot.services.community import Category, category_of
from bot.services.language import detect
from bot.limits import MAX_TEXT

TEMPLATES = Path(__file__).resolve().parent / "templates"
RLM = "\u200f"
_NATIVE_DIGITS = str.maketrans("\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"
                               "\u06f0\u06f1\u06f2\u06f3\u06f4\u06f5\u06f6\u06f7\u06f8\u06f9", "0123456789" * 2)
_rtl: ContextVar[bool] = ContextVar("gongzhi_rtl", default=False)
_blank_lines = re.compile(r"\n{3,}")
_detect = lru_cache(maxsize=4096)(detect)
MEMO_SIZE = 4096  # machine translations kept in memory, (text, language) → translation
_tags = re.compile(r"<[^>]+>")


def plain(text: str) -> str:
    """Rendered HTML as plain text (button-press answers are not parsed by Telegram)."""
    return html.unescape(_tags.sub("", text))


def fit(text: str, limit: int = MAX_TEXT) -> str:
    """Last resort for a message over Telegram's limit (very long user text): shortened as plain
    text, since cutting HTML could leave a tag open. Templates truncate long fields first."""
    return str(escape(plain(text)[: limit - 200])) + " …"


def department_name(community: Any, department: str | None, locale: str) -> str:
    """A department (as liaisons were invited with it, "物业") in the reader's language, if staff named it."""
    if not department:
        return ""
    names = (getattr(community, "department_names", None) or {}).get(department) or {}
    return names.get(locale) or names.get(locale.split("_")[0]) or department


def rtl_lines(text: str) -> str:
    """Every non-empty line starts right to left (the one place RTL direction is applied)."""
    return "\n".join(line if not line or line.startswith(RLM) else RLM + line for line in text.split("\n"))


def _isolated(value: Any) -> str | None:
    """The one place names and people's text are made safe to insert into our sentences, in every
    language: their own direction controls (U+202A–U+202E, U+2066–U+2069) are stripped, so a
    right-to-left override in a Telegram name cannot reverse our text, and the value is isolated
    (U+2068…U+2069), so a right-to-left name cannot reorder the words and numbers around it. In
    right-to-left text every value is isolated; in left-to-right text every value that holds a
    right-to-left character (Arabic, Persian, Hebrew) — isolating a value with none would change
    nothing on screen. None: nothing to do (our own markup, which inserted its values through
    here already)."""
    if value is None or isinstance(value, Markup):
        return None
    if isinstance(value, str):
        value = value.translate(BIDI_CONTROLS)
        if _rtl.get() or _has_rtl(value):
            return f"\u2068{value}\u2069"
        return value
    return f"\u2068{value}\u2069" if _rtl.get() else None


def _has_rtl(text: str) -> bool:
    return _RTL_BLOCKS.search(text) is not None and any(unicodedata.bidirectional(ch) in RTL for ch in text)


RTL = ("R", "AL", "AN")
# The blocks where every right-to-left character lives (tests/test_i18n.py checks all of Unicode):
# text with none of them (Chinese, English...) needs no look at each character.
_RTL_BLOCKS = re.compile("[\u0590-\u08ff\u200f\ufb1d-\ufefc\U00010800-\U00010fff\U0001e800-\U0001efff]")


def isolate(value: Any) -> Any:
    """`{{ value }}` output (Jinja's finalize): see `_isolated`."""
    out = _isolated(value)
    return value if out is None else out


def _inserted(value: Any) -> Markup:
    """A value formatted into a translated sentence: escaped, and isolated (see `_isolated`)."""
    if isinstance(value, Markup):
        return value
    out = _isolated(value)
    return escape(value) if out is None else escape(out)


def utc_offset(aware: datetime) -> str:
    """"UTC+8", "UTC+5:30", "UTC−3" (a minus sign, not a hyphen)."""
    minutes = int((aware.utcoffset() or timedelta()).total_seconds() // 60)
    sign = "+" if minutes >= 0 else "\u2212"
    h, m = divmod(abs(minutes), 60)
    return f"UTC{sign}{h}" + (f":{m:02d}" if m else "")


def _reader_shares_clock(locale: str, tz: str) -> bool:
    """Whether the community's zone lies in the country the reader's language points to (CLDR
    likely subtags: zh_Hans → CN, ko → KR, en → US): a Chinese reader of a Yiwu community needs
    no zone, an English, Korean or Russian one does."""
    full = get_global("likely_subtags").get(locale.split("_")[0], "")
    return bool(full) and get_global("zone_territories").get(tz) == full.split("_")[-1]


class Renderer:
    def __init__(self, catalogs: Catalogs, default_tz: str = "Asia/Shanghai") -> None:
        self.catalogs = catalogs
        self.default_tz = default_tz
        env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            auto_reload=False,  # read once per process (not a look at each file per message): restart to change
            autoescape=True,
            undefined=StrictUndefined,
            lstrip_blocks=True,
            extensions=["jinja2.ext.i18n"],
            finalize=isolate,
        )
        env.globals.update(gettext=self._jinja_gettext, _=self._jinja_gettext,
                           ngettext=self._jinja_ngettext)
        env.newstyle_gettext = True  # type: ignore[attr-defined]
        env.filters["dt"] = self._format_dt
        env.globals["label"] = lambda key: self.label(key, self.catalogs.current_locale)
        env.filters["langname"] = lambda code: language_name(code, self.catalogs.current_locale)
        env.globals["deep_link"] = self._deep_link
        env.globals["mention"] = lambda user: Markup('<a href="tg://user?id={}">{}</a>').format(
            int(user.id), _inserted(user.first_name))
        env.globals["bot_username"] = "gongzhi_bot"  # replaced with getMe's answer at start
        env.globals["said"] = self._said
        env.globals["titled"] = self._titled
        env.filters["named"] = lambda obj: local_name(obj, self.catalogs.current_locale)
        env.filters["options"] = lambda p: self.options(p, self.catalogs.current_locale)
        env.filters["category"] = self._category
        env.filters["dept"] = lambda name, community: department_name(community, name, self.catalogs.current_locale)
        self.env = env
        self._modules: dict[tuple[str, str], Any] = {}
        self.translations: OrderedDict[tuple[str, str], str] = OrderedDict()

    # Free text written by people (descriptions, notes, questions, answers, comments)
    def remember(self, text: str, language: str, translation: str) -> None:
        """Keep a machine translation of `text` into `language` (ISO 639-1) for rendering."""
        self.translations[(text, language)] = translation
        self.translations.move_to_end((text, language))
        while len(self.translations) > MEMO_SIZE:
            self.translations.popitem(last=False)

    def _titled(self, text: str | None, names: dict[str, str] | None = None) -> Markup:
        """`{{ titled(c.title, c.names) }}`: a title people wrote (a convention's) in the reader's
        language: staff's name for it, else the machine's marked 🌐, else as written, its language
        labelled (`said`)."""
        found = in_locale(text or "", names, self.catalogs.current_locale)
        return _inserted(found) if found != text else self._said(text)

    def _said(self, text: str | None, language: str | None = None, stored: str | None = None,
              stored_in: str | None = None, machine: dict[str, str] | None = None) -> Markup:
        """`{{ said(note) }}`: what a person wrote, as they wrote it; when it is in another language
        than the reader's, labelled with that language in the reader's words, and with a machine
        translation (labelled, the original one tap away in an expandable quote) when one is known:
        `stored` (a translation kept with the request, into `stored_in`), one kept with the record
        in `machine` ({"<locale>@mt": text}, bot.services.names) or one the services fetched."""
        if not text:
            return Markup("")
        locale = self.catalogs.current_locale
        reader = locale.split("_")[0]
        source = language or _detect(text)
        original = _inserted(text)
        if not source or source == reader:
            return original
        name = language_name(source, locale)
        translated = self.translations.get((text, reader))
        if not translated and stored and stored_in and stored_in.split("_")[0] == reader:
            translated = stored
        if not translated and machine:
            translated = machine.get(locale + "@mt") or machine.get(reader + "@mt")
        if translated:
            return Markup("🌐 <i>{}</i> {}\n<blockquote expandable><i>{}</i>\n{}</blockquote>").format(
                self.label("said_machine", locale).format(language=name), _inserted(translated),
                self.label("said_original", locale).format(language=name), original)
        return Markup("{} <i>{}</i>").format(original, self.label("said_written_in", locale).format(language=name))

    @property
    def locales(self) -> tuple[str, ...]:
        return self.catalogs.available_locales

    # gettext used by templates (newstyle: we format, escape and isolate the values)
    # Like Jinja's own newstyle gettext, always %-format (so `%%` means a literal %).
    def _fmt(self, text: str, variables: dict[str, Any]) -> Markup:
        return Markup(text) % {k: _inserted(v) for k, v in variables.items()}

    def _jinja_gettext(self, msgid: str, **variables: Any) -> Markup:
        return self._fmt(self.catalogs.gettext(msgid), variables)

    def _jinja_ngettext(self, singular: str, plural: str, num: int, **variables: Any) -> Markup:
        variables.setdefault("num", num)
        return self._fmt(self.catalogs.gettext(singular, plural, num), variables)

    def _deep_link(self, payload: str = "go") -> Markup:
        """A t.me link that starts the bot with `payload`; never isolated (it must stay tappable)."""
        return Markup("https://t.me/{}?start={}").format(self.env.globals["bot_username"], payload)

    def _format_dt(self, value: datetime | None, tz: str | None = None) -> str:
        """`{{ when|dt(community.timezone) }}`: "4 Dec 2026, 16:21 (UTC+8)" in the reader's language
        (month as a word, the locale's own 12/24-hour clock), in the community's zone."""
        if value is None:
            return ""
        locale = self.catalogs.current_locale
        aware = value if value.tzinfo else value.replace(tzinfo=ZoneInfo("UTC"))
        tz = tz or self.default_tz
        aware = aware.astimezone(ZoneInfo(tz))
        day = format_skeleton("yMMMd", aware, locale=locale)
        clock = format_time(aware, "short", locale=locale)
        when = str(Locale.parse(locale).datetime_formats["medium"]).format(clock, day)
        when = when.translate(_NATIVE_DIGITS)
        if _reader_shares_clock(locale, tz):
            return when
        return self.label("dt_zone", locale).format(when=when, zone=utc_offset(aware))

    def render(self, template: str, locale: str, **context: Any) -> str:
        """Render `template` (name without `.j2`) for one recipient's locale."""
        with self.catalogs.use_locale(locale):
            token = _rtl.set(is_rtl(locale))
            try:
                text = self.env.get_template(f"{template}.j2").render(**context)
            finally:
                _rtl.reset(token)
        text = _blank_lines.sub("\n\n", text.strip())
        if is_rtl(locale):
            text = rtl_lines(text)
        return text if len(text) <= MAX_TEXT else fit(text)

    def strings(self, template: str, locale: str) -> Any:
        """The top-level `{% set %}` values of a template of short strings (labels, command
        menus), evaluated once per locale."""
        key = (template, locale)
        if key not in self._modules:
            with self.catalogs.use_locale(locale):
                self._modules[key] = self.env.get_template(f"{template}.j2").make_module()
        return self._modules[key]

    def options(self, p: Any, locale: str) -> list[str]:
        """A vote's options as the reader reads them: For / Against / Abstain translated, or the
        proposer's options in the reader's language where staff named them (`option_names`)."""
        if not p.options:
            return [self.label(k, locale) for k in ("opt_for", "opt_against", "opt_abstain")]
        named = getattr(p, "names_of", None)  # a proposal; a draft being written has no names yet
        return [in_locale(o, named(i) if named else None, locale) for i, o in enumerate(p.options)]

    def _category(self, value: Any, community: Any = None) -> str:
        """`{{ r.category|category(community) }}` (a code) or `{{ cat|category }}` (a `Category`);
        the needs list's `wish:<category>` is a micro-wish category (`wcat_…`, bot.services.needs)."""
        if isinstance(value, str) and value.startswith("wish:"):
            return self.label("wcat_" + value[len("wish:"):], self.catalogs.current_locale)
        cat = value if isinstance(value, Category) else category_of(community, value)
        return self.category_label(cat, self.catalogs.current_locale)

    def category_label(self, cat: Category, locale: str) -> str:
        """The one place a category is named, in templates and on buttons: staff's name in the
        reader's language; else a built-in category's name from the catalogs; else the machine's
        name marked 🌐; else the name staff gave it in the community's language. No category yet:
        "Not yet categorised"."""
        if not cat.code:
            return self.label("cat_unset", locale)
        labels = self.strings("labels", locale).labels
        key = "cat_" + cat.code
        fallback = labels[key] if cat.name is None and key in labels else (cat.name or cat.code)
        return in_locale(fallback, cat.names, locale)

    def label(self, key: str, locale: str) -> str:
        return str(self.strings("labels", locale).labels[key])

    def keyboard(self, rows: list[list[Button]], locale: str) -> list[list[dict[str, str]]]:
        """Buttons as Bot API JSON, labels translated; rows read right-to-left in RTL locales.

        Telegram's apps lay an inline keyboard row out left to right in the order sent, whatever the
        interface language (Telegram Desktop has no right-to-left layout at all; the Bot API has no
        direction flag: tdlib/telegram-bot-api#882, where the maintainers answer that it would need
        every app to change), so the bot reverses each row itself for Arabic and Persian readers.
        """
        out = []
        for row in rows:
            cells = []
            for b in row:
                if b.category is not None:
                    text = self.category_label(b.category, locale)
                else:
                    text = in_locale(b.text or "", b.names, locale) if b.label is None else self.label(b.label, locale)
                cell = {"text": text}
                if b.web_app:
                    cell["web_app"] = {"url": b.web_app}  # a Mini App (private chats only)
                else:
                    cell.update({"callback_data": packed(b.data)} if b.data else {"url": b.url or ""})
                cells.append(cell)
            out.append(cells[::-1] if is_rtl(locale) else cells)
        return out
