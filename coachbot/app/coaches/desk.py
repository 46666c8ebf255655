"""Coach commands in the chat: /coach CODE, /queue, /patient, /note, /message, /close, /handover.

A coach sees and acts on their own patients only; an admin on every patient. A label that is not one
of the coach's patients gets the same sentence as a label that does not exist, so nothing is revealed.
Every view and action, and every refusal, goes into the audit log with labels and ids only (never a
note's or a message's words). These commands reach this module only from a registered coach's chat
(or, for /coach, from a chat that is nobody's yet): the service sends a patient's "/queue" down the
patient's usual path, where an unknown command gets the patient's help.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from typing import TYPE_CHECKING

from coachbot.adapters.charts import CHART_KIND as CHART
from coachbot.adapters.charts import chart_row_payload
from coachbot.app.channel import Outgoing, UpdateResult
from coachbot.app.coaches.coaching import pick_coach, queued_alerts
from coachbot.app.coaches.code_attempts import LIMIT, plain_wait
from coachbot.app.coaches.invites import redeem
from coachbot.app.coaches.relay import close_relay, live_relay, open_relay
from coachbot.app.coaches.summary import chart_data, coach_name, escalation_line, summary_text
from coachbot.app.escalations import coach_actions
from coachbot.app.unit_of_work import CoachRecord, PatientRecord, UnitOfWork
from coachbot.engine import TextMessage
from coachbot.spec.coach_words import CoachWords, fill

if TYPE_CHECKING:
    from coachbot.app.channel import Channel, Inbound
    from coachbot.app.pipeline import PatientService

COMMANDS = ("coach", "queue", "patient", "note", "message", "close", "handover")
QUEUE_SHOWN = 30
NOTE_MAX = 2000
LABEL = re.compile(r"^P-[A-Z0-9]{6}$")


def command_of(event: Inbound) -> tuple[str, str] | None:
    """(command, the rest of the message) for a coach command, else None."""
    if not isinstance(event, TextMessage) or not event.text.startswith("/"):
        return None
    head, _, rest = event.text.partition(" ")
    name = head[1:].split("@", 1)[0].lower()
    return (name, rest.strip()) if name in COMMANDS else None


def is_join(event: Inbound) -> bool:
    found = command_of(event)
    return found is not None and found[0] == "coach"


class CoachDesk:
    """The coach commands, for one update inside the service's transaction."""

    def __init__(self, uow: UnitOfWork, service: PatientService, channel: Channel,
                 now: dt.datetime) -> None:
        self.uow, self.service, self.channel, self.now = uow, service, channel, now
        messages = service.engine.library.service.channel
        self.words: CoachWords = messages.coach_tools
        self.tiers: dict[str, str] = {str(tier): label for tier, label in messages.tier_labels.items()}

    # -- entry points -------------------------------------------------------------------------------
    async def join(self, chat_id: int, event: Inbound) -> UpdateResult:
        """`/coach CODE` from a chat that is nobody's: register the sender, or one plain sentence."""
        found = command_of(event)
        code = found[1][:64] if found else ""  # "K7QM 4XPA RT2H" too: spaces and dashes do not count
        if not code:
            return UpdateResult(outgoing=self._say(self.words.usage.coach))
        attempts = self.service.code_attempts
        wait = attempts.wait(chat_id, self.now)
        if wait is not None:  # too many wrong codes: this one is not even looked at
            self.uow.audit.record(actor=f"chat:{chat_id}", action="coach_code_refused", subject=None,
                                  detail={"reason": "paused"}, now=self.now)
            return UpdateResult(outgoing=self._say(self._paused(wait)))
        coach = await redeem(self.uow, chat_id, code, self.now)
        if coach is None:
            pause = attempts.wrong(chat_id, self.now)
            if pause is not None:
                minutes = pause // dt.timedelta(minutes=1)
                self.uow.audit.record(actor=f"chat:{chat_id}", action="coach_code_paused", subject=None,
                                      detail={"wrong_codes": LIMIT, "minutes": minutes}, now=self.now)
                return UpdateResult(outgoing=self._say(self._paused(pause)))
            return UpdateResult(outgoing=self._say(self.words.code_not_valid))
        attempts.joined(chat_id)
        outgoing = self._say(fill(self.words.joined, name=coach.name))
        outgoing += await queued_alerts(self.uow, self.channel)
        return UpdateResult(outgoing=outgoing, label=f"coach:{coach.id}", coach_started=True)

    def _paused(self, wait: dt.timedelta) -> str:
        """The sentence saying how long codes are refused for."""
        unit, n = plain_wait(wait)
        words = self.words.wait_minutes if unit == "minutes" else self.words.wait_hours
        return fill(self.words.code_attempts_paused, wait=fill(words, n=n))

    async def handle(self, coach: CoachRecord, event: Inbound) -> UpdateResult | None:
        """A registered coach's command; None when it is not one of these (coaching.coach_turn answers)."""
        found = command_of(event)
        self.coach = coach
        self.actor = f"coach:{coach.id}"
        if found is None:
            return await self._plain_words(event)
        name, rest = found
        handler = {"coach": self._already, "queue": self._queue, "patient": self._patient,
                   "note": self._note, "message": self._message, "close": self._close,
                   "handover": self._handover}[name]
        outgoing = await handler(rest)
        return UpdateResult(outgoing=outgoing, label=self.actor)

    async def _plain_words(self, event: Inbound) -> UpdateResult | None:
        """Words without a command while conversations are open: say how to reach the patient, since
        a coach may well expect a plain reply to go through (it does not: nothing is sent)."""
        if not isinstance(event, TextMessage) or event.text.startswith("/"):
            return None
        if await coach_actions.note_pending(self.uow, self.coach) is not None:
            return None  # the note a Resolve press asked for: it wins over any open conversation
        labels = await self._open_conversations()
        if not labels:
            return None
        return UpdateResult(outgoing=self._say(fill(self.words.plain_words, labels=", ".join(labels))),
                            label=self.actor)

    async def _open_conversations(self) -> list[str]:
        return await self.uow.relays.labels_with(self.coach.id)

    # -- commands -----------------------------------------------------------------------------------
    async def _already(self, rest: str) -> list[Outgoing]:
        return self._say(self.words.already_coach)

    async def _queue(self, rest: str) -> list[Outgoing]:
        if rest:
            return self._say(self.words.usage.queue)
        rows, total = await self.uow.escalations.queue(None if self.coach.is_admin else self.coach.id,
                                                       QUEUE_SHOWN)
        self._audit("coach_queue_viewed", None, {"shown": min(total, QUEUE_SHOWN), "total": total})
        if not rows:
            return self._say(self.words.queue_empty)
        lines = [fill(self.words.queue_header, count=total)]
        lines += [escalation_line(self.words, self.tiers, row, label, now=self.now)
                  for row, label in rows[:QUEUE_SHOWN]]
        if total > QUEUE_SHOWN:
            lines.append(fill(self.words.queue_more, count=total - QUEUE_SHOWN))
        return self._say("\n".join(lines))

    async def _patient(self, rest: str) -> list[Outgoing]:
        label, extra = _split(rest)
        if not label or extra:
            return self._say(self.words.usage.patient)
        patient = await self._find(label, "patient")
        if patient is None:
            return self._say(fill(self.words.no_such_patient, label=_shown(label)))
        uow = self.uow
        text = await summary_text(uow, patient, self.words, self.tiers, steps=self.service.steps,
                                  now=self.now)
        outgoing = self._say(text)
        data = await chart_data(uow, patient, self.words, self.now)
        if data is not None:
            caption = fill(self.words.chart.caption, label=patient.label)
            outgoing.append(Outgoing(kind=CHART, payload=chart_row_payload(data, caption[:1024])))
        self._audit("coach_patient_viewed", patient.label, {"chart": data is not None})
        return outgoing

    async def _note(self, rest: str) -> list[Outgoing]:
        label, text = _split(rest)
        if not label or not text or len(text) > NOTE_MAX:
            return self._say(self.words.usage.note)
        patient = await self._find(label, "note")
        if patient is None:
            return self._say(fill(self.words.no_such_patient, label=_shown(label)))
        note = await self.uow.coach_notes.add(patient_id=patient.id, coach_id=self.coach.id, text=text,
                                              now=self.now)
        self._audit("coach_note_added", patient.label, {"note": note, "length": len(text)})
        return self._say(fill(self.words.note_saved, label=patient.label))

    async def _message(self, rest: str) -> list[Outgoing]:
        label, text = _split(rest)
        if not label or not text:
            return self._say(self.words.usage.message)
        patient = await self._find(label, "message")
        if patient is None:
            return self._say(fill(self.words.no_such_patient, label=_shown(label)))
        if patient.status == "stopped" or patient.chat_id is None:
            self._audit("coach_message_refused", patient.label, {"reason": "stopped"})
            return self._say(fill(self.words.message_not_sent, label=patient.label))
        to_patient = [replace(item, chat_id=patient.chat_id, patient_id=patient.id)
                      for item in self.channel.text(fill(self.words.to_patient, text=text))]
        await open_relay(self.uow, patient, self.coach, self.now)
        self._audit("coach_message_sent", patient.label, {"length": len(text)})
        return to_patient + self._say(fill(self.words.message_sent, label=patient.label))

    async def _close(self, rest: str) -> list[Outgoing]:
        label, extra = _split(rest)
        if extra:
            return self._say(self.words.usage.close)
        if not label:
            mine = await self._open_conversations()
            if len(mine) != 1:
                return self._say(fill(self.words.close_which, labels=", ".join(mine))
                                 if mine else self.words.usage.close)
            label = mine[0]
        patient = await self._find(label, "close")
        if patient is None:
            return self._say(fill(self.words.no_such_patient, label=_shown(label)))
        relay = await live_relay(self.uow, patient.id, self.now)
        if relay is None:
            return self._say(fill(self.words.not_open, label=patient.label))
        out = await close_relay(self.uow, patient, relay, actor=self.actor, words=self.words,
                                channel=self.channel, service=self.service, now=self.now)
        return out + self._say(fill(self.words.closed, label=patient.label))

    async def _handover(self, rest: str) -> list[Outgoing]:
        parts = rest.split()
        if not 1 <= len(parts) <= 2 or (len(parts) == 2 and not parts[1].isdigit()):
            return self._say(self.words.usage.handover)
        if parts[0].lower() == "all":
            patients = list(await self.uow.patients.of_coach(self.coach.id))
            if not patients:
                return self._say(self.words.nothing_to_hand_over)
        else:
            found = await self._find(parts[0], "handover")
            if found is None:
                return self._say(fill(self.words.no_such_patient, label=_shown(parts[0])))
            patients = [found]
        target = await self._target(int(parts[1]) if len(parts) == 2 else None,
                                    {p.coach_id for p in patients if p.coach_id is not None})
        if target is None or target.telegram_user_id is None:
            return self._say(self.words.no_other_coach)
        closing: list[Outgoing] = []
        for patient in patients:
            self._audit("patient_handed_over", patient.label, {"from": patient.coach_id, "to": target.id})
            patient.coach_id = target.id
            relay = await live_relay(self.uow, patient.id, self.now)
            if relay is not None:  # a conversation ends with the handover: the new coach starts afresh
                closing += await close_relay(self.uow, patient, relay, actor=self.actor,
                                             words=self.words, channel=self.channel, service=self.service,
                                             now=self.now)
        labels = ", ".join(p.label for p in patients)
        told = self.channel.text(fill(self.words.handed_to_you, labels=labels,
                                      coach=coach_name(self.coach, self.words.none)),
                                 chat_id=target.telegram_user_id)
        return self._say(fill(self.words.handed_over, labels=labels,
                              coach=coach_name(target, self.words.none))) + told + closing

    # -- helpers ------------------------------------------------------------------------------------
    async def _target(self, coach_id: int | None, current: set[int]) -> CoachRecord | None:
        """The coach named, or else the active coach (not the current one) with the fewest open patients."""
        if coach_id is not None:
            target = await self.uow.coaches.get(coach_id)
            ok = target is not None and target.active and coach_id not in current
            return target if ok else None
        return await pick_coach(self.uow, exclude=current)

    async def _find(self, label: str, why: str) -> PatientRecord | None:
        """The patient under `label` if this coach may see them (theirs, or any for an admin)."""
        wanted = label.strip().upper()
        patient = None
        if LABEL.match(wanted):
            patient = await self.uow.patients.by_label(wanted)
        if patient is not None and (self.coach.is_admin or patient.coach_id == self.coach.id):
            return patient
        self._audit("coach_access_refused", wanted if LABEL.match(wanted) else None,
                    {"command": why, "exists": patient is not None})
        return None

    def _audit(self, action: str, subject: str | None, detail: dict[str, object]) -> None:
        self.uow.audit.record(actor=self.actor, action=action, subject=subject, detail=detail, now=self.now)

    def _say(self, text: str) -> list[Outgoing]:
        return self.channel.text(text)


def _split(rest: str) -> tuple[str, str]:
    """(first word, everything after it)."""
    head, _, tail = rest.strip().partition(" ")
    return head.strip(), tail.strip()


def _shown(label: str) -> str:
    """A label as typed, cut short: it is echoed back in one sentence."""
    return label.strip()[:16]
