"""Self-management steps through the real bot: the step's "A different one" button, /steps with a
button per step, and the weekly summary's chart arriving as a photo."""

from __future__ import annotations

from coachbot.engine import StartDialog
from tests.e2e.test_telegram_conversation import onboard
from tests.support.coachbot_telegram import running_bot, settled
from tests.support.fake_bot_api import FakeBotApi


async def test_step_offer_swaps_by_button_and_steps_opens_one_by_button(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await onboard(alex, fake_bot_api)
        await alex.send_command("/checkin")
        pain = await alex.wait_for_message(lambda m: "How bad is your back pain right now" in m.text)
        await alex.click("4", message=pain)
        await alex.wait_for_message(lambda m: "how is your mood right now" in m.text)
        await alex.send_text("6")
        await alex.wait_for_message(lambda m: "anything else you would like your coach to know" in m.text)
        await alex.send_text("skip")
        step = await alex.wait_for_message(lambda m: m.buttons == [["A different one"]])
        await alex.wait_for_message(lambda m: "That is today's check-in done" in m.text)
        press = await alex.click("A different one", message=step)
        assert (await press.wait_answered())["text"] is None, "no 'expired' pop-up for a step button"
        other = await alex.wait_for_message(lambda m: m.buttons == [["A different one"]] and m is not step)
        assert other.text.split("\n")[0] != step.text.split("\n")[0]
        await alex.send_command("/steps")
        listing = await alex.wait_for_message(lambda m: "Steps that may suit you now" in m.text)
        first = listing.buttons[0][0]
        await alex.click(first, message=listing)
        await alex.wait_for_message(lambda m: m.text.startswith(first) and m is not listing)
        await settled(fake_bot_api, bot)


async def test_weekly_review_summary_and_chart_reach_the_patient(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    alex = fake_bot_api.user(43, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await onboard(alex, fake_bot_api)
        # The scheduler starts the weekly review this way (coachbot/adapters/checkin_start.py).
        result = await bot.service.handle_update(10**9, 43, StartDialog("weekly_review"))
        bot.sender.offer(result.queued)
        await alex.wait_for_message(lambda m: "weekly review" in m.text)
        for answer in ["5", "5", "5", "0", "0", "0", "0", "6", "3"]:
            await alex.send_text(answer)
            await settled(fake_bot_api, bot)
        summary = await alex.wait_for_message(lambda m: "look back at your week" in m.text)
        assert "Steps you said helped" in summary.text or "not marked a step" in summary.text
        await settled(fake_bot_api, bot)
    photos = fake_bot_api.calls_to("sendPhoto", status=200)
    assert len(photos) == 1
    sent = [m for m in alex.messages() if m.photo is not None]
    assert len(sent) == 1 and sent[0].photo.startswith(b"\x89PNG") and "day by day" in (sent[0].caption or "")
    assert sent[0].message_id > summary.message_id, "the chart follows the summary"
