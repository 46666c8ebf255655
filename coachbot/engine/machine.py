"""One shared `transitions.Machine` per script version; patients' positions stay plain data.

A machine per patient would cost about 20 KiB each and `add_model` grows quadratically, so the
machine is built once with `model=None`, and each event fires it on a throwaway cursor that carries
the patient's state and answers for the length of one call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from transitions import EventData, Machine

from coachbot.engine.conditions import holds
from coachbot.engine.effects import AnswerValue
from coachbot.spec.library import Script
from coachbot.spec.model import Condition, Question

ADVANCE = "advance"


class Cursor:
    """The transient model a shared machine moves: one patient's position during one event."""

    __slots__ = ("answers", "facts", "state")

    def __init__(self, state: str, answers: Mapping[str, AnswerValue], facts: Mapping[str, float]):
        self.state = state
        self.answers = answers
        self.facts = facts


def _guard(condition: Condition) -> Callable[[EventData], bool]:
    def check(event: EventData) -> bool:
        cursor = event.model
        assert isinstance(cursor, Cursor)
        return holds(condition, cursor.answers, cursor.facts)

    return check


@dataclass(frozen=True, slots=True)
class ScriptMachine:
    """A script version compiled to a transitions machine, plus look-ups the engine needs."""

    script: Script
    machine: Machine
    questions: Mapping[str, Question]
    """Answer key -> the question that asks it, for reading answers back as labels."""

    def advance(self, cursor: Cursor) -> bool:
        """Move the cursor along the first route whose condition holds; False when none does."""
        return bool(self.machine.events[ADVANCE].trigger(cursor))


def build_machine(script: Script) -> ScriptMachine:
    machine = Machine(
        model=None,
        states=list(script.states),
        initial=script.start,
        auto_transitions=False,
        send_event=True,
        ignore_invalid_triggers=True,
        name=f"{script.name}@{script.version}",
    )
    questions: dict[str, Question] = {}
    for name, state in script.states.items():
        if state.ask is not None and (state.store or state.profile):
            questions[state.store or state.profile or ""] = state.ask
        if state.next is not None:
            machine.add_transition(ADVANCE, name, state.next)
        for route in state.routes:
            conditions: list[Any] = [] if route.when is None else [_guard(route.when)]
            machine.add_transition(ADVANCE, name, route.goto, conditions=conditions)
    return ScriptMachine(script=script, machine=machine, questions=questions)


class MachineCache:
    """Builds each script version's machine once and shares it among every patient."""

    def __init__(self) -> None:
        self._machines: dict[tuple[str, str], ScriptMachine] = {}

    def get(self, script: Script) -> ScriptMachine:
        key = (script.name, script.version)
        found = self._machines.get(key)
        if found is None:
            found = self._machines[key] = build_machine(script)
        return found
