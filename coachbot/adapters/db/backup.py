"""`coachbot backup` and `coachbot restore`: a consistent copy of the database in one file, and back.

SQLite: the online backup API (`sqlite3.Connection.backup`) copies a consistent snapshot while the bot
keeps writing (WAL readers never wait for the writer); the copy is checked with `PRAGMA
integrity_check` and switched to a plain rollback journal, so the file stands on its own. PostgreSQL:
`pg_dump -Fc` (one consistent snapshot) and `pg_restore --clean --if-exists`; the dump is checked by
listing it with `pg_restore --list`. The password goes to the tools in PGPASSWORD, never on a command
line. A backup is written next to its final name and renamed, so a failure never leaves half a file.

Restore refuses a target that already holds tables unless `force`: restoring replaces what is there.
Every failure is one `BackupError` sentence; the tools' messages are passed on only as their
`error:` lines (their context lines can quote rows).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from coachbot.adapters.db.errors import masked, sqlite_path

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_DUMP_MAGIC = b"PGDMP"


class BackupError(Exception):
    """A backup or restore that cannot be done as asked; the message is one sentence for the operator."""


@dataclass(frozen=True)
class Done:
    """What a backup or restore did, for the operator's terminal."""

    path: Path
    size: int
    tables: int

    def line(self, verb: str) -> str:
        return f"{verb} {self.path} ({self.size / 1024:.0f} KiB, {self.tables} tables, checked)"


# -- SQLite ------------------------------------------------------------------------------------------

def _sqlite_file(url: str) -> Path:
    path = sqlite_path(url)
    if path is None:
        raise BackupError("an in-memory SQLite database has nothing to back up or restore; name a file.")
    return path


def _sqlite_tables(connection: sqlite3.Connection) -> int:
    return int(connection.execute("SELECT count(*) FROM sqlite_master WHERE type = 'table'").fetchone()[0])


def _check_sqlite(connection: sqlite3.Connection, what: str) -> int:
    result = connection.execute("PRAGMA integrity_check").fetchone()[0]
    if result != "ok":
        raise BackupError(f"{what} failed SQLite's integrity check; keep the previous backup and check "
                          "the disk.")
    return _sqlite_tables(connection)


def backup_sqlite(url: str, out: Path) -> Done:
    source_path = _sqlite_file(url)
    if not source_path.is_file():
        raise BackupError(f"the SQLite file {source_path} does not exist; check COACHBOT_DATABASE_URL.")
    partial = _partial(out)
    try:
        with contextlib.closing(sqlite3.connect(source_path)) as source, \
                contextlib.closing(sqlite3.connect(partial)) as copy:
            source.backup(copy)  # in one step: one consistent snapshot
            copy.execute("PRAGMA journal_mode=DELETE")  # no -wal file beside the copy
            tables = _check_sqlite(copy, f"the copy of {source_path}")
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return Done(out, out.stat().st_size, tables)


def restore_sqlite(url: str, backup_file: Path, *, force: bool) -> Done:
    target_path = _sqlite_file(url)
    with contextlib.closing(sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True)) as source:
        tables = _check_sqlite(source, f"the backup {backup_file}")
        if target_path.exists() and not force:
            with contextlib.closing(sqlite3.connect(target_path)) as target:
                if _sqlite_tables(target):
                    raise _not_empty(str(target_path))
        with contextlib.closing(sqlite3.connect(target_path)) as target:
            source.backup(target)
            target.execute("PRAGMA journal_mode=WAL")  # as the service runs it
    return Done(target_path, target_path.stat().st_size, tables)


# -- PostgreSQL --------------------------------------------------------------------------------------

def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URL without the password, and the environment carrying it (PGPASSWORD)."""
    parsed = make_url(url)
    query = {"sslmode": str(parsed.query["ssl"])} if "ssl" in parsed.query else {}
    plain = URL.create("postgresql", parsed.username, None, parsed.host, parsed.port, parsed.database, query)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    return plain.render_as_string(hide_password=False), env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} is not installed; install the PostgreSQL client tools of the server's "
                          "version (for example: apt install postgresql-client).")
    return found


def _run(args: list[str], env: dict[str, str], what: str) -> str:
    result = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        errors = [line.strip() for line in result.stderr.splitlines() if "error:" in line][:2]
        said = "; ".join(masked(line) for line in errors) or f"exit status {result.returncode}"
        raise BackupError(f"{what} failed: {said}.")
    return result.stdout


async def postgres_tables(url: str) -> int:
    """Tables outside PostgreSQL's own schemas: zero means an empty database."""
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema NOT IN "
                "('pg_catalog', 'information_schema')"))).scalar_one())
    finally:
        await engine.dispose()


def _dump_tables(listing: str) -> int:
    return sum(" TABLE DATA " in line for line in listing.splitlines())


def backup_postgres(url: str, out: Path) -> Done:
    dsn, env = _libpq(url)
    pg_dump, pg_restore = _tool("pg_dump"), _tool("pg_restore")
    partial = _partial(out)
    try:
        _run([pg_dump, "--format=custom", f"--file={partial}", f"--dbname={dsn}"], env, "pg_dump")
        tables = _dump_tables(_run([pg_restore, "--list", str(partial)], env, "checking the dump"))
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return Done(out, out.stat().st_size, tables)


def restore_postgres(url: str, backup_file: Path, *, tables_now: int, force: bool) -> Done:
    dsn, env = _libpq(url)
    pg_restore = _tool("pg_restore")
    tables = _dump_tables(_run([pg_restore, "--list", str(backup_file)], env, "reading the backup"))
    if tables_now and not force:
        raise _not_empty(masked(url))
    _run([pg_restore, "--clean", "--if-exists", "--no-owner", "--single-transaction", "--exit-on-error",
          f"--dbname={dsn}", str(backup_file)], env, "pg_restore")
    return Done(backup_file, backup_file.stat().st_size, tables)


# -- both --------------------------------------------------------------------------------------------

def backup_kind(path: Path) -> str:
    """"sqlite" or "postgresql", from the file's first bytes; a `BackupError` for anything else."""
    try:
        with path.open("rb") as file:
            head = file.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        raise BackupError(f"{path} does not exist; give the file `coachbot backup -o` wrote.") from None
    except IsADirectoryError:
        raise BackupError(f"{path} is a folder; give the file `coachbot backup -o` wrote.") from None
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_DUMP_MAGIC):
        return "postgresql"
    raise BackupError(f"{path} is not a coachbot backup; expected a SQLite file or a pg_dump -Fc archive.")


def check_output(out: Path) -> None:
    if out.exists():
        raise BackupError(f"{out} already exists; give a new file name (a backup never overwrites one).")
    if not out.parent.is_dir():
        raise BackupError(f"the folder {out.parent} does not exist; create it or give another path.")


def check_match(kind: str, url: str) -> None:
    wanted = "sqlite" if url.startswith("sqlite") else "postgresql"
    if kind != wanted:
        names = {"sqlite": "a SQLite file", "postgresql": "a PostgreSQL dump"}
        raise BackupError(f"the backup is {names[kind]} but the database is {wanted}; restore it to a "
                          f"{kind} database URL.")


def _partial(out: Path) -> Path:
    return out.with_name(f".{out.name}.partial")


def _not_empty(where: str) -> BackupError:
    return BackupError(f"{where} already holds tables; restoring replaces them all, so add --force if "
                       "that is what you want (stop the bot first).")
