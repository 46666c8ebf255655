"""Every metric coachbot exposes, in one registry of its own, so a scrape shows only these.

Counters are fed where things happen (`counts`: the Telegram app counts an update when it is done,
the outbox sender each Telegram call's result) and read here at each scrape, so this module and
`prometheus_client` are imported only when the endpoint is served. The rest is read from the database on
each scrape (`DatabaseGauges`): the backlog (outbox, escalations, today's check-ins) and the answers
stored (the measurements table's highest id), since the database is the truth, a second process or a
restart would leave an in-memory number wrong, and nothing is added to an answer's path.
Labels are fixed words only (results, tiers, lanes, states): never a label, a chat id or any text.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from coachbot.adapters.ops.counts import COUNTS, SEND_RESULTS
from coachbot.adapters.ops.readings import CHECKIN_STATES, LANES, TIERS, Readings

REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)  # CPU, memory and open files of the bot's process
PlatformCollector(registry=REGISTRY)


class CountsCollector(Collector):
    """The process's counters (`counts.COUNTS`) as Prometheus counters, read at each scrape."""

    def collect(self) -> Iterator[Metric]:
        updates = CounterMetricFamily("coachbot_updates_handled", "Telegram updates handled (applied, "
                                      "recognised as repeats, or failed)")
        updates.add_metric([], COUNTS.updates_handled)
        sends = CounterMetricFamily("coachbot_outbox_sends", "outbox sends to Telegram by result "
                                    "(rate_limited = HTTP 429)", labels=["result"])
        for result in SEND_RESULTS:
            sends.add_metric([result], COUNTS.sends[result])
        yield from (updates, sends)


REGISTRY.register(CountsCollector())


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
