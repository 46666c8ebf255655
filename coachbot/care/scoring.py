"""Questionnaire scoring: PHQ-2, GAD-2, PEG, PHQ-9, GAD-7 and the Keele STarT Back subgroup.

Every threshold below is the published one quoted in docs/clinical-basis.md ("Measures suitable for
chat"), named so that a clinical safety officer can find and check it. A score is only computed
when every item was answered: a partial total would understate how someone is doing. The one
exception is a two-item screen with one item skipped: an answered item at 2 or more ("more than half
the days") is a positive screen on its own, so it is scored as positive rather than dropped. Answers
are checked strictly (whole numbers in the item's range) because a mis-scored screen could hide a
positive one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from coachbot.spec.catalogue import QUESTIONNAIRE_ITEMS, known_questionnaires

# PHQ-2 total 0-6; 3 or more is a positive screen (sens 83%, spec 92%; Kroenke 2003). docs/clinical-basis.md.
PHQ2_POSITIVE_FROM = 3
# GAD-2 total 0-6; 3 or more is positive (sens 86%, spec 83%). docs/clinical-basis.md.
GAD2_POSITIVE_FROM = 3
# PHQ-9 total 0-27; 5/10/15/20 = mild/moderate/moderately severe/severe. docs/clinical-basis.md.
PHQ9_BANDS: tuple[tuple[int, str], ...] = (
    (20, "severe"),
    (15, "moderately severe"),
    (10, "moderate"),
    (5, "mild"),
    (0, "minimal"),
)
# GAD-7 total 0-21; 5/10/15 = mild/moderate/severe (Spitzer 2006). docs/clinical-basis.md.
GAD7_BANDS: tuple[tuple[int, str], ...] = (
    (15, "severe"),
    (10, "moderate"),
    (5, "mild"),
    (0, "minimal"),
)
# PHQ-2 or GAD-2 with one item skipped: the other item at 2 ("more than half the days") or more is a
# positive screen by itself; its total is prorated (the answered item counted for both).
# docs/clinical-basis.md.
SCREEN_SINGLE_ITEM_POSITIVE_FROM = 2
# PHQ-9 item 9 (better off dead / hurting yourself) above 0 always starts the crisis flow.
# docs/clinical-basis.md.
PHQ9_ITEM9_POSITIVE_ABOVE = 0
# PEG: mean of three 0-10 items, one decimal; no published cut-offs, change is judged against the
# patient's own baseline (a 30% rise is worsening; Krebs 2009). docs/clinical-basis.md.
PEG_DECIMALS = 1
# Keele STarT Back: total 0-3 = low risk; otherwise distress subscale (items 5-9) 4 or more = high,
# else medium; item 9 (bothersomeness) scores 1 only for "very much" (3) or "extremely" (4).
# docs/clinical-basis.md.
STARTBACK_LOW_UP_TO = 3
STARTBACK_HIGH_DISTRESS_FROM = 4
STARTBACK_BOTHER_SCORES_FROM = 3
STARTBACK_DISTRESS_ITEMS = slice(4, 9)  # items 5-9


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """A scored questionnaire: its total, band, and the measures to record."""

    code: str
    total: float
    band: str
    measures: dict[str, float | str]


ITEM_RANGES: dict[str, tuple[int, int]] = {
    **{key: (0, 3) for code in ("phq2", "gad2", "phq9", "gad7") for key in QUESTIONNAIRE_ITEMS[code]},
    **{key: (0, 10) for key in QUESTIONNAIRE_ITEMS["peg"]},
    **{f"sbst_{i}": (0, 1) for i in range(1, 9)},  # 0 disagree, 1 agree
    "sbst_9": (0, 4),  # not at all, slightly, moderately, very much, extremely
}

__all__ = ["ITEM_RANGES", "QUESTIONNAIRE_ITEMS", "ScoreResult", "known_questionnaires", "score"]


def score(code: str, answers: Mapping[str, object]) -> ScoreResult | None:
    """Score one questionnaire; None when an item is missing (a two-item screen with an item skipped
    is scored when the other is 2 or more); ValueError on a bad code or answer."""
    items = QUESTIONNAIRE_ITEMS.get(code)
    if items is None:
        known = ", ".join(sorted(QUESTIONNAIRE_ITEMS))
        raise ValueError(f"unknown questionnaire {code!r}; known: {known}")
    values = [_item(key, answers.get(key)) for key in items]
    complete = [v for v in values if v is not None]
    if code in ("phq2", "gad2"):
        cut_off = PHQ2_POSITIVE_FROM if code == "phq2" else GAD2_POSITIVE_FROM
        if len(complete) == len(values):
            return _screen(code, complete, cut_off)
        return _partial_screen(code, complete, len(values))
    if len(complete) < len(values):
        return None
    if code == "peg":
        return _peg(complete)
    if code == "phq9":
        return _phq9(complete)
    if code == "gad7":
        return _banded("gad7", complete, GAD7_BANDS)
    return _startback(complete)


def _item(key: str, raw: object) -> int | None:
    """One answer as a whole number in range; None if unanswered. Strings like "3" are accepted."""
    if raw is None:
        return None
    if isinstance(raw, bool):  # a yes/no is not a score: refuse rather than guess 0 or 1
        raise ValueError(f"{key}: expected a whole number, got {raw!r}")
    if isinstance(raw, int):
        value: float = raw
    elif isinstance(raw, float):
        value = raw
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError:
            raise ValueError(f"{key}: expected a whole number, got {raw!r}") from None
    else:
        raise ValueError(f"{key}: expected a whole number, got a {type(raw).__name__}")
    low, high = ITEM_RANGES[key]
    if not math.isfinite(value) or value != int(value) or not low <= value <= high:
        raise ValueError(f"{key}: expected a whole number from {low} to {high}, got {raw!r}")
    return int(value)


def _screen(code: str, items: list[int], positive_from: int) -> ScoreResult:
    """PHQ-2 and GAD-2: a sum against a published cut-off."""
    total = sum(items)
    positive = total >= positive_from
    measures: dict[str, float | str] = {f"{code}_total": total, f"{code}_positive": int(positive)}
    return ScoreResult(code, float(total), "positive" if positive else "negative", measures)


def _partial_screen(code: str, items: list[int], size: int) -> ScoreResult | None:
    """A screen with an item skipped: positive when an answered item alone reaches 2, its total prorated
    (2 x 2 = 4, past the cut-off of 3) so the rules read it like a full one; otherwise unscored, since
    a skipped item cannot show a negative."""
    if not items or max(items) < SCREEN_SINGLE_ITEM_POSITIVE_FROM:
        return None
    prorated = round(sum(items) * size / len(items))
    measures: dict[str, float | str] = {f"{code}_total": prorated, f"{code}_positive": 1}
    return ScoreResult(code, float(prorated), "positive", measures)


def _banded(code: str, items: list[int], bands: tuple[tuple[int, str], ...]) -> ScoreResult:
    total = sum(items)
    band = next(name for floor, name in bands if total >= floor)
    return ScoreResult(code, float(total), band, {f"{code}_total": total})


def _peg(items: list[int]) -> ScoreResult:
    mean = round(sum(items) / len(items), PEG_DECIMALS)  # thirds never tie at the rounding digit
    return ScoreResult("peg", mean, "score", {"peg_score": mean})


def _phq9(items: list[int]) -> ScoreResult:
    total = sum(items)
    band = next(name for floor, name in PHQ9_BANDS if total >= floor)
    item9 = int(items[8] > PHQ9_ITEM9_POSITIVE_ABOVE)
    return ScoreResult("phq9", float(total), band, {"phq9_total": total, "phq9_item9_positive": item9})


def _startback(items: list[int]) -> ScoreResult:
    """Keele STarT Back subgroup from the overall score and the distress subscale."""
    bother = 1 if items[8] >= STARTBACK_BOTHER_SCORES_FROM else 0
    scored = [*items[:8], bother]
    total = sum(scored)
    distress = sum(scored[STARTBACK_DISTRESS_ITEMS])
    if total <= STARTBACK_LOW_UP_TO:
        risk = "low"
    elif distress >= STARTBACK_HIGH_DISTRESS_FROM:
        risk = "high"
    else:
        risk = "medium"
    measures: dict[str, float | str] = {
        "startback_total": total,
        "startback_distress": distress,
        "startback_risk": risk,
    }
    return ScoreResult("startback", float(total), risk, measures)
