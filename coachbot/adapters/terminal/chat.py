"""`coachbot chat`: talk to the real engine and database as a patient, in a terminal.

A simulated clock lets a newcomer see days pass: `:next` jumps to the patient's next check-in and
starts it, `:week` starts the weekly review. Escalations are printed as a coach would see them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from coachbot.adapters.db import store
from coachbot.bootstrap import App
from coachbot.engine import Reply, StartDialog, TextMessage
from coachbot.app.pipeline import Delivery, EscalationNotice

TERMINAL_CHAT_ID = 1
"""The terminal plays one patient, stored like any other under this chat id."""

BANNER = ("coachbot terminal chat. Type as the patient would (/steps, /flareplan and /settings work "
          "too). Extra commands here: :next (jump to the next daily check-in), :week (weekly review), "
          ":quit.")


class SimulatedClock:
    """Real time plus an offset that `:next` moves forward."""

    def __init__(self) -> None:
        self.offset = dt.timedelta()

    def __call__(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset


def format_reply(reply: Reply) -> str:
    text = f"coachbot> {reply.text}"
    if reply.options:
        text += "\n          " + "  ".join(
            f"[{o.label}]" if o.label == o.value else f"[{o.value} = {o.label}]" for o in reply.options)
    return text


def format_escalation(notice: EscalationNotice) -> str:
    evidence = ", ".join(f"{k}={v}" for k, v in sorted(notice.evidence.items())
                         if k not in ("last_days", "baselines")) or "none"  # the days are the card's chart
    state = "NEW" if notice.is_new else "UPDATED"
    return (f"  +-- COACH ALERT ({notice.tier.upper()}, {state}) patient {notice.patient_label}\n"
            f"  |   rule: {notice.rule}: {notice.reason}\n"
            f"  +-- evidence: {evidence}")


class TerminalChat:
    def __init__(self, app: App, clock: SimulatedClock, out: TextIO = sys.stdout,
                 read_line: Callable[[], str] | None = None, chart_dir: Path | None = None) -> None:
        self.app, self.clock, self.out = app, clock, out
        self.chart_dir = chart_dir or Path.cwd()
        self.read_line = read_line or (lambda: input("you> "))

    def show(self, delivery: Delivery) -> None:
        for reply in delivery.replies:
            print(format_reply(reply), file=self.out)
        for photo in delivery.photos:  # the weekly chart: Telegram sends it as a photo
            from coachbot.adapters.charts import render_progress_chart  # noqa: PLC0415 (matplotlib: heavy)

            path = self.chart_dir / f"coachbot-chart-{delivery.patient_label}-{self.clock():%Y-%m-%d}.png"
            path.write_bytes(render_progress_chart(photo.chart))
            print(f"coachbot> [chart] {photo.caption}\n          (saved to {path}; in Telegram it comes as "
                  "a picture)", file=self.out)
        for notice in delivery.escalations:
            print(format_escalation(notice), file=self.out)

    async def next_checkin(self) -> str | None:
        """Move the simulated clock to the patient's next check-in time; None before onboarding."""
        async with self.app.sessions() as session:
            patient = await store.patient_by_chat(session, TERMINAL_CHAT_ID)
        if patient is None or patient.onboarded_at is None or patient.checkin_time is None:
            return None
        zone = ZoneInfo(patient.timezone)
        local_now = self.clock().astimezone(zone)
        due = dt.datetime.combine(local_now.date(), patient.checkin_time, tzinfo=zone)
        if due <= local_now:
            due = dt.datetime.combine(local_now.date() + dt.timedelta(days=1), patient.checkin_time,
                                      tzinfo=zone)
        self.clock.offset += due - local_now
        return f"{due:%A %d %B, %H:%M} {patient.timezone}"

    async def step(self, line: str) -> bool:
        """Handle one typed line; False when the person wants to leave."""
        command = line.strip().lower()
        if command in {":quit", ":q", ":exit"}:
            return False
        if command == ":next":
            due = await self.next_checkin()
            if due is None:
                print("(finish onboarding first: the check-in time is chosen there)", file=self.out)
                return True
            print(f"(the clock moves on to {due})", file=self.out)
            self.show(await self.app.patients.handle(
                TERMINAL_CHAT_ID, StartDialog(self.app.library.service.daily)))
        elif command == ":week":
            self.show(await self.app.patients.handle(
                TERMINAL_CHAT_ID, StartDialog(self.app.library.service.weekly)))
        elif command == "/settings":  # a command of the channel's in Telegram, as /checkin is
            self.show(await self.app.patients.handle(
                TERMINAL_CHAT_ID, StartDialog(self.app.library.service.settings)))
        else:
            self.show(await self.app.patients.handle(TERMINAL_CHAT_ID, TextMessage(line)))
        return True

    async def run(self) -> None:
        print(BANNER, file=self.out)
        while True:
            try:
                line = await asyncio.to_thread(self.read_line)
            except (EOFError, KeyboardInterrupt):
                print(file=self.out)
                return
            if not await self.step(line):
                return
