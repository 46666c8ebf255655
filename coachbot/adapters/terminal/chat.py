"""`coachbot chat`: talk to the real pipeline and database as a patient, in a terminal.

Every typed line is an update through `PatientService.handle_update`, the road Telegram's updates
take (crisis screening of every word, /steps and the other tools, the unknown-command rule, the
outbox). What it queued is printed and marked delivered. A simulated clock lets a newcomer see days
pass: `:next` moves it to the patient's next daily check-in and runs the real scheduler tick once,
so pause, quiet hours and the once-a-day rule apply exactly as in Telegram; `:week` does the same for
the weekly review. The terminal plays one patient; coach alerts are printed as the coach's card.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Literal
from zoneinfo import ZoneInfo

from coachbot.adapters.db import store
from coachbot.adapters.db.models import Schedule
from coachbot.adapters.db.unit_of_work import write_gate
from coachbot.adapters.terminal.clock import SimulatedClock
from coachbot.adapters.terminal.transcript import Transcript
from coachbot.app.channel import ChannelCommand, Inbound, QueuedMessage
from coachbot.app.checkins.reminders import TickReport
from coachbot.app.pipeline import PatientService
from coachbot.engine import TextMessage

TERMINAL_CHAT_ID = 1
"""The terminal plays one patient, stored like any other under this chat id."""
TERMINAL_COACH_ID = 2
"""The coach's chat when the database has no coach: the terminal prints that coach's alert cards."""
CHANNEL_COMMANDS = {"checkin", "settings", "mydata"}
"""As Telegram's inbound classification (adapters/telegram/inbound.py): commands of the channel's."""
TICK_LAG = dt.timedelta(seconds=5)
"""How long after a due time the scheduler's interval tick lands."""

Tick = Callable[[], Awaitable[tuple[TickReport, list[QueuedMessage]]]]
"""One run of the real scheduler tick: its report and the outbox rows it queued."""
Dialog = Literal["daily", "weekly"]

BANNER = ("coachbot terminal chat. Type as the patient would (/checkin, /settings, /steps, /flareplan, "
          "/mydata and /help work too). Extra commands here: :next (jump to the next daily check-in), "
          ":week (jump to the weekly review), :quit.")


def inbound(line: str) -> Inbound:
    """A typed line as Telegram's inbound classification makes a private text message."""
    text = line.strip()
    if text.startswith("/") and len(text) > 1:
        name = text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower()
        if name in CHANNEL_COMMANDS:
            return ChannelCommand(name, text)  # type: ignore[arg-type]
    return TextMessage(text)


class TerminalChat:
    """One patient's chat at a prompt; `read_line` and `out` are the terminal (tests pass fakes)."""

    def __init__(self, patients: PatientService, clock: SimulatedClock, tick: Tick, transcript: Transcript,
                 read_line: Callable[[], str] | None = None, *, first_update_id: int = 1,
                 log_note: str = "") -> None:
        self.patients, self.clock, self.tick, self.transcript = patients, clock, tick, transcript
        self.read_line = read_line or (lambda: input("you> "))
        self.next_update_id = first_update_id
        self.log_note = log_note
        self.coach_ready = False

    async def step(self, line: str) -> bool:
        """Handle one typed line; False when the person wants to leave."""
        command = line.strip().lower()
        if command in {":quit", ":q", ":exit"}:
            return False
        if command in {":next", ":week"}:
            await self.jump("daily" if command == ":next" else "weekly")
        elif command:  # an empty line is no message (Telegram sends none)
            await self.ensure_coach()
            update_id, self.next_update_id = self.next_update_id, self.next_update_id + 1
            result = await self.patients.handle_update(update_id, TERMINAL_CHAT_ID, inbound(line))
            await self.deliver(result.queued)
        return True

    async def ensure_coach(self) -> None:
        """Before the first message: a coach for the alert cards, the first registered one or one the
        terminal plays (added only once someone chats, so an idle start leaves the database as it was)."""
        if not self.coach_ready:
            async with write_gate(self.patients.sessions), self.patients.sessions() as session, \
                    session.begin():
                await store.coach_for_alerts(session, TERMINAL_COACH_ID, "Coach (terminal)", self.clock())
            self.coach_ready = True

    async def deliver(self, rows: list[QueuedMessage]) -> None:
        """Print what was queued, then mark it sent, as the outbox sender would once Telegram took it."""
        await self.transcript.show(rows)
        if rows:
            async with write_gate(self.patients.sessions), self.patients.sessions() as session, \
                    session.begin():
                await store.mark_delivered(session, [row.id for row in rows], self.clock())

    async def jump(self, dialog: Dialog) -> None:
        """Move the clock to the patient's next `dialog` as the scheduler has it, and tick once there."""
        what = "check-in" if dialog == "daily" else "weekly review"
        async with self.patients.sessions() as session:
            patient = await store.patient_by_chat(session, TERMINAL_CHAT_ID)
            schedule = await session.get(Schedule, (patient.id, dialog)) if patient is not None else None
            if patient is None or patient.onboarded_at is None:
                self.transcript.say(f"(finish onboarding first: the {what} time is chosen there)")
                return
            status, zone_name = patient.status, patient.timezone
        due = schedule.next_due_at if schedule is not None else None
        if due is None:
            why = {"paused": "you are paused", "stopped": "you have stopped the messages"}.get(
                status, "none is scheduled")
            self.transcript.say(f"(no {what}: {why})")
            return
        due = due if due.tzinfo is not None else due.replace(tzinfo=dt.UTC)
        self.clock.move_to(due + TICK_LAG)
        zone = ZoneInfo(zone_name)
        self.transcript.say(f"(the clock moves on to {due.astimezone(zone):%A %d %B, %H:%M} {zone_name})")
        report, rows = await self.tick()
        await self.deliver(rows)
        if not any(row.chat_id == TERMINAL_CHAT_ID for row in rows):
            reasons = ", ".join(sorted(report.reasons)) or "nothing was due"
            self.transcript.say(f"(no {what} was sent: {reasons})")

    async def run(self) -> None:
        self.transcript.say(BANNER + (f" {self.log_note}" if self.log_note else ""))
        while True:
            try:
                line = await asyncio.to_thread(self.read_line)
            except (EOFError, KeyboardInterrupt):
                self.transcript.say("")
                return
            if not await self.step(line):
                return
