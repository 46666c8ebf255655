"""A limit on wrong `/coach` codes per Telegram account, so invite codes cannot be guessed in bulk.

A code has 60 bits (see `invites`), so guessing is hopeless anyway; the limit keeps it that way and
makes an attempt visible in the audit log. After `LIMIT` wrong codes within `WINDOW`, the account is
refused for `PAUSE` without its codes being looked at, a right code included. The counts live in memory,
per process: a restart or a second process starts them afresh, which at `LIMIT` tries per `WINDOW`
still leaves a guess at odds of about one in 10^17.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

LIMIT = 5
WINDOW = dt.timedelta(minutes=15)
PAUSE = dt.timedelta(minutes=30)
SWEEP_AT = 10_000
"""Past this many accounts tracked, forgotten ones are swept out, so memory stays bounded."""


@dataclass(slots=True)
class _Account:
    wrong: list[dt.datetime] = field(default_factory=list)
    paused_until: dt.datetime | None = None


class CodeAttempts:
    """Wrong codes per account, and the pause that follows too many."""

    def __init__(self) -> None:
        self._accounts: dict[int, _Account] = {}

    def __len__(self) -> int:
        """How many accounts are tracked (what the sweep keeps bounded)."""
        return len(self._accounts)

    def paused(self, account: int, now: dt.datetime) -> bool:
        """Whether `account` is refused now (its code must not even be looked at)."""
        found = self._accounts.get(account)
        return found is not None and found.paused_until is not None and now < found.paused_until

    def wrong(self, account: int, now: dt.datetime) -> bool:
        """Count a wrong code; True when this one starts a pause."""
        if len(self._accounts) >= SWEEP_AT:
            self._sweep(now)
        found = self._accounts.setdefault(account, _Account())
        found.wrong = [at for at in found.wrong if now - at < WINDOW] + [now]
        if len(found.wrong) >= LIMIT:
            found.wrong, found.paused_until = [], now + PAUSE
            return True
        return False

    def joined(self, account: int) -> None:
        """A right code: the account starts clean."""
        self._accounts.pop(account, None)

    def _sweep(self, now: dt.datetime) -> None:
        self._accounts = {
            account: state for account, state in self._accounts.items()
            if (state.paused_until is not None and now < state.paused_until)
            or any(now - at < WINDOW for at in state.wrong)}
