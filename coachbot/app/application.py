"""The built application a channel serves: made by `coachbot.bootstrap`, handed to every adapter."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from coachbot.app.pipeline import PatientService
from coachbot.app.self_management.service import SelfManagement
from coachbot.engine import Engine
from coachbot.spec.library import DialogLibrary
from coachbot.spec.steps import StepLibrary


@dataclass(slots=True)
class App:
    """Everything a channel (terminal, Telegram) needs to serve patients."""

    db: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    library: DialogLibrary
    engine: Engine
    patients: PatientService
    steps: StepLibrary | None = None
    care: SelfManagement | None = None

    async def close(self) -> None:
        await self.db.dispose()
