from __future__ import annotations

from pathlib import Path

import pytest

from coachbot.engine import Engine, PatientContext
from coachbot.spec import load_library
from coachbot.spec.library import DialogLibrary
from tests.support.engine_driver import EngineChat

DIALOGS = Path(__file__).resolve().parents[2] / "dialogs"


@pytest.fixture(scope="session")
def library() -> DialogLibrary:
    return load_library(DIALOGS)


@pytest.fixture(scope="session")
def engine(library: DialogLibrary) -> Engine:
    return Engine(library)


@pytest.fixture
def chat(engine: Engine) -> EngineChat:
    return EngineChat(engine)


@pytest.fixture
def onboarded_chat(engine: Engine) -> EngineChat:
    return EngineChat(engine, context=PatientContext(
        status="active", name="Sam", facts={"onboarded": 1, "days_in_care": 10, "open_step": 0}))
