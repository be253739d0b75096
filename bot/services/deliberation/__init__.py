"""The deliberation council (议事会商议, "有事大家议"): proposals, votes, outcomes, conventions.

A proposal is a `draft` (editable by staff or its proposer), then `open` (frozen: every edit is
refused), then `closed` with an outcome (passed, rejected, no quorum) or `withdrawn`.

Invariants:
- Opening snapshots the eligible voters (the community's council members at that moment) into
  `proposal_electors`; only they can vote, whoever joins or leaves the council later.
- `vote_turnout` says who voted, never what. Open ballots keep the current choice in `votes`
  (one per member, a unique constraint) and it can change until the deadline. Secret ballots
  keep the choice in `secret_ballots` with no voter, no time and a random id, so nothing links
  a member to a choice; a secret vote therefore cannot be changed.
- `vote_log` is append-only: every accepted press (cast, changed, repeat), without the choice for
  secret ballots. A refused press (not eligible, after the deadline) writes nothing.
- Due times (`remind_at`, `closes_at`) live in `proposals`; `sweep` fires them, idempotently, so a
  deadline passed while the bot was down closes right after start.

Every operation is one unit of work: state change, audit event and the notifications it causes
commit together. The council group's post is refreshed by outbox edits, coalesced to at most one
pending edit per post, spaced `TALLY_GAP` apart.

One module per stage of a proposal's life, each a part of `DeliberationService`:

| module | stage |
|---|---|
| `values` | limits and defaults, `ProposalDraft`, `PView`, `Tally`, numbers, buttons |
| `drafting` | from a request, drafts, naming options, opening, withdrawing |
| `voting` | votes, the live tally, reminders, `decide` |
| `closing` | closing (early or at the deadline), outcomes, conventions, decision tasks, statements |
| `reading` | one proposal, /votes, a ballot, conventions |

The needs list builds on `next_number`, `view_of` and `to_staff`.
"""
from __future__ import annotations

from bot.services.deliberation.closing import Closing
from bot.services.deliberation.drafting import Drafting
from bot.services.deliberation.reading import Reading
from bot.services.deliberation.values import (ABSTAIN, AGAINST, DEFAULT_QUORUM, DEFAULT_VOTE_HOURS, FOR, KINDS,
                                              MAX_HOURS, MAX_OPTION, MAX_OPTIONS, MAX_STATEMENT, MAX_TEXT, MAX_TITLE,
                                              MIN_HOURS, MIN_OPTIONS, QUORUMS, TALLY_GAP, THRESHOLDS, VOTE_HOURS,
                                              POp, ProposalDraft, PView, Tally, VoteResult, check_hours,
                                              check_length, close_buttons, draft_buttons, n_options, option_buttons,
                                              parse_options, post_buttons, proposal_number, quorum_needed,
                                              statement_buttons)
from bot.services.deliberation.voting import Voting, decide
from bot.services.execution import ExecutionService
from bot.services.notify import Notifier
from bot.services.requests import RequestService
from storage.db import Database

__all__ = ["ABSTAIN", "AGAINST", "DEFAULT_QUORUM", "DEFAULT_VOTE_HOURS", "FOR", "KINDS", "MAX_HOURS", "MAX_OPTION",
           "MAX_OPTIONS", "MAX_STATEMENT", "MAX_TEXT", "MAX_TITLE", "MIN_HOURS", "MIN_OPTIONS", "QUORUMS", "TALLY_GAP",
           "THRESHOLDS", "VOTE_HOURS", "DeliberationService", "POp", "ProposalDraft", "PView", "Tally", "VoteResult",
           "check_hours", "check_length", "close_buttons", "decide", "draft_buttons", "n_options", "option_buttons",
           "parse_options", "post_buttons", "proposal_number", "quorum_needed", "statement_buttons"]


class DeliberationService(Drafting, Voting, Closing, Reading):
    def __init__(self, db: Database, notifier: Notifier, requests: RequestService) -> None:
        self.db = db
        self.notifier = notifier
        self.requests = requests
        self.executions = ExecutionService(db, notifier)  # decisions carried out (决议落实)

