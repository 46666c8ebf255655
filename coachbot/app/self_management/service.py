"""Self-management around the dialogs: flare-ups, the weekly summary, /steps, /flareplan, "a different
one", and the coach's pins and blocks.

The service calls in at a few points, a line or two each: the facts a starting dialog may branch on
(`in_flare`), what follows a completed check-in or weekly review (the flare-up plan, the summary and its
chart), the step suggestion itself, and the patient's and coach's commands. Everything runs in the
service's transaction, so the replies, the chart and the state they follow from commit together. Every
word comes from dialogs/ (self_management.yaml, summary.yaml, steps.yaml).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from coachbot.adapters.charts import CHART_KIND as CHART
from coachbot.adapters.charts import chart_row_payload
from coachbot.app.channel import Channel, Outgoing, Press
from coachbot.app.checkins.flare import FLARE_SHOWN, flare_now, flare_plan, flare_shown
from coachbot.app.self_management.population_prior import PriorCache
from coachbot.app.self_management.suggestions import history_of, patient_state, suggest_step, todays_step
from coachbot.app.unit_of_work import PatientRecord, UnitOfWork
from coachbot.care.flare import Advice, FlareRules, advice_allowed
from coachbot.care.step_policy import needs_prior, steps_for_now
from coachbot.care.weekly_summary import ChartData, build_summary, daily_records, helpful_titles
from coachbot.engine import (
    ButtonOption,
    DialogEnded,
    Escalate,
    Event,
    PatientContext,
    Reply,
    SafetyTriggered,
    StartDialog,
    TextMessage,
)
from coachbot.engine.position import Position
from coachbot.engine.runner import Outcome
from coachbot.scheduling import zone_of
from coachbot.spec.model import ServiceFile
from coachbot.spec.self_management_texts import FILE_NAME, SelfManagementTexts, fill, load_texts
from coachbot.spec.steps import Step, StepLibrary, load_steps
from coachbot.spec.summary_texts import SummaryTexts, load_summary_texts

STEPS_TOKEN = "steps"
"""The callback token of the /steps buttons and of "A different one" (never a question's token)."""
STEP_MARK = "<steps>"
"""Reply.question of a step message: its buttons carry STEPS_TOKEN, not the position's token."""
DIFFERENT = "different"
PLAN_SCRIPT = "flare_plan"
MAX_LISTED = 12
"""/steps lists at most this many, the best-suited first: a choice, not a catalogue."""
SUMMARY_DAYS = 28
PAIN_MEASURE = "pain_now"
_COMMAND = re.compile(r"^/(steps|flareplan)(?:@\w+)?(?:\s+(\S+))?\s*$", re.IGNORECASE)


def is_own_command(text: str) -> bool:
    """/steps (with its argument) or /flareplan: an onboarded patient's commands, known before that."""
    return _COMMAND.match(text.strip()) is not None


@dataclass(frozen=True)
class Photo:
    """A chart to send as a picture: its data, drawn only when it is sent (see adapters/charts/rows.py)."""

    chart: ChartData
    caption: str


@dataclass
class Extras:
    """What the service adds to an event's replies: `before` them, `replies` after them but ahead of
    the `closing` line (a check-in's "That is today's check-in done" stays last), and `photos`."""

    before: list[Reply] = field(default_factory=list)
    replies: list[Reply] = field(default_factory=list)
    photos: list[Photo] = field(default_factory=list)
    closing: Reply | None = None
    """The completed dialog's last sentence, when `replies` must come before it (and its step)."""

    def merge_into(self, replies: list[Reply]) -> None:
        """Place the extras among an event's replies, in place."""
        replies[:0] = self.before
        at = next((i for i, r in enumerate(replies) if r is self.closing or r.question == STEP_MARK),
                  len(replies)) if self.closing is not None else len(replies)
        replies[at:at] = self.replies


class SelfManagement:
    """Loaded once per process from the dialogs folder; shared by every patient."""

    def __init__(self, steps: StepLibrary, texts: SelfManagementTexts, summary: SummaryTexts,
                 service: ServiceFile, *, prior: PriorCache | None = None,
                 flare_rules: FlareRules | None = None) -> None:
        self.steps, self.texts, self.summary, self.service = steps, texts, summary, service
        self.prior = prior or PriorCache()
        self.flare_rules = flare_rules or FlareRules()
        self._safety_scripts = frozenset(service.preempt.values())

    @classmethod
    def load(cls, dialogs_dir: Path, service: ServiceFile) -> SelfManagement | None:
        """None when the folder has no steps (a dialogs folder for tests, say)."""
        files = [dialogs_dir / name for name in ("steps.yaml", FILE_NAME, "summary.yaml")]
        if not all(f.exists() for f in files):
            return None
        return cls(load_steps(files[0]), load_texts(files[1]), load_summary_texts(files[2]), service)

    # -- the daily check-in ------------------------------------------------------------------------
    async def with_facts(self, uow: UnitOfWork, patient: PatientRecord, event: object,
                         context: PatientContext, now: dt.datetime, *,
                         position: Position | None = None) -> PatientContext:
        """`in_flare` for a starting daily check-in: 1 picks its short flare-up version; `pain_jumped`
        for the answers after its pain question: 1 runs the leg check on the day a flare starts."""
        if patient.onboarded_at is None:
            return context
        if isinstance(event, StartDialog) and event.script == self.service.daily:
            step, _ = await flare_now(uow, patient, now, self.flare_rules)
            return replace(context, facts={**context.facts, "in_flare": 1.0 if step.short_checkins else 0.0})
        if (position is not None and position.script == self.service.daily
                and PAIN_MEASURE in position.answers):
            # `pain_jumped`: today's pain answer started a flare-up, so the leg check runs before any
            # flare-up advice or reassurance is given.
            step, _ = await flare_now(uow, patient, now, self.flare_rules)
            return replace(context, facts={**context.facts,
                                           "pain_jumped": 1.0 if step.change == "started" else 0.0})
        return context

    async def suggest(self, uow: UnitOfWork, patient: PatientRecord, now: dt.datetime,
                      exclude: Sequence[str] = ()) -> list[Reply]:
        """Today's step (or a different one), with its "A different one" button; [] when none."""
        flare, _ = await flare_now(uow, patient, now, self.flare_rules)
        state = await patient_state(uow, patient, now, flare=flare.short_checkins)
        history = await history_of(uow, patient.id, now)
        # The prior's queries only when a step is drawn (not when today's is shown again).
        prior = (await self.prior.prior_for(uow, patient.id, now)
                 if needs_prior(state, history, now, exclude) else None)
        offered = await suggest_step(uow, patient, self.steps, now, state=state, prior=prior,
                                     exclude=exclude, history=history)
        if offered is None or (exclude and offered.suggestion.repeat):
            return []
        return [self._step_reply(offered.step)]

    def _step_reply(self, step: Step) -> Reply:
        words = self.texts.steps
        return Reply(text=f"{step.title}\n\n{step.text.strip()}\n\n{words.different_hint}",
                     options=(ButtonOption(DIFFERENT, words.different_button),), question=STEP_MARK)

    async def after_event(self, uow: UnitOfWork, patient: PatientRecord, event: object, outcome: Outcome,
                          now: dt.datetime) -> Extras:
        """What follows a completed check-in (the flare-up plan, or that it has settled: ahead of its
        step and closing line) or weekly review (the summary and its chart). A flare-up's plan is shown
        only at the end of a check-in, after its leg check, never before it. Nothing when the event
        ended in a safety dialog: then the resources must stand alone."""
        extras = Extras()
        if self._safety_turn(outcome):
            return extras
        ended = [e.script for e in outcome.effects if isinstance(e, DialogEnded) and e.completed]
        if self.service.daily in ended:
            extras.replies += await self._flare_news(uow, patient, now)
            extras.closing = next((e for e in reversed(outcome.effects) if isinstance(e, Reply)), None)
        if self.service.weekly in ended:
            await self._weekly_summary(uow, patient, now, extras)
        return extras

    def _safety_turn(self, outcome: Outcome) -> bool:
        """A crisis or red-flag message was said in this event (a trigger, a switch to a safety script
        such as the leg check's 999 message, or an urgent escalation)."""
        scripts = {e.script for e in outcome.effects if isinstance(e, DialogEnded)}
        if outcome.position is not None:
            scripts.add(outcome.position.script)
        return bool(scripts & self._safety_scripts) or any(
            isinstance(e, SafetyTriggered) or (isinstance(e, Escalate) and e.tier == "urgent")
            for e in outcome.effects)

    async def _flare_news(self, uow: UnitOfWork, patient: PatientRecord, now: dt.datetime) -> list[Reply]:
        """At the end of a check-in: the plan when pain has just jumped (or jumped at a check-in left
        before its end, so not shown yet), or that it has settled. Showing it is recorded (measure
        FLARE_SHOWN), so it is shown once per flare-up. Every piece of advice passes the step gates
        (`advice_allowed`): after a yes at the leg check there is no walking, stretching or warmth."""
        words = self.texts.flare
        step, checkins = await flare_now(uow, patient, now, self.flare_rules)
        if step.change == "settled":
            return [Reply(words.settled.strip())]
        if step.change == "timed_out":
            return [Reply(words.timed_out.strip())]
        flare = step.flare
        if flare is None:
            return []
        earlier = step.change != "started"
        if earlier and await flare_shown(uow, patient.id, flare.started_at):
            return []
        flags = (await patient_state(uow, patient, now, flare=True)).flags
        uow.measures.record(patient.id, FLARE_SHOWN, 1, script="flare", state="shown", now=now)
        jump = next((c.pain for c in checkins if c.at == flare.started_at), flare.peak)
        started = words.started_earlier if earlier else words.started
        parts = [fill(started, now=_num(jump), before=_num(flare.baseline))]
        if advice_allowed("reassurance", flags):
            parts.append(words.reassurance.strip())
        plan = await flare_plan(uow, patient.id)
        if plan:
            lines = [words.plan_intro.strip()]
            templates = {"flare_helps": words.plan_helps, "flare_avoid": words.plan_avoid,
                         "flare_tell": words.plan_tell, "flare_seek_help": words.plan_seek_help}
            lines += [fill(template, text=plan[code]) for code, template in templates.items() if code in plan]
            parts.append("\n".join(lines))
        else:
            advice = [text.strip() for kind, text in self._advice() if advice_allowed(kind, flags)]
            if len(advice) > 1:  # the introduction alone is no advice
                parts.append("\n".join(advice))
            parts.append(words.no_plan_offer.strip())
        parts += [words.safety.strip(), words.short_checkins.strip()]
        return [Reply("\n\n".join(parts))]

    def _advice(self) -> list[tuple[Advice, str]]:
        """The general flare-up advice, piece by piece, with the gate each passes through."""
        words = self.texts.flare
        intro, *rest = words.general_advice.strip().splitlines()
        return [("general", intro), ("movement", words.advice_movement), *(("general", r) for r in rest),
                ("warmth", words.advice_warmth)]

    # -- the weekly summary ------------------------------------------------------------------------
    async def _weekly_summary(self, uow: UnitOfWork, patient: PatientRecord, now: dt.datetime,
                              extras: Extras) -> None:

        zone = zone_of(patient.timezone)
        last = now.astimezone(zone).date()
        first = last - dt.timedelta(days=SUMMARY_DAYS - 1)
        if patient.onboarded_at is not None:  # no "missed" days from before they started
            first = min(last, max(first, patient.onboarded_at.astimezone(zone).date()))
        since = dt.datetime.combine(first, dt.time(), tzinfo=zone)
        rows = await uow.measures.numbers(patient.id, codes=("pain_now", "mood_now"), since=since)
        days = daily_records(((at, code, value) for code, value, at in rows), first, last, zone)
        helpful = helpful_titles(self.steps, await history_of(uow, patient.id, now), since)
        summary = build_summary(self.summary, patient.name or self.service.messages.name_fallback,
                                days, helpful)
        text = summary.text
        if not await flare_plan(uow, patient.id):
            text += "\n\n" + self.texts.weekly.no_plan_offer.strip()
        extras.replies.append(Reply(text))
        weeks = max(1, -(-len(days) // 7))
        # Only the data: drawing takes 0.2-0.4 s, far too long to hold the transaction (on SQLite, every
        # other write waits for it), so the outbox sender draws it in the drawing process when it sends.
        extras.photos.append(Photo(summary.chart, fill(self.texts.weekly.chart_caption, weeks=weeks)))

    # -- the patient's commands ----------------------------------------------------------------------
    async def patient_event(self, uow: UnitOfWork, patient: PatientRecord, event: Event | Press,
                            now: dt.datetime) -> tuple[Event | Press, list[Reply] | None]:
        """/steps, /steps N, /steps different, their buttons, and /flareplan. Returns the event to go
        on with (/flareplan becomes the plan dialog's StartDialog) and the replies when handled here."""
        if patient.onboarded_at is None or patient.status == "stopped":
            return event, None
        if isinstance(event, Press) and event.token == STEPS_TOKEN:
            return event, await self._steps_command(uow, patient, event.value, now)
        if not isinstance(event, TextMessage):
            return event, None
        match = _COMMAND.match(event.text.strip())
        if match is None:
            return event, None
        if match.group(1).lower() == "flareplan":
            return StartDialog(PLAN_SCRIPT), None
        return event, await self._steps_command(uow, patient, (match.group(2) or "").lower(), now)

    async def _steps_command(self, uow: UnitOfWork, patient: PatientRecord, argument: str,
                             now: dt.datetime) -> list[Reply]:
        words = self.texts.steps
        if argument == DIFFERENT:
            zone = zone_of(patient.timezone)
            midnight = dt.datetime.combine(now.astimezone(zone).date(), dt.time(), tzinfo=zone)
            current = await todays_step(uow, patient, now, midnight)
            if current is None:
                return [Reply(words.nothing_to_swap.strip())]
            return await self.suggest(uow, patient, now, exclude=(current,)) or [
                Reply(words.no_more_today.strip())]
        flare, _ = await flare_now(uow, patient, now, self.flare_rules)
        state = await patient_state(uow, patient, now, flare=flare.short_checkins)
        allowed = steps_for_now(self.steps, state)
        listed = allowed[:MAX_LISTED]
        if not argument:
            if not listed:
                return [Reply(words.none.strip())]
            lines = [words.heading.strip()] + [fill(words.item, number=n, title=s.title)
                                               for n, s in enumerate(listed, 1)]
            return [Reply("\n".join(lines), options=tuple(ButtonOption(s.id, s.title) for s in listed),
                          question=STEP_MARK)]
        chosen = (listed[int(argument) - 1] if argument.isdigit() and 0 < int(argument) <= len(listed)
                  else next((s for s in allowed if s.id == argument), None))
        if chosen is None:
            return [Reply(words.not_found.strip())]
        return [Reply(f"{chosen.title}\n\n{chosen.text.strip()}")]


def outgoing_for(channel: Channel, replies: Sequence[Reply], token: str | None,
             photos: Sequence[Photo] = ()) -> list[Outgoing]:
    """The channel's messages for `replies`: a step message's buttons carry STEPS_TOKEN, the rest the
    question's token; then the photos (the weekly chart)."""
    out: list[Outgoing] = []
    run: list[Reply] = []
    for reply in replies:
        if reply.question == STEP_MARK:
            out += channel.replies(run, token) + channel.replies([reply], STEPS_TOKEN)
            run = []
        else:
            run.append(reply)
    out += channel.replies(run, token)
    out += [Outgoing(kind=CHART, payload=chart_row_payload(p.chart, p.caption)) for p in photos]
    return out


def _num(value: float) -> str:
    return f"{round(value, 1):g}"
