"""`coachbot run` on a clock the soak driver moves: `python -m tests.support.soak_bot CLOCK_FILE`.

Only the clock differs from `coachbot run`: settings come from the environment as usual and the same
`bootstrap.serve_telegram` serves until SIGTERM (or the driver's SIGKILL). The clock file holds one
line, "SIMULATED_ISO REAL_EPOCH": simulated time is SIMULATED_ISO plus the real seconds elapsed since
REAL_EPOCH, so within a step time flows (retry delays, the outbox's `not_before`, the scheduler's
ticks all behave) and the driver jumps it forward between steps. A thread re-reads the file every
20 ms; the clock never goes back, even if a jump is seen late.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
import threading
import time
from pathlib import Path

from coachbot import startup
from coachbot.adapters.telegram.app import quiet_library_loggers
from coachbot.bootstrap import serve_telegram
from coachbot.config import load_settings


def write_clock(path: Path, simulated: dt.datetime) -> None:
    """The driver's side: from now on the bot's time is `simulated` plus the real time since now."""
    spare = path.with_suffix(".tmp")
    spare.write_text(f"{simulated.isoformat()} {time.time()!r}\n")
    spare.replace(path)  # atomic: the reader never sees half a line


class FileClock:
    """Simulated time read from the driver's clock file (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.reading = self._read()  # one tuple, swapped whole: never a new base with an old anchor
        self._last = self.reading[0]
        threading.Thread(target=self._follow, name="soak-clock", daemon=True).start()

    def __call__(self) -> dt.datetime:
        base, anchor = self.reading
        now = base + dt.timedelta(seconds=time.time() - anchor)
        self._last = max(self._last, now)
        return self._last

    def _read(self) -> tuple[dt.datetime, float]:
        simulated, epoch = self.path.read_text().split()
        return dt.datetime.fromisoformat(simulated), float(epoch)

    def _follow(self) -> None:
        seen = self.path.stat().st_mtime_ns
        while True:
            time.sleep(0.02)
            try:
                mtime = self.path.stat().st_mtime_ns
                if mtime != seen:
                    seen = mtime
                    self.reading = self._read()
            except (OSError, ValueError):
                continue  # the file is being replaced: read it next time


def main() -> None:
    clock = FileClock(Path(sys.argv[1]))
    settings = load_settings()
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_library_loggers()
    startup.hold()  # as `coachbot run` does
    asyncio.run(serve_telegram(settings, clock=clock))


if __name__ == "__main__":
    main()
