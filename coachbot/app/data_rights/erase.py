"""Erasure: every row that is about one patient goes, and one audit entry (labels only) says so.

What is "about the patient" is found from the schema, not listed by hand, so a table added later is
covered without anyone remembering this module: every row that references the patient by foreign key,
every row that references such a row (an alert card in the outbox references the patient's
escalation), and so on. Coaches' chats also held messages naming the patient's label (relayed
messages, /patient summaries, alert cards): outbox rows whose body mentions the label go too, and so
do the audit entries about the patient, whose details can say what happened to them.

An erasure is never refused or held back, not even while an urgent escalation about the patient is
open: the patient was promised erasure on request, and keeping the escalation would keep their health
data and chat against their word. What must not happen is the coach losing the alert in silence, so
`Erasure.urgent_open` says one was open and the callers tell the coach plainly (docs/safety.md H38).

Runs inside the caller's transaction; nothing here commits.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Table, Text, cast, delete, false, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from coachbot.adapters.db import store
from coachbot.adapters.db.models import AuditEntry, Base, Coach, OutboxMessage, Patient, table_of
from coachbot.adapters.db.unit_of_work import joined
from coachbot.app.escalations.raising import urgent_open

log = logging.getLogger("coachbot.data_rights")

ERASED = "patient_erased"
"""The audit action an erasure leaves; its entry carries the label and row counts, never health data."""


@dataclass(slots=True)
class Erasure:
    """What an erasure removed, table by table (counts only)."""

    label: str
    coach_chat_id: int | None
    removed: dict[str, int] = field(default_factory=dict)
    urgent_open: bool = False
    """An urgent escalation about the patient was open or acknowledged, not resolved, when erased."""

    @property
    def total(self) -> int:
        return sum(self.removed.values())


def _doomed_conditions(patient_id: int) -> dict[str, ColumnElement[bool]]:
    """For each table, the condition its rows about the patient meet, found by walking foreign keys
    outward from `patients` in dependency order (a referenced table comes before its referrers)."""
    patients = table_of(Patient)
    conditions: dict[str, ColumnElement[bool]] = {patients.name: patients.c.id == patient_id}
    for table in Base.metadata.sorted_tables:
        if table.name == patients.name:
            continue
        parts = []
        for fk in table.foreign_keys:
            parent = fk.column.table
            if parent.name in conditions and parent.name != table.name:
                pk = fk.column
                parts.append(fk.parent.in_(select(pk).where(conditions[parent.name]).scalar_subquery()))
        if parts:
            conditions[table.name] = or_(*parts)
    return conditions


def _mentions(table: Table, label: str) -> ColumnElement[bool]:
    """Outbox rows whose body names the label (a forward, a summary, a card sent to a coach)."""
    return cast(table.c.payload, Text).contains(label, autoescape=True)


async def erase_patient(session: AsyncSession, patient: Patient, *, actor: str,
                        now: dt.datetime) -> Erasure:
    """Delete everything held about `patient` and leave one audit entry; `actor` is a label such as
    the patient's own, "coach:3" or "system:retention". The session is emptied afterwards: every
    object loaded from it may be gone."""
    coach = await session.get(Coach, patient.coach_id) if patient.coach_id is not None else None
    erasure = Erasure(label=patient.label,
                      coach_chat_id=coach.telegram_user_id if coach is not None and coach.active else None,
                      urgent_open=await urgent_open(joined(session), patient.id))
    label, patient_id, chat_id = patient.label, patient.id, patient.chat_id
    await session.flush()  # the pending changes of this transaction first, then the deletes
    conditions = _doomed_conditions(patient_id)
    outbox = table_of(OutboxMessage)
    conditions[outbox.name] = or_(conditions[outbox.name], _mentions(outbox, label),
                                  outbox.c.chat_id == chat_id if chat_id is not None else false())
    audit = table_of(AuditEntry)
    conditions[audit.name] = audit.c.subject == label
    for table in reversed(Base.metadata.sorted_tables):  # referrers before what they refer to
        condition = conditions.get(table.name)
        if condition is None:
            continue
        result = await session.execute(delete(table).where(condition))
        if count := int(getattr(result, "rowcount", 0) or 0):  # a DELETE's CursorResult
            erasure.removed[table.name] = count
    session.expunge_all()
    store.audit(session, actor=actor, action=ERASED, subject=label,
                detail={"rows": dict(sorted(erasure.removed.items()))}, now=now)
    log.info("erased %s (%d rows) at the request of %s", label, erasure.total, actor)
    return erasure


def chats_to_tell(erasure: Erasure, group_chat_id: int | None) -> list[int]:
    """Who hears of the erasure: the patient's coach; with an urgent escalation still open, the
    coaches' group too, which the unacknowledged card's re-sends would have reached."""
    chats = [erasure.coach_chat_id] if erasure.coach_chat_id is not None else []
    if erasure.urgent_open and group_chat_id is not None and group_chat_id not in chats:
        chats.append(group_chat_id)
    return chats
