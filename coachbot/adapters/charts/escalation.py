"""The alert card's chart as a PNG: pain and mood over the last 14 days, each with the patient's usual
level as a dashed line (both visible when they are the same), and the missed check-ins shaded.

Beside `patient.py` (the weekly summary's chart) and drawn the same way: a private `Figure` on the Agg
canvas, in the drawing process (`drawing.py`). The data is the outbox row's `chart` payload
(`alert_card.chart_data`).
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PAIN_COLOUR = "#D55E00"
MOOD_COLOUR = "#0072B2"
MISSED_COLOUR = "#BBBBBB"
"""Okabe-Ito colours, as in the weekly chart."""
BASELINE_WIDTH = 1.5
PAIN_DASHES = (0, (4, 4))
MOOD_DASHES = (4, (4, 4))
"""The usual levels: dashes in each measure's colour, mood's starting where pain's gaps do, so that when
the two levels are the same the line alternates orange and blue instead of one hiding the other."""


def render_escalation_chart(chart: dict[str, Any]) -> bytes:
    """PNG bytes. A day without an answer is a gap in its line, never an invented value."""
    figure = escalation_figure(chart)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def escalation_figure(chart: dict[str, Any], *, width_in: float = 8.0, height_in: float = 4.0,
                      dpi: int = 110) -> Figure:
    """The chart as a matplotlib Figure on the Agg canvas (what the tests look at)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 (heavy: on first use)
    from matplotlib.figure import Figure  # noqa: PLC0415
    from matplotlib.lines import Line2D  # noqa: PLC0415
    from matplotlib.patches import Patch  # noqa: PLC0415

    days: list[str] = list(chart["days"])
    if not days:
        raise ValueError("a chart needs at least one day")
    labels = chart.get("labels", {})
    figure = Figure(figsize=(width_in, height_in), dpi=dpi)  # fixed margins: "constrained" is twice as slow
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    xs = list(range(len(days)))
    for x, outcome in zip(xs, chart.get("checkin") or [None] * len(days), strict=False):
        if outcome == "missed":
            ax.axvspan(x - 0.5, x + 0.5, color=MISSED_COLOUR, alpha=0.35, lw=0)
    lines: list[Any] = []
    usual: list[Any] = []
    for key, colour, marker, dashes in (("pain", PAIN_COLOUR, "o", PAIN_DASHES),
                                        ("mood", MOOD_COLOUR, "s", MOOD_DASHES)):
        ax.plot(xs, [_num(v) for v in chart.get(key) or [None] * len(days)], color=colour, marker=marker,
                ms=4, lw=2)
        lines.append(Line2D([], [], color=colour, marker=marker, lw=2, label=labels.get(key, key)))
        base = chart.get(f"{key}_baseline")
        if isinstance(base, int | float) and math.isfinite(base):
            ax.axhline(float(base), color=colour, lw=BASELINE_WIDTH, ls=dashes)
            usual.append(Line2D([], [], color=colour, lw=BASELINE_WIDTH, ls=dashes,
                                label=f"{labels.get('baseline', 'baseline')} ({labels.get(key, key)})"))
    missed = Patch(facecolor=MISSED_COLOUR, alpha=0.6, label=labels.get("missed", "missed"))
    handles = [*lines, *usual, missed]
    ax.set_ylim(-0.3, 10.3)
    ax.set_yticks(range(0, 11, 2))
    ax.set_ylabel(labels.get("scale", ""))
    ax.set_xlim(-0.6, len(days) - 0.4)
    ticks = xs[::-1][::2][::-1]  # every other day, counted back from today so today is labelled
    ax.set_xticks(ticks, [_short(days[i]) for i in ticks], fontsize="small")
    ax.set_title(str(chart.get("title", "")))
    ax.grid(axis="y", alpha=0.3)
    figure.subplots_adjust(left=0.08, right=0.98, top=0.91, bottom=0.2)
    figure.legend(handles=handles, loc="lower center", ncols=len(handles), frameon=False, fontsize="small",
                  handlelength=2.5, columnspacing=1.2)
    return figure


def _num(value: object) -> float:
    return float(value) if isinstance(value, int | float) else math.nan


def _short(day: str) -> str:
    """"2026-02-03" as "03 Feb"."""
    import datetime as dt  # noqa: PLC0415

    try:
        return dt.date.fromisoformat(day).strftime("%d %b")
    except ValueError:
        return day
