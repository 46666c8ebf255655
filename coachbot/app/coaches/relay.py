"""The conversation a coach opens with /message: the patient's messages go to the coach, and their
scheduled check-in waits, until the coach sends /close (or the conversation has been idle for a day).

Stored as one row per patient (`coach_relays`), so it survives a restart. Safety first: a message
with words of crisis, abuse or a red flag runs the safety flow exactly as always, and so does an
answer while a safety dialog is running (its direct questions must get their answers); the coach
still gets the text. The engine's own words (help, stop, pause, resume, skip) and commands keep working
during the conversation, so a patient can always stop their messages. Message text is forwarded
through the outbox only; logs and the audit log get its length, never the words.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from coachbot.adapters.db import store
from coachbot.adapters.db.models import CheckinRun, Coach, CoachRelay, Conversation, Measurement, Patient
from coachbot.app.channel import Outgoing, question_token
from coachbot.engine import StartDialog, TextMessage
from coachbot.engine.commands import parse_command
from coachbot.scheduling import local_date_of, zone_of
from coachbot.spec.coach_words import CoachWords, fill

if TYPE_CHECKING:
    from coachbot.app.channel import Channel, Inbound
    from coachbot.app.pipeline import PatientService

IDLE_AFTER = dt.timedelta(hours=24)
"""A conversation with no message either way for this long counts as closed: a coach who forgot to
send /close must not hold a patient's check-ins back for good."""
HELD = "held_by_coach"
"""The reason a check-in run is recorded with when it fell due during an open conversation."""
RESUMED = "held_then_resumed"
"""... and the reason it carries once the closed conversation has started it."""


@dataclass(slots=True)
class Relayed:
    """A patient's message passed on: the forward for the coach, and a short receipt for the patient."""

    text: str
    to_coach: list[Outgoing] = field(default_factory=list)
    to_patient: list[Outgoing] = field(default_factory=list)


async def live_relay(session: AsyncSession, patient_id: int, now: dt.datetime) -> CoachRelay | None:
    """The patient's open conversation; one idle past `IDLE_AFTER` is closed here and now."""
    relay = await session.get(CoachRelay, patient_id)
    if relay is None:
        return None
    if relay.updated_at <= now - IDLE_AFTER:
        await session.delete(relay)
        store.audit(session, actor="system", action="relay_expired", subject=None,
                    detail={"patient": patient_id, "coach": relay.coach_id}, now=now)
        return None
    return relay


async def open_relay(session: AsyncSession, patient: Patient, coach: Coach, now: dt.datetime) -> None:
    """Open (or take over) the conversation: replies now go to `coach`."""
    relay = await session.get(CoachRelay, patient.id)
    if relay is None:
        session.add(CoachRelay(patient_id=patient.id, coach_id=coach.id, opened_at=now, updated_at=now))
    else:
        relay.coach_id, relay.updated_at = coach.id, now


async def held_patients(session: AsyncSession, patient_ids: list[int], now: dt.datetime) -> set[int]:
    """Of `patient_ids`, those in an open conversation with a coach: their check-in waits."""
    if not patient_ids:
        return set()
    result = await session.execute(select(CoachRelay.patient_id).where(
        CoachRelay.patient_id.in_(patient_ids), CoachRelay.updated_at > now - IDLE_AFTER))
    return set(result.scalars())


def relayable(event: Inbound) -> TextMessage | None:
    """Typed words the patient means for a person: not a command, not one of the engine's words."""
    if not isinstance(event, TextMessage) or event.text.startswith("/"):
        return None
    return event if parse_command(event.text) is None else None


async def relay_from_patient(session: AsyncSession, patient: Patient, event: Inbound, *, channel: Channel,
                             now: dt.datetime, words: CoachWords) -> Relayed | None:
    """Pass the patient's message to the coach they are talking with; None when no conversation is
    open (or the message is a command), so the message takes the patient's usual path."""
    message = relayable(event)
    if message is None:
        return None
    relay = await live_relay(session, patient.id, now)
    if relay is None:
        return None
    coach = await session.get(Coach, relay.coach_id)
    if coach is None or not coach.active or coach.telegram_user_id is None:
        await session.delete(relay)
        return None
    relay.updated_at = now
    store.audit(session, actor=patient.label, action="relay_to_coach", subject=patient.label,
                detail={"coach": coach.id, "length": len(message.text)}, now=now)
    forward = channel.text(fill(words.forwarded, label=patient.label, text=message.text),
                           chat_id=coach.telegram_user_id)
    return Relayed(text=message.text, to_coach=forward, to_patient=channel.text(words.passed_on))


async def close_relay(session: AsyncSession, patient: Patient, relay: CoachRelay, *, actor: str,
                      words: CoachWords, channel: Channel, service: PatientService,
                      now: dt.datetime) -> list[Outgoing]:
    """End the conversation: the patient is told, and a check-in held back today starts now."""
    await session.delete(relay)
    store.audit(session, actor=actor, action="relay_closed", subject=patient.label,
                detail={"coach": relay.coach_id}, now=now)
    if patient.chat_id is None:
        return []
    out = [replace(item, chat_id=patient.chat_id, patient_id=patient.id)
           for item in channel.text(words.closed_for_patient)]
    return out + await _resume_held_checkin(session, patient, channel, service, now)


async def _resume_held_checkin(session: AsyncSession, patient: Patient, channel: Channel,
                               service: PatientService, now: dt.datetime) -> list[Outgoing]:
    """Start today's check-in that waited for the conversation, as if the patient sent /checkin."""
    if patient.status != "active" or patient.chat_id is None:
        return []
    today = local_date_of(now, zone_of(patient.timezone))
    run = (await session.execute(select(CheckinRun).where(
        CheckinRun.patient_id == patient.id, CheckinRun.local_date == today,
        CheckinRun.reason == HELD))).scalars().first()
    if run is None or await session.get(Conversation, patient.id) is not None:
        return []  # nothing waited, or a dialog is running already
    run.reason = RESUMED  # once only
    library = service.engine.library.service
    held = run.dialog
    script = library.weekly if held == "weekly" else library.daily
    answered = await session.execute(select(Measurement.id).where(
        Measurement.patient_id == patient.id, Measurement.script == script,
        Measurement.recorded_at >= run.due_at).limit(1))
    if answered.first() is not None:
        return []  # they did it themselves meanwhile (/checkin)
    delivery = await service.apply(session, patient, StartDialog(script), now)
    position = delivery.position
    token = question_token(position.script, position.state) if position else None
    store.audit(session, actor="system", action="checkin_resumed", subject=patient.label,
                detail={"dialog": held}, now=now)
    return [replace(item, chat_id=patient.chat_id, patient_id=patient.id)
            for item in channel.replies(delivery.replies, token)]
