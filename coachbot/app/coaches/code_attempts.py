"""A limit on wrong `/coach` codes per Telegram account, so invite codes cannot be guessed in bulk.

A code has 60 bits (see `invites`), so guessing is hopeless anyway; the limit keeps it that way and
makes an attempt visible in the audit log. After `LIMIT` wrong codes within `WINDOW`, the account is
refused for `PAUSE` without its codes being looked at, a right code included. The slowing is
progressive: until the account has been quiet for `FORGET` after its last pause, each further wrong code
starts a new pause twice as long as the one before, up to `MAX_PAUSE` (30 min, 1 h, 2 h, ... 24 h), so
a patient guesser gets a handful of tries a day, while a coach who mistyped a few times waits half an
hour once. The counts live in memory, per process: a restart or a second process starts them afresh,
which at `LIMIT` tries per `WINDOW` still leaves a guess at odds of about one in 10^17.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

LIMIT = 5
WINDOW = dt.timedelta(minutes=15)
PAUSE = dt.timedelta(minutes=30)
MAX_PAUSE = dt.timedelta(hours=24)
FORGET = dt.timedelta(hours=24)
"""An account with no wrong code for this long after its last pause starts clean."""
SWEEP_AT = 10_000
"""Past this many accounts tracked, forgotten ones are swept out, so memory stays bounded."""


@dataclass(slots=True)
class _Account:
    wrong: list[dt.datetime] = field(default_factory=list)
    paused_until: dt.datetime | None = None
    pauses: int = 0  # pauses so far; the next is PAUSE * 2**pauses, capped

    def remembered(self, now: dt.datetime) -> bool:
        """Still paused, or paused recently enough that a further wrong code pauses again at once."""
        return self.paused_until is not None and now < self.paused_until + FORGET


class CodeAttempts:
    """Wrong codes per account, and the lengthening pauses that follow too many."""

    def __init__(self) -> None:
        self._accounts: dict[int, _Account] = {}

    def __len__(self) -> int:
        """How many accounts are tracked (what the sweep keeps bounded)."""
        return len(self._accounts)

    def wait(self, account: int, now: dt.datetime) -> dt.timedelta | None:
        """How long `account` is still refused (its codes must not even be looked at); None if it is not."""
        found = self._accounts.get(account)
        if found is None or found.paused_until is None or now >= found.paused_until:
            return None
        return found.paused_until - now

    def paused(self, account: int, now: dt.datetime) -> bool:
        """Whether `account` is refused now."""
        return self.wait(account, now) is not None

    def wrong(self, account: int, now: dt.datetime) -> dt.timedelta | None:
        """Count a wrong code; the pause it starts (None when it starts none)."""
        if len(self._accounts) >= SWEEP_AT:
            self._sweep(now)
        found = self._accounts.get(account)
        if found is not None and found.pauses and not found.remembered(now):
            found = None  # quiet for long enough: forgiven
        if found is None:
            found = self._accounts[account] = _Account()
        if found.pauses:  # wrong again after a pause: pause again at once, twice as long
            return self._pause(found, now)
        found.wrong = [at for at in found.wrong if now - at < WINDOW] + [now]
        return self._pause(found, now) if len(found.wrong) >= LIMIT else None

    def joined(self, account: int) -> None:
        """A right code: the account starts clean."""
        self._accounts.pop(account, None)

    @staticmethod
    def _pause(found: _Account, now: dt.datetime) -> dt.timedelta:
        length = min(PAUSE * 2 ** found.pauses, MAX_PAUSE)
        found.wrong, found.paused_until, found.pauses = [], now + length, found.pauses + 1
        return length

    def _sweep(self, now: dt.datetime) -> None:
        self._accounts = {
            account: state for account, state in self._accounts.items()
            if state.remembered(now) or any(now - at < WINDOW for at in state.wrong)}


def plain_wait(wait: dt.timedelta) -> tuple[str, int]:
    """("minutes" or "hours", n) for a sentence saying how long to wait, rounded up (never under 2, so
    the sentence never needs a singular): 30 minutes, 90 minutes, 4 hours."""
    minutes = max(2, -(-wait // dt.timedelta(minutes=1)))
    if minutes < 120:
        return "minutes", minutes
    return "hours", -(-minutes // 60)
