"""Database failures an operator can act on, each as one sentence naming the setting to check.

A command that opens the database goes through `database_errors`: whatever SQLAlchemy, sqlite3,
asyncpg or the network raise for a wrong URL, a missing file or database, a refused connection or a
schema that was never migrated becomes a `DatabaseUnavailable` whose message is the sentence to print.
The URL is shown with its password masked; no SQL, no driver message text (it can hold row values).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import sqlite3

# SQLAlchemy and sqlite3 are imported where used: `config` checks URLs with this module, and commands
# that never open a database should not pay for loading them.

#: How the service's drivers are named in a URL, per database.
ASYNC_DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
_ALIASES = {"postgres": "postgresql", "sqlite3": "sqlite"}
_EXAMPLES = "sqlite+aiosqlite:///FILE or postgresql+asyncpg://USER@HOST:PORT/DATABASE"
_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")

#: PostgreSQL SQLSTATE codes (and classes) with a sentence of their own.
_MISSING_DATABASE = "3D000"
_UNDEFINED = ("42P01", "42703")  # undefined table, undefined column: the schema is behind the code
_REFUSED_LOGIN_CLASS = "28"
_NOT_NOW = ("57P03", "53300")  # the server is starting up, or has no connection slot left
_CONNECTION_CLASS = "08"


class DatabaseUnavailable(Exception):
    """The configured database cannot be used as it is; the message is one sentence for the operator."""


def masked(url: str) -> str:
    """`url` with any password replaced by ***, parseable or not."""
    return _PASSWORD.sub(r"\1***@", url)


def url_problem(url: str) -> str | None:
    """What is wrong with the shape of `url` (no I/O), as the rest of a sentence; None when nothing is.
    Only the asynchronous drivers the service runs on are accepted."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415
    from sqlalchemy.exc import ArgumentError  # noqa: PLC0415

    try:
        parsed = make_url(url.strip())
    except (ArgumentError, ValueError):
        return f"{masked(url)!r} is not a database URL; expected {_EXAMPLES}"
    backend, _, driver = parsed.drivername.partition("+")
    backend = _ALIASES.get(backend, backend)
    wanted = ASYNC_DRIVERS.get(backend)
    if wanted is None:
        return f"{backend!r} is not a database coachbot supports; expected {_EXAMPLES}"
    if driver != wanted:
        fixed = parsed.set(drivername=f"{backend}+{wanted}").render_as_string(hide_password=True)
        return f"{masked(url)} lacks the asynchronous driver coachbot runs on; use {fixed}"
    return None


def sqlite_path(url: str) -> Path | None:
    """The file a SQLite URL names, or None for PostgreSQL and in-memory databases."""
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    parsed = make_url(url)
    if parsed.drivername.partition("+")[0] != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def missing_file(url: str, source: str, *, create: bool) -> DatabaseUnavailable | None:
    """For a SQLite URL, a sentence when its folder is missing, or (unless the command may `create`
    the database) when the file itself is, before SQLite quietly creates an empty one."""
    path = sqlite_path(url)
    if path is None:
        return None
    where = path.resolve()
    if not where.parent.is_dir():
        return DatabaseUnavailable(
            f"{source} names the SQLite file {where}, but the folder {where.parent} does not exist; "
            "create the folder or correct the path.")
    if where.is_dir():
        return DatabaseUnavailable(
            f"{source} names {where}, which is a folder; give the path of a file in it.")
    if not create and not where.exists():
        return DatabaseUnavailable(
            f"{source} names the SQLite file {where}, which does not exist; correct the path, or create "
            "the database with `coachbot db upgrade`.")
    return None


def explain(exc: BaseException, url: str, source: str, *, connecting: bool) -> DatabaseUnavailable | None:
    """The sentence for `exc` raised while using the database at `url`, or None when it is not a
    database problem this module knows. Network errors (OSError) count only while `connecting`: later,
    in a command that also talks to Telegram, they may not be the database's."""
    import sqlite3  # noqa: PLC0415

    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError  # noqa: PLC0415

    shown = f"{source} ({masked(url)})"
    if isinstance(exc, DatabaseUnavailable):
        return exc
    if isinstance(exc, (ArgumentError, NoSuchModuleError)):
        return DatabaseUnavailable(f"{source}: {url_problem(url) or 'expected ' + _EXAMPLES}.")
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return _driver_error(exc.orig, shown, source)
    if isinstance(exc, SQLAlchemyError):
        return None
    if isinstance(exc, sqlite3.Error):
        return _driver_error(exc, shown, source)
    if getattr(exc, "sqlstate", None):  # an asyncpg error SQLAlchemy did not wrap (while connecting)
        return _driver_error(exc, shown, source)
    if connecting and isinstance(exc, OSError):
        return _network_error(exc, url, shown)
    return None


@contextmanager
def database_errors(url: str, source: str, *, connecting: bool = True) -> Iterator[None]:
    """Turn the database failures `explain` knows into `DatabaseUnavailable`; others pass unchanged."""
    try:
        yield
    except Exception as exc:
        problem = explain(exc, url, source, connecting=connecting)
        if problem is None:
            raise
        raise problem from None


def _driver_error(error: BaseException, shown: str, source: str) -> DatabaseUnavailable:
    import sqlite3  # noqa: PLC0415

    if isinstance(error, sqlite3.Error):
        return _sqlite_error(error, shown)
    code = str(getattr(error, "sqlstate", None) or "")
    if code == _MISSING_DATABASE:
        return DatabaseUnavailable(
            f"{shown} names a PostgreSQL database that does not exist; create it (createdb NAME) or "
            "correct the name after the last /.")
    if code in _UNDEFINED:
        return DatabaseUnavailable(
            f"the database at {shown} lacks tables or columns this coachbot needs; "
            "run `coachbot db upgrade` first.")
    if code.startswith(_REFUSED_LOGIN_CLASS):
        return DatabaseUnavailable(
            f"the PostgreSQL server at {shown} refused the login; check the user name and password in "
            f"{source} and the server's pg_hba.conf.")
    if code in _NOT_NOW:
        return DatabaseUnavailable(
            f"the PostgreSQL server at {shown} is not taking connections just now (starting up or full); "
            "try again shortly, or check the server.")
    if code.startswith(_CONNECTION_CLASS):
        return DatabaseUnavailable(
            f"the connection to the PostgreSQL server at {shown} failed; check that the server is running "
            "and reachable.")
    return DatabaseUnavailable(
        f"the database at {shown} failed ({type(error).__name__}{' ' + code if code else ''}); check "
        f"{source} and the database server.")


def _sqlite_error(error: sqlite3.Error, shown: str) -> DatabaseUnavailable:
    name = getattr(error, "sqlite_errorname", "")
    text = str(error)
    if text.startswith(("no such table", "no such column")):
        return DatabaseUnavailable(
            f"the SQLite database at {shown} lacks tables or columns this coachbot needs; "
            "run `coachbot db upgrade` first.")
    if name == "SQLITE_NOTADB":
        return DatabaseUnavailable(f"{shown} names a file that is not a SQLite database; correct the path.")
    if name == "SQLITE_CANTOPEN" or text == "unable to open database file":
        return DatabaseUnavailable(
            f"cannot open the SQLite file {shown} names; check that its folder exists and this user may "
            "write to it.")
    if name.startswith("SQLITE_READONLY"):
        return DatabaseUnavailable(
            f"the SQLite file {shown} names is read-only for this user; check its and its folder's "
            "permissions.")
    if name.startswith("SQLITE_BUSY") or name.startswith("SQLITE_LOCKED"):
        return DatabaseUnavailable(
            f"the SQLite file {shown} names stayed locked by another process; try again shortly.")
    return DatabaseUnavailable(
        f"the SQLite database at {shown} failed ({name or type(error).__name__}); check the file.")


def _network_error(error: OSError, url: str, shown: str) -> DatabaseUnavailable:
    from sqlalchemy.engine import make_url  # noqa: PLC0415

    parsed = make_url(url)
    server = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    if isinstance(error, ConnectionRefusedError):
        return DatabaseUnavailable(
            f"{shown} points at {server}, where nothing accepts connections; check the host and port, "
            "and that PostgreSQL is running.")
    if isinstance(error, socket.gaierror):
        return DatabaseUnavailable(f"{shown} names the host {parsed.host!r}, which is not known; check its "
                                   "spelling.")
    if isinstance(error, TimeoutError):
        return DatabaseUnavailable(
            f"{shown} points at {server}, which did not answer in time; check the host, port and "
            "firewall.")
    return DatabaseUnavailable(
        f"{shown} points at {server}, which cannot be reached ({type(error).__name__}); check the host, "
        "port and network.")


async def check_database(url: str, source: str, *, migrated: bool) -> None:
    """What a command that opens the database checks first, raising `DatabaseUnavailable`: the URL's
    shape; for SQLite the folder (and, when `migrated` is needed, the file); then, when `migrated`, one
    connection that reads the schema's revision, else (PostgreSQL only) one that just connects. A new
    SQLite file is left for the command itself to create."""
    from coachbot.adapters.db.migrate import SchemaState, connects, schema_state  # noqa: PLC0415

    if problem := url_problem(url):
        raise DatabaseUnavailable(f"{source}: {problem}.")
    if missing := missing_file(url, source, create=not migrated):
        raise missing
    shown = f"{source} ({masked(url)})"
    with database_errors(url, source):
        if not migrated:
            if not url.strip().startswith("sqlite"):  # url_problem let through sqlite+aiosqlite only
                await connects(url)
            return
        state = await schema_state(url)
    if state is SchemaState.NEVER_MIGRATED:
        raise DatabaseUnavailable(
            f"the database at {shown} has no coachbot tables yet; run `coachbot db upgrade` with the same "
            f"{source} first.")
    if state is SchemaState.BEHIND:
        raise DatabaseUnavailable(
            f"the database at {shown} has an older schema than this coachbot; run `coachbot db upgrade` "
            "first.")
    if state is SchemaState.AHEAD:
        raise DatabaseUnavailable(
            f"the database at {shown} was upgraded by a newer coachbot than this one; run that version, "
            f"or check that {source} names the right database.")
