"""Tables. Every piece of workflow state lives here: a restart loses nothing.

Timestamps are aware UTC (`utcnow()`); community time zones apply only when rendering.
"""
from __future__ import annotations

import copy
import functools
import inspect
from datetime import datetime, timezone
from enum import StrEnum
from typing import Any, Optional

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, UniqueConstraint, insert_sentinel
from sqlmodel import Field, SQLModel
from sqlmodel._compat import finish_init


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


# pydantic looks at a default factory's signature each time it calls one (every row made with
# `default_factory=utcnow`): given, it is read at once instead of worked out again.
utcnow.__signature__ = inspect.signature(utcnow)  # type: ignore[attr-defined]


class Table(SQLModel):
    """A table's row made in Python, as SQLModel makes one (no validation) at a fraction of the cost.

    SQLModel sets each field through SQLAlchemy's and pydantic's attribute machinery, defaults too
    (0.26 ms for an outbox row); a new row needs none of it: what an INSERT writes is the row's
    `__dict__`. The defaults and factories of each table are worked out once."""

    def __init__(self, **data: Any) -> None:
        if not finish_init.get():  # SQLModel's own validation makes the row (model_validate)
            return
        fields, static, factories = _defaults(type(self))
        if not data.keys() <= fields:
            raise TypeError(f"{type(self).__name__} has no field {', '.join(sorted(data.keys() - fields))}")
        values = dict(static)
        for name, factory in factories:
            if name not in data:
                values[name] = factory()
        values.update(data)
        self.__dict__.update(values)
        object.__setattr__(self, "__pydantic_fields_set__", set(data))
        object.__setattr__(self, "__pydantic_extra__", None)
        object.__setattr__(self, "__pydantic_private__", None)


@functools.cache
def _defaults(cls: type[SQLModel]) -> tuple[frozenset[str], dict[str, Any], list[tuple[str, Any]]]:
    """A table's field names, its plain defaults, and the fields made by a factory (mutable
    defaults are copied for each row, as pydantic does)."""
    static: dict[str, Any] = {}
    factories: list[tuple[str, Any]] = []
    for name, field in cls.model_fields.items():
        if field.default_factory is not None:
            factories.append((name, field.default_factory))
        elif not field.is_required():
            default = field.default
            if isinstance(default, (list, dict, set)):
                factories.append((name, lambda d=default: copy.deepcopy(d)))
            else:
                static[name] = default
    return frozenset(cls.model_fields), static, factories


def aware(value: datetime) -> datetime:
    """A stored time as UTC-aware (SQLite gives naive UTC back, PostgreSQL aware)."""
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class Role(StrEnum):
    RESIDENT = "resident"
    GRID_LEADER = "grid_leader"
    VOLUNTEER = "volunteer"
    COUNCIL_MEMBER = "council_member"
    STAFF = "staff"
    LIAISON = "department_liaison"
    PARTNER = "partner"  # a member of one partner organisation (共建单位): Membership.partner_id


class ChatKind(StrEnum):
    COMMUNITY = "community"
    GRID = "grid"
    VOLUNTEERS = "volunteers"
    COUNCIL = "council"
    STAFF = "staff"


class ProposalStatus(StrEnum):
    DRAFT = "draft"
    OPEN = "open"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"


class Outcome(StrEnum):
    """How a closed vote ended."""

    PASSED = "passed"
    REJECTED = "rejected"
    NO_QUORUM = "no_quorum"


class SurveyStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Status(StrEnum):
    """Request states. `done` is "fixed"; the closed-not-fixed states keep a reason."""

    NEW = "new"
    WAITING_INFO = "waiting_info"
    ACCEPTED = "accepted"  # an open volunteer task
    CLAIMED = "claimed"
    IN_PROGRESS = "in_progress"
    HANDLING = "handling"  # the grid leader runs it (代办)
    ESCALATED = "escalated"
    DEPT_ACCEPTED = "dept_accepted"
    DONE = "done"  # fixed, waiting for the requester's sign-off
    CLOSED = "closed"  # signed off by the requester (resolved, rated)
    CLOSED_UNRATED = "closed_unrated"  # no answer to the sign-off: never counted as satisfied
    DECLINED = "declined"
    DUPLICATE = "duplicate"
    CANCELLED = "cancelled"
    COUNCIL = "council"  # put to the residents' council; a proposal decides what comes next
    DISPATCHED = "dispatched"  # an order (点单) the community dispatched (下单), waiting for its provider (接单)
    PARTNER = "partner"  # routed to a partner's resource, waiting for one of its members to answer
    PARTNER_ACCEPTED = "partner_accepted"  # a partner's member took it on (the assignee)


OPEN_STATUSES = frozenset(
    {Status.NEW, Status.WAITING_INFO, Status.ACCEPTED, Status.CLAIMED, Status.IN_PROGRESS,
     Status.HANDLING, Status.ESCALATED, Status.DEPT_ACCEPTED, Status.COUNCIL, Status.PARTNER,
     Status.PARTNER_ACCEPTED, Status.DISPATCHED}
)


class Community(Table, table=True):
    __tablename__ = "communities"
    id: Optional[int] = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True)
    code: str = Field(unique=True, max_length=8)  # request numbers: JMS-0042
    timezone: str = "Asia/Shanghai"
    locale: str = "zh_Hans"
    settings: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # The name in other languages, keyed by locale ({"en": "Jimingshan Community"}); `name` is the
    # community's own. Readers see theirs, else `name` (see `bot.render.local_name`).
    names: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    # Departments' names in other languages: {"物业": {"en": "Property management"}}.
    department_names: dict[str, dict[str, str]] = Field(default_factory=dict, sa_column=Column(
        JSON, nullable=False, server_default="{}"))
    next_number: int = 1
    created_at: datetime = Field(default_factory=utcnow)


class PartnerKind(StrEnum):
    COMPANY = "company"
    INSTITUTION = "institution"  # public institution (事业单位)
    SOCIAL = "social"  # social organisation (社会组织)
    MERCHANT = "merchant"


class Partner(Table, table=True):
    """A partner organisation (共建单位) of one community. Its members have the role `partner` with
    `Membership.partner_id` set; `names` are its name in other languages, like a micro-grid's."""

    __tablename__ = "partners"
    __table_args__ = (UniqueConstraint("community_id", "name"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id", index=True)
    name: str = Field(max_length=64)
    names: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    kind: str = Field(max_length=16)  # PartnerKind
    created_by: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = Field(default_factory=utcnow)


class Grid(Table, table=True):
    __tablename__ = "grids"
    __table_args__ = (UniqueConstraint("community_id", "name"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id", index=True)
    name: str
    names: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))


class User(Table, table=True):
    __tablename__ = "users"
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    first_name: str = ""
    last_name: Optional[str] = None
    username: Optional[str] = None
    locale: Optional[str] = None  # explicit choice via /language
    language_code: Optional[str] = None  # last seen from Telegram
    started: bool = False  # has a private chat with the bot
    blocked: bool = False  # answered 403 "blocked"
    community_id: Optional[int] = Field(default=None, foreign_key="communities.id")  # current one
    created_at: datetime = Field(default_factory=utcnow)


class Membership(Table, table=True):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("user_id", "community_id", "role", "grid_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(sa_column=Column(BigInteger, index=True, nullable=False))
    community_id: int = Field(foreign_key="communities.id", index=True)
    role: str
    grid_id: Optional[int] = Field(default=None, foreign_key="grids.id")
    department: Optional[str] = None
    skills: Optional[str] = None
    partner_id: Optional[int] = Field(default=None, foreign_key="partners.id", index=True)  # role partner
    created_at: datetime = Field(default_factory=utcnow)


class Invitation(Table, table=True):
    __tablename__ = "invitations"
    token: str = Field(primary_key=True, max_length=32)
    community_id: int = Field(foreign_key="communities.id")
    role: str
    grid_id: Optional[int] = Field(default=None, foreign_key="grids.id")
    department: Optional[str] = None
    partner_id: Optional[int] = Field(default=None, foreign_key="partners.id")  # role partner: which one
    expires_at: Optional[datetime] = None
    uses_left: int = 1
    for_user_id: Optional[int] = Field(default=None, sa_column=Column(BigInteger))  # only this person may use it
    created_by: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = Field(default_factory=utcnow)


class ChatBinding(Table, table=True):
    __tablename__ = "chat_bindings"
    chat_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    community_id: int = Field(foreign_key="communities.id", index=True)
    kind: str
    grid_id: Optional[int] = Field(default=None, foreign_key="grids.id")
    title: str = ""
    locale: str = "zh_Hans"
    secondary_locale: Optional[str] = None
    created_at: datetime = Field(default_factory=utcnow)


class DirectoryVersion(Table, table=True):
    """One row: bumped in every transaction that changes communities, grids, chat bindings or
    memberships (`storage.cache`), so every process knows when its cached copies are stale."""

    __tablename__ = "directory_version"
    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    version: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


class InboxStatus(StrEnum):
    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class Inbox(Table, table=True):
    """Every update Telegram gave us, stored before Telegram is told it arrived.

    Handling an update, writing its effects and marking its row done commit together, so an
    update is handled fully or not at all; unfinished rows are handled after a restart, each
    person's in order (`person` is whoever the update is from, else its chat).
    """

    __tablename__ = "inbox"
    __table_args__ = (Index("ix_inbox_pending", "status", "update_id"),)
    update_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    person: int = Field(sa_column=Column(BigInteger, nullable=False))
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default=InboxStatus.PENDING)
    attempts: int = 0
    not_before: datetime = Field(default_factory=utcnow)
    error: Optional[str] = None
    received_at: datetime = Field(default_factory=utcnow)
    done_at: Optional[datetime] = Field(default=None, index=True)


class FsmRecord(Table, table=True):
    __tablename__ = "fsm_states"
    key: str = Field(primary_key=True)
    state: Optional[str] = None
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class AuditEvent(Table, table=True):
    """Append-only: who did what to which entity, when. A request's timeline is read from here."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_entity", "entity", "entity_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: Optional[int] = Field(default=None, foreign_key="communities.id")
    actor_id: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    entity: str
    entity_id: int = Field(sa_column=Column(BigInteger, nullable=False))  # a chat's or a person's id too
    action: str
    from_state: Optional[str] = None
    to_state: Optional[str] = None
    note: Optional[str] = None
    # Who may read `note` (bot.policy.Audience): public notes may go to groups and followers;
    # restricted ones reach the requester, assignee, the grid's leaders and that community's staff.
    audience: str = Field(default="restricted", max_length=12)
    at: datetime = Field(default_factory=utcnow)


class Request(Table, table=True):
    __tablename__ = "requests"
    __table_args__ = (
        UniqueConstraint("community_id", "number"),
        Index("ix_requests_queue", "community_id", "grid_id", "status"),
        Index("ix_requests_requester", "requester_id", "created_at"),
        Index("ix_requests_timer", "timer_at"),
        Index("ix_requests_assignee", "assignee_id", "status"),
        Index("ix_requests_community_status", "community_id", "status", "updated_at"),
        Index("ix_requests_community_created", "community_id", "created_at"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id")
    number: int
    grid_id: Optional[int] = Field(default=None, foreign_key="grids.id")
    requester_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    filed_by_id: Optional[int] = Field(default=None, sa_column=Column(BigInteger))  # on behalf
    on_behalf_name: Optional[str] = None
    category: Optional[str] = None
    description: str
    language_hint: Optional[str] = None  # detected, ISO 639-1; a hint, never a UI switch
    description_mt: Optional[str] = None  # machine translation into the community's language, labelled
    mt_locale: Optional[str] = None
    contact_note: Optional[str] = None  # private: assignee and staff only
    latitude: Optional[float] = None
    longitude: Optional[float] = None
    photos: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    status: str = Field(default=Status.NEW)
    source_chat_id: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    assignee_id: Optional[int] = Field(default=None, sa_column=Column(BigInteger))  # volunteer, leader or liaison
    department: Optional[str] = None
    dept_due_at: Optional[datetime] = None
    duplicate_of_id: Optional[int] = Field(default=None, foreign_key="requests.id")
    reason: Optional[str] = None  # decline reason code
    reason_note: Optional[str] = None
    # One timer per request: what fires next and when. Paused (NULL) while waiting for the resident.
    timer_at: Optional[datetime] = None
    timer_kind: Optional[str] = None
    paused_status: Optional[str] = None  # the state to return to after waiting for info
    paused_remaining_s: Optional[int] = None
    # For evaluation: when it was first triaged, last done and closed; how often it was reopened
    # and how many deadlines it breached (a timer reaching staff).
    triaged_at: Optional[datetime] = None
    done_at: Optional[datetime] = None
    closed_at: Optional[datetime] = None
    round: int = 1
    breaches: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Outbox(Table, table=True):
    """Notifications written in the same transaction as the state change that caused them.

    The delivery loop sends pending rows per chat in id order and marks them sent; a crash
    between commit and send re-sends on restart.
    """

    __tablename__ = "outbox"
    # AUTOINCREMENT: an id is never reused, so a send that finishes late can only mark its own row.
    __table_args__ = (Index("ix_outbox_pending", "status", "chat_id", "id"), {"sqlite_autoincrement": True})
    id: Optional[int] = Field(default=None, primary_key=True)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    method: str = "send"  # send | edit | markup | delete | photo | location | poll | stop_poll
    text: str
    buttons: Optional[list[Any]] = Field(default=None, sa_column=Column(JSON))
    photo: Optional[str] = None
    blob: Optional[bytes] = Field(default=None, sa_column=Column(LargeBinary))  # an image we made (charts)
    payload: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON))  # e.g. poll options
    external_id: Optional[str] = Field(default=None, index=True)  # what Telegram returned, e.g. a poll id
    edit_of: Optional[int] = Field(default=None, foreign_key="outbox.id")  # for method=edit
    target_message_id: Optional[int] = None  # edit a message not sent through the outbox (a pressed one)
    key: Optional[str] = Field(default=None, index=True)  # what this post is about, e.g. "task:42"
    fallback_chat_id: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    fallback_text: Optional[str] = None
    priority: int = 5  # lower goes first
    status: str = "pending"  # pending | sent | failed
    attempts: int = 0
    not_before: datetime = Field(default_factory=utcnow)
    message_id: Optional[int] = None
    error: Optional[str] = None
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: Optional[datetime] = None
    # Ties the ids an INSERT returns to its rows, so that the rows one transaction writes go in one
    # statement on SQLite too (SQLAlchemy's "insertmanyvalues"; PostgreSQL needs no such column).
    sentinel: Optional[int] = Field(default=None, sa_column=insert_sentinel("sentinel"))


class Follower(Table, table=True):
    """People told about a request's changes besides its requester (merged duplicates, "me too")."""

    __tablename__ = "request_followers"
    request_id: int = Field(foreign_key="requests.id", primary_key=True)
    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    created_at: datetime = Field(default_factory=utcnow)


# ---------------------------------------------------------------- deliberation council (议事会)
class Proposal(Table, table=True):
    """A matter put to the council. Editable while `draft`; frozen from `open` on.

    `options` None means For / Against / Abstain (translated per reader); otherwise 2-10 literal
    options. `minutes` holds the figures fixed at close (counts, turnout, quorum, threshold test,
    and for open ballots the named votes); `statement` is staff's optional outcome statement.
    """

    __tablename__ = "proposals"
    __table_args__ = (
        UniqueConstraint("community_id", "number"),
        Index("ix_proposals_due", "status", "closes_at"),
        Index("ix_proposals_remind", "remind_at"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id")
    number: int
    request_id: Optional[int] = Field(default=None, foreign_key="requests.id", index=True)
    proposer_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    title: str
    text: str
    kind: str = "decision"  # decision | convention | spending
    options: Optional[list[str]] = Field(default=None, sa_column=Column(JSON))
    # Each custom option's name in other languages, by position: [{"en": "Bike shed"}, {}].
    option_names: Optional[list[dict[str, str]]] = Field(default=None, sa_column=Column(JSON))
    hours: int = 72
    quorum_pct: int = 50  # share of eligible voters who must vote (abstaining counts)
    threshold: str = "simple"  # simple: more For than Against | two_thirds
    secret: bool = False
    status: str = ProposalStatus.DRAFT
    eligible: int = 0  # how many voters were snapshotted at opening
    opened_at: Optional[datetime] = None
    closes_at: Optional[datetime] = None
    remind_at: Optional[datetime] = None  # NULL once the reminder fired (or none is due)
    closed_at: Optional[datetime] = None
    outcome: Optional[str] = None  # an Outcome once closed
    minutes: Optional[dict[str, Any]] = Field(default=None, sa_column=Column(JSON))
    statement: Optional[str] = None
    statement_by: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)

    def names_of(self, option: int) -> dict[str, str]:
        """A custom option's names in other languages (`/name option`), {} when it has none."""
        names = self.option_names or []
        return names[option] if option < len(names) else {}


class Elector(Table, table=True):
    """Who may vote on a proposal: the community's council members when it opened."""

    __tablename__ = "proposal_electors"
    proposal_id: int = Field(foreign_key="proposals.id", primary_key=True)
    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))


class Turnout(Table, table=True):
    """Who has voted, never what (the same for open and secret ballots)."""

    __tablename__ = "vote_turnout"
    proposal_id: int = Field(foreign_key="proposals.id", primary_key=True)
    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    at: datetime = Field(default_factory=utcnow)


class Vote(Table, table=True):
    """The current choice of a member in an open (named) ballot: one per member."""

    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("proposal_id", "user_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposals.id", index=True)
    user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    option: int
    at: datetime = Field(default_factory=utcnow)


class Ballot(Table, table=True):
    """A secret ballot: the choice only. No voter, no time, and a random id, so neither a column
    nor the row order links it to `vote_turnout` or `vote_log`."""

    __tablename__ = "secret_ballots"
    id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    proposal_id: int = Field(foreign_key="proposals.id", index=True)
    option: int


class VoteLog(Table, table=True):
    """Append-only: every accepted press (cast, changed, repeat). `option` is NULL for secret
    ballots."""

    __tablename__ = "vote_log"
    id: Optional[int] = Field(default=None, primary_key=True)
    proposal_id: int = Field(foreign_key="proposals.id", index=True)
    user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    option: Optional[int] = None
    action: str
    at: datetime = Field(default_factory=utcnow)


class Convention(Table, table=True):
    """A residents' convention (居民公约) adopted by a passed `convention` proposal."""

    __tablename__ = "conventions"
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id", index=True)
    proposal_id: int = Field(foreign_key="proposals.id", unique=True)
    title: str
    text: str
    adopted_at: datetime = Field(default_factory=utcnow)
    # The title in other languages: staff's (`/name convention`) and the machine's ("<locale>@mt");
    # the text's machine translations ({"<locale>@mt": text}), bot.services.names (#16).
    names: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    text_names: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False,
                                                                              server_default="{}"))


class Rating(Table, table=True):
    """The requester's sign-off of one round of a request (a reopen starts another round)."""

    __tablename__ = "ratings"
    __table_args__ = (UniqueConstraint("request_id", "round"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="requests.id", index=True)
    round: int
    user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    resolved: bool
    stars: Optional[int] = None
    comment: Optional[str] = None
    at: datetime = Field(default_factory=utcnow)


class PointEntry(Table, table=True):
    """Append-only points ledger (积分). `ref` makes every award idempotent: a redelivered update
    or a reopen never pays twice."""

    __tablename__ = "points_ledger"
    __table_args__ = (Index("ix_points_member", "community_id", "user_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id")
    user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    delta: int
    reason: str  # task_done, five_stars, vote_cast, proposal_passed, request_accepted, redeemed
    ref: str = Field(unique=True)
    note: Optional[str] = None
    by_id: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    at: datetime = Field(default_factory=utcnow)


class Survey(Table, table=True):
    """A community satisfaction poll, posted as an anonymous native poll in each target group."""

    __tablename__ = "surveys"
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id", index=True)
    created_by: int = Field(sa_column=Column(BigInteger, nullable=False))
    question: str
    options: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    closes_at: datetime = Field(index=True)
    status: str = SurveyStatus.OPEN
    created_at: datetime = Field(default_factory=utcnow)


class SurveyPoll(Table, table=True):
    """One posted poll of a survey; running totals from `poll` updates."""

    __tablename__ = "survey_polls"
    id: Optional[int] = Field(default=None, primary_key=True)
    survey_id: int = Field(foreign_key="surveys.id", index=True)
    chat_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    outbox_id: int = Field(foreign_key="outbox.id")
    totals: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))


# ---------------------------------------------------------------- accountability (issue #18)
class MeToo(Table, table=True):
    """"Me too" (附议): a household (one Telegram account) that has the same problem as a request.
    The primary key makes a second tap count nothing; the requester's own household is counted
    by the request itself. Tappers are told the outcome; no group ever sees who they are."""

    __tablename__ = "request_metoo"
    request_id: int = Field(foreign_key="requests.id", primary_key=True)
    user_id: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    at: datetime = Field(default_factory=utcnow)


class Execution(Table, table=True):
    """Decisions carried out (决议落实): what became of a passed proposal. One per proposal;
    `owner_id` and `due_at` are set by staff; `progress` is 0–100 and `done_at` is set at 100.
    `remind_at` is when the owner is reminded before the due date (NULL once reminded)."""

    __tablename__ = "executions"
    __table_args__ = (Index("ix_executions_due", "community_id", "done_at", "due_at"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id")
    proposal_id: int = Field(foreign_key="proposals.id", unique=True)
    owner_id: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    due_at: Optional[datetime] = None
    remind_at: Optional[datetime] = Field(default=None, index=True)
    progress: int = 0
    done_at: Optional[datetime] = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ExecutionUpdate(Table, table=True):
    """One progress report on an execution: the new percentage, a public note and photos."""

    __tablename__ = "execution_updates"
    id: Optional[int] = Field(default=None, primary_key=True)
    execution_id: int = Field(foreign_key="executions.id", index=True)
    author_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    progress: int
    note: Optional[str] = None
    photos: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    at: datetime = Field(default_factory=utcnow)


# ---------------------------------------------------------------- services list (服务清单, 点单)
class ProviderKind(StrEnum):
    COMMUNITY = "community"  # the community's staff
    VOLUNTEERS = "volunteers"  # the volunteer team
    PARTNER = "partner"  # a partner organisation (共建单位), `Service.provider_id`


class Service(Table, table=True):
    """Something residents can order from the menu. `name` is in the community's language,
    `names` in others ({"ar": "…"}); `languages` are the locales it is offered in; `grid_id`,
    when set, limits who may order it to the residents of that micro-grid."""

    __tablename__ = "services"
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id", index=True)
    name: str = Field(max_length=64)
    names: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    category: str
    provider_kind: str = Field(default=ProviderKind.VOLUNTEERS, max_length=16)
    provider_id: Optional[int] = None  # the partner, for provider_kind == partner
    languages: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    grid_id: Optional[int] = Field(default=None, foreign_key="grids.id")
    active: bool = True
    created_by: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = Field(default_factory=utcnow)


# ---------------------------------------------------------------- micro-wishes (微心愿)
class WishStatus(StrEnum):
    """A micro-wish's life: screened by staff, claimed (first tap wins), delivered with a photo,
    confirmed by the wisher (or the leader who filed it for them)."""

    SUBMITTED = "submitted"  # waiting for staff's privacy screening
    APPROVED = "approved"  # on the wish board, open to claim
    CLAIMED = "claimed"
    DELIVERED = "delivered"  # waiting for the wisher's thanks and confirmation
    FULFILLED = "fulfilled"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Wish(Table, table=True):
    """A small wish of a resident in difficulty. Audience: `public_text` (set by staff at
    screening, scrubbed) is the only free text a group or a claimer-to-be reads; `title`,
    `reason`, `on_behalf_name`, `photo` are restricted (the wisher, the filer, that community's
    staff, the fulfiller); `contact_note` (delivery details) is private to the same people."""

    __tablename__ = "wishes"
    __table_args__ = (
        UniqueConstraint("community_id", "number"),
        Index("ix_wishes_board", "community_id", "status"),
        Index("ix_wishes_fulfiller", "fulfiller_id", "status"),
        Index("ix_wishes_requester", "requester_id", "created_at"),
    )
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id")
    number: int
    grid_id: Optional[int] = Field(default=None, foreign_key="grids.id")
    category: str = "other"
    requester_id: int = Field(sa_column=Column(BigInteger, nullable=False))  # who submitted it
    filed_by_id: Optional[int] = Field(default=None, sa_column=Column(BigInteger))  # a leader, on behalf
    on_behalf_name: Optional[str] = None  # restricted
    title: str  # what: restricted until screened
    reason: str = ""  # why: restricted
    budget: int = 0  # a cap, in the community's currency (yuan)
    photo: Optional[str] = None  # restricted: it may show a home
    contact_note: Optional[str] = None  # private: delivery details
    public_text: Optional[str] = None  # what the board shows, edited by staff, scrubbed
    status: str = Field(default=WishStatus.SUBMITTED)
    reject_note: Optional[str] = None
    screened_by: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    fulfiller_id: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    fulfiller_role: Optional[str] = None  # volunteer | partner: whose pledge it counts for
    partner_id: Optional[int] = Field(default=None, foreign_key="partners.id")  # the fulfiller's partner unit
    delivered_photo: Optional[str] = None
    approved_at: Optional[datetime] = None
    claimed_at: Optional[datetime] = None
    delivered_at: Optional[datetime] = None
    fulfilled_at: Optional[datetime] = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
# ---------------------------------------------------------------- partners: resources, contributions, points
class ResourceKind(StrEnum):
    VENUE = "venue"
    EQUIPMENT = "equipment"
    SERVICE = "service"  # a professional service (lawyer, doctor, electrician)
    HOURS = "hours"  # volunteer hours
    BUDGET = "budget"


class Resource(Table, table=True):
    """What a partner (or the community itself, `partner_id` NULL) can offer: the resources list
    (资源清单). `title`, `details` and `availability` are written by people and public (they are
    shown to leaders triaging and to partners); `amount` is hours or yuan where that applies."""

    __tablename__ = "resources"
    __table_args__ = (Index("ix_resources_list", "community_id", "active", "kind"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id")
    partner_id: Optional[int] = Field(default=None, foreign_key="partners.id", index=True)
    kind: str = Field(max_length=16)  # ResourceKind
    title: str = Field(max_length=120)
    details: Optional[str] = None
    availability: Optional[str] = Field(default=None, max_length=120)
    amount: Optional[int] = None
    active: bool = True
    created_by: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = Field(default_factory=utcnow)


class ServiceSlot(Table, table=True):
    """A time a service can be ordered for. `taken` moves only by conditional UPDATEs
    (`taken < capacity` to order, `taken > 0` to free a seat), so capacity is never exceeded."""

    __tablename__ = "service_slots"
    id: Optional[int] = Field(default=None, primary_key=True)
    service_id: int = Field(foreign_key="services.id", index=True)
    starts_at: datetime
    capacity: int
    taken: int = 0


class ServiceOrder(Table, table=True):
    """An order is a request (its lifecycle, sign-off and rating) holding a seat of a slot.
    `held` goes false when the request is cancelled or declined (the seat is freed once)."""

    __tablename__ = "service_orders"
    id: Optional[int] = Field(default=None, primary_key=True)
    request_id: int = Field(foreign_key="requests.id", unique=True)
    service_id: int = Field(foreign_key="services.id", index=True)
    slot_id: int = Field(foreign_key="service_slots.id", index=True)
    held: bool = True
    created_at: datetime = Field(default_factory=utcnow)


class NeedsDraft(Table, table=True):
    """The month's "problem of the month" (每月一题) draft proposal: one per community and month."""

    __tablename__ = "needs_drafts"
    community_id: int = Field(foreign_key="communities.id", primary_key=True)
    month: str = Field(primary_key=True, max_length=7)  # YYYY-MM
    proposal_id: Optional[int] = Field(default=None, foreign_key="proposals.id")
    category: Optional[str] = None
    at: datetime = Field(default_factory=utcnow)
class ResourceRoute(Table, table=True):
    """A request routed to a partner's resource; the partner's members accept or decline it (like
    a department liaison). One row per routing, so a declined one keeps its trail."""

    __tablename__ = "resource_routes"
    __table_args__ = (Index("ix_routes_partner", "partner_id", "status"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id")
    request_id: int = Field(foreign_key="requests.id", index=True)
    resource_id: int = Field(foreign_key="resources.id")
    partner_id: int = Field(foreign_key="partners.id")
    status: str = Field(default="pending", max_length=12)  # pending | accepted | declined | done
    routed_by: int = Field(sa_column=Column(BigInteger, nullable=False))
    member_id: Optional[int] = Field(default=None, sa_column=Column(BigInteger))  # who accepted or declined
    note: Optional[str] = None  # the decline reason (restricted)
    hours: Optional[int] = None
    created_at: datetime = Field(default_factory=utcnow)
    decided_at: Optional[datetime] = None


class Contribution(Table, table=True):
    """Append-only: what a partner contributed (hours, service, wish, redeemed points), once per
    `ref`. Other modules (services menu, micro-wishes) record theirs through
    `bot.services.partners.contribute`; reports and the export sum this table."""

    __tablename__ = "partner_contributions"
    __table_args__ = (Index("ix_contrib_partner", "community_id", "partner_id", "kind"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id")
    partner_id: int = Field(foreign_key="partners.id")
    kind: str = Field(max_length=16)  # hours | service | wish | points
    amount: int = 1
    ref: str = Field(unique=True, max_length=64)
    at: datetime = Field(default_factory=utcnow)


class PartnerItem(Table, table=True):
    """Something residents can redeem points for at a partner (积分兑换). `stock` NULL: unlimited."""

    __tablename__ = "partner_items"
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id")
    partner_id: int = Field(foreign_key="partners.id", index=True)
    title: str = Field(max_length=120)
    points: int
    stock: Optional[int] = None
    active: bool = True
    created_by: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    created_at: datetime = Field(default_factory=utcnow)


class Redemption(Table, table=True):
    """A resident's redemption of an item: points are debited when it is made (never below zero),
    the resident shows `code`, a member of the partner confirms it once; a cancelled or expired one
    is refunded."""

    __tablename__ = "redemptions"
    __table_args__ = (UniqueConstraint("community_id", "code"), Index("ix_redemptions_user", "user_id", "status"))
    id: Optional[int] = Field(default=None, primary_key=True)
    community_id: int = Field(foreign_key="communities.id")
    partner_id: int = Field(foreign_key="partners.id", index=True)
    item_id: int = Field(foreign_key="partner_items.id")
    user_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    points: int
    code: str = Field(max_length=12)
    status: str = Field(default="pending", max_length=12)  # pending | confirmed | cancelled | expired
    confirmed_by: Optional[int] = Field(default=None, sa_column=Column(BigInteger))
    expires_at: datetime
    created_at: datetime = Field(default_factory=utcnow)
    confirmed_at: Optional[datetime] = None
