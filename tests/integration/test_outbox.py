"""The outbox sender against the fake Bot API (real PTB Bot over HTTP): order, lanes, pacing, faults."""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot

from coachbot.adapters.db import store
from coachbot.adapters.db.models import OutboxMessage, Patient
from coachbot.adapters.telegram.bot_requests import sending_request
from coachbot.adapters.telegram.outbox import OutboxSender
from coachbot.adapters.telegram.pacing import Pacer
from tests.support.fake_bot_api import FakeBotApi, make_bot

Sessions = async_sessionmaker[AsyncSession]


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server
    assert not server.errors


@pytest.fixture
async def bot(fake: FakeBotApi) -> AsyncIterator[Bot]:
    """The bot on the request object the app sends with (its pool size and timeouts)."""
    async with make_bot(fake, request=sending_request()) as b:
        yield b


def sender_for(bot: Bot, sessions: Sessions, *, rate: float = 1000.0, chat_rate: float = 100.0,
               burst: int = 5) -> OutboxSender:
    return OutboxSender(bot, sessions, Pacer(rate, chat_rate, burst), clock=now, retry_base=0.05,
                        retry_max=0.2, sweep_every=0.1, secret=bot.token)


async def queue(sessions: Sessions, *rows: tuple[int, str], lane: int = 0,
                patient_id: int | None = None) -> list[int]:
    """Outbox rows (chat_id, text), committed like the service commits them."""
    async with sessions() as session, session.begin():
        made = [OutboxMessage(chat_id=chat, lane=lane, kind="text", payload={"text": text},
                              created_at=now(), not_before=now(), attempts=0, patient_id=patient_id)
                for chat, text in rows]
        session.add_all(made)
        await session.flush()
        return [row.id for row in made]


async def rows(sessions: Sessions) -> dict[int, OutboxMessage]:
    async with sessions() as session:
        return {r.id: r for r in (await session.execute(select(OutboxMessage))).scalars()}


async def new_patient(sessions: Sessions, chat_id: int) -> Patient:
    async with sessions() as session, session.begin():
        return await store.create_patient(session, chat_id, now())


async def drained(fake: FakeBotApi, sender: OutboxSender, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    await fake.wait_until(lambda: sender.idle, timeout, what="the outbox to drain")


async def run(sender: OutboxSender) -> Any:
    sender.start()
    return sender


async def test_each_chat_gets_its_rows_in_order_and_rows_are_marked(
        fake: FakeBotApi, bot: Bot, session_factory: Sessions) -> None:
    for chat in (1, 2):
        fake.user(chat)
    ids = await queue(session_factory, (1, "a1"), (2, "b1"), (1, "a2"), (1, "a3"), (2, "b2"))
    sender = await run(sender_for(bot, session_factory))
    await fake.wait_until(lambda: len(fake.calls_to("sendMessage")) == 5)
    await drained(fake, sender)
    await sender.stop()
    stored = await rows(session_factory)
    assert fake.user(1).texts() == ["a1", "a2", "a3"] and fake.user(2).texts() == ["b1", "b2"]
    assert [stored[i].message_id for i in ids] == [1, 1, 2, 3, 2]
    assert all(stored[i].sent_at is not None and stored[i].attempts == 1 for i in ids)


async def test_replies_go_before_bulk_messages(fake: FakeBotApi, bot: Bot, session_factory: Sessions) -> None:
    for chat in range(1, 8):
        fake.user(chat)
    await queue(session_factory, *[(chat, "weekly summary") for chat in range(1, 7)], lane=1)
    await queue(session_factory, (7, "a reply"))
    sender = await run(sender_for(bot, session_factory, rate=20.0))
    await fake.wait_until(lambda: len(fake.calls_to("sendMessage")) == 7)
    await sender.stop()
    assert fake.calls_to("sendMessage")[0].params["text"] == "a reply"


async def test_pacing_stays_under_telegrams_flood_limits(session_factory: Sessions) -> None:
    async with FakeBotApi(rate_limit=True) as limited, make_bot(limited) as limited_bot:
        for chat in range(1, 36):
            limited.user(chat)
        await queue(session_factory, *[(chat, f"hello {chat}") for chat in range(1, 36)])
        await queue(session_factory, (1, "second"), (1, "third"), (1, "fourth"))
        started = time.monotonic()
        sender = await run(sender_for(limited_bot, session_factory, rate=28.0, chat_rate=1.0, burst=2))
        await limited.wait_until(lambda: len(limited.calls_to("sendMessage")) == 38, timeout=10)
        took = time.monotonic() - started
        await sender.stop()
        assert limited.rate_limited == 0
        assert limited.user(1).texts() == ["hello 1", "second", "third", "fourth"]
    assert took >= 1.0  # 38 messages at 28/s overall and 1/s per chat cannot go faster


async def test_a_bulk_row_cancelled_while_it_waits_for_an_overall_slot_is_not_sent(
        fake: FakeBotApi, bot: Bot, session_factory: Sessions) -> None:
    for chat in (1, 2, 3):
        fake.user(chat)
    first, second, third = await queue(session_factory, (1, "one"), (2, "two"), (3, "three"), lane=1)
    # One message every two seconds overall: "three" gets its slot about 4 s after "one", 3 s more than
    # the staleness the cancel watch allows (CANCEL_FRESH), so a busy machine cannot make it look late.
    sender = sender_for(bot, session_factory, rate=0.5)
    asked: list[int] = []
    ask = sender._still_wanted

    async def still_wanted(row: Any) -> bool:
        asked.append(row.id)
        return await ask(row)

    sender._still_wanted = still_wanted  # type: ignore[method-assign]
    await run(sender)
    await fake.user(1).wait_for_message(lambda m: m.text == "one", timeout=3)
    await fake.wait_until(lambda: third in sender._bulk_waiting, 8, what='"three" to wait for a slot')
    async with session_factory() as session, session.begin():  # a /stop, while "three" waits its turn
        await session.execute(update(OutboxMessage).where(OutboxMessage.id == third).values(
            failed_at=now(), last_error="cancelled"))
    await fake.user(2).wait_for_message(lambda m: m.text == "two", timeout=6)
    await fake.wait_until(lambda: sender.idle, 6, what="the outbox to drain")
    await sender.stop()
    assert fake.user(3).texts() == []
    assert [c.params["text"] for c in fake.calls_to("sendMessage")] == ["one", "two"]
    assert (await rows(session_factory))[second].sent_at is not None
    assert sorted(asked) == [first, second, third]  # once each before queueing; then the watch saw it


async def test_429_retry_after_is_honoured_and_the_message_kept(
        fake: FakeBotApi, bot: Bot, session_factory: Sessions) -> None:
    fake.user(1)
    fake.inject_fault("sendMessage", status=429, retry_after=1)
    [row_id] = await queue(session_factory, (1, "flooded"))
    sender = await run(sender_for(bot, session_factory))
    await fake.wait_until(lambda: fake.calls_to("sendMessage") and fake.calls_to("sendMessage")[0].status)
    refused_at = time.monotonic()
    await fake.user(1).wait_for_message(lambda m: m.text == "flooded", timeout=3)
    waited = time.monotonic() - refused_at
    await drained(fake, sender)
    await sender.stop()
    stored = (await rows(session_factory))[row_id]
    assert waited >= 0.9
    assert [c.status for c in fake.calls_to("sendMessage")] == [429, 200]
    assert stored.sent_at is not None and stored.attempts == 2 and stored.last_error is None


async def test_502_and_network_errors_back_off_and_retry(
        fake: FakeBotApi, bot: Bot, session_factory: Sessions) -> None:
    fake.user(1)
    fake.inject_fault("sendMessage", status=502, times=3)
    [row_id] = await queue(session_factory, (1, "eventually"))
    sender = await run(sender_for(bot, session_factory))
    await fake.user(1).wait_for_message(lambda m: m.text == "eventually", timeout=5)
    await drained(fake, sender)
    await sender.stop()
    calls = fake.calls_to("sendMessage")
    gaps = [b.time - a.time for a, b in itertools.pairwise(calls)]
    assert [c.status for c in calls] == [502, 502, 502, 200]
    assert all(gap >= 0.02 for gap in gaps)  # backed off, not hammered
    assert (await rows(session_factory))[row_id].attempts == 4


async def test_403_marks_the_patient_unreachable_and_drops_their_queue(
        fake: FakeBotApi, bot: Bot, session_factory: Sessions) -> None:
    alex = fake.user(1)
    fake.user(2)
    await alex.block_bot()
    patient = await new_patient(session_factory, 1)
    blocked = await queue(session_factory, (1, "one"), (1, "two"), (1, "three"), patient_id=patient.id)
    [other] = await queue(session_factory, (2, "unaffected"))
    sender = await run(sender_for(bot, session_factory))
    await fake.user(2).wait_for_message()
    await fake.wait_until(lambda: sender.idle)
    await sender.stop()
    stored = await rows(session_factory)
    async with session_factory() as session:
        reloaded = await session.get(Patient, patient.id)
    assert reloaded is not None and reloaded.unreachable
    assert all(stored[i].failed_at is not None and stored[i].sent_at is None for i in blocked)
    assert "Forbidden" in (stored[blocked[0]].last_error or "")
    assert stored[other].sent_at is not None
    assert fake.count("sendMessage", status=403) == 1  # one refusal is enough to stop trying


async def test_bad_request_is_logged_with_context_and_the_bot_carries_on(
        fake: FakeBotApi, bot: Bot, session_factory: Sessions, caplog: pytest.LogCaptureFixture) -> None:
    fake.user(1)
    patient = await new_patient(session_factory, 1)
    [bad] = await queue(session_factory, (1, "x" * 5000), patient_id=patient.id)  # too long for Telegram
    [good] = await queue(session_factory, (1, "next"), patient_id=patient.id)
    sender = await run(sender_for(bot, session_factory))
    with caplog.at_level(logging.ERROR, logger="coachbot.telegram.outbox"):
        await fake.user(1).wait_for_message(lambda m: m.text == "next")
        await drained(fake, sender)
    await sender.stop()
    stored = await rows(session_factory)
    assert stored[bad].failed_at is not None and "too long" in (stored[bad].last_error or "")
    assert stored[good].sent_at is not None
    [record] = [r for r in caplog.records if "refused" in r.getMessage()]
    assert patient.label in record.getMessage() and "xxx" not in record.getMessage()
    assert bot.token not in caplog.text


async def test_rows_committed_by_another_process_are_swept(
        fake: FakeBotApi, bot: Bot, session_factory: Sessions) -> None:
    fake.user(1)
    sender = await run(sender_for(bot, session_factory))
    await queue(session_factory, (1, "from the scheduler"))
    sender.wake()
    await fake.user(1).wait_for_message(lambda m: m.text == "from the scheduler")
    await sender.stop()
