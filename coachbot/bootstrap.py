"""The one place that wires the pieces together; tests wire their own clock and database here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.migrate import upgrade_async
from coachbot.engine import Engine
from coachbot.app.self_management.service import SelfManagement
from coachbot.app.data_rights.texts import load_texts as load_rights_texts
from coachbot.app.pipeline import Clock, PatientService, system_clock
from coachbot.spec import load_library
from coachbot.spec.library import DialogLibrary
from coachbot.spec.steps import StepLibrary, load_steps


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


async def build_app(database_url: str, dialogs_dir: Path, *, clock: Clock = system_clock,
                    migrate: bool = True) -> App:
    """Load and validate the dialogs, bring the schema up to date, and build the service."""
    library = load_library(dialogs_dir)
    db = make_engine(database_url)
    if migrate:  # through the app's engine: one connection, which the pool then keeps
        try:
            await upgrade_async(database_url, engine=db)
        except BaseException:
            await db.dispose()
            raise
    sessions = make_sessionmaker(db)
    engine = Engine(library)
    steps_file = dialogs_dir / "steps.yaml"
    care = SelfManagement.load(dialogs_dir, library.service)
    steps = care.steps if care is not None else load_steps(steps_file) if steps_file.exists() else None
    patients = PatientService(sessions, engine, clock, steps=steps, care=care)
    patients.rights.texts = load_rights_texts(dialogs_dir)  # dialogs/forget.yaml
    return App(db=db, sessions=sessions, library=library, engine=engine, patients=patients, steps=steps,
               care=care)
