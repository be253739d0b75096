"""Evaluation and reports: grid ratings (红黄黑) by their thresholds, /stats and who may see it,
the weekly digest, monthly report and quarterly ranking posted once however often the job runs
(and across a restart), and the CSV export."""
from __future__ import annotations

import asyncio
import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiogram.methods import SendPhoto
from sqlalchemy import select, update

from bot.services.reports import DEFAULT_GRID_RATING, Figures, due_periods, grade, thresholds
from storage.models import (AuditEvent, ChatBinding, Community, Outbox, PointEntry, Proposal, Rating, Request,
                            User, Vote, utcnow)
from tests.conftest import (COMMUNITY_GROUP, RESIDENT, STAFF, STAFF_GROUP, VOLUNTEER, Harness, community)
from tests.conftest import database_url
from tests.tg import Updates

TZ = ZoneInfo("Asia/Shanghai")


def local(y: int, m: int, d: int, hh: int = 12, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=TZ).astimezone(timezone.utc)


# ----------------------------------------------------------------- thresholds (pure)
def test_grades_follow_the_documented_thresholds():
    limits = DEFAULT_GRID_RATING
    good = dict(filed=4, triage_h=[2, 3, 5], resolve_h=[20, 30, 40], stars=[5, 4, 5], signoffs=3)
    assert grade(Figures(**good), limits) == "red"
    assert grade(Figures(**{**good, "triage_h": [30, 30]}), limits) == "yellow"  # 24 h < median <= 72 h
    assert grade(Figures(**{**good, "stars": [4, 3, 4]}), limits) == "yellow"  # 3.67: under 4, not under 3
    assert grade(Figures(**{**good, "stars": [3, 2, 3]}), limits) == "black"  # average under 3
    assert grade(Figures(**{**good, "resolve_h": [300]}), limits) == "black"  # median over 240 h
    assert grade(Figures(**{**good, "reopened": 1}), limits) == "black"  # 1 of 3 sign-offs reopened: 33% > 30%
    assert grade(Figures(**{**good, "breaches": 1}), limits) == "yellow"  # 25% of filed missed a deadline
    assert grade(Figures(**{**good, "breaches": 2}), limits) == "black"  # 50%
    assert grade(Figures(filed=1), limits) == "red"  # nothing known is bad yet
    assert grade(Figures(), limits) is None  # no activity: no grade


def test_thresholds_are_a_community_setting():
    c = Community(name="x", code="X", settings={"grid_rating": {"red": {"triage_hours": 48}, "black": {"rating": 2}}})
    limits = thresholds(c)
    assert limits["red"]["triage_hours"] == 48 and limits["red"]["rating"] == 4.0  # merged per key
    f = Figures(filed=2, triage_h=[30], stars=[4, 4])
    assert grade(f, DEFAULT_GRID_RATING) == "yellow" and grade(f, limits) == "red"
    low = Figures(filed=2, stars=[2, 3])
    assert grade(low, DEFAULT_GRID_RATING) == "black" and grade(low, limits) == "yellow"


def test_due_periods_in_community_time():
    c = Community(name="x", code="X", timezone="Asia/Shanghai")
    # 1 April 2024: a Monday, the 1st of a month and of a quarter
    week, month, quarter = due_periods(c, local(2024, 4, 1, 9, 5))
    assert (week.label, month.label, quarter.label) == ("2024-W13", "2024-03", "2024-Q1")
    assert week.start == local(2024, 3, 25, 0) and week.end == local(2024, 4, 1, 0)
    assert quarter.start == local(2024, 1, 1, 0) and quarter.end == local(2024, 4, 1, 0)
    week, month, quarter = due_periods(c, local(2024, 4, 1, 8, 55))  # before 09:00: the ones before
    assert (week.label, month.label, quarter.label) == ("2024-W12", "2024-02", "2023-Q4")
    week, month, quarter = due_periods(c, local(2024, 4, 3, 2, 0))  # a Wednesday: still the same ones due
    assert (week.label, month.label, quarter.label) == ("2024-W13", "2024-03", "2024-Q1")


# ----------------------------------------------------------------- data made directly
class Rows:
    """Requests, ratings and the rest written straight to the tables, as the workflow leaves them."""

    def __init__(self, h: Harness, c: Community, grids: list[Any]) -> None:
        self.h, self.c, self.grids, self.number = h, c, grids, 100

    async def request(self, grid: int | None, created: datetime, *, triage_h: float | None = None,
                      done_h: float | None = None, category: str = "repair", breaches: int = 0,
                      stars: int | None = None, reopened: bool = False, assignee: int | None = None,
                      rated: datetime | None = None) -> Request:
        self.number += 1
        async with self.h.app.db.write() as s:
            r = Request(community_id=self.c.id, number=self.number, requester_id=RESIDENT.id, description="Lift",
                        grid_id=self.grids[grid].id if grid is not None else None, category=category,
                        created_at=created, breaches=breaches, assignee_id=assignee,
                        status="closed" if done_h is not None else "new",
                        triaged_at=created + timedelta(hours=triage_h) if triage_h is not None else None,
                        done_at=created + timedelta(hours=done_h) if done_h is not None else None)
            s.add(r)
            await s.flush()
            s.add(AuditEvent(community_id=self.c.id, entity="request", entity_id=r.id, action="filed",
                             to_state="new", at=created))
            if done_h is not None:
                s.add(AuditEvent(community_id=self.c.id, actor_id=assignee, entity="request", entity_id=r.id,
                                 action="done", to_state="done", at=r.done_at))
            if stars is not None or reopened:
                s.add(Rating(request_id=r.id, round=1, user_id=RESIDENT.id, resolved=not reopened,
                             stars=None if reopened else stars, at=rated or r.done_at or created))
        return r


async def setup(h: Harness, created: datetime | None = None) -> Rows:
    info = await community(h)
    async with h.app.db.write() as s:
        await s.execute(update(User).where(User.id == STAFF.id).values(locale="en"))
        await s.execute(update(ChatBinding).values(locale="en"))
        if created is not None:
            await s.execute(update(Community).values(created_at=created))
        c = (await s.execute(select(Community))).scalars().one()
    return Rows(h, c, info["grids"])


# ----------------------------------------------------------------- /stats
async def test_stats_for_staff_with_grid_grades(harness: Harness):
    h = harness
    rows = await setup(h)
    now = utcnow()
    start = now - timedelta(minutes=10)
    if start.astimezone(TZ).month != now.astimezone(TZ).month:  # the first minutes of a month
        start = now - timedelta(seconds=30)
    for _ in range(2):  # 一网格: quick, fixed, five stars -> red
        await rows.request(0, start, triage_h=0.01, done_h=0.02, stars=5)
    await rows.request(1, start, triage_h=0.01, done_h=0.02, stars=2)  # 二网格: poorly rated -> black
    await rows.request(None, start)  # no grid: counted for the community, graded nowhere

    await h.send(STAFF, "/stats")
    text = h.session.last(STAFF.id).text
    assert "Requests: 4 new, 3 resolved" in text, text
    assert "🔴 <b>一网格</b> · 2" in text and "★ 5.0/5" in text
    assert "⚫ <b>二网格</b> · 1" in text and "★ 2.0/5" in text
    assert text.index("一网格") < text.index("二网格")  # best first
    assert "Open now: 1" in text

    await h.send(STAFF, "/stats", chat_id=STAFF_GROUP)
    assert "Requests: 4 new, 3 resolved" in h.session.last(STAFF_GROUP).text

    h.session.clear()
    await h.send(RESIDENT, "/stats")
    assert "Only community staff" in h.session.last(RESIDENT.id).text
    await h.send(RESIDENT, "/stats", chat_id=STAFF_GROUP)
    assert "Only community staff" in h.session.last(STAFF_GROUP).text
    await h.send(STAFF, "/stats", chat_id=COMMUNITY_GROUP)  # figures stay out of the residents' group
    assert "staff group" in h.session.last(COMMUNITY_GROUP).text
    assert "Requests:" not in h.session.last(COMMUNITY_GROUP).text
    await h.send(STAFF, "/stats", chat_id=-5555)  # a group bound to no community
    assert "staff group" in h.session.last(-5555).text


# ----------------------------------------------------------------- scheduled posts
NOW = local(2025, 3, 10, 9, 30)  # Monday: the digest of 3–9 March, February's report, Q4 2024's ranking


async def history(rows: Rows) -> None:
    # Q4 2024: the volunteer did two tasks, one rated 5 stars
    await rows.request(0, local(2024, 11, 10), triage_h=1, done_h=5, stars=5, assignee=VOLUNTEER.id)
    await rows.request(1, local(2024, 11, 12), triage_h=1, done_h=30, assignee=VOLUNTEER.id)
    # January and February: the satisfaction trend and February's categories
    await rows.request(0, local(2025, 1, 20), triage_h=2, done_h=10, stars=3)
    await rows.request(0, local(2025, 2, 3), triage_h=2, done_h=10, stars=5)
    await rows.request(1, local(2025, 2, 10), triage_h=2, done_h=10, stars=4)
    await rows.request(1, local(2025, 2, 11), category="sanitation")
    # the week of 3-9 March
    await rows.request(0, local(2025, 3, 4), triage_h=1, done_h=20, stars=4)
    await rows.request(1, local(2025, 3, 5), triage_h=3)
    async with rows.h.app.db.write() as s:
        p = Proposal(community_id=rows.c.id, number=1, proposer_id=STAFF.id, title="Bike shed", text="Build one",
                     status="closed", outcome="passed", closed_at=local(2025, 3, 6), eligible=3)
        s.add(p)
        await s.flush()
        s.add_all([Vote(proposal_id=p.id, user_id=STAFF.id, option=0, at=local(2025, 3, 5)),
                   Vote(proposal_id=p.id, user_id=VOLUNTEER.id, option=0, at=local(2025, 3, 5))])
        s.add(PointEntry(community_id=rows.c.id, user_id=VOLUNTEER.id, delta=10, reason="task_done", ref="t:1",
                         at=local(2025, 3, 5)))


async def keyed(h: Harness) -> dict[str, int]:
    async with h.app.db.read() as s:
        out: dict[str, int] = {}
        for key, in (await s.execute(select(Outbox.key).where(Outbox.key.like("%:%:20%")))).all():
            out[key] = out.get(key, 0) + 1
        return out


async def test_digest_report_and_ranking_are_posted_once(tmp_path: Path):
    updates = Updates()
    h = await Harness(tmp_path / "r.db", updates).start()
    rows = await setup(h, created=local(2024, 9, 1))
    await history(rows)
    cid = rows.c.id

    # Two runs at once (a double tick, or a second process): each post is written by one of them.
    assert sum(await asyncio.gather(h.app.reports.run_due(NOW), h.app.reports.run_due(NOW))) == 3
    assert await h.app.reports.run_due(NOW) == 0  # and once more afterwards
    assert await h.app.reports.run_due(NOW + timedelta(hours=5)) == 0
    assert await keyed(h) == {f"digest:{cid}:2025-W10": 1, f"report:{cid}:2025-02": 2,  # chart + text
                              f"ranking:{cid}:2024-Q4": 1}
    await h.deliver()

    digest = h.session.last(COMMUNITY_GROUP).text
    assert "2025-03-03 – 2025-03-09" in digest
    assert "2 new requests" in digest and "1 resolved" in digest
    assert "Median time to resolve: 20.0 h" in digest
    assert "Satisfaction: 4.0/5 from 1 rating" in digest
    assert "1 council decision passed" in digest

    [photo] = [c.method for c in h.session.calls if isinstance(c.method, SendPhoto)]
    assert photo.chat_id == STAFF_GROUP
    assert "A = Repair and maintenance (2); B = Sanitation and environment (1)" in photo.caption
    async with h.app.db.read() as s:
        png = (await s.execute(select(Outbox.blob).where(Outbox.method == "photo"))).scalar_one()
    assert png.startswith(b"\x89PNG")
    staff = [c.text for c in h.session.to(STAFF_GROUP)]
    report = next(t for t in staff if "monthly report 2025-02" in t and "Requests:" in t)
    assert "Requests: 3 new, 2 resolved" in report and "Average rating: 4.5/5 (2)" in report
    ranking = next(t for t in staff if "ranking for quarter 4 of 2024" in t)
    assert "1. 张伟 · 2 tasks done · ★ 5.0/5" in ranking
    assert ranking.index("1. 🔴 <b>一网格</b>") < ranking.index("2. 🔴 <b>二网格</b>")  # rated 5 first
    assert h.session.to(RESIDENT.id) == []
    await h.close()

    # A restart: the new process finds the keys and posts nothing again.
    h2 = await Harness(tmp_path / "r.db", updates).start()
    assert await h2.app.reports.run_due(NOW + timedelta(minutes=15)) == 0
    await h2.deliver()
    assert h2.session.calls == []
    # A week later only the next digest is due.
    assert await h2.app.reports.run_due(NOW + timedelta(days=7)) == 1
    assert f"digest:{cid}:2025-W11" in await keyed(h2)
    await h2.close()


async def test_nothing_is_reported_for_before_the_community_existed(harness: Harness):
    h = harness
    await setup(h)  # created now
    assert await h.app.reports.run_due() == 0
    assert await keyed(h) == {}


# ----------------------------------------------------------------- export
def read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def test_export_writes_the_expected_rows(tmp_path: Path, monkeypatch):
    """Through the command line, as an operator runs it (its own event loop)."""
    async def prepare() -> None:
        h = await Harness(tmp_path / "e.db").start()
        await history(await setup(h, created=local(2024, 9, 1)))
        await h.close()

    asyncio.run(prepare())

    from bot.cli import main

    monkeypatch.setenv("DATABASE_URL", database_url(tmp_path / 'e.db'))
    out = tmp_path / "out"
    assert main(["export", "JMS", "--from", "2025-03-01", "--to", "2025-03-31", "--out", str(out)]) == 0

    requests = read(out / "requests.csv")
    assert [r["number"] for r in requests] == ["JMS-0107", "JMS-0108"]
    assert requests[0]["grid"] == "一网格" and requests[0]["status"] == "closed"
    assert requests[0]["created_at"] == "2025-03-04T04:00:00+00:00"
    assert requests[0]["done_at"] == "2025-03-05T00:00:00+00:00" and requests[1]["done_at"] == ""
    assert "contact" not in ",".join(requests[0])  # no private columns
    timeline = read(out / "timeline.csv")
    assert [(t["number"], t["action"]) for t in timeline] == [("JMS-0107", "filed"), ("JMS-0107", "done"),
                                                              ("JMS-0108", "filed")]
    [rating] = read(out / "ratings.csv")
    assert (rating["number"], rating["stars"], rating["resolved"]) == ("JMS-0107", "4", "1")
    [points] = read(out / "points.csv")
    assert (points["user_id"], points["delta"], points["reason"]) == (str(VOLUNTEER.id), "10", "task_done")
    votes = read(out / "votes.csv")
    assert [(v["proposal"], v["outcome"], v["user_id"]) for v in votes] == [
        ("1", "passed", str(STAFF.id)), ("1", "passed", str(VOLUNTEER.id))]
    assert read(out / "surveys.csv") == []

    # Another range: February has its own rows, and the vote of March is not in it.
    assert main(["export", "JMS", "--from", "2025-02-01", "--to", "2025-02-28", "--out", str(tmp_path / "feb")]) == 0
    assert len(read(tmp_path / "feb" / "requests.csv")) == 3
    assert read(tmp_path / "feb" / "votes.csv") == []
    assert main(["export", "NOPE", "--from", "2025-02-01", "--to", "2025-02-28", "--out", str(tmp_path / "x")]) == 1
