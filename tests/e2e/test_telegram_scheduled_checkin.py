"""The running bot sends the daily check-in by itself: `TelegramBot.start` starts the scheduler.

A patient onboards through the real bot (real PTB over HTTP, the fake Bot API, a real database); the
bot's clock is then moved to just before and just after their check-in time while the real
APScheduler job ticks every second, so no test sleeps through real hours.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

from sqlalchemy import select

from coachbot.adapters.db.models import CheckinRun, Patient, Schedule
from coachbot.adapters.telegram.app import TelegramBot
from coachbot.app.checkins.reminders import TickReport
from tests.e2e.test_telegram_conversation import onboard
from tests.support.basics import Clock
from tests.support.coachbot_telegram import running_bot, settled
from tests.support.fake_bot_api import FakeBotApi, FakeUser

CHECKIN = "Time for your check-in"


def count_ticks(bot: TelegramBot) -> list[dt.datetime]:
    """Record the bot clock's time at the end of each tick of the running scheduler's job."""
    scheduler = bot.scheduler
    assert scheduler is not None
    seen: list[dt.datetime] = []
    original = scheduler.tick

    async def tick() -> TickReport:
        report = await original()
        seen.append(scheduler.clock())
        return report

    scheduler.tick = tick  # type: ignore[method-assign]  # the job looks it up at each run
    return seen


async def ticks_after(fake: FakeBotApi, seen: list[dt.datetime], at: dt.datetime, n: int = 2) -> None:
    await fake.wait_until(lambda: sum(t >= at for t in seen) >= n, 10, what=f"{n} scheduler ticks")


async def daily_due(bot: TelegramBot, chat_id: int) -> dt.datetime:
    async with bot.core.sessions() as session:
        due = (await session.execute(select(Schedule.next_due_at).join(
            Patient, Patient.id == Schedule.patient_id).where(
            Patient.chat_id == chat_id, Schedule.dialog == "daily"))).scalar_one()
    assert due is not None
    return due.replace(tzinfo=dt.UTC) if due.tzinfo is None else due


def checkins(user: FakeUser) -> list[Any]:
    return [m for m in user.messages() if CHECKIN in m.text]


async def test_running_bot_sends_the_daily_checkin_at_its_time_and_stops_its_scheduler(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    # Wednesday 10 June 2026, 07:00 in London (BST): the patient picks 9am, so it falls due today.
    clock = Clock(dt.datetime(2026, 6, 10, 6, 0, tzinfo=dt.UTC))
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url, clock=clock, schedule_tick_seconds=1) as bot:
        assert bot.scheduler is not None and bot.scheduler.running
        seen = count_ticks(bot)
        await onboard(alex, fake_bot_api)
        await settled(fake_bot_api, bot)
        due = await daily_due(bot, 42)
        assert due == dt.datetime(2026, 6, 10, 8, 0, tzinfo=dt.UTC)  # 09:00 BST

        clock.now = due - dt.timedelta(minutes=1)  # a minute early: ticks run, nothing goes out
        await ticks_after(fake_bot_api, seen, clock.now)
        await settled(fake_bot_api, bot)
        assert checkins(alex) == []

        clock.now = due + dt.timedelta(seconds=2)
        first = await alex.wait_for_message(lambda m: CHECKIN in m.text, timeout=10)
        assert first.text.startswith("Hello Alex.")
        await ticks_after(fake_bot_api, seen, clock.now, n=3)  # later ticks do not send it again
        await settled(fake_bot_api, bot)
        assert len(checkins(alex)) == 1
        async with bot.core.sessions() as session:
            run = (await session.execute(select(CheckinRun))).scalar_one()
        assert (run.dialog, run.local_date, run.status) == ("daily", dt.date(2026, 6, 10), "sent")
        scheduler = bot.scheduler

    assert not scheduler.running  # stopped by bot.stop(), before the sender
    ticked = len(seen)
    calls = len(fake_bot_api.calls)
    clock.now += dt.timedelta(days=1)  # tomorrow's check-in is due, but nothing runs any more
    await asyncio.sleep(2.5)  # more than two ticks of the stopped job
    assert len(seen) == ticked and len(fake_bot_api.calls) == calls
