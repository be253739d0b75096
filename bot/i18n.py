"""Locales: which ones ship, how a Telegram `language_code` maps to one, and the catalogs.

Catalogs are the `.po` files under `locales/`; they are compiled in memory at start, so a
checkout (or an edited translation) never runs with stale `.mo` files. Plain Python (no aiogram):
services, templates, the CLI and the scheduler use the same translator; the per-update locale is
set by the aiogram middleware (`bot.middlewares`) with `Catalogs.use_locale`.
"""
from __future__ import annotations

from typing import Any

import gettext
import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from bot.config import shipped_locales  # noqa: F401  (re-exported: where the catalogs are)

RTL_LOCALES = frozenset({"ar", "fa", "he", "ur"})
BIDI_CONTROLS = dict.fromkeys(map(ord, "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"))


def compile_catalog(po_path: Path) -> gettext.GNUTranslations:
    with po_path.open("rb") as fh:
        catalog = read_po(fh, locale=po_path.parent.parent.name)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


class Catalogs:
    """The shipped catalogs, compiled in memory, and the locale texts are being rendered in."""

    def __init__(self, *, path: str | Path, default_locale: str = "en", domain: str = "messages") -> None:
        self.path = Path(path).resolve()
        self.default_locale = default_locale
        self.domain = domain
        self._locale: ContextVar[str] = ContextVar("gongzhi_locale", default=default_locale)
        self.locales = self.find_locales()

    def find_locales(self) -> dict[str, gettext.GNUTranslations]:
        return {
            loc: compile_catalog(self.path / loc / "LC_MESSAGES" / f"{self.domain}.po")
            for loc in shipped_locales(self.path)
        }

    @property
    def available_locales(self) -> tuple[str, ...]:
        return tuple(self.locales)

    @property
    def current_locale(self) -> str:
        return self._locale.get()

    @contextmanager
    def use_locale(self, locale: str) -> Iterator[None]:
        token = self._locale.set(locale)
        try:
            yield
        finally:
            self._locale.reset(token)

    def gettext(self, singular: str, plural: str | None = None, n: int = 1, locale: str | None = None) -> str:
        """`singular` (or `plural` for `n`) in `locale`, by default the current one; the source
        text when the locale is not shipped."""
        catalog = self.locales.get(locale or self.current_locale)
        if catalog is None:
            return singular if n == 1 else plural or singular
        return catalog.ngettext(singular, plural, n) if plural else catalog.gettext(singular)


@lru_cache(maxsize=512)
def _normalise(code: str, supported: tuple[str, ...]) -> str | None:
    try:
        loc = Locale.parse(code.replace("-", "_"))
    except (ValueError, UnknownLocaleError):
        return None
    script = loc.script
    if script is None:
        likely = get_global("likely_subtags").get(
            f"{loc.language}_{loc.territory}" if loc.territory else loc.language
        ) or get_global("likely_subtags").get(loc.language)
        if likely:
            parts = likely.split("_")
            script = next((p for p in parts[1:] if len(p) == 4), None)
    candidates = [f"{loc.language}_{script}"] if script else []
    candidates.append(loc.language)
    for cand in candidates:
        if cand in supported:
            return cand
    # Same language in another script (zh_Hant reader, only zh_Hans shipped): still closer than none.
    return next((s for s in supported if s.split("_")[0] == loc.language), None)


def normalise(code: str | None, supported: tuple[str, ...] | list[str]) -> str | None:
    """Map a Telegram `language_code` (`zh-hans`, `pt-br`, `en`) to a shipped locale, or None."""
    if not code:
        return None
    return _normalise(code.strip(), tuple(supported))


def resolve(choice: str | None, language_code: str | None, fallback: str,
            supported: tuple[str, ...] | list[str]) -> str:
    """A person's locale: their stored choice > Telegram's language_code > community default."""
    if choice in supported:
        return choice  # type: ignore[return-value]
    return normalise(language_code, supported) or fallback


def is_rtl(locale: str) -> bool:
    return locale.split("_")[0] in RTL_LOCALES


def clean_user_text(text: str) -> str:
    """Strip direction-override and isolate characters so user text cannot reorder ours."""
    return text.translate(BIDI_CONTROLS).strip()


def language_name(locale: str, in_locale: str | None = None) -> str:
    """The language's name in its own script (the picker), or in `in_locale` ("written in …")."""
    loc = Locale.parse(locale)
    try:
        name = loc.get_display_name(Locale.parse(in_locale) if in_locale else loc) or locale
    except (ValueError, UnknownLocaleError):
        return locale
    return name if in_locale else name[:1].upper() + name[1:]


def local_name(obj: Any, locale: str) -> str:
    """What staff named (a community, a micro-grid) in the reader's language, else in the
    community's own: `obj.names` is keyed by locale (`en`, `zh_Hans`), matched by language too."""
    return in_locale(obj.name, getattr(obj, "names", None), locale)


@dataclass(frozen=True)
class Named:
    """Something staff or a proposer named, with its names in other languages (`|named` in templates)."""

    name: str
    names: dict[str, str] = field(default_factory=dict)


def in_locale(name: str, names: dict[str, str] | None, locale: str) -> str:
    """`name` as given, or its version in `names` for the reader's locale (or language): staff's
    name, else a machine name marked 🌐."""
    names = names or {}
    found = names.get(locale) or names.get(locale.split("_")[0])
    if found:
        return found
    machine = names.get(locale + "@mt")  # a machine name (bot.services.names), marked as such
    return f"🌐 {machine}" if machine else name
