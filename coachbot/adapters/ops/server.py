"""The health and metrics endpoints, served on the bot's own event loop by tornado (which PTB's
webhooks bring), so they answer exactly while the bot's loop runs and need no thread of their own.

- `/healthz`: 200 while the process runs (liveness: restart it when this stops answering);
- `/readyz`: 200, or 503 with one sentence saying what is wrong (`readings.readiness_problem`);
- `/metrics`: Prometheus' text exposition of `metrics.REGISTRY`, the database gauges read first.

Nothing here logs a request at INFO: a probe every few seconds would bury the bot's own log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from tornado.httpserver import HTTPServer
from tornado.web import Application, RequestHandler

from coachbot.adapters.ops import metrics
from coachbot.adapters.ops.readings import Sessions, read, readiness_problem

log = logging.getLogger("coachbot.ops")

Clock = Callable[[], dt.datetime]
SCRAPE_SECONDS = 5.0
"""The database gauges give up after this; the scrape then shows `coachbot_database_up 0`."""


class OpsServerError(Exception):
    """The endpoints cannot be served (the port is taken); the message is one sentence."""


class _Base(RequestHandler):
    def initialize(self, **context: Any) -> None:  # tornado passes the Application's route kwargs
        self.context = context

    def plain(self, status: int, line: str) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        self.set_header("Cache-Control", "no-store")
        self.finish(line + "\n")


class _Health(_Base):
    def get(self) -> None:
        self.plain(200, "ok")


class _Ready(_Base):
    async def get(self) -> None:
        ctx = self.context
        problem = await readiness_problem(ctx["sessions"], ctx["clock"](), ctx["max_age"])
        self.plain(503 if problem else 200, problem or "ready")


class _Metrics(_Base):
    async def get(self) -> None:
        ctx = self.context
        try:
            async with asyncio.timeout(SCRAPE_SECONDS), ctx["sessions"]() as session:
                metrics.database_gauges.readings = await read(session, ctx["clock"]())
        except Exception as exc:  # the scrape still shows the counters, and database_up 0
            log.warning("metrics: the database gauges could not be read (%s)", type(exc).__name__)
            metrics.database_gauges.readings = None
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest(metrics.REGISTRY))


def _quiet(handler: RequestHandler) -> None:
    """tornado's access log at DEBUG only (its default logs every 503 as an error)."""
    log.debug("%s %s %d", handler.request.method, handler.request.path, handler.get_status())


class OpsServer:
    """`/healthz`, `/readyz` and `/metrics` on `listen`:`port`; `start` and `stop` on the bot's loop."""

    def __init__(self, sessions: Sessions, clock: Clock, *, listen: str, port: int,
                 outbox_max_age: float) -> None:
        self.listen, self.port = listen, port
        context = {"sessions": sessions, "clock": clock, "max_age": outbox_max_age}
        self.application = Application(
            [("/healthz", _Health, context), ("/readyz", _Ready, context), ("/metrics", _Metrics, context)],
            log_function=_quiet)
        self._server: HTTPServer | None = None

    def start(self) -> None:
        try:
            self._server = self.application.listen(self.port, self.listen)
        except OSError as exc:
            raise OpsServerError(
                f"cannot serve the health and metrics endpoints on {self.listen}:{self.port} "
                f"({exc.strerror or type(exc).__name__}); choose another COACHBOT_OPS_PORT or "
                "COACHBOT_OPS_LISTEN, or set the port to 0 to turn them off.") from None
        log.info("health and metrics endpoints on http://%s:%d/ (healthz, readyz, metrics)",
                 self.listen, self.port)

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.stop()
        await self._server.close_all_connections()
        self._server = None
