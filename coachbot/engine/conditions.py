"""Declarative conditions from dialog files, evaluated against a conversation's answers as data."""

from __future__ import annotations

from collections.abc import Mapping

from coachbot.engine.effects import AnswerValue
from coachbot.spec.model import Condition

SCORE_PREFIX = "score."
"""Scores live beside answers in the conversation, under `score.<questionnaire>`."""


def subject_value(condition: Condition, answers: Mapping[str, AnswerValue],
                  facts: Mapping[str, float]) -> AnswerValue | None:
    if condition.answer is not None:
        return answers.get(condition.answer)
    if condition.score is not None:
        return answers.get(SCORE_PREFIX + condition.score)
    if condition.fact is not None:
        return facts.get(condition.fact)
    return None


def holds(condition: Condition, answers: Mapping[str, AnswerValue], facts: Mapping[str, float]) -> bool:
    """True when the condition holds; a missing (skipped) answer satisfies no comparison."""
    if condition.all is not None:
        return all(holds(c, answers, facts) for c in condition.all)
    if condition.any is not None:
        return any(holds(c, answers, facts) for c in condition.any)
    if condition.not_ is not None:
        return not holds(condition.not_, answers, facts)
    value = subject_value(condition, answers, facts)
    if condition.answered is not None:
        return (value is not None) == condition.answered
    if value is None:
        return False
    return _compare(condition, value)


def _compare(condition: Condition, value: AnswerValue) -> bool:
    checks: list[bool] = []
    if condition.eq is not None:
        checks.append(_same(value, condition.eq))
    if condition.ne is not None:
        checks.append(not _same(value, condition.ne))
    if condition.in_ is not None:
        checks.append(any(_same(value, item) for item in condition.in_))
    for bound, test in ((condition.gt, float.__gt__), (condition.gte, float.__ge__),
                        (condition.lt, float.__lt__), (condition.lte, float.__le__)):
        if bound is not None:
            checks.append(isinstance(value, int | float) and test(float(value), float(bound)))
    return all(checks)


def _same(value: AnswerValue, expected: int | float | str | bool) -> bool:
    if isinstance(expected, bool):
        expected = int(expected)
    if isinstance(value, int | float) and isinstance(expected, int | float):
        return float(value) == float(expected)
    return str(value).strip().lower() == str(expected).strip().lower()
