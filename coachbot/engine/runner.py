"""The dialog engine: one inbound event for one patient in, the new position and effects out.

Pure: no Telegram, no database, no clock reads. Safety comes first in `handle`: free text is checked
against the crisis and red-flag triggers before anything else, whatever the patient's status or
position, and a hit pre-empts the running dialog.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from coachbot.care.person_request import asks_for_person
from coachbot.care.scoring import score as score_questionnaire
from coachbot.care.triggers import FALLBACK, KINDS, Detection
from coachbot.engine.commands import Command, parse_command
from coachbot.engine.conditions import SCORE_PREFIX
from coachbot.engine.effects import (
    AnswerValue,
    ButtonOption,
    ChangeStatus,
    DialogEnded,
    Effect,
    Escalate,
    RecordMeasure,
    Reply,
    SafetyTriggered,
    SuggestStep,
    UpdateProfile,
)
from coachbot.engine.events import ButtonPress, Event, PatientContext, StartDialog, TextMessage
from coachbot.engine.machine import Cursor, MachineCache, ScriptMachine
from coachbot.engine.parsing import parse_answer
from coachbot.engine.position import Position
from coachbot.engine.templating import render
from coachbot.spec.library import DialogLibrary, Script
from coachbot.spec.model import Action, Messages, Question

URGENT_OPEN = "urgent_open"
"""The fact (1) the service supplies to words outside a dialog while an urgent escalation waits for a
coach: the idle answer then offers no steps or check-ins, which that patient was told are paused."""
PERSON_RULE = "asks_for_person"
"""The escalation rule raised when a message asks for a human being (care/person_request.py)."""
MISSES_BEFORE_SKIP_OFFER = 3
MAX_STEPS_PER_EVENT = 200
"""A guard against a cycle of states that never ask anything (validation should prevent one)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    position: Position | None
    effects: tuple[Effect, ...] = ()


@dataclass(slots=True)
class _Turn:
    """Collects one event's effects while the engine walks the script."""

    patient: PatientContext
    effects: list[Effect] = field(default_factory=list)

    def say(self, text: str, options: tuple[ButtonOption, ...] = (), question: str | None = None) -> None:
        self.effects.append(Reply(text=text, options=options, question=question))

    def done(self, position: Position | None) -> Outcome:
        return Outcome(position=position, effects=tuple(self.effects))


class Engine:
    """Runs the dialogs of one `DialogLibrary`; safe to share between all patients."""

    def __init__(self, library: DialogLibrary) -> None:
        self.library = library
        self._machines = MachineCache()
        self._preempt_scripts = {script: kind for kind, script in library.service.preempt.items()}

    @property
    def messages(self) -> Messages:
        return self.library.service.messages

    # -- entry point -----------------------------------------------------------------------
    def handle(self, patient: PatientContext, position: Position | None, event: Event,
               now: datetime) -> Outcome:
        turn = _Turn(patient)
        if isinstance(event, StartDialog):
            return self._start_requested(turn, position, event.script)
        text = event.text if isinstance(event, TextMessage) else None
        if text is not None:
            detection = self.library.triggers.detect(text)
            if detection is not None:
                return self._setting_up_after(turn, position, self._preempt(turn, position, detection, text))
            command = parse_command(text)
            if command is not None:
                return self._command(turn, position, command, now)
        in_safety_flow = position is not None and position.script in self._preempt_scripts
        if text is not None and asks_for_person(text):
            # A person is asked for: the coach is told, whatever else the message is (a note, an
            # answer, words outside a dialog); the dialog then carries on as it would have.
            turn.effects.append(Escalate(tier="routine", rule=PERSON_RULE,
                                         reason=self.messages.person_asked_reason, evidence={}))
            turn.say(self.messages.person_asked)
            if (position is None and patient.status != "new") or (
                    patient.status == "stopped" and not in_safety_flow):
                return turn.done(position)
        if patient.status == "stopped" and not in_safety_flow:  # a safety flow is always answerable
            turn.say(self.messages.stopped_reply)
            return turn.done(position)
        if isinstance(event, ButtonPress):
            if position is None or position.state != event.state:
                turn.say(self.messages.stale_button)
                return turn.done(position)
            return self._answer(turn, position, event.value)
        assert text is not None
        if position is None:
            if patient.status == "new":
                return self._start(turn, self.library.service.entry)
            turn.say(self._idle(turn))
            return turn.done(None)
        return self._answer(turn, position, text)

    # -- starting and pre-empting ----------------------------------------------------------------
    def _start_requested(self, turn: _Turn, position: Position | None, script: str) -> Outcome:
        """A scheduled or requested dialog; never over a safety flow, never to a stopped patient."""
        if turn.patient.status == "stopped":
            return turn.done(position)
        if position is not None and position.script in self._preempt_scripts:
            return turn.done(position)
        if position is not None:
            turn.effects.append(DialogEnded(script=position.script, completed=False))
        return self._start(turn, script)

    def _start(self, turn: _Turn, script_name: str, depth: int = 0) -> Outcome:
        script = self.library.script(script_name)
        if script is None or depth > 5:
            turn.say(self.messages.idle)
            return turn.done(None)
        position = Position(script=script.name, version=script.version, state=script.start)
        return self._run(turn, self._machines.get(script), position, depth)

    def _preempt(self, turn: _Turn, position: Position | None, detection: Detection,
                 text: str) -> Outcome:
        turn.effects.append(SafetyTriggered(kind=detection.kind, rule=detection.rule))
        target = self._safety_script(detection.kind)
        current_kind = self._preempt_scripts.get(position.script) if position else None
        if position is not None and current_kind is not None and (
            target == position.script or KINDS.index(current_kind) < KINDS.index(detection.kind)
        ):
            # Already in an equal or more serious safety flow: an answer stays an answer, anything
            # else shows that flow's resources again rather than a plain re-ask.
            machine = self._script_machine(position)
            state = machine.script.states.get(position.state) if machine else None
            if machine and state and state.ask and parse_answer(text, state.ask) is not None:
                return self._answer(turn, position, text)
            target = position.script
        if target is None:
            return turn.done(position)
        if position is not None:
            turn.effects.append(DialogEnded(script=position.script, completed=False))
        first = len(turn.effects)
        outcome = self._start(turn, target)
        line = self.library.triggers.language_line(detection.language)
        replies = [i for i in range(first, len(turn.effects)) if isinstance(turn.effects[i], Reply)]
        if line is None or not replies:
            return outcome
        # The English safety text stays first (it is the reviewed, complete one); the line in the
        # patient's own language follows it at once, before any question.
        turn.effects.insert(replies[0] + 1, Reply(text=line))
        return turn.done(outcome.position)

    def _safety_script(self, kind: str) -> str | None:
        """The safety dialog for a kind; a refined kind ("overdose") with no dialog of its own is
        answered by its general kind's ("crisis"), never by silence."""
        preempt: Mapping[str, str] = {str(k): v for k, v in self.library.service.preempt.items()}
        return preempt.get(kind) or preempt.get(FALLBACK.get(kind, ""))

    def _setting_up_after(self, turn: _Turn, position: Position | None, outcome: Outcome) -> Outcome:
        """A safety flow that pre-empted onboarding and ended in the same turn (the red-flag
        messages ask nothing) hands back to onboarding at the question it was on, with the answers
        kept: otherwise the patient would have no check-in time and no baseline, and their next
        message would start setting up from the welcome again."""
        if (outcome.position is not None or position is None
                or position.script != self.library.service.entry):
            return outcome
        turn.say(self.messages.setting_up_resumes)
        return self._reask(turn, position.at(position.state), with_hint=False)

    # -- commands --------------------------------------------------------------------------------
    def _command(self, turn: _Turn, position: Position | None, command: Command,
                 now: datetime) -> Outcome:
        messages = self.messages
        if turn.patient.status == "stopped" and command.name != "start":
            turn.say(messages.stopped_reply)
            return turn.done(position)
        if command.name == "help":
            turn.say(messages.help)
            return self._reask(turn, position, with_hint=False)
        if command.name == "skip":
            return self._skip(turn, position)
        if command.name == "pause":
            until = now + timedelta(days=command.days) if command.days else None
            turn.effects.append(ChangeStatus(status="paused", until=until))
            turn.say(messages.paused_days.replace("{days}", str(command.days)) if command.days
                     else messages.paused)
            return turn.done(position)
        if command.name == "resume":
            turn.effects.append(ChangeStatus(status="active"))
            turn.say(messages.resumed)
            return self._reask(turn, position, with_hint=False)
        if command.name == "stop":
            turn.effects.append(ChangeStatus(status="stopped"))
            if position is not None:
                turn.effects.append(DialogEnded(script=position.script, completed=False))
            turn.say(messages.stopped)
            return turn.done(None)
        return self._restart(turn, position)

    def _restart(self, turn: _Turn, position: Position | None) -> Outcome:
        """/start: back from a stop, or a fresh greeting; never re-onboards someone onboarded."""
        if turn.patient.status == "stopped":
            turn.effects.append(ChangeStatus(status="active" if position or self._onboarded(turn)
                                             else "new"))
            turn.say(self.messages.resumed)
        if position is not None:
            return self._reask(turn, position, with_hint=False)
        if not self._onboarded(turn):
            return self._start(turn, self.library.service.entry)
        if turn.patient.status != "stopped":
            turn.say(self._idle(turn))
        return turn.done(None)

    def _idle(self, turn: _Turn) -> str:
        """Words outside a dialog: what to do next, or, while an urgent escalation waits for a coach,
        only that the coach knows and where help is (no steps: the patient was told they are paused)."""
        if turn.patient.facts.get(URGENT_OPEN):
            return self.messages.idle_while_alert_open
        return self.messages.idle

    @staticmethod
    def _onboarded(turn: _Turn) -> bool:
        return bool(turn.patient.facts.get("onboarded", 0))

    def _skip(self, turn: _Turn, position: Position | None) -> Outcome:
        machine = self._script_machine(position)
        if position is None or machine is None:
            turn.say(self.messages.idle)
            return turn.done(position)
        question = machine.script.states[position.state].ask
        if question is None or not question.skippable:
            turn.say(self.messages.cannot_skip)
            return self._reask(turn, position, with_hint=False)
        turn.say(self.messages.skipped)
        return self._move_on(turn, machine, position.at(position.state))

    # -- answering ---------------------------------------------------------------------------
    def _answer(self, turn: _Turn, position: Position, text: str) -> Outcome:
        machine = self._script_machine(position)
        if machine is None:
            turn.say(self.messages.idle)
            return turn.done(None)
        state = machine.script.states[position.state]
        if state.ask is None:
            return self._run(turn, machine, position)
        value = parse_answer(text, state.ask)
        if value is None:
            return self._reask(turn, position.missed(), with_hint=True)
        key = state.store or state.profile
        if key is not None:
            position = position.with_answer(key, value)
            if state.store:
                turn.effects.append(RecordMeasure(code=key, value=value, script=position.script,
                                                  state=position.state))
            else:
                turn.effects.append(UpdateProfile(field=key, value=value))
        return self._move_on(turn, machine, position.at(position.state))

    def _reask(self, turn: _Turn, position: Position | None, *, with_hint: bool) -> Outcome:
        machine = self._script_machine(position)
        if position is None or machine is None:
            return turn.done(position)
        question = machine.script.states[position.state].ask
        if question is None:
            return turn.done(position)
        if with_hint:
            turn.say(self._hint(question), self._options(question), position.state)
            if position.misses >= MISSES_BEFORE_SKIP_OFFER and question.skippable:
                turn.say(self.messages.offer_skip)
        else:
            self._ask(turn, machine, position, question)
        return turn.done(position)

    def _hint(self, question: Question) -> str:
        """The re-ask: one plain sentence saying what is accepted for this question."""
        template = question.accepts or self.messages.reask[question.type]
        options = ", ".join(o.label for o in question.options)
        low = question.min if question.min is not None else 0
        high = question.max if question.max is not None else 10
        for key, value in (("{min}", _num(low)), ("{max}", _num(high)), ("{options}", options),
                           ("{max_length}", str(question.max_length))):
            template = template.replace(key, value)
        return template

    def _options(self, question: Question) -> tuple[ButtonOption, ...]:
        if question.type == "scale":
            return tuple(ButtonOption(str(n), str(n)) for n in range(11))
        if question.type == "yes_no":
            return (ButtonOption("1", self.messages.yes_label), ButtonOption("0", self.messages.no_label))
        if question.type == "choice":
            return tuple(ButtonOption(str(o.value), o.label) for o in question.options)
        return ()

    def _ask(self, turn: _Turn, machine: ScriptMachine, position: Position, question: Question) -> None:
        turn.say(self._render(turn, machine, position, question.text), self._options(question),
                 position.state)

    # -- walking the script --------------------------------------------------------------------
    def _move_on(self, turn: _Turn, machine: ScriptMachine, position: Position) -> Outcome:
        cursor = Cursor(position.state, position.answers, turn.patient.facts)
        if not machine.advance(cursor):
            turn.effects.append(DialogEnded(script=position.script, completed=False))
            return turn.done(None)
        return self._run(turn, machine, position.at(cursor.state))

    def _run(self, turn: _Turn, machine: ScriptMachine, position: Position, depth: int = 0) -> Outcome:
        """Enter states one after another until one asks a question or the dialog ends."""
        for _ in range(MAX_STEPS_PER_EVENT):
            state = machine.script.states[position.state]
            if state.say:
                turn.say(self._render(turn, machine, position, state.say))
            for action in state.actions:
                outcome = self._act(turn, machine, position, action, depth)
                if isinstance(outcome, Outcome):
                    return outcome
                position = outcome
            if state.ask is not None:
                self._ask(turn, machine, position, state.ask)
                return turn.done(position)
            cursor = Cursor(position.state, position.answers, turn.patient.facts)
            if not machine.advance(cursor):
                break
            position = position.at(cursor.state)
        turn.effects.append(DialogEnded(script=position.script, completed=False))
        return turn.done(None)

    def _act(self, turn: _Turn, machine: ScriptMachine, position: Position, action: Action,
             depth: int) -> Position | Outcome:
        """Apply one action; an Outcome means the dialog ended or switched."""
        script = position.script
        if action.record is not None:
            turn.effects.append(RecordMeasure(code=action.record.measure, value=_value(action.record.value),
                                              script=script, state=position.state))
        elif action.score is not None:
            result = score_questionnaire(action.score, position.answers)
            if result is not None:
                position = replace(position, answers={**position.answers,
                                                      SCORE_PREFIX + action.score: result.total})
                for code, value in result.measures.items():
                    turn.effects.append(RecordMeasure(code=code, value=value, script=script,
                                                      state=position.state))
        elif action.escalate is not None:
            turn.effects.append(Escalate(tier=action.escalate.tier, rule=action.escalate.rule,
                                         reason=action.escalate.reason,
                                         evidence=_evidence(position.answers),
                                         severity=action.escalate.severity))
        elif action.suggest_step:
            turn.effects.append(SuggestStep(script=script))
        elif action.switch is not None:
            turn.effects.append(DialogEnded(script=script, completed=True))
            return self._start(turn, action.switch, depth + 1)
        elif action.end:
            turn.effects.append(DialogEnded(script=script, completed=True))
            return turn.done(None)
        return position

    def _render(self, turn: _Turn, machine: ScriptMachine, position: Position, text: str) -> str:
        name = position.answers.get("name")
        return render(text, name=str(name) if name else turn.patient.name, answers=position.answers,
                      questions=machine.questions, messages=self.messages).strip()

    def _script_machine(self, position: Position | None) -> ScriptMachine | None:
        """The machine for the position's own script version, so edits never strand a patient."""
        if position is None:
            return None
        script: Script | None = self.library.script(position.script, position.version)
        if script is None or position.state not in script.states:
            return None
        return self._machines.get(script)


def _num(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _value(value: int | float | str | bool) -> AnswerValue:
    return int(value) if isinstance(value, bool) else value


def _evidence(answers: Mapping[str, AnswerValue]) -> dict[str, AnswerValue]:
    """The numbers behind an escalation; free text stays out of alerts and logs."""
    return {key: value for key, value in answers.items() if isinstance(value, int | float)}
