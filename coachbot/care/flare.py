"""Flare-ups: notice a jump in pain, and notice when it has settled, so check-ins can follow.

When pain jumps the patient needs less asked of them and their own flare-up plan in front of them,
not the full daily check-in; when it settles they go back to normal check-ins. This module only
decides; the service shows the plan on `started`, raises the `flare` flag for the step policy (which
then favours flare steps and holds back strenuous ones) and picks the short check-in while a flare
is open.

Decisions (defaults in FlareRules, which a service may override):
- Start: pain rises by 2 or more points from one check-in to the next (about the clinically
  meaningful change, Farrar 2001). The previous check-in counts however long ago it was: missed
  days must not hide a jump. The pain before the jump is the baseline.
- Settled: pain back within 1 point of the baseline at 2 check-ins in a row. One good day alone
  does not end it: flares fluctuate and switching back and forth would be confusing.
- At most 7 patient-local days, counting the day it started: from the 7th day after it began the
  check-ins are normal again, whatever the pain. Pain that stays high is then the escalation rules'
  business (pain worse by the meaningful change for 3+ days reaches a coach), not a longer flare.
- A further jump during a flare does not restart it: the baseline stays the pre-flare level and
  the 7-day limit keeps counting, so a long run of bad days still reaches normal check-ins and the
  coach. A new flare may start at the first check-in after one has ended.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Literal

from coachbot.care.step_policy import LEG_FLAGS, SKIN_FLAGS, STOP_FLAGS

FlareChange = Literal["none", "started", "ongoing", "settled", "timed_out"]
Advice = Literal["reassurance", "general", "movement", "warmth"]
"""The pieces of flare-up advice (dialogs/self_management.yaml), each gated like the steps."""


@dataclass(frozen=True)
class FlareRules:
    jump: float = 2.0
    settle_within: float = 1.0
    settle_checkins: int = 2
    max_days: int = 7


@dataclass(frozen=True)
class PainCheckIn:
    """One answered "pain right now" (0-10); skipped answers are left out by the caller."""

    at: datetime
    pain: float


@dataclass(frozen=True)
class Flare:
    started_at: datetime
    baseline: float
    """Pain at the check-in before the jump: what "settled" is measured against."""
    peak: float
    settled_checkins: int = 0
    """Check-ins in a row, so far, with pain within `settle_within` of the baseline."""


@dataclass(frozen=True)
class FlareStep:
    """The flare after a check-in (None: normal check-ins) and what that check-in changed."""

    flare: Flare | None
    change: FlareChange

    @property
    def short_checkins(self) -> bool:
        """Whether the next check-ins should be the short flare version."""
        return self.flare is not None


def advance(flare: Flare | None, previous: PainCheckIn | None, current: PainCheckIn,
            rules: FlareRules = FlareRules(), zone: tzinfo = UTC) -> FlareStep:
    """Fold one new check-in into the flare state; `previous` is the check-in before it."""
    timed_out = flare is not None and has_timed_out(flare, current.at, rules, zone)
    if flare is not None and not timed_out:
        near_baseline = current.pain <= flare.baseline + rules.settle_within
        settled = flare.settled_checkins + 1 if near_baseline else 0
        if settled >= rules.settle_checkins:
            return FlareStep(None, "settled")
        return FlareStep(Flare(flare.started_at, flare.baseline, max(flare.peak, current.pain), settled),
                         "ongoing")
    if previous is not None and current.pain - previous.pain >= rules.jump:
        return FlareStep(Flare(current.at, baseline=previous.pain, peak=current.pain), "started")
    return FlareStep(None, "timed_out" if timed_out else "none")


def replay(checkins: Sequence[PainCheckIn], now: datetime, rules: FlareRules = FlareRules(),
           zone: tzinfo = UTC) -> FlareStep:
    """The flare state now, rebuilt from the pain history (two weeks of check-ins is plenty), so the
    service needs no extra column: the measurements are the one source of truth. A flare whose
    time is up by `now` is reported as `timed_out` even if no check-in came since."""
    step = FlareStep(None, "none")
    previous: PainCheckIn | None = None
    for checkin in sorted(checkins, key=lambda c: c.at):
        step = advance(step.flare, previous, checkin, rules, zone)
        previous = checkin
    if step.flare is not None and has_timed_out(step.flare, now, rules, zone):
        return FlareStep(None, "timed_out")
    return step


def has_timed_out(flare: Flare, now: datetime, rules: FlareRules = FlareRules(),
                  zone: tzinfo = UTC) -> bool:
    """Counted in patient-local calendar days, so a check-in a few minutes earlier than the one
    that started the flare still lands on the right day."""
    days = (now.astimezone(zone).date() - flare.started_at.astimezone(zone).date()).days
    return days >= rules.max_days


def advice_allowed(advice: Advice, flags: Set[str]) -> bool:
    """Whether a piece of flare-up advice may be given with the patient's flags now: the step policy's
    own gates (care/step_policy.py), so the advice never says what the steps hold back. Nothing in a
    red-flag or crisis state; movement never with new leg symptoms (like exercise steps), warmth never
    with numb skin (like heat steps); "a flare-up does not mean new damage" never beside a new leg
    symptom, which may be new damage."""
    if flags & STOP_FLAGS:
        return False
    if advice in {"movement", "reassurance"}:
        return not flags & LEG_FLAGS
    if advice == "warmth":
        return not flags & SKIN_FLAGS
    return True
