"""`coachbot run` holds the cyclic garbage collector off while it starts, and always lets it go."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from coachbot import startup
from coachbot.cli import main


@pytest.fixture(autouse=True)
def collector_restored() -> Iterator[None]:
    was = gc.isenabled()
    yield
    startup.release()
    if was:
        gc.enable()


def test_hold_turns_collection_off_and_release_turns_it_back_on() -> None:
    gc.enable()
    startup.hold()
    assert not gc.isenabled()
    startup.hold()  # twice is harmless
    startup.release()
    assert gc.isenabled()


def test_release_without_hold_changes_nothing() -> None:
    gc.disable()  # someone else's choice: not ours to undo
    startup.release()
    assert not gc.isenabled()
    startup.hold()
    startup.release()
    assert not gc.isenabled()


def test_run_lets_the_collector_go_when_it_cannot_start(monkeypatch: pytest.MonkeyPatch,
                                                        tmp_path: Path) -> None:
    monkeypatch.delenv("COACHBOT_TELEGRAM_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env to read a token from
    gc.enable()
    assert main(["run", "--database-url", f"sqlite+aiosqlite:///{tmp_path}/x.db"]) == 2
    assert gc.isenabled()
