"""Charts as PNGs: the patient's pain and mood chart (weekly summary, /patient) and the alert card's.

Importing this package never imports matplotlib (about 1 s and 30 MB): each drawing function imports it
when called, and the bot calls them only in the drawing process (`drawing.py`), which is started on the
first chart and ended when idle.

- `patient.py`: the chart a patient (and, through /patient, their coach) sees.
- `escalation.py`: the alert card's 14-day chart.
- `rows.py`: a patient chart as an outbox row's data, drawn when the row is sent.
- `drawing.py` and `worker.py`: the drawing process, from the bot's side and from its own.
"""

from coachbot.adapters.charts.drawing import DrawingError, draw, stop_drawing
from coachbot.adapters.charts.escalation import render_escalation_chart
from coachbot.adapters.charts.patient import render_progress_chart
from coachbot.adapters.charts.rows import KIND as CHART_KIND
from coachbot.adapters.charts.rows import chart_row_payload, render_chart_row

__all__ = ["CHART_KIND", "DrawingError", "chart_row_payload", "draw", "render_chart_row",
           "render_escalation_chart", "render_progress_chart", "stop_drawing"]
