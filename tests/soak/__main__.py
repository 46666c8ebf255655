"""`make soak`: the full soak (1,000 patients, 30 simulated days) on PostgreSQL when a server answers
(COACHBOT_TEST_POSTGRES_URL, else the local default), on SQLite otherwise; prints the counts' table and
exits 1 if any count that must be zero is not.

    python -m tests.soak [--patients N] [--days N] [--kills N] [--database auto|sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.soak.driver import SoakConfig
from tests.soak.run import soak_and_count
from tests.support.databases import fresh_postgres_database

LOCAL_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


async def postgres_answers(url: str) -> bool:
    engine = create_async_engine(url, poolclass=NullPool, connect_args={"timeout": 3})
    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception:
        return False
    finally:
        await engine.dispose()


async def main(args: argparse.Namespace) -> int:
    config = SoakConfig(patients=args.patients, days=args.days, kills=args.kills, seed=args.seed)
    if args.short:
        from tests.e2e.test_soak import SHORT  # noqa: PLC0415 - the test's own numbers
        config = SHORT
    admin = os.environ.get("COACHBOT_TEST_POSTGRES_URL") or LOCAL_POSTGRES
    use_pg = args.database == "postgresql" or (args.database == "auto" and await postgres_answers(admin))
    with tempfile.TemporaryDirectory(prefix="coachbot-soak-") as folder:
        work = Path(args.workdir or folder)
        work.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, before anything runs
        if use_pg:
            async with fresh_postgres_database(admin) as url:
                counts, _ = await soak_and_count(config, url, work, admin_url=admin)
        else:
            counts, _ = await soak_and_count(config, f"sqlite+aiosqlite:///{work / 'soak.db'}", work)
        print(f"\nSoak on {'PostgreSQL' if use_pg else 'SQLite'}:\n")
        print(counts.table())
        if counts.problems:
            print("\nFAILED:\n  " + "\n  ".join(counts.problems))
            kept = Path(tempfile.mkdtemp(prefix="coachbot-soak-failed-"))
            for name in ("bot.log", "soak.db"):
                if (work / name).exists():
                    shutil.copy(work / name, kept / name)
            print(f"the bot's log (and the SQLite database) are kept in {kept}")
            return 1
    print("\nnothing lost, nothing doubled, nothing sent where it must not be, no process left behind")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--workdir", help="keep the bot's log (and SQLite database) here")
    parser.add_argument("--short", action="store_true", help="the short soak of `make test`")
    parser.add_argument("--database", choices=("auto", "sqlite", "postgresql"), default="auto")
    sys.exit(asyncio.run(main(parser.parse_args())))
