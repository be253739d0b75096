"""The values every stage of a proposal passes around: the limits and defaults a draft is checked
against, `ProposalDraft`, a proposal with what rendering it needs (`PView`) and its tally, its number,
and the buttons under its posts (plain values, see `bot.services.buttons`)."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from bot.errors import BadInput
from bot.services.buttons import Act, Button, press
from bot.services.notify import Notifier
from bot.services.requests import MAX_DESCRIPTION, RequestService
from storage.db import Database
from storage.models import Community, Proposal, User

KINDS = ("decision", "convention", "spending")
THRESHOLDS = ("simple", "two_thirds")
QUORUMS = (50, 67, 34)  # what the conversation cycles through; the service takes any 1-100
VOTE_HOURS = (24, 48, 72, 168)  # quick picks; any MIN_HOURS..MAX_HOURS may be typed
DEFAULT_VOTE_HOURS, DEFAULT_QUORUM = 72, 50  # community settings `vote_hours`, `vote_quorum_pct`
FOR, AGAINST, ABSTAIN = range(3)  # the default options (labels opt_for, opt_against, opt_abstain)
MAX_TITLE, MAX_TEXT, MAX_OPTION = 120, MAX_DESCRIPTION, 60
MIN_OPTIONS, MAX_OPTIONS = 2, 10
MIN_HOURS, MAX_HOURS = 1, 24 * 30
MAX_STATEMENT = 2000
TALLY_GAP = timedelta(seconds=20)  # at most three tally edits a minute per post


class Stage:
    """What every stage of `DeliberationService` shares; set once by `DeliberationService.__init__`."""

    db: Database
    notifier: Notifier
    requests: RequestService  # the council's part in a request's life (to the council, its outcome)


class POp:
    """Operations on a proposal (indexes travel in callback data)."""

    VIEW, OPEN, EDIT, WITHDRAW, CLOSE, STATEMENT = range(6)


@dataclass
class ProposalDraft:
    """What /propose gathered (or a draft's current values); validated here whatever the
    conversation did. None for hours/quorum means the community's default."""

    title: str
    text: str
    kind: str = "decision"
    options: list[str] | None = None
    hours: int | None = None
    quorum_pct: int | None = None
    threshold: str = "simple"
    secret: bool = False

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> "ProposalDraft":
        names = cls.__dataclass_fields__
        return cls(**{name: value for name, value in data.items() if name in names})

    @classmethod
    def of(cls, proposal: Proposal) -> "ProposalDraft":
        return cls(title=proposal.title, text=proposal.text, kind=proposal.kind, options=proposal.options,
                   hours=proposal.hours, quorum_pct=proposal.quorum_pct, threshold=proposal.threshold,
                   secret=proposal.secret)

    def data(self) -> dict[str, Any]:
        return asdict(self)

    def validated(self) -> "ProposalDraft":
        title, text = self.title.strip(), self.text.strip()
        if not title or not text:
            raise BadInput("proposal_empty")
        check_length(title, MAX_TITLE)
        check_length(text, MAX_TEXT)
        if self.kind not in KINDS or self.threshold not in THRESHOLDS:
            raise BadInput("stale")
        options = None if self.options is None else parse_options("\n".join(self.options))
        if self.hours is not None:
            check_hours(self.hours)
        if self.quorum_pct is not None and not 1 <= self.quorum_pct <= 100:
            raise BadInput("stale")
        return ProposalDraft(title, text, self.kind, options, self.hours, self.quorum_pct, self.threshold,
                             bool(self.secret))


@dataclass
class Tally:
    eligible: int
    turnout: int
    quorum_needed: int
    counts: list[int] = field(default_factory=list)  # empty while a secret ballot is open


@dataclass
class PView:
    """A proposal with what rendering it needs (`p`: the proposal, as templates call it)."""

    p: Proposal
    community: Community
    proposer: User | None
    request_no: str | None = None
    tally: Tally | None = None
    task_no: str | None = None  # the volunteer task a passed proposal opened

    @property
    def no(self) -> str:
        return proposal_number(self.community, self.p)

    def ctx(self, **more: Any) -> dict[str, Any]:
        return {"p": self.p, "no": self.no, "community": self.community, "proposer": self.proposer,
                "request_no": self.request_no, "tally": self.tally, "task_no": self.task_no, **more}


@dataclass
class VoteResult:
    view: PView
    action: str  # cast | changed | same | already (a secret vote is final)
    option: int


def check_length(text: str, limit: int) -> str:
    if len(text) > limit:
        raise BadInput("description_too_long", limit=limit, length=len(text))
    return text


def check_hours(hours: int) -> int:
    if not MIN_HOURS <= hours <= MAX_HOURS:
        raise BadInput("bad_hours", low=MIN_HOURS, high=MAX_HOURS)
    return hours


def parse_options(text: str) -> list[str]:
    """Custom options, one per line: 2-10 distinct, each short enough for a button."""
    options = [line.strip(" \t•-") for line in text.splitlines()]
    options = [option for option in options if option]
    if not MIN_OPTIONS <= len(options) <= MAX_OPTIONS or len({option.lower() for option in options}) != len(options):
        raise BadInput("options_count", low=MIN_OPTIONS, high=MAX_OPTIONS)
    for option in options:
        if len(option) > MAX_OPTION:
            raise BadInput("option_too_long", limit=MAX_OPTION, option=option[:20])
    return options


def n_options(proposal: Proposal) -> int:
    return len(proposal.options) if proposal.options else 3


def quorum_needed(eligible: int, pct: int) -> int:
    return max(1, math.ceil(eligible * pct / 100))


def proposal_number(community: Community, proposal: Proposal) -> str:
    return f"{community.code}-P{proposal.number:03d}"


def option_buttons(proposal: Proposal) -> list[list[Button]]:
    """Vote buttons: proposal id and option index only, so votes in every language add up."""
    if proposal.options is None:
        keys = ("opt_for", "opt_against", "opt_abstain")
        return [[Button(k, press(Act.VOTE, proposal.id or 0, i)) for i, k in enumerate(keys)]]
    return [[Button(text=option, names=proposal.names_of(i), data=press(Act.VOTE, proposal.id or 0, i))]
            for i, option in enumerate(proposal.options)]


def post_buttons(proposal: Proposal) -> list[list[Button]]:
    """The council group's post: vote there (open ballot) or go to private chat (secret)."""
    if proposal.secret:
        return [[Button("vote_private", press(Act.BALLOT, proposal.id or 0))]]
    return option_buttons(proposal)


def draft_buttons(proposal: Proposal) -> list[list[Button]]:
    button = lambda label, op: Button(label, press(Act.PROPOSAL, proposal.id or 0, op))  # noqa: E731
    return [[button("open_vote", POp.OPEN), button("edit", POp.EDIT)], [button("withdraw", POp.WITHDRAW)]]


def close_buttons(proposal: Proposal) -> list[list[Button]]:
    return [[Button("close_now", press(Act.PROPOSAL, proposal.id or 0, POp.CLOSE))]]


def statement_buttons(proposal: Proposal) -> list[list[Button]]:
    return [[Button("add_statement", press(Act.PROPOSAL, proposal.id or 0, POp.STATEMENT))]]
