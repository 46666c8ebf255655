"""The staff side of data rights, for `coachbot patients erase|export|purge`: each opens the database,
does its work in one transaction, leaves an audit entry (labels only) and returns what to print.

The actor is "staff:cli": the command line has no signed-in coach, and an operator's name is never
written to the audit log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from coachbot.adapters.db import store
from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.models import Patient
from coachbot.app.data_rights.erase import chats_to_tell, erase_patient
from coachbot.app.data_rights.export import export_patient, measurements_csv
from coachbot.app.data_rights.purge import inactive_patients, purge
from coachbot.app.data_rights.texts import DataRightsTexts

STAFF = "staff:cli"
T = TypeVar("T")


class NoSuchPatient(Exception):
    """The label names no patient; the message says so in one sentence."""


@dataclass(frozen=True, slots=True)
class Exported:
    json_path: Path
    csv_path: Path
    measurements: int


async def _in_transaction(url: str, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            return await work(session)
    finally:
        await engine.dispose()


async def _patient(session: AsyncSession, label: str) -> Patient:
    found = (await session.execute(select(Patient).where(Patient.label == label.strip().upper()))) \
        .scalar_one_or_none()
    if found is None:
        raise NoSuchPatient(f"no patient has the label {label.strip()!r}; expected one such as P-4KX7QM")
    return found


async def erase(url: str, label: str, texts: DataRightsTexts, now: dt.datetime, *,
                group_chat_id: int | None = None) -> str:
    """Erase one patient, audited; their coach is told through the outbox (a running bot sends it),
    plainly and with the coaches' group when an urgent escalation about them was still open."""
    async def work(session: AsyncSession) -> str:
        erasure = await erase_patient(session, await _patient(session, label), actor=STAFF, now=now)
        words = texts.forget.coach_told_open_alert if erasure.urgent_open else texts.forget.coach_told
        chats = chats_to_tell(erasure, group_chat_id)
        if chats:
            await session.execute(store.INSERT_OUTBOX, [{
                "chat_id": chat_id, "lane": 0, "kind": "text",
                "payload": {"text": words.format(label=erasure.label).strip()},
                "created_at": now, "not_before": now, "attempts": 0, "patient_id": None,
                "escalation_id": None} for chat_id in chats])
        told = "; their coach will be told" if erasure.coach_chat_id is not None else ""
        if erasure.urgent_open:
            told += ("; an urgent escalation about them was still open: "
                     + ("the coach is told it is gone" if chats else
                        "NO coach could be told, so tell the service's clinical lead yourself"))
        return f"erased {erasure.label}: {erasure.total} row(s) removed, an audit entry kept{told}"

    return await _in_transaction(url, work)


async def export(url: str, label: str, out: Path, now: dt.datetime) -> Exported:
    """Write everything held about one patient to OUT/LABEL.json and OUT/LABEL-measurements.csv."""
    async def work(session: AsyncSession) -> Exported:
        patient = await _patient(session, label)
        data = await export_patient(session, patient)
        store.audit(session, actor=STAFF, action="patient_exported", subject=patient.label, detail={},
                    now=now)
        json_path, csv_path = out / f"{patient.label}.json", out / f"{patient.label}-measurements.csv"
        files = {json_path: json.dumps(data, indent=2, ensure_ascii=False), csv_path: measurements_csv(data)}
        await asyncio.to_thread(_write, files)
        return Exported(json_path, csv_path, len(data["measurements"]))

    return await _in_transaction(url, work)


def _write(files: dict[Path, str]) -> None:
    """The export's files (off the event loop: a slow disk must not hold the transaction's loop)."""
    for path, content in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")


async def retention(url: str, days: int, now: dt.datetime, *, dry_run: bool) -> list[str]:
    """Lines to print: the patients inactive for more than `days` days, and erased unless `dry_run`."""
    async def work(session: AsyncSession) -> list[str]:
        if dry_run:
            found = await inactive_patients(session, now, days)
            return [f"{i.label}  last active {i.last_active:%Y-%m-%d}" for i in found] + [
                f"{len(found)} patient(s) inactive for more than {days} days would be erased; "
                "run again without --dry-run to erase them"]
        erased = await purge(session, now, days)
        return [f"erased {e.label} ({e.total} rows)" for e in erased] + [
            f"{len(erased)} patient(s) inactive for more than {days} days erased"]

    return await _in_transaction(url, work)
