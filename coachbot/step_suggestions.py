"""Turning a dialog's `suggest_step` into one stored, explained suggestion, and feedback into learning.

The choice itself is the pure policy in `care/step_policy.py`; this module only gathers what it needs
from the database (latest scores, open safety escalations, past suggestions) and records the result.
"""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from coachbot.adapters.db.models import Escalation, Measurement, Patient, StepSuggestion
from coachbot.care.step_policy import PastSuggestion, PatientState, choose_step
from coachbot.care.steps_library import CATEGORICAL_MEASURES, NUMERIC_MEASURES, StepLibrary
from coachbot.engine import Reply

SCORE_WINDOW = dt.timedelta(days=14)
HISTORY_WINDOW = dt.timedelta(days=90)
_SAFETY_FLAGS = {"red_flag_emergency": "red_flag", "red_flag_urgent": "red_flag", "crisis": "crisis",
                 "abuse": "crisis"}
_FEEDBACK = {"helped", "not_helped", "not_tried"}


async def _patient_state(session: AsyncSession, patient: Patient, now: dt.datetime) -> PatientState:
    codes = [*NUMERIC_MEASURES, *CATEGORICAL_MEASURES]
    rows = (await session.execute(
        select(Measurement.code, Measurement.value_num, Measurement.value_text)
        .where(Measurement.patient_id == patient.id, Measurement.code.in_(codes),
               Measurement.recorded_at >= now - SCORE_WINDOW)
        .order_by(Measurement.recorded_at, Measurement.id))).all()
    scores: dict[str, float | str] = {}
    for code, number, text in rows:  # later rows win: the latest value of each measure
        value = number if number is not None else text
        if value is not None:
            scores[code] = value
    open_rules = (await session.execute(
        select(Escalation.rule).where(Escalation.patient_id == patient.id,
                                      Escalation.status.in_(("open", "acknowledged"))))).scalars()
    flags = frozenset(_SAFETY_FLAGS[rule] for rule in open_rules if rule in _SAFETY_FLAGS)
    return PatientState(scores=scores, flags=flags, timezone=patient.timezone)


async def suggest_step(session: AsyncSession, patient: Patient, steps: StepLibrary,
                       now: dt.datetime) -> Reply | None:
    """Today's step as a message, recorded with why it was chosen; None when none may be offered."""
    state = await _patient_state(session, patient, now)
    past = (await session.execute(
        select(StepSuggestion).where(StepSuggestion.patient_id == patient.id,
                                     StepSuggestion.suggested_at >= now - HISTORY_WINDOW)
        .order_by(StepSuggestion.suggested_at))).scalars().all()
    history = [PastSuggestion(step_id=row.step_id, suggested_at=row.suggested_at,
                              feedback=row.feedback)  # type: ignore[arg-type]
               for row in past]
    # Seeded per patient and day: the same day replays the same choice, and tests are repeatable.
    rng = random.Random(f"{patient.id}:{now.date().isoformat()}")
    suggestion = choose_step(steps, state, history, now, rng)
    if suggestion is None:
        return None
    step = steps.get(suggestion.step_id)
    if step is None:
        return None
    if not suggestion.repeat:
        session.add(StepSuggestion(patient_id=patient.id, step_id=step.id, suggested_at=now,
                                   reason=suggestion.reason))
    return Reply(text=f"{step.title}\n\n{step.text.strip()}")


async def record_feedback(session: AsyncSession, patient_id: int, feedback: object,
                          now: dt.datetime) -> None:
    """The patient's answer about their last step goes on that suggestion, for the learning."""
    if feedback not in _FEEDBACK:
        return
    latest = (await session.execute(
        select(StepSuggestion).where(StepSuggestion.patient_id == patient_id,
                                     StepSuggestion.feedback.is_(None))
        .order_by(StepSuggestion.suggested_at.desc()).limit(1))).scalar_one_or_none()
    if latest is not None:
        latest.feedback = str(feedback)
        latest.feedback_at = now
