"""The weekly summary: plain, calm words from dialogs/summary.yaml, the helpful steps named, and a
chart that is a real PNG of the last weeks."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
import zlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from coachbot.adapters.charts import render_progress_chart
from coachbot.care.step_policy import PastSuggestion
from coachbot.care.weekly_summary import DayRecord, build_summary, daily_records, helpful_titles
from coachbot.spec import DialogError
from coachbot.spec.steps import load_steps
from coachbot.spec.summary_texts import check_summary_file, load_summary_texts

DIALOGS = Path(__file__).resolve().parents[2] / "dialogs"
TEXTS = load_summary_texts(DIALOGS / "summary.yaml")
LIBRARY = load_steps(DIALOGS / "steps.yaml")
FIRST = date(2026, 2, 2)
ALARM = ("worse", "worrying", "concern", "alarm", "danger", "warning", "fail", "!")


def _days(pains: list[float | None], moods: list[float | None]) -> list[DayRecord]:
    return [DayRecord(FIRST + timedelta(days=n), p, m, p is not None or m is not None)
            for n, (p, m) in enumerate(zip(pains, moods, strict=True))]


def _four_weeks(this_week_pain: float, this_week_mood: float, missed: int = 0) -> list[DayRecord]:
    pains: list[float | None] = [6.0] * 21 + [this_week_pain] * (7 - missed) + [None] * missed
    moods: list[float | None] = [4.0] * 21 + [this_week_mood] * (7 - missed) + [None] * missed
    return _days(pains, moods)


# ------------------------------------------------------------------ the words

def test_the_shipped_summary_file_is_valid() -> None:
    assert check_summary_file(DIALOGS / "summary.yaml") == []


def test_the_summary_names_the_steps_the_patient_marked_helpful() -> None:
    summary = build_summary(TEXTS, "Sam", _four_weeks(5, 5), ["A short, easy walk", "Bridges"])
    assert "Steps you said helped: “A short, easy walk” and “Bridges”." in summary.text


def test_helpful_steps_are_the_ones_marked_helped_in_the_window_most_helpful_first() -> None:
    since = datetime(2026, 2, 2, tzinfo=UTC)
    history = [PastSuggestion("bridges", since + timedelta(days=1), "helped"),
               PastSuggestion("wind_down", since + timedelta(days=2), "helped"),
               PastSuggestion("wind_down", since + timedelta(days=9), "helped"),
               PastSuggestion("body_scan", since + timedelta(days=3), "not_helped"),
               PastSuggestion("knee_rolls", since - timedelta(days=1), "helped"),
               PastSuggestion("retired_step", since + timedelta(days=4), "helped")]
    assert helpful_titles(LIBRARY, history, since) == ["A half-hour wind-down", "Bridges"]


def test_no_helpful_steps_yet_is_said_kindly() -> None:
    summary = build_summary(TEXTS, "Sam", _four_weeks(5, 5), [])
    assert TEXTS.summary.helpful.none in summary.text


@pytest.mark.parametrize(("pain", "mood", "pain_word", "mood_word"), [
    (4, 6, "lower", "higher"), (6, 4, "same", "same"), (8, 2.5, "higher", "lower")])
def test_what_changed_this_week_is_said_in_plain_calm_words(pain: float, mood: float, pain_word: str,
                                                             mood_word: str) -> None:
    summary = build_summary(TEXTS, "Sam", _four_weeks(pain, mood), [])
    pain_sentence = getattr(TEXTS.summary.pain, pain_word).format(now=f"{pain:g}", before="6")
    mood_sentence = getattr(TEXTS.summary.mood, mood_word).format(now=f"{mood:g}", before="4")
    assert pain_sentence in summary.text and mood_sentence in summary.text
    assert not any(word in summary.text.lower() for word in ALARM)


def test_checkins_done_are_counted_over_the_last_seven_days() -> None:
    assert TEXTS.summary.checkins.all in build_summary(TEXTS, "Sam", _four_weeks(5, 5), []).text
    some = build_summary(TEXTS, "Sam", _four_weeks(5, 5, missed=3), []).text
    assert TEXTS.summary.checkins.some.format(done=4, days=7) in some
    none = build_summary(TEXTS, "Sam", _four_weeks(5, 5, missed=7), []).text
    assert TEXTS.summary.checkins.none in none
    assert "out of 10" not in none.split("\n\n")[2]  # no pain or mood sentence without answers


def test_a_first_week_has_nothing_to_compare_with() -> None:
    summary = build_summary(TEXTS, "Sam", _days([5, 6, 4, 5, 5, 6, 4], [5] * 7), [])
    assert TEXTS.summary.pain.first.format(now="5") in summary.text
    assert summary.chart.title == TEXTS.chart.title.format(weeks=1, days=7)


def test_every_word_comes_from_the_dialog_file(tmp_path: Path) -> None:
    text = (DIALOGS / "summary.yaml").read_text(encoding="utf-8")
    text = text.replace("Here is a look back at your week, {name}.", "Hiya {name}, here is your week.")
    (tmp_path / "summary.yaml").write_text(text, encoding="utf-8")
    texts = load_summary_texts(tmp_path / "summary.yaml")
    assert build_summary(texts, "Sam", _four_weeks(5, 5), []).text.startswith("Hiya Sam, here is your week.")


@pytest.mark.parametrize(("old", "new", "message"), [
    ("compared with {before} the week before.", "compared with {last_week}.",
     "{last_week} is not filled in here"),
    ("over the last {days} days", "over the last {days days", "is not closed"),
    ("  mood: Mood\n", "  mod: Mood\n", "'mod' is not a key allowed"),
])
def test_a_broken_summary_file_is_reported_with_its_line(tmp_path: Path, old: str, new: str,
                                                        message: str) -> None:
    original = (DIALOGS / "summary.yaml").read_text(encoding="utf-8")
    assert old in original
    text = original.replace(old, new, 1)
    folder = tmp_path / "dialogs"
    folder.mkdir()
    (folder / "summary.yaml").write_text(text, encoding="utf-8")
    line = next(n for n, row in enumerate(text.splitlines(), 1) if new.strip() in row)
    problems = [str(p) for p in check_summary_file(folder / "summary.yaml")]
    assert any(p.startswith(f"dialogs/summary.yaml:{line}: ") and message in p for p in problems), problems
    with pytest.raises(DialogError):
        load_summary_texts(folder / "summary.yaml")


def test_daily_records_take_each_local_days_last_answer() -> None:
    zone = ZoneInfo("Europe/London")
    day1 = datetime(2026, 2, 2, 9, tzinfo=zone)
    points = [(day1, "pain_now", 5.0), (day1 + timedelta(hours=8), "pain_now", 7.0),
              (day1, "mood_now", 4.0), (day1, "sleep_quality", 3.0),
              (day1 + timedelta(days=2), "mood_now", 6.0),
              (datetime(2026, 2, 3, 23, 30, tzinfo=UTC), "pain_now", 2.0)]  # still 3 Feb in London
    records = daily_records(points, date(2026, 2, 2), date(2026, 2, 5), zone)
    assert records == [DayRecord(date(2026, 2, 2), 7.0, 4.0, True),
                       DayRecord(date(2026, 2, 3), 2.0, None, True),
                       DayRecord(date(2026, 2, 4), None, 6.0, True),
                       DayRecord(date(2026, 2, 5), None, None, False)]


# ------------------------------------------------------------------ the chart

def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    crc = struct.unpack(">I", data[29:33])[0]
    assert crc == zlib.crc32(data[12:29])
    return width, height


def test_the_chart_is_a_valid_png_of_the_last_four_weeks() -> None:
    days = _four_weeks(4, 6, missed=2)
    days[3] = DayRecord(days[3].day)  # a missed day in the first week too
    summary = build_summary(TEXTS, "Sam", days, ["Bridges"])
    assert len(summary.chart.days) >= 14 and summary.chart.checked_in.count(False) == 3
    png = render_progress_chart(summary.chart)
    assert _png_size(png) == (960, 540)
    from matplotlib.image import imread  # noqa: PLC0415

    pixels = imread(io.BytesIO(png), format="png")
    assert pixels.shape[:2] == (540, 960)
    assert pixels.std() > 0.05  # something is drawn, not a blank canvas


def test_a_chart_with_no_answers_at_all_still_renders() -> None:
    summary = build_summary(TEXTS, "Sam", _days([None] * 14, [None] * 14), [])
    assert _png_size(render_progress_chart(summary.chart)) == (960, 540)


def test_importing_the_care_modules_never_imports_matplotlib() -> None:
    code = ("import sys, coachbot.care.weekly_summary, coachbot.care.step_policy, coachbot.care.flare, "
            "coachbot.care.steps_library; assert 'matplotlib' not in sys.modules, 'matplotlib imported'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                            cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
