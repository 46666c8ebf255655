"""`coachbot coaches invite`, `coaches list`, `coaches remove` and `patients reassign` as an admin uses
them."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.models import AuditEntry, Coach, CoachInvite, Patient
from coachbot.app.coaches.invites import code_hash
from coachbot.cli import main


async def _rows(url: str, model: type) -> list[object]:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session:
            return list((await session.execute(select(model))).scalars())
    finally:
        await engine.dispose()


def rows(url: str, model: type) -> list[object]:
    return asyncio.run(_rows(url, model))


async def _add_patient(url: str, label: str, coach_id: int) -> None:
    engine = make_engine(url)
    now = dt.datetime.now(dt.UTC)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            session.add(Patient(label=label, chat_id=42, status="active", coach_id=coach_id, created_at=now,
                                updated_at=now))
    finally:
        await engine.dispose()


def test_invite_prints_a_code_once_and_stores_only_its_hash(capsys: pytest.CaptureFixture[str],
                                                            tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'coaches.db'}"
    assert main(["db", "upgrade", "--database-url", url]) == 0
    assert main(["coaches", "invite", "--database-url", url, "--name", "Kim", "--admin",
                 "--expires-hours", "12"]) == 0
    out = capsys.readouterr().out
    code = re.search(r"invite code: ([A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4})\n", out)
    assert code is not None and "cannot be shown again" in out
    [invite] = rows(url, CoachInvite)
    assert isinstance(invite, CoachInvite)
    assert invite.code_hash == code_hash(code.group(1)) and invite.name == "Kim" and invite.is_admin
    assert dt.timedelta(hours=11.9) < invite.expires_at - invite.created_at <= dt.timedelta(hours=12)
    assert code.group(1) not in str([(e.detail, e.subject) for e in rows(url, AuditEntry)])  # type: ignore[attr-defined]
    assert main(["coaches", "invite", "--database-url", url, "--expires-hours", "0"]) == 1
    assert "--expires-hours a number from 1 to 720" in capsys.readouterr().err


def test_list_and_reassign(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'coaches.db'}"
    assert main(["db", "upgrade", "--database-url", url]) == 0
    capsys.readouterr()
    assert main(["coaches", "list", "--database-url", url]) == 0
    assert capsys.readouterr().out == "no coaches registered\n"
    for telegram_id, name in (("900", "Sam"), ("901", "Kim")):
        add = ["coaches", "add", "--database-url", url, "--telegram-id", telegram_id, "--name", name]
        assert main(add) == 0
    asyncio.run(_add_patient(url, "P-AAAAAA", 1))
    capsys.readouterr()
    assert main(["coaches", "list", "--database-url", url]) == 0
    assert capsys.readouterr().out.splitlines() == ["1\tSam\t-\tactive\t1 open patients",
                                                    "2\tKim\t-\tactive\t0 open patients"]
    assert main(["patients", "reassign", "p-aaaaaa", "--coach", "2", "--database-url", url]) == 0
    assert capsys.readouterr().out == "P-AAAAAA is now with coach 2\n"
    [patient] = rows(url, Patient)
    assert isinstance(patient, Patient) and patient.coach_id == 2
    audit = [e for e in rows(url, AuditEntry)
             if isinstance(e, AuditEntry) and e.action == "patient_reassigned"]
    assert [(e.actor, e.subject, e.detail) for e in audit] == [("cli", "P-AAAAAA", {"from": 1, "to": 2})]
    assert main(["patients", "reassign", "P-BBBBBB", "--coach", "2", "--database-url", url]) == 1
    assert capsys.readouterr().err == "coachbot: no patient has the label 'P-BBBBBB'\n"
    assert main(["patients", "reassign", "P-AAAAAA", "--coach", "9", "--database-url", url]) == 1
    assert "there is no active coach 9" in capsys.readouterr().err
    assert [c.name for c in rows(url, Coach) if isinstance(c, Coach)] == ["Sam", "Kim"]


def test_remove_marks_the_coach_inactive_and_moves_their_patients(capsys: pytest.CaptureFixture[str],
                                                                  tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'coaches.db'}"
    assert main(["db", "upgrade", "--database-url", url]) == 0
    for telegram_id, name in (("900", "Sam"), ("901", "Kim")):
        add = ["coaches", "add", "--database-url", url, "--telegram-id", telegram_id, "--name", name]
        assert main(add) == 0
    asyncio.run(_add_patient(url, "P-AAAAAA", 1))
    capsys.readouterr()
    assert main(["coaches", "remove", "1", "--database-url", url]) == 0
    assert capsys.readouterr().out == "coach 1 is removed; their 1 patient(s) went 1 to coach 2\n"
    assert main(["coaches", "list", "--database-url", url]) == 0
    assert capsys.readouterr().out.splitlines() == ["1\tSam\t-\tinactive\t0 open patients",
                                                    "2\tKim\t-\tactive\t1 open patients"]
    assert [e.action for e in rows(url, AuditEntry) if isinstance(e, AuditEntry)][-2:] == [
        "patient_reassigned", "coach_removed"]
    assert main(["coaches", "remove", "1", "--database-url", url]) == 1
    assert capsys.readouterr().err == "coachbot: coach 1 was removed already\n"
    assert main(["coaches", "remove", "K7QM-4XPA-RT2H", "--database-url", url]) == 1
    assert "expected a coach's number" in capsys.readouterr().err
