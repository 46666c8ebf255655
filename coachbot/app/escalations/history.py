"""What the escalation rules see of one patient, read through the unit of work in as few reads as possible.

The answer path pays one read (the measurements of the rules' window, the baselines and any coach's
re-base together); the escalations and check-in runs are read only when a rule already holds.
A coach's re-based baseline is a measurement with the code `baseline:MEASURE`, so it needs no table
of its own and is read by the same query.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import replace
from zoneinfo import ZoneInfo

from coachbot.app.unit_of_work import MeasurementRow, UnitOfWork
from coachbot.care.escalation_rules import (
    EscalationRules,
    Measurement,
    PatientHistory,
    once_per_rules_file,
)

BASELINE_PREFIX = "baseline:"
"""A coach's re-base is stored as a measurement with this prefix before the measure's code (the
measures repository reads every one of them with the rules' window)."""
OPEN = ("open", "acknowledged")


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("Europe/London")


@once_per_rules_file
def window_days(rules: EscalationRules) -> int:
    """The longest look back any rule or the evidence needs, in days (plus one for time zones)."""
    windows = [getattr(rule, "within_days", 0) for rule in rules.rules.values()]
    return max([rules.evidence.days, *windows]) + 1


def history_of(rows: Iterable[MeasurementRow], timezone: str) -> PatientHistory:
    """The measurements part of a patient's history: readings, and baselines a coach re-based."""
    measurements: list[Measurement] = []
    baselines: dict[str, float] = {}
    for code, value, at in rows:
        if value is None or not math.isfinite(value):
            continue
        if code.startswith(BASELINE_PREFIX):
            baselines[code.removeprefix(BASELINE_PREFIX)] = float(value)  # the latest re-base wins
        else:
            measurements.append(Measurement(at, code, float(value)))
    return PatientHistory(zone_of(timezone), tuple(measurements), {}, baselines)


async def load_history(uow: UnitOfWork, patient_id: int, timezone: str, rules: EscalationRules,
                       now: dt.datetime, *, full: bool = False, answering: bool = False) -> PatientHistory:
    """The patient's measurements (one read). With `full`, also their check-ins and escalations;
    `answering` counts a check-in still open as answered (the patient is answering it now)."""
    since = now - dt.timedelta(days=window_days(rules))
    history = history_of(await uow.measures.rules_window(patient_id, rules, since), timezone)
    if not full:
        return history
    return await completed(uow, patient_id, history, rules, now, answering=answering)


async def completed(uow: UnitOfWork, patient_id: int, history: PatientHistory, rules: EscalationRules,
                    now: dt.datetime, *, answering: bool = False) -> PatientHistory:
    """A measurements-only history with the check-ins and escalations added: a rule that holds on the
    measurements needs them too, and reading the measurements window again would repeat a query."""
    since = now - dt.timedelta(days=window_days(rules))
    today = now.astimezone(history.zone).date()
    runs = await uow.checkins.outcomes(patient_id, today - dt.timedelta(days=31), answering=answering)
    return replace(history, checkins=runs, escalations=tuple(await uow.escalations.states(patient_id, since)))
