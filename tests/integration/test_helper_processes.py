"""The chart-drawing process: started by the first chart and not before, ended when idle, replaced when
it dies, and never left running once the bot has gone, however the bot ended (SIGKILL included)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from coachbot.adapters.charts import DrawingError, render_escalation_chart
from coachbot.adapters.charts import drawing as drawing_module
from coachbot.adapters.charts.drawing import DrawingProcess
from tests.support.coachbot_telegram import add_coach, running_bot
from tests.support.fake_bot_api import FakeBotApi

REPO = Path(__file__).resolve().parents[2]
PNG = b"\x89PNG\r\n\x1a\n"
CHART = {"days": ["2026-03-15", "2026-03-16"], "pain": [3, 5], "mood": [6, 4], "checkin": ["done", "done"],
         "pain_baseline": 3, "mood_baseline": 6, "title": "P-4KX7QM", "labels": {}}
WORKER = "coachbot.adapters.charts.worker"


def gone(pid: int) -> bool:
    """Ended: no such process, or a zombie (it runs nothing and holds no memory; init reaps it)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_until_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if gone(pid):
            return True
        time.sleep(0.05)
    return gone(pid)


def reaped(pid: int, seconds: float) -> bool:
    """No longer a child of this process: it ended and its exit status was collected."""
    deadline = time.monotonic() + seconds
    while pid in [c.pid for c in psutil.Process().children()]:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def drawing_children() -> list[psutil.Process]:
    return [c for c in psutil.Process().children() if WORKER in " ".join(c.cmdline())]


def test_the_drawing_process_ends_when_the_bot_is_killed_with_sigkill() -> None:
    """A stand-in bot draws one chart exactly as the outbox sender does (`charts.draw`), reports the
    drawing process's pid, then waits; it is killed with SIGKILL, which runs none of its clean-up."""
    script = textwrap.dedent(f"""
        import asyncio
        from coachbot.adapters.charts import draw, render_escalation_chart
        from coachbot.adapters.charts.drawing import drawing_pid

        async def main():
            png = await draw(render_escalation_chart, {CHART!r})
            assert png.startswith(b"\\x89PNG")
            print(drawing_pid(), flush=True)
            await asyncio.sleep(600)

        asyncio.run(main())
    """)
    bot = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=REPO,
                           env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert bot.stdout is not None
        worker = int(bot.stdout.readline())
        children = psutil.Process(bot.pid).children(recursive=True)
        assert [c.pid for c in children] == [worker]  # the drawing process only: no resource tracker
        assert WORKER in " ".join(children[0].cmdline())
        bot.send_signal(signal.SIGKILL)
        bot.wait(5)
        assert wait_until_gone(worker, 5.0), "the drawing process outlived the bot"
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()


def test_the_drawing_process_asks_linux_to_kill_it_when_its_parent_ends() -> None:
    """PR_SET_PDEATHSIG is what ends it mid-drawing; read back with PR_GET_PDEATHSIG (2)."""
    if not sys.platform.startswith("linux"):
        pytest.fail("this deployment's kernel is Linux; the test must run there")
    script = textwrap.dedent("""
        import ctypes, os
        from coachbot.adapters.charts.worker import die_with_parent
        die_with_parent(os.getppid())
        signal = ctypes.c_int(0)
        assert ctypes.CDLL(None, use_errno=True).prctl(2, ctypes.byref(signal), 0, 0, 0) == 0
        print(signal.value)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(REPO)}).stdout
    assert int(out) == signal.SIGKILL


async def test_the_drawing_process_ends_when_idle_and_the_next_chart_starts_another() -> None:
    drawer = DrawingProcess(idle_seconds=0.5)
    try:
        assert drawer.pid is None  # nothing started before the first chart
        assert (await drawer.draw(render_escalation_chart, CHART)).startswith(PNG)
        first = drawer.pid
        assert first is not None and first in [c.pid for c in psutil.Process().children()]
        assert await asyncio.to_thread(reaped, first, 5.0)  # ended, and no zombie left behind
        assert drawer.pid is None
        assert (await drawer.draw(render_escalation_chart, CHART)).startswith(PNG)
        assert drawer.pid not in (None, first)
    finally:
        await drawer.stop()


async def test_a_chart_that_cannot_be_drawn_fails_alone_and_the_process_carries_on() -> None:
    drawer = DrawingProcess()
    try:
        assert (await drawer.draw(render_escalation_chart, CHART)).startswith(PNG)
        pid = drawer.pid
        with pytest.raises(DrawingError, match="ValueError"):
            await drawer.draw(render_escalation_chart, {"days": []})
        with pytest.raises(DrawingError, match="LookupError"):  # only this package's drawing functions
            await drawer.draw(os.getcwd, {})  # type: ignore[arg-type]
        assert drawer.pid == pid
        assert (await drawer.draw(render_escalation_chart, CHART)).startswith(PNG)
    finally:
        await drawer.stop()
    assert drawer.pid is None and pid is not None and await asyncio.to_thread(reaped, pid, 5.0)


async def test_a_drawing_process_that_died_is_replaced_by_the_next_chart() -> None:
    drawer = DrawingProcess()
    try:
        await drawer.draw(render_escalation_chart, CHART)
        dead = drawer.pid
        assert dead is not None
        os.kill(dead, signal.SIGKILL)
        assert await asyncio.to_thread(wait_until_gone, dead, 5.0)
        assert (await drawer.draw(render_escalation_chart, CHART)).startswith(PNG)
        assert drawer.pid not in (None, dead)
    finally:
        await drawer.stop()


async def test_a_drawing_over_the_time_limit_fails_and_ends_its_process() -> None:
    before = {c.pid for c in drawing_children()}  # the bot-wide one, if an earlier test started it
    drawer = DrawingProcess(timeout=0.01)  # less than starting Python, let alone matplotlib
    with pytest.raises(TimeoutError):
        await drawer.draw(render_escalation_chart, CHART)
    assert drawer.pid is None
    assert {c.pid for c in drawing_children()} <= before  # ended and reaped before the error came


async def test_starting_the_bot_starts_no_helper_process(database_url: str) -> None:
    """With a coach registered (alert cards may go out) the drawing process still waits for a chart."""
    await drawing_module.stop_drawing()
    await add_coach(database_url, 900)
    before = {c.pid for c in psutil.Process().children(recursive=True)}
    async with FakeBotApi() as fake, running_bot(fake, database_url):
        await fake.wait_until(lambda: fake.count("getUpdates") > 0, timeout=10, what="the bot to poll")
        started = [c for c in psutil.Process().children(recursive=True) if c.pid not in before]
        assert drawing_module.drawing_pid() is None and drawing_children() == []
        assert [" ".join(c.cmdline()) for c in started] == []


async def test_the_bot_stopping_ends_the_drawing_process(database_url: str) -> None:
    async with FakeBotApi() as fake, running_bot(fake, database_url):
        png = await drawing_module.draw(render_escalation_chart, CHART)
        assert png.startswith(PNG)
        pid = drawing_module.drawing_pid()
        assert pid is not None
    assert drawing_module.drawing_pid() is None and await asyncio.to_thread(reaped, pid, 5.0)
