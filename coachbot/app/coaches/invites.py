"""Invite codes: how a new coach joins from their own Telegram account.

An admin runs `coachbot coaches invite`; the code is printed once and only its SHA-256 is stored (a
12-character code from a 32-letter alphabet has 60 bits, far beyond guessing, so a plain hash is
enough). The coach sends `/coach CODE` to the bot; a wrong, used or expired code gets the same one
sentence, so the answer says nothing about which codes exist.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from coachbot.app.unit_of_work import CoachRecord, UnitOfWork

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""No 0/O or 1/I: a code read over the phone survives."""
CODE_LENGTH = 12
DEFAULT_EXPIRY = dt.timedelta(hours=72)


@dataclass(frozen=True, slots=True)
class NewInvite:
    code: str
    expires_at: dt.datetime
    invite_id: int


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i:i + 4] for i in range(0, CODE_LENGTH, 4))


def code_hash(code: str) -> str:
    """The stored form of a code; case, spaces and dashes do not matter to the person typing it."""
    normal = "".join(ch for ch in code.upper() if ch.isalnum())
    return hashlib.sha256(normal.encode()).hexdigest()


async def create_invite(uow: UnitOfWork, now: dt.datetime, *, name: str, is_admin: bool = False,
                        is_backup: bool = False, expires_in: dt.timedelta = DEFAULT_EXPIRY) -> NewInvite:
    """A fresh invite; the returned code is the only copy there will ever be."""
    code = new_code()
    invite = await uow.invites.add(code_hash=code_hash(code), name=name, is_admin=is_admin,
                                   is_backup=is_backup, now=now, expires_at=now + expires_in)
    uow.audit.record(actor="cli", action="coach_invite_created", subject=None,
                detail={"invite": invite.id, "admin": is_admin, "backup": is_backup,
                        "expires_at": invite.expires_at.isoformat()}, now=now)
    return NewInvite(code=code, expires_at=invite.expires_at, invite_id=invite.id)


async def redeem(uow: UnitOfWork, chat_id: int, code: str, now: dt.datetime) -> CoachRecord | None:
    """Register the sender of `/coach CODE` as a coach; None when the code is wrong, used or expired.

    The invite is taken with a compare-and-set (used_at still empty), so two people racing with one
    code cannot both join. A Telegram account that was a coach before and was deactivated is
    re-activated with the invite's name and roles rather than duplicated.
    """
    invite = await uow.invites.by_hash(code_hash(code))
    if invite is None or invite.used_at is not None or invite.expires_at <= now:
        uow.audit.record(actor=f"chat:{chat_id}", action="coach_code_refused", subject=None,
                    detail={"reason": "unknown" if invite is None else
                            "used" if invite.used_at is not None else "expired"}, now=now)
        return None
    if not await uow.invites.take(invite.id, now):
        return None
    coach = await uow.coaches.by_telegram_id(chat_id)
    if coach is None:
        coach = await uow.coaches.add(telegram_user_id=chat_id, name=invite.name, is_admin=invite.is_admin,
                                      is_backup=invite.is_backup, now=now)
    else:
        coach.name, coach.active = invite.name, True
        coach.is_admin, coach.is_backup = invite.is_admin, invite.is_backup
    await uow.invites.used_by(invite.id, coach.id)
    uow.audit.record(actor=f"coach:{coach.id}", action="coach_joined", subject=None,
                detail={"invite": invite.id, "admin": coach.is_admin, "backup": coach.is_backup}, now=now)
    return coach
