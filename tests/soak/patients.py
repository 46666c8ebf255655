"""The soak's synthetic patients: what each one does on each simulated day, decided up front from a seed.

Half the patients have their daily check-in at 09:00 (Europe/London), with its one reminder at 12:00;
the other half at 20:00, whose reminder would fall in the quiet hours and on the next day, so it is
never sent (the product's rule; it also halves the soak's reminders). On a day a patient either answers it
(pain 4-5, mood 5-6, "It helped", "skip" for the note: values that trip no escalation rule), answers
only after the reminder, ignores it, or types garbage first and then answers. A few patients do one
thing once in the soak: a crisis statement instead of their pain score, pause for three days, stop,
block the bot or erase their information with /forget (each of the last three for good).
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from enum import Enum


class Day(Enum):
    """What a patient does with one day's check-in."""

    ANSWER = "answer"
    GARBAGE = "garbage then answer"
    LATE = "answer after the reminder"
    IGNORE = "ignore"


class Event(Enum):
    """The one thing a patient may do once in the soak (on `SoakPatient.event_day`)."""

    CRISIS = "crisis statement"
    PAUSE = "pause 3 days"
    STOP = "stop"
    BLOCK = "block the bot"
    FORGET = "erase with /forget"


#: Share of patients doing each event once.
EVENT_SHARES = {Event.CRISIS: 0.03, Event.PAUSE: 0.04, Event.STOP: 0.03, Event.BLOCK: 0.03,
                Event.FORGET: 0.02}
PAUSE_DAYS = 3
GARBAGE = ("not sure", "🙂🙂🙂", "seven-ish?", "asdfgh", "")
CRISIS_WORDS = ("I want to kill myself", "I don't want to be alive any more", "I want to end my life")


@dataclass
class SoakPatient:
    index: int
    chat_id: int
    patient_id: int
    label: str
    days: list[Day]
    event: Event | None = None
    event_day: int | None = None
    evening: bool = False
    pain: list[int] = field(default_factory=list)
    mood: list[int] = field(default_factory=list)

    def gone_after(self, day: int) -> bool:
        """Stopped, blocked or erased on an earlier day: nothing may be sent to them any more."""
        return (self.event in (Event.STOP, Event.BLOCK, Event.FORGET) and self.event_day is not None
                and day > self.event_day)

    def paused_on(self, day: int) -> bool:
        """Inside the pause: typed a few seconds after that day's check-in time, it still covers the
        check-in time three days later, so that day has no check-in either (and no run)."""
        return (self.event is Event.PAUSE and self.event_day is not None
                and self.event_day < day <= self.event_day + PAUSE_DAYS)

    def expects_checkin(self, day: int) -> bool:
        """A check-in is due and must be sent or recorded missed (the event day itself is left out:
        the event races the check-in on purpose)."""
        return not self.gone_after(day) and not self.paused_on(day) and day != self.event_day

    def plan(self, day: int) -> Day:
        """The day's plan; on the event day a patient does the event instead of answering."""
        return Day.IGNORE if day == self.event_day or self.gone_after(day) else self.days[day]


def make_patients(count: int, days: int, seed: int, *, answer_share: float, late_share: float,
                  garbage_share: float, first_chat: int) -> list[SoakPatient]:
    rng = random.Random(seed)
    patients = []
    for i in range(count):
        plan, evening = [], i % 2 == 1
        for _ in range(days):
            r = rng.random()
            if r < answer_share:
                plan.append(Day.GARBAGE if rng.random() < garbage_share else Day.ANSWER)
            elif r < answer_share + late_share and not evening:  # no reminder in the evening
                plan.append(Day.LATE)
            else:
                plan.append(Day.IGNORE)
        patient = SoakPatient(i, first_chat + i, i + 1, f"SK-{i:05d}", plan, evening=evening,
                              pain=[rng.choice((4, 5)) for _ in range(days)],
                              mood=[rng.choice((5, 6)) for _ in range(days)])
        r = rng.random()
        for event, share in EVENT_SHARES.items():
            if r < share:
                patient.event, patient.event_day = event, rng.randrange(1, max(2, days - 1))
                break
            r -= share
        patients.append(patient)
    spare = iter(p for p in patients if p.event is None)
    for event in Event:  # a short soak still has every event at least once
        if not any(p.event is event for p in patients):
            chosen = next(spare, None)
            if chosen is not None:
                chosen.event, chosen.event_day = event, rng.randrange(1, max(2, days - 1))
    return patients


def local_day(start: dt.date, day: int) -> dt.date:
    return start + dt.timedelta(days=day)
