"""Property tests: no input string crashes the engine or stores a value its question cannot take."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coachbot.engine import Engine, PatientContext, Position, RecordMeasure, TextMessage, UpdateProfile
from coachbot.spec.library import DialogLibrary
from coachbot.spec.model import Question
from tests.support.engine_driver import NOW

CONTEXT = PatientContext(status="active", facts={"onboarded": 1, "days_in_care": 2, "open_step": 1})

ANSWER_LIKE = st.one_of(
    st.text(max_size=60),
    st.text(alphabet="0123456789 ./-,:apmo", max_size=12),
    st.sampled_from(["7", "7/10", "seven", "yes", "no", "skip", "help", "8am", "25:00", "-1", "11", "",
                     "🙂", "1e9", "nan", "10 out of 10", "UK", "agree", "Nearly every day"]),
    st.text(min_size=4000, max_size=5000),
)


def allowed(question: Question, value: object) -> bool:
    if question.type in ("scale", "number"):
        low = 0 if question.min is None else question.min
        high = 10 if question.max is None else question.max
        return isinstance(value, int | float) and low <= value <= high
    if question.type == "yes_no":
        return value in (0, 1)
    if question.type == "choice":
        return value in [o.value for o in question.options]
    if question.type == "free_text":
        return isinstance(value, str) and 0 < len(value) <= question.max_length
    return isinstance(value, str) and 0 < len(value) <= 64


def all_question_positions(library: DialogLibrary) -> list[tuple[Position, Question]]:
    return [(Position(script=s.name, version=s.version, state=name), state.ask)
            for s in library.scripts.values() for name, state in s.states.items() if state.ask]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), text=ANSWER_LIKE)
def test_no_input_crashes_the_engine_or_stores_a_value_out_of_range(
        engine: Engine, library: DialogLibrary, data: st.DataObject, text: str) -> None:
    position, question = data.draw(st.sampled_from(all_question_positions(library)))
    outcome = engine.handle(CONTEXT, position, TextMessage(text), NOW)
    assert outcome.effects, "every message gets an answer"
    state = library.scripts[position.script].states[position.state]
    for effect in outcome.effects:
        if isinstance(effect, RecordMeasure) and effect.state == position.state:
            assert effect.code == state.store
            assert allowed(question, effect.value), (effect, text)
        if isinstance(effect, UpdateProfile):
            assert allowed(question, effect.value), (effect, text)
