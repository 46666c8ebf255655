from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from coachbot.engine import Engine, PatientContext
from coachbot.spec import load_library
from coachbot.spec.library import DialogLibrary
from tests.support.engine_driver import EngineChat

DIALOGS = Path(__file__).resolve().parents[2] / "dialogs"
DETECTOR_FAILED = "trigger detection failed"
"""What `TriggerSet` logs when the matcher raised and it reported a crisis to fail safe."""


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "detector_failure: the test makes the trigger detector fail on purpose")


class _DetectorFailures(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith(DETECTOR_FAILED):
            self.count += 1


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A detector crash fails the test that caused it. The fail-safe turns a crash into a crisis
    detection, so a test that checks only the kind ("crisis") would otherwise pass on a broken matcher."""
    watcher = _DetectorFailures()
    logger = logging.getLogger("coachbot.care.triggers")
    logger.addHandler(watcher)
    try:
        result = yield
    finally:
        logger.removeHandler(watcher)
    if watcher.count and item.get_closest_marker("detector_failure") is None:
        raise AssertionError(f"the trigger detector failed {watcher.count} time(s) in this test "
                             "(its fail-safe reported a crisis)")
    return result


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
