"""Raising escalations: after an answer, after a missed check-in, and when a dialog says so.

Everything runs in the caller's transaction, so an escalation commits with the answer (or the miss)
that caused it, or not at all. One open escalation per patient and rule: new evidence updates the
open one (its evidence, reason and `updated_at`) and sends nothing new; a coach already has it.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from coachbot.adapters.db import store
from coachbot.adapters.db.models import Escalation
from coachbot.care.escalation_rules import (
    EscalationRules,
    Measurement,
    deadline_for,
    evaluate,
    expect_contact,
    recent_days,
    triage,
    watched_measures,
)
from coachbot.app.channel import EscalationNotice
from coachbot.engine import AnswerValue, Reply
from coachbot.app.escalations.history import OPEN, MeasurementRow, completed, history_of, load_history

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


async def open_or_update(session: AsyncSession, patient_id: int, label: str, timezone: str, *, tier: str,
                         rule: str, reason: str, evidence: dict[str, Any], now: dt.datetime,
                         rules: EscalationRules | None) -> tuple[Escalation, bool]:
    """`store.open_escalation` plus what the file decides: the rule's tier, its acknowledgement
    deadline (when re-sends start) and, for an escalation a dialog raised, the evidence days the
    alert card's chart is drawn from. Returns (row, is_new)."""
    if rules is not None:
        tier = rules.tier_of(rule, tier)  # type: ignore[arg-type]
        if "last_days" not in evidence:
            history = await load_history(session, patient_id, timezone, rules, now, full=True)
            evidence = {**evidence, **recent_days(rules, history, now)}
    row, is_new = await store.open_escalation(session, patient_id, tier=tier, rule=rule, reason=reason,
                                              evidence=evidence, now=now)
    if rules is not None and is_new:
        row.due_at = deadline_for(row.tier, row.opened_at, rules)  # type: ignore[arg-type]
        row.next_alert_at = row.due_at  # the first re-send to the backups, unless acknowledged by then
    store.audit(session, actor="system", action="escalation_opened" if is_new else "escalation_updated",
                subject=label, detail={"escalation": row.id, "rule": rule, "tier": row.tier}, now=now)
    log.warning("escalation %s %s for %s (%s)", row.tier, rule, label, "new" if is_new else "updated")
    return row, is_new


def notice_of(row: Escalation, label: str, is_new: bool) -> EscalationNotice:
    return EscalationNotice(escalation_id=row.id, patient_label=label, tier=row.tier, rule=row.rule,
                            reason=row.reason, evidence=dict(row.evidence), is_new=is_new,
                            opened_at=row.opened_at, due_at=row.due_at)


async def evaluate_patient(session: AsyncSession, patient_id: int, label: str, timezone: str, *,
                           rules: EscalationRules, now: dt.datetime,
                           answering: bool) -> list[EscalationNotice]:
    """Evaluate the rules as of `now` and raise or update escalations; the notices of what changed.

    One query when no rule holds (the common case); the check-ins and escalations are read only then,
    and the measurements window is never read twice.
    """
    history = await load_history(session, patient_id, timezone, rules, now)
    if not evaluate(rules, history, now) and not _reads_checkins(rules, answering):
        return []
    history = await completed(session, patient_id, history, rules, now, answering=answering)
    hits = evaluate(rules, history, now)
    if not hits:
        return []
    result = await session.execute(select(Escalation).where(
        Escalation.patient_id == patient_id, Escalation.status.in_(OPEN)))
    current = {row.rule: row for row in result.scalars()}
    notices = []
    for hit in hits:
        row = current.get(hit.rule)
        decision = triage(hit, {rule: dict(r.evidence) for rule, r in current.items()})
        if decision == "unchanged" or (row is not None and decision == "raise"):
            continue
        row, is_new = await open_or_update(session, patient_id, label, timezone, tier=hit.tier,
                                           rule=hit.rule, reason=hit.reason, evidence=dict(hit.evidence),
                                           now=now, rules=rules)
        if row.evidence != hit.evidence:  # replace, not merge: the evidence is the rule's as of now
            row.evidence = dict(hit.evidence)
        notices.append(notice_of(row, label, is_new))
    return notices


def _reads_checkins(rules: EscalationRules, answering: bool) -> bool:
    """A missed-check-ins rule needs the runs, which the first query does not read."""
    return not answering and any(rule.kind == "missed_in_a_row" for rule in rules.rules.values())


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
