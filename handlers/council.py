"""The council (议事会): a request sent to it at triage, votes in the council group and in private
chat, /votes, opening, withdrawing and closing proposals, the outcome statement, /conventions.
Writing a proposal (/propose, editing a draft) is `handlers.propose`."""
from __future__ import annotations

from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.fsm.state import State, StatesGroup
from aiogram.fsm.storage.base import BaseStorage
from aiogram.types import CallbackQuery, Message

from bot.app import App
from bot.callbacks import Act, BallotPress, ProposalPress, ToCouncilPress, VotePress, pack
from bot.errors import BadInput
from bot.filters import ProposalRule
from bot.i18n import clean_user_text
from bot.render import Button, plain
from bot.services.context import Actor
from bot.services.deliberation import POp, ProposalDraft, draft_buttons, option_buttons, statement_buttons
from handlers.common import TYPED, ask_note, dm, kb, say
from handlers.propose import begin_edit
from handlers.routing import Stage
from storage.models import ProposalStatus


class Minutes(StatesGroup):
    statement = State()  # data: proposal


async def answer(cb: CallbackQuery, app: App, locale: str, template: str, **ctx: Any) -> None:
    """A short answer to a press (≤200 characters) from one of our templates."""
    await cb.answer(plain(app.renderer.render(template, locale, **ctx))[:200])


async def to_council(cb: CallbackQuery, callback_data: ToCouncilPress, actor: Actor, app: App, locale: str) -> None:
    """Triage's "To council": the request waits for the council; staff get the draft to open."""
    v, request_view = await app.council.from_request(actor, callback_data.req)
    await answer(cb, app, locale, "proposal_done", code="to_council", **v.ctx(request_no=request_view.no))


# One handler per proposal button; ProposalRule checks who may at registration, the service again
# when it writes.
async def view(cb: CallbackQuery, callback_data: ProposalPress, actor: Actor, app: App, bot: Bot,
               locale: str) -> None:
    v = await app.council.view(actor, callback_data.proposal)
    if v.p.status == ProposalStatus.DRAFT:
        await dm(cb, bot, app, locale, "proposal_draft", buttons=draft_buttons(v.p), d=ProposalDraft.of(v.p),
                 **v.ctx())
    else:
        await dm(cb, bot, app, locale, "proposal_post", **v.ctx())


async def open_vote(cb: CallbackQuery, callback_data: ProposalPress, actor: Actor, app: App, locale: str) -> None:
    v = await app.council.open(actor, callback_data.proposal)
    await answer(cb, app, locale, "proposal_done", code="opened", **v.ctx())


async def edit(cb: CallbackQuery, callback_data: ProposalPress, actor: Actor, app: App, bot: Bot, locale: str,
               fsm_storage: BaseStorage) -> None:
    draft = await app.council.draft_for_edit(actor, callback_data.proposal)
    await begin_edit(cb, bot, app, locale, fsm_storage, callback_data.proposal, draft)


async def withdraw(cb: CallbackQuery, callback_data: ProposalPress, actor: Actor, app: App, locale: str) -> None:
    v = await app.council.withdraw(actor, callback_data.proposal)
    await answer(cb, app, locale, "proposal_done", code="withdrawn", **v.ctx())


async def close(cb: CallbackQuery, callback_data: ProposalPress, actor: Actor, app: App, locale: str) -> None:
    v = await app.council.close(actor, callback_data.proposal)
    await answer(cb, app, locale, "proposal_done", code="closed", **v.ctx())


async def statement(cb: CallbackQuery, callback_data: ProposalPress, actor: Actor, app: App, bot: Bot, locale: str,
                    fsm_storage: BaseStorage) -> None:
    pid = callback_data.proposal
    v = await app.council.check_statement(actor, pid)
    await ask_note(cb, bot, app, locale, fsm_storage, Minutes.statement, {"proposal": pid}, "proposal_ask",
                   step="statement", current=v.p.statement, **v.ctx())


async def stale(cb: CallbackQuery) -> None:
    raise BadInput("stale")


async def vote(cb: CallbackQuery, callback_data: VotePress, actor: Actor, app: App, locale: str) -> None:
    """A vote button, in the council group or in private chat. The private ballot is redrawn
    with the member's current choice."""
    private = cb.message is not None and cb.message.chat.type == "private"
    result = await app.council.vote(actor, callback_data.proposal, callback_data.option, private=private)
    v = result.view
    if private and isinstance(cb.message, Message) and result.action in ("cast", "changed"):
        final = v.p.secret
        await cb.message.edit_text(
            app.renderer.render("vote_ballot", locale, mine=None if final else result.option, voted=True, **v.ctx()),
            reply_markup=None if final else kb(app, option_buttons(v.p), locale))
    await answer(cb, app, locale, "vote_toast", code=result.action, option=result.option, **v.ctx())


async def ballot(cb: CallbackQuery, callback_data: BallotPress, actor: Actor, app: App, bot: Bot,
                 locale: str) -> None:
    """The private ballot (from /votes, a reminder, or a secret ballot's group post)."""
    v, mine, voted = await app.council.ballot(actor, callback_data.proposal)
    buttons = None if v.p.secret and voted else option_buttons(v.p)
    await dm(cb, bot, app, locale, "vote_ballot", buttons=buttons, mine=mine, voted=voted, **v.ctx())


async def votes_command(message: Message, actor: Actor, app: App, locale: str) -> None:
    votes, drafts = await app.council.listing(actor)
    buttons = [[Button(text=f"🗳 {v.no}", data=pack(Act.BALLOT, v.p.id or 0))] if elector else
               [Button(text=f"🏛 {v.no}", data=pack(Act.PROPOSAL, v.p.id or 0, POp.VIEW))]
               for v, _, elector in votes]
    buttons += [[Button(text=f"✏️ {v.no}", data=pack(Act.PROPOSAL, v.p.id or 0, POp.VIEW))] for v in drafts]
    await say(message, app, locale, "vote_list", buttons=buttons or None, votes=votes, drafts=drafts)


async def closevote(message: Message, command: CommandObject, actor: Actor, app: App, locale: str) -> None:
    """/closevote <number> — staff close a vote once every member has voted."""
    ref = (command.args or "").strip()
    if not ref:
        raise BadInput("closevote_usage")
    p = await app.council.find(actor, ref)
    v = await app.council.close(actor, p.id or 0, reply_chat=message.chat.id)
    await say(message, app, locale, "proposal_outcome", audience="staff", buttons=statement_buttons(v.p), **v.ctx())


async def withdrawvote(message: Message, command: CommandObject, actor: Actor, app: App, locale: str) -> None:
    """/withdrawvote <number> <reason> — staff or the proposer withdraw an open vote."""
    ref, _, reason = (command.args or "").strip().partition(" ")
    if not ref or not reason.strip():
        raise BadInput("withdraw_usage")
    p = await app.council.find(actor, ref)
    v = await app.council.withdraw(actor, p.id or 0, clean_user_text(reason))
    await say(message, app, locale, "proposal_done", code="withdrawn", **v.ctx())


async def conventions(message: Message, actor: Actor, app: App, locale: str) -> None:
    found = await app.council.conventions(actor)
    await say(message, app, locale, "conventions", conventions=found, community=actor.community)


async def statement_text(message: Message, state: FSMContext, actor: Actor, app: App, locale: str) -> None:
    pid = int((await state.get_data()).get("proposal", 0))
    v = await app.council.add_statement(actor, pid, clean_user_text(message.text or ""))
    await state.clear()
    await say(message, app, locale, "proposal_done", code="statement", **v.ctx())


def make_router() -> Router:
    router = Stage(name=__name__)
    private = F.chat.type == "private"
    router.callback_query.register(to_council, ToCouncilPress.filter())
    router.callback_query.register(view, ProposalPress.filter(F.op == POp.VIEW))  # the service decides who reads
    for op, handler, rule in ((POp.OPEN, open_vote, "open"), (POp.EDIT, edit, "manage"),
                              (POp.WITHDRAW, withdraw, "manage"), (POp.CLOSE, close, "close"),
                              (POp.STATEMENT, statement, "close")):
        router.callback_query.register(handler, ProposalPress.filter(F.op == op), ProposalRule(rule))
    router.callback_query.register(stale, ProposalPress.filter())
    router.callback_query.register(vote, VotePress.filter())
    router.callback_query.register(ballot, BallotPress.filter())
    router.message.register(votes_command, Command("votes"), private)
    router.message.register(closevote, Command("closevote"))
    router.message.register(withdrawvote, Command("withdrawvote"))
    router.message.register(conventions, Command("conventions"))
    router.message.register(statement_text, Minutes.statement, TYPED, private)
    return router
