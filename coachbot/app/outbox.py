"""The one writer of outbox rows: every reply, card and reminder a use case sends goes through `queue`.

The rows are written in the use case's unit of work, so they commit with the change that caused them
(or not at all), and the sender delivers them after the commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from coachbot.app.channel import Outgoing, QueuedMessage
from coachbot.app.unit_of_work import UnitOfWork


async def queue(uow: UnitOfWork, outgoing: Sequence[Outgoing], *, chat_id: int, now: dt.datetime,
                patient_id: int | None = None, label: str | None = None) -> list[QueuedMessage]:
    """One row per message, in order, sent from the conversation in `chat_id` (a message without a
    chat of its own goes there and carries `patient_id`); the rows as the sender needs them, labelled
    for the logs with `label` (the patient's) or, for a coach's card, its escalation."""
    rows = await uow.outbox.queue(outgoing, chat_id=chat_id, patient_id=patient_id, now=now)
    return [QueuedMessage(id=row["id"], chat_id=row["chat_id"], lane=row["lane"], kind=row["kind"],
                          payload=row["payload"], not_before=now, attempts=0, patient_id=row["patient_id"],
                          escalation_id=row["escalation_id"],
                          label=label if item.chat_id is None else (
                              f"escalation:{item.escalation_id}" if item.escalation_id else None))
            for item, row in zip(outgoing, rows, strict=True)]
