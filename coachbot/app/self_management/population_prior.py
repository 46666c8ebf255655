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
import functools
from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, Select, bindparam, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from coachbot.adapters.db.models import Measurement, StepSuggestion, table_of
from coachbot.care.step_policy import FEEDBACK_WEIGHTS, PopulationPrior

PRIOR_WINDOW = dt.timedelta(days=180)
REFRESH = dt.timedelta(minutes=10)
_M, _S = table_of(Measurement), table_of(StepSuggestion)

Counts = Mapping[tuple[str, str, str], tuple[float, float]]


class PriorCache:
    """One process's population prior, rebuilt from the database at most every `refresh`."""

    def __init__(self, refresh: dt.timedelta = REFRESH, window: dt.timedelta = PRIOR_WINDOW) -> None:
        self.refresh, self.window = refresh, window
        self._counts: Counts | None = None
        self._at: dt.datetime | None = None
        self.loads = 0
        """How many times the aggregate query ran (for tests and logs)."""

    async def prior_for(self, session: AsyncSession, patient_id: int, now: dt.datetime) -> PopulationPrior:
        """The prior for one patient: everyone's answers but their own."""
        if self._counts is None or self._at is None or not self._at <= now < self._at + self.refresh:
            self._counts, self._at = await answer_counts(session, now - self.window), now
            self.loads += 1
        own = await answer_counts(session, now - self.window, patient_id=patient_id)
        return PopulationPrior(_minus(self._counts, own))


async def answer_counts(session: AsyncSession, since: dt.datetime, *,
                        patient_id: int | None = None) -> dict[tuple[str, str, str], tuple[float, float]]:
    """Weighted (helped, did not help) per (pain band, mood band, step), from answered suggestions."""
    if patient_id is None:
        result = await session.execute(_counts_query(own=False), {"since": since})
    else:
        result = await session.execute(_counts_query(own=True), {"since": since, "patient_id": patient_id})
    counts: dict[tuple[str, str, str], tuple[float, float]] = {}
    for pain_band, mood_band, step_id, feedback, n in result.all():
        weights = FEEDBACK_WEIGHTS.get(feedback)
        if weights is None:
            continue
        key = (pain_band, mood_band, step_id)
        helped, failed = counts.get(key, (0.0, 0.0))
        counts[key] = (helped + weights[0] * n, failed + weights[1] * n)
    return counts


@functools.cache
def _counts_query(*, own: bool) -> Select[Any]:
    """Built once (per kind): each suggestion asks for the patient's own counts, and building this
    statement cost more than running it. On the tables, so the session runs it as plain Core."""
    answered = (select(_S.c.step_id, _S.c.feedback,
                       _latest("pain_now").label("pain"), _latest("mood_now").label("mood"))
                .where(_S.c.feedback.is_not(None), _S.c.suggested_at >= bindparam("since")))
    if own:
        answered = answered.where(_S.c.patient_id == bindparam("patient_id"))
    inner = answered.subquery()
    pain, mood = _band(inner.c.pain).label("pain_band"), _band(inner.c.mood).label("mood_band")
    return (select(pain, mood, inner.c.step_id, inner.c.feedback, func.count())
            .group_by(pain, mood, inner.c.step_id, inner.c.feedback))


def _latest(code: str) -> ColumnElement[float]:
    """The patient's latest answer to `code` at the moment the step was offered (an index lookup)."""
    return (select(_M.c.value_num)
            .where(_M.c.patient_id == _S.c.patient_id, _M.c.code == code,
                   _M.c.recorded_at <= _S.c.suggested_at)
            .order_by(_M.c.recorded_at.desc()).limit(1)
            .correlate(_S).scalar_subquery())


def _band(value: ColumnElement[float]) -> ColumnElement[str]:
    """`care.step_policy.score_band` in SQL: 0-3, 4-6, 7-10, or "unknown" with no answer."""
    return case((value.is_(None), "unknown"), (value < 4, "0-3"), (value < 7, "4-6"), else_="7-10")


def _minus(total: Counts, own: Counts) -> dict[tuple[str, str, str], tuple[float, float]]:
    out = dict(total)
    for key, (helped, failed) in own.items():
        h, f = out.get(key, (0.0, 0.0))
        out[key] = (max(0.0, h - helped), max(0.0, f - failed))
    return out
