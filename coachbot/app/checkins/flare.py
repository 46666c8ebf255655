"""Flare-ups as the service sees them: the pain history, the flare state now, and the patient's plan.

The decisions are the pure rules in `care/flare.py`; this module reads what they need. There is no
flare column: the state is rebuilt from the `pain_now` answers each time (a few rows), so it can never
disagree with the answers. The flare-up plan is the latest answer to each of the plan's questions
(dialogs/flare_plan.yaml), stored as measurements like every other answer.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from coachbot.adapters.db import store
from coachbot.adapters.db.models import Measurement, Patient, table_of
from coachbot.care.flare import FlareRules, FlareStep, PainCheckIn, replay
from coachbot.scheduling import zone_of

PAIN_HISTORY = dt.timedelta(days=21)
"""Enough for the longest flare (7 days) and the check-in before it, after a gap of two weeks."""
PLAN_CODES = ("flare_helps", "flare_avoid", "flare_tell", "flare_seek_help")
FLARE_SHOWN = "flare_plan_shown"


_M = table_of(Measurement)
_PAIN_CHECKINS = (
    select(_M.c.recorded_at, _M.c.value_num)
    .where(_M.c.patient_id == bindparam("patient_id"), _M.c.code == "pain_now",
           _M.c.recorded_at >= bindparam("since"), _M.c.recorded_at <= bindparam("now"),
           _M.c.value_num.is_not(None))
    .order_by(_M.c.recorded_at, _M.c.id))
"""Built once, on the table (so the session runs it as plain Core, without the ORM's handling of
a statement): every daily check-in's start and end reads it."""


async def pain_checkins(session: AsyncSession, patient_id: int, now: dt.datetime) -> list[PainCheckIn]:
    """The pain answers of the last PAIN_HISTORY, read once per transaction: a check-in's start reads
    them for its facts and again for the flare news, its end for the step and the news (the list is
    forgotten as soon as a measurement is added, see `store.remembered_reads`)."""
    reads = store.remembered_reads(session)
    key = (_PAIN_CHECKINS, patient_id, now)
    checkins: list[PainCheckIn] | None = reads.get(key)
    if checkins is None:
        rows = (await session.execute(_PAIN_CHECKINS, {"patient_id": patient_id,
                                                       "since": now - PAIN_HISTORY, "now": now})).all()
        checkins = reads[key] = [PainCheckIn(at, float(pain)) for at, pain in rows if pain is not None]
    return list(checkins)


DEFAULT_RULES = FlareRules()


async def flare_now(session: AsyncSession, patient: Patient, now: dt.datetime,
                    rules: FlareRules = DEFAULT_RULES) -> tuple[FlareStep, list[PainCheckIn]]:
    """The flare state after the latest check-in (and the check-ins it was rebuilt from)."""
    checkins = await pain_checkins(session, patient.id, now)
    return replay(checkins, now, rules, zone_of(patient.timezone)), checkins


async def flare_shown(session: AsyncSession, patient_id: int, since: dt.datetime) -> bool:
    """Whether the flare-up message (the plan, or advice) was shown since `since`."""
    row = (await session.execute(
        select(Measurement.id).where(Measurement.patient_id == patient_id, Measurement.code == FLARE_SHOWN,
                                     Measurement.recorded_at >= since).limit(1))).first()
    return row is not None


async def flare_plan(session: AsyncSession, patient_id: int) -> dict[str, str]:
    """The patient's flare-up plan: the latest answer to each of its questions (empty: none yet)."""
    rows = (await session.execute(
        select(Measurement.code, Measurement.value_text)
        .where(Measurement.patient_id == patient_id, Measurement.code.in_(PLAN_CODES),
               Measurement.value_text.is_not(None))
        .order_by(Measurement.recorded_at, Measurement.id))).all()
    return {code: text for code, text in rows if text and text.strip()}
