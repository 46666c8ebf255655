"""The outbox sender's reads and writes: what is still to send, and what became of each attempt.

Each function is one short transaction of its own, so a slow send never holds a database lock and a
crash loses at most the marking of a message already sent (it is then sent again: at least once).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from coachbot.adapters.db.models import OutboxMessage, Patient, ProcessedUpdate, table_of
from coachbot.adapters.db.unit_of_work import write_gate
from coachbot.app.channel import QueuedMessage

Sessions = async_sessionmaker[AsyncSession]


@dataclass(frozen=True, slots=True)
class SentMark:
    id: int
    attempts: int
    sent_at: dt.datetime
    message_id: int | None


async def pending(sessions: Sessions, *, limit: int, known: Collection[int]) -> list[QueuedMessage]:
    """Unsent rows not already held in memory, replies and alerts (lane 0) first, oldest first."""
    query = (select(OutboxMessage, Patient.label)
             .outerjoin(Patient, Patient.id == OutboxMessage.patient_id)
             .where(OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None))
             .order_by(OutboxMessage.lane, OutboxMessage.id).limit(limit + len(known)))
    async with sessions() as session:
        rows = (await session.execute(query)).all()
    fresh = [QueuedMessage.of(row, label) for row, label in rows if row.id not in known]
    return fresh[:limit]


async def still_wanted(sessions: Sessions, row_id: int) -> bool:
    """A bulk row may have been cancelled while it waited in memory (/pause, /stop, a newer
    check-in: coachbot/adapters/db/schedule_store.py marks it failed in the same transaction)."""
    async with sessions() as session:
        query = select(OutboxMessage.failed_at).where(OutboxMessage.id == row_id)
        found = (await session.execute(query)).first()
    return found is not None and found.failed_at is None


async def cancelled_among(sessions: Sessions, row_ids: Collection[int]) -> set[int]:
    """Which of these rows were cancelled (or failed) since they were queued: one query for many."""
    async with sessions() as session:
        query = select(OutboxMessage.id).where(OutboxMessage.id.in_(list(row_ids)),
                                               OutboxMessage.failed_at.is_not(None))
        return set((await session.execute(query)).scalars())


_OUTBOX = table_of(OutboxMessage)
_MARK_SENT = (update(_OUTBOX).where(_OUTBOX.c.id == bindparam("row_id"))
              .values(sent_at=bindparam("sent_at"), message_id=bindparam("message_id"),
                      attempts=bindparam("attempts"), last_error=None))
"""One statement run for many rows (the ORM's bulk update by primary key cost several times more)."""


async def mark_sent(sessions: Sessions, marks: Sequence[SentMark]) -> None:
    """Record a batch of sends in one transaction (one commit for many messages under load), on a
    plain connection: one Core statement needs no ORM session, whose set-up cost about as much."""
    if not marks:
        return
    engine: AsyncEngine = sessions.kw["bind"]
    async with engine.begin() as connection:
        await connection.execute(_MARK_SENT, [
            {"row_id": m.id, "sent_at": m.sent_at, "message_id": m.message_id, "attempts": m.attempts}
            for m in marks])


async def reschedule(sessions: Sessions, row_id: int, *, not_before: dt.datetime, attempts: int,
                     error: str) -> None:
    async with sessions() as session, session.begin():
        await session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(
            not_before=not_before, attempts=attempts, last_error=error[:200]))


async def fail(sessions: Sessions, row_id: int, *, now: dt.datetime, attempts: int, error: str) -> None:
    async with sessions() as session, session.begin():
        await session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(
            failed_at=now, attempts=attempts, last_error=error[:200]))


async def fail_chat(sessions: Sessions, chat_id: int, *, now: dt.datetime, error: str) -> None:
    """The person blocked the bot: every unsent row for the chat fails, and a patient there is marked
    unreachable (scheduled messages skip them) until they write again."""
    async with sessions() as session, session.begin():
        await session.execute(update(OutboxMessage).where(
            OutboxMessage.chat_id == chat_id, OutboxMessage.sent_at.is_(None),
            OutboxMessage.failed_at.is_(None)).values(failed_at=now, last_error=error[:200]))
        await session.execute(update(Patient).where(Patient.chat_id == chat_id).values(unreachable=True))


async def prune_processed_updates(sessions: Sessions, before: dt.datetime) -> int:
    """Forget update ids older than Telegram ever redelivers (it keeps updates for 24 hours)."""
    async with write_gate(sessions), sessions() as session, session.begin():
        result = await session.execute(delete(ProcessedUpdate).where(ProcessedUpdate.processed_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
