"""Webhook mode: the fake server posts updates to the bot's webhook server with the secret token; the
server answers only after the commit, refuses unauthenticated and oversize posts unread, and skips an
unreadable update with a 200."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from coachbot.adapters.db.database import make_migration_engine
from coachbot.adapters.db.models import Escalation, ProcessedUpdate
from coachbot.adapters.telegram.webhook import MAX_BODY
from tests.e2e.test_telegram_cli import REPO, all_sends_recorded, environment
from tests.support.coachbot_telegram import add_coach, count, measurements, patient, running_bot, settled
from tests.support.db_faults import fail_update_commits
from tests.support.fake_bot_api import FakeBotApi

SECRET = "s3cret-Token_1-long-enough"
COACH_ID = 900
STATEMENT = "I plan to end my life tonight"


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


async def test_webhook_answers_only_after_the_commit_so_a_failed_commit_is_delivered_again_and_stored_once(
        fake_bot_api: FakeBotApi, database_url: str, unused_tcp_port: int) -> None:
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url, webhook=True, **webhook(unused_tcp_port)) as bot:
        await alex.send_command("/start")
        await alex.wait_for_message(lambda m: bool(m.buttons))
        await alex.click("Yes")
        await alex.wait_for_message(lambda m: "call you" in m.text)
        await alex.send_text("Alex")
        emergency = await alex.wait_for_message(lambda m: "Do you have any of these" in m.text)
        fault = fail_update_commits(bot.core.db)
        answer = await alex.click("No", message=emergency)
        await alex.wait_for_message(lambda m: "And do you have any of these" in m.text)
        await settled(fake_bot_api, bot)
        stored = await measurements(bot, 42)
        processed = await count(bot, ProcessedUpdate)
    statuses = [d.status for d in fake_bot_api.webhook_deliveries if d.update_id == answer.update_id]
    assert fault.failed == 1
    assert statuses == [500, 200]  # not answered until committed: Telegram delivered it again
    assert stored == [("rf_emergency", 0.0)]  # once
    assert processed == 4
    assert sum("And do you have any of these" in t for t in alex.texts()) == 1


async def raw_post(port: int, *, secret: str | None, body: bytes, length: int | None = None,
                   chunked: bool = False, wait: float = 5.0) -> int | None:
    """POST to the bot's webhook over a plain socket; the status, or None when no answer came within
    `wait` seconds (the server is waiting for the rest of a body `length` promised)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = ["POST /telegram HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
    if secret is not None:
        head.append(f"X-Telegram-Bot-Api-Secret-Token: {secret}")
    if chunked:
        head.append("Transfer-Encoding: chunked")
        body = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    else:
        head.append(f"Content-Length: {len(body) if length is None else length}")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode())
    writer.write(body)  # not drained: a server that answers without reading may close first
    try:
        async with asyncio.timeout(wait):
            status_line = await reader.readline()
    except TimeoutError:
        return None
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    return int(status_line.split()[1])


async def test_webhook_refuses_a_wrong_or_missing_secret_before_reading_the_body(
        fake_bot_api: FakeBotApi, database_url: str, unused_tcp_port: int) -> None:
    port = unused_tcp_port
    promised = 512 * 1024  # Content-Length says this much; only a few bytes ever come
    async with running_bot(fake_bot_api, database_url, webhook=True, **webhook(port)) as bot:
        wrong = await raw_post(port, secret="forged-secret-but-long", body=b'{"upd', length=promised)
        missing = await raw_post(port, secret=None, body=b'{"upd', length=promised)
        almost = await raw_post(port, secret=SECRET[:-1] + "X", body=b'{"upd', length=promised)
        waiting = await raw_post(port, secret=SECRET, body=b'{"upd', length=promised, wait=0.5)
        processed = await count(bot, ProcessedUpdate)
    assert (wrong, missing, almost) == (403, 403, 403)  # answered although the body never came
    assert waiting is None  # the right secret: the server does wait for the body
    assert processed == 0


async def test_webhook_refuses_a_body_over_one_mebibyte_with_413(
        fake_bot_api: FakeBotApi, database_url: str, unused_tcp_port: int) -> None:
    port = unused_tcp_port
    alex = fake_bot_api.user(42, "Alex")
    big = b'{"update_id": 1, "padding": "' + b"x" * MAX_BODY + b'"}'
    async with running_bot(fake_bot_api, database_url, webhook=True, **webhook(port)) as bot:
        declared = await raw_post(port, secret=SECRET, body=b"{}", length=2 * MAX_BODY)  # never sent
        streamed = await raw_post(port, secret=SECRET, body=big, chunked=True)
        await alex.send_command("/start")  # and the bot carries on
        await alex.wait_for_message(lambda m: bool(m.buttons))
        processed = await count(bot, ProcessedUpdate)
    assert (declared, streamed) == (413, 413)
    assert processed == 1


async def test_webhook_refuses_a_body_that_is_not_a_json_object_with_400(
        fake_bot_api: FakeBotApi, database_url: str, unused_tcp_port: int,
        caplog: pytest.LogCaptureFixture) -> None:
    port = unused_tcp_port
    caplog.set_level(logging.INFO)
    async with running_bot(fake_bot_api, database_url, webhook=True, **webhook(port)) as bot:
        garbled = await raw_post(port, secret=SECRET, body=b'{"text": "Rufus hurts')
        listed = await raw_post(port, secret=SECRET, body=b'["Rufus"]')
        processed = await count(bot, ProcessedUpdate)
    assert (garbled, listed) == (400, 400)
    assert processed == 0
    assert "Rufus" not in "\n".join(r.getMessage() for r in caplog.records)


async def test_webhook_skips_an_unreadable_update_with_200_after_screening_its_words(
        fake_bot_api: FakeBotApi, database_url: str, unused_tcp_port: int,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    await add_coach(database_url, COACH_ID, "Sam")
    sam = fake_bot_api.user(COACH_ID, "Sam")
    alex = fake_bot_api.user(42, "Alexandra")
    bo = fake_bot_api.user(43, "Bo")
    async with running_bot(fake_bot_api, database_url, webhook=True, **webhook(unused_tcp_port)) as bot:
        unreadable = await alex.send_unreadable_text(STATEMENT)
        resources = await alex.wait_for_message(lambda m: "Samaritans" in m.text)
        card = await sam.wait_for_message(lambda m: "alert for patient" in m.content)
        await bo.send_command("/start")  # nobody waits behind it
        await bo.wait_for_message(lambda m: bool(m.buttons))
        await settled(fake_bot_api, bot)
        escalations = await count(bot, Escalation)
    statuses = [d.status for d in fake_bot_api.webhook_deliveries if d.update_id == unreadable.update_id]
    assert statuses == [200]  # answered once: Telegram does not send it again and again
    assert "116 123" in resources.text and card.content.startswith("URGENT")
    assert escalations == 1
    said = "\n".join(r.getMessage() for r in caplog.records)
    assert str(unreadable.update_id) in said and "could not be read" in said
    assert "end my life" not in said and "Alexandra" not in said


async def test_webhook_bot_killed_mid_update_gets_the_update_again_and_applies_it_once(
        fake_bot_api: FakeBotApi, database_url: str, unused_tcp_port: int, tmp_path: Path) -> None:
    """`coachbot run --webhook` in its own process, killed with SIGKILL while an update it has been
    posted waits for the database: nothing was answered, so Telegram posts it again to the next bot."""
    port = unused_tcp_port
    alex = fake_bot_api.user(42, "Alex")
    fake_bot_api.webhook_max_attempts = 12  # about 100 s of retries: time for the restart
    settings = {f"COACHBOT_{key.upper()}": str(value) for key, value in webhook(port).items()}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "coachbot.cli", "run", "--webhook",
        env=environment(fake_bot_api, database_url, tmp_path, **settings), cwd=REPO,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        await fake_bot_api.wait_until(lambda: fake_bot_api.mode == "webhook", timeout=20, what="setWebhook")
        await alex.send_command("/start")
        await alex.wait_for_message(lambda m: bool(m.buttons), timeout=10)
        await alex.click("Yes")
        await alex.wait_for_message(lambda m: "call you" in m.text)
        await all_sends_recorded(database_url)
        async with database_held(database_url) as waiting:  # the update's transaction cannot commit
            name = await alex.send_text("Alex")
            await waiting()  # posted, and waiting for the database inside the bot
            process.kill()
            await process.wait()
        assert process.stderr is not None
        err = (await process.stderr.read()).decode()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    first = next(d for d in fake_bot_api.webhook_deliveries if d.update_id == name.update_id)
    assert first.status is None and "Disconnected" in str(first.error)  # posted, never answered

    async with running_bot(fake_bot_api, database_url, webhook=True, **webhook(port)) as bot:
        await alex.wait_for_message(lambda m: "Do you have any of these" in m.text, timeout=30)
        await settled(fake_bot_api, bot)
        processed = await count(bot, ProcessedUpdate)
        row = await patient(bot, 42)
    assert row is not None and row.name == "Alex"
    assert processed == 3
    assert sum("Do you have any of these" in t for t in alex.texts()) == 1
    assert "Traceback" not in err and fake_bot_api.token not in err and SECRET not in err


@contextlib.asynccontextmanager
async def database_held(database_url: str) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Hold a lock that every update's transaction waits for (SQLite: the write lock, taken by the
    migration engine's BEGIN IMMEDIATE; PostgreSQL: the processed-update table), then let go. Yields a
    wait for the bot to be stuck behind it: on PostgreSQL until the server shows the bot's session
    waiting for the lock; on SQLite, which shows nothing, 2.5 s (the bot's busy timeout is 10 s)."""
    engine = make_migration_engine(database_url)
    watcher = make_migration_engine(database_url)
    sqlite = database_url.startswith("sqlite")

    async def stuck() -> None:
        if sqlite:
            await asyncio.sleep(2.5)
            return
        async with asyncio.timeout(15):
            while True:
                async with watcher.connect() as watching:
                    waits = (await watching.exec_driver_sql(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND application_name = 'coachbot' AND wait_event_type = 'Lock'")).scalar_one()
                if waits:
                    return
                await asyncio.sleep(0.05)

    try:
        async with engine.begin() as connection:
            if not sqlite:
                await connection.exec_driver_sql("LOCK TABLE processed_updates IN ACCESS EXCLUSIVE MODE")
            yield stuck
            await connection.rollback()
    finally:
        await engine.dispose()
        await watcher.dispose()
