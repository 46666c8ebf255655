"""`AiohttpRequest` keeps the promises `HTTPXRequest` made the outbox: a call that waited too long for a
connection times out unsent, a stuck answer times out, neither message carries the token, and uploads
reach Telegram as multipart files. Against the fake Bot API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from telegram.error import TimedOut

from coachbot.adapters.telegram.aiohttp_request import AiohttpRequest
from tests.support.fake_bot_api import FakeBotApi, make_bot

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        server.user(1)
        yield server
    assert not server.errors


def small_request(*, read: float = 5.0, pool: float = 0.2) -> AiohttpRequest:
    return AiohttpRequest(connection_pool_size=1, read_timeout=read, write_timeout=5.0, connect_timeout=5.0,
                          pool_timeout=pool)


async def test_a_call_that_waits_past_the_pool_timeout_times_out_and_is_not_sent(fake: FakeBotApi) -> None:
    fake.inject_fault("sendMessage", delay=1.0, times=1)
    async with make_bot(fake, request=small_request()) as bot:
        first = asyncio.create_task(bot.send_message(1, "first"))
        await asyncio.sleep(0.1)  # the one connection is taken
        with pytest.raises(TimedOut, match="not\\* sent") as raised:
            await bot.send_message(1, "second")
        await first
    assert fake.count("sendMessage") == 1 and fake.user(1).texts() == ["first"]
    assert fake.token not in str(raised.value)


async def test_an_answer_slower_than_the_read_timeout_times_out_without_the_token(fake: FakeBotApi) -> None:
    fake.inject_fault("sendMessage", delay=1.0, times=1)
    async with make_bot(fake, request=small_request(read=0.2)) as bot:
        with pytest.raises(TimedOut) as raised:
            await bot.send_message(1, "hello")
    assert fake.token not in str(raised.value) and fake.token not in repr(raised.value)


async def test_a_call_given_its_own_read_timeout_waits_that_long(fake: FakeBotApi) -> None:
    fake.inject_fault("sendMessage", delay=0.5, times=1)
    async with make_bot(fake, request=small_request(read=0.1)) as bot:
        sent = await bot.send_message(1, "hello", read_timeout=3.0)
    assert sent.text == "hello"


async def test_a_photo_upload_reaches_telegram_whole_as_a_multipart_file(fake: FakeBotApi) -> None:
    async with make_bot(fake, request=small_request()) as bot:
        await bot.send_photo(1, PNG, caption="your week")
    [message] = fake.bot_messages(1)
    assert message.photo == PNG and message.caption == "your week"


async def test_a_request_used_before_initialize_says_so() -> None:
    with pytest.raises(RuntimeError, match="not initialized"):
        await small_request().do_request("http://127.0.0.1:9/bot", "POST")
