"""Benchmark: engine time per inbound answer, database commit included, with 100,000 patients stored.

Prints p50/p99 per answer on SQLite and (when a server answers) PostgreSQL, next to peers measured
in the same run: the same transaction without the engine (load, insert one measurement, save the
position, commit), which is the floor the database and its driver set. Then resident memory per
active conversation, next to the peer the design rejected: one `transitions.Machine` per patient.

Run: `python -m bench.engine_answer [--patients 100000] [--answers 2000]`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import random
import statistics
import tempfile
import time
import tracemalloc
import uuid
from pathlib import Path

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.migrate import upgrade_async
from coachbot.adapters.db.models import Conversation, Measurement, Patient
from coachbot.app.pipeline import PatientService
from coachbot.engine import Engine, PatientContext, Position, StartDialog, TextMessage
from coachbot.engine.machine import build_machine
from coachbot.spec import load_library
from coachbot.spec.library import DialogLibrary

DIALOGS = Path(__file__).resolve().parent.parent / "dialogs"
POSTGRES_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
NOW = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def seed(sessions: async_sessionmaker[AsyncSession], patients: int, script: str, version: str,
               state: str) -> None:
    """Bulk-insert onboarded patients, each waiting at the daily check-in's first question."""
    chunk = 5000
    async with sessions() as session, session.begin():
        for start in range(0, patients, chunk):
            rows = [dict(id=i + 1, label=f"B-{i:07d}", chat_id=10_000_000 + i, name=None,
                         timezone="Europe/London", checkin_time=dt.time(9), weekly_review_day=6,
                         status="active", consent_at=NOW, onboarded_at=NOW - dt.timedelta(days=10),
                         unreachable=False, created_at=NOW, updated_at=NOW)
                    for i in range(start, min(start + chunk, patients))]
            await session.execute(insert(Patient), rows)
            await session.execute(insert(Conversation), [
                dict(patient_id=r["id"], script=script, script_version=version, state=state, answers={},
                     misses=0, started_at=NOW, updated_at=NOW) for r in rows])


async def floor_answer(sessions: async_sessionmaker[AsyncSession], chat_id: int) -> None:
    """The peer: the same transaction as one answer (read, insert, update, commit), no engine."""
    async with sessions() as session, session.begin():
        patient_id, script, state = (await session.execute(
            select(Patient.id, Conversation.script, Conversation.state)
            .join(Conversation, Conversation.patient_id == Patient.id)
            .where(Patient.chat_id == chat_id))).one()
        await session.execute(insert(Measurement), [dict(
            patient_id=patient_id, code="pain_now", value_num=5.0, value_text=None, script=script,
            state=state, recorded_at=NOW)])
        await session.execute(update(Conversation).where(Conversation.patient_id == patient_id)
                              .values(answers={"pain_now": 5}, updated_at=NOW))


async def run_database(label: str, url: str, patients: int, answers: int) -> None:
    library = load_library(DIALOGS)
    daily = library.scripts[library.service.daily]
    await upgrade_async(url)
    db = make_engine(url)
    sessions = make_sessionmaker(db)
    started = time.perf_counter()
    await seed(sessions, patients, daily.name, daily.version, _first_question(daily.name, library))
    print(f"[{label}] seeded {patients:,} patients in {time.perf_counter() - started:.1f} s")
    service = PatientService(sessions, Engine(library), clock=lambda: NOW)
    chosen = random.Random(7).sample(range(patients), min(patients, 3 * answers + 200))
    for chat in chosen[:100]:  # warm-up: caches, connections, compiled statements
        await service.handle(10_000_000 + chat, TextMessage("5"))
    engine_ms: list[float] = []
    floor_ms: list[float] = []
    for i in range(answers):
        t0 = time.perf_counter()
        delivery = await service.handle(10_000_000 + chosen[100 + 3 * i], TextMessage("5"))
        engine_ms.append((time.perf_counter() - t0) * 1000)
        assert delivery.replies, "every answer gets a reply"
        t0 = time.perf_counter()
        await floor_answer(sessions, 10_000_000 + chosen[101 + 3 * i])
        floor_ms.append((time.perf_counter() - t0) * 1000)
    await db.dispose()
    for name, samples in (("engine + commit", engine_ms), ("peer: same I/O, no engine", floor_ms)):
        if samples:
            print(f"[{label}] {name:28s} p50 {statistics.median(samples):6.2f} ms   "
                  f"p99 {percentile(samples, 0.99):6.2f} ms   ({len(samples)} answers)")
    print(f"[{label}] ratio engine/peer at p50: "
          f"{statistics.median(engine_ms) / statistics.median(floor_ms):.2f}")


def _first_question(script_name: str, library: DialogLibrary) -> str:
    engine = Engine(library)
    context = PatientContext(status="active", facts={"onboarded": 1, "days_in_care": 10, "open_step": 0})
    outcome = engine.handle(context, None, StartDialog(script_name), NOW)
    assert outcome.position is not None
    return outcome.position.state


def engine_alone(count: int = 20_000) -> None:
    """The engine's own share: one answer mid-check-in, no database, many times."""
    library = load_library(DIALOGS)
    engine = Engine(library)
    context = PatientContext(status="active", facts={"onboarded": 1, "days_in_care": 10, "open_step": 0})
    daily = library.scripts[library.service.daily]
    position = Position(script=daily.name, version=daily.version, state=_first_question(daily.name, library))
    samples = []
    for i in range(count):
        t0 = time.perf_counter()
        engine.handle(context, position, TextMessage(str(i % 11)), NOW)
        samples.append((time.perf_counter() - t0) * 1000)
    print(f"[engine alone] one answer, no database: p50 {statistics.median(samples):.3f} ms   "
          f"p99 {percentile(samples, 0.99):.3f} ms   ({count:,} answers)")


def memory_per_conversation(count: int = 20_000) -> None:
    """Bytes per active conversation as the engine holds it, against a Machine per patient."""
    library = load_library(DIALOGS)
    daily = library.scripts[library.service.daily]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    positions = [Position(script=daily.name, version=daily.version, state="mood_now",
                          answers={"pain_now": i % 11, "mood_now": 5}) for i in range(count)]
    after = tracemalloc.take_snapshot()
    per_position = sum(s.size_diff for s in after.compare_to(before, "filename")) / count
    tracemalloc.stop()

    class Model:
        pass

    machines = 50
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    kept = [build_machine(daily) for _ in range(machines)]
    models = [Model() for _ in range(machines)]
    for machine, model in zip(kept, models, strict=True):
        machine.machine.add_model(model)
    after = tracemalloc.take_snapshot()
    per_machine = sum(s.size_diff for s in after.compare_to(before, "filename")) / machines
    tracemalloc.stop()
    print(f"[memory] per active conversation (shared machine, position as data): {per_position:,.0f} B"
          f"  ({len(positions):,} measured)")
    print(f"[memory] peer: one transitions.Machine per patient: {per_machine:,.0f} B "
          f"(ratio {per_machine / per_position:.0f}x)")


async def postgres_database(admin_url: str) -> tuple[str, str] | None:
    name = f"coachbot_bench_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OSError:
        return None
    finally:
        await admin.dispose()
    return name, admin_url.rsplit("/", 1)[0] + "/" + name


async def drop_postgres(admin_url: str, name: str) -> None:
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--answers", type=int, default=2000)
    parser.add_argument("--postgres", default=POSTGRES_ADMIN)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        await run_database("sqlite", f"sqlite+aiosqlite:///{folder}/bench.db", args.patients, args.answers)
    created = await postgres_database(args.postgres)
    if created is None:
        print("[postgresql] no server answered; skipped")
    else:
        name, url = created
        try:
            await run_database("postgresql", url, args.patients, args.answers)
        finally:
            await drop_postgres(args.postgres, name)
    engine_alone()
    memory_per_conversation()


if __name__ == "__main__":
    asyncio.run(main())
