"""Database faults for end-to-end tests, through SQLAlchemy's public engine events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

MARKER = "processed_updates"
"""Every update's transaction records its id in this table: its INSERT marks an update's transaction."""


@dataclass
class CommitFault:
    """Fails the COMMIT of the next `times` update transactions (those that insert a processed-update
    id), as a database that drops the connection at commit would: nothing of them is stored."""

    times: int = 1
    failed: int = 0

    def __post_init__(self) -> None:
        self._armed: set[int] = set()  # connections (by id) inside an update transaction

    def before_cursor_execute(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self.failed < self.times and statement.lstrip().upper().startswith("INSERT") \
                and MARKER in statement:
            self._armed.add(id(conn))

    def commit(self, conn: Any) -> None:
        if id(conn) in self._armed:
            self._armed.discard(id(conn))
            self.failed += 1
            raise OperationalError("COMMIT", None, ConnectionResetError("the test dropped the connection"))

    def rollback(self, conn: Any) -> None:
        self._armed.discard(id(conn))


def fail_update_commits(engine: AsyncEngine, times: int = 1) -> CommitFault:
    """Arm a `CommitFault` on `engine` (for the rest of the engine's life; it stops after `times`)."""
    fault = CommitFault(times)
    sync = engine.sync_engine
    event.listen(sync, "before_cursor_execute", fault.before_cursor_execute)
    event.listen(sync, "commit", fault.commit)
    event.listen(sync, "rollback", fault.rollback)
    return fault


@dataclass
class QuotingFault:
    """Raises, once, an exception whose message quotes the statement's parameters (a patient's words),
    from the first statement that carries `text`: what a driver or a bug might do, for the log to hide."""

    text: str
    raised: int = 0

    def before_cursor_execute(self, conn: Any, cursor: Any, statement: str, parameters: Any,
                              *args: Any) -> None:
        if not self.raised and self.text in repr(parameters):
            self.raised += 1
            raise RuntimeError(f"cannot store {parameters!r}")


def fail_statement_quoting(engine: AsyncEngine, text: str) -> QuotingFault:
    """Arm a `QuotingFault` on `engine`."""
    fault = QuotingFault(text)
    event.listen(engine.sync_engine, "before_cursor_execute", fault.before_cursor_execute)
    return fault
