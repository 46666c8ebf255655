"""The soak's end counts: the database and the fake server against the patients' own ledger.

Every figure compares two independent records: what the driver's patients typed and were shown (the
ledger, kept as the fake server accepted each message) and what the bot stored. Nothing here reads a
figure from the bot and compares it with itself.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from coachbot.adapters.db.models import (
    CheckinRun,
    Conversation,
    Escalation,
    Measurement,
    OutboxMessage,
    StepSuggestion,
)
from tests.soak.driver import COACH_CHAT, MEASURED, START, Ledger, Soak
from tests.soak.patients import Event
from tests.support.fake_bot_api import FakeMessage

LONDON = ZoneInfo("Europe/London")
SENDS = ("sendMessage", "sendPhoto", "sendDocument", "editMessageText", "editMessageCaption",
         "editMessageReplyMarkup", "sendChatAction")


@dataclass
class Counts:
    """Each row: (what, count, must be zero?)."""

    rows: list[tuple[str, int | str, bool]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, what: str, value: int | str, *, zero: bool = False,
            examples: list[str] | None = None) -> None:
        self.rows.append((what, value, zero))
        if zero and value != 0:
            some = f" (e.g. {'; '.join(examples[:5])})" if examples else ""
            self.problems.append(f"{what}: {value}{some}")

    def table(self) -> str:
        width = max(len(what) for what, _, _ in self.rows)
        lines = [f"| {'what':<{width}} | {'count':>8} | must be 0 |",
                 f"|{'-' * (width + 2)}|---------:|:---------:|"]
        lines += [f"| {what:<{width}} | {value!s:>8} | {'yes' if zero else ''} |"
                  for what, value, zero in self.rows]
        return "\n".join(lines)


HELD_AT_MOST = 10.0
"""Seconds the fake server holds a call at most (the driver holds some 3-8 s)."""
KILL_WINDOW = 1.0
"""A message delivered this long before a SIGKILL may not be recorded as sent yet: the restarted bot
sends it again (the outbox delivers at least once; Telegram has no idempotency key). Only a second
copy that arrived after such a kill is counted as that, any other is a doubled message."""


class KillWindows:
    """Whether a second copy of a message is explained by a SIGKILL: the request that delivered the
    first copy reached the server before a kill (it may have been held there, and delivered after the
    bot died), the kill came at most `KILL_WINDOW` after that copy was delivered, and the second copy
    after the kill."""

    def __init__(self, soak: Soak, ledger: Ledger) -> None:
        self.kills = ledger.kills
        self.arrivals: defaultdict[tuple[int, str], list[float]] = defaultdict(list)
        for call in soak.fake.calls:
            if call.status == 200 and call.method in ("sendMessage", "sendPhoto"):
                words = call.params.get("text", call.params.get("caption"))
                self.arrivals[(call.chat_id, words)].append(call.time)

    def explain(self, before: FakeMessage, after: FakeMessage) -> bool:
        times = [t for t in self.arrivals[(before.chat_id, before.raw_text)]
                 if before.sent_at - HELD_AT_MOST <= t <= before.sent_at]
        start = min(times, default=before.sent_at)
        return any(start <= kill <= before.sent_at + KILL_WINDOW and kill < after.sent_at
                   for kill in self.kills)


def doubled_messages(soak: Soak, ledger: Ledger, windows: KillWindows) -> tuple[int, list[str]]:
    """Consecutive bot messages in a patient's chat with the same words and buttons in one step:
    (those explained by a SIGKILL, the others)."""
    excused, others = 0, []
    for p in soak.patients:
        sent = [m for m in soak.fake.chat(p.chat_id).messages if m.from_bot]
        for before, after in pairwise(sent):
            if (after.content == before.content and after.reply_markup == before.reply_markup
                    and after.extra.get("soak_step") == before.extra.get("soak_step")):
                if windows.explain(before, after):
                    excused += 1
                else:
                    others.append(_described(soak, ledger, before, after))
    return excused, others


def _described(soak: Soak, ledger: Ledger, before: FakeMessage, after: FakeMessage) -> str:
    """A doubled message, with the kills, connection drops and calls around it (seconds from it)."""
    def near(times: list[float]) -> list[str]:
        return [f"{t - before.sent_at:+.2f}" for t in times if abs(t - before.sent_at) < 15]

    calls = [f"{c.time - before.sent_at:+.2f}s {c.status} fault={c.fault} took {c.duration or 0:.2f}"
             for c in soak.fake.calls if c.chat_id == before.chat_id
             and c.params.get("text", c.params.get("caption")) == before.raw_text]
    step = before.extra.get("soak_step")
    return (f"{soak.by_chat[before.chat_id].label}: {before.content[:30]!r} step {step},"
            f" again after {after.sent_at - before.sent_at:.2f} s; kills {near(ledger.kills)}, drops "
            f"{near(ledger.drop_times)}; calls {calls}")


@dataclass
class Snapshot:
    """What the bot stored, read once at the end."""

    measured: list[Any]
    runs: dict[tuple[int, dt.date], Any]
    escalations: list[Any]
    cards_marked: Counter[int]
    erased_left: dict[str, int]


async def read_database(db: AsyncEngine, erased: set[int]) -> Snapshot:
    async with db.connect() as conn:
        measured = (await conn.execute(select(
            Measurement.patient_id, Measurement.code, Measurement.value_num, Measurement.value_text,
            Measurement.recorded_at).where(Measurement.code.in_(MEASURED)))).all()
        runs = (await conn.execute(select(
            CheckinRun.patient_id, CheckinRun.local_date, CheckinRun.status, CheckinRun.sent_at,
            CheckinRun.reminder_sent_at, CheckinRun.reason))).all()  # Sundays: the weekly review instead
        escalations = (await conn.execute(select(Escalation.id, Escalation.patient_id, Escalation.tier,
                                                 Escalation.rule, Escalation.status))).all()
        cards = Counter((await conn.execute(select(OutboxMessage.escalation_id).where(
            OutboxMessage.chat_id == COACH_CHAT, OutboxMessage.escalation_id.is_not(None),
            OutboxMessage.sent_at.is_not(None)))).scalars())
        left = {}
        for model in (Measurement, Conversation, StepSuggestion, Escalation, CheckinRun, OutboxMessage):
            left[model.__tablename__] = (await conn.execute(select(func.count()).select_from(model).where(
                model.patient_id.in_(erased or {-1})))).scalar_one()
    return Snapshot(list(measured), {(r[0], r[1]): r for r in runs}, list(escalations), cards, left)


async def count_everything(soak: Soak, ledger: Ledger, db: AsyncEngine) -> Counts:
    """Every count of the table, database and fake server against the ledger."""
    erased = {p.patient_id for p in soak.patients if p.event is Event.FORGET}
    stored = await read_database(db, erased)
    counts = Counts()
    count_answers(counts, soak, ledger, stored, erased)
    count_checkins(counts, soak, ledger, stored, erased)
    count_escalations(counts, soak, ledger, stored)
    count_where_not(counts, soak, ledger, stored)
    count_faults(counts, soak, ledger)
    return counts


def count_answers(counts: Counts, soak: Soak, ledger: Ledger, db: Snapshot, erased: set[int]) -> None:
    """Each answer a patient gave is stored once, with its value, on its day; nothing else is."""
    by_id = {p.patient_id: p for p in soak.patients}
    stored: Counter[tuple[int, dt.date, str, str]] = Counter()
    for patient_id, code, num, txt, at in db.measured:
        if patient_id in by_id:
            value = txt if txt is not None else str(float(num))
            stored[(by_id[patient_id].chat_id, at.astimezone(LONDON).date(), code, value)] += 1
    gone = {by_id[i].chat_id for i in erased}
    expected = Counter({k: v for k, v in ledger.answers.items() if k[0] not in gone})
    lost = expected - stored
    doubled = Counter({k: v for k, v in (stored - expected).items() if k in expected})
    strange = Counter({k: v for k, v in stored.items() if k not in expected})
    counts.add("answers the patients gave (pain, mood, step feedback)", sum(ledger.answers.values()))
    counts.add("  of them by patients who then erased their information",
               sum(v for k, v in ledger.answers.items() if k[0] in gone))
    counts.add("answers stored", sum(stored.values()))
    counts.add("answers lost", sum(lost.values()), zero=True, examples=[str(k) for k in lost])
    counts.add("answers stored twice", sum(doubled.values()), zero=True, examples=[str(k) for k in doubled])
    counts.add("answers stored that nobody gave", sum(strange.values()), zero=True,
               examples=[str(k) for k in strange])
    counts.add("garbage typed (re-asked, nothing stored)", ledger.garbage)


def count_checkins(counts: Counts, soak: Soak, ledger: Ledger, db: Snapshot, erased: set[int]) -> None:
    """Each due check-in arrived exactly once or was recorded missed, per patient and day."""
    windows = KillWindows(soak, ledger)
    tally: Counter[str] = Counter()
    examples: defaultdict[str, list[str]] = defaultdict(list)

    def note(key: str, example: str | None = None, n: int = 1) -> None:
        tally[key] += n
        if example is not None:
            examples[key].append(example)

    last = soak.config.days - 1
    for p in soak.patients:
        for d in range(soak.config.days):
            where = f"{p.label} day {d + 1}"
            hellos = ledger.hellos[(p.chat_id, d)]
            run = db.runs.get((p.patient_id, START + dt.timedelta(days=d)))
            if hellos > 1:
                if hellos == 2 and windows.explain(*ledger.hello_messages[(p.chat_id, d)]):
                    note("resent")
                else:
                    note("doubled", where, hellos - 1)
            if p.gone_after(d) or p.paused_on(d):
                if hellos:
                    note("forbidden", where, hellos)
                continue
            if not p.expects_checkin(d) or p.patient_id in erased:
                continue
            note("due")
            status, sent, reminded, why = (None, None, None, None) if run is None else run[2:]
            crisis_day = ledger.crisis.get(p.chat_id)
            if (status, sent, why) == ("skipped", None, "declined") and crisis_day is not None \
                    and d > crisis_day and not hellos:
                note("held")  # the crisis questions they left unanswered are still open: no check-in on top
                continue
            if sent is not None and hellos >= 1:
                note("sent once")
            elif sent is None and status == "missed" and not hellos:
                note("missed")
            else:
                note("lost", f"{where}: run {status}/{why}, sent {sent}, {hellos} arrived")
                continue
            got = ledger.reminders[(p.chat_id, d)]
            note("reminders", n=got)
            if (got > 0) != (reminded is not None):  # a second copy is judged with the doubled messages
                note("reminders wrong", f"{where}: {got} arrived, recorded {reminded}")
            if (p.chat_id, d) in ledger.answered_days and d < last:
                note("answered" if status == "answered" else "answered wrong", None if status == "answered"
                     else f"{where}: {status}")
    excused, doubled_any = doubled_messages(soak, ledger, windows)
    _report_checkins(counts, tally, examples, excused, doubled_any)


def _report_checkins(counts: Counts, tally: Counter[str], examples: dict[str, list[str]], excused: int,
                     doubled_any: list[str]) -> None:
    counts.add("check-ins due (patient active, not paused, stopped, blocked or erased)", tally["due"])
    counts.add("  sent exactly once (arrived, run marked sent)", tally["sent once"])
    counts.add("  recorded missed, never sent", tally["missed"])
    counts.add("  skipped: a crisis dialog the patient left open was still running", tally["held"])
    counts.add("  neither sent nor recorded missed", tally["lost"], zero=True, examples=examples["lost"])
    counts.add("check-in starts that arrived twice", tally["doubled"], zero=True,
               examples=examples["doubled"])
    counts.add("check-in starts re-sent after a SIGKILL (delivered, not yet recorded)", tally["resent"])
    counts.add("messages to patients re-sent after a SIGKILL (delivered, not yet recorded)", excused)
    counts.add("messages to patients that arrived twice otherwise", len(doubled_any), zero=True,
               examples=doubled_any)
    counts.add("answered check-ins recorded answered", tally["answered"])
    counts.add("answered check-ins not recorded answered", tally["answered wrong"], zero=True,
               examples=examples["answered wrong"])
    counts.add("reminders that arrived", tally["reminders"])
    counts.add("reminders arrived != reminders recorded", tally["reminders wrong"], zero=True,
               examples=examples["reminders wrong"])
    counts.add("check-ins sent while paused, after stop, block or erasure", tally["forbidden"], zero=True,
               examples=examples["forbidden"])


def count_escalations(counts: Counts, soak: Soak, ledger: Ledger, db: Snapshot) -> None:
    """Each crisis statement raised one urgent escalation, nothing else did; every card arrived once."""
    crisis_ids = {soak.by_chat[chat].patient_id for chat in ledger.crisis}
    label = {p.patient_id: p.label for p in soak.patients}
    urgent: defaultdict[int, list[int]] = defaultdict(list)
    rules: Counter[str] = Counter()
    still_open: Counter[tuple[int, str]] = Counter()
    for eid, pid, tier, rule, status in db.escalations:
        rules[f"{rule} ({tier})"] += 1
        if tier == "urgent":
            urgent[pid].append(eid)
        if status != "resolved":
            still_open[(pid, rule)] += 1
    wrong = [label[pid] for pid in crisis_ids if len(urgent.get(pid, [])) != 1]
    extra = [label[pid] for pid in urgent if pid not in crisis_ids]
    delivered = [eid for pid in crisis_ids for eid in urgent.get(pid, []) if ledger.cards[eid] == 1]
    not_once = [f"#{eid}: {ledger.cards[eid]} cards" for eid, *_ in db.escalations
                if ledger.cards[eid] != 1]
    unmarked = [str(eid) for eid, *_ in db.escalations if not db.cards_marked[eid]]
    counts.add("crisis statements typed", len(ledger.crisis))
    counts.add("crisis statements without exactly one urgent escalation", len(wrong), zero=True,
               examples=wrong)
    counts.add("urgent escalations nobody's words implied", len(extra), zero=True, examples=extra)
    counts.add("crisis cards delivered to the coach exactly once", len(delivered))
    counts.add("escalations raised: " + ", ".join(f"{k} {v}" for k, v in sorted(rules.items())),
               len(db.escalations))
    counts.add("escalations whose card did not arrive exactly once", len(not_once), zero=True,
               examples=not_once)
    counts.add("escalation cards not marked sent in the outbox", len(unmarked), zero=True, examples=unmarked)
    counts.add("patients with two open escalations of one rule",
               sum(1 for v in still_open.values() if v > 1), zero=True)


def count_where_not(counts: Counts, soak: Soak, ledger: Ledger, db: Snapshot) -> None:
    """Nothing goes to a patient after their stop, block or erasure settled; erasure leaves nothing."""
    after: list[str] = []
    for call in soak.fake.calls:
        done = ledger.events_done.get(call.chat_id)
        if done is not None and call.method in SENDS and call.time > done:
            after.append(f"{soak.by_chat[call.chat_id].label} {call.method}")
    counts.add("calls to a stopped, blocked or erased patient after it settled", len(after), zero=True,
               examples=after)
    counts.add("rows of erased patients left (answers, conversation, steps, escalations, runs, outbox)",
               sum(db.erased_left.values()), zero=True,
               examples=[f"{k} {v}" for k, v in db.erased_left.items() if v])


def count_faults(counts: Counts, soak: Soak, ledger: Ledger) -> None:
    """The faults the run went through, and the processes it left."""
    postgres = soak.url.startswith("postgresql")
    counts.add("429s answered", soak.fake.count("sendMessage", status=429))
    counts.add("502s answered", sum(1 for c in soak.fake.calls if c.status == 502))
    counts.add("calls held 3-8 s", ledger.faults["held 3-8 s"])
    counts.add("SIGKILLs of the bot (each restarted)", len(ledger.kills))
    counts.add("database connection drops (pg_terminate_backend)",
               f"{ledger.drops} ({ledger.dropped_connections} conns)" if postgres else "n/a (SQLite)")
    counts.add("helper processes seen", len(ledger.helpers_seen))
    counts.add("processes left behind", len(ledger.orphans), zero=True, examples=ledger.orphans)
    counts.add("fake server errors", len(soak.fake.errors), zero=True)
