"""The Telegram bot as one object: PTB Application wiring, polling or webhook, and a graceful stop.

Start: check the token with getMe, set the command menus, start the outbox sender (which first sends
whatever a previous run left unsent), start the scheduler (whose first tick sends what fell due while
the bot was down), then take updates. Stop (SIGTERM/SIGINT in `serve`): stop taking updates, let the
ones in progress finish (each is one transaction, so nothing is half-written), stop the scheduler
(letting a tick in progress finish), let sends in progress finish, and leave anything unsent in the
outbox for the next start.

State lives in the project database, not in PTB persistence, so a new process carries on exactly where
the last one stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import logging
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from sqlalchemy import select
from telegram import Bot, Update
from telegram.error import InvalidToken, NetworkError, TelegramError
from telegram.ext import Application, TypeHandler

from coachbot.adapters.charts import stop_drawing
from coachbot.adapters.db.models import Coach
from coachbot.adapters.ops import metrics
from coachbot.adapters.ops.server import OpsServer, OpsServerError
from coachbot.adapters.scheduler.tick import CheckinScheduler, launch
from coachbot.adapters.telegram import outbox_store
from coachbot.adapters.telegram.bot_requests import (
    SENDS_IN_FLIGHT,
    polling_request,
    probe_request,
    sending_request,
)
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
from coachbot.app.application import App
from coachbot.app.escalations.alerts import AlertSettings, warn_if_no_coach
from coachbot.app.pipeline import Clock, PatientService, system_clock
from coachbot.config import Settings

log = logging.getLogger("coachbot.telegram")

KEEP_UPDATE_IDS = dt.timedelta(days=7)
"""Telegram keeps an update for 24 hours at most; a week of ids is ample to recognise redeliveries."""


NO_TOKEN = "COACHBOT_TELEGRAM_TOKEN is not set: put the bot token from @BotFather in it."


class BotConfigError(Exception):
    """The bot cannot start for a reason the operator can fix; the message is one plain sentence."""


def quiet_library_loggers() -> None:
    """httpx, aiohttp's client and PTB may log request URLs (which contain the token) and whole updates
    at INFO/DEBUG."""
    for name in ("httpx", "httpcore", "aiohttp.client", "telegram", "tornado"):
        logging.getLogger(name).setLevel(logging.WARNING)


def file_url(base_url: str) -> str:
    """PTB's base_file_url for a Bot API server's base_url (".../bot" -> ".../file/bot")."""
    return base_url.removesuffix("/bot") + "/file/bot"


def normalise_base_url(url: str) -> str:
    url = url.rstrip("/")
    return url if url.endswith("/bot") else url + "/bot"


class TelegramBot:
    """One running bot: the PTB application, the update handler, the outbox sender and the scheduler."""

    def __init__(self, core: App, settings: Settings, *, clock: Clock = system_clock) -> None:
        if settings.telegram_token is None or not settings.telegram_token.get_secret_value().strip():
            raise BotConfigError(NO_TOKEN)
        quiet_library_loggers()
        self.core, self.settings, self.clock = core, settings, clock
        token = settings.telegram_token.get_secret_value().strip()
        self.channel = TelegramChannel(core.library.service.channel, core.library.escalation,
                                       button_key=button_key(token))
        self.service = PatientService(core.sessions, core.engine, clock, channel=self.channel,
                                      steps=core.steps, care=core.care)
        self.service.alerts = AlertSettings(settings.alert_show_name, settings.coach_group_chat_id)
        self.base_url = normalise_base_url(settings.telegram_base_url or "https://api.telegram.org/bot")
        self._requests = (sending_request(), polling_request())
        self.bot = ConfirmAfterCommitBot(
            token, base_url=self.base_url, base_file_url=file_url(self.base_url), request=self._requests[0],
            get_updates_request=self._requests[1])
        builder = Application.builder().bot(self.bot).concurrent_updates(
            PerChatProcessor(settings.telegram_concurrent_updates))
        self.application = builder.build()
        pacer = Pacer(settings.telegram_sends_per_second, settings.telegram_chat_sends_per_second,
                      settings.telegram_chat_burst)
        self.sender = OutboxSender(self.application.bot, core.sessions, pacer, clock=clock,
                                   retry_base=settings.outbox_retry_base_seconds,
                                   retry_max=settings.outbox_retry_max_seconds, secret=token,
                                   gate=self.service.gate, max_in_flight=SENDS_IN_FLIGHT)
        handler = UpdateHandler(self.service, self.channel, self.sender, on_done=self._update_done,
                                unreadable=self.bot.unreadable.take)
        self.application.add_handler(TypeHandler(Update, handler))
        self.application.add_error_handler(on_error)
        self.scheduler: CheckinScheduler | None = None  # started by `start`, after the sender
        self.ops = None if not settings.ops_port else OpsServer(
            core.sessions, clock, listen=settings.ops_listen, port=settings.ops_port,
            outbox_max_age=settings.ops_outbox_max_age_seconds)

    async def start(self, *, webhook: bool = False) -> None:
        """Check the token, set the menus, start sending, then start taking updates."""
        if webhook and (self.settings.webhook_url is None or self.settings.webhook_secret is None):
            raise BotConfigError("webhook mode needs COACHBOT_WEBHOOK_URL (the public https address) and "
                                 "COACHBOT_WEBHOOK_SECRET (16-256 of A-Z a-z 0-9 _ -).")
        if self.ops is not None:  # first: /healthz answers while the rest starts
            try:
                self.ops.start()
            except OpsServerError as exc:
                raise BotConfigError(str(exc)) from None
        await self._initialize()
        await self._set_menus()
        await warn_if_no_coach(self.core.sessions)  # the drawing process starts with the first chart
        async with self.service.gate:
            await outbox_store.prune_processed_updates(self.core.sessions, self.clock() - KEEP_UPDATE_IDS)
        self.sender.start()
        self.sender.offer(await self.service.queue_alerts())
        self.scheduler = await launch(self.core.sessions, self.service, self.channel, self.settings,
                                      clock=self.clock, on_queued=self.sender.offer)
        await self.application.start()
        updater = self.application.updater
        assert updater is not None
        if webhook:
            url, secret = self.settings.webhook_url, self.settings.webhook_secret
            assert url is not None and secret is not None
            await updater.start_webhook(
                listen=self.settings.webhook_listen, port=self.settings.webhook_port,
                url_path=urlsplit(url).path.strip("/"), webhook_url=url,
                secret_token=secret.get_secret_value(), allowed_updates=list(ALLOWED_UPDATES),
                drop_pending_updates=False)
        else:
            await updater.start_polling(poll_interval=0.0, timeout=self.settings.telegram_poll_timeout,
                                        allowed_updates=list(ALLOWED_UPDATES), drop_pending_updates=False)
        # What start-up made (the dialogs, compiled statements, PTB's objects) lives as long as the
        # process: keep it out of the collector's full passes, which otherwise walk it all and stall
        # every update for up to ~100 ms (bench/telegram_throughput.py; README).
        gc.freeze()
        log.info("coachbot is taking Telegram updates by %s", "webhook" if webhook else "long polling")

    async def stop(self) -> None:
        """Stop taking updates, finish those in progress, finish sends in progress, close."""
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

    def _update_done(self, update_id: int) -> None:
        metrics.updates_handled.inc()
        self.bot.finished(update_id)

    async def _initialize(self) -> None:
        host = urlsplit(self.base_url).netloc
        try:
            await patiently(self.application.initialize)  # calls getMe
        except InvalidToken:
            await self._close_requests()
            raise BotConfigError(f"the Bot API server at {host} refused COACHBOT_TELEGRAM_TOKEN; "
                                 "check the token from @BotFather.") from None
        except NetworkError as exc:
            await self._close_requests()
            raise BotConfigError(f"cannot reach the Bot API server at {host} ({type(exc).__name__}); "
                                 "check COACHBOT_TELEGRAM_BASE_URL and the network.") from None

    async def _close_requests(self) -> None:
        """After a failed start: PTB's shutdown skips a bot whose initialize failed, so close the
        connection pools that initialize opened ourselves."""
        for request in self._requests:
            with contextlib.suppress(Exception):
                await request.shutdown()

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


async def check_token(settings: Settings) -> None:
    """Ask the Bot API who we are before touching the database, so a wrong token fails in a second."""
    if settings.telegram_token is None or not settings.telegram_token.get_secret_value().strip():
        raise BotConfigError(NO_TOKEN)
    base_url = normalise_base_url(settings.telegram_base_url or "https://api.telegram.org/bot")
    host = urlsplit(base_url).netloc
    request = probe_request()
    bot = Bot(settings.telegram_token.get_secret_value().strip(), base_url=base_url,
              base_file_url=file_url(base_url), request=request, get_updates_request=request)
    async def get_me() -> None:
        async with bot:
            pass

    try:
        await patiently(get_me)
    except InvalidToken:
        raise BotConfigError(f"the Bot API server at {host} refused COACHBOT_TELEGRAM_TOKEN; "
                             "check the token from @BotFather.") from None
    except NetworkError as exc:
        raise BotConfigError(f"cannot reach the Bot API server at {host} ({type(exc).__name__}); "
                             "check COACHBOT_TELEGRAM_BASE_URL and the network.") from None
    finally:
        await request.shutdown()  # already closed after a good check; a failed one leaves it open
