"""Benchmark: the resident memory of the whole bot (every process it starts) and its time to first poll.

The real bot is started as an operator starts it, `python -m coachbot.cli run` in a fresh process,
against the fake Bot API server (tests/support/fake_bot_api), which runs in this process.

Memory: a SQLite file with 1,000 onboarded patients (each with a schedule, pain and mood over the
last two weeks) and one coach who has them all. Once the bot polls, and a few seconds later (its
first scheduler tick done), the resident set of its process tree is summed (psutil: the bot and all
its descendants, whatever they are); then the coach sends `/patient` for one patient, the bot draws
and sends the chart, and the tree is summed again. USS (memory no other process shares) is printed
beside RSS, since RSS counts the shared libraries once in every process.

Start-up: the bot started on a new, empty SQLite file (it creates the schema), timed from just before
this process spawns it to the fake server's receipt of its first getUpdates. A second time is taken
with the 1,000 patients. Beside each time, the CPU time the process had used by then (user + system,
read with psutil as soon as the poll arrives): it moves much less with the machine's load than the
wall-clock time does.

The yardstick: a plain PTB bot (`bench/plain_bot.py`: PTB's defaults, one echo handler, long polling)
started and measured the same way; the bot's figures are also printed as ratios to it.

The bots run from compiled bytecode, as an installed bot does: PYTHONDONTWRITEBYTECODE is left out of
their environment (with it, every start compiles coachbot's ~120 modules again, about 0.15 s).

Run: `python -m bench.memory [--runs 3] [--patients 1000] [--python PATH]`; medians of the runs are
printed, with the load average before and after. `--python` runs both bots with another interpreter,
such as a virtual environment holding only coachbot's runtime dependencies (`pip install .`, no dev
extras): the development tools pull in packages the bot then loads too (httpx imports its command-line
extras, click, rich and pygments, whenever they are installed: about 5 MB and 40 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import insert

from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.migrate import upgrade_async
from coachbot.adapters.db.models import Coach, Measurement, Patient, Schedule
from tests.support.fake_bot_api import FakeBotApi

REPO = Path(__file__).resolve().parent.parent
COACH_CHAT = 900_000
FIRST_CHAT = 1_000_000
PYTHON = [sys.executable]
"""The interpreter the bots run with (`--python`)."""
BOT = ("-m", "coachbot.cli", "run")
PLAIN = ("-m", "bench.plain_bot")
SETTLE = 3.0
"""Seconds after the first poll before the memory is read: the first scheduler tick is done by then."""


async def seed(url: str, patients: int) -> None:
    """Onboarded patients with a check-in tomorrow and 14 days of answers, all the coach's."""
    await upgrade_async(url)
    engine = make_engine(url)
    now = dt.datetime.now(dt.UTC)
    tomorrow = (now + dt.timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
    async with make_sessionmaker(engine)() as session, session.begin():
        coach = Coach(telegram_user_id=COACH_CHAT, name="Coach", created_at=now)
        session.add(coach)
        await session.flush()
        ids = range(1, patients + 1)
        await session.execute(insert(Patient), [dict(
            id=i, label=label(i), chat_id=FIRST_CHAT + i, timezone="Europe/London", checkin_time=dt.time(9),
            weekly_review_day=6, status="active", consent_at=now, onboarded_at=now - dt.timedelta(days=20),
            unreachable=False, coach_id=coach.id, created_at=now, updated_at=now) for i in ids])
        await session.execute(insert(Schedule), [dict(
            patient_id=i, dialog=d, next_due_at=tomorrow + dt.timedelta(days=7 * (d == "weekly")),
            local_date=tomorrow.date(), updated_at=now) for i in ids for d in ("daily", "weekly")])
        await session.execute(insert(Measurement), [dict(
            patient_id=i, code=code, value_num=float((i + day + (code == "mood_now") * 3) % 11),
            recorded_at=now - dt.timedelta(days=day), script="daily", state="done")
            for i in ids for day in range(14) if day % 5 != 3 for code in ("pain_now", "mood_now")])
    await engine.dispose()


def label(i: int) -> str:
    return f"P-{i:06d}"


def environment(fake: FakeBotApi, url: str, cache: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("COACHBOT_") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update({"XDG_CACHE_HOME": cache, "COACHBOT_DATABASE_URL": url,
                "COACHBOT_DIALOGS_DIR": str(REPO / "dialogs"), "COACHBOT_TELEGRAM_TOKEN": fake.token,
                "COACHBOT_TELEGRAM_BASE_URL": fake.base_url, "COACHBOT_TELEGRAM_POLL_TIMEOUT": "1",
                "COACHBOT_LOG_LEVEL": "ERROR", "PYTHONPATH": str(REPO)})
    return env


def tree(pid: int) -> tuple[float, float, int]:
    """RSS and USS of the process and all its descendants, in MB, and how many processes there are."""
    root = psutil.Process(pid)
    rss = uss = 0.0
    processes = [root, *root.children(recursive=True)]
    for process in processes:
        info = process.memory_full_info()
        rss, uss = rss + info.rss, uss + info.uss
        if os.environ.get("BENCH_SHOW_PROCESSES"):
            print(f"  {process.pid} {' '.join(process.cmdline())[:100]}: RSS {info.rss / 2**20:.0f} MB, "
                  f"USS {info.uss / 2**20:.0f} MB", file=sys.stderr)
    return rss / 2**20, uss / 2**20, len(processes)


async def one_run(folder: Path, patients: int) -> dict[str, Any]:
    result: dict[str, Any] = {}
    async with FakeBotApi() as fake:
        coach = fake.user(COACH_CHAT, "Coach")
        # The first start of all (cold file caches): reported on its own.
        process, result["first poll, first start, empty database"], _ = await start(
            fake, environment(fake, f"sqlite+aiosqlite:///{folder / 'first.db'}", str(folder)))
        await stop(process)
        # The yardstick: a plain PTB bot, polling and echoing.
        plain_env = environment(fake, "", str(folder))
        process, took, cpu = await start(fake, plain_env, PLAIN)
        result["first poll, plain PTB bot"], result["CPU to first poll, plain PTB bot"] = took, cpu
        try:
            await asyncio.sleep(SETTLE)
            result["plain PTB bot"] = tree(process.pid)
        finally:
            await stop(process)
        # A new, empty database: the bot creates the schema, then polls.
        process, took, cpu = await start(
            fake, environment(fake, f"sqlite+aiosqlite:///{folder / 'empty.db'}", str(folder)))
        result["first poll, empty database"], result["CPU to first poll, empty database"] = took, cpu
        await stop(process)
        url = f"sqlite+aiosqlite:///{folder / 'bench.db'}"
        await seed(url, patients)
        polls = fake.count("getUpdates")
        process, took, cpu = await start(fake, environment(fake, url, str(folder)))
        try:
            result[f"first poll, {patients} patients"] = took
            result[f"CPU to first poll, {patients} patients"] = cpu
            await asyncio.sleep(SETTLE)
            result["after start"] = tree(process.pid)
            photos = fake.count("sendPhoto")
            await coach.send_command(f"/patient {label(1)}")
            await fake.wait_until(lambda: fake.count("sendPhoto") > photos, timeout=60, what="the chart")
            await asyncio.sleep(0.5)
            result["after one chart"] = tree(process.pid)
            assert fake.count("getUpdates") > polls
        finally:
            await stop(process)
    return result


async def start(fake: FakeBotApi, env: dict[str, str], command: tuple[str, ...] = BOT,
                ) -> tuple[asyncio.subprocess.Process, float, float]:
    """The bot in a fresh process; returns it once it polled, the seconds from its spawn to the first
    getUpdates, and the CPU seconds it had used when that arrived."""
    polls = fake.count("getUpdates")
    spawned = time.time()
    process = await asyncio.create_subprocess_exec(PYTHON[0], *command, env=env,
                                                   cwd=REPO, stdout=asyncio.subprocess.DEVNULL)
    cpu = 0.0

    def polled() -> bool:
        nonlocal cpu
        if fake.count("getUpdates") > polls:
            times = psutil.Process(process.pid).cpu_times()
            cpu = times.user + times.system
            return True
        return False

    await fake.wait_until(polled, timeout=60, what="the first poll")
    first = fake.calls_to("getUpdates")[polls]
    return process, first.time - spawned, cpu


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), 30)
        except TimeoutError:
            process.kill()
            await process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--python", default=sys.executable,
                        help="the interpreter to run the bots with (default: this one)")
    args = parser.parse_args()
    PYTHON[0] = args.python
    print(f"load average before: {os.getloadavg()[0]:.2f}", file=sys.stderr)
    runs = []
    for n in range(args.runs):
        with tempfile.TemporaryDirectory() as folder:
            runs.append(asyncio.run(one_run(Path(folder), args.patients)))
        print(f"run {n + 1}: {runs[-1]}", file=sys.stderr)
    for key in runs[0]:
        if isinstance(runs[0][key], tuple):
            rss, uss, count = (statistics.median(r[key][i] for r in runs) for i in range(3))
            print(f"{args.patients} patients, {key}: process tree RSS {rss:.0f} MB (USS {uss:.0f} MB), "
                  f"{count:.0f} process(es); median of {args.runs}")
        elif key.startswith("CPU"):
            print(f"{key}: {statistics.median(r[key] for r in runs):.2f} s of CPU; median of {args.runs}")
        else:
            print(f"time from spawn to {key}: {statistics.median(r[key] for r in runs):.2f} s; "
                  f"median of {args.runs}")
    print("ratios to the plain PTB bot, medians of the per-run ratios:")
    for key, plain, index in (
            ("first poll, empty database", "first poll, plain PTB bot", None),
            (f"first poll, {args.patients} patients", "first poll, plain PTB bot", None),
            ("CPU to first poll, empty database", "CPU to first poll, plain PTB bot", None),
            (f"CPU to first poll, {args.patients} patients", "CPU to first poll, plain PTB bot", None),
            ("after start", "plain PTB bot", 0), ("after one chart", "plain PTB bot", 0)):
        ratio = statistics.median((r[key] if index is None else r[key][index])
                                  / (r[plain] if index is None else r[plain][index]) for r in runs)
        print(f"  {key}: {ratio:.2f} x the plain bot")
    print(f"load average after: {os.getloadavg()[0]:.2f}", file=sys.stderr)


if __name__ == "__main__":
    main()
