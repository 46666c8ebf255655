"""An in-memory unit of work (coachbot.app.unit_of_work), for testing use cases without a database.

Records are plain dataclasses; the repositories keep them in lists and dicts and answer as the
SQLAlchemy ones do (the same filters, the same order). `commit` keeps what the block did and
leaving without it throws the block's changes away, as a transaction would: each unit of work
works on a copy of the shared `FakeStore`, written back on commit.
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from coachbot.app.channel import Outgoing
from coachbot.care.escalation_rules import CheckinOutcome, EscalationRules, EscalationState
from coachbot.engine import AnswerValue, Position

OPEN = ("open", "acknowledged")
BASELINE = "baseline:"


@dataclass
class FakePatient:
    id: int
    label: str
    chat_id: int | None = None
    name: str | None = None
    timezone: str = "Europe/London"
    checkin_time: dt.time | None = None
    weekly_review_day: int = 6
    status: str = "active"
    paused_until: dt.datetime | None = None
    consent_at: dt.datetime | None = None
    consent_version: str | None = None
    consent_withdrawn_at: dt.datetime | None = None
    onboarded_at: dt.datetime | None = None
    unreachable: bool = False
    coach_id: int | None = None
    created_at: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    updated_at: dt.datetime = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


@dataclass
class FakeCoach:
    id: int
    name: str
    telegram_user_id: int | None = None
    is_admin: bool = False
    is_backup: bool = False
    active: bool = True


@dataclass
class FakeEscalation:
    id: int
    patient_id: int
    tier: str
    rule: str
    reason: str
    evidence: dict[str, Any]
    opened_at: dt.datetime
    updated_at: dt.datetime
    status: str = "open"
    due_at: dt.datetime | None = None
    acknowledged_at: dt.datetime | None = None
    acknowledged_by: int | None = None
    resolved_at: dt.datetime | None = None
    resolved_by: int | None = None
    next_alert_at: dt.datetime | None = None
    realerts: int = 0


@dataclass
class FakeRun:
    id: int
    patient_id: int
    dialog: str
    local_date: dt.date
    due_at: dt.datetime
    status: str
    reason: str | None = None
    closed_at: dt.datetime | None = None


@dataclass
class FakeRelay:
    patient_id: int
    coach_id: int
    opened_at: dt.datetime
    updated_at: dt.datetime


@dataclass
class FakeOverride:
    patient_id: int
    step_id: str
    kind: str
    coach_id: int | None
    created_at: dt.datetime


@dataclass
class FakeStore:
    """What the database holds: shared by every unit of work made by one `FakeUnitOfWorks`."""

    patients: dict[int, FakePatient] = field(default_factory=dict)
    coaches: dict[int, FakeCoach] = field(default_factory=dict)
    positions: dict[int, Position] = field(default_factory=dict)
    measurements: list[tuple[int, str, float | None, dt.datetime, str]] = field(default_factory=list)
    runs: list[FakeRun] = field(default_factory=list)
    escalations: list[FakeEscalation] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    relays: dict[int, FakeRelay] = field(default_factory=dict)
    overrides: list[FakeOverride] = field(default_factory=list)

    def measure(self, patient_id: int, code: str, value: float, at: dt.datetime,
                script: str = "daily") -> None:
        self.measurements.append((patient_id, code, value, at, script))


class _Patients:
    def __init__(self, db: FakeStore) -> None:
        self.db = db

    async def get(self, patient_id: int) -> FakePatient | None:
        return self.db.patients.get(patient_id)

    async def by_label(self, label: str) -> FakePatient | None:
        return next((p for p in self.db.patients.values() if p.label == label), None)

    async def lock(self, patient_ids: Collection[int]) -> None:
        return None


class _Coaches:
    def __init__(self, db: FakeStore) -> None:
        self.db = db

    async def get(self, coach_id: int) -> FakeCoach | None:
        return self.db.coaches.get(coach_id)

    async def least_loaded(self, exclude: Collection[int] = ()) -> FakeCoach | None:
        reachable = [c for c in self.db.coaches.values()
                     if c.active and c.telegram_user_id is not None and c.id not in exclude]
        load = {c.id: sum(1 for p in self.db.patients.values()
                          if p.coach_id == c.id and p.status != "stopped") for c in reachable}
        return min(reachable, key=lambda c: (load[c.id], c.id), default=None)

    async def backups(self) -> list[FakeCoach]:
        return sorted((c for c in self.db.coaches.values()
                       if c.active and c.is_backup and c.telegram_user_id is not None), key=lambda c: c.id)

    async def any_reachable(self) -> bool:
        return any(c.active and c.telegram_user_id is not None for c in self.db.coaches.values())


class _Conversations:
    def __init__(self, db: FakeStore) -> None:
        self.db = db

    async def position(self, patient_id: int) -> Position | None:
        return self.db.positions.get(patient_id)

    async def save(self, patient_id: int, position: Position | None, now: dt.datetime) -> None:
        if position is None:
            self.db.positions.pop(patient_id, None)
        else:
            self.db.positions[patient_id] = position


class _Measures:
    def __init__(self, db: FakeStore) -> None:
        self.db = db

    async def rules_window(self, patient_id: int, rules: EscalationRules,
                           since: dt.datetime) -> Sequence[tuple[str, float | None, dt.datetime]]:
        watched = {getattr(r, "measure", None) for r in rules.rules.values()} | set(rules.evidence.measures)
        whole = ({source.measure for source in rules.baselines.values()}
                 | {BASELINE + measure for measure in rules.baselines})
        rows = sorted(self.db.measurements, key=lambda m: m[3])
        return [(code, value, at) for pid, code, value, at, _ in rows
                if pid == patient_id and ((code in watched and at >= since) or code in whole)]

    def record(self, patient_id: int, code: str, value: AnswerValue, *, script: str, state: str,
               now: dt.datetime) -> None:
        numeric = float(value) if isinstance(value, int | float) else None
        self.db.measurements.append((patient_id, code, numeric, now, script))

    async def answered_since(self, patient_id: int, script: str, since: dt.datetime) -> bool:
        return any(pid == patient_id and s == script and at >= since
                   for pid, _, _, at, s in self.db.measurements)


class _Checkins:
    def __init__(self, db: FakeStore) -> None:
        self.db = db

    async def outcomes(self, patient_id: int, since: dt.date, *,
                       answering: bool) -> dict[dt.date, CheckinOutcome]:
        statuses = ("answered", "missed", "sent", "queued") if answering else ("answered", "missed")
        return {run.local_date: "missed" if run.status == "missed" else "answered" for run in self.db.runs
                if run.patient_id == patient_id and run.local_date >= since and run.status in statuses}

    async def patients_missed_since(self, since: dt.datetime) -> list[int]:
        return sorted({run.patient_id for run in self.db.runs if run.status == "missed"
                       and run.closed_at is not None and run.closed_at > since})

    async def on_day(self, patient_id: int, local_date: dt.date, *, reason: str) -> FakeRun | None:
        return next((run for run in self.db.runs if run.patient_id == patient_id
                     and run.local_date == local_date and run.reason == reason), None)


class _Escalations:
    def __init__(self, db: FakeStore) -> None:
        self.db = db

    async def open_for_rule(self, patient_id: int, rule: str) -> FakeEscalation | None:
        return next((e for e in self.db.escalations
                     if e.patient_id == patient_id and e.rule == rule and e.status in OPEN), None)

    async def open_for_patient(self, patient_id: int) -> list[FakeEscalation]:
        return [e for e in self.db.escalations if e.patient_id == patient_id and e.status in OPEN]

    async def states(self, patient_id: int, since: dt.datetime) -> list[EscalationState]:
        return [EscalationState(e.rule, e.status, e.opened_at, e.resolved_at)  # type: ignore[arg-type]
                for e in self.db.escalations if e.patient_id == patient_id
                and (e.status in OPEN or (e.resolved_at is not None and e.resolved_at >= since))]

    async def open(self, *, patient_id: int, tier: str, rule: str, reason: str, evidence: dict[str, Any],
                   now: dt.datetime) -> FakeEscalation:
        row = FakeEscalation(id=len(self.db.escalations) + 1, patient_id=patient_id, tier=tier, rule=rule,
                             reason=reason, evidence=evidence, opened_at=now, updated_at=now)
        self.db.escalations.append(row)
        return row

    async def due_for_realert(self, now: dt.datetime, *,
                              limit: int) -> list[tuple[FakeEscalation, FakePatient]]:
        due = sorted((e for e in self.db.escalations if e.status in OPEN and e.next_alert_at is not None
                      and e.next_alert_at <= now), key=lambda e: e.next_alert_at or now)
        return [(e, self.db.patients[e.patient_id]) for e in due[:limit]]


class _Outbox:
    def __init__(self, db: FakeStore) -> None:
        self.db = db

    async def queue(self, outgoing: Sequence[Outgoing], *, chat_id: int, patient_id: int | None,
                    now: dt.datetime) -> list[dict[str, Any]]:
        rows = []
        for item in outgoing:
            own = item.chat_id is None
            row = {"id": len(self.db.outbox) + 1, "chat_id": chat_id if own else item.chat_id,
                   "lane": item.lane, "kind": item.kind, "payload": item.payload,
                   "patient_id": patient_id if own else item.patient_id, "escalation_id": item.escalation_id}
            self.db.outbox.append(row)
            rows.append(row)
        return rows


class _Audit:
    def __init__(self, db: FakeStore) -> None:
        self.db = db

    def record(self, *, actor: str, action: str, subject: str | None, detail: dict[str, Any],
               now: dt.datetime) -> None:
        self.db.audit.append({"actor": actor, "action": action, "subject": subject, "detail": detail})


class _Relays:
    def __init__(self, db: FakeStore) -> None:
        self.db = db

    async def get(self, patient_id: int) -> FakeRelay | None:
        return self.db.relays.get(patient_id)

    async def open(self, patient_id: int, coach_id: int, now: dt.datetime) -> None:
        relay = self.db.relays.get(patient_id)
        if relay is None:
            self.db.relays[patient_id] = FakeRelay(patient_id, coach_id, now, now)
        else:
            relay.coach_id, relay.updated_at = coach_id, now

    async def close(self, relay: object) -> None:
        assert isinstance(relay, FakeRelay)
        self.db.relays.pop(relay.patient_id, None)

    async def live_among(self, patient_ids: Collection[int], since: dt.datetime) -> set[int]:
        return {pid for pid, relay in self.db.relays.items()
                if pid in patient_ids and relay.updated_at > since}


class _Overrides:
    def __init__(self, db: FakeStore) -> None:
        self.db = db

    async def get(self, patient_id: int, step_id: str) -> FakeOverride | None:
        return next((o for o in self.db.overrides
                     if (o.patient_id, o.step_id) == (patient_id, step_id)), None)

    async def add(self, *, patient_id: int, step_id: str, kind: str, coach_id: int, now: dt.datetime) -> None:
        self.db.overrides.append(FakeOverride(patient_id, step_id, kind, coach_id, now))

    async def remove(self, override: object) -> None:
        self.db.overrides.remove(override)  # type: ignore[arg-type]


class FakeUnitOfWork:
    """One 'transaction' on a copy of the store: `commit` writes the copy back."""

    def __init__(self, shared: FakeStore) -> None:
        self.shared = shared
        self.committed = False
        self._use(copy.deepcopy(shared))

    def _use(self, db: FakeStore) -> None:
        self.db = db
        self.patients, self.coaches = _Patients(db), _Coaches(db)
        self.conversations, self.measures = _Conversations(db), _Measures(db)
        self.checkins, self.escalations = _Checkins(db), _Escalations(db)
        self.outbox, self.audit, self.relays = _Outbox(db), _Audit(db), _Relays(db)
        self.step_overrides = _Overrides(db)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None,
                        traceback: TracebackType | None) -> None:
        await self.rollback()

    async def commit(self) -> None:
        self.shared.__dict__.update(copy.deepcopy(self.db).__dict__)
        self.committed = True

    async def rollback(self) -> None:
        self._use(copy.deepcopy(self.shared))


class FakeUnitOfWorks:
    """The factory: every unit of work it makes shares `store`."""

    def __init__(self, store: FakeStore | None = None) -> None:
        self.store = store or FakeStore()
        self.made: list[FakeUnitOfWork] = []

    def __call__(self) -> FakeUnitOfWork:
        uow = FakeUnitOfWork(self.store)
        self.made.append(uow)
        return uow
