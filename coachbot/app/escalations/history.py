"""What the escalation rules see of one patient, read in as few statements as possible.

The answer path pays one query (the measurements of the rules' window, the baselines and any coach's
re-base together); the escalations and check-in runs are read only when a rule already holds.
A coach's re-based baseline is a measurement with the code `baseline:MEASURE`, so it needs no table
of its own and is read by the same query.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import replace
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, bindparam, false, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from coachbot.adapters.db.models import CheckinRun, Escalation
from coachbot.adapters.db.models import Measurement as StoredMeasurement
from coachbot.care.escalation_rules import (
    CheckinOutcome,
    EscalationRules,
    EscalationState,
    Measurement,
    PatientHistory,
    once_per_rules_file,
)

BASELINE_PREFIX = "baseline:"
"""A coach's re-base is stored as a measurement with this prefix before the measure's code."""
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


MeasurementRow = tuple[str, float | None, dt.datetime]
"""(code, numeric value, recorded at): a row of `measurement_query`."""


def measurement_query(patient_id: int, rules: EscalationRules,
                      now: dt.datetime) -> Select[str, float | None, dt.datetime]:
    """The measurements the rules read: their window of the watched measures, all baselines and
    re-bases. One query on the (patient, code, time) index."""
    since = now - dt.timedelta(days=window_days(rules))
    return _query_for(rules).params(patient_id=patient_id, since=since)


@once_per_rules_file
def _query_for(rules: EscalationRules) -> Select[str, float | None, dt.datetime]:
    """The statement for one rules file, built once: on the answer path, building and hashing a new
    statement for each answer cost more than SQLite takes to run it."""
    watched = (*(getattr(r, "measure", None) for r in rules.rules.values()), *rules.evidence.measures)
    windowed = sorted({measure for measure in watched if measure is not None})
    whole = sorted({source.measure for source in rules.baselines.values()}
                   | {BASELINE_PREFIX + measure for measure in rules.baselines})
    m = StoredMeasurement
    return (select(m.code, m.value_num, m.recorded_at)
            .where(m.patient_id == bindparam("patient_id"),
                   or_(and_(_one_of(m.code, windowed), m.recorded_at >= bindparam("since")),
                       _one_of(m.code, whole)))
            .order_by(m.recorded_at, m.id))


def _one_of(column: Any, codes: list[str]) -> Any:
    """`column IN (codes)`, each code a bound value so the statement's cache key stays the same;
    no codes is never true."""
    return column.in_([literal(code) for code in codes]) if codes else false()


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


async def load_history(session: AsyncSession, patient_id: int, timezone: str, rules: EscalationRules,
                       now: dt.datetime, *, full: bool = False, answering: bool = False) -> PatientHistory:
    """The patient's measurements (one query). With `full`, also their check-ins and escalations;
    `answering` counts a check-in still open as answered (the patient is answering it now)."""
    rows = (await session.execute(measurement_query(patient_id, rules, now))).all()
    history = history_of(rows, timezone)  # type: ignore[arg-type]
    if not full:
        return history
    return await completed(session, patient_id, history, rules, now, answering=answering)


async def completed(session: AsyncSession, patient_id: int, history: PatientHistory, rules: EscalationRules,
                    now: dt.datetime, *, answering: bool = False) -> PatientHistory:
    """A measurements-only history with the check-ins and escalations added: a rule that holds on the
    measurements needs them too, and reading the measurements window again would repeat a query."""
    since = now - dt.timedelta(days=window_days(rules))
    runs = await checkins(session, patient_id, history.zone, now, answering)
    return replace(history, checkins=runs, escalations=tuple(await states(session, patient_id, since)))


async def checkins(session: AsyncSession, patient_id: int, zone: dt.tzinfo, now: dt.datetime,
                   answering: bool) -> dict[dt.date, CheckinOutcome]:
    """Answered and missed check-ins (daily or weekly) of the last month, by local date."""
    today = now.astimezone(zone).date()
    statuses = ("answered", "missed", "sent", "queued") if answering else ("answered", "missed")
    result = await session.execute(
        select(CheckinRun.local_date, CheckinRun.status)
        .where(CheckinRun.patient_id == patient_id, CheckinRun.local_date >= today - dt.timedelta(days=31),
               CheckinRun.status.in_(statuses)))
    return {day: "missed" if status == "missed" else "answered" for day, status in result.all()}


async def states(session: AsyncSession, patient_id: int, since: dt.datetime) -> list[EscalationState]:
    """The patient's open escalations, and those resolved inside the rules' window."""
    result = await session.execute(
        select(Escalation.rule, Escalation.status, Escalation.opened_at, Escalation.resolved_at)
        .where(Escalation.patient_id == patient_id,
               or_(Escalation.status.in_(OPEN), Escalation.resolved_at >= since)))
    return [EscalationState(rule, status, opened, resolved)  # type: ignore[arg-type]
            for rule, status, opened, resolved in result.all()]
