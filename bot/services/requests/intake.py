"""Intake: a request is filed (numbered, its triage card posted, the staff feed told), a similar
open one followed instead, or a "me too" (附议) counted on a public post."""
from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot import policy
from bot.errors import BadInput, NotAllowed, Stale
from bot.privacy import scrub_kinds
from bot.services import queries
from bot.services.community import audit, settings_of
from bot.services.context import Actor, memberships_of
from bot.services.language import detect
from bot.services.notify import INTERACTIVE
from bot.services.requests.values import (CARD_EDIT_GAP, MAX_DESCRIPTION, MAX_PHOTOS, Draft, Stage, View, add_metoo,
                                          issue_number, metoo_buttons, triage_buttons)
from storage.cache import row
from storage.models import (OPEN_STATUSES, ChatKind, Follower, Grid, Outbox, Request, Status, User,
                            utcnow)


class Intake(Stage):
    async def prepare(self, text: str | None, source: str | None = None) -> None:
        """Machine-translate what a person wrote into every shipped language but its own, before
        the unit of work (no network call holds the write lock), so each reader's notification can
        carry a labelled translation. Without a provider, or when it fails, readers still see the
        original labelled with its language."""
        if not text or not self.translator.enabled:
            return
        source = source or detect(text)
        if not source:
            return
        targets = sorted({loc.split("_")[0] for loc in self.notifier.locales} - {source})
        missing = [t for t in targets if not self.notifier.translated(text, t)]
        results = await asyncio.gather(*(self.translator.translate(text, source, t) for t in missing))
        for target, translated in zip(missing, results):
            if translated:
                self.notifier.remember(text, target, translated)

    async def file(self, actor: Actor, draft: Draft) -> View:
        community = actor.community
        if community is None:
            raise NotAllowed("no_community")
        description = draft.description.strip()
        if not description:
            raise BadInput("description_empty")
        if len(description) > MAX_DESCRIPTION:
            raise BadInput("description_too_long", limit=MAX_DESCRIPTION, length=len(description))
        if draft.category is not None and draft.category not in settings_of(community)["categories"]:
            raise BadInput("bad_category")
        if draft.on_behalf_name and not policy.may_file_for(actor.memberships, community.id):
            raise NotAllowed("leaders_only")
        hint = draft.language_hint or detect(description)
        translation = None  # translated before the unit of work: no network call holds the write lock
        if self.translator.enabled and hint and hint != community.locale.split("_")[0]:
            translation = await self.translator.translate(description, hint, community.locale)
        await self.prepare(description, hint)
        now = utcnow()
        async with self.db.write() as s:
            grid = None
            if draft.grid_id is not None:
                grid = await row(s, Grid, draft.grid_id)
                if grid is None or grid.community_id != community.id:
                    raise BadInput("grid_not_found", name=str(draft.grid_id))
            req = Request(community_id=community.id, number=await issue_number(s, community.id),
                          grid_id=grid.id if grid else None,
                          requester_id=actor.id, filed_by_id=actor.id if draft.on_behalf_name else None,
                          on_behalf_name=draft.on_behalf_name, category=draft.category,
                          description=description, language_hint=hint,
                          description_mt=translation, mt_locale=community.locale if translation else None,
                          contact_note=(draft.contact_note or None), photos=draft.photos[:MAX_PHOTOS],
                          latitude=draft.latitude, longitude=draft.longitude,
                          source_chat_id=draft.source_chat_id, status=Status.NEW,
                          timer_kind="triage_remind",
                          timer_at=now + timedelta(hours=settings_of(community)["triage_hours"]))
            s.add(req)
            await s.flush()
            audit(s, community_id=community.id, actor_id=actor.id, entity="request", entity_id=req.id or 0,
                  action="filed", to_state=Status.NEW, note=draft.on_behalf_name)
            await s.flush()
            with s.no_autoflush:  # what follows tells people: their messages go in one INSERT
                view = View(req, community, grid, actor.user, None)  # no one else is part of it yet
                await self.post_card(s, view)
                await self._feed(s, view, "filed")
                await self._tell_scrubbed(s, view, actor.user, description)
                if draft.source_chat_id is not None and view.requester is not None and view.requester.started:
                    # Filed in a group: the details continue in private chat.
                    self.notifier.to_user(s, view.requester, community, "filed", priority=INTERACTIVE,
                                          from_group=True, **view.ctx())
        self.notifier.wake()
        return view

    async def follow(self, actor: Actor, req_id: int, category: str | None, grid_id: int | None) -> View:
        """Follow a similar open request instead of filing one: only one that intake offered (same
        grid and category), so forged data cannot subscribe anyone to any request."""
        async with self.db.write() as s:
            req = await self.load(s, req_id)
            if not policy.may_follow(actor.id, await memberships_of(s, actor.id, req.community_id), req,
                                     category=category, grid_id=grid_id, open_statuses=OPEN_STATUSES):
                raise Stale()
            if req.requester_id != actor.id and await s.get(Follower, (req.id, actor.id)) is None:
                s.add(Follower(request_id=req.id, user_id=actor.id))
                audit(s, community_id=req.community_id, actor_id=actor.id, entity="request",
                      entity_id=req.id or 0, action="followed")
            if await add_metoo(s, req.id or 0, actor.id):  # the same matter: one more household
                view = await self.view_of(s, req)
                await self._redraw_cards(s, view)
            else:
                view = await self.view_of(s, req)
        self.notifier.wake()
        return view

    async def metoo(self, actor: Actor, req_id: int) -> tuple[View, bool]:
        """"Me too" (附议) on a public request post: the tapper's household counts once (a second
        tap changes nothing), never the requester's own a second time; the triage card's count is
        edited. Tappers hear the outcome (see `apply`); no group learns who they are. Returns
        the view and whether the tap was new."""
        async with self.db.write() as s:
            req = await self.load(s, req_id)  # FOR UPDATE: counts and card edits in order
            memberships = await memberships_of(s, actor.id, req.community_id)
            in_group = actor.binding is not None and actor.binding.community_id == req.community_id
            if policy.is_requester(actor.id, req):
                raise NotAllowed("metoo_own")
            if not policy.may_metoo(actor.id, memberships, req, in_community_group=in_group,
                                    open_statuses=OPEN_STATUSES):
                raise Stale("already_handled", status=req.status) if req.status not in OPEN_STATUSES else NotAllowed()
            new = await add_metoo(s, req.id or 0, actor.id)
            if new:
                audit(s, community_id=req.community_id, actor_id=actor.id, entity="request", entity_id=req.id or 0,
                      action="metoo")
            view = await self.view_of(s, req)
            if new:
                await self._redraw_cards(s, view)
        self.notifier.wake()
        return view, new

    async def _redraw_cards(self, s: AsyncSession, view: View) -> None:
        """An open triage card shows what changed (category, households affected), each in its
        chat's language; a group's passes the privacy gate. Edits coalesce: at most one pending
        per card, so a burst of taps is one edit, never a message more."""
        if view.req.status != Status.NEW:
            return
        now = utcnow()
        cards = sorted(await self.posts(s, view, "card"), key=lambda card: card.id or 0)
        latest = {card.chat_id: card for card in cards}
        for post in latest.values():  # a card posted again (reopened, returned) replaced the old one
            # A group's budget is 20 messages a minute: a card's edits keep a gap between them; one
            # still waiting is replaced and keeps its time.
            last = (await s.execute(select(Outbox).where(
                Outbox.edit_of == post.id, Outbox.method == "edit", Outbox.status.in_(("pending", "sent")))
                .order_by(Outbox.id.desc()).limit(1))).scalars().first()
            not_before = now if last is None else (
                last.not_before if last.status == "pending" else max(now, (last.sent_at or now) + CARD_EDIT_GAP))
            await self.notifier.supersede_edits(s, post)
            if post.chat_id < 0:
                buttons = triage_buttons(view.req.id or 0) + metoo_buttons(view.req.id or 0)
                row = await self.notifier.edit_post(s, post, view.community, "triage_card", both_languages=True,
                                                    buttons=buttons, **view.public_ctx())
                row.not_before = not_before
            else:
                await self.notifier.edit_post(s, post, view.community, "triage_card",
                                              buttons=triage_buttons(view.req.id or 0), private=True, **view.ctx())

    async def _tell_scrubbed(self, s: AsyncSession, view: View, writer: User, text: str) -> None:
        """The person who wrote `text` learns, privately, that the groups read it shortened and
        what was taken out in kind (a phone number, a flat number…); the full text reaches only
        those who act on it. Nothing when nothing was taken out or no group reads it."""
        kinds = scrub_kinds(text)[1]
        if not kinds or not writer.started or writer.blocked:
            return
        groups = await queries.bindings(s, view.req.community_id, ChatKind.STAFF)
        if view.req.grid_id is not None:
            groups += await queries.bindings(s, view.req.community_id, ChatKind.GRID, view.req.grid_id)
        if groups:
            self.notifier.to_user(s, writer, view.community, "scrubbed_notice", kinds=kinds, **view.ctx())
