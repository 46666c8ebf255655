"""Long polling that confirms an update to Telegram only after its effects are committed.

`getUpdates` with an offset tells Telegram that every update below the offset has been handled, and
Telegram never sends those again. PTB's Updater asks for the next batch (confirming the last one) as
soon as it has queued the batch, while the updates are still being handled: a crash then loses them,
and a patient's answer would go unanswered. This bot holds back the next `getUpdates` until every
update it handed out below the new offset has finished (committed, or failed and logged). A crash
before that leaves them unconfirmed, Telegram delivers them again after the restart, and the
processed-update ids in the database (see `PatientService.handle_update`) make the second delivery
change nothing. So each update is applied exactly once across crashes.

Each update of a batch is read on its own (`Update.de_json` per item): one that this version of the
library cannot read would otherwise fail the whole batch, which PTB's polling then fetches again in a
tight loop, every later update waiting behind it and the raw batch (other patients' words) in the log.
An unreadable update is handed on as an empty `Update` with the same id, so it is confirmed like any
other, and what could still be read of it (the private chat and its typed words) is kept for crisis
screening (`unreadable`); see `unreadable.py`.

Webhook mode is different: Telegram treats an update as delivered when the HTTP request is answered;
see `webhook.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import warnings
from typing import Any

from telegram import Update
from telegram.error import TimedOut
from telegram.ext import ExtBot
from telegram.request import BaseRequest
from telegram.warnings import PTBUserWarning

from coachbot.adapters.telegram.unreadable import UnreadableUpdates

log = logging.getLogger("coachbot.telegram")

RAW_CALL_WARNING = r"Please use 'Bot\.getUpdates'"


class ConfirmAfterCommitBot(ExtBot[None]):
    """An ExtBot whose `get_updates` waits for the updates it handed out before confirming them."""

    __slots__ = ("_changed", "_patience", "_polling", "_unfinished", "_unreadable")

    def __init__(self, *args: Any, get_updates_request: BaseRequest, patience: float = 60.0,
                 **kwargs: Any) -> None:
        super().__init__(*args, get_updates_request=get_updates_request, **kwargs)  # type: ignore[call-overload]
        self._polling = get_updates_request
        self._unfinished: set[int] = set()
        self._changed = asyncio.Event()
        self._patience = patience
        self._unreadable = UnreadableUpdates()

    def finished(self, update_id: int) -> None:
        """The update's effects are committed (or it failed for good): it may be confirmed."""
        self._unfinished.discard(update_id)
        self._changed.set()

    @property
    def unreadable(self) -> UnreadableUpdates:
        """Updates of the batches handed out that the library could not read."""
        return self._unreadable

    @property
    def unfinished(self) -> frozenset[int]:
        return frozenset(self._unfinished)

    async def get_updates(self, offset: int | None = None, limit: int | None = None,
                          timeout: int | dt.timedelta | None = None,  # noqa: ASYNC109 - PTB's signature
                          allowed_updates: Any = None, **kwargs: Any) -> tuple[Update, ...]:
        """PTB's `Bot.get_updates`, but confirming only finished updates and reading each on its own."""
        if offset:
            await self._settled_below(offset)
        raw = await self._fetch(offset, limit, timeout, allowed_updates)
        read = (self._read(item) for item in raw if isinstance(item, dict))
        updates = tuple(update for update in read if update is not None)
        self._unfinished.update(update.update_id for update in updates)
        return updates

    async def _fetch(self, offset: int | None, limit: int | None,
                     timeout: int | dt.timedelta | None,  # noqa: ASYNC109 - the long poll's, sent on
                     allowed_updates: Any) -> list[Any]:
        """The raw batch through PTB's public `do_api_request` (which sends getUpdates on the polling
        request object, as `Bot.get_updates` does), its read timeout lengthened by the long poll's."""
        seconds = timeout.total_seconds() if isinstance(timeout, dt.timedelta) else float(timeout or 0)
        values = {"offset": offset, "limit": limit, "timeout": seconds if timeout is not None else None,
                  "allowed_updates": list(allowed_updates) if allowed_updates is not None else None}
        # do_api_request warns that `get_updates` exists; reading the raw batch is the point here.
        # (Set on every call, not once: test runners reset the filters; a repeat replaces the old one.)
        warnings.filterwarnings("ignore", message=RAW_CALL_WARNING, category=PTBUserWarning)
        result = await self.do_api_request(
            "getUpdates", api_kwargs={k: v for k, v in values.items() if v is not None},
            read_timeout=(self._polling.read_timeout or 0) + seconds)
        return result if isinstance(result, list) else []

    def _read(self, item: dict[str, Any]) -> Update | None:
        """One update; an unreadable one becomes an empty Update with its id (None without an id)."""
        try:
            update = Update.de_json(item, self)
        except Exception as error:  # any shape the library cannot read: never the whole batch
            update_id = item.get("update_id")
            if not isinstance(update_id, int) or isinstance(update_id, bool):
                self.unreadable.record_without_id(error)
                return None
            self.unreadable.record(update_id, item, error)
            return Update(update_id=update_id)
        self.insert_callback_data(update)
        return update

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
