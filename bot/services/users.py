"""People as Telegram shows them, and their language choice."""
from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import User


def changes_for(user: User | None, *, first_name: str, last_name: str | None,
                username: str | None, language_code: str | None, private: bool) -> dict[str, object]:
    """What Telegram tells us that we do not have yet. Any update in a private chat means the
    user has started the bot and has not blocked it."""
    seen: dict[str, object] = {"first_name": first_name, "last_name": last_name, "username": username}
    if language_code:
        seen["language_code"] = language_code
    if private:
        seen.update(started=True, blocked=False)
    if user is None:
        return seen
    return {k: v for k, v in seen.items() if getattr(user, k) != v}


async def upsert(s: AsyncSession, user_id: int, changes: dict[str, object]) -> User:
    user = await s.get(User, user_id) or User(id=user_id)
    for k, v in changes.items():
        setattr(user, k, v)
    s.add(user)
    return user


async def set_locale(db: Database, user_id: int, locale: str) -> None:
    async with db.write() as s:
        user = await s.get(User, user_id)
        if user is not None:
            user.locale = locale
            s.add(user)
