"""A chart as an outbox row: the row carries the chart's data, and the PNG is drawn when it is sent.

Drawing takes a few hundred milliseconds (and over a second for matplotlib's first import), far too
long to hold a transaction (on SQLite, the one write lock every patient's answer waits for). So
/patient writes the data with its audit entry in its transaction, and the outbox sender draws the
image in the drawing process (`drawing.py`) just before sending it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from coachbot.adapters.charts.patient import render_progress_chart
from coachbot.care.weekly_summary import ChartData
from coachbot.spec.summary_texts import ChartLabels

KIND = "chart"


def chart_row_payload(data: ChartData, caption: str) -> dict[str, Any]:
    return {"days": [d.isoformat() for d in data.days], "pain": list(data.pain), "mood": list(data.mood),
            "checked_in": list(data.checked_in), "title": data.title,
            "labels": data.labels.model_dump(), "caption": caption}


def render_chart_row(payload: dict[str, Any]) -> bytes:
    """The PNG of a chart row (matplotlib is imported by the drawing, on first use, not at start)."""
    data = ChartData(days=tuple(dt.date.fromisoformat(d) for d in payload["days"]),
                     pain=tuple(payload["pain"]), mood=tuple(payload["mood"]),
                     checked_in=tuple(bool(c) for c in payload["checked_in"]), title=str(payload["title"]),
                     labels=ChartLabels.model_validate(payload["labels"]))
    return render_progress_chart(data)
