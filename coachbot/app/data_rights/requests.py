"""A patient's own data-rights requests in the chat: /forget, withdrawing consent, and the offer after
/stop. Called by the pipeline after crisis screening, so words of risk typed with any of these still
run the safety flow first.

- `/forget` asks, with Yes/No buttons (or `/forget yes` typed); Yes erases everything
  (`erase.erase_patient`), tells the patient's coach, and confirms to the patient.
- `/stop` (or stop) stops messages as always, then offers a button to withdraw consent.
- `withdraw` (or `/withdraw`, or that button) withdraws consent: messages stop, nothing new is
  recorded, the consent time is cleared (the version agreed to stays, for the record), and erasure is
  offered.

The buttons carry their own tokens (`ERASE`, `CONSENT`), which no question token can equal (those are
eight characters of base64), so a press is routed here whatever the patient's dialog.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from coachbot.adapters.db import schedule_store, store
from coachbot.adapters.db.models import Patient
from coachbot.adapters.db.unit_of_work import joined
from coachbot.app.channel import Outgoing, Press, UpdateResult
from coachbot.app.data_rights.erase import chats_to_tell, erase_patient
from coachbot.app.data_rights.texts import DataRightsTexts
from coachbot.app.escalations.raising import urgent_open
from coachbot.engine import ButtonOption, Reply, TextMessage
from coachbot.engine.commands import parse_command

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from coachbot.app.channel import Channel, Inbound
    from coachbot.app.pipeline import PatientService

ERASE = "erase"
CONSENT = "consent"
_FORGET = "/forget"
_WITHDRAW = frozenset({"withdraw", "/withdraw"})


def _words(event: Inbound) -> str:
    return event.text.strip().lower().rstrip(".!") if isinstance(event, TextMessage) else ""


def is_request(event: Inbound) -> bool:
    """Whether the event is one of this module's: cheap, so the pipeline pays nothing otherwise."""
    if isinstance(event, Press):
        return event.token in (ERASE, CONSENT)
    words = _words(event)
    if not words:
        return False
    first = words.split()[0].split("@")[0]
    command = parse_command(words)
    return first == _FORGET or words in _WITHDRAW or (command is not None and command.name == "stop")


class DataRightsDesk:
    """Answers the patient's requests; one per `PatientService`."""

    def __init__(self, service: PatientService, texts: DataRightsTexts | None = None) -> None:
        self.service = service
        self.texts = texts or DataRightsTexts()

    async def handle(self, session: AsyncSession, patient: Patient, event: Inbound,
                     now: dt.datetime) -> UpdateResult | None:
        """The request's outcome, or None when `event` is none of these."""
        if not is_request(event):
            return None
        if isinstance(event, Press):
            first = list(event.on_current)
            if event.token == ERASE and event.value == "yes":
                return await self.erase(session, patient, now, first)
            if event.token == ERASE:
                return self._said(patient, first + self._text(self.texts.forget.kept))
            return await self.withdraw(session, patient, now, first)
        assert isinstance(event, TextMessage)  # `is_request`: a press, or typed words
        words = _words(event)
        if words.split()[0].split("@")[0] == _FORGET:
            if words.split()[1:] == ["yes"]:
                return await self.erase(session, patient, now, [])
            return self._said(patient, await self._question(session, patient))
        if words in _WITHDRAW:
            return await self.withdraw(session, patient, now, [])
        result = await self.service.patient_turn(joined(session), patient, event, now)  # the stop, as always
        if patient.status == "stopped" and patient.consent_withdrawn_at is None:
            result.outgoing = self._with_offer(result.outgoing)
        return result

    def _with_offer(self, outgoing: list[Outgoing]) -> list[Outgoing]:
        """The stop's reply with the withdraw offer and its button under it: one message, one ping,
        when the reply is a plain text (else the offer follows it)."""
        words = self.texts.consent
        offer = Reply(words.offer_after_stop, options=(ButtonOption("withdraw", words.withdraw_button),))
        last = outgoing[-1] if outgoing else None
        plain = last is not None and last.kind == "text" and last.chat_id is None
        if last is not None and plain and set(last.payload) == {"text"}:
            return outgoing[:-1] + self._channel.replies([Reply(last.payload["text"]), offer], CONSENT)
        return outgoing + self._channel.replies([offer], CONSENT)

    async def erase(self, session: AsyncSession, patient: Patient, now: dt.datetime,
                    first: list[Outgoing]) -> UpdateResult:
        """Erase, tell the coach (label only), confirm to the patient. The outbox rows carry no
        patient id: the patient row is gone. With an urgent escalation open, the coach (and the
        coaches' group) is told plainly that its card is gone, and the patient that the coach can no
        longer reach them here."""
        erasure = await erase_patient(session, patient, actor=patient.label, now=now)
        words = self.texts.forget
        erased = words.erased.strip()
        if erasure.urgent_open:
            erased += "\n" + words.erased_open_alert.strip()
        outgoing = first + self._text(erased)
        told = (words.coach_told_open_alert if erasure.urgent_open else words.coach_told)
        for chat_id in chats_to_tell(erasure, self.service.alerts.group_chat_id):
            outgoing += self._channel.text(told.format(label=erasure.label).strip(), chat_id=chat_id)
        return UpdateResult(outgoing=outgoing, label=erasure.label)

    async def withdraw(self, session: AsyncSession, patient: Patient, now: dt.datetime,
                       first: list[Outgoing]) -> UpdateResult:
        """Consent withdrawn: stopped, consent time cleared, check-ins cancelled; erasure offered."""
        if patient.consent_withdrawn_at is None:
            patient.consent_withdrawn_at = now
            patient.consent_at = None
            patient.status, patient.paused_until, patient.updated_at = "stopped", None, now
            store.audit(session, actor=patient.label, action="consent_withdrawn", subject=patient.label,
                        detail={}, now=now)
            names = self.service.engine.library.service
            await schedule_store.patient_changed(session, patient, now,
                                                 {"daily": names.daily, "weekly": names.weekly})
        outgoing = first + self._text(self.texts.consent.withdrawn) + await self._question(session, patient)
        return self._said(patient, outgoing)

    # -- wording ----------------------------------------------------------------------------------
    @property
    def _channel(self) -> Channel:
        assert self.service.channel is not None
        return self.service.channel

    def _text(self, text: str) -> list[Outgoing]:
        return self._channel.replies([Reply(text)], None)

    async def _question(self, session: AsyncSession, patient: Patient) -> list[Outgoing]:
        """The /forget question; with an urgent escalation open, what erasing now would cost first."""
        words = self.texts.forget
        question = words.question.strip()
        if await urgent_open(joined(session), patient.id):
            question += "\n\n" + words.question_open_alert.strip()
        options = (ButtonOption("yes", words.yes_button), ButtonOption("no", words.no_button))
        return self._channel.replies([Reply(question, options=options)], ERASE)

    @staticmethod
    def _said(patient: Patient, outgoing: list[Outgoing]) -> UpdateResult:
        return UpdateResult(outgoing=outgoing, label=patient.label, patient_id=patient.id)
