"""Pacing outgoing messages under Telegram's flood limits, so 429s stay the exception.

Telegram allows about 30 messages a second overall and about one a second per chat (with short
bursts tolerated). Each limit is a token bucket written as GCRA (a "theoretical arrival time" per
bucket): a send books its slot at once and sleeps until it, so concurrent senders never need a lock
and never overshoot. Replies and alerts (lane 0) book freely; bulk sending (lane 1) only takes a
global slot that is free right now and no reply is waiting for, so a broadcast never delays a reply.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

Monotonic = Callable[[], float]


class Bucket:
    """`rate` sends a second, up to `burst` at once."""

    __slots__ = ("interval", "tat", "tolerance")

    def __init__(self, rate: float, burst: int) -> None:
        self.interval = 1.0 / rate
        self.tolerance = (max(burst, 1) - 1) * self.interval
        self.tat = 0.0

    def delay(self, now: float) -> float:
        """Seconds until a send would conform, without booking it."""
        return max(0.0, max(self.tat, now) - self.tolerance - now)

    def book(self, now: float) -> float:
        """Book the next slot; returns how long to wait for it."""
        tat = max(self.tat, now)
        self.tat = tat + self.interval
        return max(0.0, tat - self.tolerance - now)

    def idle(self, now: float) -> bool:
        return self.tat <= now


class Pacer:
    """The overall bucket and one bucket per chat."""

    MAX_IDLE_CHATS = 10_000

    def __init__(self, rate: float, chat_rate: float, chat_burst: int,
                 clock: Monotonic = time.monotonic) -> None:
        self.overall = Bucket(rate, max(1, min(int(rate // 10), 30)))
        self.chat_rate = chat_rate
        self.chat_burst = chat_burst
        self.clock = clock
        self._chats: dict[int, Bucket] = {}
        self._urgent_waiting = 0

    async def wait(self, chat_id: int, lane: int, *, per_chat: bool = True) -> None:
        """Return when one more message to `chat_id` may go out; lane 0 before lane 1."""
        if per_chat:
            delay = self._chat(chat_id).book(self.clock())
            if delay > 0:
                await asyncio.sleep(delay)
        if lane == 0:
            self._urgent_waiting += 1
            try:
                delay = self.overall.book(self.clock())
                if delay > 0:
                    await asyncio.sleep(delay)
            finally:
                self._urgent_waiting -= 1
            return
        while self._urgent_waiting or self.overall.delay(self.clock()) > 0:  # noqa: ASYNC110 - polls a clock
            await asyncio.sleep(max(self.overall.delay(self.clock()), self.overall.interval))
        self.overall.book(self.clock())

    def _chat(self, chat_id: int) -> Bucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            if len(self._chats) > self.MAX_IDLE_CHATS:
                now = self.clock()
                self._chats = {chat: b for chat, b in self._chats.items() if not b.idle(now)}
            bucket = self._chats[chat_id] = Bucket(self.chat_rate, self.chat_burst)
        return bucket
