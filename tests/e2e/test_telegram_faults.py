"""Faults of Telegram and of the library, through the real bot against the fake Bot API: nothing stops,
nothing doubles, alerts first."""

from __future__ import annotations

import datetime as dt
import logging
import time

import pytest
from sqlalchemy import select

from coachbot.adapters.db.models import Escalation, OutboxMessage
from coachbot.adapters.telegram.app import BotClient, BotConfigError, TelegramBot, check_token
from tests.support.coachbot_telegram import add_coach, bot_settings, count, patient, running_bot, settled
from tests.support.fake_bot_api import FakeBotApi

COACH_ID = 900
STATEMENT = "I plan to end my life tonight"


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


async def test_an_unreadable_update_is_skipped_screened_for_crisis_and_holds_up_nobody(
        fake_bot_api: FakeBotApi, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    await add_coach(database_url, COACH_ID, "Sam")
    sam = fake_bot_api.user(COACH_ID, "Sam")
    alex = fake_bot_api.user(42, "Alexandra")
    bo = fake_bot_api.user(43, "Bo")
    async with running_bot(fake_bot_api, database_url) as bot:
        unreadable = await alex.send_unreadable_text(STATEMENT)
        await bo.send_command("/start")
        welcome = await bo.wait_for_message(lambda m: bool(m.buttons))
        resources = await alex.wait_for_message(lambda m: "Samaritans" in m.text)
        card = await sam.wait_for_message(lambda m: "alert for patient" in m.content)
        await alex.send_unreadable_text("a second one")
        await bo.click("Yes", message=welcome)
        await bo.wait_for_message(lambda m: "call you" in m.text)
        await settled(fake_bot_api, bot)
        escalations = await count(bot, Escalation)
        polls = fake_bot_api.count("getUpdates")
    assert "116 123" in resources.text and card.content.startswith("URGENT")
    assert escalations == 1
    assert unreadable.update_id not in fake_bot_api.unconfirmed_update_ids
    assert fake_bot_api.pending_updates == []
    assert polls < 30  # a batch refused over and over would poll hundreds of times a second
    warnings = [r for r in caplog.records
                if r.levelno >= logging.WARNING and "could not be read" in r.getMessage()]
    assert len(warnings) == 1 and str(unreadable.update_id) in warnings[0].getMessage()
    text = logged(caplog)
    assert "end my life" not in text and "a second one" not in text and "Alexandra" not in text


async def test_a_redelivered_update_is_dropped_with_a_warning_naming_only_its_id(
        fake_bot_api: FakeBotApi, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    alex = fake_bot_api.user(42, "Alexandra")
    async with running_bot(fake_bot_api, database_url) as bot:
        start = await alex.send_command("/start")
        await alex.wait_for_message(lambda m: bool(m.buttons))
        await settled(fake_bot_api, bot)
        await fake_bot_api.redeliver(start.update_id)
        await fake_bot_api.wait_until(lambda: "already applied" in logged(caplog), what="the warning")
        await alex.assert_no_message(within=0.3)
    dropped = [r for r in caplog.records if "already applied" in r.getMessage()]
    assert len(dropped) == 1 and dropped[0].levelno == logging.WARNING
    assert str(start.update_id) in dropped[0].getMessage() and "Alexandra" not in logged(caplog)
    assert sum(bool(m.buttons) for m in alex.messages()) == 1


async def queue_relays(bot: TelegramBot, chat_id: int, how_many: int) -> None:
    """Rows as a patient's long relayed messages leave them: committed, then offered to the sender."""
    now = dt.datetime.now(dt.UTC)
    async with bot.core.sessions() as session, session.begin():
        rows = [OutboxMessage(chat_id=chat_id, lane=0, kind="text", created_at=now, not_before=now,
                              attempts=0, payload={"text": f"P-XXXX wrote:\nmessage {i} " + "words " * 500})
                for i in range(how_many)]
        session.add_all(rows)
    bot.sender.wake()


async def test_an_alert_card_goes_before_relayed_messages_queued_in_the_coachs_chat(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    await add_coach(database_url, COACH_ID, "Sam")
    sam = fake_bot_api.user(COACH_ID, "Sam")
    alex = fake_bot_api.user(42, "Alex")
    # Telegram's own pace in a chat (one a second, as the production default): 30 relays take 30 s.
    async with running_bot(fake_bot_api, database_url, telegram_chat_sends_per_second=1.0,
                           telegram_chat_burst=1) as bot:
        await queue_relays(bot, COACH_ID, 30)
        await sam.wait_for_message(lambda m: "message 0 " in m.content)
        await alex.send_text(STATEMENT)
        started = time.monotonic()
        card = await sam.wait_for_message(lambda m: "alert for patient" in m.content, timeout=5)
        waited = time.monotonic() - started
    relayed_first = [m for m in sam.messages() if "wrote:" in m.content and m.message_id < card.message_id]
    assert len(relayed_first) <= 3 and waited < 3.0


async def test_a_resolve_note_is_taken_while_a_relay_conversation_is_open(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    await add_coach(database_url, COACH_ID, "Sam")
    sam = fake_bot_api.user(COACH_ID, "Sam")
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await alex.send_text(STATEMENT)
        card = await sam.wait_for_message(lambda m: "alert for patient" in m.content)
        row = await patient(bot, 42)
        assert row is not None
        await sam.send_command("/message", f"{row.label} I am here. Can we talk?")
        await sam.wait_for_message(lambda m: m.content.startswith(f"Sent to {row.label}."))
        await sam.click("Resolve", message=card)
        await sam.wait_for_message(lambda m: "Send your note" in m.content)
        await sam.send_text("Phoned Alex; safe with family tonight.")
        resolved = await sam.wait_for_message(lambda m: m.content.startswith("Resolved by Sam"))
        await settled(fake_bot_api, bot)
        async with bot.core.sessions() as session:
            escalation = (await session.execute(select(Escalation))).scalar_one()
    assert "not sent to anyone" not in resolved.content
    assert escalation.status == "resolved"
    assert escalation.resolution_note == "Phoned Alex; safe with family tonight."
    assert not any("Phoned Alex" in m.content for m in alex.messages())


async def test_slow_telegram_answers_neither_double_a_message_nor_reorder_a_chat(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    alex = fake_bot_api.user(42, "Alex")
    # Telegram takes 6 s to answer the first send (PTB's default would give up at 5 s and resend).
    fake_bot_api.inject_fault("sendMessage", status=200, delay=6.0, chat_id=42)
    async with running_bot(fake_bot_api, database_url) as bot:
        now = dt.datetime.now(dt.UTC)
        async with bot.core.sessions() as session, session.begin():
            session.add_all(OutboxMessage(chat_id=42, lane=0, kind="text", created_at=now, not_before=now,
                                          attempts=0, payload={"text": f"part {i}"}) for i in range(4))
        bot.sender.wake()
        await fake_bot_api.wait_until(lambda: len(alex.texts()) == 4, timeout=15, what="four messages")
        await settled(fake_bot_api, bot, timeout=5)
    assert alex.texts() == ["part 0", "part 1", "part 2", "part 3"]
    assert fake_bot_api.count("sendMessage") == 4


async def test_a_502_or_a_stall_at_start_is_asked_again_and_does_not_stop_the_bot(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    """Found by the soak: one 502 on the start-up getMe ended `coachbot run` with "cannot reach"."""
    fake_bot_api.inject_fault("getMe", status=502, times=2)
    client = BotClient(bot_settings(fake_bot_api, database_url))
    await check_token(client)  # the third getMe answers
    await client.close()
    fake_bot_api.inject_fault("getMe", status=502)
    async with running_bot(fake_bot_api, database_url):
        alex = fake_bot_api.user(42, "Alex")
        await alex.send_command("/start")
        await alex.wait_for_message()
    assert fake_bot_api.count("getMe", status=502) == 3
    fake_bot_api.inject_fault("getMe", status=502, times=3)  # not gone after the retries: a plain sentence
    with pytest.raises(BotConfigError, match="cannot reach the Bot API server"):
        await check_token(BotClient(bot_settings(fake_bot_api, database_url)))  # closed on failure
