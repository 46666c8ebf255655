"""Charts are drawn in one worker process, never in the bot's own.

Drawing a chart with matplotlib holds the GIL for a hundred milliseconds or more; in a thread that
stalled the bot's event loop for seconds while thousands of check-ins went out. So every chart (alert
cards, /patient, the weekly summary) is drawn here, in one spawned process that imports matplotlib on
first use (or when `warm_up` asks at start); the bot's own process never loads it. The outbox sender
draws just before sending, outside any transaction; a retry draws again, identically.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

DRAW_TIMEOUT = 30.0
"""Seconds to wait for a drawing (the first includes starting the worker and importing matplotlib)."""
_pool: ProcessPoolExecutor | None = None

Render = Callable[[dict[str, Any]], bytes]
"""A module-level function (it is pickled by name) from a row's chart data to PNG bytes."""


def _worker() -> ProcessPoolExecutor:
    global _pool  # noqa: PLW0603 - one drawing process for the bot's lifetime
    if _pool is None:
        _pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    return _pool


async def draw(render: Render, data: dict[str, Any]) -> bytes:
    """The PNG, drawn in the worker process; raises (so the caller can fall back) on failure."""
    try:
        drawing = asyncio.get_running_loop().run_in_executor(_worker(), render, data)
        return await asyncio.wait_for(drawing, DRAW_TIMEOUT)
    except (BrokenProcessPool, TimeoutError):
        _reset()  # a dead or stuck worker is replaced on the next drawing
        raise


def warm_up() -> None:
    """Start the worker and import matplotlib there now, so the first chart does not wait for it."""
    _worker().submit(_import_matplotlib)


def _import_matplotlib() -> None:
    import matplotlib.backends.backend_agg  # noqa: F401, PLC0415


def _reset() -> None:
    global _pool  # noqa: PLW0603
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
    _pool = None
