"""Escalations through the service on a real database (SQLite, and PostgreSQL when configured): the
rules after answers and missed check-ins, in the answer's own transaction, deduplicated; the coach's
buttons and commands; the re-send to the backups after the deadline, on a controllable clock."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.db.models import (
    AuditEntry,
    CheckinRun,
    Coach,
    Escalation,
    Measurement,
    OutboxMessage,
    Patient,
)
from coachbot.adapters.db.unit_of_work import joined
from coachbot.adapters.telegram.messages_out import TelegramChannel
from coachbot.app.channel import ChannelCommand, EscalationPress, Press, QueuedMessage, question_token
from coachbot.app.escalations.alerts import AlertSettings
from coachbot.app.escalations.deadlines import EscalationTicker
from coachbot.app.escalations.listing import escalation_table
from coachbot.app.pipeline import PatientService
from coachbot.cli import main
from coachbot.engine import Engine, TextMessage
from tests.support.basics import Clock, library

Sessions = async_sessionmaker[AsyncSession]
CHAT, COACH, OTHER_COACH, BACKUP, STRANGER, GROUP = 4242, 900, 901, 902, 777, -100500
# usual pain 6 (meaningful change 2: alert at 8), usual mood 4 (alert at 2 or less)
ONBOARDING = ["/start", "yes", "Alex", "no", "no", "6", "4", "no", "working", "8am", "sunday", "UK"]
MONDAY = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


class World:
    """One patient, their coach and the service, with a clock the test moves."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions, self.clock, self.update_id = sessions, Clock(), 0
        lib = library()
        self.channel = TelegramChannel(lib.service.channel, lib.escalation)
        self.service = PatientService(sessions, Engine(lib), self.clock, channel=self.channel)
        self.service.alerts = AlertSettings(group_chat_id=GROUP)
        self.queued: list[QueuedMessage] = []
        self.ticker = EscalationTicker(self.service.uows, self.service, self.channel, clock=self.clock,
                                       on_queued=self.queued.extend)

    async def send(self, event: Any, chat: int = CHAT, update_id: int | None = None) -> Any:
        if update_id is None:
            self.update_id += 1
            update_id = self.update_id
        return await self.service.handle_update(update_id, chat, event)

    async def coaches(self) -> None:
        async with self.sessions() as session, session.begin():
            session.add_all([Coach(telegram_user_id=COACH, name="Sam", created_at=MONDAY),
                             Coach(telegram_user_id=OTHER_COACH, name="Kim",
                                   created_at=MONDAY + dt.timedelta(1)),
                             Coach(telegram_user_id=BACKUP, name="Bo", is_backup=True,
                                   created_at=MONDAY + dt.timedelta(2))])

    async def onboard(self) -> None:
        for text in ONBOARDING:
            await self.send(TextMessage(text))

    async def checkin(self, day: int, pain: int, mood: int, *, press: bool = False) -> Any:
        """A daily check-in on `day` days after Monday: pain (typed, or by button), then mood."""
        self.clock.now = MONDAY + dt.timedelta(days=day, hours=1)
        await self.send(ChannelCommand("checkin"))
        if press:
            token = question_token("daily_checkin", "pain_now")
            answered = await self.send(Press(token=token, value=str(pain)))
        else:
            answered = await self.send(TextMessage(str(pain)))
        await self.send(TextMessage(str(mood)))
        await self.send(TextMessage("skip"))
        return answered

    async def rows(self, model: type, *where: Any) -> list[Any]:
        async with self.sessions() as session:
            return list((await session.execute(select(model).where(*where))).scalars())

    async def add(self, code: str, value: float, at: dt.datetime) -> None:
        async with self.sessions() as session, session.begin():
            patient = (await session.execute(select(Patient))).scalar_one()
            session.add(Measurement(patient_id=patient.id, code=code, value_num=value, recorded_at=at,
                                    script="test", state="test"))


@pytest.fixture
async def world(session_factory: Sessions) -> World:
    w = World(session_factory)
    await w.coaches()
    await w.onboard()
    return w


def cards(rows: list[OutboxMessage], chat: int = COACH) -> list[OutboxMessage]:
    return [r for r in rows
            if r.chat_id == chat and r.escalation_id is not None and r.kind in ("photo", "text")]


@pytest.mark.parametrize("press", [False, True], ids=["typed (fast path)", "button (full path)"])
async def test_pain_two_above_usual_on_three_check_ins_raises_soon_with_the_third_answer(
        world: World, press: bool) -> None:
    for day in range(2):
        await world.checkin(day, pain=8, mood=5)
    assert await world.rows(Escalation) == []
    result = await world.checkin(2, pain=8, mood=5, press=press)
    [escalation] = await world.rows(Escalation)
    assert (escalation.rule, escalation.tier, escalation.status) == ("pain_worse", "soon", "open")
    assert escalation.opened_at == world.clock.now  # with the answer that caused it
    assert escalation.due_at is not None and escalation.next_alert_at == escalation.due_at
    assert [v["value"] for v in escalation.evidence["values"]] == [8, 8, 8]
    assert len(escalation.evidence["last_days"]) == 14
    queued = {q.id: q for q in result.queued}
    card = [r for r in await world.rows(OutboxMessage) if r.id in queued and r.chat_id == COACH]
    assert len(card) == 1 and card[0].kind == "photo" and card[0].escalation_id == escalation.id
    assert len(card[0].payload["chart"]["days"]) == 14
    assert "Alex" not in card[0].payload["caption"]  # a label, not the name (names are off by default)
    to_patient = " ".join(r.payload.get("text", "") for r in await world.rows(OutboxMessage)
                          if r.id in queued and r.chat_id == CHAT)
    assert "I have let your coach know" in to_patient and "how is your mood" in to_patient
    assert to_patient.index("I have let your coach know") < to_patient.index("how is your mood")


async def test_pain_one_above_usual_stays_quiet(world: World) -> None:
    for day in range(4):
        await world.checkin(day, pain=7, mood=5)
    assert await world.rows(Escalation) == []


async def test_escalation_and_answer_commit_together_or_not_at_all(world: World) -> None:
    for day in range(2):
        await world.checkin(day, pain=8, mood=5)
    world.clock.now = MONDAY + dt.timedelta(days=2, hours=1)
    await world.send(ChannelCommand("checkin"))
    # The third pain answer under an update id already used: the commit fails, everything rolls back.
    duplicate = await world.send(TextMessage("8"), update_id=1)
    assert duplicate.duplicate
    assert await world.rows(Escalation) == []
    assert len(await world.rows(Measurement, Measurement.code == "pain_now")) == 2
    await world.send(TextMessage("8"))
    assert len(await world.rows(Escalation)) == 1
    assert len(await world.rows(Measurement, Measurement.code == "pain_now")) == 3


async def test_new_evidence_updates_the_open_escalation_and_sends_no_second_card(world: World) -> None:
    for day in range(7, 10):  # after the first week, whose answers are part of the baseline
        await world.checkin(day, pain=8, mood=5)
    [first] = await world.rows(Escalation)
    await world.checkin(10, pain=9, mood=5)
    [again] = await world.rows(Escalation)
    assert again.id == first.id and again.updated_at > first.updated_at
    assert [v["value"] for v in again.evidence["values"]] == [8, 8, 9]
    assert len(cards(await world.rows(OutboxMessage))) == 1
    actions = [a.action for a in await world.rows(AuditEntry, AuditEntry.action.like("escalation_%"))]
    assert actions[0] == "escalation_opened" and set(actions[1:]) == {"escalation_updated"}


@pytest.mark.parametrize(("rule", "history", "fires"), [
    ("mood_low", [("mood_now", 2, 0), ("mood_now", 2, 1)], True),   # 4 usual, 2 or less on 3 days
    ("mood_low", [("mood_now", 3, 0), ("mood_now", 3, 1)], False),
    ("phq2_positive", [("phq2_total", 3, 1)], True),
    ("phq2_positive", [("phq2_total", 2, 1)], False),
    ("peg_worse", [("peg_score", 5, -10), ("peg_score", 6.5, 1)], True),  # 30% above the first PEG
    ("peg_worse", [("peg_score", 5, -10), ("peg_score", 6.4, 1)], False),
])
async def test_each_default_rule_fires_through_the_service_and_stays_quiet_just_under(
        world: World, rule: str, history: list[tuple[str, float, int]], fires: bool) -> None:
    for code, value, day in history:
        await world.add(code, value, MONDAY + dt.timedelta(days=day, hours=2))
    mood = 2 if rule == "mood_low" and fires else 3 if rule == "mood_low" else 5
    await world.checkin(2, pain=6, mood=mood)
    raised = {e.rule for e in await world.rows(Escalation)}
    assert (rule in raised) is fires
    assert raised <= {rule}


async def test_three_missed_check_ins_raise_routine_and_two_do_not(world: World) -> None:
    [patient] = await world.rows(Patient)

    async def missed(day: int) -> None:  # closed as missed when the next day's check-in starts
        async with world.sessions() as session, session.begin():
            session.add(CheckinRun(patient_id=patient.id, dialog="daily",
                                   local_date=(MONDAY + dt.timedelta(days=day)).date(),
                                   due_at=MONDAY + dt.timedelta(days=day), status="missed",
                                   reason="unanswered",
                                   closed_at=MONDAY + dt.timedelta(days=day + 1)))
        world.clock.now = MONDAY + dt.timedelta(days=day + 1, minutes=1)

    await missed(0)
    await missed(1)
    await world.ticker.tick()
    assert await world.rows(Escalation) == []
    await missed(2)
    await world.ticker.tick()
    [escalation] = await world.rows(Escalation)
    assert (escalation.rule, escalation.tier) == ("checkins_missed", "routine")
    assert len(escalation.evidence["missed"]) == 3
    rows = await world.rows(OutboxMessage)
    assert len(cards(rows)) == 1
    assert any("within 2 working days" in r.payload.get("text", "") for r in rows if r.chat_id == CHAT)
    await world.ticker.tick()  # the same misses again: nothing new
    assert len(await world.rows(Escalation)) == 1 and len(cards(await world.rows(OutboxMessage))) == 1


# -- the coach's buttons and commands ------------------------------------------------------------

async def crisis(world: World) -> Escalation:
    await world.send(TextMessage("I want to kill myself"))
    [escalation] = await world.rows(Escalation)
    return escalation


def press(action: str, escalation: Escalation, user: int) -> EscalationPress:
    return EscalationPress(action=action, escalation_id=escalation.id, user_id=user, message_id=55,
                           shown="URGENT card", photo=True)


async def test_acknowledge_sets_who_and_when_edits_the_card_and_a_second_press_says_so(world: World) -> None:
    escalation = await crisis(world)
    world.clock.now += dt.timedelta(minutes=5)
    result = await world.send(press("ack", escalation, COACH), chat=COACH)
    [row] = await world.rows(Escalation)
    assert (row.status, row.acknowledged_by, row.acknowledged_at, row.next_alert_at) == (
        "acknowledged", 1, world.clock.now, world.clock.now + dt.timedelta(hours=24))  # to be resolved by
    [edit] = [r for r in await world.rows(OutboxMessage) if r.id in {q.id for q in result.queued}]
    assert edit.kind == "edit" and edit.payload["message_id"] == 55
    assert edit.payload["caption"].startswith("URGENT card")
    assert "Acknowledged by Sam at" in edit.payload["caption"]
    assert [[b[0] for b in line] for line in edit.payload["keyboard"]] == [["Resolve"], ["Message patient"]]
    audit = await world.rows(AuditEntry, AuditEntry.action == "escalation_acknowledged")
    assert [(a.actor, a.subject) for a in audit] == [("coach:1", (await world.rows(Patient))[0].label)]
    again = await world.send(press("ack", escalation, COACH), chat=COACH)
    [said] = [r for r in await world.rows(OutboxMessage) if r.id in {q.id for q in again.queued}]
    assert said.payload["text"].startswith(f"Escalation {escalation.id} was already acknowledged by Sam")


async def test_resolve_asks_for_a_note_and_the_next_message_resolves_it(world: World) -> None:
    escalation = await crisis(world)
    asked = await world.send(press("resolve", escalation, COACH), chat=COACH)
    [prompt] = [r for r in await world.rows(OutboxMessage) if r.id in {q.id for q in asked.queued}]
    assert "Send your note" in prompt.payload["text"]
    await world.send(TextMessage("Called; safe, GP appointment tomorrow."), chat=COACH)
    [row] = await world.rows(Escalation)
    assert (row.status, row.resolved_by, row.resolution_note) == (
        "resolved", 1, "Called; safe, GP appointment tomorrow.")
    assert row.acknowledged_at is not None and row.note_pending_by is None
    audit = await world.rows(AuditEntry, AuditEntry.action == "escalation_resolved")
    assert len(audit) == 1 and "Called" not in str(audit[0].detail)  # the note stays out of the log
    again = await world.send(TextMessage(f"/resolve {escalation.id} twice"), chat=COACH)
    [said] = [r for r in await world.rows(OutboxMessage) if r.id in {q.id for q in again.queued}]
    assert "already resolved by Sam" in said.payload["text"]


async def test_resolve_command_with_a_note_and_without_one(world: World) -> None:
    escalation = await crisis(world)
    usage = await world.send(TextMessage(f"/resolve {escalation.id}"), chat=COACH)
    [said] = [r for r in await world.rows(OutboxMessage) if r.id in {q.id for q in usage.queued}]
    assert said.payload["text"].startswith("To resolve an escalation send /resolve ID")
    assert (await world.rows(Escalation))[0].status == "open"
    await world.send(TextMessage(f"/resolve {escalation.id} Spoke to them."), chat=COACH)
    assert (await world.rows(Escalation))[0].resolution_note == "Spoke to them."


@pytest.mark.parametrize("who", [STRANGER, OTHER_COACH])
async def test_a_non_coach_and_another_patients_coach_get_a_refusal_and_no_patient_data(
        world: World, who: int) -> None:
    escalation = await crisis(world)
    [patient] = await world.rows(Patient)
    before = await world.rows(OutboxMessage)
    for action in ("ack", "resolve", "message"):
        result = await world.send(press(action, escalation, who), chat=who)
        [said] = [r for r in await world.rows(OutboxMessage) if r.id in {q.id for q in result.queued}]
        assert said.payload == {"text": "You cannot act on this alert."} and said.chat_id == who
    resolve = await world.send(TextMessage(f"/resolve {escalation.id} not mine"), chat=who)
    rebase = await world.send(TextMessage(f"/rebase {patient.label} pain_now 2"), chat=who)
    for result in (resolve, rebase):
        for row in [r for r in await world.rows(OutboxMessage) if r.id in {q.id for q in result.queued}]:
            assert patient.label not in str(row.payload) and "Alex" not in str(row.payload)
    [row] = await world.rows(Escalation)
    assert row.status == "open" and row.acknowledged_by is None and row.resolution_note is None
    assert len(await world.rows(OutboxMessage)) > len(before)


async def test_a_backup_coach_may_acknowledge(world: World) -> None:
    escalation = await crisis(world)
    await world.send(press("ack", escalation, BACKUP), chat=BACKUP)
    [row] = await world.rows(Escalation)
    assert (row.status, row.acknowledged_by) == ("acknowledged", 3)


async def test_message_patient_points_to_the_message_command(world: World) -> None:
    escalation = await crisis(world)
    [patient] = await world.rows(Patient)
    result = await world.send(press("message", escalation, COACH), chat=COACH)
    [said] = [r for r in await world.rows(OutboxMessage) if r.id in {q.id for q in result.queued}]
    assert said.payload["text"] == (
        f"To write to {patient.label}, send /message {patient.label} followed by your message.")


async def test_a_coach_rebases_usual_pain_and_the_rule_follows_it(world: World) -> None:
    [patient] = await world.rows(Patient)
    result = await world.send(TextMessage(f"/rebase {patient.label.lower()} pain_now 8"), chat=COACH)
    [said] = [r for r in await world.rows(OutboxMessage) if r.id in {q.id for q in result.queued}]
    assert said.payload["text"] == f"The pain_now baseline of {patient.label} is now 8."
    bad = await world.send(TextMessage(f"/rebase {patient.label} pain_now 11"), chat=COACH)
    [usage] = [r for r in await world.rows(OutboxMessage) if r.id in {q.id for q in bad.queued}]
    assert usage.payload["text"].startswith("To re-base")
    for day in range(3):
        await world.checkin(day, pain=8, mood=5)  # 8 was 2 above usual; now it is the usual level
    assert await world.rows(Escalation) == []
    for day in range(3, 6):
        await world.checkin(day, pain=10, mood=5)  # usual 8: meaningful change 3, so 10 (the top) counts
    assert [e.rule for e in await world.rows(Escalation)] == ["pain_worse"]


# -- deadlines -------------------------------------------------------------------------------------

async def test_urgent_unacknowledged_for_60_minutes_goes_to_the_backup_and_group_every_30(
        world: World) -> None:
    escalation = await crisis(world)
    opened = escalation.opened_at
    assert escalation.due_at == opened + dt.timedelta(minutes=60)
    world.clock.now = opened + dt.timedelta(minutes=59)
    assert await world.ticker.send_due_realerts() == 0
    world.clock.now = opened + dt.timedelta(minutes=60)
    assert await world.ticker.send_due_realerts() == 1
    resent = [r for r in await world.rows(OutboxMessage) if r.id in {q.id for q in world.queued}]
    assert sorted(r.chat_id for r in resent) == sorted([BACKUP, GROUP])  # not the own coach again
    assert all(r.escalation_id == escalation.id and r.patient_id is None for r in resent)
    assert resent[0].kind == "text"  # no check-ins yet: no chart, so a text card
    assert resent[0].payload["text"].startswith("Not acknowledged 1 h 00 min after it was raised")
    world.clock.now = opened + dt.timedelta(minutes=89)
    assert await world.ticker.send_due_realerts() == 0
    world.clock.now = opened + dt.timedelta(minutes=90)
    assert await world.ticker.send_due_realerts() == 1
    [row] = await world.rows(Escalation)
    assert row.realerts == 2 and row.next_alert_at == opened + dt.timedelta(minutes=120)
    await world.send(press("ack", escalation, COACH), chat=COACH)
    world.clock.now = opened + dt.timedelta(hours=5)
    assert await world.ticker.send_due_realerts() == 0
    assert len(await world.rows(AuditEntry, AuditEntry.action == "escalation_realerted")) == 2


async def test_soon_deadline_counts_working_hours_only(world: World) -> None:
    # The second Friday: the first week's answers are part of the baseline, not compared with it.
    world.clock.now = dt.datetime(2026, 3, 13, 16, 30, tzinfo=dt.UTC)  # Friday 16:30 in London
    await world.send(ChannelCommand("checkin"))
    for day in range(3):
        await world.add("pain_now", 9, dt.datetime(2026, 3, 10 + day, 9, tzinfo=dt.UTC))
    await world.add("pain_now", 9, world.clock.now)
    await world.send(TextMessage("9"))
    [escalation] = await world.rows(Escalation)
    assert escalation.tier == "soon"
    assert escalation.due_at == dt.datetime(2026, 3, 16, 16, 30, tzinfo=dt.UTC)  # Monday 16:30
    world.clock.now = dt.datetime(2026, 3, 16, 16, 29, tzinfo=dt.UTC)
    assert await world.ticker.send_due_realerts() == 0
    world.clock.now = dt.datetime(2026, 3, 16, 16, 30, tzinfo=dt.UTC)
    assert await world.ticker.send_due_realerts() == 1
    world.clock.now += dt.timedelta(days=3)
    assert await world.ticker.send_due_realerts() == 0  # soon has no realert_every: re-sent once


async def test_with_no_coach_escalations_queue_and_are_listed_without_names(
        session_factory: Sessions) -> None:
    w = World(session_factory)
    await w.onboard()
    await w.send(TextMessage("I want to kill myself"))
    [escalation] = await w.rows(Escalation)
    assert cards(await w.rows(OutboxMessage)) == []
    async with session_factory() as session:
        table = await escalation_table(joined(session))
        assert await escalation_table(joined(session), "resolved") == "no resolved escalations"
    [patient] = await w.rows(Patient)
    assert patient.label in table and "crisis" in table and "urgent" in table and "Alex" not in table
    assert "kill" not in table and table.endswith("1 escalation(s)")
    async with session_factory() as session:
        count = await session.scalar(select(func.count()).select_from(Escalation))
    assert count == 1 and escalation.status == "open"


async def test_escalations_list_command_prints_labels_never_names(
        session_factory: Sessions, migrated_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    w = World(session_factory)
    await w.onboard()
    await w.send(TextMessage("I want to kill myself"))
    [patient] = await w.rows(Patient)
    assert await asyncio.to_thread(main, ["escalations", "list", "--database-url", migrated_url]) == 0
    out = capsys.readouterr().out
    assert patient.label in out and "crisis" in out and "Alex" not in out and "kill" not in out
    assert await asyncio.to_thread(
        main, ["escalations", "list", "--status", "resolved", "--database-url", migrated_url]) == 0
    assert capsys.readouterr().out.strip() == "no resolved escalations"


# -- a worse crisis always reaches the coach ---------------------------------------------------------

async def answer_plan_and_means(world: World) -> None:
    """Yes to thoughts of ending their life, to a plan, and to having the means."""
    for answer in ("yes", "yes", "yes"):
        await world.send(TextMessage(answer))


def text_of(card: OutboxMessage) -> str:
    return str(card.payload.get("caption") or card.payload.get("text"))


async def test_a_plan_and_means_after_acknowledgement_resends_the_card_marked_worse(world: World) -> None:
    escalation = await crisis(world)
    world.clock.now += dt.timedelta(minutes=5)
    await world.send(press("ack", escalation, COACH), chat=COACH)
    world.clock.now += dt.timedelta(minutes=5)
    await answer_plan_and_means(world)
    first, second = cards(await world.rows(OutboxMessage))
    assert not text_of(first).startswith("WORSE") and text_of(second).startswith("WORSE: ")
    assert "plan and the means" in text_of(second).splitlines()[0]
    [row] = await world.rows(Escalation)
    assert (row.status, row.acknowledged_by, row.acknowledged_at) == ("open", None, None)
    assert row.due_at == row.next_alert_at == world.clock.now + dt.timedelta(minutes=60)
    assert "plan and the means" in row.reason and row.evidence["severity"] == 3
    assert [h["severity"] for h in row.evidence["history"]] == [1, 3]
    assert await world.rows(AuditEntry, AuditEntry.action == "escalation_worse")


async def test_a_stronger_statement_before_acknowledgement_resends_the_card_and_keeps_the_deadline(
        world: World) -> None:
    escalation = await crisis(world)
    world.clock.now += dt.timedelta(minutes=20)
    await answer_plan_and_means(world)
    assert [text_of(c).startswith("WORSE") for c in cards(await world.rows(OutboxMessage))] == [False, True]
    [row] = await world.rows(Escalation)
    assert row.status == "open" and row.due_at == escalation.due_at  # the backups still hear at 60 minutes


async def test_a_milder_reason_never_overwrites_a_stronger_one(world: World) -> None:
    await crisis(world)
    await answer_plan_and_means(world)
    [strong] = await world.rows(Escalation)
    world.clock.now += dt.timedelta(hours=2)
    await world.send(TextMessage("I want to kill myself"))  # the crisis flow again: severity 1
    [row] = await world.rows(Escalation)
    assert row.reason == strong.reason and "plan and the means" in row.reason
    assert row.tier == "urgent" and row.evidence["severity"] == 3
    assert [h["severity"] for h in row.evidence["history"]] == [1, 3, 1]
    assert len(cards(await world.rows(OutboxMessage))) == 2  # unacknowledged and milder: no third card


async def test_an_overdose_ten_hours_after_acknowledgement_reaches_the_coach_marked_worse(
        world: World) -> None:
    escalation = await crisis(world)
    await world.send(TextMessage("no"))  # not thinking about ending their life: the flow closes
    await world.send(press("ack", escalation, COACH), chat=COACH)
    world.clock.now += dt.timedelta(hours=10)
    await world.send(TextMessage("I have overdosed on my tablets"))
    latest = cards(await world.rows(OutboxMessage))[-1]
    assert text_of(latest).startswith("WORSE: ") and "overdose" in text_of(latest).splitlines()[0]
    [row] = await world.rows(Escalation)
    assert row.status == "open" and row.evidence["severity"] == 5 and "overdose" in row.reason


async def test_an_acknowledged_urgent_escalation_realerts_after_its_resolution_deadline(world: World) -> None:
    escalation = await crisis(world)
    world.clock.now += dt.timedelta(minutes=5)
    acknowledged = world.clock.now
    await world.send(press("ack", escalation, COACH), chat=COACH)
    world.clock.now = acknowledged + dt.timedelta(hours=24) - dt.timedelta(minutes=1)
    assert await world.ticker.send_due_realerts() == 0
    world.clock.now = acknowledged + dt.timedelta(hours=24)
    assert await world.ticker.send_due_realerts() == 1
    resent = [r for r in await world.rows(OutboxMessage) if r.id in {q.id for q in world.queued}]
    assert sorted(r.chat_id for r in resent) == sorted([COACH, BACKUP, GROUP])  # its own coach too
    assert all(text_of(r).startswith("Acknowledged but not resolved 24 h 00 min later") for r in resent)
    world.clock.now += dt.timedelta(minutes=30)
    assert await world.ticker.send_due_realerts() == 1  # every 30 minutes until resolved
    await world.send(TextMessage(f"/resolve {escalation.id} Called, safety plan agreed."), chat=COACH)
    world.clock.now += dt.timedelta(hours=5)
    assert await world.ticker.send_due_realerts() == 0
    assert len(await world.rows(AuditEntry, AuditEntry.action == "escalation_realerted")) == 2


async def test_a_soon_escalation_acknowledged_has_no_resolution_deadline(world: World) -> None:
    for day in range(3):
        await world.checkin(day, pain=8, mood=5)
    [escalation] = await world.rows(Escalation)
    await world.send(press("ack", escalation, COACH), chat=COACH)
    [row] = await world.rows(Escalation)
    assert row.status == "acknowledged" and row.next_alert_at is None
    world.clock.now += dt.timedelta(days=10)
    assert await world.ticker.send_due_realerts() == 0


# -- absolute floors and a mood of 0 -------------------------------------------------------------------

async def test_pain_10_on_three_check_ins_at_a_usual_pain_of_10_reaches_a_coach(world: World) -> None:
    await world.add("baseline:pain_now", 10, MONDAY)  # a coach's re-base to 10
    for day in range(2):
        await world.checkin(day, pain=10, mood=5)
    assert await world.rows(Escalation) == []  # two days are not three
    await world.checkin(2, pain=10, mood=5)
    [escalation] = await world.rows(Escalation)
    assert (escalation.rule, escalation.tier) == ("pain_floor", "soon")
    [card] = cards(await world.rows(OutboxMessage))
    assert "whatever the usual level" in text_of(card)


async def test_mood_0_on_three_check_ins_at_a_usual_mood_of_0_reaches_a_coach_and_2_does_not(
        world: World) -> None:
    await world.add("baseline:mood_now", 0, MONDAY)
    for day in range(3):
        await world.checkin(day, pain=3, mood=2)
    assert await world.rows(Escalation) == []
    for day in range(3, 6):
        await world.checkin(day, pain=3, mood=1)
    assert [e.rule for e in await world.rows(Escalation)] == ["mood_floor"]


async def mood_answer_texts(world: World, mood: int) -> list[str]:
    world.clock.now = MONDAY + dt.timedelta(hours=1)
    await world.send(ChannelCommand("checkin"))
    await world.send(TextMessage("3"))
    result = await world.send(TextMessage(str(mood)))
    return [str(o.payload.get("text")) for o in result.outgoing if o.kind == "text"]


async def test_a_single_mood_of_0_is_answered_that_day_with_kindness_and_the_resources(world: World) -> None:
    said = await mood_answer_texts(world, 0)
    assert any("116 123" in text and "sorry" in text for text in said), said
    assert await world.rows(Escalation) == []  # a reply, not an escalation


async def test_a_mood_of_1_gets_no_crisis_resources(world: World) -> None:
    said = await mood_answer_texts(world, 1)
    assert said and not any("116 123" in text for text in said), said
