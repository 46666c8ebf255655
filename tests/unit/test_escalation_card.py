"""The alert card: its 14-day chart is a valid PNG, its words and buttons, and a chart that cannot be
drawn still sends the card."""

from __future__ import annotations

import datetime as dt
import io
import struct
from dataclasses import replace
from pathlib import Path
from typing import Any

from PIL import Image

from coachbot.adapters.charts import render_escalation_chart
from coachbot.adapters.telegram import alert_card, outbox_calls
from coachbot.adapters.telegram.messages_out import TelegramChannel
from coachbot.app.channel import EscalationNotice, QueuedMessage
from coachbot.care.escalation_rules import Measurement, PatientHistory, check_escalation_file, evaluate
from tests.support.coachbot_telegram import DIALOGS, library

NOW = dt.datetime(2026, 3, 16, 20, 0, tzinfo=dt.UTC)


def pain_hit() -> EscalationNotice:
    """A real evaluation: usual pain 3, then 6 on the last three days, some days missed."""
    rules = library().escalation
    assert rules is not None
    days = [NOW - dt.timedelta(days=n) for n in (0, 1, 2, 5, 9, 13)]
    measurements = [Measurement(NOW - dt.timedelta(days=30), "pain_baseline", 3),
                    Measurement(NOW - dt.timedelta(days=30), "mood_baseline", 6)]
    measurements += [Measurement(at, "pain_now", 6 if at > NOW - dt.timedelta(days=3) else 3) for at in days]
    measurements += [Measurement(at, "mood_now", 5) for at in days]
    checkins = {(NOW - dt.timedelta(days=n)).date(): "missed" for n in (3, 4)}
    [hit] = evaluate(rules, PatientHistory(dt.UTC, tuple(measurements), checkins), NOW)  # type: ignore[arg-type]
    return EscalationNotice(escalation_id=7, patient_label="P-4KX7QM", tier=hit.tier, rule=hit.rule,
                            reason=hit.reason, evidence=hit.evidence, is_new=True, opened_at=NOW,
                            due_at=NOW + dt.timedelta(days=1))


def channel() -> TelegramChannel:
    lib = library()
    return TelegramChannel(lib.service.channel, lib.escalation)


def test_the_chart_is_a_valid_png_of_the_last_14_days_with_baselines_and_missed_days() -> None:
    card = channel().coach_alert(pain_hit(), 900)
    chart = card.payload["chart"]
    assert card.kind == "photo"
    assert len(chart["days"]) == 14 and chart["days"][-1] == NOW.date().isoformat()
    assert chart["days"][0] == (NOW.date() - dt.timedelta(days=13)).isoformat()
    assert chart["pain_baseline"] == 3 and chart["mood_baseline"] == 6
    assert chart["checkin"].count("missed") == 2 and chart["pain"][-3:] == [6, 6, 6]
    png = render_escalation_chart(chart)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", png[16:24])
    image = Image.open(io.BytesIO(png))
    image.verify()
    assert (width, height) == image.size and width > 600 and height > 300


def test_the_card_names_rule_tier_evidence_and_deadline_with_three_buttons() -> None:
    card = channel().coach_alert(pain_hit(), 900)
    caption = card.payload["caption"]
    assert caption.startswith("Soon (next working day) alert for patient P-4KX7QM")
    assert "Rule: pain_worse" in caption
    assert "pain_now: 2026-03-14 6, 2026-03-15 6, 2026-03-16 6 (usual 3, alert at 4)" in caption
    assert "Escalation 7: raised Mon 16 Mar 20:00, to be acknowledged by Tue 17 Mar 20:00." in caption
    assert [[label for label, _ in row] for row in card.payload["keyboard"]] == [
        ["Acknowledge", "Resolve"], ["Message patient"]]
    assert [data for row in card.payload["keyboard"] for _, data in row] == [
        "esc:ack:7", "esc:resolve:7", "esc:message:7"]
    assert alert_card.parse("esc:ack:7") == ("ack", 7) and alert_card.parse("abc:7") is None
    assert alert_card.parse("esc:delete:7") is None and alert_card.parse("esc:ack:x") is None


def test_the_name_is_shown_only_when_the_notice_carries_it() -> None:
    named = channel().coach_alert(replace(pain_hit(), patient_name="Alex"), 900)
    assert "P-4KX7QM (Alex)" in named.payload["caption"]
    assert "Alex" not in channel().coach_alert(pain_hit(), 900).payload["caption"]


class RecordingBot:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def send_photo(self, chat_id: int, **kwargs: Any) -> Any:
        self.calls.append(("send_photo", kwargs))
        return type("Sent", (), {"message_id": 1})()

    async def send_message(self, chat_id: int, text: str, **kwargs: Any) -> Any:
        self.calls.append(("send_message", {"text": text, **kwargs}))
        return type("Sent", (), {"message_id": 2})()


def row(payload: dict[str, Any]) -> QueuedMessage:
    return QueuedMessage(id=1, chat_id=900, lane=0, kind="photo", payload=payload, not_before=NOW, attempts=0,
                         patient_id=None, escalation_id=7, label=None)


async def test_the_sender_draws_the_chart_and_a_chart_that_fails_still_sends_the_card_as_text() -> None:
    card = channel().coach_alert(pain_hit(), 900)
    bot = RecordingBot()
    assert await outbox_calls.call(bot, row(card.payload)) == 1  # type: ignore[arg-type]
    [(method, sent)] = bot.calls
    assert method == "send_photo" and sent["photo"][:4] == b"\x89PNG"
    assert sent["caption"] == card.payload["caption"]
    broken = {**card.payload, "chart": {"days": []}}
    assert await outbox_calls.call(bot, row(broken)) == 2  # type: ignore[arg-type]
    assert bot.calls[-1][0] == "send_message" and bot.calls[-1][1]["text"] == card.payload["caption"]
    assert bot.calls[-1][1]["reply_markup"] is not None


def test_a_card_sentence_with_a_placeholder_it_cannot_fill_is_refused_with_its_line(tmp_path: Path) -> None:
    shipped = (DIALOGS / "escalation.yaml").read_text()
    broken = tmp_path / "escalation.yaml"
    broken.write_text(shipped.replace("to be acknowledged by {due}.", "to be acknowledged by {deu}."))
    [problem] = check_escalation_file(broken)
    assert "{deu} is not filled in here" in problem.message and "{due}" in (problem.fix or "")
    assert problem.line == 1 + shipped.splitlines().index(
        '  deadline: "Escalation {id}: raised {opened}, to be acknowledged by {due}."')


def test_a_card_resent_for_a_worse_statement_says_worse_first_and_shows_no_bookkeeping() -> None:
    notice = pain_hit()
    kept = {**notice.evidence, "severity": 3, "alerted_at": NOW.isoformat(),
            "history": [{"at": NOW.isoformat(), "reason": "earlier", "severity": 1}]}
    worse = replace(notice, evidence=kept, is_new=False, worse="Said they have a plan\n and the means.")
    caption = channel().coach_alert(worse, 900).payload["caption"]
    first_line = caption.splitlines()[0]
    assert first_line.startswith("WORSE: ") and "Said they have a plan and the means." in first_line
    assert "history=" not in caption and "severity=" not in caption and "alerted_at" not in caption
    plain = channel().coach_alert(notice, 900).payload["caption"]
    assert not plain.startswith("WORSE")


def test_a_card_resent_past_its_resolution_deadline_says_it_was_acknowledged_but_not_resolved() -> None:
    notice = replace(pain_hit(), waited=dt.timedelta(hours=24), unresolved=True)
    caption = channel().coach_alert(notice, 900).payload["caption"]
    assert caption.startswith("Acknowledged but not resolved 24 h 00 min later")
    waiting = replace(pain_hit(), waited=dt.timedelta(hours=1))
    assert channel().coach_alert(waiting, 900).payload["caption"].startswith("Not acknowledged 1 h 00 min")
