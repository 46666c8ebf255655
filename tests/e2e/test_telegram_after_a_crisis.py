"""Words outside a dialog after a crisis flow, through the real bot (PTB over HTTP, the fake Bot API, a
real database): while the urgent alert waits for a coach, the answer says the coach knows and where
help is, and offers no steps or check-ins."""

from __future__ import annotations

from tests.e2e.test_telegram_conversation import onboard
from tests.support.coachbot_telegram import add_coach, running_bot
from tests.support.fake_bot_api import FakeBotApi

COACH_ID = 900


async def test_after_an_overdose_flow_the_idle_answer_says_the_coach_knows_and_offers_no_steps(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    await add_coach(database_url, COACH_ID, "Sam")
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url):
        await onboard(alex, fake_bot_api)
        await alex.send_text("took my entire week of tablets")
        question = await alex.wait_for_message(lambda m: "A&E" in m.text and bool(m.buttons))
        await alex.click("No", message=question)
        await alex.wait_for_message(lambda m: "Please call 999 now" in m.text)
        await alex.send_text("I feel fine now")
        idle = await alex.wait_for_message(lambda m: "Thank you for telling me" in m.text)
    assert "Your coach knows what you told me earlier" in idle.text
    assert "/steps" not in idle.text and "/checkin" not in idle.text and "999" in idle.text
