"""What the engine decides: effects as data, applied by the service in one transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from coachbot.engine.events import Status

AnswerValue = int | float | str


@dataclass(frozen=True, slots=True)
class ButtonOption:
    value: str
    label: str


@dataclass(frozen=True, slots=True)
class Reply:
    """A message for the patient; `question` names the state whose answer the buttons give."""

    text: str
    options: tuple[ButtonOption, ...] = ()
    question: str | None = None


@dataclass(frozen=True, slots=True)
class RecordMeasure:
    code: str
    value: AnswerValue
    script: str
    state: str


@dataclass(frozen=True, slots=True)
class UpdateProfile:
    field: str
    value: AnswerValue


@dataclass(frozen=True, slots=True)
class ChangeStatus:
    status: Status
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Escalate:
    tier: str
    rule: str
    reason: str
    evidence: Mapping[str, AnswerValue] = field(default_factory=dict)
    severity: int = 0


@dataclass(frozen=True, slots=True)
class SuggestStep:
    script: str


@dataclass(frozen=True, slots=True)
class SafetyTriggered:
    """Free text matched a crisis or red-flag trigger; `rule` names the pattern, never the text."""

    kind: str
    rule: str


@dataclass(frozen=True, slots=True)
class DialogEnded:
    script: str
    completed: bool


Effect = (Reply | RecordMeasure | UpdateProfile | ChangeStatus | Escalate | SuggestStep
          | SafetyTriggered | DialogEnded)
