"""A group that becomes a supergroup gets a new chat id (Telegram's `migrate_to_chat_id` in the
old chat, `migrate_from_chat_id` in the new one; either may arrive first, or both, or again).

What was the old group's follows it: its binding (kind, grid, languages), the requests filed
there (their group fallback), what is still waiting to be sent, and the posts people act on
— an open triage card and an unclaimed task post are posted again in the new group with their
buttons, and the old posts are no longer edited (the old chat is read-only).
"""
from __future__ import annotations

from sqlalchemy import delete, select, update

from bot.services.requests import RequestService, claim_buttons, triage_buttons
from storage.models import ChatBinding, Outbox, Request, Status


async def chat_migrated(requests: RequestService, old: int, new: int) -> bool:
    """Move everything of chat `old` to chat `new`. Returns whether anything moved."""
    if not old or not new or old == new:
        return False
    notifier = requests.notifier
    async with requests.db.write() as s:
        binding = await s.get(ChatBinding, old)
        if binding is None or await s.get(ChatBinding, new) is not None:
            return False  # not ours, or moved already
        moved = ChatBinding(**{**binding.model_dump(), "chat_id": new})
        await s.delete(binding)
        await s.flush()
        s.add(moved)
        await s.execute(update(Request).where(Request.source_chat_id == old).values(source_chat_id=new))
        await s.execute(update(Outbox).where(Outbox.chat_id == old, Outbox.status == "pending",
                                             Outbox.method != "edit").values(chat_id=new))
        await s.execute(delete(Outbox).where(Outbox.chat_id == old, Outbox.status == "pending",
                                             Outbox.method == "edit"))  # edits of posts in the old chat
        await s.execute(update(Outbox).where(Outbox.fallback_chat_id == old, Outbox.status == "pending")
                        .values(fallback_chat_id=new))
        posts = (await s.execute(select(Outbox).where(Outbox.chat_id == old, Outbox.method == "send",
                                                      Outbox.status == "sent"))).scalars().all()
        for post in posts:
            kind, _, ref = (post.key or "").partition(":")
            if kind not in ("card", "task") or not ref.isdigit():
                continue
            req = await s.get(Request, int(ref))
            post.key = f"{kind}-old:{ref}"  # the old chat cannot be edited any more
            s.add(post)
            if req is None:
                continue
            v = await requests.view_of(s, req)
            if kind == "card" and req.status == Status.NEW:
                notifier.to_chat(s, moved, "triage_card", buttons=triage_buttons(req.id or 0), key=f"card:{ref}", **v.public_ctx())
            elif kind == "task" and req.status == Status.ACCEPTED:
                notifier.to_chat(s, moved, "task_post", buttons=claim_buttons(req.id or 0), key=f"task:{ref}", **v.public_ctx())
    notifier.wake()
    return True
