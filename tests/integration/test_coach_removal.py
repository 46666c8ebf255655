"""Removing a coach (`coach_admin.remove_coach`, what `coachbot coaches remove` runs) through the
service on a real database: their patients move to the least-loaded active coach, their chat is told
their access was removed instead of being signed up as a patient, and their alert buttons stop working."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from coachbot.adapters.db.models import Coach, CoachInvite, Escalation, Patient
from coachbot.app.channel import EscalationPress
from coachbot.app.coaches.admin import AdminError, remove_coach
from tests.integration.test_coach_tools import ALEX, BEA, KIM, NOT_VALID, SAM, Desk, Sessions
from tests.support.basics import library

CARL, ADA = 44, 902
REMOVED = library().service.channel.coach_tools.access_removed
NOT_ALLOWED = library().escalation.card.not_allowed  # type: ignore[union-attr]


async def remove(desk: Desk, ref: str) -> str:
    async with desk.sessions() as session, session.begin():
        return await remove_coach(session, ref, desk.clock())


async def coach_ids(desk: Desk) -> dict[str, int | None]:
    async with desk.sessions() as session:
        return {p.label: p.coach_id for p in (await session.execute(select(Patient))).scalars()}


async def test_removed_coach_is_told_so_and_never_signed_up_as_a_patient(session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    sam = await desk.coach(SAM, "Sam")
    await desk.coach(KIM, "Kim")
    assert await remove(desk, str(sam)) == f"coach {sam} is removed; they had no patients"
    for text in ("/start", "hello", "/queue"):
        assert await desk.said(SAM, text) == REMOVED
    assert await desk.count(Patient) == 0
    [entry] = await desk.audit("coach_removed")
    assert (entry.actor, entry.subject, entry.detail) == ("cli", f"coach:{sam}", {"patients": 0})


async def test_patients_of_a_removed_coach_go_to_the_active_coach_with_the_fewest(
        session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    sam = await desk.coach(SAM, "Sam")
    alex, bea, carl = [await desk.onboard(chat) for chat in (ALEX, BEA, CARL)]  # all Sam's
    kim = await desk.coach(KIM, "Kim")
    ada = await desk.coach(ADA, "Ada")
    await desk.onboard(45)  # Kim and Ada tie at none: the oldest, Kim, takes this one
    said = await remove(desk, str(sam))
    # Ada (0) takes Alex, then Kim (1) and Ada (1) tie: Kim; then Ada (1) against Kim (2): Ada
    assert said == f"coach {sam} is removed; their 3 patient(s) went 1 to coach {kim}, 2 to coach {ada}"
    owners = await coach_ids(desk)
    assert [owners[p.label] for p in (alex, bea, carl)] == [ada, kim, ada]
    moves = [(e.subject, e.detail) for e in await desk.audit("patient_reassigned")]
    assert moves == [(alex.label, {"from": sam, "to": ada, "why": "coach_removed"}),
                     (bea.label, {"from": sam, "to": kim, "why": "coach_removed"}),
                     (carl.label, {"from": sam, "to": ada, "why": "coach_removed"})]
    with pytest.raises(AdminError, match="removed already"):
        await remove(desk, str(sam))


async def test_a_removed_coach_alert_buttons_are_refused(session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    sam = await desk.coach(SAM, "Sam")
    alex = await desk.onboard(ALEX)
    await desk.escalate(alex, "urgent", "pain_spike", hours_ago=1)
    async with desk.sessions() as session:
        escalation = (await session.execute(select(Escalation))).scalar_one()
    await remove(desk, str(sam))
    desk.update_id += 1
    result = await desk.service.handle_update(desk.update_id, SAM, EscalationPress(
        action="ack", escalation_id=escalation.id, user_id=SAM, message_id=7))
    assert [row.payload.get("text") for row in result.queued] == [NOT_ALLOWED]
    async with desk.sessions() as session:
        assert (await session.get(Escalation, escalation.id)).status == "open"  # type: ignore[union-attr]


async def test_removal_by_invite_code_and_rejoining_with_a_new_one(session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    code = await desk.invite(name="Kim")
    await desk.send(KIM, f"/coach {code}")
    async with desk.sessions() as session:
        kim = (await session.execute(select(Coach))).scalar_one()
    assert await remove(desk, code.lower()) == f"coach {kim.id} is removed; they had no patients"
    assert await desk.said(KIM, "/queue") == REMOVED
    assert await desk.said(KIM, f"/coach {code}") == NOT_VALID  # the old code stays used
    again = await desk.invite(name="Kim")
    assert "registered as a coach" in await desk.said(KIM, f"/coach {again}")
    assert await desk.said(KIM, "/queue") != REMOVED


async def test_an_unused_code_is_revoked_and_unknown_ones_are_refused(session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    code = await desk.invite()
    assert await remove(desk, code) == "that invite code was not used yet; it is revoked now"
    assert await desk.said(KIM, f"/coach {code}") == NOT_VALID
    with pytest.raises(AdminError, match="expected a coach's number"):
        await remove(desk, "NOPE-NOPE-NOPE")
    with pytest.raises(AdminError, match="there is no coach 7"):
        await remove(desk, "7")
    async with desk.sessions() as session:
        assert (await session.execute(select(CoachInvite))).scalar_one().used_by is None


async def test_the_last_coach_removed_leaves_patients_for_the_next_one(session_factory: Sessions) -> None:
    desk = Desk(session_factory)
    sam = await desk.coach(SAM, "Sam")
    alex = await desk.onboard(ALEX)
    said = await remove(desk, str(sam))
    assert said == (f"coach {sam} is removed; no active coach is left, so their 1 patient(s) go to the "
                    "next coach who joins")
    assert (await coach_ids(desk))[alex.label] is None
    await desk.escalate(alex, "urgent", "pain_spike", hours_ago=0)  # waits for a coach
    kim = await desk.coach(KIM, "Kim")
    assert "alert" in (await desk.said(KIM, "/start")).lower()  # the waiting alert, and Alex, go to Kim
    assert (await coach_ids(desk))[alex.label] == kim
