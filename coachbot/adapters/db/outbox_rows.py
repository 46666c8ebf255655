"""The one place an outbox row's values are decided, whoever writes it (an update, a due check-in, a
reminder, a re-alert, a missed check-in's evaluation).

A message without a chat of its own goes to the patient's chat and carries the patient's id, so a 403 from
Telegram marks that patient unreachable and a `stop` cancels it. A message to another chat (a coach's card)
carries only what its sender put on it: a coach who blocked the bot never marks a patient unreachable.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol


class OutgoingLike(Protocol):
    """What an outbox row is built from (`coachbot.app.channel.Outgoing`)."""

    kind: str
    payload: dict[str, Any]
    chat_id: int | None
    lane: int
    patient_id: int | None
    escalation_id: int | None


def outbox_values(item: OutgoingLike, *, chat_id: int, patient_id: int | None,
                  now: dt.datetime) -> dict[str, Any]:
    """The column values of one outbox row for `item`, sent from the conversation in `chat_id`."""
    own_chat = item.chat_id is None
    return {"chat_id": chat_id if own_chat else item.chat_id, "lane": item.lane, "kind": item.kind,
            "payload": item.payload, "created_at": now, "not_before": now, "attempts": 0,
            "patient_id": patient_id if own_chat else item.patient_id,
            "escalation_id": item.escalation_id}
