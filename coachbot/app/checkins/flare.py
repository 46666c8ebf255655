"""Flare-ups as the service sees them: the pain history, the flare state now, and the patient's plan.

The decisions are the pure rules in `care/flare.py`; this module reads what they need. There is no
flare column: the state is rebuilt from the `pain_now` answers each time (a few rows), so it can never
disagree with the answers. The flare-up plan is the latest answer to each of the plan's questions
(dialogs/flare_plan.yaml), stored as measurements like every other answer.
"""

from __future__ import annotations

import datetime as dt

from coachbot.app.unit_of_work import PatientRecord, UnitOfWork
from coachbot.care.flare import FlareRules, FlareStep, PainCheckIn, replay
from coachbot.scheduling import zone_of

PAIN_HISTORY = dt.timedelta(days=21)
"""Enough for the longest flare (7 days) and the check-in before it, after a gap of two weeks."""
PLAN_CODES = ("flare_helps", "flare_avoid", "flare_tell", "flare_seek_help")
FLARE_SHOWN = "flare_plan_shown"


async def pain_checkins(uow: UnitOfWork, patient_id: int, now: dt.datetime) -> list[PainCheckIn]:
    """The pain answers of the last PAIN_HISTORY: a check-in's start reads them for its facts and
    again for the flare news, its end for the step and the news; the measures repository reads them
    once per transaction (until a measurement is recorded)."""
    rows = await uow.measures.values_between(patient_id, "pain_now", now - PAIN_HISTORY, now)
    return [PainCheckIn(at, value) for at, value in rows]


DEFAULT_RULES = FlareRules()


async def flare_now(uow: UnitOfWork, patient: PatientRecord, now: dt.datetime,
                    rules: FlareRules = DEFAULT_RULES) -> tuple[FlareStep, list[PainCheckIn]]:
    """The flare state after the latest check-in (and the check-ins it was rebuilt from)."""
    checkins = await pain_checkins(uow, patient.id, now)
    return replay(checkins, now, rules, zone_of(patient.timezone)), checkins


async def flare_shown(uow: UnitOfWork, patient_id: int, since: dt.datetime) -> bool:
    """Whether the flare-up message (the plan, or advice) was shown since `since`."""
    return await uow.measures.recorded_since(patient_id, FLARE_SHOWN, since)


async def flare_plan(uow: UnitOfWork, patient_id: int) -> dict[str, str]:
    """The patient's flare-up plan: the latest answer to each of its questions (empty: none yet)."""
    return await uow.measures.latest_texts(patient_id, PLAN_CODES)
