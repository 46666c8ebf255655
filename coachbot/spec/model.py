"""The shape of a dialog file, as pydantic models: the first, structural stage of validation.

Admins write these files; the models say exactly what a file may contain, refuse anything else
(`extra="forbid"` catches typos such as `nxt:`), and export a JSON Schema for editors.
Meaning (targets exist, states are reachable...) is checked afterwards in `checks.py`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, get_args

from pydantic import Field, model_validator

from coachbot.spec.coach_words import CoachWords
from coachbot.spec.conditions import ConditionBase, Scalar
from coachbot.spec.strict import StrictModel

QuestionType = Literal["scale", "choice", "yes_no", "number", "time_of_day", "free_text", "timezone"]
Tier = Literal["urgent", "soon", "routine"]
ProfileField = Literal["name", "timezone", "checkin_time", "consent", "weekly_review_day"]
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
"""The values a `profile: weekly_review_day` question's options take, Monday first (Python's weekday
numbering, which the patients table keeps). Names, not numbers, so that a typed "1" can mean what a
person means (Monday) without ever being read as an option's value."""


def weekday_index(value: object) -> int | None:
    """The weekday (Monday = 0) a review-day answer names: a day name, or a number 0-6 as older
    dialog sets stored it; None for anything else, so nothing is stored that was not understood."""
    if isinstance(value, str) and value.lower() in WEEKDAYS:
        return WEEKDAYS.index(value.lower())
    if isinstance(value, int | float) and not isinstance(value, bool) and value in range(7):
        return int(value)
    return None


Fact = Literal["days_in_care", "open_step", "in_flare", "pain_jumped"]
"""Facts about the patient the service supplies with each event: whole days since onboarding ended,
1 when a suggested step still waits for the patient's feedback (else 0), and, when a dialog starts,
1 while a flare-up lasts (care/flare.py; else 0)."""
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
EXIT = "$exit"
"""Inside a block, the target that leaves the block for the state that used it."""

Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=60)]


class Option(StrictModel):
    """One answer of a choice list; `value` is what gets stored, `label` what the patient sees."""

    value: Scalar
    label: str = Field(min_length=1, max_length=64)
    synonyms: tuple[str, ...] = ()


class Question(StrictModel):
    """What a state asks. The type decides the parser and the keyboard."""

    type: QuestionType
    text: str = Field(min_length=1)
    options: tuple[Option, ...] = ()
    min: float | None = None
    max: float | None = None
    integer: bool = True
    max_length: int = Field(default=1000, ge=1, le=4000)
    skippable: bool = True
    accepts: str | None = Field(default=None, description="overrides the re-ask sentence for this question")

    @model_validator(mode="after")
    def _fits_type(self) -> Question:
        if self.type == "choice" and len(self.options) < 2:
            raise ValueError("a choice question needs at least two options")
        if self.type != "choice" and self.options:
            raise ValueError(f"options are only for choice questions, not {self.type}")
        if self.type == "number" and (self.min is None or self.max is None):
            raise ValueError("a number question needs both min and max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError("min must not be greater than max")
        return self


class Condition(ConditionBase):
    """A declarative test on an answer, a score or a fact; combinators nest. No code is ever evaluated."""

    SUBJECTS = ("answer", "score", "fact")
    PRESENCE = "answered"

    answer: Name | None = None
    score: Name | None = None
    fact: Fact | None = None
    answered: bool | None = None
    all: tuple[Condition, ...] | None = None
    any: tuple[Condition, ...] | None = None
    not_: Condition | None = Field(default=None, alias="not")


class Route(StrictModel):
    """Go to `goto` when `when` holds (or always, when it is left out); the first match wins."""

    when: Condition | None = None
    goto: str = Field(min_length=1)


class Record(StrictModel):
    measure: Name
    value: Scalar


class EscalateAction(StrictModel):
    """Raise (or strengthen) the patient's escalation for `rule`. `severity` ranks statements of risk
    within a tier: a higher one than the open escalation holds re-sends the card marked as worse."""

    tier: Tier
    rule: Name
    reason: str = Field(min_length=1)
    severity: int = Field(default=0, ge=0, le=100,
                          description="how serious, 0 to 100: a higher one than the open escalation "
                                      "holds reaches the coach again, marked as worse")


class Action(StrictModel):
    """One thing a state does on entry. Exactly one key per action."""

    record: Record | None = None
    score: Name | None = None
    suggest_step: bool | None = None
    escalate: EscalateAction | None = None
    switch: Name | None = Field(default=None, description="start another script from its beginning")
    end: bool | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Action:
        chosen = [k for k in ("record", "score", "suggest_step", "escalate", "switch", "end")
                  if getattr(self, k) is not None]
        if len(chosen) != 1:
            raise ValueError("an action has exactly one of record, score, suggest_step, escalate, "
                             "switch, end")
        return self

    @property
    def kind(self) -> str:
        for key in ("record", "score", "suggest_step", "escalate", "switch", "end"):
            if getattr(self, key) is not None:
                return key
        raise AssertionError("validated to have one kind")


class State(StrictModel):
    """One step of a dialog: say something, maybe ask, store the answer, act, then move on."""

    say: str | None = None
    ask: Question | None = None
    store: Name | None = Field(default=None, description="record the answer as this measure")
    profile: ProfileField | None = Field(default=None, description="save the answer on the patient")
    actions: tuple[Action, ...] = ()
    use: Name | None = Field(default=None, description="run this block, then continue with next")
    next: str | None = None
    routes: tuple[Route, ...] = Field(default=(), alias="on")

    @model_validator(mode="after")
    def _consistent(self) -> State:
        if (self.store or self.profile) and self.ask is None:
            raise ValueError("store: and profile: need an ask: to take the answer from")
        if self.store and self.profile:
            raise ValueError("an answer is either a measure (store:) or a profile field (profile:)")
        if self.use and (self.ask or self.say or self.actions or self.routes):
            raise ValueError("a state with use: only runs the block and then goes to next:")
        if self.next and self.routes:
            raise ValueError("use next: or on:, not both (add a final route without when: instead)")
        return self

    @property
    def ends(self) -> bool:
        return any(a.end for a in self.actions) or any(a.switch for a in self.actions)


class ScriptFile(StrictModel):
    """A whole dialog (`script:`) or a reusable piece of one (`block:`)."""

    script: Name | None = None
    block: Name | None = None
    title: str = ""
    description: str = ""
    start: Name
    states: dict[Name, State] = Field(min_length=1)

    @model_validator(mode="after")
    def _script_or_block(self) -> ScriptFile:
        if (self.script is None) == (self.block is None):
            raise ValueError("a dialog file starts with exactly one of script: NAME or block: NAME")
        return self

    @property
    def name(self) -> str:
        return self.script or self.block or ""

    @property
    def is_block(self) -> bool:
        return self.block is not None


class Messages(StrictModel):
    """Every sentence the engine itself says (outside a script), so admins can change all of it."""

    reask: dict[QuestionType, str] = Field(
        description="what is accepted, per question type; may use {min}, {max}, {options}, {max_length}")
    offer_skip: str
    skipped: str
    cannot_skip: str
    help: str
    paused: str
    paused_days: str = Field(description="may use {days}")
    resumed: str
    stopped: str
    stopped_reply: str = Field(description="answer to a stopped patient who writes anything but /start")
    idle: str = Field(description="answer when the patient writes and no dialog is running")
    idle_while_alert_open: str = Field(
        default=("Thank you for telling me. Your coach knows what you told me earlier and will be in touch "
                 "in working hours. This chat is not watched day and night. If you need help now, call "
                 "NHS 111, or 999 if your life is at risk. To talk to someone at any time, call Samaritans "
                 "free on 116 123."),
        description="the idle answer while an urgent escalation waits for a coach: no steps offered")
    stale_button: str = Field(description="answer to a press on a question already answered")
    unknown_command: str = Field(
        default="Sorry, I do not know that command.",
        description="said before the help text when a patient types a command that does not exist")
    person_asked: str = Field(
        default="Thank you. I have asked your coach to get in touch. Coaches reply in working hours.",
        description="said when a message asks for a person; the asks_for_person escalation is raised with it")
    person_asked_reason: str = Field(
        default="The patient asked to speak to a person.",
        description="the reason on the coach's card for asks_for_person (never the patient's words)")
    setting_up_resumes: str = Field(
        default=("Getting help comes first. When you are ready, please answer the question below to "
                 "finish setting up, so I can check how you are each day."),
        description="said after a red-flag message typed during onboarding, before its question again")
    yes_label: str = "Yes"
    no_label: str = "No"
    name_fallback: str = Field(default="there", description="used for {name} before we know it")

    @model_validator(mode="after")
    def _every_type_has_a_reask(self) -> Messages:
        missing = sorted(set(get_args(QuestionType)) - set(self.reask))
        if missing:
            raise ValueError(f"reask needs a sentence for every question type; missing: {', '.join(missing)}")
        return self


PATIENT_COMMANDS = ("start", "checkin", "steps", "flareplan", "settings", "pause", "resume", "stop", "help",
                    "mydata", "forget")
"""The commands patients see in Telegram's menu, in this order."""
COACH_COMMANDS = ("start", "help", "queue", "patient", "note", "message", "close", "handover", "resolve",
                  "rebase", "pin", "block")
"""The commands coaches see in their own chat."""


class MediaReplies(StrictModel):
    """What the bot says when a patient sends something it cannot read, per kind of message."""

    photo: str
    sticker: str
    voice: str
    other: str = Field(description="videos, files, locations, contacts, polls...")


class ChannelMessages(StrictModel):
    """Every sentence the chat channel (Telegram) says on its own, for patients and for coaches.

    Each sentence may only use the placeholders listed in `CHANNEL_PLACEHOLDERS`; a typo such as
    `{lable}` is refused when the files load, not discovered in a coach's chat.
    """

    patient_commands: dict[str, str] = Field(
        description=f"menu descriptions, one per command: {', '.join(PATIENT_COMMANDS)}")
    coach_commands: dict[str, str] = Field(
        description=f"menu descriptions in coaches' chats: {', '.join(COACH_COMMANDS)}")
    unsupported_media: MediaReplies
    edited_message: str = Field(description="answer to an edited message (edits are not read as answers)")
    group_chat: str = Field(description="said once in a group the bot is added to, and to commands there")
    chosen_answer: str = Field(description="a question once its button is pressed; uses {question}, {answer}")
    button_expired: str = Field(max_length=200,
                                description="the short pop-up on a press that no longer counts")
    mydata_intro: str = Field(max_length=1024, description="caption of the /mydata file")
    mydata_filename: str = Field(default="my-coachbot-data.json", pattern=r"^[\w.-]{1,64}$")
    coach_greeting: str = Field(description="a registered coach's /start; uses {name}")
    coach_help: str
    coach_unknown_command: str
    coach_alert: str = Field(description="the alert card; uses {label}, {tier}, {rule}, {reason}, {evidence}")
    tier_labels: dict[Tier, str]
    no_evidence: str = "none"
    coach_tools: CoachWords

    @model_validator(mode="after")
    def _complete_and_filled(self) -> ChannelMessages:
        for what, given, expected in (("patient_commands", self.patient_commands, PATIENT_COMMANDS),
                                      ("coach_commands", self.coach_commands, COACH_COMMANDS)):
            missing = [c for c in expected if c not in given]
            unknown = sorted(set(given) - set(expected))
            if missing or unknown:
                raise ValueError(f"{what} needs exactly these commands: {', '.join(expected)}"
                                 + (f"; missing: {', '.join(missing)}" if missing else "")
                                 + (f"; unknown: {', '.join(unknown)}" if unknown else ""))
            for command, text in given.items():
                if not 3 <= len(text) <= 256:
                    raise ValueError(f"{what}.{command}: a description has 3 to 256 characters")
        missing_tiers = sorted(set(get_args(Tier)) - set(self.tier_labels))
        if missing_tiers:
            raise ValueError(f"tier_labels needs a label for every tier; missing: {', '.join(missing_tiers)}")
        own = {"patient_commands", "coach_commands", "coach_tools"}  # each checked on its own
        for key, value in self.model_dump(exclude=own).items():
            texts = value.items() if isinstance(value, dict) else [("", value)]
            for sub, text in texts:
                for placeholder in re.findall(r"\{([^{}]*)\}", str(text)):
                    allowed = CHANNEL_PLACEHOLDERS.get(key, frozenset())
                    if placeholder not in allowed:
                        where = f"{key}.{sub}" if sub else key
                        usable = ", ".join(f"{{{p}}}" for p in sorted(allowed)) or "no placeholders"
                        raise ValueError(f"{where}: {{{placeholder}}} is not filled in here; use {usable}")
        return self


CHANNEL_PLACEHOLDERS: dict[str, frozenset[str]] = {
    "chosen_answer": frozenset({"question", "answer"}),
    "coach_greeting": frozenset({"name"}),
    "coach_alert": frozenset({"label", "tier", "rule", "reason", "evidence"}),
}


class ServiceFile(StrictModel):
    """`dialogs/service.yaml`: which script does what, and the engine's own sentences."""

    entry: Name = Field(description="the script a new patient starts with")
    daily: Name
    weekly: Name
    settings: Name = Field(description="the script /settings starts (check-in time and time zone)")
    preempt: dict[
        Literal["overdose", "self_harm", "crisis", "abuse", "red_flag_emergency", "red_flag_urgent"], Name
    ]
    messages: Messages
    channel: ChannelMessages
