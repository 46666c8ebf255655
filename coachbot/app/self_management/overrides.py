"""A coach pins or blocks a step for one of their patients: /pin, /block, /unpin, /unblock.

`/pin P-7K3QXM short_easy_walk`: the step is suggested first whenever the gates allow it (a pin never
beats a gate, a block or the one-new-step-a-day rule; see care/step_policy.py). `/block LABEL STEP`:
never suggested. A coach may change only their own patients (an admin, anyone's); each change is
audited with labels and step ids only. A pin replaces a block of the same step and the other way
round: one row per patient and step.
"""

from __future__ import annotations

import datetime as dt
import re

from coachbot.app.unit_of_work import CoachRecord, UnitOfWork
from coachbot.spec.self_management_texts import CoachWords, fill
from coachbot.spec.steps import StepLibrary

_COMMAND = re.compile(r"^/(pin|unpin|block|unblock)(?:@\w+)?(?:\s+(.*))?$", re.IGNORECASE | re.DOTALL)
COMMANDS = ("pin", "unpin", "block", "unblock")


async def coach_step_command(uow: UnitOfWork, coach: CoachRecord, text: str, *, steps: StepLibrary,
                             words: CoachWords, now: dt.datetime) -> str | None:
    """The reply to a coach's /pin, /block, /unpin or /unblock; None for any other message."""
    match = _COMMAND.match(text.strip())
    if match is None:
        return None
    command, args = match.group(1).lower(), (match.group(2) or "").split()
    if len(args) != 2:
        return fill(words.usage)
    label, step_id = args[0].upper(), args[1].lower()
    patient = await uow.patients.by_label(label)
    if patient is None or not (coach.is_admin or patient.coach_id == coach.id):
        return fill(words.no_patient, label=label)  # the same answer either way: labels stay private
    step = steps.get(step_id)
    if step is None:
        return fill(words.no_step, step=step_id)
    row = await uow.step_overrides.get(patient.id, step.id)
    values = {"label": patient.label, "step": step.id, "title": step.title}
    if command in ("pin", "block"):
        kind = command
        if row is None:
            await uow.step_overrides.add(patient_id=patient.id, step_id=step.id, kind=kind, coach_id=coach.id,
                                         now=now)
        else:
            row.kind, row.coach_id, row.created_at = kind, coach.id, now
        reply = fill(words.pinned if kind == "pin" else words.blocked, **values)
    else:
        kind = command.removeprefix("un")
        if row is None or row.kind != kind:
            return fill(words.not_set, **values)
        await uow.step_overrides.remove(row)
        reply = fill(words.unpinned if kind == "pin" else words.unblocked, **values)
    uow.audit.record(actor=f"coach:{coach.id}", action=f"step_{command}", subject=patient.label,
                     detail={"step": step.id}, now=now)
    return reply
