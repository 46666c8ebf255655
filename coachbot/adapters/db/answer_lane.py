"""The answer fast path's storage: read a patient's position, then write their answer, in two steps.

Most inbound messages are an answer in the middle of a dialog: they add measurements and move the
position, nothing else. The service reads a snapshot, runs the (pure) engine and decides what to write
in between the two steps (`Decide`); this module only moves rows.

Why two implementations of one pair of functions: on SQLite, SQLAlchemy's asyncio bridge costs about
half a millisecond per statement (a greenlet switch and a thread hop through aiosqlite each), ten times
what SQLite itself takes to run it. So on SQLite the steps run on a plain `sqlite3` connection owned by
one dedicated thread: one hop to begin and read, one to write and commit, the statements compiled once.
On PostgreSQL the very same functions run through `AsyncConnection.run_sync` on the async engine.
The write transaction is `BEGIN IMMEDIATE` on SQLite, so the read and the write see the same rows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from sqlalchemy import Connection, bindparam, create_engine, event, insert, update
from sqlalchemy.engine import Engine as SyncEngine
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.pool import StaticPool

from coachbot.adapters.db import store
from coachbot.adapters.db.database import sqlite_connect_pragmas
from coachbot.adapters.db.models import Conversation, Measurement, OutboxMessage, ProcessedUpdate
from coachbot.adapters.db.store import PatientSnapshot
from coachbot.channel import QueuedMessage
from coachbot.engine import AnswerValue, Position

log = logging.getLogger("coachbot.db")

_C = Conversation.__table__
_M = Measurement.__table__
_INSERT_MEASUREMENTS = insert(_M)
_MOVE_POSITION = update(_C).where(_C.c.patient_id == bindparam("pid"))
_INSERT_OUTBOX = insert(OutboxMessage).returning(OutboxMessage.id, sort_by_parameter_order=True)
_INSERT_UPDATE_ID = insert(ProcessedUpdate)


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
        ids = conn.execute(_INSERT_OUTBOX, [
            {"chat_id": r.chat_id, "lane": r.lane, "kind": r.kind, "payload": r.payload,
             "created_at": now, "not_before": r.not_before, "attempts": 0,
             "patient_id": r.patient_id, "escalation_id": r.escalation_id}
            for r in write.outbox]).scalars().all()
        queued = [replace(row, id=row_id) for row, row_id in zip(write.outbox, ids, strict=True)]
    if write.update_id is not None:
        conn.execute(_INSERT_UPDATE_ID, {"update_id": write.update_id, "processed_at": now})
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


class SqliteThreadLane:
    """The lane on SQLite: one `sqlite3` connection, used only by its own thread, two hops an answer.

    An asyncio lock keeps one answer at a time on the connection; the thread never touches the event
    loop, and the event loop never touches the connection. Disposing of the async engine closes the
    connection and ends the thread; the next answer (an engine can be used again after dispose)
    opens both anew.
    """

    def __init__(self, sync_url: str) -> None:
        self._url = sync_url
        self._thread: ThreadPoolExecutor | None = None
        self._engine: SyncEngine | None = None
        self._conn: Connection | None = None
        self._lock = asyncio.Lock()

    @property
    def closed(self) -> bool:
        return self._thread is None

    async def answer(self, chat_id: int, now: dt.datetime, decide: Decide, *,
                     also_read: AlsoRead | None = None) -> tuple[AnswerWrite, list[QueuedMessage]] | None:
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self._thread is None:
                self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="coachbot-answers")
            thread = self._thread
            snapshot, extra = await loop.run_in_executor(thread, self._begin_and_read, chat_id, now,
                                                         also_read)
            try:
                write = decide(snapshot, extra) if snapshot is not None else None
            except BaseException:
                await loop.run_in_executor(thread, self._rollback)
                raise
            if write is None:
                await loop.run_in_executor(thread, self._rollback)
                return None
            queued = await loop.run_in_executor(thread, self._write_and_commit, write)
            return write, queued

    async def close(self) -> None:
        async with self._lock:
            if self._thread is not None:
                await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
            self.close_soon()

    def close_soon(self) -> None:
        """Close the connection from its own thread and end the thread, without waiting."""
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.submit(self._close)
            thread.shutdown(wait=False)

    # -- in the lane's thread only ---------------------------------------------------------------
    def _connection(self) -> Connection:
        if self._conn is None:
            self._engine = _sqlite_engine(self._url)
            self._conn = self._engine.connect()
        return self._conn

    def _begin_and_read(self, chat_id: int, now: dt.datetime,
                        also_read: AlsoRead | None) -> tuple[PatientSnapshot | None, Any]:
        conn = self._connection()
        conn.begin()
        try:
            return read_step(conn, chat_id, now, also_read)
        except BaseException:
            conn.rollback()
            raise

    def _write_and_commit(self, write: AnswerWrite) -> list[QueuedMessage]:
        conn = self._connection()
        try:
            queued = write_answer(conn, write)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        return queued

    def _rollback(self) -> None:
        if self._conn is not None:
            self._conn.rollback()

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def _sqlite_engine(url: str) -> SyncEngine:
    """A one-connection engine with the service's pragmas; SQLAlchemy issues BEGIN IMMEDIATE."""
    engine = create_engine(url, poolclass=StaticPool)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy, not sqlite3, starts transactions
        sqlite_connect_pragmas(dbapi_connection)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def answer_lane(engine: AsyncEngine) -> AnswerLane:
    """The lane for this engine; on SQLite it is closed when the engine is disposed."""
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return AsyncEngineLane(engine)  # an in-memory database exists only on the engine's connection
    lane = SqliteThreadLane(make_url(url).set(drivername="sqlite").render_as_string(hide_password=False))

    @event.listens_for(engine.sync_engine, "engine_disposed")
    def _on_dispose(_engine: Any) -> None:
        lane.close_soon()

    return lane
