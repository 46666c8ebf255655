"""A patient service with self-management on the shipped files, for tests that use steps and flare-ups."""

from __future__ import annotations

from functools import cache

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.telegram.messages_out import TelegramChannel
from coachbot.app.pipeline import PatientService
from coachbot.app.self_management.population_prior import PriorCache
from coachbot.app.self_management.service import SelfManagement
from coachbot.engine import Engine
from tests.support.basics import DIALOGS, Clock, library


@cache
def care() -> SelfManagement:
    """The shipped steps and texts, loaded once per run."""
    loaded = SelfManagement.load(DIALOGS, library().service)
    assert loaded is not None
    return loaded


def make_service(sessions: async_sessionmaker[AsyncSession], clock: Clock,
                 prior: PriorCache | None = None) -> PatientService:
    """A service whose self-management has a prior cache of its own (none shared between tests)."""
    base = care()
    fresh = SelfManagement(base.steps, base.texts, base.summary, base.service, prior=prior or PriorCache())
    return PatientService(sessions, Engine(library()), clock, care=fresh,
                          channel=TelegramChannel(library().service.channel))
