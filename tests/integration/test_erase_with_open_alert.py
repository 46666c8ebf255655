"""Erasing a patient while an urgent escalation about them is open (SQLite, and PostgreSQL when
configured): the erasure still happens as promised, the card with it, but nobody loses the alert in
silence. The patient is told before and after that their coach can no longer reach them here; the
coach, and the coaches' group when set, are told plainly. /forget, and `coachbot patients erase`."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from coachbot.adapters.db.models import Coach, Escalation, OutboxMessage, Patient
from coachbot.app.channel import Press
from coachbot.app.data_rights.requests import ERASE
from coachbot.app.escalations.alerts import AlertSettings
from coachbot.engine import TextMessage
from tests.integration.test_data_rights import COACH, MONDAY, Sessions, World, cli

GROUP = -100777
OPEN_ALERT_WARNING = "has not finished following it up"
COACH_URGENT = "erased their information while an urgent alert about them was still open"


@pytest.fixture
async def world(session_factory: Sessions) -> World:
    """An onboarded patient whose coach is registered (as in test_data_rights)."""
    w = World(session_factory)
    async with session_factory() as session, session.begin():
        session.add(Coach(telegram_user_id=COACH, name="Sam", created_at=MONDAY))
    await w.onboard()
    return w


def texts(result: object, chat: int | None = None) -> list[str]:
    return [o.payload.get("text", "") for o in result.outgoing  # type: ignore[attr-defined]
            if o.chat_id == chat]


async def crisis(world: World) -> str:
    await world.send(TextMessage("I want to kill myself"))
    [escalation] = await world.rows(Escalation)
    assert (escalation.tier, escalation.status) == ("urgent", "open")
    return await world.label()


async def test_forget_with_an_urgent_escalation_open_warns_first_then_erases_and_tells_coach_and_group(
        world: World) -> None:
    world.service.alerts = AlertSettings(group_chat_id=GROUP)
    label = await crisis(world)

    asked = await world.send(TextMessage("/forget"))
    question = texts(asked)[-1]
    assert question.index("Do you want us to erase") < question.index(OPEN_ALERT_WARNING)
    assert "not be able to reach you through this chat" in question

    done = await world.send(Press(token=ERASE, value="yes"))

    assert await world.rows(Patient) == [] and await world.rows(Escalation) == []
    [confirmation] = texts(done)
    assert "has been erased" in confirmation and "can no longer reach you through this chat" in confirmation
    assert "999" in confirmation
    for chat in (COACH, GROUP):
        [told] = texts(done, chat)
        assert told.startswith(f"URGENT: patient {label} {COACH_URGENT}")
        assert "asked for their information to be erased" not in told
    queued = await world.rows(OutboxMessage, OutboxMessage.chat_id.in_([COACH, GROUP]),
                              OutboxMessage.sent_at.is_(None))
    assert sorted(r.chat_id for r in queued if COACH_URGENT in r.payload.get("text", "")) == [GROUP, COACH]


async def test_an_acknowledged_but_unresolved_urgent_escalation_still_counts_as_open(world: World) -> None:
    label = await crisis(world)
    async with world.sessions() as session, session.begin():
        escalation = (await session.execute(select(Escalation))).scalar_one()
        escalation.status = "acknowledged"
    done = await world.send(TextMessage("/forget yes"))
    assert [t for t in texts(done, COACH) if COACH_URGENT in t] and label in texts(done, COACH)[0]


async def test_forget_with_only_a_resolved_or_routine_escalation_is_the_plain_erasure(world: World) -> None:
    await crisis(world)
    await world.send(TextMessage("can someone ring me"))  # asks_for_person: a routine escalation
    async with world.sessions() as session, session.begin():
        for escalation in (await session.execute(select(Escalation))).scalars():
            if escalation.tier == "urgent":
                escalation.status = "resolved"
    asked = await world.send(TextMessage("/forget"))
    assert OPEN_ALERT_WARNING not in texts(asked)[-1]
    done = await world.send(Press(token=ERASE, value="yes"))
    assert "can no longer reach you" not in texts(done)[0]
    [told] = texts(done, COACH)
    assert "asked for their information to be erased" in told and "URGENT" not in told


async def test_staff_erase_with_an_urgent_escalation_open_tells_the_coach_plainly_and_says_so(
        world: World, migrated_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    label = await crisis(world)
    assert await cli(["patients", "erase", label, "--yes", "--database-url", migrated_url]) == 0
    printed = capsys.readouterr().out
    assert f"erased {label}" in printed and "urgent escalation about them was still open" in printed
    assert await world.rows(Patient) == [] and await world.rows(Escalation) == []
    told = [r.payload["text"] for r in await world.rows(OutboxMessage, OutboxMessage.chat_id == COACH,
                                                        OutboxMessage.sent_at.is_(None))]
    assert [t for t in told if t.startswith(f"URGENT: patient {label} {COACH_URGENT}")]
