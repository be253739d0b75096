"""The monthly report's chart as PNG bytes (matplotlib, headless).

Text inside the image is ASCII only: letters for categories, numbers and `YYYY-MM` months.
Servers rarely have a CJK (or Arabic) font, and a chart must read the same in every language,
so the translated legend travels in the photo's caption instead.
"""
from __future__ import annotations

import io
import logging
import string

log = logging.getLogger(__name__)


def codes(n: int) -> list[str]:
    """A, B, … for the bars; the caption says which category each letter is."""
    letters = string.ascii_uppercase
    return [letters[i] if i < len(letters) else f"Z{i - len(letters) + 1}" for i in range(n)]


def monthly_chart(counts: list[int], trend: list[float | None], months: list[str]) -> bytes | None:
    """(1) requests by category (bars A, B, …); (2) average rating per month (1–5).
    None if there is nothing to draw or matplotlib is not installed (the report goes out as
    text alone)."""
    if not counts and not any(v is not None for v in trend):
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
    except ImportError:  # an optional nicety: never fail a report over it
        log.warning("matplotlib is not installed: monthly report without a chart")
        return None
    fig = Figure(figsize=(8, 3.6), dpi=100)
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
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
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
