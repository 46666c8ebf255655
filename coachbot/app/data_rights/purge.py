"""Retention: patients inactive for longer than `COACHBOT_RETENTION_DAYS` are erased, after
`coachbot patients purge --dry-run` has listed them.

Inactive means nothing happened for them since the cutoff: no answer recorded, no move in their
conversation, no change to their profile or status, and no escalation of theirs still open (an open
concern is never purged away). Off unless the setting is given.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from coachbot.adapters.db.models import Conversation, Escalation, Measurement, Patient
from coachbot.app.data_rights.erase import Erasure, erase_patient

RETENTION_ACTOR = "system:retention"


@dataclass(frozen=True, slots=True)
class Inactive:
    """A patient past the retention period: their label and when they were last active."""

    label: str
    last_active: dt.datetime


async def inactive_patients(session: AsyncSession, now: dt.datetime, days: int) -> list[Inactive]:
    """Patients with no activity for more than `days` days, the longest inactive first."""
    cutoff = now - dt.timedelta(days=days)
    answered = (select(func.max(Measurement.recorded_at)).where(Measurement.patient_id == Patient.id)
                .scalar_subquery())
    talked = select(Conversation.updated_at).where(Conversation.patient_id == Patient.id).scalar_subquery()
    open_concern = select(Escalation.id).where(Escalation.patient_id == Patient.id,
                                               Escalation.status != "resolved").exists()
    result = await session.execute(
        select(Patient.label, Patient.updated_at, Patient.created_at, answered, talked)
        .where(~open_concern).order_by(Patient.id))
    found = []
    for label, updated, created, last_answer, last_move in result.all():
        last = max(t for t in (updated, created, last_answer, last_move) if t is not None)
        if last < cutoff:
            found.append(Inactive(label=label, last_active=last))
    return sorted(found, key=lambda i: i.last_active)


async def purge(session: AsyncSession, now: dt.datetime, days: int) -> list[Erasure]:
    """Erase every patient `inactive_patients` lists, in the caller's transaction."""
    erased = []
    for item in await inactive_patients(session, now, days):
        patient = (await session.execute(select(Patient).where(Patient.label == item.label))).scalar_one()
        erased.append(await erase_patient(session, patient, actor=RETENTION_ACTOR, now=now))
    return erased
