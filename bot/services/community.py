"""Communities, micro-grids, invitations, roles and group bindings."""
from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import policy
from bot.errors import BadInput, Conflict, NotAllowed, NotFound
from bot.services.context import Actor, memberships_of
from storage.cache import lookup
from storage.db import Database, locked
from storage.models import (AuditEvent, ChatBinding, ChatKind, Community, Convention, Grid, Invitation,
                            Membership, Role, User, utcnow)

DEFAULT_SETTINGS = {
    "triage_hours": 24,
    "claim_remind_hours": 12,
    "claim_staff_hours": 24,
    "done_remind_hours": 72,
    "dept_remind_hours": 24,
    "signoff_remind_hours": 24,
    "signoff_close_hours": 72,
    "order_remind_before_hours": 24,  # an ordered service's provider is reminded this long before its slot
    "vote_hours": 72,  # a proposal's default voting time
    "vote_quorum_pct": 50,  # quorum as a share of eligible council members
    "categories": ["repair", "sanitation", "safety", "care", "dispute", "errand", "wish",
                   "public", "other"],
    # Community time. Due dates people are given (a department's due date, a vote's close) fall
    # inside working hours; reminders and other timed notices wait out the quiet hours, except
    # for urgent categories.
    "working_hours": "08:30-17:30",
    "quiet_hours": "21:00-08:00",
    "urgent_categories": ["safety"],
}
CATEGORY_NAMES = "category_names"  # settings: {code: {"name": as staff added it, "names": {locale: name}}}
MAX_CATEGORIES = 20  # offered at once: intake shows them as buttons
STAFF_LINK_HOURS = 24  # a staff link is single-use and short-lived
INVITABLE = (Role.RESIDENT, Role.GRID_LEADER, Role.VOLUNTEER, Role.COUNCIL_MEMBER, Role.STAFF, Role.LIAISON)


@dataclass
class Joined:
    community: Community
    membership: Membership
    needs_grid: bool


def settings_of(community: Community) -> dict:
    return {**DEFAULT_SETTINGS, **(community.settings or {})}


@dataclass(frozen=True, eq=False)
class Category:
    """A category of requests as readers see it. A built-in category (`name` None) is named by the
    catalogs (`cat_<code>` in labels.j2); one staff added has the name they gave it, in the
    community's language. `names`: staff's names in other languages, and machine names
    (`"<locale>@mt"`, bot.services.names). Rendered in one place: `Renderer.category_label`."""

    code: str
    name: str | None = None
    names: dict[str, str] = field(default_factory=dict)
    offered: bool = True


@dataclass(frozen=True)
class Missing:
    """Something staff named that has no name of theirs in a language yet; `machine`: the
    machine's name in it, shown for staff to check."""

    name: str
    machine: str | None = None


def _category_entries(community: Community | None) -> dict[str, dict]:
    return dict(settings_of(community).get(CATEGORY_NAMES) or {}) if community is not None else {}


def category_of(community: Community | None, code: str | None) -> Category:
    """A category of this community by its code (offered now or not: old requests keep theirs)."""
    entry = _category_entries(community).get(code or "") or {}
    offered = community is not None and code in settings_of(community)["categories"]
    return Category(code or "", entry.get("name"), dict(entry.get("names") or {}), offered)


def categories_of(community: Community | None) -> list[Category]:
    """The categories offered for new requests, in the community's order."""
    if community is None:
        return []
    return [category_of(community, code) for code in settings_of(community)["categories"]]


def category_numbers(community: Community | None) -> list[str]:
    """Every category code the community has had, in an order that only grows (the built-in ones,
    then those staff added, then any other offered): a button carries a code's position here, so
    a category removed or added meanwhile never shifts a press onto another one."""
    if community is None:
        return []
    known = [*DEFAULT_SETTINGS["categories"], *_category_entries(community), *settings_of(community)["categories"]]
    return list(dict.fromkeys(known))


def offered_category(community: Community | None, number: int) -> str | None:
    """The code a button's category number stands for, if that category is offered now."""
    known = category_numbers(community)
    code = known[number] if 0 <= number < len(known) else None
    return code if code is not None and code in settings_of(community)["categories"] else None


def by_category(community: Community, counts: dict[str | None, int]) -> list[tuple[str, int]]:
    """Requests counted by category code, in the community's order, then categories since removed
    (they keep their names), then those with none yet ("unset"); only the ones counted."""
    rows = dict(counts)
    out = [(cat, int(rows.pop(cat, 0) or 0)) for cat in settings_of(community)["categories"]]
    unset = int(rows.pop(None, 0) or 0) + int(rows.pop("", 0) or 0)
    out += sorted((str(cat), int(n)) for cat, n in rows.items())
    out.append(("unset", unset))
    return [(cat, n) for cat, n in out if n]


def _new_category_code(name: str, taken: set[str]) -> str:
    """A short code for a category staff add: its Latin letters ("parking"), else c1, c2, …
    Never one used before, so requests filed under a removed category keep theirs."""
    slug = re.sub(r"[^a-z0-9]", "", name.lower())[:12]
    if len(slug) >= 3 and not slug[0].isdigit() and slug not in taken:
        return slug
    n = 1
    while f"c{n}" in taken:
        n += 1
    return f"c{n}"


def _span(text: str) -> tuple[time, time]:
    start, _, end = text.partition("-")
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())


def _local(community: Community, at: datetime) -> datetime:
    aware = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
    return aware.astimezone(ZoneInfo(community.timezone))


def _back(community: Community, at: datetime, local: datetime) -> datetime:
    out = local.astimezone(timezone.utc)
    return out if at.tzinfo else out.replace(tzinfo=None)


def in_working_hours(community: Community, at: datetime) -> datetime:
    """`at`, or the start of the next working hours (community time) if it falls outside them."""
    start, end = _span(settings_of(community)["working_hours"])
    local = _local(community, at)
    if start <= local.time() < end:
        return at
    day = local.date() if local.time() < start else local.date() + timedelta(days=1)
    return _back(community, at, datetime.combine(day, start, tzinfo=local.tzinfo))


def after_quiet_hours(community: Community, at: datetime, category: str | None = None) -> datetime:
    """`at`, or the end of the quiet hours it falls in (not for urgent categories)."""
    settings = settings_of(community)
    if category in settings["urgent_categories"]:
        return at
    start, end = _span(settings["quiet_hours"])
    local = _local(community, at)
    t = local.time()
    quiet = (start <= t or t < end) if start > end else (start <= t < end)
    if not quiet:
        return at
    day = local.date() if t < end else local.date() + timedelta(days=1)
    return _back(community, at, datetime.combine(day, end, tzinfo=local.tzinfo))


def _code_from(name: str) -> str:
    letters = re.sub(r"[^A-Za-z]", "", name).upper()
    return (letters[:3] or "GZ")


async def find_community(s: AsyncSession, ref: str) -> Community:
    """By name, code or id, as typed on the command line."""
    cond = [Community.name == ref, func.upper(Community.code) == ref.upper()]
    if ref.isdigit():
        cond.append(Community.id == int(ref))
    found = (await s.execute(select(Community).where(or_(*cond)))).scalars().first()
    if found is None:
        raise NotFound("community_not_found", ref=ref)
    return found


async def find_grid(s: AsyncSession, community_id: int, name: str) -> Grid:
    grid = (await s.execute(select(Grid).where(Grid.community_id == community_id,
                                               func.lower(Grid.name) == name.strip().lower()))).scalars().first()
    if grid is None:
        raise NotFound("grid_not_found", name=name)
    return grid


async def grids_of(s: AsyncSession, community_id: int) -> list[Grid]:
    """The community's grids, in the order they were made; during an update, from the directory
    cache (`storage.cache`: read-only copies)."""
    async def load() -> list[Grid]:
        return list((await s.execute(select(Grid).where(Grid.community_id == community_id)
                                     .order_by(Grid.id))).scalars())
    return await lookup(s, ("grids", community_id), load)


def audit(s: AsyncSession, *, community_id: int | None, actor_id: int | None, entity: str,
          entity_id: int, action: str, from_state: str | None = None, to_state: str | None = None,
          note: str | None = None, public: bool = False) -> None:
    """An audit row. Its note is restricted unless `public` (bot.policy.Audience)."""
    s.add(AuditEvent(community_id=community_id, actor_id=actor_id, entity=entity, entity_id=entity_id,
                     action=action, from_state=from_state, to_state=to_state, note=note,
                     audience="public" if public else "restricted"))


MAX_NAME = 64  # a name in another language: a button label, kept short
MAX_TITLE_NAME = 120  # a convention's title in another language


def _unnamed(names: dict[str, str], locale: str, own: str) -> bool:
    """No name of staff's in `locale` (a machine name counts as missing: staff are to check it)."""
    return locale.split("_")[0] != own.split("_")[0] and locale not in names and locale.split("_")[0] not in names


class CommunityService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, name: str, *, admin_id: int, code: str | None = None,
                     locale: str = "zh_Hans", timezone: str = "Asia/Shanghai") -> tuple[Community, str]:
        """Create a community with `admin_id` as staff; returns it and a one-time staff invite."""
        name = name.strip()
        if not name:
            raise BadInput("name_required")
        async with self.db.write() as s:
            if (await s.execute(select(Community).where(Community.name == name))).first():
                raise Conflict("community_exists", name=name)
            code = (code or _code_from(name)).upper()[:8]
            base, n = code, 1
            while (await s.execute(select(Community).where(Community.code == code))).first():
                n += 1
                code = f"{base[:6]}{n}"
            community = Community(name=name, code=code, locale=locale, timezone=timezone,
                                  settings=dict(DEFAULT_SETTINGS))
            s.add(community)
            await s.flush()
            if await s.get(User, admin_id) is None:
                s.add(User(id=admin_id, community_id=community.id))
            s.add(Membership(user_id=admin_id, community_id=community.id, role=Role.STAFF))
            # The named admin is staff already; the link only lets them say hello from Telegram, and
            # it admits no one else.
            token = self._new_invite(s, community.id, Role.STAFF, None, None, admin_id, uses=1,
                                     hours=STAFF_LINK_HOURS, for_user_id=admin_id)
            audit(s, community_id=community.id, actor_id=admin_id, entity="community",
                  entity_id=community.id, action="created")
        return community, token

    async def add_grids(self, ref: str, names: list[str]) -> list[Grid]:
        async with self.db.write() as s:
            community = await find_community(s, ref)
            existing = {g.name.lower() for g in await grids_of(s, community.id)}
            added = []
            for name in (n.strip() for n in names):
                if name and name.lower() not in existing:
                    grid = Grid(community_id=community.id, name=name)
                    s.add(grid)
                    added.append(grid)
                    existing.add(name.lower())
            await s.flush()
        return added

    async def _set_name(self, s: AsyncSession, community: Community, kind: str, target: str | None,
                        locale: str, text: str, actor_id: int | None) -> Community | Grid:
        text = text.strip()
        if not text or len(text) > MAX_NAME:
            raise BadInput("name_too_long", limit=MAX_NAME)
        if kind == "department":
            known = await s.execute(select(Membership.id).where(Membership.community_id == community.id,
                                                                 Membership.department == target))
            if not target or known.first() is None:
                raise NotFound("department_not_found", name=target or "")
            names = dict(community.department_names or {})
            names[target] = {**names.get(target, {}), locale: text}
            community.department_names = names  # a new dict: JSON columns track assignment
            audit(s, community_id=community.id, actor_id=actor_id, entity=kind, entity_id=community.id or 0,
                  action="named", note=f"{target}: {locale}={text}")
            return community
        if kind == "category":
            return self._name_category(s, community, target or "", locale, text, actor_id)
        obj: Community | Grid = community if kind == "community" else await find_grid(s, community.id, target or "")
        obj.names = {**(obj.names or {}), locale: text}  # a new dict: JSON columns track assignment
        audit(s, community_id=community.id, actor_id=actor_id, entity=kind, entity_id=obj.id or 0,
              action="named", note=f"{locale}={text}")
        return obj

    async def set_name(self, ref: str | Actor, kind: str, target: str | None, locale: str, text: str) -> Community | Grid:
        """A name in another language for the community (`kind="community"`) or one of its
        micro-grids (`kind="grid"`, `target` its name). From the CLI `ref` is the community's name,
        code or id; in the bot it is the acting staff member."""
        assert kind in ("community", "grid", "department", "category"), kind  # the handler and the CLI pass one of these
        async with self.db.write() as s:
            community, actor_id = await self._staff_community(s, ref, policy.may_name)
            return await self._set_name(s, community, kind, target, locale, text, actor_id)

    @staticmethod
    async def _staff_community(s: AsyncSession, ref: str | Actor, rule=policy.may_manage_categories,
                               ) -> tuple[Community, int | None]:
        """The community to change, locked (its names and settings are JSON maps: one writer at a
        time): from the CLI by name, code or id; in the bot the acting staff member's own, if
        `rule` (bot.policy) lets them."""
        if isinstance(ref, Actor):
            if ref.community is None or not rule(ref.memberships, ref.community.id):
                raise NotAllowed("staff_only")
            community = await locked(s, Community, ref.community.id)
            assert community is not None
            return community, ref.id
        community = await locked(s, Community, (await find_community(s, ref)).id)
        assert community is not None
        return community, None

    # ---------------------------------------------------------- categories staff add (#16)
    @staticmethod
    def _name_category(s: AsyncSession, community: Community, code: str, locale: str, text: str,
                       actor_id: int | None) -> Community:
        entries = _category_entries(community)
        code = code.strip().lower()
        if code not in entries and code not in settings_of(community)["categories"]:
            raise NotFound("category_not_found", category=code)
        entry = dict(entries.get(code) or {})
        entry["names"] = {**(entry.get("names") or {}), locale: text}
        entries[code] = entry
        community.settings = {**(community.settings or {}), CATEGORY_NAMES: entries}  # a new dict: JSON change seen
        s.add(community)
        audit(s, community_id=community.id, actor_id=actor_id, entity="category", entity_id=community.id or 0,
              action="named", note=f"{code}: {locale}={text}")
        return community

    async def add_category(self, ref: str | Actor, name: str, names: dict[str, str] | None = None) -> Category:
        """A category staff add, named in the community's language; a code is made for it. Adding
        again the name of one they removed offers that one again (with its code and names)."""
        name = " ".join(name.split())
        if not name:
            raise BadInput("category_usage")
        if len(name) > MAX_NAME or any(not t.strip() or len(t.strip()) > MAX_NAME for t in (names or {}).values()):
            raise BadInput("name_too_long", limit=MAX_NAME)
        async with self.db.write() as s:
            community, actor_id = await self._staff_community(s, ref)
            settings = settings_of(community)
            offered, entries = list(settings["categories"]), _category_entries(community)
            same = next((code for code, e in entries.items() if (e.get("name") or "").lower() == name.lower()), None)
            if same in offered:
                raise Conflict("category_exists", name=name, category=same)
            if len(offered) >= MAX_CATEGORIES:
                raise BadInput("too_many_categories", limit=MAX_CATEGORIES)
            code = same or _new_category_code(name, set(entries) | set(DEFAULT_SETTINGS["categories"])
                                              | set(offered) | {"unset"})
            entry = dict(entries.get(code) or {"name": name})
            entry["names"] = {**(entry.get("names") or {}), **{k: v.strip() for k, v in (names or {}).items()}}
            entries[code] = entry
            community.settings = {**(community.settings or {}), "categories": offered + [code],
                                  CATEGORY_NAMES: entries}  # a new dict: JSON change seen
            s.add(community)
            audit(s, community_id=community.id, actor_id=actor_id, entity="category", entity_id=community.id or 0,
                  action="added", note=f"{code}={name}")
            return category_of(community, code)

    async def remove_category(self, ref: str | Actor, code: str) -> Category:
        """Stop offering a category for new requests; requests filed under it keep it (and its names)."""
        code = code.strip().lower()
        async with self.db.write() as s:
            community, actor_id = await self._staff_community(s, ref)
            offered = list(settings_of(community)["categories"])
            if code not in offered:
                raise NotFound("category_not_found", category=code)
            offered.remove(code)
            community.settings = {**(community.settings or {}), "categories": offered}  # a new dict: JSON change seen
            s.add(community)
            audit(s, community_id=community.id, actor_id=actor_id, entity="category", entity_id=community.id or 0,
                  action="removed", note=code)
            return category_of(community, code)

    async def categories(self, ref: str | Actor, locales: tuple[str, ...]) -> tuple[Community, list[tuple[Category, list[str]]]]:
        """The categories offered, each with the languages a category staff added has no name of
        theirs in yet (built-in ones are named by the catalogs). Staff only in the bot."""
        async with self.db.read() as s:
            if isinstance(ref, Actor):
                if ref.community is None or not policy.may_manage_categories(ref.memberships, ref.community.id):
                    raise NotAllowed("staff_only")
                community = await s.get(Community, ref.community.id)
                assert community is not None
            else:
                community = await find_community(s, ref)
        return community, [(cat, [loc for loc in locales if cat.name is not None
                                   and _unnamed(cat.names, loc, community.locale)]) for cat in categories_of(community)]

    async def name_convention(self, ref: str | Actor, number: int, locale: str, title: str) -> Convention:
        """A convention's title in another language; `number` as /conventions lists it (1, 2, …)."""
        title = " ".join(title.split())
        if not title or len(title) > MAX_TITLE_NAME:
            raise BadInput("name_too_long", limit=MAX_TITLE_NAME)
        async with self.db.write() as s:
            community, actor_id = await self._staff_community(s, ref, policy.may_name)
            found = list((await s.execute(select(Convention).where(Convention.community_id == community.id)
                                          .order_by(Convention.adopted_at))).scalars())
            if not 1 <= number <= len(found):
                raise NotFound("convention_not_found", number=number)
            convention = await locked(s, Convention, found[number - 1].id)
            assert convention is not None
            convention.names = {**(convention.names or {}), locale: title}  # a new dict: JSON change seen
            s.add(convention)
            audit(s, community_id=community.id, actor_id=actor_id, entity="convention",
                  entity_id=convention.id or 0, action="named", note=f"{locale}={title}")
            return convention

    async def missing_names(self, actor: Actor, locales: tuple[str, ...]) -> list[tuple[str, list[Missing]]]:
        """Per shipped language, what staff named that has no name of theirs in it yet: the
        community, its micro-grids, departments and the categories staff added."""
        if actor.community is None or not policy.may_name(actor.memberships, actor.community.id):
            raise NotAllowed("staff_only")
        async with self.db.read() as s:
            community = await s.get(Community, actor.community.id)
            assert community is not None
            named = [(o.name, o.names or {}) for o in (community, *await grids_of(s, community.id))]
            departments = (await s.execute(select(Membership.department).where(
                Membership.community_id == community.id, Membership.department.is_not(None)).distinct())).scalars()
            named += [(d, (community.department_names or {}).get(d, {})) for d in sorted(departments)]
        named += [(cat.name, cat.names) for cat in categories_of(community) if cat.name is not None]
        own = community.locale
        # A machine name (bot.services.names) is shown for staff to check: it counts as missing.
        return [(loc, [Missing(name, names.get(loc + "@mt")) for name, names in named if loc not in names])
                for loc in locales if loc != own]

    async def list_grids(self, ref: str) -> tuple[Community, list[Grid]]:
        async with self.db.read() as s:
            community = await find_community(s, ref)
            return community, await grids_of(s, community.id)

    @staticmethod
    def _new_invite(s: AsyncSession, community_id: int, role: str, grid_id: int | None,
                    department: str | None, by: int | None, *, uses: int, hours: int,
                    for_user_id: int | None = None, partner_id: int | None = None) -> str:
        token = secrets.token_urlsafe(12)
        s.add(Invitation(token=token, community_id=community_id, role=role, grid_id=grid_id,
                         department=department, created_by=by, uses_left=uses, for_user_id=for_user_id,
                         partner_id=partner_id, expires_at=utcnow() + timedelta(hours=hours)))
        return token

    async def invite(self, actor: Actor, role: str, target: str | None) -> tuple[str, str, str | None, int | None]:
        """Staff make an invite link. `target` is the grid (leader, resident) or department (liaison);
        for the roles without one (staff, volunteer, council member) a Telegram id there binds the
        link to that person.

        Resident links are reusable (posted in a group); role links are one-time; staff links also
        expire within a day. Returns the token, the role, the target and the bound id.
        """
        if actor.community is None or not policy.may_invite(actor.memberships, actor.community.id):
            raise NotAllowed("staff_only")
        if role not in INVITABLE:
            raise BadInput("unknown_role", role=role)
        async with self.db.write() as s:
            grid_id = department = None
            if role == Role.GRID_LEADER and not target:
                raise BadInput("grid_required")
            if target and role in (Role.GRID_LEADER, Role.RESIDENT):
                grid_id = (await find_grid(s, actor.community.id, target)).id
            if role == Role.LIAISON:
                if not target:
                    raise BadInput("department_required")
                department = target.strip()[:64]
            for_user_id = None
            if target and role in (Role.STAFF, Role.VOLUNTEER, Role.COUNCIL_MEMBER):
                if not target.strip().isdigit():
                    raise BadInput("invite_for_id")
                for_user_id, target = int(target.strip()), None
            uses = 1000 if role == Role.RESIDENT else 1
            hours = {Role.RESIDENT: 30 * 24, Role.STAFF: STAFF_LINK_HOURS}.get(role, 7 * 24)
            token = self._new_invite(s, actor.community.id, role, grid_id, department, actor.id,
                                     uses=uses, hours=hours, for_user_id=for_user_id)
        return token, role, target, for_user_id

    async def accept_invite(self, user_id: int, token: str) -> Joined:
        async with self.db.write() as s:
            inv = await locked(s, Invitation, token)  # its uses are counted one at a time
            if inv is None:
                raise NotFound("invite_invalid")
            if inv.expires_at and inv.expires_at < utcnow():
                raise BadInput("invite_expired")
            if inv.uses_left <= 0:
                raise BadInput("invite_used")
            if not policy.may_use_invitation(user_id, inv.for_user_id):
                raise NotAllowed("invite_not_yours")
            community = await s.get(Community, inv.community_id)
            assert community is not None
            membership = await self._grant(s, user_id, community.id, inv.role, inv.grid_id, inv.department,
                                           inv.partner_id)
            inv.uses_left -= 1
            s.add(inv)
            user = await s.get(User, user_id)
            assert user is not None
            user.community_id = community.id
            s.add(user)
            audit(s, community_id=community.id, actor_id=user_id, entity="membership",
                  entity_id=membership.id or 0, action="invite_accepted", to_state=inv.role)
            needs_grid = inv.role == Role.RESIDENT and membership.grid_id is None
        return Joined(community, membership, needs_grid)

    @staticmethod
    async def _grant(s: AsyncSession, user_id: int, community_id: int, role: str,
                     grid_id: int | None, department: str | None = None,
                     partner_id: int | None = None) -> Membership:
        existing = (await s.execute(select(Membership).where(
            Membership.user_id == user_id, Membership.community_id == community_id,
            Membership.role == role))).scalars().all()
        same = next((m for m in existing if (m.grid_id == grid_id and m.partner_id == partner_id)
                     or (role == Role.RESIDENT)), None)
        if same is not None:
            if role == Role.RESIDENT and grid_id and same.grid_id != grid_id:
                same.grid_id = grid_id
                s.add(same)
            return same
        m = Membership(user_id=user_id, community_id=community_id, role=role, grid_id=grid_id,
                       department=department, partner_id=partner_id)
        s.add(m)
        await s.flush()
        return m

    async def join_as_resident(self, user_id: int, community_id: int) -> Joined:
        """A person who uses the bot in a bound group becomes a resident of that community."""
        async with self.db.write() as s:
            community = await s.get(Community, community_id)
            if community is None:
                raise NotFound("community_not_found", ref=str(community_id))
            m = await self._grant(s, user_id, community_id, Role.RESIDENT, None)
            user = await s.get(User, user_id)
            if user is not None and user.community_id is None:
                user.community_id = community_id
                s.add(user)
        return Joined(community, m, m.grid_id is None)

    async def set_quiet_feed(self, actor: Actor, on: bool) -> Community:
        """Quiet feed: the staff group gets one message per request, edited as it moves, instead of
        a line per change. Staff of the community only (in its staff group or in private)."""
        if actor.community is None:
            raise NotAllowed("no_community")
        async with self.db.write() as s:
            community = await locked(s, Community, actor.community.id)
            assert community is not None
            if not policy.is_staff(await memberships_of(s, actor.id, community.id), community.id):
                raise NotAllowed("staff_only")
            community.settings = {**(community.settings or {}), "quiet_feed": on}  # a new dict: JSON change seen
            s.add(community)
            audit(s, community_id=community.id, actor_id=actor.id, entity="community", entity_id=community.id or 0,
                  action="quiet_feed", note="on" if on else "off")
            return community

    async def set_grid(self, actor: Actor, grid_id: int) -> Grid:
        if actor.community is None:
            raise NotAllowed("no_community")
        async with self.db.write() as s:
            grid = await s.get(Grid, grid_id)
            if grid is None or grid.community_id != actor.community.id:
                raise NotFound("grid_not_found", name=str(grid_id))
            await self._grant(s, actor.id, grid.community_id, Role.RESIDENT, grid.id)
        return grid

    async def grids(self, community_id: int) -> list[Grid]:
        async with self.db.read() as s:
            return await grids_of(s, community_id)

    async def bind(self, actor: Actor, *, chat_id: int, title: str, kind: str,
                   grid_name: str | None, locale: str) -> ChatBinding:
        """Bind a group to the actor's community. The caller has checked the Telegram admin right."""
        # The handler checked the Telegram admin right (`bot.filters.ConfiguresGroup`).
        if actor.community is None or not policy.may_configure_group(actor.memberships, actor.community.id,
                                                                     group_admin=True):
            raise NotAllowed("staff_only")
        if kind not in set(ChatKind):
            raise BadInput("bind_usage")
        async with self.db.write() as s:
            grid_id = None
            if kind == ChatKind.GRID:
                if not grid_name:
                    raise BadInput("grid_required")
                grid_id = (await find_grid(s, actor.community.id, grid_name)).id
            binding = await s.get(ChatBinding, chat_id) or ChatBinding(chat_id=chat_id, community_id=actor.community.id, kind=kind)
            binding.community_id, binding.kind, binding.grid_id = actor.community.id, kind, grid_id
            binding.title, binding.locale = title[:128], locale
            s.add(binding)
            audit(s, community_id=actor.community.id, actor_id=actor.id, entity="chat",
                  entity_id=chat_id, action="bound", to_state=kind, note=grid_name)
        return binding

    @staticmethod
    async def _own_binding(s: AsyncSession, actor: Actor, chat_id: int) -> ChatBinding:
        """The group's binding, for staff of the community it is bound to."""
        if not policy.is_staff(actor.memberships, actor.community.id if actor.community else None):
            raise NotAllowed("staff_only")
        binding = await s.get(ChatBinding, chat_id)
        if binding is None or actor.community is None or binding.community_id != actor.community.id:
            raise NotFound("not_bound")
        return binding

    async def unbind(self, actor: Actor, chat_id: int) -> None:
        async with self.db.write() as s:
            binding = await self._own_binding(s, actor, chat_id)
            await s.delete(binding)
            audit(s, community_id=binding.community_id, actor_id=actor.id, entity="chat",
                  entity_id=chat_id, action="unbound", from_state=binding.kind)

    async def set_group_locale(self, actor: Actor, chat_id: int, locale: str, secondary: str | None = None) -> None:
        async with self.db.write() as s:
            binding = await self._own_binding(s, actor, chat_id)
            binding.locale, binding.secondary_locale = locale, secondary if secondary != locale else None
            s.add(binding)

