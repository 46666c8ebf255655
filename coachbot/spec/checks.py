"""The semantic (second) stage: files that have the right shape but do not make sense.

Each rule is one function that looks at one dialog file and yields a problem per mistake, naming the
file, line, script, state and a fix. Rules see the whole catalog (every block, every script name)
because a file's meaning depends on its neighbours: `use:` needs a block, `switch:` a script, and
a script's measures may be asked inside the blocks it uses.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

from coachbot.spec.model import EXIT, WEEKDAYS, Condition, ScriptFile, ServiceFile, State
from coachbot.spec.problems import Problem
from coachbot.spec.yaml_source import Loc, YamlDocument

PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
ANSWER_PLACEHOLDER = re.compile(r"^answers\.([a-z][a-z0-9_]*)$")


@dataclass(frozen=True)
class DialogSource:
    """A dialog file that passed the structural stage: the model and the YAML it came from."""

    doc: YamlDocument
    spec: ScriptFile

    @property
    def label(self) -> str:
        return self.doc.label

    @property
    def name(self) -> str:
        return self.spec.name

    def problem(self, loc: Loc, state: str | None, message: str, fix: str | None) -> Problem:
        return Problem(self.label, self.doc.line_of(loc), self.name, state, message, fix)


@dataclass(frozen=True)
class Catalog:
    """What the rules may refer to. `script_names` also holds the names of script files that failed
    the structural stage, so switching to them is not reported as a second, misleading problem."""

    scripts: Mapping[str, DialogSource]
    blocks: Mapping[str, DialogSource]
    script_names: frozenset[str]
    questionnaires: frozenset[str]
    items: Mapping[str, tuple[str, ...]]
    broken_blocks: frozenset[str] = frozenset()
    """Blocks whose files failed the structural stage: exist, but their states are unknown."""


Rule = Callable[[DialogSource, Catalog], Iterator[Problem]]


def check_start(src: DialogSource, cat: Catalog) -> Iterator[Problem]:
    if src.spec.start not in src.spec.states:
        yield src.problem(("start",), None, f"start: '{src.spec.start}' is not a state of this file.",
                          choose(src.spec.start, src.spec.states))


def check_targets(src: DialogSource, cat: Catalog) -> Iterator[Problem]:
    """Every `next:` and `goto:` names a state of the file; `$exit` only inside a block."""
    kind = "block" if src.spec.is_block else "script"
    names = [*src.spec.states, EXIT] if src.spec.is_block else list(src.spec.states)
    for name, state in src.spec.states.items():
        for loc, target in targets(state):
            if target == EXIT and not src.spec.is_block:
                yield src.problem(("states", name, *loc), name,
                                  f"'{EXIT}' only works inside a block, where it leaves the block.",
                                  choose(target, names) + ", or end here with the action '- end: true'")
            elif target not in names:
                yield src.problem(("states", name, *loc), name,
                                  f"'{target}' is not a state of this {kind}.", choose(target, names))


def check_uses(src: DialogSource, cat: Catalog) -> Iterator[Problem]:
    for name, state in src.spec.states.items():
        if state.use is None:
            continue
        if src.spec.is_block:
            yield src.problem(("states", name, "use"), name, "a block cannot use another block.",
                              "copy the states you need into this block, or have the script use both "
                              "blocks one after the other.")
        elif state.use not in cat.blocks and state.use not in cat.broken_blocks:
            yield src.problem(("states", name, "use"), name,
                              f"there is no block '{state.use}' (blocks are the files in dialogs/blocks/).",
                              choose(state.use, cat.blocks) if cat.blocks else "add the block file.")


def check_switches(src: DialogSource, cat: Catalog) -> Iterator[Problem]:
    for name, state in src.spec.states.items():
        for index, action in enumerate(state.actions):
            target = action.switch
            if target is None or target in cat.script_names:
                continue
            loc = ("states", name, "actions", index, "switch")
            if target in cat.blocks:
                yield src.problem(loc, name, f"'{target}' is a block, not a script; switch: starts a script.",
                                  f"run it from a state with 'use: {target}' and a next:.")
            else:
                yield src.problem(loc, name, f"switch: '{target}' is not a script.",
                                  choose(target, sorted(cat.script_names)))


def check_reachable(src: DialogSource, cat: Catalog) -> Iterator[Problem]:
    """States that no path from `start` leads to are forgotten work or a broken link. A misspelt
    target counts as a link to the state it most resembles: the typo is reported once, where it is,
    not a second time as an unreachable state."""
    states = src.spec.states
    if src.spec.start not in states:
        return
    seen, todo = {src.spec.start}, [src.spec.start]
    while todo:
        for _, written in targets(states[todo.pop()]):
            target = written
            if written not in states and (close := difflib.get_close_matches(written, states, n=1,
                                                                             cutoff=0.6)):
                target = close[0]
            if target in states and target not in seen:
                seen.add(target)
                todo.append(target)
    for name in states:
        if name not in seen:
            yield src.problem(("states", name), name,
                              f"state '{name}' can never be reached from start ('{src.spec.start}').",
                              "lead to it with next: or goto: from another state, or delete it.")


def check_way_out(src: DialogSource, cat: Catalog) -> Iterator[Problem]:
    """Every state must lead on or end; otherwise the patient is stuck there for good."""
    for name, state in src.spec.states.items():
        if state.ends or state.next is not None:
            continue
        if state.use is not None:
            block = cat.blocks.get(state.use)
            exits = block is not None and any(t == EXIT for s in block.spec.states.values()
                                              for _, t in targets(s))
            if exits:
                yield src.problem(("states", name), name,
                                  f"when block '{state.use}' finishes there is nowhere to go.",
                                  "add next: with the state to continue with.")
        elif state.routes and state.routes[-1].when is not None:
            yield src.problem(("states", name, "on"), name,
                              "there is no way out when none of the conditions under on: holds.",
                              "add a last route without when:, e.g. '- goto: STATE'.")
        elif not state.routes:
            yield src.problem(("states", name), name, "this state has no way out.",
                              "add next: STATE, routes under on:, or the action '- end: true'.")


def check_measures(src: DialogSource, cat: Catalog) -> Iterator[Problem]:
    """An answer tested or shown must be asked somewhere in the script (its blocks included)."""
    scope = checking_scope(src, cat)
    stored = stored_measures(scope)
    whose = f"script '{src.name}'" if not src.spec.is_block else f"block '{src.name}'"
    for member in scope:
        for name, state in member.spec.states.items():
            for loc, cond in conditions(state):
                if cond.answer is not None and cond.answer not in stored:
                    yield member.problem(("states", name, *loc, "answer"), name,
                                         f"this tests the answer '{cond.answer}', but no state of {whose} "
                                         f"asks it.", _ask_fix(cond.answer, stored))
            for loc, text in texts(state):
                for placeholder in PLACEHOLDER.findall(text):
                    match = ANSWER_PLACEHOLDER.match(placeholder)
                    if match and match.group(1) not in stored:
                        yield member.problem(("states", name, *loc), name,
                                             f"{{{placeholder}}} shows an answer that no state of {whose} "
                                             f"asks.", _ask_fix(match.group(1), stored))


def check_scores(src: DialogSource, cat: Catalog) -> Iterator[Problem]:
    """Scores name a known questionnaire, have all its items asked, and are run before tested."""
    scope = checking_scope(src, cat)
    stored = stored_measures(scope)
    scored = {a.score for m in scope for s in m.spec.states.values() for a in s.actions if a.score}
    whose = f"script '{src.name}'" if not src.spec.is_block else f"block '{src.name}'"
    for member in scope:
        for name, state in member.spec.states.items():
            for index, action in enumerate(state.actions):
                loc = ("states", name, "actions", index, "score")
                if action.score is None:
                    continue
                if action.score not in cat.questionnaires:
                    if member is src:
                        yield member.problem(loc, name,
                                             f"'{action.score}' is not a questionnaire that can be scored.",
                                             choose(action.score, sorted(cat.questionnaires)))
                    continue
                items = cat.items.get(action.score, ())
                missing = [i for i in items if i not in stored]
                if missing:
                    stores = " and ".join(f"store: {m}" for m in missing)
                    fix = f"ask {'it' if len(missing) == 1 else 'them'} in states with {stores}"
                    if action.score in cat.blocks and not member.spec.is_block:
                        fix += f", or use the block that asks them (use: {action.score})"
                    yield member.problem(loc, name, f"score: {action.score} needs the answers "
                                         f"{', '.join(items)}, but {whose} never stores "
                                         f"{', '.join(missing)}.", fix + ".")
            for where, cond in conditions(state):
                if cond.score is not None and cond.score not in scored:
                    yield member.problem(("states", name, *where, "score"), name,
                                         f"this tests the score '{cond.score}', but {whose} never runs "
                                         f"the action '- score: {cond.score}'.",
                                         f"add '- score: {cond.score}' to the actions of an earlier state.")


def check_placeholders(src: DialogSource, cat: Catalog) -> Iterator[Problem]:
    """Only `{name}` and `{answers.KEY}` can be filled in; anything else would reach the patient raw."""
    for name, state in src.spec.states.items():
        for loc, text in texts(state):
            for placeholder in PLACEHOLDER.findall(text):
                if placeholder == "name" or ANSWER_PLACEHOLDER.match(placeholder):
                    continue
                likely = ["name", "answers." + placeholder.split(".")[-1]]
                close = difflib.get_close_matches(placeholder, likely, n=1, cutoff=0.6)
                hint = f"did you mean {{{close[0]}}}? " if close else ""
                yield src.problem(("states", name, *loc), name, f"{{{placeholder}}} is not a placeholder "
                                  "that can be filled in.",
                                  f"{hint}the placeholders are {{name}} and {{answers.KEY}} "
                                  "(KEY is a store: name).")


def check_collisions(src: DialogSource, cat: Catalog) -> Iterator[Problem]:
    """Block states are copied in as `STATE/BLOCKSTATE`; none of those may already exist. (State
    names cannot contain '/', so this guards the expansion rather than catching admin mistakes.)"""
    for name, state in src.spec.states.items():
        block = cat.blocks.get(state.use or "")
        if block is None:
            continue
        for inner in block.spec.states:
            if f"{name}/{inner}" in src.spec.states:
                yield src.problem(("states", name, "use"), name,
                                  f"block '{block.name}' would add a state '{name}/{inner}' "
                                  "that already exists.",
                                  f"rename state '{name}'.")


def check_review_day(src: DialogSource, cat: Catalog) -> Iterator[Problem]:
    """The review-day question has one option per day, valued by day name (or by the numbers 0-6,
    Monday first, of the files before day names: still accepted, so an upgrade never stops a service
    on a set it ran yesterday, but a typed "1" then means Tuesday). Any other value would be stored
    as nothing."""
    named = sorted(WEEKDAYS)
    numbered = sorted(str(n) for n in range(len(WEEKDAYS)))
    for name, state in src.spec.states.items():
        if state.profile != "weekly_review_day" or state.ask is None:
            continue
        values = sorted(str(option.value) for option in state.ask.options)
        if state.ask.type != "choice" or values not in (named, numbered):
            yield src.problem(("states", name, "ask"), name,
                              "the weekly review day must be a choice with one option per day, whose "
                              "values are the day names.",
                              f"use type: choice with the values {', '.join(WEEKDAYS)}; put typed "
                              "numbers (\"1\" for Monday) among the synonyms.")


RULES: tuple[Rule, ...] = (check_start, check_targets, check_uses, check_switches, check_reachable,
                           check_way_out, check_measures, check_scores, check_placeholders, check_collisions,
                           check_review_day)


def check_file(src: DialogSource, cat: Catalog) -> list[Problem]:
    """Every rule on one file."""
    return [problem for rule in RULES for problem in rule(src, cat)]


MESSAGE_PLACEHOLDERS = {"reask": {"min", "max", "options", "max_length"}, "paused_days": {"days"}}
"""Placeholders the engine fills in its own sentences, besides {name} which every sentence may use."""


def check_service(doc: YamlDocument, service: ServiceFile, cat: Catalog) -> list[Problem]:
    """service.yaml names scripts that exist, and its sentences use only placeholders they get."""
    problems = []
    scripts = ("entry", "daily", "weekly", "settings")
    named: list[tuple[Loc, str]] = [((key,), getattr(service, key)) for key in scripts]
    named += [(("preempt", kind), script) for kind, script in service.preempt.items()]
    for loc, script in named:
        if script in cat.script_names:
            continue
        what = "a block, not a script" if script in cat.blocks else "not a script"
        problems.append(Problem(doc.label, doc.line_of(loc), None, None,
                                f"{'.'.join(map(str, loc))}: '{script}' is {what}.",
                                choose(script, sorted(cat.script_names))))
    sentences: list[tuple[Loc, str, set[str]]] = [
        (("messages", "reask", kind), text, MESSAGE_PLACEHOLDERS["reask"])
        for kind, text in service.messages.reask.items()]
    for key, text in service.messages.model_dump(exclude={"reask"}).items():
        sentences.append((("messages", key), str(text), MESSAGE_PLACEHOLDERS.get(key, set())))
    for loc, text, allowed in sentences:
        for placeholder in PLACEHOLDER.findall(text):
            if placeholder != "name" and placeholder not in allowed:
                usable = ", ".join(f"{{{p}}}" for p in sorted({"name", *allowed}))
                where = ".".join(map(str, loc))
                problems.append(Problem(doc.label, doc.line_of(loc), None, None,
                                        f"{where}: {{{placeholder}}} is not filled in here.",
                                        f"use only {usable} in this sentence."))
    return problems


def checking_scope(src: DialogSource, cat: Catalog) -> list[DialogSource]:
    """The files whose states count together: a script with the blocks it uses. A block that scripts
    use is checked through them (its answers may come from the script); an unused one on its own.
    Empty (skip) when a block it uses is broken: its measures are unknown, guessing would mislead."""
    if src.spec.is_block:
        used = any(s.use == src.name for script in cat.scripts.values() for s in script.spec.states.values())
        return [] if used else [src]
    uses = {s.use for s in src.spec.states.values() if s.use is not None}
    if uses & cat.broken_blocks:
        return []
    return [src, *(cat.blocks[b] for b in sorted(uses) if b in cat.blocks)]


def stored_measures(scope: Iterable[DialogSource]) -> set[str]:
    return {key for m in scope for s in m.spec.states.values() for key in (s.store, s.profile) if key}


def targets(state: State) -> Iterator[tuple[Loc, str]]:
    """Where a state can lead, with the location of each target inside the state."""
    if state.next is not None:
        yield ("next",), state.next
    for index, route in enumerate(state.routes):
        yield ("on", index, "goto"), route.goto


def conditions(state: State) -> Iterator[tuple[Loc, Condition]]:
    """Every condition of a state's routes, nested ones included."""
    def walk(loc: tuple[str | int, ...], cond: Condition) -> Iterator[tuple[Loc, Condition]]:
        yield loc, cond
        for key, group in (("all", cond.all), ("any", cond.any)):
            for index, inner in enumerate(group or ()):
                yield from walk((*loc, key, index), inner)
        if cond.not_ is not None:
            yield from walk((*loc, "not"), cond.not_)

    for index, route in enumerate(state.routes):
        if route.when is not None:
            yield from walk(("on", index, "when"), route.when)


def texts(state: State) -> Iterator[tuple[Loc, str]]:
    """Every sentence of a state that is shown to someone, so may hold placeholders."""
    if state.say:
        yield ("say",), state.say
    if state.ask is not None:
        yield ("ask", "text"), state.ask.text
        if state.ask.accepts:
            yield ("ask", "accepts"), state.ask.accepts
        for index, option in enumerate(state.ask.options):
            yield ("ask", "options", index, "label"), option.label
    for index, action in enumerate(state.actions):
        if action.escalate is not None:
            yield ("actions", index, "escalate", "reason"), action.escalate.reason


def choose(wrong: str, options: Iterable[str], limit: int = 12) -> str:
    """'use one of: ...' with the likeliest intended names first."""
    names = list(dict.fromkeys(options))
    if not names:
        return "there is nothing to choose from yet."
    close = difflib.get_close_matches(wrong, names, n=3, cutoff=0.5)
    ordered = close + [n for n in names if n not in close]
    more = ", ..." if len(ordered) > limit else ""
    return f"use one of: {', '.join(ordered[:limit])}{more}"


def _ask_fix(measure: str, stored: set[str]) -> str:
    fix = f"add a state that asks it with store: {measure}"
    if stored:
        fix += f", or test an answer that is asked ({choose(measure, sorted(stored))})"
    return fix + "."
