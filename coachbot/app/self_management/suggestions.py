"""Turning a dialog's `suggest_step` into one stored, explained suggestion, and feedback into learning.

The choice itself is the pure policy in `care/step_policy.py`; this module only gathers what it needs
from the database (latest scores, flags from open safety escalations, the leg check and a flare, the
coach's pins and blocks, past suggestions, the population prior) and records the result.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from coachbot.adapters.db import store
from coachbot.adapters.db.models import (
    Escalation,
    Measurement,
    Patient,
    StepOverride,
    StepSuggestion,
    table_of,
)
from coachbot.care.step_policy import PastSuggestion, PatientState, PopulationPrior, Suggestion, choose_step
from coachbot.spec.catalogue import CATEGORICAL_MEASURES, NUMERIC_MEASURES
from coachbot.spec.steps import Step, StepLibrary

SCORE_WINDOW = dt.timedelta(days=14)
HISTORY_WINDOW = dt.timedelta(days=90)
LEG_MEASURE = "leg_symptoms"
"""The leg check's answer (dialogs/blocks/leg_check.yaml): 1 = new numbness, tingling or weakness."""
LEG_FLAGS = frozenset({"leg_weakness", "leg_numbness", "numb_skin"})
"""One question covers all three, so a yes holds back exercise and heat alike (the safer reading)."""
NEUROPATHY_MEASURE = "neuropathy"
"""Onboarding's diabetes or nerve-damage question (dialogs/onboarding.yaml): 1 = yes."""
WORK_MEASURE = "work_status"
"""Work, asked at onboarding and every fourth weekly review (dialogs/weekly_review.yaml)."""
NOT_WORKING = frozenset({"not_working", "retired", "student"})
"""Work statuses with no job to talk to a manager about; off sick and reduced hours still have one."""
_SAFETY_FLAGS = {"red_flag_emergency": "red_flag", "red_flag_urgent": "red_flag", "crisis": "crisis",
                 "abuse": "crisis"}
_FEEDBACK = {"helped", "not_helped", "not_tried"}


# The statements of a suggestion, built once: building and hashing them anew cost more than running them.
# On the tables, not the mapped classes: the session then runs them as plain Core, which costs less CPU
# than the ORM's handling of a statement (they return plain rows either way).
_M, _E, _O = table_of(Measurement), table_of(Escalation), table_of(StepOverride)
_S = table_of(StepSuggestion)
_SCORES = (select(_M.c.code, _M.c.value_num, _M.c.value_text)
           .where(_M.c.patient_id == bindparam("patient_id"),
                  _M.c.code.in_([*NUMERIC_MEASURES, *CATEGORICAL_MEASURES, LEG_MEASURE]),
                  _M.c.recorded_at >= bindparam("since"))
           .order_by(_M.c.recorded_at, _M.c.id))
_OPEN_RULES = select(_E.c.rule).where(_E.c.patient_id == bindparam("patient_id"),
                                      _E.c.status.in_(("open", "acknowledged")))
_OVERRIDES = (select(_O.c.step_id, _O.c.kind)
              .where(_O.c.patient_id == bindparam("patient_id"))
              .order_by(_O.c.created_at, _O.c.id))
_PAST = (select(_S.c.step_id, _S.c.suggested_at, _S.c.feedback)
         .where(_S.c.patient_id == bindparam("patient_id"), _S.c.suggested_at >= bindparam("since"))
         .order_by(_S.c.suggested_at, _S.c.id))
_STANDING = (select(_M.c.code, _M.c.value_num, _M.c.value_text)
             .where(_M.c.patient_id == bindparam("patient_id"),
                    _M.c.code.in_([NEUROPATHY_MEASURE, WORK_MEASURE]))
             .order_by(_M.c.recorded_at, _M.c.id))
"""Answers that stand until changed, however old: the latest of each feeds a step gate."""
_RECORD = insert(_S)
"""A new suggestion, written at once (added to the session, its flush cost more than the insert)."""


async def patient_state(session: AsyncSession, patient: Patient, now: dt.datetime, *,
                        flare: bool = False) -> PatientState:
    """What the policy needs to know about a patient now, from the last two weeks of answers."""
    rows = (await session.execute(_SCORES, {"patient_id": patient.id, "since": now - SCORE_WINDOW})).all()
    scores: dict[str, float | str] = {}
    series: dict[str, list[float]] = {"pain_now": [], "mood_now": []}
    for code, number, text in rows:  # later rows win: the latest value of each measure
        value = number if number is not None else text
        if value is not None:
            scores[code] = value
        if code in series and number is not None:
            series[code].append(number)
    open_rules = (await session.execute(_OPEN_RULES, {"patient_id": patient.id})).scalars()
    flags = {_SAFETY_FLAGS[rule] for rule in open_rules if rule in _SAFETY_FLAGS}
    if scores.pop(LEG_MEASURE, 0) == 1:  # the latest leg check said yes: until one says no
        flags |= LEG_FLAGS
    if flare:
        flags.add("flare")
    flags |= await standing_flags(session, patient.id)
    overrides = (await session.execute(_OVERRIDES, {"patient_id": patient.id})).all()
    usual = {code: statistics.median(values) for code, values in series.items() if values}
    return PatientState(scores=scores, flags=frozenset(flags), timezone=patient.timezone, usual=usual,
                        pinned=tuple(step for step, kind in overrides if kind == "pin"),
                        blocked=frozenset(step for step, kind in overrides if kind == "block"))


async def standing_flags(session: AsyncSession, patient_id: int) -> frozenset[str]:
    """`neuropathy` and `not_working` from the patient's latest answers, so the heat and work steps'
    gates are fed; no answer sets neither (the steps stay open, as before the question was asked)."""
    latest: dict[str, float | str | None] = {}
    for code, number, text in (await session.execute(_STANDING, {"patient_id": patient_id})).all():
        latest[code] = number if number is not None else text
    flags = set()
    if latest.get(NEUROPATHY_MEASURE) == 1:
        flags.add("neuropathy")
    if latest.get(WORK_MEASURE) in NOT_WORKING:
        flags.add("not_working")
    return frozenset(flags)


@dataclass(frozen=True)
class Offered:
    """A step to show the patient, and the policy's answer that chose it."""

    step: Step
    suggestion: Suggestion


async def history_of(session: AsyncSession, patient_id: int, now: dt.datetime) -> list[PastSuggestion]:
    past = (await session.execute(_PAST, {"patient_id": patient_id, "since": now - HISTORY_WINDOW})).all()
    return [PastSuggestion(step_id=step_id, suggested_at=at, feedback=feedback)  # type: ignore[arg-type]
            for step_id, at, feedback in past]


async def suggest_step(session: AsyncSession, patient: Patient, steps: StepLibrary, now: dt.datetime, *,
                       state: PatientState | None = None, prior: PopulationPrior | None = None,
                       exclude: Iterable[str] = (),
                       history: list[PastSuggestion] | None = None) -> Offered | None:
    """Today's step, recorded with why it was chosen; None when none may be offered.

    With `exclude` (the patient asked for a different one) the new step replaces today's: the one
    turned down is kept with feedback "declined", so the day still has one active suggestion.
    `history` is `history_of` now, when the caller has read it already."""
    state = state or await patient_state(session, patient, now)
    history = await history_of(session, patient.id, now) if history is None else history
    # Seeded per patient, day and swap: the same day replays the same choice; tests are repeatable.
    rng = random.Random(f"{patient.id}:{now.date().isoformat()}:{len(history)}")
    suggestion = choose_step(steps, state, history, now, rng, prior=prior, exclude=exclude)
    if suggestion is None:
        return None
    step = steps.get(suggestion.step_id)
    if step is None:
        return None
    if suggestion.replaces is not None:
        await _decline(session, patient.id, suggestion.replaces, now)
    if not suggestion.repeat:
        store.forget_open_step(session)
        await session.execute(_RECORD, {"patient_id": patient.id, "step_id": step.id, "suggested_at": now,
                                        "reason": suggestion.reason})
    return Offered(step, suggestion)


async def todays_step(session: AsyncSession, patient: Patient, now: dt.datetime,
                      since: dt.datetime) -> str | None:
    """The step suggested today (since the patient's local midnight) and not turned down, if any."""
    row = (await session.execute(
        select(StepSuggestion.step_id).where(
            StepSuggestion.patient_id == patient.id, StepSuggestion.suggested_at >= since,
            StepSuggestion.suggested_at <= now,
            (StepSuggestion.feedback.is_(None)) | (StepSuggestion.feedback != "declined"))
        .order_by(StepSuggestion.suggested_at.desc(), StepSuggestion.id.desc()).limit(1))).first()
    return row[0] if row else None


async def _decline(session: AsyncSession, patient_id: int, step_id: str, now: dt.datetime) -> None:
    row = (await session.execute(
        select(StepSuggestion).where(StepSuggestion.patient_id == patient_id,
                                     StepSuggestion.step_id == step_id)
        .order_by(StepSuggestion.suggested_at.desc(), StepSuggestion.id.desc()).limit(1)
    )).scalar_one_or_none()
    if row is not None and row.feedback is None:
        store.forget_open_step(session)
        row.feedback, row.feedback_at = "declined", now


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
        store.forget_open_step(session)
        latest.feedback = str(feedback)
        latest.feedback_at = now
