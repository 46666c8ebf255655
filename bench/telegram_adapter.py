"""Benchmark: CPU the Telegram adapter alone spends per answer (receiving the update, sending the reply).

The same PTB wiring as `coachbot run` (ConfirmAfterCommitBot long polling on the app's AiohttpRequest
objects from `bot_requests.py`, the PTB Application with PerChatProcessor and our UpdateHandler, the
OutboxSender with its Pacer and batched marks in a real SQLite outbox), but the service is a stand-in
that answers each update with one queued reply at once, without the database: so the bot's CPU per
answer is the adapter's own cost (plus the mark-sent UPDATE). The fake Bot API server and the
simulated patients run in another process on the other CPU, as in `bench.telegram_throughput`.

Run: `python -m bench.telegram_adapter [--rates 300,300,300] [--seconds 5]`; compare two versions of
the code by running it with each on PYTHONPATH, in turns.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import itertools
import logging
import multiprocessing as mp
import statistics
import tempfile
from multiprocessing.connection import Connection
from typing import Any

from sqlalchemy import insert
from telegram import Update
from telegram.ext import Application, TypeHandler

from bench.telegram_throughput import TOKEN, Load, follow_steps, pin
from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.migrate import upgrade_async
from coachbot.adapters.db.models import OutboxMessage
from coachbot.adapters.telegram.app import file_url
from coachbot.adapters.telegram.bot_requests import SENDS_IN_FLIGHT, polling_request, sending_request
from coachbot.adapters.telegram.confirming_bot import ConfirmAfterCommitBot
from coachbot.adapters.telegram.inbound import ALLOWED_UPDATES
from coachbot.adapters.telegram.messages_out import TelegramChannel
from coachbot.adapters.telegram.outbox import OutboxSender
from coachbot.adapters.telegram.pacing import Pacer
from coachbot.adapters.telegram.updates import PerChatProcessor, UpdateHandler
from coachbot.app.channel import QueuedMessage, UpdateResult
from tests.support.basics import library

FIRST_CHAT = 100_000
REPLY = "Thank you. How is your mood today, from 0 (very low) to 10 (very good)?"
KEYBOARD = [[(str(i), f"t:abc:{i}") for i in range(6)], [(str(i), f"t:abc:{i}") for i in range(6, 11)]]
EPOCH = dt.datetime(2020, 1, 1, tzinfo=dt.UTC)


class InstantService:
    """Stands in for PatientService: every update gets one reply row (every other one with buttons),
    taken from rows written to the outbox beforehand so that marking them sent does real work."""

    def __init__(self, first_id: int) -> None:
        self._ids = itertools.count(first_id)

    async def handle_update(self, update_id: int, chat_id: int, event: object) -> UpdateResult:
        row_id = next(self._ids)
        payload: dict[str, Any] = {"text": REPLY}
        if row_id % 2:
            payload["keyboard"] = KEYBOARD
        row = QueuedMessage(id=row_id, chat_id=chat_id, lane=0, kind="text", payload=payload,
                            not_before=EPOCH, attempts=0, patient_id=None, escalation_id=None, label=None)
        return UpdateResult(queued=[row])


async def outbox_rows(url: str, count: int) -> int:
    """`count` rows to mark sent (written as sent already, so the sender's sweep leaves them alone);
    returns the first id."""
    await upgrade_async(url)
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(insert(OutboxMessage), [
            {"chat_id": 1, "lane": 0, "kind": "text", "payload": {}, "created_at": EPOCH,
             "not_before": EPOCH, "sent_at": EPOCH, "attempts": 0}
            for _ in range(count)])
    await engine.dispose()
    return 1


async def run_bot(url: str, conn: Connection, base_url: str, rows: int) -> list[dict[str, float]]:
    first = await outbox_rows(url, rows)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    base = base_url.rstrip("/")
    bot = ConfirmAfterCommitBot(TOKEN, base_url=base, base_file_url=file_url(base), request=sending_request(),
                                get_updates_request=polling_request())
    application = Application.builder().bot(bot).concurrent_updates(PerChatProcessor(256)).build()
    sender = OutboxSender(application.bot, sessions, Pacer(100_000.0, 1_000.0, 10),
                          clock=lambda: dt.datetime.now(dt.UTC), secret=TOKEN, sweep_every=3600,
                          max_in_flight=SENDS_IN_FLIGHT)
    channel = TelegramChannel(library().service.channel, library().escalation)
    handler = UpdateHandler(InstantService(first), channel, sender,  # type: ignore[arg-type]
                            on_done=bot.finished)
    application.add_handler(TypeHandler(Update, handler))
    await application.initialize()
    sender.start()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0.0, timeout=10,
                                            allowed_updates=list(ALLOWED_UPDATES))
    gc.freeze()  # as `TelegramBot.start` does: start-up's objects stay out of the full passes
    try:
        conn.send("ready")
        return await asyncio.get_running_loop().run_in_executor(None, follow_steps, conn)
    finally:
        await application.updater.stop()
        await application.stop()
        await sender.stop()
        await application.shutdown()
        await engine.dispose()
        conn.send("done")


def load_process(conn: Connection, patients: int, seconds: float, rates: list[float]) -> None:
    pin(1)
    logging.disable(logging.CRITICAL)
    asyncio.run(_load(conn, patients, seconds, rates))


async def _load(conn: Connection, patients: int, seconds: float, rates: list[float]) -> None:
    from tests.support.fake_bot_api import FakeBotApi  # noqa: PLC0415 - the test suite's fake

    async with FakeBotApi(TOKEN) as fake:
        load = Load(fake, patients)
        conn.send(fake.base_url)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        for index in range(patients):  # warm up: every chat once
            await load.send(index, "4")
            if index % 50 == 49:
                await load.wait_all_replied(60)
        await load.wait_all_replied(60)
        results: list[dict[str, float]] = []
        for rate in rates:
            conn.send(("begin", len(results)))
            polls = fake.count("getUpdates")
            result = await load.open_loop(rate, seconds)
            conn.send(("end", len(results)))
            result["polls"] = (fake.count("getUpdates") - polls) / max(result["replied"] * seconds, 1)
            results.append(result)
        conn.send(("results", results))
        with contextlib.suppress(EOFError):
            conn.recv()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--patients", type=int, default=800)
    parser.add_argument("--rates", default="300,300,300")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    rows = int(args.patients + sum(rates) * (args.seconds + 2) + 1000)
    here, there = mp.Pipe()
    load = mp.get_context("spawn").Process(target=load_process, args=(there, args.patients, args.seconds,
                                                                       rates), daemon=True)
    load.start()
    try:
        base_url = here.recv()
        pin(0)
        logging.basicConfig(level=logging.WARNING)
        with tempfile.TemporaryDirectory() as folder:
            results = asyncio.run(run_bot(f"sqlite+aiosqlite:///{folder}/adapter.db", here, base_url, rows))
    finally:
        load.join(30)
        if load.is_alive():
            load.kill()
    for r in results:
        print(f"offered {r['rate']:5.0f}/s  replied {r['replied']:6.1f}/s  p50 {r['p50']:6.1f} ms  "
              f"p99 {r['p99']:6.1f} ms  adapter CPU {r['cpu_ms']:.3f} ms/answer  "
              f"{r['polls']:.2f} getUpdates/answer")
    print(f"median adapter CPU {statistics.median(r['cpu_ms'] for r in results):.3f} ms/answer")


if __name__ == "__main__":
    main()
