"""What a patient wrote for their coach (the daily check-in's "anything else your coach should know?"),
sent after the alert cards it belongs with, and listed in /patient."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from coachbot.app.channel import Channel, Outgoing
from coachbot.app.unit_of_work import PatientRecord, UnitOfWork
from coachbot.scheduling import zone_of
from coachbot.spec.coach_words import CoachWords, fill

RECENT = 5
"""Notes shown: the most recent few, newest first."""
NOTE_MEASURE = "note"
"""The daily check-in's free-text answer to "anything else you would like your coach to know?"."""
NOTES_SENT = "notes_to_coach"
"""A marker measurement: the patient's notes up to its time have gone to the coach with a card."""
NOTES_WINDOW = dt.timedelta(days=14)
"""Older notes are not sent with a card (the coach can still see the latest in /patient)."""


async def patient_notes(uow: UnitOfWork, patient_id: int, *, after: dt.datetime | None = None,
                        limit: int = RECENT) -> list[tuple[dt.datetime, str]]:
    """The patient's latest notes to their coach (newest first), only those after `after` if given."""
    notes = await uow.measures.texts(patient_id, NOTE_MEASURE, after=after, limit=limit)
    return [(at, text) for at, text in notes if text.strip()]


def note_lines(words: CoachWords, notes: Sequence[tuple[dt.datetime, str]], zone: dt.tzinfo) -> list[str]:
    return [fill(words.patient_note_line, date=at.astimezone(zone).strftime("%d %b"), text=text.strip())
            for at, text in notes]


async def notes_after_cards(uow: UnitOfWork, patient: PatientRecord, cards: Sequence[Outgoing], *,
                            words: CoachWords, channel: Channel, now: dt.datetime) -> list[Outgoing]:
    """The patient's notes not yet sent to the coach, as one message after the alert cards just
    written (to the first card's chat); records that they have gone. Nothing without a card."""
    chat = next((card.chat_id for card in cards if card.chat_id is not None), None)
    if chat is None:
        return []
    sent = await uow.measures.last_recorded(patient.id, NOTES_SENT)
    since = now - NOTES_WINDOW
    notes = await patient_notes(uow, patient.id, after=max(sent, since) if sent else since)
    if not notes:
        return []
    uow.measures.record(patient.id, NOTES_SENT, 1, script="coach", state="card", now=now)
    lines = note_lines(words, list(reversed(notes)), zone_of(patient.timezone))  # oldest first
    return channel.text(fill(words.patient_notes_card, label=patient.label, notes="\n".join(lines)), chat)
