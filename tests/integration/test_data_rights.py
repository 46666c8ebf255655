"""Data rights through the service on a real database (SQLite, and PostgreSQL when configured): /forget
erases everything about a patient but one audit entry, /mydata holds everything, withdrawing consent
stops messages, sent message bodies are cleared, retention purges, and the staff commands."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.db.models import (
    AuditEntry,
    Base,
    Coach,
    Escalation,
    OutboxMessage,
    Patient,
    Schedule,
)
from coachbot.adapters.telegram.messages_out import TelegramChannel
from coachbot.app.channel import ChannelCommand, Press
from coachbot.app.data_rights.erase import ERASED
from coachbot.app.data_rights.outbox_bodies import BodyClearing
from coachbot.app.data_rights.requests import CONSENT, ERASE
from coachbot.app.pipeline import PatientService
from coachbot.cli import main
from coachbot.engine import Engine, TextMessage
from tests.support.basics import Clock, library

Sessions = async_sessionmaker[AsyncSession]
CHAT, COACH, OTHER_CHAT = 4242, 900, 5151
NAME = "Zephyrine"
ONBOARDING = ["/start", "yes", NAME, "no", "no", "6", "4", "no", "working", "8am", "sunday", "UK"]
MONDAY = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
NOTE, RELAYED, COACH_WORDS = "hip sore after gardening", "my knee gave way on the stairs", "How is the hip"


class World:
    def __init__(self, sessions: Sessions) -> None:
        self.sessions, self.clock, self.update_id = sessions, Clock(), 0
        self.clock.now = MONDAY
        lib = library()
        self.channel = TelegramChannel(lib.service.channel, lib.escalation)
        self.service = PatientService(sessions, Engine(lib), self.clock, channel=self.channel)

    async def send(self, event: Any, chat: int = CHAT) -> Any:
        self.update_id += 1
        return await self.service.handle_update(self.update_id, chat, event)

    async def onboard(self, chat: int = CHAT) -> None:
        for text in ONBOARDING:
            await self.send(TextMessage(text), chat)

    async def checkin(self, day: int, pain: int, mood: int) -> None:
        self.clock.now = MONDAY + dt.timedelta(days=day, hours=1)
        for event in (ChannelCommand("checkin"), TextMessage(str(pain)), TextMessage(str(mood)),
                      TextMessage("skip")):
            await self.send(event)

    async def label(self, chat: int = CHAT) -> str:
        async with self.sessions() as session:
            return (await session.execute(select(Patient.label).where(Patient.chat_id == chat))).scalar_one()

    async def rows(self, model: type, *where: Any) -> list[Any]:
        async with self.sessions() as session:
            return list((await session.execute(select(model).where(*where))).scalars())


@pytest.fixture
async def world(session_factory: Sessions) -> World:
    w = World(session_factory)
    async with session_factory() as session, session.begin():
        session.add(Coach(telegram_user_id=COACH, name="Sam", created_at=MONDAY))
    await w.onboard()
    return w


async def a_full_history(world: World) -> str:
    """Answers, an escalation with its alert card, a note, a summary, a relayed conversation."""
    for day in range(3):
        await world.checkin(day, pain=8, mood=5)
    label = await world.label()
    for command in (f"/note {label} {NOTE}", f"/patient {label}", f"/message {label} {COACH_WORDS}"):
        await world.send(TextMessage(command), COACH)
    await world.send(TextMessage(RELAYED))
    await world.send(TextMessage(f"/close {label}"), COACH)
    assert await world.rows(Escalation), "the history should include an escalation"
    return label


async def cli(argv: list[str]) -> int:
    """The command as an operator runs it: its own event loop, in another thread."""
    return await asyncio.to_thread(main, argv)


async def every_row(sessions: Sessions) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table the models define (a table added later is read too)."""
    found = {}
    async with sessions() as session:
        for table in Base.metadata.sorted_tables:
            found[table.name] = [dict(r._mapping) for r in (await session.execute(select(table))).all()]
    return found


async def test_forget_erases_every_row_about_the_patient_in_every_table_and_keeps_one_audit_entry(
        world: World) -> None:
    label = await a_full_history(world)
    async with world.sessions() as session:
        patient_id = (await session.execute(select(Patient.id).where(Patient.label == label))).scalar_one()
    before = await every_row(world.sessions)
    assert any(NOTE in str(r) for r in before["coach_notes"])
    assert any(RELAYED in str(r) for r in before["outbox"])

    asked = await world.send(TextMessage("/forget"))
    assert "erase" in asked.outgoing[-1].payload["text"] and asked.outgoing[-1].payload["keyboard"]
    done = await world.send(Press(token=ERASE, value="yes"))

    after = await every_row(world.sessions)
    for table in Base.metadata.sorted_tables:
        patient_columns = [fk.parent.name for fk in table.foreign_keys if fk.column.table.name == "patients"]
        for row in after[table.name]:
            assert all(row[c] != patient_id for c in patient_columns), (table.name, row)
            shown = json.dumps(row, default=str)
            for secret in (NAME, NOTE, RELAYED, COACH_WORDS, "pain_now", "pain_worse"):
                assert secret not in shown, (table.name, secret, row)
            if label in shown:  # the label stays only in the erasure's audit entry and the coach's notice
                assert (table.name == "audit_log" and row["action"] == ERASED) or (
                    table.name == "outbox" and row["chat_id"] == COACH
                    and "asked for their information to be erased" in row["payload"]["text"]), row
    assert after["patients"] == [] and after["measurements"] == [] and after["escalations"] == []
    [entry] = [r for r in after["audit_log"] if r["subject"] == label]
    assert entry["action"] == ERASED and entry["actor"] == label
    assert entry["detail"]["rows"]["measurements"] > 0 and set(entry["detail"]) == {"rows"}
    texts = [o.payload.get("text", "") for o in done.outgoing]
    assert any("has been erased" in t for t in texts)
    assert [o.chat_id for o in done.outgoing if "asked for their information" in o.payload.get("text", "")] \
        == [COACH]


async def test_forget_answered_no_erases_nothing(world: World) -> None:
    await world.send(TextMessage("/forget"))
    kept = await world.send(Press(token=ERASE, value="no"))
    assert "Nothing has been erased" in kept.outgoing[-1].payload["text"]
    assert len(await world.rows(Patient)) == 1


async def test_crisis_words_after_forget_run_the_crisis_flow_and_erase_nothing(world: World) -> None:
    result = await world.send(TextMessage("/forget yes I want to kill myself"))
    said = " ".join(o.payload.get("text", "") for o in result.outgoing)
    assert "Samaritans" in said or "999" in said
    assert len(await world.rows(Patient)) == 1


async def test_erasing_one_patient_leaves_another_patients_data_alone(world: World) -> None:
    await world.onboard(OTHER_CHAT)
    other = await world.label(OTHER_CHAT)
    before = await world.rows(OutboxMessage, OutboxMessage.chat_id == OTHER_CHAT)
    await world.send(TextMessage("/forget yes"))
    assert [p.label for p in await world.rows(Patient)] == [other]
    assert len(await world.rows(OutboxMessage, OutboxMessage.chat_id == OTHER_CHAT)) == len(before)


async def test_mydata_holds_escalations_notes_messages_and_a_csv_of_measurements(world: World) -> None:
    await a_full_history(world)
    result = await world.send(ChannelCommand("mydata", "/mydata"))
    json_file, csv_file = result.outgoing
    data = json.loads(json_file.payload["content"])
    assert data["profile"]["name"] == NAME and data["profile"]["consent_version"].startswith("onboarding:")
    assert [e["rule"] for e in data["escalations"]] == ["pain_worse"]
    assert [n["text"] for n in data["coach_notes"]] == [NOTE]
    assert any(RELAYED in (m["text"] or "") and m["to"] == "a coach" for m in data["messages"])
    assert any(COACH_WORDS in (m["text"] or "") and m["to"] == "you" for m in data["messages"])
    assert csv_file.payload["filename"].endswith(".csv")
    table = list(csv.DictReader(io.StringIO(csv_file.payload["content"])))
    assert len(table) == len(data["measurements"])
    assert [r["value"] for r in table if r["code"] == "pain_now"] == ["8", "8", "8"]


async def test_withdraw_after_stop_stops_messages_and_offers_erasure(world: World) -> None:
    stopped = await world.send(TextMessage("stop"))
    offer = stopped.outgoing[-1]
    assert "withdraw" in offer.payload["text"] and offer.payload["keyboard"][0][0][1] == f"{CONSENT}:withdraw"
    withdrawn = await world.send(Press(token=CONSENT, value="withdraw"))
    [patient] = await world.rows(Patient)
    assert patient.status == "stopped" and patient.consent_at is None
    assert patient.consent_withdrawn_at == world.clock.now and patient.consent_version is not None
    assert all(s.next_due_at is None for s in await world.rows(Schedule))
    assert withdrawn.outgoing[-1].payload["keyboard"][0][0][1] == f"{ERASE}:yes"
    assert [a.action for a in await world.rows(AuditEntry, AuditEntry.action == "consent_withdrawn")] == [
        "consent_withdrawn"]


async def test_sent_bodies_are_cleared_after_the_keep_time_but_an_open_alert_card_keeps_its_own(
        world: World) -> None:
    for day in range(3):
        await world.checkin(day, pain=8, mood=5)
    async with world.sessions() as session, session.begin():
        await session.execute(update(OutboxMessage).values(sent_at=MONDAY, message_id=1))
    clearing = BodyClearing(world.sessions, dt.timedelta(hours=48), clock=world.clock)
    world.clock.now = MONDAY + dt.timedelta(hours=47)
    assert await clearing.tick() == 0
    world.clock.now = MONDAY + dt.timedelta(hours=49)
    clearing = BodyClearing(world.sessions, dt.timedelta(hours=48), clock=world.clock)  # a new process
    cleared = await clearing.tick()
    rows = await world.rows(OutboxMessage)
    card = [r for r in rows if r.escalation_id is not None]
    assert cleared == len(rows) - len(card) > 0
    assert all(r.payload == {} and r.cleared_at == world.clock.now for r in rows if r.escalation_id is None)
    assert card and all(r.payload and r.cleared_at is None for r in card)
    assert await clearing.tick() == 0  # not again within EVERY


async def test_staff_export_erase_and_purge_from_the_command_line(
        world: World, migrated_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    label = await a_full_history(world)
    db = ["--database-url", migrated_url]
    assert await cli(["patients", "export", label, "--out", str(tmp_path), *db]) == 0
    data = json.loads((tmp_path / f"{label}.json").read_text())
    assert [n["text"] for n in data["coach_notes"]] == [NOTE]
    assert (tmp_path / f"{label}-measurements.csv").read_text().startswith("recorded_at,code,value")
    assert await cli(["patients", "erase", label, "--database-url", migrated_url]) == 1  # no --yes
    assert await cli(["patients", "erase", "P-NOSUCH", "--yes", "--database-url", migrated_url]) == 1
    assert "no patient has the label" in capsys.readouterr().err
    assert await cli(["patients", "erase", label, "--yes", "--database-url", migrated_url]) == 0
    assert f"erased {label}" in capsys.readouterr().out
    audit = await world.rows(AuditEntry, AuditEntry.subject == label)
    assert [(a.actor, a.action) for a in audit] == [("staff:cli", ERASED)]

    await world.onboard(OTHER_CHAT)
    other = await world.label(OTHER_CHAT)
    assert await cli(["patients", "purge", "--dry-run", "--database-url", migrated_url]) == 1  # not set
    monkeypatch.setenv("COACHBOT_RETENTION_DAYS", "30")
    assert await cli(["patients", "purge", "--dry-run", "--database-url", migrated_url]) == 0
    assert other in capsys.readouterr().out  # onboarded in 2026, inactive since (the clock is the test's)
    assert len(await world.rows(Patient)) == 1
    assert await cli(["patients", "purge", "--database-url", migrated_url]) == 0
    assert await world.rows(Patient) == []
