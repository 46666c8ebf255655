"""Where a patient is in a dialog: plain, serialisable data that the storage layer persists."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from coachbot.engine.effects import AnswerValue


@dataclass(frozen=True, slots=True)
class Position:
    script: str
    version: str
    state: str
    answers: Mapping[str, AnswerValue] = field(default_factory=dict)
    misses: int = 0

    def at(self, state: str) -> Position:
        return replace(self, state=state, misses=0)

    def with_answer(self, key: str, value: AnswerValue) -> Position:
        return replace(self, answers={**self.answers, key: value}, misses=0)

    def missed(self) -> Position:
        return replace(self, misses=self.misses + 1)
