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
