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

from coachbot.app.coaches.notes import note_lines as _note_lines
from coachbot.app.coaches.notes import patient_notes
from coachbot.app.unit_of_work import CoachRecord, EscalationRecord, PatientRecord, UnitOfWork
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


def escalation_line(words: CoachWords, tiers: dict[str, str], row: EscalationRecord, label: str, *,
                    now: dt.datetime) -> str:
    return fill(words.queue_line, label=label, tier=tiers.get(row.tier, row.tier), rule=row.rule,
                status=words.escalation_status.get(row.status, row.status),  # type: ignore[call-overload]
                age=age(words, row.opened_at, now))


async def summary_text(uow: UnitOfWork, patient: PatientRecord, words: CoachWords, tiers: dict[str, str], *,
                       steps: StepLibrary | None, now: dt.datetime) -> str:
    zone = zone_of(patient.timezone)
    days = words.none if patient.onboarded_at is None else str(
        (local_date_of(now, zone) - local_date_of(patient.onboarded_at, zone)).days)
    coach = await uow.coaches.get(patient.coach_id) if patient.coach_id is not None else None
    relay = await uow.relays.get(patient.id)
    relay_coach = await uow.coaches.get(relay.coach_id) if relay is not None else None
    return fill(
        words.patient_summary, label=patient.label,
        status=words.patient_status.get(patient.status, patient.status),  # type: ignore[call-overload]
        days=days, coach=coach_name(coach, words.none),
        relay=fill(words.relay_open_line, coach=coach_name(relay_coach, words.none)) if relay else "",
        scores=await _scores(uow, patient, words, zone) or words.none,
        escalations="\n".join(await _escalations(uow, patient, words, tiers, now)) or words.none,
        patient_notes="\n".join(_note_lines(words, await patient_notes(uow, patient.id), zone))
        or words.none,
        notes="\n".join(await _notes(uow, patient, words, zone)) or words.none,
        steps="\n".join(await _steps(uow, patient, words, steps, zone)) or words.none)


async def _scores(uow: UnitOfWork, patient: PatientRecord, words: CoachWords, zone: dt.tzinfo) -> str:
    latest: dict[str, tuple[float, dt.datetime]] = {}
    for code, value, at in await uow.measures.numbers(patient.id):  # later rows win
        latest[code] = (value, at)
    order = [c for c in SCORE_CODES if c in latest] + sorted(set(latest) - set(SCORE_CODES))
    return ", ".join(fill(words.score_item, code=code, value=_number(latest[code][0]),
                          date=latest[code][1].astimezone(zone).strftime("%d %b")) for code in order)


async def _escalations(uow: UnitOfWork, patient: PatientRecord, words: CoachWords, tiers: dict[str, str],
                       now: dt.datetime) -> list[str]:
    rows = sorted(await uow.escalations.open_for_patient(patient.id), key=lambda row: (row.opened_at, row.id))
    return [escalation_line(words, tiers, row, patient.label, now=now) for row in rows]


async def _notes(uow: UnitOfWork, patient: PatientRecord, words: CoachWords, zone: dt.tzinfo) -> list[str]:
    return [fill(words.note_line, date=at.astimezone(zone).strftime("%d %b"),
                 author=coach_name(coach, words.none), text=text)
            for text, at, coach in await uow.coach_notes.latest(patient.id, RECENT)]


async def _steps(uow: UnitOfWork, patient: PatientRecord, words: CoachWords, steps: StepLibrary | None,
                 zone: dt.tzinfo) -> list[str]:
    lines = []
    for step_id, suggested_at, feedback in await uow.suggestions.latest(patient.id, RECENT):
        step = steps.get(step_id) if steps is not None else None
        lines.append(fill(words.step_line, date=suggested_at.astimezone(zone).strftime("%d %b"),
                          step=step.title if step is not None else step_id,
                          feedback=words.step_feedback.get(  # type: ignore[call-overload]
                              feedback or "waiting", feedback)))
    return lines


async def chart_data(uow: UnitOfWork, patient: PatientRecord, words: CoachWords,
                     now: dt.datetime) -> ChartData | None:
    """Pain and mood of the last 14 local days, or None when nothing was answered in them."""
    zone = zone_of(patient.timezone)
    last = local_date_of(now, zone)
    first = last - dt.timedelta(days=CHART_DAYS - 1)
    rows = await uow.measures.numbers(patient.id, codes=("pain_now", "mood_now"),
                                      since=now - dt.timedelta(days=CHART_DAYS + 1))
    records = daily_records([(at, code, value) for code, value, at in rows], first, last, zone)
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
