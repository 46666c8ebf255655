"""The repositories of `coachbot.app.unit_of_work` on one SQLAlchemy session.

Each is a thin object around the session of its unit of work (`unit_of_work.py`); the statements the
answer path runs are built once, on the tables, as in `store.py`, whose functions they reuse.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    exists,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from coachbot.adapters.db import schedule_store, store
from coachbot.adapters.db.models import (
    CheckinRun,
    Coach,
    CoachInvite,
    CoachNote,
    CoachRelay,
    Conversation,
    Escalation,
    Measurement,
    OutboxMessage,
    Patient,
    StepOverride,
    StepSuggestion,
    table_of,
)
from coachbot.care.escalation_rules import (
    CheckinOutcome,
    EscalationRules,
    EscalationState,
    once_per_rules_file,
)
from coachbot.engine import AnswerValue, Position

OPEN = ("open", "acknowledged")
_TIERS = {"urgent": 0, "soon": 1, "routine": 2}
BASELINE_PREFIX = "baseline:"
"""A coach's re-base is a measurement with this prefix before the measure's code (as
`coachbot.app.escalations.history` reads it)."""


class SqlPatients:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, patient_id: int) -> Patient | None:
        return await self.session.get(Patient, patient_id)

    async def with_conversation(self, chat_id: int,
                                now: dt.datetime) -> tuple[Patient | None, Conversation | None]:
        since = now - dt.timedelta(days=store.OPEN_STEP_DAYS)
        row = (await self.session.execute(_PATIENT_WITH_CONVERSATION,
                                          {"chat_id": chat_id, "since": since})).first()
        if row is None:
            return None, None
        if row[1] is None:
            store.note_no_conversation(self.session, row[0].id)
        store.note_open_step(self.session, row[0].id, since, bool(row[2]))
        return row[0], row[1]

    async def of_coach(self, coach_id: int) -> list[Patient]:
        return list((await self.session.execute(
            select(Patient).where(Patient.coach_id == coach_id).order_by(Patient.label))).scalars())

    async def by_label(self, label: str) -> Patient | None:
        found = await self.session.execute(select(Patient).where(Patient.label == label))
        return found.scalar_one_or_none()

    async def lock(self, patient_ids: Collection[int]) -> None:
        await schedule_store.lock_patients(self.session, patient_ids)


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


class SqlCoaches:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, coach_id: int) -> Coach | None:
        return await self.session.get(Coach, coach_id)

    async def least_loaded(self, exclude: Collection[int] = ()) -> Coach | None:
        load = (select(Coach, func.count(Patient.id).label("patients"))
                .outerjoin(Patient, (Patient.coach_id == Coach.id) & (Patient.status != "stopped"))
                .where(Coach.active.is_(True), Coach.telegram_user_id.is_not(None),
                       Coach.id.not_in(exclude))
                .group_by(Coach.id).order_by(func.count(Patient.id), Coach.id).limit(1))
        row = (await self.session.execute(load)).first()
        return row[0] if row else None

    async def for_chat(self, chat_id: int, *, active: bool) -> Coach | None:
        if chat_id <= 0:  # a private chat's id is the user's id; groups are negative
            return None
        result = await self.session.execute(
            select(Coach).where(Coach.telegram_user_id == chat_id, Coach.active.is_(active)))
        return result.scalar_one_or_none()

    async def by_telegram_id(self, telegram_user_id: int) -> Coach | None:
        return (await self.session.execute(
            select(Coach).where(Coach.telegram_user_id == telegram_user_id))).scalar_one_or_none()

    async def add(self, *, telegram_user_id: int, name: str, is_admin: bool, is_backup: bool,
                  now: dt.datetime) -> Coach:
        coach = Coach(telegram_user_id=telegram_user_id, name=name, is_admin=is_admin, is_backup=is_backup,
                      active=True, created_at=now)
        self.session.add(coach)
        await self.session.flush()
        return coach

    async def backups(self) -> list[Coach]:
        return list((await self.session.execute(select(Coach).where(
            Coach.active.is_(True), Coach.is_backup.is_(True), Coach.telegram_user_id.is_not(None))
            .order_by(Coach.id))).scalars())

    async def any_reachable(self) -> bool:
        return (await self.session.execute(select(Coach.id).where(
            Coach.active.is_(True), Coach.telegram_user_id.is_not(None)).limit(1))).first() is not None


class SqlConversations:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def position(self, patient_id: int) -> Position | None:
        return await store.load_position(self.session, patient_id)

    async def save(self, patient_id: int, position: Position | None, now: dt.datetime) -> None:
        await store.save_position(self.session, patient_id, position, now)

    async def current(self, patient_ids: Collection[int]) -> dict[int, Conversation]:
        return await schedule_store.conversations(self.session, patient_ids)


class SqlMeasures:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def rules_window(self, patient_id: int, rules: EscalationRules,
                           since: dt.datetime) -> Sequence[tuple[str, float | None, dt.datetime]]:
        rows = (await self.session.execute(_window_query(rules),
                                           {"patient_id": patient_id, "since": since})).all()
        return rows  # type: ignore[return-value]

    def record(self, patient_id: int, code: str, value: AnswerValue, *, script: str, state: str,
               now: dt.datetime) -> None:
        store.add_measurement(self.session, patient_id, code, value, script, state, now)

    async def values_between(self, patient_id: int, code: str, since: dt.datetime,
                             until: dt.datetime) -> list[tuple[dt.datetime, float]]:
        reads = store.remembered_reads(self.session)  # forgotten when a measurement is added
        key = (_VALUES_BETWEEN, patient_id, code, since, until)
        values: list[tuple[dt.datetime, float]] | None = reads.get(key)
        if values is None:
            rows = (await self.session.execute(_VALUES_BETWEEN, {
                "patient_id": patient_id, "code": code, "since": since, "until": until})).all()
            values = reads[key] = [(at, float(value)) for at, value in rows if value is not None]
        return list(values)

    async def recorded_since(self, patient_id: int, code: str, since: dt.datetime) -> bool:
        row = (await self.session.execute(
            select(Measurement.id).where(Measurement.patient_id == patient_id, Measurement.code == code,
                                         Measurement.recorded_at >= since).limit(1))).first()
        return row is not None

    async def latest_texts(self, patient_id: int, codes: Collection[str]) -> dict[str, str]:
        rows = (await self.session.execute(
            select(Measurement.code, Measurement.value_text)
            .where(Measurement.patient_id == patient_id, Measurement.code.in_(list(codes)),
                   Measurement.value_text.is_not(None))
            .order_by(Measurement.recorded_at, Measurement.id))).all()
        return {code: text for code, text in rows if text and text.strip()}

    async def answers(self, patient_id: int, codes: Collection[str], *,
                      since: dt.datetime | None = None) -> list[tuple[str, float | None, str | None]]:
        if since is None:
            rows = await self.session.execute(_answers_query(tuple(codes), windowed=False),
                                              {"patient_id": patient_id})
        else:
            rows = await self.session.execute(_answers_query(tuple(codes), windowed=True),
                                              {"patient_id": patient_id, "since": since})
        return [(code, number, text) for code, number, text in rows.all()]

    async def numbers(self, patient_id: int, *, codes: Collection[str] | None = None,
                      since: dt.datetime | None = None) -> list[tuple[str, float, dt.datetime]]:
        query = select(Measurement.code, Measurement.value_num, Measurement.recorded_at).where(
            Measurement.patient_id == patient_id, Measurement.value_num.is_not(None))
        if codes is not None:
            query = query.where(Measurement.code.in_(list(codes)))
        if since is not None:
            query = query.where(Measurement.recorded_at >= since)
        rows = await self.session.execute(query.order_by(Measurement.recorded_at, Measurement.id))
        return [(code, float(value), at) for code, value, at in rows.all() if value is not None]

    async def last_recorded(self, patient_id: int, code: str) -> dt.datetime | None:
        return (await self.session.execute(
            select(Measurement.recorded_at).where(Measurement.patient_id == patient_id,
                                                  Measurement.code == code)
            .order_by(Measurement.recorded_at.desc()).limit(1))).scalar()

    async def texts(self, patient_id: int, code: str, *, after: dt.datetime | None,
                    limit: int) -> list[tuple[dt.datetime, str]]:
        query = select(Measurement.recorded_at, Measurement.value_text).where(
            Measurement.patient_id == patient_id, Measurement.code == code,
            Measurement.value_text.is_not(None))
        if after is not None:
            query = query.where(Measurement.recorded_at > after)
        rows = await self.session.execute(
            query.order_by(Measurement.recorded_at.desc(), Measurement.id.desc()).limit(limit))
        return [(at, text) for at, text in rows.all() if text]

    async def answered_since(self, patient_id: int, script: str, since: dt.datetime) -> bool:
        found = await self.session.execute(select(Measurement.id).where(
            Measurement.patient_id == patient_id, Measurement.script == script,
            Measurement.recorded_at >= since).limit(1))
        return found.first() is not None


class SqlInvites:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *, code_hash: str, name: str, is_admin: bool, is_backup: bool, now: dt.datetime,
                  expires_at: dt.datetime) -> CoachInvite:
        invite = CoachInvite(code_hash=code_hash, name=name, is_admin=is_admin, is_backup=is_backup,
                             created_at=now, expires_at=expires_at)
        self.session.add(invite)
        await self.session.flush()
        return invite

    async def by_hash(self, code_hash: str) -> CoachInvite | None:
        return (await self.session.execute(
            select(CoachInvite).where(CoachInvite.code_hash == code_hash))).scalar_one_or_none()

    async def take(self, invite_id: int, now: dt.datetime) -> bool:
        taken = await self.session.execute(update(CoachInvite).where(
            CoachInvite.id == invite_id, CoachInvite.used_at.is_(None)).values(used_at=now))
        return bool(taken.rowcount == 1)  # type: ignore[attr-defined]

    async def used_by(self, invite_id: int, coach_id: int) -> None:
        await self.session.execute(update(CoachInvite).where(CoachInvite.id == invite_id)
                                   .values(used_by=coach_id))


class SqlStepOverrides:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, patient_id: int, step_id: str) -> StepOverride | None:
        return (await self.session.execute(select(StepOverride).where(
            StepOverride.patient_id == patient_id, StepOverride.step_id == step_id))).scalar_one_or_none()

    async def add(self, *, patient_id: int, step_id: str, kind: str, coach_id: int, now: dt.datetime) -> None:
        self.session.add(StepOverride(patient_id=patient_id, step_id=step_id, kind=kind, coach_id=coach_id,
                                      created_at=now))

    async def remove(self, override: object) -> None:
        """`override` is a row this repository gave out (a StepOverride)."""
        await self.session.delete(override)

    async def of_patient(self, patient_id: int) -> list[tuple[str, str]]:
        rows = await self.session.execute(_OVERRIDES, {"patient_id": patient_id})
        return [(step, kind) for step, kind in rows.all()]


_M = table_of(Measurement)
_VALUES_BETWEEN = (
    select(_M.c.recorded_at, _M.c.value_num)
    .where(_M.c.patient_id == bindparam("patient_id"), _M.c.code == bindparam("code"),
           _M.c.recorded_at >= bindparam("since"), _M.c.recorded_at <= bindparam("until"),
           _M.c.value_num.is_not(None))
    .order_by(_M.c.recorded_at, _M.c.id))
"""Built once, on the table (so the session runs it as plain Core, without the ORM's handling of
a statement): every daily check-in's start and end reads the pain answers with it."""


class SqlSuggestions:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def history(self, patient_id: int, since: dt.datetime) -> list[tuple[str, dt.datetime, str | None]]:
        rows = await self.session.execute(_PAST, {"patient_id": patient_id, "since": since})
        return [(step, at, feedback) for step, at, feedback in rows.all()]

    async def record(self, patient_id: int, step_id: str, reason: str, now: dt.datetime) -> None:
        store.forget_open_step(self.session)
        await self.session.execute(_RECORD, {"patient_id": patient_id, "step_id": step_id,
                                             "suggested_at": now, "reason": reason})

    async def todays(self, patient_id: int, since: dt.datetime, now: dt.datetime) -> str | None:
        row = (await self.session.execute(
            select(StepSuggestion.step_id).where(
                StepSuggestion.patient_id == patient_id, StepSuggestion.suggested_at >= since,
                StepSuggestion.suggested_at <= now,
                (StepSuggestion.feedback.is_(None)) | (StepSuggestion.feedback != "declined"))
            .order_by(StepSuggestion.suggested_at.desc(), StepSuggestion.id.desc()).limit(1))).first()
        return row[0] if row else None

    async def decline(self, patient_id: int, step_id: str, now: dt.datetime) -> None:
        row = (await self.session.execute(
            select(StepSuggestion).where(StepSuggestion.patient_id == patient_id,
                                         StepSuggestion.step_id == step_id)
            .order_by(StepSuggestion.suggested_at.desc(), StepSuggestion.id.desc()).limit(1)
        )).scalar_one_or_none()
        if row is not None and row.feedback is None:
            store.forget_open_step(self.session)
            row.feedback, row.feedback_at = "declined", now

    async def give_feedback(self, patient_id: int, feedback: str, now: dt.datetime) -> None:
        latest = (await self.session.execute(
            select(StepSuggestion).where(StepSuggestion.patient_id == patient_id,
                                         StepSuggestion.feedback.is_(None))
            .order_by(StepSuggestion.suggested_at.desc()).limit(1))).scalar_one_or_none()
        if latest is not None:
            store.forget_open_step(self.session)
            latest.feedback = feedback
            latest.feedback_at = now

    async def latest(self, patient_id: int, limit: int) -> list[tuple[str, dt.datetime, str | None]]:
        rows = await self.session.execute(
            select(StepSuggestion.step_id, StepSuggestion.suggested_at, StepSuggestion.feedback)
            .where(StepSuggestion.patient_id == patient_id)
            .order_by(StepSuggestion.suggested_at.desc(), StepSuggestion.id.desc()).limit(limit))
        return [(step, at, feedback) for step, at, feedback in rows.all()]

    async def answers_by_band(self, since: dt.datetime, *,
                              patient_id: int | None = None) -> list[tuple[str, str, str, str, int]]:
        if patient_id is None:
            result = await self.session.execute(_counts_query(own=False), {"since": since})
        else:
            result = await self.session.execute(_counts_query(own=True),
                                                {"since": since, "patient_id": patient_id})
        return [(pain, mood, step, feedback, int(n)) for pain, mood, step, feedback, n in result.all()]


_S = table_of(StepSuggestion)
_E, _O = table_of(Escalation), table_of(StepOverride)
# The statements of a step suggestion, built once: building and hashing them anew cost more than
# running them. On the tables, not the mapped classes: the session then runs them as plain Core, which
# costs less CPU than the ORM's handling of a statement (they return plain rows either way).
_OPEN_RULES = select(_E.c.rule).where(_E.c.patient_id == bindparam("patient_id"), _E.c.status.in_(OPEN))
_OVERRIDES = (select(_O.c.step_id, _O.c.kind)
              .where(_O.c.patient_id == bindparam("patient_id"))
              .order_by(_O.c.created_at, _O.c.id))
_PAST = (select(_S.c.step_id, _S.c.suggested_at, _S.c.feedback)
         .where(_S.c.patient_id == bindparam("patient_id"), _S.c.suggested_at >= bindparam("since"))
         .order_by(_S.c.suggested_at, _S.c.id))
_RECORD = insert(_S)
"""A new suggestion, written at once (added to the session, its flush cost more than the insert)."""


@functools.cache
def _answers_query(codes: tuple[str, ...], *, windowed: bool) -> Select[Any]:
    """Answers to a fixed set of codes (one statement per set, built once)."""
    query = select(_M.c.code, _M.c.value_num, _M.c.value_text).where(
        _M.c.patient_id == bindparam("patient_id"), _M.c.code.in_(list(codes)))
    if windowed:
        query = query.where(_M.c.recorded_at >= bindparam("since"))
    return query.order_by(_M.c.recorded_at, _M.c.id)


@functools.cache
def _counts_query(*, own: bool) -> Select[Any]:
    """Built once (per kind): each suggestion asks for the patient's own counts, and building this
    statement cost more than running it. On the tables, so the session runs it as plain Core."""
    answered = (select(_S.c.step_id, _S.c.feedback,
                       _latest("pain_now").label("pain"), _latest("mood_now").label("mood"))
                .where(_S.c.feedback.is_not(None), _S.c.suggested_at >= bindparam("since")))
    if own:
        answered = answered.where(_S.c.patient_id == bindparam("patient_id"))
    inner = answered.subquery()
    pain, mood = _band(inner.c.pain).label("pain_band"), _band(inner.c.mood).label("mood_band")
    return (select(pain, mood, inner.c.step_id, inner.c.feedback, func.count())
            .group_by(pain, mood, inner.c.step_id, inner.c.feedback))


def _latest(code: str) -> ColumnElement[float]:
    """The patient's latest answer to `code` at the moment the step was offered (an index lookup)."""
    return (select(_M.c.value_num)
            .where(_M.c.patient_id == _S.c.patient_id, _M.c.code == code,
                   _M.c.recorded_at <= _S.c.suggested_at)
            .order_by(_M.c.recorded_at.desc()).limit(1)
            .correlate(_S).scalar_subquery())


def _band(value: ColumnElement[float]) -> ColumnElement[str]:
    """`care.step_policy.score_band` in SQL: 0-3, 4-6, 7-10, or "unknown" with no answer."""
    return case((value.is_(None), "unknown"), (value < 4, "0-3"), (value < 7, "4-6"), else_="7-10")


class SqlCoachNotes:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, *, patient_id: int, coach_id: int, text: str, now: dt.datetime) -> int:
        note = CoachNote(patient_id=patient_id, coach_id=coach_id, text=text, created_at=now)
        self.session.add(note)
        await self.session.flush()
        return note.id

    async def latest(self, patient_id: int, limit: int) -> list[tuple[str, dt.datetime, Coach]]:
        rows = await self.session.execute(
            select(CoachNote, Coach).join(Coach, Coach.id == CoachNote.coach_id)
            .where(CoachNote.patient_id == patient_id)
            .order_by(CoachNote.created_at.desc(), CoachNote.id.desc()).limit(limit))
        return [(note.text, note.created_at, coach) for note, coach in rows.all()]


class SqlRelays:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, patient_id: int) -> CoachRelay | None:
        return await self.session.get(CoachRelay, patient_id)

    async def open(self, patient_id: int, coach_id: int, now: dt.datetime) -> None:
        relay = await self.session.get(CoachRelay, patient_id)
        if relay is None:
            self.session.add(CoachRelay(patient_id=patient_id, coach_id=coach_id, opened_at=now,
                                        updated_at=now))
        else:
            relay.coach_id, relay.updated_at = coach_id, now

    async def close(self, relay: object) -> None:
        """`relay` is a row this repository gave out (a CoachRelay)."""
        await self.session.delete(relay)

    async def labels_with(self, coach_id: int) -> list[str]:
        return list((await self.session.execute(
            select(Patient.label).join(CoachRelay, CoachRelay.patient_id == Patient.id)
            .where(CoachRelay.coach_id == coach_id).order_by(Patient.label))).scalars())

    async def live_among(self, patient_ids: Collection[int], since: dt.datetime) -> set[int]:
        if not patient_ids:
            return set()
        result = await self.session.execute(select(CoachRelay.patient_id).where(
            CoachRelay.patient_id.in_(list(patient_ids)), CoachRelay.updated_at > since))
        return set(result.scalars())


@once_per_rules_file
def _window_query(rules: EscalationRules) -> Select[str, float | None, dt.datetime]:
    """The statement for one rules file, built once: on the answer path, building and hashing a new
    statement for each answer cost more than SQLite takes to run it. One query on the (patient, code,
    time) index."""
    watched = (*(getattr(r, "measure", None) for r in rules.rules.values()), *rules.evidence.measures)
    windowed = sorted({measure for measure in watched if measure is not None})
    whole = sorted({source.measure for source in rules.baselines.values()}
                   | {BASELINE_PREFIX + measure for measure in rules.baselines})
    m = Measurement
    return (select(m.code, m.value_num, m.recorded_at)
            .where(m.patient_id == bindparam("patient_id"),
                   or_(and_(_one_of(m.code, windowed), m.recorded_at >= bindparam("since")),
                       _one_of(m.code, whole)))
            .order_by(m.recorded_at, m.id))


def _one_of(column: Any, codes: list[str]) -> Any:
    """`column IN (codes)`, each code a bound value so the statement's cache key stays the same;
    no codes is never true."""
    return column.in_([literal(code) for code in codes]) if codes else false()


class SqlCheckins:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def outcomes(self, patient_id: int, since: dt.date, *,
                       answering: bool) -> dict[dt.date, CheckinOutcome]:
        statuses = ("answered", "missed", "sent", "queued") if answering else ("answered", "missed")
        result = await self.session.execute(
            select(CheckinRun.local_date, CheckinRun.status)
            .where(CheckinRun.patient_id == patient_id, CheckinRun.local_date >= since,
                   CheckinRun.status.in_(statuses)))
        return {day: "missed" if status == "missed" else "answered" for day, status in result.all()}

    async def on_day(self, patient_id: int, local_date: dt.date, *, reason: str) -> CheckinRun | None:
        return (await self.session.execute(select(CheckinRun).where(
            CheckinRun.patient_id == patient_id, CheckinRun.local_date == local_date,
            CheckinRun.reason == reason))).scalars().first()

    async def delivered(self,
                        limit: int) -> list[tuple[CheckinRun, dt.datetime | None, str, dt.datetime | None]]:
        return [(run, sent_at, timezone, next_due)
                for run, sent_at, timezone, next_due in await schedule_store.delivered(self.session, limit)]

    async def reminders_due(self, now: dt.datetime, limit: int) -> list[tuple[int, int]]:
        return await schedule_store.reminders_due(self.session, now, limit)

    async def take_reminders(self, run_ids: Collection[int]) -> list[tuple[CheckinRun, Patient]]:
        return await schedule_store.take_reminders(self.session, run_ids)

    async def answered(self, runs: Sequence[object], scripts: Mapping[str, str]) -> set[int]:
        """`runs` are rows this repository gave out (CheckinRun)."""
        return await schedule_store.answered_runs(self.session, runs, scripts)  # type: ignore[arg-type]

    async def patients_missed_since(self, since: dt.datetime) -> list[int]:
        return list((await self.session.execute(
            select(CheckinRun.patient_id).where(
                CheckinRun.status == "missed",
                CheckinRun.local_date >= (since - dt.timedelta(days=2)).date(),
                CheckinRun.closed_at > since).group_by(CheckinRun.patient_id)
            .order_by(func.min(CheckinRun.patient_id)))).scalars())


class SqlEscalations:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, escalation_id: int) -> Escalation | None:
        return await self.session.get(Escalation, escalation_id)

    async def note_pending_for(self, coach_id: int) -> Escalation | None:
        return (await self.session.execute(
            select(Escalation).where(Escalation.note_pending_by == coach_id, Escalation.status != "resolved")
            .order_by(Escalation.updated_at.desc(), Escalation.id.desc()).limit(1))).scalar_one_or_none()

    async def open_for_rule(self, patient_id: int, rule: str) -> Escalation | None:
        return (await self.session.execute(select(Escalation).where(
            Escalation.patient_id == patient_id, Escalation.rule == rule,
            Escalation.status.in_(OPEN)).limit(1))).scalars().first()

    async def without_alert(self) -> list[tuple[Escalation, Patient]]:
        has_alert = exists().where(OutboxMessage.escalation_id == Escalation.id)
        result = await self.session.execute(
            select(Escalation, Patient).join(Patient, Patient.id == Escalation.patient_id)
            .where(Escalation.status.in_(OPEN), ~has_alert).order_by(Escalation.id))
        return [(escalation, patient) for escalation, patient in result.all()]

    async def queue(self, coach_id: int | None, limit: int) -> tuple[list[tuple[Escalation, str]], int]:
        query = (select(Escalation, Patient.label).join(Patient, Patient.id == Escalation.patient_id)
                 .where(Escalation.status.in_(OPEN)))
        if coach_id is not None:
            query = query.where(Patient.coach_id == coach_id)
        tier_rank = case(_TIERS, value=Escalation.tier, else_=len(_TIERS))
        rows = [(escalation, label) for escalation, label in (await self.session.execute(
            query.order_by(tier_rank, Escalation.opened_at, Escalation.id).limit(limit + 1))).all()]
        total = len(rows)
        if total > limit:
            total = int((await self.session.execute(
                select(func.count()).select_from(query.subquery()))).scalar_one())
        return rows[:limit], total

    async def open_rules(self, patient_id: int) -> list[str]:
        return list((await self.session.execute(_OPEN_RULES, {"patient_id": patient_id})).scalars())

    async def open_for_patient(self, patient_id: int) -> list[Escalation]:
        result = await self.session.execute(select(Escalation).where(
            Escalation.patient_id == patient_id, Escalation.status.in_(OPEN)))
        return list(result.scalars())

    async def due_for_realert(self, now: dt.datetime, *, limit: int) -> list[tuple[Escalation, Patient]]:
        """On PostgreSQL the rows are locked, skipping those another process holds."""
        query = (select(Escalation, Patient).join(Patient, Patient.id == Escalation.patient_id)
                 .where(Escalation.status.in_(OPEN), Escalation.next_alert_at <= now)
                 .order_by(Escalation.next_alert_at).limit(limit))
        if self.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=Escalation)
        return [(escalation, patient) for escalation, patient in (await self.session.execute(query)).all()]

    async def listed(self, status: str, tier: str | None) -> list[tuple[Escalation, str, int | None]]:
        query = (select(Escalation, Patient.label, Patient.coach_id)
                 .join(Patient, Patient.id == Escalation.patient_id))
        if status == "unresolved":
            query = query.where(Escalation.status.in_(OPEN))
        elif status != "all":
            query = query.where(Escalation.status == status)
        if tier is not None:
            query = query.where(Escalation.tier == tier)
        tier_rank = case(_TIERS, value=Escalation.tier, else_=len(_TIERS))
        rows = await self.session.execute(query.order_by(tier_rank, Escalation.opened_at, Escalation.id))
        return [(escalation, label, coach) for escalation, label, coach in rows.all()]

    async def states(self, patient_id: int, since: dt.datetime) -> list[EscalationState]:
        result = await self.session.execute(
            select(Escalation.rule, Escalation.status, Escalation.opened_at, Escalation.resolved_at)
            .where(Escalation.patient_id == patient_id,
                   or_(Escalation.status.in_(OPEN), Escalation.resolved_at >= since)))
        return [EscalationState(rule, status, opened, resolved)  # type: ignore[arg-type]
                for rule, status, opened, resolved in result.all()]

    async def open(self, *, patient_id: int, tier: str, rule: str, reason: str, evidence: dict[str, Any],
                   now: dt.datetime) -> Escalation:
        row = Escalation(patient_id=patient_id, tier=tier, rule=rule, reason=reason, status="open",
                         evidence=evidence, opened_at=now, updated_at=now)
        self.session.add(row)
        await self.session.flush()
        return row


class SqlOutbox:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def delivered_cards(self, escalation_id: int) -> list[tuple[int, int, dict[str, Any]]]:
        rows = (await self.session.execute(select(OutboxMessage).where(
            OutboxMessage.escalation_id == escalation_id, OutboxMessage.message_id.is_not(None),
            OutboxMessage.kind.in_(("photo", "text"))))).scalars().all()
        return [(int(row.message_id or 0), row.chat_id, row.payload) for row in rows]

    async def queue(self, outgoing: Sequence[store.OutgoingLike], *, chat_id: int, patient_id: int | None,
                    now: dt.datetime) -> list[dict[str, Any]]:
        """One statement for all the rows (`store.INSERT_OUTBOX`), the values as every writer builds
        them (`store.outbox_values`); each row's values with its id."""
        if not outgoing:
            return []
        values = [store.outbox_values(item, chat_id=chat_id, patient_id=patient_id, now=now)
                  for item in outgoing]
        result = await self.session.execute(store.INSERT_OUTBOX, values)
        return [{**v, "id": row_id} for v, row_id in zip(values, result.scalars().all(), strict=True)]


class SqlAuditLog:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    def record(self, *, actor: str, action: str, subject: str | None, detail: dict[str, Any],
               now: dt.datetime) -> None:
        store.audit(self.session, actor=actor, action=action, subject=subject, detail=detail, now=now)
