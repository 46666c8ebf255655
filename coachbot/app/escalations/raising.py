"""Raising escalations: after an answer, after a missed check-in, and when a dialog says so.

Everything runs in the caller's transaction, so an escalation commits with the answer (or the miss)
that caused it, or not at all. One open escalation per patient and rule: new evidence updates the
open one (its evidence and `updated_at`) and sends nothing new; a coach already has it. Except when
it is worse: a dialog's statement of risk with a higher tier or severity than the escalation holds,
or any statement of risk after a coach acknowledged it, re-sends the card marked as worse and makes
it unacknowledged again, with a new deadline (a later crisis must never be absorbed by an earlier
one). Every reason is kept in `evidence["history"]`, and a milder one never replaces the stronger
reason, tier or severity the escalation holds. (No migration: the JSON evidence column holds this.)
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace
from typing import Any

from coachbot.app.channel import EscalationNotice
from coachbot.app.escalations.history import completed, history_of, load_history
from coachbot.app.unit_of_work import EscalationRecord, MeasurementRow, UnitOfWork
from coachbot.care.escalation_rules import (
    BOOKKEEPING,
    EscalationRules,
    Measurement,
    deadline_for,
    evaluate,
    expect_contact,
    recent_days,
    replies_for,
    stronger,
    triage,
    watched_measures,
)
from coachbot.engine import AnswerValue, Reply

log = logging.getLogger("coachbot.escalations")


def watches(rules: EscalationRules | None, codes: list[str]) -> bool:
    """True when recording these measurement codes can make a rule hold (the fast path's gate)."""
    return rules is not None and not watched_measures(rules).isdisjoint(codes)


def would_escalate(rules: EscalationRules, rows: list[MeasurementRow], timezone: str,
                   recording: list[tuple[str, AnswerValue]], now: dt.datetime) -> bool:
    """Whether the rules hold once these answers are recorded, from the measurements alone.

    The answer fast path asks this before writing: when it is True the full path takes the answer
    and raises or updates the escalation in the same transaction. When it is False no rule can
    hold, since `evaluate_patient` reads the check-ins and escalations only after this first test.
    """
    if not watches(rules, [code for code, _ in recording]):
        return False
    history = history_of(rows, timezone)
    added = tuple(Measurement(now, code, float(value)) for code, value in recording
                  if isinstance(value, int | float))
    return bool(evaluate(rules, replace(history, measurements=history.measurements + added), now))


HISTORY_KEPT = 50
"""Reasons kept per escalation: the first and the latest ones (a pain rule updates once a day)."""


@dataclass(frozen=True, slots=True)
class Raised:
    """What raising did: the row, whether it is new, and the statement that made it worse (then its
    card goes to the coach again, marked as worse), else None."""

    row: EscalationRecord
    is_new: bool
    worse: str | None = None


async def open_or_update(uow: UnitOfWork, patient_id: int, label: str, timezone: str, *, tier: str,
                         rule: str, reason: str, evidence: dict[str, Any], now: dt.datetime,
                         rules: EscalationRules | None, severity: int = 0, stated: bool = False) -> Raised:
    """Open the patient's escalation for `rule`, or update the open one, with what the file decides:
    the rule's tier, its acknowledgement deadline (when re-sends start) and, for an escalation a
    dialog raised (`stated`: a statement of risk), the evidence days the alert card's chart is drawn
    from. A stated escalation that is worse than the open one, or comes after it was acknowledged,
    re-opens it (see the module's docstring)."""
    if rules is not None:
        tier = rules.tier_of(rule, tier)  # type: ignore[arg-type]
        if "last_days" not in evidence:
            history = await load_history(uow, patient_id, timezone, rules, now, full=True)
            evidence = {**evidence, **recent_days(rules, history, now)}
    entry = {"at": now.isoformat(), "reason": reason, "severity": severity, "tier": tier}
    existing = await uow.escalations.open_for_rule(patient_id, rule)
    if existing is None:
        row = await uow.escalations.open(
            patient_id=patient_id, tier=tier, rule=rule, reason=reason, now=now,
            evidence={**evidence, "severity": severity, "history": [entry], "alerted_at": now.isoformat()})
        if rules is not None:
            row.due_at = deadline_for(row.tier, row.opened_at, rules)  # type: ignore[arg-type]
            row.next_alert_at = row.due_at  # the first re-send to the backups, unless acknowledged by then
        _logged(uow, row, label, "escalation_opened", now)
        return Raised(row, True)
    worse = _update(existing, tier=tier, reason=reason, severity=severity, evidence=evidence, entry=entry,
                    stated=stated, now=now, rules=rules)
    _logged(uow, existing, label, "escalation_worse" if worse else "escalation_updated", now)
    return Raised(existing, False, reason if worse else None)


def _update(row: EscalationRecord, *, tier: str, reason: str, severity: int, evidence: dict[str, Any],
            entry: dict[str, Any], stated: bool, now: dt.datetime, rules: EscalationRules | None) -> bool:
    """Fold a new statement into an open escalation; True when it is worse (the card goes again)."""
    held = row.evidence.get("severity")
    held_severity = held if isinstance(held, int) else 0
    compared = stronger(tier, severity, row.tier, held_severity)
    worse = stated and (compared > 0 or row.status == "acknowledged")
    past = [h for h in row.evidence.get("history", []) if isinstance(h, dict)]
    if not past or past[-1].get("reason") != reason or past[-1].get("severity") != severity:
        past.append(entry)
    kept = past if len(past) <= HISTORY_KEPT else [past[0], *past[-(HISTORY_KEPT - 1):]]
    merged = {**row.evidence, **evidence, "history": kept, "severity": max(held_severity, severity)}
    if compared >= 0:  # a milder reason never replaces a stronger one
        row.reason, row.tier = reason, tier
    if worse:
        merged["alerted_at"] = now.isoformat()
        due = deadline_for(row.tier, now, rules) if rules is not None else None  # type: ignore[arg-type]
        if row.status == "acknowledged":
            row.status, row.acknowledged_at, row.acknowledged_by = "open", None, None
            row.due_at, row.next_alert_at = due, due
        elif due is not None:  # still unacknowledged: keep whichever deadline comes first
            row.due_at = min(row.due_at or due, due)
            row.next_alert_at = min(row.next_alert_at or due, due)
    row.evidence = merged
    row.updated_at = now
    return worse


def _logged(uow: UnitOfWork, row: EscalationRecord, label: str, action: str, now: dt.datetime) -> None:
    uow.audit.record(actor="system", action=action, subject=label,
                detail={"escalation": row.id, "rule": row.rule, "tier": row.tier}, now=now)
    log.warning("escalation %s %s for %s (%s)", row.tier, row.rule, label, action.removeprefix("escalation_"))


def notice_of(row: EscalationRecord, label: str, is_new: bool, worse: str | None = None) -> EscalationNotice:
    """What the coach's card shows: the escalation's strongest reason; `worse`, the statement that
    made it worse, on a card re-sent for that."""
    return EscalationNotice(escalation_id=row.id, patient_label=label, tier=row.tier, rule=row.rule,
                            reason=row.reason, evidence=dict(row.evidence), is_new=is_new,
                            opened_at=row.opened_at, due_at=row.due_at, worse=worse)


async def evaluate_patient(uow: UnitOfWork, patient_id: int, label: str, timezone: str, *,
                           rules: EscalationRules, now: dt.datetime,
                           answering: bool) -> list[EscalationNotice]:
    """Evaluate the rules as of `now` and raise or update escalations; the notices of what changed.

    One query when no rule holds (the common case); the check-ins and escalations are read only then,
    and the measurements window is never read twice.
    """
    history = await load_history(uow, patient_id, timezone, rules, now)
    if not evaluate(rules, history, now) and not _reads_checkins(rules, answering):
        return []
    history = await completed(uow, patient_id, history, rules, now, answering=answering)
    hits = evaluate(rules, history, now)
    if not hits:
        return []
    current = {row.rule: row for row in await uow.escalations.open_for_patient(patient_id)}
    notices = []
    for hit in hits:
        row = current.get(hit.rule)
        decision = triage(hit, {rule: dict(r.evidence) for rule, r in current.items()})
        if decision == "unchanged" or (row is not None and decision == "raise"):
            continue
        raised = await open_or_update(uow, patient_id, label, timezone, tier=hit.tier, rule=hit.rule,
                                      reason=hit.reason, evidence=dict(hit.evidence), now=now, rules=rules)
        row = raised.row
        kept = {key: value for key, value in row.evidence.items() if key in BOOKKEEPING}
        if row.evidence != {**hit.evidence, **kept}:  # replace, not merge: the readings are as of now
            row.evidence = {**hit.evidence, **kept}
        notices.append(notice_of(row, label, raised.is_new, raised.worse))
    return notices


def _reads_checkins(rules: EscalationRules, answering: bool) -> bool:
    """A missed-check-ins rule needs the runs, which the first query does not read."""
    return not answering and any(rule.kind == "missed_in_a_row" for rule in rules.rules.values())


def answer_readings(replies: list[Reply], rules: EscalationRules | None,
                    recorded: list[tuple[str, object]]) -> None:
    """The file's same-day words for an answer such as a mood of 0 (kindness and the resources),
    before the next question, so the question stays the last message. Not an escalation."""
    if rules is None or not rules.replies:
        return
    said = [Reply(text) for text in replies_for(rules, recorded) if all(r.text != text for r in replies)]
    at = next((i for i, reply in enumerate(replies) if reply.options), len(replies))
    replies[at:at] = said


def tell_patient(replies: list[Reply], notices: list[EscalationNotice], rules: EscalationRules) -> None:
    """Say when to expect contact, once per new escalation tier, before the next question (so the
    question stays the last message, with its buttons)."""
    said: list[Reply] = []
    for notice in notices:
        text = expect_contact(notice.tier, rules)  # type: ignore[arg-type]
        if notice.is_new and text and all(r.text != text for r in said):
            said.append(Reply(text))
    if not said:
        return
    at = next((i for i, reply in enumerate(replies) if reply.options), len(replies))
    replies[at:at] = said


async def urgent_open(uow: UnitOfWork, patient_id: int) -> bool:
    """Whether an urgent escalation about the patient is open or acknowledged, not yet resolved: a
    coach still has to speak with them (the idle answer says so; an erasure tells the coach)."""
    return any(row.tier == "urgent" for row in await uow.escalations.open_for_patient(patient_id))
