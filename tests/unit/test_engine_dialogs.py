"""The engine running the real dialog files: onboarding, check-ins, and the words that work anywhere."""

from __future__ import annotations

import subprocess
import sys

import pytest

from coachbot.engine import (
    ChangeStatus,
    DialogEnded,
    Escalate,
    PatientContext,
    RecordMeasure,
    Reply,
    UpdateProfile,
)
from tests.support.engine_driver import EngineChat

ONBOARDING_ANSWERS = ["hello", "yes", "Alex", "no", "no", "6", "four", "no", "working", "8am", "weds", "UK"]


def onboard(chat: EngineChat) -> None:
    for text in ONBOARDING_ANSWERS:
        chat.send(text)


def test_onboarding_by_typing_stores_profile_and_baselines(chat: EngineChat) -> None:
    onboard(chat)
    profile = {e.field: e.value for e in chat.effects if isinstance(e, UpdateProfile)}
    assert profile == {"consent": 1, "name": "Alex", "checkin_time": "08:00",
                       "weekly_review_day": "wednesday", "timezone": "Europe/London"}
    assert chat.measures() == {"rf_emergency": 0, "rf_urgent": 0, "pain_usual": 6, "mood_usual": 4,
                               "neuropathy": 0, "work_status": "working"}
    assert chat.position is None
    assert DialogEnded("onboarding", completed=True) in chat.effects
    assert any("Alex" in e.text for e in chat.effects if isinstance(e, Reply))


def test_onboarding_asks_at_most_a_dozen_questions(chat: EngineChat) -> None:
    onboard(chat)
    questions = [e for e in chat.effects if isinstance(e, Reply) and e.question]
    assert len(questions) <= 12


def test_refused_consent_ends_kindly_and_stores_no_health_data(chat: EngineChat) -> None:
    chat.send("hi")
    replies = chat.send("no")
    assert chat.position is None
    assert replies, "the patient is told what happens now"
    assert not [e for e in chat.effects if isinstance(e, RecordMeasure)]
    assert UpdateProfile("consent", 0) in chat.effects


def test_consent_cannot_be_skipped(chat: EngineChat) -> None:
    chat.send("hi")
    replies = chat.send("skip")
    assert chat.state == "consent"
    assert len(replies) == 2  # why not, then the question again


def test_unclear_answer_is_reasked_with_what_is_accepted_and_nothing_stored(
        onboarded_chat: EngineChat) -> None:
    onboarded_chat.start("daily_checkin")
    assert onboarded_chat.state == "pain_now"
    replies = onboarded_chat.send("it hurts a lot")
    assert onboarded_chat.state == "pain_now"
    assert "0 to 10" in replies[0]
    assert onboarded_chat.measures() == {}


def test_three_misses_offer_to_skip(onboarded_chat: EngineChat) -> None:
    onboarded_chat.start("daily_checkin")
    first = onboarded_chat.send("??")
    second = onboarded_chat.send("lots")
    third = onboarded_chat.send("🙂")
    assert len(first) == len(second) == 1
    assert len(third) == 2 and "skip" in third[1].lower()


def test_skip_moves_on_without_storing(onboarded_chat: EngineChat) -> None:
    onboarded_chat.start("daily_checkin")
    onboarded_chat.send("skip")
    assert onboarded_chat.state == "mood_now"
    assert onboarded_chat.measures() == {}


def test_help_works_in_any_state_and_asks_the_question_again(onboarded_chat: EngineChat) -> None:
    onboarded_chat.start("daily_checkin")
    replies = onboarded_chat.send("/help")
    assert onboarded_chat.state == "pain_now"
    assert "skip" in replies[0].lower() and "pain" in replies[1].lower()


def test_pause_keeps_the_place_and_resume_asks_again(onboarded_chat: EngineChat) -> None:
    onboarded_chat.start("daily_checkin")
    onboarded_chat.send("pause 3")
    change = onboarded_chat.of_type(ChangeStatus)[0]
    assert isinstance(change, ChangeStatus) and change.status == "paused" and change.until is not None
    assert onboarded_chat.state == "pain_now"
    replies = onboarded_chat.send("resume")
    assert onboarded_chat.context.status == "active" and "pain" in replies[-1].lower()


def test_stop_ends_the_dialog_and_silences_everything_but_start(onboarded_chat: EngineChat) -> None:
    onboarded_chat.start("daily_checkin")
    onboarded_chat.send("stop")
    assert onboarded_chat.position is None and onboarded_chat.context.status == "stopped"
    assert onboarded_chat.start("daily_checkin") == []
    replies = onboarded_chat.send("7")
    assert len(replies) == 1 and onboarded_chat.measures() == {}
    onboarded_chat.send("/start")
    assert onboarded_chat.context.status == "active"


def test_button_press_answers_and_an_old_button_records_nothing(onboarded_chat: EngineChat) -> None:
    onboarded_chat.start("daily_checkin")
    onboarded_chat.press("7")
    assert onboarded_chat.measures() == {"pain_now": 7}
    replies = onboarded_chat.press("3", state="pain_now")
    assert onboarded_chat.measures() == {"pain_now": 7}
    assert onboarded_chat.state == "mood_now" and len(replies) == 1


def test_scale_questions_come_with_eleven_buttons(onboarded_chat: EngineChat) -> None:
    onboarded_chat.start("daily_checkin")
    question = next(e for e in onboarded_chat.last if isinstance(e, Reply) and e.question)
    assert [o.value for o in question.options] == [str(n) for n in range(11)]


def test_daily_checkin_completes_and_suggests_a_step(onboarded_chat: EngineChat) -> None:
    onboarded_chat.start("daily_checkin")
    for text in ["5", "6", "skip"]:
        onboarded_chat.send(text)
    assert onboarded_chat.position is None
    assert onboarded_chat.measures() == {"pain_now": 5, "mood_now": 6}
    assert any(type(e).__name__ == "SuggestStep" for e in onboarded_chat.effects)


def test_step_feedback_is_asked_only_when_a_step_waits(engine) -> None:  # type: ignore[no-untyped-def]
    chat = EngineChat(engine, context=PatientContext(
        status="active", facts={"onboarded": 1, "days_in_care": 9, "open_step": 1}))
    chat.start("daily_checkin")
    chat.send("5")
    chat.send("5")
    assert chat.state == "step_feedback"
    chat.send("it helped")
    assert chat.measures()["step_feedback"] == "helped"


def test_day_three_positive_phq2_escalates_soon(engine) -> None:  # type: ignore[no-untyped-def]
    chat = EngineChat(engine, context=PatientContext(
        status="active", facts={"onboarded": 1, "days_in_care": 3, "open_step": 0}))
    chat.start("daily_checkin")
    for text in ["5", "5", "2", "2", "no", "0", "0"]:  # "no": the PHQ-9 offered after it is declined
        chat.send(text)
    measures = chat.measures()
    assert measures["phq2_total"] == 4 and measures["gad2_total"] == 0 and "phq9_total" not in measures
    escalations = [e for e in chat.effects if isinstance(e, Escalate)]
    assert [(e.tier, e.rule) for e in escalations] == [("soon", "phq2_positive")]
    assert escalations[0].evidence["score.phq2"] == 4


def test_weekly_review_scores_peg_and_asks_sleep_and_activity(onboarded_chat: EngineChat) -> None:
    onboarded_chat.start("weekly_review")
    for _ in range(12):
        if onboarded_chat.position is None:
            break
        question = onboarded_chat.position.state
        onboarded_chat.send("3" if "activity" in question else "1")
    measures = onboarded_chat.measures()
    assert measures["peg_score"] == 1.0
    assert measures["activity_days"] == 3
    assert "sleep_quality" in measures


def test_engine_imports_no_telegram_database_or_scheduler() -> None:
    code = ("import sys, coachbot.engine, coachbot.care.scoring, coachbot.care.triggers, coachbot.spec; "
            "bad = [m for m in ('telegram', 'sqlalchemy', 'apscheduler', 'aiohttp') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_onboarding_asks_the_review_day_after_the_checkin_time_with_a_button_per_day(
        chat: EngineChat) -> None:
    for text in ONBOARDING_ANSWERS[:10]:
        chat.send(text)
    assert chat.state == "review_day"
    question = next(e for e in chat.last if isinstance(e, Reply) and e.question)
    assert "Which day suits you" in question.text
    assert [b.label for b in question.options] == ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday",
                                                   "Saturday", "Sunday"]
    chat.press("monday")
    assert chat.state == "timezone"
    assert [e.value for e in chat.last if isinstance(e, UpdateProfile)] == ["monday"]


def settings_replies(chat: EngineChat, *answers: str) -> str:
    chat.start("settings")
    said: list[str] = []
    for text in answers:
        said += chat.send(text)
    assert chat.position is None, "settings finished"
    return "\n".join(said)


@pytest.mark.parametrize("typed,day,value", [
    ("Thursday", "Thursday", "thursday"), ("thurs", "Thursday", "thursday"), ("sat", "Saturday", "saturday"),
    ("1", "Monday", "monday"), ("7", "Sunday", "sunday"), ("TUES", "Tuesday", "tuesday"),
    ("Th", "Thursday", "thursday"), ("WED", "Wednesday", "wednesday"), ("2", "Tuesday", "tuesday")])
def test_settings_store_the_review_day_typed_as_a_name_synonym_or_number_and_say_it(
        onboarded_chat: EngineChat, typed: str, day: str, value: str) -> None:
    said = settings_replies(onboarded_chat, "skip", "skip", typed)
    profile = {e.field: e.value for e in onboarded_chat.effects if isinstance(e, UpdateProfile)}
    assert profile == {"weekly_review_day": value}
    assert f"Thank you, Sam. Your weekly review will now come on {day}." in said
    assert "check-in will now come" not in said and "Nothing has changed" not in said


def test_settings_closing_names_every_change_and_only_the_changes(onboarded_chat: EngineChat) -> None:
    said = settings_replies(onboarded_chat, "7pm", "Dublin", "friday")
    assert "Your daily check-in will now come at 19:00, time in Europe/Dublin." in said
    assert "Your weekly review will now come on Friday." in said
    said = settings_replies(onboarded_chat, "7pm", "skip", "skip")
    assert "check-in will now come at 19:00." in said and "weekly review will now" not in said
    said = settings_replies(onboarded_chat, "skip", "Madrid", "monday")
    assert "use the time in Europe/Madrid" in said and "weekly review will now come on Monday." in said
    assert "check-in will now come" not in said


def test_settings_with_everything_skipped_change_nothing_and_say_so(onboarded_chat: EngineChat) -> None:
    said = settings_replies(onboarded_chat, "skip", "skip", "skip")
    assert not [e for e in onboarded_chat.effects if isinstance(e, UpdateProfile)]
    assert "Nothing has changed" in said and "will now come" not in said


def test_settings_ask_again_for_a_review_day_that_is_not_a_day(onboarded_chat: EngineChat) -> None:
    onboarded_chat.start("settings")
    onboarded_chat.send("skip")
    onboarded_chat.send("skip")
    said = "\n".join(onboarded_chat.send("the weekend"))
    assert onboarded_chat.state == "weekly_review_day" and "Monday" in said
    assert not [e for e in onboarded_chat.effects if isinstance(e, UpdateProfile)]
