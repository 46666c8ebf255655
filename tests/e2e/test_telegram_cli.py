"""`coachbot run` and `coachbot coaches add` as an operator uses them: real processes, real signals."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.models import Coach, OutboxMessage
from coachbot.bootstrap import serve_telegram as serve
from coachbot.cli import main
from tests.support.coachbot_telegram import DIALOGS, bot_settings, measurements, running_bot
from tests.support.fake_bot_api import FakeBotApi

REPO = DIALOGS.parent


def environment(fake: FakeBotApi, database_url: str, cache_home: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("COACHBOT_")}
    env.update({
        "XDG_CACHE_HOME": str(cache_home),  # any cache (matplotlib's), here rather than in the home folder
        "COACHBOT_DATABASE_URL": database_url, "COACHBOT_DIALOGS_DIR": str(DIALOGS),
        "COACHBOT_TELEGRAM_TOKEN": fake.token, "COACHBOT_TELEGRAM_BASE_URL": fake.base_url,
        "COACHBOT_TELEGRAM_POLL_TIMEOUT": "1", "COACHBOT_TELEGRAM_CHAT_SENDS_PER_SECOND": "100",
        "COACHBOT_TELEGRAM_CHAT_BURST": "5", "COACHBOT_LOG_LEVEL": "INFO",
    })
    env.update(extra)
    return env


async def coachbot(*args: str, env: dict[str, str], timeout: float = 30) -> tuple[int, str, str]:  # noqa: ASYNC109
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "coachbot.cli", *args, env=env, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def all_sends_recorded(database_url: str, timeout: float = 5.0) -> None:  # noqa: ASYNC109
    engine = make_engine(database_url)
    try:
        async with asyncio.timeout(timeout):
            while True:
                async with make_sessionmaker(engine)() as session:
                    unsent = (await session.execute(select(OutboxMessage.id).where(
                        OutboxMessage.sent_at.is_(None)))).first()
                if unsent is None:
                    return
                await asyncio.sleep(0.02)
    finally:
        await engine.dispose()


@asynccontextmanager
async def bot_process(fake: FakeBotApi, env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """`coachbot run` in its own process, ready once it polls the fake server."""
    polls = fake.count("getUpdates")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "coachbot.cli", "run", env=env, cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        await fake.wait_until(lambda: fake.count("getUpdates") > polls, timeout=20, what="the bot to poll")
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def test_rejected_token_is_one_clear_line_and_never_shown(
        fake_bot_api: FakeBotApi, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    code, out, err = await coachbot("run", env=environment(
        fake_bot_api, url, tmp_path, COACHBOT_TELEGRAM_TOKEN="999:NOT-THE-TOKEN"))
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0 and "Traceback" not in err
    assert "refused COACHBOT_TELEGRAM_TOKEN" in err and "NOT-THE-TOKEN" not in err
    assert not (tmp_path / "bot.db").exists()  # refused before touching the database


def test_missing_token_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                         tmp_path: Path) -> None:
    monkeypatch.delenv("COACHBOT_TELEGRAM_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env to read a token from
    code = main(["run", "--dialogs", str(DIALOGS), "--database-url", f"sqlite+aiosqlite:///{tmp_path}/x.db"])
    assert code == 2
    assert capsys.readouterr().err == ("coachbot: COACHBOT_TELEGRAM_TOKEN is not set: put the bot token "
                                       "from @BotFather in it.\n")


def test_coaches_add_registers_then_updates_a_coach(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'coaches.db'}"
    assert main(["db", "upgrade", "--database-url", url]) == 0
    add = ["coaches", "add", "--database-url", url, "--telegram-id", "900", "--name"]
    assert main([*add, "Sam Coach"]) == 0
    assert "registered coach 1 for Telegram user 900" in capsys.readouterr().out
    assert main([*add, "Sam C."]) == 0
    assert capsys.readouterr().out.startswith("updated coach 1")
    assert main(["coaches", "add", "--database-url", url, "--telegram-id", "-5", "--name", "X"]) == 1

    async def coaches() -> list[tuple[int | None, str, bool]]:
        engine = make_engine(url)
        try:
            async with make_sessionmaker(engine)() as session:
                rows = (await session.execute(select(Coach))).scalars().all()
                return [(c.telegram_user_id, c.name, c.active) for c in rows]
        finally:
            await engine.dispose()

    assert asyncio.run(coaches()) == [(900, "Sam C.", True)]


async def test_killed_mid_onboarding_then_restarted_carries_on(
        fake_bot_api: FakeBotApi, database_url: str, tmp_path: Path) -> None:
    alex = fake_bot_api.user(42, "Alex")
    async with bot_process(fake_bot_api, environment(fake_bot_api, database_url, tmp_path)) as process:
        await alex.send_command("/start")
        await alex.wait_for_message(lambda m: bool(m.buttons), timeout=10)
        await alex.click("Yes")
        await alex.wait_for_message(lambda m: "call you" in m.text)
        await alex.send_text("Alex")
        emergency = await alex.wait_for_message(lambda m: "Do you have any of these" in m.text)
        # Killed between two answers. (Killed in the few milliseconds between a send and its record,
        # a message would go out again after the restart: the outbox delivers at least once.)
        await all_sends_recorded(database_url)
        process.kill()  # no goodbye: the last update may be unconfirmed, the process state is gone
        await process.wait()
        assert process.stderr is not None
        err = (await process.stderr.read()).decode()

    async with running_bot(fake_bot_api, database_url) as bot:
        await alex.click("No", message=emergency)
        await alex.wait_for_message(lambda m: "And do you have any of these" in m.text)
        stored = await measurements(bot, 42)

    assert stored == [("rf_emergency", 0.0)]
    assert sum("Do you have any of these" in t for t in alex.texts()) == 1
    assert "Traceback" not in err and fake_bot_api.token not in err and "Alex" not in err


async def test_sigterm_lets_the_update_in_progress_finish(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    alex = fake_bot_api.user(42, "Alex")
    fake_bot_api.inject_fault("sendMessage", delay=0.3)  # the first reply is still on its way at SIGTERM
    running = asyncio.create_task(serve(bot_settings(fake_bot_api, database_url)))
    await fake_bot_api.wait_until(lambda: fake_bot_api.count("getUpdates") > 0, timeout=10)
    sent = await alex.send_command("/start")
    await fake_bot_api.wait_delivered(sent.update_id)
    await fake_bot_api.wait_for_call("sendMessage", completed=False)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(running, 15)
    consent = await alex.wait_for_message(lambda m: bool(m.buttons), timeout=1)
    assert "Do you agree" in consent.text
    assert running.exception() is None


async def test_run_checks_the_token_with_the_one_getme_the_running_bot_uses(
        fake_bot_api: FakeBotApi, database_url: str) -> None:
    """The token check before the database is touched is the bot's own getMe on its own connection:
    one getMe before the first poll, not one for the check and another when PTB starts."""
    running = asyncio.create_task(serve(bot_settings(fake_bot_api, database_url)))
    await fake_bot_api.wait_until(lambda: fake_bot_api.count("getUpdates") > 0, timeout=10)
    first_poll = fake_bot_api.calls_to("getUpdates")[0].time
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(running, 15)
    assert running.exception() is None
    assert [c.time < first_poll for c in fake_bot_api.calls_to("getMe")] == [True]
