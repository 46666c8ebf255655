"""Sent messages do not keep their words for ever: a sent (or given-up) outbox row's body is cleared
once it is older than `COACHBOT_OUTBOX_KEEP_SENT_HOURS`.

The row stays (when it was written, sent, to which chat, its kind), so delivery remains accountable;
only the payload, which holds the text, caption, file or chart, is replaced by an empty one. An alert
card of an escalation that is still open keeps its body: resolving it edits the card from that text.
Runs from the scheduler tick (`BodyClearing.tick`), at most once every `EVERY`, a batch at a time.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.db.models import Escalation, OutboxMessage, table_of
from coachbot.adapters.db.unit_of_work import write_gate

log = logging.getLogger("coachbot.data_rights")

EVERY = dt.timedelta(minutes=10)
"""How often the tick looks for bodies to clear: they are kept for hours, so minutes late is fine."""
BATCH = 2000


async def clear_sent_bodies(session: AsyncSession, now: dt.datetime, keep: dt.timedelta,
                            batch: int = BATCH) -> int:
    """Clear up to `batch` bodies of rows sent or given up before `now - keep`; returns how many."""
    outbox = table_of(OutboxMessage)
    escalations = table_of(Escalation)
    cutoff = now - keep
    finished = or_(outbox.c.sent_at < cutoff, outbox.c.failed_at < cutoff)
    open_card = select(escalations.c.id).where(escalations.c.id == outbox.c.escalation_id,
                                                escalations.c.status != "resolved").exists()
    ids = select(outbox.c.id).where(and_(finished, outbox.c.cleared_at.is_(None), ~open_card)) \
        .order_by(outbox.c.id).limit(batch).scalar_subquery()
    result = await session.execute(update(outbox).where(outbox.c.id.in_(ids))
                                   .values(payload={}, cleared_at=now))
    return int(getattr(result, "rowcount", 0) or 0)  # an UPDATE's CursorResult


class BodyClearing:
    """The scheduler tick's hook; `keep` None turns it off."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], keep: dt.timedelta | None, *,
                 clock: Callable[[], dt.datetime]) -> None:
        self.sessions, self.keep, self.clock = sessions, keep, clock
        self.gate = write_gate(sessions)  # the database's, as every unit of work takes it
        self._last: dt.datetime | None = None

    async def tick(self) -> int:
        """Clear what is due, if `EVERY` has passed since the last time; returns how many were."""
        now = self.clock()
        if self.keep is None or (self._last is not None and now - self._last < EVERY):
            return 0
        self._last = now
        cleared = 0
        while True:
            async with self.gate, self.sessions() as session, session.begin():
                done = await clear_sent_bodies(session, now, self.keep)
            cleared += done
            if done < BATCH:
                break
        if cleared:
            log.info("cleared the bodies of %d sent message(s) older than %s", cleared, self.keep)
        return cleared
