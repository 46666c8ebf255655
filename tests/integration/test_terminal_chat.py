"""`coachbot chat`: a newcomer onboards, jumps to the next check-in, and sees coach alerts."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from coachbot.adapters.terminal.chat import SimulatedClock, TerminalChat
from coachbot.bootstrap import build_app

DIALOGS = Path(__file__).resolve().parents[2] / "dialogs"


async def test_terminal_chat_onboards_then_runs_a_checkin_on_the_simulated_clock(database_url: str) -> None:
    clock = SimulatedClock()
    app = await build_app(database_url, DIALOGS, clock=clock)
    out = io.StringIO()
    chat = TerminalChat(app, clock, out=out)
    try:
        assert await chat.step(":next")
        assert "finish onboarding first" in out.getvalue()
        for line in ["hi", "yes", "/settings"]:  # settings wait for onboarding: it carries on
            await chat.step(line)
        assert out.getvalue().count("What would you like me to call you?") == 2
        for line in ["Sam", "no", "no", "5", "6", "no", "working", "9am", "UK"]:
            await chat.step(line)
        await chat.step(":next")
        assert "the clock moves on to" in out.getvalue()
        for line in ["4", "7", "skip"]:
            await chat.step(line)
        for line in ["/settings", "7pm", "skip"]:
            await chat.step(line)
        assert "Your daily check-in will now come at 19:00." in out.getvalue()
        await chat.step(":next")
        assert "19:00 Europe/London)" in out.getvalue().split("the clock moves on to")[-1].splitlines()[0]
        await chat.step("i feel like ending it all")
        assert not await chat.step(":quit")
    finally:
        await app.close()
    text = out.getvalue()
    assert "coachbot> " in text and "[0]  [1]" in text
    assert "COACH ALERT (URGENT, NEW) patient P-" in text and "rule: crisis" in text
    assert clock.offset.total_seconds() > 0


def test_chat_command_exits_cleanly_at_end_of_input(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "coachbot.cli", "chat", "--database-url",
         f"sqlite+aiosqlite:///{tmp_path}/demo.db", "--dialogs", str(DIALOGS)],
        input="hello\nyes\n", capture_output=True, text=True, timeout=120, check=False)
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


async def test_terminal_chat_shows_steps_and_the_weekly_summary_with_where_the_chart_went(
        database_url: str, tmp_path: Path) -> None:
    clock = SimulatedClock()
    app = await build_app(database_url, DIALOGS, clock=clock)
    out = io.StringIO()
    chat = TerminalChat(app, clock, out=out, chart_dir=tmp_path)
    try:
        for line in ["hi", "yes", "Sam", "no", "no", "5", "6", "no", "working", "9am", "UK", "/steps", "/steps 1"]:
            await chat.step(line)
        await chat.step(":week")
        for line in ["5", "5", "5", "0", "0", "0", "0", "6", "3"]:
            await chat.step(line)
    finally:
        await app.close()
    text = out.getvalue()
    assert "Steps that may suit you now" in text and "1. " in text
    assert "Here is a look back at your week, Sam." in text
    charts = sorted(tmp_path.glob("coachbot-chart-P-*.png"))  # noqa: ASYNC240 (after the chat)
    assert len(charts) == 1 and charts[0].read_bytes().startswith(b"\x89PNG")
    assert f"saved to {charts[0]}" in text and "in Telegram it comes as a picture" in text
