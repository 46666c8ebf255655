"""Long polling that confirms an update to Telegram only after its effects are committed.

`getUpdates` with an offset tells Telegram that every update below the offset has been handled, and
Telegram never sends those again. PTB's Updater asks for the next batch (confirming the last one) as
soon as it has queued the batch, while the updates are still being handled: a crash then loses them,
and a patient's answer would go unanswered. This bot holds back the next `getUpdates` until every
update it handed out below the new offset has finished (committed, or failed and logged). A crash
before that leaves them unconfirmed, Telegram delivers them again after the restart, and the
processed-update ids in the database (see `PatientService.handle_update`) make the second delivery
change nothing. So each update is applied exactly once across crashes.

Webhook mode is different: Telegram treats an update as delivered when the HTTP request is answered,
which PTB does on receipt; see the README.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from telegram import Update
from telegram.error import TimedOut
from telegram.ext import ExtBot

log = logging.getLogger("coachbot.telegram")


class ConfirmAfterCommitBot(ExtBot[None]):
    """An ExtBot whose `get_updates` waits for the updates it handed out before confirming them."""

    __slots__ = ("_changed", "_patience", "_unfinished")

    def __init__(self, *args: Any, patience: float = 60.0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._unfinished: set[int] = set()
        self._changed = asyncio.Event()
        self._patience = patience

    def finished(self, update_id: int) -> None:
        """The update's effects are committed (or it failed for good): it may be confirmed."""
        self._unfinished.discard(update_id)
        self._changed.set()

    @property
    def unfinished(self) -> frozenset[int]:
        return frozenset(self._unfinished)

    async def get_updates(self, offset: int | None = None, *args: Any,
                          **kwargs: Any) -> tuple[Update, ...]:
        if offset:
            await self._settled_below(offset)
        updates = await super().get_updates(offset, *args, **kwargs)
        self._unfinished.update(update.update_id for update in updates)
        return updates

    async def _settled_below(self, offset: int) -> None:
        """Wait until no handed-out update below `offset` is still being handled.

        After `patience` seconds this raises TimedOut instead of confirming: PTB's polling loop retries
        (and its final clean-up call gives up), so an update that is still running is never confirmed.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._patience
        while any(update_id < offset for update_id in self._unfinished):
            self._changed.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                waiting = sorted(i for i in self._unfinished if i < offset)
                log.warning("updates %s still running after %.0f s: not confirming them yet", waiting,
                            self._patience)
                raise TimedOut("updates still being handled")
            # Not `asyncio.wait_for`: on Python 3.11 it can swallow a cancellation that arrives as
            # the wait ends, and PTB's stop cancels this call; the poll that followed outlived the
            # stop and ended in a 409 Conflict nobody retrieved.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await self._changed.wait()
