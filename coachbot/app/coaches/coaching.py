"""Coaches as the service sees them: who a chat belongs to, who watches a patient, which alerts wait.

Plain queries inside the caller's transaction. A patient is given to the active coach with the fewest
open (not stopped) patients; an escalation raised while no coach was registered stays open with no
alert row, and `queued_alerts` writes those rows once a coach exists (at start and when a coach says
/start, or joins with /coach CODE).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from coachbot.adapters.db import store
from coachbot.adapters.db.models import (
    Coach,
    Conversation,
    Escalation,
    OutboxMessage,
    Patient,
    StepSuggestion,
)
from coachbot.adapters.db.unit_of_work import joined
from coachbot.app.channel import ChannelCommand, EscalationNotice, Inbound, Outgoing, Press
from coachbot.app.data_rights.export import held_about
from coachbot.app.unit_of_work import CoachRecord, PatientRecord, UnitOfWork
from coachbot.engine import TextMessage

if TYPE_CHECKING:
    from coachbot.app.channel import Channel

_PATIENT_WITH_CONVERSATION = (
    select(Patient, Conversation,
           select(StepSuggestion.id)
           .where(StepSuggestion.patient_id == Patient.id, StepSuggestion.feedback.is_(None),
                  StepSuggestion.suggested_at >= bindparam("since"))
           .exists().label("open_step"))
    .outerjoin(Conversation, Conversation.patient_id == Patient.id)
    .where(Patient.chat_id == bindparam("chat_id")))
"""Built once: every update that takes the full path starts with it. With whether a step waits for
feedback (`store.has_open_step`), which a starting check-in branches on: one query fewer."""


async def patient_with_conversation(session: AsyncSession, chat_id: int,
                                    now: dt.datetime) -> tuple[Patient | None, Conversation | None]:
    """The patient of a chat and their conversation, in one query. Hold on to the conversation while
    the transaction runs: the session only keeps weak references, and `store.load_position` then finds
    it there instead of asking the database again."""
    since = now - dt.timedelta(days=store.OPEN_STEP_DAYS)
    row = (await session.execute(_PATIENT_WITH_CONVERSATION, {"chat_id": chat_id, "since": since})).first()
    if row is None:
        return None, None
    if row[1] is None:
        store.note_no_conversation(session, row[0].id)
    store.note_open_step(session, row[0].id, since, bool(row[2]))
    return row[0], row[1]


async def coach_for_chat(session: AsyncSession, chat_id: int) -> Coach | None:
    """The active coach whose private chat this is (a private chat's id is the user's id)."""
    if chat_id <= 0:
        return None
    result = await session.execute(
        select(Coach).where(Coach.telegram_user_id == chat_id, Coach.active.is_(True)))
    return result.scalar_one_or_none()


async def removed_coach(session: AsyncSession, chat_id: int) -> Coach | None:
    """The inactive coach whose private chat this is: told so, never signed up as a patient."""
    result = await session.execute(
        select(Coach).where(Coach.telegram_user_id == chat_id, Coach.active.is_(False)))
    return result.scalar_one_or_none() if chat_id > 0 else None


async def pick_coach(session: AsyncSession, exclude: Collection[int] = ()) -> Coach | None:
    """The active coach reachable in Telegram with the fewest open patients (the oldest on a tie).
    Open means not stopped: a patient still onboarding, active or paused may need their coach."""
    return await joined(session).coaches.least_loaded(exclude)


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


def coach_turn(coach: Coach, event: Inbound, channel: Channel) -> tuple[list[Outgoing], bool]:
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


async def queued_alerts(session: AsyncSession, channel: Channel) -> list[Outgoing]:
    """Alert rows for open escalations that never got one, for whoever now coaches the patient."""
    has_alert = exists().where(OutboxMessage.escalation_id == Escalation.id)
    result = await session.execute(
        select(Escalation, Patient).join(Patient, Patient.id == Escalation.patient_id)
        .where(Escalation.status.in_(("open", "acknowledged")), ~has_alert)
        .order_by(Escalation.id))
    outgoing = []
    for escalation, patient in result.all():
        coach = await coach_of(joined(session), patient)
        if coach is None or coach.telegram_user_id is None:
            break  # still no coach: they keep waiting
        notice = EscalationNotice(
            escalation_id=escalation.id, patient_label=patient.label, tier=escalation.tier,
            rule=escalation.rule, reason=escalation.reason, evidence=dict(escalation.evidence),
            is_new=True)
        outgoing.append(channel.coach_alert(notice, coach.telegram_user_id))
    return outgoing


async def export_patient(session: AsyncSession, patient: Patient) -> dict[str, Any]:
    """Everything stored about a patient (`/mydata`, `coachbot patients export`): profile, consent,
    every answer, escalations, coaches' notes, self-help steps and every message held to or about them.
    The lists are built by `coachbot.app.data_rights.export`, which walks the same rows erasure does."""
    return {
        "label": patient.label,
        "profile": {
            "name": patient.name,
            "status": patient.status,
            "timezone": patient.timezone,
            "checkin_time": patient.checkin_time.isoformat() if patient.checkin_time else None,
            "weekly_review_day": patient.weekly_review_day,
            "consent_given_at": _iso(patient.consent_at),
            "consent_version": patient.consent_version,
            "consent_withdrawn_at": _iso(patient.consent_withdrawn_at),
            "onboarded_at": _iso(patient.onboarded_at),
            "paused_until": _iso(patient.paused_until),
            "first_contact_at": _iso(patient.created_at),
        },
        **await held_about(session, patient),
    }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
