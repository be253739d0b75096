"""The request lifecycle: intake, triage, escalation, volunteer tasks, completion.

Every transition is one unit of work: a conditional state change (so two people acting at once
cannot both win), an audit event, the next timer, and the notifications it causes, committed
together. Invalid transitions and people without the role raise a typed error and write nothing.

One module per stage of a request's life, each a part of `RequestService`:

| module | stage |
|---|---|
| `values` | what the stages pass around: `Draft`, `View`, `Op`, numbers, buttons, limits |
| `intake` | filing, following a similar request, "me too" (附议) |
| `triage` | accept, handle, decline, merge, ask, escalate; the council's part |
| `tasks` | claim, assign, progress, done, release; the liaison's part; cancel |
| `moves` | `apply`: the one place a status changes (moves and their effects: `bot.services.states`) |
| `posts` | triage cards, task posts, the assignee's brief, the staff feed |
| `reading` | one request and its timeline, lists, lookups |

Sign-off, timers, the council, the services list and group migration build on `load`, `view_of`,
`apply`, `post_card`, `posts`, `brief_assignee`, `retract_brief` and `triage_target`; the effects of a
move (`bot.services.states`) on `is_member`, `tell_tappers`, `close_posts`, `post_task`,
`update_task_post` and `brief_assignee`.
"""
from __future__ import annotations

from bot.services.language import NoTranslator, Translator
from bot.services.notify import Notifier
from bot.services.requests.intake import Intake
from bot.services.requests.moves import Moves
from bot.services.requests.posts import Posts
from bot.services.requests.reading import Reading
from bot.services.requests.tasks import Tasks
from bot.services.requests.triage import Triage
from bot.services.requests.values import (CARD_EDIT_GAP, DECLINE_REASONS, DUE_DAYS, MAX_DESCRIPTION, MAX_NOTE,
                                          MAX_PHOTOS, Draft, Op, View, add_metoo, assignee_buttons, claim_buttons,
                                          issue_number, metoo_buttons, note_text, number, triage_buttons)
from storage.db import Database

__all__ = ["CARD_EDIT_GAP", "DECLINE_REASONS", "DUE_DAYS", "MAX_DESCRIPTION", "MAX_NOTE", "MAX_PHOTOS", "Draft",
           "Op", "RequestService", "View", "add_metoo", "assignee_buttons", "claim_buttons", "issue_number",
           "metoo_buttons", "note_text", "number", "triage_buttons"]


class RequestService(Intake, Triage, Tasks, Moves, Posts, Reading):
    def __init__(self, db: Database, notifier: Notifier, translator: Translator | None = None) -> None:
        self.db = db
        self.notifier = notifier
        self.translator = translator or NoTranslator()
        self.on_close = []
        self.reminders = {}

