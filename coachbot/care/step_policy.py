"""Which one step to offer a patient today: safety gates, then pacing rules, then what helps them.

Order matters and is fixed: hard gates first (nothing in a red-flag or crisis state, no exercise with
new leg weakness or numbness, no heat on numb skin, no graded exposure for high-risk STarT Back
without a coach, each step's own `exclude_when`, the coach's blocks); then pacing (one new step per
patient-local day, no step again within 7 days); only then learning, by Thompson sampling. Learning
can therefore never reach a step the gates hold back.

Decisions where the issue is silent:
- A second request on the same day returns the day's step again, marked `repeat=True` (the check-in
  and /steps may both ask; a steady answer is calmer than a new one or none). If that step has been
  gated since, nothing is offered (None): the day's slot is used and safety wins.
- "A different one, please": call with `exclude={today's step}`. The new choice replaces it
  (`replaces=`) and the service stores the old one with feedback `declined`, so it is not counted as
  the day's active suggestion; a step turned down does not come back the same day, even if pinned.
  At most MAX_SWAPS_PER_DAY swaps a day: one at a time, not a catalogue (the patient can still
  browse with /steps).
- "Not tried" (and "declined") count as a quarter of a "did not help": a step someone keeps not
  trying probably does not fit their days, but one busy day should barely move it; counting them as
  nothing would let the same untried step come back again and again.
- When every allowed step was offered in the last 7 days, nothing is offered (None), not a repeat.
- The prior for a step is how it fared for patients in the same pain and mood bands (0-3, 4-6,
  7-10), held with the weight of at most PRIOR_WEIGHT answers; too little data from similar
  patients falls back to all patients, then to a flat Beta(1, 1). A step whose `suits` holds now
  gets SUITS_BONUS on top, so a brand-new service still starts with fitting steps.
- A coach pin beats the bandit and the 7-day rule (a coach may want a walk every day) but never the
  gates, a block, or the one-new-step-a-day rule. With several pins, the least recently offered wins.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from coachbot.care.steps_library import ScoreValue, condition_holds, describe_condition
from coachbot.spec.steps import Step, StepLibrary

Feedback = Literal["helped", "not_helped", "not_tried", "declined"]
FEEDBACK_WEIGHTS: Mapping[str, tuple[float, float]] = {
    "helped": (1.0, 0.0), "not_helped": (0.0, 1.0), "not_tried": (0.0, 0.25), "declined": (0.0, 0.25)}
"""(successes, failures) each answer adds to a step's Beta posterior; see the module docstring."""
NO_REPEAT_DAYS = 7
MAX_SWAPS_PER_DAY = 2
SUITS_BONUS = 1.0
"""One pseudo-success for a step whose `suits` holds now: a nudge for a new patient, soon outweighed."""
STOP_FLAGS = frozenset({"red_flag", "crisis"})
LEG_FLAGS = frozenset({"leg_weakness", "leg_numbness"})
SKIN_FLAGS = frozenset({"numb_skin", "neuropathy"})
DEFAULT_ZONE = "Europe/London"
PRIOR_WEIGHT = 4.0
"""A step's prior is the similar patients' helped-rate, held with the weight of at most this many
answers: enough for sensible first suggestions, little enough that a patient's own answers
outweigh it within a few tries. Without data from others the prior is flat, Beta(1, 1)."""
MIN_SIMILAR = 5.0
"""Fewer weighted answers than this from similar patients: fall back to all patients, then to none."""


@dataclass(frozen=True)
class PatientState:
    """What the policy knows now: latest scores (measurement codes, e.g. pain_now, peg_score,
    startback_risk), raised flags, the coach's pins and blocks, and the patient's time zone."""

    scores: Mapping[str, ScoreValue] = field(default_factory=dict)
    flags: frozenset[str] = frozenset()
    pinned: tuple[str, ...] = ()
    blocked: frozenset[str] = frozenset()
    timezone: str = DEFAULT_ZONE
    usual: Mapping[str, float] = field(default_factory=dict)
    """The patient's usual pain_now and mood_now (say, the median of the last 14 days). Similar
    patients are found by these when given: who someone is over weeks, not one day's reading, so a
    pain of 6 today and 7 tomorrow does not swap the prior. Today's scores are the fallback."""

    def similarity_scores(self) -> Mapping[str, ScoreValue]:
        return {**self.scores, **self.usual}


@dataclass(frozen=True)
class PastSuggestion:
    """One row of `step_suggestions`: feedback is None until the patient has answered."""

    step_id: str
    suggested_at: datetime
    feedback: Feedback | None = None


@dataclass(frozen=True)
class Suggestion:
    """The policy's answer; `reason` is for the coach and is stored with the suggestion."""

    step_id: str
    reason: str
    repeat: bool = False
    replaces: str | None = None
    pinned: bool = False


@dataclass(frozen=True)
class Outcome:
    """One answered suggestion from any patient, with their pain and mood when it was offered."""

    step_id: str
    feedback: Feedback
    pain_now: float | None = None
    mood_now: float | None = None


@dataclass(frozen=True)
class PopulationPrior:
    """How each step fared for other patients, per (pain band, mood band, step): weighted
    (helped, did not help). Seeds each step's Beta prior so a new patient starts with what helped
    people like them; a band is "unknown" when the score was missing."""

    counts: Mapping[tuple[str, str, str], tuple[float, float]] = field(default_factory=dict)
    pooled: Mapping[str, tuple[float, float]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        pooled: dict[str, tuple[float, float]] = {}
        for (_, _, step_id), (h, f) in self.counts.items():
            ph, pf = pooled.get(step_id, (0.0, 0.0))
            pooled[step_id] = (ph + h, pf + f)
        object.__setattr__(self, "pooled", pooled)

    @classmethod
    def empty(cls) -> PopulationPrior:
        return cls()

    @classmethod
    def from_outcomes(cls, outcomes: Iterable[Outcome]) -> PopulationPrior:
        """Build the table from answered suggestions (the service reads them from the database)."""
        counts: dict[tuple[str, str, str], tuple[float, float]] = {}
        for o in outcomes:
            key = (score_band(o.pain_now) or "unknown", score_band(o.mood_now) or "unknown", o.step_id)
            s, f = FEEDBACK_WEIGHTS[o.feedback]
            h0, f0 = counts.get(key, (0.0, 0.0))
            counts[key] = (h0 + s, f0 + f)
        return cls(counts)

    def beta_for(self, step_id: str, scores: Mapping[str, ScoreValue]) -> tuple[float, float, str]:
        """(a, b) of the step's prior and a few words on where it came from, for the reason."""
        pain, mood = score_band(scores.get("pain_now")), score_band(scores.get("mood_now"))
        similar = self.counts.get((pain, mood, step_id)) if pain and mood else None
        if similar is not None and sum(similar) >= MIN_SIMILAR:
            (helped, failed), basis = similar, f"similar patients (pain {pain}, mood {mood})"
        elif sum(self.pooled.get(step_id, (0.0, 0.0))) >= MIN_SIMILAR:
            (helped, failed), basis = self.pooled[step_id], "all patients"
        else:
            return 1.0, 1.0, "no data from other patients yet"
        n = helped + failed
        rate, weight = (helped + 1) / (n + 2), min(n, PRIOR_WEIGHT)
        said = f"{basis}: helped {round(helped, 1):g} of {round(n, 1):g}"
        return weight * rate, weight * (1 - rate), said


def score_band(value: ScoreValue | None) -> str | None:
    """0-10 scores in three bands, coarse enough that each band gathers data quickly."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return "0-3" if value < 4 else "4-6" if value < 7 else "7-10"


def gate_reasons(step: Step, state: PatientState) -> tuple[str, ...]:
    """Why this step must not be offered now (empty when it may be); also explains /steps to a coach."""
    flags, reasons = state.flags, []
    if flags & STOP_FLAGS:
        reasons.append("no steps in a red-flag or crisis state")
    if step.exercise and flags & LEG_FLAGS:
        reasons.append("exercise held back: new leg weakness or numbness")
    if step.heat and flags & SKIN_FLAGS:
        reasons.append("heat held back: numb skin or neuropathy")
    if step.exposure and state.scores.get("startback_risk") == "high" and "coach_supported" not in flags:
        reasons.append("graded exposure needs a coach for high-risk STarT Back")
    reasons.extend(f"exclude_when: {describe_condition(c)}" for c in step.exclude_when
                   if condition_holds(c, state.scores, flags))
    if step.id in state.blocked:
        reasons.append("blocked by the coach")
    return tuple(reasons)


def steps_for_now(library: StepLibrary, state: PatientState) -> list[Step]:
    """The steps a patient may browse with /steps: every one that passes the gates, those that suit
    them now first (file order otherwise)."""
    allowed = [s for s in library.steps if not gate_reasons(s, state)]
    return sorted(allowed, key=lambda s: not _suits(s, state))


def choose_step(library: StepLibrary, state: PatientState, history: Sequence[PastSuggestion],
                now: datetime, rng: random.Random, *, prior: PopulationPrior | None = None,
                exclude: Iterable[str] = ()) -> Suggestion | None:
    """Today's one step, or None when nothing may be offered. Pure: the same inputs and rng state
    give the same answer, so every choice can be replayed and explained."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if state.flags & STOP_FLAGS:
        return None
    excluded = set(exclude)
    zone = _zone(state.timezone)
    today = now.astimezone(zone).date()
    todays = _todays(history, now, zone)
    active = _active(todays)
    replaces = None
    if active is not None and active.step_id not in excluded:
        step = library.get(active.step_id)
        if step is None or gate_reasons(step, state):
            return None
        when = active.suggested_at.astimezone(zone).strftime("%H:%M")
        return Suggestion(step.id, f"already suggested today at {when}; shown again", repeat=True,
                          pinned=step.id in state.pinned)
    if len(todays) > MAX_SWAPS_PER_DAY:
        return None
    if active is not None:
        replaces = active.step_id
    excluded |= {h.step_id for h in todays}  # turned down today: not again today, even if pinned
    candidates = [s for s in library.steps if s.id not in excluded and not gate_reasons(s, state)]
    last_offered = _last_offered(history, zone)
    pinned = [s for s in candidates if s.id in state.pinned]
    if pinned:
        step = min(pinned, key=lambda s: (last_offered.get(s.id, date.min), state.pinned.index(s.id)))
        return Suggestion(step.id, "pinned by the coach", replaces=replaces, pinned=True)
    fresh = [s for s in candidates if (today - last_offered.get(s.id, date.min)).days >= NO_REPEAT_DAYS]
    if not fresh:
        return None
    step, reason = _thompson(fresh, state, history, rng, prior or PopulationPrior.empty())
    return Suggestion(step.id, f"{reason} (chosen among {len(fresh)} allowed)", replaces=replaces)


def needs_prior(state: PatientState, history: Sequence[PastSuggestion], now: datetime,
                exclude: Iterable[str] = ()) -> bool:
    """Whether `choose_step` would draw among steps, the one use of the population prior: not when
    nothing may be offered, nor when today's step is shown again. Lets the caller skip its queries."""
    if state.flags & STOP_FLAGS:
        return False
    active = _active(_todays(history, now, _zone(state.timezone)))
    return active is None or active.step_id in set(exclude)


def _todays(history: Sequence[PastSuggestion], now: datetime, zone: ZoneInfo) -> list[PastSuggestion]:
    """The suggestions of the patient's local today, oldest first."""
    today = now.astimezone(zone).date()
    return sorted((h for h in history if _day(h, zone) == today), key=lambda h: h.suggested_at)


def _active(todays: Sequence[PastSuggestion]) -> PastSuggestion | None:
    """Today's step: the latest of today's suggestions not turned down."""
    return next((h for h in reversed(todays) if h.feedback != "declined"), None)


def personal_counts(history: Iterable[PastSuggestion], step_id: str) -> tuple[float, float]:
    """This patient's weighted (helped, did not help) for one step, by FEEDBACK_WEIGHTS."""
    helped = failed = 0.0
    for h in history:
        if h.step_id == step_id and h.feedback is not None:
            s, f = FEEDBACK_WEIGHTS[h.feedback]
            helped, failed = helped + s, failed + f
    return helped, failed


def _thompson(steps: Sequence[Step], state: PatientState, history: Sequence[PastSuggestion],
              rng: random.Random, prior: PopulationPrior) -> tuple[Step, str]:
    """Draw once from each step's Beta posterior and take the highest draw: steps that helped are
    favoured, unknown ones still get tried, and the draw is reproducible from the rng."""
    best: tuple[float, Step] | None = None
    for step in steps:
        a0, b0, _ = prior.beta_for(step.id, state.similarity_scores())
        helped, failed = personal_counts(history, step.id)
        bonus = SUITS_BONUS if _suits(step, state) else 0.0
        draw = rng.betavariate(a0 + helped + bonus, b0 + failed)
        if best is None or draw > best[0]:
            best = (draw, step)
    assert best is not None
    return best[1], _explain(best[1], state, history, prior)


def _explain(step: Step, state: PatientState, history: Sequence[PastSuggestion],
             prior: PopulationPrior) -> str:
    answers = [h.feedback for h in history if h.step_id == step.id and h.feedback is not None]
    if answers:
        own = (f"this patient: helped {answers.count('helped')} of {len(answers)} tries"
               f"{_others(answers)}")
    else:
        own = "new for this patient"
    parts = [own, prior.beta_for(step.id, state.similarity_scores())[2]]
    suits = [describe_condition(c) for c in step.suits if condition_holds(c, state.scores, state.flags)]
    if suits:
        parts.append("suits now: " + ", ".join(suits))
    return "; ".join(parts)


def _others(answers: list[Feedback]) -> str:
    skipped = answers.count("not_tried") + answers.count("declined")
    return f", {skipped} not tried" if skipped else ""


def _suits(step: Step, state: PatientState) -> bool:
    return any(condition_holds(c, state.scores, state.flags) for c in step.suits)


def _last_offered(history: Iterable[PastSuggestion], zone: ZoneInfo) -> dict[str, date]:
    last: dict[str, date] = {}
    for h in history:
        day = _day(h, zone)
        last[h.step_id] = max(day, last.get(h.step_id, day))
    return last


def _day(h: PastSuggestion, zone: ZoneInfo) -> date:
    return h.suggested_at.astimezone(zone).date()


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (KeyError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)
