"""Declarative conditions from dialog files, evaluated against a conversation's answers as data.

The condition language is spec's (`coachbot.spec.conditions.holds`, shared with the steps file); the
engine only says what each subject is worth in a conversation: an answer, a score kept beside the
answers, or a fact about the patient.
"""

from __future__ import annotations

from collections.abc import Mapping

from coachbot.engine.effects import AnswerValue
from coachbot.spec.conditions import holds as condition_holds
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
    return condition_holds(condition, lambda c: subject_value(c, answers, facts))
