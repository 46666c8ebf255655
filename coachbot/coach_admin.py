"""The admin's side of coaches, for the CLI: invite codes, the list of coaches, reassigning a patient.

Each function runs one transaction on its own engine (the CLI is a separate process from the bot) and
returns the plain sentences to print; every change goes into the audit log with actor "cli". The schema
must be current already (`coachbot db upgrade`): an admin command never creates a database, so a
mistyped URL is reported instead of quietly starting an empty one.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from coachbot.adapters.db import store
from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.models import Coach, Patient
from coachbot.coach_invites import NewInvite, create_invite


class AdminError(Exception):
    """Something the admin asked for that cannot be done; the message is one sentence to print."""


async def invite(database_url: str, *, name: str, is_admin: bool, is_backup: bool,
                 expires_hours: float) -> NewInvite:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            return await create_invite(session, dt.datetime.now(dt.UTC), name=name, is_admin=is_admin,
                                       is_backup=is_backup, expires_in=dt.timedelta(hours=expires_hours))
    finally:
        await engine.dispose()


async def coaches(database_url: str) -> list[str]:
    """One line per coach: number, name, roles, active or not, open patients."""
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            rows = await session.execute(
                select(Coach, func.count(Patient.id))
                .outerjoin(Patient, (Patient.coach_id == Coach.id) & (Patient.status != "stopped"))
                .group_by(Coach.id).order_by(Coach.id))
            lines = []
            for coach, open_patients in rows.all():
                roles = [r for r, on in (("admin", coach.is_admin), ("backup", coach.is_backup)) if on]
                lines.append(f"{coach.id}\t{coach.name}\t{','.join(roles) or '-'}\t"
                             f"{'active' if coach.active else 'inactive'}\t{open_patients} open patients")
            return lines
    finally:
        await engine.dispose()


async def reassign(database_url: str, label: str, coach_id: int) -> str:
    engine = make_engine(database_url)
    now = dt.datetime.now(dt.UTC)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            patient = (await session.execute(
                select(Patient).where(Patient.label == label.strip().upper()))).scalar_one_or_none()
            if patient is None:
                raise AdminError(f"no patient has the label {label.strip()[:16]!r}")
            coach = await session.get(Coach, coach_id)
            if coach is None or not coach.active:
                raise AdminError(f"there is no active coach {coach_id} (see `coachbot coaches list`)")
            store.audit(session, actor="cli", action="patient_reassigned", subject=patient.label,
                        detail={"from": patient.coach_id, "to": coach.id}, now=now)
            patient.coach_id = coach.id
            return f"{patient.label} is now with coach {coach.id}"
    finally:
        await engine.dispose()
