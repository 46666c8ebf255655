"""Simple, safe templating of dialog text: `{name}` and `{answers.KEY}`, nothing else."""

from __future__ import annotations

import re
from collections.abc import Mapping

from coachbot.engine.effects import AnswerValue
from coachbot.spec.model import Messages, Question

PLACEHOLDER = re.compile(r"\{(name|answers\.[a-z][a-z0-9_]*)\}")


def render(text: str, *, name: str | None, answers: Mapping[str, AnswerValue],
           questions: Mapping[str, Question], messages: Messages) -> str:
    """Fill placeholders; an answer the patient skipped renders as an empty string."""

    def fill(match: re.Match[str]) -> str:
        key = match.group(1)
        if key == "name":
            return name or messages.name_fallback
        answer_key = key.removeprefix("answers.")
        value = answers.get(answer_key)
        if value is None:
            return ""
        return display(value, questions.get(answer_key), messages)

    return PLACEHOLDER.sub(fill, text)


def display(value: AnswerValue, question: Question | None, messages: Messages) -> str:
    """How a stored answer reads back to the patient: labels, not codes."""
    if question is not None:
        if question.type == "yes_no":
            return messages.yes_label if value == 1 else messages.no_label
        if question.type == "choice":
            for option in question.options:
                if str(option.value) == str(value):
                    return option.label
    if isinstance(value, float) and value == int(value):
        return str(int(value))
    return str(value)
