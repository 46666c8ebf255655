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

from coachbot.app.channel import Outgoing, question_token
from coachbot.app.unit_of_work import CoachRecord, PatientRecord, RelayRecord, UnitOfWork
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


async def live_relay(uow: UnitOfWork, patient_id: int, now: dt.datetime) -> RelayRecord | None:
    """The patient's open conversation; one idle past `IDLE_AFTER` is closed here and now."""
    relay = await uow.relays.get(patient_id)
    if relay is None:
        return None
    if relay.updated_at <= now - IDLE_AFTER:
        await uow.relays.close(relay)
        uow.audit.record(actor="system", action="relay_expired", subject=None,
                         detail={"patient": patient_id, "coach": relay.coach_id}, now=now)
        return None
    return relay


async def open_relay(uow: UnitOfWork, patient: PatientRecord, coach: CoachRecord, now: dt.datetime) -> None:
    """Open (or take over) the conversation: replies now go to `coach`."""
    await uow.relays.open(patient.id, coach.id, now)


async def held_patients(uow: UnitOfWork, patient_ids: list[int], now: dt.datetime) -> set[int]:
    """Of `patient_ids`, those in an open conversation with a coach: their check-in waits."""
    return await uow.relays.live_among(patient_ids, now - IDLE_AFTER)


def relayable(event: Inbound) -> TextMessage | None:
    """Typed words the patient means for a person: not a command, not one of the engine's words."""
    if not isinstance(event, TextMessage) or event.text.startswith("/"):
        return None
    return event if parse_command(event.text) is None else None


async def relay_from_patient(uow: UnitOfWork, patient: PatientRecord, event: Inbound, *, channel: Channel,
                             now: dt.datetime, words: CoachWords) -> Relayed | None:
    """Pass the patient's message to the coach they are talking with; None when no conversation is
    open (or the message is a command), so the message takes the patient's usual path."""
    message = relayable(event)
    if message is None:
        return None
    relay = await live_relay(uow, patient.id, now)
    if relay is None:
        return None
    coach = await uow.coaches.get(relay.coach_id)
    if coach is None or not coach.active or coach.telegram_user_id is None:
        await uow.relays.close(relay)
        return None
    relay.updated_at = now
    uow.audit.record(actor=patient.label, action="relay_to_coach", subject=patient.label,
                     detail={"coach": coach.id, "length": len(message.text)}, now=now)
    forward = channel.text(fill(words.forwarded, label=patient.label, text=message.text),
                           chat_id=coach.telegram_user_id)
    return Relayed(text=message.text, to_coach=forward, to_patient=channel.text(words.passed_on))


async def close_relay(uow: UnitOfWork, patient: PatientRecord, relay: RelayRecord, *, actor: str,
                      words: CoachWords, channel: Channel, service: PatientService,
                      now: dt.datetime) -> list[Outgoing]:
    """End the conversation: the patient is told, and a check-in held back today starts now."""
    await uow.relays.close(relay)
    uow.audit.record(actor=actor, action="relay_closed", subject=patient.label,
                     detail={"coach": relay.coach_id}, now=now)
    if patient.chat_id is None:
        return []
    out = [replace(item, chat_id=patient.chat_id, patient_id=patient.id)
           for item in channel.text(words.closed_for_patient)]
    return out + await _resume_held_checkin(uow, patient, channel, service, now)


async def _resume_held_checkin(uow: UnitOfWork, patient: PatientRecord, channel: Channel,
                               service: PatientService, now: dt.datetime) -> list[Outgoing]:
    """Start today's check-in that waited for the conversation, as if the patient sent /checkin."""
    if patient.status != "active" or patient.chat_id is None:
        return []
    today = local_date_of(now, zone_of(patient.timezone))
    run = await uow.checkins.on_day(patient.id, today, reason=HELD)
    if run is None or await uow.conversations.position(patient.id) is not None:
        return []  # nothing waited, or a dialog is running already
    run.reason = RESUMED  # once only
    library = service.engine.library.service
    held = run.dialog
    script = library.weekly if held == "weekly" else library.daily
    if await uow.measures.answered_since(patient.id, script, run.due_at):
        return []  # they did it themselves meanwhile (/checkin)
    delivery = await service.apply(uow, patient, StartDialog(script), now)
    position = delivery.position
    token = question_token(position.script, position.state) if position else None
    uow.audit.record(actor="system", action="checkin_resumed", subject=patient.label,
                     detail={"dialog": held}, now=now)
    return [replace(item, chat_id=patient.chat_id, patient_id=patient.id)
            for item in channel.replies(delivery.replies, token)]
