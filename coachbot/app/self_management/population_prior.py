"""The population prior from the database: how each step fared for patients with similar scores.

One aggregate query (answered suggestions of the last PRIOR_WINDOW, each with the patient's latest
pain and mood at the time it was offered, banded as `care/step_policy.score_band` does, counted per
band, band, step and answer) gives at most a few hundred rows whatever the number of patients. The
result is cached per process and refreshed every REFRESH: learning across patients is slow, so a
prior a few minutes old costs nothing. The patient's own answers are taken back out (one small
indexed query), so the prior is other patients' experience and their own is not counted twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from coachbot.app.unit_of_work import UnitOfWork
from coachbot.care.step_policy import FEEDBACK_WEIGHTS, PopulationPrior

PRIOR_WINDOW = dt.timedelta(days=180)
REFRESH = dt.timedelta(minutes=10)

Counts = Mapping[tuple[str, str, str], tuple[float, float]]


class PriorCache:
    """One process's population prior, rebuilt from the database at most every `refresh`."""

    def __init__(self, refresh: dt.timedelta = REFRESH, window: dt.timedelta = PRIOR_WINDOW) -> None:
        self.refresh, self.window = refresh, window
        self._counts: Counts | None = None
        self._at: dt.datetime | None = None
        self.loads = 0
        """How many times the aggregate query ran (for tests and logs)."""

    async def prior_for(self, uow: UnitOfWork, patient_id: int, now: dt.datetime) -> PopulationPrior:
        """The prior for one patient: everyone's answers but their own."""
        if self._counts is None or self._at is None or not self._at <= now < self._at + self.refresh:
            self._counts, self._at = await answer_counts(uow, now - self.window), now
            self.loads += 1
        own = await answer_counts(uow, now - self.window, patient_id=patient_id)
        return PopulationPrior(_minus(self._counts, own))


async def answer_counts(uow: UnitOfWork, since: dt.datetime, *,
                        patient_id: int | None = None) -> dict[tuple[str, str, str], tuple[float, float]]:
    """Weighted (helped, did not help) per (pain band, mood band, step), from answered suggestions."""
    counts: dict[tuple[str, str, str], tuple[float, float]] = {}
    for pain_band, mood_band, step_id, feedback, n in await uow.suggestions.answers_by_band(
            since, patient_id=patient_id):
        weights = FEEDBACK_WEIGHTS.get(feedback)
        if weights is None:
            continue
        key = (pain_band, mood_band, step_id)
        helped, failed = counts.get(key, (0.0, 0.0))
        counts[key] = (helped + weights[0] * n, failed + weights[1] * n)
    return counts


def _minus(total: Counts, own: Counts) -> dict[tuple[str, str, str], tuple[float, float]]:
    out = dict(total)
    for key, (helped, failed) in own.items():
        h, f = out.get(key, (0.0, 0.0))
        out[key] = (max(0.0, h - helped), max(0.0, f - failed))
    return out
