"""Use cases: apply one event for one patient in one transaction.

The engine decides; this module loads what it needs, applies its effects to the database, and
returns what the channel must deliver. Answers, position, escalations and the audit trail are written
in the same transaction, so nothing is half-applied after a crash.

`handle_update` is the chat channel's entry point: the same, plus the update id (so a redelivered
update changes nothing) and the outbox rows for every reply and coach alert, all in one transaction.
The channel (`Channel`, implemented by adapters/telegram) only formats; this module never imports it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.db import schedule_store, store
from coachbot.adapters.db.models import Coach, Patient, ProcessedUpdate, table_of
from coachbot.adapters.db.unit_of_work import SqlUnitOfWorks, session_of
from coachbot.app import outbox
from coachbot.app.channel import (
    STALE_STATE,
    Channel,
    ChannelCommand,
    EditedText,
    EscalationNotice,
    EscalationPress,
    Inbound,
    Notice,
    Outgoing,
    Press,
    QueuedMessage,
    ReachabilityChange,
    UpdateResult,
    question_token,
)
from coachbot.app.coaches.coaching import (
    coach_turn,
    pick_coach,
    queued_alerts,
)
from coachbot.app.coaches.code_attempts import CodeAttempts
from coachbot.app.coaches.desk import CoachDesk, is_join
from coachbot.app.coaches.notes import notes_after_cards
from coachbot.app.coaches.relay import relay_from_patient
from coachbot.app.data_rights.consent import record_consent
from coachbot.app.data_rights.export import export_patient
from coachbot.app.data_rights.requests import DataRightsDesk
from coachbot.app.escalations import coach_actions
from coachbot.app.escalations.alerts import AlertSettings, alert_rows
from coachbot.app.escalations.raising import (
    answer_readings,
    evaluate_patient,
    notice_of,
    open_or_update,
    tell_patient,
    urgent_open,
    watches,
)
from coachbot.app.self_management.overrides import coach_step_command
from coachbot.app.self_management.service import Photo, SelfManagement, is_own_command, outgoing_for
from coachbot.app.self_management.suggestions import record_feedback, suggest_step
from coachbot.app.unit_of_work import CoachRecord, PatientRecord, UnitOfWork, UnitOfWorkFactory
from coachbot.engine import (
    ButtonPress,
    ChangeStatus,
    DialogEnded,
    Effect,
    Engine,
    Escalate,
    Event,
    PatientContext,
    Position,
    RecordMeasure,
    Reply,
    SafetyTriggered,
    StartDialog,
    SuggestStep,
    TextMessage,
    UpdateProfile,
)
from coachbot.engine.commands import parse_command
from coachbot.engine.events import Status
from coachbot.engine.runner import URGENT_OPEN
from coachbot.spec.model import weekday_index
from coachbot.spec.steps import StepLibrary

log = logging.getLogger("coachbot.app.pipeline")

LOST_CONNECTION_RETRIES = 2
"""How often an update runs again after the database dropped its connection; the pool is renewed
after the first such loss, so one retry is normally enough."""
STEP_FEEDBACK_MEASURE = "step_feedback"
"""The daily check-in's answer about the last suggested step, which the step learning reads."""

Clock = Callable[[], dt.datetime]


def system_clock() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(slots=True)
class Delivery:
    """The result of one event: replies for the patient, notices for the coaches."""

    patient_label: str
    chat_id: int | None
    replies: list[Reply] = field(default_factory=list)
    escalations: list[EscalationNotice] = field(default_factory=list)
    suggest_step: bool = False
    position: Position | None = None
    patient_id: int | None = None
    photos: list[Photo] = field(default_factory=list)


class PatientService:
    """Applies events to patients; one instance is shared by the whole process."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], engine: Engine,
                 clock: Clock = system_clock, channel: Channel | None = None,
                 steps: StepLibrary | None = None, *, care: SelfManagement | None = None,
                 uows: UnitOfWorkFactory | None = None) -> None:
        self.sessions = sessions  # for the modules still on sessions (KNOWN_DEBT); the rest use `uows`
        self.uows: UnitOfWorkFactory = uows if uows is not None else SqlUnitOfWorks(sessions)
        self.care = care  # flare-ups, the weekly summary, /steps, /flareplan, coach pins
        self.steps = care.steps if care is not None else steps
        self.engine = engine
        self.clock = clock
        self.channel = channel
        self.alerts = AlertSettings()  # the Telegram bot sets these from COACHBOT_ALERT_SHOW_NAME etc.
        self.rights = DataRightsDesk(self)  # /forget, withdrawing consent (words: dialogs/forget.yaml)
        self.code_attempts = CodeAttempts()  # wrong /coach codes per account (in memory, per process)

    async def handle(self, chat_id: int, event: Event) -> Delivery:
        """`_dispatch`, the very road of `handle_update`, for tests and benches that read the engine's
        replies rather than messages: no update id, no outbox rows, one transaction."""
        turn = _RecordedTurn(self)
        async with self.uows() as uow:
            result = await turn._dispatch(uow, chat_id, event, self.clock())
            await uow.commit()
        return turn.delivery(chat_id, result)

    async def _evaluate(self, uow: UnitOfWork, delivery: Delivery, *, patient_id: int, label: str,
                        timezone: str, codes: list[str], now: dt.datetime) -> None:
        """The escalation rules, in this transaction, when the answer recorded a measure they read."""
        rules = self.engine.library.escalation
        if rules is not None and watches(rules, codes):
            notices = await evaluate_patient(uow, patient_id, label, timezone, rules=rules,
                                             now=now, answering=True)
            delivery.escalations += notices
            tell_patient(delivery.replies, notices, rules)

    async def apply(self, uow: UnitOfWork, record: PatientRecord, event: Event,
                    now: dt.datetime) -> Delivery:
        """Run one event for a loaded patient inside the caller's unit of work."""
        session = session_of(uow)  # until the modules below take the unit of work (KNOWN_DEBT)
        patient = cast(Patient, record)  # the row the session loaded, as those modules need it
        position = await uow.conversations.position(patient.id)
        row_before = _row_values(patient)
        context = await self._context(session, patient, now)
        if (position is None and isinstance(event, TextMessage) and patient.onboarded_at is not None
                and await urgent_open(uow, patient.id)):  # words outside a dialog only: no cost elsewhere
            context = replace(context, facts={**context.facts, URGENT_OPEN: 1.0})
        if self.care is not None:
            context = await self.care.with_facts(uow, patient, event, context, now, position=position)
        outcome = self.engine.handle(context, position, event, now)
        delivery = Delivery(patient_label=patient.label, chat_id=patient.chat_id,
                            position=outcome.position)
        schedule_basis = schedule_store.schedule_basis(patient)
        for effect in outcome.effects:
            await self._apply_effect(uow, session, patient, effect, now, delivery)
        await self._evaluate(uow, delivery, patient_id=patient.id, label=patient.label,
                             timezone=patient.timezone, now=now,
                             codes=[e.code for e in outcome.effects if isinstance(e, RecordMeasure)])
        answer_readings(delivery.replies, self.engine.library.escalation,
                        [(e.code, e.value) for e in outcome.effects if isinstance(e, RecordMeasure)])
        if self.care is not None:
            extras = await self.care.after_event(uow, patient, event, outcome, now)
            extras.merge_into(delivery.replies)  # the check-in's closing line stays last
            delivery.photos += extras.photos
        await uow.conversations.save(patient.id, outcome.position, now)
        if _row_values(patient) != row_before:  # its position is the conversation's row, not this one
            patient.updated_at = now
        if schedule_store.schedule_basis(patient) != schedule_basis:
            # Time, timezone, review day, pause, stop or onboarding changed: the next check-in moves,
            # and a queued one is cancelled, in this same transaction (coachbot/adapters/scheduler.py).
            service = self.engine.library.service
            await schedule_store.patient_changed(session, patient, now,
                                                 {"daily": service.daily, "weekly": service.weekly})
        return delivery

    # -- the chat channel's entry point ------------------------------------------------------------
    async def handle_update(self, update_id: int, chat_id: int, event: Inbound) -> UpdateResult:
        """Apply one channel update at most once (`_handle_update_once`), again on a fresh connection
        when the database dropped the one it had: the engine checks no connection before using it
        (`database.make_engine`), and nothing of a failed transaction was committed."""
        for attempt in range(1, LOST_CONNECTION_RETRIES + 1):
            try:
                return await self._handle_update_once(update_id, chat_id, event)
            except DBAPIError as error:
                if not error.connection_invalidated:
                    raise
                log.warning("update %s: the database connection was lost (attempt %d); trying again",
                            update_id, attempt)
        return await self._handle_update_once(update_id, chat_id, event)

    async def _handle_update_once(self, update_id: int, chat_id: int, event: Inbound) -> UpdateResult:
        """Apply one channel update at most once: its effects, its outbox rows and its id commit together.

        A redelivered update (an id already recorded) changes nothing and sends nothing: its id is
        inserted last, and the primary key refuses it, which rolls everything back. Redeliveries are
        rare, so not paying a lookup on every update is the better trade.
        """
        if self.channel is None:
            raise RuntimeError("handle_update needs a Channel to format messages")
        now = self.clock()
        try:
            async with self.uows() as uow:
                result = await self._dispatch(uow, chat_id, event, now)
                result.queued = await outbox.queue(uow, result.outgoing, chat_id=chat_id, now=now,
                                                   patient_id=result.patient_id, label=result.label)
                await session_of(uow).execute(store.INSERT_UPDATE_ID,
                                      {"update_id": update_id, "processed_at": now})
                await uow.commit()
        except IntegrityError:
            if await self._already_processed(update_id):
                log.warning("update %s was already applied (a redelivery, or an id that clashes with a "
                            "stored one): dropped", update_id)
                return UpdateResult(duplicate=True)
            raise
        return result

    async def queue_alerts(self) -> list[QueuedMessage]:
        """Write an alert row for every open escalation that has none yet (no coach was registered when
        it was raised); returns the rows, for the sender. Called at start and when a coach says /start."""
        assert self.channel is not None
        now = self.clock()
        async with self.uows() as uow:
            outgoing = await queued_alerts(uow, self.channel)
            queued = await outbox.queue(uow, outgoing, chat_id=0, now=now)
            await uow.commit()
        return queued

    async def _already_processed(self, update_id: int) -> bool:
        async with self.sessions() as session:
            return await session.get(ProcessedUpdate, update_id) is not None

    async def _dispatch(self, uow: UnitOfWork, chat_id: int, event: Inbound,
                        now: dt.datetime) -> UpdateResult:
        session = session_of(uow)  # until the modules it calls take the unit of work (KNOWN_DEBT)
        assert self.channel is not None
        if isinstance(event, Notice):
            return UpdateResult(outgoing=list(event.rows))
        if isinstance(event, EscalationPress):  # a coach's Acknowledge / Resolve / Message patient
            return await coach_actions.press(uow, event, self.channel,  # type: ignore[arg-type]
                                             self.engine.library.escalation, now)
        # One query for the patient and their conversation (which `apply` then finds in the session);
        # only a chat that is no patient's can be a coach's, so coaches cost nothing on the hot path.
        found, conversation = await uow.patients.with_conversation(chat_id, now)
        patient = cast(Patient | None, found)  # the row, as the modules still on sessions take it
        coach = None
        if patient is None:  # the active coach whose private chat this is, if any
            coach = cast(Coach | None, await uow.coaches.for_chat(chat_id, active=True))
        if coach is not None or (patient is None and is_join(event)):  # coach tools, or /coach CODE
            desk = CoachDesk(uow, self, self.channel, now)
            tools = await desk.handle(coach, event) if coach else await desk.join(chat_id, event)
            if tools is not None:
                return tools
        if coach is not None:
            return await self._coach_turn(uow, coach, event, now)
        if isinstance(event, ReachabilityChange):
            # Rows still queued for a blocked chat fail on their first 403, which drops the rest.
            if patient is not None:
                patient.unreachable = event.blocked
            return UpdateResult(label=patient.label if patient else None)
        if isinstance(event, EditedText):
            # Edits are not answers, but words of crisis are heard wherever they are written.
            if self.engine.library.triggers.detect(event.text) is None:
                return UpdateResult(outgoing=list(event.notice), label=patient.label if patient else None)
            event = TextMessage(event.text)
        if patient is None:
            # A coach who was removed is told so, not signed up as a patient by mistake.
            if (removed := await uow.coaches.for_chat(chat_id, active=False)) is not None:
                said = self.engine.library.service.channel.coach_tools.access_removed
                return UpdateResult(outgoing=self.channel.replies([Reply(said)], None),
                                    label=f"coach:{removed.id}")
            patient = await self._new_patient(uow, chat_id, now)
        if patient.unreachable:  # writing to us means they can hear us again
            patient.unreachable = False  # (set only when it changes: setting it dirties the session,
            patient.updated_at = now  # and every statement after that pays a flush of nothing)
        relayed = await relay_from_patient(uow, patient, event, channel=self.channel, now=now,
                                           words=self.engine.library.service.channel.coach_tools)
        if relayed is not None:  # a coach's conversation is open: to the coach, after any safety flow
            safety = self.engine.library.service.preempt.values()
            in_safety_dialog = conversation is not None and conversation.script in safety
            if not in_safety_dialog and self.engine.library.triggers.detect(relayed.text) is None:
                return UpdateResult(outgoing=relayed.to_patient + relayed.to_coach, label=patient.label,
                                    patient_id=patient.id)
            result = await self.patient_turn(uow, patient, TextMessage(relayed.text), now)
            result.outgoing += relayed.to_coach
            return result
        typed = typed_text(event)
        if typed and self.engine.library.triggers.detect(typed) is not None:
            # Words of risk come first wherever they were typed: after a command word (/help, /checkin,
            # /steps ...), in a caption or an edit. The engine pre-empts any dialog with the safety flow.
            return await self.patient_turn(uow, patient, TextMessage(typed), now)
        if (rights := await self.rights.handle(session, patient, event, now)) is not None:
            return rights  # /forget, withdrawing consent, the offer after /stop (app/data_rights)
        if self.care is not None and isinstance(event, TextMessage | Press):
            event, replies = await self.care.patient_event(uow, patient, event, now)
            if replies is not None:
                return UpdateResult(outgoing=outgoing_for(self.channel, replies, None), label=patient.label,
                                    patient_id=patient.id,
                                    accepted_press=True if isinstance(event, Press) else None)
        if isinstance(event, ChannelCommand):
            if event.name == "mydata":
                export = await export_patient(session, patient)
                return UpdateResult(outgoing=self.channel.my_data(export), label=patient.label)
            service = self.engine.library.service
            event = StartDialog(service.settings if event.name == "settings" else service.daily)
        elif _unknown_command(event):  # never taken as an answer: said kindly, then what they can type;
            # /steps and /flareplan while onboarding are known, but wait: its question again instead
            result = await self.patient_turn(uow, patient, TextMessage(
                "/start" if _waits_for_onboarding(patient, event) else "/help"), now)
            result.outgoing[:0] = self.channel.replies([] if _waits_for_onboarding(patient, event) else [
                Reply(self.engine.library.service.messages.unknown_command)], None)
            return result
        return await self.patient_turn(uow, patient, event, now)

    async def _coach_turn(self, uow: UnitOfWork, coach: CoachRecord, event: Inbound,
                          now: dt.datetime) -> UpdateResult:
        """A registered coach's message that the coach tools did not take: a pin or block of a step,
        /resolve, /rebase, a note a Resolve press asked for; else a greeting, help or a pointer."""
        assert self.channel is not None
        if self.care is not None and isinstance(event, TextMessage) and (
                said := await coach_step_command(uow, coach, event.text, steps=self.care.steps,
                                                 words=self.care.texts.coach, now=now)) is not None:
            return UpdateResult(outgoing=self.channel.replies([Reply(said)], None),
                                label=f"coach:{coach.id}")
        handled = await coach_actions.command(
            uow, coach, event, self.channel, self.engine.library.escalation, now)  # type: ignore[arg-type]
        if handled is not None:  # /resolve, /rebase, or the note a Resolve press asked for
            return UpdateResult(outgoing=handled, label=f"coach:{coach.id}")
        outgoing, started = coach_turn(coach, event, self.channel)
        if started:
            outgoing += await queued_alerts(uow, self.channel)
        return UpdateResult(outgoing=outgoing, label=f"coach:{coach.id}", coach_started=started)

    async def patient_turn(self, uow: UnitOfWork, patient: Patient, event: Event | Press,
                           now: dt.datetime) -> UpdateResult:
        """One patient event through the engine inside the caller's transaction, with its replies and
        coach cards formatted for the channel (the data-rights desk uses it for words of risk too)."""
        assert self.channel is not None
        session = session_of(uow)
        first: list[Outgoing] = []
        accepted: bool | None = None
        if isinstance(event, Press):
            event, first, accepted = await self._resolve_press(session, patient, event)
        event = _onboarding_first(patient, event)
        delivery = await self.apply(uow, patient, event, now)
        if not delivery.replies and isinstance(event, StartDialog):
            # The engine declined (a safety dialog runs, or messages are stopped): say where things are.
            delivery = await self.apply(uow, patient, TextMessage("/help"), now)
        position = delivery.position
        token = question_token(position.script, position.state) if position else None
        outgoing = first + outgoing_for(self.channel, delivery.replies, token, delivery.photos)
        cards = await alert_rows(uow, patient, delivery.escalations, self.channel, self.alerts)
        outgoing += cards + await notes_after_cards(  # what the patient wrote for the coach goes with it
            uow, patient, cards, words=self.engine.library.service.channel.coach_tools,
            channel=self.channel, now=now)
        return UpdateResult(outgoing=outgoing, label=patient.label, patient_id=patient.id,
                            accepted_press=accepted)

    async def _resolve_press(self, session: AsyncSession, patient: Patient,
                             press: Press) -> tuple[ButtonPress, list[Outgoing], bool]:
        """A press counts only for the question the patient is on now; any other is stale."""
        if press.forged:
            log.warning("%s pressed a button whose callback data the bot never sent to this chat",
                        patient.label)
            return ButtonPress(state=STALE_STATE, value=""), [], False
        position = await store.load_position(session, patient.id)
        if position is None or question_token(position.script, position.state) != press.token:
            return ButtonPress(state=STALE_STATE, value=press.value), list(press.on_stale), False
        value = press.value
        if press.index is not None:  # an option whose value was too long for callback_data
            script = self.engine.library.script(position.script, position.version)
            question = script.states[position.state].ask if script else None
            options = question.options if question else ()
            if not 0 <= press.index < len(options):
                return ButtonPress(state=STALE_STATE, value=""), list(press.on_stale), False
            value = str(options[press.index].value)
        return ButtonPress(state=position.state, value=value), list(press.on_current), True

    async def _new_patient(self, uow: UnitOfWork, chat_id: int, now: dt.datetime) -> Patient:
        """A new patient, given at once to the active coach with the fewest patients (if any)."""
        patient = await store.create_patient(session_of(uow), chat_id, now)
        coach = await pick_coach(uow)
        if coach is None:
            log.warning("no coach registered: alerts will queue")
        else:
            patient.coach_id = coach.id
        return patient

    async def _context(self, session: AsyncSession, patient: Patient, now: dt.datetime) -> PatientContext:
        open_step = False
        if patient.onboarded_at is not None:
            open_step = await store.has_open_step(session, patient.id,
                                                  now - dt.timedelta(days=store.OPEN_STEP_DAYS))
        facts = _facts(patient.onboarded_at, patient.timezone, open_step, now)
        status: Status = patient.status  # type: ignore[assignment]
        return PatientContext(status=status, name=patient.name, facts=facts)

    async def _apply_effect(self, uow: UnitOfWork, session: AsyncSession,  # noqa: PLR0917
                            patient: Patient, effect: Effect, now: dt.datetime, delivery: Delivery) -> None:
        if isinstance(effect, Reply):
            delivery.replies.append(effect)
        elif isinstance(effect, RecordMeasure):
            uow.measures.record(patient.id, effect.code, effect.value, script=effect.script,
                                state=effect.state, now=now)
            if effect.code == STEP_FEEDBACK_MEASURE:
                await record_feedback(uow, patient.id, effect.value, now)
        elif isinstance(effect, UpdateProfile):
            _update_profile(patient, effect, now)
            if effect.field == "consent":  # which text was agreed to (app/data_rights/consent.py)
                record_consent(patient, effect.value, delivery.position)
        elif isinstance(effect, ChangeStatus):
            patient.status = effect.status
            patient.paused_until = effect.until
            uow.audit.record(actor=patient.label, action=f"status_{effect.status}",
                             subject=patient.label, detail={}, now=now)
        elif isinstance(effect, Escalate):
            raised = await open_or_update(
                uow, patient.id, patient.label, patient.timezone, tier=effect.tier,
                rule=effect.rule, reason=effect.reason, evidence=dict(effect.evidence), now=now,
                rules=self.engine.library.escalation, severity=effect.severity, stated=True)
            delivery.escalations.append(notice_of(raised.row, patient.label, raised.is_new, raised.worse))
        elif isinstance(effect, SafetyTriggered):
            uow.audit.record(actor="system", action="safety_trigger", subject=patient.label,
                             detail={"kind": effect.kind, "rule": effect.rule}, now=now)
            log.warning("safety trigger %s (%s) for %s", effect.kind, effect.rule, patient.label)
        elif isinstance(effect, SuggestStep):
            delivery.suggest_step = True
            if self.care is not None:
                delivery.replies += await self.care.suggest(uow, patient, now)
            elif self.steps is not None and (
                    offered := await suggest_step(uow, patient, self.steps, now)) is not None:
                delivery.replies.append(Reply(text=f"{offered.step.title}\n\n{offered.step.text.strip()}"))
        elif isinstance(effect, DialogEnded):
            self._dialog_ended(patient, effect, now)

    def _dialog_ended(self, patient: Patient, effect: DialogEnded, now: dt.datetime) -> None:
        """Finishing onboarding with consent given makes a patient active."""
        entry = self.engine.library.service.entry
        if (effect.script == entry and effect.completed and patient.consent_at is not None
                and patient.onboarded_at is None):
            patient.onboarded_at = now
            if patient.status == "new":
                patient.status = "active"


class _ReplyChannel:
    """A `Channel` whose messages carry the engine's replies as they are (for `handle`)."""

    def replies(self, replies: Sequence[Reply], token: str | None) -> list[Outgoing]:
        return [Outgoing(kind=_REPLIES, payload={_REPLIES: list(replies)})] if replies else []

    def coach_alert(self, notice: EscalationNotice, chat_id: int) -> Outgoing:
        return Outgoing(kind="alert", payload={}, chat_id=chat_id, escalation_id=notice.escalation_id)

    def text(self, text: str, chat_id: int | None = None) -> list[Outgoing]:
        return [Outgoing(kind=_REPLIES, payload={_REPLIES: [Reply(text)]}, chat_id=chat_id)]

    def coach_message(self, kind: Literal["greeting", "help", "unknown"], name: str) -> Outgoing:
        return Outgoing(kind="coach", payload={"kind": kind})

    def my_data(self, export: dict[str, Any]) -> list[Outgoing]:
        return [Outgoing(kind="document", payload={"export": export})]


_REPLIES = "replies"


class _RecordedTurn(PatientService):
    """One `handle` call's view of a service: the same state and road, with the engine's replies kept
    as they are and every `apply`'s delivery (escalations, photos, position) recorded."""

    def __init__(self, service: PatientService) -> None:
        self.__dict__.update(vars(service))
        self.channel = _ReplyChannel()
        self.applied: list[Delivery] = []

    async def apply(self, uow: UnitOfWork, record: PatientRecord, event: Event,
                    now: dt.datetime) -> Delivery:
        delivery = await super().apply(uow, record, event, now)
        self.applied.append(delivery)
        return delivery

    def delivery(self, chat_id: int, result: UpdateResult) -> Delivery:
        applied = self.applied
        return Delivery(
            patient_label=result.label or "", chat_id=chat_id, patient_id=result.patient_id,
            replies=[reply for item in result.outgoing if item.kind == _REPLIES and item.chat_id is None
                     for reply in item.payload[_REPLIES]],
            escalations=[notice for d in applied for notice in d.escalations],
            photos=[photo for d in applied for photo in d.photos],
            suggest_step=any(d.suggest_step for d in applied),
            position=applied[-1].position if applied else None)


_ROW_COLUMNS = tuple(c.key for c in table_of(Patient).columns if c.key != "updated_at")


def _row_values(patient: Patient) -> tuple[object, ...]:
    """The patient's own columns but `updated_at`, which is moved only when one of these changed (a
    flush in between forgets the ORM's history of a change, so the values are compared instead).
    Read from the instance's dict: that loads nothing, and costs a tenth of the attributes' getters."""
    values = patient.__dict__
    return tuple(values.get(key) for key in _ROW_COLUMNS)


def _onboarding_first(patient: Patient, event: Event) -> Event:
    """A dialog the patient asks for (/checkin, /settings, /flareplan) before onboarding ends carries
    onboarding on instead."""
    if isinstance(event, StartDialog) and _onboarding(patient):
        return TextMessage("/start")
    return event


def _onboarding(patient: Patient) -> bool:
    return patient.onboarded_at is None and patient.status != "stopped"


def _waits_for_onboarding(patient: Patient, event: Inbound) -> bool:
    return isinstance(event, TextMessage) and _onboarding(patient) and is_own_command(event.text)


def typed_text(event: Inbound | Event) -> str:
    """Every word a patient typed in this event, whatever its kind: a message, a command with its text,
    a caption (the channel makes it a TextMessage) or an edit. What crisis screening reads."""
    if isinstance(event, TextMessage | EditedText | ChannelCommand):
        return event.text
    return ""


def _unknown_command(event: Inbound) -> bool:
    return (isinstance(event, TextMessage) and event.text.startswith("/")
            and parse_command(event.text) is None)


def _facts(onboarded_at: dt.datetime | None, timezone: str, open_step: bool,
           now: dt.datetime) -> dict[str, float]:
    """The facts dialogs may branch on: onboarded, whole local days in care, a step awaiting feedback."""
    facts: dict[str, float] = {"onboarded": 1.0 if onboarded_at else 0.0}
    if onboarded_at is not None:
        zone = _zone(timezone)
        days = now.astimezone(zone).date() - onboarded_at.astimezone(zone).date()
        facts["days_in_care"] = float(days.days)
        facts["open_step"] = 1.0 if open_step else 0.0
    return facts


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo("Europe/London")


def _update_profile(patient: Patient, effect: UpdateProfile, now: dt.datetime) -> None:
    """Copy a profile answer onto the patient; the engine has already validated its shape."""
    value = effect.value
    if effect.field == "name":
        patient.name = str(value)
    elif effect.field == "timezone":
        patient.timezone = str(value)
    elif effect.field == "checkin_time":
        patient.checkin_time = dt.time.fromisoformat(str(value))
    elif effect.field == "consent":
        patient.consent_at = now if value == 1 else None
    elif effect.field == "weekly_review_day" and (day := weekday_index(value)) is not None:
        patient.weekly_review_day = day
