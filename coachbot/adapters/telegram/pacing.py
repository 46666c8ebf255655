"""Pacing outgoing messages under Telegram's flood limits, so a 429 never happens in normal running.

Telegram (and the fake Bot API in the tests) refuses a message when `limit` (30) others arrived within
the last second. We cannot see when a request arrives, only that it arrived after we sent it and
before its answer came back. So `Window` counts each request from the moment it is sent until one
second after its answer arrived (a request that got no answer, a timeout, counts a second longer: it
may still land), and lets a new one go only while fewer than `limit` requests could fall into any
window of one second (plus a small margin for clock granularity). That is exact whatever the network's jitter:
it costs one round trip per slot, not a guessed safety factor.

On top of the overall window, `Pacer` keeps one ordered queue per lane and grants slots centrally:
coaches' alert cards before anything else (a crisis card must not wait behind replies), then replies
(lane 0); bulk sends (lane 1, thousands of check-ins at once) are
granted one at a time, in the order they asked, spread evenly across the second so that the next
slot is never far off when a reply or an alert arrives. Each chat also has its own token bucket
(about one message a second, short bursts allowed), written as GCRA (a "theoretical arrival time").
"""

from __future__ import annotations

import asyncio
import bisect
import time
from collections import deque
from collections.abc import Callable

Monotonic = Callable[[], float]
MARGIN = 0.005
"""Seconds added to the one-second window: covers timer granularity, never network jitter (the
window already counts each request until its answer)."""


BULK_CATCH_UP = 3
"""Bulk slots that may go at once after a late timer; far fewer than the 30 a burst would take, so
a reply or an alert arriving mid-fan-out still finds the next slot a few tens of milliseconds away."""


class Bucket:
    """`rate` sends a second, up to `burst` at once (GCRA)."""

    __slots__ = ("interval", "tat", "tolerance")

    def __init__(self, rate: float, burst: int) -> None:
        self.interval = 1.0 / rate
        self.tolerance = (max(burst, 1) - 1) * self.interval
        self.tat = 0.0

    def book(self, now: float) -> float:
        """Book the next slot; returns how long to wait for it."""
        tat = max(self.tat, now)
        self.tat = tat + self.interval
        return max(0.0, tat - self.tolerance - now)

    def idle(self, now: float) -> bool:
        return self.tat <= now


class Window:
    """At most `limit` requests in any `span` seconds, each counted from its send to its answer.

    Pure bookkeeping (the caller passes the time), so the rule is tested without an event loop."""

    __slots__ = ("_expiries", "in_flight", "limit", "span")

    def __init__(self, limit: int, span: float) -> None:
        self.limit, self.span = max(1, limit), span
        self.in_flight = 0
        self._expiries: list[float] = []  # sorted: when each answered request stops counting

    def count(self, now: float) -> int:
        """Requests that could still fall inside a window ending after `now`."""
        expiries = self._expiries
        if expiries and expiries[0] <= now:
            del expiries[:bisect.bisect_right(expiries, now)]
        return self.in_flight + len(expiries)

    def room(self, now: float) -> bool:
        return self.count(now) < self.limit

    def free_at(self, now: float) -> float | None:
        """When a slot frees by time alone (None: only an answer to a request in flight frees one)."""
        excess = self.count(now) - self.limit  # >= 0 when full
        if excess < 0:
            return now
        if excess >= len(self._expiries):
            return None
        return self._expiries[excess]

    def take(self) -> None:
        self.in_flight += 1

    def answered(self, now: float) -> None:
        """The request taken earlier got its answer at `now`: it reached the server before then."""
        self.in_flight -= 1
        bisect.insort(self._expiries, now + self.span)

    def unanswered(self, now: float) -> None:
        """No answer (a timeout, a dropped connection): it may still reach the server within `span`."""
        self.in_flight -= 1
        bisect.insort(self._expiries, now + 2 * self.span)

    def unused(self) -> None:
        """Taken but not sent after all."""
        self.in_flight -= 1


class Slot:
    """Permission to send one request; say how it ended exactly once (`answered`, `unanswered`, `unused`)."""

    __slots__ = ("_done", "_pacer", "_taken_at")

    def __init__(self, pacer: Pacer) -> None:
        self._pacer, self._done = pacer, False
        self._taken_at = pacer.clock()

    def answered(self) -> None:
        if not self._done:
            self._pacer.held.append(self._pacer.clock() - self._taken_at)
        self._end(lambda window, now: window.answered(now))

    def unanswered(self) -> None:
        self._end(lambda window, now: window.unanswered(now))

    def unused(self) -> None:
        self._end(lambda window, _now: window.unused())

    def _end(self, how: Callable[[Window, float], None]) -> None:
        if not self._done:
            self._done = True
            how(self._pacer.window, self._pacer.clock())
            self._pacer.dispatch()


class Pacer:
    """The overall window, fed from three ordered queues (alerts, lane 0, lane 1), and one bucket per chat."""

    MAX_IDLE_CHATS = 10_000

    def __init__(self, rate: float, chat_rate: float, chat_burst: int,
                 clock: Monotonic = time.monotonic, margin: float = MARGIN) -> None:
        limit = max(1, int(rate))
        self.window = Window(limit, max(1.0, 1.0 / rate) + margin)
        self.chat_rate = chat_rate
        self.chat_burst = chat_burst
        self.clock = clock
        # Bulk grants are spread evenly: one per `spacing` on average, catching up at most
        # BULK_CATCH_UP slots after a late timer (so the spread never costs the window a slot).
        self.spacing = self.window.span / limit
        self.catch_up = BULK_CATCH_UP * self.spacing
        self._bulk_tat = 0.0
        self._chats: dict[int, Bucket] = {}
        # alert cards, replies (lane 0), bulk (lane 1)
        self._waiting: tuple[deque[asyncio.Future[Slot | None]], ...] = (deque(), deque(), deque())
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._released = False
        #: Seconds from each recent grant to its answer: the slot is held one second longer than
        #: this, so it bounds the rate at `limit / (1 + held)` (for benchmarks and tuning).
        self.held: deque[float] = deque(maxlen=20_000)

    async def chat_turn(self, chat_id: int) -> None:
        """Wait until one more message to `chat_id` keeps within the chat's own limit."""
        delay = self._chat(chat_id).book(self.clock())
        if delay > 0:
            await asyncio.sleep(delay)

    async def slot(self, lane: int, *, alert: bool = False) -> Slot | None:
        """Wait for an overall slot (alert cards first, then lane 0, then lane 1, each in order of
        asking); None once `release_waiters` was called (the sender is stopping)."""
        if self._released:
            return None
        granted: asyncio.Future[Slot | None] = asyncio.get_running_loop().create_future()
        self._waiting[0 if alert else 2 if lane else 1].append(granted)
        self.dispatch()
        try:
            return await granted
        except asyncio.CancelledError:
            if granted.done() and not granted.cancelled() and (slot := granted.result()) is not None:
                slot.unused()
            raise

    def release_waiters(self) -> None:
        """End every wait, now and later, with None (stopping: the rows stay in the outbox)."""
        self._released = True
        for queue in self._waiting:
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)

    def dispatch(self) -> None:
        """Grant every slot the rules allow now; set a timer for the next one a wait depends on."""
        now = self.clock()
        alerts, replies, bulk = self._waiting
        while True:
            for waiting in self._waiting:
                while waiting and waiting[0].done():
                    waiting.popleft()
            urgent = alerts or replies
            if not (urgent or bulk) or not self.window.room(now):
                break
            if urgent:
                self._grant(urgent.popleft())
                continue
            if self._bulk_tat - self.catch_up > now:  # GCRA
                break
            self._bulk_tat = max(self._bulk_tat, now) + self.spacing
            self._grant(bulk.popleft())
        urgent = alerts or replies
        if urgent or bulk:
            at = self.window.free_at(now)
            if at is not None and not urgent:
                at = max(at, self._bulk_tat - self.catch_up)
            if at is not None:
                self._wake_at(max(at, now), now)

    def _grant(self, waiter: asyncio.Future[Slot | None]) -> None:
        self.window.take()
        waiter.set_result(Slot(self))

    def _wake_at(self, at: float, now: float) -> None:
        if self._timer is not None and self._timer_at <= at:
            return  # an earlier wake-up is set already; it dispatches again
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = asyncio.get_running_loop().call_later(at - now, self._woken)

    def _woken(self) -> None:
        self._timer = None
        self.dispatch()

    def _chat(self, chat_id: int) -> Bucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            if len(self._chats) > self.MAX_IDLE_CHATS:
                now = self.clock()
                self._chats = {chat: b for chat, b in self._chats.items() if not b.idle(now)}
            bucket = self._chats[chat_id] = Bucket(self.chat_rate, self.chat_burst)
        return bucket
