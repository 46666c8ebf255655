"""`coachbot escalations list`: what waits for a coach, readable with or without coaches registered.

Labels, rules, tiers, statuses and times only: no names, no reasons or notes, no message text.
"""

from __future__ import annotations

import datetime as dt

from coachbot.app.unit_of_work import UnitOfWork

#: The listing's order in words (`EscalationRepository.listed` sorts so); `coachbot escalations list
#: --help` says the same.
ORDER = "urgent first, then soon, then routine; oldest first within a tier"
HEADER = ("id", "patient", "tier", "rule", "status", "opened (UTC)", "due (UTC)", "re-sent", "coach")


async def escalation_table(uow: UnitOfWork, status: str = "unresolved", tier: str | None = None) -> str:
    """A plain table in the order `ORDER` describes, sorted by the database; one line saying so when
    there is nothing."""
    rows = await uow.escalations.listed(status, tier)
    if not rows:
        return f"no {'' if status == 'all' else status + ' '}escalations"
    lines = [HEADER] + [(str(e.id), label, e.tier, e.rule, e.status, _at(e.opened_at), _at(e.due_at),
                         str(e.realerts), f"coach:{coach}" if coach else "none")
                        for e, label, coach in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADER))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
                     for line in lines) + f"\n{len(rows)} escalation(s)"


def _at(at: dt.datetime | None) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M") if at is not None else "-"
