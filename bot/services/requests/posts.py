"""A request's posts: the triage card (the grid's group, else its leaders, else staff), the
volunteer task post, the assignee's private brief (and taking it back), and the staff feed."""
from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import Named
from bot.privacy import Restricted
from bot.services import queries
from bot.services.community import settings_of
from bot.services.keys import OutboxKey
from bot.services.notify import BULK, INTERACTIVE
from bot.services.requests.values import Stage, View, assignee_buttons, claim_buttons, metoo_buttons, triage_buttons
from storage.models import AuditEvent, ChatKind, Outbox, Request, Role, User

# A request's posts of one kind (`:key`, an `OutboxKey`), and with them their edits still waiting;
# built once (a statement built per call costs more than it runs).
_POSTS = select(Outbox).where(Outbox.key == bindparam("key"), Outbox.method == "send")
_POSTS_AND_EDITS = select(Outbox).where(Outbox.key == bindparam("key"), (Outbox.method == "send") | (
    (Outbox.method == "edit") & (Outbox.status == "pending")))


class Posts(Stage):
    async def post_card(self, s: AsyncSession, view: View, note_kind: str | None = None,
                        note: str | None = None) -> None:
        """The triage card: to the grid's group, else its leaders privately, else staff.

        A restricted `note` (`note_kind`: answer, reopened, returned) never goes to the group:
        the group's card says there is one, and the grid's leaders (else staff) get it privately."""
        req, buttons = view.req, triage_buttons(view.req.id or 0)
        key = f"card:{req.id}"
        groups = await queries.bindings(s, req.community_id, ChatKind.GRID, req.grid_id) if req.grid_id else []
        if groups:
            for group in groups:  # a micro-grid's residents read the card: "me too" is one tap
                self.notifier.to_chat(s, group, "triage_card", buttons=buttons + metoo_buttons(req.id or 0), key=key,
                                      **view.public_ctx(note_kind=note_kind))
            if note:
                for person in await self._card_readers(s, req):
                    self.notifier.to_user(s, person, view.community, "card_note", note_kind=note_kind,
                                          note=Restricted(note), **view.ctx())
            return
        for person in await self._card_readers(s, req):
            self.notifier.to_user(s, person, view.community, "triage_card", buttons=buttons, key=key, private=True,
                                  note_kind=note_kind, note=Restricted(note) if note else None, **view.ctx())

    @staticmethod
    async def _card_readers(s: AsyncSession, req: Request) -> list[User]:
        """Who reads a card privately: the grid's leaders, else staff."""
        people = await queries.members(s, req.community_id, Role.GRID_LEADER, req.grid_id) if req.grid_id else []
        return people or await queries.members(s, req.community_id, Role.STAFF)

    async def posts(self, s: AsyncSession, view: View, kind: str) -> list[Outbox]:
        return list((await s.execute(_POSTS, {"key": str(OutboxKey(kind, view.req.id or 0))})).scalars())

    async def close_posts(self, s: AsyncSession, view: View, kind: str, **more: Any) -> None:
        """Triage cards ("card") or task posts ("task") lose their buttons and say what became of
        the request."""
        rows = (await s.execute(_POSTS_AND_EDITS, {"key": str(OutboxKey(kind, view.req.id or 0))})).scalars().all()
        waiting = {row.edit_of for row in rows if row.method == "edit"}
        for post in [row for row in rows if row.method == "send"]:
            if post.id in waiting:  # e.g. a "me too" count still waiting: closed now
                await self.notifier.supersede_edits(s, post)
            await self.notifier.edit_post(s, post, view.community, "card_closed", **view.public_ctx(**more))

    async def post_task(self, s: AsyncSession, view: View, decision: Named | None = None) -> None:
        """The task as volunteers see it: no contact note, no location, no photos; with the
        council's chosen option when a multiple-choice decision is behind it."""
        ctx = view.public_ctx(**({"decision": decision} if decision else {}))
        groups = await queries.bindings(s, view.req.community_id, ChatKind.VOLUNTEERS)
        for group in groups:
            self.notifier.to_chat(s, group, "task_post", buttons=claim_buttons(view.req.id or 0),
                                  key=f"task:{view.req.id}", **ctx)
        if not groups:  # no volunteer group: every volunteer privately, still only what is public
            for person in await queries.members(s, view.req.community_id, Role.VOLUNTEER):
                self.notifier.to_user(s, person, view.community, "task_post", buttons=claim_buttons(view.req.id or 0),
                                      key=f"task:{view.req.id}", **ctx)

    async def update_task_post(self, s: AsyncSession, view: View, released: bool = False) -> None:
        for post in await self.posts(s, view, "task"):
            await self.notifier.edit_post(s, post, view.community, "task_taken", **view.public_ctx(released=released))
        if released:
            await self.post_task(s, view)

    async def brief_assignee(self, s: AsyncSession, view: View) -> None:
        """Full details (contact note, location, photos) go to the assignee in private only."""
        if view.assignee is None:
            return
        self.notifier.to_user(s, view.assignee, view.community, "assignee_brief", buttons=assignee_buttons(view.req),
                              key=f"brief:{view.req.id}", priority=INTERACTIVE, **view.ctx())
        for photo in view.req.photos:
            if not photo.startswith("done:") and view.assignee.started and not view.assignee.blocked:
                s.add(Outbox(chat_id=view.assignee.id, method="photo", photo=photo, text="",
                             key=f"brief:{view.req.id}"))
        if view.req.latitude is not None and view.assignee.started and not view.assignee.blocked:
            s.add(Outbox(chat_id=view.assignee.id, method="location", text=f"{view.req.latitude},{view.req.longitude}",
                         key=f"brief:{view.req.id}"))

    async def retract_brief(self, s: AsyncSession, view: View, previous: User | None) -> None:
        """The task left `previous` (released, returned, reopened for another round, cancelled):
        their private brief loses the contact note and buttons (edited), its photos and location are
        taken back (deleted), and what of it was not sent yet is never sent."""
        if previous is None:
            return
        key = f"brief:{view.req.id}"
        await s.execute(update(Outbox).where(Outbox.chat_id == previous.id, Outbox.key == key,
                                             Outbox.status == "pending").values(status="superseded"))
        sent = (await s.execute(select(Outbox).where(Outbox.chat_id == previous.id, Outbox.key == key,
                                                     Outbox.method.in_(("send", "photo", "location")),
                                                     Outbox.status == "sent"))).scalars()
        for post in list(sent):
            if post.method == "send":
                await self.notifier.edit_post(s, post, view.community, "assignee_brief", retracted=True, **view.ctx())
            else:
                self.notifier.delete(s, post)

    async def _feed(self, s: AsyncSession, view: View, action: str, note: str | None = None) -> None:
        """A line to the staff group per change; with the community's quiet feed on, one message
        per request instead, edited as it moves (its trail of states in it)."""
        key = f"feed:{view.req.id}"
        quiet = bool(settings_of(view.community).get("quiet_feed"))
        trail = await self._trail(s, view.req) if quiet else []
        for group in await queries.bindings(s, view.req.community_id, ChatKind.STAFF):
            root = await self._feed_post(s, group.chat_id, key) if quiet and action != "filed" else None
            if root is not None:
                await self.notifier.supersede_edits(s, root)
                await self.notifier.edit_post(s, root, view.community, "staff_feed", both_languages=True,
                                              **view.public_ctx(action=action, note=note, quiet=True, trail=trail))
                continue
            if action != "filed":  # a request's first line has none before it to replace
                await self.notifier.supersede(s, group.chat_id, key)
            self.notifier.to_chat(s, group, "staff_feed", key=key, priority=BULK, action=action, note=note, quiet=quiet,
                                  trail=trail, **view.public_ctx())

    @staticmethod
    async def _feed_post(s: AsyncSession, chat_id: int, key: str) -> Outbox | None:
        """The staff group's message about a request, sent or on its way (not one replaced)."""
        return (await s.execute(select(Outbox).where(
            Outbox.chat_id == chat_id, Outbox.key == key, Outbox.method == "send",
            Outbox.status.in_(("pending", "sent"))).order_by(Outbox.id).limit(1))).scalars().first()

    @staticmethod
    async def _trail(s: AsyncSession, req: Request, limit: int = 8) -> list[str]:
        """The states a request went through, oldest first (the last `limit`), repeats folded."""
        states = (await s.execute(select(AuditEvent.to_state).where(
            AuditEvent.entity == "request", AuditEvent.entity_id == req.id, AuditEvent.to_state.is_not(None))
            .order_by(AuditEvent.id))).scalars().all()
        trail: list[str] = []
        for status in [*states, req.status]:
            if not trail or trail[-1] != status:
                trail.append(status)
        return trail[-limit:]
