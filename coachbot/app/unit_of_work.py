"""The unit of work and its repositories: the ports through which use cases read and write.

As in "Architecture Patterns with Python": a use case opens a unit of work (`async with uows() as
uow`), reads and changes records through its repositories, and says `await uow.commit()`; leaving the
block without a commit rolls everything back. The unit of work owns the transaction, and on SQLite
the process's write gate too, so no use case handles a database session or a lock, and a use case
that forgets either cannot break the database. Functions that run inside a caller's transaction take
the `UnitOfWork` itself; only the code that decides where a transaction begins takes the factory.

The repositories speak the use cases' language (the measures the rules read, the escalation open
for a rule, the coach with the fewest patients), not a query API. The records they hand out are the
rows as the application sees them (`PatientRecord`, `CoachRecord`, `EscalationRecord`): a change to
one is written when the unit of work commits. `coachbot/adapters/db/unit_of_work.py` implements all of
this on SQLAlchemy; a test may implement it in memory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from coachbot.engine import AnswerValue, Position

if TYPE_CHECKING:
    from coachbot.app.channel import Outgoing
    from coachbot.care.escalation_rules import CheckinOutcome, EscalationRules, EscalationState


MeasurementRow = tuple[str, float | None, dt.datetime]
"""(code, numeric value, recorded at): one reading as the escalation rules see it."""


# -- records -----------------------------------------------------------------------------------------

class PatientRecord(Protocol):
    """A patient's row: pseudonymous label, profile, schedule, status and coach."""

    id: int
    label: str
    chat_id: int | None
    name: str | None
    timezone: str
    checkin_time: dt.time | None
    weekly_review_day: int
    status: str
    paused_until: dt.datetime | None
    consent_at: dt.datetime | None
    consent_version: str | None
    consent_withdrawn_at: dt.datetime | None
    onboarded_at: dt.datetime | None
    unreachable: bool
    coach_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime


class CoachRecord(Protocol):
    """A coach: who gets a patient's alert cards (at `telegram_user_id`), backups, admins."""

    id: int
    telegram_user_id: int | None
    name: str
    is_admin: bool
    is_backup: bool
    active: bool


class EscalationRecord(Protocol):
    """A concern raised for a coach, tracked from open through acknowledged to resolved."""

    id: int
    patient_id: int
    tier: str
    rule: str
    status: str
    reason: str
    evidence: dict[str, Any]
    opened_at: dt.datetime
    updated_at: dt.datetime
    due_at: dt.datetime | None
    acknowledged_at: dt.datetime | None
    acknowledged_by: int | None
    resolved_at: dt.datetime | None
    resolved_by: int | None
    next_alert_at: dt.datetime | None
    realerts: int
    resolution_note: str | None
    note_pending_by: int | None


class CheckinRunRecord(Protocol):
    """One check-in claimed by the scheduler, from claim to answer (or miss, or skip)."""

    id: int
    patient_id: int
    dialog: str
    local_date: dt.date
    due_at: dt.datetime
    status: str
    reason: str | None
    queued_at: dt.datetime | None
    sent_at: dt.datetime | None
    reminder_at: dt.datetime | None
    reminder_sent_at: dt.datetime | None
    closed_at: dt.datetime | None


class ConversationRecord(Protocol):
    """The dialog a patient is in now, and since when."""

    patient_id: int
    script: str
    started_at: dt.datetime


class InviteRecord(Protocol):
    """A coach's invite: only the code's hash is stored."""

    id: int
    name: str
    is_admin: bool
    is_backup: bool
    expires_at: dt.datetime
    used_at: dt.datetime | None


class StepOverrideRecord(Protocol):
    """A coach's pin or block of one self-management step for one patient."""

    patient_id: int
    step_id: str
    kind: str
    coach_id: int | None
    created_at: dt.datetime


class RelayRecord(Protocol):
    """An open conversation between a coach and a patient (/message ... /close)."""

    patient_id: int
    coach_id: int
    opened_at: dt.datetime
    updated_at: dt.datetime


# -- repositories ------------------------------------------------------------------------------------

class PatientRepository(Protocol):
    async def get(self, patient_id: int) -> PatientRecord | None:
        """The patient with this id, or None (erased)."""

    async def by_label(self, label: str) -> PatientRecord | None:
        """The patient with this pseudonymous label, or None."""

    async def of_coach(self, coach_id: int) -> Sequence[PatientRecord]:
        """The coach's patients, by label."""

    async def with_conversation(self, chat_id: int,
                                now: dt.datetime) -> tuple[PatientRecord | None, ConversationRecord | None]:
        """The patient of a chat and the dialog they are in, in one read (with what the rest of the
        transaction asks next: whether a step waits for feedback). Hold on to the conversation while
        the transaction runs, so a later `conversations.position` needs no read."""

    async def lock(self, patient_ids: Collection[int]) -> None:
        """Lock these patients' rows before any of their runs, in id order, where the database locks
        rows (PostgreSQL): a /stop and a check-in for one patient then queue instead of deadlocking."""


class CoachRepository(Protocol):
    async def get(self, coach_id: int) -> CoachRecord | None: ...

    async def least_loaded(self, exclude: Collection[int] = ()) -> CoachRecord | None:
        """The active coach reachable in Telegram with the fewest open (not stopped) patients, the
        oldest on a tie; None when there is none."""

    async def by_telegram_id(self, telegram_user_id: int) -> CoachRecord | None:
        """The coach of this Telegram account, active or not."""

    async def for_chat(self, chat_id: int, *, active: bool) -> CoachRecord | None:
        """The active (or the deactivated) coach whose private chat this is."""

    async def add(self, *, telegram_user_id: int, name: str, is_admin: bool, is_backup: bool,
                  now: dt.datetime) -> CoachRecord:
        """A new active coach, with its id."""

    async def backups(self) -> Sequence[CoachRecord]:
        """The active backup coaches reachable in Telegram, oldest first (they get re-sent cards)."""

    async def any_reachable(self) -> bool:
        """Whether any active coach can receive alerts."""


class ConversationRepository(Protocol):
    async def position(self, patient_id: int) -> Position | None:
        """Where the patient is in their dialog; None when no dialog runs."""

    async def save(self, patient_id: int, position: Position | None, now: dt.datetime) -> None:
        """Persist where the patient now is; None ends the dialog."""

    async def current(self, patient_ids: Collection[int]) -> Mapping[int, ConversationRecord]:
        """The dialog each of these patients is in (those in none are left out)."""


class MeasureRepository(Protocol):
    async def rules_window(self, patient_id: int, rules: EscalationRules,
                           since: dt.datetime) -> Sequence[MeasurementRow]:
        """What the escalation rules read, oldest first: the measures they watch recorded since
        `since`, every baseline and every coach's re-base. One read."""

    def record(self, patient_id: int, code: str, value: AnswerValue, *, script: str, state: str,
               now: dt.datetime) -> None:
        """Keep one answer worth charting."""

    async def answered_since(self, patient_id: int, script: str, since: dt.datetime) -> bool:
        """Whether the patient answered anything of `script` since `since`."""

    async def values_between(self, patient_id: int, code: str, since: dt.datetime,
                             until: dt.datetime) -> list[tuple[dt.datetime, float]]:
        """The patient's numeric `code` answers from `since` to `until`, oldest first; read once per
        transaction until a measurement is recorded (a check-in's start and end both ask)."""

    async def recorded_since(self, patient_id: int, code: str, since: dt.datetime) -> bool:
        """Whether a `code` was recorded for the patient since `since`."""

    async def latest_texts(self, patient_id: int, codes: Collection[str]) -> dict[str, str]:
        """The latest non-blank text answer to each of `codes` (codes never answered are left out)."""

    async def answers(self, patient_id: int, codes: Collection[str], *,
                      since: dt.datetime | None = None) -> Sequence[tuple[str, float | None, str | None]]:
        """The patient's answers to `codes` (since `since`, or all), oldest first: (code, number, text)."""

    async def numbers(self, patient_id: int, *, codes: Collection[str] | None = None,
                      since: dt.datetime | None = None) -> Sequence[tuple[str, float, dt.datetime]]:
        """The patient's numeric answers (to `codes`, since `since`, or all), oldest first:
        (code, value, recorded at)."""

    async def last_recorded(self, patient_id: int, code: str) -> dt.datetime | None:
        """When the patient's latest `code` was recorded; None if never."""

    async def texts(self, patient_id: int, code: str, *, after: dt.datetime | None,
                    limit: int) -> list[tuple[dt.datetime, str]]:
        """The patient's latest non-empty text answers with `code` (after `after` if given), newest first."""


class InviteRepository(Protocol):
    async def add(self, *, code_hash: str, name: str, is_admin: bool, is_backup: bool, now: dt.datetime,
                  expires_at: dt.datetime) -> InviteRecord:
        """A new invite, with its id."""

    async def by_hash(self, code_hash: str) -> InviteRecord | None: ...

    async def take(self, invite_id: int, now: dt.datetime) -> bool:
        """Compare-and-set: mark the invite used now, if nobody has; True when this call did."""

    async def used_by(self, invite_id: int, coach_id: int) -> None:
        """Record which coach the invite made."""


class StepOverrideRepository(Protocol):
    async def get(self, patient_id: int, step_id: str) -> StepOverrideRecord | None: ...

    async def add(self, *, patient_id: int, step_id: str, kind: str, coach_id: int, now: dt.datetime) -> None:
        """A new pin or block (one per patient and step: `get` first)."""

    async def remove(self, override: StepOverrideRecord) -> None: ...

    async def of_patient(self, patient_id: int) -> list[tuple[str, str]]:
        """(step id, "pin" or "block") of the patient's overrides, oldest first."""


class SuggestionRepository(Protocol):
    async def history(self, patient_id: int, since: dt.datetime) -> list[tuple[str, dt.datetime, str | None]]:
        """(step id, suggested at, feedback) of the patient's suggestions since `since`, oldest first."""

    async def record(self, patient_id: int, step_id: str, reason: str, now: dt.datetime) -> None:
        """A new suggestion, waiting for feedback."""

    async def todays(self, patient_id: int, since: dt.datetime, now: dt.datetime) -> str | None:
        """The step suggested between `since` and `now` and not turned down, the latest, if any."""

    async def decline(self, patient_id: int, step_id: str, now: dt.datetime) -> None:
        """The patient's latest suggestion of `step_id`, if it waits for feedback, is "declined"."""

    async def give_feedback(self, patient_id: int, feedback: str, now: dt.datetime) -> None:
        """The patient's latest suggestion waiting for feedback gets `feedback`."""

    async def latest(self, patient_id: int, limit: int) -> list[tuple[str, dt.datetime, str | None]]:
        """(step id, suggested at, feedback) of the patient's latest suggestions, newest first."""

    async def answers_by_band(self, since: dt.datetime, *,
                              patient_id: int | None = None) -> Sequence[tuple[str, str, str, str, int]]:
        """Answered step suggestions since `since` (of one patient, or everyone's), counted per
        (pain band, mood band, step, feedback): the bands of the patient's latest pain and mood when
        the step was offered, as `care.step_policy.score_band` draws them (0-3, 4-6, 7-10, unknown)."""


class CoachNoteRepository(Protocol):
    async def add(self, *, patient_id: int, coach_id: int, text: str, now: dt.datetime) -> int:
        """A coach's note about a patient; its id."""

    async def latest(self, patient_id: int, limit: int) -> Sequence[tuple[str, dt.datetime, CoachRecord]]:
        """(text, written at, author) of the coaches' latest notes about the patient, newest first."""


class RelayRepository(Protocol):
    async def get(self, patient_id: int) -> RelayRecord | None: ...

    async def open(self, patient_id: int, coach_id: int, now: dt.datetime) -> None:
        """Open the patient's conversation with this coach, or hand an open one to them."""

    async def close(self, relay: RelayRecord) -> None: ...

    async def labels_with(self, coach_id: int) -> list[str]:
        """The labels of the patients whose conversation is with this coach, in order."""

    async def live_among(self, patient_ids: Collection[int], since: dt.datetime) -> set[int]:
        """Of `patient_ids`, those whose conversation saw a message after `since`."""


class CheckinRepository(Protocol):
    async def outcomes(self, patient_id: int, since: dt.date, *,
                       answering: bool) -> dict[dt.date, CheckinOutcome]:
        """Answered and missed check-ins from `since` by local date; `answering` counts one still
        open as answered (the patient is answering it now)."""

    async def patients_missed_since(self, since: dt.datetime) -> list[int]:
        """The patients with a check-in recorded as missed after `since`."""

    async def on_day(self, patient_id: int, local_date: dt.date, *, reason: str) -> CheckinRunRecord | None:
        """The patient's check-in of that local date recorded with `reason`, if any."""

    async def delivered(self, limit: int) -> Sequence[
            tuple[CheckinRunRecord, dt.datetime | None, str, dt.datetime | None]]:
        """Queued runs whose first message the outbox delivered or gave up on: (run, when it was
        sent or None when it failed, the patient's timezone, the dialog's next due time)."""

    async def reminders_due(self, now: dt.datetime, limit: int) -> list[tuple[int, int]]:
        """(run id, patient id) of sent check-ins whose reminder time has come, soonest first."""

    async def take_reminders(self,
                             run_ids: Collection[int]) -> Sequence[tuple[CheckinRunRecord, PatientRecord]]:
        """Compare-and-set: of these runs, those whose one reminder this process (and only this one)
        now decides, with their patients; their reminder time is cleared (one chance, sent or not)."""

    async def answered(self, runs: Sequence[CheckinRunRecord], scripts: Mapping[str, str]) -> set[int]:
        """Ids of the runs with an answer recorded in their dialog's script since they were queued."""


class EscalationRepository(Protocol):
    async def get(self, escalation_id: int) -> EscalationRecord | None: ...

    async def note_pending_for(self, coach_id: int) -> EscalationRecord | None:
        """The unresolved escalation whose Resolve press waits for this coach's note, the latest."""

    async def open_for_rule(self, patient_id: int, rule: str) -> EscalationRecord | None:
        """The patient's open or acknowledged escalation for this rule."""

    async def open_for_patient(self, patient_id: int) -> Sequence[EscalationRecord]:
        """Every open or acknowledged escalation of the patient."""

    async def without_alert(self) -> Sequence[tuple[EscalationRecord, PatientRecord]]:
        """Open or acknowledged escalations that never got an alert row, oldest first, with patients."""

    async def queue(self, coach_id: int | None,
                    limit: int) -> tuple[Sequence[tuple[EscalationRecord, str]], int]:
        """Open or acknowledged escalations (of one coach's patients, or everyone's), urgent first,
        then soon, then routine, oldest first within a tier, with the patient's label: the first
        `limit`, and how many there are."""

    async def open_rules(self, patient_id: int) -> list[str]:
        """The rules of the patient's open or acknowledged escalations."""

    async def due_for_realert(self, now: dt.datetime, *,
                              limit: int) -> Sequence[tuple[EscalationRecord, PatientRecord]]:
        """Open or acknowledged escalations whose next re-send is due by `now`, soonest first, with
        their patients; rows another process is re-sending are left to it."""

    async def listed(self, status: str,
                     tier: str | None) -> Sequence[tuple[EscalationRecord, str, int | None]]:
        """Escalations with their patient's label and coach id, urgent first, then soon, then routine,
        oldest first within a tier. `status` "unresolved" (open or acknowledged), "all", or one status;
        `tier` None for every tier."""

    async def states(self, patient_id: int, since: dt.datetime) -> list[EscalationState]:
        """The patient's open escalations and those resolved since `since`, as the rules see them."""

    async def open(self, *, patient_id: int, tier: str, rule: str, reason: str, evidence: dict[str, Any],
                   now: dt.datetime) -> EscalationRecord:
        """A new open escalation, with its id."""


class OutboxRepository(Protocol):
    async def delivered_cards(self, escalation_id: int) -> Sequence[tuple[int, int, dict[str, Any]]]:
        """(Telegram message id, chat id, payload) of every card of the escalation that was delivered."""

    async def queue(self, outgoing: Sequence[Outgoing], *, chat_id: int, patient_id: int | None,
                    now: dt.datetime) -> list[dict[str, Any]]:
        """One row per message, in order, sent from the conversation in `chat_id`: a message without a
        chat of its own goes to that chat and carries `patient_id`. Each row's values with its `id`
        (`coachbot.app.outbox.queue` makes them messages for the sender)."""


class AuditLog(Protocol):
    def record(self, *, actor: str, action: str, subject: str | None, detail: dict[str, Any],
               now: dt.datetime) -> None:
        """Who did what to whom: labels and codes only, never message text or names."""


# -- the unit of work --------------------------------------------------------------------------------

class UnitOfWork(Protocol):
    """One transaction and the repositories that work inside it."""

    @property
    def patients(self) -> PatientRepository: ...
    @property
    def coaches(self) -> CoachRepository: ...
    @property
    def conversations(self) -> ConversationRepository: ...
    @property
    def measures(self) -> MeasureRepository: ...
    @property
    def checkins(self) -> CheckinRepository: ...
    @property
    def escalations(self) -> EscalationRepository: ...
    @property
    def outbox(self) -> OutboxRepository: ...
    @property
    def relays(self) -> RelayRepository: ...
    @property
    def step_overrides(self) -> StepOverrideRepository: ...
    @property
    def invites(self) -> InviteRepository: ...
    @property
    def suggestions(self) -> SuggestionRepository: ...
    @property
    def coach_notes(self) -> CoachNoteRepository: ...
    @property
    def audit(self) -> AuditLog: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        """Roll back whatever was not committed."""

    async def commit(self) -> None: ...

    async def rollback(self) -> None: ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
"""A fresh unit of work for each transaction (bootstrap wires the SQLAlchemy one)."""
