"""The follow-up questionnaires, the monthly questions and onboarding's safety exits, in the real
dialog files: a positive PHQ-2 offers the PHQ-9 (item 9 above 0 starts the crisis flow), a positive
GAD-2 the GAD-7, STarT Back and work come back every four weeks, and an emergency red flag at
onboarding no longer leaves a patient with no check-in time or baseline."""

from __future__ import annotations

import pytest

from coachbot.engine import DialogEnded, Engine, Escalate, PatientContext, Reply, UpdateProfile
from tests.support.engine_driver import EngineChat

PHQ9_REST_NO_ITEM9 = ["1", "1", "1", "1", "1", "1", "1", "1", "0"]  # PHQ-9 items 1-9


def in_care(engine: Engine, days: int) -> EngineChat:
    return EngineChat(engine, context=PatientContext(
        status="active", name="Sam", facts={"onboarded": 1, "days_in_care": days, "open_step": 0}))


def day_three(engine: Engine) -> EngineChat:
    chat = in_care(engine, 3)
    chat.start("daily_checkin")
    chat.send("5")
    chat.send("5")
    return chat


def escalations(chat: EngineChat) -> list[tuple[str, str]]:
    return [(e.tier, e.rule) for e in chat.effects if isinstance(e, Escalate)]


def test_positive_phq2_on_day_three_offers_the_phq9_and_scores_it(engine: Engine) -> None:
    chat = day_three(engine)
    chat.send("2")
    chat.send("2")
    assert chat.state == "phq9/offer" and "9 more questions" in chat.last[-1].text  # type: ignore[attr-defined]
    chat.send("yes")
    for text in PHQ9_REST_NO_ITEM9:
        chat.send(text)
    measures = chat.measures()
    assert measures["phq9_total"] == 8 and measures["phq9_item9_positive"] == 0
    assert chat.state == "gad2/gad2_1"  # carries on with the GAD-2
    assert ("urgent", "crisis") not in escalations(chat)


def test_phq9_item9_above_zero_starts_the_crisis_flow_with_resources_and_an_urgent_alert(
        engine: Engine) -> None:
    chat = day_three(engine)
    for text in ["3", "3", "yes", *PHQ9_REST_NO_ITEM9[:-1]]:
        chat.send(text)
    replies = chat.send("Several days")
    assert chat.position is not None and chat.position.script == "crisis"
    assert any("Samaritans" in text and "999" in text for text in replies)
    assert ("urgent", "crisis") in escalations(chat)
    assert chat.measures()["phq9_item9_positive"] == 1


def test_a_declined_phq9_goes_straight_on_to_the_gad2(engine: Engine) -> None:
    chat = day_three(engine)
    for text in ["2", "2", "no"]:
        chat.send(text)
    assert chat.state == "gad2/gad2_1"
    measures = chat.measures()
    assert measures["phq9_offered"] == 0  # the coach can see it was offered and declined
    assert not any(code.startswith("phq9_") and code != "phq9_offered" for code in measures)


def test_negative_phq2_offers_no_phq9(engine: Engine) -> None:
    chat = day_three(engine)
    chat.send("1")
    chat.send("1")
    assert chat.state == "gad2/gad2_1"


def test_phq2_with_the_interest_item_skipped_and_depressed_at_2_is_positive_and_offers_the_phq9(
        engine: Engine) -> None:
    chat = day_three(engine)
    chat.send("skip")
    chat.send("More than half the days")
    assert chat.state == "phq9/offer"
    assert chat.measures()["phq2_positive"] == 1
    chat.send("no")
    chat.send("0")
    chat.send("0")
    assert ("soon", "phq2_positive") in escalations(chat)


def test_positive_gad2_offers_the_gad7_and_scores_it(engine: Engine) -> None:
    chat = day_three(engine)
    for text in ["0", "0", "2", "2"]:
        chat.send(text)
    assert chat.state == "gad7/offer"
    chat.send("yes")
    for text in ["2", "2", "1", "1", "1", "1", "1"]:
        chat.send(text)
    assert chat.measures()["gad7_total"] == 9
    assert ("soon", "gad2_positive") in escalations(chat)
    assert chat.state == "note"


def weekly(engine: Engine, days: int) -> EngineChat:
    chat = in_care(engine, days)
    chat.start("weekly_review")
    for text in ["3", "3", "3", "0", "0", "0", "0", "6", "3"]:  # PEG, PHQ-2, GAD-2, sleep, active days
        chat.send(text)
    return chat


@pytest.mark.parametrize("days", [28, 31, 34, 56, 62, 364, 370])
def test_every_fourth_weekly_review_asks_about_work_and_repeats_startback(engine: Engine, days: int) -> None:
    chat = weekly(engine, days)
    assert chat.state == "work_status"
    chat.press("off_sick")
    for text in ["yes", "no", "no", "no", "no", "no", "no", "no", "slightly"]:
        chat.send(text)
    measures = chat.measures()
    assert measures["work_status"] == "off_sick" and measures["startback_risk"] == "low"
    assert chat.position is None


@pytest.mark.parametrize("days", [7, 14, 21, 27, 35, 55, 63])
def test_the_other_weekly_reviews_ask_neither_work_nor_startback(engine: Engine, days: int) -> None:
    chat = weekly(engine, days)
    assert chat.position is None
    assert "work_status" not in chat.measures() and "startback_risk" not in chat.measures()


def test_weekly_review_offers_the_phq9_after_a_positive_phq2(engine: Engine) -> None:
    chat = in_care(engine, 10)
    chat.start("weekly_review")
    for text in ["3", "3", "3", "Nearly every day", "Several days"]:
        chat.send(text)
    assert chat.state == "phq9/offer"


def onboard_with_emergency(chat: EngineChat) -> list[str]:
    replies: list[str] = []
    for text in ["hello", "yes", "Alex", "yes"]:
        replies = chat.send(text)
    return replies


def test_an_emergency_red_flag_at_onboarding_gives_999_alerts_and_still_finishes_setting_up(
        chat: EngineChat) -> None:
    replies = onboard_with_emergency(chat)
    assert any("call 999 or go to A&E now" in text for text in replies)
    assert ("urgent", "red_flag_emergency") in escalations(chat)
    assert chat.position is not None and chat.position.script == "onboarding"
    assert chat.state == "pain_usual"
    assert DialogEnded("onboarding", completed=True) not in chat.effects
    for text in ["6", "4", "no", "working", "8am", "sunday", "UK"]:
        chat.send(text)
    profile = {e.field: e.value for e in chat.effects if isinstance(e, UpdateProfile)}
    assert profile["checkin_time"] == "08:00" and profile["timezone"] == "Europe/London"
    assert chat.measures()["pain_usual"] == 6
    assert DialogEnded("onboarding", completed=True) in chat.effects


def test_onboarding_asks_about_diabetes_or_nerve_damage_and_work(chat: EngineChat) -> None:
    for text in ["hello", "yes", "Alex", "no", "no", "6", "4"]:
        chat.send(text)
    assert chat.state == "neuropathy"
    chat.send("yes")
    assert chat.state == "work_status"
    chat.press("retired")
    measures = chat.measures()
    assert measures["neuropathy"] == 1 and measures["work_status"] == "retired"
    assert any(isinstance(e, Reply) and "check-in" in e.text for e in chat.last)
