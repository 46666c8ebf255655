"""Words outside a dialog after a crisis flow has ended, through the service on a real database: while
the urgent escalation waits for a coach, the answer says the coach knows and where help is, and offers
no steps or check-ins (the patient was told coaching is paused); once a coach resolves it, the usual
answer comes back. Found by trying the crisis flows as a patient in the terminal chat."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from coachbot.adapters.db.models import Coach, Escalation
from coachbot.engine import TextMessage
from tests.integration.test_data_rights import COACH, MONDAY, Sessions, World
from tests.integration.test_erase_with_open_alert import texts

COACH_KNOWS = "Your coach knows what you told me earlier"


@pytest.fixture
async def world(session_factory: Sessions) -> World:
    """An onboarded patient whose coach is registered (as in test_data_rights)."""
    w = World(session_factory)
    async with session_factory() as session, session.begin():
        session.add(Coach(telegram_user_id=COACH, name="Sam", created_at=MONDAY))
    await w.onboard()
    return w


async def test_words_after_a_crisis_say_the_coach_knows_and_offer_no_steps_until_it_is_resolved(
        world: World) -> None:
    await world.send(TextMessage("I want to kill myself"))
    await world.send(TextMessage("no"))  # the crisis flow ends
    [said] = texts(await world.send(TextMessage("I feel fine now")))
    assert COACH_KNOWS in said and "/steps" not in said and "116 123" in said

    async with world.sessions() as session, session.begin():
        await session.execute(update(Escalation).values(status="acknowledged"))
    [said] = texts(await world.send(TextMessage("thanks")))
    assert COACH_KNOWS in said, "acknowledged is not resolved: the coach has still to speak with them"

    async with world.sessions() as session, session.begin():
        await session.execute(update(Escalation).values(status="resolved"))
    [said] = texts(await world.send(TextMessage("hello again")))
    assert COACH_KNOWS not in said and "/steps" in said


async def test_words_outside_a_dialog_with_only_a_soon_escalation_get_the_usual_answer(world: World) -> None:
    await world.send(TextMessage("my leg has gone weak"))  # red_flag_urgent: a soon escalation
    [said] = texts(await world.send(TextMessage("ok")))
    assert COACH_KNOWS not in said and "/checkin" in said
