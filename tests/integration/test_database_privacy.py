"""A database error never quotes a statement's parameters (patients' words) into a log or traceback."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from coachbot.adapters.db.database import make_engine

WORDS = "I plan to end my life tonight"


async def test_a_failed_statement_does_not_quote_its_parameters(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as connection:
            with pytest.raises(DBAPIError) as failed:
                await connection.execute(text("SELECT no_such_column FROM no_such_table WHERE 1 = :words"),
                                         {"words": WORDS})
    finally:
        await engine.dispose()
    assert WORDS not in str(failed.value)
    assert "hidden due to hide_parameters" in str(failed.value)
