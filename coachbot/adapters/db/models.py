"""The relational schema, shared by SQLite and PostgreSQL.

Why each table exists:

- ``coaches``: the people who watch over patients, answer escalations and may administer the bot.
- ``patients``: one row per person coached, under a pseudonymous label, with their schedule and status.
- ``conversations``: where each patient is in their current dialog script, so a chat resumes after a restart.
- ``measurements``: every answer worth charting (pain, mood, sleep, ...) as a time series per patient.
- ``escalations``: safety and care concerns raised for a coach, tracked until resolved.
- ``step_suggestions``: the self-help steps suggested to a patient and whether they helped.
- ``script_versions``: the exact dialog text published under each version, so answers stay interpretable.
- ``audit_log``: who did what to whom and when, for accountability (pseudonymous actors and subjects).
- ``processed_updates``: the Telegram updates already applied, so a redelivered one changes nothing.
- ``outbox``: every message to send, written with the change that caused it and delivered afterwards with
  retries, so nothing is lost in a crash between deciding and sending.
- ``schedules``: each patient's next due check-in per dialog (daily, weekly), so the one scheduler tick
  finds due work with an index scan instead of one timer per patient.
- ``checkin_runs``: one row per check-in claimed, unique per patient, dialog and local date: the
  idempotency key that keeps two processes, a restart or a clock change from serving a day twice.
- ``step_overrides``: a coach's pin or block of a self-management step for one patient.
- ``dialog_sets``: each dialog folder that loaded and validated at a start, so a later start with a
  broken file can serve the last good one instead of refusing to run.

Conventions: every timestamp is a timezone-aware ``datetime`` passed in by the caller (time is injected,
so there are no clock defaults); it is stored in UTC and read back as UTC on both databases. Naive
datetimes are refused. Rows reference each other by foreign key only; there are no ORM relationships,
so nothing loads lazily behind an ``await``. JSON columns are plain values: assign a new dict rather than
mutating one in place, or the change is not seen.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    Time,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

#: Stable, dialect-independent constraint and index names, so migrations can refer to them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: A 64-bit key that still autoincrements on SQLite (only INTEGER PRIMARY KEY is a rowid alias there).
BigIntKey = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """``DateTime(timezone=True)`` that stores UTC and always returns aware UTC datetimes.

    PostgreSQL keeps the instant in a ``timestamptz``; SQLite has no time zones, so the value is
    converted to UTC before it is written and marked as UTC when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored; pass an aware one")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {  # noqa: RUF012
        dt.datetime: UTCDateTime(),
        dt.time: Time(),
        dict[str, Any]: JSON(),
    }


def table_of(model: type[Base]) -> Table:
    """The model's Table, typed as one (SQLAlchemy types `__table__` as any FromClause). Hot paths
    build their statements on tables: the ORM's machinery for mapped classes costs more than the
    database takes to run them."""
    return cast(Table, model.__table__)


class Coach(Base):
    __tablename__ = "coaches"

    id: Mapped[int] = mapped_column(primary_key=True)
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    name: Mapped[str] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    is_backup: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    created_at: Mapped[dt.datetime]


class Patient(Base):
    __tablename__ = "patients"
    __table_args__ = (Index("ix_patients_status", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(16), unique=True)
    chat_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    name: Mapped[str | None] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(
        String(64), default="Europe/London", server_default=text("'Europe/London'")
    )
    checkin_time: Mapped[dt.time | None]
    #: 0 = Monday ... 6 = Sunday.
    weekly_review_day: Mapped[int] = mapped_column(SmallInteger, default=6, server_default=text("6"))
    #: "new" | "active" | "paused" | "stopped".
    status: Mapped[str] = mapped_column(String(16), default="new", server_default=text("'new'"))
    paused_until: Mapped[dt.datetime | None]
    consent_at: Mapped[dt.datetime | None]
    #: The text agreed to, as "script:version" of the dialog that asked (data rights, issue W4).
    consent_version: Mapped[str | None] = mapped_column(String(64))
    #: When the patient withdrew their consent (messages stop, erasure is offered); None if never.
    consent_withdrawn_at: Mapped[dt.datetime | None]
    #: When onboarding finished with consent given; days in care count from here.
    onboarded_at: Mapped[dt.datetime | None]
    unreachable: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    coach_id: Mapped[int | None] = mapped_column(ForeignKey("coaches.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime]
    #: When an event last changed this row (profile, status, consent, reachability); a message that
    #: only moves the patient's dialog changes `conversations`, not this.
    updated_at: Mapped[dt.datetime]


class Conversation(Base):
    __tablename__ = "conversations"

    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    script: Mapped[str] = mapped_column(String(64))
    script_version: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(128))
    answers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    misses: Mapped[int] = mapped_column(SmallInteger, default=0, server_default=text("0"))
    started_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]


class Measurement(Base):
    __tablename__ = "measurements"
    __table_args__ = (
        Index("ix_measurements_patient_id_code_recorded_at", "patient_id", "code", "recorded_at"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    code: Mapped[str] = mapped_column(String(64))
    value_num: Mapped[float | None] = mapped_column(Float)
    value_text: Mapped[str | None] = mapped_column(Text)
    recorded_at: Mapped[dt.datetime]
    script: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(128))


class Escalation(Base):
    __tablename__ = "escalations"
    __table_args__ = (
        Index("ix_escalations_status_tier_opened_at", "status", "tier", "opened_at"),
        Index("ix_escalations_patient_id_rule_status", "patient_id", "rule", "status"),
        Index("ix_escalations_next_alert_at", "next_alert_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    #: "urgent" | "soon" | "routine".
    tier: Mapped[str] = mapped_column(String(16))
    rule: Mapped[str] = mapped_column(String(64))
    #: "open" | "acknowledged" | "resolved".
    status: Mapped[str] = mapped_column(String(16), default="open", server_default=text("'open'"))
    reason: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    opened_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
    due_at: Mapped[dt.datetime | None]
    acknowledged_at: Mapped[dt.datetime | None]
    # No ON DELETE action: a coach who handled escalations is deactivated, not deleted.
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("coaches.id"))
    resolved_at: Mapped[dt.datetime | None]
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("coaches.id"))
    resolution_note: Mapped[str | None] = mapped_column(Text)
    # -- the alert's lifecycle (issue 5, coachbot/escalations/) --
    #: When the next re-send to the backup coaches is due; None once acknowledged, or none is left.
    next_alert_at: Mapped[dt.datetime | None]
    #: How many re-sends went out (to backups and the coaches' group).
    realerts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    #: The coach who pressed Resolve and is asked for the note: their next plain message is it.
    note_pending_by: Mapped[int | None] = mapped_column(ForeignKey("coaches.id"))


class StepSuggestion(Base):
    __tablename__ = "step_suggestions"
    __table_args__ = (Index("ix_step_suggestions_patient_id_suggested_at", "patient_id", "suggested_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    step_id: Mapped[str] = mapped_column(String(64))
    suggested_at: Mapped[dt.datetime]
    reason: Mapped[str] = mapped_column(Text)
    #: None until asked; then "helped" | "not_helped" | "not_tried".
    feedback: Mapped[str | None] = mapped_column(String(16))
    feedback_at: Mapped[dt.datetime | None]


class ScriptVersion(Base):
    __tablename__ = "script_versions"
    __table_args__ = (UniqueConstraint("script", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    script: Mapped[str] = mapped_column(String(64))
    version: Mapped[str] = mapped_column(String(32))
    #: The YAML text as published.
    source: Mapped[str] = mapped_column(Text)
    published_at: Mapped[dt.datetime]
    published_by: Mapped[str | None] = mapped_column(String(64))


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_at", "at"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    at: Mapped[dt.datetime]
    #: A pseudonymous label such as "coach:3" or "system"; never a real name.
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    #: Usually a patient label.
    subject: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ProcessedUpdate(Base):
    """A Telegram update already applied: inserted in the same transaction as the update's effects."""

    __tablename__ = "processed_updates"

    update_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    processed_at: Mapped[dt.datetime]


class OutboxMessage(Base):
    """One message (or edit) to deliver to a chat; unsent while both ``sent_at`` and ``failed_at`` are None.

    ``lane`` 0 is replies and coach alerts, 1 is bulk or scheduled sending; a sender drains lane 0 first.
    ``payload`` is the channel's own request (text, keyboard, file), ready to send.
    """

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_sent_at_lane_not_before", "sent_at", "lane", "not_before"),)

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    lane: Mapped[int] = mapped_column(SmallInteger, default=0, server_default=text("0"))
    #: "text" | "edit" | "photo" | "document" | "chart" (drawn when sent: adapters/charts/rows.py).
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime]
    #: Not to be sent before this instant (retry backoff, Telegram's retry_after, scheduled sending).
    not_before: Mapped[dt.datetime]
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    sent_at: Mapped[dt.datetime | None]
    #: Given up on (blocked by the user, refused as a bad request); ``last_error`` says why.
    failed_at: Mapped[dt.datetime | None]
    #: Telegram's id of the message this row became, once sent.
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    #: Error class and Telegram's description only: never message text, names or the token.
    last_error: Mapped[str | None] = mapped_column(String(200))
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    escalation_id: Mapped[int | None] = mapped_column(ForeignKey("escalations.id", ondelete="SET NULL"))
    #: When the body (text, caption, file) of this sent row was cleared; the row itself stays, so
    #: delivery stays accountable (data rights: `COACHBOT_OUTBOX_KEEP_SENT_HOURS`).
    cleared_at: Mapped[dt.datetime | None]


# -- scheduling (issue 4) ------------------------------------------------------------------------------

class Schedule(Base):
    """A patient's next occurrence of one dialog; ``next_due_at`` None means none is coming (stopped,
    paused until /resume, not onboarded). Recomputed when the patient's settings or status change."""

    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_next_due_at", "next_due_at"),)

    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    #: "daily" | "weekly" (the roles in dialogs/service.yaml, not script names).
    dialog: Mapped[str] = mapped_column(String(16), primary_key=True)
    next_due_at: Mapped[dt.datetime | None]
    #: The patient's local date of ``next_due_at``: the run's idempotency key once it is claimed.
    local_date: Mapped[dt.date | None]
    updated_at: Mapped[dt.datetime]


class CheckinRun(Base):
    """One check-in claimed by a scheduler process, from claim to answer (or miss, or skip).

    ``status``: "claimed" (a process took it; re-claimable when ``claimed_at`` is stale), "queued" (its
    messages are in the outbox, written in the same transaction), "sent" (the outbox delivered the
    first one), "answered", "missed" or "skipped"; ``reason`` is a label saying why (never text).
    """

    __tablename__ = "checkin_runs"
    __table_args__ = (
        UniqueConstraint("patient_id", "dialog", "local_date"),
        Index("ix_checkin_runs_status_claimed_at", "status", "claimed_at"),
        Index("ix_checkin_runs_status_reminder_at", "status", "reminder_at"),
        Index("ix_checkin_runs_local_date", "local_date"),
    )

    id: Mapped[int] = mapped_column(BigIntKey, primary_key=True, autoincrement=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    dialog: Mapped[str] = mapped_column(String(16))
    local_date: Mapped[dt.date]
    due_at: Mapped[dt.datetime]
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(32))
    #: Which scheduler process holds the claim (host:pid:random), and since when.
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    claimed_at: Mapped[dt.datetime | None]
    queued_at: Mapped[dt.datetime | None]
    #: The first outbox row of the check-in; delivered means sent.
    outbox_id: Mapped[int | None] = mapped_column(
        BigIntKey, ForeignKey("outbox.id", ondelete="SET NULL"))
    sent_at: Mapped[dt.datetime | None]
    reminder_at: Mapped[dt.datetime | None]
    reminder_sent_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]


# -- coach tools (issue 5) -----------------------------------------------------------------------------

class CoachInvite(Base):
    """A one-time code an admin made for a new coach; only its SHA-256 is kept, never the code."""

    __tablename__ = "coach_invites"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    #: The name the new coach is registered and greeted under.
    name: Mapped[str] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    is_backup: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]
    used_by: Mapped[int | None] = mapped_column(ForeignKey("coaches.id"))


class CoachNote(Base):
    """A coach's note about a patient, shown in /patient; never logged."""

    __tablename__ = "coach_notes"
    __table_args__ = (Index("ix_coach_notes_patient_id_created_at", "patient_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    coach_id: Mapped[int] = mapped_column(ForeignKey("coaches.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime]


class CoachRelay(Base):
    """An open conversation between a coach and a patient (/message ... /close): while it is open the
    patient's messages go to the coach and their scheduled check-in waits. Closing deletes the row."""

    __tablename__ = "coach_relays"

    patient_id: Mapped[int] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    coach_id: Mapped[int] = mapped_column(ForeignKey("coaches.id"))
    opened_at: Mapped[dt.datetime]
    #: The last message either way; a relay idle for a day counts as closed.
    updated_at: Mapped[dt.datetime]


# -- self-management steps (issue 6) -----------------------------------------------------------------

class StepOverride(Base):
    """A coach's pin or block of one step for one patient: a pinned step is suggested first whenever
    the gates allow it, a blocked one never. One row per patient and step (a pin replaces a block)."""

    __tablename__ = "step_overrides"
    __table_args__ = (UniqueConstraint("patient_id", "step_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    step_id: Mapped[str] = mapped_column(String(64))
    #: "pin" | "block".
    kind: Mapped[str] = mapped_column(String(8))
    # No ON DELETE action: a coach is deactivated, not deleted.
    coach_id: Mapped[int | None] = mapped_column(ForeignKey("coaches.id"))
    created_at: Mapped[dt.datetime]


# -- the last good dialog set (issue 12) -------------------------------------------------------------

class DialogSet(Base):
    """The files of a dialog folder that loaded and validated at a start, one row per distinct set."""

    __tablename__ = "dialog_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: SHA-256 (hex) of the folder's files, paths and bytes (`adapters/db/dialog_sets.fingerprint`).
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    #: {relative path: text} of every file in the folder.
    files: Mapped[dict[str, Any]] = mapped_column(default=dict)
    loaded_at: Mapped[dt.datetime]
