"""Every sentence of the coach tools (/coach, /queue, /patient, /note, /message, /handover, /close)
and of the coach-patient conversation they open: `channel.coach_tools` in dialogs/service.yaml.

Each sentence may use only the placeholders listed in `PLACEHOLDERS`, checked when the files load, so a
typo such as `{lable}` is refused then rather than shown in a coach's (or a patient's) chat.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from coachbot.spec.strict import StrictModel

CoachCommand = Literal["coach", "queue", "patient", "note", "message", "handover", "close"]


class Usage(StrictModel):
    """One plain sentence per command: what it expects."""

    coach: str
    queue: str
    patient: str
    note: str
    message: str
    handover: str
    close: str


class ChartWords(StrictModel):
    title: str
    pain: str
    mood: str
    done: str
    missed: str
    scale: str
    caption: str


class CoachWords(StrictModel):
    usage: Usage
    # joining
    joined: str
    code_not_valid: str
    code_attempts_paused: str = Field(description="after too many wrong /coach codes: when to try again")
    wait_minutes: str = Field(default="{n} minutes", description="{wait} of code_attempts_paused, n >= 2")
    wait_hours: str = Field(default="{n} hours", description="{wait} of code_attempts_paused, n >= 2")
    already_coach: str
    access_removed: str = Field(description="to a removed (inactive) coach who writes to the bot")
    # access
    no_such_patient: str
    # /queue
    queue_header: str
    queue_line: str
    queue_empty: str
    queue_more: str
    age_minutes: str
    age_hours: str
    age_days: str
    escalation_status: dict[Literal["open", "acknowledged"], str]
    # /patient
    patient_summary: str
    patient_status: dict[Literal["new", "active", "paused", "stopped"], str]
    score_item: str
    note_line: str
    patient_note_line: str = Field(default="• {date}: {text}",
                                   description="a note the patient wrote to their coach in a check-in")
    patient_notes_card: str = Field(
        default="{label} wrote to you in their check-ins:\n{notes}",
        description="sent after the next alert card: the patient's notes the coach has not been sent yet")
    step_line: str
    step_feedback: dict[Literal["helped", "not_helped", "not_tried", "waiting"], str]
    relay_open_line: str
    none: str
    chart: ChartWords
    # /note
    note_saved: str
    # /message and the conversation it opens
    message_sent: str
    message_not_sent: str
    to_patient: str = Field(description="what the patient receives; marked as from their coach")
    forwarded: str = Field(description="a patient's message, in their coach's chat")
    passed_on: str = Field(description="said to the patient after each message passed to the coach")
    plain_words: str = Field(description="a coach's words without a command while a conversation is open")
    closed_for_patient: str
    closed: str
    not_open: str
    close_which: str
    # /handover
    handed_over: str
    handed_to_you: str
    no_other_coach: str
    nothing_to_hand_over: str

    @model_validator(mode="after")
    def _placeholders(self) -> CoachWords:
        for key, value in self.model_dump().items():
            texts = value.items() if isinstance(value, dict) else [("", value)]
            for sub, text in texts:
                where = f"{key}.{sub}" if sub else key
                allowed = PLACEHOLDERS.get(where, PLACEHOLDERS.get(key, frozenset()))
                for placeholder in re.findall(r"\{([^{}]*)\}", str(text)):
                    if placeholder not in allowed:
                        usable = ", ".join(f"{{{p}}}" for p in sorted(allowed)) or "no placeholders"
                        raise ValueError(f"coach_tools.{where}: {{{placeholder}}} is not filled in here; "
                                         f"use {usable}")
        return self


PLACEHOLDERS: dict[str, frozenset[str]] = {
    "joined": frozenset({"name"}),
    "code_attempts_paused": frozenset({"wait"}),
    "wait_minutes": frozenset({"n"}), "wait_hours": frozenset({"n"}),
    "no_such_patient": frozenset({"label"}),
    "queue_header": frozenset({"count"}),
    "queue_line": frozenset({"label", "tier", "rule", "age", "status"}),
    "queue_more": frozenset({"count"}),
    "age_minutes": frozenset({"n"}), "age_hours": frozenset({"n"}), "age_days": frozenset({"n"}),
    "patient_summary": frozenset({"label", "status", "days", "coach", "scores", "escalations", "notes",
                                  "steps", "relay", "patient_notes"}),
    "patient_note_line": frozenset({"date", "text"}),
    "patient_notes_card": frozenset({"label", "notes"}),
    "score_item": frozenset({"code", "value", "date"}),
    "note_line": frozenset({"date", "author", "text"}),
    "step_line": frozenset({"date", "step", "feedback"}),
    "chart.title": frozenset({"label"}),
    "chart.caption": frozenset({"label"}),
    "note_saved": frozenset({"label"}),
    "message_sent": frozenset({"label"}),
    "message_not_sent": frozenset({"label"}),
    "to_patient": frozenset({"text"}),
    "forwarded": frozenset({"label", "text"}),
    "closed": frozenset({"label"}),
    "not_open": frozenset({"label"}),
    "close_which": frozenset({"labels"}),
    "plain_words": frozenset({"labels"}),
    "handed_over": frozenset({"labels", "coach"}),
    "handed_to_you": frozenset({"labels", "coach"}),
    "relay_open_line": frozenset({"coach"}),
}


def fill(template: str, **values: object) -> str:
    """`template` with each {name} replaced; str.replace, so braces in a value stay as they are."""
    text = template
    for name, value in values.items():
        text = text.replace("{" + name + "}", str(value))
    return text.strip()
