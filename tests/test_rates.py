"""The three rates (响应率、解决率、满意率) against a fixture computed by hand, first as plain
rows, then the same history written to the tables and read back through `rates.load`, then in
what staff read (/stats) and in the export."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select, update

from bot.services import rates
from bot.services.rates import Case, Unrated, Verdict, tally
from storage.models import AuditEvent, ChatBinding, Community, Grid, Rating, Request, User
from tests.conftest import LEADER, RESIDENT, STAFF, Harness, community

A, B, C = 1, 2, 3  # micro-grids: A and B in community 1, C in community 2 (the same street)


def at(month: int, day: int, hour: int = 12) -> datetime:
    return datetime(2025, month, day, hour, tzinfo=timezone.utc)


def case(rid: int, community: int, grid: int, created: datetime, status: str, ack_h: float | None) -> Case:
    return Case(rid, community, grid, created, status, None if ack_h is None else created + timedelta(hours=ack_h),
                response_hours=24, resolve_hours=168)


START, END = at(3, 1, 0), at(4, 1, 0)  # March 2025
NOW = at(4, 1, 10)

# (id, community, grid, created, status as it stands, hours until a person other than the requester acted)
CASES = [
    case(1, 1, A, at(3, 3), "closed", 2),  # responded; due 10 Mar, confirmed resolved
    case(2, 1, A, at(3, 5), "declined", 30),  # responded late; due 12 Mar, declined: not resolved
    case(3, 1, A, at(3, 7), "new", None),  # never responded, window over; due 14 Mar, still open
    case(4, 1, B, at(3, 10), "cancelled", None),  # withdrawn before anyone acted: in no rate
    case(5, 1, B, at(3, 12), "closed_unrated", 1),  # responded; due 19 Mar, closed without rating
    case(6, 1, B, at(3, 28), "closed", 3),  # responded; due 4 April: not in March's resolution rate
    case(7, 1, A, at(2, 25), "closed", 1),  # filed in February; due 4 March, resolved
    case(8, 1, B, at(2, 27), "duplicate", 1),  # merged: not in the resolution rate
    case(9, 1, A, at(3, 31, 20), "new", None),  # still inside its 24 h window at NOW: not due yet
    case(10, 2, C, at(3, 4), "closed", 1),  # the other community of the street
]
VERDICTS = [
    Verdict(1, 1, A, at(3, 9), True, 5),  # satisfied
    Verdict(7, 1, A, at(3, 2), True, 3),  # rated, not satisfied
    Verdict(6, 1, B, at(3, 30), False, None),  # "not resolved": rated, not satisfied
    Verdict(11, 1, A, at(3, 1, 8), True, None),  # "yes" without stars: not a rating
    Verdict(10, 2, C, at(3, 8), True, 4),  # satisfied (4 stars)
    Verdict(6, 1, B, at(4, 2), True, 5),  # April
]
UNRATED = [Unrated(5, 1, B, at(3, 15)), Unrated(3, 1, A, at(4, 3))]


def counts(r: rates.Rates) -> tuple[int, ...]:
    return (r.responded, r.response_due, r.resolved, r.resolution_due, r.satisfied, r.rated, r.unrated)


def test_rates_match_the_hand_computed_fixture():
    out = tally(CASES, VERDICTS, UNRATED, START, END, NOW)
    # community 1 — response: 1, 2, 3, 5, 6 due (4 withdrawn, 7 filed in February, 9 in its window);
    # 1, 5, 6 on time. Resolution: 1, 2, 3, 5, 7 due (4 cancelled, 8 a duplicate, 6 and 9 due in
    # April); 1 and 7 confirmed. Satisfaction: 3 rated (1, 7, 6's "not resolved"), 1 satisfied;
    # 1 closed without rating.
    assert counts(out.communities[1]) == (3, 5, 2, 5, 1, 3, 1)
    assert round(out.communities[1].response_rate, 2) == 0.6
    assert out.communities[1].resolution_rate == 0.4
    assert round(out.communities[1].satisfaction_rate, 3) == 0.333
    assert counts(out.grids[A]) == (1, 3, 2, 4, 1, 2, 0)
    assert counts(out.grids[B]) == (2, 2, 0, 1, 0, 1, 1)
    assert counts(out.communities[2]) == (1, 1, 1, 1, 1, 1, 0)
    # the street: sums of counts, not an average of rates
    assert counts(out.total) == (4, 6, 3, 6, 2, 4, 1)
    assert out.total.satisfaction_rate == 0.5


def test_a_rate_with_nothing_due_is_unknown_not_zero():
    out = tally([case(9, 1, A, at(3, 31, 20), "new", None)], [], [], START, END, NOW)
    assert out.total.response_due == 0 and out.total.response_rate is None
    assert out.total.resolution_rate is None and out.total.satisfaction_rate is None
    # the same request a day later: its window is over and nobody answered
    later = tally([case(9, 1, A, at(3, 31, 20), "new", None)], [], [], START, END, NOW + timedelta(days=1))
    assert later.total.response_rate == 0.0


# ----------------------------------------------------------------- the same history in the tables
async def seed(h: Harness) -> tuple[Community, Community, dict[str, int]]:
    """The fixture written as the workflow leaves it: requests, audit events (the requester's own
    acts and the scheduler's never count as a response), ratings."""
    info = await community(h)
    async with h.app.db.write() as s:
        c1 = (await s.execute(select(Community))).scalars().one()
        c1.settings = {**c1.settings, "street": "稠城街道"}
        c2 = Community(name="Other", code="OTH", settings={"street": "稠城街道"})
        s.add_all([c1, c2])
        await s.flush()
        gc = Grid(community_id=c2.id, name="C")
        s.add(gc)
        await s.flush()
        grid_ids = {A: info["grids"][0].id, B: info["grids"][1].id, C: gc.id}
        ids: dict[int, int] = {}
        for n, k in enumerate(CASES, 1):
            r = Request(community_id=c1.id if k.community_id == 1 else c2.id, number=n, grid_id=grid_ids[k.grid_id],
                        requester_id=RESIDENT.id, description="Lift 13800138000", status=k.status,
                        contact_note="Room 1203, 13800138000", created_at=k.created_at)
            s.add(r)
            await s.flush()
            ids[k.request_id] = r.id
            s.add(AuditEvent(community_id=r.community_id, actor_id=RESIDENT.id, entity="request", entity_id=r.id,
                             action="filed", to_state="new", at=k.created_at))
            s.add(AuditEvent(community_id=r.community_id, actor_id=RESIDENT.id, entity="request", entity_id=r.id,
                             action="info_answered", at=k.created_at + timedelta(minutes=5)))
            s.add(AuditEvent(community_id=r.community_id, actor_id=0, entity="request", entity_id=r.id,
                             action="reminded", at=k.created_at + timedelta(minutes=10)))
            if k.acknowledged_at is not None:
                s.add(AuditEvent(community_id=r.community_id, actor_id=LEADER.id, entity="request", entity_id=r.id,
                                 action="accepted", at=k.acknowledged_at))
                s.add(AuditEvent(community_id=r.community_id, actor_id=STAFF.id, entity="request", entity_id=r.id,
                                 action="categorised", at=k.acknowledged_at + timedelta(hours=1)))
        extra = Request(community_id=c1.id, number=99, grid_id=grid_ids[A], requester_id=RESIDENT.id,
                        description="x", status="closed", created_at=at(2, 10))
        s.add(extra)
        await s.flush()
        ids[11] = extra.id
        rounds: dict[int, int] = {}
        for v in VERDICTS:
            rounds[v.request_id] = rounds.get(v.request_id, 0) + 1
            s.add(Rating(request_id=ids[v.request_id], round=rounds[v.request_id], user_id=RESIDENT.id,
                         resolved=v.resolved, stars=v.stars, at=v.at))
        for u in UNRATED:
            s.add(AuditEvent(community_id=c1.id, actor_id=0, entity="request", entity_id=ids[u.request_id],
                             action="closed_unrated", from_state="done", to_state="closed_unrated", at=u.at))
        await s.execute(update(User).where(User.id == STAFF.id).values(locale="en"))
        await s.execute(update(ChatBinding).values(locale="en"))
    return c1, c2, grid_ids


async def test_rates_from_the_timeline_in_the_database(harness: Harness):
    c1, c2, grids = await seed(harness)
    async with harness.app.db.read() as s:
        c1, c2 = await s.get(Community, c1.id), await s.get(Community, c2.id)
        assert rates.street_of(c1) == rates.street_of(c2) == "稠城街道"
        rows = await rates.load(s, [c1, c2], START, END)
    out = rows.tally(START, END, NOW)
    assert counts(out.communities[c1.id]) == (3, 5, 2, 5, 1, 3, 1)
    assert counts(out.grids[grids[A]]) == (1, 3, 2, 4, 1, 2, 0)
    assert counts(out.grids[grids[B]]) == (2, 2, 0, 1, 0, 1, 1)
    assert counts(out.communities[c2.id]) == (1, 1, 1, 1, 1, 1, 0)
    assert counts(out.total) == (4, 6, 3, 6, 2, 4, 1)


async def test_rates_in_the_monthly_report_ranking_and_export(harness: Harness, tmp_path):
    import csv
    from datetime import date

    from bot.services.reports import export_csv, month, quarter
    from tests.conftest import STAFF_GROUP

    h = harness
    c1, _, _ = await seed(h)
    async with h.app.db.write() as s:
        await s.execute(update(Community).where(Community.id == c1.id).values(created_at=at(1, 1)))
    march = month(date(2025, 3, 1), "Asia/Shanghai")  # the fixture's March, in community time
    assert await h.app.reports.monthly_report(c1.id, march) == 1
    assert await h.app.reports.quarterly_ranking(c1.id, quarter(date(2025, 1, 1), "Asia/Shanghai")) == 1
    await h.deliver()
    texts = h.texts(STAFF_GROUP)
    report = next(t for t in texts if "monthly report 2025-03" in t and "Response rate" in t)
    assert "Response rate: 60% (3 of 5 answered in time)" in report, report
    assert "Resolution rate: 40% (2 of 5 due confirmed resolved)" in report
    assert "Satisfaction rate: 33% (1 of 3 ratings satisfied) · closed without rating: 1" in report
    assert "<b>一网格</b>: 33% · 50% · 50%" in report and "<b>二网格</b>: 100% · 0% · 0% (1)" in report
    assert "2025-03: 60% · 40% · 33% (1)" in report  # the trend's last month
    assert "Street: 稠城街道" in report and "Response rate: 67% (4 of 6 answered in time)" in report
    assert report.index("1. <b>Other</b>") < report.index("2. <b>鸡鸣山社区</b>")  # ranked by resolution
    ranking = next(t for t in texts if "ranking for quarter 1 of 2025" in t)
    # Q1 adds February: 一网格 2 of 5 responded (request 11 never was), 3 of 5 resolved; 二网格 0 of 1 resolved
    assert "1. <b>一网格</b>: 40% · 60% · 50%\n2. <b>二网格</b>: 100% · 0% · 0% (1)" in ranking, ranking
    assert "13800138000" not in "".join(texts) and "1203" not in "".join(texts)

    written = await export_csv(h.app.db, "JMS", date(2025, 3, 1), date(2025, 3, 31), tmp_path)
    assert written["rates.csv"] == 4  # the street, the community, two micro-grids
    with (tmp_path / "rates.csv").open(encoding="utf-8-sig", newline="") as fh:
        rows = {(r["scope"], r["name"]): r for r in csv.DictReader(fh)}
    assert rows[("community", "鸡鸣山社区")]["response_rate"] == "60.0"
    assert rows[("community", "鸡鸣山社区")]["closed_without_rating"] == "1"
    assert rows[("street", "稠城街道")]["resolution_due"] == "6" and rows[("street", "稠城街道")]["resolved"] == "3"
    assert rows[("grid", "二网格")]["satisfaction_rate"] == "0.0"


# ----------------------------------------------------------------- overdue decisions in the ranking
def test_overdue_decisions_rank_a_community_lower_whatever_its_rates():
    """Hand-computed: fewer decisions overdue first, then resolution (then satisfaction, response)."""
    def community(name: str, resolved: int, overdue: int) -> rates.Rates:
        return rates.Rates(resolved=resolved, resolution_due=4, overdue=overdue, name=name)

    items = [community("X", 3, 1), community("Y", 1, 0), community("Z", 4, 2), community("W", 2, 0)]
    assert [r.name for r in rates.ranked(items)] == ["W", "Y", "X", "Z"]
    # without overdue decisions it is the rates' order
    assert [r.name for r in rates.ranked([community(r.name or "", r.resolved, 0) for r in items])] == \
        ["Z", "X", "W", "Y"]


async def add_execution(h: Harness, community_id: int, number: int, due: datetime | None,
                        done: datetime | None = None) -> None:
    from storage.models import Execution, Proposal

    async with h.app.db.write() as s:
        p = Proposal(community_id=community_id, number=number, proposer_id=STAFF.id, title=f"Decision {number}",
                     text="x", status="closed", outcome="passed", closed_at=at(1, 1))
        s.add(p)
        await s.flush()
        s.add(Execution(community_id=community_id, proposal_id=p.id, due_at=due, done_at=done,
                        progress=100 if done else 30))


async def test_overdue_counts_decisions_late_at_some_moment_of_the_period(harness: Harness):
    from bot.services.execution import overdue_counts

    h = harness
    c1, c2, _ = await seed(h)
    q1_start, q1_end = at(1, 1, 0), at(4, 1, 0)
    dec = datetime(2024, 12, 1, tzinfo=timezone.utc)
    await add_execution(h, c1.id, 1, at(2, 1))  # late, never done: counted
    await add_execution(h, c1.id, 2, at(2, 1), done=at(2, 5))  # done late, in the quarter: counted
    await add_execution(h, c1.id, 3, at(2, 1), done=at(1, 30))  # done in time: not
    await add_execution(h, c1.id, 4, dec, done=dec + timedelta(days=19))  # late, but done before: not
    await add_execution(h, c1.id, 5, at(4, 5))  # due after the quarter: not
    await add_execution(h, c1.id, 6, None)  # no due date yet: not
    await add_execution(h, c1.id, 7, dec)  # late since December, still not done: counted
    await add_execution(h, c2.id, 1, at(3, 1))
    async with h.app.db.read() as s:
        assert await overdue_counts(s, [c1.id, c2.id], q1_start, q1_end, at(4, 10)) == {c1.id: 3, c2.id: 1}
        # asked in mid-January: only the one late since December was overdue yet
        assert await overdue_counts(s, [c1.id, c2.id], q1_start, q1_end, at(1, 15)) == {c1.id: 1}
        assert await overdue_counts(s, [c2.id], q1_start, q1_end, at(4, 10)) == {c2.id: 1}  # per community


async def test_overdue_decisions_in_the_quarterly_ranking_and_the_digest(harness: Harness):
    from datetime import date

    from bot.services.reports import quarter, week
    from tests.conftest import COMMUNITY_GROUP, STAFF_GROUP

    h = harness
    c1, c2, _ = await seed(h)
    async with h.app.db.write() as s:
        await s.execute(update(Community).values(created_at=at(1, 1)))
    q1 = quarter(date(2025, 1, 1), "Asia/Shanghai")
    async with h.app.db.read() as s:
        before = await rates.view(s, await s.get(Community, c1.id), q1.start, q1.end, NOW)
    assert [r.name for r in before.street_ranking] == ["Other", "鸡鸣山社区"]  # Other resolves more
    await add_execution(h, c1.id, 1, at(3, 4))  # JMS: one decision overdue in the quarter
    await add_execution(h, c2.id, 1, at(2, 1))  # Other: two
    await add_execution(h, c2.id, 2, at(3, 1), done=at(3, 20))
    assert await h.app.reports.quarterly_ranking(c1.id, q1) == 1
    assert await h.app.reports.weekly_digest(c1.id, week(date(2025, 3, 3), "Asia/Shanghai")) == 1
    await h.deliver()
    ranking = next(t for t in h.texts(STAFF_GROUP) if "ranking for quarter 1 of 2025" in t)
    street = ranking[ranking.index("Street: 稠城街道"):]
    assert street.index("1. <b>鸡鸣山社区</b>") < street.index("2. <b>Other</b>"), street
    assert "2. <b>Other</b>: 100% · 100% · 100% · ⏰ 2" in street
    assert "a community with more of them ranks lower" in street
    assert "Council decision overdue: JMS-P001 “Decision 1”" in ranking, ranking  # listed, as in the monthly report
    digest = h.session.last(COMMUNITY_GROUP).text
    assert "1 council decision went past its due date without being carried out." in digest, digest
