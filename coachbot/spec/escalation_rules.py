"""`dialogs/escalation.yaml`: its shape, its checks, and the immutable rules the evaluator runs.

A clinical safety officer tunes who hears about a worsening patient, and how fast, without a code
change; a mistake there could silence an alert, so the file is validated like the dialog scripts:
pydantic for the shape, then meaning (known measures, thresholds that can be reached, windows that
can hold, a deadline and a patient sentence for every tier), each problem with its file and line.

Each rule is validated on its own, against the model its `kind:` names, with the rule's own part of
the YAML tree, so an error inside a rule points at the line of the key that is wrong.
"""

from __future__ import annotations

import difflib
import string
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, get_args

from pydantic import Field, ValidationError

from coachbot.spec.catalogue import NUMERIC_MEASURES
from coachbot.spec.hours import (
    Duration,
    HoursSpec,
    WorkingHours,
    compile_hours,
    duration_issues,
    hours_issues,
)
from coachbot.spec.model import Name, Tier
from coachbot.spec.problems import DialogError, Problem, sort_problems
from coachbot.spec.schema import schema_problems
from coachbot.spec.strict import StrictModel
from coachbot.spec.yaml_source import Loc, YamlDocument, read_yaml

TIERS: tuple[Tier, ...] = get_args(Tier)
MEASURE_RANGES: Mapping[str, tuple[float, float]] = MappingProxyType({
    **NUMERIC_MEASURES, "pain_usual": (0, 10), "mood_usual": (0, 10), "pain_baseline": (0, 10),
    "mood_baseline": (0, 10), "rf_urgent": (0, 1),
    "rf_emergency": (0, 1), "phq9_item9_positive": (0, 1)})
"""Measurement codes a rule may read (as the service stores them), with the range of their values."""


class TierSettings(StrictModel):
    acknowledge_within: Duration | None = Field(default=None, description="a coach must acknowledge by then")
    realert_every: Duration | None = Field(
        default=None, description="after the deadline, re-send to the backup this often until acknowledged; "
                                  "left out: re-sent once, at the deadline")
    patient_expects: str | None = Field(default=None, description="tells the patient when to expect contact")
    resolve_within: Duration | None = Field(
        default=None, description="after a coach acknowledges, it must be resolved by then, or it is re-sent "
                                  "(to the coach and the backups) like an unacknowledged one; left out: no "
                                  "resolution deadline")


class BaselineSource(StrictModel):
    """Where a measure's baseline comes from when a coach has not set one: a stored measurement, and
    optionally the median of it and the measure's own first daily answers, so one unusual day at
    onboarding does not set the level every later alert is judged against."""

    measure: str
    take: Literal["latest", "first"] = "latest"
    fallback: str | None = Field(
        default=None, description="read this measurement instead when `measure` was never stored "
                                  "(patients who joined before it was asked)")
    median_with_first_days: int = Field(
        default=0, ge=0, le=14, description="the baseline is the median of the reading and the measure's "
                                            "own answers on its first this many days with an answer")
    within_days: int = Field(
        default=7, ge=1, le=28, description="only days less than this many days after the reading count "
                                            "towards the median")


class EvidenceSettings(StrictModel):
    days: int = Field(default=7, description="how many local days of history every alert carries")
    measures: tuple[str, ...] = ("pain_now", "mood_now")


class CoachCard(StrictModel):
    """The words around the alert card coaches receive: its buttons, what a press says, the chart's
    labels and the re-base command's answers. Placeholders allowed in each are in CARD_PLACEHOLDERS."""

    deadline: str = "Escalation {id}: raised {opened}, to be acknowledged by {due}."
    evidence_values: str = "{measure}: {values} (baseline {baseline}, alert at {threshold})"
    acknowledge_button: str = "Acknowledge"
    resolve_button: str = "Resolve"
    message_button: str = "Message patient"
    acknowledged: str = "Acknowledged by {coach} at {at}."
    resolved: str = "Resolved by {coach} at {at}. Note: {note}"
    already: str = "Escalation {id} was already {status} by {coach} at {at}."
    not_allowed: str = "You cannot act on this alert."
    resolve_prompt: str = "Send your note on escalation {id} as your next message: it resolves it."
    resolve_usage: str = "To resolve an escalation send /resolve ID followed by your note."
    unknown_escalation: str = "There is no open escalation {id} of yours."
    message_patient: str = "To write to {label}, send /message {label} followed by your message."
    rebase_done: str = "The {measure} baseline of {label} is now {value}."
    rebase_usage: str = "To re-base send /rebase LABEL MEASURE VALUE. Measures: {measures}."
    realert: str = "Not acknowledged {waited} after it was raised: sent to the backup coaches."
    worse: str = "WORSE: a new or stronger statement of risk since the last card. Please act on it again."
    unresolved: str = "Acknowledged but not resolved {waited} later: sent again to the coach and the backups."
    chart_title: str = "{label}: the last {days} days"
    chart_pain: str = "pain"
    chart_mood: str = "mood"
    chart_baseline: str = "usual level"
    chart_missed: str = "check-in missed"
    chart_scale: str = "0 to 10"
    chart_empty: str = "No check-ins yet in the last {days} days: no chart to show."


CARD_PLACEHOLDERS: Mapping[str, frozenset[str]] = MappingProxyType({
    "deadline": frozenset({"id", "opened", "due"}),
    "evidence_values": frozenset({"measure", "values", "baseline", "threshold"}),
    "acknowledged": frozenset({"coach", "at"}), "resolved": frozenset({"coach", "at", "note"}),
    "already": frozenset({"id", "status", "coach", "at"}), "resolve_prompt": frozenset({"id"}),
    "unknown_escalation": frozenset({"id"}), "message_patient": frozenset({"label"}),
    "rebase_done": frozenset({"measure", "label", "value"}), "rebase_usage": frozenset({"measures"}),
    "realert": frozenset({"waited"}), "unresolved": frozenset({"waited"}),
    "worse": frozenset({"latest"}), "chart_title": frozenset({"label", "days"}),
    "chart_empty": frozenset({"days"})})


class ChangeBand(StrictModel):
    up_to: float = Field(description="this band holds baselines up to and including this value")
    change: float


class _Rule(StrictModel):
    tier: Tier
    note: str = Field(default="", description="for admins: why the rule is set this way")


class DialogRule(_Rule):
    """Raised by a dialog's own `escalate:` action; here only its tier (and so its deadline) is set."""

    kind: Literal["raised_by_dialog"]


class SustainedChangeRule(_Rule):
    """The latest `days` days with a reading, all within `within_days`, are all worse than the
    baseline by the meaningful change (a fixed `change`, or one that depends on the baseline)."""

    kind: Literal["sustained_change"]
    measure: str
    worse_is: Literal["higher", "lower"]
    change: float | None = None
    change_by_baseline: tuple[ChangeBand, ...] | None = None
    days: int
    within_days: int
    reason: str


class PercentRiseRule(_Rule):
    """The latest `readings` readings, within `within_days`, are all at least `percent` and at least
    `min_points` above the baseline."""

    kind: Literal["percent_rise"]
    measure: str
    percent: float
    min_points: float = 0
    readings: int = 1
    within_days: int
    reason: str


class ThresholdRule(_Rule):
    """The latest reading, within `within_days`, is at least `at_least`."""

    kind: Literal["threshold"]
    measure: str
    at_least: float
    within_days: int
    reason: str


class FloorRule(_Rule):
    """An absolute floor, whatever the baseline: on at least `days` of the last `of_last_days` local
    days the day's value was at or past `at`. It catches what a change from a baseline cannot (a
    baseline of 10, or of 0, or none at all). `covered_by` names rules that already say the same:
    while one of them holds or is open, the floor stays quiet, so a coach gets one card, not two."""

    kind: Literal["absolute_floor"]
    measure: str
    worse_is: Literal["higher", "lower"]
    at: float
    days: int
    of_last_days: int
    covered_by: tuple[str, ...] = ()
    reason: str

    @property
    def within_days(self) -> int:
        """The look-back the history must cover (read by the service's history query)."""
        return self.of_last_days


class MissedRule(_Rule):
    """The latest `count` check-ins were all missed."""

    kind: Literal["missed_in_a_row"]
    count: int
    reason: str


Rule = DialogRule | SustainedChangeRule | PercentRiseRule | ThresholdRule | FloorRule | MissedRule
RULE_MODELS: Mapping[str, type[Rule]] = MappingProxyType({
    get_args(m.model_fields["kind"].annotation)[0]: m
    for m in (DialogRule, SustainedChangeRule, PercentRiseRule, ThresholdRule, FloorRule, MissedRule)})
PLACEHOLDERS: Mapping[str, frozenset[str]] = MappingProxyType({
    "sustained_change": frozenset({"measure", "baseline", "change", "threshold", "days", "values",
                                   "latest", "date"}),
    "percent_rise": frozenset({"measure", "baseline", "percent", "threshold", "rise", "rise_percent",
                               "values", "latest", "date"}),
    "threshold": frozenset({"measure", "at_least", "latest", "date"}),
    "absolute_floor": frozenset({"measure", "at", "days", "of_last_days", "values", "latest", "date"}),
    "missed_in_a_row": frozenset({"count", "dates"})})
"""What each kind's `reason:` may use; the evaluator fills them from the evidence."""


class AnswerReply(StrictModel):
    """Words the patient gets at once, in the same check-in, when one answer is at or past a value
    (a single mood of 0): kindness and the resources. Not an escalation; a rule raises those."""

    measure: str
    at_most: float | None = None
    at_least: float | None = None
    say: str = Field(min_length=1)
    note: str = Field(default="", description="for admins: why the reply is set this way")

    def holds(self, value: float) -> bool:
        return ((self.at_most is None or value <= self.at_most)
                and (self.at_least is None or value >= self.at_least))


class EscalationFile(StrictModel):
    version: Literal[1] = 1
    working_hours: HoursSpec
    tiers: dict[Tier, TierSettings]
    baselines: dict[str, BaselineSource] = Field(default_factory=dict)
    evidence: EvidenceSettings = EvidenceSettings()
    coach_card: CoachCard = CoachCard()
    replies: dict[Name, AnswerReply] = Field(default_factory=dict)
    rules: dict[Name, dict[str, Any]] = Field(min_length=1)


class _SchemaFile(EscalationFile):
    rules: dict[Name, Annotated[Rule, Field(discriminator="kind")]]  # type: ignore[assignment]


@dataclass(frozen=True)
class EscalationRules:
    """The validated file, ready to evaluate: rules in file order, every tier configured."""

    rules: Mapping[str, Rule]
    tiers: Mapping[Tier, TierSettings]
    hours: WorkingHours
    baselines: Mapping[str, BaselineSource]
    evidence: EvidenceSettings
    card: CoachCard = field(default_factory=CoachCard)
    replies: Mapping[str, AnswerReply] = field(default_factory=dict)

    def tier_of(self, rule: str, fallback: Tier) -> Tier:
        """This file decides a rule's tier, even for rules a dialog raises with its own `tier:`."""
        found = self.rules.get(rule)
        return found.tier if found is not None else fallback

    def undeclared(self, raised: Iterable[str]) -> list[str]:
        """Rule names the dialogs raise that this file does not declare (for a cross-file check)."""
        return sorted(set(raised) - set(self.rules))


def load_escalation_rules(path: Path) -> EscalationRules:
    """The rules to run; raises DialogError with every problem, never half-loads."""
    rules, problems = _load(path)
    if problems or rules is None:
        raise DialogError(problems)
    return rules


def check_escalation_file(path: Path) -> list[Problem]:
    """Every problem in an escalation file, for `coachbot dialogs validate`; empty when it is good."""
    return _load(path)[1]


def escalation_json_schema() -> dict[str, Any]:
    """The JSON Schema of escalation.yaml, so an admin's editor flags mistakes while they type."""
    schema = _SchemaFile.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "urn:coachbot:schema:escalation.schema.json", **schema,
            "title": "coachbot dialogs/escalation.yaml"}


def _load(path: Path) -> tuple[EscalationRules | None, list[Problem]]:
    label = f"{path.parent.name}/{path.name}"
    try:
        doc = read_yaml(path, label)
    except DialogError as exc:
        return None, exc.problems
    if not isinstance(doc.data, dict):
        return None, [Problem(label, None, None, None, "the file must be a mapping with rules: under it.",
                              "start the file with 'version: 1', then working_hours:, tiers: and rules:.")]
    try:
        spec = EscalationFile.model_validate(doc.data)
    except ValidationError as exc:
        return None, sort_problems(schema_problems(exc, doc, EscalationFile))
    problems: list[Problem] = []
    rules = {name: rule for name, raw in spec.rules.items()
             if (rule := _rule(doc, name, raw, problems)) is not None}
    problems.extend(_file_problems(doc, spec))
    for name, rule in rules.items():
        problems.extend(Problem(doc.label, doc.line_of(("rules", name, *loc)), None, name, message, fix)
                        for loc, message, fix in _rule_problems(rule, spec))
    if problems:
        return None, sort_problems(problems)
    return EscalationRules(MappingProxyType(rules), MappingProxyType(dict(spec.tiers)),
                           compile_hours(spec.working_hours),
                           MappingProxyType(dict(spec.baselines)), spec.evidence, spec.coach_card,
                           MappingProxyType(dict(spec.replies))), []


def _rule(doc: YamlDocument, name: str, raw: dict[str, Any], problems: list[Problem]) -> Rule | None:
    """Validate one rule against its kind's model, with line numbers from the rule's own subtree."""
    kind = raw.get("kind")
    model = RULE_MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        said = f"'{kind}' is not a kind of rule" if "kind" in raw else "the rule has no kind:"
        close = difflib.get_close_matches(str(kind), list(RULE_MODELS), n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        problems.append(Problem(doc.label, doc.line_of(("rules", name, "kind")), None, name, f"{said}.",
                                f"{hint}use one of: {', '.join(RULE_MODELS)}."))
        return None
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        sub = doc.within(("rules", name))
        problems.extend(Problem(p.file, p.line, None, name, p.message, p.fix)
                        for p in schema_problems(exc, sub, model))
        return None


def _file_problems(doc: YamlDocument, spec: EscalationFile) -> Iterator[Problem]:
    def problem(loc: Loc, message: str, fix: str) -> Problem:
        """Named by the section holding the key, e.g. `tiers.soon.acknowledge_within`."""
        owner = ".".join(str(part) for part in loc[:-1]) or None
        return Problem(doc.label, doc.line_of(loc), None, owner, message, fix)

    yield from (problem(("working_hours", *loc), m, f) for loc, m, f in hours_issues(spec.working_hours))
    for tier in TIERS:
        settings = spec.tiers.get(tier)
        where: Loc = ("tiers", tier)
        if settings is None:
            yield problem(("tiers",), f"the {tier} tier has no settings.",
                          f"add {tier}: with acknowledge_within: and patient_expects:.")
            continue
        if settings.acknowledge_within is None:
            yield problem(where, f"the {tier} tier has no acknowledge_within: deadline.",
                          "add acknowledge_within: with minutes:, working_hours: or working_days:.")
        for key in ("acknowledge_within", "realert_every", "resolve_within"):
            duration = getattr(settings, key)
            if duration is not None:
                yield from (problem((*where, key, *loc), m, f) for loc, m, f in duration_issues(duration))
        if tier == "urgent" and settings.acknowledge_within is not None and (
                settings.acknowledge_within.minutes is None):
            yield problem((*where, "acknowledge_within"), "urgent escalations need a deadline in clock "
                          "minutes: a crisis does not wait for working hours.", "use minutes:, such as 60.")
        if not (settings.patient_expects or "").strip():
            yield problem(where, f"the {tier} tier has no patient_expects: sentence.",
                          "write the sentence that tells the patient when to expect contact.")
    for measure, source in spec.baselines.items():
        if measure not in MEASURE_RANGES:
            yield problem(("baselines", measure), f"there is no measure '{measure}'.", _known(measure))
        if source.measure not in MEASURE_RANGES:
            yield problem(("baselines", measure, "measure"), f"there is no measure '{source.measure}'.",
                          _known(source.measure))
        if source.fallback is not None and source.fallback not in MEASURE_RANGES:
            yield problem(("baselines", measure, "fallback"), f"there is no measure '{source.fallback}'.",
                          _known(source.fallback))
    for key, allowed in ((k, CARD_PLACEHOLDERS.get(k, frozenset())) for k in CoachCard.model_fields):
        try:
            names = [n for _, n, _, _ in string.Formatter().parse(getattr(spec.coach_card, key))]
        except ValueError:
            names = ["{"]
        for name in names:
            if name is not None and name not in allowed:
                usable = ", ".join("{" + n + "}" for n in sorted(allowed)) or "no placeholders"
                yield problem(("coach_card", key), f"{{{name}}} is not filled in here.", f"use {usable}.")
    for name, reply in spec.replies.items():
        yield from (problem(("replies", name, *loc), m, f) for loc, m, f in _reply_problems(reply))
    if not 1 <= spec.evidence.days <= 31:
        yield problem(("evidence", "days"), "evidence days must be from 1 to 31.", "use 7 or 14.")
    for index, measure in enumerate(spec.evidence.measures):
        if measure not in MEASURE_RANGES:
            yield problem(("evidence", "measures", index), f"there is no measure '{measure}'.",
                          _known(measure))


def _rule_problems(rule: Rule, spec: EscalationFile) -> Iterator[tuple[Loc, str, str]]:
    if isinstance(rule, DialogRule):
        return
    yield from _reason_problems(rule.reason, PLACEHOLDERS[rule.kind])
    if isinstance(rule, MissedRule):
        if rule.count < 1:
            yield ("count",), f"count must be 1 or more, not {rule.count}.", "use a whole number such as 3."
        return
    if rule.measure not in MEASURE_RANGES:
        yield ("measure",), f"there is no measure '{rule.measure}'.", _known(rule.measure)
        return
    low, high = MEASURE_RANGES[rule.measure]
    if isinstance(rule, FloorRule):
        yield from _floor_problems(rule, low, high, spec)
        return
    if rule.within_days < 1:
        yield ("within_days",), f"a window of {rule.within_days} days can never hold a reading.", \
            "use a whole number of days, 1 or more."
    if isinstance(rule, ThresholdRule):
        if not low < rule.at_least <= high:
            yield ("at_least",), f"{rule.measure} runs from {low:g} to {high:g}, so at_least: " \
                f"{rule.at_least:g} never or always holds.", f"use a number above {low:g}, up to {high:g}."
        return
    if rule.measure not in spec.baselines:
        yield ("measure",), f"{rule.measure} has no baseline, so nothing is worse than it.", \
            f"add {rule.measure}: under baselines: (where its baseline comes from)."
    if isinstance(rule, PercentRiseRule):
        if rule.percent <= 0 or rule.min_points < 0:
            yield ("percent",), "percent must be above 0 and min_points 0 or more.", "use percent: 30."
        if rule.readings < 1 or rule.readings > rule.within_days:
            yield ("readings",), f"{rule.readings} readings cannot fit in {rule.within_days} days.", \
                "use 1 or more readings, and within_days: at least that many."
        return
    yield from _sustained_problems(rule, high)


def _floor_problems(rule: FloorRule, low: float, high: float,
                    spec: EscalationFile) -> Iterator[tuple[Loc, str, str]]:
    always = rule.at <= low if rule.worse_is == "higher" else rule.at >= high
    if always or not low <= rule.at <= high:
        yield ("at",), f"{rule.measure} runs from {low:g} to {high:g}, so at: {rule.at:g} never or always " \
            "holds.", f"use a number from {low:g} to {high:g}, such as 9 for pain or 1 for mood."
    if not 1 <= rule.days <= rule.of_last_days:
        yield ("days",), f"{rule.days} days cannot fit in of_last_days: {rule.of_last_days}.", \
            "use days: 1 or more, and of_last_days: at least as many (such as 3 of the last 5)."
    for index, other in enumerate(rule.covered_by):
        if other not in spec.rules:
            yield ("covered_by", index), f"there is no rule '{other}'.", "name a rule under rules:."


def _reply_problems(reply: AnswerReply) -> Iterator[tuple[Loc, str, str]]:
    if reply.measure not in MEASURE_RANGES:
        yield ("measure",), f"there is no measure '{reply.measure}'.", _known(reply.measure)
        return
    low, high = MEASURE_RANGES[reply.measure]
    if reply.at_most is None and reply.at_least is None:
        yield ("measure",), "the reply says neither at_most: nor at_least:, so it answers every value.", \
            "add at_most: (such as 0) or at_least:."
    for key in ("at_most", "at_least"):
        value = getattr(reply, key)
        if value is not None and not low <= value <= high:
            yield (key,), f"{reply.measure} runs from {low:g} to {high:g}, so {key}: {value:g} never " \
                "holds.", f"use a number from {low:g} to {high:g}."
    if not reply.say.strip():
        yield ("say",), "the reply is empty.", "write the kind words and the resources."


def _sustained_problems(rule: SustainedChangeRule, high: float) -> Iterator[tuple[Loc, str, str]]:
    if rule.days < 1 or rule.days > rule.within_days:
        yield ("days",), f"{rule.days} days in a row cannot fit in within_days: {rule.within_days}.", \
            "use days: 1 or more, and within_days: at least as many."
    if (rule.change is None) == (rule.change_by_baseline is None):
        yield ("change",), "give exactly one of change: and change_by_baseline:.", \
            "use change: 2, or bands such as [{up_to: 4, change: 1}, {up_to: 10, change: 2}]."
    if rule.change is not None and rule.change <= 0:
        yield ("change",), f"change must be more than 0, not {rule.change:g}.", "use a positive number."
    bands = rule.change_by_baseline or ()
    for index, band in enumerate(bands):
        if band.change <= 0:
            yield ("change_by_baseline", index, "change"), "a band's change must be more than 0.", \
                "use a positive number."
        if index and band.up_to <= bands[index - 1].up_to:
            yield ("change_by_baseline", index, "up_to"), "bands must go up: each up_to above the one " \
                "before.", "order the bands from the lowest baseline to the highest."
    if bands and bands[-1].up_to < high:
        yield ("change_by_baseline",), f"no band holds baselines above {bands[-1].up_to:g}.", \
            f"end the last band with up_to: {high:g}."


def _reason_problems(text: str, allowed: frozenset[str]) -> Iterator[tuple[Loc, str, str]]:
    names = ", ".join("{" + n + "}" for n in sorted(allowed))
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(text)
                  if name is not None]
    except ValueError:
        yield ("reason",), "the reason has a { or } that does not pair up.", f"use only {names}."
        return
    for name, spec, conv in fields:
        if name not in allowed or spec or conv:
            said = name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "")
            yield ("reason",), f"the reason uses {{{said}}}, which this kind of rule does not fill in.", \
                f"use only {names}."
    if not text.strip():
        yield ("reason",), "the reason is empty.", "write the sentence the coach sees on the alert."


def _known(name: str) -> str:
    close = difflib.get_close_matches(name, list(MEASURE_RANGES), n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"{hint}known: {', '.join(MEASURE_RANGES)}."
