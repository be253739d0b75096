"""The monthly report's figures as charts: a PNG for the staff group (matplotlib, headless) and
SVG for the web pages (pygal), drawing the same figures: requests by category, the average
rating by month and the three rates by month.

Text inside the PNG is ASCII only: letters for categories, numbers and `YYYY-MM` months.
Servers rarely have a CJK (or Arabic) font, and a chart must read the same in every language,
so the translated legend travels in the photo's caption instead. The SVG charts are drawn into a
page read by a browser, which has the reader's fonts: their labels come translated from the
caller (this module renders no text of its own).
"""
from __future__ import annotations

import io
import logging
import re
import string
from typing import Any

log = logging.getLogger(__name__)


def codes(n: int) -> list[str]:
    """A, B, … for the bars; the caption says which category each letter is."""
    letters = string.ascii_uppercase
    return [letters[i] if i < len(letters) else f"Z{i - len(letters) + 1}" for i in range(n)]


def percent(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 1)


def rate_series(rates_trend: list[tuple[str, Any]]) -> list[list[float | None]]:
    """Response, resolution and satisfaction rates (in %) per month, from `(label, Rates)` pairs."""
    return [[percent(getattr(r, attr)) for _, r in rates_trend]
            for attr in ("response_rate", "resolution_rate", "satisfaction_rate")]


def monthly_chart(counts: list[int], trend: list[float | None], months: list[str],
                  rates_trend: list[tuple[str, Any]] | None = None) -> bytes | None:
    """(1) requests by category (bars A, B, …); (2) average rating per month (1–5); (3) the
    three rates per month (%), R = response, S = resolution, M = satisfaction (满意).
    None if there is nothing to draw or matplotlib is not installed (the report goes out as
    text alone)."""
    series = rate_series(rates_trend or [])
    has_rates = any(v is not None for line in series for v in line)
    if not counts and not any(v is not None for v in trend) and not has_rates:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
    except ImportError:  # an optional nicety: never fail a report over it
        log.warning("matplotlib is not installed: monthly report without a chart")
        return None
    fig = Figure(figsize=(11 if has_rates else 8, 3.6), dpi=100)
    axes = fig.subplots(1, 3 if has_rates else 2, gridspec_kw={"width_ratios": [3, 2, 2] if has_rates else [3, 2]})
    left, right = axes[0], axes[1]
    labels = codes(len(counts))
    bars = left.bar(labels, counts, color="#c0392b")
    left.bar_label(bars, fontsize=8)
    left.set_title("(1)", loc="left")
    left.yaxis.get_major_locator().set_params(integer=True)
    left.spines[["top", "right"]].set_visible(False)
    xs = list(range(len(months)))
    points = [(x, v) for x, v in zip(xs, trend) if v is not None]
    if points:
        right.plot([x for x, _ in points], [v for _, v in points], marker="o", color="#2c3e50")
        for x, v in points:
            right.annotate(f"{v:.1f}", (x, v), textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
    right.set_xticks(xs, [m[2:] for m in months], fontsize=7, rotation=0)  # YY-MM
    right.set_ylim(1, 5.4)
    right.set_title("(2)", loc="left")
    right.spines[["top", "right"]].set_visible(False)
    if has_rates:
        third = axes[2]
        labels3 = [m for m, _ in rates_trend or []]
        xs3 = list(range(len(labels3)))
        for line, letter, colour in zip(series, "RSM", ("#2980b9", "#27ae60", "#c0392b")):
            pts = [(x, v) for x, v in zip(xs3, line) if v is not None]
            if pts:
                third.plot([x for x, _ in pts], [v for _, v in pts], marker="o", color=colour, label=letter)
        third.set_xticks(xs3, [m[2:] for m in labels3], fontsize=7)
        third.set_ylim(0, 105)
        third.set_title("(3) %", loc="left")
        third.legend(fontsize=7, loc="lower left")
        third.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


# ----------------------------------------------------------------- SVG for the web pages (pygal)
def _style() -> Any:
    from pygal.style import Style

    return Style(background="transparent", plot_background="transparent", font_family="inherit",
                 colors=("#2980b9", "#27ae60", "#c0392b", "#8e44ad", "#f39c12"),
                 label_font_size=13, major_label_font_size=13, legend_font_size=13, value_font_size=12)


def rates_svg(rates_trend: list[tuple[str, Any]], names: tuple[str, str, str], title: str = "") -> str:
    """A line chart of the three rates (%) by month; `names` are the series' translated names."""
    import pygal

    chart = pygal.Line(style=_style(), range=(0, 100), height=320, width=640, show_dots=True, dots_size=4,
                       legend_at_bottom=True, legend_at_bottom_columns=3, print_values=False, title=title or None,
                       disable_xml_declaration=True, explicit_size=False, js=[], y_labels=[0, 25, 50, 75, 100],
                       value_formatter=lambda v: f"{v:.0f}%", allow_interruptions=True)
    chart.uuid = "svg-rates"  # pygal's default is a random uuid4: a page would differ on each render
    chart.x_labels = [m for m, _ in rates_trend]
    for name, line in zip(names, rate_series(rates_trend)):
        chart.add(name, line)
    return _static(chart.render(is_unicode=True))


def categories_svg(categories: list[tuple[str, int]], title: str = "") -> str:
    """Horizontal bars: requests by category (`categories` holds translated names and counts)."""
    import pygal

    chart = pygal.HorizontalBar(style=_style(), height=max(160, 44 * len(categories) + 60), width=640,
                                show_legend=False, print_values=True, title=title or None,
                                disable_xml_declaration=True, explicit_size=False, js=[])
    chart.uuid = "svg-categories"
    chart.x_labels = [name for name, _ in categories]
    chart.add("", [n for _, n in categories])
    return _static(chart.render(is_unicode=True))


_SCRIPT = re.compile(r"<script\b.*?</script>", re.S)
_COMMENT = re.compile(r"<!--.*?-->", re.S)


def _static(svg: str) -> str:
    """pygal's SVG without its script (interactive tooltips only) or comments: the page runs no
    script and loads nothing else."""
    return _COMMENT.sub("", _SCRIPT.sub("", svg))
