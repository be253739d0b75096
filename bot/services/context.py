"""Who is acting, where: the per-update context services take instead of Telegram objects."""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import resolve
from storage.cache import lookup, row
from storage.models import ChatBinding, Community, Membership, Role, User


@dataclass
class Actor:
    user: User
    locale: str
    community: Community | None = None
    memberships: list[Membership] = field(default_factory=list)
    binding: ChatBinding | None = None  # the group this update came from, if bound

    @property
    def id(self) -> int:
        return self.user.id

    # For what a screen shows (the help's sections); permissions are `bot.policy`'s rules.
    def has(self, role: Role, grid_id: int | None = None) -> bool:
        return any(m.role == role and (grid_id is None or m.grid_id == grid_id) for m in self.memberships)

    @property
    def is_staff(self) -> bool:
        return self.has(Role.STAFF)

    @property
    def grid_id(self) -> int | None:
        """The resident's own micro-grid (set when they joined)."""
        return next((m.grid_id for m in self.memberships if m.role == Role.RESIDENT and m.grid_id), None)


async def memberships_of(s: AsyncSession, user_id: int, community_id: int) -> list[Membership]:
    """A person's roles in one community; during an update, from the directory cache, which the
    update synced with the database as it began (`storage.cache`)."""
    async def load() -> list[Membership]:
        return list((await s.execute(_MEMBERSHIPS, {"user": user_id, "community": community_id})).scalars())
    return await lookup(s, ("memberships", user_id, community_id), load)


_MEMBERSHIPS = select(Membership).where(Membership.user_id == bindparam("user"),
                                        Membership.community_id == bindparam("community")).order_by(Membership.id)


async def load_actor(s: AsyncSession, user: User, chat_id: int, default_locale: str,
                     supported: tuple[str, ...]) -> Actor:
    """The community is the bound group's, else the user's current one; during an update, from
    the directory cache (`storage.cache`)."""
    binding = await row(s, ChatBinding, chat_id) if chat_id < 0 else None
    community_id = binding.community_id if binding else user.community_id
    community = await row(s, Community, community_id) if community_id else None
    memberships = await memberships_of(s, user.id, community.id) if community else []
    fallback = community.locale if community else default_locale
    locale = resolve(user.locale, user.language_code, fallback, supported)
    return Actor(user=user, locale=locale, community=community, memberships=memberships, binding=binding)


def system_actor(community: Community | None = None) -> Actor:
    """The scheduler or the council acting on its own (reminders, auto-closing, outcomes): audit
    rows show no person."""
    return Actor(user=User(id=0, first_name=""), locale=community.locale if community else "",
                 community=community)
