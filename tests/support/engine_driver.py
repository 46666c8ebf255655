"""A patient-side driver for the pure engine: type, press, and read what came back."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from coachbot.engine import (
    ButtonPress,
    ChangeStatus,
    Effect,
    Engine,
    PatientContext,
    Position,
    RecordMeasure,
    Reply,
    StartDialog,
    TextMessage,
    UpdateProfile,
)

NOW = dt.datetime(2026, 11, 2, 9, 0, tzinfo=dt.UTC)


@dataclass
class EngineChat:
    engine: Engine
    context: PatientContext = field(default_factory=PatientContext)
    position: Position | None = None
    effects: list[Effect] = field(default_factory=list)
    last: list[Effect] = field(default_factory=list)

    def _apply(self, effects: tuple[Effect, ...]) -> list[str]:
        self.last = list(effects)
        self.effects.extend(effects)
        for effect in effects:
            if isinstance(effect, ChangeStatus):
                self.context = replace(self.context, status=effect.status)
            if isinstance(effect, UpdateProfile) and effect.field == "name":
                self.context = replace(self.context, name=str(effect.value))
        return [e.text for e in effects if isinstance(e, Reply)]

    def send(self, text: str) -> list[str]:
        outcome = self.engine.handle(self.context, self.position, TextMessage(text), NOW)
        self.position = outcome.position
        return self._apply(outcome.effects)

    def press(self, value: str, state: str | None = None) -> list[str]:
        target = state or (self.position.state if self.position else "none")
        outcome = self.engine.handle(self.context, self.position, ButtonPress(target, value), NOW)
        self.position = outcome.position
        return self._apply(outcome.effects)

    def start(self, script: str) -> list[str]:
        outcome = self.engine.handle(self.context, self.position, StartDialog(script), NOW)
        self.position = outcome.position
        return self._apply(outcome.effects)

    def measures(self) -> dict[str, object]:
        return {e.code: e.value for e in self.effects if isinstance(e, RecordMeasure)}

    def of_type(self, kind: type) -> list[Effect]:
        return [e for e in self.last if isinstance(e, kind)]

    @property
    def state(self) -> str | None:
        return self.position.state if self.position else None
