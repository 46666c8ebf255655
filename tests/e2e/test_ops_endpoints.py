"""`/healthz`, `/readyz` and `/metrics` over real HTTP, from a running bot and from the server alone."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.migrate import upgrade_async
from coachbot.adapters.db.models import Escalation, OutboxMessage
from coachbot.adapters.ops.server import OpsServer
from tests.support.coachbot_telegram import add_coach, patient, running_bot, settled
from tests.support.databases import POSTGRES_ADMIN_URL, fresh_postgres_database
from tests.support.fake_bot_api import FakeBotApi


def samples(body: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by name and sorted labels."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body) for s in family.samples}


async def get(port: int, path: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        return await client.get(path)


async def test_a_running_bot_answers_health_readiness_and_metrics_that_count_its_work(
        fake_bot_api: FakeBotApi, database_url: str, unused_tcp_port: int) -> None:
    alex = fake_bot_api.user(42, "Alex")
    await add_coach(database_url, 900)
    async with running_bot(fake_bot_api, database_url, ops_port=unused_tcp_port) as bot:
        before = samples((await get(unused_tcp_port, "/metrics")).text)
        await alex.send_command("/start")
        await alex.wait_for_message(lambda m: bool(m.buttons))
        await alex.click("Yes")
        await alex.wait_for_message(lambda m: "call you" in m.text)
        await alex.send_text("Alex")
        emergency = await alex.wait_for_message(lambda m: "Do you have any of these" in m.text)
        await alex.click("No", message=emergency)
        await alex.wait_for_message(lambda m: "And do you have any of these" in m.text)
        await settled(fake_bot_api, bot)
        found = await patient(bot, 42)
        assert found is not None
        async with bot.core.sessions() as session, session.begin():
            await session.execute(insert(Escalation).values(
                patient_id=found.id, tier="urgent", rule="test_rule", status="open", reason="test",
                evidence={}, opened_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30),
                updated_at=dt.datetime.now(dt.UTC)))
        health = await get(unused_tcp_port, "/healthz")
        ready = await get(unused_tcp_port, "/readyz")
        scrape = await get(unused_tcp_port, "/metrics")
    assert (health.status_code, health.text) == (200, "ok\n")
    assert (ready.status_code, ready.text) == (200, "ready\n")
    assert scrape.status_code == 200 and scrape.headers["content-type"].startswith("text/plain")
    after = samples(scrape.text)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0.0)

    assert grew("coachbot_updates_handled_total") == 4  # /start, Yes, the name, No
    assert grew("coachbot_answers_stored_total") == 1  # rf_emergency
    assert grew("coachbot_outbox_sends_total", result="sent") >= 4
    assert after["coachbot_outbox_sends_total", (("result", "rate_limited"),)] >= 0
    assert after["coachbot_database_up", ()] == 1
    assert after["coachbot_outbox_depth", (("lane", "reply"),)] == 0
    assert after["coachbot_outbox_oldest_age_seconds", (("lane", "reply"),)] == 0
    assert after["coachbot_escalations_open", (("tier", "urgent"),)] == 1
    assert after["coachbot_escalations_open", (("tier", "soon"),)] == 0
    oldest = after["coachbot_escalation_oldest_unacknowledged_seconds", (("tier", "urgent"),)]
    assert 29 * 60 < oldest < 40 * 60
    assert {"due", "missed"} <= {dict(labels)["state"] for name, labels in after
                                 if name == "coachbot_checkins_today"}
    assert after["process_resident_memory_bytes", ()] > 0
    assert "Alex" not in scrape.text and "P-" not in scrape.text


async def test_readyz_fails_naming_the_outbox_when_a_message_has_waited_past_the_threshold(
        fake_bot_api: FakeBotApi, database_url: str, unused_tcp_port: int) -> None:
    async with running_bot(fake_bot_api, database_url, ops_port=unused_tcp_port,
                           ops_outbox_max_age_seconds=60) as bot:
        assert (await get(unused_tcp_port, "/readyz")).status_code == 200
        now = dt.datetime.now(dt.UTC)
        async with bot.core.sessions() as session, session.begin():  # a send retried for 20 minutes
            await session.execute(insert(OutboxMessage).values(
                chat_id=77, lane=0, kind="text", payload={"text": "x"},
                created_at=now - dt.timedelta(minutes=20), not_before=now + dt.timedelta(hours=1),
                attempts=9))
        ready = await get(unused_tcp_port, "/readyz")
        after = samples((await get(unused_tcp_port, "/metrics")).text)
        health = await get(unused_tcp_port, "/healthz")
    assert ready.status_code == 503
    assert ready.text.startswith("not ready: the oldest unsent outbox message has waited 12")
    assert "more than 60 s" in ready.text and ready.text.count("\n") == 1
    assert health.status_code == 200  # alive, only not ready
    assert after["coachbot_outbox_depth", (("lane", "reply"),)] == 1
    assert after["coachbot_outbox_oldest_age_seconds", (("lane", "reply"),)] >= 20 * 60


async def test_readyz_fails_naming_the_database_when_it_cannot_be_read(
        database_url: str, tmp_path: Path, unused_tcp_port: int) -> None:
    """PostgreSQL: the database is dropped under the server; SQLite: its folder does not exist."""
    if database_url.startswith("sqlite"):
        await _probe_unreadable(f"sqlite+aiosqlite:///{tmp_path / 'gone' / 'x.db'}", unused_tcp_port, None)
        return
    assert POSTGRES_ADMIN_URL is not None
    async with fresh_postgres_database(POSTGRES_ADMIN_URL) as url:
        await upgrade_async(url)
        await _probe_unreadable(url, unused_tcp_port, POSTGRES_ADMIN_URL)


async def _probe_unreadable(url: str, port: int, admin_url: str | None) -> None:
    engine = make_engine(url)
    server = OpsServer(make_sessionmaker(engine), lambda: dt.datetime.now(dt.UTC), listen="127.0.0.1",
                       port=port, outbox_max_age=60)
    server.start()
    try:
        if admin_url is not None:
            assert (await get(port, "/readyz")).status_code == 200
            admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
            try:
                async with admin.connect() as connection:
                    await connection.exec_driver_sql(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
            finally:
                await admin.dispose()
        ready = await get(port, "/readyz")
        scrape = await get(port, "/metrics")
        health = await get(port, "/healthz")
    finally:
        await server.stop()
        await engine.dispose()
    assert ready.status_code == 503
    assert ready.text.startswith("not ready: the database cannot be read (")
    assert url.rsplit("/", 1)[1] not in ready.text
    assert samples(scrape.text)["coachbot_database_up", ()] == 0
    assert health.status_code == 200
