"""The bot's HTTP transport (`AiohttpRequest`, PTB's BaseRequest on aiohttp, as `bot_requests.py`
configures it) and the polling bot on top of it: the pool holds every send the outbox makes at once,
a slow answer is waited for rather than re-sent, failures never carry the token, certificates are
verified, and a stopped poll stays stopped. Scripted raw TCP servers answer exactly as told; the fake
Bot API stands in for Telegram."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import ssl
import subprocess
import sys
import tomllib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot, Update
from telegram.error import NetworkError, TimedOut

from coachbot.adapters.db.models import OutboxMessage
from coachbot.adapters.telegram.bot_requests import (
    POOL_TIMEOUT,
    SENDS_IN_FLIGHT,
    polling_request,
    sending_request,
)
from coachbot.adapters.telegram.confirming_bot import ConfirmAfterCommitBot
from coachbot.adapters.telegram.outbox import OutboxSender
from coachbot.adapters.telegram.outbox_calls import call
from coachbot.adapters.telegram.pacing import Pacer
from coachbot.app.channel import QueuedMessage
from tests.support.fake_bot_api import FakeBotApi, make_bot

Answer = Callable[[bytes], list[bytes]]
"""Given one request (head and body), the chunks to write back; [] closes the connection instead of
answering, and a last chunk CLOSE closes it after the answer."""
CLOSE = b""
Sessions = async_sessionmaker[AsyncSession]


class Scripted:
    """A TCP server answering each request with `answer`; counts connections and keeps requests."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                chunks = self.answer(request)
                for chunk in chunks:
                    if chunk == CLOSE:
                        break
                    writer.write(chunk)
                    await writer.drain()
                    await asyncio.sleep(0.001)  # arrive in pieces
                if not chunks or chunks[-1] == CLOSE:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/bot123:SECRET"


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Any]]:
    servers: list[asyncio.Server] = []

    async def start(answer: Answer, *, tls: ssl.SSLContext | None = None) -> Scripted:
        scripted = Scripted(answer)
        scripted.server = await asyncio.start_server(scripted._serve, "127.0.0.1", 0, ssl=tls)
        servers.append(scripted.server)
        return scripted

    yield start
    for server in servers:
        server.close()


def json_answer(status: int, payload: dict[str, Any], *, extra: bytes = b"") -> list[bytes]:
    body = json.dumps(payload).encode()
    head = (f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            .encode() + extra + b"\r\n")
    return [head[:10], head[10:] + body[:3], body[3:]]  # split mid-head and mid-body


ROOT = Path(__file__).resolve().parents[2]
TLS = ROOT / "tests" / "data" / "tls"


ME = {"id": 123, "is_bot": True, "first_name": "Bot", "username": "bot"}
UPDATE_9 = {"update_id": 9, "message": {"message_id": 1, "date": 1, "text": "4",
                                        "chat": {"id": 5, "type": "private"},
                                        "from": {"id": 5, "is_bot": False, "first_name": "A"}}}


def answer_with_update_9(request: bytes) -> list[bytes]:
    """getMe gives the bot, any other call (getUpdates) update 9."""
    return json_answer(200, {"ok": True, "result": ME if b"/getMe " in request else [UPDATE_9]})


def polling_bot(url: str) -> ConfirmAfterCommitBot:
    """The polling bot on the app's request objects."""
    return ConfirmAfterCommitBot("123:SECRET", base_url=url.removesuffix("123:SECRET"),
                                 request=sending_request(), get_updates_request=polling_request())


def polls(server: Scripted) -> list[dict[str, list[str]]]:
    """The form fields of each getUpdates the server received."""
    return [parse_qs(r.partition(b"\r\n\r\n")[2].decode()) for r in server.requests if b"/getUpdates " in r]


def text_row(chat_id: int, text: str, row_id: int = 1) -> QueuedMessage:
    return QueuedMessage(id=row_id, chat_id=chat_id, lane=0, kind="text", payload={"text": text},
                         not_before=NOW, attempts=0, patient_id=None, escalation_id=None, label=None)


NOW = dt.datetime(2026, 3, 16, 9, tzinfo=dt.UTC)


async def test_get_updates_gives_ptbs_updates_and_holds_them_as_unfinished(serve: Any) -> None:
    server = await serve(answer_with_update_9)
    bot = polling_bot(server.url)
    async with bot:
        updates = await bot.get_updates(offset=5, timeout=0, allowed_updates=["message"])
    [sent] = polls(server)
    assert sent["offset"] == ["5"] and json.loads(sent["allowed_updates"][0]) == ["message"]
    assert updates == (Update.de_json(UPDATE_9, bot),)
    assert updates[0].message is not None and updates[0].message.text == "4"
    assert bot.unfinished == {9}


async def test_the_next_poll_confirms_an_update_only_once_it_has_finished(serve: Any) -> None:
    server = await serve(answer_with_update_9)
    bot = polling_bot(server.url)
    async with bot:
        await bot.get_updates(timeout=0)
        poll = asyncio.create_task(bot.get_updates(offset=10, timeout=0))
        await asyncio.sleep(0.2)
        assert not poll.done() and len(polls(server)) == 1  # update 9 is still being handled
        bot.finished(9)
        await poll
    assert [p.get("offset") for p in polls(server)] == [None, ["10"]]


async def test_a_poll_cancelled_as_its_updates_finish_stays_cancelled(serve: Any) -> None:
    """PTB's stop cancels the poll that waits to confirm updates still being handled. When the last of
    them finished at that moment, the wait swallowed the cancellation (`asyncio.wait_for` on Python
    3.11) and the poll went on past the stop: a getUpdates nobody awaited, ending in a 409."""
    server = await serve(answer_with_update_9)
    bot = polling_bot(server.url)
    async with bot:
        await bot.get_updates(timeout=0)
        poll = asyncio.create_task(bot.get_updates(offset=10, timeout=0))
        await asyncio.sleep(0.01)  # waiting for update 9 to finish
        bot.finished(9)
        poll.cancel()
        with pytest.raises(asyncio.CancelledError):
            await poll
    assert len(polls(server)) == 1


async def test_nobody_listening_is_a_network_error_without_the_token() -> None:
    probe = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    request = sending_request()
    bot = Bot("123:SECRET", base_url=f"http://127.0.0.1:{port}/bot", request=request)
    try:
        with pytest.raises(NetworkError) as raised:
            await call(bot, text_row(5, "hello"))
    finally:
        await request.shutdown()
    assert not isinstance(raised.value, TimedOut)  # the outbox backs off and retries: nothing was sent
    assert "SECRET" not in str(raised.value) and "SECRET" not in repr(raised.value)


async def test_a_server_whose_certificate_is_not_trusted_is_refused(serve: Any) -> None:
    certificate = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.load_cert_chain(TLS / "localhost.crt", TLS / "localhost.key")
    server = await serve(lambda _request: json_answer(200, {"ok": True, "result": ME}), tls=certificate)
    url = server.url.replace("http://127.0.0.1", "https://localhost").removesuffix("123:SECRET")
    bot = Bot("123:SECRET", base_url=url, request=sending_request(), get_updates_request=polling_request())
    with pytest.raises(NetworkError) as raised:  # the app's request trusts only the known authorities
        async with bot:
            pass
    assert any(isinstance(cause, ssl.SSLCertVerificationError) for cause in causes(raised.value))
    assert server.requests == []  # nothing, the token included, went over the untrusted connection


def causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    async with FakeBotApi() as server:
        yield server
    assert not server.errors


async def test_as_many_sends_as_the_outbox_makes_at_once_each_get_a_connection(fake: FakeBotApi) -> None:
    """Every answer takes longer than the pool timeout: a send that had to wait for a connection
    would fail with PTB's pool TimedOut."""
    chats = range(1, SENDS_IN_FLIGHT + 1)
    for chat in chats:
        fake.user(chat)
    fake.inject_fault("sendMessage", delay=POOL_TIMEOUT + 0.5, times=SENDS_IN_FLIGHT)
    async with make_bot(fake, request=sending_request()) as bot:
        ids = await asyncio.gather(*(call(bot, text_row(chat, "hello")) for chat in chats))
    assert ids == [1] * SENDS_IN_FLIGHT
    assert fake.count("sendMessage", status=200) == SENDS_IN_FLIGHT


async def test_a_reply_telegram_answers_slowly_is_sent_once(fake: FakeBotApi,
                                                            session_factory: Sessions) -> None:
    """Telegram takes longer than PTB's default read timeout (5 s) to answer, but delivers the message:
    the outbox waits for the answer instead of giving up and sending the patient the message again."""
    fake.user(1)
    async with session_factory() as session, session.begin():
        row = OutboxMessage(chat_id=1, lane=0, kind="text", payload={"text": "hello"},
                            created_at=dt.datetime.now(dt.UTC), not_before=dt.datetime.now(dt.UTC),
                            attempts=0)
        session.add(row)
    fake.inject_fault("sendMessage", delay=6.0)
    async with make_bot(fake, request=sending_request()) as bot:
        sender = OutboxSender(bot, session_factory, Pacer(1000.0, 100.0, 5),
                              clock=lambda: dt.datetime.now(dt.UTC), retry_base=0.05, retry_max=0.2,
                              sweep_every=0.1, secret=bot.token)
        sender.start()
        try:
            await fake.wait_until(lambda: fake.count("sendMessage", status=200) == 1, 10,
                                  what="the slow answer")
            await fake.wait_until(lambda: sender.idle, 5, what="the outbox to drain")
            await asyncio.sleep(0.3)  # a retry, were one made, would have gone by now
        finally:
            await sender.stop()
    async with session_factory() as session:
        [stored] = (await session.execute(select(OutboxMessage))).scalars()
    assert fake.user(1).texts() == ["hello"] and fake.count("sendMessage") == 1
    assert stored.sent_at is not None and stored.attempts == 1


def test_aiohttp_which_carries_the_bots_calls_is_a_main_dependency_and_is_what_the_bot_loads() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(pin.startswith("aiohttp==") for pin in project["dependencies"])
    code = ("import sys, coachbot.cli, coachbot.adapters.telegram.app; "
            "from coachbot.adapters.telegram.bot_requests import sending_request; "
            "print(type(sending_request()).__name__, 'aiohttp' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=ROOT)
    assert result.stdout.strip() == "AiohttpRequest True"


def test_the_telegram_adapter_uses_no_private_library_names() -> None:
    """Private names of PTB (or of the HTTP clients) change without notice between releases."""
    private = re.compile(r"\b(telegram|httpx|httpcore|aiohttp)\._|\._post\b|\._do_post\b|_request\[")
    found = [f"{path.name}:{number}" for path in sorted((ROOT / "coachbot").rglob("*.py"))
             for number, line in enumerate(path.read_text().splitlines(), 1) if private.search(line)]
    assert found == []
