"""The migrations build the schema the models describe, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, delete, func, inspect, select
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.db import migrate
from coachbot.adapters.db.database import make_engine
from coachbot.adapters.db.models import Base, Coach, Conversation, Measurement, Patient

HEAD = ScriptDirectory.from_config(migrate.alembic_config("sqlite://")).get_current_head()
MODEL_TABLES = set(Base.metadata.tables)
T0 = dt.datetime(2026, 3, 29, 0, 30, tzinfo=dt.UTC)  # the night the UK clocks go forward


async def _inspect(url: str, fn: Any) -> Any:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(fn)
    finally:
        await engine.dispose()


def _table_names(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


def _schema_differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "compare_server_default": True}
    )
    return compare_metadata(context, Base.metadata)


def test_there_is_one_head_and_it_is_the_newest_revision() -> None:
    assert HEAD == "0008"


def test_the_head_read_from_the_migration_files_is_alembics_head() -> None:
    assert migrate.head_revision() == HEAD


async def test_alembic_is_skipped_only_when_the_database_is_at_head(database_url: str) -> None:
    assert not await migrate.at_head(database_url)  # empty
    await migrate.upgrade_async(database_url)
    assert await migrate.at_head(database_url)

    previous = ScriptDirectory.from_config(migrate.alembic_config(database_url)).get_revision(HEAD)
    migrate.downgrade(database_url, str(previous.down_revision))
    assert not await migrate.at_head(database_url)
    await migrate.upgrade_async(database_url)  # so this one really migrates

    assert migrate.current(database_url) == HEAD
    assert await _inspect(database_url, _schema_differences) == []


def test_a_start_against_an_up_to_date_database_never_imports_alembic(migrated_url: str) -> None:
    code = ("import asyncio, sys\n"
            "from coachbot.adapters.db.migrate import upgrade_async\n"
            f"asyncio.run(upgrade_async({migrated_url!r}))\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'alembic'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2]).stdout
    assert out.strip() == "[]"


async def test_upgrade_to_head_on_an_empty_database(database_url: str) -> None:
    assert migrate.current(database_url) is None

    await migrate.upgrade_async(database_url)

    assert migrate.current(database_url) == HEAD
    assert await _inspect(database_url, _table_names) == {*MODEL_TABLES, "alembic_version"}


async def test_migrations_and_models_agree(migrated_url: str) -> None:
    assert await _inspect(migrated_url, _schema_differences) == []


async def test_downgrade_to_base_then_upgrade_again(migrated_url: str) -> None:
    migrate.downgrade(migrated_url, "base")

    assert migrate.current(migrated_url) is None
    assert await _inspect(migrated_url, _table_names) == {"alembic_version"}

    migrate.upgrade(migrated_url)

    assert migrate.current(migrated_url) == HEAD
    assert await _inspect(migrated_url, _table_names) == {*MODEL_TABLES, "alembic_version"}
    assert await _inspect(migrated_url, _schema_differences) == []


async def test_upgrading_twice_is_a_no_op(
    migrated_url: str, session_factory: async_sessionmaker[AsyncSession]
) -> None:
    async with session_factory() as session:
        session.add(Coach(name="Sam", created_at=T0))
        await session.commit()

    await migrate.upgrade_async(migrated_url)

    assert migrate.current(migrated_url) == HEAD
    async with session_factory() as session:
        assert await session.scalar(select(func.count()).select_from(Coach)) == 1


def test_upgrade_works_from_plain_synchronous_code(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'sync.db'}"

    migrate.upgrade(url)

    assert migrate.current(url) == HEAD


async def test_patient_conversation_and_measurement_round_trip(
    session_factory: async_sessionmaker[AsyncSession],
) -> None:
    london = ZoneInfo("Europe/London")
    checkin = dt.time(8, 30)
    async with session_factory() as session:
        coach = Coach(name="Sam", telegram_user_id=7_000_000_001, created_at=T0)
        session.add(coach)
        await session.flush()
        patient = Patient(
            label="P-7K3QX",
            chat_id=-1_001_234_567_890,
            checkin_time=checkin,
            coach_id=coach.id,
            consent_at=dt.datetime(2026, 3, 29, 2, 15, tzinfo=london),  # 01:15 UTC, after the change
            created_at=T0,
            updated_at=T0,
        )
        session.add(patient)
        await session.flush()
        session.add(
            Conversation(
                patient_id=patient.id,
                script="daily_checkin",
                script_version="3",
                state="ask_pain",
                answers={"mood": 4, "notes": "slept badly — “ouch”", "tags": ["walk", None]},
                started_at=T0,
                updated_at=T0,
            )
        )
        for minutes, value in [(0, 6.0), (1, 5.5)]:
            session.add(
                Measurement(
                    patient_id=patient.id,
                    code="pain_nrs",
                    value_num=value,
                    recorded_at=T0 + dt.timedelta(minutes=minutes),
                    script="daily_checkin",
                    state="ask_pain",
                )
            )
        await session.commit()
        patient_id = patient.id

    async with session_factory() as session:
        stored = await session.scalar(select(Patient).where(Patient.label == "P-7K3QX"))
        assert stored is not None
        assert (stored.id, stored.chat_id, stored.coach_id) == (patient_id, -1_001_234_567_890, coach.id)
        assert (stored.status, stored.timezone, stored.weekly_review_day) == ("new", "Europe/London", 6)
        assert stored.unreachable is False
        assert stored.checkin_time == checkin
        assert stored.consent_at == dt.datetime(2026, 3, 29, 1, 15, tzinfo=dt.UTC)
        assert stored.consent_at.utcoffset() == dt.timedelta(0)
        assert stored.paused_until is None

        conversation = await session.get(Conversation, patient_id)
        assert conversation is not None
        assert conversation.answers == {"mood": 4, "notes": "slept badly — “ouch”", "tags": ["walk", None]}
        assert conversation.misses == 0
        assert conversation.started_at == T0

        since = dt.datetime(2026, 3, 29, 1, 30, tzinfo=ZoneInfo("Europe/Paris"))  # = T0, as Paris time
        rows = (
            await session.scalars(
                select(Measurement)
                .where(Measurement.patient_id == patient_id, Measurement.code == "pain_nrs")
                .where(Measurement.recorded_at > since)
                .order_by(Measurement.recorded_at)
            )
        ).all()
        assert [(m.value_num, m.recorded_at) for m in rows] == [(5.5, T0 + dt.timedelta(minutes=1))]
        assert rows[0].id > 0

    async with session_factory() as session:
        await session.execute(delete(Patient).where(Patient.id == patient_id))
        await session.commit()
        assert await session.get(Conversation, patient_id) is None
        assert await session.scalar(select(func.count()).select_from(Measurement)) == 0


async def test_naive_datetimes_are_refused(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async with session_factory() as session:
        session.add(Coach(name="Sam", created_at=dt.datetime(2026, 1, 1, 9, 0)))
        with pytest.raises(StatementError, match="naive datetime"):
            await session.flush()


async def test_sqlite_engine_settings(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'pragmas.db'}")
    try:
        async with engine.connect() as connection:
            values = [
                (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar()
                for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
            ]
    finally:
        await engine.dispose()
    assert values == ["wal", 1, 1, 10_000]
