"""What a step's conditions mean for one patient today, and how a coach reads them.

The steps file itself (its models, loading and checks) is `coachbot.spec.steps`; conditions are in
the admin files' one condition language (`coachbot.spec.conditions`), evaluated here against the
patient's latest measures and the flags the service has raised.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet

from coachbot.spec.conditions import COMPARISONS, holds
from coachbot.spec.steps import StepCondition

ScoreValue = float | str
"""The latest value of a measure: a number, or a category such as STarT Back's `high`."""


def condition_holds(cond: StepCondition, scores: Mapping[str, ScoreValue], flags: AbstractSet[str]) -> bool:
    """Evaluate a condition against the patient's latest scores and raised flags."""
    def value_of(leaf: StepCondition) -> object | None:
        if leaf.flag is not None:
            return True if leaf.flag in flags else None
        return scores.get(leaf.measure or "")

    return holds(cond, value_of)


def describe_condition(cond: StepCondition) -> str:
    """A condition as a coach reads it in a suggestion's reason, e.g. `pain_now >= 8`."""
    for children, joiner in ((cond.all, " and "), (cond.any, " or ")):
        if children is not None:
            return "(" + joiner.join(describe_condition(c) for c in children) + ")"
    if cond.not_ is not None:
        return f"not {describe_condition(cond.not_)}"
    if cond.flag is not None:
        return cond.flag
    ops = dict(zip(COMPARISONS[:6], ("=", "!=", ">", ">=", "<", "<="), strict=True))
    said = [f"{cond.measure} {op} {_plain(getattr(cond, k))}"
            for k, op in ops.items() if getattr(cond, k) is not None]
    if cond.in_ is not None:
        said.append(f"{cond.measure} in {'/'.join(_plain(v) for v in cond.in_)}")
    if cond.known is not None:
        said.append(f"{cond.measure} {'known' if cond.known else 'unknown'}")
    return " and ".join(said)


def _plain(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
