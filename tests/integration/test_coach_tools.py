"""Coach tools through the service on a real database: joining with an invite code, /queue,
/patient, /note, /message and the conversation it opens, /close, /handover, access and the audit log."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.charts import render_chart_row
from coachbot.adapters.db import store
from coachbot.adapters.db.models import (
    AuditEntry,
    Coach,
    CoachInvite,
    CoachNote,
    CoachRelay,
    Escalation,
    Measurement,
    OutboxMessage,
    Patient,
)
from coachbot.adapters.db.unit_of_work import joined
from coachbot.adapters.telegram.messages_out import TelegramChannel
from coachbot.app.channel import ChannelCommand
from coachbot.app.coaches.invites import create_invite
from coachbot.app.pipeline import PatientService
from coachbot.engine import Engine, TextMessage
from tests.support.basics import Clock, library

Sessions = async_sessionmaker[AsyncSession]
ONBOARDING = ["/start", "yes", "Alex", "no", "no", "6", "4", "no", "working", "8am", "sunday", "UK"]
SAM, KIM, ADA = 900, 901, 902  # coaches' Telegram ids; Ada is an admin
NOT_VALID = "That code is not valid. Please ask an admin for a new one."
NO_COACH = "There is no other active coach with that number to hand over to."
ALEX, BEA = 42, 43            # patients' chats
PNG = b"\x89PNG\r\n\x1a\n"


@dataclass
class Desk:
    sessions: Sessions
    clock: Clock = field(default_factory=Clock)
    update_id: int = 0

    def __post_init__(self) -> None:
        self.service = PatientService(self.sessions, Engine(library()), self.clock,
                                      channel=TelegramChannel(library().service.channel))

    async def send(self, chat_id: int, text: str) -> dict[int, list[str]]:
        """One update; returns the texts it queued, per chat (an alert card's caption, "[chart]" for a
        chart)."""
        self.update_id += 1
        event = ChannelCommand("checkin") if text == "/checkin" else TextMessage(text)  # as Telegram's
        result = await self.service.handle_update(self.update_id, chat_id, event)
        out: dict[int, list[str]] = {}
        for row in result.queued:
            out.setdefault(row.chat_id, []).append(
                row.payload["caption"] if row.kind == "photo" else row.payload.get("text", f"[{row.kind}]"))
        return out

    async def said(self, chat_id: int, text: str) -> str:
        """What `chat_id` was told back, as one string."""
        return "\n".join((await self.send(chat_id, text)).get(chat_id, []))

    async def coach(self, telegram_id: int, name: str, *, admin: bool = False) -> int:
        async with self.sessions() as session, session.begin():
            coach = Coach(telegram_user_id=telegram_id, name=name, is_admin=admin, active=True,
                          created_at=self.clock())
            session.add(coach)
            await session.flush()
            return coach.id

    async def onboard(self, chat_id: int) -> Patient:
        for text in ONBOARDING:
            await self.send(chat_id, text)
        return await self.patient(chat_id)

    async def patient(self, chat_id: int) -> Patient:
        async with self.sessions() as session:
            found = (await session.execute(select(Patient).where(Patient.chat_id == chat_id))).scalar_one()
            return found

    async def escalate(self, patient: Patient, tier: str, rule: str, hours_ago: float) -> None:
        async with self.sessions() as session, session.begin():
            await store.open_escalation(session, patient.id, tier=tier, rule=rule, reason="test",
                                        evidence={"pain_now": 8},
                                        now=self.clock() - dt.timedelta(hours=hours_ago))

    async def audit(self, action: str) -> list[AuditEntry]:
        async with self.sessions() as session:
            return list((await session.execute(select(AuditEntry).where(AuditEntry.action == action)
                                                .order_by(AuditEntry.id))).scalars())

    async def count(self, model: type, **where: object) -> int:
        async with self.sessions() as session:
            query = select(func.count()).select_from(model)
            for key, value in where.items():
                query = query.where(getattr(model, key) == value)
            return int((await session.execute(query)).scalar_one())

    async def invite(self, *, admin: bool = False, hours: float = 72, name: str = "Kim") -> str:
        async with self.sessions() as session, session.begin():
            made = await create_invite(joined(session), self.clock(), name=name, is_admin=admin,
                                       expires_in=dt.timedelta(hours=hours))
            return made.code


# -- joining -------------------------------------------------------------------------------------

async def test_invite_code_registers_the_sender_once_and_only_its_hash_is_stored(
        session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    code = await desk.invite(admin=True)
    reply = await desk.said(KIM, f"/coach {code.lower().replace('-', ' ')}")
    async with session_factory() as session:
        coach = (await session.execute(select(Coach).where(Coach.telegram_user_id == KIM))).scalar_one()
        invite = (await session.execute(select(CoachInvite))).scalar_one()
    assert reply.startswith("Welcome Kim. You are now registered as a coach.")
    assert coach.name == "Kim" and coach.is_admin and coach.active
    assert invite.used_by == coach.id and invite.used_at == desk.clock()
    assert code.replace("-", "") not in invite.code_hash and len(invite.code_hash) == 64
    assert all(code not in str(e.detail) for e in await desk.audit("coach_joined"))
    assert await desk.count(Patient) == 0  # a coach is never onboarded
    again = await desk.said(BEA, f"/coach {code}")
    assert again == NOT_VALID
    assert await desk.count(Coach) == 1 and await desk.count(Patient) == 0


async def test_wrong_and_expired_codes_get_one_sentence_and_nothing_else(session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    code = await desk.invite(hours=1)
    assert await desk.said(KIM, "/coach ABCD-EFGH-JKLM") == NOT_VALID
    desk.clock.now += dt.timedelta(hours=1, seconds=1)
    assert await desk.said(KIM, f"/coach {code}") == NOT_VALID
    assert (await desk.said(KIM, "/coach")).startswith("To register as a coach, send /coach followed by")
    assert await desk.count(Coach) == 0 and await desk.count(Patient) == 0
    refused = await desk.audit("coach_code_refused")
    assert [e.detail["reason"] for e in refused] == ["unknown", "expired"]


PAUSED = ("Too many wrong codes were sent from this account, so codes are not accepted from it for the next "
          "30 minutes.")


def paused_for(wait: str) -> str:
    return PAUSED.replace("30 minutes", wait)


async def test_five_wrong_codes_pause_the_account_for_30_minutes_even_for_a_right_code_and_are_audited(
        session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    code = await desk.invite(hours=2)
    answers = [await desk.said(KIM, f"/coach ABCD-EFGH-JK{n}{n}") for n in range(2, 7)]
    assert answers == [NOT_VALID] * 4 + [PAUSED]
    desk.clock.now += dt.timedelta(minutes=29)
    assert await desk.said(KIM, f"/coach {code}") == paused_for("2 minutes")  # not even looked at
    assert await desk.said(BEA, "/coach ABCD-EFGH-JK22") == NOT_VALID  # another account is not paused
    assert await desk.count(Coach) == 0
    async with session_factory() as session:
        assert (await session.execute(select(CoachInvite))).scalar_one().used_at is None
    desk.clock.now += dt.timedelta(minutes=1, seconds=1)
    assert (await desk.said(KIM, f"/coach {code}")).startswith("Welcome Kim.")
    paused = await desk.audit("coach_code_paused")
    assert [(e.actor, e.detail) for e in paused] == [(f"chat:{KIM}", {"wrong_codes": 5, "minutes": 30})]
    refused = [e.detail["reason"] for e in await desk.audit("coach_code_refused")]
    assert refused.count("paused") == 1 and refused.count("unknown") == 6


async def test_wrong_codes_after_a_pause_pause_again_for_twice_as_long_and_say_when_to_try_again(
        session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    code = await desk.invite(hours=48)
    for n in range(2, 7):
        await desk.said(KIM, f"/coach ABCD-EFGH-JK{n}{n}")
    desk.clock.now += dt.timedelta(minutes=30)
    assert await desk.said(KIM, "/coach ABCD-EFGH-JK77") == paused_for("60 minutes")
    desk.clock.now += dt.timedelta(minutes=15)
    assert await desk.said(KIM, f"/coach {code}") == paused_for("45 minutes")
    desk.clock.now += dt.timedelta(minutes=45)
    assert await desk.said(KIM, "/coach ABCD-EFGH-JK88") == paused_for("2 hours")
    desk.clock.now += dt.timedelta(hours=2)
    assert (await desk.said(KIM, f"/coach {code}")).startswith("Welcome Kim.")
    paused = await desk.audit("coach_code_paused")
    assert [e.detail["minutes"] for e in paused] == [30, 60, 120]


async def test_wrong_codes_spread_over_more_than_15_minutes_are_not_paused(session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    for n in range(2, 9):
        assert await desk.said(KIM, f"/coach ABCD-EFGH-JK{n}{n}") == NOT_VALID
        desk.clock.now += dt.timedelta(minutes=4)  # four in any 15 minutes, never five
    assert await desk.audit("coach_code_paused") == []


async def test_a_patient_sending_a_valid_code_gets_the_patients_help_and_the_code_stays_unused(
        session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    await desk.onboard(ALEX)
    code = await desk.invite()
    reply = await desk.said(ALEX, f"/coach {code}")
    assert "Here are the words you can type" in reply
    assert await desk.count(Coach) == 0
    assert await desk.count(CoachInvite, used_at=None) == 1
    assert (await desk.said(KIM, f"/coach {code}")).startswith("Welcome Kim")


async def test_a_registered_coach_is_told_they_are_registered_already(session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    await desk.coach(SAM, "Sam")
    code = await desk.invite()
    assert await desk.said(SAM, f"/coach {code}") == "You are already registered as a coach."
    assert await desk.count(CoachInvite, used_at=None) == 1


# -- assignment ----------------------------------------------------------------------------------

async def test_a_new_patient_goes_to_the_coach_with_fewest_open_patients(
        session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    sam, kim = await desk.coach(SAM, "Sam"), await desk.coach(KIM, "Kim")
    now = desk.clock()
    async with session_factory() as session, session.begin():
        # Sam: one active and three who stopped; Kim: two active. Sam has fewer open patients.
        for i, (coach, status) in enumerate([(sam, "active")] + [(sam, "stopped")] * 3
                                            + [(kim, "active"), (kim, "paused")]):
            session.add(Patient(label=f"P-AAAA{i:02d}", chat_id=5000 + i, status=status, coach_id=coach,
                                created_at=now, updated_at=now))
    await desk.send(ALEX, "/start")
    assert (await desk.patient(ALEX)).coach_id == sam
    await desk.send(BEA, "/start")  # now 2 and 2: the older coach on a tie
    assert (await desk.patient(BEA)).coach_id == sam
    await desk.send(44, "/start")
    assert (await desk.patient(44)).coach_id == kim


# -- /queue --------------------------------------------------------------------------------------

async def test_queue_lists_own_open_escalations_oldest_urgent_first(session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    await desk.coach(SAM, "Sam")
    alex = await desk.onboard(ALEX)
    await desk.coach(KIM, "Kim")
    bea = await desk.onboard(BEA)  # Kim's: she has none yet
    assert alex.coach_id != bea.coach_id
    await desk.escalate(alex, "soon", "pain_rise", hours_ago=30)
    await desk.escalate(alex, "urgent", "crisis", hours_ago=2)
    await desk.escalate(alex, "routine", "missed_checkins", hours_ago=50)
    await desk.escalate(bea, "urgent", "crisis", hours_ago=1)
    lines = (await desk.said(SAM, "/queue")).splitlines()
    assert lines[0] == "Open escalations: 3, oldest urgent first"
    assert lines[1:] == [f"{alex.label} · URGENT (act today) · crisis · open · 2 h ago",
                         f"{alex.label} · Soon (next working day) · pain_rise · open · 30 h ago",
                         f"{alex.label} · Routine · missed_checkins · open · 2 days ago"]
    assert bea.label not in "\n".join(lines)
    assert (await desk.audit("coach_queue_viewed"))[-1].actor.startswith("coach:")
    assert (await desk.said(SAM, "/queue please")).startswith("Send /queue on its own")


async def test_admin_queue_shows_every_patient_and_an_empty_queue_says_so(
        session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    await desk.coach(SAM, "Sam")
    await desk.coach(ADA, "Ada", admin=True)
    assert await desk.said(SAM, "/queue") == "There are no open escalations for your patients."
    alex = await desk.onboard(ALEX)
    await desk.escalate(alex, "soon", "pain_rise", hours_ago=0.5)
    admin_view = await desk.said(ADA, "/queue")
    assert f"{alex.label} · Soon (next working day) · pain_rise · open · 30 min ago" in admin_view


# -- /patient and /note --------------------------------------------------------------------------

async def test_patient_summary_shows_status_scores_escalations_notes_and_a_chart(
        session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    await desk.coach(SAM, "Sam")
    alex = await desk.onboard(ALEX)
    async with session_factory() as session, session.begin():
        for day, (pain, mood) in enumerate([(5, 6), (6, 5), (7, 4)]):
            at = desk.clock() - dt.timedelta(days=3 - day)
            for code, value in (("pain_now", pain), ("mood_now", mood)):
                session.add(Measurement(patient_id=alex.id, code=code, value_num=value, recorded_at=at,
                                        script="daily_checkin", state="q"))
    await desk.escalate(alex, "soon", "pain_rise", hours_ago=3)
    saved = await desk.said(SAM, f"/note {alex.label} called her, plans to walk daily")
    assert saved == f"Note saved for {alex.label}."
    sent = await desk.send(SAM, f"/patient {alex.label.lower()}")
    text, chart = "\n".join(t for t in sent[SAM] if t != "[chart]"), sent[SAM][-1]
    assert text.startswith(f"Patient {alex.label}\nStatus: active. Days in care: 0. Coach: Sam (1).")
    assert "pain_now 7 (01 Mar)" in text and "mood_now 4 (01 Mar)" in text and "pain_usual 6" in text
    assert f"{alex.label} · Soon (next working day) · pain_rise · open · 3 h ago" in text
    assert "Sam (1): called her, plans to walk daily" in text
    assert "Alex" not in text  # the label, never the name
    assert chart == "[chart]"
    async with session_factory() as session:
        row = (await session.execute(select(OutboxMessage).where(OutboxMessage.kind == "chart"))).scalar_one()
    assert row.chat_id == SAM and len(row.payload["days"]) == 14
    assert row.payload["pain"][-4:] == [5, 6, 7, None]
    assert row.payload["checked_in"][-4:] == [True, True, True, False]
    assert render_chart_row(row.payload).startswith(PNG)
    viewed = await desk.audit("coach_patient_viewed")
    assert viewed[-1].subject == alex.label and viewed[-1].detail == {"chart": True}
    noted = await desk.audit("coach_note_added")
    assert "walk" not in str(noted[-1].detail) and noted[-1].detail["length"] == 31
    assert await desk.count(CoachNote) == 1


async def test_bad_coach_commands_get_one_sentence_of_usage(session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    await desk.coach(SAM, "Sam")
    alex = await desk.onboard(ALEX)
    assert (await desk.said(SAM, "/patient")).startswith("Send /patient followed by a patient's label")
    assert (await desk.said(SAM, f"/patient {alex.label} extra")).startswith("Send /patient followed by")
    assert (await desk.said(SAM, f"/note {alex.label}")).startswith("Send /note followed by")
    assert (await desk.said(SAM, "/message")).startswith("Send /message followed by")
    assert (await desk.said(SAM, f"/message {alex.label}")).startswith("Send /message followed by")
    assert (await desk.said(SAM, "/handover")).startswith("Send /handover followed by")
    assert (await desk.said(SAM, "/handover P-ZZZZZZ two")).startswith("Send /handover followed by")
    assert (await desk.said(SAM, "/close")).startswith("Send /close followed by")
    assert await desk.said(SAM, "/patient P-ZZZZZZ") == (
        "None of your patients has the label P-ZZZZZZ. Check the label, or send /queue.")
    assert await desk.said(SAM, "/note nonsense hello") == (
        "None of your patients has the label nonsense. Check the label, or send /queue.")
    assert (await desk.said(SAM, "/quue")).startswith("I do not know that command")
    assert await desk.count(CoachNote) == 0


async def test_a_coach_of_another_patient_gets_nothing_and_an_admin_sees_all(
        session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    await desk.coach(SAM, "Sam")
    alex = await desk.onboard(ALEX)
    await desk.coach(KIM, "Kim")
    await desk.coach(ADA, "Ada", admin=True)
    await desk.escalate(alex, "urgent", "crisis", hours_ago=1)
    refusal = f"None of your patients has the label {alex.label}. Check the label, or send /queue."
    for command in (f"/patient {alex.label}", f"/note {alex.label} x", f"/message {alex.label} hi",
                    f"/close {alex.label}", f"/handover {alex.label} 2"):
        sent = await desk.send(KIM, command)
        assert sent == {KIM: [refusal]}, command
    assert await desk.said(KIM, "/queue") == "There are no open escalations for your patients."
    refused = await desk.audit("coach_access_refused")
    assert len(refused) == 5 and {e.actor for e in refused} == {"coach:2"}
    assert all(e.subject == alex.label and e.detail["exists"] for e in refused)
    assert (await desk.patient(ALEX)).coach_id == 1 and await desk.count(CoachNote) == 0
    admin = await desk.said(ADA, f"/patient {alex.label}")
    assert admin.startswith(f"Patient {alex.label}") and "crisis" in admin


async def test_someone_who_is_not_a_coach_gets_no_patient_data(session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    await desk.coach(SAM, "Sam")
    alex = await desk.onboard(ALEX)
    await desk.escalate(alex, "urgent", "crisis", hours_ago=1)
    for command in ("/queue", f"/patient {alex.label}", f"/note {alex.label} x", f"/message {alex.label} hi",
                    f"/handover {alex.label}", f"/close {alex.label}"):
        for chat in (BEA, ALEX):  # a stranger, and a patient
            sent = await desk.send(chat, command)
            assert list(sent) == [chat], command
            reply = "\n".join(sent[chat])
            assert alex.label not in reply and "crisis" not in reply, command
    assert await desk.count(CoachNote) == 0 and await desk.count(CoachRelay) == 0


# -- /message, the conversation, /close ----------------------------------------------------------

async def test_message_reaches_the_patient_and_their_replies_reach_the_coach_until_close(
        session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    await desk.coach(SAM, "Sam")
    alex = await desk.onboard(ALEX)
    sent = await desk.send(SAM, f"/message {alex.label} How did the walk go?")
    assert sent[ALEX] == ["A message from your coach:\n\nHow did the walk go?\n\n"
                          "You can reply here, and your coach will read it."]
    assert sent[SAM][0].startswith(f"Sent to {alex.label}.")
    measures = await desk.count(Measurement)
    reply = await desk.send(ALEX, "It went well, 7 minutes")
    assert reply == {ALEX: ["I have passed your message to your coach."],
                     SAM: [f"{alex.label} wrote:\nIt went well, 7 minutes"]}
    assert await desk.count(Measurement) == measures  # a message to the coach is not an answer
    assert "7 minutes" not in str([e.detail for e in await desk.audit("relay_to_coach")])
    closed = await desk.send(SAM, f"/close {alex.label}")
    assert closed[ALEX][0].startswith("Your coach has finished this conversation for now.")
    assert closed[SAM] == [f"The conversation with {alex.label} is closed. Their check-ins carry on as usual."
                           ]
    after = await desk.send(ALEX, "thanks")
    assert list(after) == [ALEX] and await desk.count(CoachRelay) == 0
    assert await desk.said(SAM, f"/close {alex.label}") == f"There is no open conversation with {alex.label}."
    actions = [e.action for e in await desk.audit("coach_message_sent")] + \
        [e.action for e in await desk.audit("relay_closed")]
    assert actions == ["coach_message_sent", "relay_closed"]


async def test_crisis_words_during_the_conversation_run_the_crisis_flow_and_still_reach_the_coach(
        session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    await desk.coach(SAM, "Sam")
    alex = await desk.onboard(ALEX)
    await desk.send(SAM, f"/message {alex.label} How are you?")
    sent = await desk.send(ALEX, "honestly I want to die")
    assert "Samaritans" in sent[ALEX][0]  # resources first
    assert sent[SAM][0].startswith(f"URGENT (act today) alert for patient {alex.label}")
    assert sent[SAM][-1] == f"{alex.label} wrote:\nhonestly I want to die"
    assert await desk.count(Escalation, rule="crisis") == 1
    # The crisis questions still get their answers while the conversation is open, and the coach sees them.
    sent = await desk.send(ALEX, "yes")
    assert "Have you made a plan to end your life?" in sent[ALEX][0]
    assert sent[SAM] == [f"{alex.label} wrote:\nyes"]
    assert await desk.count(Measurement, code="crisis_thoughts") == 1


async def test_engine_words_still_work_during_the_conversation_and_a_coachs_plain_words_are_explained(
        session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    await desk.coach(SAM, "Sam")
    alex = await desk.onboard(ALEX)
    await desk.send(SAM, f"/message {alex.label} Hello")
    assert await desk.said(SAM, "how are you doing?") == (
        "That was not sent to anyone. To write to a patient, send /message with their label and your words. "
        f"Your open conversations: {alex.label}.")
    help_reply = await desk.send(ALEX, "help")
    assert list(help_reply) == [ALEX] and "Here are the words" in help_reply[ALEX][0]
    closed = await desk.send(SAM, "/close")
    assert closed[SAM][-1].startswith(f"The conversation with {alex.label} is closed.")
    assert (await desk.said(SAM, "how are you doing?")).startswith("I do not know that command")


async def test_the_conversation_survives_a_restart_and_ends_after_a_day_idle(
        session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    await desk.coach(SAM, "Sam")
    alex = await desk.onboard(ALEX)
    await desk.send(SAM, f"/message {alex.label} Hello")
    restarted = Desk(session_factory, clock=desk.clock, update_id=desk.update_id)
    assert SAM in await restarted.send(ALEX, "hi there")
    restarted.clock.now += dt.timedelta(hours=24, seconds=1)
    later = await restarted.send(ALEX, "hello again")
    assert list(later) == [ALEX] and await restarted.count(CoachRelay) == 0
    assert len(await restarted.audit("relay_expired")) == 1


async def test_a_stopped_patient_is_not_messaged(session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    await desk.coach(SAM, "Sam")
    alex = await desk.onboard(ALEX)
    await desk.send(ALEX, "stop")
    sent = await desk.send(SAM, f"/message {alex.label} Hello")
    assert sent == {SAM: [f"{alex.label} has stopped all messages, so nothing was sent."]}
    assert await desk.count(CoachRelay) == 0


# -- /handover -----------------------------------------------------------------------------------

async def test_handover_of_one_patient_tells_the_new_coach_and_is_audited(
        session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    await desk.coach(SAM, "Sam")
    alex = await desk.onboard(ALEX)
    kim = await desk.coach(KIM, "Kim")
    await desk.send(SAM, f"/message {alex.label} Hello")
    sent = await desk.send(SAM, f"/handover {alex.label} {kim}")
    assert sent[SAM] == [f"Handed over to Kim ({kim}): {alex.label}."]
    assert sent[ALEX][0].startswith("Your coach has finished this conversation")  # it ends with the handover
    assert await desk.count(CoachRelay) == 0
    assert sent[KIM][0].startswith(f"Sam (1) handed these patients over to you: {alex.label}.")
    assert (await desk.patient(ALEX)).coach_id == kim
    entry = (await desk.audit("patient_handed_over"))[-1]
    assert (entry.actor, entry.subject, entry.detail) == ("coach:1", alex.label, {"from": 1, "to": kim})
    assert (await desk.said(SAM, f"/patient {alex.label}")).startswith("None of your patients")
    assert (await desk.said(KIM, f"/patient {alex.label}")).startswith(f"Patient {alex.label}")


async def test_handover_all_goes_to_the_least_busy_other_coach_and_refuses_a_bad_coach(
        session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    await desk.coach(SAM, "Sam")
    await desk.onboard(ALEX)
    await desk.onboard(BEA)
    assert await desk.said(SAM, "/handover all") == NO_COACH
    assert await desk.said(SAM, "/handover all 1") == NO_COACH
    assert await desk.said(SAM, "/handover all 77") == NO_COACH
    kim = await desk.coach(KIM, "Kim")
    sent = await desk.send(SAM, "/handover all")
    assert sent[SAM][0].startswith(f"Handed over to Kim ({kim}): ")
    assert {(await desk.patient(ALEX)).coach_id, (await desk.patient(BEA)).coach_id} == {kim}
    assert len(await desk.audit("patient_handed_over")) == 2
    assert await desk.said(SAM, "/handover all") == "You have no patients to hand over."


async def test_typed_words_mid_check_in_go_to_the_coach_and_the_question_waits_until_close(
        session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    await desk.coach(SAM, "Sam")
    alex = await desk.onboard(ALEX)
    assert "How bad is your back pain right now" in await desk.said(ALEX, "/checkin")
    await desk.send(SAM, f"/message {alex.label} Before you answer: how was the night?")
    sent = await desk.send(ALEX, "7")  # would be an answer on the fast path; the coach gets it instead
    assert sent[SAM] == [f"{alex.label} wrote:\n7"]
    assert await desk.count(Measurement, code="pain_now") == 0
    await desk.send(SAM, f"/close {alex.label}")
    assert "how is your mood right now" in await desk.said(ALEX, "7")
    assert await desk.count(Measurement, code="pain_now") == 1
