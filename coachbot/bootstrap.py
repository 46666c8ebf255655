"""The one place that wires the pieces together; tests wire their own clock and database here."""

from __future__ import annotations

import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.dialog_sets import load_or_last_good
from coachbot.adapters.db.migrate import upgrade_async
from coachbot.adapters.db.unit_of_work import SqlUnitOfWorks
from coachbot.app.application import App
from coachbot.app.data_rights.texts import load_texts as load_rights_texts
from coachbot.app.pipeline import Clock, PatientService, system_clock
from coachbot.app.self_management.service import SelfManagement
from coachbot.engine import Engine
from coachbot.spec.library import DialogLibrary
from coachbot.spec.steps import load_steps

if TYPE_CHECKING:
    from coachbot.adapters.scheduler.tick import SchedulerConfig
    from coachbot.adapters.terminal.chat import TerminalChat
    from coachbot.adapters.terminal.clock import SimulatedClock
    from coachbot.app.channel import Channel, QueuedMessage
    from coachbot.app.checkins.reminders import TickReport
    from coachbot.config import Settings


async def build_app(database_url: str, dialogs_dir: Path, *, clock: Clock = system_clock,
                    migrate: bool = True, channel: Callable[[DialogLibrary], Channel] | None = None) -> App:
    """Load and validate the dialogs, bring the schema up to date, and build the service; `channel`
    makes the formatter the service writes outbox rows with (`handle_update` needs one)."""
    db = make_engine(database_url)
    try:
        if migrate:  # through the app's engine: one connection, which the pool then keeps
            await upgrade_async(database_url, engine=db)
        sessions = make_sessionmaker(db)
        # A broken folder is served from its last good set, written here only while it is read.
        with tempfile.TemporaryDirectory(prefix="coachbot-dialogs-") as spare:
            library, dialogs_dir = await load_or_last_good(sessions, dialogs_dir, Path(spare), clock())
            engine = Engine(library)
            steps_file = dialogs_dir / "steps.yaml"
            care = SelfManagement.load(dialogs_dir, library.service)
            steps = (care.steps if care is not None
                     else load_steps(steps_file) if steps_file.exists() else None)
            patients = PatientService(sessions, engine, clock, steps=steps, care=care,
                                      channel=channel(library) if channel is not None else None,
                                      uows=SqlUnitOfWorks(sessions))  # the use cases' transactions
            patients.rights.texts = load_rights_texts(dialogs_dir)  # dialogs/forget.yaml
    except BaseException:
        await db.dispose()
        raise
    return App(db=db, sessions=sessions, library=library, engine=engine, patients=patients, steps=steps,
               care=care)


def telegram_formatter(library: DialogLibrary) -> Channel:
    """The Telegram channel's formatter: its rows are what a patient or coach would be sent."""
    from coachbot.adapters.telegram.messages_out import TelegramChannel  # noqa: PLC0415 (only if used)

    return TelegramChannel(library.service.channel, library.escalation)


@asynccontextmanager
async def terminal_chat(database_url: str, dialogs_dir: Path, *, files: Path, out: TextIO = sys.stdout,
                        read_line: Callable[[], str] | None = None, clock: SimulatedClock | None = None,
                        scheduler: SchedulerConfig | None = None, log_note: str = "",
                        ) -> AsyncIterator[TerminalChat]:
    """`coachbot chat`: the service with Telegram's formatter, the real scheduler tick on a simulated
    clock; the chat prints the alert cards of the patient's coach.
    Charts and files the chat shows are saved under `files`."""
    from coachbot.adapters.db import store  # noqa: PLC0415 (the terminal's pieces: only for `chat`)
    from coachbot.adapters.scheduler.tick import CheckinScheduler  # noqa: PLC0415
    from coachbot.adapters.terminal.chat import TERMINAL_CHAT_ID, TerminalChat  # noqa: PLC0415
    from coachbot.adapters.terminal.clock import SimulatedClock  # noqa: PLC0415
    from coachbot.adapters.terminal.transcript import Transcript  # noqa: PLC0415

    clock = clock or SimulatedClock()
    app = await build_app(database_url, dialogs_dir, clock=clock, channel=telegram_formatter)
    try:
        service = app.patients
        assert service.channel is not None
        async with app.sessions() as session:
            first_update_id = await store.last_update_id(session) + 1
        queued: list[QueuedMessage] = []
        ticker = CheckinScheduler(app.sessions, service, service.channel, scheduler, clock=clock,
                                  instance="terminal", on_queued=queued.extend)
        await ticker.prepare()

        async def tick() -> tuple[TickReport, list[QueuedMessage]]:
            queued.clear()
            report = await ticker.tick()
            return report, list(queued)

        yield TerminalChat(service, clock, tick, Transcript(out, files, TERMINAL_CHAT_ID), read_line,
                           first_update_id=first_update_id, log_note=log_note)
    finally:
        await app.close()


async def serve_telegram(settings: Settings, *, webhook: bool = False, clock: Clock = system_clock) -> None:
    """`coachbot run`: check the token, build the app and the Telegram bot, serve until SIGTERM or
    SIGINT, then stop gracefully. `clock` is the system's; the soak test (tests/soak) runs this same
    path in a process of its own on a simulated clock."""
    import asyncio  # noqa: PLC0415 - `coachbot run` only
    import signal  # noqa: PLC0415

    from coachbot import startup  # noqa: PLC0415
    from coachbot.adapters.telegram.app import BotClient, TelegramBot, check_token, log  # noqa: PLC0415

    client = BotClient(settings)
    await check_token(client)  # the bot runs on this client: its getMe and connection are not repeated
    try:
        core = await build_app(settings.database_url, settings.dialogs_dir, clock=clock)
    except BaseException:
        await client.close()
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        bot = TelegramBot(core, settings, client=client, clock=clock)
        try:
            await bot.start(webhook=webhook)
            startup.release()  # ready: the collector held off by `coachbot run` may run again
            await stop.wait()
            log.info("stopping: finishing the updates and sends in progress")
        finally:
            await bot.stop()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await core.close()
