"""The one way to produce user-facing text: Jinja2 templates with gettext, per recipient locale.

Templates render HTML (Telegram parse_mode HTML) with autoescape on. A line holding only
control tags ends in `-%}` so it leaves no blank line; text lines keep their line breaks. For right-to-left locales
the message starts with U+200F and every inserted value is isolated with U+2068…U+2069.
"""
from __future__ import annotations

import html
import re
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup, escape

from bot.i18n import Catalogs, is_rtl, language_name
from bot.limits import MAX_TEXT

TEMPLATES = Path(__file__).resolve().parent / "templates"
RLM = "\u200f"
_rtl: ContextVar[bool] = ContextVar("gongzhi_rtl", default=False)
_blank_lines = re.compile(r"\n{3,}")
_tags = re.compile(r"<[^>]+>")


def plain(text: str) -> str:
    """Rendered HTML as plain text (button-press answers are not parsed by Telegram)."""
    return html.unescape(_tags.sub("", text))


def fit(text: str, limit: int = MAX_TEXT) -> str:
    """Last resort for a message over Telegram's limit (very long user text): shortened as plain
    text, since cutting HTML could leave a tag open. Templates truncate long fields first."""
    return str(escape(plain(text)[: limit - 200])) + " …"


def isolate(value: Any) -> Any:
    """`{{ value }}` output: user data is isolated in RTL text; our own markup is left alone."""
    if not _rtl.get() or isinstance(value, Markup) or value is None:
        return value
    return f"\u2068{value}\u2069"


def _inserted(value: Any) -> Markup:
    """A value formatted into a translated sentence: escaped, and isolated in RTL text."""
    safe = value if isinstance(value, Markup) else escape(value)
    return Markup(f"\u2068{safe}\u2069") if _rtl.get() else safe


@dataclass(frozen=True)
class Button:
    """An inline button before rendering: a key into `labels.j2` (or literal data such as a
    request number or a grid name in `text`), and either callback data or a URL."""

    label: str | None = None
    data: str | None = None
    url: str | None = None
    text: str | None = None


class Renderer:
    def __init__(self, catalogs: Catalogs, default_tz: str = "Asia/Shanghai") -> None:
        self.catalogs = catalogs
        self.default_tz = default_tz
        env = Environment(
            loader=FileSystemLoader(TEMPLATES),
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
        self.env = env
        self._modules: dict[tuple[str, str], Any] = {}

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
        if value is None:
            return ""
        aware = value if value.tzinfo else value.replace(tzinfo=ZoneInfo("UTC"))
        aware = aware.astimezone(ZoneInfo(tz or self.default_tz))
        return format_datetime(aware, "short", locale=self.catalogs.current_locale)

    def render(self, template: str, locale: str, **context: Any) -> str:
        """Render `template` (name without `.j2`) for one recipient's locale."""
        with self.catalogs.use_locale(locale):
            token = _rtl.set(is_rtl(locale))
            try:
                text = self.env.get_template(f"{template}.j2").render(**context)
            finally:
                _rtl.reset(token)
        text = _blank_lines.sub("\n\n", text.strip())
        text = RLM + text if is_rtl(locale) else text
        return text if len(text) <= MAX_TEXT else fit(text)

    def strings(self, template: str, locale: str) -> Any:
        """The top-level `{% set %}` values of a template of short strings (labels, command
        menus), evaluated once per locale."""
        key = (template, locale)
        if key not in self._modules:
            with self.catalogs.use_locale(locale):
                self._modules[key] = self.env.get_template(f"{template}.j2").make_module()
        return self._modules[key]

    def label(self, key: str, locale: str) -> str:
        return str(self.strings("labels", locale).labels[key])

    def keyboard(self, rows: list[list[Button]], locale: str) -> list[list[dict[str, str]]]:
        """Buttons as Bot API JSON, labels translated; rows read right-to-left in RTL locales."""
        out = []
        for row in rows:
            cells = []
            for b in row:
                cell = {"text": b.text if b.label is None else self.label(b.label, locale)}
                cell.update({"callback_data": b.data} if b.data else {"url": b.url or ""})
                cells.append(cell)
            out.append(cells[::-1] if is_rtl(locale) else cells)
        return out
