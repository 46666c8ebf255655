"""Questionnaire scoring: PHQ-2, GAD-2, PEG, PHQ-9 and the Keele STarT Back subgroup.

Thresholds are the published ones quoted in shared/DOMAIN.md; a score is only computed when every item
was answered, because a partial total would understate how someone is doing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

PHQ2_POSITIVE = 3  # Kroenke 2003: total >= 3, sens 83%, spec 92%
GAD2_POSITIVE = 3  # total >= 3, sens 86%, spec 83%
PHQ9_BANDS = ((20, "severe"), (15, "moderately severe"), (10, "moderate"), (5, "mild"), (0, "minimal"))
STARTBACK_LOW_MAX_TOTAL = 3  # Keele STarT Back: total 0-3 = low risk
STARTBACK_HIGH_DISTRESS = 4  # distress subscale (items 5-9) >= 4 = high risk
STARTBACK_BOTHER_SCORES_FROM = 3  # item 9 scores 1 only for "very much" (3) or "extremely" (4)


@dataclass(frozen=True, slots=True)
class ScoreResult:
    code: str
    total: float
    band: str
    measures: dict[str, float | str]


QUESTIONNAIRE_ITEMS: dict[str, tuple[str, ...]] = {
    "phq2": ("phq2_1", "phq2_2"),
    "gad2": ("gad2_1", "gad2_2"),
    "peg": ("peg_1", "peg_2", "peg_3"),
    "phq9": tuple(f"phq9_{i}" for i in range(1, 10)),
    "startback": tuple(f"sbst_{i}" for i in range(1, 10)),
}

ITEM_RANGES: dict[str, tuple[int, int]] = {
    **{key: (0, 3) for code in ("phq2", "gad2", "phq9") for key in QUESTIONNAIRE_ITEMS[code]},
    **{key: (0, 10) for key in QUESTIONNAIRE_ITEMS["peg"]},
    **{f"sbst_{i}": (0, 1) for i in range(1, 9)},
    "sbst_9": (0, 4),
}


def known_questionnaires() -> frozenset[str]:
    return frozenset(QUESTIONNAIRE_ITEMS)


def _item(answers: Mapping[str, object], key: str) -> int | None:
    raw = answers.get(key)
    if raw is None:
        return None
    if isinstance(raw, bool):
        value = float(raw)
    elif isinstance(raw, int | float):
        value = float(raw)
    elif isinstance(raw, str):
        try:
            value = float(raw.strip())
        except ValueError as exc:
            raise ValueError(f"{key}: expected a whole number, got {raw!r}") from exc
    else:
        raise ValueError(f"{key}: expected a whole number, got {type(raw).__name__}")
    low, high = ITEM_RANGES[key]
    if value != int(value) or not low <= value <= high:
        raise ValueError(f"{key}: expected a whole number from {low} to {high}, got {raw!r}")
    return int(value)


def _items(code: str, answers: Mapping[str, object]) -> list[int] | None:
    values = [_item(answers, key) for key in QUESTIONNAIRE_ITEMS[code]]
    if any(v is None for v in values):
        return None
    return [v for v in values if v is not None]


def score(code: str, answers: Mapping[str, object]) -> ScoreResult | None:
    """Score one questionnaire from its item answers; None when any item is missing."""
    if code not in QUESTIONNAIRE_ITEMS:
        raise ValueError(f"unknown questionnaire {code!r}; known: {', '.join(sorted(QUESTIONNAIRE_ITEMS))}")
    items = _items(code, answers)
    if items is None:
        return None
    if code in ("phq2", "gad2"):
        total = sum(items)
        threshold = PHQ2_POSITIVE if code == "phq2" else GAD2_POSITIVE
        positive = total >= threshold
        return ScoreResult(code, float(total), "positive" if positive else "negative",
                           {f"{code}_total": total, f"{code}_positive": int(positive)})
    if code == "peg":
        mean = round(sum(items) / 3, 1)
        return ScoreResult(code, mean, "score", {"peg_score": mean})
    if code == "phq9":
        return _phq9(items)
    return _startback(items)


def _phq9(items: list[int]) -> ScoreResult:
    total = sum(items)
    band = next(name for floor, name in PHQ9_BANDS if total >= floor)
    return ScoreResult("phq9", float(total), band,
                       {"phq9_total": total, "phq9_item9_positive": int(items[8] > 0)})


def _startback(items: list[int]) -> ScoreResult:
    bother = 1 if items[8] >= STARTBACK_BOTHER_SCORES_FROM else 0
    scored = [*items[:8], bother]
    total = sum(scored)
    distress = sum(scored[4:9])
    if total <= STARTBACK_LOW_MAX_TOTAL:
        risk = "low"
    elif distress >= STARTBACK_HIGH_DISTRESS:
        risk = "high"
    else:
        risk = "medium"
    return ScoreResult("startback", float(total), risk,
                       {"startback_total": total, "startback_distress": distress, "startback_risk": risk})
