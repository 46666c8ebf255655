"""What can happen to a conversation: the engine's inputs, as plain data."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Status = Literal["new", "active", "paused", "stopped"]


@dataclass(frozen=True, slots=True)
class TextMessage:
    """Anything the patient typed, commands included ("/help", "skip")."""

    text: str


@dataclass(frozen=True, slots=True)
class ButtonPress:
    """A press on an answer button; `state` is the question the keyboard was sent with."""

    state: str
    value: str


@dataclass(frozen=True, slots=True)
class StartDialog:
    """The service starts a script: a scheduled check-in, /checkin, a weekly review."""

    script: str


Event = TextMessage | ButtonPress | StartDialog


@dataclass(frozen=True, slots=True)
class PatientContext:
    """What the engine may know about the patient besides the conversation itself."""

    status: Status = "new"
    name: str | None = None
    facts: Mapping[str, float] = field(default_factory=dict)
