"""Names in other languages by machine (#16): with a translation provider set (`TRANSLATE_URL`),
what staff named — the community, its micro-grids, partners, services, the categories staff added
(kept in the community's settings, `bot.services.community.CATEGORY_NAMES`), the conventions' titles
and texts (`Convention.names`, `Convention.text_names`) — gets a machine name in each
shipped language that has none, once, stored beside the names staff give as `"<locale>@mt"`. Readers
see it marked 🌐 (`bot.i18n.in_locale`) until staff give a name of their own (`/name`), which then
wins; `/name` lists machine names for staff to check."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.services.language import Translator
from storage.db import Database, locked
from bot.services.community import CATEGORY_NAMES, categories_of, category_of
from bot.services.language import detect
from storage.models import Community, Convention, Grid, Partner, Service

MACHINE = "@mt"  # suffix of a machine name's key: {"en@mt": "Grid 1"}


def unnamed_in(names: dict[str, str] | None, locale: str, own: str) -> bool:
    """No name in `locale` yet, from staff or by machine (the community's own language needs none)."""
    names = names or {}
    lang = locale.split("_")[0]
    return lang != own.split("_")[0] and not {locale, lang, locale + MACHINE} & set(names)


async def machine_names(db: Database, translator: Translator, locales: tuple[str, ...], batch: int = 200) -> int:
    """Translate the names still missing in some language; returns how many were added. Failed
    translations are tried again at the next sweep (a name nobody could translate stays as given)."""
    if not translator.enabled:
        return 0
    added = 0
    async with db.read() as s:
        communities = {c.id: c for c in (await s.execute(select(Community))).scalars()}
        todo: list[tuple[type, int, str, str, str]] = []
        for model in (Community, Grid, Partner, Service):
            for obj in (await s.execute(select(model))).scalars():
                c = obj if isinstance(obj, Community) else communities.get(obj.community_id)
                if c is None:
                    continue
                todo += [(model, obj.id, obj.name, c.locale, loc) for loc in locales
                         if unnamed_in(obj.names, loc, c.locale)]
        cats = [(c.id, cat.code, cat.name, c.locale, loc) for c in communities.values()
                for cat in categories_of(c) if cat.name is not None
                for loc in locales if unnamed_in(cat.names, loc, c.locale)]
        conventions = [(v.id, v.title, v.text, own, loc)
                       for v in (await s.execute(select(Convention))).scalars()
                       if (c := communities.get(v.community_id)) is not None
                       for own in [detect(v.text) or c.locale]  # the language it was written in
                       for loc in locales if unnamed_in(v.names, loc, own)]
    for cid, code, name, own, loc in cats[:batch]:
        added += await _category_name(db, translator, cid, code, name, own, loc)
    for vid, title, text, own, loc in conventions[:batch]:
        added += await _convention(db, translator, vid, title, text, own, loc)
    for model, oid, name, own, loc in todo[:max(0, batch - len(cats) - len(conventions))]:
        text = await translator.translate(name, own.split("_")[0], loc)
        if not text:
            continue
        async with db.write() as s:
            obj: Any = await locked(s, model, oid)  # one writer: staff's /name at the same moment wins
            if obj is None or obj.name != name or not unnamed_in(obj.names, loc, own):
                continue  # renamed or named meanwhile: staff's word wins
            obj.names = {**(obj.names or {}), loc + MACHINE: text.strip()[:64]}  # a new dict: JSON tracks assignment
            s.add(obj)
            added += 1
    return added


async def _category_name(db: Database, translator: Translator, community_id: int, code: str, name: str,
                         own: str, loc: str) -> int:
    """A machine name for a category staff added, beside their names in the community's settings."""
    text = await translator.translate(name, own.split("_")[0], loc)
    if not text:
        return 0
    async with db.write() as s:
        c = await locked(s, Community, community_id)  # one writer: staff's /name at the same moment wins
        cat = category_of(c, code)
        if c is None or cat.name != name or not unnamed_in(cat.names, loc, own):
            return 0  # renamed or named meanwhile: staff's word wins
        entries = dict((c.settings or {}).get(CATEGORY_NAMES) or {})
        entries[code] = {**entries.get(code, {}), "names": {**cat.names, loc + MACHINE: text.strip()[:64]}}
        c.settings = {**(c.settings or {}), CATEGORY_NAMES: entries}  # a new dict: JSON tracks assignment
        s.add(c)
        return 1


async def _convention(db: Database, translator: Translator, convention_id: int, title: str, text: str,
                      own: str, loc: str) -> int:
    """A convention's title and text by machine, in one language (both, or neither)."""
    source = own.split("_")[0]
    done = [await translator.translate(t, source, loc) for t in (title, text)]
    if not all(done):
        return 0
    async with db.write() as s:
        v = await locked(s, Convention, convention_id)
        if v is None or v.title != title or not unnamed_in(v.names, loc, own):
            return 0  # named meanwhile: staff's word wins
        v.names = {**(v.names or {}), loc + MACHINE: (done[0] or "").strip()[:120]}  # new dicts: JSON tracks assignment
        v.text_names = {**(v.text_names or {}), loc + MACHINE: (done[1] or "").strip()}
        s.add(v)
        return 1
