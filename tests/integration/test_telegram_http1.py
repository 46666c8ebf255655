"""The Bot API's HTTP/1.1 client (`http1.py`) and the request class around it, against raw TCP servers
that answer exactly as scripted: how answers are framed, when a connection is reused, and that every
failure arrives as PTB's exception (which the outbox's retries depend on)."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from telegram import Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from coachbot.adapters.telegram.bot_api_request import BotApiRequest, JsonBody
from coachbot.adapters.telegram.confirming_bot import ConfirmAfterCommitBot
from coachbot.adapters.telegram.http1 import Http1Pool
from coachbot.adapters.telegram.outbox import _seconds

Answer = Callable[[bytes], list[bytes]]
"""Given one request (head and body), the chunks to write back; [] closes the connection instead of
answering, and a last chunk CLOSE closes it after the answer."""
CLOSE = b""


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


@pytest.fixture
async def request_() -> AsyncIterator[BotApiRequest]:
    request = BotApiRequest(read_timeout=0.5, write_timeout=0.5, connect_timeout=0.5, pool_timeout=0.5)
    await request.initialize()
    yield request
    await request.shutdown()


def json_answer(status: int, payload: dict[str, Any], *, extra: bytes = b"") -> list[bytes]:
    body = json.dumps(payload).encode()
    head = (f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            .encode() + extra + b"\r\n")
    return [head[:10], head[10:] + body[:3], body[3:]]  # split mid-head and mid-body


OK = {"ok": True, "result": {"message_id": 7}}
TLS = Path(__file__).resolve().parents[1] / "data" / "tls"


async def test_answers_with_content_length_reuse_one_connection(serve: Any, request_: BotApiRequest) -> None:
    server = await serve(lambda _request: json_answer(200, OK))
    for _ in range(3):
        assert await request_.post(f"{server.url}/sendMessage", JsonBody(b'{"chat_id":1}')) == OK["result"]
    assert server.connections == 1
    assert all(r.startswith(b"POST /bot123:SECRET/sendMessage HTTP/1.1\r\n") for r in server.requests)
    assert b"Content-Type: application/json" in server.requests[0]
    assert server.requests[0].endswith(b'\r\n\r\n{"chat_id":1}')


async def test_a_chunked_answer_is_joined(serve: Any, request_: BotApiRequest) -> None:
    body = json.dumps(OK).encode()
    chunked = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
               f"{5:x}\r\n".encode() + body[:5] + b"\r\n",
               f"{len(body) - 5:x};ext=1\r\n".encode() + body[5:] + b"\r\n", b"0\r\n\r\n"]
    server = await serve(lambda _request: chunked)
    assert await request_.post(f"{server.url}/sendMessage", JsonBody(b"{}")) == OK["result"]
    assert await request_.post(f"{server.url}/sendMessage", JsonBody(b"{}")) == OK["result"]
    assert server.connections == 1


async def test_connection_close_and_a_body_read_until_the_end_are_not_reused(
        serve: Any, request_: BotApiRequest) -> None:
    body = json.dumps(OK).encode()
    answers = iter([json_answer(200, OK, extra=b"Connection: close\r\n"),
                    [b"HTTP/1.1 200 OK\r\n\r\n", body, CLOSE], json_answer(200, OK)])
    server = await serve(lambda _request: next(answers))
    for _ in range(3):
        assert await request_.post(f"{server.url}/sendMessage", JsonBody(b"{}")) == OK["result"]
    assert server.connections == 3


async def test_a_connection_the_server_closed_while_idle_is_replaced(serve: Any,
                                                                     request_: BotApiRequest) -> None:
    served = 0

    def answer(_request: bytes) -> list[bytes]:
        nonlocal served
        served += 1
        return json_answer(200, OK) if served % 2 else []  # every other request: the server hangs up

    server = await serve(answer)
    assert await request_.post(f"{server.url}/sendMessage", JsonBody(b"{}")) == OK["result"]
    with pytest.raises(NetworkError):  # the server closed instead of answering
        await request_.post(f"{server.url}/sendMessage", JsonBody(b"{}"))
    assert await request_.post(f"{server.url}/sendMessage", JsonBody(b"{}")) == OK["result"]
    assert server.connections == 2


async def test_no_answer_in_time_is_timed_out_and_the_connection_dropped(serve: Any,
                                                                          request_: BotApiRequest) -> None:
    answers = iter([[b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"], json_answer(200, OK)])
    server = await serve(lambda _request: next(answers))
    with pytest.raises(TimedOut):
        await request_.post(f"{server.url}/sendMessage", JsonBody(b"{}"), read_timeout=0.2)
    assert await request_.post(f"{server.url}/sendMessage", JsonBody(b"{}")) == OK["result"]
    assert server.connections == 2  # the half-answered connection was not reused


async def test_a_request_waiting_for_a_busy_pool_times_out_and_a_cancelled_one_frees_its_slot(
        serve: Any) -> None:
    server = await serve(lambda _request: [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"])  # hangs
    pool = Http1Pool(limit=1, user_agent="test")

    def post(pool_timeout: float, read_timeout: float = 0.3) -> Any:
        return pool.request("POST", f"{server.url}/sendMessage", b"{}", "application/json",
                            connect_timeout=1, read_timeout=read_timeout, pool_timeout=pool_timeout,
                            total_timeout=None)
    try:
        busy = asyncio.create_task(post(1, read_timeout=10))
        await asyncio.sleep(0.05)
        started = asyncio.get_running_loop().time()
        with pytest.raises(TimeoutError):
            await post(0.05)  # the one connection is busy
        assert asyncio.get_running_loop().time() - started < 2  # the pool's wait, not the busy read's
        busy.cancel()
        with pytest.raises(asyncio.CancelledError):
            await busy
        with pytest.raises(TimeoutError):
            await post(0.05)  # the slot is free: this one is sent, and times out reading
        assert len(server.requests) == 2
    finally:
        await pool.close()


async def test_nobody_listening_is_a_network_error_without_the_token(request_: BotApiRequest) -> None:
    probe = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
    port = probe.sockets[0].getsockname()[1]
    probe.close()
    await probe.wait_closed()
    with pytest.raises(NetworkError) as raised:
        await request_.post(f"http://127.0.0.1:{port}/bot123:SECRET/getMe", JsonBody(b"{}"))
    assert not isinstance(raised.value, TimedOut)
    assert "SECRET" not in str(raised.value)


async def test_a_malformed_answer_is_a_network_error(serve: Any, request_: BotApiRequest) -> None:
    server = await serve(lambda _request: [b"SMTP ready\r\n\r\n"])
    with pytest.raises(NetworkError):
        await request_.post(f"{server.url}/getMe", JsonBody(b"{}"))


@pytest.mark.parametrize(("status", "payload", "error"), [
    (403, {"ok": False, "error_code": 403, "description": "Forbidden: bot was blocked by the user"},
     Forbidden),
    (400, {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}, BadRequest),
    (502, {"ok": False, "description": "Bad Gateway"}, NetworkError),
])
async def test_bot_api_refusals_arrive_as_ptbs_exceptions(serve: Any, request_: BotApiRequest, status: int,
                                                          payload: dict[str, Any],
                                                          error: type[TelegramError]) -> None:
    server = await serve(lambda _request: json_answer(status, payload))
    with pytest.raises(error) as raised:
        await request_.post(f"{server.url}/sendMessage", JsonBody(b"{}"))
    assert type(raised.value) is error
    assert raised.value.message == error(payload["description"]).message  # as PTB words it


async def test_429_arrives_as_retry_after_with_telegrams_delay(serve: Any, request_: BotApiRequest) -> None:
    refusal = {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
               "parameters": {"retry_after": 7}}
    server = await serve(lambda _request: json_answer(429, refusal))
    with pytest.raises(RetryAfter) as raised:
        await request_.post(f"{server.url}/sendMessage", JsonBody(b"{}"))
    assert _seconds(raised.value) == 7


async def test_a_post_without_parameters_says_its_length(serve: Any, request_: BotApiRequest) -> None:
    server = await serve(lambda _request: json_answer(200, {"ok": True, "result": True}))
    assert await request_.post(f"{server.url}/getMe", RequestData()) is True
    assert server.requests[0].endswith(b"Content-Length: 0\r\n\r\n")


async def test_form_requests_are_sent_url_encoded(serve: Any, request_: BotApiRequest) -> None:
    server = await serve(lambda _request: json_answer(200, {"ok": True, "result": True}))
    data = RequestData([RequestParameter.from_input("chat_id", 5),
                        RequestParameter.from_input("text", "a b&c")])
    assert await request_.post(f"{server.url}/sendMessage", data) is True
    assert b"Content-Type: application/x-www-form-urlencoded" in server.requests[0]
    assert server.requests[0].endswith(b"\r\n\r\nchat_id=5&text=a+b%26c")


ME = {"id": 123, "is_bot": True, "first_name": "Bot", "username": "bot"}
UPDATE_9 = {"update_id": 9, "message": {"message_id": 1, "date": 1, "text": "4",
                                        "chat": {"id": 5, "type": "private"},
                                        "from": {"id": 5, "is_bot": False, "first_name": "A"}}}


def answer_with_update_9(request: bytes) -> list[bytes]:
    """getMe gives the bot, any other call (getUpdates) update 9."""
    return json_answer(200, {"ok": True, "result": ME if b"/getMe " in request else [UPDATE_9]})


def polling_bot(url: str) -> ConfirmAfterCommitBot:
    return ConfirmAfterCommitBot("123:SECRET", base_url=url.removesuffix("123:SECRET"),
                                 request=BotApiRequest(), get_updates_request=BotApiRequest())


async def test_get_updates_goes_as_one_json_body_and_gives_ptbs_updates(serve: Any) -> None:
    server = await serve(answer_with_update_9)
    bot = polling_bot(server.url)
    async with bot:
        updates = await bot.get_updates(offset=5, timeout=0, allowed_updates=["message"])
    [sent] = [r for r in server.requests if b"/getUpdates " in r]
    head, _, body = sent.partition(b"\r\n\r\n")
    assert b"Content-Type: application/json" in head
    assert json.loads(body) == {"offset": 5, "timeout": 0, "allowed_updates": ["message"]}
    assert updates == (Update.de_json(UPDATE_9, bot),)
    assert updates[0].message is not None and updates[0].message.text == "4"
    assert bot.unfinished == {9}


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
    assert len([r for r in server.requests if b"/getUpdates " in r]) == 1


async def test_https_is_verified_and_kept_alive(serve: Any, request_: BotApiRequest) -> None:
    certificate = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.load_cert_chain(TLS / "localhost.crt", TLS / "localhost.key")
    server = await serve(lambda _request: json_answer(200, OK), tls=certificate)
    url = server.url.replace("http://127.0.0.1", "https://localhost") + "/sendMessage"
    trusting = Http1Pool(limit=4, user_agent="test",
                         ssl_context=ssl.create_default_context(cafile=TLS / "localhost.crt"))
    try:
        for _ in range(2):
            status, body = await trusting.request("POST", url, b"{}", "application/json", connect_timeout=1,
                                                  read_timeout=1, pool_timeout=1, total_timeout=3)
            assert (status, json.loads(body)) == (200, OK)
    finally:
        await trusting.close()
    assert server.connections == 1
    with pytest.raises(NetworkError) as raised:  # the app's request trusts only the system's authorities
        await request_.post(url, JsonBody(b"{}"))
    assert isinstance(raised.value.__cause__, ssl.SSLCertVerificationError)
