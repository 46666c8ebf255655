"""The unit of work on SQLAlchemy (`coachbot.app.unit_of_work` declares it).

`SqlUnitOfWorks(sessions)` is the factory bootstrap hands to the use cases. Each unit of work it makes
holds the process's write gate for the database (see `write_gate`), opens a session, begins a
transaction, and hands out repositories bound to that session; `commit` commits, and leaving the block
without a commit rolls back. So the gate is taken by every writer that goes through a unit of work,
and nobody passes it around.

Two bridges serve the app modules that still take an `AsyncSession` (the `KNOWN_DEBT` of
tests/unit/test_import_contracts.py), while they move to repositories one by one: `session_of` gives
the session of a unit of work, and `joined` wraps a caller's session as a unit of work that works in
its transaction (and leaves commit and rollback to its owner).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Self

from sqlalchemy.ext.asyncio import AsyncSession, AsyncSessionTransaction, async_sessionmaker

from coachbot.adapters.db.repositories import (
    SqlAuditLog,
    SqlCheckins,
    SqlCoaches,
    SqlCoachNotes,
    SqlConversations,
    SqlEscalations,
    SqlInvites,
    SqlMeasures,
    SqlOutbox,
    SqlPatients,
    SqlRelays,
    SqlStepOverrides,
    SqlSuggestions,
)

Sessions = async_sessionmaker[AsyncSession]
WriteGate = AbstractAsyncContextManager[Any]

_UOW = "coachbot.unit_of_work"
"""session.info key: the unit of work the session belongs to."""
_GATES: weakref.WeakKeyDictionary[Any, asyncio.Lock] = weakref.WeakKeyDictionary()


def write_gate(sessions: Sessions) -> WriteGate:
    """What a writing transaction holds while it runs: on SQLite, the one asyncio lock of this
    database engine (the same object for every caller), nothing elsewhere.

    SQLite has one writer at a time, and a writer that finds the lock taken waits in SQLite's busy
    handler, holding up the event loop's other transactions while it sleeps. Every writer of the
    process therefore queues on this asyncio lock first, which costs nothing. PostgreSQL locks rows,
    so its transactions run side by side. One lock per engine, kept as long as the engine lives:
    every unit of work, the scheduler and the outbox sender share it without being handed it.
    """
    bind = sessions.kw.get("bind")
    if bind is None or bind.dialect.name != "sqlite":
        return contextlib.nullcontext()
    gate = _GATES.get(bind)
    if gate is None:
        gate = _GATES[bind] = asyncio.Lock()
    return gate


class SqlUnitOfWork:
    """One transaction on one session, with the repositories bound to it."""

    patients: SqlPatients
    coaches: SqlCoaches
    conversations: SqlConversations
    measures: SqlMeasures
    checkins: SqlCheckins
    escalations: SqlEscalations
    outbox: SqlOutbox
    audit: SqlAuditLog
    relays: SqlRelays
    step_overrides: SqlStepOverrides
    invites: SqlInvites
    suggestions: SqlSuggestions
    coach_notes: SqlCoachNotes

    def __init__(self, sessions: Sessions, gate: WriteGate) -> None:
        self._sessions, self._gate = sessions, gate
        self._transaction: AsyncSessionTransaction | None = None
        self.session: AsyncSession | None = None

    def _bind(self, session: AsyncSession) -> None:
        self.session = session
        session.info[_UOW] = self  # `joined(session)` finds it
        self.patients = SqlPatients(session)
        self.coaches = SqlCoaches(session)
        self.conversations = SqlConversations(session)
        self.measures = SqlMeasures(session)
        self.checkins = SqlCheckins(session)
        self.escalations = SqlEscalations(session)
        self.outbox = SqlOutbox(session)
        self.audit = SqlAuditLog(session)
        self.relays = SqlRelays(session)
        self.step_overrides = SqlStepOverrides(session)
        self.invites = SqlInvites(session)
        self.suggestions = SqlSuggestions(session)
        self.coach_notes = SqlCoachNotes(session)

    async def __aenter__(self) -> Self:
        await self._gate.__aenter__()
        try:
            session = self._sessions()
            self._bind(session)
            self._transaction = await session.begin()
        except BaseException as error:
            if self.session is not None:
                await self.session.close()
            await self._gate.__aexit__(type(error), error, error.__traceback__)
            raise
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        try:
            assert self.session is not None
            try:
                if self._transaction is not None and (self._transaction.is_active or error is not None):
                    await self.session.rollback()
            finally:
                await self.session.close()
        finally:
            await self._gate.__aexit__(kind, error, traceback)

    async def commit(self) -> None:
        assert self._transaction is not None, "commit outside `async with`"
        await self._transaction.commit()

    async def rollback(self) -> None:
        assert self._transaction is not None, "rollback outside `async with`"
        await self._transaction.rollback()


class SqlUnitOfWorks:
    """The factory the use cases receive: `async with uows() as uow: ...; await uow.commit()`."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self.gate = write_gate(sessions)

    def __call__(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.sessions, self.gate)


class _JoinedUnitOfWork(SqlUnitOfWork):
    """A unit of work inside a transaction someone else opened (see `joined`)."""

    def __init__(self, session: AsyncSession) -> None:
        super().__init__(async_sessionmaker(), contextlib.nullcontext())
        self._bind(session)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        return None

    async def commit(self) -> None:
        raise RuntimeError("a joined unit of work commits with the transaction that owns its session")

    async def rollback(self) -> None:
        raise RuntimeError("a joined unit of work rolls back with the transaction that owns its session")


def joined(session: AsyncSession) -> SqlUnitOfWork:
    """The unit of work of `session`'s transaction, for a module still on sessions (a bridge): the one
    that opened the session, else one made now and kept with the session."""
    known = session.info.get(_UOW)
    return known if isinstance(known, SqlUnitOfWork) else _JoinedUnitOfWork(session)


def session_of(uow: Any) -> AsyncSession:
    """The session of a SQLAlchemy unit of work, for a module still on sessions (a bridge)."""
    session = getattr(uow, "session", None)
    if not isinstance(session, AsyncSession):
        raise TypeError("not a SQLAlchemy unit of work inside its `async with`")
    return session
