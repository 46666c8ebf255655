"""`coachbot escalations list`: the order its help promises is the order it prints."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.models import Escalation, Patient
from coachbot.app.escalations.listing import ORDER
from coachbot.cli import main

START = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)


async def _escalations(url: str, raised: list[tuple[str, int]]) -> list[int]:
    """One patient's escalations of these tiers, opened these many minutes after START; their ids."""
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            patient = Patient(label="P-AAAAAA", chat_id=42, status="active", created_at=START,
                              updated_at=START)
            session.add(patient)
            await session.flush()
            rows = [Escalation(patient_id=patient.id, tier=tier, rule=f"rule_{i}", reason="-",
                               opened_at=START + dt.timedelta(minutes=minutes),
                               updated_at=START + dt.timedelta(minutes=minutes))
                    for i, (tier, minutes) in enumerate(raised)]
            session.add_all(rows)
            await session.flush()
            return [row.id for row in rows]
    finally:
        await engine.dispose()


def test_escalations_are_listed_urgent_first_then_oldest_as_the_help_says(
        migrated_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Inserted so that neither id order nor opening time alone gives the listing's order.
    ids = asyncio.run(_escalations(migrated_url, [
        ("routine", 0), ("urgent", 30), ("soon", 10), ("urgent", 20), ("routine", 5), ("soon", 40)]))
    assert main(["escalations", "list", "--status", "all", "--database-url", migrated_url]) == 0
    lines = capsys.readouterr().out.splitlines()
    listed = [int(line.split()[0]) for line in lines[1:-1]]
    # urgent (20, 30), soon (10, 40), routine (0, 5)
    assert listed == [ids[3], ids[1], ids[2], ids[5], ids[0], ids[4]]
    assert lines[-1] == "6 escalation(s)"

    with pytest.raises(SystemExit):
        main(["escalations", "list", "--help"])
    assert ORDER in " ".join(capsys.readouterr().out.split())
