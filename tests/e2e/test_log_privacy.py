"""Logs carry pseudonymous labels, never the bot token, a patient's name or what they wrote: checked
through the real bot with Telegram failing in every way the outbox handles (400, 403, 429, 500, 502,
504), the database failing mid-update (a commit that fails, an exception that quotes the statement's
parameters) and in the scheduler (a check-in greeting that names the patient), an update the library
cannot read, and bad posts to the webhook (a wrong or missing
secret, a body over the cap, a body that is not JSON), with the logging `coachbot run` sets up (library
loggers quietened) and everything of coachbot's own down to DEBUG, tracebacks included."""

from __future__ import annotations

import datetime as dt
import logging
import traceback

import pytest

from coachbot.adapters.telegram.app import quiet_library_loggers
from coachbot.adapters.telegram.webhook import MAX_BODY
from tests.e2e.test_telegram_webhook import SECRET, raw_post, webhook
from tests.support.basics import Clock
from tests.support.coachbot_telegram import add_coach, running_bot, settled
from tests.support.db_faults import fail_statement_quoting, fail_update_commits
from tests.support.fake_bot_api import FakeBotApi, FakeUser

COACH_ID = 900
NAME = "Zephyrine"
WORDS = "my back hurts after gardening with Rufus"
CRISIS = "I want to end my life"


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Every record's message and, where there is one, its whole traceback."""
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        if record.exc_info:
            parts.append("".join(traceback.format_exception(*record.exc_info)))
    return "\n".join(parts)


async def test_no_log_line_or_traceback_carries_the_token_a_name_or_a_patients_words(
        fake_bot_api: FakeBotApi, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    quiet_library_loggers()
    caplog.set_level(logging.DEBUG, logger="coachbot")
    caplog.set_level(logging.INFO)
    await add_coach(database_url, COACH_ID, "Sam Coachperson")
    sam = fake_bot_api.user(COACH_ID, "Sam Coachperson")
    alex = fake_bot_api.user(42, NAME)
    async with running_bot(fake_bot_api, database_url) as bot:
        await alex.send_command("/start")
        await alex.wait_for_message(lambda m: bool(m.buttons))
        await alex.click("Yes")
        await alex.wait_for_message(lambda m: "call you" in m.text)
        fake_bot_api.inject_fault("sendMessage", status=502, chat_id=42)  # retried
        fake_bot_api.inject_fault("sendMessage", status=429, retry_after=1, chat_id=42)  # waited out
        await alex.send_text(NAME)
        await alex.wait_for_message(lambda m: "Do you have any of these" in m.text)
        fake_bot_api.inject_fault("sendMessage", status=400, chat_id=42)  # refused: given up, logged
        await alex.send_text(WORDS)
        await settled(fake_bot_api, bot)
        await alex.send_text(CRISIS)
        await sam.wait_for_message(lambda m: "alert for patient" in m.content)
        fake_bot_api.inject_fault("sendMessage", status=403, chat_id=42)  # then they block the bot
        await alex.send_text("are you there")
        await settled(fake_bot_api, bot)
    said = everything_logged(caplog)
    assert caplog.records, "the run logged something"
    assert "P-" in said, "logs name patients by their pseudonymous label"
    assert_nothing_private(said, fake_bot_api)


def assert_nothing_private(said: str, fake_bot_api: FakeBotApi) -> None:
    for secret in (fake_bot_api.token, fake_bot_api.token.split(":")[-1], NAME, "Coachperson", WORDS,
                   CRISIS, "end my life", "Rufus", "gardening", SECRET):
        assert secret not in said, f"{secret!r} was logged"


def capture_everything(caplog: pytest.LogCaptureFixture) -> None:
    quiet_library_loggers()
    caplog.set_level(logging.DEBUG, logger="coachbot")
    caplog.set_level(logging.INFO)


async def up_to_the_name(alex: FakeUser) -> None:
    await alex.send_command("/start")
    await alex.wait_for_message(lambda m: bool(m.buttons))
    await alex.click("Yes")
    await alex.wait_for_message(lambda m: "call you" in m.text)


def errors(caplog: pytest.LogCaptureFixture) -> int:
    return sum(r.levelno >= logging.ERROR for r in caplog.records)


async def test_no_log_line_carries_private_words_when_the_database_or_telegram_fails_mid_update(
        fake_bot_api: FakeBotApi, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    capture_everything(caplog)
    alex = fake_bot_api.user(42, NAME)
    async with running_bot(fake_bot_api, database_url) as bot:
        await up_to_the_name(alex)
        quoting = fail_statement_quoting(bot.core.db, NAME)  # an exception quoting the stored name
        before = errors(caplog)
        await alex.send_text(NAME)
        await fake_bot_api.wait_until(lambda: errors(caplog) > before, what="the handler's error")
        commit = fail_update_commits(bot.core.db)  # the database drops the connection at commit
        before = errors(caplog)
        await alex.send_text(NAME)
        await fake_bot_api.wait_until(lambda: errors(caplog) > before, what="the commit's error")
        await alex.send_text(NAME)
        await alex.wait_for_message(lambda m: "Do you have any of these" in m.text)
        await alex.send_unreadable_text(f"{NAME} here: {WORDS}")  # not readable by the library
        fake_bot_api.inject_fault("sendMessage", status=500, chat_id=42)
        fake_bot_api.inject_fault("sendMessage", status=504, chat_id=42)  # a proxy's gateway timeout
        await alex.send_text(WORDS)
        await settled(fake_bot_api, bot)
    said = everything_logged(caplog)
    assert quoting.raised == 1 and commit.failed == 1
    assert "RuntimeError" in said and "OperationalError" in said and "could not be read" in said
    assert fake_bot_api.count("sendMessage", status=500) == 1
    assert fake_bot_api.count("sendMessage", status=504) == 1
    assert_nothing_private(said, fake_bot_api)


async def test_no_log_line_carries_private_words_or_the_secret_when_webhook_posts_go_wrong(
        fake_bot_api: FakeBotApi, database_url: str, unused_tcp_port: int,
        caplog: pytest.LogCaptureFixture) -> None:
    capture_everything(caplog)
    port = unused_tcp_port
    alex = fake_bot_api.user(42, NAME)
    private = f'{{"update_id": 77, "message": {{"text": "{WORDS}", "from": {{"first_name": "{NAME}"}}}}}}'
    async with running_bot(fake_bot_api, database_url, webhook=True, **webhook(port)) as bot:
        await up_to_the_name(alex)
        statuses = [
            await raw_post(port, secret="not-the-secret-at-all", body=private.encode()),
            await raw_post(port, secret=None, body=private.encode()),
            await raw_post(port, secret=SECRET, body=private.encode()[:-3]),  # not JSON
            await raw_post(port, secret=SECRET, body=private.encode() + b" " * MAX_BODY, chunked=True),
        ]
        quoting = fail_statement_quoting(bot.core.db, NAME)
        answer = await alex.send_text(NAME)  # 500, then delivered again and stored
        question = await alex.wait_for_message(lambda m: "Do you have any of these" in m.text)
        commit = fail_update_commits(bot.core.db)
        press = await alex.click("No", message=question)  # 500, then delivered again and stored
        await alex.wait_for_message(lambda m: "And do you have any of these" in m.text)
        await alex.send_unreadable_text(f"{NAME} here: {WORDS}")
        await fake_bot_api.wait_until(lambda: fake_bot_api.pending_updates == [], what="all delivered")
        await settled(fake_bot_api, bot)
    failed = {d.update_id for d in fake_bot_api.webhook_deliveries if d.status == 500}
    assert statuses == [403, 403, 400, 413]
    assert quoting.raised == 1 and commit.failed == 1 and failed == {answer.update_id, press.update_id}
    said = everything_logged(caplog)
    assert "webhook post refused" in said and "could not be read" in said and "RuntimeError" in said
    assert_nothing_private(said, fake_bot_api)


async def onboard_as(user: FakeUser, name: str) -> None:
    """Onboarding to the end (as `test_telegram_conversation.onboard`), under `name`."""
    await up_to_the_name(user)
    await user.send_text(name)
    emergency = await user.wait_for_message(lambda m: "Do you have any of these" in m.text)
    await user.click("No", message=emergency)
    await user.wait_for_message(lambda m: "And do you have any of these" in m.text)
    await user.send_text("no")
    pain = await user.wait_for_message(lambda m: "how bad has your back pain usually been" in m.text)
    await user.click("3", message=pain)
    await user.wait_for_message(lambda m: "how has your mood usually been" in m.text)
    await user.send_text("6")
    await user.wait_for_message(lambda m: "Do you have diabetes" in m.text)
    await user.send_text("no")
    work = await user.wait_for_message(lambda m: "best describes your work" in m.text)
    await user.click("Working", message=work)
    await user.wait_for_message(lambda m: "What time of day" in m.text)
    await user.send_text("9am")
    day = await user.wait_for_message(lambda m: "Which day suits you" in m.text)
    await user.click("Sunday", message=day)
    await user.wait_for_message(lambda m: "Where are you" in m.text)
    await user.send_text("UK")
    await user.wait_for_message(lambda m: "You are all set" in m.text)


async def test_no_log_line_carries_a_name_when_the_scheduler_fails_to_start_a_check_in(
        fake_bot_api: FakeBotApi, database_url: str, caplog: pytest.LogCaptureFixture) -> None:
    capture_everything(caplog)
    clock = Clock(dt.datetime(2026, 6, 10, 6, 0, tzinfo=dt.UTC))  # 07:00 in London; check-in at 9am
    alex = fake_bot_api.user(42, NAME)
    async with running_bot(fake_bot_api, database_url, clock=clock, schedule_tick_seconds=1) as bot:
        await onboard_as(alex, NAME)
        await settled(fake_bot_api, bot)
        quoting = fail_statement_quoting(bot.core.db, f"Hello {NAME}")  # the greeting names them
        before = errors(caplog)
        clock.now = dt.datetime(2026, 6, 10, 8, 0, 2, tzinfo=dt.UTC)
        await fake_bot_api.wait_until(lambda: errors(caplog) > before, what="the failed start logged")
    said = everything_logged(caplog)
    assert quoting.raised == 1 and "RuntimeError" in said
    assert_nothing_private(said, fake_bot_api)
