"""The answer fast path's storage: read a patient's position, then write their answer, in one transaction.

Most inbound messages are an answer in the middle of a dialog: they add measurements and move the
position, nothing else. The service reads a snapshot, runs the (pure) engine and decides what to write
in between (`Decide`); this module only moves rows.

The whole transaction is one synchronous function run in SQLAlchemy's greenlet on a pooled DBAPI
connection, with its statements prepared once (`prepared.py`): on SQLite that runs it on the event loop
with no await in between (`sqlite_inline.py`), so with the service's write gate held nothing of this
process can write between the read and the write. On PostgreSQL an answer with one reply is written
in one statement, and neither it nor the reads are bracketed by BEGIN and COMMIT (see `_transaction`);
several statements still share one transaction. Driver errors are raised as SQLAlchemy's (a
redelivered update id as `IntegrityError`).
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sqlalchemy import bindparam, exc, insert, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql import Executable
from sqlalchemy.util import greenlet_spawn

from coachbot.adapters.db import store
from coachbot.adapters.db.models import Conversation, Measurement, OutboxMessage, ProcessedUpdate, table_of
from coachbot.adapters.db.prepared import Prepared, as_sqlalchemy_error
from coachbot.adapters.db.store import PatientSnapshot
from coachbot.channel import QueuedMessage
from coachbot.engine import AnswerValue, Position

_C = table_of(Conversation)
_M = table_of(Measurement)
_O = table_of(OutboxMessage)
_U = table_of(ProcessedUpdate)
_MEASUREMENT_COLUMNS = ("patient_id", "code", "value_num", "value_text", "recorded_at", "script", "state")
_POSITION_COLUMNS = ("script", "script_version", "state", "answers", "misses", "updated_at")
_OUTBOX_COLUMNS = ("chat_id", "lane", "kind", "payload", "created_at", "not_before", "attempts",
                   "patient_id", "escalation_id")
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


class Reads(Protocol):
    """What a further read of the lane may run: a statement's rows, in the lane's transaction."""

    def rows(self, statement: Executable, values: Mapping[str, Any]) -> list[tuple[Any, ...]]: ...


Decide = Callable[[PatientSnapshot, Reads], "AnswerWrite | None"]
"""Given the snapshot, what to write; it may read more in the same transaction (the escalation rules'
window, only when the answer records a measure they watch). None abandons the fast path (the caller
takes the full one)."""


class _Transaction:
    """One lane transaction's cursor, with the lane's prepared statements."""

    def __init__(self, cursor: Any, statements: _Statements) -> None:
        self.cursor, self.statements = cursor, statements

    def rows(self, statement: Executable, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return self.statements.get(statement).run(self.cursor, values)

    def read_snapshot(self, chat_id: int, now: dt.datetime) -> PatientSnapshot | None:
        """The patient of `chat_id` in a dialog, with their position (see `store.SNAPSHOT_QUERY`)."""
        since = now - dt.timedelta(days=store.OPEN_STEP_DAYS)
        rows = self.rows(store.SNAPSHOT_QUERY, {"chat_id": chat_id, "since": since})
        return store.snapshot_of(rows[0]) if rows else None

    def in_one_statement(self, write: AnswerWrite) -> bool:
        """Whether `write_answer` writes all of `write` in one statement (PostgreSQL, one reply)."""
        return self.statements.dialect.name == "postgresql" and len(write.outbox) == 1

    def write_answer(self, write: AnswerWrite) -> list[QueuedMessage]:
        """Insert the measurements, move the position, queue the replies, record the update id."""
        if self.in_one_statement(write):
            return self._write_in_one_statement(write)
        now, cursor, statements = write.now, self.cursor, self.statements
        if write.measures:
            statements.get(_INSERT_MEASUREMENTS, _MEASUREMENT_COLUMNS).run_many(cursor, [
                _measurement_values(write.patient_id, measure, now) for measure in write.measures])
        position = write.position
        statements.get(_MOVE_POSITION, _POSITION_COLUMNS).run(cursor, {
            "pid": write.patient_id, "script": position.script, "script_version": position.version,
            "state": position.state, "answers": dict(position.answers), "misses": position.misses,
            "updated_at": now})
        queued: list[QueuedMessage] = []
        insert_outbox = statements.get(store.INSERT_OUTBOX, _OUTBOX_COLUMNS)
        for row in write.outbox:
            ((row_id,),) = insert_outbox.run(cursor, _outbox_values(row, now))
            queued.append(replace(row, id=row_id))
        if write.update_id is not None:
            statements.get(store.INSERT_UPDATE_ID).run(
                cursor, {"update_id": write.update_id, "processed_at": now})
        return queued

    def _write_in_one_statement(self, write: AnswerWrite) -> list[QueuedMessage]:
        """On PostgreSQL, everything `write_answer` writes as one statement: one round trip instead
        of four, each of which costs the event loop more than the server spends on it."""
        statement = _one_write(len(write.measures), write.update_id is not None)
        (row,) = write.outbox
        position = write.position
        values: dict[str, Any] = {
            "pid": write.patient_id, "script": position.script, "script_version": position.version,
            "state": position.state, "answers": dict(position.answers), "misses": position.misses,
            "updated_at": write.now, "update_id": write.update_id, "processed_at": write.now,
            **_outbox_values(row, write.now)}
        for index, measure in enumerate(write.measures):
            measured = _measurement_values(write.patient_id, measure, write.now)
            values.update({f"m{index}_{key}": value for key, value in measured.items()})
        ((row_id,),) = self.statements.get(statement).run(self.cursor, values)
        return [replace(row, id=row_id)]


def _measurement_values(patient_id: int, measure: tuple[str, AnswerValue, str, str],
                        now: dt.datetime) -> dict[str, Any]:
    code, value, script, state = measure
    numeric = isinstance(value, int | float)
    return {"patient_id": patient_id, "code": code, "value_num": float(value) if numeric else None,
            "value_text": None if numeric else str(value), "recorded_at": now, "script": script,
            "state": state}


def _outbox_values(row: QueuedMessage, now: dt.datetime) -> dict[str, Any]:
    return {"chat_id": row.chat_id, "lane": row.lane, "kind": row.kind, "payload": row.payload,
            "created_at": now, "not_before": row.not_before, "attempts": 0,
            "patient_id": row.patient_id, "escalation_id": row.escalation_id}


@functools.cache
def _one_write(measures: int, with_update_id: bool) -> Executable:
    """PostgreSQL's single write of an answer with one reply: the measurements, the position and the
    update id as data-modifying CTEs of the reply's outbox insert (which returns the row's id)."""
    def typed(table: Any, columns: Sequence[str], prefix: str = "") -> dict[str, Any]:
        return {column: bindparam(prefix + column, type_=table.c[column].type) for column in columns}

    ctes = [update(_C).where(_C.c.patient_id == bindparam("pid"))
            .values(typed(_C, _POSITION_COLUMNS)).cte("moved")]
    if measures:
        ctes.append(insert(_M).values([typed(_M, _MEASUREMENT_COLUMNS, f"m{index}_")
                                       for index in range(measures)]).cte("measured"))
    if with_update_id:
        ctes.append(insert(_U).values(typed(_U, ("update_id", "processed_at"))).cte("processed"))
    return insert(_O).values(typed(_O, _OUTBOX_COLUMNS)).returning(_O.c.id).add_cte(*ctes)


class _Statements:
    """Statements prepared for one dialect on first use, kept (with the statement) for the process."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.dialect = engine.dialect
        self._prepared: dict[int, tuple[Executable, Prepared]] = {}

    def get(self, statement: Executable, columns: Sequence[str] | None = None) -> Prepared:
        found = self._prepared.get(id(statement))
        if found is None or found[0] is not statement:
            found = self._prepared[id(statement)] = (statement, Prepared(statement, self.dialect,
                                                                         columns=columns))
        return found[1]


class AnswerLane(Protocol):
    """Runs read, decide, write as one transaction; None when there was nothing to take or `decide`
    declined. Errors (a redelivered update id among them) roll back and propagate."""

    async def answer(self, chat_id: int, now: dt.datetime,
                     decide: Decide) -> tuple[AnswerWrite, list[QueuedMessage]] | None: ...

    async def close(self) -> None: ...


class AsyncEngineLane:
    """The lane on an async engine: one greenlet run over a pooled DBAPI connection per answer."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._statements = _Statements(engine)

    async def answer(self, chat_id: int, now: dt.datetime,
                     decide: Decide) -> tuple[AnswerWrite, list[QueuedMessage]] | None:
        return await greenlet_spawn(self._transaction, chat_id, now, decide)

    def _transaction(self, chat_id: int, now: dt.datetime,
                     decide: Decide) -> tuple[AnswerWrite, list[QueuedMessage]] | None:
        raw = self.engine.sync_engine.raw_connection()  # the pool's checkout (and pre-ping)
        connection = raw.dbapi_connection
        assert connection is not None
        cursor = None
        # On PostgreSQL the reads need no transaction of their own (under READ COMMITTED each
        # statement sees what was committed when it started, in a transaction or not), and a write in
        # one statement is atomic by itself: BEGIN and COMMIT would be two more round trips.
        unbracketed = self.engine.dialect.name == "postgresql"
        try:
            try:
                if unbracketed:
                    connection.autocommit = True
                cursor = connection.cursor()
                work = _Transaction(cursor, self._statements)
                snapshot = work.read_snapshot(chat_id, now)
                write = decide(snapshot, work) if snapshot is not None else None
                if write is None:
                    connection.rollback()
                    return None
                if unbracketed and not work.in_one_statement(write):
                    connection.autocommit = False  # several statements: one transaction again
                queued = work.write_answer(write)
                connection.commit()
            except BaseException as error:
                lost = self._discard(raw, connection, cursor, error)
                if isinstance(error, exc.DBAPIError):
                    error.connection_invalidated = lost
                elif isinstance(error, self.engine.dialect.loaded_dbapi.Error):  # from cursor() or commit
                    raise as_sqlalchemy_error(error, self.engine.dialect, lost=lost) from error
                raise
            return write, queued
        finally:
            if cursor is not None:
                cursor.close()
            if unbracketed:
                connection.autocommit = False  # as the pool's other users expect it
            raw.close()

    def _discard(self, raw: Any, connection: Any, cursor: Any, error: BaseException) -> bool:
        """After a failure: roll back, or drop the connection if the driver says it is gone (True)."""
        dialect = self.engine.dialect
        driver_error = error.orig if isinstance(error, exc.DBAPIError) else error
        if isinstance(driver_error, dialect.loaded_dbapi.Error) and dialect.is_disconnect(
                driver_error, connection, cursor):
            # As SQLAlchemy's own Connection does: every connection of this pool's generation is
            # suspect (the server went away), and the caller may run the update again.
            self.engine.sync_engine.pool._invalidate(raw, driver_error)  # (and `raw` itself)
            return True
        try:
            connection.rollback()
        except dialect.loaded_dbapi.Error as failed:
            raw.invalidate(failed)
        return False

    async def close(self) -> None:
        return None


def answer_lane(engine: AsyncEngine) -> AnswerLane:
    """The lane for this engine."""
    return AsyncEngineLane(engine)
