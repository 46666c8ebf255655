"""Export: everything held about one patient, as JSON-ready lists, and their measurements as CSV.

`held_about` reads the same rows erasure deletes (the schema's foreign keys from `patients`, and the
outbox rows naming the patient), so what a patient is given is what would be erased. Coaches' notes
and the messages passed between patient and coach are included: they are about the patient.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from sqlalchemy import Text, cast, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from coachbot.adapters.db.models import (
    CheckinRun,
    CoachNote,
    Conversation,
    Escalation,
    Measurement,
    OutboxMessage,
    Patient,
    StepOverride,
    StepSuggestion,
)

CSV_COLUMNS = ("recorded_at", "code", "value", "script", "question")
"""The measurements file's header, one row per answer recorded, oldest first."""


def _iso(value: dt.datetime | dt.date | None) -> str | None:
    return value.isoformat() if value is not None else None


async def held_about(session: AsyncSession, patient: Patient) -> dict[str, Any]:
    """Every row about the patient beyond their profile, oldest first in each list."""
    pid = patient.id

    async def rows(model: Any, *order: Any) -> list[Any]:
        result = await session.execute(select(model).where(model.patient_id == pid).order_by(*order))
        return list(result.scalars())

    conversation = await session.get(Conversation, pid)
    return {
        "measurements": [
            {"code": m.code, "value": m.value_num if m.value_text is None else m.value_text,
             "recorded_at": _iso(m.recorded_at), "script": m.script, "question": m.state}
            for m in await rows(Measurement, Measurement.recorded_at, Measurement.id)],
        "current_conversation": None if conversation is None else {
            "script": conversation.script, "version": conversation.script_version,
            "question": conversation.state, "answers": dict(conversation.answers),
            "started_at": _iso(conversation.started_at)},
        "escalations": [
            {"id": e.id, "tier": e.tier, "rule": e.rule, "status": e.status, "reason": e.reason,
             "evidence": dict(e.evidence), "opened_at": _iso(e.opened_at),
             "acknowledged_at": _iso(e.acknowledged_at), "resolved_at": _iso(e.resolved_at),
             "resolution_note": e.resolution_note}
            for e in await rows(Escalation, Escalation.opened_at, Escalation.id)],
        "coach_notes": [
            {"written_at": _iso(n.created_at), "text": n.text}
            for n in await rows(CoachNote, CoachNote.created_at, CoachNote.id)],
        "steps_suggested": [
            {"step": s.step_id, "suggested_at": _iso(s.suggested_at), "reason": s.reason,
             "feedback": s.feedback, "feedback_at": _iso(s.feedback_at)}
            for s in await rows(StepSuggestion, StepSuggestion.suggested_at, StepSuggestion.id)],
        "steps_set_by_coach": [
            {"step": o.step_id, "kind": o.kind, "set_at": _iso(o.created_at)}
            for o in await rows(StepOverride, StepOverride.created_at, StepOverride.id)],
        "checkins": [
            {"dialog": r.dialog, "date": _iso(r.local_date), "status": r.status, "due_at": _iso(r.due_at)}
            for r in await rows(CheckinRun, CheckinRun.due_at, CheckinRun.id)],
        "messages": await _messages(session, patient),
    }


async def _messages(session: AsyncSession, patient: Patient) -> list[dict[str, Any]]:
    """Messages still held to the patient, and to coaches about them (a body cleared after sending
    shows as null)."""
    about = [OutboxMessage.patient_id == patient.id,
             cast(OutboxMessage.payload, Text).contains(patient.label, autoescape=True)]
    if patient.chat_id is not None:
        about.append(OutboxMessage.chat_id == patient.chat_id)
    result = await session.execute(select(OutboxMessage).where(or_(*about))
                                   .order_by(OutboxMessage.created_at, OutboxMessage.id))
    out = []
    for row in result.scalars():
        body = row.payload.get("text") or row.payload.get("caption") or row.payload.get("filename")
        out.append({"to": "you" if row.chat_id == patient.chat_id else "a coach", "kind": row.kind,
                    "written_at": _iso(row.created_at), "sent_at": _iso(row.sent_at),
                    "text": None if row.cleared_at is not None else body})
    return out


def measurements_csv(export: dict[str, Any]) -> str:
    """The export's measurements as CSV (header `CSV_COLUMNS`), for a spreadsheet."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for m in export.get("measurements", []):
        value = m["value"]
        shown = "" if value is None else (f"{value:g}" if isinstance(value, float) else str(value))
        writer.writerow([m["recorded_at"], m["code"], _safe(shown), m["script"], m["question"]])
    return buffer.getvalue()


def _safe(value: str) -> str:
    """A free-text answer that a spreadsheet would run as a formula is kept as text."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@") and not _number(value) else value


def _number(value: str) -> bool:
    try:
        float(value)
    except ValueError:
        return False
    return True


async def export_patient(session: AsyncSession, patient: Patient) -> dict[str, Any]:
    """Everything stored about a patient (`/mydata`, `coachbot patients export`): profile, consent,
    every answer, escalations, coaches' notes, self-help steps and every message held to or about them.
    The lists are built by `coachbot.app.data_rights.export`, which walks the same rows erasure does."""
    return {
        "label": patient.label,
        "profile": {
            "name": patient.name,
            "status": patient.status,
            "timezone": patient.timezone,
            "checkin_time": patient.checkin_time.isoformat() if patient.checkin_time else None,
            "weekly_review_day": patient.weekly_review_day,
            "consent_given_at": _iso(patient.consent_at),
            "consent_version": patient.consent_version,
            "consent_withdrawn_at": _iso(patient.consent_withdrawn_at),
            "onboarded_at": _iso(patient.onboarded_at),
            "paused_until": _iso(patient.paused_until),
            "first_contact_at": _iso(patient.created_at),
        },
        **await held_about(session, patient),
    }
