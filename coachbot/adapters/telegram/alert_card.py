"""The alert card a coach receives: the 14-day chart as a photo, the evidence as its caption, and
the buttons Acknowledge, Resolve and Message patient. With no answers to draw (no check-ins yet), the
card is text, with a line that says so, rather than a photo of an empty frame.

The chart is not drawn here: the outbox row carries the chart's data, and the sender draws the PNG
just before sending it (`outbox_calls.py`), so the transaction that raises an escalation never waits
for matplotlib, and a drawing that fails still sends the card as text. Every word comes from
service.yaml (`channel.coach_alert`, `tier_labels`) and escalation.yaml (`coach_card:`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from coachbot.adapters.telegram.keyboards import Layout
from coachbot.app.channel import EscalationNotice, Outgoing
from coachbot.spec.escalation_rules import CoachCard
from coachbot.spec.model import ChannelMessages

CALLBACK_PREFIX = "esc"
ACTIONS = ("ack", "resolve", "message")
SKIPPED_EVIDENCE = frozenset({"last_days", "baselines", "rule", "tier", "kind", "values", "measure",
                              "baseline", "threshold", "change", "at_least", "percent",
                              "history", "severity", "alerted_at"})


def callback(action: str, escalation_id: int) -> str:
    return f"{CALLBACK_PREFIX}:{action}:{escalation_id}"


def parse(data: str | None) -> tuple[str, int] | None:
    """(action, escalation id) of an alert button, or None for any other callback data."""
    parts = (data or "").split(":")
    if len(parts) != 3 or parts[0] != CALLBACK_PREFIX or parts[1] not in ACTIONS or not parts[2].isdigit():
        return None
    return parts[1], int(parts[2])


def keyboard(card: CoachCard, escalation_id: int, *, acknowledged: bool = False) -> Layout:
    """Acknowledge and Resolve side by side, Message patient under them; once acknowledged, no
    Acknowledge."""
    first = [] if acknowledged else [[card.acknowledge_button, callback("ack", escalation_id)]]
    return [[*first, [card.resolve_button, callback("resolve", escalation_id)]],
            [[card.message_button, callback("message", escalation_id)]]]


def card_text(messages: ChannelMessages, card: CoachCard, notice: EscalationNotice, zone: dt.tzinfo) -> str:
    label = notice.patient_label + (f" ({notice.patient_name})" if notice.patient_name else "")
    tier = messages.tier_labels.get(notice.tier, notice.tier)  # type: ignore[call-overload]
    text = (messages.coach_alert.replace("{label}", label).replace("{tier}", tier)
            .replace("{rule}", notice.rule).replace("{reason}", " ".join(notice.reason.split()))
            .replace("{evidence}", evidence_text(card, notice.evidence) or messages.no_evidence)).strip()
    if notice.opened_at is not None and notice.due_at is not None:
        text += "\n" + card.deadline.format(id=notice.escalation_id, opened=when(notice.opened_at, zone),
                                            due=when(notice.due_at, zone))
    if notice.waited is not None:
        said = card.unresolved if notice.unresolved else card.realert
        text = said.format(waited=duration(notice.waited)) + "\n\n" + text
    if notice.worse is not None:  # first, so it is the line a coach's notification shows
        text = card.worse.format(latest=" ".join(notice.worse.split())) + "\n\n" + text
    return text


def evidence_text(card: CoachCard, evidence: dict[str, Any]) -> str:
    """The numbers behind the alert: a rule's values with their dates, baseline and threshold; a
    dialog's answers as code=value; the usual levels last."""
    parts: list[str] = []
    values = evidence.get("values")
    if isinstance(values, list) and values:
        said = ", ".join(f"{v.get('date')} {number(v.get('value'))}" for v in values if isinstance(v, dict))
        if "baseline" in evidence:
            parts.append(card.evidence_values.format(
                measure=evidence.get("measure", ""), values=said, baseline=number(evidence.get("baseline")),
                threshold=number(evidence.get("threshold"))))
        else:
            parts.append(f"{evidence.get('measure', '')}: {said}")
    for key, value in sorted(evidence.items()):
        if key in SKIPPED_EVIDENCE:
            continue
        shown = ", ".join(str(v) for v in value) if isinstance(value, list) else number(value)
        parts.append(f"{key}={shown}")
    baselines = evidence.get("baselines")
    if isinstance(baselines, dict) and "baseline" not in evidence:
        usual = [f"{k}={number(v)}" for k, v in sorted(baselines.items()) if v is not None]
        if usual:
            parts.append(f"usual {', '.join(usual)}")
    return "; ".join(parts)


def chart_data(card: CoachCard, notice: EscalationNotice) -> dict[str, Any] | None:
    """What the sender draws: each evidence day's pain and mood, the baselines and the missed days."""
    days = notice.evidence.get("last_days")
    if not isinstance(days, list) or not days:
        return None
    baselines = notice.evidence.get("baselines") or {}
    return {
        "days": [d.get("date") for d in days],
        "pain": [d.get("pain_now") for d in days],
        "mood": [d.get("mood_now") for d in days],
        "checkin": [d.get("checkin") for d in days],
        "pain_baseline": baselines.get("pain_now"), "mood_baseline": baselines.get("mood_now"),
        "title": card.chart_title.format(label=notice.patient_label, days=len(days)),
        "labels": {"pain": card.chart_pain, "mood": card.chart_mood, "baseline": card.chart_baseline,
                   "missed": card.chart_missed, "scale": card.chart_scale},
    }


def has_answers(chart: dict[str, Any]) -> bool:
    """Whether any day of the chart has a pain or mood answer to draw."""
    return any(isinstance(v, int | float) for key in ("pain", "mood") for v in chart[key])


def when(at: dt.datetime, zone: dt.tzinfo) -> str:
    return at.astimezone(zone).strftime("%a %d %b %H:%M")


def duration(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours < 48 else f"{hours // 24} days"


def number(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def alert(messages: ChannelMessages, card: CoachCard, notice: EscalationNotice, chat_id: int, *,
          zone: dt.tzinfo, caption_limit: int) -> Outgoing:
    """The card as one outbox row: a photo (drawn at send time) with the text as its caption."""
    from coachbot.adapters.telegram.messages_out import shorten  # noqa: PLC0415 (a cycle otherwise)

    text = card_text(messages, card, notice, zone)
    buttons = keyboard(card, notice.escalation_id)
    chart = chart_data(card, notice)
    if chart is not None and not has_answers(chart):  # an empty frame tells the coach nothing
        text += "\n" + card.chart_empty.format(days=len(chart["days"]))
        chart = None
    if chart is None:
        return Outgoing(kind="text", payload={"text": shorten(text, 4096), "keyboard": buttons},
                        chat_id=chat_id, escalation_id=notice.escalation_id)
    return Outgoing(kind="photo", payload={"chart": chart, "caption": shorten(text, caption_limit),
                                           "keyboard": buttons},
                    chat_id=chat_id, escalation_id=notice.escalation_id)
