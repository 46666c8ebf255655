"""Escalation rules evaluated over a patient's history: who must hear about a worsening, and by when.

"Self-management should not mean solo management": when scores worsen a coach must know, with the
reasons in front of them. This module only decides, from data: the rules and every word come from
`dialogs/escalation.yaml` (see `coachbot.spec.escalation_rules`), the history from the service, the time from
the caller. It raises nothing itself and stores nothing.

Decisions the issue leaves open (the file's comments say the same to admins):
- A day is the patient's local date. Several answers on one day: the latest stands for the day.
  Days without an answer neither count nor break a run ("3 days in a row" means the latest 3 days
  that have an answer, all within the rule's window), so missing a check-in never hides a worsening.
- Readings after `now` are ignored: the evaluation is "as of now", whatever the clocks did.
- Baselines: a value the service passes in `PatientHistory.baselines` (a coach's re-base, or one
  from onboarding it already knows) wins; otherwise the file's `baselines:` says which stored
  measurement to take. No baseline: the rules that need one stay quiet.
- Once a coach resolves an escalation, only readings recorded after the resolution (and check-ins
  on later local dates) count for that rule, so a resolved alert is not raised again by the very
  evidence the coach has already seen.
- Deduplication is the caller's: see `triage` and `should_raise`.
"""

from __future__ import annotations

import functools
import math
import statistics
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from typing import Literal, TypeVar

from coachbot.care.working_hours import add_clock_time, add_duration
from coachbot.spec.escalation_rules import (
    MEASURE_RANGES,
    BaselineSource,
    DialogRule,
    EscalationRules,
    FloorRule,
    MissedRule,
    PercentRiseRule,
    Rule,
    SustainedChangeRule,
    ThresholdRule,
    check_escalation_file,
    load_escalation_rules,
)
from coachbot.spec.model import Tier

T = TypeVar("T")

__all__ = ["CheckinOutcome", "EscalationRules", "EscalationState", "Measurement", "PatientHistory",
           "RuleHit", "Triage", "check_escalation_file", "deadline_for", "evaluate", "expect_contact",
           "load_escalation_rules", "next_realert", "next_realert_from", "realert_times", "recent_days",
           "replies_for", "resolution_deadline", "should_raise", "stronger", "triage", "watched_measures"]

CheckinOutcome = Literal["answered", "missed"]
Triage = Literal["raise", "update", "unchanged"]
Json = dict[str, object]
_EPS = 1e-9
"""Tolerance for float comparisons, so a PEG of exactly 30% above the baseline counts as 30%."""
_MAX_REALERTS = 10_000


def _aware(at: datetime, what: str) -> None:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware: a naive time has no local day")


@dataclass(frozen=True)
class Measurement:
    """One stored answer or score, by its measurement code (`pain_now`, `peg_score`...)."""

    recorded_at: datetime
    code: str
    value: float

    def __post_init__(self) -> None:
        _aware(self.recorded_at, "recorded_at")


@dataclass(frozen=True)
class EscalationState:
    """An escalation the patient already has; `resolved_at` is set once a coach resolves it."""

    rule: str
    status: Literal["open", "acknowledged", "resolved"]
    opened_at: datetime
    resolved_at: datetime | None = None

    def __post_init__(self) -> None:
        _aware(self.opened_at, "opened_at")
        if self.resolved_at is not None:
            _aware(self.resolved_at, "resolved_at")


@dataclass(frozen=True)
class PatientHistory:
    """What the evaluator sees of one patient: enough history to cover the longest rule window and
    the evidence days (14 days of measurements; the check-ins since the last answered one)."""

    zone: tzinfo
    measurements: tuple[Measurement, ...] = ()
    checkins: Mapping[date, CheckinOutcome] = field(default_factory=dict)
    """Daily check-in outcomes by the patient's local date; skipped (paused) days are left out."""
    baselines: Mapping[str, float] = field(default_factory=dict)
    """Explicit baselines by measure (`pain_now: 4`), such as a coach's re-base; these win."""
    escalations: tuple[EscalationState, ...] = ()


@dataclass(frozen=True)
class RuleHit:
    """A rule that holds now. `evidence` is JSON-able and stable: evaluating again with nothing new
    gives an equal dict, so the caller can tell real news from a repeat."""

    rule: str
    tier: Tier
    reason: str
    evidence: Json


@dataclass(frozen=True)
class _Day:
    day: date
    value: float


def evaluate(rules: EscalationRules, history: PatientHistory, now: datetime) -> list[RuleHit]:
    """Every evaluated rule that holds now, in file order. Rules a dialog raises are not evaluated."""
    _aware(now, "now")
    today = now.astimezone(history.zone).date()
    hits: list[RuleHit] = []
    for name, rule in rules.rules.items():
        if isinstance(rule, DialogRule) or _covered(rule, hits, history):
            continue
        resolved = [e.resolved_at for e in history.escalations
                    if e.rule == name and e.status == "resolved" and e.resolved_at is not None]
        since = max(resolved) if resolved else None
        found = _check(rule, rules, history, now=now, today=today, since=since)
        if found is None:
            continue
        fields, evidence = found
        evidence = {"rule": name, "tier": rule.tier, "kind": rule.kind, **evidence,
                    "baselines": {m: _baseline(rules, history, m, now) for m in rules.evidence.measures},
                    "last_days": _last_days(rules, history, now, today)}
        hits.append(RuleHit(name, rule.tier, rule.reason.format(**fields), evidence))
    return hits


def _covered(rule: Rule, hits: list[RuleHit], history: PatientHistory) -> bool:
    """A floor stays quiet while a rule that says the same holds now or is open: one card, not two."""
    if not isinstance(rule, FloorRule) or not rule.covered_by:
        return False
    return (any(hit.rule in rule.covered_by for hit in hits)
            or any(e.rule in rule.covered_by and e.status != "resolved" for e in history.escalations))


def _check(rule: Rule, rules: EscalationRules, history: PatientHistory, *, now: datetime, today: date,
           since: datetime | None) -> tuple[dict[str, str], Json] | None:
    if isinstance(rule, MissedRule):
        cutoff = since.astimezone(history.zone).date() if since is not None else date.min
        runs = sorted((d, o) for d, o in history.checkins.items() if cutoff < d <= today)[-rule.count:]
        if len(runs) < rule.count or any(o != "missed" for _, o in runs):
            return None
        dates = [d.isoformat() for d, _ in runs]
        return {"count": str(rule.count), "dates": ", ".join(dates)}, {"missed": dates}
    if isinstance(rule, DialogRule):
        return None
    days = [d for d in _daily(history, rule.measure, now, since) if (today - d.day).days < rule.within_days]
    if isinstance(rule, FloorRule):
        return _floor(rule, days)
    if isinstance(rule, ThresholdRule):
        if not days or days[-1].value < rule.at_least - _EPS:
            return None
        latest = days[-1]
        return ({"measure": rule.measure, "at_least": _num(rule.at_least), "latest": _num(latest.value),
                 "date": latest.day.isoformat()},
                {"measure": rule.measure, "at_least": rule.at_least, "values": _values([latest])})
    base = _baseline(rules, history, rule.measure, now)
    if base is None:
        return None
    if isinstance(rule, PercentRiseRule):
        return _percent_rise(rule, base, days)
    return _sustained(rule, base, days)


def _sustained(rule: SustainedChangeRule, base: float,
               days: list[_Day]) -> tuple[dict[str, str], Json] | None:
    """Worse by the meaningful change on each of the latest `days` days; where baseline + change is
    past the end of the scale, the end of the scale counts, if it is still worse than the baseline."""
    low, high = MEASURE_RANGES[rule.measure]
    bands = rule.change_by_baseline or ()
    change = rule.change if rule.change is not None else next(
        (b.change for b in bands if base <= b.up_to + _EPS), bands[-1].change if bands else 0.0)
    higher = rule.worse_is == "higher"
    threshold = min(base + change, high) if higher else max(base - change, low)
    recent = days[-rule.days:]
    if (threshold - base) * (1 if higher else -1) <= _EPS or len(recent) < rule.days:
        return None
    if not all((d.value >= threshold - _EPS) if higher else (d.value <= threshold + _EPS) for d in recent):
        return None
    return ({"measure": rule.measure, "baseline": _num(base), "change": _num(change),
             "threshold": _num(threshold), "days": str(rule.days), "values": _said(recent),
             "latest": _num(recent[-1].value), "date": recent[-1].day.isoformat()},
            {"measure": rule.measure, "baseline": base, "change": change, "threshold": threshold,
             "values": _values(recent)})


def _floor(rule: FloorRule, days: list[_Day]) -> tuple[dict[str, str], Json] | None:
    """At or past the floor on at least `days` of the last `of_last_days` local days (`days` is
    already that window), whatever the baseline."""
    higher = rule.worse_is == "higher"
    past = [d for d in days if (d.value >= rule.at - _EPS if higher else d.value <= rule.at + _EPS)]
    if len(past) < rule.days:
        return None
    return ({"measure": rule.measure, "at": _num(rule.at), "days": str(rule.days),
             "of_last_days": str(rule.of_last_days), "values": _said(past), "latest": _num(past[-1].value),
             "date": past[-1].day.isoformat()},
            {"measure": rule.measure, "at": rule.at, "of_last_days": rule.of_last_days,
             "values": _values(past)})


def _percent_rise(rule: PercentRiseRule, base: float,
                  days: list[_Day]) -> tuple[dict[str, str], Json] | None:
    threshold = max(base * (1 + rule.percent / 100), base + rule.min_points)
    recent = days[-rule.readings:]
    if threshold <= base + _EPS or len(recent) < rule.readings:
        return None
    if not all(d.value >= threshold - _EPS for d in recent):
        return None
    latest = recent[-1]
    rise = (latest.value - base) / base * 100 if base > 0 else None
    if rise is not None and not math.isfinite(rise):  # a baseline of 1e-300: "infinitely" above it
        rise = None
    return ({"measure": rule.measure, "baseline": _num(base), "percent": _num(rule.percent),
             "threshold": _num(threshold), "rise": _num(latest.value - base),
             "rise_percent": f"{rise:.0f}" if rise is not None else "∞", "values": _said(recent),
             "latest": _num(latest.value), "date": latest.day.isoformat()},
            {"measure": rule.measure, "baseline": base, "percent": rule.percent, "threshold": threshold,
             "rise_percent": round(rise, 1) if rise is not None else None, "values": _values(recent)})


def _readings(history: PatientHistory, code: str, now: datetime) -> list[Measurement]:
    """Usable readings of one measure up to `now`, oldest first (non-finite values are not readings)."""
    return sorted((m for m in history.measurements
                   if m.code == code and m.recorded_at <= now and math.isfinite(m.value)),
                  key=lambda m: m.recorded_at)


def _daily(history: PatientHistory, code: str, now: datetime, since: datetime | None) -> list[_Day]:
    """One value per local day (the day's latest), oldest day first."""
    by_day: dict[date, float] = {}
    for m in _readings(history, code, now):
        if since is None or m.recorded_at > since:
            by_day[m.recorded_at.astimezone(history.zone).date()] = float(m.value)
    return [_Day(d, v) for d, v in sorted(by_day.items())]


def _baseline(rules: EscalationRules, history: PatientHistory, measure: str, now: datetime) -> float | None:
    """The explicit baseline, else the one the file says to take; kept inside the measure's scale so a
    mistyped baseline (say 42) still lets the rules judge rather than silencing them."""
    explicit = history.baselines.get(measure)
    source = rules.baselines.get(measure)
    if explicit is not None and math.isfinite(explicit):
        value = float(explicit)
    elif source is not None and (readings := _readings(history, source.measure, now) or (
            _readings(history, source.fallback, now) if source.fallback else [])):
        reading = readings[0 if source.take == "first" else -1]
        value = _robust(history, measure, reading, source, now)
    else:
        return None
    low, high = MEASURE_RANGES[measure]  # every measure a file names is one of these (checked on load)
    return min(max(value, low), high)


def _robust(history: PatientHistory, measure: str, reading: Measurement, source: BaselineSource,
            now: datetime) -> float:
    """The median of the baseline reading and the measure's own answers on its first
    `median_with_first_days` local days with an answer (from the reading's day, less than
    `within_days` days after it). Until
    all those days are in, the reading alone: a worsening in the first days is judged against the
    level the patient called usual, not hidden in a median that already contains it."""
    first_days = source.median_with_first_days
    if first_days == 0:
        return float(reading.value)
    start = reading.recorded_at.astimezone(history.zone).date()
    early = [d.value for d in _daily(history, measure, now, None)
             if d.day >= start and (d.day - start).days < source.within_days][:first_days]
    if len(early) < first_days:
        return float(reading.value)
    return float(statistics.median([float(reading.value), *early]))


def recent_days(rules: EscalationRules, history: PatientHistory, now: datetime) -> Json:
    """The evidence days and baselines every alert carries, for an escalation a dialog raised (the
    evaluated rules add them to their own evidence): what the alert card's chart is drawn from."""
    _aware(now, "now")
    today = now.astimezone(history.zone).date()
    return {"baselines": {m: _baseline(rules, history, m, now) for m in rules.evidence.measures},
            "last_days": _last_days(rules, history, now, today)}


def once_per_rules_file(fn: Callable[[EscalationRules], T]) -> Callable[[EscalationRules], T]:
    """Remember what a function of the rules file alone gave, by the file's identity: a loaded file is
    never changed (publishing makes a new one), and these run on every answer. The last few files
    only are kept."""
    memo: dict[int, tuple[EscalationRules, T]] = {}

    @functools.wraps(fn)
    def remembered(rules: EscalationRules) -> T:
        hit = memo.get(id(rules))
        if hit is not None and hit[0] is rules:
            return hit[1]
        value = fn(rules)
        if len(memo) >= 4:
            memo.pop(next(iter(memo)))
        memo[id(rules)] = (rules, value)
        return value

    return remembered


@once_per_rules_file
def watched_measures(rules: EscalationRules) -> frozenset[str]:
    """The measurement codes some evaluated rule reads: recording any other answer cannot raise one."""
    return frozenset(str(rule.measure) for rule in rules.rules.values() if hasattr(rule, "measure"))


def _last_days(rules: EscalationRules, history: PatientHistory, now: datetime, today: date) -> list[Json]:
    """The evidence window, oldest first: each day's value of each evidence measure and the check-in."""
    series = {m: {d.day: d.value for d in _daily(history, m, now, None)} for m in rules.evidence.measures}
    rows: list[Json] = []
    for back in range(rules.evidence.days - 1, -1, -1):
        day = today - timedelta(days=back)
        row: Json = {"date": day.isoformat()}
        row.update({m: values.get(day) for m, values in series.items()})
        row["checkin"] = history.checkins.get(day)
        rows.append(row)
    return rows


def _num(value: float) -> str:
    return f"{round(value, 1):g}"


def _said(days: list[_Day]) -> str:
    return ", ".join(f"{d.day.isoformat()}: {_num(d.value)}" for d in days)


def _values(days: list[_Day]) -> list[Json]:
    return [{"date": d.day.isoformat(), "value": d.value} for d in days]


BOOKKEEPING = frozenset({"history", "severity", "alerted_at"})
"""Evidence keys the service keeps about the escalation itself (its reasons over time, the strongest
severity, when a card last went out), not about the patient's readings: never compared or replaced."""


def triage(hit: RuleHit, open_evidence: Mapping[str, Mapping[str, object]]) -> Triage:
    """What to do with a hit, given the evidence of the patient's open (or acknowledged, not yet
    resolved) escalations by rule: `raise` a new one when the rule has none open; `update` its
    evidence when it differs (no new alert: a coach already has it); `unchanged` otherwise."""
    current = open_evidence.get(hit.rule)
    if current is None:
        return "raise"
    readings = {key: value for key, value in current.items() if key not in BOOKKEEPING}
    return "unchanged" if readings == hit.evidence else "update"


_TIER_RANK: Mapping[str, int] = {"routine": 0, "soon": 1, "urgent": 2}


def stronger(tier: str, severity: int, than_tier: str, than_severity: int) -> int:
    """Compare two statements of risk: 1 when the first is worse, -1 when it is milder, 0 when equal.
    The tier comes first (urgent above soon above routine), then the severity a dialog's escalate
    action gives (crisis thoughts < a plan < plan and means < self-harm < overdose)."""
    first = (_TIER_RANK.get(tier, 0), severity)
    second = (_TIER_RANK.get(than_tier, 0), than_severity)
    return (first > second) - (first < second)


def replies_for(rules: EscalationRules, recorded: Collection[tuple[str, object]]) -> list[str]:
    """The file's same-day words for answers just recorded (such as a mood of 0), once each."""
    said: list[str] = []
    for reply in rules.replies.values():
        if any(code == reply.measure and isinstance(value, int | float) and not isinstance(value, bool)
               and math.isfinite(value) and reply.holds(float(value)) for code, value in recorded):
            text = reply.say.strip()
            if text not in said:
                said.append(text)
    return said


def resolution_deadline(tier: Tier, acknowledged_at: datetime, rules: EscalationRules) -> datetime | None:
    """When an acknowledged escalation of this tier must be resolved, or None when the tier has no
    resolution deadline: past it, it is re-sent like an unacknowledged one."""
    within = rules.tiers[tier].resolve_within if tier in rules.tiers else None
    return add_duration(acknowledged_at, within, rules.hours) if within is not None else None


def should_raise(hit: RuleHit, open_rules: Collection[str]) -> bool:
    """True when the patient has no open or acknowledged escalation for the hit's rule: one open
    escalation per patient and rule, whatever raised it (a dialog's escalate action or a hit)."""
    return hit.rule not in open_rules


def deadline_for(tier: Tier, opened_at: datetime, rules: EscalationRules) -> datetime:
    """When a coach must have acknowledged: urgent in clock minutes, day or night; the others in
    working time, so a soon alert from Friday 16:30 is due on Monday."""
    within = rules.tiers[tier].acknowledge_within
    if within is None:  # load_escalation_rules refuses such a file; kept total for hand-built rules
        raise ValueError(f"the {tier} tier has no acknowledge_within deadline")
    return add_duration(opened_at, within, rules.hours)


def realert_times(tier: Tier, opened_at: datetime, until: datetime, rules: EscalationRules) -> list[datetime]:
    """Every re-send to the backup up to `until`: at the deadline, then every `realert_every` (the
    tier's deadline alone when it has none). The caller stops at acknowledgement."""
    every = rules.tiers[tier].realert_every
    times: list[datetime] = []
    at = deadline_for(tier, opened_at, rules)
    while at <= until and len(times) < _MAX_REALERTS:
        times.append(at)
        if every is None:
            break
        at = add_duration(at, every, rules.hours)
    return times


def next_realert(tier: Tier, opened_at: datetime, after: datetime, rules: EscalationRules) -> datetime | None:
    """The first re-send strictly after `after` (say, the last one sent), for a scheduler that keeps
    one "next re-alert at" per open escalation; None when the tier sends no more."""
    return next_realert_from(tier, deadline_for(tier, opened_at, rules), after, rules)


def next_realert_from(tier: Tier, at: datetime, after: datetime, rules: EscalationRules) -> datetime | None:
    """The first re-send strictly after `after`, counting from a deadline `at` (the acknowledgement
    deadline of a new or re-raised escalation, or a resolution deadline): at it, then every
    `realert_every` of the tier; None when the tier sends no more."""
    every = rules.tiers[tier].realert_every
    if at > after or every is None:
        return at if at > after else None
    if every.minutes is not None:  # clock time: jump straight there instead of stepping
        step = timedelta(minutes=every.minutes)
        skipped = math.floor((after - at) / step) + 1
        return add_clock_time(at, step * skipped)
    for _ in range(_MAX_REALERTS):
        at = add_duration(at, every, rules.hours)
        if at > after:
            return at
    return None


def expect_contact(tier: Tier, rules: EscalationRules) -> str:
    """The sentence that tells the patient when to expect contact (words from the file)."""
    return rules.tiers[tier].patient_expects or ""
