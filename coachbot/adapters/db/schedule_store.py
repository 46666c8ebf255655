"""The scheduling tables as the tick and the service use them: schedules, claims, runs, cancellations.

Every function runs inside the caller's transaction. The rules (what is due, what to do with it) are in
the pure `coachbot.scheduling`; this module only moves rows, a batch at a time where the tick handles
many patients at once. The guarantees rest on what the database enforces, not on timing: the unique
key (patient, dialog, local date) of `checkin_runs`, and compare-and-set updates that name the process
holding a claim (`claimed_by`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from coachbot.adapters.db.models import (
    CheckinRun,
    Conversation,
    Measurement,
    OutboxMessage,
    Patient,
    Schedule,
)
from coachbot.scheduling import DIALOGS, Occurrence, Profile, next_occurrence, resolve_local, zone_of

#: Runs still waiting for something: a process to start them, the outbox, or the patient.
OPEN = ("claimed", "queued", "sent")
#: Scheduled and bulk messages; replies and coach alerts (lane 0) are never cancelled here.
LANE_BULK = 1


def profile_of(patient: Patient) -> Profile:
    return Profile(timezone=patient.timezone, checkin_time=patient.checkin_time,
                   weekly_day=patient.weekly_review_day, status=patient.status,
                   paused_until=patient.paused_until, onboarded=patient.onboarded_at is not None,
                   unreachable=patient.unreachable)


def schedule_basis(patient: Patient) -> tuple[Any, ...]:
    """What a patient's schedule depends on; when it changes, `patient_changed` must run."""
    return (patient.timezone, patient.checkin_time, patient.weekly_review_day, patient.status,
            patient.paused_until, patient.onboarded_at is not None)


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def occurrence_of(run: CheckinRun) -> Occurrence:
    return Occurrence("weekly" if run.dialog == "weekly" else "daily", run.local_date, run.due_at)


# -- schedules ------------------------------------------------------------------------------------------

async def last_run_date(session: AsyncSession, patient_id: int, dialog: str) -> dt.date | None:
    result = await session.execute(select(func.max(CheckinRun.local_date)).where(
        CheckinRun.patient_id == patient_id, CheckinRun.dialog == dialog))
    return result.scalar_one_or_none()


async def reschedule(session: AsyncSession, patient: Patient, now: dt.datetime) -> None:
    """Recompute the patient's next occurrence of every dialog from their current settings.

    A local date that already has a run is never scheduled again, so a settings change takes effect
    from the next occurrence and can never serve a day twice.
    """
    profile = profile_of(patient)
    for dialog in DIALOGS:
        after = await last_run_date(session, patient.id, dialog)
        occurrence = next_occurrence(profile, dialog, now, after_date=after)
        await put_schedule(session, patient.id, dialog, occurrence, now)


async def put_schedule(session: AsyncSession, patient_id: int, dialog: str,
                       occurrence: Occurrence | None, now: dt.datetime) -> None:
    row = await session.get(Schedule, (patient_id, dialog))
    due = occurrence.due_at if occurrence else None
    day = occurrence.local_date if occurrence else None
    if row is None:
        session.add(Schedule(patient_id=patient_id, dialog=dialog, next_due_at=due, local_date=day,
                             updated_at=now))
    else:
        row.next_due_at, row.local_date, row.updated_at = due, day, now


async def patient_changed(session: AsyncSession, patient: Patient, now: dt.datetime,
                          scripts: Mapping[str, str]) -> None:
    """The service's hook after a settings or status change, in the same transaction as the change.

    `scripts` maps each dialog ("daily", "weekly") to its script name (dialogs/service.yaml).
    Pausing or stopping takes effect at once: the check-in or reminder still waiting in the outbox
    is cancelled and its run closed as skipped, before the transaction that paused commits.
    """
    profile = profile_of(patient)
    if profile.status == "stopped" or profile.is_paused(now):
        reason = "stopped" if profile.status == "stopped" else "paused"
        await cancel_bulk(session, [patient.id], now, reason)
        await close_open_runs(session, [patient.id], now, scripts, status="skipped", reason=reason)
    await reschedule(session, patient, now)


# -- runs and their messages ------------------------------------------------------------------------

async def cancel_bulk(session: AsyncSession, patient_ids: Collection[int], now: dt.datetime,
                      reason: str, *, from_id: int = 0) -> None:
    """Give up on the patients' unsent scheduled messages (lane 1, from outbox row `from_id` on), as
    the sender gives up on a row: it is marked failed, with the reason, and never sent."""
    if not patient_ids:
        return
    await session.execute(update(OutboxMessage).where(
        OutboxMessage.patient_id.in_(patient_ids), OutboxMessage.lane == LANE_BULK,
        OutboxMessage.id >= from_id, OutboxMessage.sent_at.is_(None), OutboxMessage.failed_at.is_(None),
    ).values(failed_at=now, last_error=f"cancelled: {reason}"))


async def close_open_runs(session: AsyncSession, patient_ids: Collection[int], now: dt.datetime,
                          scripts: Mapping[str, str], *, status: str, reason: str,
                          keep: Collection[int] = ()) -> list[CheckinRun]:
    """Close the patients' open runs (but `keep`); one answered since it went out closes as answered.
    Returns the runs closed."""
    result = await session.execute(select(CheckinRun).where(
        CheckinRun.patient_id.in_(patient_ids), CheckinRun.status.in_(OPEN)))
    closing = [run for run in result.scalars() if run.id not in keep]
    answered = await answered_runs(session, [run for run in closing if run.status == "sent"], scripts)
    for run in closing:
        run.status, run.reason = ("answered", run.reason) if run.id in answered else (status, reason)
        run.closed_at = now
    return closing


async def cancel_superseded(session: AsyncSession, closed: Sequence[CheckinRun], now: dt.datetime) -> None:
    """A new check-in starts: what is still unsent of the ones it closes (a check-in stuck in the
    outbox a whole day, a reminder) would only confuse, so it is cancelled; other bulk rows written
    before those check-ins are left alone."""
    first: dict[int, int] = {}
    for run in closed:
        # Only a check-in not yet delivered, or one that had a reminder, can have a row still unsent.
        if run.outbox_id is not None and (run.sent_at is None or run.reminder_sent_at is not None):
            first[run.patient_id] = min(first.get(run.patient_id, run.outbox_id), run.outbox_id)
    for patient_id, from_id in first.items():
        await cancel_bulk(session, [patient_id], now, "superseded", from_id=from_id)


async def _answers(session: AsyncSession, patient_ids: Collection[int], scripts: Collection[str],
                   since: dt.datetime) -> list[tuple[int, str, dt.datetime]]:
    result = await session.execute(select(Measurement.patient_id, Measurement.script, Measurement.recorded_at)
                                   .where(Measurement.patient_id.in_(patient_ids),
                                          Measurement.script.in_(scripts), Measurement.recorded_at >= since))
    return [(patient_id, script, at) for patient_id, script, at in result.all()]


async def answered_runs(session: AsyncSession, sent: Sequence[CheckinRun],
                        scripts: Mapping[str, str]) -> set[int]:
    """Ids of the runs answered: at least one answer recorded in the run's script since it was queued."""
    if not sent:
        return set()
    since = {run.id: run.queued_at or run.due_at for run in sent}
    rows = await _answers(session, {run.patient_id for run in sent}, set(scripts.values()),
                          min(since.values()))
    return {run.id for run in sent if any(
        p == run.patient_id and s == scripts[run.dialog] and at >= since[run.id] for p, s, at in rows)}


async def done_today(session: AsyncSession, pairs: Sequence[tuple[CheckinRun, Patient]],
                     scripts: Mapping[str, str]) -> set[int]:
    """Ids of the runs whose patient already answered that script on that local date (/checkin)."""
    if not pairs:
        return set()
    windows = {}
    for run, patient in pairs:
        zone = zone_of(patient.timezone)
        windows[run.id] = (resolve_local(run.local_date, dt.time(0), zone),
                           resolve_local(run.local_date + dt.timedelta(days=1), dt.time(0), zone))
    rows = await _answers(session, {p.id for _, p in pairs}, set(scripts.values()),
                          min(start for start, _ in windows.values()))
    return {run.id for run, patient in pairs if any(
        p == patient.id and s == scripts[run.dialog] and windows[run.id][0] <= at < windows[run.id][1]
        for p, s, at in rows)}


# -- claiming ------------------------------------------------------------------------------------------

async def due_schedules(session: AsyncSession, now: dt.datetime,
                        limit: int) -> list[tuple[Schedule, Patient]]:
    """Due schedule rows, oldest first, locked for this transaction; rows another process holds are
    skipped (PostgreSQL), so two processes split the work instead of queueing behind each other."""
    query = (select(Schedule, Patient).join(Patient, Patient.id == Schedule.patient_id)
             .where(Schedule.next_due_at <= now).order_by(Schedule.next_due_at).limit(limit))
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True, of=Schedule)
    return [(schedule, patient) for schedule, patient in (await session.execute(query)).all()]


async def insert_runs(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> dict[tuple[int, str], int]:
    """Insert runs, skipping any whose (patient, dialog, local date) exists; {(patient, dialog): id} of
    those inserted. On PostgreSQL a concurrent insert of the same key waits for the other transaction,
    then does nothing: this, not timing, is why two processes never both start one check-in."""
    if not rows:
        return {}
    # The dialect's own insert, for ON CONFLICT DO NOTHING. Imported here: on PostgreSQL the engine has
    # loaded the module already; on SQLite it would be 20 ms of start-up for nothing.
    if is_postgres(session):
        from sqlalchemy.dialects.postgresql import insert  # noqa: PLC0415 - see above
    else:
        # The same ON CONFLICT API as PostgreSQL's, under another type.
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]  # noqa: PLC0415
    ordered = sorted(rows, key=lambda r: (r["patient_id"], r["dialog"]))  # one lock order for everyone
    statement = (insert(CheckinRun).values(ordered)
                 .on_conflict_do_nothing(index_elements=["patient_id", "dialog", "local_date"])
                 .returning(CheckinRun.id, CheckinRun.patient_id, CheckinRun.dialog))
    return {(patient_id, dialog): run_id for run_id, patient_id, dialog in (await session.execute(statement))}


async def take_stale_claims(session: AsyncSession, me: str, now: dt.datetime, older_than: dt.datetime,
                            limit: int) -> list[tuple[int, int]]:
    """(run, patient) of claims whose process went quiet (killed between claim and send), now ours."""
    query = (select(CheckinRun.id, CheckinRun.patient_id)
             .where(CheckinRun.status == "claimed", CheckinRun.claimed_at < older_than)
             .order_by(CheckinRun.claimed_at).limit(limit))
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    taken = [(run_id, patient_id) for run_id, patient_id in (await session.execute(query)).all()]
    if taken:
        await session.execute(update(CheckinRun).where(
            CheckinRun.id.in_([run_id for run_id, _ in taken]), CheckinRun.status == "claimed",
            CheckinRun.claimed_at < older_than).values(claimed_by=me, claimed_at=now))
    return taken


async def lock_patients(session: AsyncSession, patient_ids: Iterable[int]) -> None:
    """On PostgreSQL, lock the patients before any run row, in id order: the service's order (patient,
    then runs), so a /stop and a check-in for one patient queue up instead of deadlocking. On SQLite
    nothing: the caller's first write takes the one write lock, and reading first would only risk a
    staler snapshot."""
    if is_postgres(session):
        await session.execute(select(Patient.id).where(Patient.id.in_(sorted(set(patient_ids))))
                              .order_by(Patient.id).with_for_update(key_share=True))


async def hold_claims(session: AsyncSession, run_ids: Collection[int], me: str,
                      now: dt.datetime) -> list[tuple[CheckinRun, Patient]]:
    """Compare-and-set: of these runs, those still claimed by this process (with their patients).

    Closed by /pause or /stop, or taken over after this process looked dead: not ours to start.
    """
    result = await session.execute(update(CheckinRun).where(
        CheckinRun.id.in_(run_ids), CheckinRun.status == "claimed", CheckinRun.claimed_by == me,
    ).values(claimed_at=now).returning(CheckinRun.id))
    held = [run_id for (run_id,) in result.all()]
    if not held:
        return []
    rows = await session.execute(
        select(CheckinRun, Patient).join(Patient, Patient.id == CheckinRun.patient_id)
        .where(CheckinRun.id.in_(held)).order_by(CheckinRun.id).execution_options(populate_existing=True))
    return [(run, patient) for run, patient in rows.all()]


# -- after the send --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Work:
    """Which parts of a tick have anything to do (one round trip, so an idle tick costs one query)."""

    delivered: bool
    due: bool
    stale: bool
    reminders: bool


async def probe(session: AsyncSession, now: dt.datetime, stale_before: dt.datetime) -> Work:
    delivered = exists().where(
        CheckinRun.status == "queued", OutboxMessage.id == CheckinRun.outbox_id,
        (OutboxMessage.sent_at.is_not(None)) | (OutboxMessage.failed_at.is_not(None)))
    due = exists().where(Schedule.next_due_at <= now)
    stale = exists().where(CheckinRun.status == "claimed", CheckinRun.claimed_at < stale_before)
    reminders = exists().where(CheckinRun.status == "sent", CheckinRun.reminder_at <= now,
                               CheckinRun.reminder_sent_at.is_(None))
    row = (await session.execute(select(delivered, due, stale, reminders))).one()
    return Work(*(bool(value) for value in row))


async def pending_bulk(session: AsyncSession) -> int:
    """Unsent bulk rows (lane 1) in the outbox: how far the sender is behind the scheduler."""
    return int((await session.execute(select(func.count()).select_from(OutboxMessage).where(
        OutboxMessage.sent_at.is_(None), OutboxMessage.lane == LANE_BULK,
        OutboxMessage.failed_at.is_(None)))).scalar_one())


async def delivered(session: AsyncSession, limit: int) -> Sequence[Any]:
    """Queued runs whose first message the outbox delivered (or gave up on), with what the reminder
    rule needs: (run, outbox sent_at, timezone, next due time of that dialog)."""
    query = (select(CheckinRun, OutboxMessage.sent_at, Patient.timezone, Schedule.next_due_at)
             .join(OutboxMessage, OutboxMessage.id == CheckinRun.outbox_id)
             .join(Patient, Patient.id == CheckinRun.patient_id)
             .outerjoin(Schedule, (Schedule.patient_id == CheckinRun.patient_id)
                        & (Schedule.dialog == CheckinRun.dialog))
             .where(CheckinRun.status == "queued",
                    (OutboxMessage.sent_at.is_not(None)) | (OutboxMessage.failed_at.is_not(None)))
             .limit(limit))
    return (await session.execute(query)).all()


async def reminders_due(session: AsyncSession, now: dt.datetime, limit: int) -> list[tuple[int, int]]:
    """(run, patient) of sent check-ins whose reminder time has come."""
    query = (select(CheckinRun.id, CheckinRun.patient_id)
             .where(CheckinRun.status == "sent", CheckinRun.reminder_at <= now,
                    CheckinRun.reminder_sent_at.is_(None))
             .order_by(CheckinRun.reminder_at).limit(limit))
    return [(run_id, patient_id) for run_id, patient_id in (await session.execute(query)).all()]


async def take_reminders(session: AsyncSession, run_ids: Collection[int]) -> list[tuple[CheckinRun, Patient]]:
    """Compare-and-set: of these runs, those whose one reminder this process (and only this one)
    now decides, with their patients. The reminder time is cleared: it is one chance, sent or not."""
    result = await session.execute(update(CheckinRun).where(
        CheckinRun.id.in_(run_ids), CheckinRun.status == "sent", CheckinRun.reminder_sent_at.is_(None),
        CheckinRun.reminder_at.is_not(None)).values(reminder_at=None).returning(CheckinRun.id))
    taken = [run_id for (run_id,) in result.all()]
    if not taken:
        return []
    rows = await session.execute(
        select(CheckinRun, Patient).join(Patient, Patient.id == CheckinRun.patient_id)
        .where(CheckinRun.id.in_(taken)).order_by(CheckinRun.id).execution_options(populate_existing=True))
    return [(run, patient) for run, patient in rows.all()]


async def conversations(session: AsyncSession, patient_ids: Collection[int]) -> dict[int, Conversation]:
    """The dialog each patient is in now (patients with no dialog running are left out)."""
    result = await session.execute(select(Conversation).where(Conversation.patient_id.in_(patient_ids)))
    return {row.patient_id: row for row in result.scalars()}
