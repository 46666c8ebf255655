"""Benchmark: the service's CPU per update, by kind, with no Telegram in the way.

`bench.telegram_throughput` measures the whole bot; this isolates the part behind
`PatientService.handle_update` (the engine, the database transaction, the outbox rows) for the same
cycle of updates, so a change to the service can be compared before and after on a shared machine:
CPU time (`time.process_time`) counts only this process's work, whatever else the machine is doing,
and each kind's median is reported. Patients are seeded as in the throughput bench and go through
the cycle ("4", "5", "skip", "/checkin") round after round; the first round's "skip" ends the
check-in (with the day's step suggestion) and is reported on its own line, since later rounds'
"skip" is a plain answer (see `bench.telegram_throughput`).

Run: `python -m bench.service_updates [--patients 400] [--rounds 6] [--only sqlite|postgresql]`.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import gc
import statistics
import time
from collections import defaultdict

from bench.telegram_throughput import CYCLE, FIRST_CHAT, POSTGRES_ADMIN, databases, seed
from coachbot.adapters.telegram.inbound import CHANNEL_COMMANDS
from coachbot.adapters.telegram.messages_out import TelegramChannel
from coachbot.app.channel import ChannelCommand, Inbound
from coachbot.app.pipeline import PatientService
from coachbot.bootstrap import build_app
from coachbot.config import load_settings
from coachbot.engine import TextMessage


def event(text: str) -> Inbound:
    """What the Telegram adapter makes of a typed message (`inbound.classify`)."""
    if text.startswith("/") and text[1:] in CHANNEL_COMMANDS:
        return ChannelCommand(text[1:])  # type: ignore[arg-type]
    return TextMessage(text)


async def measure(label: str, url: str, patients: int, rounds: int) -> None:
    await seed(url, patients)
    core = await build_app(url, load_settings(database_url=url).dialogs_dir)
    channel = TelegramChannel(core.library.service.channel, core.library.escalation)
    service = PatientService(core.sessions, core.engine, lambda: dt.datetime.now(dt.UTC), channel=channel,
                             steps=core.steps, care=core.care)
    update_id = 0

    async def handle(index: int, text: str) -> float:
        nonlocal update_id
        update_id += 1
        started = time.process_time()
        await service.handle_update(update_id, FIRST_CHAT + index, event(text))
        return time.process_time() - started

    try:
        for index in range(patients):  # everyone in a check-in, as the throughput bench starts
            await handle(index, "/checkin")
        gc.freeze()  # as the bot does once it takes updates
        spent: dict[str, list[float]] = defaultdict(list)
        for round_ in range(rounds):
            for text in CYCLE:
                kind = "skip (the check-in's end)" if round_ == 0 and text == "skip" else text
                spent[kind] += [await handle(index, text) for index in range(patients)]
        everything = [cpu for cpus in spent.values() for cpu in cpus]
        for kind, cpus in spent.items():
            print(f"[{label}] {kind:>26}: median {1000 * statistics.median(cpus):5.2f} ms CPU "
                  f"({len(cpus)} updates)")
        print(f"[{label}] {'every update':>26}: median {1000 * statistics.median(everything):5.2f} ms, "
              f"mean {1000 * statistics.fmean(everything):5.2f} ms CPU")
    finally:
        await core.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--postgres", default=POSTGRES_ADMIN)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    args = parser.parse_args()
    for label, url in databases(args.only, args.postgres):
        asyncio.run(measure(label, url, args.patients, args.rounds))

if __name__ == "__main__":
    main()
