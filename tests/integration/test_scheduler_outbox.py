"""The scheduler with the real outbox sender (PTB Bot over HTTP, the fake Bot API): a /stop that comes
while the check-in already waits in the sender's memory still keeps it from going out."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot

from coachbot.adapters.telegram.messages_out import TelegramChannel
from coachbot.adapters.telegram.outbox import OutboxSender
from coachbot.adapters.telegram.pacing import Pacer
from coachbot.app.pipeline import PatientService
from coachbot.engine import Engine, TextMessage
from tests.support.basics import Clock, library
from tests.support.fake_bot_api import FakeBotApi, make_bot
from tests.support.scheduler_world import UTC, World


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server
    assert not server.errors


@pytest.fixture
async def bot(fake: FakeBotApi) -> AsyncIterator[Bot]:
    async with make_bot(fake) as b:
        yield b


async def test_stop_while_the_check_in_waits_in_the_senders_queue_means_it_never_arrives(
        session_factory: async_sessionmaker[AsyncSession], fake: FakeBotApi, bot: Bot) -> None:
    w = World(session_factory, Clock(dt.datetime(2026, 6, 1, 7, 59, tzinfo=UTC)))
    w.channel = TelegramChannel(library().service.channel)  # type: ignore[assignment]
    w.service = PatientService(session_factory, Engine(library()), w.clock, channel=w.channel)  # type: ignore[arg-type]
    patient = await w.add_patient(at=dt.time(9))
    user = fake.user(patient.chat_id, "Alex")
    # One message a second per chat, as Telegram allows: the check-in waits its turn behind a reply.
    sender = OutboxSender(bot, session_factory, Pacer(1000.0, 1.0, 1),
                          clock=lambda: dt.datetime.now(dt.UTC), sweep_every=0.05, secret=bot.token)
    scheduler = w.scheduler()
    scheduler.on_queued = sender.offer
    sender.start()
    try:
        earlier = await w.service.handle_update(1, patient.chat_id, TextMessage("help"))
        sender.offer(earlier.queued)
        w.clock.now = dt.datetime(2026, 6, 1, 8, 0, 5, tzinfo=UTC)
        assert (await scheduler.tick()).queued == 1  # handed to the sender, which holds it a second
        stop = await w.service.handle_update(2, patient.chat_id, TextMessage("stop"))
        sender.offer(stop.queued)
        await fake.wait_until(lambda: sender.idle, 10, what="the outbox to drain")
    finally:
        await sender.stop()
    texts = [m.text or "" for m in fake.bot_messages(user.id)]
    assert len(texts) == 2, texts
    assert "help" in texts[0].lower() and "stopped all messages" in texts[1]
    assert not any("check-in" in text for text in texts[1:])  # the help lists /checkin
    (run,) = await w.runs(patient.id)
    assert (run.status, run.reason) == ("skipped", "stopped")
