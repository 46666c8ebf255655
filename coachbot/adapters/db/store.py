"""Reading and writing one patient's records inside a caller's transaction.

The service decides what to do (through the engine); these functions only translate between rows and
the engine's plain data, so the hot path stays a handful of statements.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from coachbot.adapters.db.models import (
    AuditEntry,
    Coach,
    Conversation,
    Escalation,
    Measurement,
    OutboxMessage,
    Patient,
    ProcessedUpdate,
    StepSuggestion,
    table_of,
)
from coachbot.engine import AnswerValue, Position

_LABEL_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""No 0/O or 1/I, so a coach can read a label aloud without confusion."""


def new_label() -> str:
    return "P-" + "".join(secrets.choice(_LABEL_ALPHABET) for _ in range(6))


async def patient_by_chat(session: AsyncSession, chat_id: int) -> Patient | None:
    result = await session.execute(select(Patient).where(Patient.chat_id == chat_id))
    return result.scalar_one_or_none()


async def create_patient(session: AsyncSession, chat_id: int | None, now: dt.datetime) -> Patient:
    """A new patient under a fresh pseudonymous label (retried on the rare label collision)."""
    for _ in range(10):
        label = new_label()
        clash = await session.execute(select(Patient.id).where(Patient.label == label))
        if clash.first() is None:
            break
    patient = Patient(label=label, chat_id=chat_id, created_at=now, updated_at=now, status="new")
    session.add(patient)
    await session.flush()
    return patient


_NO_CONVERSATION = "coachbot.no_conversation"
"""session.info key: patients known, in this transaction, to be in no dialog."""


def note_no_conversation(session: AsyncSession, patient_id: int) -> None:
    """The patient was read with their (absent) conversation: `load_position` and `save_position`
    need not ask the database again (a miss is not remembered by the session's identity map)."""
    session.info.setdefault(_NO_CONVERSATION, set()).add(patient_id)


async def _conversation(session: AsyncSession, patient_id: int) -> Conversation | None:
    if patient_id in session.info.get(_NO_CONVERSATION, ()):
        return None
    return await session.get(Conversation, patient_id)


async def load_position(session: AsyncSession, patient_id: int) -> Position | None:
    row = await _conversation(session, patient_id)
    if row is None:
        return None
    return Position(script=row.script, version=row.script_version, state=row.state,
                    answers=dict(row.answers or {}), misses=row.misses)


_C = table_of(Conversation)
_INSERT_POSITION = insert(_C)
_MOVE_POSITION = update(_C).where(_C.c.patient_id == bindparam("pid"))
_END_POSITION = delete(_C).where(_C.c.patient_id == bindparam("pid"))
"""A position's writes, built once on the table: through the session's unit of work, flushing the
changed Conversation cost more CPU than the rest of a check-in's start."""


async def save_position(session: AsyncSession, patient_id: int, position: Position | None,
                        now: dt.datetime) -> None:
    """Persist where the patient now is; no position means no dialog is running.

    Written at once with a Core statement; a Conversation the session holds is given the new values
    as its loaded state (or let go, when the dialog ended), so later reads in this transaction agree
    with the row and the flush has nothing left to write."""
    row = await _conversation(session, patient_id)
    if position is None:
        if row is not None:
            await session.execute(_END_POSITION, {"pid": patient_id})
            session.expunge(row)
            note_no_conversation(session, patient_id)
        return
    values: dict[str, Any] = {"script": position.script, "script_version": position.version,
                              "state": position.state, "answers": dict(position.answers),
                              "misses": position.misses, "updated_at": now}
    if row is None:
        session.info.get(_NO_CONVERSATION, set()).discard(patient_id)
        await session.execute(_INSERT_POSITION, {"patient_id": patient_id, "started_at": now, **values})
        return
    if row.script != position.script:
        values["started_at"] = now
    await session.execute(_MOVE_POSITION, {"pid": patient_id, **values})
    for name, value in values.items():
        set_committed_value(row, name, value)


_MEASUREMENT_READS = "coachbot.measurement_reads"
"""session.info key: measurement reads remembered for the rest of this transaction."""


def remembered_reads(session: AsyncSession) -> dict[Any, Any]:
    """Measurement reads a transaction may reuse instead of asking the database again (a check-in's
    start and end read the pain history twice). `add_measurement` forgets them all, so a reader never
    gets a list that misses an answer recorded since."""
    reads: dict[Any, Any] = session.info.setdefault(_MEASUREMENT_READS, {})
    return reads


def add_measurement(session: AsyncSession, patient_id: int, code: str, value: AnswerValue,  # noqa: PLR0917
                    script: str, state: str, now: dt.datetime) -> None:
    session.info.pop(_MEASUREMENT_READS, None)
    numeric = isinstance(value, int | float)
    session.add(Measurement(patient_id=patient_id, code=code,
                            value_num=float(value) if numeric else None,
                            value_text=None if numeric else str(value),
                            recorded_at=now, script=script, state=state))


async def open_escalation(session: AsyncSession, patient_id: int, *, tier: str, rule: str, reason: str,
                          evidence: dict[str, Any], now: dt.datetime) -> tuple[Escalation, bool]:
    """One open escalation per patient and rule: new evidence updates it. Returns (row, is_new)."""
    result = await session.execute(
        select(Escalation).where(Escalation.patient_id == patient_id, Escalation.rule == rule,
                                 Escalation.status.in_(("open", "acknowledged"))))
    existing = result.scalars().first()
    if existing is not None:
        existing.evidence = {**existing.evidence, **evidence}
        existing.reason = reason
        existing.updated_at = now
        if _more_urgent(tier, existing.tier):
            existing.tier = tier
        return existing, False
    row = Escalation(patient_id=patient_id, tier=tier, rule=rule, reason=reason, evidence=evidence,
                     status="open", opened_at=now, updated_at=now)
    session.add(row)
    await session.flush()
    return row, True


_TIER_ORDER = ("urgent", "soon", "routine")


def _more_urgent(tier: str, than: str) -> bool:
    return _TIER_ORDER.index(tier) < _TIER_ORDER.index(than)


_S = table_of(StepSuggestion)
_OPEN_STEP = select(_S.c.id).where(
    _S.c.patient_id == bindparam("patient_id"), _S.c.feedback.is_(None),
    _S.c.suggested_at >= bindparam("since")).limit(1)
"""On the table, not the mapped class: the session then runs it as plain Core, which costs less
CPU than the statement's ORM handling."""


_OPEN_STEP_READ = "coachbot.open_step"
"""session.info key: ((patient id, since), answer) of an open-step read made with the patient's row."""


def note_open_step(session: AsyncSession, patient_id: int, since: dt.datetime, waiting: bool) -> None:
    """The patient was read with whether a step waits for feedback (`has_open_step` then needs no
    query); kept until that first use, and forgotten when a suggestion is written (`forget_open_step`)."""
    session.info[_OPEN_STEP_READ] = ((patient_id, since), waiting)


def forget_open_step(session: AsyncSession) -> None:
    session.info.pop(_OPEN_STEP_READ, None)


async def has_open_step(session: AsyncSession, patient_id: int, since: dt.datetime) -> bool:
    """A step suggested since `since` that still waits for the patient's feedback."""
    known = session.info.pop(_OPEN_STEP_READ, None)
    if known is not None and known[0] == (patient_id, since):
        return bool(known[1])
    result = await session.execute(_OPEN_STEP, {"patient_id": patient_id, "since": since})
    return result.first() is not None


def audit(session: AsyncSession, *, actor: str, action: str, subject: str | None,
          detail: dict[str, Any], now: dt.datetime) -> None:
    """Record who did what; callers pass labels and codes only, never message text or names."""
    session.add(AuditEntry(at=now, actor=actor, action=action, subject=subject, detail=detail))


# -- statements every update runs ------------------------------------------------------------------
# Built once, on the tables (not the mapped classes): building a statement, and the ORM's bulk-insert
# machinery, cost more than the database takes to run it.

INSERT_OUTBOX = insert(table_of(OutboxMessage)).returning(table_of(OutboxMessage).c.id,
                                                          sort_by_parameter_order=True)
"""Outbox rows, many in one statement, their ids returned in the order given."""
INSERT_UPDATE_ID = insert(table_of(ProcessedUpdate))
"""The update id that makes a redelivery fail (primary key) and roll its transaction back."""


OPEN_STEP_DAYS = 2
"""A step suggested this many days ago or less, still without feedback, is asked about."""


# -- outbox rows ---------------------------------------------------------------------------------
# The one place an outbox row's values are decided, whoever writes it (an update, a due check-in, a
# reminder, a re-alert, a missed check-in's evaluation). A message without a chat of its own goes to the
# patient's chat and carries the patient's id, so a 403 marks that patient unreachable and a `stop`
# cancels it; a message to another chat (a coach's card) carries only what its sender put on it.

class OutgoingLike(Protocol):
    """What an outbox row is built from (`coachbot.app.channel.Outgoing`)."""

    @property
    def kind(self) -> str: ...
    @property
    def payload(self) -> dict[str, Any]: ...
    @property
    def chat_id(self) -> int | None: ...
    @property
    def lane(self) -> int: ...
    @property
    def patient_id(self) -> int | None: ...
    @property
    def escalation_id(self) -> int | None: ...


def outbox_values(item: OutgoingLike, *, chat_id: int, patient_id: int | None,
                  now: dt.datetime) -> dict[str, Any]:
    """The column values of one outbox row for `item`, sent from the conversation in `chat_id`."""
    own_chat = item.chat_id is None
    return {"chat_id": chat_id if own_chat else item.chat_id, "lane": item.lane, "kind": item.kind,
            "payload": item.payload, "created_at": now, "not_before": now, "attempts": 0,
            "patient_id": patient_id if own_chat else item.patient_id,
            "escalation_id": item.escalation_id}


# -- a channel that delivers at once (the terminal) ------------------------------------------------

async def mark_delivered(session: AsyncSession, row_ids: Sequence[int], now: dt.datetime) -> None:
    """Outbox rows a channel showed the moment they were queued: sent now, so no sender takes them and
    the scheduler counts a check-in's first message as delivered (as Telegram's sender would)."""
    if row_ids:
        await session.execute(update(OutboxMessage).where(
            OutboxMessage.id.in_(list(row_ids)), OutboxMessage.sent_at.is_(None)).values(sent_at=now))


async def last_update_id(session: AsyncSession) -> int:
    """The highest update id recorded (0 for none): a channel numbering its own updates goes on
    after it, so a database used before never takes a new update for a redelivery."""
    return int((await session.execute(select(func.max(ProcessedUpdate.update_id)))).scalar_one() or 0)


async def coach_for_alerts(session: AsyncSession, telegram_user_id: int, name: str,
                           now: dt.datetime) -> Coach:
    """An active coach reachable for alerts: the first one registered, or one added under this id when
    there is none (the terminal plays that coach, so alert cards have somewhere to go)."""
    found = (await session.execute(select(Coach).where(
        Coach.active.is_(True), Coach.telegram_user_id.is_not(None)).order_by(Coach.id).limit(1))
             ).scalar_one_or_none()
    if found is not None:
        return found
    coach = (await session.execute(select(Coach).where(Coach.telegram_user_id == telegram_user_id))
             ).scalar_one_or_none()
    if coach is None:
        coach = Coach(telegram_user_id=telegram_user_id, name=name, active=True, created_at=now)
        session.add(coach)
    coach.active = True
    await session.flush()
    return coach
