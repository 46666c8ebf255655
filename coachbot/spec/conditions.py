"""The one condition language of the admin files: a subject and a test, or all/any/not around others.

Dialog scripts test answers, scores and facts (`spec.model.Condition`); the steps file tests measures
and flags (`spec.steps.StepCondition`). Each declares its subjects and its combinators; the tests, the
rules of shape and what a condition means (`holds`) are written once, here, so a condition reads and
behaves the same in every file. Conditions are data, never code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Self, TypeVar

from pydantic import Field, model_validator

from coachbot.spec.strict import StrictModel

Scalar = int | float | str | bool
COMPARISONS = ("eq", "ne", "gt", "gte", "lt", "lte", "in_")
"""The tests on a subject's value, by field name (`in_` is written `in:`)."""
C = TypeVar("C", bound="ConditionBase")


class ConditionBase(StrictModel):
    """The tests every condition offers, and the shape every condition has: exactly one of all/any/not
    with nothing beside it, or exactly one subject with the tests it needs."""

    SUBJECTS: ClassVar[tuple[str, ...]] = ()
    """The keys that name what is tested, e.g. `answer`, `score`, `fact`."""
    PRESENCE: ClassVar[str] = ""
    """The test that holds when the subject has a value (`answered`, `known`), or not when false."""
    BARE: ClassVar[frozenset[str]] = frozenset()
    """Subjects that take no test: the condition holds while the subject is there (a raised flag)."""

    eq: Scalar | None = None
    ne: Scalar | None = None
    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    in_: tuple[Scalar, ...] | None = Field(default=None, alias="in")

    @model_validator(mode="after")
    def _one_shape(self) -> ConditionBase:
        combinators = [c for c in (self.all_of, self.any_of, self.negated) if c is not None]
        subjects = [s for s in self.SUBJECTS if getattr(self, s) is not None]
        tests = self.tests()
        if combinators:
            if len(combinators) > 1 or subjects or tests:
                raise ValueError("use exactly one of all/any/not, with nothing beside it")
            return self
        if len(subjects) != 1:
            raise ValueError(f"a condition names exactly one of {_join_or([s + ':' for s in self.SUBJECTS])}")
        subject = subjects[0]
        if subject in self.BARE and tests:
            raise ValueError(f"a {subject} condition takes no test: it holds while the {subject} is raised")
        if subject not in self.BARE and not tests:
            names = [t.rstrip("_") for t in (*COMPARISONS, self.PRESENCE)]
            article = "an" if subject[0] in "aeiou" else "a"
            raise ValueError(f"{article} {subject} condition needs a test: {_join_or(names)}")
        return self

    @property
    def all_of(self) -> Sequence[Self] | None:
        return getattr(self, "all", None)

    @property
    def any_of(self) -> Sequence[Self] | None:
        return getattr(self, "any", None)

    @property
    def negated(self) -> Self | None:
        return getattr(self, "not_", None)

    @property
    def subject(self) -> tuple[str, Any] | None:
        """The subject key and what it names (`("answer", "pain")`), or None for all/any/not."""
        return next(((s, getattr(self, s)) for s in self.SUBJECTS if getattr(self, s) is not None), None)

    def tests(self) -> list[tuple[str, Any]]:
        """The tests given, as (field name, value), the presence test last."""
        return [(k, getattr(self, k)) for k in (*COMPARISONS, self.PRESENCE) if getattr(self, k) is not None]

    def compare(self, value: object) -> bool:
        """Whether a value passes every comparison given (a number compared with a bound; text equal
        ignoring case and surrounding spaces); true when there is none."""
        checks: list[bool] = []
        if self.eq is not None:
            checks.append(same_value(value, self.eq))
        if self.ne is not None:
            checks.append(not same_value(value, self.ne))
        if self.in_ is not None:
            checks.append(any(same_value(value, item) for item in self.in_))
        for bound, test in ((self.gt, float.__gt__), (self.gte, float.__ge__),
                            (self.lt, float.__lt__), (self.lte, float.__le__)):
            if bound is not None:
                checks.append(isinstance(value, int | float) and test(float(value), float(bound)))
        return all(checks)


def holds(cond: C, value_of: Callable[[C], object | None]) -> bool:
    """Whether `cond` holds, given what each subject's value is now (`value_of`: None when it has
    none). A subject without a value satisfies no comparison; the presence test says whether it has one."""
    if (group := cond.all_of) is not None:
        return all(holds(c, value_of) for c in group)
    if (group := cond.any_of) is not None:
        return any(holds(c, value_of) for c in group)
    if (inner := cond.negated) is not None:
        return not holds(inner, value_of)
    value = value_of(cond)
    present = getattr(cond, cond.PRESENCE) if cond.PRESENCE else None
    if present is not None:
        return (value is not None) == present
    if value is None:
        return False
    return cond.compare(value)


def same_value(value: object, expected: Scalar) -> bool:
    """Numbers equal as numbers (true/false as 1/0), anything else as text ignoring case and spaces."""
    if isinstance(expected, bool):
        expected = int(expected)
    if isinstance(value, int | float) and isinstance(expected, int | float):
        return float(value) == float(expected)
    return str(value).strip().lower() == str(expected).strip().lower()


def _join_or(items: list[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"
