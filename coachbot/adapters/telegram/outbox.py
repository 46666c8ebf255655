"""The outbox sender: delivers committed outbox rows to Telegram, paced, in order per chat, with retries.

Rows arrive two ways: handed over right after the commit that wrote them (`offer`, so a reply leaves
at once), and from a periodic sweep of the table (rows left at a restart, rows other processes wrote).
Each chat has at most one worker, which sends its rows in id order, except that a coach's alert card
jumps ahead of the rows queued in its chat (a crisis card must not wait behind 60 relayed messages);
chats run concurrently. Outcomes:

- sent: marked with Telegram's message id (marks are batched into one transaction under load);
- 403 Forbidden: the person blocked the bot; the chat's unsent rows fail and its patient is marked
  unreachable (until they write again);
- 429: Telegram's retry_after is honoured (`not_before`), the row is kept;
- network errors and 5xx: exponential backoff with jitter, the row is kept;
- 400 Bad Request: logged with context (label, method, Telegram's description) and failed.

Sending is paced by `pacing.py` (replies and alerts first, bulk in order). A bulk row (a check-in, a
reminder) may be cancelled by /pause or /stop until it goes: it is asked about just before it queues
for a sending slot, and watched, with every other waiting row, by one query every quarter second.

Logs carry outbox ids, pseudonymous labels and error descriptions only: never message text or names,
and the token is scrubbed from anything an exception says.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import datetime as dt
import logging
import os
import random
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import replace

from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from coachbot.adapters.ops.counts import count_send
from coachbot.adapters.telegram import outbox_store as store
from coachbot.adapters.telegram.outbox_calls import call
from coachbot.adapters.telegram.pacing import Pacer, Slot
from coachbot.app.channel import QueuedMessage
from coachbot.app.failures import described

log = logging.getLogger("coachbot.telegram.outbox")

# Opt in to PTB's coming behaviour (RetryAfter.retry_after as a timedelta); PTB reads it on every use,
# and otherwise warns each time a 429 arrives. `_seconds` accepts either form.
os.environ.setdefault("PTB_TIMEDELTA", "true")

Clock = Callable[[], dt.datetime]
MARK_DELAY = 0.02
"""Seconds a sent message waits for others before their sends are recorded together."""
MARK_BATCH = 100
CANCEL_WATCH_EVERY = 0.25
"""Seconds between looks for cancelled bulk rows among those waiting for a slot."""
CANCEL_FRESH = 1.0
"""A bulk row whose cancellation was last looked for longer ago than this is asked about directly."""
MAX_UNEXPECTED_ATTEMPTS = 5
"""A send that fails with an error we do not understand is retried this often, then given up."""


class OutboxSender:
    """One per process; `start` it, `offer` it rows after each commit, `stop` it on shutdown."""

    def __init__(self, bot: Bot, sessions: store.Sessions, pacer: Pacer, *, clock: Clock,
                 retry_base: float = 1.0, retry_max: float = 300.0, sweep_every: float = 2.0,
                 max_in_flight: int = 64, secret: str = "") -> None:
        self.bot, self.sessions, self.pacer, self.clock = bot, sessions, pacer, clock
        self.gate = store.write_gate(sessions)  # the database's, so SQLite writers queue, not sleep
        self.retry_base, self.retry_max, self.sweep_every = retry_base, retry_max, sweep_every
        self._secret = secret
        self._queues: dict[int, list[QueuedMessage]] = {}  # per chat: alert cards first, then by id
        self._nudges: dict[int, asyncio.Event] = {}  # wakes a chat's worker waiting out a retry
        self._workers: dict[int, asyncio.Task[None]] = {}
        self._known: set[int] = set()  # queued, in flight, or sent and not yet marked
        self._finished: set[int] = set()  # left `_known` since the current sweep began
        self._marks: list[store.SentMark] = []
        self._marks_ready = asyncio.Event()
        self._mark_at_once = False  # an alert card was sent: record it without waiting for company
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._in_flight = asyncio.Semaphore(max_in_flight)
        self._tasks: list[asyncio.Task[None]] = []
        self._bulk_waiting: set[int] = set()  # bulk rows waiting for an overall slot
        self._cancelled: set[int] = set()  # ... of which seen cancelled
        self.late_looks = 0  # bulk rows asked about directly in their slot: the watch was behind
        self._watched_at = 0.0  # when the last look for cancelled rows started (time.monotonic)

    # -- lifecycle ------------------------------------------------------------------------------------
    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._sweep_loop(), name="outbox-sweep"),
                       asyncio.create_task(self._mark_loop(), name="outbox-marks"),
                       asyncio.create_task(self._cancel_watch(), name="outbox-cancel-watch")]

    async def stop(self, grace: float = 10.0) -> None:
        """Let sends in progress finish (up to `grace` seconds), record them, and leave the rest for the next
        start: nothing is lost, since unsent rows stay in the table.

        The loops are asked to end, not cancelled: cancelling a coroutine in the middle of a database
        write leaves the driver's statement running and its transaction open (on SQLite, holding the
        write lock), so only what is still stuck after `grace` is cancelled."""
        self._stopping.set()
        self._wake.set()
        for nudge in self._nudges.values():
            nudge.set()
        self.pacer.release_waiters()
        await self._finish(list(self._workers.values()), grace)
        self._marks_ready.set()
        await self._finish(self._tasks, grace)
        await self._flush_marks()

    @staticmethod
    async def _finish(tasks: list[asyncio.Task[None]], grace: float) -> None:
        if not tasks:
            return
        _, late = await asyncio.wait(tasks, timeout=grace)
        for task in late:
            task.cancel()
        await asyncio.gather(*late, return_exceptions=True)

    def offer(self, rows: Iterable[QueuedMessage]) -> None:
        """Rows just committed: queue them for sending now."""
        for row in rows:
            self._enqueue(row)

    def wake(self) -> None:
        """Sweep the table now (rows written by another process, or a restart)."""
        self._wake.set()

    @property
    def idle(self) -> bool:
        """Nothing queued, in flight or waiting to be marked (for tests and benchmarks)."""
        return not self._known

    # -- queueing -------------------------------------------------------------------------------------
    def _enqueue(self, row: QueuedMessage) -> None:
        if row.id in self._known or self._stopping.is_set():
            return
        self._known.add(row.id)
        queue = self._queues.setdefault(row.chat_id, [])
        bisect.insort(queue, row, key=_send_order)
        if is_alert(row) and (nudge := self._nudges.get(row.chat_id)) is not None:
            nudge.set()  # the worker may be waiting out another row's retry delay
        if row.chat_id not in self._workers:
            self._workers[row.chat_id] = asyncio.create_task(self._work(row.chat_id),
                                                             name=f"outbox-chat-{row.chat_id}")

    async def _sweep_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                # A row finished while the query ran may still read as unsent: never take it again.
                self._finished.clear()
                found = await store.pending(self.sessions, limit=500, known=self._known)
                self.offer(row for row in found if row.id not in self._finished)
            except Exception as exc:  # the database may be briefly away: try again on the next sweep
                log.error("outbox sweep failed: %s", self._describe(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.sweep_every)
            self._wake.clear()

    # -- one chat -------------------------------------------------------------------------------------
    async def _work(self, chat_id: int) -> None:
        queue = self._queues[chat_id]
        try:
            while queue and not self._stopping.is_set():
                row = queue[0]
                wait = (row.not_before - self.clock()).total_seconds()
                if wait > 0:
                    nudge = self._nudges.setdefault(chat_id, asyncio.Event())
                    nudge.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(nudge.wait(), wait)
                    continue
                if row.kind != "edit":
                    await self.pacer.chat_turn(chat_id)
                    ahead = queue[0]
                    if ahead is not row and is_alert(ahead) and ahead.not_before <= self.clock():
                        row = ahead  # an alert card came in while this row waited: it takes the turn
                if row.lane and not await self._still_wanted(row):
                    _drop(queue, row)  # cancelled while it waited (scheduling: /pause, /stop)
                    self._forget([row.id])
                    continue
                joined = time.monotonic()  # just after its last direct look
                slot = await self._overall_slot(row)
                if slot is None:  # stopping
                    break
                try:
                    if row.lane and not await self._still_wanted_now(row, joined):
                        slot.unused()
                        _drop(queue, row)
                        self._forget([row.id])
                        continue
                    async with self._in_flight:
                        await self._send(queue, row, slot)
                finally:
                    slot.unanswered()  # only if cut short (stopping): `_send` says how it ended
        finally:
            del self._workers[chat_id]
            self._nudges.pop(chat_id, None)
            if not queue:
                del self._queues[chat_id]
            else:  # stopping: forget what was queued, the table still has it
                self._known.difference_update(r.id for r in queue)
                del self._queues[chat_id]

    async def _send(self, queue: list[QueuedMessage], row: QueuedMessage, slot: Slot) -> None:
        attempts = row.attempts + 1
        try:
            message_id = await count_send(_call(self.bot, row, slot))
        except Forbidden as exc:
            # A coach's chat refusing alerts is an operational problem; a patient blocking us is theirs
            # to decide.
            log.log(logging.ERROR if row.escalation_id else logging.WARNING,
                    "outbox %s: %s blocked the bot or cannot be written to (%s); their queued "
                    "messages are dropped", row.id, row.label or "chat", self._describe(exc))
            async with self.gate:
                await store.fail_chat(self.sessions, row.chat_id, now=self.clock(),
                                      error=self._describe(exc))
            self._forget(r.id for r in queue)
            queue.clear()
            return
        except RetryAfter as exc:
            await self._retry(queue, row, attempts, _seconds(exc), "429 " + self._describe(exc))
            return
        except BadRequest as exc:
            if "not modified" in exc.message.lower():  # an edit that was already made: done
                self._sent(queue, row, attempts, None)
                return
            # An old message may no longer be editable: that costs the patient nothing.
            log.log(logging.WARNING if row.kind == "edit" else logging.ERROR,
                    "outbox %s: Telegram refused %s for %s: %s", row.id, row.kind, row.label or "chat",
                    self._describe(exc))
            await self._fail(queue, row, attempts, self._describe(exc))
            return
        except NetworkError as exc:  # includes timeouts and 5xx from Telegram or a proxy
            delay = self._backoff(attempts)
            log.warning("outbox %s: network error for %s, retry in %.1fs: %s", row.id,
                        row.label or "chat", delay, self._describe(exc))
            await self._retry(queue, row, attempts, delay, self._describe(exc))
            return
        except TelegramError as exc:
            log.error("outbox %s: %s for %s failed: %s", row.id, row.kind, row.label or "chat",
                      self._describe(exc))
            await self._fail(queue, row, attempts, self._describe(exc))
            return
        except Exception as exc:
            log.error("outbox %s: unexpected error sending %s: %s", row.id, row.kind, described(exc))
            if attempts >= MAX_UNEXPECTED_ATTEMPTS:
                await self._fail(queue, row, attempts, self._describe(exc))
            else:
                await self._retry(queue, row, attempts, self._backoff(attempts), self._describe(exc))
            return
        self._sent(queue, row, attempts, message_id)

    # -- outcomes -------------------------------------------------------------------------------------
    def _sent(self, queue: list[QueuedMessage], row: QueuedMessage, attempts: int,
              message_id: int | None) -> None:
        _drop(queue, row)
        self._marks.append(store.SentMark(row.id, attempts, self.clock(), message_id))
        if row.escalation_id is not None:  # a coach's card: acting on it edits it by this message id
            self._mark_at_once = True
        self._marks_ready.set()

    async def _retry(self, queue: list[QueuedMessage], row: QueuedMessage, attempts: int, delay: float,
                     error: str) -> None:
        not_before = self.clock() + dt.timedelta(seconds=delay)
        queue[_index(queue, row)] = replace(row, not_before=not_before, attempts=attempts)
        try:
            async with self.gate:
                await store.reschedule(self.sessions, row.id, not_before=not_before, attempts=attempts,
                                       error=error)
        except Exception as exc:  # it is kept in memory regardless; the next attempt records again
            log.error("outbox %s: could not record the retry: %s", row.id, self._describe(exc))

    async def _fail(self, queue: list[QueuedMessage], row: QueuedMessage, attempts: int, error: str) -> None:
        _drop(queue, row)
        try:
            async with self.gate:
                await store.fail(self.sessions, row.id, now=self.clock(), attempts=attempts, error=error)
        finally:
            self._forget([row.id])

    async def _mark_loop(self) -> None:
        """Record sends in batches: a transaction per message would cost as much CPU as the message.
        Waiting `MARK_DELAY` for company widens the window in which a crash resends a message (the
        outbox delivers at least once) from a few milliseconds to a few tens. An alert card is
        recorded at once: a coach's Resolve finds the cards to close by their recorded message ids."""
        while not self._stopping.is_set():
            await self._marks_ready.wait()
            if len(self._marks) < MARK_BATCH and not self._mark_at_once and not self._stopping.is_set():
                await asyncio.sleep(MARK_DELAY)  # (asyncio.wait_for can swallow a cancel on 3.11)
            self._marks_ready.clear()
            self._mark_at_once = False
            try:
                await self._flush_marks()
            except Exception as exc:  # kept for the next round; at worst resent after a restart
                log.error("outbox: could not record sent messages: %s", self._describe(exc))
                await asyncio.sleep(1.0)
                self._marks_ready.set()

    async def _flush_marks(self) -> None:
        batch, self._marks = self._marks, []
        try:
            async with self.gate:
                await store.mark_sent(self.sessions, batch)
        except BaseException:
            self._marks = batch + self._marks
            raise
        self._forget(mark.id for mark in batch)

    async def _overall_slot(self, row: QueuedMessage) -> Slot | None:
        """Queue for an overall slot; a bulk row is watched for cancellation while it waits."""
        if not row.lane:
            return await self.pacer.slot(0, alert=is_alert(row))
        self._bulk_waiting.add(row.id)
        try:
            return await self.pacer.slot(1)
        finally:
            self._bulk_waiting.discard(row.id)

    async def _still_wanted_now(self, row: QueuedMessage, joined: float) -> bool:
        """After a bulk row's wait for a slot: cancelled if the watch saw it cancelled; asked
        directly only if nobody has looked for longer than `CANCEL_FRESH` (the watch is behind)."""
        if row.id in self._cancelled:
            self._cancelled.discard(row.id)
            return False
        if time.monotonic() - max(joined, self._watched_at) <= CANCEL_FRESH:
            return True
        self.late_looks += 1
        return await self._still_wanted(row)

    async def _cancel_watch(self) -> None:
        """Bulk rows can wait many seconds for a slot behind thousands of others: look for any of
        them cancelled (/pause, /stop) with one query every `CANCEL_WATCH_EVERY` seconds, instead of
        one query per row inside its slot (which would hold the slot longer)."""
        while not self._stopping.is_set():
            started = time.monotonic()  # before the snapshot: a row joining later is not in it
            waiting = set(self._bulk_waiting)
            if waiting:
                try:
                    self._cancelled |= await store.cancelled_among(self.sessions, waiting)
                    self._watched_at = started
                except Exception as exc:  # each row is asked about directly instead
                    log.warning("outbox: could not look for cancelled rows: %s", self._describe(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), CANCEL_WATCH_EVERY)

    async def _still_wanted(self, row: QueuedMessage) -> bool:
        """Bulk rows only (replies and alerts are never cancelled); if the database cannot say, send."""
        try:
            return await store.still_wanted(self.sessions, row.id)
        except Exception as exc:
            log.warning("outbox %s: could not check for a cancellation (%s); sending", row.id,
                        self._describe(exc))
            return True

    def _forget(self, ids: Iterable[int]) -> None:
        """Rows whose fate is recorded: no longer held, and not to be taken from a sweep in flight."""
        done = set(ids)
        self._known -= done
        self._finished |= done
        self._cancelled -= done

    # -- helpers --------------------------------------------------------------------------------------
    def _backoff(self, attempts: int) -> float:
        """Exponential, capped, with full jitter in its upper half (so retries of many rows spread)."""
        ceiling: float = min(self.retry_max, self.retry_base * 2.0 ** max(attempts - 1, 0))
        return ceiling * random.uniform(0.5, 1.0)  # jitter, not security

    def _describe(self, exc: BaseException) -> str:
        """The error's class and Telegram's description, with the token scrubbed out. Only Telegram's
        errors say more than their class: another's message may quote a value (see `app.failures`)."""
        if not isinstance(exc, TelegramError):
            return type(exc).__name__
        text = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
        if self._secret:
            text = text.replace(self._secret, "<token>")
        return text[:200]


def is_alert(row: QueuedMessage) -> bool:
    """A coach's alert card (only cards carry their escalation): first in its chat and overall."""
    return row.escalation_id is not None and row.kind != "edit"


def _send_order(row: QueuedMessage) -> tuple[bool, int]:
    """A chat's queue order: alert cards first, then everything else; each in id (commit) order."""
    return not is_alert(row), row.id


def _index(queue: list[QueuedMessage], row: QueuedMessage) -> int:
    """Where `row` is now: an alert card may have been put ahead of it while it was being sent."""
    return next(i for i, queued in enumerate(queue) if queued is row)


def _drop(queue: list[QueuedMessage], row: QueuedMessage) -> None:
    del queue[_index(queue, row)]


async def _call(bot: Bot, row: QueuedMessage, slot: Slot) -> int | None:
    """One Bot API call, telling the pacer how it ended: an answer (even a refusal) means Telegram
    has counted it; no answer (a timeout, a 5xx from a proxy, a dropped connection) means it may
    still arrive, so it keeps its place in the pacing window a while longer."""
    try:
        message_id = await call(bot, row)
    except BaseException as exc:
        answered = isinstance(exc, TelegramError) and (
            not isinstance(exc, NetworkError) or isinstance(exc, BadRequest))
        (slot.answered if answered else slot.unanswered)()
        raise
    slot.answered()
    return message_id


def _seconds(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value)
