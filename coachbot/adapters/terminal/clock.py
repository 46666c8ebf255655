"""The terminal's clock: real time plus an offset, so a newcomer can see days pass in a minute."""

from __future__ import annotations

import datetime as dt


class SimulatedClock:
    """Real time plus an offset that `:next` and `:week` move forward (never back)."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset

    def move_to(self, when: dt.datetime) -> None:
        """Jump forward to `when`; a time already past leaves the clock where it is."""
        ahead = when - self()
        if ahead > dt.timedelta():
            self.offset += ahead
