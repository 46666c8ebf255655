"""A start with a broken dialog file serves the last set that loaded, and says so; with none, it refuses."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from coachbot.adapters.db import dialog_sets
from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.models import Coach, DialogSet, OutboxMessage
from coachbot.bootstrap import build_app
from coachbot.engine import TextMessage
from coachbot.spec import DialogError
from tests.support.basics import DIALOGS, Clock

CHAT = 5151
ADMIN_CHAT, COACH_CHAT = 9001, 9002
OLD_GREETING, NEW_GREETING = "Hello, and welcome.", "Hi there, this greeting is new."


def copy_dialogs(tmp_path: Path) -> Path:
    folder = tmp_path / "dialogs"
    shutil.copytree(DIALOGS, folder)
    return folder


def break_a_file(folder: Path) -> None:
    """An edit that leaves onboarding readable but daily_checkin.yaml unparseable (line 3)."""
    onboarding = folder / "onboarding.yaml"
    onboarding.write_text(onboarding.read_text().replace(OLD_GREETING, NEW_GREETING))
    (folder / "daily_checkin.yaml").write_text("script: daily_checkin\nstates:\n  welcome: [unclosed\n")


async def stored_sets(database_url: str) -> list[DialogSet]:
    db = make_engine(database_url)
    try:
        async with make_sessionmaker(db)() as session:
            return list((await session.execute(select(DialogSet).order_by(DialogSet.id))).scalars())
    finally:
        await db.dispose()


async def add_coaches(database_url: str, clock: Clock) -> None:
    db = make_engine(database_url)
    try:
        async with make_sessionmaker(db)() as session, session.begin():
            session.add_all([
                Coach(telegram_user_id=ADMIN_CHAT, name="Admin", is_admin=True, created_at=clock()),
                Coach(telegram_user_id=COACH_CHAT, name="Coach", is_admin=False, created_at=clock())])
    finally:
        await db.dispose()


async def greeting(database_url: str, folder: Path, clock: Clock, chat: int) -> str:
    """What a new patient in `chat` is told first by an app started on `folder`."""
    app = await build_app(database_url, folder, clock=clock)
    try:
        delivery = await app.patients.handle(chat, TextMessage("hello"))
        return "\n".join(reply.text for reply in delivery.replies)
    finally:
        await app.close()


async def test_a_start_with_good_files_stores_the_set_once_per_distinct_content(
        database_url: str, tmp_path: Path) -> None:
    folder = copy_dialogs(tmp_path)
    clock = Clock()
    await (await build_app(database_url, folder, clock=clock)).close()
    await (await build_app(database_url, folder, clock=clock)).close()  # same files: nothing new
    [stored] = await stored_sets(database_url)
    assert stored.sha256 == dialog_sets.fingerprint(dialog_sets.read_folder(folder))
    assert stored.files["onboarding.yaml"] == (folder / "onboarding.yaml").read_text()
    assert "blocks/phq9.yaml" in stored.files
    assert stored.loaded_at == clock()


async def test_a_broken_file_at_start_serves_the_last_good_set_logs_it_and_tells_the_admins(
        database_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = copy_dialogs(tmp_path)
    clock = Clock()
    assert OLD_GREETING in await greeting(database_url, folder, clock, CHAT)
    await add_coaches(database_url, clock)
    break_a_file(folder)
    clock.advance(days=2)
    with caplog.at_level(logging.ERROR, logger="coachbot.dialogs"):
        said = await greeting(database_url, folder, clock, CHAT + 1)
    assert OLD_GREETING in said and NEW_GREETING not in said
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("daily_checkin.yaml:" in line for line in errors), errors
    assert any("last good set from 2026-" in line for line in errors), errors
    db = make_engine(database_url)
    try:
        async with make_sessionmaker(db)() as session:
            rows = list((await session.execute(select(OutboxMessage))).scalars())
    finally:
        await db.dispose()
    notices = [row for row in rows if row.chat_id in (ADMIN_CHAT, COACH_CHAT)]
    assert [row.chat_id for row in notices] == [ADMIN_CHAT]
    assert notices[0].payload["text"] == (f"The dialog files in {folder} have problems; serving the set that "
                                          "loaded on 2026-03-02 09:00 UTC. Run coachbot dialogs validate.")
    assert len(await stored_sets(database_url)) == 1, "a broken set is never stored"


async def test_a_broken_file_with_no_stored_set_refuses_to_start(database_url: str, tmp_path: Path) -> None:
    folder = copy_dialogs(tmp_path)
    break_a_file(folder)
    with pytest.raises(DialogError) as refused:
        await build_app(database_url, folder, clock=Clock())
    assert any(p.file.endswith("daily_checkin.yaml") for p in refused.value.problems)
    assert await stored_sets(database_url) == []


def test_a_stored_path_leaving_the_folder_is_refused(tmp_path: Path) -> None:
    stored = dialog_sets.StoredSet("0" * 64, {"../escape.yaml": "x"}, Clock()())
    with pytest.raises(ValueError, match="not inside the folder"):
        dialog_sets.write_folder(stored, tmp_path / "spare")
    assert not (tmp_path / "escape.yaml").exists()
