"""One fresh process timed from its spawn to a bot ready to serve: run by `bench.scheduler_fanout`.

The zero is the wall-clock time the parent read just before it spawned this process (the second
argument), so every mark includes the exec and the interpreter's own start-up, as an operator starting
the bot would see them. psutil's `create_time()` is not used for it: on Linux it is derived from
/proc/stat's `btime`, a whole number of seconds, so it is early by the fractional part of the boot
time (0 to 1 s, depending on the machine) and every mark came out that much too late.

The probe imports only the standard library before the first mark, then does what `coachbot run` does
up to taking updates: import the CLI, hold the garbage collector off (`coachbot.startup`), import the
Telegram adapter, read the settings, load the dialogs and check the
schema (`build_app`), build the bot (PTB Application, outbox sender), check every patient has a
schedule, run the scheduler's first tick, and let the collector loose again. Telegram's getMe and the
polling start are left out (they wait on the network).

`python -m bench.ready_probe DATABASE_URL SPAWNED_AT` prints one JSON line: the time of each step since
SPAWNED_AT, the CPU time the process had used by then (`time.process_time()`, which counts from the
process's start and moves much less with the machine's load than the wall clock), and the resident
memory at the end (psutil, imported once the clock has stopped): this process's and its whole tree's,
children included, so that a helper process started at start-up (as the chart-drawing process once
was) is counted; there should be none (`bench/memory.py`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sys
import time
from pathlib import Path


def main(url: str, started: float) -> None:
    marks: dict[str, float] = {"python": time.time() - started}
    cpu: dict[str, float] = {"python": time.process_time()}

    def mark(name: str) -> None:
        marks[name] = time.time() - started
        cpu[name] = time.process_time()

    async def boot() -> None:
        from coachbot import startup  # noqa: PLC0415

        startup.hold()  # as `coachbot run` does before its imports; `serve` releases it once ready
        from coachbot.adapters.scheduler.tick import CheckinScheduler, config_from_settings  # noqa: PLC0415
        from coachbot.adapters.telegram.app import TelegramBot  # noqa: PLC0415
        from coachbot.bootstrap import build_app  # noqa: PLC0415
        from coachbot.config import load_settings  # noqa: PLC0415

        mark("imports")
        settings = load_settings(database_url=url, telegram_token="1:PROBE",
                                 telegram_base_url="http://127.0.0.1:9/bot", log_level="ERROR")
        core = await build_app(url, Path("dialogs"))
        mark("dialogs + schema")
        bot = TelegramBot(core, settings)
        scheduler = CheckinScheduler(core.sessions, bot.service, bot.channel, config_from_settings(settings),
                                     clock=lambda: dt.datetime.now(dt.UTC), on_queued=bot.sender.offer)
        await scheduler.prepare()
        mark("bot built, schedules checked")
        await scheduler.tick()
        mark("first tick (ready)")
        startup.release()
        await core.close()

    asyncio.run(boot())
    import psutil  # noqa: PLC0415 - only for the memory figure, after the clock has stopped

    me = psutil.Process()
    tree = [me, *me.children(recursive=True)]
    print(json.dumps({"marks": marks, "cpu": cpu, "rss_mb": me.memory_info().rss / 2**20,
                      "tree_rss_mb": sum(p.memory_info().rss for p in tree) / 2**20, "processes": len(tree)}))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
