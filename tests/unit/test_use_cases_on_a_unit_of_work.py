"""The use cases that run on the unit of work, tested against the in-memory one (tests/support/fake_uow.py):
no database, just the rules, the records they change and what they queue."""

from __future__ import annotations

import datetime as dt

from coachbot.app import outbox
from coachbot.app.channel import EscalationNotice, Outgoing
from coachbot.app.coaches.relay import IDLE_AFTER, live_relay, relay_from_patient
from coachbot.app.escalations.alerts import AlertSettings, alert_rows
from coachbot.app.escalations.deadlines import EscalationTicker
from coachbot.app.escalations.raising import evaluate_patient, open_or_update
from coachbot.app.self_management.overrides import coach_step_command
from coachbot.engine import TextMessage
from tests.support.basics import library
from tests.support.fake_uow import FakeCoach, FakePatient, FakeUnitOfWorks
from tests.support.self_management import care

MONDAY = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
THIRD_DAY = MONDAY + dt.timedelta(days=2, minutes=1)


def pain_three_days_two_above_usual() -> FakeUnitOfWorks:
    uows = FakeUnitOfWorks()
    uows.store.patients[1] = FakePatient(1, "P-TEST", chat_id=42)
    uows.store.measure(1, "pain_usual", 6, MONDAY - dt.timedelta(days=1), "onboarding")
    for day in range(3):
        uows.store.measure(1, "pain_now", 8, MONDAY + dt.timedelta(days=day))
    return uows


async def test_pain_two_above_usual_on_three_days_opens_a_soon_escalation_with_its_deadline() -> None:
    uows = pain_three_days_two_above_usual()
    async with uows() as uow:
        [notice] = await evaluate_patient(uow, 1, "P-TEST", "Europe/London", rules=library().escalation,
                                          now=THIRD_DAY, answering=True)
        assert uows.store.escalations == [], "nothing is kept before the commit"
        await uow.commit()
    [row] = uows.store.escalations
    assert (notice.rule, notice.tier, notice.is_new) == ("pain_worse", "soon", True)
    assert (row.rule, row.status) == ("pain_worse", "open")
    assert row.due_at is not None and row.next_alert_at == row.due_at > THIRD_DAY
    assert [entry["action"] for entry in uows.store.audit] == ["escalation_opened"]


async def test_an_evaluation_left_without_commit_keeps_nothing() -> None:
    uows = pain_three_days_two_above_usual()
    async with uows() as uow:
        assert await evaluate_patient(uow, 1, "P-TEST", "Europe/London", rules=library().escalation,
                                      now=THIRD_DAY, answering=True)
    assert uows.store.escalations == [] and uows.store.audit == []


async def test_the_rule_holding_again_while_its_escalation_is_open_raises_nothing_new() -> None:
    uows = pain_three_days_two_above_usual()
    rules = library().escalation
    async with uows() as uow:
        await evaluate_patient(uow, 1, "P-TEST", "Europe/London", rules=rules, now=THIRD_DAY, answering=True)
        uow.measures.record(1, "pain_now", 9, script="daily", state="pain",
                            now=THIRD_DAY + dt.timedelta(days=1))
        later = await evaluate_patient(uow, 1, "P-TEST", "Europe/London", rules=rules,
                                       now=THIRD_DAY + dt.timedelta(days=1, minutes=1), answering=True)
        await uow.commit()
    assert later == [], "a coach already has it: no notice, so no new card"
    assert len(uows.store.escalations) == 1
    assert [entry["action"] for entry in uows.store.audit] == ["escalation_opened"]


async def test_a_crisis_statement_after_acknowledgement_reopens_the_escalation_as_worse() -> None:
    uows = FakeUnitOfWorks()
    uows.store.patients[1] = FakePatient(1, "P-TEST", chat_id=42)
    rules = library().escalation
    async with uows() as uow:
        first = await open_or_update(uow, 1, "P-TEST", "Europe/London", tier="urgent", rule="crisis",
                                     reason="plans", evidence={"last_days": []}, now=MONDAY, rules=rules,
                                     severity=4, stated=True)
        first.row.status, first.row.acknowledged_at, first.row.acknowledged_by = "acknowledged", MONDAY, 7
        again = await open_or_update(uow, 1, "P-TEST", "Europe/London", tier="urgent", rule="crisis",
                                     reason="tonight", evidence={"last_days": []},
                                     now=MONDAY + dt.timedelta(hours=2), rules=rules, severity=4, stated=True)
        await uow.commit()
    [row] = uows.store.escalations
    assert (again.is_new, again.worse) == (False, "tonight")
    assert (row.status, row.acknowledged_by) == ("open", None)
    assert row.due_at is not None and row.due_at > MONDAY + dt.timedelta(hours=2)
    assert [entry["action"] for entry in uows.store.audit] == ["escalation_opened", "escalation_worse"]


class Cards:
    """Just enough of a Channel for alert cards and plain text."""

    def coach_alert(self, notice: EscalationNotice, chat_id: int) -> Outgoing:
        return Outgoing(kind="alert", payload={"name": notice.patient_name}, chat_id=chat_id,
                        escalation_id=notice.escalation_id)

    def text(self, text: str, chat_id: int | None = None) -> list[Outgoing]:
        return [Outgoing(kind="text", payload={"text": text}, chat_id=chat_id)]


def notice(escalation_id: int = 1) -> EscalationNotice:
    return EscalationNotice(escalation_id=escalation_id, patient_label="P-TEST", tier="soon",
                            rule="pain_worse", reason="", evidence={}, is_new=True)


async def test_a_card_for_a_patient_without_a_coach_goes_to_the_least_busy_coach_who_keeps_them() -> None:
    uows = FakeUnitOfWorks()
    db = uows.store
    db.coaches[1] = FakeCoach(1, "Busy", telegram_user_id=901)
    db.coaches[2] = FakeCoach(2, "Free", telegram_user_id=902)
    db.coaches[3] = FakeCoach(3, "Away", telegram_user_id=903, active=False)
    db.patients[5] = FakePatient(5, "P-OTHER", chat_id=50, coach_id=1)
    db.patients[1] = FakePatient(1, "P-TEST", chat_id=42, name="Alex")
    async with uows() as uow:
        cards = await alert_rows(uow, 1, [notice()], Cards(), AlertSettings(show_name=False))  # type: ignore[arg-type]
        queued = await outbox.queue(uow, cards, chat_id=42, patient_id=1, label="P-TEST", now=MONDAY)
        await uow.commit()
    assert [(card.chat_id, card.payload["name"]) for card in cards] == [(902, None)]
    assert db.patients[1].coach_id == 2
    assert [(q.chat_id, q.patient_id, q.label) for q in queued] == [(902, None, "escalation:1")]


async def test_with_no_coach_registered_no_card_is_queued_and_the_escalation_waits() -> None:
    uows = FakeUnitOfWorks()
    uows.store.patients[1] = FakePatient(1, "P-TEST", chat_id=42)
    async with uows() as uow:
        assert await alert_rows(uow, 1, [notice()], Cards(), AlertSettings()) == []  # type: ignore[arg-type]


async def test_a_relay_idle_for_a_day_closes_itself_and_the_message_takes_the_usual_path() -> None:
    uows = FakeUnitOfWorks()
    db = uows.store
    db.coaches[1] = FakeCoach(1, "Sam", telegram_user_id=901)
    db.patients[1] = FakePatient(1, "P-TEST", chat_id=42, coach_id=1)
    async with uows() as uow:
        await uow.relays.open(1, 1, MONDAY)
        now = MONDAY + IDLE_AFTER
        relayed = await relay_from_patient(uow, db.patients[1], TextMessage("hello"), channel=Cards(),  # type: ignore[arg-type]
                                           now=now, words=library().service.channel.coach_tools)
        assert relayed is None
        assert await live_relay(uow, 1, now) is None
        await uow.commit()
    assert db.relays == {}
    assert [entry["action"] for entry in db.audit] == ["relay_expired"]


async def test_a_live_relay_forwards_the_words_to_the_coach_and_logs_only_their_length() -> None:
    uows = FakeUnitOfWorks()
    db = uows.store
    db.coaches[1] = FakeCoach(1, "Sam", telegram_user_id=901)
    db.patients[1] = FakePatient(1, "P-TEST", chat_id=42, coach_id=1)
    async with uows() as uow:
        await uow.relays.open(1, 1, MONDAY)
        later = MONDAY + dt.timedelta(hours=1)
        relayed = await relay_from_patient(uow, db.patients[1], TextMessage("my back is worse"),  # type: ignore[arg-type]
                                           channel=Cards(), now=later,  # type: ignore[arg-type]
                                           words=library().service.channel.coach_tools)
        await uow.commit()
    assert relayed is not None and [item.chat_id for item in relayed.to_coach] == [901]
    assert "my back is worse" in relayed.to_coach[0].payload["text"]
    assert db.relays[1].updated_at == later
    assert db.audit == [{"actor": "P-TEST", "action": "relay_to_coach", "subject": "P-TEST",
                         "detail": {"coach": 1, "length": len("my back is worse")}}]


async def test_a_coach_pins_only_their_own_patients_steps_and_a_stranger_hears_no_such_patient() -> None:
    steps, words = care().steps, care().texts.coach
    step = steps.steps[0].id
    uows = FakeUnitOfWorks()
    db = uows.store
    mine, theirs = FakeCoach(1, "Sam", telegram_user_id=901), FakeCoach(2, "Kim", telegram_user_id=902)
    db.coaches.update({1: mine, 2: theirs})
    db.patients[1] = FakePatient(1, "P-AAAAAA", chat_id=42, coach_id=1)
    async with uows() as uow:
        pinned = await coach_step_command(uow, mine, f"/pin P-AAAAAA {step}", steps=steps, words=words,
                                          now=MONDAY)
        refused = await coach_step_command(uow, theirs, f"/block P-AAAAAA {step}", steps=steps, words=words,
                                           now=MONDAY)
        unknown = await coach_step_command(uow, theirs, f"/block P-ZZZZZZ {step}", steps=steps, words=words,
                                           now=MONDAY)
        await uow.commit()
    assert [(o.patient_id, o.step_id, o.kind, o.coach_id) for o in db.overrides] == [(1, step, "pin", 1)]
    assert pinned is not None and refused == unknown.replace("P-ZZZZZZ", "P-AAAAAA")  # type: ignore[union-attr]
    assert [entry["action"] for entry in db.audit] == ["step_pin"]


class Service:
    """What the deadline ticker reads of the service: the rules file and the alert settings."""

    def __init__(self, group: int | None = None) -> None:
        self.engine = type("E", (), {"library": library()})()
        self.alerts = AlertSettings(group_chat_id=group)


async def test_an_urgent_escalation_past_its_deadline_goes_to_the_backups_and_the_group_once() -> None:
    uows = FakeUnitOfWorks()
    db = uows.store
    db.coaches[1] = FakeCoach(1, "Sam", telegram_user_id=901)
    db.coaches[2] = FakeCoach(2, "Backup", telegram_user_id=902, is_backup=True)
    db.patients[1] = FakePatient(1, "P-TEST", chat_id=42, coach_id=1)
    async with uows() as uow:
        await open_or_update(uow, 1, "P-TEST", "Europe/London", tier="urgent", rule="crisis",
                             reason="plans", evidence={"last_days": []}, now=MONDAY,
                             rules=library().escalation, stated=True)
        await uow.commit()
    [row] = db.escalations
    assert row.next_alert_at == MONDAY + dt.timedelta(minutes=60)
    queued: list[object] = []
    clock = [MONDAY + dt.timedelta(minutes=30)]
    ticker = EscalationTicker(uows, Service(group=-100), Cards(),  # type: ignore[arg-type]
                              clock=lambda: clock[0], on_queued=queued.extend)
    assert await ticker.send_due_realerts() == 0, "not due yet"
    clock[0] = MONDAY + dt.timedelta(minutes=61)
    assert await ticker.send_due_realerts() == 1
    assert await ticker.send_due_realerts() == 0, "the next re-send waits realert_every"
    assert sorted(row["chat_id"] for row in db.outbox) == [-100, 902]
    assert all(row["patient_id"] is None for row in db.outbox), "a coach's row marks no patient"
    [row] = db.escalations
    assert (row.realerts, row.next_alert_at) == (1, MONDAY + dt.timedelta(minutes=90))
    assert [entry["action"] for entry in db.audit][-1] == "escalation_realerted"
    assert len(queued) == 2
