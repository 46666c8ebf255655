"""Benchmark: inbound answers per second one bot process sustains end to end, and update-to-reply latency.

End to end means: the update goes into the fake Bot API server, the real bot (PTB long polling, the
service, one database transaction, the outbox) takes it, and its reply arrives back at the server.
A reply is only sent after the commit, so a reply means the answer is stored.

The fake server and the simulated patients run in a separate process pinned to the other CPU, so the
bot's process (pinned to one CPU) is what is measured; PostgreSQL's server processes for the bench's
database go to that other CPU too (in production the database has a machine of its own).

Patients are seeded as onboarded, and each repeats "4", "5", "skip", "/checkin"; every one of these
updates gets exactly one reply (the engine's replies of an event are merged). In a patient's first
round "4" and "5" answer pain and mood, "skip" passes over the note and ends the check-in (with the
day's step suggestion). From then on the check-in also asks how that step went ("skip" passes over
it), and "/checkin" starts the check-in again from its first question: in the steady state three
updates in four are answers in the middle of a dialog and one starts a check-in. The patients are
spread evenly over that cycle, so every moment's load is the same mix.

Two loads, on SQLite and on PostgreSQL (a throwaway database, dropped afterwards):
- open loop: updates offered at a fixed rate by many patients (each at most one every 2 s, well under
  Telegram's one message a second per chat), stepping the rate up; "sustained" means the replies kept
  up with the offer;
- closed loop: every patient answers as soon as their reply arrives, which finds the ceiling.

The load process stands in for Telegram, which does not pause: it collects its garbage only between
steps, never during one (see `load_process`).

Run: `python -m bench.telegram_throughput [--seconds 5] [--patients 800] [--rates 50,100,...]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import logging
import multiprocessing as mp
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from coachbot.adapters.db import store
from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.migrate import upgrade_async
from coachbot.adapters.db.models import Patient
from coachbot.adapters.telegram.app import TelegramBot
from coachbot.bootstrap import build_app
from coachbot.config import load_settings

POSTGRES_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
CYCLE = ("4", "5", "skip", "/checkin")
TOKEN = "4242:BENCH"
FIRST_CHAT = 100_000
BOT_CPU, LOAD_CPU = 0, 1


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def pin(cpu: int) -> None:
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setaffinity(0, {cpu % (os.cpu_count() or 1)})


def pin_database_server(database: str, cpu: int, stop: threading.Event) -> None:
    """Until `stop`: keep the PostgreSQL server processes serving `database` (new ones as the pool
    grows) on `cpu`, the load process's, so the bot's core is the bot's alone: in production the
    database runs on a machine of its own."""
    pinned: set[int] = set()
    while not stop.wait(0.2):
        for status in Path("/proc").glob("[0-9]*/cmdline"):
            with contextlib.suppress(OSError, ValueError):
                pid = int(status.parent.name)
                if pid not in pinned and f" {database} ".encode() in status.read_bytes():
                    os.sched_setaffinity(pid, {cpu % (os.cpu_count() or 1)})
                    pinned.add(pid)


# -- the load process: fake Bot API + simulated patients ----------------------------------------------

class Load:
    """Patients talking to the bot through the fake server; measures each update's time to reply."""

    def __init__(self, fake: Any, patients: int) -> None:
        self.fake = fake
        self.users = [fake.user(FIRST_CHAT + i, f"P{i}") for i in range(patients)]
        self.step = dict.fromkeys(range(patients), 0)
        self.waiting: dict[int, float] = {}  # chat -> when its update was pushed
        self.latencies: list[float] = []
        self.replies = 0
        self.changed = asyncio.Event()
        original = fake.api_sendMessage

        def send_message(params: dict[str, Any], files: dict[str, Any]) -> Any:
            result = original(params, files)
            pushed = self.waiting.pop(int(params["chat_id"]), None)
            if pushed is not None:
                self.latencies.append(time.perf_counter() - pushed)
                self.replies += 1
                self.changed.set()
            return result

        fake.register_method("sendMessage", send_message)

    async def send(self, index: int, text_: str | None = None) -> None:
        user = self.users[index]
        message = text_ if text_ is not None else CYCLE[self.step[index] % len(CYCLE)]
        self.step[index] += 1
        self.waiting[user.id] = time.perf_counter()
        await user.send_text(message)

    async def wait_all_replied(self, timeout: float) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while self.waiting:
                self.changed.clear()
                await self.changed.wait()

    def reset(self) -> None:
        self.latencies, self.replies = [], 0

    async def open_loop(self, rate: float, seconds: float) -> dict[str, float]:
        """Offer `rate` updates a second from free patients (round robin) for `seconds`."""
        self.reset()
        loop = asyncio.get_running_loop()
        started, offered, skipped, cursor = loop.time(), 0, 0, 0
        while (elapsed := loop.time() - started) < seconds:
            due = int(elapsed * rate) - offered - skipped
            for _ in range(due):
                for _ in range(len(self.users)):
                    cursor = (cursor + 1) % len(self.users)
                    if self.users[cursor].id not in self.waiting:
                        break
                else:
                    skipped += 1  # every patient still waits for a reply: the bot is behind
                    continue
                offered += 1
                await self.send(cursor)
            await asyncio.sleep(0.002)
        in_time = self.replies
        with contextlib.suppress(TimeoutError):
            await self.wait_all_replied(10)
        return {"rate": rate, "offered": offered / seconds, "replied": in_time / seconds, "seconds": seconds,
                "skipped": skipped, "p50": percentile(self.latencies, 0.5) * 1000,
                "p99": percentile(self.latencies, 0.99) * 1000}

    async def closed_loop(self, concurrency: int, seconds: float) -> dict[str, float]:
        """`concurrency` patients each answer as soon as their reply arrives."""
        self.reset()
        loop = asyncio.get_running_loop()
        stop = loop.time() + seconds

        async def patient(index: int) -> None:
            while loop.time() < stop:
                chat = self.users[index].id
                await self.send(index)
                while chat in self.waiting:
                    self.changed.clear()
                    await self.changed.wait()

        await asyncio.gather(*(patient(i) for i in range(concurrency)))
        return {"concurrency": concurrency, "replied": self.replies / seconds, "seconds": seconds,
                "p50": percentile(self.latencies, 0.5) * 1000, "p99": percentile(self.latencies, 0.99) * 1000}


def settle() -> None:
    """Between steps, while the bot is idle: collect the load process's garbage and set what is left
    aside for good, so the next step starts with nothing for a collection to walk."""
    gc.collect()
    gc.freeze()


def load_process(conn: Connection, patients: int, seconds: float, rates: list[float],  # noqa: PLR0917
                 concurrency: int, cpu: int, database: str | None) -> None:
    pin(cpu)
    logging.disable(logging.CRITICAL)
    # The fake server keeps every chat's history, so this process's heap grows all run long, and a
    # full collection of it stopped the fake Telegram (and the patients) for 60-190 ms once a step:
    # the bot's replies waited on it, and that stall was most of the p99 the steps reported. Real
    # Telegram does not pause like that, so collections here run between steps only (`settle`).
    gc.disable()
    stop_pinning = threading.Event()
    if database:
        threading.Thread(target=pin_database_server, args=(database, cpu, stop_pinning), daemon=True).start()
    try:
        asyncio.run(_load(conn, patients, seconds, rates, concurrency))
    finally:
        stop_pinning.set()


async def _load(conn: Connection, patients: int, seconds: float, rates: list[float],
                concurrency: int) -> None:
    from tests.support.fake_bot_api import FakeBotApi  # noqa: PLC0415 - the test suite's fake, here only

    async with FakeBotApi(TOKEN) as fake:
        load = Load(fake, patients)
        conn.send(fake.base_url)
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # the bot is up
        for index in range(patients):  # warm up: everyone starts a check-in
            await load.send(index, "/checkin")
            if index % 50 == 49:
                await load.wait_all_replied(60)
        await load.wait_all_replied(60)
        # Spread the patients evenly over the cycle (patient i is i % 4 updates in), so that every
        # moment has the same mix (see the module docstring). Without this every patient is at the
        # same place in the cycle, and the load moves through phases of only answers and only
        # check-in starts instead of the mix this benchmark describes.
        for ahead in range(1, len(CYCLE)):
            for index in range(patients):
                if index % len(CYCLE) >= ahead:
                    await load.send(index)
                    if index % 50 == 49:
                        await load.wait_all_replied(60)
            await load.wait_all_replied(60)
        results: list[dict[str, float]] = []
        for rate in rates:
            settle()
            conn.send(("begin", len(results)))
            cpu = time.process_time()
            result = await load.open_loop(rate, seconds)
            result["load_cpu"] = (time.process_time() - cpu) / seconds
            conn.send(("end", len(results)))
            results.append(result)
            if result["replied"] < 0.9 * rate or result["skipped"]:
                break  # past the ceiling: higher rates only queue up
        settle()
        conn.send(("begin", len(results)))
        cpu = time.process_time()
        results.append(await load.closed_loop(concurrency, seconds))
        results[-1]["load_cpu"] = (time.process_time() - cpu) / seconds
        conn.send(("end", len(results) - 1))
        conn.send(("results", results))
        with contextlib.suppress(EOFError):  # keep serving until the bot has stopped
            await asyncio.get_running_loop().run_in_executor(None, conn.recv)


# -- the bot process (this one) ----------------------------------------------------------------------

async def seed(url: str, patients: int) -> None:
    """Onboarded patients, one a chat, with no dialog running."""
    await upgrade_async(url)
    engine = make_engine(url)
    now = dt.datetime.now(dt.UTC)
    onboarded = now - dt.timedelta(days=30)
    labels: set[str] = set()
    while len(labels) < patients:
        labels.add(store.new_label())
    async with make_sessionmaker(engine)() as session, session.begin():
        session.add_all(Patient(label=label, chat_id=FIRST_CHAT + i, name=f"P{i}", status="active",
                                consent_at=onboarded, onboarded_at=onboarded, checkin_time=dt.time(9),
                                created_at=onboarded, updated_at=onboarded)
                        for i, label in enumerate(sorted(labels)))
    await engine.dispose()


async def run_bot(url: str, conn: Connection, base_url: str) -> list[dict[str, float]]:
    settings = load_settings(
        database_url=url, telegram_token=TOKEN, telegram_base_url=base_url, telegram_poll_timeout=10,
        telegram_sends_per_second=100_000.0, telegram_chat_sends_per_second=1_000.0,
        telegram_chat_burst=10, log_level="ERROR")
    core = await build_app(url, settings.dialogs_dir)
    bot = TelegramBot(core, settings)
    try:
        await bot.start()
        conn.send("ready")
        results = await asyncio.get_running_loop().run_in_executor(None, follow_steps, conn)
    finally:
        await bot.stop()
        await core.close()
        conn.send("done")
    return results


def follow_steps(conn: Connection) -> list[dict[str, float]]:
    """In a thread of the bot's process: note its CPU time at each step's start and end, so each
    result also says how many CPU milliseconds the bot spent per reply."""
    started: dict[int, float] = {}
    spent: dict[int, float] = {}
    while True:
        kind, value = conn.recv()
        if kind == "begin":
            started[value] = time.process_time()
        elif kind == "end":
            spent[value] = time.process_time() - started[value]
        else:
            results: list[dict[str, float]] = value
            for index, result in enumerate(results):
                replies = result["replied"] * result.get("seconds", 1)
                result["cpu_ms"] = 1000 * spent.get(index, float("nan")) / max(replies, 1)
            return results


def measure(label: str, url: str, args: argparse.Namespace) -> None:
    asyncio.run(seed(url, args.patients))
    here, there = mp.Pipe()
    context = mp.get_context("spawn")
    database = None if url.startswith("sqlite") else make_url(url).database
    load = context.Process(target=load_process, args=(there, args.patients, args.seconds, args.rates,
                                                      args.concurrency, LOAD_CPU, database), daemon=True)
    load.start()
    try:
        base_url = here.recv()
        pin(BOT_CPU)
        results = asyncio.run(run_bot(url, here, base_url))
    finally:
        load.join(30)
        if load.is_alive():
            load.kill()
    report(label, results)


def report(label: str, results: list[dict[str, float]]) -> None:
    sustained = [r for r in results if "rate" in r and r["replied"] >= 0.97 * r["rate"] and not r["skipped"]]
    for r in results:
        if "rate" in r:
            skipped = f"  ({int(r['skipped'])} not offered: all were waiting)" if r["skipped"] else ""
            print(f"[{label}] offered {r['rate']:6.0f}/s  replied {r['replied']:6.1f}/s  "
                  f"p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms  bot CPU {r['cpu_ms']:5.2f} ms/answer  "
                  f"load process {100 * r['load_cpu']:3.0f}% busy" + skipped)
        else:
            print(f"[{label}] closed loop, {int(r['concurrency'])} patients at once: {r['replied']:6.1f}/s  "
                  f"p50 {r['p50']:7.1f} ms  p99 {r['p99']:7.1f} ms  bot CPU {r['cpu_ms']:5.2f} ms/answer  "
                  f"load process {100 * r['load_cpu']:3.0f}% busy")
    best = max(sustained, key=lambda r: r["rate"]) if sustained else None
    if best:
        verdict = "meets" if best["rate"] >= 300 and best["p99"] < 50 else "misses"
        print(f"[{label}] sustained: {best['rate']:.0f} answers/s with p99 {best['p99']:.1f} ms "
              f"({verdict} the target of 300/s with p99 < 50 ms)")


async def postgres_database(admin_url: str) -> str | None:
    name = f"coachbot_bench_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OSError:
        return None
    finally:
        await admin.dispose()
    return name


async def drop_postgres(admin_url: str, name: str) -> None:
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


def databases(only: str | None, admin_url: str) -> Iterator[tuple[str, str]]:
    """(label, URL) of a throwaway SQLite file, then of a throwaway PostgreSQL database (skipped, with a
    line saying so, when no server answers); each is removed once its turn is over."""
    if only != "postgresql":
        with tempfile.TemporaryDirectory() as folder:
            yield "sqlite", f"sqlite+aiosqlite:///{folder}/bench.db"
    if only == "sqlite":
        return
    name = asyncio.run(postgres_database(admin_url))
    if name is None:
        print("[postgresql] no server answered; skipped")
        return
    try:
        yield "postgresql", admin_url.rsplit("/", 1)[0] + "/" + name
    finally:
        asyncio.run(drop_postgres(admin_url, name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each step")
    parser.add_argument("--patients", type=int, default=800)
    parser.add_argument("--rates", default="50,100,150,200,250,300,350,400,500",
                        help="open-loop rates to step through (answers a second)")
    parser.add_argument("--concurrency", type=int, default=64, help="patients at once in the closed loop")
    parser.add_argument("--postgres", default=POSTGRES_ADMIN)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    args.rates = [float(r) for r in args.rates.split(",")]
    print(f"{os.cpu_count()} CPUs; the bot on CPU {BOT_CPU}; the fake Bot API, the patients and "
          f"PostgreSQL's processes for the bench's database on CPU {LOAD_CPU}; "
          f"{args.patients} patients, {args.seconds:.0f} s a step")
    for label, url in databases(args.only, args.postgres):
        measure(label, url, args)


if __name__ == "__main__":
    main()
