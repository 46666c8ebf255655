"""The Telegram bot as one object: PTB Application wiring, polling or webhook, and a graceful stop.

Start: check the token with getMe, start the outbox sender (which first sends whatever a previous run
left unsent), start the scheduler (whose first tick sends what fell due while the bot was down), then
take updates; only then set the command menus (one Bot API call per coach), warn if no coach will
receive alerts and forget old update ids, none of which an update needs. Stop (SIGTERM/SIGINT in
`serve`): stop taking updates, let the ones in progress finish (each is one transaction, so nothing is
half-written), stop the scheduler (letting a tick in progress finish), let sends in progress finish,
and leave anything unsent in the outbox for the next start.

State lives in the project database, not in PTB persistence, so a new process carries on exactly where
the last one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from sqlalchemy import select
from telegram import Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, TypeHandler

from coachbot.adapters.charts import stop_drawing
from coachbot.adapters.db.models import Coach
from coachbot.adapters.ops import counts
from coachbot.adapters.scheduler.tick import CheckinScheduler, launch
from coachbot.adapters.telegram import outbox_store
from coachbot.adapters.telegram.bot_requests import SENDS_IN_FLIGHT, polling_request, sending_request
from coachbot.adapters.telegram.confirming_bot import ConfirmAfterCommitBot
from coachbot.adapters.telegram.inbound import ALLOWED_UPDATES
from coachbot.adapters.telegram.keyboards import button_key
from coachbot.adapters.telegram.messages_out import TelegramChannel
from coachbot.adapters.telegram.outbox import OutboxSender
from coachbot.adapters.telegram.pacing import Pacer
from coachbot.adapters.telegram.updates import (
    PerChatProcessor,
    UpdateHandler,
    on_error,
    set_coach_commands,
    set_patient_commands,
)
from coachbot.adapters.telegram.webhook import WebhookServer
from coachbot.app.application import App
from coachbot.app.escalations.alerts import AlertSettings, warn_if_no_coach
from coachbot.app.pipeline import Clock, PatientService, system_clock
from coachbot.config import Settings

if TYPE_CHECKING:
    from coachbot.adapters.ops.server import OpsServer

log = logging.getLogger("coachbot.telegram")

KEEP_UPDATE_IDS = dt.timedelta(days=7)
"""Telegram keeps an update for 24 hours at most; a week of ids is ample to recognise redeliveries."""


NO_TOKEN = "COACHBOT_TELEGRAM_TOKEN is not set: put the bot token from @BotFather in it."


class BotConfigError(Exception):
    """The bot cannot start for a reason the operator can fix; the message is one plain sentence."""


def quiet_library_loggers() -> None:
    """httpx, aiohttp's client and PTB may log request URLs (which contain the token) and whole updates
    at INFO/DEBUG; aiosqlite logs every statement with its parameters (patients' words) at DEBUG."""
    for name in ("httpx", "httpcore", "aiohttp.client", "telegram", "tornado", "aiosqlite"):
        logging.getLogger(name).setLevel(logging.WARNING)


def file_url(base_url: str) -> str:
    """PTB's base_file_url for a Bot API server's base_url (".../bot" -> ".../file/bot")."""
    return base_url.removesuffix("/bot") + "/file/bot"


def normalise_base_url(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/bot") else url + "/bot"


class BotClient:
    """The bot's Bot API client: `ConfirmAfterCommitBot` on its sending and its polling request.

    `coachbot run` makes it first and checks the token through it (`check_token`), then runs the bot on
    it: the getMe and the connection of that check are the ones the bot goes on using, instead of a
    second client's (a TLS handshake and a getMe more before the first poll on the real Telegram).
    """

    def __init__(self, settings: Settings) -> None:
        if settings.telegram_token is None or not settings.telegram_token.get_secret_value().strip():
            raise BotConfigError(NO_TOKEN)
        self.token = settings.telegram_token.get_secret_value().strip()
        self.base_url = normalise_base_url(settings.telegram_base_url or "https://api.telegram.org/bot")
        self.requests = (sending_request(), polling_request())
        self.bot = ConfirmAfterCommitBot(
            self.token, base_url=self.base_url, base_file_url=file_url(self.base_url),
            request=self.requests[0], get_updates_request=self.requests[1])

    async def close(self) -> None:
        """After a failed start: PTB's shutdown skips a bot whose initialize failed, so close the
        connection pools that initialize opened ourselves."""
        for request in self.requests:
            with contextlib.suppress(Exception):
                await request.shutdown()


class TelegramBot:
    """One running bot: the PTB application, the update handler, the outbox sender and the scheduler."""

    def __init__(self, core: App, settings: Settings, *, clock: Clock = system_clock,
                 client: BotClient | None = None) -> None:
        client = client if client is not None else BotClient(settings)  # raises BotConfigError first
        quiet_library_loggers()
        self.core, self.settings, self.clock = core, settings, clock
        token = client.token
        self.channel = TelegramChannel(core.library.service.channel, core.library.escalation,
                                       button_key=button_key(token))
        self.service = PatientService(core.sessions, core.engine, clock, channel=self.channel,
                                      steps=core.steps, care=core.care)
        self.service.alerts = AlertSettings(settings.alert_show_name, settings.coach_group_chat_id)
        self.service.rights.texts = core.patients.rights.texts  # dialogs/forget.yaml, as bootstrap read it
        self.client = client
        self.base_url = client.base_url
        self.bot = client.bot
        builder = Application.builder().bot(self.bot).concurrent_updates(
            PerChatProcessor(settings.telegram_concurrent_updates))
        self.application = builder.build()
        pacer = Pacer(settings.telegram_sends_per_second, settings.telegram_chat_sends_per_second,
                      settings.telegram_chat_burst)
        self.sender = OutboxSender(self.application.bot, core.sessions, pacer, clock=clock,
                                   retry_base=settings.outbox_retry_base_seconds,
                                   retry_max=settings.outbox_retry_max_seconds, secret=token,
                                   max_in_flight=SENDS_IN_FLIGHT)
        handler = UpdateHandler(self.service, self.channel, self.sender, on_done=self._update_done,
                                unreadable=self.bot.unreadable.take)
        # block=True: `process_update` returns only once the handler is done, which the webhook server's
        # answer-after-commit relies on.
        self.application.add_handler(TypeHandler(Update, handler, block=True))
        self.application.add_error_handler(on_error)
        self._failed: Counter[int] = Counter()  # updates whose handling failed, until webhook asks
        self.webhook: WebhookServer | None = None  # started by `start` in webhook mode
        self.scheduler: CheckinScheduler | None = None  # started by `start`, after the sender
        self._warm_up: asyncio.Task[None] | None = None  # `_after_start`, once updates flow
        self.ops: OpsServer | None = None
        if settings.ops_port:  # only then: the endpoints bring prometheus_client
            from coachbot.adapters.ops.server import OpsServer  # noqa: PLC0415

            self.ops = OpsServer(core.sessions, clock, listen=settings.ops_listen, port=settings.ops_port,
                                 outbox_max_age=settings.ops_outbox_max_age_seconds)

    async def start(self, *, webhook: bool = False) -> None:
        """Check the token, start sending and the scheduler, start taking updates, then (in a task
        `stop` waits for) set the menus and tidy up."""
        if webhook and (self.settings.webhook_url is None or self.settings.webhook_secret is None):
            raise BotConfigError("webhook mode needs COACHBOT_WEBHOOK_URL (the public https address) and "
                                 "COACHBOT_WEBHOOK_SECRET (16-256 of A-Z a-z 0-9 _ -).")
        if self.ops is not None:  # first: /healthz answers while the rest starts
            from coachbot.adapters.ops.server import OpsServerError  # noqa: PLC0415 (as in __init__)

            try:
                self.ops.start()
            except OpsServerError as exc:
                raise BotConfigError(str(exc)) from None
        await self._initialize()
        self.sender.start()
        self.sender.offer(await self.service.queue_alerts())
        self.scheduler = await launch(self.core.sessions, self.service, self.channel, self.settings,
                                      clock=self.clock, on_queued=self.sender.offer)
        await self.application.start()
        updater = self.application.updater
        assert updater is not None
        if webhook:
            await self._start_webhook()
        else:
            await updater.start_polling(poll_interval=0.0, timeout=self.settings.telegram_poll_timeout,
                                        allowed_updates=list(ALLOWED_UPDATES), drop_pending_updates=False)
        # What start-up made (the dialogs, compiled statements, PTB's objects) lives as long as the
        # process: keep it out of the collector's full passes, which otherwise walk it all and stall
        # every update for up to ~100 ms (bench/telegram_throughput.py; README).
        gc.freeze()
        log.info("coachbot is taking Telegram updates by %s", "webhook" if webhook else "long polling")
        self._warm_up = asyncio.create_task(self._after_start())

    async def _after_start(self) -> None:
        """What start-up does once updates flow: none of it is needed to handle one, and the menus are
        a Bot API round trip per coach (bench/memory.py times the first getUpdates). A failure here is
        logged: the bot keeps serving, and the next start tries again."""
        try:
            await self._set_menus()
            await warn_if_no_coach(self.service.uows)  # the drawing process starts with the first chart
            await outbox_store.prune_processed_updates(self.core.sessions, self.clock() - KEEP_UPDATE_IDS)
        except Exception as exc:
            log.error("after start: could not set the menus or tidy up (%s)", type(exc).__name__)

    async def _start_webhook(self) -> None:
        """Listen first, then tell Telegram where to post (it keeps the webhook across our restarts, and
        updates not answered with a 2xx are delivered again once we listen)."""
        url, secret = self.settings.webhook_url, self.settings.webhook_secret
        assert url is not None and secret is not None
        self.webhook = WebhookServer(
            self.application, secret=secret.get_secret_value(), path=urlsplit(url).path,
            listen=self.settings.webhook_listen, port=self.settings.webhook_port,
            unreadable=self.bot.unreadable, committed=self._committed)
        try:
            await self.webhook.start()
        except OSError as exc:
            self.webhook = None
            raise BotConfigError(f"cannot listen for the webhook on {self.settings.webhook_listen}:"
                                 f"{self.settings.webhook_port} ({type(exc).__name__}); check "
                                 "COACHBOT_WEBHOOK_LISTEN and COACHBOT_WEBHOOK_PORT.") from None
        await self.application.bot.set_webhook(
            url=url, secret_token=secret.get_secret_value(), allowed_updates=list(ALLOWED_UPDATES),
            drop_pending_updates=False)

    async def stop(self) -> None:
        """Stop taking updates, finish those in progress, finish sends in progress, close."""
        if self._warm_up is not None:  # the menus and the rest: short, so let them finish
            await self._warm_up
        if self.webhook is not None:  # answers the posts in progress once they committed
            await self.webhook.stop()
            self.webhook = None
        updater = self.application.updater
        if updater is not None and updater.running:
            await updater.stop()
        if self.application.running:
            await self.application.stop()  # waits for updates being handled
        if self.scheduler is not None:  # before the sender: a tick in progress hands it rows
            await self.scheduler.stop()
        await self.sender.stop()
        await stop_drawing()  # after the sender: it draws the charts it sends
        try:
            await self.application.shutdown()
        finally:
            if self.ops is not None:  # last: /healthz answers until the process is done
                await self.ops.stop()

    def _update_done(self, update_id: int, committed: bool) -> None:
        counts.update_handled()
        self.bot.finished(update_id)
        if not committed and self.webhook is not None:  # only the webhook server asks (and forgets)
            self._failed[update_id] += 1

    def _committed(self, update_id: int) -> bool:
        """For the webhook server, once the update was processed: did its handling commit? (A count,
        not a flag: Telegram may deliver the same update twice at once.)"""
        if self._failed[update_id]:
            self._failed[update_id] -= 1
            if not self._failed[update_id]:
                del self._failed[update_id]
            return False
        return True

    async def _initialize(self) -> None:
        host = urlsplit(self.base_url).netloc
        try:
            await patiently(self.application.initialize)  # calls getMe
        except InvalidToken:
            await self.client.close()
            raise BotConfigError(f"the Bot API server at {host} refused COACHBOT_TELEGRAM_TOKEN; "
                                 "check the token from @BotFather.") from None
        except NetworkError as exc:
            await self.client.close()
            raise BotConfigError(f"cannot reach the Bot API server at {host} ({type(exc).__name__}); "
                                 "check COACHBOT_TELEGRAM_BASE_URL and the network.") from None

    async def _set_menus(self) -> None:
        """Patients' commands for every private chat, and each registered coach's own set."""
        messages = self.channel.messages
        try:
            await set_patient_commands(self.application.bot, messages)
        except TelegramError as exc:
            log.warning("could not set the command menu: %s", type(exc).__name__)
        async with self.core.sessions() as session:
            coaches = (await session.execute(select(Coach.telegram_user_id).where(
                Coach.active.is_(True), Coach.telegram_user_id.is_not(None)))).scalars().all()
        for chat_id in coaches:
            if chat_id is not None:
                await set_coach_commands(self.application.bot, messages, chat_id)


START_RETRIES = (0.5, 1.5)
"""Seconds to wait before asking the Bot API again when getMe at start meets a network error: a
502 or a stalled answer from Telegram (or its proxy) is usually gone in a second, and ending
`coachbot run` for it left the service down until a supervisor restarted it (the soak found one).
A refused token is not retried."""


async def patiently(call: Callable[[], Awaitable[None]]) -> None:
    """`call`, again after each of `START_RETRIES` while it fails with a `NetworkError`."""
    for wait in (*START_RETRIES, None):
        try:
            await call()
            return
        except InvalidToken:
            raise
        except NetworkError as exc:
            if wait is None:
                raise
            log.warning("the Bot API did not answer getMe (%s); asking again in %.1f s",
                        type(exc).__name__, wait)
            await asyncio.sleep(wait)


async def check_token(client: BotClient) -> None:
    """Ask the Bot API who we are before touching the database, so a wrong token fails in a second.

    The getMe goes through PTB's `Bot.initialize` on the client the bot will run on, which stays
    initialized: `Application.initialize` then finds the bot ready (PTB's `Bot.initialize` returns at
    once for an initialized bot) and does not ask again. On failure the client is closed.
    """
    host = urlsplit(client.base_url).netloc
    try:
        await patiently(client.bot.initialize)
    except InvalidToken:
        await client.close()
        raise BotConfigError(f"the Bot API server at {host} refused COACHBOT_TELEGRAM_TOKEN; "
                             "check the token from @BotFather.") from None
    except NetworkError as exc:
        await client.close()
        raise BotConfigError(f"cannot reach the Bot API server at {host} ({type(exc).__name__}); "
                             "check COACHBOT_TELEGRAM_BASE_URL and the network.") from None
