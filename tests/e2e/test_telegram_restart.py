"""State lives in the database: a restart resumes exactly where the patient was, and nothing is doubled."""

from __future__ import annotations

import asyncio
from typing import Any

from coachbot.adapters.db.models import ProcessedUpdate
from tests.support.coachbot_telegram import count, measurements, outbox_rows, patient, running_bot, settled
from tests.support.fake_bot_api import FakeBotApi


async def test_restart_mid_onboarding_carries_on_with_nothing_lost_or_doubled(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await alex.send_command("/start")
        await alex.wait_for_message(lambda m: bool(m.buttons))
        await alex.click("Yes")
        await alex.wait_for_message(lambda m: "call you" in m.text)
        name = await alex.send_text("Alex")
        emergency = await alex.wait_for_message(lambda m: "Do you have any of these" in m.text)
        await settled(fake_bot_api, bot)
    assert not fake_bot_api.pending_updates

    async with running_bot(fake_bot_api, database_url) as bot:  # a new Application, the same database
        await fake_bot_api.redeliver(name.update_id)  # as Telegram does after a crash before confirming
        await alex.click("No", message=emergency)  # the old message's button still counts
        await alex.wait_for_message(lambda m: "And do you have any of these" in m.text)
        await alex.send_text("no")
        await alex.wait_for_message(lambda m: "how bad has your back pain usually been" in m.text)
        await settled(fake_bot_api, bot)
        stored = await measurements(bot, 42)
        row = await patient(bot, 42)

    assert stored == [("rf_emergency", 0.0), ("rf_urgent", 0.0)]
    assert row is not None and row.name == "Alex" and row.consent_at is not None
    texts = alex.texts()
    assert len(texts) == len(set(texts))  # every bot message once: no question asked twice
    assert sum("Do you have any of these" in t for t in texts) == 1


async def test_redelivered_message_and_press_are_applied_once(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await alex.send_command("/start")
        consent = await alex.wait_for_message(lambda m: bool(m.buttons))
        press = await alex.click("Yes")
        await alex.wait_for_message(lambda m: "call you" in m.text)
        name = await alex.send_text("Alex")
        await alex.wait_for_message(lambda m: "Do you have any of these" in m.text)
        await settled(fake_bot_api, bot)
        sent_before = fake_bot_api.count("sendMessage") + fake_bot_api.count("editMessageText")

        assert press.update_id is not None
        await fake_bot_api.redeliver(press.update_id)
        await fake_bot_api.redeliver(name.update_id)
        await alex.send_command("/help")  # a later update, to know the redeliveries were handled
        await alex.wait_for_message(lambda m: "Here are the words you can type" in m.text)
        await settled(fake_bot_api, bot)
        processed = await count(bot, ProcessedUpdate)
        rows = await outbox_rows(bot, 42)
        row = await patient(bot, 42)

    assert fake_bot_api.count("sendMessage") + fake_bot_api.count("editMessageText") == sent_before + 1
    assert processed == 4  # /start, the press, the name, /help: each once
    assert len(consent.versions) == 1  # edited once, not again
    assert row is not None and row.name == "Alex"
    assert all(r.sent_at is not None for r in rows)


async def test_messages_unsent_at_shutdown_go_out_after_restart(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    alex = fake_bot_api.user(42, "Alex")
    fake_bot_api.inject_fault("sendMessage", status=502, times=1000, chat_id=42)  # Telegram unreachable
    async with running_bot(fake_bot_api, database_url) as bot:
        await alex.send_command("/start")
        # The second attempt comes after the first one's retry was recorded.
        await fake_bot_api.wait_until(lambda: fake_bot_api.count("sendMessage", status=502) >= 2)
        rows = await outbox_rows(bot, 42)
    assert [r.sent_at for r in rows] == [None] and rows[0].attempts >= 1
    assert alex.messages() == []

    fake_bot_api.clear_faults()
    async with running_bot(fake_bot_api, database_url) as bot:
        consent = await alex.wait_for_message(lambda m: bool(m.buttons))
        await settled(fake_bot_api, bot)
        rows = await outbox_rows(bot, 42)
    assert "Do you agree" in consent.text and len(alex.messages()) == 1
    assert rows[0].sent_at is not None and rows[0].message_id == consent.message_id


async def test_an_update_is_confirmed_to_telegram_only_after_its_answer_is_committed(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    """Were the bot to die while an answer is being handled, Telegram must still hold the update."""
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await alex.send_command("/start")
        await alex.wait_for_message(lambda m: bool(m.buttons))
        handle_update, release = bot.service.handle_update, asyncio.Event()

        async def slow_handle_update(*args: Any) -> Any:
            await release.wait()
            return await handle_update(*args)

        bot.service.handle_update = slow_handle_update  # type: ignore[method-assign]
        press = await alex.click("Yes")
        assert press.update_id is not None
        try:
            await fake_bot_api.wait_until(lambda: press.update_id in bot.bot.unfinished,
                                          what="update fetched")
            await asyncio.sleep(0.5)  # PTB's polling loop would confirm it within milliseconds
            assert press.update_id in fake_bot_api.unconfirmed_update_ids
            assert await count(bot, ProcessedUpdate) == 1  # only the /start
        finally:
            release.set()
        await alex.wait_for_message(lambda m: "call you" in m.text)
        await fake_bot_api.wait_until(lambda: press.update_id not in fake_bot_api.unconfirmed_update_ids,
                                      what="update confirmed")
        assert await count(bot, ProcessedUpdate) == 2
