"""What happens to a due check-in, and when its one reminder may go: quiet hours, grace, pause, stop."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from dataclasses import replace

import pytest

from coachbot.scheduling import Occurrence, Profile, QuietHours, Timing, decide_start, reminder_at

UTC = dt.UTC
TIMING = Timing(quiet=QuietHours(dt.time(21), dt.time(8)), grace=dt.timedelta(hours=2),
                reminder_delay=dt.timedelta(hours=3), late_after=dt.timedelta(minutes=1))


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def at(hour: int, minute: int = 0) -> Occurrence:
    """A London check-in on Monday 1 June 2026 (BST, UTC+1) at hour:minute local."""
    return Occurrence("daily", dt.date(2026, 6, 1), utc(2026, 6, 1, hour - 1, minute))


def patient(hour: int = 9, minute: int = 0, **changes: object) -> Profile:
    return replace(Profile("Europe/London", dt.time(hour, minute), weekly_day=2), **changes)


def test_a_check_in_on_time_is_sent() -> None:
    assert decide_start(at(9), patient(), utc(2026, 6, 1, 8, 0, 5), TIMING).action == "send"


def test_the_chosen_time_is_honoured_even_inside_quiet_hours() -> None:
    decision = decide_start(at(22, 30), patient(22, 30), utc(2026, 6, 1, 21, 30, 10), TIMING)
    assert (decision.action, decision.reason) == ("send", None)


@pytest.mark.parametrize(("changes", "reason"), [
    ({"status": "stopped"}, "stopped"),
    ({"status": "paused"}, "paused"),
    ({"status": "paused", "paused_until": utc(2026, 6, 3)}, "paused"),
    ({"unreachable": True}, "unreachable"),
    ({"onboarded": False, "status": "new"}, "not_onboarded"),
])
def test_nothing_goes_to_a_patient_who_paused_stopped_blocked_or_is_not_onboarded(
        changes: dict[str, object], reason: str) -> None:
    decision = decide_start(at(9), patient(**changes), utc(2026, 6, 1, 8), TIMING)
    assert (decision.action, decision.reason) == ("skipped", reason)


def test_a_pause_that_has_ended_lets_the_check_in_go() -> None:
    ended = patient(status="paused", paused_until=utc(2026, 6, 1, 7))
    assert decide_start(at(9), ended, utc(2026, 6, 1, 8), TIMING).action == "send"


def test_after_a_restart_inside_the_grace_window_it_goes_late_and_says_so() -> None:
    decision = decide_start(at(9), patient(), utc(2026, 6, 1, 9, 45), TIMING)
    assert (decision.action, decision.reason, decision.late_by) == ("send", "late", dt.timedelta(
        hours=1, minutes=45))


def test_after_a_restart_outside_the_grace_window_it_is_recorded_missed() -> None:
    decision = decide_start(at(9), patient(), utc(2026, 6, 1, 10, 0, 1), TIMING)
    assert (decision.action, decision.reason) == ("missed", "grace_expired")


def test_a_late_check_in_does_not_wake_anyone_in_quiet_hours() -> None:
    # Chosen 20:30, the bot was back at 21:10: not the chosen time any more, and quiet.
    decision = decide_start(at(20, 30), patient(20, 30), utc(2026, 6, 1, 20, 10), TIMING)
    assert (decision.action, decision.reason) == ("missed", "quiet_hours")
    # Chosen 22:30 (inside quiet hours on purpose): late is still sent, the patient chose the night.
    night = decide_start(at(22, 30), patient(22, 30), utc(2026, 6, 1, 22, 0), TIMING)
    assert (night.action, night.reason) == ("send", "late")


def test_the_reminder_comes_after_the_delay_the_same_day() -> None:
    assert reminder_at(at(9), utc(2026, 6, 1, 8, 0, 3), "Europe/London", TIMING, None) == utc(
        2026, 6, 1, 11, 0, 3)


def test_a_reminder_falling_in_quiet_hours_is_held_to_the_morning_or_dropped() -> None:
    # Sent 02:00 local (a night-shift choice): 05:00 is quiet, held to 08:00 the same day.
    night = Occurrence("daily", dt.date(2026, 6, 1), utc(2026, 6, 1, 1))
    assert reminder_at(night, utc(2026, 6, 1, 1), "Europe/London", TIMING, None) == utc(2026, 6, 1, 7)
    # Sent 19:00 local: 22:00 is quiet and the morning is another day: no reminder.
    assert reminder_at(at(19), utc(2026, 6, 1, 18), "Europe/London", TIMING, None) is None


def test_no_reminder_once_the_next_check_in_has_started() -> None:
    assert reminder_at(at(9), utc(2026, 6, 1, 8), "Europe/London", TIMING, utc(2026, 6, 1, 10)) is None


def test_the_scheduling_core_imports_no_database_scheduler_or_telegram() -> None:
    code = ("import sys, coachbot.scheduling; "
            "bad = [m for m in ('telegram', 'sqlalchemy', 'apscheduler', 'aiohttp') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
