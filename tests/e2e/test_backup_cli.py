"""`coachbot backup -o FILE` and `coachbot restore FILE`: a round trip on the database in use."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from coachbot.adapters.db.backup import BackupError, backup_postgres
from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.models import Coach, Measurement, Patient
from coachbot.cli import main
from tests.support.databases import POSTGRES_ADMIN_URL, fresh_postgres_database

TABLES = ("alembic_version", "coaches", "patients", "measurements")


@pytest.fixture
async def other_url(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """A second empty database of the same kind as `database_url`, to restore into."""
    if database_url.startswith("sqlite"):
        yield f"sqlite+aiosqlite:///{tmp_path / 'restored.db'}"
        return
    assert POSTGRES_ADMIN_URL is not None
    async with fresh_postgres_database(POSTGRES_ADMIN_URL) as url:
        yield url


async def _fill(url: str) -> None:
    engine = make_engine(url)
    now = dt.datetime(2026, 3, 1, 9, 30, tzinfo=dt.UTC)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            coach = Coach(telegram_user_id=900, name="Sam", active=True, created_at=now)
            session.add(coach)
            await session.flush()
            patient = Patient(label="P-4KX7QM", chat_id=42, status="active", coach_id=coach.id,
                              created_at=now, updated_at=now)
            session.add(patient)
            await session.flush()
            session.add_all(Measurement(patient_id=patient.id, code="pain", value_num=float(day % 10),
                                        recorded_at=now + dt.timedelta(days=day), script="daily",
                                        state="pain") for day in range(200))
    finally:
        await engine.dispose()


async def _contents(url: str) -> dict[str, list[tuple[object, ...]]]:
    engine = make_engine(url)
    try:
        async with engine.connect() as connection:
            return {table: [tuple(row) for row in await connection.execute(
                text(f"SELECT * FROM {table} ORDER BY 1"))] for table in TABLES}
    finally:
        await engine.dispose()


async def _add_coach(url: str, telegram_id: int) -> None:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            session.add(Coach(telegram_user_id=telegram_id, name="Late", active=True,
                              created_at=dt.datetime.now(dt.UTC)))
    finally:
        await engine.dispose()


def test_a_backup_restored_into_an_empty_database_holds_every_row(
        database_url: str, other_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "--database-url", database_url]) == 0
    asyncio.run(_fill(database_url))
    archive = tmp_path / "coachbot.backup"
    assert main(["backup", "-o", str(archive), "--database-url", database_url]) == 0
    assert "backed up to" in capsys.readouterr().out
    assert main(["restore", str(archive), "--database-url", other_url]) == 0
    assert "restored from" in capsys.readouterr().out
    original, restored = asyncio.run(_contents(database_url)), asyncio.run(_contents(other_url))
    assert len(restored["measurements"]) == 200 and restored["patients"][0][1] == "P-4KX7QM"
    assert restored == original
    assert main(["coaches", "list", "--database-url", other_url]) == 0  # the schema is current, usable


def test_restore_refuses_a_database_that_holds_tables_and_replaces_it_with_force(
        database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "--database-url", database_url]) == 0
    asyncio.run(_fill(database_url))
    archive = tmp_path / "before.backup"
    assert main(["backup", "-o", str(archive), "--database-url", database_url]) == 0
    backed_up = asyncio.run(_contents(database_url))
    asyncio.run(_add_coach(database_url, 901))  # written after the backup
    capsys.readouterr()
    assert main(["restore", str(archive), "--database-url", database_url]) == 1
    err = capsys.readouterr().err
    assert "already holds tables" in err and "--force" in err and err.count("\n") == 1
    assert len(asyncio.run(_contents(database_url))["coaches"]) == 2  # untouched
    assert main(["restore", str(archive), "--force", "--database-url", database_url]) == 0
    assert asyncio.run(_contents(database_url)) == backed_up


def test_backup_never_overwrites_and_restore_takes_only_a_backup_of_the_same_database(
        database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "--database-url", database_url]) == 0
    taken = tmp_path / "taken"
    taken.write_text("keep me")
    assert main(["backup", "-o", str(taken), "--database-url", database_url]) == 1
    assert "already exists" in capsys.readouterr().err and taken.read_text() == "keep me"
    assert main(["restore", str(taken), "--database-url", database_url]) == 1
    assert "is not a coachbot backup" in capsys.readouterr().err
    assert main(["restore", str(tmp_path / "missing"), "--database-url", database_url]) == 1
    assert "does not exist" in capsys.readouterr().err
    other_kind = tmp_path / "other.backup"
    if database_url.startswith("sqlite"):
        other_kind.write_bytes(b"PGDMP" + bytes(100))
    else:
        assert main(["backup", "-o", str(other_kind), "--database-url",
                     f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"]) == 1  # no such file yet
        assert "does not exist" in capsys.readouterr().err
        empty = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        assert main(["db", "upgrade", "--database-url", empty]) == 0
        assert main(["backup", "-o", str(other_kind), "--database-url",
                     f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"]) == 0
    capsys.readouterr()
    assert main(["restore", str(other_kind), "--force", "--database-url", database_url]) == 1
    assert "restore it to a" in capsys.readouterr().err


def test_a_missing_pg_dump_is_one_sentence_saying_to_install_the_client(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no PostgreSQL client tools here
    with pytest.raises(BackupError, match=r"^pg_dump is not installed; install the PostgreSQL client"):
        backup_postgres("postgresql+asyncpg://coachbot@127.0.0.1:5432/coachbot", tmp_path / "x.backup")
    assert not list(tmp_path.iterdir())
