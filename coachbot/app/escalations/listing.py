"""`coachbot escalations list`: what waits for a coach, readable with or without coaches registered.

Labels, rules, tiers, statuses and times only: no names, no reasons or notes, no message text.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from coachbot.adapters.db.models import Escalation, Patient

_TIERS = {"urgent": 0, "soon": 1, "routine": 2}
HEADER = ("id", "patient", "tier", "rule", "status", "opened (UTC)", "due (UTC)", "re-sent", "coach")


async def escalation_table(session: AsyncSession, status: str = "unresolved", tier: str | None = None) -> str:
    """A plain table, urgent first, then oldest first; one line saying so when there is nothing."""
    query = (select(Escalation, Patient.label, Patient.coach_id)
             .join(Patient, Patient.id == Escalation.patient_id))
    if status == "unresolved":
        query = query.where(Escalation.status.in_(("open", "acknowledged")))
    elif status != "all":
        query = query.where(Escalation.status == status)
    if tier is not None:
        query = query.where(Escalation.tier == tier)
    rows = list((await session.execute(query.order_by(Escalation.opened_at, Escalation.id))).all())
    if not rows:
        return f"no {'' if status == 'all' else status + ' '}escalations"
    rows.sort(key=lambda r: (_TIERS.get(r[0].tier, 9), r[0].opened_at, r[0].id))
    lines = [HEADER] + [(str(e.id), label, e.tier, e.rule, e.status, _at(e.opened_at), _at(e.due_at),
                         str(e.realerts), f"coach:{coach}" if coach else "none")
                        for e, label, coach in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
                     for line in lines) + f"\n{len(rows)} escalation(s)"


def _at(at: dt.datetime | None) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if at is not None else "-"
