"""Benchmark: how long the webhook server takes to answer Telegram's post, now that it answers only
after the update's transaction committed.

The real bot (PTB, the service, the outbox) runs in webhook mode against the fake Bot API server; the
bench stands in for Telegram and posts updates straight to the bot's webhook server, with the secret,
over `--connections` connections at once (Telegram's default `max_connections` is 40), each update
from one of `--patients` chats in turn. It times each post from sending to its 200. Every update is
a message that takes a transaction: "/start" first, then words the patient's question does not expect
(each answered with one sentence, nothing stored but the processed-update id).

Run: `python -m bench.webhook_answer [--updates 2000] [--patients 200] [--connections 40]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp

from tests.support.coachbot_telegram import running_bot, settled
from tests.support.databases import fresh_postgres_database, sqlite_url
from tests.support.fake_bot_api import FakeBotApi

SECRET = "bench-webhook-secret-0123456789"
POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


def update(update_id: int, chat_id: int, text: str) -> dict[str, object]:
    user = {"id": chat_id, "is_bot": False, "first_name": "Bench"}
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "chat": {"id": chat_id, "type": "private"},
        "from": user, "text": text}}


async def measure(database_url: str, *, updates: int, patients: int, connections: int,
                  port: int) -> tuple[list[float], float]:
    """Answer times (seconds) of `updates` posts and the seconds all of them took; asserts every one
    was answered 200."""
    url = f"http://127.0.0.1:{port}/telegram"
    async with FakeBotApi() as fake, running_bot(
            fake, database_url, webhook=True, webhook_url=url, webhook_port=port,
            webhook_listen="127.0.0.1", webhook_secret=SECRET) as bot:
        for chat in range(1000, 1000 + patients):
            fake.user(chat, "Bench")  # replies go to chats the fake knows
        queue: asyncio.Queue[dict[str, object]] = asyncio.Queue()
        for n in range(updates):
            chat = 1000 + n % patients
            queue.put_nowait(update(n + 1, chat, "/start" if n < patients else f"words {n}"))
        times: list[float] = []
        statuses: list[int] = []
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        connector = aiohttp.TCPConnector(limit=connections)
        async with aiohttp.ClientSession(connector=connector) as session:

            async def poster() -> None:
                while not queue.empty():
                    body = queue.get_nowait()
                    began = time.perf_counter()
                    async with session.post(url, json=body, headers=headers) as response:
                        await response.read()
                        statuses.append(response.status)
                    times.append(time.perf_counter() - began)

            began = time.perf_counter()
            await asyncio.gather(*(poster() for _ in range(connections)))
            wall = time.perf_counter() - began
        await settled(fake, bot, timeout=120)
    assert statuses == [200] * updates, sorted(set(statuses))
    return times, wall


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=2000)
    parser.add_argument("--patients", type=int, default=200)
    parser.add_argument("--connections", type=int, default=40)
    parser.add_argument("--port", type=int, default=18443)
    args = parser.parse_args()
    print("| database | updates | answer p50 | p95 | p99 | answered per second |")
    print("|---|---|---|---|---|---|")
    for name in ("SQLite", "PostgreSQL"):
        async with contextlib.AsyncExitStack() as stack:
            if name == "SQLite":
                url = sqlite_url(Path(stack.enter_context(tempfile.TemporaryDirectory())))
            else:
                try:
                    url = await stack.enter_async_context(fresh_postgres_database(POSTGRES))
                except OSError:
                    print("| PostgreSQL | no server answers: skipped |")
                    continue
            times, wall = await measure(url, updates=args.updates, patients=args.patients,
                                        connections=args.connections, port=args.port)
            cuts = statistics.quantiles(times, n=100)
            print(f"| {name} | {len(times)} | {statistics.median(times) * 1000:.1f} ms | "
                  f"{cuts[94] * 1000:.1f} ms | {cuts[98] * 1000:.1f} ms | {len(times) / wall:.0f} |")


if __name__ == "__main__":
    asyncio.run(main())
