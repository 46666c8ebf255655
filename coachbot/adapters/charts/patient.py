"""The patient's chart as a PNG (the weekly summary's, and the coach's /patient): pain and mood over the
last weeks, and which days had a check-in.

An adapter, not care logic: matplotlib is heavy and has global state, so only the chart modules import
it, when they draw, and `coachbot.care` stays importable without it. It draws on a private `Figure`
with the Agg canvas (no pyplot, no global backend switch), so it is safe to call from several threads
and never opens a window. The words on the chart come in with the data (from dialogs/summary.yaml).
"""

from __future__ import annotations

import io
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from coachbot.care.weekly_summary import ChartData

PAIN_COLOUR = "#D55E00"
MOOD_COLOUR = "#0072B2"
DONE_COLOUR = "#009E73"
MISSED_COLOUR = "#BBBBBB"
"""Okabe-Ito colours: told apart with the common kinds of colour blindness."""


def render_progress_chart(data: ChartData) -> bytes:
    """The chart as PNG bytes, ready to send as a photo. Missing answers leave gaps in the lines
    rather than being joined across, so a missed day is visibly missed, not invented."""
    buffer = io.BytesIO()
    progress_figure(data).savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def progress_figure(data: ChartData, *, width_in: float = 8.0, height_in: float = 4.5,
                    dpi: int = 120) -> Figure:
    """The chart as a matplotlib Figure on the Agg canvas (what the tests look at). Which way is
    better (`labels.better`) is the legend's title, right above the lines' names."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415 (heavy: when drawn)
    from matplotlib.figure import Figure  # noqa: PLC0415
    from matplotlib.lines import Line2D  # noqa: PLC0415
    from matplotlib.patches import Patch  # noqa: PLC0415

    if not data.days:
        raise ValueError("a chart needs at least one day")
    figure = Figure(figsize=(width_in, height_in), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    lines_ax, strip_ax = figure.subplots(2, 1, sharex=True, height_ratios=(6, 1))
    days = list(range(len(data.days)))  # day indexes: gaps and spans are whole days, whatever the zone
    for day, done in zip(days, data.checked_in, strict=True):
        if not done:
            lines_ax.axvspan(day - 0.5, day + 0.5, color=MISSED_COLOUR, alpha=0.25, lw=0)
    lines_ax.plot(days, _gappy(data.pain), color=PAIN_COLOUR, marker="o", ms=4, lw=2, label=data.labels.pain)
    lines_ax.plot(days, _gappy(data.mood), color=MOOD_COLOUR, marker="s", ms=4, lw=2, label=data.labels.mood)
    lines_ax.set_ylim(-0.3, 10.3)
    lines_ax.set_yticks(range(0, 11, 2))
    lines_ax.set_ylabel(data.labels.scale)
    lines_ax.set_title(data.title)
    lines_ax.grid(axis="y", alpha=0.3)
    done_days = [d for d, done in zip(days, data.checked_in, strict=True) if done]
    missed_days = [d for d, done in zip(days, data.checked_in, strict=True) if not done]
    strip_ax.scatter(done_days, [0] * len(done_days), marker="s", s=40, color=DONE_COLOUR)
    strip_ax.scatter(missed_days, [0] * len(missed_days), marker="x", s=30, color="#777777")
    strip_ax.set_yticks([])
    strip_ax.set_ylim(-1, 1)
    strip_ax.set_xlim(-0.7, len(days) - 0.3)
    ticks = days[::-1][:: max(1, len(days) // 8)][::-1]  # counted back from the review day, so it is shown
    strip_ax.set_xticks(ticks, [data.days[i].strftime("%d %b") for i in ticks])
    for side in ("top", "right", "left"):
        strip_ax.spines[side].set_visible(False)
    handles = [Line2D([], [], color=PAIN_COLOUR, marker="o", lw=2, label=data.labels.pain),
               Line2D([], [], color=MOOD_COLOUR, marker="s", lw=2, label=data.labels.mood),
               Line2D([], [], color=DONE_COLOUR, marker="s", lw=0, label=data.labels.done),
               Patch(facecolor=MISSED_COLOUR, alpha=0.5, label=data.labels.missed)]
    figure.legend(handles=handles, loc="outside lower center", ncols=4, frameon=False, fontsize="small",
                  title=data.labels.better or None, title_fontsize="small")
    return figure


def _gappy(values: tuple[float | None, ...]) -> list[float]:
    return [math.nan if v is None else float(v) for v in values]
