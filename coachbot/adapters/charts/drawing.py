"""Charts are drawn in one helper process, never in the bot's own: started on the first chart, ended
when idle, and never outliving the bot.

Drawing a chart with matplotlib holds the GIL for a hundred milliseconds or more; in a thread that
stalled the bot's event loop for seconds while thousands of check-ins went out. So every chart (alert
cards, /patient, the weekly summary) is drawn in a separate process (`worker.py`), which imports
matplotlib there; the bot's own process never loads it.

That process is started by the first chart, not at start-up (it costs about 80 MB, and most hours
draw no chart), and ended after `IDLE_SECONDS` without one. It is a plain child process, started with
`subprocess` (fork and exec: nothing of the bot's threads or event loop is copied into it), talking
over its stdin and stdout. Not `multiprocessing`: its "spawn" and "forkserver" start a resource-tracker
process too (another 13 MB, and one more process to end), and its "fork" copies a threaded, asyncio
process, which can deadlock the child on a lock some other thread held. It ends when the bot ends,
however it ends: stdin closes with the bot, and for a SIGKILL in the middle of a drawing, the kernel
kills it (`prctl(PR_SET_PDEATHSIG)`) and a thread in it watches the parent pid (`worker.py`).

One thread here owns the process and draws one chart at a time; the event loop only awaits its
answer. The outbox sender draws just before sending, outside any transaction; a retry draws again,
identically.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

from coachbot.adapters.charts.frames import OK, frame, read_exact, read_frame, write_all

log = logging.getLogger("coachbot.charts")

DRAW_TIMEOUT = 30.0
"""Seconds to wait for one drawing (the first includes starting the process and importing matplotlib);
a drawing that takes longer ends the process, and the next chart starts a new one."""
IDLE_SECONDS = 300.0
"""The process ends after this long without a chart; the next chart starts it again (about 1.5 s)."""

PACKAGE_ROOT = Path(__file__).resolve().parents[3]
"""The folder that holds the `coachbot` package the bot runs."""

Render = Callable[[dict[str, Any]], bytes]
"""A module-level function of `coachbot.adapters.charts` (named in the request) from a row's chart
data to PNG bytes."""


class DrawingError(Exception):
    """The drawing process could not draw the chart; the message names the exception it raised."""


class _Draw(NamedTuple):
    request: bytes
    answer: concurrent.futures.Future[bytes]


class _Stop(NamedTuple):
    """End the process now; `done` is set once it has ended."""

    done: concurrent.futures.Future[None]


class DrawingProcess:
    """One drawing process, started on demand, and the thread that talks to it."""

    def __init__(self, *, idle_seconds: float = IDLE_SECONDS, timeout: float = DRAW_TIMEOUT) -> None:
        self.idle_seconds, self.timeout = idle_seconds, timeout
        self._jobs: queue.SimpleQueue[_Draw | _Stop] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._thread_lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        """The running drawing process's pid, or None when there is none."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    async def draw(self, render: Render, data: dict[str, Any]) -> bytes:
        """The PNG; raises DrawingError (or TimeoutError) so that the caller can fall back."""
        request = json.dumps({"render": f"{render.__module__}:{render.__name__}", "data": data}).encode()
        answer: concurrent.futures.Future[bytes] = concurrent.futures.Future()
        self._submit(_Draw(request, answer))
        return await asyncio.wrap_future(answer)

    async def stop(self) -> None:
        """End the process now (after the drawing in progress, if any); the next chart starts another."""
        if self._thread is None:
            return
        done: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._submit(_Stop(done))
        await asyncio.wrap_future(done)

    def _submit(self, job: _Draw | _Stop) -> None:
        with self._thread_lock:
            if self._thread is None:
                # Daemon: at exit the interpreter does not wait for it, and closing our end of the
                # pipe ends the process. The process is started from this thread, which never ends
                # before the bot does: PR_SET_PDEATHSIG fires when the starting *thread* ends.
                self._thread = threading.Thread(target=self._run, name="chart-drawing", daemon=True)
                self._thread.start()
        self._jobs.put(job)

    def _run(self) -> None:
        while True:
            try:
                job = self._jobs.get(timeout=self.idle_seconds if self._process is not None else None)
            except queue.Empty:
                log.info("drawing process idle for %.0f s: ending it", self.idle_seconds)
                self._end()
                continue
            if isinstance(job, _Stop):
                self._end()
                job.done.set_result(None)
            elif job.answer.set_running_or_notify_cancel():  # False: its caller stopped waiting
                try:
                    job.answer.set_result(self._draw(job.request))
                except Exception as exc:  # handed to the caller, whose chart it was
                    job.answer.set_exception(exc)

    def _draw(self, request: bytes) -> bytes:
        """One request and its answer. A process found dead by this request (killed since the last
        chart, say) is replaced and the request sent once more; one that dies on a new process is not."""
        fresh = self._process is None or self._process.poll() is not None
        try:
            status, body = self._ask(request)
        except TimeoutError:  # an OSError: caught first
            self._end()  # stuck: the next chart starts a new one
            raise
        except (OSError, EOFError) as exc:
            self._end()
            if fresh:
                raise DrawingError(f"the drawing process ended ({type(exc).__name__})") from None
            log.warning("the drawing process had ended (%s); starting another", type(exc).__name__)
            try:
                status, body = self._ask(request)
            except (OSError, EOFError) as again:
                self._end()
                raise DrawingError(f"the drawing process ended ({type(again).__name__})") from None
        if status != OK:
            raise DrawingError(f"drawing failed in the drawing process ({body.decode(errors='replace')})")
        return body

    def _ask(self, request: bytes) -> tuple[bytes, bytes]:
        """Send `request` to the process (started now if there is none) and read its answer."""
        if self._process is None or self._process.poll() is not None:
            self._end()
            self._process = self._start()
        process = self._process
        assert process.stdin is not None and process.stdout is not None
        deadline = time.monotonic() + self.timeout
        write_all(process.stdin.fileno(), frame(request))
        return read_exact(process.stdout.fileno(), 1, deadline), read_frame(process.stdout.fileno(), deadline)

    def _start(self) -> subprocess.Popen[bytes]:
        """The drawing process, running this same copy of coachbot (its folder first on the path)."""
        command = [sys.executable, "-m", "coachbot.adapters.charts.worker", str(os.getpid())]
        paths = [str(PACKAGE_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0,
                                   env={**os.environ, "PYTHONPATH": os.pathsep.join(paths)})
        log.info("drawing process started (pid %s)", process.pid)
        return process

    def _end(self) -> None:
        """Close its stdin (it exits), and reap it; kill it if it does not exit promptly."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            process.wait(timeout=2.0)
        except subprocess.TimeoutExpired:  # stuck in a drawing
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


_process = DrawingProcess()
"""The bot's one drawing process (not started until the first chart)."""


async def draw(render: Render, data: dict[str, Any]) -> bytes:
    """The PNG, drawn in the drawing process; raises (so the caller can fall back) on failure."""
    return await _process.draw(render, data)


async def stop_drawing() -> None:
    """End the drawing process, if one is running (the bot's stop calls this)."""
    await _process.stop()


def drawing_pid() -> int | None:
    """The drawing process's pid while one runs, else None."""
    return _process.pid
