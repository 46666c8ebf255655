"""Webhook mode: an aiohttp server that answers Telegram only after the update's transaction committed.

Telegram treats an update as delivered once the HTTP request is answered with a 2xx, and never sends it
again. PTB's own webhook server (`Updater.start_webhook`) answers as soon as the update is queued, so a
crash (kill -9) while it is being handled loses it for good. This server follows PTB's documented
pattern for a custom webhook server (a web framework of our own feeding `Application`) but, instead of
putting the update on the queue, has it processed (`Application.process_update`, through the
application's update processor so each chat's updates still run one at a time in order) and answers:

- 200 once the update's transaction committed, or it was a redelivery (the processed-update id makes
  a second delivery change nothing), or it could not be read (recorded without its text and its typed
  words screened for crisis, as polling does: see `unreadable.py`), so Telegram never retries it forever;
- 500 when handling it failed (the database down, say): nothing was committed and Telegram delivers it
  again later;
- 403 when `X-Telegram-Bot-Api-Secret-Token` is missing or wrong, checked (in constant time) before a
  byte of the body is read, so an unauthenticated post costs no memory;
- 413 for a body over `MAX_BODY` (refused by its Content-Length before reading, or by aiohttp's
  `client_max_size` while reading one sent in chunks); 400 for a body that is not a JSON object.

The log gets the update id and error class only, never the body: it holds patients' words and names.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
from collections.abc import Callable
from typing import Any

from aiohttp import web
from telegram import Update
from telegram.ext import Application

from coachbot.adapters.telegram.unreadable import UnreadableUpdates

log = logging.getLogger("coachbot.telegram")

MAX_BODY = 1024 * 1024
"""1 MiB. A Telegram update is a few kilobytes at most (a message's text is capped at 4,096 characters,
a caption at 1,024, and files come as ids, not bytes); anything near this size is not from Telegram."""

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

SHUTDOWN_TIMEOUT = 30.0
"""How long a graceful stop waits for updates in progress (each is one short transaction)."""


class WebhookServer:
    """The HTTP side of webhook mode: authenticate, cap, read, process, and only then answer."""

    def __init__(self, application: Application[Any, Any, Any, Any, Any, Any], *, secret: str, path: str,
                 listen: str, port: int, unreadable: UnreadableUpdates,
                 committed: Callable[[int], bool]) -> None:
        """`committed(update_id)` says, once the update was processed, whether its effects committed."""
        self.application, self.unreadable, self.committed = application, unreadable, committed
        self._secret = secret.encode()
        self._path = "/" + path.strip("/")
        self._listen, self._port = listen, port
        self._runner: web.AppRunner | None = None

    @property
    def path(self) -> str:
        return self._path

    async def start(self) -> None:
        """Listen; raises OSError when the address is taken."""
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(self._path, self.handle)
        runner = web.AppRunner(app, access_log=None,  # the access log would show the secret path only,
                               shutdown_timeout=SHUTDOWN_TIMEOUT)  # but says nothing a metric does not
        await runner.setup()
        try:
            await web.TCPSite(runner, self._listen, self._port).start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner

    async def stop(self) -> None:
        """Stop taking posts and let those in progress finish (and be answered) first."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def handle(self, request: web.Request) -> web.Response:
        """One post from Telegram."""
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            log.warning("webhook post refused: %s secret token", "wrong" if given else "no")
            return web.Response(status=403)
        if request.content_length is not None and request.content_length > MAX_BODY:
            log.warning("webhook post refused: body of %d bytes is over the %d-byte cap",
                        request.content_length, MAX_BODY)
            return web.Response(status=413)
        try:
            body = await request.read()  # raises HTTPRequestEntityTooLarge past client_max_size
        except web.HTTPRequestEntityTooLarge:
            log.warning("webhook post refused: chunked body over the %d-byte cap", MAX_BODY)
            return web.Response(status=413)
        except ConnectionError:  # the sender hung up before the body was complete: nobody to answer
            log.info("webhook post abandoned by its sender before its body was complete")
            return web.Response(status=400)
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            data = None
        if not isinstance(data, dict):
            log.warning("webhook post refused: the body is not a JSON object (%d bytes)", len(body))
            return web.Response(status=400)
        update = self._read(data)
        if update is None:
            return web.Response()  # no id: nothing to record or answer; 200 so it is not sent again
        return web.Response() if await self._process(update) else web.Response(status=500)

    def _read(self, data: dict[str, Any]) -> Update | None:
        """The update; an unreadable one becomes an empty Update with its id (None without an id)."""
        bot = self.application.bot
        try:
            update = Update.de_json(data, bot)
        except Exception as error:  # any shape the library cannot read: recorded, skipped, screened
            update_id = data.get("update_id")
            if not isinstance(update_id, int) or isinstance(update_id, bool):
                self.unreadable.record_without_id(error)
                return None
            self.unreadable.record(update_id, data, error)
            return Update(update_id=update_id)
        bot.insert_callback_data(update)
        return update

    async def _process(self, update: Update) -> bool:
        """Process the update to the end; True when its effects committed (or it was a redelivery)."""
        app = self.application
        try:
            await app.update_processor.process_update(update, app.process_update(update))
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # process_update logs handler errors itself; this is anything else
            log.error("webhook update %s could not be processed: %s", update.update_id, type(exc).__name__)
            return False
        return self.committed(update.update_id)
