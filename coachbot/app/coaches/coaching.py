"""Coaches as the service sees them: who a chat belongs to, who watches a patient, which alerts wait.

Plain queries inside the caller's transaction. A patient is given to the active coach with the fewest
open (not stopped) patients; an escalation raised while no coach was registered stays open with no
alert row, and `queued_alerts` writes those rows once a coach exists (at start and when a coach says
/start, or joins with /coach CODE).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING

from coachbot.app.channel import ChannelCommand, EscalationNotice, Inbound, Outgoing, Press
from coachbot.app.unit_of_work import CoachRecord, PatientRecord, UnitOfWork
from coachbot.engine import TextMessage

if TYPE_CHECKING:
    from coachbot.app.channel import Channel


async def pick_coach(uow: UnitOfWork, exclude: Collection[int] = ()) -> CoachRecord | None:
    """The active coach reachable in Telegram with the fewest open patients (the oldest on a tie).
    Open means not stopped: a patient still onboarding, active or paused may need their coach."""
    return await uow.coaches.least_loaded(exclude)


async def coach_of(uow: UnitOfWork, patient: PatientRecord) -> CoachRecord | None:
    """The patient's coach; a patient without an active one is given one now, if any is registered."""
    if patient.coach_id is not None:
        coach = await uow.coaches.get(patient.coach_id)
        if coach is not None and coach.active and coach.telegram_user_id is not None:
            return coach
    coach = await uow.coaches.least_loaded()
    if coach is not None:
        patient.coach_id = coach.id
    return coach


def coach_turn(coach: CoachRecord, event: Inbound, channel: Channel) -> tuple[list[Outgoing], bool]:
    """A registered coach's message: /start greets them as a coach (never onboards them), /help
    says what they can do, anything else gets a short pointer. Returns (messages, said /start)."""
    if isinstance(event, Press):
        return [], False
    command = ""
    if isinstance(event, TextMessage) and event.text.startswith("/"):
        command = event.text.split()[0].split("@")[0].lower()
    if isinstance(event, ChannelCommand):
        command = f"/{event.name}"
    if command == "/start":
        return [channel.coach_message("greeting", coach.name)], True
    if command == "/help":
        return [channel.coach_message("help", coach.name)], False
    return [channel.coach_message("unknown", coach.name)], False


async def queued_alerts(uow: UnitOfWork, channel: Channel) -> list[Outgoing]:
    """Alert rows for open escalations that never got one, for whoever now coaches the patient."""
    outgoing = []
    for escalation, patient in await uow.escalations.without_alert():
        coach = await coach_of(uow, patient)
        if coach is None or coach.telegram_user_id is None:
            break  # still no coach: they keep waiting
        notice = EscalationNotice(
            escalation_id=escalation.id, patient_label=patient.label, tier=escalation.tier,
            rule=escalation.rule, reason=escalation.reason, evidence=dict(escalation.evidence),
            is_new=True)
        outgoing.append(channel.coach_alert(notice, coach.telegram_user_id))
    return outgoing
