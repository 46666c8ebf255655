"""Running the real coachbot Telegram bot (real PTB, real database) against the fake Bot API server."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sqlalchemy import func, select

from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.migrate import upgrade_async
from coachbot.adapters.db.models import Coach, Measurement, OutboxMessage, Patient
from coachbot.adapters.telegram.app import TelegramBot
from coachbot.app.pipeline import Clock, PatientService, system_clock
from coachbot.app.self_management.service import SelfManagement
from coachbot.bootstrap import App
from coachbot.config import Settings, load_settings
from coachbot.engine import Engine
from tests.support.basics import DIALOGS, library
from tests.support.fake_bot_api import FakeBotApi, FakeMessage, UploadedFile


def bot_settings(fake: FakeBotApi, database_url: str, **overrides: Any) -> Settings:
    """Settings pointing at the fake server, with short delays so tests stay fast."""
    values: dict[str, Any] = {
        "database_url": database_url, "dialogs_dir": DIALOGS, "telegram_token": fake.token,
        "telegram_base_url": fake.base_url, "telegram_poll_timeout": 1,
        "outbox_retry_base_seconds": 0.05, "outbox_retry_max_seconds": 0.4,
        # Telegram's real pace (1 a second per chat) would make every test wait; pacing has its own test.
        "telegram_sends_per_second": 1000.0, "telegram_chat_sends_per_second": 100.0,
        "telegram_chat_burst": 5,
    }
    values.update(overrides)
    return load_settings(**values)


async def make_core(database_url: str) -> App:
    """What `bootstrap.build_app` makes, with the dialogs loaded once for the whole run."""
    await upgrade_async(database_url)
    db = make_engine(database_url)
    sessions = make_sessionmaker(db)
    engine = Engine(library())
    care = self_management()
    return App(db=db, sessions=sessions, library=library(), engine=engine,
               patients=PatientService(sessions, engine, care=care), steps=care.steps, care=care)


def self_management() -> SelfManagement:
    """As bootstrap loads it, with a fresh population-prior cache (one per process)."""
    care = _loaded_self_management()
    return SelfManagement(care.steps, care.texts, care.summary, care.service)


@functools.cache
def _loaded_self_management() -> SelfManagement:
    care = SelfManagement.load(DIALOGS, library().service)
    assert care is not None
    return care


@contextlib.asynccontextmanager
async def running_bot(fake: FakeBotApi, database_url: str, *, webhook: bool = False,
                      clock: Clock = system_clock, **overrides: Any) -> AsyncIterator[TelegramBot]:
    """A started bot (a new PTB Application and a new process-like core); stopped gracefully on exit."""
    core = await make_core(database_url)
    bot = TelegramBot(core, bot_settings(fake, database_url, **overrides), clock=clock)
    try:
        await bot.start(webhook=webhook)
        yield bot
    finally:
        await bot.stop()
        await core.close()


async def add_coach(database_url: str, telegram_id: int, name: str = "Sam Coach") -> int:
    await upgrade_async(database_url)
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            coach = Coach(telegram_user_id=telegram_id, name=name, active=True,
                          created_at=dt.datetime.now(dt.UTC))
            session.add(coach)
            await session.flush()
            return coach.id
    finally:
        await engine.dispose()


async def measurements(bot: TelegramBot, chat_id: int) -> list[tuple[str, object]]:
    """(code, value) of every measurement of the patient in `chat_id`, oldest first."""
    async with bot.core.sessions() as session:
        rows = await session.execute(
            select(Measurement.code, Measurement.value_num, Measurement.value_text)
            .join(Patient, Patient.id == Measurement.patient_id).where(Patient.chat_id == chat_id)
            .order_by(Measurement.id))
        return [(code, num if text is None else text) for code, num, text in rows]


async def patient(bot: TelegramBot, chat_id: int) -> Patient | None:
    async with bot.core.sessions() as session:
        return (await session.execute(select(Patient).where(Patient.chat_id == chat_id))).scalar_one_or_none()


async def outbox_rows(bot: TelegramBot, chat_id: int | None = None) -> list[OutboxMessage]:
    async with bot.core.sessions() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.id)
        if chat_id is not None:
            query = query.where(OutboxMessage.chat_id == chat_id)
        return list((await session.execute(query)).scalars())


async def count(bot: TelegramBot, model: Any) -> int:
    async with bot.core.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def settled(fake: FakeBotApi, bot: TelegramBot, timeout: float = 15.0) -> None:  # noqa: ASYNC109
    """Wait until the bot has nothing left to send or mark."""
    await fake.wait_until(lambda: bot.sender.idle, timeout, what="the outbox to drain")


async def eventually(check: Callable[[], Awaitable[object]], timeout: float = 15.0,  # noqa: ASYNC109
                     what: str = "a condition") -> Any:
    """Poll an async check of the database (every 20 ms, for at most `timeout`) until it is truthy."""
    async with asyncio.timeout(timeout):
        while not (result := await check()):  # noqa: ASYNC110 - the database has no event to wait on
            await asyncio.sleep(0.02)
    return result


def enable_send_document(fake: FakeBotApi) -> None:
    """The fake has no sendDocument; serve it the way Telegram does, keeping the file's bytes."""

    def send_document(params: dict[str, Any], files: dict[str, UploadedFile]) -> dict[str, Any]:
        chat = fake._target_chat(params)
        upload = files["document"]
        msg = fake._add_bot_message(chat, "sendDocument", params, caption=params.get("caption"))
        msg.extra["document"] = upload.data
        msg.extra["file_name"] = upload.filename
        out = msg.to_json()
        out["document"] = {"file_id": f"doc-{msg.message_id}", "file_unique_id": f"d{msg.message_id}",
                           "file_name": upload.filename}
        return out

    fake.register_method("sendDocument", send_document)


def document_of(message: FakeMessage) -> bytes:
    return bytes(message.extra["document"])
