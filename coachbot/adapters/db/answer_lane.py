"""The answer fast path's storage: read a patient's position, then write their answer, in two steps.

Most inbound messages are an answer in the middle of a dialog: they add measurements and move the
position, nothing else. The service reads a snapshot, runs the (pure) engine and decides what to write
in between the two steps (`Decide`); this module only moves rows.

The steps are plain synchronous functions over Core statements built once, run through
`AsyncConnection.run_sync`: on SQLite that runs them on the event loop with no await in between
(`sqlite_inline.py`), so with the service's write gate held nothing of this process can write between
the read and the write; on PostgreSQL the read is in the write's transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, insert, update
from sqlalchemy.ext.asyncio import AsyncEngine

from coachbot.adapters.db import store
from coachbot.adapters.db.models import Conversation, Measurement
from coachbot.adapters.db.store import PatientSnapshot
from coachbot.channel import QueuedMessage
from coachbot.engine import AnswerValue, Position

log = logging.getLogger("coachbot.db")

_C = Conversation.__table__
_M = Measurement.__table__
_INSERT_MEASUREMENTS = insert(_M)
_MOVE_POSITION = update(_C).where(_C.c.patient_id == bindparam("pid"))


@dataclass(frozen=True, slots=True)
class AnswerWrite:
    """Everything one answer writes, in one transaction: measurements, the new position, the replies'
    outbox rows (ids still 0) and, for a chat update, its id (a redelivery then fails the insert)."""

    patient_id: int
    measures: Sequence[tuple[str, AnswerValue, str, str]]
    position: Position
    now: dt.datetime
    outbox: Sequence[QueuedMessage] = field(default_factory=tuple)
    update_id: int | None = None


AlsoRead = Callable[[Connection, PatientSnapshot], Any]
"""A further read in the first step, for the patient of the snapshot (the escalation rules' window)."""
Decide = Callable[[PatientSnapshot, Any], "AnswerWrite | None"]
"""Given the snapshot and what `AlsoRead` read (or None), what to write; None abandons the fast path
(the caller takes the full one)."""


def read_snapshot(conn: Connection, chat_id: int, now: dt.datetime) -> PatientSnapshot | None:
    """The patient of `chat_id` in a dialog, with their position (see `store.SNAPSHOT_QUERY`)."""
    since = now - dt.timedelta(days=store.OPEN_STEP_DAYS)
    row = conn.execute(store.SNAPSHOT_QUERY, {"chat_id": chat_id, "since": since}).first()
    return None if row is None else store.snapshot_of(row)


def read_step(conn: Connection, chat_id: int, now: dt.datetime,
              also_read: AlsoRead | None) -> tuple[PatientSnapshot | None, Any]:
    snapshot = read_snapshot(conn, chat_id, now)
    extra = also_read(conn, snapshot) if snapshot is not None and also_read is not None else None
    return snapshot, extra


def write_answer(conn: Connection, write: AnswerWrite) -> list[QueuedMessage]:
    """Insert the measurements, move the position, queue the replies, record the update id."""
    now = write.now
    if write.measures:
        conn.execute(_INSERT_MEASUREMENTS, [
            {"patient_id": write.patient_id, "code": code,
             "value_num": float(value) if isinstance(value, int | float) else None,
             "value_text": None if isinstance(value, int | float) else str(value),
             "recorded_at": now, "script": script, "state": state}
            for code, value, script, state in write.measures])
    position = write.position
    conn.execute(_MOVE_POSITION, {
        "pid": write.patient_id, "script": position.script, "script_version": position.version,
        "state": position.state, "answers": dict(position.answers), "misses": position.misses,
        "updated_at": now})
    queued: list[QueuedMessage] = []
    if write.outbox:
        ids = conn.execute(store.INSERT_OUTBOX, [
            {"chat_id": r.chat_id, "lane": r.lane, "kind": r.kind, "payload": r.payload,
             "created_at": now, "not_before": r.not_before, "attempts": 0,
             "patient_id": r.patient_id, "escalation_id": r.escalation_id}
            for r in write.outbox]).scalars().all()
        queued = [replace(row, id=row_id) for row, row_id in zip(write.outbox, ids, strict=True)]
    if write.update_id is not None:
        conn.execute(store.INSERT_UPDATE_ID, {"update_id": write.update_id, "processed_at": now})
    return queued


class AnswerLane(Protocol):
    """Runs read, decide, write as one transaction; None when there was nothing to take or `decide`
    declined. Errors (a redelivered update id among them) roll back and propagate."""

    async def answer(self, chat_id: int, now: dt.datetime, decide: Decide, *,
                     also_read: AlsoRead | None = None) -> tuple[AnswerWrite, list[QueuedMessage]] | None: ...

    async def close(self) -> None: ...


class AsyncEngineLane:
    """The lane on an async engine (PostgreSQL): the same functions through `run_sync`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def answer(self, chat_id: int, now: dt.datetime, decide: Decide, *,
                     also_read: AlsoRead | None = None) -> tuple[AnswerWrite, list[QueuedMessage]] | None:
        async with self.engine.connect() as conn:
            trans = await conn.begin()
            try:
                snapshot, extra = await conn.run_sync(read_step, chat_id, now, also_read)
                write = decide(snapshot, extra) if snapshot is not None else None
                if write is None:
                    await trans.rollback()
                    return None
                queued = await conn.run_sync(write_answer, write)
            except BaseException:
                await trans.rollback()
                raise
            await trans.commit()
            return write, queued

    async def close(self) -> None:
        return None


def answer_lane(engine: AsyncEngine) -> AnswerLane:
    """The lane for this engine."""
    return AsyncEngineLane(engine)
