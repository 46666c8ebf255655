"""Run one soak and count: the entry point shared by `make soak` and the short test in `make test`."""

from __future__ import annotations

import resource
import time
from pathlib import Path
from typing import Any

from tests.soak.checks import Counts, count_everything
from tests.soak.driver import Soak, SoakConfig, summary_of_plans


async def soak_and_count(config: SoakConfig, database_url: str, workdir: Path, *,
                         admin_url: str | None = None, log: Any = print) -> tuple[Counts, float]:
    """The soak, then the counts; returns them and the wall-clock seconds the soak took."""
    soak = Soak(config, database_url, workdir, admin_url=admin_url, log=log)
    started, cpu = time.monotonic(), _own_cpu()
    try:
        ledger = await soak.run()
        took, driver_cpu = time.monotonic() - started, _own_cpu() - cpu
        assert soak.db is not None
        counts = await count_everything(soak, ledger, soak.db)
    finally:
        await soak.close()
    assert ledger is not None
    for what, value in summary_of_plans(soak.patients).items():
        counts.rows.insert(0, (f"plan: {what}", value, False))
    counts.rows.insert(0, (f"simulated: {config.patients} patients x {config.days} days", "", False))
    counts.add("wall-clock seconds", f"{took:.0f}")
    counts.add("CPU seconds: the bot (and helpers) / the driver and fake server",
               f"{ledger.bot_cpu:.0f} / {driver_cpu:.0f}")
    return counts, took


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
