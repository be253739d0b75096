"""The request state machine (#13): one table of moves, and the one place a status changes
refuses any other move, writing nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from bot.errors import Stale
from bot.services.context import system_actor
from bot.services.states import MOVES, may_move
from storage.models import OPEN_STATUSES, AuditEvent, Community, Request, Status
from tests.conftest import Harness, community
from tests.test_requests_flow import file_privately

FINAL = {Status.CLOSED, Status.DECLINED, Status.DUPLICATE, Status.CANCELLED}


def test_every_status_is_in_the_table_and_final_ones_lead_nowhere():
    assert set(MOVES) == set(Status)
    assert all(to in Status for targets in MOVES.values() for to in targets)
    for status in FINAL:
        assert not any(may_move(status, to) for to in Status), status
    # Open requests can always be cancelled, or stay where they are (a progress note); closed ones not.
    assert all(may_move(s, Status.CANCELLED) and may_move(s, s) for s in OPEN_STATUSES)
    assert not may_move(Status.DONE, Status.CANCELLED) and not may_move(Status.CLOSED, Status.CLOSED)


def test_only_what_the_workflow_allows():
    assert may_move(Status.NEW, Status.ACCEPTED) and may_move(Status.ACCEPTED, Status.CLAIMED)
    assert may_move(Status.DONE, Status.NEW) and may_move(Status.CLOSED_UNRATED, Status.NEW)  # reopened
    assert not may_move(Status.NEW, Status.DONE)  # nobody did it
    assert not may_move(Status.ACCEPTED, Status.DONE)  # nobody took it
    assert not may_move(Status.CLOSED, Status.NEW)  # signed off as fixed: a new request, not a reopen
    assert not may_move(Status.WAITING_INFO, Status.ACCEPTED)  # the resident answers first
    # Every state but the final ones can be left; every open state can be reached from a new request.
    reachable, todo = {Status.NEW}, [Status.NEW]
    while todo:
        for to in MOVES[todo.pop()]:
            if to not in reachable:
                reachable.add(to)
                todo.append(to)
    assert reachable | {Status.CANCELLED} == set(Status)


async def test_a_move_outside_the_table_is_refused_and_writes_nothing(harness: Harness):
    h = harness
    await community(h)
    req = await file_privately(h)
    async with h.app.db.read() as s:
        audits = (await s.execute(select(func.count()).select_from(AuditEvent))).scalar_one()
    with pytest.raises(Stale):
        async with h.app.db.write() as s:
            row = await s.get(Request, req.id)
            c = await s.get(Community, row.community_id)
            await h.app.requests.apply(s, system_actor(c), row, Status.DONE, "done")
    async with h.app.db.read() as s:
        assert (await s.get(Request, req.id)).status == Status.NEW
        assert (await s.execute(select(func.count()).select_from(AuditEvent))).scalar_one() == audits


def test_each_move_names_its_effects_beside_it():
    """Reading one move is reading one row: what it does besides changing the status is listed there."""
    from bot.services.states import (AFTER, NOTICE, RECORD, assignee_briefed, card_closed, effects, requester_earns,
                                     signoff_asked, tappers_told, task_posted, triaged)

    assert all(step.phase in (RECORD, NOTICE, AFTER) for row in MOVES.values() for steps in row.values()
               for step in steps)
    # Every move out of `new` records the first response and closes the triage card; staying does nothing.
    assert all({triaged, card_closed} <= set(steps) for steps in MOVES[Status.NEW].values())
    assert effects(Status.NEW, Status.NEW) == () and effects(Status.CLAIMED, Status.CLAIMED) == ()
    # Done always asks the requester "fixed?"; only an accepted request earns its requester points.
    assert all(signoff_asked in MOVES[before][Status.DONE] for before in MOVES if Status.DONE in MOVES[before])
    earning = [(before, to) for before in MOVES for to, steps in MOVES[before].items() if requester_earns in steps]
    assert earning == [(Status.NEW, Status.ACCEPTED)]
    assert task_posted in effects(Status.NEW, Status.ACCEPTED)
    assert assignee_briefed in effects(Status.NEW, Status.ESCALATED)
    # "Me too" households hear every outcome and a reopening, and a cancel; a cancelled new request's card closes.
    assert tappers_told in effects(Status.DONE, Status.NEW) and tappers_told not in effects(Status.NEW, Status.ACCEPTED)
    assert effects(Status.NEW, Status.CANCELLED) == (tappers_told, card_closed)
    assert effects(Status.CLAIMED, Status.CANCELLED) == (tappers_told,)
