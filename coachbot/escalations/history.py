"""What the escalation rules see of one patient, read in as few statements as possible.

The answer path pays one query (the measurements of the rules' window, the baselines and any coach's
re-base together); the escalations and check-in runs are read only when a rule already holds.
A coach's re-based baseline is a measurement with the code `baseline:MEASURE`, so it needs no table
of its own and is read by the same query.
"""

from __future__ import annotations

import datetime as dt
import math
from zoneinfo import ZoneInfo

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from coachbot.adapters.db.models import CheckinRun, Escalation
from coachbot.adapters.db.models import Measurement as MeasurementRow
from coachbot.care.escalation_rules import (
    CheckinOutcome,
    EscalationRules,
    EscalationState,
    Measurement,
    PatientHistory,
)

BASELINE_PREFIX = "baseline:"
"""A coach's re-base is stored as a measurement with this prefix before the measure's code."""
OPEN = ("open", "acknowledged")


def zone_of(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("Europe/London")


def window_days(rules: EscalationRules) -> int:
    """The longest look back any rule or the evidence needs, in days (plus one for time zones)."""
    windows = [getattr(rule, "within_days", 0) for rule in rules.rules.values()]
    return max([rules.evidence.days, *windows]) + 1


async def load_history(session: AsyncSession, patient_id: int, timezone: str, rules: EscalationRules,
                       now: dt.datetime, *, full: bool = False, answering: bool = False) -> PatientHistory:
    """The patient's measurements (one query). With `full`, also their check-ins and escalations;
    `answering` counts a check-in still open as answered (the patient is answering it now)."""
    since = now - dt.timedelta(days=window_days(rules))
    windowed = sorted({*(getattr(r, "measure", None) for r in rules.rules.values()),
                       *rules.evidence.measures} - {None})  # type: ignore[type-var]
    whole = sorted({source.measure for source in rules.baselines.values()}
                   | {BASELINE_PREFIX + measure for measure in rules.baselines})
    m = MeasurementRow
    rows = (await session.execute(
        select(m.code, m.value_num, m.recorded_at)
        .where(m.patient_id == patient_id,
               or_(and_(m.code.in_(windowed), m.recorded_at >= since), m.code.in_(whole)))
        .order_by(m.recorded_at, m.id))).all()
    measurements: list[Measurement] = []
    baselines: dict[str, float] = {}
    for code, value, at in rows:
        if value is None or not math.isfinite(value):
            continue
        if code.startswith(BASELINE_PREFIX):
            baselines[code.removeprefix(BASELINE_PREFIX)] = float(value)  # the latest re-base wins
        else:
            measurements.append(Measurement(at, code, float(value)))
    zone = zone_of(timezone)
    if not full:
        return PatientHistory(zone, tuple(measurements), {}, baselines)
    runs = await checkins(session, patient_id, zone, now, answering)
    return PatientHistory(zone, tuple(measurements), runs, baselines,
                          tuple(await states(session, patient_id, since)))


async def checkins(session: AsyncSession, patient_id: int, zone: ZoneInfo, now: dt.datetime,
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
