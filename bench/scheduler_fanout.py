"""Benchmark: thousands of check-ins due in the same minute, sent at Telegram's pace, alerts unharmed.

Fan-out: N patients (default 10,000) have their daily check-in at the same minute. The real bot
(PTB long polling, the outbox sender paced at 30 in any second overall and 1/s per chat) and the
real scheduler (the APScheduler interval job) run in this process against the fake Bot API server,
which runs in a second process with Telegram's flood limits switched on (30/s overall, 1/s per
chat: a send over them gets a 429). While the check-ins go out, a patient in crisis writes every
`--alert-every` seconds; each time the coach's alert is timed from the patient's message to its
arrival at the server.
Reported: time from the due minute until every patient had the first message of their check-in, the
sustained rate, 429s, duplicates (a chat given two check-ins), and p50/p99 of the alert delay.

Startup: 100,000 patients with their schedules stored; five fresh processes (`bench/ready_probe.py`)
are each timed from just before they are spawned (this process reads the clock and passes it on) to
"ready" (interpreter start-up, imports, dialogs loaded, schema checked, bot built, schedules checked,
first tick done), and their resident memory then. Telegram's getMe and the polling start are not
included (they wait on the network). One more process before them, the first to read the files since
they were written, is reported on its own.

Run: `python -m bench.scheduler_fanout [--patients 10000] [--database sqlite|postgresql]
[--startup-patients 100000] [--only fanout|startup]`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import json
import logging
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert

from bench.telegram_throughput import drop_postgres, percentile, pin, postgres_database
from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.migrate import upgrade_async
from coachbot.adapters.db.models import Coach, Patient, Schedule
from coachbot.adapters.db.schedule_store import pending_bulk
from coachbot.adapters.telegram.app import TelegramBot
from coachbot.bootstrap import build_app
from coachbot.config import load_settings

POSTGRES_ADMIN = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
TOKEN = "4343:BENCH"
FIRST_CHAT = 1_000_000
COACH_CHAT = 900_000
CRISIS = "I want to kill myself"


# -- the fake Telegram, in its own process --------------------------------------------------------------

def server_process(conn: Connection, patients: int, alerts: int, alert_every: float, limit: float) -> None:
    pin(1)
    logging.disable(logging.CRITICAL)
    gc.disable()  # Telegram does not pause: see `load_process` in bench/telegram_throughput.py
    asyncio.run(_serve(conn, patients, alerts, alert_every, limit))


async def _serve(conn: Connection, patients: int, alerts: int, alert_every: float, limit: float) -> None:
    from tests.support.fake_bot_api import FakeBotApi  # noqa: PLC0415 - the test suite's fake, here only

    async with FakeBotApi(TOKEN, rate_limit=True) as fake:
        for i in range(patients + alerts):
            fake.user(FIRST_CHAT + i, f"P{i}")
        fake.user(COACH_CHAT, "Coach")
        targets = range(FIRST_CHAT, FIRST_CHAT + patients)
        first: dict[int, float] = {}
        count: dict[int, int] = {}
        alert_arrived, everyone = asyncio.Event(), asyncio.Event()
        original = fake.api_sendMessage

        def send_message(params: dict[str, Any], files: dict[str, Any]) -> Any:
            result = original(params, files)  # raises on a 429: not counted as sent
            chat = int(params["chat_id"])
            count[chat] = count.get(chat, 0) + 1
            first.setdefault(chat, time.time())
            if len(first) >= patients + (COACH_CHAT in first) and all(c in first for c in targets):
                everyone.set()
            if chat == COACH_CHAT:
                alert_arrived.set()
            return result

        original_photo = fake.api_sendPhoto

        def send_photo(params: dict[str, Any], files: dict[str, Any]) -> Any:
            result = original_photo(params, files)  # the alert card: its 14-day chart, drawn by the bot
            if int(params["chat_id"]) == COACH_CHAT:
                count[COACH_CHAT] = count.get(COACH_CHAT, 0) + 1
                first.setdefault(COACH_CHAT, time.time())
                alert_arrived.set()
            return result

        fake.register_method("sendMessage", send_message)
        fake.register_method("sendPhoto", send_photo)
        conn.send(fake.base_url)
        due = await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await asyncio.sleep(max(0.0, due - time.time()))
        delays: list[float] = []
        deadline = due + limit
        for i in range(alerts):
            if time.time() > deadline or all(chat in first for chat in targets):
                break
            alert_arrived.clear()
            pushed = time.time()
            await fake.users[FIRST_CHAT + patients + i].send_text(CRISIS)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(alert_arrived.wait(), 30)
                delays.append(time.time() - pushed)
            await asyncio.sleep(max(0.0, alert_every - (time.time() - pushed)))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(everyone.wait(), max(0.0, deadline - time.time()))
        await asyncio.sleep(3)  # anything sent twice would show up now
        times = [first[c] - due for c in targets if c in first]
        refused = [int(c.params.get("chat_id", 0)) for method in ("sendMessage", "sendPhoto")
                   for c in fake.calls_to(method, status=429)]
        conn.send({"first": times, "missing": patients - len(times),
                   "duplicates": sum(1 for c in targets if count.get(c, 0) > 1),
                   "rate_limited": fake.rate_limited, "alert_delays": delays,
                   "refused": {"coach": sum(c == COACH_CHAT for c in refused),
                               "check-in": sum(c in targets for c in refused)},
                   "sent_total": sum(count.values())})
        with contextlib.suppress(EOFError):
            conn.recv()


# -- the bot, in this process ------------------------------------------------------------------------------

async def seed(url: str, patients: int, alerts: int, due: dt.datetime) -> None:
    """Onboarded patients due at `due` (London), and patients who will write in crisis (due at night)."""
    await upgrade_async(url)
    engine = make_engine(url)
    now = dt.datetime.now(dt.UTC)
    local = due.astimezone(_london())
    at = local.time()
    async with make_sessionmaker(engine)() as session, session.begin():
        coach = Coach(telegram_user_id=COACH_CHAT, name="Coach", created_at=now)
        session.add(coach)
        await session.flush()
        for start in range(0, patients + alerts, 5000):
            rows = [dict(id=i + 1, label=f"B-{i:07d}", chat_id=FIRST_CHAT + i, timezone="Europe/London",
                         checkin_time=at if i < patients else dt.time(3),
                         weekly_review_day=(local.weekday() + 3) % 7, status="active",
                         consent_at=now, onboarded_at=now - dt.timedelta(days=9), unreachable=False,
                         coach_id=coach.id, created_at=now, updated_at=now)
                    for i in range(start, min(start + 5000, patients + alerts))]
            await session.execute(insert(Patient), rows)
            await session.execute(insert(Schedule), [
                dict(patient_id=r["id"], dialog="daily", next_due_at=due if r["id"] <= patients else
                     due + dt.timedelta(hours=12), local_date=local.date(), updated_at=now) for r in rows])
    await engine.dispose()


def _london() -> dt.tzinfo:
    return ZoneInfo("Europe/London")


async def run_bot(url: str, conn: Connection, base_url: str, due: dt.datetime,
                  rate: float) -> dict[str, Any]:
    settings = load_settings(database_url=url, telegram_token=TOKEN, telegram_base_url=base_url,
                             telegram_poll_timeout=10, log_level="ERROR", telegram_sends_per_second=rate,
                             schedule_tick_seconds=5)
    logging.basicConfig(level=logging.ERROR)
    core = await build_app(url, settings.dialogs_dir)
    bot = TelegramBot(core, settings)
    logging.getLogger("telegram").setLevel(logging.CRITICAL)  # PTB's noise on stopping the long poll
    reports: list[Any] = []
    lags: list[float] = []

    async def watch_the_loop() -> None:
        """How late a 50 ms sleep wakes up: the event loop's lag, which delays every send and reply."""
        while True:
            asked = time.perf_counter()
            await asyncio.sleep(0.05)
            lags.append(time.perf_counter() - asked - 0.05)
            if lags[-1] > 0.5 and os.environ.get("BENCH_SHOW_STALLS"):
                print(f"stall {lags[-1]:.2f}s at {time.time() - due.timestamp():.1f}s", file=sys.stderr)

    ahead: list[tuple[float, int]] = []  # (seconds after due, unsent check-ins in the outbox)

    async def watch_the_outbox() -> None:
        """The scheduler should keep the sender fed: unsent bulk rows should never run out early."""
        while True:
            async with core.sessions() as session:
                ahead.append((time.time() - due.timestamp(), await pending_bulk(session)))
            await asyncio.sleep(1.0)

    watcher = asyncio.create_task(watch_the_loop())
    outbox_watcher = asyncio.create_task(watch_the_outbox())
    try:
        await bot.start()  # starts the sender, then the scheduler (its APScheduler job), as `coachbot run`
        scheduler = bot.scheduler
        assert scheduler is not None
        original = scheduler.tick

        async def tick() -> Any:
            report = await original()
            reports.append(report)
            return report

        scheduler.tick = tick  # type: ignore[method-assign]  # the job looks it up at each run
        conn.send(due.timestamp())
        result: dict[str, Any] = await asyncio.get_running_loop().run_in_executor(None, conn.recv)
    finally:
        watcher.cancel()
        outbox_watcher.cancel()
        await bot.stop()  # stops the scheduler, then the sender
        await core.close()
        conn.send("done")
    held = sorted(bot.sender.pacer.held)
    result["held"] = (percentile(held, 0.5), percentile(held, 0.9), percentile(held, 0.99))
    result["late_looks"] = bot.sender.late_looks
    result["queued"] = sum(r.queued for r in reports)
    result["late"] = sum(r.late for r in reports)
    result["lag"] = (percentile(lags, 0.5), percentile(lags, 0.99), max(lags, default=0.0))
    result["ahead"] = ahead
    return result


def fanout(label: str, url: str, args: argparse.Namespace) -> None:
    due = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=75)).replace(second=0, microsecond=0)
    alerts = int(args.limit / args.alert_every) + 5
    asyncio.run(seed(url, args.patients, alerts, due))
    here, there = mp.Pipe()
    server = mp.get_context("spawn").Process(
        target=server_process, args=(there, args.patients, alerts, args.alert_every, args.limit), daemon=True)
    server.start()
    try:
        base_url = here.recv()
        pin(0)
        result = asyncio.run(run_bot(url, here, base_url, due, args.send_rate))
    finally:
        server.join(30)
        if server.is_alive():
            server.kill()
    first = sorted(result["first"])
    n, last = len(first), first[-1] if first else float("nan")
    spread = (first[-1] - first[0]) if n > 1 else float("nan")
    steady = 0.9 * n / (percentile(first, 0.95) - percentile(first, 0.05)) if n > 20 else float("nan")
    delays = result["alert_delays"]
    print(f"[{label}] {args.patients} check-ins due at one minute: {n} first messages, the first "
          f"{first[0]:.1f} s and the last {last:.1f} s after the due time ({last / 60:.2f} min; target "
          f"<= 6 min); check-ins {steady:.1f}/s sustained (5th-95th percentile; target >= 28/s); all sends "
          f"together (check-ins, alerts, replies) {result['sent_total'] / max(last, 1):.1f}/s")
    print(f"[{label}] 429s: {result['rate_limited']} {result['refused']} (target 0); duplicates: "
          f"{result['duplicates']} "
          f"(target 0); missing after {args.limit:.0f} s: {result['missing']}; queued by the scheduler: "
          f"{result['queued']} ({result['late']} logged late)")
    last_start = max((t for t, _ in result["ahead"] if t <= last), default=0.0)
    feeding = [n for t, n in result["ahead"] if 5 <= t <= last - 30]
    if feeding:
        print(f"[{label}] unsent check-ins waiting in the outbox while they went out: min {min(feeding)}, "
              f"median {statistics.median(feeding):.0f}, max {max(feeding)} (0 would mean the scheduler "
              f"starved the sender); sampled until {last_start:.0f} s")
    held = result["held"]
    print(f"[{label}] each send's slot, from its grant to Telegram's answer: p50 {held[0] * 1000:.0f} ms, "
          f"p90 {held[1] * 1000:.0f} ms, p99 {held[2] * 1000:.0f} ms (a slot is held one second longer, "
          f"so the rate is at most 30 / (1 s + this)); cancellation looked up late in the slot: "
          f"{result['late_looks']}")
    lag = result["lag"]
    print(f"[{label}] the bot's event loop lag: p50 {lag[0] * 1000:.0f} ms, p99 {lag[1] * 1000:.0f} ms, "
          f"max {lag[2] * 1000:.0f} ms")
    if delays:
        print(f"[{label}] coach alerts during the fan-out: {len(delays)}, delay p50 "
              f"{statistics.median(delays) * 1000:.0f} ms, p99 {percentile(delays, 0.99) * 1000:.0f} ms, "
              f"max {max(delays) * 1000:.0f} ms (target p99 < 2 s)")
    if args.patients < 10_000 and n > 1:
        print(f"[{label}] extrapolated to 10,000 at the same rate (not measured): "
              f"{10_000 / ((n - 1) / spread) / 60:.2f} min")


# -- startup --------------------------------------------------------------------------------------------

async def seed_many(url: str, patients: int) -> None:
    await upgrade_async(url)
    engine = make_engine(url)
    now = dt.datetime.now(dt.UTC)
    tomorrow = (now + dt.timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
    async with make_sessionmaker(engine)() as session, session.begin():
        for start in range(0, patients, 10_000):
            ids = range(start + 1, min(start + 10_000, patients) + 1)
            await session.execute(insert(Patient), [dict(
                id=i, label=f"S-{i:07d}", chat_id=FIRST_CHAT + i, timezone="Europe/London",
                checkin_time=dt.time(9), weekly_review_day=6, status="active", consent_at=now,
                onboarded_at=now, unreachable=False, created_at=now, updated_at=now) for i in ids])
            await session.execute(insert(Schedule), [dict(
                patient_id=i, dialog=d, next_due_at=tomorrow + dt.timedelta(days=7 * (d == "weekly")),
                local_date=tomorrow.date(), updated_at=now) for i in ids for d in ("daily", "weekly")])
    await engine.dispose()


def probe(url: str, env: dict[str, str]) -> dict[str, Any]:
    """One fresh `bench.ready_probe` process: its marks and memory."""
    spawned_at = time.time()  # the probe's zero: its marks include exec and interpreter start-up
    out = subprocess.run([sys.executable, "-m", "bench.ready_probe", url, repr(spawned_at)],
                         capture_output=True, text=True, check=True, env=env).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def startup(label: str, url: str, patients: int, runs: int = 5) -> None:
    asyncio.run(seed_many(url, patients))
    # From compiled bytecode, as an installed bot runs (with PYTHONDONTWRITEBYTECODE every start would
    # compile coachbot's modules again).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    print(f"[{label}] load average before: {os.getloadavg()[0]:.2f}")
    first = probe(url, env)["marks"]
    results = [probe(url, env) for _ in range(runs)]
    steps = ", ".join(f"{name} {statistics.median(r['marks'][name] for r in results):.2f} s"
                      for name in results[0]["marks"])
    total = [r["marks"]["first tick (ready)"] for r in results]
    print(f"[{label}] {patients} patients stored: start to ready, median of {runs} fresh processes "
          f"{statistics.median(total):.2f} s (min {min(total):.2f}, max {max(total):.2f}; target < 1.5 s); "
          f"median time since the spawn at each step: {steps}; resident memory then "
          f"{statistics.median(r['rss_mb'] for r in results):.0f} MB")
    cpu = ", ".join(f"{name} {statistics.median(r['cpu'][name] for r in results):.2f} s"
                    for name in results[0]["cpu"])
    print(f"[{label}] CPU time used by each step's end, medians: {cpu}; load average after: "
          f"{os.getloadavg()[0]:.2f}")
    print(f"[{label}] the first start: "
          f"ready at {first['first tick (ready)']:.2f} s (dialogs + schema done at "
          f"{first['dialogs + schema']:.2f} s)")


def with_database(kind: str, fn: Any, *args: Any) -> None:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            fn("sqlite", f"sqlite+aiosqlite:///{folder}/bench.db", *args)
        return
    name = asyncio.run(postgres_database(POSTGRES_ADMIN))
    if name is None:
        print("[postgresql] no server answered; skipped")
        return
    try:
        fn("postgresql", POSTGRES_ADMIN.rsplit("/", 1)[0] + "/" + name, *args)
    finally:
        asyncio.run(drop_postgres(POSTGRES_ADMIN, name))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--startup-patients", type=int, default=100_000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--alert-every", type=float, default=2.0, help="seconds between crisis messages")
    parser.add_argument("--send-rate", type=float, default=30.0,
                        help="COACHBOT_TELEGRAM_SENDS_PER_SECOND for the bot (Telegram allows about 30)")
    parser.add_argument("--limit", type=float, default=540.0, help="give up after this many seconds")
    parser.add_argument("--only", choices=("fanout", "startup"))
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; the bot on CPU 0, the fake Bot API on CPU 1")
    if args.only != "startup":
        with_database(args.database, fanout, args)
    if args.only != "fanout":
        with_database(args.database, startup, args.startup_patients)


if __name__ == "__main__":
    main()
