"""`PatientService.handle_update`: effects, outbox rows and the update id commit together, or not at all."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.db.models import Coach, Measurement, OutboxMessage, ProcessedUpdate
from coachbot.adapters.telegram.keyboards import parse_callback
from coachbot.adapters.telegram.messages_out import TelegramChannel
from coachbot.app.channel import Press
from coachbot.app.pipeline import PatientService
from coachbot.engine import Engine, TextMessage
from coachbot.spec import load_library
from tests.support.coachbot_telegram import DIALOGS, library

Sessions = async_sessionmaker[AsyncSession]
LONG_VALUE = "a_value_much_longer_than_telegram_lets_a_button_carry_in_its_callback_data"


def service(sessions: Sessions, dialogs: Path | None = None) -> PatientService:
    lib = load_library(dialogs) if dialogs else library()
    return PatientService(sessions, Engine(lib), channel=TelegramChannel(lib.service.channel))


async def outbox(sessions: Sessions) -> list[OutboxMessage]:
    async with sessions() as session:
        return list((await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def test_crisis_resources_row_comes_before_the_coach_alert_row(session_factory: Sessions) -> None:
    async with session_factory() as session, session.begin():
        session.add(Coach(telegram_user_id=900, name="Sam", created_at=dt.datetime.now(dt.UTC)))
    patients = service(session_factory)
    await patients.handle_update(1, 42, TextMessage("/start"))
    result = await patients.handle_update(2, 42, TextMessage("I want to die"))
    rows = [r for r in await outbox(session_factory) if r.id in {q.id for q in result.queued}]
    assert [(r.chat_id, r.lane) for r in rows] == [(42, 0), (900, 0)]
    assert "Samaritans" in rows[0].payload["text"] and rows[1].escalation_id is not None
    assert [q.id for q in result.queued] == [r.id for r in rows]
    assert result.queued[0].label == result.label and result.queued[1].label.startswith("escalation:")


async def test_redelivered_update_writes_nothing_and_changes_nothing(session_factory: Sessions) -> None:
    patients = service(session_factory)
    await patients.handle_update(1, 42, TextMessage("/start"))
    first = await patients.handle_update(2, 42, TextMessage("yes"))
    again = await patients.handle_update(2, 42, TextMessage("yes"))
    assert not first.duplicate and first.queued
    assert again.duplicate and again.queued == []
    async with session_factory() as session:
        processed = await session.scalar(select(func.count()).select_from(ProcessedUpdate))
        measures = await session.scalar(select(func.count()).select_from(Measurement))
    assert processed == 2 and measures == 0  # consent is a profile answer, not a measure
    assert len(await outbox(session_factory)) == 2


def dialogs_with_a_long_choice(tmp_path: Path) -> Path:
    """The shipped service and safety files, with one script whose choice value is very long."""
    dialogs = tmp_path / "dialogs"
    dialogs.mkdir()
    shipped = DIALOGS
    (dialogs / "service.yaml").write_text(
        (shipped / "service.yaml").read_text().replace("entry: onboarding", "entry: pick")
        .replace("daily: daily_checkin", "daily: pick").replace("weekly: weekly_review", "weekly: pick")
        .replace("settings: settings", "settings: pick"))
    (dialogs / "triggers.yaml").write_text((shipped / "triggers.yaml").read_text())
    for name in ("overdose", "self_harm", "crisis", "safeguarding", "red_flag_emergency", "red_flag_urgent"):
        (dialogs / f"{name}.yaml").write_text((shipped / f"{name}.yaml").read_text())
    (dialogs / "pick.yaml").write_text(f"""\
script: pick
start: which
states:
  which:
    ask:
      type: choice
      text: Which one?
      options:
        - {{value: short, label: Short}}
        - {{value: {LONG_VALUE}, label: Long}}
    store: which
    next: done
  done:
    say: Thank you.
    actions:
      - end: true
""")
    return dialogs


async def test_press_on_an_option_too_long_for_callback_data_maps_back(
        session_factory: Sessions, tmp_path: Path) -> None:
    dialogs = dialogs_with_a_long_choice(tmp_path)
    patients = service(session_factory, dialogs)
    asked = await patients.handle_update(1, 42, TextMessage("hello"))
    keyboard = asked.queued[-1].payload["keyboard"]
    data = {label: data for row in keyboard for label, data in row}
    assert all(len(d.encode()) <= 64 for d in data.values())
    pressed = parse_callback(data["Long"])
    assert pressed is not None and pressed.index == 1
    await patients.handle_update(2, 42, Press(token=pressed.token, value=pressed.value, index=pressed.index))
    async with session_factory() as session:
        stored = (await session.execute(select(Measurement.value_text))).scalars().all()
    assert stored == [LONG_VALUE]
