"""The PHQ-9 end to end through PTB and the fake Bot API: a positive PHQ-2 on day 3 offers the PHQ-9,
and "thoughts that you would be better off dead" on more than no days gives the crisis resources at
once and sends the coach an urgent card."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from coachbot.adapters.db.models import Escalation
from tests.e2e.test_telegram_conversation import onboard
from tests.e2e.test_telegram_escalation import START, bot_at
from tests.support.basics import Clock
from tests.support.coachbot_telegram import add_coach, settled
from tests.support.fake_bot_api import FakeBotApi

SAM = 900
PHQ9_ITEMS_1_TO_8 = ["Nearly every day", "More than half the days", "Several days", "Several days",
                     "Not at all", "Several days", "Not at all", "Not at all"]


async def test_positive_phq2_offers_the_phq9_and_item9_gives_crisis_resources_and_an_urgent_card(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    await add_coach(database_url, SAM, "Sam")
    sam, alex = fake_bot_api.user(SAM, "Sam"), fake_bot_api.user(42, "Alex")
    clock = Clock(START)
    async with bot_at(fake_bot_api, database_url, clock) as bot:
        await onboard(alex, fake_bot_api)
        clock.now = START + dt.timedelta(days=3)
        await alex.send_command("/checkin")
        pain = await alex.wait_for_message(lambda m: "How bad is your back pain right now" in m.text)
        await alex.click("4", message=pain)
        await alex.wait_for_message(lambda m: "how is your mood right now" in m.text)
        await alex.send_text("5")
        first = await alex.wait_for_message(lambda m: "Little interest or pleasure" in m.text)
        await alex.click("Nearly every day", message=first)
        second = await alex.wait_for_message(lambda m: "Feeling down, depressed" in m.text)
        await alex.click("More than half the days", message=second)
        offer = await alex.wait_for_message(lambda m: "Would you answer 9 more questions" in m.text)
        await alex.click("Yes", message=offer)
        for answer in PHQ9_ITEMS_1_TO_8:
            await alex.send_text(answer)
        item9 = await alex.wait_for_message(lambda m: "better off dead" in m.text)
        await alex.click("Several days", message=item9)
        resources = await alex.wait_for_message(lambda m: "Samaritans on 116 123" in m.text)
        # The card carries a chart drawn by a helper process: slow to start on a busy machine.
        card = await sam.wait_for_message(lambda m: "URGENT" in (m.caption or m.text or ""), timeout=30)
        await settled(fake_bot_api, bot)
        async with bot.core.sessions() as session:
            rows = (await session.execute(select(Escalation.tier, Escalation.rule))).all()

    assert "call 999 or go to A&E" in resources.text
    assert ("urgent", "crisis") in rows
    assert "Rule: crisis" in (card.caption or card.text)
