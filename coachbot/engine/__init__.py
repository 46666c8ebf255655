"""The dialog engine: pure Python, no Telegram, no database, no scheduler (a test enforces this)."""

from coachbot.engine.effects import (
    AnswerValue,
    ButtonOption,
    ChangeStatus,
    DialogEnded,
    Effect,
    Escalate,
    RecordMeasure,
    Reply,
    SafetyTriggered,
    SuggestStep,
    UpdateProfile,
)
from coachbot.engine.events import ButtonPress, Event, PatientContext, StartDialog, TextMessage
from coachbot.engine.position import Position
from coachbot.engine.runner import Engine, Outcome

__all__ = [
    "AnswerValue", "ButtonOption", "ButtonPress", "ChangeStatus", "DialogEnded", "Effect", "Engine",
    "Escalate", "Event", "Outcome", "PatientContext", "Position", "RecordMeasure", "Reply",
    "SafetyTriggered", "StartDialog", "SuggestStep", "TextMessage", "UpdateProfile",
]
