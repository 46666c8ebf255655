"""Does the policy learn what helps each patient? A seeded simulation with synthetic patients.

Each synthetic patient has hidden steps that help them: about a quarter of the steps their gates
allow. Patients with similar pain and mood tend to be helped by similar steps (most of each patient's
helpful steps come from a pool shared by their pain/mood band, the rest are their own), and feedback
is noisy: a helpful step is reported as helping 80% of the time, an unhelpful one 10%, and some days a
step is simply not tried. A separate cohort, offered steps at random, provides the population prior,
as past patients' answers would in the service.

Over 30 simulated days the policy must take at least 60% of its suggestions from each patient's
helpful steps on average, while random choice (same gates, same 7-day rule) reaches about the share
of helpful steps. Everything is seeded, so the figures are the same on every run (run with -s to
see them).

What the figures rest on: most of the learning in 30 days comes from the population prior. With
30+ allowed steps and each step resting for a week after it is offered, a patient's own answers
alone lift the share only a little above chance in a month (the "without prior" line). How much
the prior can do depends on how alike similar patients are; with the 12-step band pools used here,
75% of helpful steps shared gives 64-70% depending on the seed, 60% shared about 52%, 80% about 70%.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from coachbot.care.step_policy import (
    NO_REPEAT_DAYS,
    Feedback,
    Outcome,
    PastSuggestion,
    PatientState,
    PopulationPrior,
    choose_step,
    gate_reasons,
    score_band,
    steps_for_now,
)
from coachbot.spec.steps import Step, load_steps

LIBRARY = load_steps(Path(__file__).resolve().parents[2] / "dialogs" / "steps.yaml")
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
DAYS = 30
PATIENTS = 30
COHORT = 300
HELPFUL_SHARE = 0.25
POOL = 12
"""Steps (of the library's 41) that help many patients in a given pain/mood band."""
SHARED = 0.75
"""Share of a patient's helpful steps drawn from the pool of their pain/mood band; the rest are
their own. With less sharing the prior knows less: see the figures in the module docstring."""
BANDS = ((1, 3), (4, 6), (7, 9))

Policy = Callable[[PatientState, list[PastSuggestion], datetime, random.Random], str | None]


@dataclass
class Patient:
    pain: int
    mood: int
    flags: frozenset[str]
    helpful: frozenset[str]
    allowed: frozenset[str]

    def state(self, rng: random.Random) -> PatientState:
        pain = min(10, max(0, self.pain + rng.choice((-1, 0, 0, 1))))
        mood = min(10, max(0, self.mood + rng.choice((-1, 0, 0, 1))))
        return PatientState(scores={"pain_now": pain, "mood_now": mood}, flags=self.flags,
                            usual={"pain_now": self.pain, "mood_now": self.mood})


def _pools(rng: random.Random) -> dict[tuple[str, str], list[str]]:
    ids = [s.id for s in LIBRARY.steps]
    return {(str(score_band(pain[0])), str(score_band(mood[0]))): rng.sample(ids, POOL)
            for pain in BANDS for mood in BANDS}


def _patient(rng: random.Random, pools: dict[tuple[str, str], list[str]]) -> Patient:
    pain, mood = rng.randint(*rng.choice(BANDS)), rng.randint(*rng.choice(BANDS))
    flags = frozenset(f for f, p in (("leg_numbness", 0.15), ("numb_skin", 0.1), ("not_working", 0.4))
                      if rng.random() < p)
    allowed = frozenset(s.id for s in steps_for_now(LIBRARY, PatientState({"pain_now": pain + 1}, flags)))
    size = max(NO_REPEAT_DAYS, round(HELPFUL_SHARE * len(allowed)))
    pool = [i for i in pools[(str(score_band(pain)), str(score_band(mood)))] if i in allowed]
    shared = rng.sample(pool, min(len(pool), round(SHARED * size)))
    own = rng.sample(sorted(allowed - set(shared)), size - len(shared))
    return Patient(pain, mood, flags, frozenset(shared + own), allowed)


def _feedback(patient: Patient, step_id: str, rng: random.Random) -> Feedback:
    roll = rng.random()
    if step_id in patient.helpful:
        return "helped" if roll < 0.8 else "not_tried" if roll < 0.9 else "not_helped"
    return "helped" if roll < 0.1 else "not_tried" if roll < 0.3 else "not_helped"


def _run(patient: Patient, policy: Policy, rng: random.Random) -> tuple[list[PastSuggestion], list[Outcome]]:
    history: list[PastSuggestion] = []
    outcomes: list[Outcome] = []
    for day in range(DAYS):
        now = START + timedelta(days=day, minutes=rng.randint(0, 120))
        state = patient.state(rng)
        step_id = policy(state, history, now, rng)
        if step_id is None:
            continue
        feedback = _feedback(patient, step_id, rng)
        history.append(PastSuggestion(step_id, now, feedback))
        outcomes.append(Outcome(step_id, feedback, patient.pain, patient.mood))
    return history, outcomes


def _random_policy(state: PatientState, history: list[PastSuggestion], now: datetime,
                   rng: random.Random) -> str | None:
    """Same gates and 7-day rule as the real policy, then a uniform pick."""
    recent = {h.step_id for h in history if (now - h.suggested_at).days < NO_REPEAT_DAYS}
    fresh: list[Step] = [s for s in LIBRARY.steps if s.id not in recent and not gate_reasons(s, state)]
    return rng.choice(fresh).id if fresh else None


def _thompson(prior: PopulationPrior) -> Policy:
    def policy(state: PatientState, history: list[PastSuggestion], now: datetime,
               rng: random.Random) -> str | None:
        result = choose_step(LIBRARY, state, history, now, rng, prior=prior)
        return result.step_id if result else None
    return policy


def _shares(patients: list[Patient], policy: Policy, rng: random.Random) -> list[float]:
    shares = []
    for patient in patients:
        history, _ = _run(patient, policy, rng)
        shares.append(sum(h.step_id in patient.helpful for h in history) / len(history))
    return shares


def _spread(shares: list[float]) -> str:
    q = statistics.quantiles(shares, n=4)
    return (f"mean {statistics.mean(shares):.0%}, min {min(shares):.0%}, quartiles {q[0]:.0%}/{q[1]:.0%}/"
            f"{q[2]:.0%}, max {max(shares):.0%}")


def test_thompson_sampling_learns_each_patients_helpful_steps() -> None:
    rng = random.Random(20260601)
    pools = _pools(rng)
    cohort = [_patient(rng, pools) for _ in range(COHORT)]
    outcomes = [o for p in cohort for o in _run(p, _random_policy, rng)[1]]
    prior = PopulationPrior.from_outcomes(outcomes)
    patients = [_patient(rng, pools) for _ in range(PATIENTS)]
    base_rate = statistics.mean(len(p.helpful) / len(p.allowed) for p in patients)

    learned = _shares(patients, _thompson(prior), random.Random(1))
    no_prior = _shares(patients, _thompson(PopulationPrior.empty()), random.Random(1))
    at_random = _shares(patients, _random_policy, random.Random(1))

    print(f"\nhelpful steps: {base_rate:.0%} of each patient's allowed steps on average "
          f"({PATIENTS} patients, {DAYS} days, prior from {COHORT} patients)")
    print(f"Thompson sampling with population prior: {_spread(learned)}")
    print(f"Thompson sampling without prior:         {_spread(no_prior)}")
    print(f"random choice:                           {_spread(at_random)}")
    assert statistics.mean(learned) >= 0.60
    assert min(learned) > base_rate  # every patient does better than chance, not just the average
    assert abs(statistics.mean(at_random) - base_rate) <= 0.06
    assert statistics.mean(no_prior) > statistics.mean(at_random)
