"""A failure is described for the log by class and code location, never by its message, which may quote
a patient's words."""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError

from coachbot.app.failures import described

WORDS = "Hello Zephyrine, my back hurts"


def store(value: str) -> None:
    raise ValueError(f"invalid input for query argument $3: {value!r}")


def test_a_failure_is_described_by_class_and_frames_without_its_message() -> None:
    try:
        store(WORDS)
    except ValueError as exc:
        said = described(exc)
    assert said.startswith("ValueError")
    assert "in store" in said and "test_failures.py" in said  # where: enough to find the fault
    assert "Zephyrine" not in said and "$3: 'Hello" not in said  # the source line, not the message


def test_a_wrapped_driver_error_names_its_cause_by_class_only() -> None:
    try:
        try:
            store(WORDS)
        except ValueError as driver:
            raise DBAPIError("INSERT INTO outbox ...", {"text": WORDS}, driver) from driver
    except DBAPIError as exc:
        said = described(exc)
    assert said.splitlines()[0] == "DBAPIError" and said.endswith("caused by ValueError")
    assert "Zephyrine" not in said
