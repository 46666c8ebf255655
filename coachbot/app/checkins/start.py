"""Starting claimed check-ins: the compare-and-set, the dialog, the outbox rows, one transaction a batch.

Step 3 of the scheduler tick (`coachbot/adapters/scheduler.py`). Everything a batch of starts changes
commits together or not at all: the runs still claimed by this process (a /pause, a /stop or a
takeover since the claim means it is no longer ours), the previous check-in closed as missed or
answered, the engine's StartDialog, and the messages in the outbox (lane 1; a coach alert, lane 0).
A batch that fails is retried one run a transaction, so one bad patient holds up nobody, and a run
that still fails keeps its claim until it is stale and another tick takes it over.

After a crisis or an emergency red flag the patient was told that coaching and the suggested steps
are paused until a coach has spoken with them. That stays true: while such an escalation (an urgent
one) is open or acknowledged, a due daily check-in or weekly review starts the short gentle check
(dialogs/gentle_check.yaml) instead: how are you, and where to get help; no questionnaires, no steps.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from coachbot.adapters.db import schedule_store as runs
from coachbot.adapters.db.models import CheckinRun, Conversation, OutboxMessage, Patient
from coachbot.adapters.db.store import outbox_values
from coachbot.adapters.db.unit_of_work import joined, session_of
from coachbot.app.channel import Channel, Outgoing, QueuedMessage, question_token
from coachbot.app.checkins.reminders import TickReport, ago
from coachbot.app.coaches.coaching import coach_of
from coachbot.app.coaches.notes import notes_after_cards
from coachbot.app.coaches.relay import HELD, held_patients
from coachbot.app.escalations.raising import urgent_open
from coachbot.app.failures import described
from coachbot.app.pipeline import PatientService
from coachbot.app.unit_of_work import UnitOfWorkFactory
from coachbot.engine import StartDialog
from coachbot.scheduling import Occurrence, StartDecision, decide_start, local_date_of, zone_of

if TYPE_CHECKING:
    from coachbot.adapters.scheduler.tick import SchedulerConfig

log = logging.getLogger("coachbot.scheduler")

GENTLE_CHECK = "gentle_check"
"""The dialog a due check-in starts while coaching is paused after a crisis or emergency."""

Clock = Callable[[], dt.datetime]
OnQueued = Callable[[list[QueuedMessage]], None]


@dataclass(frozen=True, slots=True)
class Claim:
    """A run this process holds; `noticed_at` is when a running scheduler could first see it due."""

    run_id: int
    patient_id: int
    noticed_at: dt.datetime
    reclaimed: bool = False


class CheckinStarter:
    """Starts the runs a scheduler process has claimed."""

    def __init__(self, uows: UnitOfWorkFactory, service: PatientService,
                 channel: Channel, config: SchedulerConfig, scripts: Mapping[str, str], *, me: str,
                 clock: Clock, on_queued: OnQueued) -> None:
        self.uows, self.service, self.channel, self.config = uows, service, channel, config
        self.scripts, self.me, self.clock, self.on_queued = scripts, me, clock, on_queued

    async def start_claims(self, claims: Sequence[Claim], report: TickReport | None = None) -> TickReport:
        """Step 3: start claimed runs a batch per transaction; a failed batch is retried one by one."""
        report = report or TickReport()
        size, rate = self.config.start_batch, self.config.start_rate
        began = time.monotonic()
        for first in range(0, len(claims), size):
            batch = claims[first:first + size]
            try:
                await self._start(batch, report)
            except Exception as exc:
                if len(batch) == 1:
                    log.error("could not start check-in run %s; it is retried once its claim is stale: %s",
                              batch[0].run_id, described(exc))
                    continue
                log.warning("starting %d check-ins together failed (%s); starting them one by one",
                            len(batch), type(exc).__name__)
                for claim in batch:
                    await self.start_claims([claim], report)
            if rate:  # leave the database and the event loop to patients who are answering
                await asyncio.sleep(max(0.0, began + (first + len(batch)) / rate - time.monotonic()))
        return report

    async def _start(self, claims: Sequence[Claim], report: TickReport) -> None:
        """Start a batch of claimed runs: everything they change commits together, or not at all."""
        now = self.clock()
        by_id = {claim.run_id: claim for claim in claims}
        started: list[tuple[CheckinRun, Patient, StartDecision, list[OutboxMessage]]] = []
        closed: list[tuple[CheckinRun, Patient, StartDecision]] = []
        async with self.uows() as uow:
            session = session_of(uow)
            await runs.lock_patients(session, [claim.patient_id for claim in claims])
            pairs = await runs.hold_claims(session, list(by_id), self.me, now)
            already = await runs.done_today(session, pairs, self.scripts)
            current = await runs.conversations(session, {patient.id for _, patient in pairs})
            talking = await held_patients(joined(session), [patient.id for _, patient in pairs], now)
            going: list[tuple[CheckinRun, Patient, StartDecision]] = []
            for run, patient in sorted(pairs, key=lambda pair: pair[0].due_at, reverse=True):
                decision = decide_start(runs.occurrence_of(run), runs.profile_of(patient), now,
                                        self.config.timing, noticed_at=by_id[run.id].noticed_at)
                reason = self._not_now(run, patient, current.get(patient.id), already,
                                       {p.id for _, p, _ in going})
                reason = reason or (HELD if patient.id in talking else None)
                if decision.action == "send" and reason:
                    decision = StartDecision("skipped", reason, decision.late_by)
                (going if decision.action == "send" else closed).append((run, patient, decision))
            patients = [patient.id for _, patient, _ in going]
            if patients:
                previous = await runs.close_open_runs(session, patients, now, self.scripts, status="missed",
                                                      reason="unanswered", keep=by_id)
                await runs.cancel_superseded(session, previous, now)
            with session.no_autoflush:
                for run, patient, decision in going:
                    rows = await self._queue_checkin(session, run, patient, now)
                    if rows:
                        started.append((run, patient, decision, rows))
                    else:  # the engine declined: a safety dialog is running
                        closed.append((run, patient, StartDecision("skipped", "declined", decision.late_by)))
            await session.flush()
            for run, _, decision, rows in started:
                run.status, run.queued_at, run.outbox_id = "queued", now, rows[0].id
                run.reason = "late" if decision.late else None
            for run, _, decision in closed:
                run.status, run.reason, run.closed_at = decision.action, decision.reason, now
            await uow.commit()
        for run, patient, decision in closed:
            report.count(decision.action, decision.reason)
            self.log_not_sent(patient.label, runs.occurrence_of(run), decision)
        queued: list[QueuedMessage] = []
        for run, patient, decision, rows in started:
            report.queued += 1
            queued += [QueuedMessage.of(row, patient.label) for row in rows]
            if not decision.late and now - run.due_at > self.config.timing.late_after:
                report.behind += 1
                report.behind_by = max(report.behind_by, now - run.due_at)
            if decision.late:
                report.late += 1
                log.warning("check-in %s %s %s queued late by %s: %s", patient.label, run.dialog,
                            run.local_date, ago(decision.late_by), self._why_late(run, by_id[run.id]))
        if queued:
            self.on_queued(queued)

    def _not_now(self, run: CheckinRun, patient: Patient, conversation: Conversation | None,
                 done: Collection[int], starting: Collection[int]) -> str | None:
        """Why a check-in that may be sent is not started after all, or None."""
        if patient.chat_id is None:
            return "no_chat"
        if run.id in done:  # answered today already, e.g. after asking with /checkin
            return "done_today"
        if patient.id in starting:  # two due at once after an outage: only the latest starts
            return "superseded"
        if (conversation is not None and conversation.script == self.scripts[run.dialog]
                and local_date_of(conversation.started_at, zone_of(patient.timezone)) == run.local_date):
            return "already_running"  # they started it themselves today: do not start it over
        return None

    async def _queue_checkin(self, session: AsyncSession, run: CheckinRun, patient: Patient,
                             now: dt.datetime) -> list[OutboxMessage]:
        """Start the dialog and write its messages to the outbox: lane 1, coach alerts lane 0."""
        script = self.scripts[run.dialog]
        uow = joined(session)
        if await urgent_open(uow, patient.id) and self.service.engine.library.script(GENTLE_CHECK):
            script = GENTLE_CHECK  # coaching is paused until a coach has spoken with them
        delivery = await self.service.apply(uow, patient, StartDialog(script), now)
        if not delivery.replies:
            return []
        position = delivery.position
        token = question_token(position.script, position.state) if position else None
        replies = self.channel.replies(delivery.replies, token)
        outgoing = [replace(item, lane=runs.LANE_BULK) for item in replies]
        cards = []
        for notice in delivery.escalations:
            coach = await coach_of(joined(session), patient) if notice.is_new else None
            if coach is not None and coach.telegram_user_id is not None:
                cards.append(self.channel.coach_alert(notice, coach.telegram_user_id))
        cards += await notes_after_cards(joined(session), patient, cards, now=now, channel=self.channel,
                                         words=self.service.engine.library.service.channel.coach_tools)
        return write_outbox(session, patient, outgoing + cards, now)

    # -- logging -----------------------------------------------------------------------------------
    def log_not_sent(self, label: str, occurrence: Occurrence, decision: StartDecision) -> None:
        level = logging.WARNING if decision.action == "missed" else logging.INFO
        log.log(level, "check-in %s %s %s %s: %s (due %s ago)", label, occurrence.dialog,
                occurrence.local_date, "recorded missed" if decision.action == "missed" else "skipped",
                decision.reason, ago(decision.late_by))

    def _why_late(self, run: CheckinRun, claim: Claim) -> str:
        if claim.reclaimed:
            return "its first claim was abandoned (a process stopped between claim and send)"
        return (f"it fell due while no scheduler was running (within the "
                f"{ago(self.config.timing.grace)} grace window)")


def write_outbox(session: AsyncSession, patient: Patient, outgoing: Sequence[Outgoing],
                 now: dt.datetime) -> list[OutboxMessage]:
    """Outbox rows in order, as every writer builds them (`store.outbox_values`)."""
    assert patient.chat_id is not None
    rows = [OutboxMessage(**outbox_values(item, chat_id=patient.chat_id, patient_id=patient.id, now=now))
            for item in outgoing]
    session.add_all(rows)
    return rows
