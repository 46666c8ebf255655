"""Every metric coachbot exposes, in one registry of its own, so a scrape shows only these.

Counters are fed where things happen: `updates_handled` by the Telegram app when an update is done,
`count_send` by the outbox sender around each Telegram call. The rest is read from the database on
each scrape (`DatabaseGauges`): the backlog (outbox, escalations, today's check-ins) and the answers
stored (the measurements table's highest id), since the database is the truth, a second process or a
restart would leave an in-memory number wrong, and nothing is added to an answer's path.
Labels are fixed words only (results, tiers, lanes, states): never a label, a chat id or any text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterator
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from coachbot.adapters.ops.readings import CHECKIN_STATES, LANES, TIERS, Readings

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # CPU, memory and open files of the bot's process
PlatformCollector(registry=REGISTRY)

updates_handled = Counter(
    "coachbot_updates_handled", "Telegram updates handled (applied, recognised as repeats, or failed)",
    registry=REGISTRY)
SEND_RESULTS = ("sent", "rate_limited", "network_error", "blocked", "refused", "failed", "error")
"""rate_limited is Telegram's 429; blocked its 403; refused its 400; failed another Telegram error;
error anything unexpected (a bug, or a chart that could not be drawn)."""
sends = Counter("coachbot_outbox_sends", "outbox sends to Telegram by result (rate_limited = HTTP 429)",
                ["result"], registry=REGISTRY)
for _result in SEND_RESULTS:
    sends.labels(_result)  # every series exists from the start, at 0, so rate() and alerts see it

T = TypeVar("T")


def send_result(error: BaseException | None) -> str:
    """The `result` label for a send that ended with `error` (None: it went)."""
    if error is None:
        return "sent"
    kinds: tuple[tuple[type[BaseException], str], ...] = (
        (Forbidden, "blocked"), (RetryAfter, "rate_limited"), (BadRequest, "refused"),
        (NetworkError, "network_error"), (TelegramError, "failed"))
    if isinstance(error, BadRequest) and "not modified" in error.message.lower():
        return "sent"  # an edit that was already made: the sender counts it as done
    return next((label for kind, label in kinds if isinstance(error, kind)), "error")


async def count_send(call: Awaitable[T]) -> T:
    """Await one Telegram send and count its result; whatever it raises goes on unchanged."""
    try:
        result = await call
    except Exception as exc:
        sends.labels(send_result(exc)).inc()
        raise
    sends.labels("sent").inc()
    return result


class DatabaseGauges(Collector):
    """The backlog gauges, from the `Readings` the server took just before rendering a scrape."""

    def __init__(self) -> None:
        self.readings: Readings | None = None

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("coachbot_database_up", "1 when the last scrape could read the database")
        up.add_metric([], 0 if self.readings is None else 1)
        yield up
        if self.readings is None:
            return  # no stale numbers: a gauge that is missing alerts as "absent", a wrong one does not
        yield from self.readings_metrics(self.readings)

    @staticmethod
    def readings_metrics(readings: Readings) -> Iterator[Metric]:
        answers = CounterMetricFamily("coachbot_answers_stored", "answers (measurements) ever stored: the "
                                      "table's highest id, so it survives restarts")
        answers.add_metric([], readings.answers_stored)
        yield answers
        yield from DatabaseGauges.backlog_metrics(readings)

    @staticmethod
    def backlog_metrics(readings: Readings) -> Iterator[Metric]:
        depth = GaugeMetricFamily("coachbot_outbox_depth", "unsent outbox messages (counted up to "
                                  "readings.DEPTH_CAP), by lane: reply (replies, alerts) or bulk",
                                  labels=["lane"])
        age = GaugeMetricFamily("coachbot_outbox_oldest_age_seconds", "how long the oldest unsent outbox "
                                "message has waited, by lane (0 when none waits)", labels=["lane"])
        for lane in LANES:
            depth.add_metric([lane], readings.outbox_depth.get(lane, 0))
            age.add_metric([lane], readings.outbox_oldest_age.get(lane, 0.0))
        open_ = GaugeMetricFamily("coachbot_escalations_open", "escalations no coach has acknowledged yet, "
                                  "by tier", labels=["tier"])
        oldest = GaugeMetricFamily("coachbot_escalation_oldest_unacknowledged_seconds", "how long the "
                                   "oldest unacknowledged escalation has been open, by tier (0 when none)",
                                   labels=["tier"])
        for tier in TIERS:
            open_.add_metric([tier], readings.escalations_open.get(tier, 0))
            oldest.add_metric([tier], readings.escalation_oldest_age.get(tier, 0.0))
        checkins = GaugeMetricFamily("coachbot_checkins_today", "check-ins of today's date (UTC) by "
                                     "state, as `coachbot schedule status` counts them", labels=["state"])
        for state in CHECKIN_STATES:
            checkins.add_metric([state], readings.checkins.get(state, 0))
        yield from (depth, age, open_, oldest, checkins)


database_gauges = DatabaseGauges()
REGISTRY.register(database_gauges)
