"""Hazard controls for questionnaire scoring: worked examples at every published boundary.

A mis-scored screen can hide depression, anxiety or a high-risk back-pain subgroup, so each
threshold in docs/clinical-basis.md is tested on both sides, and bad answers are refused, not guessed.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coachbot.care.scoring import ITEM_RANGES, QUESTIONNAIRE_ITEMS, ScoreResult, known_questionnaires, score


def answers(code: str, *values: object) -> dict[str, object]:
    return dict(zip(QUESTIONNAIRE_ITEMS[code], values, strict=True))


def startback(agree: list[int], bother: int) -> ScoreResult:
    """STarT Back with the listed items (1-8) agreed and item 9 at the given bothersomeness."""
    items = [1 if i in agree else 0 for i in range(1, 9)]
    result = score("startback", answers("startback", *items, bother))
    assert result is not None
    return result


# ---------------------------------------------------------------- PHQ-2 and GAD-2


@pytest.mark.parametrize("code", ["phq2", "gad2"])
def test_two_item_screen_of_2_is_negative_and_3_is_positive(code: str) -> None:
    below = score(code, answers(code, 1, 1))
    at = score(code, answers(code, 1, 2))
    assert below == ScoreResult(code, 2.0, "negative", {f"{code}_total": 2, f"{code}_positive": 0})
    assert at == ScoreResult(code, 3.0, "positive", {f"{code}_total": 3, f"{code}_positive": 1})


@pytest.mark.parametrize("code", ["phq2", "gad2"])
def test_two_item_screen_extremes(code: str) -> None:
    assert score(code, answers(code, 0, 0)) == ScoreResult(
        code, 0.0, "negative", {f"{code}_total": 0, f"{code}_positive": 0}
    )
    top = score(code, answers(code, 3, 3))
    assert top is not None and (top.total, top.band) == (6.0, "positive")


# ---------------------------------------------------------------- PEG


@pytest.mark.parametrize(
    ("values", "expected"),
    [((5, 6, 7), 6.0), ((1, 1, 2), 1.3), ((1, 2, 2), 1.7), ((0, 0, 1), 0.3), ((9, 10, 10), 9.7),
     ((0, 0, 0), 0.0), ((10, 10, 10), 10.0)],
)  # fmt: skip
def test_peg_is_the_mean_rounded_to_one_decimal(values: tuple[int, int, int], expected: float) -> None:
    result = score("peg", answers("peg", *values))
    assert result == ScoreResult("peg", expected, "score", {"peg_score": expected})


# ---------------------------------------------------------------- PHQ-9


@pytest.mark.parametrize(
    ("total", "band"),
    [(0, "minimal"), (4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"), (14, "moderate"),
     (15, "moderately severe"), (19, "moderately severe"), (20, "severe"), (27, "severe")],
)  # fmt: skip
def test_phq9_bands_change_exactly_at_5_10_15_and_20(total: int, band: str) -> None:
    items = [min(3, max(0, total - 3 * i)) for i in range(8)] + [0]
    assert sum(items) == min(total, 24)
    items[8] = total - sum(items)  # item 9 takes the rest (27 needs it at 3)
    result = score("phq9", answers("phq9", *items))
    assert result is not None
    assert (result.total, result.band, result.measures["phq9_total"]) == (float(total), band, total)


def test_phq9_item9_above_zero_is_flagged_whatever_the_total() -> None:
    low_total_item9 = score("phq9", answers("phq9", 0, 0, 0, 0, 0, 0, 0, 0, 1))
    high_total_no_item9 = score("phq9", answers("phq9", 3, 3, 3, 3, 3, 3, 3, 3, 0))
    assert low_total_item9 is not None and low_total_item9.measures["phq9_item9_positive"] == 1
    assert low_total_item9.band == "minimal"
    assert high_total_no_item9 is not None and high_total_no_item9.measures["phq9_item9_positive"] == 0


# ---------------------------------------------------------------- Keele STarT Back


def test_startback_total_3_is_low_and_4_is_medium() -> None:
    low = startback(agree=[1, 2, 3], bother=0)
    medium = startback(agree=[1, 2, 3, 4], bother=0)
    assert (low.total, low.band) == (3.0, "low")
    assert low.measures == {"startback_total": 3, "startback_distress": 0, "startback_risk": "low"}
    assert (medium.total, medium.band, medium.measures["startback_distress"]) == (4.0, "medium", 0)


def test_startback_low_whatever_the_distress_while_total_is_3_or_less() -> None:
    result = startback(agree=[5, 6, 7], bother=0)
    assert (result.total, result.measures["startback_distress"], result.band) == (3.0, 3, "low")


def test_startback_distress_3_is_medium_and_4_is_high() -> None:
    medium = startback(agree=[1, 5, 6, 7], bother=0)
    high = startback(agree=[5, 6, 7, 8], bother=0)
    assert (medium.total, medium.measures["startback_distress"], medium.band) == (4.0, 3, "medium")
    assert (high.total, high.measures["startback_distress"], high.band) == (4.0, 4, "high")
    assert high.measures["startback_risk"] == "high"


@pytest.mark.parametrize(("bother", "scores"), [(0, 0), (1, 0), (2, 0), (3, 1), (4, 1)])
def test_startback_item9_scores_only_for_very_much_or_extremely(bother: int, scores: int) -> None:
    result = startback(agree=[], bother=bother)
    assert result.total == float(scores)
    assert result.measures["startback_distress"] == scores


def test_startback_item9_moderately_vs_very_much_moves_the_subgroup() -> None:
    moderately = startback(agree=[1, 5, 6, 7], bother=2)
    very_much = startback(agree=[1, 5, 6, 7], bother=3)
    assert (moderately.total, moderately.band) == (4.0, "medium")
    assert (very_much.total, very_much.measures["startback_distress"], very_much.band) == (5.0, 4, "high")
    assert startback(agree=[1, 2, 3], bother=2).band == "low"
    assert startback(agree=[1, 2, 3], bother=3).band == "medium"


# ---------------------------------------------------------------- answers: missing, odd types, bad values


@pytest.mark.parametrize("code", sorted(QUESTIONNAIRE_ITEMS))
def test_a_missing_or_unanswered_item_gives_no_score(code: str) -> None:
    full = {key: ITEM_RANGES[key][0] for key in QUESTIONNAIRE_ITEMS[code]}
    assert score(code, full) is not None
    last = QUESTIONNAIRE_ITEMS[code][-1]
    assert score(code, {k: v for k, v in full.items() if k != last}) is None
    assert score(code, {**full, last: None}) is None
    assert score(code, {}) is None


@pytest.mark.parametrize("value", [2, 2.0, "2", " 2 ", "2.0"])
def test_whole_numbers_in_any_form_are_accepted(value: object) -> None:
    result = score("phq2", {"phq2_1": value, "phq2_2": 1})
    assert result is not None and result.total == 3.0 and result.band == "positive"


@pytest.mark.parametrize(
    ("key", "value"),
    [("phq2_1", 4), ("phq2_1", -1), ("phq2_1", 1.5), ("phq2_1", "1.5"), ("phq2_1", "two"), ("phq2_1", ""),
     ("phq2_1", True), ("phq2_1", float("nan")), ("phq2_1", [1]), ("phq9_9", 4), ("peg_1", 11),
     ("sbst_1", 2), ("sbst_9", 5)],
)  # fmt: skip
def test_an_out_of_range_or_non_whole_answer_is_refused(key: str, value: object) -> None:
    code = next(c for c, items in QUESTIONNAIRE_ITEMS.items() if key in items)
    data: dict[str, object] = {k: ITEM_RANGES[k][0] for k in QUESTIONNAIRE_ITEMS[code]}
    data[key] = value
    with pytest.raises(ValueError, match=key):
        score(code, data)


def test_an_unknown_questionnaire_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown questionnaire 'oswestry'"):
        score("oswestry", {})


def test_item_keys_and_ranges_agree() -> None:
    assert known_questionnaires() == frozenset({"phq2", "gad2", "peg", "phq9", "gad7", "startback"})
    assert set(ITEM_RANGES) == {key for items in QUESTIONNAIRE_ITEMS.values() for key in items}
    assert ITEM_RANGES["sbst_9"] == (0, 4) and ITEM_RANGES["sbst_8"] == (0, 1)


@given(st.data())
def test_any_complete_in_range_answers_score_consistently(data: Any) -> None:
    code = data.draw(st.sampled_from(sorted(QUESTIONNAIRE_ITEMS)))
    values = {key: data.draw(st.integers(*ITEM_RANGES[key])) for key in QUESTIONNAIRE_ITEMS[code]}
    result = score(code, values)
    assert result is not None and result.code == code
    if code == "peg":
        assert 0 <= result.total <= 10
    elif code == "startback":
        assert result.band == result.measures["startback_risk"]
        assert (result.band == "low") == (result.total <= 3)
    elif code == "phq9":
        assert result.measures["phq9_item9_positive"] == int(values["phq9_9"] > 0)
    elif code == "gad7":
        assert result.measures["gad7_total"] == sum(values.values()) == result.total
    else:
        assert result.band == ("positive" if result.total >= 3 else "negative")


# ---------------------------------------------------------------- a two-item screen with a skipped item


@pytest.mark.parametrize(("code", "answered"), [("phq2", "phq2_2"), ("phq2", "phq2_1"), ("gad2", "gad2_1"),
                                                ("gad2", "gad2_2")])
@pytest.mark.parametrize("value", [2, 3])
def test_a_skipped_screen_item_with_the_other_at_2_or_more_is_still_a_positive_screen(
        code: str, answered: str, value: int) -> None:
    result = score(code, {answered: value})
    assert result is not None and result.band == "positive"
    assert result.measures == {f"{code}_total": 2 * value, f"{code}_positive": 1}
    assert result.total >= 3  # the prorated total passes the dialogs' and the rules' cut-off of 3


@pytest.mark.parametrize("code", ["phq2", "gad2"])
@pytest.mark.parametrize("value", [0, 1])
def test_a_skipped_screen_item_with_the_other_below_2_gives_no_score_rather_than_a_negative(
        code: str, value: int) -> None:
    first, second = QUESTIONNAIRE_ITEMS[code]
    assert score(code, {second: value}) is None
    assert score(code, {first: value, second: None}) is None


# ---------------------------------------------------------------- GAD-7


@pytest.mark.parametrize(("total", "band"), [(4, "minimal"), (5, "mild"), (9, "mild"), (10, "moderate"),
                                             (14, "moderate"), (15, "severe"), (21, "severe")])
def test_gad7_bands_change_exactly_at_5_10_and_15(total: int, band: str) -> None:
    items = [min(3, max(0, total - 3 * i)) for i in range(7)]
    assert sum(items) == total
    result = score("gad7", answers("gad7", *items))
    assert result is not None and (result.total, result.band) == (float(total), band)
    assert result.measures == {"gad7_total": total}
