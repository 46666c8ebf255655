"""Benchmark: CPU of one Bot API call as the bot makes it: a reply (`outbox_calls.call` with a text
row, 8 at once) and an empty `getUpdates` (one at a time), both on the app's request objects
(`bot_requests.py`), against the test suite's fake Bot API server running
in another process on the other CPU. Prints microseconds of this process's CPU per call, the median of
5 rounds of 1,500 calls.

Run: `python -m bench.telegram_requests`; compare two versions of the code by running it with each on
PYTHONPATH, in turns.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import statistics
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection

from bench.telegram_adapter import EPOCH, KEYBOARD, REPLY
from bench.telegram_throughput import TOKEN, pin
from coachbot.adapters.telegram.bot_requests import polling_request, sending_request
from coachbot.adapters.telegram.confirming_bot import ConfirmAfterCommitBot
from coachbot.adapters.telegram.inbound import ALLOWED_UPDATES
from coachbot.adapters.telegram.outbox_calls import call
from coachbot.app.channel import QueuedMessage

CHATS = 100
Call = Callable[[ConfirmAfterCommitBot, int], Awaitable[object]]


def server(conn: Connection) -> None:
    pin(1)
    logging.disable(logging.CRITICAL)

    async def serve() -> None:
        from tests.support.fake_bot_api import FakeBotApi  # noqa: PLC0415 - the test suite's fake

        async with FakeBotApi(TOKEN) as fake:
            for i in range(CHATS):
                fake.user(1000 + i, "P")
            conn.send(fake.base_url)
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)

    asyncio.run(serve())


async def reply(bot: ConfirmAfterCommitBot, i: int) -> object:
    payload: dict[str, object] = {"text": REPLY, "keyboard": KEYBOARD} if i % 2 else {"text": REPLY}
    row = QueuedMessage(id=i, chat_id=1000 + i % CHATS, lane=0, kind="text", payload=payload,
                        not_before=EPOCH, attempts=0, patient_id=None, escalation_id=None, label=None)
    return await call(bot, row)


async def poll(bot: ConfirmAfterCommitBot, _i: int) -> object:
    return await bot.get_updates(offset=1, timeout=0, allowed_updates=list(ALLOWED_UPDATES))


async def measure(base_url: str, calls: int = 1500, rounds: int = 5) -> None:
    bot = ConfirmAfterCommitBot(TOKEN, base_url=base_url, request=sending_request(),
                                get_updates_request=polling_request())
    kinds: dict[str, tuple[Call, int]] = {"reply (sendMessage)": (reply, 8), "getUpdates, empty": (poll, 1)}
    spent: dict[str, list[float]] = {name: [] for name in kinds}
    async with bot:
        for _ in range(rounds):
            for name, (call, at_once) in kinds.items():
                gate = asyncio.Semaphore(at_once)

                async def one(i: int, call: Call = call, gate: asyncio.Semaphore = gate) -> None:
                    async with gate:
                        await call(bot, i)

                started = time.process_time()
                await asyncio.gather(*(one(i) for i in range(calls)))
                spent[name].append((time.process_time() - started) / calls * 1e6)
    for name, samples in spent.items():
        print(f"{name:22s} {statistics.median(samples):6.0f} us of CPU a call  "
              f"(rounds: {', '.join(f'{s:.0f}' for s in samples)})")


def main() -> None:
    here, there = mp.Pipe()
    load = mp.get_context("spawn").Process(target=server, args=(there,), daemon=True)
    load.start()
    try:
        base_url = here.recv()
        pin(0)
        asyncio.run(measure(base_url))
    finally:
        here.send("stop")
        load.join(10)


if __name__ == "__main__":
    main()
