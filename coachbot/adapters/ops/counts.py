"""The counters the bot keeps as it works: updates handled and Telegram sends by result.

Plain integers, so counting costs nothing and needs no library: `prometheus_client` is imported only
when the metrics endpoint is served (`COACHBOT_OPS_PORT`), and `metrics.CountsCollector` reads these
numbers at each scrape. Labels are fixed words only, never a chat id or any text.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TypeVar

from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

T = TypeVar("T")

SEND_RESULTS = ("sent", "rate_limited", "network_error", "blocked", "refused", "failed", "error")
"""rate_limited is Telegram's 429; blocked its 403; refused its 400; failed another Telegram error;
error anything unexpected (a bug, or a chart that could not be drawn)."""


class Counts:
    """Running totals since the process started (a scrape's counters reset with the process)."""

    def __init__(self) -> None:
        self.updates_handled = 0
        self.sends = dict.fromkeys(SEND_RESULTS, 0)  # every series exists from the start, at 0


COUNTS = Counts()
"""The process's one set of counters (as the process has one metrics endpoint)."""


def update_handled() -> None:
    """Count one Telegram update handled (applied, recognised as a repeat, or failed)."""
    COUNTS.updates_handled += 1


def send_result(error: BaseException | None) -> str:
    """The `result` label for a send that ended with `error` (None: it went)."""
    if error is None:
        return "sent"
    kinds: tuple[tuple[type[BaseException], str], ...] = (
        (Forbidden, "blocked"), (RetryAfter, "rate_limited"), (BadRequest, "refused"),
        (NetworkError, "network_error"), (TelegramError, "failed"))
    if isinstance(error, BadRequest) and "not modified" in error.message.lower():
        return "sent"  # an edit that was already made: the sender counts it as done
    return next((label for kind, label in kinds if isinstance(error, kind)), "error")


async def count_send(call: Awaitable[T]) -> T:
    """Await one Telegram send and count its result; whatever it raises goes on unchanged."""
    try:
        result = await call
    except Exception as exc:
        COUNTS.sends[send_result(exc)] += 1
        raise
    COUNTS.sends["sent"] += 1
    return result
