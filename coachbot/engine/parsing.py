"""Answer parsing: forgiving about how people write, strict about what gets stored.

Each parser returns the value to store, or None when the text is not clearly an answer. None means
"ask again": a wrong value stored silently is worse than one more question.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import cache
from zoneinfo import available_timezones

from coachbot.engine.effects import AnswerValue
from coachbot.spec.model import Question

MAX_ANSWER_CHARS = 200
"""Longer input is never a structured answer (free text has its own limit)."""

_NUMBER_WORDS = {
    "zero": 0, "nought": 0, "none": 0, "nil": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
    "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}
_KEYCAPS = {f"{d}\ufe0f\u20e3": str(d) for d in range(10)} | {f"{d}\u20e3": str(d) for d in range(10)}
_KEYCAPS["\U0001f51f"] = "10"
_FILLER = re.compile(
    r"^(?:(?:i(?:'|\u2019)?d say|i think|about|around|roughly|maybe|probably|its|it's|it is|a|an|my pain is"
    r"|pain is|mood is|today|now)\s+)+"
)
_OUT_OF = re.compile(r"\s*(?:/|out of|of)\s*10\s*$")
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:[.,]\d+)?|[.,]\d+)$")

_YES = frozenset({"yes", "y", "yeah", "yea", "yep", "yup", "ya", "aye", "sure", "ok", "okay", "correct",
                  "true", "i do", "i have", "i agree", "agree", "definitely", "👍", "✅"})
_NO = frozenset({"no", "n", "nope", "nah", "not really", "never", "false", "i don't", "i dont",
                 "i haven't", "i havent", "disagree", "no thanks", "👎", "❌"})


def _clean(text: str) -> str:
    """Lower-case, NFKC, trimmed, inner whitespace squeezed, trailing punctuation dropped."""
    for cap, digit in _KEYCAPS.items():
        text = text.replace(cap, digit)
    text = unicodedata.normalize("NFKC", text).strip().lower()
    text = re.sub(r"\s+", " ", text)
    return text.rstrip(" .!?")


def parse_number_text(text: str) -> float | None:
    """A single number written as digits or a word, with the usual "7/10", "about 7" wrappings."""
    if len(text) > MAX_ANSWER_CHARS:
        return None
    cleaned = _FILLER.sub("", _clean(text))
    cleaned = _OUT_OF.sub("", cleaned).removesuffix("ish").strip()
    if cleaned in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[cleaned])
    if _NUMBER.match(cleaned):
        return float(cleaned.replace(",", "."))
    return None


def parse_scale(text: str, question: Question) -> AnswerValue | None:
    low = 0 if question.min is None else question.min
    high = 10 if question.max is None else question.max
    return _in_range(parse_number_text(text), low, high, integer=True)


def parse_number(text: str, question: Question) -> AnswerValue | None:
    assert question.min is not None and question.max is not None
    return _in_range(parse_number_text(text), question.min, question.max, integer=question.integer)


def _in_range(value: float | None, low: float, high: float, *, integer: bool) -> AnswerValue | None:
    if value is None or not low <= value <= high:
        return None
    if integer:
        return int(value) if value == int(value) else None
    return value


def parse_yes_no(text: str, question: Question) -> AnswerValue | None:
    if len(text) > MAX_ANSWER_CHARS:
        return None
    cleaned = _clean(text)
    if cleaned in _YES or cleaned == "1":
        return 1
    if cleaned in _NO or cleaned == "0":
        return 0
    first = cleaned.split(" ", 1)[0].rstrip(",")
    if first in {"yes", "yeah", "yep", "yup"}:
        return 1
    if first in {"no", "nope", "nah"}:
        return 0
    return None


def parse_choice(text: str, question: Question) -> AnswerValue | None:
    """Matches an option's value, label or synonym; a unique label prefix of 3+ letters also counts."""
    if len(text) > MAX_ANSWER_CHARS:
        return None
    cleaned = _clean(text)
    if not cleaned:
        return None
    for option in question.options:
        names = {_clean(str(option.value)), _clean(option.label), *(_clean(s) for s in option.synonyms)}
        if cleaned in names:
            return _stored(option.value)
    if len(cleaned) >= 3:
        hits = [o for o in question.options if _clean(o.label).startswith(cleaned)]
        if len(hits) == 1:
            return _stored(hits[0].value)
    return None


def _stored(value: int | float | str | bool) -> AnswerValue:
    return int(value) if isinstance(value, bool) else value


_TIME = re.compile(r"^(\d{1,2})(?:[:.h ](\d{2}))?\s*(am|pm|a\.m|p\.m)?$")


def parse_time_of_day(text: str, question: Question) -> AnswerValue | None:
    """"08:30", "8.30", "8:30am", "7pm", "19", "noon" -> "HH:MM"."""
    if len(text) > MAX_ANSWER_CHARS:
        return None
    cleaned = _clean(text).replace("o'clock", "").replace(" ", " ").strip()
    named = {"noon": "12:00", "midday": "12:00", "midnight": "00:00"}
    if cleaned in named:
        return named[cleaned]
    match = _TIME.match(cleaned)
    if not match:
        return None
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    suffix = (match.group(3) or "").replace(".", "")
    if suffix:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if suffix == "pm" else 0)
    if hour > 23 or minute > 59:
        return None
    return f"{hour:02d}:{minute:02d}"


def parse_free_text(text: str, question: Question) -> AnswerValue | None:
    """Any text with at least one letter or digit, within the question's length limit."""
    stripped = text.strip()
    if not stripped or len(stripped) > question.max_length:
        return None
    if not any(ch.isalnum() for ch in stripped):
        return None
    return stripped


_ZONE_ALIASES = {
    "uk": "Europe/London", "gb": "Europe/London", "britain": "Europe/London",
    "great britain": "Europe/London", "united kingdom": "Europe/London", "england": "Europe/London",
    "scotland": "Europe/London", "wales": "Europe/London", "northern ireland": "Europe/London",
    "gmt": "Europe/London", "bst": "Europe/London", "uk time": "Europe/London",
    "ireland": "Europe/Dublin", "utc": "UTC",
}


@cache
def _zone_index() -> dict[str, str]:
    """Lower-cased IANA names and their last part ("london", "new york") -> the IANA name."""
    index: dict[str, str] = {}
    for zone in sorted(available_timezones()):
        if zone.startswith(("Etc/", "SystemV/")) or "/" not in zone:
            continue
        index.setdefault(zone.lower(), zone)
        index.setdefault(zone.rsplit("/", 1)[1].replace("_", " ").lower(), zone)
    index.update(_ZONE_ALIASES)
    return index


def parse_timezone(text: str, question: Question) -> AnswerValue | None:
    if len(text) > MAX_ANSWER_CHARS:
        return None
    cleaned = _clean(text).replace("_", " ")
    return _zone_index().get(cleaned) or _zone_index().get(cleaned.replace(" ", "_"))


PARSERS: dict[str, Callable[[str, Question], AnswerValue | None]] = {
    "scale": parse_scale,
    "number": parse_number,
    "yes_no": parse_yes_no,
    "choice": parse_choice,
    "time_of_day": parse_time_of_day,
    "free_text": parse_free_text,
    "timezone": parse_timezone,
}


def parse_answer(text: str, question: Question) -> AnswerValue | None:
    """The stored value for `text` as an answer to `question`, or None to ask again."""
    return PARSERS[question.type](text, question)
