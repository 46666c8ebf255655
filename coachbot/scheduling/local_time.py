"""Wall-clock times in a patient's own timezone, made exact across daylight-saving changes.

A patient says "8am"; the service needs one UTC instant per local day. Two days a year that is
ambiguous: on the spring-forward day some wall times never happen, and on the fall-back day some
happen twice. The rules here are the ones the issue asks for and the patient would expect:

- a time that does not exist is moved to the first instant that does (01:30 on the London
  spring-forward day becomes 02:00 BST, the moment the clocks jump), never to an hour later;
- a time that exists twice means its first occurrence, so the check-in goes out once, the first time
  the patient's clock shows it.

Pure: no clock reads, no database, no scheduler.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

UTC = dt.UTC
DEFAULT_ZONE = "Europe/London"


def zone_of(name: str | None) -> ZoneInfo:
    """The patient's zone; an unknown name falls back to London rather than stopping their check-ins."""
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (KeyError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def local_date_of(instant: dt.datetime, zone: ZoneInfo) -> dt.date:
    """The patient's calendar date at `instant`; idempotency keys and "today" are counted in it."""
    return instant.astimezone(zone).date()


def _exists(naive: dt.datetime, zone: ZoneInfo) -> bool:
    aware = naive.replace(tzinfo=zone, fold=0)
    return aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) == naive


def resolve_local(day: dt.date, at: dt.time, zone: ZoneInfo) -> dt.datetime:
    """The UTC instant at which the patient's wall clock shows `at` on `day` (rules in the module doc)."""
    naive = dt.datetime.combine(day, at.replace(tzinfo=None))
    if _exists(naive, zone):
        # fold=0 is the earlier of two readings on a fall-back day: the first occurrence.
        return naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    # In a gap: fold=1 reads the wall time with the offset after the change (an earlier instant,
    # still before the change) and fold=0 with the offset before it (a later instant, after the
    # change). The change itself lies between; find it to the second.
    low = int(naive.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp())
    high = int(naive.replace(tzinfo=zone, fold=0).astimezone(UTC).timestamp())
    after = dt.datetime.fromtimestamp(high, UTC).astimezone(zone).utcoffset()
    while high - low > 1:
        middle = (low + high) // 2
        if dt.datetime.fromtimestamp(middle, UTC).astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return dt.datetime.fromtimestamp(high, UTC)


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local hours in which nothing unsolicited is sent (default 21:00-08:00); may wrap midnight.

    `start == end` means no quiet hours at all.
    """

    start: dt.time = dt.time(21, 0)
    end: dt.time = dt.time(8, 0)

    def contains(self, wall: dt.time) -> bool:
        wall = wall.replace(tzinfo=None)
        if self.start == self.end:
            return False
        if self.start < self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end

    def is_quiet(self, instant: dt.datetime, zone: ZoneInfo) -> bool:
        return self.contains(instant.astimezone(zone).time())

    def ends_after(self, instant: dt.datetime, zone: ZoneInfo) -> dt.datetime:
        """When the quiet period holding `instant` ends (UTC); `instant` itself if it is not quiet."""
        if not self.is_quiet(instant, zone):
            return instant
        day = local_date_of(instant, zone)
        for offset in range(3):
            candidate = resolve_local(day + dt.timedelta(days=offset), self.end, zone)
            if candidate > instant:
                return candidate
        raise AssertionError("quiet hours never end")  # pragma: no cover - end is within a day
