"""What /patient shows a coach: status, days in care, latest scores, open escalations, what the patient
wrote to the coach, notes, recent step feedback, and the last 14 days as a chart; and the patient's
notes that go with the next alert card.

The daily check-in ends with "anything else you would like your coach to know?": those words were
written for a person, so they reach one. /patient shows the latest few, and the first alert card
after a note is followed by every note the coach has not been sent yet (`coachbot.app.coaches.notes`).

The chart is the weekly summary's chart (`coachbot.adapters.charts`) with the coach's own words. Only
its data is written here; the outbox sender draws it when it sends it (`coachbot.adapters.charts.rows`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from coachbot.adapters.db.models import (
    Coach,
    CoachNote,
    CoachRelay,
    Escalation,
    Measurement,
    Patient,
    StepSuggestion,
)
from coachbot.adapters.db.unit_of_work import joined
from coachbot.app.coaches.notes import note_lines as _note_lines
from coachbot.app.coaches.notes import patient_notes
from coachbot.app.unit_of_work import CoachRecord
from coachbot.care.weekly_summary import ChartData, daily_records
from coachbot.scheduling import local_date_of, zone_of
from coachbot.spec.coach_words import CoachWords, fill
from coachbot.spec.steps import StepLibrary
from coachbot.spec.summary_texts import ChartLabels

CHART_DAYS = 14
RECENT = 5
"""Notes and steps shown: the most recent few, newest first."""
SCORE_CODES = ("pain_now", "mood_now", "peg_score", "phq2_total", "gad2_total", "phq9_total", "gad7_total",
               "sleep_quality", "activity_days", "pain_usual", "mood_usual", "pain_baseline", "mood_baseline")
"""The numbers a coach reads first, in this order; other numeric answers follow by name."""


def coach_name(coach: CoachRecord | None, none: str) -> str:
    return f"{coach.name} ({coach.id})" if coach is not None else none


def age(words: CoachWords, since: dt.datetime, now: dt.datetime) -> str:
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return fill(words.age_minutes, n=minutes)
    if minutes < 48 * 60:
        return fill(words.age_hours, n=minutes // 60)
    return fill(words.age_days, n=minutes // (24 * 60))


def escalation_line(words: CoachWords, tiers: dict[str, str], row: Escalation, label: str, *,
                    now: dt.datetime) -> str:
    return fill(words.queue_line, label=label, tier=tiers.get(row.tier, row.tier), rule=row.rule,
                status=words.escalation_status.get(row.status, row.status),  # type: ignore[call-overload]
                age=age(words, row.opened_at, now))


async def summary_text(session: AsyncSession, patient: Patient, words: CoachWords, tiers: dict[str, str], *,
                       steps: StepLibrary | None, now: dt.datetime) -> str:
    zone = zone_of(patient.timezone)
    days = words.none if patient.onboarded_at is None else str(
        (local_date_of(now, zone) - local_date_of(patient.onboarded_at, zone)).days)
    coach = await session.get(Coach, patient.coach_id) if patient.coach_id is not None else None
    relay = await session.get(CoachRelay, patient.id)
    relay_coach = await session.get(Coach, relay.coach_id) if relay is not None else None
    return fill(
        words.patient_summary, label=patient.label,
        status=words.patient_status.get(patient.status, patient.status),  # type: ignore[call-overload]
        days=days, coach=coach_name(coach, words.none),
        relay=fill(words.relay_open_line, coach=coach_name(relay_coach, words.none)) if relay else "",
        scores=await _scores(session, patient, words, zone) or words.none,
        escalations="\n".join(await _escalations(session, patient, words, tiers, now)) or words.none,
        patient_notes="\n".join(_note_lines(words, await patient_notes(joined(session), patient.id), zone))
        or words.none,
        notes="\n".join(await _notes(session, patient, words, zone)) or words.none,
        steps="\n".join(await _steps(session, patient, words, steps, zone)) or words.none)


async def _scores(session: AsyncSession, patient: Patient, words: CoachWords, zone: dt.tzinfo) -> str:
    rows = await session.execute(
        select(Measurement.code, Measurement.value_num, Measurement.recorded_at)
        .where(Measurement.patient_id == patient.id, Measurement.value_num.is_not(None))
        .order_by(Measurement.recorded_at, Measurement.id))
    latest: dict[str, tuple[float, dt.datetime]] = {}
    for code, value, at in rows:
        if value is not None:
            latest[code] = (value, at)
    order = [c for c in SCORE_CODES if c in latest] + sorted(set(latest) - set(SCORE_CODES))
    return ", ".join(fill(words.score_item, code=code, value=_number(latest[code][0]),
                          date=latest[code][1].astimezone(zone).strftime("%d %b")) for code in order)


async def _escalations(session: AsyncSession, patient: Patient, words: CoachWords, tiers: dict[str, str],
                       now: dt.datetime) -> list[str]:
    rows = await session.execute(select(Escalation).where(
        Escalation.patient_id == patient.id, Escalation.status.in_(("open", "acknowledged")))
        .order_by(Escalation.opened_at))
    return [escalation_line(words, tiers, row, patient.label, now=now) for row in rows.scalars()]


async def _notes(session: AsyncSession, patient: Patient, words: CoachWords, zone: dt.tzinfo) -> list[str]:
    rows = await session.execute(
        select(CoachNote, Coach).join(Coach, Coach.id == CoachNote.coach_id)
        .where(CoachNote.patient_id == patient.id)
        .order_by(CoachNote.created_at.desc(), CoachNote.id.desc()).limit(RECENT))
    return [fill(words.note_line, date=note.created_at.astimezone(zone).strftime("%d %b"),
                 author=coach_name(coach, words.none), text=note.text) for note, coach in rows.all()]


async def _steps(session: AsyncSession, patient: Patient, words: CoachWords, steps: StepLibrary | None,
                 zone: dt.tzinfo) -> list[str]:
    rows = await session.execute(
        select(StepSuggestion).where(StepSuggestion.patient_id == patient.id)
        .order_by(StepSuggestion.suggested_at.desc(), StepSuggestion.id.desc()).limit(RECENT))
    lines = []
    for row in rows.scalars():
        step = steps.get(row.step_id) if steps is not None else None
        lines.append(fill(words.step_line, date=row.suggested_at.astimezone(zone).strftime("%d %b"),
                          step=step.title if step is not None else row.step_id,
                          feedback=words.step_feedback.get(  # type: ignore[call-overload]
                              row.feedback or "waiting", row.feedback)))
    return lines


async def chart_data(session: AsyncSession, patient: Patient, words: CoachWords,
                     now: dt.datetime) -> ChartData | None:
    """Pain and mood of the last 14 local days, or None when nothing was answered in them."""
    zone = zone_of(patient.timezone)
    last = local_date_of(now, zone)
    first = last - dt.timedelta(days=CHART_DAYS - 1)
    rows = await session.execute(
        select(Measurement.recorded_at, Measurement.code, Measurement.value_num)
        .where(Measurement.patient_id == patient.id, Measurement.code.in_(("pain_now", "mood_now")),
               Measurement.value_num.is_not(None),
               Measurement.recorded_at >= now - dt.timedelta(days=CHART_DAYS + 1)))
    records = daily_records([(at, code, float(value)) for at, code, value in rows if value is not None],
                            first, last, zone)
    if not any(r.checked_in for r in records):
        return None
    c = words.chart
    labels = ChartLabels(title=fill(c.title, label=patient.label), pain=c.pain, mood=c.mood, done=c.done,
                         missed=c.missed, scale=c.scale)
    return ChartData(tuple(r.day for r in records), tuple(r.pain for r in records),
                     tuple(r.mood for r in records), tuple(r.checked_in for r in records), labels.title,
                     labels)


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def join_labels(labels: Sequence[str]) -> str:
    return ", ".join(labels)
