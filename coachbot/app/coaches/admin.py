"""The admin's side of coaches, for the CLI: invite codes, the list of coaches, reassigning a patient,
removing a coach.

Each function runs one transaction on its own engine (the CLI is a separate process from the bot) and
returns the plain sentences to print; every change goes into the audit log with actor "cli". The schema
must be current already (`coachbot db upgrade`): an admin command never creates a database, so a
mistyped URL is reported instead of quietly starting an empty one.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from coachbot.adapters.db import store
from coachbot.adapters.db.database import make_engine, make_sessionmaker
from coachbot.adapters.db.models import Coach, CoachInvite, Patient
from coachbot.adapters.db.unit_of_work import joined
from coachbot.app.coaches.coaching import pick_coach
from coachbot.app.coaches.invites import NewInvite, code_hash, create_invite


class AdminError(Exception):
    """Something the admin asked for that cannot be done; the message is one sentence to print."""


async def invite(database_url: str, *, name: str, is_admin: bool, is_backup: bool,
                 expires_hours: float) -> NewInvite:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            return await create_invite(joined(session), dt.datetime.now(dt.UTC), name=name, is_admin=is_admin,
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


async def remove(database_url: str, coach_or_code: str) -> str:
    """`coachbot coaches remove`: see `remove_coach`."""
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            return await remove_coach(session, coach_or_code, dt.datetime.now(dt.UTC))
    finally:
        await engine.dispose()


async def remove_coach(session: AsyncSession, coach_or_code: str, now: dt.datetime) -> str:
    """Mark a coach inactive (by number, or by the invite code they joined with) and give each of their
    patients to the active coach with the fewest open patients at that moment. An unused code is
    revoked instead. Inactive, the coach gets no alerts, their buttons are refused, and their chat is
    told their access was removed rather than signed up as a patient. Audited with actor "cli"."""
    ref = coach_or_code.strip()
    if ref.isdigit():
        coach = await session.get(Coach, int(ref))
    else:
        invite = (await session.execute(
            select(CoachInvite).where(CoachInvite.code_hash == code_hash(ref)))).scalar_one_or_none()
        if invite is None:
            raise AdminError("expected a coach's number (see `coachbot coaches list`) or an invite code")
        if invite.used_by is None:
            if invite.used_at is None and invite.expires_at > now:
                invite.expires_at = now
                store.audit(session, actor="cli", action="coach_invite_revoked", subject=None,
                            detail={"invite": invite.id}, now=now)
                return "that invite code was not used yet; it is revoked now"
            raise AdminError("that invite code was never used to join, and it no longer works")
        coach = await session.get(Coach, invite.used_by)
    if coach is None:
        raise AdminError(f"there is no coach {ref[:16]} (see `coachbot coaches list`)")
    if not coach.active:
        raise AdminError(f"coach {coach.id} was removed already")
    coach.active = False
    await session.flush()  # from here on, `pick_coach` no longer offers them
    patients = (await session.execute(
        select(Patient).where(Patient.coach_id == coach.id).order_by(Patient.id))).scalars().all()
    to: list[int] = []
    for patient in patients:
        heir = await pick_coach(joined(session))
        patient.coach_id = heir.id if heir is not None else None
        store.audit(session, actor="cli", action="patient_reassigned", subject=patient.label,
                    detail={"from": coach.id, "to": patient.coach_id, "why": "coach_removed"}, now=now)
        if heir is not None:
            to.append(heir.id)
            await session.flush()  # counted for the next patient
    store.audit(session, actor="cli", action="coach_removed", subject=f"coach:{coach.id}",
                detail={"patients": len(patients)}, now=now)
    if not patients:
        return f"coach {coach.id} is removed; they had no patients"
    if not to:
        return (f"coach {coach.id} is removed; no active coach is left, so their {len(patients)} "
                "patient(s) go to the next coach who joins")
    shares = ", ".join(f"{to.count(c)} to coach {c}" for c in sorted(set(to)))
    return f"coach {coach.id} is removed; their {len(patients)} patient(s) went {shares}"
