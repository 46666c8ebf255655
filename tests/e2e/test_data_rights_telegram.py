"""Data rights through the real bot: /mydata sends the JSON and the CSV files, and /forget asks with
buttons, erases on Yes and confirms (real PTB over HTTP, the fake Bot API, a real database)."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path

from sqlalchemy import select

from coachbot.adapters.db.models import AuditEntry, Escalation
from coachbot.adapters.telegram.app import TelegramBot
from coachbot.app.data_rights.erase import ERASED
from coachbot.bootstrap import build_app
from tests.e2e.test_telegram_conversation import onboard
from tests.support.basics import DIALOGS
from tests.support.coachbot_telegram import (
    add_coach,
    bot_settings,
    document_of,
    enable_send_document,
    patient,
    running_bot,
    settled,
)
from tests.support.fake_bot_api import FakeBotApi

COACH_ID = 900


async def test_mydata_sends_json_and_a_csv_of_measurements_then_forget_erases_after_yes(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    enable_send_document(fake_bot_api)
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await onboard(alex, fake_bot_api)
        await alex.send_command("/mydata")
        first = await alex.wait_for_message(lambda m: m.method == "sendDocument")
        second = await alex.wait_for_message(lambda m: m.method == "sendDocument", after=first)
        data = json.loads(document_of(first))
        table = list(csv.DictReader(io.StringIO(document_of(second).decode())))
        assert second.extra["file_name"] == "my-coachbot-data.csv"
        assert [r["code"] for r in table] == [m["code"] for m in data["measurements"]]
        assert {"escalations", "coach_notes", "messages"} <= set(data)

        label = (await patient(bot, 42)).label  # type: ignore[union-attr]
        await alex.send_command("/forget")
        question = await alex.wait_for_message(lambda m: bool(m.buttons) and "erase" in m.text)
        assert question.buttons == [["Yes, erase everything"], ["No, keep it"]]
        await alex.click("Yes, erase everything", message=question)
        await alex.wait_for_message(lambda m: "has been erased" in m.text)
        await settled(fake_bot_api, bot)
        assert await patient(bot, 42) is None
        async with bot.core.sessions() as session:
            kept = list((await session.execute(select(AuditEntry).where(AuditEntry.subject == label)))
                        .scalars())
        assert [a.action for a in kept] == [ERASED]


async def test_forget_during_an_open_crisis_alert_warns_erases_and_tells_the_coach_plainly(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    await add_coach(database_url, COACH_ID, "Sam")
    sam = fake_bot_api.user(COACH_ID, "Sam")
    alex = fake_bot_api.user(42, "Alex")
    async with running_bot(fake_bot_api, database_url) as bot:
        await onboard(alex, fake_bot_api)
        await alex.send_text("I want to kill myself")
        await alex.wait_for_message(lambda m: "Samaritans" in m.text)
        card = await sam.wait_for_message(lambda m: "alert for patient" in m.content)
        label = (await patient(bot, 42)).label  # type: ignore[union-attr]

        await alex.send_command("/forget")
        question = await alex.wait_for_message(lambda m: "Yes, erase everything" in str(m.buttons))
        await alex.click("Yes, erase everything", message=question)
        erased = await alex.wait_for_message(lambda m: "has been erased" in m.text)
        told = await sam.wait_for_message(lambda m: "erased their information" in m.text, after=card)
        await settled(fake_bot_api, bot)
        assert await patient(bot, 42) is None
        async with bot.core.sessions() as session:
            left = (await session.execute(select(Escalation))).scalars().all()
    assert "has not finished following it up" in question.text
    assert "can no longer reach you through this chat" in erased.text and "999" in erased.text
    assert told.text.startswith(f"URGENT: patient {label} erased their information while an urgent alert")
    assert "kill" not in told.text and left == []


async def test_forget_speaks_the_words_of_the_dialogs_forget_file_in_telegram(
        fake_bot_api: FakeBotApi, database_url: str, tmp_path: Path) -> None:
    """`coachbot run` builds the bot from the app bootstrap built: an admin's forget.yaml is used."""
    dialogs = tmp_path / "dialogs"
    shutil.copytree(DIALOGS, dialogs)
    forget = dialogs / "forget.yaml"
    forget.write_text(forget.read_text(encoding="utf-8").replace(
        "kept: Nothing has been erased.", "kept: Nothing was erased, as you asked."), encoding="utf-8")
    core = await build_app(database_url, dialogs)
    bot = TelegramBot(core, bot_settings(fake_bot_api, database_url, dialogs_dir=dialogs))
    alex = fake_bot_api.user(42, "Alex")
    try:
        await bot.start()
        await onboard(alex, fake_bot_api)
        await alex.send_command("/forget")
        question = await alex.wait_for_message(lambda m: bool(m.buttons) and "erase" in m.text)
        await alex.click("No, keep it", message=question)
        kept = await alex.wait_for_message(lambda m: "erased" in m.text, after=question)
        await settled(fake_bot_api, bot)
    finally:
        await bot.stop()
        await core.close()
    assert kept.text.startswith("Nothing was erased, as you asked.")
