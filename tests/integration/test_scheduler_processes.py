"""Several scheduler processes on one database, and processes that die: no check-in twice, none lost.

Each "process" is a scheduler with its own engine (its own connection pool) and its own name; their
ticks run concurrently. On PostgreSQL they really race (SKIP LOCKED splits the due rows, the unique
key settles any tie); on SQLite the single writer serialises them, and the same counts must hold.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import AsyncIterator
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.models import CheckinRun, OutboxMessage, Patient
from coachbot.adapters.scheduler.tick import CheckinScheduler, SchedulerConfig
from coachbot.engine import Reply
from tests.support.basics import Clock
from tests.support.scheduler_world import TIMING, UTC, PlainChannel, World

SPRING_FORWARD = dt.date(2026, 3, 29)  # London, Sunday
ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "Asia/Kolkata"]
SLOTS = [dt.time(1, 30), dt.time(7), dt.time(8), dt.time(8), dt.time(8), dt.time(12, 15), dt.time(19, 45),
         dt.time(22, 30)]


@pytest.fixture
async def engines(migrated_url: str) -> AsyncIterator[tuple[AsyncEngine, AsyncEngine]]:
    first, second = make_engine(migrated_url), make_engine(migrated_url)
    try:
        yield first, second
    finally:
        await first.dispose()
        await second.dispose()


def second_process(w: World, engine: AsyncEngine, name: str, **config: object) -> CheckinScheduler:
    values: dict[str, object] = {"timing": TIMING, "claim_timeout": dt.timedelta(seconds=60), "batch": 20,
                                 "start_rate": None}
    values.update(config)
    scheduler = CheckinScheduler(make_sessionmaker(engine), w.service, w.channel,
                                 SchedulerConfig(**values), clock=w.clock, instance=name)  # type: ignore[arg-type]
    w.schedulers.append(scheduler)
    return scheduler


async def test_two_processes_for_a_simulated_day_send_every_check_in_exactly_once(
        engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    w = World(make_sessionmaker(engines[0]), Clock(dt.datetime(2026, 3, 28, 10, tzinfo=UTC)))
    rng = random.Random(4)
    patients = [await w.add_patient(rng.choice(ZONES), rng.choice(SLOTS), weekly_day=2) for _ in range(120)]
    a = w.scheduler("process-A", batch=5)
    b = second_process(w, engines[1], "process-B", batch=5)

    await w.run_until(dt.datetime(2026, 3, 30, 14, tzinfo=UTC))

    async with w.sessions() as session:
        runs = (await session.execute(select(CheckinRun))).scalars().all()
        claimers = Counter((await session.execute(select(CheckinRun.claimed_by))).scalars())
        bulk = (await session.execute(select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.lane == 1))).scalar_one()
    per_key = Counter((r.patient_id, r.dialog, r.local_date) for r in runs)
    assert max(per_key.values()) == 1
    by_patient = {p.id: p for p in patients}
    served = {(r.patient_id, r.local_date) for r in runs if r.status in ("sent", "answered", "missed")
              and r.outbox_id is not None}
    missing = [p.label for p in patients if (p.id, SPRING_FORWARD) not in served]
    assert missing == [], "every patient got the check-in of 29 March"
    delivered = Counter()
    for sent in w.sent:
        if sent.lane == 1 and not sent.text.startswith("A gentle reminder"):
            patient = next(p for p in patients if p.chat_id == sent.chat_id)
            delivered[(patient.id, sent.at.astimezone(ZoneInfo(patient.timezone)).date())] += 1
    duplicates = {key: n for key, n in delivered.items() if n > 1}
    assert duplicates == {}, "no chat got two check-ins on one local date"
    assert sum(delivered.values()) == len(served) == len([r for r in runs if r.outbox_id is not None])
    assert bulk == sum(1 for s in w.sent if s.lane == 1)
    assert claimers["process-A"] + claimers["process-B"] == len(served)
    assert claimers["process-A"] and claimers["process-B"], "both processes did part of the work"
    assert all(r.status != "claimed" for r in runs), "no claim left behind"
    assert {r.local_date for r in runs if by_patient[r.patient_id].timezone == "Europe/London"} >= {
        SPRING_FORWARD}
    assert a.me != b.me


async def test_a_process_killed_between_claim_and_send_loses_nothing_and_duplicates_nothing(
        engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    w = World(make_sessionmaker(engines[0]), Clock(dt.datetime(2026, 6, 1, 7, 59, tzinfo=UTC)))
    patients = [await w.add_patient(at=dt.time(9)) for _ in range(5)]
    doomed = w.scheduler("doomed")
    w.clock.now = dt.datetime(2026, 6, 1, 8, 0, 3, tzinfo=UTC)
    claims = await doomed.claim_only()  # ... and the process is killed here
    assert len(claims) == 5
    w.schedulers.remove(doomed)
    survivor = second_process(w, engines[1], "survivor")

    w.clock.advance(seconds=30)
    report = await survivor.tick()
    assert (report.queued, report.reclaimed) == (0, 0), "a fresh claim is left to its owner"
    w.clock.advance(seconds=31)
    report = await survivor.tick()
    assert (report.reclaimed, report.queued) == (5, 5)
    assert report.late == 5

    # The "dead" process was only slow: it wakes up and tries to start its claims. Nothing happens.
    late_report = await doomed.start_claims(claims)
    assert late_report.queued == 0
    await w.deliver()
    assert [len(w.checkins_sent(p.chat_id)) for p in patients] == [1] * 5
    runs = await w.runs()
    assert len(runs) == 5 and {(r.status, r.claimed_by) for r in runs} == {("queued", "survivor")}


class FlakyChannel(PlainChannel):
    """Fails while formatting the first check-in it is asked for: a crash inside the start transaction."""

    def __init__(self) -> None:
        self.failures = 1

    def replies(self, replies: list[Reply], token: str | None) -> list:  # type: ignore[override]
        if self.failures and any("check-in" in r.text for r in replies):
            self.failures -= 1
            raise ConnectionError("lost the database in the middle of the transaction")
        return super().replies(replies, token)


async def test_a_crash_inside_the_start_transaction_rolls_back_and_the_check_in_goes_after_the_timeout(
        engines: tuple[AsyncEngine, AsyncEngine]) -> None:
    w = World(make_sessionmaker(engines[0]), Clock(dt.datetime(2026, 6, 1, 7, 59, tzinfo=UTC)))
    w.channel = FlakyChannel()
    patient = await w.add_patient(at=dt.time(9))
    scheduler = w.scheduler()
    w.clock.now = dt.datetime(2026, 6, 1, 8, 0, 3, tzinfo=UTC)
    await w.tick()
    async with w.sessions() as session:
        assert (await session.execute(select(func.count()).select_from(OutboxMessage))).scalar_one() == 0
        run = (await session.execute(select(CheckinRun))).scalar_one()
        conversation_patient = await session.get(Patient, patient.id)
    assert run.status == "claimed" and conversation_patient is not None
    w.clock.advance(seconds=61)
    report = await scheduler.tick()
    assert (report.reclaimed, report.queued) == (1, 1)
    await w.deliver()
    assert len(w.checkins_sent(patient.chat_id)) == 1
