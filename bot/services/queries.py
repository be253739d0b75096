"""Lookups shared by the services (read only, inside the caller's unit of work)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.cache import lookup
from storage.models import ChatBinding, ChatKind, Follower, Membership, Request, Role, User


async def bindings(s: AsyncSession, community_id: int, kind: ChatKind, grid_id: int | None = None) -> list[ChatBinding]:
    """The community's groups bound as `kind` (a grid's only, with `grid_id`); during an update,
    from the directory cache (`storage.cache`)."""
    async def load() -> list[ChatBinding]:  # built only when the cache has not got it
        q = select(ChatBinding).where(ChatBinding.community_id == community_id, ChatBinding.kind == kind)
        if grid_id is not None:
            q = q.where(ChatBinding.grid_id == grid_id)
        return list((await s.execute(q.order_by(ChatBinding.chat_id))).scalars())
    return await lookup(s, ("bindings", community_id, kind, grid_id), load)


_USERS = select(User).where(User.id.in_(bindparam("ids", expanding=True)))  # built once


async def users(s: AsyncSession, ids: list[int | None]) -> dict[int, User]:
    """People by id, in one query (those the session holds already are not read again)."""
    held = {i: s.sync_session.identity_map.get(s.sync_session.identity_key(User, i)) for i in set(ids) if i}
    missing = [i for i, user in held.items() if user is None]
    if missing:
        held.update({u.id: u for u in (await s.execute(_USERS, {"ids": missing})).scalars()})
    return {i: u for i, u in held.items() if u is not None}


async def members(s: AsyncSession, community_id: int, role: Role, grid_id: int | None = None) -> list[User]:
    """The people holding `role` in the community (in one grid, with `grid_id`)."""
    q = select(User).join(Membership, Membership.user_id == User.id).where(
        Membership.community_id == community_id, Membership.role == role)
    if grid_id is not None:
        q = q.where(Membership.grid_id == grid_id)
    return list((await s.execute(q.distinct())).scalars())


async def staff_reach(s: AsyncSession, community_id: int) -> tuple[list[ChatBinding], list[User]]:
    """Where staff are told: the staff group(s), else (no staff group) every staff member privately."""
    groups = await bindings(s, community_id, ChatKind.STAFF)
    return groups, [] if groups else await members(s, community_id, Role.STAFF)


def followers(request_id: Any) -> Any:
    """The ids of a request's followers (a subquery); `request_id` is an id or a bound parameter."""
    return select(Follower.user_id).where(Follower.request_id == request_id)


async def audience(s: AsyncSession, req: Request) -> list[User]:
    """Who hears about a request's outcome: its requester, then its followers (one query; a move
    has them in `View.audience` already)."""
    people = (await s.execute(select(User).where((User.id == req.requester_id) | User.id.in_(followers(req.id)))
                              .order_by(User.id != req.requester_id, User.id))).scalars()
    return list(people)
