"""What a coach does with an alert: Acknowledge, Resolve (with a note), Message patient, and re-base
a patient's usual level.

Only the patient's own coach, an admin or a backup coach may act on an escalation; anyone else gets
one short sentence and no patient data. Every action is written to the audit log (labels and ids,
never the note's text), and the card is edited to show who did it and when. A second press says it
was already done, by whom and when.

Resolving takes a note: after the Resolve press the bot asks for it, and the coach's next plain
message is the note; `/resolve ID NOTE` does the same in one go. `/rebase LABEL MEASURE VALUE` stores
a new usual level (a measurement `baseline:MEASURE`, which the rules prefer to onboarding's answer).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from typing import Protocol

from coachbot.app.channel import EscalationPress, Outgoing, UpdateResult
from coachbot.app.escalations.history import BASELINE_PREFIX
from coachbot.app.unit_of_work import CoachRecord, EscalationRecord, PatientRecord, UnitOfWork
from coachbot.care.escalation_rules import resolution_deadline
from coachbot.engine import TextMessage
from coachbot.spec.escalation_rules import MEASURE_RANGES, CoachCard, EscalationRules

log = logging.getLogger("coachbot.escalations")


class AlertChannel(Protocol):
    """The formatting the coach's actions need (implemented by the Telegram channel)."""

    zone: dt.tzinfo

    def text(self, text: str, chat_id: int | None = None) -> list[Outgoing]: ...

    def alert_edit(self, escalation_id: int, message_id: int, shown: str, photo: bool, line: str, *,
                   acknowledged: bool, closed: bool, chat_id: int | None = None) -> Outgoing: ...


def may_act(coach: CoachRecord | None, patient: PatientRecord | None) -> bool:
    """The patient's own coach, an admin or a backup coach; nobody else."""
    return (coach is not None and patient is not None and coach.active
            and (coach.is_admin or coach.is_backup or patient.coach_id == coach.id))


async def press(uow: UnitOfWork, event: EscalationPress, channel: AlertChannel,
                rules: EscalationRules | None, now: dt.datetime) -> UpdateResult:
    """A tap on Acknowledge, Resolve or Message patient."""
    card = rules.card if rules is not None else CoachCard()
    coach = await uow.coaches.for_chat(event.user_id, active=True)
    escalation = await uow.escalations.get(event.escalation_id)
    patient = await uow.patients.get(escalation.patient_id) if escalation is not None else None
    actor = f"coach:{coach.id}" if coach is not None else "unknown"
    if escalation is None or patient is None or not may_act(coach, patient):
        log.warning("an alert button was pressed by someone who may not act on it (%s)", actor)
        return UpdateResult(outgoing=channel.text(card.not_allowed), label=actor, accepted_press=True)
    assert coach is not None
    at = _when(now, channel.zone)
    if event.action == "message":
        uow.audit.record(actor=actor, action="escalation_message_asked", subject=patient.label,
                         detail={"escalation": escalation.id}, now=now)
        return UpdateResult(outgoing=channel.text(card.message_patient.format(label=patient.label)),
                            label=actor, accepted_press=True)
    if escalation.status == "resolved" or (event.action == "ack" and escalation.status == "acknowledged"):
        said = await _already(uow, card, escalation, channel.zone)
        return UpdateResult(outgoing=channel.text(said), label=actor, accepted_press=True)
    if event.action == "ack":
        escalation.status, escalation.acknowledged_at = "acknowledged", now
        escalation.acknowledged_by = coach.id
        escalation.updated_at = now  # an urgent one must still be resolved by its resolution deadline
        escalation.next_alert_at = (resolution_deadline(escalation.tier, now, rules)  # type: ignore[arg-type]
                                    if rules is not None else None)
        uow.audit.record(actor=actor, action="escalation_acknowledged", subject=patient.label,
                         detail={"escalation": escalation.id, "rule": escalation.rule}, now=now)
        log.info("escalation %s of %s acknowledged by %s", escalation.id, patient.label, actor)
        edit = channel.alert_edit(escalation.id, event.message_id, event.shown, event.photo,
                                  card.acknowledged.format(coach=coach.name, at=at), acknowledged=True,
                                  closed=False)
        return UpdateResult(outgoing=[edit], label=actor, accepted_press=True)
    escalation.note_pending_by = coach.id
    uow.audit.record(actor=actor, action="escalation_resolve_asked", subject=patient.label,
                     detail={"escalation": escalation.id}, now=now)
    return UpdateResult(outgoing=channel.text(card.resolve_prompt.format(id=escalation.id)), label=actor,
                        accepted_press=True)


async def command(uow: UnitOfWork, coach: CoachRecord, event: object, channel: AlertChannel,  # noqa: PLR0917
                  rules: EscalationRules | None, now: dt.datetime) -> list[Outgoing] | None:
    """A coach's /resolve, /rebase, or the note they were asked for; None for anything else."""
    if not isinstance(event, TextMessage):
        return None
    card = rules.card if rules is not None else CoachCard()
    text = event.text.strip()
    name, _, rest = text.partition(" ")
    name = name.split("@")[0].lower()
    if name == "/resolve":
        number, _, note = rest.strip().partition(" ")
        if not number.isdigit() or not note.strip():
            return channel.text(card.resolve_usage)
        escalation = await uow.escalations.get(int(number))
        return await _resolve(uow, coach, escalation, note.strip(), channel, card=card, now=now,
                              asked=number)
    if name == "/rebase":
        return await _rebase(uow, coach, rest.split(), channel, rules=rules, now=now)
    if text.startswith("/"):
        return None
    pending = await note_pending(uow, coach)
    if pending is None:
        return None
    return await _resolve(uow, coach, pending, text, channel, card=card, now=now, asked=str(pending.id))


async def note_pending(uow: UnitOfWork, coach: CoachRecord) -> EscalationRecord | None:
    """The escalation whose Resolve press is waiting for this coach's note (the latest pressed), if any:
    the coach's next plain words are that note, whatever else is open (a relay conversation included)."""
    return await uow.escalations.note_pending_for(coach.id)


async def _resolve(uow: UnitOfWork, coach: CoachRecord, escalation: EscalationRecord | None, note: str,
                   channel: AlertChannel, *, card: CoachCard, now: dt.datetime, asked: str) -> list[Outgoing]:
    patient = await uow.patients.get(escalation.patient_id) if escalation is not None else None
    if escalation is None or not may_act(coach, patient):
        return channel.text(card.unknown_escalation.format(id=asked))
    assert patient is not None
    if escalation.status == "resolved":
        return channel.text(await _already(uow, card, escalation, channel.zone))
    earlier = await _acknowledged_line(uow, card, escalation, channel.zone)
    escalation.status, escalation.resolved_at, escalation.resolved_by = "resolved", now, coach.id
    escalation.resolution_note, escalation.note_pending_by, escalation.next_alert_at = note, None, None
    escalation.updated_at = now
    if escalation.acknowledged_at is None:  # resolving it answers it too
        escalation.acknowledged_at, escalation.acknowledged_by = now, coach.id
    actor = f"coach:{coach.id}"
    uow.audit.record(actor=actor, action="escalation_resolved", subject=patient.label,
                     detail={"escalation": escalation.id, "rule": escalation.rule}, now=now)
    log.info("escalation %s of %s resolved by %s", escalation.id, patient.label, actor)
    line = card.resolved.format(coach=coach.name, at=_when(now, channel.zone), note=note)
    return channel.text(line) + await _card_edits(uow, escalation, channel, "\n".join([*earlier, line]))


async def _card_edits(uow: UnitOfWork, escalation: EscalationRecord, channel: AlertChannel,
                      line: str) -> list[Outgoing]:
    """Close every card of this escalation that was delivered (the coach's, the backups'): the
    original text, the acknowledgement and the resolution, and no buttons."""
    edits = []
    for message_id, chat_id, payload in await uow.outbox.delivered_cards(escalation.id):
        shown = str(payload.get("caption") or payload.get("text") or "")
        edits.append(channel.alert_edit(escalation.id, message_id, shown, "chart" in payload, line,
                                        acknowledged=True, closed=True, chat_id=chat_id))
    return edits


async def _acknowledged_line(uow: UnitOfWork, card: CoachCard, escalation: EscalationRecord,
                             zone: dt.tzinfo) -> list[str]:
    """The card's "Acknowledged by" line, kept when the card is closed on resolving."""
    if escalation.acknowledged_by is None or escalation.acknowledged_at is None:
        return []
    coach = await uow.coaches.get(escalation.acknowledged_by)
    at = _when(escalation.acknowledged_at, zone)
    return [card.acknowledged.format(coach=coach.name if coach else "?", at=at)]


async def _already(uow: UnitOfWork, card: CoachCard, escalation: EscalationRecord, zone: dt.tzinfo) -> str:
    resolved = escalation.status == "resolved"
    by = escalation.resolved_by if resolved else escalation.acknowledged_by
    at = escalation.resolved_at if resolved else escalation.acknowledged_at
    coach = await uow.coaches.get(by) if by is not None else None
    return card.already.format(id=escalation.id, status=escalation.status,
                               coach=coach.name if coach else "?", at=_when(at, zone) if at else "?")


async def _rebase(uow: UnitOfWork, coach: CoachRecord, words: list[str], channel: AlertChannel, *,
                  rules: EscalationRules | None, now: dt.datetime) -> list[Outgoing]:
    card = rules.card if rules is not None else CoachCard()
    measures = sorted(rules.baselines) if rules is not None else []
    usage = channel.text(card.rebase_usage.format(measures=", ".join(measures)))
    if len(words) != 3 or words[1] not in measures:
        return usage
    try:
        value = float(words[2].replace(",", "."))
    except ValueError:
        return usage
    low, high = MEASURE_RANGES.get(words[1], (-math.inf, math.inf))
    if not math.isfinite(value) or not low <= value <= high:
        return usage
    patient = await uow.patients.by_label(words[0].upper())
    if not may_act(coach, patient):
        return channel.text(card.not_allowed)
    assert patient is not None
    uow.measures.record(patient.id, BASELINE_PREFIX + words[1], value, script="coach",
                        state=f"coach:{coach.id}", now=now)
    uow.audit.record(actor=f"coach:{coach.id}", action="baseline_rebased", subject=patient.label,
                     detail={"measure": words[1], "value": value}, now=now)
    return channel.text(card.rebase_done.format(measure=words[1], label=patient.label, value=f"{value:g}"))


def _when(at: dt.datetime, zone: dt.tzinfo) -> str:
    return at.astimezone(zone).strftime("%a %d %b %H:%M")
