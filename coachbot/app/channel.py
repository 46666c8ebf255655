"""The port between the service and a chat channel: what comes in, what goes out, as plain data.

A channel adapter (adapters/telegram) turns its updates into `Inbound` values and implements `Channel`
to format outgoing messages; the service decides and writes `Outgoing` values to the outbox inside its
transaction. Nothing here imports the channel's library or the database, so the service stays testable
without either, and a second channel would implement the same port.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from coachbot.engine import Event, Reply

STALE_STATE = "<stale>"
"""The state a press is given when it was not for the question the patient is on: the engine answers
it with the stale-button message and records nothing."""

LANE_NOW = 0
"""Replies and coach alerts: drained first."""
LANE_BULK = 1
"""Scheduled and bulk sending."""


def question_token(script: str, state: str) -> str:
    """A short, stable name for a question, small enough for Telegram's 64-byte callback_data.

    A press carries it back; it counts only if it still names the patient's current question.
    """
    digest = hashlib.blake2b(f"{script}/{state}".encode(), digest_size=6).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class EscalationNotice:
    """What a coach must hear about: pseudonymous label, rule, tier and the numbers behind it."""

    escalation_id: int
    patient_label: str
    tier: str
    rule: str
    reason: str
    evidence: dict[str, Any]
    is_new: bool
    opened_at: dt.datetime | None = None
    #: When a coach must have acknowledged it (escalation.yaml's deadline for the tier).
    due_at: dt.datetime | None = None
    #: The patient's name, only when the service shows names on alerts (COACHBOT_ALERT_SHOW_NAME).
    patient_name: str | None = None
    #: Set on a re-send to the backup coaches: how long it has waited unacknowledged.
    waited: dt.timedelta | None = None
    #: Set on a card re-sent because the patient said something worse: that statement.
    worse: str | None = None
    #: Set (with `waited`) on a re-send of an acknowledged escalation past its resolution deadline.
    unresolved: bool = False


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One row for the outbox; `chat_id` None means the chat the update came from."""

    kind: str
    payload: dict[str, Any]
    chat_id: int | None = None
    lane: int = LANE_NOW
    patient_id: int | None = None
    escalation_id: int | None = None


# -- inbound: what a channel update can mean, besides the engine's own events ----------------------

@dataclass(frozen=True, slots=True)
class Press:
    """A tap on an answer button, resolved against the patient's position inside the transaction.

    `on_current` is sent when the press counts (e.g. the question edited to show the answer),
    `on_stale` when it does not. `index` replaces `value` for an option too long for callback_data.
    `forged` marks callback data the bot never sent to this chat: answered as stale and logged.
    """

    token: str
    value: str
    index: int | None = None
    on_current: tuple[Outgoing, ...] = ()
    on_stale: tuple[Outgoing, ...] = ()
    forged: bool = False


@dataclass(frozen=True, slots=True)
class Notice:
    """A fixed answer that needs no patient (a sticker, a group): recorded as processed, then sent."""

    rows: tuple[Outgoing, ...] = ()


@dataclass(frozen=True, slots=True)
class EditedText:
    """An edited message: not an answer, unless it holds words of crisis, which are always heard."""

    text: str
    notice: tuple[Outgoing, ...] = ()


@dataclass(frozen=True, slots=True)
class ChannelCommand:
    """A command the channel offers beyond the engine's words: /checkin, /settings, /mydata. `text` is
    the whole message as typed, so words written after the command are screened like any other."""

    name: Literal["checkin", "settings", "mydata"]
    text: str = ""


@dataclass(frozen=True, slots=True)
class EscalationPress:
    """A coach's tap on an alert card's button (`action`: ack, resolve, message), by Telegram user;
    `shown` is the card as it reads now, so the edit can add who acknowledged or resolved it."""

    action: str
    escalation_id: int
    user_id: int
    message_id: int
    shown: str = ""
    photo: bool = False


@dataclass(frozen=True, slots=True)
class ReachabilityChange:
    """The person blocked (or unblocked) the bot."""

    blocked: bool


Inbound = Event | Press | Notice | EditedText | ChannelCommand | ReachabilityChange | EscalationPress


# -- outbound ---------------------------------------------------------------------------------------

class OutboxRow(Protocol):
    """A stored outbox row, as a database adapter reads it."""

    id: int
    chat_id: int
    lane: int
    kind: str
    payload: dict[str, Any]
    not_before: dt.datetime
    attempts: int
    patient_id: int | None
    escalation_id: int | None


@dataclass(frozen=True, slots=True)
class QueuedMessage:
    """An outbox row as the sender needs it, detached from any session."""

    id: int
    chat_id: int
    lane: int
    kind: str
    payload: dict[str, Any]
    not_before: dt.datetime
    attempts: int
    patient_id: int | None
    escalation_id: int | None
    label: str | None

    @classmethod
    def of(cls, row: OutboxRow, label: str | None) -> QueuedMessage:
        return cls(id=row.id, chat_id=row.chat_id, lane=row.lane, kind=row.kind, payload=row.payload,
                   not_before=row.not_before, attempts=row.attempts, patient_id=row.patient_id,
                   escalation_id=row.escalation_id,
                   label=label or (f"escalation:{row.escalation_id}" if row.escalation_id else None))


@dataclass(slots=True)
class UpdateResult:
    """What one update did: the rows now queued, and what the channel must do right away."""

    duplicate: bool = False
    outgoing: list[Outgoing] = field(default_factory=list)
    queued: list[QueuedMessage] = field(default_factory=list)
    label: str | None = None
    patient_id: int | None = None
    #: For a press: True when it counted, False when it was stale; None for anything else.
    accepted_press: bool | None = None
    #: A registered coach said /start: their command menu should be set.
    coach_started: bool = False


class Channel(Protocol):
    """Formatting, implemented by a channel adapter; every word comes from the dialog files."""

    def replies(self, replies: Sequence[Reply], token: str | None) -> list[Outgoing]:
        """The engine's replies as messages; buttons carry `token` to name their question."""
        ...

    def coach_alert(self, notice: EscalationNotice, chat_id: int) -> Outgoing: ...

    def text(self, text: str, chat_id: int | None = None) -> list[Outgoing]:
        """Plain words as one or more messages (split at the channel's limit)."""
        ...

    def coach_message(self, kind: Literal["greeting", "help", "unknown"], name: str) -> Outgoing: ...

    def my_data(self, export: dict[str, Any]) -> list[Outgoing]: ...
