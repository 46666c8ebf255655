"""Part of the scheduler tick: re-send unacknowledged escalations, and evaluate missed check-ins.

- **Deadlines.** Each open escalation has `next_alert_at` (its acknowledgement deadline at first, from
  escalation.yaml). When it passes with nobody having acknowledged, the card goes again to the backup
  coaches and the coaches' group chat (`COACHBOT_COACH_GROUP_CHAT_ID`), marked with how long it has
  waited, and `next_alert_at` moves on by the tier's `realert_every` (urgent: every 30 minutes until
  acknowledged); a tier without one is re-sent once. With no backup and no group, the patient's own
  coach gets it again, and the log says nobody else could.
- **Resolution deadlines.** An acknowledged escalation of a tier with `resolve_within` (urgent: 24
  hours) has `next_alert_at` set at acknowledgement to that deadline; past it, unresolved, it is
  re-sent the same way, to its own coach too, marked as acknowledged but not resolved, every
  `realert_every` until resolved (an acknowledgement is not the end of a crisis).
- **Missed check-ins.** The scheduler records a check-in as missed in two places (a new one starts
  with the last unanswered; one that fell due while the bot was down is past its grace). Rather than
  hook both, each tick evaluates the patients whose runs were closed as missed since the last tick
  (with a minute of overlap; the rules dedupe, so evaluating twice changes nothing).

Time comes from the scheduler's injected clock, so tests move hours without sleeping.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from coachbot.app import outbox
from coachbot.app.channel import Channel, QueuedMessage
from coachbot.app.escalations.alerts import AlertSettings, alert_rows
from coachbot.app.escalations.raising import evaluate_patient, notice_of, tell_patient
from coachbot.app.failures import described
from coachbot.app.unit_of_work import EscalationRecord, UnitOfWorkFactory
from coachbot.care.escalation_rules import (
    EscalationRules,
    deadline_for,
    next_realert_from,
    resolution_deadline,
)
from coachbot.engine import Reply

log = logging.getLogger("coachbot.escalations")

Clock = Callable[[], dt.datetime]
OnQueued = Callable[[list[QueuedMessage]], None]
OVERLAP = dt.timedelta(minutes=1)
FIRST_LOOK_BACK = dt.timedelta(days=2)
BATCH = 100


class EscalationTicker:
    """One per scheduler; `tick` is called once per scheduler tick and never raises."""

    def __init__(self, uows: UnitOfWorkFactory, service: Any, channel: Channel, *,
                 clock: Clock, on_queued: OnQueued) -> None:
        self.uows, self.service, self.channel = uows, service, channel
        self.clock, self.on_queued = clock, on_queued
        self.missed_since: dt.datetime | None = None

    @property
    def rules(self) -> EscalationRules | None:
        return self.service.engine.library.escalation  # type: ignore[no-any-return]

    @property
    def settings(self) -> AlertSettings:
        return getattr(self.service, "alerts", None) or AlertSettings()

    async def tick(self) -> None:
        if self.rules is None:
            return
        for step in (self.send_due_realerts, self.evaluate_missed):
            try:
                await step()
            except Exception as exc:
                log.error("escalation step %s failed; the next tick retries: %s", step.__name__,
                          described(exc))

    # -- deadlines ---------------------------------------------------------------------------------
    async def send_due_realerts(self) -> int:
        """Re-send every open escalation whose deadline (or next re-send) has passed, and every
        acknowledged one past its resolution deadline."""
        rules = self.rules
        assert rules is not None
        now, settings, sent = self.clock(), self.settings, 0
        queued: list[QueuedMessage] = []
        async with self.uows() as uow:
            due = await uow.escalations.due_for_realert(now, limit=BATCH)
            if not due:
                return 0
            backups = await uow.coaches.backups()
            for escalation, patient in due:
                unresolved = escalation.status == "acknowledged"
                own = await uow.coaches.get(patient.coach_id) if unresolved and patient.coach_id else None
                targets = [own.telegram_user_id] if own is not None and own.active else []
                targets += [c.telegram_user_id for c in backups if c.id != patient.coach_id]
                if settings.group_chat_id is not None:
                    targets.append(settings.group_chat_id)
                if not targets:
                    own = await uow.coaches.get(patient.coach_id) if patient.coach_id else None
                    targets = [own.telegram_user_id] if own is not None and own.telegram_user_id else []
                    log.warning("escalation %s of %s is past its deadline unacknowledged, and there is no "
                                "backup coach or coaches' group (COACHBOT_COACH_GROUP_CHAT_ID) to send it "
                                "to%s",
                                escalation.id, patient.label, "; reminding its coach" if targets else "")
                since, anchor = _since_and_anchor(escalation, rules)
                notice = replace(notice_of(escalation, patient.label, True), waited=now - since,
                                 unresolved=unresolved,
                                 patient_name=patient.name if settings.show_name else None)
                cards = [self.channel.coach_alert(notice, int(chat)) for chat in targets if chat is not None]
                # A coach's row carries no patient, so a coach who blocked the bot never marks one.
                rows = await outbox.queue(uow, cards, chat_id=0, now=now)
                escalation.realerts += 1
                escalation.next_alert_at = next_realert_from(
                    escalation.tier, anchor, now, rules)  # type: ignore[arg-type]
                uow.audit.record(actor="system", action="escalation_realerted", subject=patient.label,
                            detail={"escalation": escalation.id, "recipients": len(rows),
                                    "unresolved": unresolved}, now=now)
                log.warning("escalation %s %s of %s not %s after %s: re-sent to %d chat(s)",
                            escalation.id, escalation.tier, patient.label,
                            "resolved" if unresolved else "acknowledged", _ago(now - since), len(rows))
                queued += rows
                sent += 1
            await uow.commit()
        if queued:
            self.on_queued(queued)
        return sent

    # -- missed check-ins --------------------------------------------------------------------------
    async def evaluate_missed(self) -> int:
        """Evaluate the rules for each patient with a check-in recorded missed since the last tick."""
        now = self.clock()
        since = self.missed_since or now - FIRST_LOOK_BACK
        async with self.uows() as uow:
            patients = await uow.checkins.patients_missed_since(since)
        raised = 0
        for patient_id in patients:
            raised += await self.after_missed(patient_id, now)
        self.missed_since = now - OVERLAP
        return raised

    async def after_missed(self, patient_id: int, now: dt.datetime) -> int:
        """One patient's evaluation after a miss: the escalation, the card and the patient's sentence
        commit together."""
        rules = self.rules
        assert rules is not None
        async with self.uows() as uow:
            patient = await uow.patients.get(patient_id)
            if patient is None or patient.chat_id is None:
                return 0
            notices = await evaluate_patient(uow, patient.id, patient.label, patient.timezone,
                                             rules=rules, now=now, answering=False)
            if not notices:
                return 0
            replies: list[Reply] = []
            tell_patient(replies, notices, rules)
            outgoing = self.channel.replies(replies, None)  # lane 0: it says what happens now
            outgoing += await alert_rows(uow, patient, notices, self.channel, self.settings)
            queued = await outbox.queue(uow, outgoing, chat_id=patient.chat_id, patient_id=patient.id,
                                        label=patient.label, now=now)
            await uow.commit()
        if queued:
            self.on_queued(queued)
        return len(notices)


def _since_and_anchor(escalation: EscalationRecord,
                      rules: EscalationRules) -> tuple[dt.datetime, dt.datetime]:
    """Since when it has waited, and the deadline its re-sends count from: the acknowledgement and
    the resolution deadline for an acknowledged one; else the last card (a worse statement sends a
    new one) and the acknowledgement deadline."""
    tier = escalation.tier
    if escalation.status == "acknowledged" and escalation.acknowledged_at is not None:
        deadline = resolution_deadline(tier, escalation.acknowledged_at, rules)  # type: ignore[arg-type]
        return escalation.acknowledged_at, deadline or escalation.acknowledged_at
    alerted = escalation.evidence.get("alerted_at")
    try:
        since = dt.datetime.fromisoformat(alerted) if isinstance(alerted, str) else escalation.opened_at
    except ValueError:
        since = escalation.opened_at
    if since.tzinfo is None:
        since = escalation.opened_at
    anchor = escalation.due_at or deadline_for(tier, escalation.opened_at, rules)  # type: ignore[arg-type]
    return since, anchor


def _ago(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m"
