"""The database side of operations: the backlog gauges read on each scrape, and the readiness check.

Every query is bounded: counts stop at `DEPTH_CAP` rows, and the rest are grouped minimums and counts
that the outbox, escalation and check-in indexes answer (`ix_outbox_sent_at_lane_not_before`,
`ix_escalations_status_tier_opened_at`, `ix_checkin_runs_local_date`), so a scrape stays cheap with a
large backlog: exactly when it is needed. Answers stored is `max(id)` of the measurements, read from
the primary key: ids only grow (a rolled-back insert on PostgreSQL skips one, so it may run a little
ahead of the rows).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.db.models import Escalation, Measurement, OutboxMessage
from coachbot.adapters.db.schedule_status import day_counts

_LANE_NAMES = {0: "reply", 1: "bulk"}
"""Outbox lanes by number (models.OutboxMessage.lane) and the word a metric labels them with."""
LANES = tuple(_LANE_NAMES.values())
TIERS = ("urgent", "soon", "routine")
CHECKIN_STATES = ("due", "queued", "sent", "answered", "missed", "skipped")
DEPTH_CAP = 100_000
"""Unsent rows counted at most, per lane; a backlog beyond this is an emergency whatever its size."""
PROBE_SECONDS = 1.0
"""/readyz: the database must answer `SELECT 1` within this."""

Sessions = async_sessionmaker[AsyncSession]
_UNSENT = (OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None))


@dataclass(frozen=True)
class Readings:
    """One scrape's view of the backlog; ages in seconds, keyed by lane, tier or check-in state."""

    outbox_depth: dict[str, int] = field(default_factory=dict)
    outbox_oldest_age: dict[str, float] = field(default_factory=dict)
    escalations_open: dict[str, int] = field(default_factory=dict)
    escalation_oldest_age: dict[str, float] = field(default_factory=dict)
    checkins: dict[str, int] = field(default_factory=dict)
    answers_stored: int = 0


def _age(now: dt.datetime, since: dt.datetime | None) -> float:
    return 0.0 if since is None else max(0.0, (now - since).total_seconds())


async def outbox_oldest(session: AsyncSession) -> dict[str, dt.datetime]:
    """When the oldest unsent message of each lane was written (a lane with none is absent)."""
    rows = await session.execute(select(OutboxMessage.lane, func.min(OutboxMessage.created_at))
                                 .where(*_UNSENT).group_by(OutboxMessage.lane))
    return {_LANE_NAMES.get(lane, str(lane)): oldest for lane, oldest in rows if oldest is not None}


async def read(session: AsyncSession, now: dt.datetime) -> Readings:
    """The backlog gauges, read in one session."""
    depth = {}
    for lane, name in _LANE_NAMES.items():
        capped = select(OutboxMessage.id).where(*_UNSENT, OutboxMessage.lane == lane).limit(DEPTH_CAP)
        depth[name] = int((await session.execute(
            select(func.count()).select_from(capped.subquery()))).scalar_one())
    oldest = {lane: _age(now, at) for lane, at in (await outbox_oldest(session)).items()}
    escalations = (await session.execute(
        select(Escalation.tier, func.count(), func.min(Escalation.opened_at))
        .where(Escalation.status == "open").group_by(Escalation.tier))).all()
    day = await day_counts(session, now.date(), now)
    status = day.by_status
    checkins = {"due": day.due_now + status.get("claimed", 0), "queued": status.get("queued", 0),
                "sent": status.get("sent", 0) + status.get("answered", 0),
                "answered": status.get("answered", 0), "missed": status.get("missed", 0),
                "skipped": status.get("skipped", 0)}
    answers = (await session.execute(select(func.max(Measurement.id)))).scalar_one()  # the primary key
    return Readings(answers_stored=int(answers or 0), outbox_depth=depth, outbox_oldest_age=oldest,
                    escalations_open={tier: int(n) for tier, n, _ in escalations},
                    escalation_oldest_age={tier: _age(now, at) for tier, _, at in escalations},
                    checkins=checkins)


async def readiness_problem(sessions: Sessions, now: dt.datetime, max_age: float) -> str | None:
    """Why the bot is not ready, as one sentence for the operator's probe; None when it is: the
    database answers `SELECT 1` within `PROBE_SECONDS` and no unsent message is older than `max_age`."""
    try:
        async with asyncio.timeout(PROBE_SECONDS), sessions() as session:
            await session.execute(text("SELECT 1"))
    except TimeoutError:
        return f"not ready: the database did not answer SELECT 1 within {PROBE_SECONDS:g} s"
    except Exception as exc:  # whatever the driver raises: its message may quote the URL or a row
        return f"not ready: the database cannot be read ({type(exc).__name__})"
    try:
        async with asyncio.timeout(PROBE_SECONDS * 5), sessions() as session:
            oldest = await outbox_oldest(session)
    except Exception as exc:
        return f"not ready: the outbox cannot be read ({type(exc).__name__})"
    if oldest and (waited := _age(now, min(oldest.values()))) > max_age:
        return (f"not ready: the oldest unsent outbox message has waited {waited:.0f} s, more than "
                f"{max_age:g} s; the sender is stuck or Telegram is refusing it (see the log)")
    return None
