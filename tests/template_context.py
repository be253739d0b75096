"""Realistic contexts for rendering every template (used by tests/test_i18n.py).

Each entry is a list of contexts: the template must render in every locale for each. A template
without an entry fails the test, so a new template comes with its context.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from bot.i18n import Named
from bot.services.community import Category, Missing, category_of
from bot.services.context import Actor
from storage.models import ChatBinding, Community, Grid, Membership, PointEntry, Request, User, utcnow

NOW = utcnow()
COMMUNITY = Community(id=1, name="鸡鸣山社区", code="JMS", locale="zh_Hans", timezone="Asia/Shanghai", settings={})
GRID = Grid(id=1, community_id=1, name="一网格")
ANNA = User(id=400, first_name="Anna", username="anna", started=True)
KARIM = User(id=401, first_name="كريم", started=False)
WEI = User(id=300, first_name="张伟", username="zhangwei", started=True)
LONG = "楼道灯坏了，晚上很黑，老人上下楼不方便。" * 40  # ~800 characters, realistic upper end
REQ = Request(id=42, community_id=1, number=42, grid_id=1, requester_id=400, category="repair", description=LONG,
              language_hint="ar", description_mt="楼前的垃圾三天没人收了", contact_note="3栋2单元501 13800001234",
              latitude=29.3, longitude=120.1, photos=["a", "b"], status="escalated", department="物业",
              dept_due_at=NOW + timedelta(days=3), reason="referred", reason_note="请联系物业", on_behalf_name="陈奶奶")
BASIC = Request(id=43, community_id=1, number=43, requester_id=401, description="Bins overflow", status="new")
ACTOR = Actor(user=ANNA, locale="en", community=COMMUNITY, memberships=[
    Membership(user_id=400, community_id=1, role=r, grid_id=1) for r in
    ("resident", "grid_leader", "volunteer", "staff")])
NEWBIE = Actor(user=KARIM, locale="ar")


class V:  # what services hand templates as a "view"
    def __init__(self, req: Request, grid: Grid | None = GRID) -> None:
        self.req, self.grid, self.no, self.community = req, grid, f"JMS-{req.number:04d}", COMMUNITY


def _needs_rows() -> list[Any]:
    from bot.services.needs import Row

    return [Row("repair", 14, 6, 4, [(GRID, 9), (Grid(id=2, community_id=1, name="二网格"), 5)]),
            Row("care", 3, 0, 0, []), Row("wish:daily", 2, 2, 0, [(GRID, 2)], wishes=2)]


COMMON: dict[str, Any] = {
    "r": REQ, "no": "JMS-0042", "grid": GRID, "community": COMMUNITY, "requester": ANNA, "assignee": WEI,
    "actor": ACTOR, "user": ANNA, "note": "已买好灯管，今晚更换", "actor_name": "李强", "limit": 2000, "count": 2,
    "stars": 5, "comment": "灯还是不亮", "question": "哪一栋楼？", "reason": "referred", "status": "claimed",
    "kind": "triage_remind", "action": "accepted", "original": "JMS-0007", "started": False, "mine": False,
    "private": True, "name": "Español", "nothing": False, "from_group": True, "on_behalf": "陈奶奶",
    "category": "care", "needs_grid": True, "has_grids": True, "role": "grid_leader", "target": "一网格",
    "token": "AbCdEf123456", "link": "so_42", "released": False, "language": "العربية", "amount": 20, "balance": 35,
    "step": "photos", "grids": {1: "一网格"}, "body": "Your request JMS-0042 was accepted.",
    "binding": ChatBinding(chat_id=-1, community_id=1, kind="grid", locale="zh_Hans"), "bot_admin": False,
    "privacy": True, "similar": [V(BASIC)], "views": [V(REQ), V(BASIC, None)], "options": [V(BASIC)],
    "d": {"description": LONG, "category": "repair", "photos": ["a"], "lat": 1.0, "contact": "13800001234",
          "on_behalf": "陈奶奶"},
    "rows": [(WEI, 35), (ANNA, 1)],
    "recent": [PointEntry(community_id=1, user_id=300, delta=10, reason="task_done", ref="x", at=NOW)],
    "events": [], "show_private": True, "answer": "3号楼", "returned": "不属于物业范围", "reopened": "还是坏的",
    "code": "already_handled", "photo": None, "was": "一网格", "lang": "en",
    "missing": [("en", [Missing("鸡鸣山社区"), Missing("二网格", "Grid 2"), Missing("停车")]), ("ar", [])],
    "note_kind": "answer", "scrubbed": True, "for_user": 1001,
}

# Templates whose branches matter get several contexts.
VARIANTS: dict[str, list[dict[str, Any]]] = {
    "status_changed": [{"action": "declined", "r": Request(id=44, community_id=1, number=44, requester_id=400,
                                                           description="助浴", status="declined",
                                                           reason="order_unavailable")}]
    + [{"action": a} for a in ("accepted", "handling", "claimed", "progress", "done", "declined",
                                              "merged", "escalated", "dept_accepted", "returned", "released",
                                              "cancelled", "reopened", "closed_unrated", "info_answered", "other")],
    "reminder": [{"kind": k} for k in ("triage_remind", "triage_staff", "claim_remind", "claim_staff",
                                       "done_remind", "done_staff", "dept_remind", "dept_overdue")],
    "fallback": [{"kind": k} for k in ("command", "media", "text")],
    "toast": [{"code": c} for c in ("accepted", "handling", "claimed", "released", "dept_accepted", "done",
                                    "see_private", "stale", "wish_claimed", "wish_yours_already")],
    "welcome": [{"actor": ACTOR}, {"actor": NEWBIE}],
    "help": [{"private": True}, {"private": False}],
    "task_list": [{"mine": True}, {"mine": False}, {"views": []}],
    "my_list": [{}, {"views": []}],
    "summary": [{}, {"d": {"description": "Bins overflow", "photos": []}, "similar": []}],
    "triage_card": [{"note_kind": k, "note": n} for k in ("answer", "reopened", "returned", None)
                    for n in ("还是坏的", None)],
    "card_note": [{"note_kind": k} for k in ("answer", "reopened", "returned")],
    "step_hint": [{"step": s} for s in ("description", "photos", "location", "contact", "grid")],
    "group_filed": [{"aside": None}, {"aside": "Request <b>JMS-0042</b> received. Thank you!"}],
    "ask_info": [{}, {"in_group": True}],
    "task_post": [{}, {"decision": Named("方案" * 49, {"en": "Plan " * 12})}],
    "staff_feed": [{"action": a} for a in ("filed", "reopened", "accepted")],
    "request_detail": [{"yours": True}, {"yours": False}],
    "assignee_brief": [{}, {"retracted": True}],
    "scrubbed_notice": [{"kinds": ["id_number", "phone", "room"]}, {"kinds": ["phone"]}],
    "bound": [{"binding": ChatBinding(chat_id=-1, community_id=1, kind=k, locale="zh_Hans"), "privacy": p}
              for k in ("grid", "volunteers") for p in (True, False)],
}


# Surveys and reports (bot/services/surveys.py, reports.py).
def _figures() -> list[Any]:
    from bot.services.reports import Figures

    return [Figures(name="一网格", grid_id=1, filed=12, resolved=9, breaches=1, triage_h=[2.5, 3.0],
                    resolve_h=[20.0, 49.5], stars=[5, 4, 5], signoffs=4, reopened=1, grade="yellow"),
            Figures(name="二网格", grid_id=2, grade=None)]


def _report_context() -> dict[str, Any]:
    from bot.services.reports import Figures, Period, VolunteerFigures, month

    today = NOW.date()
    total = Figures(filed=40, resolved=31, breaches=3, triage_h=[1.5, 4.0, 30.0], resolve_h=[12.0, 70.0],
                    stars=[5, 5, 4, 2], signoffs=5, reopened=1)
    return {"community": COMMUNITY, "p": month(today, "Asia/Shanghai"), "f": total, "grids": _figures() * 30,
            "open_now": 7, "passed": 2, "surveys": 1,
            "categories": [("repair", 12), ("sanitation", 7), ("care", 3), ("unset", 1)],
            "codes": ["A", "B", "C", "D"], "trend": [("2025-01", 4.2), ("2025-02", None)],
            "volunteers": [VolunteerFigures(WEI, 12, 4.8), VolunteerFigures(ANNA, 3, None)],
            "quarter_p": Period("quarter", today, today, "Asia/Shanghai"),
            "needs": _needs_rows(), "orders": 3,
            "rv": _rates_view(),
            "wishes": {"submitted": 5, "approved": 4, "fulfilled": 2}}


def _rates_view() -> Any:
    """Every micro-grid of a large community, a street of several communities, six months."""
    from bot.services.rates import Rates, View
    from storage.models import Community, Grid

    def r(i: int, obj: Any) -> Rates:
        return Rates(responded=9 + i % 3, response_due=12, resolved=7, resolution_due=10 + i % 2, satisfied=5,
                     rated=6, unrated=i % 3, name=obj.name, obj=obj)

    grids = [r(i, Grid(id=i, community_id=1, name=f"第{i}网格" * 3)) for i in range(60)]
    others = [r(i, Community(id=10 + i, name=f"社区{i}" * 4, code=f"C{i}")) for i in range(12)]
    for i, o in enumerate(others):
        o.overdue = i // 4  # council decisions overdue: the last communities of the street ranking
    return View(COMMUNITY, r(1, COMMUNITY), grids, street="稠城街道", street_rates=r(2, COMMUNITY),
                street_ranking=others, trend=[(f"2025-0{m}", r(m, COMMUNITY)) for m in range(1, 7)]
                + [("2025-07", Rates())])


def _survey_context(options: list[str]) -> dict[str, Any]:
    from bot.services.surveys import Results
    from storage.models import Survey

    survey = Survey(id=1, community_id=1, created_by=100, question="您对小区停车管理满意吗？" * 10, options=options,
                    closes_at=NOW + timedelta(days=3))
    n = len(options) or 5
    return {"res": Results(survey, list(range(n)), [("一网格群", "grid", 3), ("", "community", 7)]),
            "names": options or ["😀 Very satisfied", "🙂 Satisfied", "😐 Neutral", "🙁 Dissatisfied",
                                 "😠 Very dissatisfied"], "closes_at": NOW, "tz": "Asia/Shanghai"}


_SURVEY_ASK = {"limit": 300, "low": 2, "high": 10, "q": "您对小区停车管理满意吗？", "names": ["满意", "不满意"],
               "groups": ["一网格群 · 微网格群", "社区群"], "closes_at": NOW, "tz": "Asia/Shanghai"}
VARIANTS.update({
    "survey_ask": [{**_SURVEY_ASK, "step": s} for s in ("question", "options", "groups", "days", "summary")]
    + [{**_SURVEY_ASK, "step": "groups", "groups": []}],
    "survey_post": [{"closes_at": NOW, "tz": "Asia/Shanghai"}],
    "survey_done": [{"closes_at": NOW, "tz": "Asia/Shanghai", "count": n} for n in (1, 3)],
    "survey_results": [{**_survey_context(o), "per_group": g, "mine": m}
                       for o in ([], ["是", "否", "无所谓"]) for g in (True, False)
                       for m in (None, _survey_context(o)["res"])],
    "stats": [_report_context(), {**_report_context(), "grids": []}],
    "dashboard": [{"ready": True}, {"ready": False}],
    "digest": [_report_context(), {**_report_context(), "passed": None, "surveys": 0}],
    "report_month": [_report_context(), {**_report_context(), "categories": [],
                                         "wishes": {"submitted": 0, "approved": 0, "fulfilled": 0}}],
    "report_chart": [_report_context()],
    "ranking": [{**_report_context(), "p": _report_context()["quarter_p"]},
                {**_report_context(), "volunteers": [], "grids": []}],
})


# The council (bot/services/deliberation.py): the longest proposal the service accepts, ten
# options, and a council of forty named votes.
def _council_variants() -> dict[str, list[dict[str, Any]]]:
    from bot.services.deliberation import MAX_OPTION, MAX_OPTIONS, MAX_TEXT, MAX_TITLE, ProposalDraft, Tally
    from storage.models import Convention, Proposal

    opts = [f"{i}. " + "方案" * (MAX_OPTION // 2 - 2) for i in range(MAX_OPTIONS)]
    base = dict(id=7, community_id=1, number=7, request_id=42, proposer_id=400, title="更换楼道灯" * (MAX_TITLE // 5),
                text="议" * MAX_TEXT, kind="spending", hours=72, quorum_pct=50, eligible=40, opened_at=NOW,
                closes_at=NOW + timedelta(days=3), remind_at=NOW + timedelta(days=2))
    named = [[f"委员{i:02d}", i % 3] for i in range(40)]

    def closed(outcome: str, **kw: Any) -> Proposal:
        counts = kw.pop("counts", [20, 10, 5])
        minutes = {"eligible": 40, "turnout": sum(counts), "quorum_needed": 20, "quorum_met": outcome != "no_quorum",
                   "counts": counts, "decisive": 30, "threshold": kw.get("threshold", "simple"),
                   "threshold_met": outcome == "passed", "winner": 0 if outcome == "passed" else None,
                   "named": named}
        return Proposal(**{**base, **kw}, status="closed", outcome=outcome, closed_at=NOW, minutes=minutes,
                        statement="物业将于下周更换灯具。" * 20)

    open_p = [Proposal(**base, status="open"), Proposal(**base, status="open", secret=True, threshold="two_thirds"),
              Proposal(**{**base, "options": opts, "kind": "decision"}, status="open")]
    done_p = [closed("passed", kind="convention"), closed("rejected", threshold="two_thirds"), closed("no_quorum"),
              closed("passed", options=opts[:3], counts=[5, 3, 1]),
              closed("rejected", options=opts[:3], counts=[3, 3, 1]),
              Proposal(**base, status="withdrawn")]
    tally = Tally(eligible=40, turnout=35, quorum_needed=20, counts=[20, 10, 5])
    common = {"request_no": "JMS-0042", "task_no": None, "tally": tally, "audience": "group"}
    draft = ProposalDraft(title=base["title"], text=base["text"], kind="spending", options=opts, hours=72,
                          quorum_pct=50, threshold="two_thirds", secret=True)
    return {
        "proposal_post": [{**common, "p": p, "tally": Tally(40, 35, 20, [] if p.secret else [20, 10, 5] + [0] * 7)}
                          for p in open_p],
        "proposal_final": [{**common, "p": p} for p in done_p + open_p[:1]],
        "proposal_outcome": [{**common, "p": p, "audience": a, "task_no": t} for p in done_p
                             for a, t in (("group", "JMS-0043"), ("requester", None), ("staff", None))],
        "proposal_statement": [{**common, "p": done_p[0]}],
        "proposal_draft": [{"d": draft, "no": None, "request_no": None},
                           {"d": ProposalDraft("t", "x", hours=1, quorum_pct=50), "no": "JMS-P007",
                            "request_no": "JMS-0042"}],
        "proposal_ask": [{"step": s, "limit": 120, "low": 2, "high": 10, "default": 72, "no": "JMS-P007",
                          "current": c} for s in ("title", "text", "kind", "options", "hours", "statement")
                         for c in (None, base["title"])],
        "proposal_done": [{**common, "p": p, "code": c, "request_no": "JMS-0042"}
                          for c in ("to_council", "opened", "saved", "withdrawn", "statement") for p in open_p[:1]]
        + [{**common, "p": done_p[0], "code": "closed"}],
        "vote_ballot": [{**common, "p": p, "mine": m, "voted": v} for p in open_p
                        for m, v in ((None, False), (None, True), (1, True))],
        "vote_toast": [{"p": p, "code": c, "option": 1} for p in open_p
                       for c in ("cast", "changed", "same", "already")],
        "vote_list": [{"votes": [(_V(Proposal(**base, status="open")), v, e) for v, e in
                                 ((True, True), (False, True), (False, False))] * 5,
                       "drafts": [_V(Proposal(**base, status="draft"))] * 5},
                      {"votes": [], "drafts": []}],
        "vote_reminder": [{**common, "p": open_p[0]}],
        "vote_all_in": [{**common, "p": open_p[0]}],
        "conventions": [{"conventions": [Convention(community_id=1, proposal_id=i, title=base["title"],
                                                    text="公约" * 100, adopted_at=NOW) for i in range(5)]},
                        {"conventions": [Convention(community_id=1, proposal_id=i, title=base["title"], text="公约" * 100,
                                                    adopted_at=NOW, names={"en": "Quiet hours", "ar@mt": "ساعات الهدوء"},
                                                    text_names={"en@mt": "Convention " * 100}) for i in range(5)]},
                        {"conventions": []}],
    }


class _V:  # a proposal view as listed by /votes
    def __init__(self, p: Any) -> None:
        self.p, self.community, self.no, self.request_no = p, COMMUNITY, f"JMS-P{p.number:03d}", "JMS-0042"


VARIANTS.update(_council_variants())


def _error_variants() -> list[dict[str, Any]]:
    """Every code error.j2 knows, each with all the arguments any code takes."""
    import re

    from bot.render import TEMPLATES

    codes = re.findall(r'code == "([a-z_]+)"', (TEMPLATES / "error.j2").read_text())
    args = {"number": 3, "category": "c1", "categories": "repair, care", "choices": "zh_Hans, en, ar", "length": 2500, "limit": 2000, "ref": "JMS-0099", "name": "三网格",
            "role": "mayor", "status": "claimed", "turnout": 3, "eligible": 5, "low": 2, "high": 10,
            "option": "LED 灯"}
    return [{**args, "code": c} for c in [*codes, "internal"]]


VARIANTS.setdefault("error", [{**v, "kinds": "company, institution, social, merchant", "given": "ABC234"}
                              for v in _error_variants()])


# Partner organisations, their resources and points redeemed at them (issue #17).
def _partner_variants() -> dict[str, list[dict[str, Any]]]:
    from bot.services.partners import PartnerRow
    from bot.services.resources import ResourceRow
    from bot.services.rewards import ItemRow
    from storage.models import Partner, PartnerItem, Resource

    partner = Partner(id=3, community_id=1, name="义乌市法律援助中心", names={"ko": "이우시 법률지원센터"}, kind="social")
    res = Resource(id=5, community_id=1, partner_id=3, kind="service", title="免费法律咨询" * 20,
                   availability="每周三 14:00-17:00", amount=20)
    own = Resource(id=6, community_id=1, partner_id=None, kind="venue", title="社区活动室")
    item = PartnerItem(id=2, community_id=1, partner_id=3, title="洗衣券" * 30, points=15, stock=3)
    unlimited = PartnerItem(id=3, community_id=1, partner_id=3, title="Haircut", points=40, stock=None)
    resources = [ResourceRow(res, partner), ResourceRow(own, None)] * 3
    items = [ItemRow(item, partner), ItemRow(unlimited, partner)] * 3
    p_rows = [PartnerRow(partner, 4, {"hours": 12, "service": 3, "wish": 2, "points": 150}), PartnerRow(partner, 0, {})] * 5
    pr = {"partner": partner, "resource": res}
    return {
        "partner_registered": [{"partner": partner}],
        "partner_list": [{"rows": p_rows, "total": 25, "page": 1, "pages": 3}, {"rows": [], "total": 0, "page": 1, "pages": 1}],
        "resource_added": [{"resource": res, "partner": partner, "withdrawn": False},
                           {"resource": own, "partner": None, "withdrawn": False},
                           {"resource": res, "partner": None, "withdrawn": True}],
        "resource_list": [{"rows": resources, "total": 6}, {"rows": [], "total": 0}],
        "route_pick": [{"rows": [r for r in resources if r.partner], "start": 5, "total": 9}],
        "item_added": [{"item": item, "partner": partner}, {"item": unlimited, "partner": partner}],
        "item_list": [{"rows": items, "total": 6, "start": 0, "private": p} for p in (True, False)]
        + [{"rows": [], "total": 0, "start": 0, "private": True}],
        "redeem_code": [{"code": "ABC234", "item": item, "partner": partner, "balance": 5, "expires": NOW}],
        "redeem_back": [{"code": "ABC234", "points": 15, "balance": 35}],
        "redeem_checked": [{"code": "ABC234", "item": item}],
        "redeem_confirmed": [{"code": "ABC234", "item": item, "partner": partner, "resident": None}],
        "partner_hours": [{"partner": partner, "hours": n} for n in (1, 6)],
        "redeem_expired": [{"code": "ABC234", "item": item, "partner": partner, "points": n, "balance": 35}
                           for n in (1, 15)],
        "partner_route": [pr],
        "partner_route_closed": [{"accepted": a} for a in (True, False)],
        "status_changed": VARIANTS["status_changed"] + [{"action": a, **pr} for a in (
            "partner_routed", "partner_accepted", "partner_declined")],
        "triage_card": VARIANTS["triage_card"] + [{"note_kind": "partner_declined", "note": n} for n in ("装修", None)],
        "card_note": VARIANTS["card_note"] + [{"note_kind": "partner_declined"}],
        "invite_link": [{}, {"role": "partner", "target": partner, "for_user": None}],
        "report_month": VARIANTS["report_month"] + [{**_report_context(), "partners": [
            (partner, {"hours": 12, "service": 3, "wish": 2, "points": 150})] * 10}],
    }


VARIANTS.update(_partner_variants())


# The services list and the needs list (bot/services/menu.py, bot/services/needs.py).
def _menu_variants() -> dict[str, list[dict[str, Any]]]:
    from storage.models import Service, ServiceSlot

    svc = Service(id=3, community_id=1, name="小家电上门维修" * 4, names={"ar": "تصليح الأجهزة المنزلية", "en": "Home repair"},
                  category="repair", provider_kind="volunteers", languages=["zh_Hans", "en", "ar"])
    other = Service(id=4, community_id=1, name="助浴", category="care", provider_kind="community", languages=["zh_Hans"])
    slot = ServiceSlot(id=5, service_id=3, starts_at=NOW + timedelta(days=1), capacity=12, taken=3)
    full = ServiceSlot(id=6, service_id=3, starts_at=NOW + timedelta(days=2), capacity=1, taken=1)
    order = {"service": svc, "slot": slot, "tz": "Asia/Shanghai"}
    return {
        "services_menu": [{"categories": [("repair", 3), ("care", 1)]}, {"categories": []}],
        "services_list": [{"category": "repair", "rows": [(svc, 9), (other, 0)] * 3, "total": 6}],
        "service_detail": [{**order, "slots": [slot, full] * 5}, {**order, "slots": []}],
        "slot_button": [order, {**order, "slot": full}],
        "order_note_ask": [order],
        "order_placed": [order],
        "order_card": [{**order, "private": True}, {**order, "private": False}],
        "order_post": [order],
        "order_taken": [order, {**order, "assignee": None}],
        "order_reminder": [{**order, "kind": k} for k in ("order_remind", "slot_remind")],
        "service_defined": [{"service": svc}, {"service": svc, "renamed": "ar"}],
        "slot_added": [order],
        "needs_list": [{"rows": _needs_rows() * 3, "total": 9, "since": "2026-10", "until": "2026-12"},
                       {"rows": [], "total": 0, "since": "2026-10", "until": "2026-12"}],
        "needs_proposal": [{"part": p, "row": _needs_rows()[0], "month": "2026-11"} for p in ("title", "text")],
    }


VARIANTS.update(_menu_variants())
_PARKING = Category("parking", "停车", {"en": "Parking", "ar@mt": "موقف"})
VARIANTS["category_list"] = [{"cats": [(category_of(COMMUNITY, "repair"), []), (_PARKING, ["ko", "fr"])] * 10},
                             {"cats": []}]
VARIANTS["category_set"] = [{"cat": _PARKING}, {"cat": Category("parking", "停车", {}, offered=False)}]
VARIANTS["poll_question"] = [{"question": "Are you satisfied with the stairwell renovation?"}]
VARIANTS["name_set"] = [{}, {"was": _PARKING}]
VARIANTS["reminder"].append({"kind": "dispatch_remind"})
VARIANTS["toast"].extend({"code": c} for c in ("order_dispatched", "order_declined", "order_accepted"))
VARIANTS["status_changed"].extend({"action": a} for a in ("dispatched", "order_accepted"))
VARIANTS["proposal_draft"].append({**VARIANTS["proposal_draft"][1], "month_problem": "2026-11"})


def context_for(name: str, needed: set[str]) -> list[dict[str, Any]]:
    """The contexts to render `name` with; fails loudly for a template nobody described."""
    missing = {n for n in needed if n not in COMMON} - {"_trans"}
    variants = VARIANTS.get(name, [{}])
    provided = set().union(*variants)
    assert not (missing - provided), f"describe a realistic context for {name}.j2: {sorted(missing - provided)}"
    return [{**COMMON, **v} for v in variants]


# Accountability (#18): "me too" counts, decisions carried out, the quiet feed.
def _accountability_variants() -> dict[str, list[dict[str, Any]]]:
    from bot.services.deliberation import MAX_TITLE
    from bot.services.reports import Accountability
    from storage.models import Execution, Proposal

    p = Proposal(id=7, community_id=1, number=7, proposer_id=400, title="更换楼道灯" * (MAX_TITLE // 5), text="议",
                 status="closed", outcome="passed")
    running = Execution(id=1, community_id=1, proposal_id=7, owner_id=300, due_at=NOW + timedelta(days=9),
                        progress=60)
    done = Execution(id=1, community_id=1, proposal_id=7, owner_id=300, due_at=NOW, progress=100, done_at=NOW)
    base = {"p": p, "no": "JMS-P007", "title": p.title, "owner": WEI, "overdue": False}
    acc = Accountability(households=53, metoo=13, overdue=[("JMS-P007", p.title), ("JMS-P009", "修路")])
    return {
        "execution_update": [{**base, "e": e, "note": n, "photos": k} for e in (running, done)
                             for n, k in ((LONG[:1000], 3), (None, 0))]
        + [{**base, "e": Execution(community_id=1, proposal_id=7), "owner": None, "note": None, "photos": 0}],
        "execution_owner": [{**base, "e": running, "reminder": r} for r in (False, True)],
        "execution_set": [{**base, "e": running}],
        "toast": VARIANTS["toast"] + [{"code": c, "count": n, "on": o} for c in ("metoo", "metoo_again", "metoo_start")
                                      for n, o in ((1, True), (2, False), (53, True))]
        + [{"code": "quiet_feed", "on": o} for o in (True, False)],
        "triage_card": VARIANTS["triage_card"] + [{"note_kind": None, "note": None, "affected": n} for n in (1, 2, 53)],
        "staff_feed": VARIANTS["staff_feed"] + [{"action": a, "quiet": True, "affected": 7,
                                                 "trail": ["new", "accepted", "claimed", "in_progress", "done"]}
                                                for a in ("accepted", "reopened")],
        "stats": VARIANTS["stats"] + [{**_report_context(), "acc": acc},
                                      {**_report_context(), "acc": Accountability(3, 0, [])}],
        "report_month": VARIANTS["report_month"] + [{**_report_context(), "acc": acc}],
    }


VARIANTS.update(_accountability_variants())
# Micro-wishes (bot/services/wishes.py): the longest texts the service accepts, on behalf of a
# resident without Telegram and by a resident themselves, in every state.
def _wish_variants() -> dict[str, list[dict[str, Any]]]:
    from bot.privacy import PublicWish
    from bot.services.wishes import MAX_REASON, MAX_TITLE, Pledge
    from storage.models import Wish

    base = dict(id=3, community_id=1, number=3, grid_id=1, category="daily", requester_id=200, budget=80,
                title="想要一台收音机" * (MAX_TITLE // 7), reason="独居老人，眼睛不好" * (MAX_REASON // 9),
                public_text="一位独居老人想要一台收音机", created_at=NOW)
    behalf = Wish(**base, filed_by_id=200, on_behalf_name="陈奶奶", contact_note="3栋501 13800001234" * 30,
                  photo="p1", status="claimed", fulfiller_id=300)
    own = Wish(**{**base, "requester_id": 400, "category": "study"}, status="delivered", fulfiller_id=300)
    rejected = Wish(**base, status="rejected", reject_note="超出预算" * 50)
    wishes = [behalf, own, rejected, Wish(**base, status="approved"), Wish(**base, status="fulfilled"),
              Wish(**base, status="submitted")]
    common = {"no": "JMS-W003", "fulfiller": WEI, "wisher": ANNA, "wisher_name": "陈奶奶", "paid": 10,
              "pledge": Pledge(2026, 2, 1, 1)}
    private = [{**common, "w": w} for w in wishes]
    public = [{**common, "w": PublicWish(w), "wisher_name": "", "wisher": None} for w in wishes]
    pledges = [Pledge(2026, 2, 1, 1), Pledge(2026, 0, 3, 0), None]
    return {
        "wish_ask": [{**common, "w": behalf, "step": s, "again": a, "on_behalf": o, "limit": 200}
                     for s in ("category", "title", "reason", "budget", "photo", "contact", "confirm",
                               "public_text", "reject", "delivery_photo")
                     for a in (False, True) for o in ("陈奶奶", None)],
        "wish_summary": [{"d": {"category": "daily", "title": base["title"], "reason": base["reason"], "budget": 80,
                                "photo": "p", "contact": "13800001234", "on_behalf": "陈奶奶"}},
                         {"d": {"category": "other", "title": "书包", "reason": "上学", "budget": 50}}],
        "wish_filed": private[:1],
        "wish_screen": private,
        "wish_screened": private,
        "wish_board": public,
        "wish_taken": [{**c, "released": r} for c in public for r in (False, True)],
        "wish_brief": private,
        "wish_photo": private[:1],
        "wish_delivered": private,
        "wish_status": [{**c, "action": a, "note": "超出预算" * 50} for c in private[:2]
                        for a in ("approved", "rejected", "claimed")],
        "wish_thanks": [{**common, "w": behalf, "pledge": p, "paid": n} for p in pledges for n in (0, 10)],
        "wish_done": [{**c, "action": a, "paid": 10} for c in private[:2] for a in ("released", "delivered", "fulfilled")],
        "wish_list": [{"views": [{"no": "JMS-W003", "w": PublicWish(w), "grid": GRID} for w in wishes] * 2,
                       "total": 12}, {"views": [], "total": 0}],
        "wish_mine": [{"own": [{"no": "JMS-W003", "w": w} for w in wishes], "doing": [{"no": "JMS-W003", "w": own}],
                       "pledge": p} for p in pledges] + [{"own": [], "doing": [], "pledge": None}],
    }


VARIANTS.update(_wish_variants())
