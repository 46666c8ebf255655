"""The soak's end counts: the database and the fake server against the patients' own ledger.

Every figure compares two independent records: what the driver's patients typed and were shown (the
ledger, kept as the fake server accepted each message) and what the bot stored. Nothing here reads a
figure from the bot and compares it with itself.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
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

LONDON = ZoneInfo("Europe/London")
SENDS = ("sendMessage", "sendPhoto", "sendDocument", "editMessageText", "editMessageCaption",
         "editMessageReplyMarkup", "sendChatAction")


@dataclass
class Counts:
    """Each row: (what, count, must be zero?)."""

    rows: list[tuple[str, int | str, bool]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def add(self, what: str, value: int | str, *, zero: bool = False, examples: list[str] | None = None) -> None:
        self.rows.append((what, value, zero))
        if zero and value != 0:
            self.problems.append(f"{what}: {value}" + (f" (e.g. {'; '.join(examples[:5])})" if examples else ""))

    def table(self) -> str:
        width = max(len(what) for what, _, _ in self.rows)
        lines = [f"| {'what':<{width}} | {'count':>8} | must be 0 |", f"|{'-' * (width + 2)}|---------:|:---------:|"]
        lines += [f"| {what:<{width}} | {value!s:>8} | {'yes' if zero else ''} |" for what, value, zero in self.rows]
        return "\n".join(lines)


KILL_WINDOW = 1.0
"""A message delivered this long before a SIGKILL may not be recorded as sent yet: the restarted bot
sends it again (the outbox delivers at least once; Telegram has no idempotency key). Only a second
copy that arrived after such a kill is counted as that, any other is a doubled message."""


def in_kill_window(first: float, second: float, kills: list[float]) -> bool:
    kill = min((k for k in kills if k >= first), default=None)
    return kill is not None and kill - first <= KILL_WINDOW and second > kill


def doubled_messages(soak: Soak, ledger: Ledger) -> tuple[int, list[str]]:
    """Consecutive bot messages in a patient's chat with the same words and buttons in one step:
    (those explained by a SIGKILL, the others)."""
    excused, others = 0, []
    for p in soak.patients:
        sent = [m for m in soak.fake.chat(p.chat_id).messages if m.from_bot]
        for before, after in zip(sent, sent[1:], strict=False):
            if (after.content == before.content and after.reply_markup == before.reply_markup
                    and after.extra.get("soak_step") == before.extra.get("soak_step")):
                if in_kill_window(before.sent_at, after.sent_at, ledger.kills):
                    excused += 1
                else:
                    kill = min((k - before.sent_at for k in ledger.kills if k >= before.sent_at), default=None)
                    drop = min((k - before.sent_at for k in ledger.drop_times if k >= before.sent_at), default=None)
                    calls = [f"{c.time - before.sent_at:+.2f}s {c.status} fault={c.fault} took {c.duration or 0:.2f}"
                             for c in soak.fake.calls if c.chat_id == p.chat_id
                             and c.params.get("text", c.params.get("caption")) == before.raw_text]
                    others.append(f"{p.label}: {before.content[:30]!r} step {before.extra.get('soak_step')}, "
                                  f"again after {after.sent_at - before.sent_at:.2f} s; next kill in {kill}, "
                                  f"next connection drop in {drop}; calls {calls}")
    return excused, others


async def count_everything(soak: Soak, ledger: Ledger, db: AsyncEngine) -> Counts:
    counts = Counts()
    patients = soak.patients
    erased = {p.patient_id for p in patients if p.event is Event.FORGET}
    by_id = {p.patient_id: p for p in patients}
    days = soak.config.days
    async with db.connect() as conn:
        measured = (await conn.execute(select(Measurement.patient_id, Measurement.code, Measurement.value_num,
                                              Measurement.value_text, Measurement.recorded_at)
                                       .where(Measurement.code.in_(MEASURED)))).all()
        runs = (await conn.execute(select(CheckinRun.patient_id, CheckinRun.local_date, CheckinRun.status,
                                          CheckinRun.sent_at, CheckinRun.reminder_sent_at, CheckinRun.reason)
                                   .where(CheckinRun.dialog == "daily"))).all()
        escalations = (await conn.execute(select(Escalation.id, Escalation.patient_id, Escalation.tier,
                                                 Escalation.rule, Escalation.status))).all()
        cards_sent = Counter((await conn.execute(select(OutboxMessage.escalation_id).where(
            OutboxMessage.chat_id == COACH_CHAT, OutboxMessage.escalation_id.is_not(None),
            OutboxMessage.sent_at.is_not(None)))).scalars())
        left = {}
        for model in (Measurement, Conversation, StepSuggestion, Escalation, CheckinRun, OutboxMessage):
            left[model.__tablename__] = (await conn.execute(select(func.count()).select_from(model).where(
                model.patient_id.in_(erased or {-1})))).scalar_one()

    # -- answers ------------------------------------------------------------------------------------
    stored: Counter[tuple[int, dt.date, str, str]] = Counter()
    for patient_id, code, num, txt, at in measured:
        if patient_id in by_id:
            value = txt if txt is not None else str(float(num))
            stored[(by_id[patient_id].chat_id, at.astimezone(LONDON).date(), code, value)] += 1
    gone_chats = {by_id[i].chat_id for i in erased}
    expected = Counter({k: v for k, v in ledger.answers.items() if k[0] not in gone_chats})
    lost = expected - stored
    doubled = Counter({k: v for k, v in (stored - expected).items() if k in expected})
    strange = Counter({k: v for k, v in stored.items() if k not in expected})
    counts.add("answers the patients gave (pain, mood, step feedback)", sum(ledger.answers.values()))
    counts.add("  of them by patients who then erased their information", sum(
        v for k, v in ledger.answers.items() if k[0] in gone_chats))
    counts.add("answers stored", sum(stored.values()))
    counts.add("answers lost", sum(lost.values()), zero=True, examples=[str(k) for k in lost])
    counts.add("answers stored twice", sum(doubled.values()), zero=True, examples=[str(k) for k in doubled])
    counts.add("answers stored that nobody gave", sum(strange.values()), zero=True,
               examples=[str(k) for k in strange])
    counts.add("garbage typed (re-asked, nothing stored)", ledger.garbage)

    # -- check-ins ----------------------------------------------------------------------------------
    run_of = {(pid, day): (status, sent, reminded, why) for pid, day, status, sent, reminded, why in runs}
    due = sent_once = missed = held = not_sent_nor_missed = doubled_checkins = forbidden = resent_after_kill = 0
    answered_ok = answered_wrong = reminders = reminders_wrong = 0
    examples: defaultdict[str, list[str]] = defaultdict(list)
    for p in patients:
        for d in range(days):
            date = START + dt.timedelta(days=d)
            hellos = ledger.hellos[(p.chat_id, d)]
            run = run_of.get((p.patient_id, date))
            if hellos > 1:
                times = ledger.hello_times[(p.chat_id, d)]
                if hellos == 2 and in_kill_window(times[0], times[1], ledger.kills):
                    resent_after_kill += 1
                else:
                    doubled_checkins += hellos - 1
                    examples["doubled"].append(f"{p.label} day {d + 1}")
            if p.gone_after(d) or p.paused_on(d):
                if hellos:
                    forbidden += hellos
                    examples["forbidden"].append(f"{p.label} day {d + 1}")
                continue
            if not p.expects_checkin(d) or p.patient_id in erased:
                continue
            due += 1
            in_crisis = p.chat_id in ledger.crisis and d > ledger.crisis[p.chat_id]
            if run is not None and run[:2] == ("skipped", None) and run[3] == "declined" and in_crisis and not hellos:
                held += 1  # the crisis questions they left unanswered are still open: no check-in on top
                continue
            if run is None or (run[0] in ("skipped", "claimed", "queued") and run[1] is None):
                not_sent_nor_missed += 1
                examples["lost"].append(f"{p.label} day {d + 1}: {run}")
                continue
            status, sent, reminded, _ = run
            if sent is not None:
                if hellos == 1:
                    sent_once += 1
                else:
                    not_sent_nor_missed += hellos == 0
                    examples["lost"].append(f"{p.label} day {d + 1}: sent_at set, {hellos} arrived")
            elif status == "missed" and hellos == 0:
                missed += 1
            else:
                not_sent_nor_missed += 1
                examples["lost"].append(f"{p.label} day {d + 1}: {status}, {hellos} arrived")
            got = ledger.reminders[(p.chat_id, d)]
            reminders += got
            if got != (1 if reminded is not None else 0):
                reminders_wrong += 1
                examples["reminders"].append(f"{p.label} day {d + 1}: {got} arrived, marked {reminded}")
            if (p.chat_id, d) in ledger.answered_days and d < days - 1 and p.event_day != d:
                if status == "answered":
                    answered_ok += 1
                else:
                    answered_wrong += 1
                    examples["answered"].append(f"{p.label} day {d + 1}: {status}")
    counts.add("check-ins due (patient active, not paused, stopped, blocked or erased)", due)
    counts.add("  sent exactly once (one arrived, run marked sent)", sent_once)
    counts.add("  recorded missed, never sent", missed)
    counts.add("  skipped: a crisis dialog the patient left open was still running", held)
    counts.add("  neither sent once nor recorded missed", not_sent_nor_missed, zero=True,
               examples=examples["lost"])
    counts.add("check-in starts that arrived twice", doubled_checkins, zero=True, examples=examples["doubled"])
    counts.add("check-in starts re-sent after a SIGKILL (delivered, not yet recorded)", resent_after_kill)
    excused, doubled_any = doubled_messages(soak, ledger)
    counts.add("messages to patients re-sent after a SIGKILL (delivered, not yet recorded)", excused)
    counts.add("messages to patients that arrived twice otherwise", len(doubled_any), zero=True,
               examples=doubled_any)
    counts.add("answered check-ins recorded answered", answered_ok)
    counts.add("answered check-ins not recorded answered", answered_wrong, zero=True,
               examples=examples["answered"])
    counts.add("reminders that arrived", reminders)
    counts.add("reminders arrived != reminders recorded", reminders_wrong, zero=True,
               examples=examples["reminders"])
    counts.add("check-ins sent while paused, after stop, block or erasure", forbidden, zero=True,
               examples=examples["forbidden"])

    # -- escalations --------------------------------------------------------------------------------
    crisis_ids = {soak.by_chat[chat].patient_id for chat in ledger.crisis}
    urgent: defaultdict[int, list[int]] = defaultdict(list)
    rules: Counter[str] = Counter()
    open_twice: Counter[tuple[int, str]] = Counter()
    for eid, pid, tier, rule, status in escalations:
        rules[f"{rule} ({tier})"] += 1
        if rule == "crisis":
            urgent[pid].append(eid)
        if status != "resolved":
            open_twice[(pid, rule)] += 1
    counts.add("crisis statements typed", len(ledger.crisis))
    wrong_crisis = [soak.patients[pid - 1].label for pid in crisis_ids if len(urgent.get(pid, [])) != 1]
    counts.add("crisis statements without exactly one urgent escalation", len(wrong_crisis), zero=True,
               examples=wrong_crisis)
    extra = [soak.patients[pid - 1].label for pid in urgent if pid not in crisis_ids]
    counts.add("urgent escalations nobody's words implied", len(extra), zero=True, examples=extra)
    crisis_cards = [eid for pid in crisis_ids for eid in urgent.get(pid, []) if ledger.cards[eid] == 1]
    counts.add("crisis cards delivered to the coach exactly once", len(crisis_cards))
    counts.add("escalations raised (all rules): " + ", ".join(f"{k} {v}" for k, v in sorted(rules.items())),
               len(escalations))
    not_once = [f"#{eid}: {ledger.cards[eid]} cards" for eid, pid, *_ in escalations if ledger.cards[eid] != 1]
    counts.add("escalations whose card did not arrive exactly once", len(not_once), zero=True, examples=not_once)
    unmarked = [eid for eid, *_ in escalations if not cards_sent[eid]]
    counts.add("escalation cards not marked sent in the outbox", len(unmarked), zero=True,
               examples=[str(e) for e in unmarked])
    counts.add("patients with two open escalations of one rule", sum(1 for v in open_twice.values() if v > 1),
               zero=True)

    # -- nothing where it must not --------------------------------------------------------------------
    after: list[str] = []
    for chat, done in ledger.events_done.items():
        for call in soak.fake.calls:
            if call.method in SENDS and call.chat_id == chat and call.time > done:
                after.append(f"{soak.by_chat[chat].label} {call.method}")
    counts.add("calls to a stopped, blocked or erased patient after it settled", len(after), zero=True,
               examples=after)
    counts.add("rows of erased patients left (answers, conversation, steps, escalations, runs, outbox)",
               sum(left.values()), zero=True, examples=[f"{k} {v}" for k, v in left.items() if v])

    # -- faults and processes ---------------------------------------------------------------------------
    counts.add("429s answered", soak.fake.count("sendMessage", status=429))
    counts.add("502s answered", sum(1 for c in soak.fake.calls if c.status == 502))
    counts.add("calls held 3-8 s", ledger.faults["held 3-8 s"])
    counts.add("SIGKILLs of the bot (each restarted)", len(ledger.kills))
    counts.add("database connection drops (pg_terminate_backend)",
               f"{ledger.drops} ({ledger.dropped_connections} conns)" if soak.url.startswith("postgresql")
               else "n/a (SQLite)")
    counts.add("helper processes seen", len(ledger.helpers_seen))
    counts.add("processes left behind", len(ledger.orphans), zero=True, examples=ledger.orphans)
    counts.add("fake server errors", len(soak.fake.errors), zero=True)
    return counts
