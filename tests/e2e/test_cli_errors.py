"""Every `coachbot` command that opens the database answers a database it cannot use with one sentence
naming the setting to check, exit code 2 and no traceback; the real command, in its own process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from coachbot.cli import EXIT_CONFIG, main
from tests.support.basics import DIALOGS
from tests.support.databases import POSTGRES_ADMIN_URL

REPO = DIALOGS.parent
PASSWORD = "s3cret-pw"  # never to be printed

#: Each command with arguments valid enough to reach the database.
COMMANDS = {
    "run": ["run"],
    "db upgrade": ["db", "upgrade"],
    "chat": ["chat"],
    "coaches add": ["coaches", "add", "--telegram-id", "900", "--name", "Sam"],
    "coaches invite": ["coaches", "invite", "--name", "Sam"],
    "coaches list": ["coaches", "list"],
    "coaches remove": ["coaches", "remove", "1"],
    "patients reassign": ["patients", "reassign", "P-AAAAAA", "--coach", "1"],
    "schedule status": ["schedule", "status"],
    "escalations list": ["escalations", "list"],
}
#: The commands that create or migrate the database themselves.
CREATING = {"run", "db upgrade", "chat"}


@dataclass(frozen=True)
class Failure:
    url: Callable[[Path], str]
    via_option: bool  # --database-url, else COACHBOT_DATABASE_URL
    says: tuple[str, ...]  # in the sentence, besides the setting's name


def _postgres(database: str, port: int | None = None) -> Callable[[Path], str]:
    server = make_url(POSTGRES_ADMIN_URL or "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
    return lambda _: server.set(database=database, password=PASSWORD, port=port or server.port
                                ).render_as_string(hide_password=False)


def _empty_sqlite(tmp_path: Path) -> str:
    (tmp_path / "empty.db").touch()  # exists, never migrated
    return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"


FAILURES = {
    "not a URL": Failure(lambda _: "not-a-url", False, ("is not a database URL", "sqlite+aiosqlite:///")),
    "SQLite without its async driver": Failure(lambda _: "sqlite:///x.db", True,
                                               ("use sqlite+aiosqlite:///x.db",)),
    "unknown driver": Failure(lambda _: "foo://", False, ("'foo' is not a database coachbot supports",)),
    "SQLite folder missing": Failure(lambda tmp: f"sqlite+aiosqlite:///{tmp / 'nowhere' / 'x.db'}", True,
                                     ("folder", "nowhere", "does not exist")),
    "refused connection": Failure(_postgres("x", port=1), True,
                                  ("nothing accepts connections", "PostgreSQL is running")),
    "never migrated": Failure(_empty_sqlite, False, ("no coachbot tables yet", "coachbot db upgrade")),
}
if POSTGRES_ADMIN_URL:  # a server to ask for a database it does not have
    FAILURES["PostgreSQL database missing"] = Failure(_postgres("nope_xyz"), False,
                                                      ("PostgreSQL database that does not exist",))


def coachbot(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The real command in its own process, in an empty folder (no .env), stdin closed."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("COACHBOT_")}
    clean.update(PYTHONPATH=str(REPO), COACHBOT_DIALOGS_DIR=str(DIALOGS), XDG_CACHE_HOME=str(tmp_path),
                 COACHBOT_TELEGRAM_TOKEN="123:TEST",  # never used: nothing answers at the Bot API URL
                 COACHBOT_TELEGRAM_BASE_URL="http://127.0.0.1:1/bot", **env)
    return subprocess.run([sys.executable, "-m", "coachbot.cli", *args], env=clean, cwd=tmp_path,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False)


def assert_one_sentence(code: int, err: str, *says: str) -> str:
    assert "Traceback" not in err, err
    assert code == EXIT_CONFIG, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("coachbot: ") and lines[0].endswith("."), err
    for words in says:
        assert words in lines[0]
    return lines[0]


def run_with(failure: Failure, command: str, tmp_path: Path,
             run: Callable[..., tuple[int, str, str]]) -> tuple[int, str, str]:
    url = failure.url(tmp_path)
    if failure.via_option:
        return run([*COMMANDS[command], "--database-url", url], tmp_path)
    return run(COMMANDS[command], tmp_path, COACHBOT_DATABASE_URL=url)


def assert_says_what_to_check(failure: Failure, result: tuple[int, str, str]) -> None:
    code, out, err = result
    setting = "--database-url" if failure.via_option else "COACHBOT_DATABASE_URL"
    sentence = assert_one_sentence(code, err, setting, *failure.says)
    assert PASSWORD not in sentence
    assert out == ""


def in_a_process(args: list[str], tmp_path: Path, **env: str) -> tuple[int, str, str]:
    done = coachbot(args, tmp_path, **env)
    return done.returncode, done.stdout, done.stderr


#: Every command against every failure, but a never-migrated database for the commands that migrate it
#: (test_the_commands_that_create_the_schema_take_a_never_migrated_one).
MATRIX = [(command, kind) for command in COMMANDS for kind in FAILURES
          if not (command in CREATING and kind == "never migrated")]


@pytest.mark.parametrize(("command", "kind"), MATRIX)
def test_a_database_the_command_cannot_use_is_one_sentence_naming_the_setting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        command: str, kind: str) -> None:
    """Through `main`: a process for each of these would take minutes; a few follow in processes."""
    for key in [key for key in os.environ if key.startswith("COACHBOT_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no .env

    def run(args: list[str], _: Path, **env: str) -> tuple[int, str, str]:
        for key, value in {**env, "COACHBOT_DIALOGS_DIR": str(DIALOGS),
                           "COACHBOT_TELEGRAM_TOKEN": "123:TEST",
                           "COACHBOT_TELEGRAM_BASE_URL": "http://127.0.0.1:1/bot"}.items():
            monkeypatch.setenv(key, value)
        code = main(args)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    assert_says_what_to_check(FAILURES[kind], run_with(FAILURES[kind], command, tmp_path, run))


#: Each command once in its own process, the failures taking turns so that each one is met.
IN_A_PROCESS = [pair for pair in zip(COMMANDS, [*FAILURES] * len(COMMANDS), strict=False) if pair in MATRIX]


@pytest.mark.parametrize(("command", "kind"), IN_A_PROCESS)
def test_the_real_command_prints_one_sentence_and_no_traceback(tmp_path: Path, command: str,
                                                                kind: str) -> None:
    assert_says_what_to_check(FAILURES[kind], run_with(FAILURES[kind], command, tmp_path, in_a_process))


def test_every_failure_is_met_by_a_real_process() -> None:
    assert {kind for _, kind in IN_A_PROCESS} == set(FAILURES)


@pytest.mark.parametrize("command", ["db upgrade", "chat"])
def test_the_commands_that_create_the_schema_take_a_never_migrated_one(tmp_path: Path, command: str) -> None:
    code, _, err = run_with(FAILURES["never migrated"], command, tmp_path, in_a_process)
    assert code == 0 and "Traceback" not in err, err
    code, out, err = in_a_process(["coaches", "list"], tmp_path,
                                  COACHBOT_DATABASE_URL=FAILURES["never migrated"].url(tmp_path))
    assert (code, out) == (0, "no coaches registered\n"), err


def test_an_admin_command_never_creates_the_sqlite_file_it_was_given(tmp_path: Path) -> None:
    done = coachbot(["coaches", "list", "--database-url", f"sqlite+aiosqlite:///{tmp_path / 'typo.db'}"],
                    tmp_path)
    assert_one_sentence(done.returncode, done.stderr, "typo.db", "does not exist", "coachbot db upgrade")
    assert not (tmp_path / "typo.db").exists()


def test_a_schema_from_a_newer_coachbot_is_named_as_such(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'newer.db'}"
    assert main(["db", "upgrade", "--database-url", url]) == 0
    import sqlite3  # noqa: PLC0415

    with sqlite3.connect(tmp_path / "newer.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    done = coachbot(["coaches", "list", "--database-url", url], tmp_path)
    assert_one_sentence(done.returncode, done.stderr, "newer coachbot", "--database-url")


def test_an_older_schema_is_sent_to_db_upgrade(tmp_path: Path) -> None:
    from coachbot.adapters.db.migrate import downgrade  # noqa: PLC0415

    url = f"sqlite+aiosqlite:///{tmp_path / 'older.db'}"
    assert main(["db", "upgrade", "--database-url", url]) == 0
    downgrade(url, "-1")
    done = coachbot(["escalations", "list"], tmp_path, COACHBOT_DATABASE_URL=url)
    assert_one_sentence(done.returncode, done.stderr, "older schema", "coachbot db upgrade",
                        "COACHBOT_DATABASE_URL")


def test_a_bad_setting_in_the_environment_is_one_sentence_in_a_real_process(tmp_path: Path) -> None:
    done = coachbot(["coaches", "list"], tmp_path, COACHBOT_SCHEDULE_TICK_SECONDS="often")
    assert_one_sentence(done.returncode, done.stderr, "COACHBOT_SCHEDULE_TICK_SECONDS: expected a number")


@pytest.mark.parametrize("case", [
    ("COACHBOT_LOG_LEVEL", "LOUD", "expected one of DEBUG, INFO, WARNING, ERROR."),
    ("COACHBOT_TELEGRAM_POLL_TIMEOUT", "99", "expected a number of at most 60."),
    ("COACHBOT_WEBHOOK_PORT", "https", "expected a whole number."),
    ("COACHBOT_ALERT_SHOW_NAME", "maybe", "expected true or false."),
    ("COACHBOT_TELEGRAM_SENDS_PER_SECOND", "0", "expected a number above 0."),
    ("COACHBOT_SCHEDULE_REMINDER_TEXT", "", "expected at least 1 character."),
    ("COACHBOT_DATABASE_URL", "postgresql://u:hunter2@db/x",
     "postgresql://u:***@db/x lacks the asynchronous driver coachbot runs on; use postgresql+asyncpg://u:***@db/x."),
], ids=lambda case: case[0])
def test_a_bad_setting_names_the_variable_and_what_was_expected_never_the_value(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        case: tuple[str, str, str]) -> None:
    variable, value, expected = case
    monkeypatch.chdir(tmp_path)  # no .env
    monkeypatch.setenv("COACHBOT_DIALOGS_DIR", str(DIALOGS))
    monkeypatch.setenv(variable, value)
    assert main(["schedule", "status"]) == EXIT_CONFIG
    assert capsys.readouterr().err == f"coachbot: {variable}: {expected}\n"
    assert not list(tmp_path.iterdir())  # no database file made on the way
