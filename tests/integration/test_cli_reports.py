"""The read-only reports of the command line: a database they cannot read gets one sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from coachbot.cli import EXIT_PROBLEMS, main


@pytest.mark.parametrize(("command", "what"), [
    (["escalations", "list"], "the escalations"),
    (["schedule", "status", "--date", "2026-06-01"], "the check-ins"),
])
def test_a_report_on_a_database_without_the_schema_says_what_to_check(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str], what: str) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"  # no tables: never upgraded
    assert main([*command, "--database-url", url]) == EXIT_PROBLEMS
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"coachbot: cannot read {what} from the database")
    assert "coachbot db upgrade" in err[0]
