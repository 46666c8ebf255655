"""Alert rows for the patient's coach, written to the outbox in the transaction that raised them.

The outbox delivers them (retried until Telegram accepts, across restarts). With no coach registered
the escalation stays open with no alert row, and `coaching.queued_alerts` writes it once a coach
exists; `coachbot escalations list` shows what waits.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, replace

from coachbot.app.channel import Channel, EscalationNotice, Outgoing
from coachbot.app.coaches.coaching import coach_of
from coachbot.app.unit_of_work import PatientRecord, UnitOfWork, UnitOfWorkFactory

log = logging.getLogger("coachbot.escalations")


@dataclass(frozen=True, slots=True)
class AlertSettings:
    """How alerts go out: names on cards (off: labels only), and the coaches' group chat that gets
    re-sends of unacknowledged escalations with the backup coaches."""

    show_name: bool = False
    group_chat_id: int | None = None


async def alert_rows(uow: UnitOfWork, patient: PatientRecord | int, notices: list[EscalationNotice],
                     channel: Channel, settings: AlertSettings) -> list[Outgoing]:
    """The card of each new escalation, and of each made worse, for the patient's coach (assigned now
    if they had none)."""
    new = [notice for notice in notices if notice.is_new or notice.worse is not None]
    if not new:
        return []
    if isinstance(patient, int):
        found = await uow.patients.get(patient)
        if found is None:
            return []
        patient = found
    coach = await coach_of(uow, patient)
    if coach is None or coach.telegram_user_id is None:
        for notice in new:
            log.warning("no coach registered: escalation %s of %s waits for one (coachbot escalations list)",
                        notice.escalation_id, patient.label)
        return []
    name = patient.name if settings.show_name else None
    return [channel.coach_alert(replace(notice, patient_name=name), coach.telegram_user_id) for notice in new]


NO_COACH = ("no coach is registered: nobody will receive alerts. Escalations still queue (see "
            "`coachbot escalations list`) and go to the first coach added with `coachbot coaches add`.")


async def warn_if_no_coach(uows: UnitOfWorkFactory) -> bool:
    """At start: say loudly (in the log and on stderr) that alerts have nowhere to go. True if so."""
    async with uows() as uow:
        if await uow.coaches.any_reachable():
            return False
    log.warning(NO_COACH)
    print(f"coachbot: warning: {NO_COACH}", file=sys.stderr)
    return True
