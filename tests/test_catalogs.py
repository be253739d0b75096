"""Every shipped catalog is complete and safe to render: no missing or fuzzy entries, plural
forms right for the language, placeholders and HTML tags identical to the source, and every
template's strings extracted (the .pot is up to date)."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from babel import Locale
from babel.messages.pofile import read_po
from babel.messages.plurals import get_plural

from bot.config import ROOT
from bot.i18n import shipped_locales

LOCALES = ROOT / "locales"
PLACEHOLDER = re.compile(r"%\([a-z_]+\)[sd]|%%|\{[a-z_]+\}")
# A plural form may leave the number out where the language says it with the word itself
# (Arabic dual "صورتان", a singular "one photo" written "a photo"); the last form ("other") keeps it.
COUNT = {"%(count)s", "%(num)s", "%(count)d", "%(num)d"}
TAG = re.compile(r"</?[a-z]+[^>]*>")


def catalog(locale: str):
    with (LOCALES / locale / "LC_MESSAGES" / "messages.po").open("rb") as fh:
        return read_po(fh, locale=locale)


def test_ships_chinese_and_english():
    assert {"zh_Hans", "en"} <= set(shipped_locales(LOCALES))


@pytest.mark.parametrize("locale", shipped_locales(LOCALES))
def test_catalog_complete_and_consistent(locale: str):
    with (LOCALES / "messages.pot").open("rb") as fh:
        template_ids = {m.id for m in read_po(fh) if m.id}
    cat = catalog(locale)
    assert cat.num_plurals == get_plural(Locale.parse(locale)).num_plurals
    ids = set()
    problems = []
    for m in cat:
        if not m.id:
            continue
        ids.add(m.id)
        singular = m.id[0] if isinstance(m.id, tuple) else m.id
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        if "fuzzy" in m.flags or not all(strings):
            problems.append(f"missing/fuzzy: {singular!r}")
            continue
        plural = isinstance(m.id, tuple)
        for i, s in enumerate(strings):
            expected = set(PLACEHOLDER.findall(singular)) | (set(PLACEHOLDER.findall(m.id[1])) if plural else set())
            found = set(PLACEHOLDER.findall(s))
            if plural and i < len(strings) - 1:
                expected, found = expected - COUNT, found - COUNT
            if expected != found:
                problems.append(f"placeholders differ: {singular!r} -> {s!r}")
            if sorted(TAG.findall(singular)) != sorted(TAG.findall(s)):
                problems.append(f"tags differ: {singular!r} -> {s!r}")
    assert not problems, "\n".join(problems)
    assert template_ids <= ids, f"not in {locale}: {sorted(template_ids - ids)[:5]}"


def test_pot_is_up_to_date(tmp_path: Path):
    """Every translatable string in code and templates is in messages.pot."""
    from babel.messages.frontend import CommandLineInterface

    out = tmp_path / "fresh.pot"
    CommandLineInterface().run(["pybabel", "extract", "-F", str(ROOT / "babel.cfg"), "-o", str(out),
                                "--no-location", str(ROOT)])
    with out.open("rb") as fh:
        fresh = {m.id for m in read_po(fh) if m.id}
    with (LOCALES / "messages.pot").open("rb") as fh:
        committed = {m.id for m in read_po(fh) if m.id}
    assert fresh == committed, f"run the extract step in the README: {sorted(fresh ^ committed)[:5]}"


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="GNU gettext not installed")
@pytest.mark.parametrize("locale", shipped_locales(LOCALES))
def test_msgfmt_check(locale: str, tmp_path: Path):
    po = LOCALES / locale / "LC_MESSAGES" / "messages.po"
    result = subprocess.run(["msgfmt", "--check", "-o", str(tmp_path / "m.mo"), str(po)],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
