"""The last good dialog set: kept at each start that loaded, served when a later start finds a broken file.

An admin's bad edit should not take the coach off the air: the set that last loaded and validated is
stored (its files' text, keyed by the SHA-256 of the folder) so the service can run on it while the
admins fix the folder. Dot files and folders (editor swap files, `.git`) are not part of a set.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from coachbot.adapters.db.models import Coach, DialogSet, OutboxMessage, table_of
from coachbot.spec import DialogError, load_library
from coachbot.spec.library import DialogLibrary

log = logging.getLogger("coachbot.dialogs")


@dataclass(frozen=True)
class StoredSet:
    """One stored set: the folder's files as {relative path: text}, and when it loaded."""

    sha256: str
    files: dict[str, str]
    loaded_at: dt.datetime


def read_folder(dialogs_dir: Path) -> dict[str, str]:
    """Every file under `dialogs_dir` as {relative POSIX path: UTF-8 text}, dot files left out.
    Raises UnicodeDecodeError for a file that is not UTF-8 text (the caller stores nothing then)."""
    files: dict[str, str] = {}
    for path in sorted(dialogs_dir.rglob("*")):
        relative = path.relative_to(dialogs_dir)
        if path.is_file() and not any(part.startswith(".") for part in relative.parts):
            files[relative.as_posix()] = path.read_bytes().decode("utf-8")
    return files


def fingerprint(files: dict[str, str]) -> str:
    """SHA-256 over the paths and bytes, in path order: equal folders give equal hashes."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode("utf-8") + b"\0" + files[name].encode("utf-8") + b"\0")
    return digest.hexdigest()


async def remember(session: AsyncSession, files: dict[str, str], now: dt.datetime) -> bool:
    """Store `files` as the newest good set unless a set with the same hash is stored; True if stored."""
    sha = fingerprint(files)
    if (await session.execute(select(DialogSet.id).where(DialogSet.sha256 == sha))).first() is not None:
        return False
    session.add(DialogSet(sha256=sha, files=dict(files), loaded_at=now))
    await session.flush()
    return True


async def last_good(session: AsyncSession) -> StoredSet | None:
    """The set stored last, or None when no start has ever loaded one."""
    row = (await session.execute(select(DialogSet).order_by(DialogSet.loaded_at.desc(), DialogSet.id.desc())
                                 .limit(1))).scalar_one_or_none()
    if row is None:
        return None
    return StoredSet(sha256=row.sha256, files={str(k): str(v) for k, v in row.files.items()},
                     loaded_at=row.loaded_at)


def write_folder(stored: StoredSet, target: Path) -> None:
    """Write a stored set's files under `target`; refuses a path that would leave it."""
    for name, text in stored.files.items():
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts:
            raise ValueError(f"stored dialog file path {name!r} is not inside the folder")
        path = target.joinpath(*relative.parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))


async def tell_admins(session: AsyncSession, text: str, now: dt.datetime) -> int:
    """One text message to every active admin coach reachable in Telegram, written to the outbox;
    returns how many were queued."""
    admins = (await session.execute(select(Coach.telegram_user_id).where(
        Coach.is_admin.is_(True), Coach.active.is_(True), Coach.telegram_user_id.is_not(None))
        .order_by(Coach.id))).scalars().all()
    rows: list[dict[str, Any]] = [
        {"chat_id": chat_id, "lane": 0, "kind": "text", "payload": {"text": text}, "created_at": now,
         "not_before": now, "attempts": 0, "patient_id": None, "escalation_id": None}
        for chat_id in admins]
    if rows:
        await session.execute(insert(table_of(OutboxMessage)), rows)
    return len(rows)


def admin_notice(dialogs_dir: Path, loaded_at: dt.datetime) -> str:
    """What the admins are told in Telegram when a start serves the last good set."""
    return (f"The dialog files in {dialogs_dir} have problems; serving the set that loaded on "
            f"{_when(loaded_at)}. Run coachbot dialogs validate.")


def _when(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


async def load_or_last_good(sessions: async_sessionmaker[AsyncSession], dialogs_dir: Path, spare: Path,
                            now: dt.datetime) -> tuple[DialogLibrary, Path]:
    """The library from `dialogs_dir`, stored as the newest good set when it is new; when the folder
    has problems, the last good set written under `spare` and loaded from there (logged as an error,
    the admins told). Returns the library and the folder it came from; re-raises the DialogError when
    no set is stored or the stored one no longer loads."""
    try:
        library = load_library(dialogs_dir)
    except DialogError as broken:
        async with sessions() as session, session.begin():
            stored = await last_good(session)
        if stored is None:
            raise
        write_folder(stored, spare)
        try:
            library = load_library(spare)
        except DialogError:
            log.error("the last good dialog set (%s) no longer loads either", stored.sha256[:12])
            raise broken from None
        for problem in broken.problems:
            where = f"{problem.file}:{problem.line}" if problem.line is not None else problem.file
            log.error("dialog file problem at %s: %s", where, problem.message)
        log.error("the dialog files in %s have %d problem(s): serving the last good set from %s (%s)",
                  dialogs_dir, len(broken.problems), _when(stored.loaded_at), stored.sha256[:12])
        async with sessions() as session, session.begin():
            told = await tell_admins(session, admin_notice(dialogs_dir, stored.loaded_at), now)
        if not told:
            log.error("no active admin coach to tell about the broken dialog files")
        return library, spare
    try:
        files = read_folder(dialogs_dir)
    except (OSError, UnicodeDecodeError) as exc:
        log.warning("dialog set not stored as the last good one: %s", type(exc).__name__)
        return library, dialogs_dir
    async with sessions() as session, session.begin():
        if await remember(session, files, now):
            log.info("stored the dialog set %s as the last good one", fingerprint(files)[:12])
    return library, dialogs_dir
