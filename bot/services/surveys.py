"""Community satisfaction polls (一项目一评议): staff ask a question, the bot posts it as an
ANONYMOUS native Telegram poll in each target group, keeps the running totals Telegram sends
(`poll` updates), stops the polls at the closing time and publishes the results.

Invariants:
- `Survey.options == []` means the default five-point satisfaction scale, posted in each
  group's own language (labels `scale_1` … `scale_5`); otherwise 2–10 literal options.
- One `SurveyPoll` per target group links the survey to the outbox row of its poll; after
  sending, delivery stores the Telegram poll id in that row's `external_id`, which is how a
  `poll` update finds its survey. Totals are the last ones Telegram reported.
- Closing is a conditional `open -> closed` update: the sweep (every minute, and once right
  after start, so a closing time passed while the bot was down is honoured) can run twice, or in
  two processes, and the polls are stopped and the results published once.
"""
from __future__ import annotations

import logging

import html
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot import limits, policy
from bot.errors import BadInput, NotAllowed, Stale
from bot.services.community import audit
from bot.services.context import Actor
from bot.services.language import NoTranslator, Translator, detect
from bot.services.notify import BULK, NORMAL, Notifier
from storage.db import Database
from storage.models import ChatBinding, ChatKind, Community, Outbox, Survey, SurveyPoll, SurveyStatus, utcnow

log = logging.getLogger(__name__)

MAX_QUESTION = limits.MAX_POLL_QUESTION
MAX_OPTION = limits.MAX_POLL_OPTION
MIN_OPTIONS, MAX_OPTIONS = 2, 10
CLOSE_DAYS = (1, 3, 7)
SCALE = 5  # very satisfied … very dissatisfied


def check_question(text: str) -> str:
    text = " ".join(text.split())  # a poll question is one paragraph
    if not text:
        raise BadInput("survey_question_empty")
    if len(text) > MAX_QUESTION:
        raise BadInput("survey_question_too_long", limit=MAX_QUESTION, length=len(text))
    return text


def parse_options(text: str) -> list[str]:
    """Custom options, one per line: 2–10 different ones of ≤100 characters."""
    options: list[str] = []
    for line in text.splitlines():
        line = line.strip().lstrip("-•*").strip()
        if not line:
            continue
        if len(line) > MAX_OPTION:
            raise BadInput("option_too_long", limit=MAX_OPTION, option=line[:30])
        if line not in options:
            options.append(line)
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        raise BadInput("options_count", low=MIN_OPTIONS, high=MAX_OPTIONS)
    return options


@dataclass
class SurveyDraft:
    question: str
    options: list[str] | None  # None: the default satisfaction scale
    chat_ids: list[int]
    days: int


@dataclass
class Results:
    """Figures of a survey: per option over all its groups, and per group."""

    survey: Survey
    counts: list[int]
    groups: list[tuple[str, str, int]] = field(default_factory=list)  # (group title, kind, voters)
    by_chat: dict[int, list[int]] = field(default_factory=dict)  # each group's own counts

    def of_chat(self, chat_id: int) -> "Results | None":
        """One group's own figures, when the survey ran in more groups than this one."""
        if chat_id not in self.by_chat or len(self.by_chat) < 2:
            return None
        return Results(self.survey, self.by_chat[chat_id])

    @property
    def total(self) -> int:
        return sum(self.counts)

    def share(self, i: int) -> int:
        return round(100 * self.counts[i] / self.total) if self.total else 0

    @property
    def is_scale(self) -> bool:
        return not self.survey.options

    @property
    def satisfied_pct(self) -> int | None:
        """For the default scale: the share that answered (very) satisfied."""
        if not self.is_scale or not self.total:
            return None
        return round(100 * (self.counts[0] + self.counts[1]) / self.total)


class SurveyService:
    def __init__(self, db: Database, notifier: Notifier, translator: Translator | None = None) -> None:
        self.db = db
        self.notifier = notifier
        self.translator = translator or NoTranslator()

    # ----------------------------------------------------------------- reading
    @staticmethod
    def may_run(actor: Actor) -> Community:
        if actor.community is None:
            raise NotAllowed("no_community")
        if not policy.may_run_survey(actor.memberships, actor.community.id):
            raise NotAllowed("staff_only")
        return actor.community

    async def targets(self, actor: Actor) -> list[ChatBinding]:
        """The community's bound groups a survey may go to (the staff group sees results anyway)."""
        community = self.may_run(actor)
        async with self.db.read() as s:
            return await _groups(s, community.id)

    def option_names(self, options: list[str] | None, locale: str) -> list[str]:
        """Custom options as typed; the default scale in `locale`."""
        if options:
            return list(options)
        return [self.notifier.label(f"scale_{i}", locale) for i in range(1, SCALE + 1)]

    async def _in_languages(self, question: str, options: list[str], locales: set[str]
                            ) -> dict[str, tuple[str, list[str]]]:
        """A poll is posted once per group, in the group's language: with a translation provider,
        staff's own question and options are machine-translated for the groups that read another
        language (the default scale is translated by the catalogs); the question is marked as the
        machine's by the `poll_question` template."""
        source = detect(question)
        out: dict[str, tuple[str, list[str]]] = {}
        if not self.translator.enabled or not source:
            return out
        for locale in {loc for loc in locales if loc.split("_")[0] != source}:
            done = [await self.translator.translate(t, source, locale) for t in (question, *options)]
            if all(done):
                q, *opts = (" ".join(t.split()) for t in done)  # type: ignore[union-attr]
                # room for the 🌐 mark and, in a right-to-left group, direction marks
                out[locale] = (q[:limits.MAX_POLL_QUESTION - 6], [o[:limits.MAX_POLL_OPTION] for o in opts])
        return out

    async def _results(self, s: AsyncSession, survey: Survey) -> Results:
        n = len(survey.options) or SCALE
        counts = [0] * n
        groups = []
        by_chat: dict[int, list[int]] = {}
        polls = (await s.execute(select(SurveyPoll).where(SurveyPoll.survey_id == survey.id)
                                 .order_by(SurveyPoll.id))).scalars().all()
        for p in polls:
            totals = (list(p.totals) + [0] * n)[:n]
            counts = [a + b for a, b in zip(counts, totals)]
            by_chat[p.chat_id] = [a + b for a, b in zip(by_chat.get(p.chat_id, [0] * n), totals)]
            binding = await s.get(ChatBinding, p.chat_id)
            groups.append((binding.title if binding else str(p.chat_id), binding.kind if binding else "",
                           sum(totals)))
        return Results(survey, counts, groups, by_chat)

    # ----------------------------------------------------------------- writing
    async def create(self, actor: Actor, draft: SurveyDraft, now: datetime | None = None) -> Survey:
        """Post the survey: in each target group a short notice and the anonymous poll (in the
        group's language for the default scale). One unit of work: all groups or none."""
        community = self.may_run(actor)
        question = check_question(draft.question)
        options = parse_options("\n".join(draft.options)) if draft.options else []
        if draft.days not in CLOSE_DAYS:
            raise BadInput("stale")
        if not draft.chat_ids:
            raise BadInput("survey_no_groups")
        now = now or utcnow()
        async with self.db.read() as s:
            locales = {g.locale for g in await _groups(s, community.id) if g.chat_id in draft.chat_ids}
        translated = await self._in_languages(question, options, locales)
        async with self.db.write() as s:
            groups = {g.chat_id: g for g in await _groups(s, community.id)}
            chosen = [groups[c] for c in dict.fromkeys(draft.chat_ids) if c in groups]
            if len(chosen) != len(set(draft.chat_ids)):
                raise Stale()  # a group was unbound meanwhile
            survey = Survey(community_id=community.id, created_by=actor.id, question=question, options=options,
                            closes_at=now + timedelta(days=draft.days), created_at=now)
            s.add(survey)
            await s.flush()
            c = await s.get(Community, community.id)
            for g in chosen:
                self.notifier.to_chat(s, g, "survey_post", key=f"survey:{survey.id}", closes_at=survey.closes_at,
                               tz=c.timezone if c else None)
                if g.locale in translated:  # marked as the machine's, in the group's language
                    machine, named = translated[g.locale]
                    asked = self.notifier.text("poll_question", g.locale, question=machine)
                else:
                    asked, named = html.escape(question, quote=False), []
                named = named or self.option_names(survey.options, g.locale)  # the scale: in the catalogs
                poll = Outbox(chat_id=g.chat_id, method="poll", text=asked,
                              payload={"options": named},
                              key=f"survey:{survey.id}", priority=NORMAL)
                s.add(poll)
                await s.flush()
                s.add(SurveyPoll(survey_id=survey.id or 0, chat_id=g.chat_id, outbox_id=poll.id or 0,
                                 totals=[0] * (len(options) or SCALE)))
            audit(s, community_id=community.id, actor_id=actor.id, entity="survey", entity_id=survey.id or 0,
                  action="opened", note=f"{len(chosen)} groups")
        self.notifier.wake()
        return survey

    async def record_poll(self, poll_id: str, counts: list[int]) -> bool:
        """Running totals from a `poll` update. False if the poll is not one of our surveys'."""
        async with self.db.write() as s:
            sp = (await s.execute(select(SurveyPoll).join(Outbox, Outbox.id == SurveyPoll.outbox_id).where(
                Outbox.external_id == poll_id, Outbox.method == "poll"))).scalars().first()
            if sp is None:
                return False
            n = len(sp.totals) or len(counts)
            sp.totals = [int(x) for x in (list(counts) + [0] * n)[:n]]
            s.add(sp)
        return True

    async def sweep(self, now: datetime | None = None, batch: int = 50) -> int:
        """Close every survey whose closing time passed; returns how many closed."""
        now = now or utcnow()
        async with self.db.read() as s:
            due = list((await s.execute(select(Survey.id).where(
                Survey.status == SurveyStatus.OPEN, Survey.closes_at <= now).order_by(Survey.closes_at).limit(batch))).scalars())
        closed = 0
        for sid in due:
            try:
                closed += await self.close(sid)
            except Exception:  # one broken survey must not keep the others open
                log.exception("closing survey %s failed", sid)
        if closed:
            self.notifier.wake()
        return closed

    async def close(self, survey_id: int) -> int:
        """Stop the polls and publish the results to the target groups and the staff group(s).
        Returns 1 if this call closed it, 0 if it was closed already (the totals are the last ones
        Telegram reported; a vote in the seconds before stopPoll lands may be missing)."""
        async with self.db.write() as s:
            won = (await s.execute(update(Survey).where(Survey.id == survey_id, Survey.status == SurveyStatus.OPEN)
                                   .values(status=SurveyStatus.CLOSED))).rowcount == 1
            if not won:
                return 0
            survey = await s.get(Survey, survey_id)
            assert survey is not None
            survey.status = SurveyStatus.CLOSED
            polls = (await s.execute(select(SurveyPoll).where(SurveyPoll.survey_id == survey_id))).scalars().all()
            for p in polls:
                s.add(Outbox(chat_id=p.chat_id, method="stop_poll", text="", edit_of=p.outbox_id,
                             key=f"survey:{survey_id}", priority=NORMAL))
            res = await self._results(s, survey)
            audience: dict[int, ChatBinding] = {}
            for p in polls:
                b = await s.get(ChatBinding, p.chat_id)
                if b is not None:
                    audience[b.chat_id] = b
            for b in await _groups(s, survey.community_id, ChatKind.STAFF):
                audience.setdefault(b.chat_id, b)
            for b in audience.values():
                staff = b.kind == ChatKind.STAFF
                self.notifier.to_chat(s, b, "survey_results", key=f"survey:{survey_id}:results", priority=BULK,
                               res=res, names=self.option_names(survey.options, b.locale), per_group=staff,
                               mine=None if staff else res.of_chat(b.chat_id))
            audit(s, community_id=survey.community_id, actor_id=None, entity="survey", entity_id=survey_id,
                  action="closed", note=str(res.total))
        return 1


async def _groups(s: AsyncSession, community_id: int, kind: str | None = None) -> list[ChatBinding]:
    q = select(ChatBinding).where(ChatBinding.community_id == community_id)
    if kind is not None:
        q = q.where(ChatBinding.kind == kind)
    return list((await s.execute(q.order_by(ChatBinding.kind, ChatBinding.title, ChatBinding.chat_id))).scalars())


def draft_from(data: dict[str, Any]) -> SurveyDraft:
    return SurveyDraft(question=data.get("question") or "", options=data.get("options"),
                       chat_ids=[int(c) for c in data.get("chats", [])], days=int(data.get("days") or 0))
