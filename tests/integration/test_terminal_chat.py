"""`coachbot chat`: the terminal takes Telegram's road (handle_update, the outbox, the scheduler tick)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.models import CheckinRun, OutboxMessage
from coachbot.adapters.terminal.chat import TerminalChat
from coachbot.bootstrap import terminal_chat
from coachbot.spec import load_library

DIALOGS = Path(__file__).resolve().parents[2] / "dialogs"
ROOT = Path(__file__).resolve().parents[2]
ONBOARDING = ["hi", "yes", "Sam", "no", "no", "5", "6", "no", "working", "9am", "sunday", "UK"]
CRISIS = "I want to end my life"
RESOURCES = "Samaritans on 116 123"
CHECKIN_OPENING = "Time for your check-in."


@asynccontextmanager
async def chatting(database_url: str, files: Path, lines: Iterable[str] = ()) -> AsyncIterator[
        tuple[TerminalChat, io.StringIO]]:
    """A terminal chat on `database_url` printing into a StringIO, fed `lines` by a fake read_line."""
    out = io.StringIO()
    feed = iter(lines)

    def read_line() -> str:
        try:
            return next(feed)
        except StopIteration:
            raise EOFError from None

    async with terminal_chat(database_url, DIALOGS, files=files, out=out, read_line=read_line) as chat:
        yield chat, out


async def typed(chat: TerminalChat, *lines: str) -> None:
    for line in lines:
        assert await chat.step(line)


async def rows_of(database_url: str, model: type, order: Callable[..., object]) -> list:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            return list((await session.execute(select(model).order_by(order(model)))).scalars())
    finally:
        await engine.dispose()


async def test_terminal_chat_onboards_then_runs_a_checkin_on_the_simulated_clock(
        database_url: str, tmp_path: Path) -> None:
    async with chatting(database_url, tmp_path, [*ONBOARDING, ":next", "4", ":quit"]) as (chat, out):
        await chat.run()
        offset = chat.clock.offset
    text = out.getvalue()
    assert text.startswith("coachbot terminal chat.")
    assert "What would you like me to call you?" in text and "You are all set." in text
    assert "(the clock moves on to " in text and "09:00 Europe/London)" in text
    assert f"Hello Sam. {CHECKIN_OPENING}" in text and "[0]  [1]  [2]  [3]  [4]  [5]" in text
    assert "And how is your mood right now?" in text.split(CHECKIN_OPENING)[-1]
    assert offset.total_seconds() > 0
    rows = await rows_of(database_url, OutboxMessage, lambda m: m.id)
    unsent = [row for row in rows if row.sent_at is None]
    assert unsent == []  # shown in the terminal, so marked sent: nothing piles up for a sender


@pytest.mark.parametrize("before", ["", "/help ", "/checkin ", "/steps "])
async def test_crisis_words_after_any_command_word_give_the_resources_and_the_coach_card(
        database_url: str, tmp_path: Path, before: str) -> None:
    async with chatting(database_url, tmp_path) as (chat, out):
        await typed(chat, *ONBOARDING)
        shown = len(out.getvalue())
        await typed(chat, before + CRISIS)
    said = out.getvalue()[shown:]
    assert RESOURCES in said and "I have told your coach." in said
    assert "COACH ALERT" in said and "URGENT (act today) alert for patient P-" in said
    assert "Rule: crisis" in said and "[Acknowledge]" in said
    assert "No check-ins yet" in said  # just onboarded: the card says so instead of an empty chart


async def test_paused_patient_gets_no_checkin_from_next(database_url: str, tmp_path: Path) -> None:
    async with chatting(database_url, tmp_path) as (chat, out):
        await typed(chat, *ONBOARDING, "pause")
        shown = len(out.getvalue())
        await typed(chat, ":next", ":week")
    said = out.getvalue()[shown:]
    assert "(no check-in: you are paused)" in said and "(no weekly review: you are paused)" in said
    assert CHECKIN_OPENING not in said
    assert await rows_of(database_url, CheckinRun, lambda m: m.id) == []


async def test_a_day_already_served_is_not_served_again_after_settings_move_the_time(
        database_url: str, tmp_path: Path) -> None:
    async with chatting(database_url, tmp_path) as (chat, out):
        await typed(chat, *ONBOARDING, ":next", "4", "7")
        first = chat.clock()
        # later the same day: that day has had its check-in; the place and the review day are kept
        await typed(chat, "/settings", "11pm", "skip", "skip")
        assert "Your daily check-in will now come at 23:00." in out.getvalue()
        await typed(chat, ":next")
        second = chat.clock()
    text = out.getvalue()
    moves = [line for line in text.splitlines() if line.startswith("(the clock moves on to")]
    assert len(moves) == 2 and "09:00" in moves[0] and "23:00" in moves[1]
    assert (second - first).total_seconds() > 24 * 3600 - 10 * 3600  # the next day's 23:00, not today's
    assert text.count(CHECKIN_OPENING) == 2
    runs = await rows_of(database_url, CheckinRun, lambda m: m.id)
    days = [run.local_date for run in runs if run.dialog == "daily" and run.status != "skipped"]
    assert len(days) == 2 and len(set(days)) == 2


async def test_an_unknown_command_gets_the_kind_sentence_then_help(database_url: str, tmp_path: Path) -> None:
    sentence = load_library(DIALOGS).service.messages.unknown_command
    async with chatting(database_url, tmp_path) as (chat, out):
        await typed(chat, *ONBOARDING)
        shown = len(out.getvalue())
        await typed(chat, "/frobnicate")
    said = out.getvalue()[shown:]
    assert said.startswith(f"coachbot> {sentence}") and "/checkin" in said and "WARNING" not in said


async def test_mydata_is_saved_as_a_file_and_its_path_printed(database_url: str, tmp_path: Path) -> None:
    async with chatting(database_url, tmp_path) as (chat, out):
        await typed(chat, *ONBOARDING, "/mydata")
    files = sorted((tmp_path / "files").iterdir(), key=lambda f: f.suffix)  # .csv, then .json
    assert [f.suffix for f in files] == [".csv", ".json"]  # the measurements as CSV, everything as JSON
    assert '"label": "P-' in files[1].read_text() and files[0].read_text().startswith("recorded_at")
    assert all(f"saved to {f}" in out.getvalue() for f in files)


def test_make_demo_style_run_works_end_to_end_with_logs_in_a_file_not_the_chat(tmp_path: Path) -> None:
    lines = [*ONBOARDING, ":next", "4", "/frobnicate", CRISIS, ":quit"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "coachbot.cli", "chat", "--database-url",
         f"sqlite+aiosqlite:///{tmp_path}/demo.db", "--dialogs", str(DIALOGS)],
        input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=180, check=False,
        cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr and result.stderr == ""
    assert "WARNING" not in result.stdout and "Logs go to .coachbot-demo/chat.log" in result.stdout
    assert CHECKIN_OPENING in result.stdout and RESOURCES in result.stdout and "COACH ALERT" in result.stdout
    log = (tmp_path / ".coachbot-demo" / "chat.log").read_text()
    assert "WARNING coachbot.app.pipeline: safety trigger" in log  # the log went to its file
    assert "Sam" not in log and CRISIS not in log  # labels only: no names, no message text


def test_chat_command_exits_cleanly_at_end_of_input(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "coachbot.cli", "chat", "--database-url",
         f"sqlite+aiosqlite:///{tmp_path}/demo.db", "--dialogs", str(DIALOGS)],
        input="hello\nyes\n", capture_output=True, text=True, timeout=120, check=False, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert "consent" in result.stdout.lower() or "agree" in result.stdout.lower()
    assert "Traceback" not in result.stderr


def test_bad_database_setting_gets_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "coachbot.cli", "db", "upgrade", "--database-url", "mysql://nope"],
        capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "--database-url" in result.stderr and "Traceback" not in result.stderr


def test_dialogs_validate_reports_problems_with_file_and_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("script: broken\nstart: a\nstates:\n  a:\n    say: hi\n    next: nowhere\n")
    result = subprocess.run([sys.executable, "-m", "coachbot.cli", "dialogs", "validate", str(broken)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "broken.yaml:6" in result.stderr and "nowhere" in result.stderr
    ok = subprocess.run([sys.executable, "-m", "coachbot.cli", "dialogs", "validate", str(DIALOGS)],
                        capture_output=True, text=True, timeout=60, check=False)
    assert ok.returncode == 0, ok.stderr


def test_dialogs_validate_checks_the_steps_file_too(tmp_path: Path) -> None:
    broken = tmp_path / "steps.yaml"
    broken.write_text("version: 1\nsteps:\n  - id: walk\n    title: A walk\n")
    result = subprocess.run([sys.executable, "-m", "coachbot.cli", "dialogs", "validate", str(broken)],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert "steps.yaml:3" in result.stderr and "category" in result.stderr


async def test_week_runs_the_scheduled_weekly_review_and_saves_its_chart(
        database_url: str, tmp_path: Path) -> None:
    async with chatting(database_url, tmp_path) as (chat, out):
        await typed(chat, *ONBOARDING, "/steps", "/steps 1", ":week")
        await typed(chat, "5", "5", "5", "0", "0", "0", "0", "6", "3")
    text = out.getvalue()
    assert "Steps that may suit you now" in text and "1. " in text
    assert "Here is a look back at your week, Sam." in text
    charts = sorted((tmp_path / "charts").glob("coachbot-chart-P-*.png"))
    assert len(charts) == 1 and charts[0].read_bytes().startswith(b"\x89PNG")
    assert f"saved to {charts[0]}" in text and "in Telegram it comes as a picture" in text


async def test_after_an_overdose_flow_words_outside_a_dialog_offer_no_steps_while_the_alert_is_open(
        database_url: str, tmp_path: Path) -> None:
    async with chatting(database_url, tmp_path) as (chat, out):
        await typed(chat, *ONBOARDING, "I swallowed a whole box of paracetamol an hour ago", "no")
        shown = len(out.getvalue())
        await typed(chat, "I feel fine now", "/start")
    said = out.getvalue()[shown:]
    assert said.count("Your coach knows what you told me earlier") == 2
    assert "/steps" not in said and "/checkin" not in said
    assert "999" in said and "116 123" in said


async def test_a_red_flag_typed_while_setting_up_still_ends_in_a_checkin_time_and_a_gentle_check(
        database_url: str, tmp_path: Path) -> None:
    at_pain = ONBOARDING.index("5")  # the usual-pain question
    lines = [*ONBOARDING[:at_pain], "I can't control my bladder", *ONBOARDING[at_pain:], ":next"]
    async with chatting(database_url, tmp_path, [*lines, ":quit"]) as (chat, out):
        await chat.run()
    text = out.getvalue()
    said_in_turn = ("call 999 or go to A&E now", "finish setting up", "You are all set.")
    order = [text.index(words) for words in said_in_turn]
    assert order == sorted(order)
    assert "URGENT (act today) alert for patient P-" in text
    after = text.split("You are all set.")[-1]
    assert "I wanted to gently check how you are today" in after, "check-ins start, gently while paused"
    assert CHECKIN_OPENING not in after
