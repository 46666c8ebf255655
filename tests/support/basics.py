"""What many tests share: the shipped dialogs, loaded once per run, and a clock a test moves by hand."""

from __future__ import annotations

import datetime as dt
import functools
from pathlib import Path

from coachbot.spec import load_library
from coachbot.spec.library import DialogLibrary

DIALOGS = Path(__file__).resolve().parents[2] / "dialogs"
MONDAY_9AM = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@functools.cache
def library() -> DialogLibrary:
    """The shipped dialogs (compiling the triggers takes a moment, so once per run)."""
    return load_library(DIALOGS)


class Clock:
    """`now` for the code under test; the test sets or advances it."""

    def __init__(self, now: dt.datetime = MONDAY_9AM) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)
