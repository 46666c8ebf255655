"""The drawing process's own side: `python -m coachbot.adapters.charts.worker PARENT_PID`.

It reads drawing requests from stdin and writes the PNGs to stdout (`frames.py`), one at a time,
until stdin closes: the bot closes it when the process has been idle for a while, and the kernel
closes it when the bot ends. The bot may also end by SIGKILL in the middle of a drawing, so the
process asks Linux to kill it when its parent goes (`prctl(PR_SET_PDEATHSIG)`), and a thread watches
the parent pid as well (for other kernels, and for the moment before prctl took effect).

Matplotlib is imported by the first drawing, here and never in the bot.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from coachbot.adapters.charts.frames import FAILED, OK, frame, read_frame, write_all

PR_SET_PDEATHSIG = 1
PARENT_WATCH_SECONDS = 0.5
RENDER_PACKAGE = "coachbot.adapters.charts."
"""Only drawing functions of this package are run, whatever a request names."""


def die_with_parent(parent: int) -> None:
    """End this process when `parent` ends, however it ends (kill -9 included)."""
    with contextlib.suppress(OSError, AttributeError):  # not Linux: the watch below still ends it
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent ended before prctl took effect
        os._exit(0)
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(PARENT_WATCH_SECONDS)
    os._exit(0)  # orphaned: reparented to init or a subreaper


def renderer(name: str) -> Callable[[dict[str, Any]], bytes]:
    """`module:function` of a drawing function in this package."""
    module, _, function = name.partition(":")
    if not module.startswith(RENDER_PACKAGE) or not function or function.startswith("_"):
        raise LookupError("not a drawing function of coachbot.adapters.charts")
    render = getattr(importlib.import_module(module), function)
    if not callable(render):
        raise LookupError("not a drawing function of coachbot.adapters.charts")
    return render  # type: ignore[no-any-return]


def serve(requests: int, answers: int) -> None:
    """Draw each request until `requests` closes. A drawing that raises is answered with its
    exception's name (its message may quote the data), and the process carries on."""
    while True:
        try:
            request = read_frame(requests)
        except EOFError:
            return
        try:
            job = json.loads(request)
            png = renderer(str(job["render"]))(job["data"])
            if not isinstance(png, bytes):
                raise TypeError("a drawing function returned no bytes")
            write_all(answers, OK + frame(png))
        except Exception as exc:  # one bad chart must not end the process
            write_all(answers, FAILED + frame(type(exc).__name__.encode()))


def main(argv: list[str]) -> int:
    die_with_parent(int(argv[1]))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is for the bot, which stops it
    answers = os.dup(1)  # the answers' pipe, private: anything printed goes to stderr, not into it
    os.dup2(2, 1)
    serve(0, answers)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
