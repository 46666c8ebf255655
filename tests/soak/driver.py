"""The soak test with faults: synthetic patients for simulated days through the real bot, in its own process.

The driver (this process) runs the project's fake Bot API server and the patients; the bot is
`tests/support/soak_bot.py`, which is `coachbot run` (`bootstrap.serve_telegram`) on a clock the
driver moves through a file. Each simulated day has three steps: 09:00, when the morning check-ins
fall due, 12:01, just after their reminders fall due, and 20:00, when the evening check-ins do. The
driver jumps the clock to a step, lets the day's traffic run (patients react to each message the
moment the fake server accepts it) and waits until it has settled (no update undelivered or
unconfirmed, no patient typing, nothing unsent or due in the database) before the next jump.

Faults, all the while: the fake server answers 429 (retry_after 1 s) and 502 to a share of calls and
holds a few for seconds before answering; the driver SIGKILLs the bot at random moments in the
traffic and starts it again (checking that its helper processes died with it), and on PostgreSQL
terminates every database connection the bot holds (`pg_terminate_backend`) a few times. SQLite has
no server connections to drop, so that fault is skipped there (and said so in the report).

At the end `checks.py` counts from the database and the fake server and compares with what the
patients did (the driver's own ledger, not the bot's records).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import random
import re
import signal
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from coachbot.adapters.db.database import make_engine
from coachbot.adapters.db.migrate import upgrade_async
from coachbot.adapters.db.models import CheckinRun, Coach, OutboxMessage, Patient, Schedule
from tests.soak.patients import (
    CRISIS_WORDS,
    GARBAGE,
    PAUSE_DAYS,
    Day,
    Event,
    SoakPatient,
    make_patients,
)
from tests.support.fake_bot_api import FakeBotApi, FakeMessage
from tests.support.soak_bot import write_clock

REPO = Path(__file__).resolve().parents[2]
TOKEN = "5151:SOAK"
FIRST_CHAT = 2_000_000
COACH_CHAT = 1_900_000
ZONE = dt.UTC  # Europe/London in January is UTC; the patients' zone is Europe/London
START = dt.date(2027, 1, 4)  # a Monday in winter: no clock change inside 30 days
MORNING, EVENING = dt.time(9, 0), dt.time(20, 0)
STEPS = (("morning check-ins", MORNING), ("reminders", dt.time(12, 1)), ("evening check-ins", EVENING))
REMINDER = "A gentle reminder"
PAIN_Q, MOOD_Q = "How bad is your back pain", "how is your mood right now"
FEEDBACK_Q, NOTE_Q = "Last time I suggested a small step", "anything else you would like your coach to know"
ERASE_Q = "Do you want us to erase the information"
CARD = re.compile(r"Escalation (\d+): raised")
MEASURED = ("pain_now", "mood_now", "step_feedback")


@dataclass(frozen=True)
class SoakConfig:
    patients: int = 1000
    days: int = 30
    seed: int = 15
    answer_share: float = 0.2
    late_share: float = 0.05
    garbage_share: float = 0.15
    kills: int = 8
    connection_drops: int = 3
    fault_share: float = 0.04  # of the bot's calls (getUpdates aside) answered 429, 502, or held
    settle_timeout: float = 120.0


@dataclass
class Ledger:
    """What the patients did and what the fake server saw, as the driver recorded it."""

    answers: Counter[tuple[int, dt.date, str, str]] = field(default_factory=Counter)
    answered_days: set[tuple[int, int]] = field(default_factory=set)
    crisis: dict[int, int] = field(default_factory=dict)  # chat -> day
    events_done: dict[int, float] = field(default_factory=dict)  # chat -> real time the step settled
    hellos: Counter[tuple[int, int]] = field(default_factory=Counter)  # (chat, day) -> check-in starts
    hello_messages: dict[tuple[int, int], list[FakeMessage]] = field(default_factory=dict)
    reminders: Counter[tuple[int, int]] = field(default_factory=Counter)
    cards: Counter[int] = field(default_factory=Counter)  # escalation id -> cards at the coach
    resolved: set[int] = field(default_factory=set)
    garbage: int = 0
    messages_in: int = 0
    kills: list[float] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    helpers_seen: set[int] = field(default_factory=set)
    drops: int = 0
    drop_times: list[float] = field(default_factory=list)
    dropped_connections: int = 0
    settle_seconds: list[float] = field(default_factory=list)
    bot_cpu: float = 0.0  # user + system seconds of the bot processes and their helpers
    faults: Counter[str] = field(default_factory=Counter)


class Soak:
    """One soak run against one database (see the module docstring)."""

    def __init__(self, config: SoakConfig, database_url: str, workdir: Path, *,
                 admin_url: str | None = None, log: Any = print) -> None:
        self.config, self.url, self.workdir, self.admin_url = config, database_url, workdir, admin_url
        self.say = log
        self.rng = random.Random(config.seed * 7 + 1)
        self.patients = make_patients(config.patients, config.days, config.seed,
                                      answer_share=config.answer_share, late_share=config.late_share,
                                      garbage_share=config.garbage_share, first_chat=FIRST_CHAT)
        self.by_chat = {p.chat_id: p for p in self.patients}
        self.ledger = Ledger()
        self.clock_file = workdir / "clock"
        self.log_file = workdir / "bot.log"
        self.fake = FakeBotApi(TOKEN)
        self.bot: asyncio.subprocess.Process | None = None
        self.day, self.step = 0, 0
        self.now = dt.datetime.combine(START, dt.time(8, 0), ZONE)
        self.typing: set[asyncio.Task[None]] = set()
        self.asked: set[tuple[int, int, str]] = set()  # (chat, day, question) answered already
        self.daily: set[tuple[int, int]] = set()  # (chat, day): the daily check-in arrived (not the weekly)
        self.db: AsyncEngine | None = None

    # -- the run ----------------------------------------------------------------------------------
    async def run(self) -> Ledger:
        await upgrade_async(self.url)
        self.db = make_engine(self.url)
        await self.seed()
        await self.fake.start()
        self._hook_the_fake()
        write_clock(self.clock_file, self.now)
        faults = asyncio.create_task(self._inject_faults())
        steps = len(STEPS) * self.config.days
        kill_at = set(self.rng.sample(range(1, steps), min(self.config.kills, steps - 1)))
        drop_at = set(self.rng.sample(range(1, steps), min(self.config.connection_drops, steps - 1)))
        try:
            await self.start_bot()
            for day in range(self.config.days):
                for step, (name, at) in enumerate(STEPS):
                    self.day, self.step = day, step
                    index = len(STEPS) * self.day + self.step
                    self.now = dt.datetime.combine(START + dt.timedelta(days=self.day), at, ZONE)
                    write_clock(self.clock_file, self.now)
                    if self.step == 0:
                        self._start_events()
                    if self.step == 2:
                        self._start_events(evening=True)
                    if index in kill_at:
                        await asyncio.sleep(self.rng.uniform(0.3, 2.5))  # into the traffic
                        await self.kill_and_restart()
                    if index in drop_at:
                        await asyncio.sleep(self.rng.uniform(0.2, 1.5))
                        await self.drop_connections()
                    took = await self.settle()
                    self.ledger.settle_seconds.append(took)
                    if self.step in (0, 2):
                        for p in self.patients:
                            if (p.event_day == self.day and p.evening == (self.step == 2)
                                    and p.event in (Event.STOP, Event.BLOCK, Event.FORGET)):
                                self.ledger.events_done[p.chat_id] = time.time()
                    self.say(f"day {day + 1}/{self.config.days} {name}: settled in {took:.1f} s", flush=True)
            faults.cancel()
            self.fake.clear_faults()
            await self.stop_bot()
        finally:
            faults.cancel()
            if self.bot is not None and self.bot.returncode is None:
                self.bot.kill()
                await self.bot.wait()
            await self.fake.stop()
        return self.ledger

    async def close(self) -> None:
        if self.db is not None:
            await self.db.dispose()

    async def seed(self) -> None:
        """Onboarded patients (since ten days, so no day-1..3 questionnaires), one coach. Schedules
        are left to the bot, which gives every onboarded patient one at start (`prepare`)."""
        assert self.db is not None
        joined = self.now - dt.timedelta(days=10)
        async with self.db.begin() as conn:
            coach = (await conn.execute(insert(Coach).values(
                telegram_user_id=COACH_CHAT, name="Soak Coach", active=True, is_admin=False,
                created_at=joined).returning(Coach.id))).scalar_one()
            rows = [dict(id=p.patient_id, label=p.label, chat_id=p.chat_id, name=f"Pat{p.index}",
                         timezone="Europe/London", checkin_time=EVENING if p.evening else MORNING,
                         weekly_review_day=6,
                         status="active", consent_at=joined, onboarded_at=joined, unreachable=False,
                         coach_id=coach, created_at=joined, updated_at=joined) for p in self.patients]
            for start in range(0, len(rows), 2000):
                await conn.execute(insert(Patient), rows[start:start + 2000])
        if self.url.startswith("postgresql"):  # explicit ids: move the sequence past them
            async with self.db.begin() as conn:
                await conn.execute(text("SELECT setval(pg_get_serial_sequence('patients', 'id'), "
                                        "(SELECT max(id) FROM patients))"))
        for p in self.patients:
            self.fake.user(p.chat_id, f"Pat{p.index}")
        self.fake.user(COACH_CHAT, "Soak Coach")

    # -- the bot process --------------------------------------------------------------------------
    def _environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("COACHBOT_")}
        env.update({
            "COACHBOT_DATABASE_URL": self.url, "COACHBOT_TELEGRAM_TOKEN": TOKEN,
            "COACHBOT_TELEGRAM_BASE_URL": self.fake.base_url, "COACHBOT_TELEGRAM_POLL_TIMEOUT": "1",
            "COACHBOT_DIALOGS_DIR": str(REPO / "dialogs"),
            "COACHBOT_LOG_LEVEL": os.environ.get("SOAK_LOG_LEVEL", "WARNING"),
            "COACHBOT_SCHEDULE_TICK_SECONDS": "1", "COACHBOT_SCHEDULE_REMINDER_MINUTES": "180",
            "COACHBOT_TELEGRAM_SENDS_PER_SECOND": "1000", "COACHBOT_TELEGRAM_CHAT_SENDS_PER_SECOND": "100",
            "COACHBOT_TELEGRAM_CHAT_BURST": "5", "COACHBOT_OUTBOX_RETRY_BASE_SECONDS": "0.2",
            "COACHBOT_OUTBOX_RETRY_MAX_SECONDS": "2",
            # A killed bot's claims are taken over after this: short, or each kill would stall the step.
            "COACHBOT_SCHEDULE_CLAIM_TIMEOUT_SECONDS": "5", "PYTHONPATH": str(REPO),
        })
        return env

    async def start_bot(self) -> None:
        polls = self.fake.count("getUpdates")
        log = await asyncio.to_thread(self.log_file.open, "ab")
        try:
            self.bot = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.support.soak_bot", str(self.clock_file), cwd=REPO,
                env=self._environment(), stdout=log, stderr=log)
        finally:
            log.close()
        await self.fake.wait_until(lambda: self.fake.count("getUpdates") > polls or self.bot is None
                                   or self.bot.returncode is not None, 90, what="the bot's first poll")
        assert self.bot is not None
        if self.bot.returncode is not None:
            raise RuntimeError(f"the bot exited with {self.bot.returncode}; see {self.log_file}")

    def _note_cpu(self) -> None:
        assert self.bot is not None
        with contextlib.suppress(psutil.NoSuchProcess):
            bot = psutil.Process(self.bot.pid)
            for process in [bot, *bot.children(recursive=True)]:
                with contextlib.suppress(psutil.NoSuchProcess):
                    times = process.cpu_times()
                    self.ledger.bot_cpu += times.user + times.system

    def _helpers(self) -> list[psutil.Process]:
        assert self.bot is not None
        try:
            return psutil.Process(self.bot.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    async def kill_and_restart(self) -> None:
        assert self.bot is not None
        helpers = self._helpers()
        self.ledger.helpers_seen.update(h.pid for h in helpers)
        self._note_cpu()
        self.bot.send_signal(signal.SIGKILL)
        await self.bot.wait()
        self.ledger.kills.append(time.time())
        await self._gone(helpers, "after SIGKILL")
        await self.start_bot()

    async def stop_bot(self) -> None:
        assert self.bot is not None
        helpers = self._helpers()
        self.ledger.helpers_seen.update(h.pid for h in helpers)
        await self.settle()
        self._note_cpu()
        self.bot.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.bot.wait(), 60)
        except TimeoutError:
            self.ledger.orphans.append(f"bot {self.bot.pid} did not stop on SIGTERM")
            self.bot.kill()
            await self.bot.wait()
        await self._gone(helpers, "after SIGTERM")

    async def _gone(self, helpers: list[psutil.Process], when: str) -> None:
        """Each helper process of the bot ends within 10 s of the bot (parent-death signal or watch)."""
        deadline = time.monotonic() + 10
        for helper in helpers:
            with contextlib.suppress(psutil.NoSuchProcess):
                while helper.is_running() and helper.status() != psutil.STATUS_ZOMBIE:
                    if time.monotonic() > deadline:
                        self.ledger.orphans.append(f"{helper.pid} {' '.join(helper.cmdline())[:80]} {when}")
                        break
                    await asyncio.sleep(0.1)

    async def drop_connections(self) -> None:
        """PostgreSQL: terminate every connection to the soak database but ours."""
        if not self.url.startswith("postgresql") or self.admin_url is None:
            return
        admin = make_engine(self.admin_url)
        try:
            async with admin.begin() as conn:
                name = self.url.rsplit("/", 1)[1]
                killed = (await conn.execute(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"), {"name": name})).scalar_one()
        finally:
            await admin.dispose()
        self.ledger.drops += 1
        self.ledger.drop_times.append(time.time())
        self.ledger.dropped_connections += int(killed)
        assert self.db is not None
        await self.db.dispose()  # the driver's own connections went too

    # -- faults -----------------------------------------------------------------------------------
    async def _inject_faults(self) -> None:
        """About one call in `fault_share` answered 429 or 502, and now and then one held for seconds:
        planted one at a time as calls go by, so a quiet chat is not hit again and again."""
        seen = 0
        while True:
            await asyncio.sleep(0.05)
            calls = self.fake.calls
            fresh = sum(1 for c in calls[seen:] if c.method != "getUpdates")
            seen = len(calls)
            for _ in range(fresh):
                if self.fake.faults or self.rng.random() > self.config.fault_share:
                    continue
                r = self.rng.random()
                if r < 0.5:
                    self.fake.inject_fault("sendMessage", status=429, retry_after=1)
                    self.ledger.faults["429"] += 1
                elif r < 0.95:
                    self.fake.inject_fault("*", status=502)
                    self.ledger.faults["502"] += 1
                else:
                    self.fake.inject_fault("*", status=200, delay=self.rng.uniform(3, 8))
                    self.ledger.faults["held 3-8 s"] += 1

    # -- the patients -----------------------------------------------------------------------------
    def _hook_the_fake(self) -> None:
        for method in ("sendMessage", "sendPhoto"):
            original = getattr(self.fake, f"api_{method}")

            def handler(params: dict[str, Any], files: dict[str, Any], original: Any = original) -> Any:
                result = original(params, files)  # raises for a blocked chat: not delivered
                message = self.fake.chat(int(params["chat_id"])).find(result["message_id"])
                if message is not None:
                    self._seen(message)
                return result

            self.fake.register_method(method, handler)

    def _seen(self, message: FakeMessage) -> None:
        """A message the fake server accepted: count it, and let its reader react."""
        text, chat, day = message.content, message.chat_id, self.day
        message.extra["soak_step"] = (self.day, self.step)
        if chat == COACH_CHAT:
            for found in CARD.finditer(text):
                escalation = int(found.group(1))
                self.ledger.cards[escalation] += 1
                if escalation not in self.ledger.resolved:
                    self.ledger.resolved.add(escalation)
                    self._later(self._resolve(escalation))
            return
        patient = self.by_chat.get(chat)
        if patient is None:
            return
        self.ledger.messages_in += 1
        if "Time for your check-in" in text or text.startswith(f"Hello Pat{patient.index}."):
            self.ledger.hellos[(chat, day)] += 1
            self.ledger.hello_messages.setdefault((chat, day), []).append(message)
        if "Time for your check-in" in text:
            self.daily.add((chat, day))
        if REMINDER in text:
            self.ledger.reminders[(chat, day)] += 1
            if patient.plan(day) is Day.LATE and (chat, day) in self.daily:  # not the weekly review
                self._later(self._answer(patient, day, PAIN_Q))
            return
        for question in (PAIN_Q, MOOD_Q, FEEDBACK_Q, NOTE_Q):
            if question in text:
                if question == PAIN_Q and day == patient.event_day and patient.event is Event.CRISIS:
                    self._later(self._crisis(patient, day))
                elif ((question == PAIN_Q and patient.plan(day) in (Day.ANSWER, Day.GARBAGE))
                      or (question != PAIN_Q and (chat, day, PAIN_Q) in self.asked)):  # answering today
                    self._later(self._answer(patient, day, question))
                return
        if ERASE_Q in text and patient.event is Event.FORGET:
            self._later(self._click(patient, "Yes, erase everything", message))

    def _later(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self.typing.add(task)
        task.add_done_callback(self.typing.discard)

    async def _answer(self, patient: SoakPatient, day: int, question: str) -> None:
        key = (patient.chat_id, day, question)
        if key in self.asked or patient.gone_after(day):
            return  # a question asked again (after garbage, or sent twice) is answered once
        self.asked.add(key)
        await asyncio.sleep(self.rng.uniform(0.0, 0.3))
        user = self.fake.users[patient.chat_id]
        date = START + dt.timedelta(days=day)
        if question == PAIN_Q:
            if patient.plan(day) is Day.GARBAGE:
                self.ledger.garbage += 1
                await user.send_text(self.rng.choice(GARBAGE) or "?")
            await user.send_text(str(patient.pain[day]))
            self.ledger.answers[(patient.chat_id, date, "pain_now", str(float(patient.pain[day])))] += 1
            self.ledger.answered_days.add((patient.chat_id, day))
        elif question == MOOD_Q:
            await user.send_text(str(patient.mood[day]))
            self.ledger.answers[(patient.chat_id, date, "mood_now", str(float(patient.mood[day])))] += 1
        elif question == FEEDBACK_Q:
            await user.click("It helped")
            self.ledger.answers[(patient.chat_id, date, "step_feedback", "helped")] += 1
        elif question == NOTE_Q:
            await user.send_text("skip")

    async def _crisis(self, patient: SoakPatient, day: int) -> None:
        if patient.chat_id in self.ledger.crisis:
            return
        self.ledger.crisis[patient.chat_id] = day
        await asyncio.sleep(self.rng.uniform(0.0, 0.3))
        await self.fake.users[patient.chat_id].send_text(self.rng.choice(CRISIS_WORDS))

    async def _click(self, patient: SoakPatient, button: str, message: FakeMessage) -> None:
        await asyncio.sleep(self.rng.uniform(0.0, 0.2))
        await self.fake.users[patient.chat_id].click(button, message=message)

    async def _resolve(self, escalation: int) -> None:
        await asyncio.sleep(self.rng.uniform(0.1, 0.5))
        await self.fake.users[COACH_CHAT].send_command("/resolve", f"{escalation} Called, plan agreed.")

    def _start_events(self, *, evening: bool = False) -> None:
        """The patients whose one event falls today do it as their check-ins go out."""
        for patient in self.patients:
            if patient.event_day != self.day or patient.event is Event.CRISIS or patient.evening != evening:
                continue
            self._later(self._event(patient))

    async def _event(self, patient: SoakPatient) -> None:
        await asyncio.sleep(self.rng.uniform(0.0, 1.0))
        user = self.fake.users[patient.chat_id]
        if patient.event is Event.PAUSE:
            await user.send_text(f"pause {PAUSE_DAYS}")
        elif patient.event is Event.STOP:
            await user.send_text("stop")
        elif patient.event is Event.BLOCK:
            await user.block_bot()
        elif patient.event is Event.FORGET:
            await user.send_command("/forget")

    # -- settling ---------------------------------------------------------------------------------
    async def settle(self) -> float:
        """Wait until the step's traffic is over: nothing typed, delivered, unsent, due or claimed."""
        started = time.monotonic()
        deadline = started + self.config.settle_timeout
        calm_since: float | None = None
        calls = len(self.fake.calls)
        while True:
            await asyncio.sleep(0.1)
            if self.bot is not None and self.bot.returncode is not None:
                raise RuntimeError(f"the bot exited with {self.bot.returncode}; see {self.log_file}")
            why = ("typing" if self.typing else "updates" if self.fake.pending_updates
                   else "unconfirmed" if self.fake.unconfirmed_update_ids
                   else "in flight" if any(c.status is None and c.method != "getUpdates"
                                           for c in self.fake.calls[-200:]) else "")
            busy = bool(why)
            if not busy:
                why = await self._database_busy()
                busy = bool(why)
            new_calls = [c for c in self.fake.calls[calls:] if c.method != "getUpdates"]
            calls = len(self.fake.calls)
            if busy or new_calls:
                calm_since = None
            elif calm_since is None:
                calm_since = time.monotonic()
            elif time.monotonic() - calm_since > 0.6:
                return time.monotonic() - started
            if time.monotonic() > deadline:
                raise TimeoutError(f"day {self.day + 1} step {self.step} did not settle in "
                                   f"{self.config.settle_timeout:.0f} s ({why or 'calls'}); "
                                   f"see {self.log_file}")

    async def _database_busy(self) -> str:
        assert self.db is not None
        now = self.now + dt.timedelta(minutes=30)  # the jump plus the step's real seconds, generously
        async with self.db.connect() as conn:
            unsent = (await conn.execute(select(func.count()).select_from(OutboxMessage).where(
                OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None)))).scalar_one()
            due = (await conn.execute(select(func.count()).select_from(Schedule).where(
                Schedule.next_due_at <= min(now, self.now + dt.timedelta(minutes=1))))).scalar_one()
            claimed = (await conn.execute(select(func.count()).select_from(CheckinRun).where(
                CheckinRun.status.in_(("claimed", "queued"))))).scalar_one()
            reminders = (await conn.execute(select(func.count()).select_from(CheckinRun).where(
                CheckinRun.status == "sent", CheckinRun.reminder_sent_at.is_(None),
                CheckinRun.reminder_at <= self.now))).scalar_one()
        if unsent or due or claimed or reminders:
            return f"{unsent} unsent, {due} due, {claimed} claimed, {reminders} reminders due"
        return ""


def summary_of_plans(patients: list[SoakPatient]) -> dict[str, int]:
    days: Counter[str] = Counter()
    for p in patients:
        for d in range(len(p.days)):
            days[p.plan(d).value] += 1
    events = Counter(p.event.value for p in patients if p.event is not None)
    return {**{f"days: {k}": v for k, v in sorted(days.items())},
            **{f"patients: {k}": v for k, v in events.items()}}


def group_by_chat(rows: Any) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        out[row[0]].append(row)
    return out
