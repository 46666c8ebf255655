"""Use cases: apply one event for one patient in one transaction.

The engine decides; this module loads what it needs, applies its effects to the database, and
returns what the channel must deliver. Answers, position, escalations and the audit trail are written
in the same transaction, so nothing is half-applied after a crash.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.db import store
from coachbot.adapters.db.models import Patient
from coachbot.engine import (
    ChangeStatus,
    DialogEnded,
    Effect,
    Engine,
    Escalate,
    Event,
    PatientContext,
    RecordMeasure,
    Reply,
    SafetyTriggered,
    SuggestStep,
    UpdateProfile,
)
from coachbot.engine.events import Status

log = logging.getLogger("coachbot.service")

Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True, slots=True)
class EscalationNotice:
    """What a coach must hear about: pseudonymous label, rule, tier and the numbers behind it."""

    escalation_id: int
    patient_label: str
    tier: str
    rule: str
    reason: str
    evidence: dict[str, Any]
    is_new: bool


@dataclass(slots=True)
class Delivery:
    """The result of one event: replies for the patient, notices for the coaches."""

    patient_label: str
    chat_id: int | None
    replies: list[Reply] = field(default_factory=list)
    escalations: list[EscalationNotice] = field(default_factory=list)
    suggest_step: bool = False


class PatientService:
    """Applies events to patients; one instance is shared by the whole process."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], engine: Engine,
                 clock: Clock = system_clock) -> None:
        self.sessions = sessions
        self.engine = engine
        self.clock = clock

    async def handle(self, chat_id: int, event: Event) -> Delivery:
        """Load the patient (creating them on first contact), run the engine, persist, commit."""
        now = self.clock()
        async with self.sessions() as session, session.begin():
            patient = await store.patient_by_chat(session, chat_id)
            if patient is None:
                patient = await store.create_patient(session, chat_id, now)
            return await self.apply(session, patient, event, now)

    async def apply(self, session: AsyncSession, patient: Patient, event: Event,
                    now: dt.datetime) -> Delivery:
        """Run one event for a loaded patient inside the caller's transaction."""
        position = await store.load_position(session, patient.id)
        context = await self._context(session, patient, now)
        outcome = self.engine.handle(context, position, event, now)
        delivery = Delivery(patient_label=patient.label, chat_id=patient.chat_id)
        for effect in outcome.effects:
            await self._apply_effect(session, patient, effect, now, delivery)
        await store.save_position(session, patient.id, outcome.position, now)
        patient.updated_at = now
        return delivery

    async def _context(self, session: AsyncSession, patient: Patient, now: dt.datetime) -> PatientContext:
        facts: dict[str, float] = {"onboarded": 1.0 if patient.onboarded_at else 0.0}
        if patient.onboarded_at is not None:
            zone = _zone(patient.timezone)
            days = (now.astimezone(zone).date() - patient.onboarded_at.astimezone(zone).date()).days
            facts["days_in_care"] = float(days)
            since = now - dt.timedelta(days=2)
            facts["open_step"] = 1.0 if await store.has_open_step(session, patient.id, since) else 0.0
        status: Status = patient.status  # type: ignore[assignment]
        return PatientContext(status=status, name=patient.name, facts=facts)

    async def _apply_effect(self, session: AsyncSession, patient: Patient, effect: Effect,
                            now: dt.datetime, delivery: Delivery) -> None:
        if isinstance(effect, Reply):
            delivery.replies.append(effect)
        elif isinstance(effect, RecordMeasure):
            store.add_measurement(session, patient.id, effect.code, effect.value, effect.script,
                                  effect.state, now)
        elif isinstance(effect, UpdateProfile):
            _update_profile(patient, effect, now)
        elif isinstance(effect, ChangeStatus):
            patient.status = effect.status
            patient.paused_until = effect.until
            store.audit(session, actor=patient.label, action=f"status_{effect.status}",
                        subject=patient.label, detail={}, now=now)
        elif isinstance(effect, Escalate):
            row, is_new = await store.open_escalation(
                session, patient.id, tier=effect.tier, rule=effect.rule, reason=effect.reason,
                evidence=dict(effect.evidence), now=now)
            store.audit(session, actor="system", action="escalation_opened" if is_new else
                        "escalation_updated", subject=patient.label,
                        detail={"escalation": row.id, "rule": effect.rule, "tier": row.tier}, now=now)
            log.warning("escalation %s %s for %s (%s)", row.tier, effect.rule, patient.label,
                        "new" if is_new else "updated")
            delivery.escalations.append(EscalationNotice(
                escalation_id=row.id, patient_label=patient.label, tier=row.tier, rule=effect.rule,
                reason=effect.reason, evidence=dict(row.evidence), is_new=is_new))
        elif isinstance(effect, SafetyTriggered):
            store.audit(session, actor="system", action="safety_trigger", subject=patient.label,
                        detail={"kind": effect.kind, "rule": effect.rule}, now=now)
            log.warning("safety trigger %s (%s) for %s", effect.kind, effect.rule, patient.label)
        elif isinstance(effect, SuggestStep):
            delivery.suggest_step = True
        elif isinstance(effect, DialogEnded):
            self._dialog_ended(patient, effect, now)

    def _dialog_ended(self, patient: Patient, effect: DialogEnded, now: dt.datetime) -> None:
        """Finishing onboarding with consent given makes a patient active."""
        entry = self.engine.library.service.entry
        if (effect.script == entry and effect.completed and patient.consent_at is not None
                and patient.onboarded_at is None):
            patient.onboarded_at = now
            if patient.status == "new":
                patient.status = "active"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("Europe/London")


def _update_profile(patient: Patient, effect: UpdateProfile, now: dt.datetime) -> None:
    """Copy a profile answer onto the patient; the engine has already validated its shape."""
    value = effect.value
    if effect.field == "name":
        patient.name = str(value)
    elif effect.field == "timezone":
        patient.timezone = str(value)
    elif effect.field == "checkin_time":
        patient.checkin_time = dt.time.fromisoformat(str(value))
    elif effect.field == "consent":
        patient.consent_at = now if value == 1 else None
    elif effect.field == "weekly_review_day" and isinstance(value, int | float):
        patient.weekly_review_day = int(value) % 7
