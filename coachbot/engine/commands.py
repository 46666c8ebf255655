"""The words that work in every state: help, skip, pause [days], resume, stop, start."""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_PAUSE_DAYS = 90

_COMMAND = re.compile(r"^/?(help|skip|pause|resume|stop|start)(?:@\w+)?(?:\s+(\d{1,3}))?(?:\s+days?)?$")


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    days: int | None = None


def parse_command(text: str) -> Command | None:
    """A command when the whole message is one (so "stop worrying" is an answer, not /stop)."""
    if len(text) > 40:
        return None
    match = _COMMAND.match(text.strip().lower().rstrip(".!"))
    if not match:
        return None
    name, days = match.group(1), match.group(2)
    if days is not None and name != "pause":
        return None
    pause_days = None if days is None else max(1, min(int(days), MAX_PAUSE_DAYS))
    return Command(name=name, days=pause_days)
