"""Turning a dialog's `suggest_step` into one stored, explained suggestion, and feedback into learning.

The choice itself is the pure policy in `care/step_policy.py`; this module only gathers what it needs
through the unit of work (latest scores, flags from open safety escalations, the leg check and a flare, the
coach's pins and blocks, past suggestions, the population prior) and records the result.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
from collections.abc import Iterable
from dataclasses import dataclass

from coachbot.app.unit_of_work import PatientRecord, UnitOfWork
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


_SCORE_CODES = (*NUMERIC_MEASURES, *CATEGORICAL_MEASURES, LEG_MEASURE)
_STANDING_CODES = (NEUROPATHY_MEASURE, WORK_MEASURE)
"""Answers that stand until changed, however old: the latest of each feeds a step gate."""


async def patient_state(uow: UnitOfWork, patient: PatientRecord, now: dt.datetime, *,
                        flare: bool = False) -> PatientState:
    """What the policy needs to know about a patient now, from the last two weeks of answers."""
    rows = await uow.measures.answers(patient.id, _SCORE_CODES, since=now - SCORE_WINDOW)
    scores: dict[str, float | str] = {}
    series: dict[str, list[float]] = {"pain_now": [], "mood_now": []}
    for code, number, text in rows:  # later rows win: the latest value of each measure
        value = number if number is not None else text
        if value is not None:
            scores[code] = value
        if code in series and number is not None:
            series[code].append(number)
    open_rules = await uow.escalations.open_rules(patient.id)
    flags = {_SAFETY_FLAGS[rule] for rule in open_rules if rule in _SAFETY_FLAGS}
    if scores.pop(LEG_MEASURE, 0) == 1:  # the latest leg check said yes: until one says no
        flags |= LEG_FLAGS
    if flare:
        flags.add("flare")
    flags |= await standing_flags(uow, patient.id)
    overrides = await uow.step_overrides.of_patient(patient.id)
    usual = {code: statistics.median(values) for code, values in series.items() if values}
    return PatientState(scores=scores, flags=frozenset(flags), timezone=patient.timezone, usual=usual,
                        pinned=tuple(step for step, kind in overrides if kind == "pin"),
                        blocked=frozenset(step for step, kind in overrides if kind == "block"))


async def standing_flags(uow: UnitOfWork, patient_id: int) -> frozenset[str]:
    """`neuropathy` and `not_working` from the patient's latest answers, so the heat and work steps'
    gates are fed; no answer sets neither (the steps stay open, as before the question was asked)."""
    latest: dict[str, float | str | None] = {}
    for code, number, text in await uow.measures.answers(patient_id, _STANDING_CODES):
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


async def history_of(uow: UnitOfWork, patient_id: int, now: dt.datetime) -> list[PastSuggestion]:
    past = await uow.suggestions.history(patient_id, now - HISTORY_WINDOW)
    return [PastSuggestion(step_id=step_id, suggested_at=at, feedback=feedback)  # type: ignore[arg-type]
            for step_id, at, feedback in past]


async def suggest_step(uow: UnitOfWork, patient: PatientRecord, steps: StepLibrary, now: dt.datetime, *,
                       state: PatientState | None = None, prior: PopulationPrior | None = None,
                       exclude: Iterable[str] = (),
                       history: list[PastSuggestion] | None = None) -> Offered | None:
    """Today's step, recorded with why it was chosen; None when none may be offered.

    With `exclude` (the patient asked for a different one) the new step replaces today's: the one
    turned down is kept with feedback "declined", so the day still has one active suggestion.
    `history` is `history_of` now, when the caller has read it already."""
    state = state or await patient_state(uow, patient, now)
    history = await history_of(uow, patient.id, now) if history is None else history
    # Seeded per patient, day and swap: the same day replays the same choice; tests are repeatable.
    rng = random.Random(f"{patient.id}:{now.date().isoformat()}:{len(history)}")
    suggestion = choose_step(steps, state, history, now, rng, prior=prior, exclude=exclude)
    if suggestion is None:
        return None
    step = steps.get(suggestion.step_id)
    if step is None:
        return None
    if suggestion.replaces is not None:
        await uow.suggestions.decline(patient.id, suggestion.replaces, now)
    if not suggestion.repeat:
        await uow.suggestions.record(patient.id, step.id, suggestion.reason, now)
    return Offered(step, suggestion)


async def todays_step(uow: UnitOfWork, patient: PatientRecord, now: dt.datetime,
                      since: dt.datetime) -> str | None:
    """The step suggested today (since the patient's local midnight) and not turned down, if any."""
    return await uow.suggestions.todays(patient.id, since, now)


async def record_feedback(uow: UnitOfWork, patient_id: int, feedback: object, now: dt.datetime) -> None:
    """The patient's answer about their last step goes on that suggestion, for the learning."""
    if feedback in _FEEDBACK:
        await uow.suggestions.give_feedback(patient_id, str(feedback), now)
