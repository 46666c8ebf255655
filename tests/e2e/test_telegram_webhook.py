"""Webhook mode: the fake server posts updates to PTB's webhook server with the secret token."""

from __future__ import annotations

from coachbot.adapters.db.models import ProcessedUpdate
from tests.support.coachbot_telegram import count, measurements, running_bot, settled
from tests.support.fake_bot_api import FakeBotApi

SECRET = "s3cret-Token_1-long-enough"


def webhook(port: int) -> dict[str, object]:
    return {"webhook_url": f"http://127.0.0.1:{port}/telegram", "webhook_port": port,
            "webhook_listen": "127.0.0.1", "webhook_secret": SECRET}


async def test_webhook_conversation_with_buttons_and_redelivery(
        fake_bot_api: FakeBotApi, database_url: str, unused_tcp_port: int) -> None:
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url, webhook=True, **webhook(unused_tcp_port)) as bot:
        assert fake_bot_api.mode == "webhook" and fake_bot_api.webhook_secret == SECRET
        assert fake_bot_api.webhook_url == f"http://127.0.0.1:{unused_tcp_port}/telegram"
        await alex.send_command("/start")
        await alex.wait_for_message(lambda m: bool(m.buttons))
        await alex.click("Yes")
        await alex.wait_for_message(lambda m: "call you" in m.text)
        name = await alex.send_text("Alex")
        emergency = await alex.wait_for_message(lambda m: "Do you have any of these" in m.text)
        await fake_bot_api.redeliver(name.update_id)
        await alex.click("No", message=emergency)
        await alex.wait_for_message(lambda m: "And do you have any of these" in m.text)
        await settled(fake_bot_api, bot)
        stored = await measurements(bot, 42)
        processed = await count(bot, ProcessedUpdate)
    assert stored == [("rf_emergency", 0.0)]
    assert processed == 4
    assert sum("Do you have any of these" in t for t in alex.texts()) == 1


async def test_webhook_refuses_a_wrong_secret(
        fake_bot_api: FakeBotApi, database_url: str, unused_tcp_port: int) -> None:
    alex = fake_bot_api.user(42, "Alex")
    fake_bot_api.webhook_max_attempts = 2
    async with running_bot(fake_bot_api, database_url, webhook=True, **webhook(unused_tcp_port)) as bot:
        fake_bot_api.override_webhook_secret("forged-secret")
        forged = await alex.send_command("/start")
        await fake_bot_api.wait_until(lambda: forged.update_id in fake_bot_api.dropped_update_ids)
        fake_bot_api.clear_webhook_secret_override()
        await alex.assert_no_message(within=0.2)
        fake_bot_api.override_webhook_secret(None)  # no header at all
        bare = await alex.send_command("/start")
        await fake_bot_api.wait_until(lambda: bare.update_id in fake_bot_api.dropped_update_ids)
        fake_bot_api.clear_webhook_secret_override()
        processed = await count(bot, ProcessedUpdate)
    statuses = {d.status for d in fake_bot_api.webhook_deliveries if d.update_id in (forged.update_id,
                                                                                     bare.update_id)}
    assert statuses == {403}
    assert processed == 0 and alex.messages() == []
