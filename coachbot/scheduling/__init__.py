"""Scheduling as pure decisions: when check-ins fall due, what to do with them, when to remind.

No database, no APScheduler, no clock reads (a test enforces the imports): the tick in
`coachbot.adapters.scheduler.tick` feeds these functions rows and the current time.
"""

from coachbot.scheduling.local_time import QuietHours, local_date_of, resolve_local, zone_of
from coachbot.scheduling.occurrences import (
    DIALOGS,
    Dialog,
    Occurrence,
    Profile,
    following,
    next_occurrence,
    occurrence_on,
    runs_on,
)
from coachbot.scheduling.policy import StartDecision, Timing, decide_start, reminder_at, run_key

__all__ = [
    "DIALOGS", "Dialog", "Occurrence", "Profile", "QuietHours", "StartDecision", "Timing",
    "decide_start", "following", "local_date_of", "next_occurrence", "occurrence_on", "reminder_at",
    "resolve_local", "run_key", "runs_on", "zone_of",
]
