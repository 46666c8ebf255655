"""The names admin files may use for what the service measures: questionnaires and their items,
stored measures with their ranges, and the flags the service raises.

Validation checks every file against these, and the clinical code (`coachbot.care`) computes and reads
the same names, so both import them from here; spec never imports care.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

QUESTIONNAIRE_ITEMS: dict[str, tuple[str, ...]] = {
    "phq2": ("phq2_1", "phq2_2"),
    "gad2": ("gad2_1", "gad2_2"),
    "peg": ("peg_1", "peg_2", "peg_3"),
    "phq9": tuple(f"phq9_{i}" for i in range(1, 10)),
    "gad7": tuple(f"gad7_{i}" for i in range(1, 8)),
    "startback": tuple(f"sbst_{i}" for i in range(1, 10)),
}
"""Each questionnaire `score:` accepts, and the measures its items are stored as, in item order."""

NUMERIC_MEASURES: Mapping[str, tuple[float, float]] = MappingProxyType({
    "pain_now": (0, 10), "mood_now": (0, 10), "peg_score": (0, 10), "phq2_total": (0, 6),
    "gad2_total": (0, 6), "phq9_total": (0, 27), "gad7_total": (0, 21), "sleep_quality": (0, 10),
    "activity_days": (0, 7)})
"""The latest value of each measure the service supplies; names match the stored measurement codes."""
CATEGORICAL_MEASURES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "startback_risk": ("low", "medium", "high")})
FLAGS: Mapping[str, str] = MappingProxyType({
    "red_flag": "an emergency or urgent red-flag answer is open",
    "crisis": "a mental health crisis flow is open",
    "leg_weakness": "new weakness in a leg reported",
    "leg_numbness": "new numbness or tingling in a leg reported",
    "numb_skin": "areas of numb skin on the back or legs",
    "neuropathy": "a known neuropathy (for example from diabetes)",
    "flare": "a flare-up is in progress (see care/flare.py)",
    "coach_supported": "a coach is working with the patient on feared movements",
    "not_working": "the patient is not in paid work"})
"""Every flag a steps condition may name; the service raises them, the policy and the checks read them."""


def known_questionnaires() -> frozenset[str]:
    """Codes `score` accepts; dialog validation checks `score:` actions against these."""
    return frozenset(QUESTIONNAIRE_ITEMS)
