"""Compiled, immutable dialogs: what the engine runs once files have passed both validation stages.

Blocks are already expanded into the scripts that use them (state names `USER/STATE`), so the engine
never has to know blocks exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from coachbot.spec.escalation_rules import EscalationRules
from coachbot.spec.model import ServiceFile, State

if TYPE_CHECKING:
    from coachbot.care.triggers import TriggerSet


@dataclass(frozen=True, slots=True)
class Script:
    """One script version: its states with blocks inlined and `$exit` resolved."""

    name: str
    version: str
    start: str
    states: Mapping[str, State]
    source: str = ""
    title: str = ""


@dataclass(frozen=True, slots=True)
class DialogLibrary:
    """Everything loaded from a dialogs folder, ready to run."""

    scripts: Mapping[str, Script]
    service: ServiceFile
    triggers: TriggerSet
    older: Mapping[tuple[str, str], Script] = field(default_factory=dict)
    #: dialogs/escalation.yaml, when the folder has one: the rules evaluated after answers and misses.
    escalation: EscalationRules | None = None

    def script(self, name: str, version: str | None = None) -> Script | None:
        """The current script by name, or a specific version kept for conversations still in it."""
        current = self.scripts.get(name)
        if version is None or (current is not None and current.version == version):
            return current
        return self.older.get((name, version), current)
