"""Charts a person can read: an alert with nothing to draw says so instead of sending an empty frame,
equal usual levels of pain and mood both stay visible, the patient's chart says which way is better,
and none of it loads matplotlib into the bot."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys
from pathlib import Path
from typing import Any

from matplotlib.colors import to_rgb
from PIL import Image

from coachbot.adapters.charts import chart_row_payload, render_escalation_chart
from coachbot.adapters.charts.escalation import MOOD_COLOUR, PAIN_COLOUR, escalation_figure
from coachbot.adapters.charts.patient import progress_figure
from coachbot.adapters.telegram.messages_out import TelegramChannel
from coachbot.app.channel import EscalationNotice
from coachbot.care.escalation_rules import PatientHistory, recent_days
from coachbot.care.weekly_summary import DayRecord, build_summary
from coachbot.spec.summary_texts import ChartLabels, load_summary_texts
from tests.support.coachbot_telegram import DIALOGS, library

NOW = dt.datetime(2026, 3, 16, 20, 0, tzinfo=dt.UTC)
REPO = Path(__file__).resolve().parents[2]


def channel() -> TelegramChannel:
    lib = library()
    return TelegramChannel(lib.service.channel, lib.escalation)


def notice(evidence: dict[str, Any]) -> EscalationNotice:
    return EscalationNotice(escalation_id=3, patient_label="P-4KX7QM", tier="urgent", rule="crisis_message",
                            reason="The patient wrote about ending their life.", evidence=evidence,
                            is_new=True, opened_at=NOW, due_at=NOW + dt.timedelta(hours=1))


def test_an_alert_for_a_patient_with_no_checkins_yet_is_a_text_card_that_says_so() -> None:
    rules = library().escalation
    assert rules is not None
    evidence = recent_days(rules, PatientHistory(dt.UTC), NOW)  # what a dialog's alert carries
    assert len(evidence["last_days"]) == 14
    card = channel().coach_alert(notice(evidence), 900)
    assert card.kind == "text" and "chart" not in card.payload
    lines = card.payload["text"].splitlines()
    assert lines[-1] == "No check-ins yet in the last 14 days: no chart to show."
    assert [label for row in card.payload["keyboard"] for label, _ in row] == [
        "Acknowledge", "Resolve", "Message patient"]


def test_an_alert_with_one_answer_is_still_a_chart() -> None:
    rules = library().escalation
    assert rules is not None
    evidence = recent_days(rules, PatientHistory(dt.UTC), NOW)
    evidence["last_days"][-1]["mood_now"] = 2
    card = channel().coach_alert(notice(evidence), 900)
    assert card.kind == "photo" and card.payload["chart"]["mood"][-1] == 2
    assert "no chart" not in card.payload["caption"]


def equal_baselines() -> dict[str, Any]:
    days = [(NOW.date() - dt.timedelta(days=n)).isoformat() for n in range(13, -1, -1)]
    return {"days": days, "pain": [8] * 14, "mood": [1] * 14, "checkin": ["done"] * 14,
            "pain_baseline": 5, "mood_baseline": 5, "title": "P-4KX7QM: the last 14 days",
            "labels": {"pain": "pain", "mood": "mood", "baseline": "usual level", "missed": "missed",
                       "scale": "0 to 10"}}


def test_equal_usual_levels_are_two_lines_in_their_colours_with_dashes_that_interleave() -> None:
    figure = escalation_figure(equal_baselines())
    [ax] = figure.axes
    usual = [line for line in ax.get_lines() if list(line.get_ydata()) == [5.0, 5.0]]
    assert sorted(to_rgb(line.get_color()) for line in usual) == sorted(
        [to_rgb(PAIN_COLOUR), to_rgb(MOOD_COLOUR)])
    assert all(line.get_visible() and line.get_linestyle() == "--" for line in usual)
    [legend] = figure.legends
    names = [text.get_text() for text in legend.get_texts()]
    assert "usual level (pain)" in names and "usual level (mood)" in names


def test_equal_usual_levels_both_show_in_the_drawn_picture() -> None:
    """Along the usual level's row of pixels, both colours are seen, each over a good part of it."""
    figure = escalation_figure(equal_baselines())
    [ax] = figure.axes
    png = render_escalation_chart(equal_baselines())
    image = Image.open(io.BytesIO(png)).convert("RGB")
    left, y = ax.transData.transform((0, 5.0))
    right, _ = ax.transData.transform((13, 5.0))
    row = image.height - round(y)
    columns = range(round(left), round(right))

    def seen(colour: str) -> int:
        want = [round(c * 255) for c in to_rgb(colour)]
        return sum(any(sum(abs(a - b) for a, b in zip(image.getpixel((x, r)), want, strict=True)) < 60
                       for r in (row - 1, row, row + 1)) for x in columns)

    assert seen(PAIN_COLOUR) > len(columns) // 4
    assert seen(MOOD_COLOUR) > len(columns) // 4


def test_the_patients_chart_says_lower_pain_and_higher_mood_are_better() -> None:
    texts = load_summary_texts(DIALOGS / "summary.yaml")
    days = [DayRecord(dt.date(2026, 3, 1) + dt.timedelta(days=n), 5.0, 5.0, True) for n in range(14)]
    chart = build_summary(texts, "Sam", days, []).chart
    assert chart.labels.better == "Lower pain and higher mood are better."
    [legend] = progress_figure(chart).legends
    assert legend.get_title().get_text() == "Lower pain and higher mood are better."
    sent = chart_row_payload(chart, "caption")  # as a chart row (drawn when sent), the words go along
    assert ChartLabels.model_validate(sent["labels"]).better == chart.labels.better


def test_a_chart_without_the_better_line_has_no_legend_title() -> None:
    texts = load_summary_texts(DIALOGS / "summary.yaml")
    days = [DayRecord(dt.date(2026, 3, 1) + dt.timedelta(days=n), 5.0, 5.0, True) for n in range(14)]
    chart = build_summary(texts, "Sam", days, []).chart
    plain = chart.__class__(chart.days, chart.pain, chart.mood, chart.checked_in, chart.title,
                            chart.labels.model_copy(update={"better": ""}))
    [legend] = progress_figure(plain).legends
    assert legend.get_title().get_text() == ""


def test_importing_what_coachbot_run_imports_loads_no_matplotlib() -> None:
    code = ("import sys, coachbot.cli, coachbot.adapters.telegram.app, coachbot.adapters.charts; "
            "loaded = [m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'numpy', 'PIL')]; "
            "assert not loaded, loaded")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                            cwd=REPO)
    assert result.returncode == 0, result.stderr
