"""Who may do what to one patient, as one table: every actor tries every action on patient Alex.

Rows are actors (Alex himself, another patient, another patient's coach, Alex's coach, an admin, a
backup coach, a removed coach who was an admin, a stranger, a stranger in a group chat); columns are
actions (/patient, /note, /message, /rebase, /pin, /queue, /mydata, the alert card's Message patient,
Acknowledge and Resolve, /resolve, /handover). Each row runs in a fresh world on a real database, its
cells one after the other through `PatientService.handle_update` (the group chat's through the
Telegram adapter's `classify`, as it arrives), the actions that close the escalation or move Alex
last. A cell expects either DONE (the action took effect on Alex, and is audited) or the one sentence
the actor gets instead, with nothing of Alex's changed since the cell before and nothing of his shown.
Every cell runs; a row reports all its failed cells at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from telegram import Update

from coachbot.adapters.db.models import (
    AuditEntry,
    Coach,
    CoachNote,
    CoachRelay,
    Escalation,
    Patient,
    StepOverride,
)
from coachbot.adapters.telegram import alert_card
from coachbot.adapters.telegram.inbound import classify
from coachbot.adapters.telegram.messages_out import TelegramChannel
from coachbot.app.channel import ChannelCommand, EscalationPress, Inbound
from coachbot.app.coaches.admin import remove_coach
from coachbot.app.pipeline import PatientService
from coachbot.engine import TextMessage
from coachbot.spec.coach_words import fill
from tests.integration.test_coach_tools import ADA, ALEX, BEA, KIM, ONBOARDING, SAM, Desk, Sessions
from tests.support.basics import library
from tests.support.coachbot_telegram import self_management

BO, REX, STRANGER, GROUP, GROUP_MEMBER = 903, 904, 77, -100500, 78

WORDS = library().service.channel
NOT_ALLOWED = library().escalation.card.not_allowed  # type: ignore[union-attr]
STEP_WORDS = self_management().texts.coach
UNKNOWN_ESCALATION = library().escalation.card.unknown_escalation  # type: ignore[union-attr]
REMOVED = WORDS.coach_tools.access_removed
GROUP_CHAT = WORDS.group_chat
COACH_UNKNOWN = WORDS.coach_unknown_command
DONE = "done"
NO_ESCALATION = "no such escalation"  # "There is no open escalation N that you can resolve."
NO_SUCH = "no such patient"  # "None of your patients has the label P-...": as if Alex did not exist
NOT_YOURS = "not one of yours"  # /pin's "P-... is not one of your patients": the same for a made-up label
PATIENT = "a patient's answer"  # answered as a patient would be; nothing of Alex's in it
OWN = "their own data only"

ACTIONS = ("patient", "note", "message", "rebase", "pin", "queue", "mydata", "message_press", "ack",
           "resolve_press", "resolve", "handover")
"""Run in this order in one world per actor: the actions that close the escalation or move Alex last."""
PRESSES = {"message_press": "message", "ack": "ack", "resolve_press": "resolve"}
"""The alert card's buttons: Message patient, Acknowledge, Resolve."""
ACTORS = ("alex", "other_patient", "other_coach", "coach", "admin", "backup", "removed", "stranger",
          "group")
CHATS = {"alex": ALEX, "other_patient": BEA, "other_coach": KIM, "coach": SAM, "admin": ADA, "backup": BO,
         "removed": REX, "stranger": STRANGER, "group": GROUP}

# D done, P a patient's answer, M their own data only, N "none of your patients has the label",
# Y "not one of your patients", E "no open escalation N that you can resolve", X "you cannot act on
# this alert", R "your access was removed", G "I only talk one to one", U "I do not know that command"
D, P, M, N, Y, E, X, R, G, U = (DONE, PATIENT, OWN, NO_SUCH, NOT_YOURS, NO_ESCALATION, NOT_ALLOWED,
                                REMOVED, GROUP_CHAT, COACH_UNKNOWN)
MATRIX: dict[str, tuple[str, ...]] = {
    #                patient note message rebase pin queue mydata msg_press ack res_press resolve handover
    "alex":          (P,      P,   P,      P,     P,  P,    D,     X,        X,  X,        P,      P),
    "other_patient": (P,      P,   P,      P,     P,  P,    M,     X,        X,  X,        P,      P),
    "other_coach":   (N,      N,   N,      X,     Y,  P,    U,     X,        X,  X,        E,      N),
    "coach":         (D,      D,   D,      D,     D,  D,    U,     D,        D,  D,        D,      D),
    "admin":         (D,      D,   D,      D,     D,  D,    U,     D,        D,  D,        D,      D),
    "backup":        (N,      N,   N,      D,     Y,  P,    U,     D,        D,  D,        D,      N),
    "removed":       (R,      R,   R,      R,     R,  R,    R,     X,        X,  X,        R,      R),
    "stranger":      (P,      P,   P,      P,     P,  P,    M,     X,        X,  X,        P,      P),
    "group":         (G,      G,   G,      G,     G,  G,    G,     X,        X,  X,        G,      G),
}
"""Expected outcome per actor (row) and action (column, in `ACTIONS` order)."""


@dataclass
class World:
    desk: Desk
    label: str  # Alex's
    escalation: int  # Alex's open urgent escalation

    def command(self, action: str) -> str:
        return {"patient": f"/patient {self.label}", "note": f"/note {self.label} Called, he is fine.",
                "message": f"/message {self.label} How are you today?",
                "resolve": f"/resolve {self.escalation} Called, plan agreed.",
                "rebase": f"/rebase {self.label} pain_now 6", "pin": f"/pin {self.label} short_easy_walk",
                "handover": f"/handover {self.label}", "queue": "/queue", "mydata": "/mydata"}[action]


async def build(sessions: Sessions) -> World:
    """Sam coaches Alex (who has an open urgent escalation), Kim coaches Bea; Ada is an admin, Bo a
    backup coach, and Rex was an admin until removed."""
    desk = Desk(sessions)
    care = self_management()  # /pin and /block need the steps
    desk.service = PatientService(sessions, desk.service.engine, desk.clock, channel=desk.service.channel,
                                  steps=care.steps, care=care)
    await desk.coach(SAM, "Sam")
    alex = await desk.onboard(ALEX)
    await desk.coach(KIM, "Kim")
    for text in ONBOARDING:
        await desk.send(BEA, "Bea" if text == "Alex" else text)
    await desk.coach(ADA, "Ada", admin=True)
    async with sessions() as session, session.begin():
        session.add(Coach(telegram_user_id=BO, name="Bo", is_backup=True, active=True,
                          created_at=desk.clock()))
    rex = await desk.coach(REX, "Rex", admin=True)
    async with sessions() as session, session.begin():
        await remove_coach(session, str(rex), desk.clock())
    await desk.escalate(alex, "urgent", "pain_spike", hours_ago=1)
    async with sessions() as session:
        escalation = (await session.execute(select(Escalation.id))).scalar_one()
    return World(desk, alex.label, escalation)


async def snapshot(world: World) -> dict[str, Any]:
    """Everything about Alex an action could change, audited effects included (refusals are not)."""
    async with world.desk.sessions() as session:
        alex = (await session.execute(select(Patient).where(Patient.label == world.label))).scalar_one()
        escalation = await session.get(Escalation, world.escalation)
        assert escalation is not None

        async def count(model: Any) -> int:
            return int((await session.execute(select(func.count()).select_from(model)
                                              .where(model.patient_id == alex.id))).scalar_one())

        audited = (await session.execute(select(AuditEntry.action).where(
            AuditEntry.subject == world.label, AuditEntry.action != "coach_access_refused"))).scalars()
        return {"coach": alex.coach_id, "status": escalation.status, "ack_by": escalation.acknowledged_by,
                "note_asked_by": escalation.note_pending_by, "notes": await count(CoachNote),
                "relays": await count(CoachRelay), "overrides": await count(StepOverride),
                "audited": sorted(audited)}


def group_update(world: World, action: str) -> Update:
    """What Telegram sends when a stranger in a group the bot is in types the command or presses a
    copy of the card there."""
    chat = {"id": GROUP, "type": "supergroup", "title": "Coaches"}
    member = {"id": GROUP_MEMBER, "is_bot": False, "first_name": "Gil"}
    if action in PRESSES:
        data = alert_card.callback(PRESSES[action], world.escalation)
        message = {"message_id": 5, "date": 0, "chat": chat, "text": "URGENT"}
        return Update.de_json({"update_id": 1, "callback_query": {
            "id": "1", "from": member, "chat_instance": "c", "data": data, "message": message}}, None)
    return Update.de_json({"update_id": 1, "message": {
        "message_id": 6, "date": 0, "chat": chat, "from": member, "text": world.command(action)}}, None)


def event_of(world: World, actor: str, action: str) -> tuple[int, Inbound] | None:
    if actor == "group":
        return classify(group_update(world, action), TelegramChannel(WORDS))
    chat = CHATS[actor]
    if action in PRESSES:  # a card button (a patient or a stranger can only forge it)
        return chat, EscalationPress(action=PRESSES[action], escalation_id=world.escalation, user_id=chat,
                                     message_id=7)
    text = world.command(action)
    if text == "/mydata":
        return chat, ChannelCommand("mydata", text)
    return chat, TextMessage(text)


MADE_UP = "P-ZZZZZZ"


async def made_up_label_reply(world: World, chat: int, action: str) -> str:
    """What the same command gets when it names a label nobody has."""
    text = world.command(action).replace(world.label, MADE_UP)
    world.desk.update_id += 1
    result = await world.desk.service.handle_update(world.desk.update_id, chat, TextMessage(text))
    return said(result.queued, chat)


def said(rows: list[Any], chat: int) -> str:
    """What `chat` was sent: texts as they read, anything else (a chart, a document) as its payload."""
    return "\n".join(row.payload["text"].strip() if set(row.payload) == {"text"} else str(row.payload)
                     for row in rows if row.chat_id == chat)


@pytest.mark.parametrize("actor", ACTORS)
async def test_role_matrix(session_factory: Sessions, actor: str) -> None:
    """One row: every action by `actor`, each cell checked; the failed cells are reported together."""
    world = await build(session_factory)
    failed = []
    for action, expected in zip(ACTIONS, MATRIX[actor], strict=True):
        try:
            await run_cell(world, actor, action, expected)
        except AssertionError as exc:
            failed.append(f"{actor} x {action} (expected {expected!r}): {exc}")
    assert not failed, "\n".join(failed)


async def run_cell(world: World, actor: str, action: str, expected: str) -> None:
    before = await snapshot(world)
    found = event_of(world, actor, action)
    assert found is not None, "every cell reaches the service"
    chat, event = found
    world.desk.update_id += 1
    result = await world.desk.service.handle_update(world.desk.update_id, chat, event)
    after = await snapshot(world)
    reply = said(result.queued, chat)
    if expected == DONE:
        assert_done(world, action, before, after, reply)
        return
    assert after == before, "nothing of Alex's changed"
    if expected in (NO_SUCH, NOT_YOURS):
        words = WORDS.coach_tools.no_such_patient if expected == NO_SUCH else STEP_WORDS.no_patient
        assert reply == fill(words, label=world.label)
        assert await made_up_label_reply(world, chat, action) == fill(words, label=MADE_UP), \
            "the same answer as for a label that does not exist"
    elif expected == NO_ESCALATION:
        assert reply == fill(UNKNOWN_ESCALATION, id=world.escalation)
    elif expected in (PATIENT, OWN):
        assert reply and world.label not in reply, "answered, with nothing of Alex's"
        assert "Alex" not in reply
        if expected == OWN:
            assert "my-coachbot-data.json" in reply
    else:
        assert reply == expected.strip(), f"{actor} is told {expected!r}"
    assert not [row for row in result.queued if row.chat_id == ALEX and chat != ALEX], "Alex was not told"


def assert_done(world: World, action: str, before: dict[str, Any], after: dict[str, Any],
                reply: str) -> None:
    changed = {key for key in after if after[key] != before[key]}
    audited = set(after["audited"]) - set(before["audited"])
    expected_audit = {"patient": "coach_patient_viewed", "note": "coach_note_added",
                      "message": "coach_message_sent", "message_press": "escalation_message_asked",
                      "ack": "escalation_acknowledged",
                      "resolve_press": "escalation_resolve_asked", "resolve": "escalation_resolved",
                      "rebase": "baseline_rebased", "pin": "step_pin", "handover": "patient_handed_over",
                      "mydata": None, "queue": None}[action]
    if expected_audit is not None:
        assert expected_audit in audited, f"{action} took effect and was audited"
    effects = {"note": {"notes"}, "message": {"relays"}, "ack": {"status", "ack_by"},
               "resolve_press": {"note_asked_by"}, "resolve": {"status"}, "pin": {"overrides"},
               "handover": {"coach"}}.get(action, set())
    assert effects <= changed, f"{action} changed {sorted(changed)}"
    if action in ("patient", "queue", "mydata", "message_press"):
        assert world.label in reply, "shown"


def test_the_matrix_has_a_cell_for_every_actor_and_action() -> None:
    assert set(MATRIX) == set(ACTORS) and all(len(row) == len(ACTIONS) for row in MATRIX.values())
